"""The store: inserts are idempotent per UID, flags and deletes queue index work, local changes are journaled."""

from __future__ import annotations

import sqlite3

import pytest

from desktop.mail.parse import parse_summary
from desktop.store import FLAGGED, SEEN, NewMessage, Store, StoreError
from desktop.store.schema import MIGRATIONS, SCHEMA_VERSION


def new(uid: int, subject: str = "Hello", flags=(), date: str = "Tue, 01 Dec 2026 10:00:00 +0000") -> NewMessage:
    raw = f"From: Ana <ana@example.com>\r\nSubject: {subject}\r\nDate: {date}\r\n\r\nbody {uid}\r\n".encode()
    return NewMessage(uid=uid, flags=list(flags), size=len(raw), raw=raw, summary=parse_summary(raw))


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store.sqlite3") as opened:
        yield opened


@pytest.fixture
def inbox(store):
    account_id = store.ensure_account("work", "imap")
    return store.upsert_folder(account_id, "INBOX")


def test_insert_same_uid_twice_keeps_one(store, inbox):
    assert len(store.insert_messages(inbox, [new(1), new(2)])) == 2
    assert store.insert_messages(inbox, [new(2), new(3)]) != []

    assert sorted(store.local_flags(inbox)) == [1, 2, 3]
    assert store.message_count() == 3


def test_messages_newest_first(store, inbox):
    store.insert_messages(inbox, [
        new(1, "old", date="Mon, 01 Jan 2024 10:00:00 +0000"),
        new(2, "new", date="Mon, 01 Jan 2026 10:00:00 +0000"),
        new(3, "mid", date="Mon, 01 Jan 2025 10:00:00 +0000"),
    ])

    rows = store.messages(store.message_ids([inbox]))

    assert [row.subject for row in rows] == ["new", "mid", "old"]


def test_counts_follow_flags(store, inbox):
    store.insert_messages(inbox, [new(1, flags=[SEEN]), new(2), new(3)])
    store.update_flags(inbox, {2: [SEEN, FLAGGED]})

    folder = store.folder(inbox)

    assert (folder.total, folder.unread) == (3, 1)


def test_index_queue_tracks_changes(store, inbox):
    ids = store.insert_messages(inbox, [new(1), new(2)])
    store.index_done(store.index_batch(100))

    store.update_flags(inbox, {1: [SEEN]})
    store.delete_uids(inbox, [2])

    queued = {message_id: op for message_id, op, _seq in store.index_batch(100)}
    assert queued == {ids[0]: "flags", ids[1]: "delete"}


def test_requeued_entry_survives_done(store, inbox):
    (message_id,) = store.insert_messages(inbox, [new(1)])
    batch = store.index_batch(10)
    store.update_flags(inbox, {1: [SEEN]})

    store.index_done(batch)

    assert [entry[0] for entry in store.index_batch(10)] == [message_id]


def test_change_flags_journals_imap_accounts(store, inbox):
    (message_id,) = store.insert_messages(inbox, [new(7)])

    assert store.change_flags([message_id], add=[FLAGGED]) == 1
    assert store.change_flags([message_id], add=[FLAGGED]) == 0

    (action,) = store.pending_actions(store.account_id("work"))
    assert action[3] == "flags"
    assert action[4] == {"uids": [7], "add": [FLAGGED], "remove": []}


@pytest.mark.parametrize("flag", ["has space", "bad(flag", "\\Recent", "", "caf\u00e9"])
def test_change_flags_rejects_flag_imap_cannot_store(store, inbox, flag):
    (message_id,) = store.insert_messages(inbox, [new(7)])

    with pytest.raises(ValueError, match="cannot be stored on an IMAP server"):
        store.change_flags([message_id], add=[SEEN, flag])

    assert store.message(message_id).flags == frozenset()
    assert store.pending_actions(store.account_id("work")) == []


def test_change_flags_local_account_not_journaled(store):
    account_id = store.ensure_account("demo", "local")
    folder = store.upsert_folder(account_id, "INBOX")
    (message_id,) = store.insert_messages(folder, [new(1)])

    store.change_flags([message_id], add=[SEEN])

    assert store.message(message_id).seen
    assert store.pending_actions(account_id) == []


def test_clear_folder_resets_sync_state(store, inbox):
    store.insert_messages(inbox, [new(1), new(2)])
    store.set_folder_state(inbox, uidvalidity=5, uidnext=3, highestmodseq=9)

    assert store.clear_folder(inbox) == 2

    folder = store.folder(inbox)
    assert (folder.total, folder.uidvalidity, folder.highestmodseq) == (0, None, None)


def test_newer_schema_is_rejected(tmp_path):
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(StoreError, match="upgrade Sluice"):
        Store(path)


def test_damaged_file_is_explained(tmp_path):
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(StoreError, match="move it away"):
        Store(path)


def test_flags_change_keeps_pending_add(store, inbox):
    (message_id,) = store.insert_messages(inbox, [new(1)])

    store.update_flags(inbox, {1: [SEEN]})

    assert [(entry[0], entry[1]) for entry in store.index_batch(10)] == [(message_id, "add")]


def test_version_1_store_migrates_keeping_messages(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
        db.execute("INSERT INTO accounts (id, name) VALUES (1, 'work')")
        db.execute("INSERT INTO folders (id, account_id, name) VALUES (1, 1, 'INBOX')")
        db.execute("INSERT INTO messages (folder_id, uid, subject) VALUES (1, 7, 'kept')")

    with Store(path) as store:
        (row,) = store.messages(store.message_ids([1]))
        assert (row.uid, row.subject) == (7, "kept")
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store._db.execute("SELECT gm_msgid, labels FROM messages").fetchone() == (None, "")


def test_gmail_ids_and_labels_stored(store, inbox):
    message = new(1)
    message.gm_msgid = 1_600_000_000_000_000_001
    message.labels = ["Work Stuff", "\\Inbox", "Work Stuff"]

    (message_id,) = store.insert_messages(inbox, [message])

    row = store._db.execute("SELECT gm_msgid, labels FROM messages WHERE id = ?", (message_id,)).fetchone()
    assert row == (1_600_000_000_000_000_001, '["Work Stuff", "\\\\Inbox"]')


def test_missing_bodies_query_uses_id_index(store, inbox):
    """The body check runs on every sync, so it must not read the bodies' own pages (see schema version 3)."""
    header_only = new(1)
    header_only.raw = None
    store.insert_messages(inbox, [header_only, new(2)])

    plan = " ".join(row[3] for row in store._db.execute(
        "EXPLAIN QUERY PLAN SELECT m.id FROM messages m LEFT JOIN raw_messages r ON r.message_id = m.id "
        "WHERE r.message_id IS NULL"
    ))

    assert "COVERING INDEX raw_messages_ids" in plan
    assert [body.uid for body in store.missing_bodies(store.folder(inbox).account_id)] == [1]
