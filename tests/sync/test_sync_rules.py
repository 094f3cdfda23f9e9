"""Rules on new mail during sync, against a real Dovecot: marking, sorting on the server, repair after a crash, invalid rule files, undo and the watch."""

from __future__ import annotations

import io
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.config import load_config, save_config
from desktop.paths import default_profile
from desktop.rules.active import active_rules, snapshot_dir
from desktop.store import FLAGGED, SEEN, Store
from desktop.sync.connection import connect
from desktop.sync.engine import sync_folder
from desktop.sync.service import CancelToken, SyncProgress
from desktop.sync.watch import WatchOptions, watch_profile

pytestmark = pytest.mark.dovecot

RULES = """\
[[rule]]
name = "Receipts"
when = 'subject:invoice'
actions = [{ move = "Receipts" }, { mark = "read" }]
stop = true

[[rule]]
name = "Boss"
when = 'from:boss@example.com'
actions = [{ flag = true }, { label = "$vip" }]
"""

BODY_RULE = """\
[[rule]]
name = "Xylophone orders"
if = [{ in = "body", contains = "xylophone" }]
actions = [{ move = "Receipts" }]
"""

# Line 4 of this text has an unknown action.
BROKEN_RULES = RULES.replace('{ move = "Receipts" }', '{ moove = "Receipts" }')


def make_message(subject: str, *, sender: str = "Ana Díaz <ana@example.com>", body: str = "text") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture
def server(imap_user, dovecot_server, direct_client, monkeypatch, capsys):
    """The Dovecot mailbox of account 'test' (added through the CLI), with a Receipts folder, seen by another client."""
    monkeypatch.setattr("sys.stdin", io.StringIO(imap_user.password + "\n"))
    code = main([
        "account", "add", "test", "--imap-host", dovecot_server.host, "--imap-port", str(dovecot_server.port),
        "--security", "none", "--user", imap_user.name, "--password-stdin",
    ])
    assert code == 0
    direct_client.create_folder("Receipts")
    capsys.readouterr()
    return direct_client


def write_rules(text: str, name: str = "10-sort.toml") -> Path:
    path = default_profile().ensure().rules_dir / name
    path.write_text(text, encoding="utf-8")
    return path


def sync(capsys) -> tuple[int, str, str]:
    code = main(["sync"])
    output = capsys.readouterr()
    return code, output.out, output.err


