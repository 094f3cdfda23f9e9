"""The rules_pending mark of new messages: a Message-ID the rules acted on in the same account is not new mail."""

from __future__ import annotations

from email.message import EmailMessage

from desktop.mail.parse import parse_summary
from desktop.store import NewMessage, Store


def new_message(uid: int, message_id: str) -> NewMessage:
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["Subject"] = f"Invoice {uid}"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("text")
    raw = message.as_bytes()
    return NewMessage(uid=uid, flags=[], size=len(raw), raw=raw, summary=parse_summary(raw))


def pending(store: Store, ids: list[int]) -> list[int]:
    marks = ",".join("?" * len(ids))
    return [row[0] for row in store._db.execute(f"SELECT rules_pending FROM messages WHERE id IN ({marks}) ORDER BY id", ids)]


def test_pending_mark_skips_messages_with_hits(tmp_path):
    with Store(tmp_path / "store.sqlite") as store:
        work = store.ensure_account("work", "imap")
        home = store.ensure_account("home", "imap")
        work_inbox = store.upsert_folder(work, "INBOX")
        work_receipts = store.upsert_folder(work, "Receipts")
        home_inbox = store.upsert_folder(home, "INBOX")
        (first,) = store.insert_messages(work_inbox, [new_message(1, "a@shop.example")], rules_pending=True)
        store.clear_rules_pending([first])
        bulk = store.begin_bulk("rules-sync", "test run", store.messages([first]))
        store.move_messages([first], work_receipts)
        store.finish_bulk(bulk, {"moved": 1})
        store.record_rule_hits([(bulk, first, "a@shop.example", "Receipts", "when matched", ["move to Receipts"])])
        # Another client moves it back: it disappears from Receipts and arrives in INBOX under a new UID.
        store._delete_rows(store._db, store.messages([first]))

        again = store.insert_messages(work_inbox, [new_message(2, "a@shop.example"), new_message(3, "b@shop.example")],
                                      rules_pending=True)
        elsewhere = store.insert_messages(home_inbox, [new_message(1, "a@shop.example")], rules_pending=True)
        unmarked = store.insert_messages(work_inbox, [new_message(4, "c@shop.example")])

        assert pending(store, again) == [0, 1], "the moved-back message is not new; a new one is"
        assert pending(store, elsewhere) == [1], "hits of another account do not count"
        assert pending(store, unmarked) == [0]
