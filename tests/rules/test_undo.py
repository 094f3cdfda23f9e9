"""Undo of a rule run against a real Dovecot: the server gets its folders and flags back, also after a restart.

Every check of the server goes through a separate IMAP connection, and every
undo runs through ``sluice undo``, which opens the store afresh, as a new
process after a restart would.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from desktop.paths import default_profile
from desktop.store import Store
from desktop.store.rules import MessageState
from tests.rules.engine_mailbox import (
    EXAMPLE_RULES,
    add_account,
    run,
    seed,
    server_state,
    store_state,
    stored,
    sync,
    where,
)

pytestmark = pytest.mark.dovecot


@pytest.fixture
def mailbox(imap_user, dovecot_server, direct_client, capsys):
    add_account(dovecot_server.host, dovecot_server.port, imap_user)
    seed(direct_client)
    sync(capsys)
    return direct_client


def test_undo_restores_server_after_restart(mailbox, capsys):
    server_before = server_state(mailbox)
    store_before = store_state()
    assert run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))[0] == 0
    sync(capsys)
    assert server_state(mailbox) != server_before

    code, out, err = run(capsys, "undo")
    assert code == 0, err
    assert "Restored 7 messages: 4 moved back" in out
    sync(capsys)

    assert server_state(mailbox) == server_before
    assert store_state() == store_before
    code, out, _err = run(capsys, "undo")
    assert (code, out.strip()) == (0, "Nothing to undo.")


def test_apply_and_undo_send_at_once(mailbox, capsys):
    server_before = server_state(mailbox)
    code, out, err = run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err
    assert "Sent the changes to the server of account 'test'." in out
    assert where(server_state(mailbox), "invoice@shop.example") == [("Receipts", {"\\Seen"})]

    code, out, err = run(capsys, "undo")
    assert code == 0, err
    assert "Sent the changes to the server of account 'test'." in out
    assert server_state(mailbox) == server_before
    with Store(default_profile().store_file) as store:
        assert all(not store.pending_actions(row.id) for row in store.accounts())


def test_undo_before_the_changes_reached_the_server(mailbox, capsys):
    server_before = server_state(mailbox)
    store_before = store_state()
    assert run(capsys, "rules", "apply", "--no-send", "--rules", str(EXAMPLE_RULES))[0] == 0
    code, out, _err = run(capsys, "undo", "--no-send")
    assert code == 0
    assert "The changes of account 'test' are queued" in out
    assert server_state(mailbox) == server_before
    sync(capsys)
    assert server_state(mailbox) == server_before
    assert store_state() == store_before


def test_undo_skips_changed_and_deleted_messages(mailbox, capsys):
    assert run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))[0] == 0
    sync(capsys)
    # Another client reads the invoice in Receipts (flags changed), and the digest is deleted from Archive.
    mailbox.select_folder("Receipts")
    (invoice_uid,) = mailbox.search(["HEADER", "Message-ID", "invoice@shop.example"])
    mailbox.add_flags([invoice_uid], ["$read-elsewhere"])
    mailbox.select_folder("Archive")
    mailbox.delete_messages(mailbox.search("ALL"))
    mailbox.expunge()
    sync(capsys)

    code, out, err = run(capsys, "undo")
    assert code == 0, err
    assert "Left 2 alone:" in out
    assert ("(Invoice 1001 for your order): its flags changed since the run (now: $read-elsewhere \\Seen; after the "
            "run: \\Seen), so it was left as it is") in out
    assert "no longer where the run left it (moved or deleted since), so it was not restored" in out
    sync(capsys)

    state = server_state(mailbox)
    assert where(state, "invoice@shop.example") == [("Receipts", {"\\Seen", "$read-elsewhere"})]
    assert where(state, "receipt@shop.example") == [("INBOX", {"\\Flagged"})]
    assert where(state, "python@lists.example") == [("INBOX", frozenset())]
    assert where(state, "old-news@lists.example") == []


def test_undo_removes_the_copies_a_run_made(mailbox, tmp_path, capsys):
    rules = tmp_path / "copy.toml"
    rules.write_text(textwrap.dedent("""
        [[rule]]
        name = "Keep a copy of invoices"
        when = 'subject:invoice'
        actions = [{ copy = "Receipts" }, { label = "$copied" }]
    """), encoding="utf-8")
    assert run(capsys, "rules", "apply", "--rules", str(rules))[0] == 0
    sync(capsys)
    assert sorted(where(server_state(mailbox), "invoice@shop.example")) == [
        ("INBOX", {"$copied"}), ("Receipts", {"$copied"})]

    code, out, _err = run(capsys, "undo")
    assert code == 0
    assert "removed 1 copy." in out
    sync(capsys)
    assert where(server_state(mailbox), "invoice@shop.example") == [("INBOX", frozenset())]
    assert [row.folder for row in stored("invoice@shop.example")] == ["INBOX"]
    mailbox.select_folder("Trash", readonly=True)
    assert mailbox.search("ALL") == [], "the copy did not exist before the run, so it is deleted for good"


def test_undo_steps_back_one_run_at_a_time(mailbox, tmp_path, capsys):
    first = tmp_path / "first.toml"
    first.write_text('[[rule]]\nname = "Flag boss"\nwhen = \'from:boss@example.com\'\nactions = [{ flag = true }]\n')
    second = tmp_path / "second.toml"
    second.write_text('[[rule]]\nname = "Boss to receipts"\nwhen = \'from:boss@example.com\'\n'
                      'actions = [{ move = "Receipts" }]\n')
    assert run(capsys, "rules", "apply", "--rules", str(first))[0] == 0
    assert run(capsys, "rules", "apply", "--rules", str(second))[0] == 0

    code, out, _err = run(capsys, "undo", "--list")
    assert code == 0
    lines = out.strip().splitlines()
    assert "second.toml" in lines[1]
    assert "moved 1" in lines[1]
    assert "first.toml" in lines[2]
    assert "flags changed 1" in lines[2]

    assert run(capsys, "undo")[0] == 0
    (boss,) = stored("budget@example.com")
    assert (boss.folder, "\\Flagged" in boss.flags) == ("INBOX", True)
    assert run(capsys, "undo")[0] == 0
    (boss,) = stored("budget@example.com")
    assert (boss.folder, "\\Flagged" in boss.flags) == ("INBOX", False)

    code, out, _err = run(capsys, "undo", "--list")
    assert out.count("undone") == 2
    sync(capsys)
    assert where(server_state(mailbox), "budget@example.com") == [("INBOX", frozenset())]


def test_undo_last_restores_priority_and_lane(mailbox, capsys):
    assert run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))[0] == 0
    with Store(default_profile().store_file) as store:
        (record,) = store.bulk_history()
        assert record.kind == "rules-apply"
        assert record.undone is None
        assert record.messages == 7
        result = store.undo_last()
        assert result is not None
        assert result.bulk.id == record.id
        assert result.skipped == []
        assert store.undo_last() is None
        assert store.bulk_history()[0].undone is not None
    (boss,) = stored("budget@example.com")
    assert (boss.lane, boss.priority) == ("", 0)


def test_recorded_state_matches_whole_rows(mailbox, capsys):
    """The state a run records for undo, read from a few columns, is the state read from the whole row."""
    mailbox.append("INBOX", b"From: Nobody <nobody@example.com>\r\nSubject: No Message-ID here\r\n"
                            b"Date: Fri, 04 Dec 2026 06:38:00 +0000\r\n\r\nBody.\r\n")
    sync(capsys)
    with Store(default_profile().store_file) as store:
        rows = store.messages(store.all_message_ids())
        states = store._message_states([row.id for row in rows])
    assert any(not row.message_id for row in rows)
    assert len(states) == len(rows) == 10
    for row in rows:
        expected = MessageState.of(row)
        assert states[row.id] == expected
        assert states[row.id].identity == expected.identity
