"""Gmail through the real CLI and sync: one download per message, labels both ways, All Mail shown once."""

from __future__ import annotations

import io
import json
from email.message import EmailMessage

import pytest
from imapclient.imap_utf7 import encode as encode_utf7

from desktop.cli import main
from desktop.paths import default_profile
from desktop.store import Store
from tests.helpers.gmail_server import ALL_MAIL, FakeGmail

USER = "user@example.org"
PASSWORD = "app-password"


def make_message(subject: str, body: str, number: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = USER
    message["Subject"] = subject
    message["Date"] = f"Tue, 01 Dec 2026 10:{number:02d}:00 +0000"
    message["Message-ID"] = f"<{number}@example.com>"
    message.set_content(body)
    return message.as_bytes().replace(b"\n", b"\r\n")


@pytest.fixture
def gmail(monkeypatch, capsys):
    """A fake Gmail with a label folder 'Work', added through the CLI as account 'gm'."""
    with FakeGmail(USER, PASSWORD, labels=("Work",)) as server:
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        code = main(["account", "add", "gm", "--imap-host", "127.0.0.1", "--imap-port", str(server.port),
                     "--security", "none", "--user", USER, "--password-stdin"])
        assert code == 0
        capsys.readouterr()
        yield server


def sync() -> None:
    assert main(["sync"]) == 0


def rows(folder: str) -> dict[int, dict]:
    """Return {X-GM-MSGID: row facts} of one local folder."""
    with Store(default_profile().store_file) as store:
        row = store.folder_by_name("gm", folder)
        assert row is not None, f"folder {folder} not in the store"
        ids = store.message_ids([row.id])
        msgids = store.gm_msgids(ids)
        return {
            msgids[message.id]: {"id": message.id, "subject": message.subject, "labels": set(store.labels(message.id)),
                                 "raw": store.raw(message.id)}
            for message in store.messages(ids)
        }


def test_message_in_three_folders_is_downloaded_once(gmail):
    both = gmail.deliver(make_message("Budget", "numbers", 1), labels=("\\Inbox", "Work"))
    inbox = gmail.deliver(make_message("Lunch", "noon", 2), labels=("\\Inbox",))
    archived = gmail.deliver(make_message("Old news", "archived", 3), labels=())

    sync()

    assert gmail.body_fetches == {both: 1, inbox: 1, archived: 1}
    assert set(rows("INBOX")) == {both, inbox}
    assert set(rows("Work")) == {both}
    assert set(rows(ALL_MAIL)) == {both, inbox, archived}
    for folder in ("INBOX", "Work", ALL_MAIL):
        for msgid, facts in rows(folder).items():
            assert facts["raw"] == gmail.messages[msgid].raw, f"{folder} row of {msgid} lacks its body"


def test_labels_stored_on_every_row(gmail):
    label = "Ärger mit Bob"
    # The server keeps labels in modified UTF-7, as folder names.
    msgid = gmail.deliver(make_message("Trouble", "text", 1), labels=("\\Inbox", "Work", encode_utf7(label).decode()))

    sync()

    expected = {"\\Inbox", "Work", label}
    # Gmail leaves out the selected folder's label, so each folder returns another list.
    for folder in ("INBOX", "Work", label, ALL_MAIL):
        assert rows(folder)[msgid]["labels"] == expected, folder


def test_second_sync_fetches_nothing_new(gmail):
    for number in range(3):
        gmail.deliver(make_message(f"Note {number}", "text", number), labels=("\\Inbox", "Work"))
    sync()
    commands_before = len(gmail.commands)

    sync()

    later = gmail.commands[commands_before:]
    assert [line for line in later if "BODY.PEEK[" in line.upper()] == []
    assert sum(gmail.body_fetches.values()) == 3


def test_server_label_change_shows_after_sync(gmail):
    msgid = gmail.deliver(make_message("Plan", "text", 1), labels=("\\Inbox",))
    sync()
    assert rows("INBOX")[msgid]["labels"] == {"\\Inbox"}

    gmail.set_labels(msgid, {"\\Inbox", "Work"})
    sync()

    assert rows("INBOX")[msgid]["labels"] == {"\\Inbox", "Work"}
    assert rows(ALL_MAIL)[msgid]["labels"] == {"\\Inbox", "Work"}
    work = rows("Work")[msgid]
    assert work["labels"] == {"\\Inbox", "Work"}
    # The new Work row takes the body stored already.
    assert work["raw"] == gmail.messages[msgid].raw
    assert gmail.body_fetches == {msgid: 1}


def test_local_label_change_reaches_server(gmail):
    msgid = gmail.deliver(make_message("Invoice", "text", 1), labels=("\\Inbox", "Work"))
    other = gmail.deliver(make_message("Untouched", "text", 2), labels=("\\Inbox",))
    sync()
    inbox_row = rows("INBOX")[msgid]["id"]

    with Store(default_profile().store_file) as store:
        assert store.change_labels([inbox_row], add=["Later"], remove=["\\Inbox"]) == 1
    # Every local row of the message changes before the server hears of it.
    for folder in ("INBOX", "Work", ALL_MAIL):
        assert rows(folder)[msgid]["labels"] == {"Work", "Later"}, folder
    assert gmail.labels_of(msgid) == {"\\Inbox", "Work"}

    sync()

    assert gmail.labels_of(msgid) == {"Work", "Later"}
    assert gmail.labels_of(other) == {"\\Inbox"}
    assert set(rows("INBOX")) == {other}
    # The folder of a new label is made by the server when the change arrives, after
    # this sync listed the folders, so the next sync shows it.
    sync()
    assert rows("Later")[msgid]["labels"] == {"Work", "Later"}
    assert rows("Later")[msgid]["raw"] == gmail.messages[msgid].raw
    assert gmail.body_fetches == {msgid: 1, other: 1}
    with Store(default_profile().store_file) as store:
        account_id = store.account_id("gm")
        assert store.pending_actions(account_id) == []


def test_label_change_rejects_mail_without_gmail_ids(gmail, tmp_path):
    with Store(tmp_path / "plain.sqlite") as store:
        folder = store.upsert_folder(store.ensure_account("plain"), "INBOX")
        from desktop.store import NewMessage
        from desktop.mail.parse import parse_summary

        raw = make_message("Plain", "text", 1)
        (message_id,) = store.insert_messages(folder, [NewMessage(uid=1, flags=[], size=len(raw), raw=raw,
                                                                  summary=parse_summary(raw))])
        with pytest.raises(ValueError, match="X-GM-EXT-1"):
            store.change_labels([message_id], add=["Work"])


def test_search_shows_an_all_mail_twin_once(gmail, capsys):
    inbox = gmail.deliver(make_message("Quartzite samples", "see the quartzite", 1), labels=("\\Inbox",))
    archived = gmail.deliver(make_message("Quartzite archive", "old quartzite", 2), labels=())
    sync()
    capsys.readouterr()

    assert main(["search", "quartzite", "--json"]) == 0

    found = json.loads(capsys.readouterr().out)
    assert sorted((item["subject"], item["folder"]) for item in found) == [
        ("Quartzite archive", ALL_MAIL),
        ("Quartzite samples", "INBOX"),
    ]
    assert {inbox, archived} == set(rows(ALL_MAIL))
