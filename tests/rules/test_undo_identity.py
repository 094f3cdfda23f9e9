"""Undo checks that a recorded message number still names the same message.

SQLite gives the id of a deleted last row to the next row inserted, so after
a run, a delete and a new message, the run's record can point at a message
the run never touched. Undo must leave that message alone.
"""

from __future__ import annotations

from email.message import EmailMessage

from desktop.mail.parse import parse_summary
from desktop.store import SEEN, NewMessage, Store


def new_message(uid: int, message_id: str, flags: list[str]) -> NewMessage:
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["Subject"] = f"Invoice {uid}"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("text")
    raw = message.as_bytes()
    return NewMessage(uid=uid, flags=flags, size=len(raw), raw=raw, summary=parse_summary(raw))


def test_undo_skips_reused_message_id(tmp_path):
    with Store(tmp_path / "store.sqlite") as store:
        account = store.ensure_account("home", "local")
        inbox = store.upsert_folder(account, "INBOX")
        (first,) = store.insert_messages(inbox, [new_message(1, "first@shop.example", [])])
        bulk = store.begin_bulk("rules-apply", "mark read", store.messages([first]))
        store.change_flags([first], add=[SEEN])
        store.finish_bulk(bulk, {"flags": 1})
        # The message is deleted for good, and a new message that is already read gets its id.
        store.delete_uids(inbox, [1])
        (second,) = store.insert_messages(inbox, [new_message(2, "second@shop.example", [SEEN])])
        assert second == first, "SQLite did not reuse the id; the test setup no longer covers the case"

    with Store(tmp_path / "store.sqlite") as store:
        result = store.undo_last()

        assert result is not None
        assert result.restored == 0
        assert any("now belongs to another message" in reason for reason in result.skipped)
        assert store.message(second).flags == frozenset({SEEN})


def test_undo_restores_same_message(tmp_path):
    with Store(tmp_path / "store.sqlite") as store:
        account = store.ensure_account("home", "local")
        inbox = store.upsert_folder(account, "INBOX")
        (first,) = store.insert_messages(inbox, [new_message(1, "first@shop.example", [])])
        bulk = store.begin_bulk("rules-apply", "mark read", store.messages([first]))
        store.change_flags([first], add=[SEEN])
        store.finish_bulk(bulk, {"flags": 1})

    with Store(tmp_path / "store.sqlite") as store:
        result = store.undo_last()

        assert result is not None and result.restored == 1
        assert store.message(first).flags == frozenset()
