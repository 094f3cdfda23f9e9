"""Local moves, deletes and appends: the store changes at once, and IMAP accounts journal one action."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from desktop.mail.parse import parse_summary
from desktop.store import NewMessage, Store


def make_raw(subject: str, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = "ana@example.com"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(f"body of {subject}")
    return message.as_bytes()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as opened:
        yield opened


def add_account(store: Store, name: str, kind: str) -> dict[str, int]:
    account_id = store.ensure_account(name, kind)
    folders = {
        "INBOX": store.upsert_folder(account_id, "INBOX"),
        "Archive": store.upsert_folder(account_id, "Archive", special_use="\\Archive"),
        "Trash": store.upsert_folder(account_id, "Trash", special_use="\\Trash"),
    }
    for folder_id in folders.values():
        store.set_uidvalidity(folder_id, 7)
    return folders


def add_message(store: Store, folder_id: int, uid: int, subject: str, flags=("$Work",)) -> int:
    raw = make_raw(subject, f"<{subject}@example.com>")
    (message_id,) = store.insert_messages(folder_id, [NewMessage(uid, list(flags), len(raw), raw, parse_summary(raw))])
    return message_id


def actions(store: Store) -> list[tuple[str, int, dict]]:
    rows = store._db.execute("SELECT kind, folder_id, payload FROM actions ORDER BY id")
    return [(kind, folder_id, json.loads(payload)) for kind, folder_id, payload in rows]


def test_imap_move_keeps_row_and_journals(store):
    folders = add_account(store, "work", "imap")
    message_id = add_message(store, folders["INBOX"], 5, "Budget")
    raw = store.raw(message_id)

    assert store.move_messages([message_id], folders["Archive"]) == 1

    row = store.message(message_id)
    assert row.folder_id == folders["Archive"]
    assert row.uid < 0
    assert "$Work" in row.flags
    assert store.raw(message_id) == raw
    ((kind, folder_id, payload),) = actions(store)
    assert (kind, folder_id) == ("move", folders["INBOX"])
    assert payload["moves"] == [[5, row.uid, "Budget@example.com"]]
    assert payload["target"] == folders["Archive"]
    assert (message_id, "add") in [(entry[0], entry[1]) for entry in store.index_batch(10)]


def test_placeholders_unique_across_actions(store):
    folders = add_account(store, "work", "imap")
    first = add_message(store, folders["INBOX"], 1, "One")
    second = add_message(store, folders["INBOX"], 2, "Two")
    store.move_messages([first], folders["Archive"])
    store.move_messages([first], folders["INBOX"])
    store.move_messages([second], folders["Archive"])
    store.move_messages([first], folders["Archive"])

    uids = [store.message(first).uid, store.message(second).uid]
    placeholders = [move[1] for _kind, _folder, payload in actions(store) for move in payload["moves"]]
    assert all(uid < 0 for uid in uids)
    assert len(set(placeholders)) == len(placeholders) == 4


def test_local_account_move_journals_nothing(store):
    folders = add_account(store, "demo", "local")
    add_message(store, folders["Archive"], 3, "Old")
    message_id = add_message(store, folders["INBOX"], 3, "Moved")

    store.move_messages([message_id], folders["Archive"])

    assert store.message(message_id).folder_id == folders["Archive"]
    assert store.message(message_id).uid == 4
    assert actions(store) == []


def test_move_between_accounts_raises(store):
    work = add_account(store, "work", "imap")
    home = add_account(store, "home", "imap")
    message_id = add_message(store, work["INBOX"], 1, "Mine")

    with pytest.raises(ValueError, match="moving between accounts is not supported"):
        store.move_messages([message_id], home["Archive"])
    assert store.message(message_id).folder_id == work["INBOX"]
    assert actions(store) == []


def test_delete_moves_to_trash(store):
    folders = add_account(store, "work", "imap")
    message_id = add_message(store, folders["INBOX"], 9, "Spam")

    assert store.delete_messages([message_id]) == 1

    assert store.message(message_id).folder_id == folders["Trash"]
    ((kind, _folder, payload),) = actions(store)
    assert kind == "move"
    assert payload["target"] == folders["Trash"]


def test_delete_in_trash_is_for_good(store):
    folders = add_account(store, "work", "imap")
    message_id = add_message(store, folders["Trash"], 9, "Spam")

    assert store.delete_messages([message_id]) == 1

    assert store.message(message_id) is None
    assert store.raw(message_id) is None
    assert actions(store) == [("delete", folders["Trash"], {"uids": [9]})]


def test_delete_without_trash_is_for_good(store):
    account_id = store.ensure_account("bare", "imap")
    inbox = store.upsert_folder(account_id, "INBOX")
    message_id = add_message(store, inbox, 4, "Gone")

    store.delete_messages([message_id])

    assert store.message(message_id) is None
    assert actions(store) == [("delete", inbox, {"uids": [4]})]


def test_append_stores_and_journals(store):
    folders = add_account(store, "work", "imap")
    raw = make_raw("Draft", "<draft@example.com>")

    message_id = store.append_message(folders["INBOX"], raw, ["\\Draft", "$Todo"])

    row = store.message(message_id)
    assert row.uid < 0
    assert row.subject == "Draft"
    assert row.flags == {"\\Draft", "$Todo"}
    assert store.raw(message_id) == raw.replace(b"\n", b"\r\n")
    ((kind, _folder, payload),) = actions(store)
    assert kind == "append"
    assert payload["placeholder"] == row.uid
    assert payload["message"] == message_id
    assert payload["message_id"] == "draft@example.com"


def test_append_rejects_bad_flag(store):
    folders = add_account(store, "work", "imap")
    with pytest.raises(ValueError, match="cannot be stored"):
        store.append_message(folders["INBOX"], make_raw("x", "<x@example.com>"), ["bad flag"])
    assert store.message_count() == 0


def test_resolve_rewrites_later_actions(store):
    folders = add_account(store, "work", "imap")
    message_id = add_message(store, folders["INBOX"], 1, "Chain")
    store.move_messages([message_id], folders["Archive"])
    placeholder = store.message(message_id).uid
    store.change_flags([message_id], add=["\\Flagged"])
    store.move_messages([message_id], folders["INBOX"])

    store.resolve_placeholder(folders["Archive"], placeholder, 40)

    _move, flags, move_back = actions(store)
    assert flags[2]["uids"] == [40]
    assert move_back[2]["moves"][0][0] == 40


def test_resolve_unknown_drops_row_and_references(store):
    folders = add_account(store, "work", "imap")
    message_id = add_message(store, folders["INBOX"], 1, "Lost")
    store.move_messages([message_id], folders["Archive"])
    placeholder = store.message(message_id).uid
    store.change_flags([message_id], add=["\\Seen"])

    store.resolve_placeholder(folders["Archive"], placeholder, None)

    assert store.message(message_id) is None
    assert actions(store)[1][2]["uids"] == []


def test_placeholder_stale_once_action_ends(store):
    folders = add_account(store, "work", "imap")
    message_id = add_message(store, folders["INBOX"], 5, "Budget")
    store.move_messages([message_id], folders["Archive"])
    placeholder = store.message(message_id).uid
    ((action_id, *_),) = store.pending_actions(store.account_id("work"))

    assert placeholder < 0
    assert store.stale_placeholders({placeholder, 12}) == set()

    store.finish_action(action_id, error="the target folder is gone")

    assert store.stale_placeholders({placeholder, 12}) == {placeholder}
