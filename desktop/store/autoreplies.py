"""The memory of sent auto-replies, a part of ``Store``: one row per account, rule and sender.

The auto-reply code (``desktop.rules.autoreply``) reads the row before it
replies, to send at most one reply per sender every ``days`` days, and writes
it after the server accepted a reply. The row is replaced on every reply, so
it always contains the latest one.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoReplyRecord:
    """The latest auto-reply sent to one sender by one rule of one account.

    Attributes:
        account: The account's name.
        rule: The rule's name.
        sender: The address the reply went to, lowercased.
        text_hash: A hash of the reply's subject and body template; a reply
            with another text is not limited by this record.
        sent: When the server accepted the reply (aware, UTC).
        reply_message_id: The Message-ID of the reply, without brackets.
    """

    account: str
    rule: str
    sender: str
    text_hash: str
    sent: datetime
    reply_message_id: str


_COLUMNS = "account, rule, sender, text_hash, sent, reply_message_id"


def _record(values: tuple) -> AutoReplyRecord:
    return AutoReplyRecord(
        account=values[0], rule=values[1], sender=values[2], text_hash=values[3],
        sent=datetime.fromtimestamp(values[4], tz=timezone.utc), reply_message_id=values[5],
    )


class AutoRepliesMixin:
    """The auto-reply methods of ``Store``; they use its connection."""

    _db: sqlite3.Connection

    def last_auto_reply(self, account: str, rule: str, sender: str) -> AutoReplyRecord | None:
        """Return the latest reply of ``rule`` in ``account`` to ``sender`` (any case), or None."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM auto_replies WHERE account = ? AND rule = ? AND sender = ?",
            (account, rule, sender.lower()),
        ).fetchone()
        return _record(row) if row else None

    def record_auto_reply(
        self, account: str, rule: str, sender: str, *, text_hash: str, sent: datetime, reply_message_id: str,
    ) -> None:
        """Remember a reply the server accepted, replacing the earlier one to the same sender."""
        with self.transaction():  # type: ignore[attr-defined]
            self._db.execute(
                f"INSERT OR REPLACE INTO auto_replies ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (account, rule, sender.lower(), text_hash, sent.timestamp(), reply_message_id),
            )
        log.debug("Recorded the auto-reply of rule %r in account %s to %s", rule, account, sender.lower())

    def auto_replies(self, account: str | None = None) -> list[AutoReplyRecord]:
        """Return the remembered replies, newest first, of one account or of all."""
        where, params = ("WHERE account = ?", (account,)) if account is not None else ("", ())
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM auto_replies {where} ORDER BY sent DESC", params)
        return [_record(row) for row in rows]

    def forget_auto_replies(self, account: str, rule: str | None = None) -> int:
        """Drop the remembered replies of an account (or of one of its rules); return how many."""
        with self.transaction():  # type: ignore[attr-defined]
            if rule is None:
                cursor = self._db.execute("DELETE FROM auto_replies WHERE account = ?", (account,))
            else:
                cursor = self._db.execute("DELETE FROM auto_replies WHERE account = ? AND rule = ?", (account, rule))
        return cursor.rowcount