def server_messages(client: IMAPClient, folder: str) -> dict[str, set[bytes]]:
    """Return {subject: flags} of a folder as the server has it."""
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    if not uids:
        return {}
    response = client.fetch(uids, [b"FLAGS", b"BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    result = {}
    for data in response.values():
        subject = data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        result[subject] = set(data[b"FLAGS"])
    return result


def stored(folder: str) -> dict[str, frozenset[str]]:
    """Return {subject: flags} of the messages the message list shows in a folder."""
    with Store(default_profile().store_file) as store:
        row = store.folder_by_name("test", folder)
        assert row is not None, f"folder {folder} not in the store"
        return {message.subject: message.flags for message in store.messages(store.message_ids([row.id]))}


def pending_count() -> int:
    with Store(default_profile().store_file) as store:
        return len(store.rules_pending_ids(store.account_id("test")))


def first_sync(server: IMAPClient, capsys) -> None:
    server.append("INBOX", make_message("Hello"))
    code, _out, err = sync(capsys)
    assert code == 0, err


# --- marking and the first sync ---------------------------------------------------


def test_first_sync_applies_no_rules(server, capsys):
    write_rules(RULES)
    server.append("INBOX", make_message("Invoice 1"))
    server.append("INBOX", make_message("From the boss", sender="boss@example.com"))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "acted on" not in out
    assert set(server_messages(server, "INBOX")) == {"Invoice 1", "From the boss"}
    assert server_messages(server, "Receipts") == {}
    assert set(stored("INBOX")) == {"Invoice 1", "From the boss"}
    assert pending_count() == 0
    with Store(default_profile().store_file) as store:
        assert store.bulk_history() == []


def test_new_mail_sorted_on_server_and_store(server, capsys):
    write_rules(RULES)
    first_sync(server, capsys)
    server.append("INBOX", make_message("Invoice 42"))
    server.append("INBOX", make_message("Budget", sender="Boss <boss@example.com>"))
    server.append("INBOX", make_message("Lunch?"))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "test: rule 'Receipts' acted on 1 new message\n" in out
    assert "test: rule 'Boss' acted on 1 new message\n" in out
    assert "sluice undo" in out
    inbox = server_messages(server, "INBOX")
    assert set(inbox) == {"Hello", "Budget", "Lunch?"}
    assert {b"\\Flagged", b"$vip"} <= inbox["Budget"]
    assert b"\\Flagged" not in inbox["Lunch?"]
    assert b"\\Seen" not in inbox["Lunch?"]
    receipts = server_messages(server, "Receipts")
    assert set(receipts) == {"Invoice 42"}
    assert b"\\Seen" in receipts["Invoice 42"]
    assert set(stored("INBOX")) == {"Hello", "Budget", "Lunch?"}
    assert {FLAGGED, "$vip"} <= stored("INBOX")["Budget"]
    assert SEEN in stored("Receipts")["Invoice 42"]
    assert pending_count() == 0


def test_resync_after_rules_changes_nothing(server, capsys):
    write_rules(RULES)
    first_sync(server, capsys)
    server.append("INBOX", make_message("Invoice 7"))
    assert sync(capsys)[0] == 0

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "acted on" not in out
    assert set(stored("Receipts")) == {"Invoice 7"}
    assert set(server_messages(server, "Receipts")) == {"Invoice 7"}
    with Store(default_profile().store_file) as store:
        assert len(store.bulk_history()) == 1


def test_folder_outside_scope_not_marked(server, capsys):
    write_rules(RULES)
    server.create_folder("Lists")
    first_sync(server, capsys)
    server.append("Lists", make_message("Invoice in a list folder"))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "acted on" not in out
    assert set(stored("Lists")) == {"Invoice in a list folder"}
    assert set(server_messages(server, "Lists")) == {"Invoice in a list folder"}


def test_no_rule_files_marks_nothing(server, capsys):
    first_sync(server, capsys)
    server.append("INBOX", make_message("Invoice 3"))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert set(stored("INBOX")) == {"Hello", "Invoice 3"}
    assert not snapshot_dir(default_profile()).exists()


# --- a crash between storing and running the rules --------------------------------


def sync_inbox_without_rules(mark: bool) -> list[int]:
    """Store new INBOX mail as a sync does up to the point where the rules would run, as if it crashed there."""
    profile = default_profile()
    account = load_config(profile.config_file).account("test")
    client = connect(account)
    try:
        with Store(profile.store_file) as store:
            folder = store.folder_by_name("test", "INBOX")
            for _step in sync_folder(client, store, folder.id, "INBOX", mark_for_rules=mark):
                pass
            return store.rules_pending_ids(store.account_id("test"))
    finally:
        client.logout()


def test_pending_messages_hidden_from_list(server, capsys):
    write_rules(RULES)
    first_sync(server, capsys)
    server.append("INBOX", make_message("Invoice 9"))
    server.append("INBOX", make_message("Not for any rule"))

    pending = sync_inbox_without_rules(mark=True)

    assert len(pending) == 2
    assert set(stored("INBOX")) == {"Hello"}
    with Store(default_profile().store_file) as store:
        inbox = store.folder_by_name("test", "INBOX")
        assert inbox.total == 1
        assert inbox.unread == 1
        assert {row.subject for row in store.messages(pending)} == {"Invoice 9", "Not for any rule"}


def test_crash_before_rules_repaired_by_next_sync(server, capsys):
    write_rules(RULES)
    first_sync(server, capsys)
    server.append("INBOX", make_message("Invoice 10"))
    server.append("INBOX", make_message("Not for any rule"))
    assert len(sync_inbox_without_rules(mark=True)) == 2

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "rule 'Receipts' acted on 1 new message\n" in out
    assert pending_count() == 0
    assert set(stored("INBOX")) == {"Hello", "Not for any rule"}
    assert set(stored("Receipts")) == {"Invoice 10"}
    assert set(server_messages(server, "Receipts")) == {"Invoice 10"}
    assert set(server_messages(server, "INBOX")) == {"Hello", "Not for any rule"}


def test_marking_skipped_on_unsynced_folder(server, capsys):
    write_rules(RULES)
    server.append("INBOX", make_message("Invoice before any sync"))
    with Store(default_profile().store_file) as store:
        account_id = store.ensure_account("test", "imap")
        store.upsert_folder(account_id, "INBOX")

    pending = sync_inbox_without_rules(mark=True)

    assert pending == []
    assert set(stored("INBOX")) == {"Invoice before any sync"}


# --- rule files with problems ------------------------------------------------------


def test_broken_rule_file_keeps_previous_rules(server, capsys):
    path = write_rules(RULES)
    first_sync(server, capsys)
    path.write_text(BROKEN_RULES, encoding="utf-8")
    server.append("INBOX", make_message("Invoice 11"))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert f"{path}:4: rule 'Receipts': Unknown action 'moove'." in err
    assert "the previous 2 rules stay active" in err
    assert "rule 'Receipts' acted on 1 new message\n" in out
    assert set(server_messages(server, "Receipts")) == {"Invoice 11"}
    assert (snapshot_dir(default_profile()) / path.name).read_text(encoding="utf-8") == RULES


def test_broken_rules_printed_with_quiet(server, capsys):
    path = write_rules(RULES)
    first_sync(server, capsys)
    path.write_text(BROKEN_RULES, encoding="utf-8")

    code = main(["sync", "--quiet"])

    err = capsys.readouterr().err
    assert code == 0
    assert f"{path}:4:" in err


def test_broken_rules_without_previous_run_nothing(server, capsys):
    first_sync(server, capsys)
    path = write_rules(BROKEN_RULES)
    server.append("INBOX", make_message("Invoice 12"))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert f"{path}:4: rule 'Receipts': Unknown action 'moove'." in err
    assert "no earlier valid rules" in err
    assert set(stored("INBOX")) == {"Hello", "Invoice 12"}
    assert server_messages(server, "Receipts") == {}


def test_active_rules_snapshot_names_original_file():
    profile = default_profile().ensure()
    path = write_rules(RULES)
    ruleset, problems = active_rules(profile)
    assert problems == []
    assert [rule.name for rule in ruleset.rules] == ["Receipts", "Boss"]

    path.write_text(BROKEN_RULES, encoding="utf-8")
    previous, problems = active_rules(profile)

    assert len(problems) == 1
    assert problems[0].path == path
    assert [rule.name for rule in previous.rules] == ["Receipts", "Boss"]
    assert {rule.path for rule in previous.rules} == {path}


def test_active_rules_removed_files_clear_snapshot():
    profile = default_profile().ensure()
    path = write_rules(RULES)
    active_rules(profile)
    assert snapshot_dir(profile).is_dir()
    path.unlink()

    ruleset, problems = active_rules(profile)

    assert ruleset.rules == ()
    assert problems == []
    assert not snapshot_dir(profile).exists()


def test_active_rules_use_copy_left_by_crash():
    profile = default_profile().ensure()
    path = write_rules(RULES)
    active_rules(profile)
    # A crash between the two renames leaves only the retired copy.
    current = snapshot_dir(profile)
    current.rename(current.with_name(current.name + ".old"))
    path.write_text(BROKEN_RULES, encoding="utf-8")

    ruleset, problems = active_rules(profile)

    assert len(problems) == 1
    assert [rule.name for rule in ruleset.rules] == ["Receipts", "Boss"]


# --- bodies, undo and the watch -----------------------------------------------------


def test_rule_needing_body_fetches_it(server, capsys):
    profile = default_profile()
    config = load_config(profile.config_file)
    config.accounts["test"].offline = False
    save_config(config, profile.config_file)
    write_rules(BODY_RULE)
    first_sync(server, capsys)
    server.append("INBOX", make_message("Order", body="One xylophone, please."))
    server.append("INBOX", make_message("Other order", body="One drum, please."))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "rule 'Xylophone orders' acted on 1 new message\n" in out
    assert set(server_messages(server, "Receipts")) == {"Order"}
    assert set(stored("INBOX")) == {"Hello", "Other order"}
    with Store(profile.store_file) as store:
        # Only the new mail got bodies, for the rule; the account keeps headers only otherwise.
        assert store.missing_body_count("test") == 1


def test_undo_reverses_sync_rules(server, capsys):
    write_rules(RULES)
    first_sync(server, capsys)
    server.append("INBOX", make_message("Invoice 13"))
    server.append("INBOX", make_message("Budget", sender="boss@example.com"))
    assert sync(capsys)[0] == 0
    assert set(server_messages(server, "Receipts")) == {"Invoice 13"}

    with Store(default_profile().store_file) as store:
        (record,) = store.bulk_history()
        assert record.kind == "rules-sync"
        assert store.undo_last() is not None
    code, _out, err = sync(capsys)

    assert code == 0, err
    inbox = server_messages(server, "INBOX")
    assert set(inbox) == {"Hello", "Invoice 13", "Budget"}
    assert b"\\Seen" not in inbox["Invoice 13"]
    assert b"\\Flagged" not in inbox["Budget"]
    assert b"$vip" not in inbox["Budget"]
    assert server_messages(server, "Receipts") == {}
    assert set(stored("INBOX")) == {"Hello", "Invoice 13", "Budget"}
    assert FLAGGED not in stored("INBOX")["Budget"]


def wait_for(condition, seconds: float) -> bool:
    """Poll ``condition`` every 50 ms for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class WatchRun:
    """Runs watch_profile on a thread, collecting its steps, until the ``with`` block ends."""

    def __init__(self) -> None:
        self.steps: list[SyncProgress] = []
        self.errors: list[BaseException] = []
        self.token = CancelToken()
        self.thread = threading.Thread(target=self._run, name="test-watch-rules", daemon=True)

    def _run(self) -> None:
        try:
            for step in watch_profile(default_profile(), cancel=self.token, options=WatchOptions(poll_seconds=1.0)):
                self.steps.append(step)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.errors.append(error)

    def watching(self, folders: set[str]) -> bool:
        return {step.folder for step in list(self.steps) if step.phase == "watching"} >= folders

    def __enter__(self) -> WatchRun:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.token.cancel()
        self.thread.join(10)


def test_watch_runs_rules_on_pushed_mail(server, capsys):
    write_rules(RULES)
    with WatchRun() as run:
        steps = run.steps
        assert wait_for(lambda: run.watching({"INBOX"}), 10), steps
        server.append("INBOX", make_message("Invoice pushed"))
        server.append("INBOX", make_message("Plain pushed"))

        assert wait_for(lambda: "Invoice pushed" in server_messages(server, "Receipts"), 10), steps
        assert wait_for(lambda: "Plain pushed" in stored("INBOX"), 5), steps
    assert not run.thread.is_alive()
    assert run.errors == []
    assert any(step.text == "test: rule 'Receipts' acted on 1 new message" for step in steps)
    arrived = " ".join(step.text for step in steps if step.phase == "arrived")
    assert "Plain pushed" in arrived
    assert "Invoice pushed" not in arrived
    assert "Invoice pushed" not in stored("INBOX")
    assert pending_count() == 0


SUPPORT_RULE = """\
[[rule]]
name = "Support invoices"
when = 'subject:invoice'
actions = [{ move = "Receipts" }]
scope = { folders = ["Support"] }
"""


def test_watched_folder_rules_sent_by_inbox_connection(server, capsys):
    server.create_folder("Support")
    profile = default_profile()
    config = load_config(profile.config_file)
    config.accounts["test"].watch_folders = ["Support"]
    save_config(config, profile.config_file)
    write_rules(SUPPORT_RULE)
    with WatchRun() as run:
        assert wait_for(lambda: run.watching({"INBOX", "Support"}), 10), run.steps
        server.append("Support", make_message("Invoice to support"))
        server.append("Support", make_message("Question to support"))

        assert wait_for(lambda: "Invoice to support" in server_messages(server, "Receipts"), 10), run.steps
        assert wait_for(lambda: "Question to support" in stored("Support"), 5), run.steps
    assert run.errors == []
    assert set(server_messages(server, "Support")) == {"Question to support"}
    assert set(stored("Support")) == {"Question to support"}
    assert pending_count() == 0


AWAY_RULE = """\
[[rule]]
name = "Away"
actions = [{ auto_reply = { days = 7, body = "I am away this week." } }]
"""


def test_sync_sends_auto_reply_to_new_mail(imap_user, dovecot_server, direct_client, smtp_server, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(imap_user.password + "\n"))
    code = main([
        "account", "add", "test", "--imap-host", dovecot_server.host, "--imap-port", str(dovecot_server.port),
        "--security", "none", "--user", imap_user.name, "--password-stdin",
        "--smtp-host", smtp_server.host, "--smtp-port", str(smtp_server.port), "--smtp-security", "none",
        "--address", "you@example.com",
    ])
    assert code == 0, capsys.readouterr().err
    write_rules(AWAY_RULE)
    first_sync(direct_client, capsys)
    assert smtp_server.received == []
    direct_client.append("INBOX", make_message("Are you there?", sender="Bea <bea@example.org>"))

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "rule 'Away' acted on 1 new message\n" in out
    (reply,) = smtp_server.wait_for(1)
    assert reply.rcpt_tos == ("bea@example.org",)
    assert reply.message["Auto-Submitted"] == "auto-replied"
    assert reply.message["Subject"] == "Re: Are you there?"
    assert "I am away this week." in reply.message.get_content()
    assert set(stored("INBOX")) == {"Hello", "Are you there?"}
    assert pending_count() == 0


def move_back(client: IMAPClient, subject: str, source: str, target: str) -> None:
    """Move a message as another mail client would, by its subject."""
    client.select_folder(source)
    (uid,) = client.search(["SUBJECT", subject])
    client.move([uid], target)


def test_message_moved_back_is_not_new_mail(server, capsys):
    write_rules(RULES)
    first_sync(server, capsys)
    server.append("INBOX", make_message("Invoice 14"))
    assert sync(capsys)[0] == 0
    assert set(server_messages(server, "Receipts")) == {"Invoice 14"}
    # A later message takes the next store id, so the moved-back copy cannot reuse the id the run recorded.
    server.append("INBOX", make_message("Later"))
    assert sync(capsys)[0] == 0
    move_back(server, "Invoice 14", "Receipts", "INBOX")

    code, out, err = sync(capsys)

    assert code == 0, err
    assert "acted on" not in out
    assert set(server_messages(server, "INBOX")) == {"Hello", "Later", "Invoice 14"}
    assert server_messages(server, "Receipts") == {}
    assert set(stored("INBOX")) == {"Hello", "Later", "Invoice 14"}
    assert pending_count() == 0
    assert sync(capsys)[0] == 0
    assert set(server_messages(server, "INBOX")) == {"Hello", "Later", "Invoice 14"}

    code = main(["undo"])
    out = capsys.readouterr().out
    assert code == 0
    assert "no longer where the run left it (moved or deleted since), so it was not restored" in out

