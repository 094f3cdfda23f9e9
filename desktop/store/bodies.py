"""Message bodies fetched after the headers, a part of ``Store``.

Sync stores the headers of new mail first, with no row in ``raw_messages``,
so the list is usable at once. The bodies follow in a later phase, or when a
message is opened. Storing a body never adds a message row, so a message
whose body arrives later is still stored exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MissingBody:
    """A stored message whose body is not stored yet, with where the server keeps it."""

    message_id: int
    account: str
    folder_id: int
    folder: str
    uidvalidity: int | None
    uid: int
    size: int


_MISSING_COLUMNS = "m.id, a.name, f.id, f.name, f.uidvalidity, m.uid, m.size"
_MISSING_FROM = """messages m JOIN folders f ON f.id = m.folder_id JOIN accounts a ON a.id = f.account_id
                   LEFT JOIN raw_messages r ON r.message_id = m.id"""


class BodiesMixin:
    """The body methods of ``Store``; they use its connection and index queue."""

    def missing_bodies(self, account_id: int, *, max_size: int | None = None) -> list[MissingBody]:
        """Return the account's messages without a stored body, newest first.

        Args:
            account_id: The account whose folders are searched.
            max_size: Leave out messages larger than this many bytes (RFC822.SIZE); None for no limit.
        """
        where = "f.account_id = ? AND r.message_id IS NULL"
        params: tuple = (account_id,)
        if max_size is not None:
            where += " AND m.size <= ?"
            params += (max_size,)
        rows = self._db.execute(
            f"SELECT {_MISSING_COLUMNS} FROM {_MISSING_FROM} WHERE {where} ORDER BY m.date DESC, m.id DESC", params
        )
        return [MissingBody(*row) for row in rows]

    def body_location(self, message_id: int) -> MissingBody | None:
        """Return where the server keeps message ``message_id``, or None when the message is not stored."""
        row = self._db.execute(f"SELECT {_MISSING_COLUMNS} FROM {_MISSING_FROM} WHERE m.id = ?", (message_id,)).fetchone()
        return MissingBody(*row) if row else None

    def missing_body_count(self, account: str | None = None) -> int:
        """Return how many messages (of one account, or of all) have no stored body."""
        where = "r.message_id IS NULL" + (" AND a.name = ?" if account is not None else "")
        params = (account,) if account is not None else ()
        return self._db.execute(f"SELECT COUNT(*) FROM {_MISSING_FROM} WHERE {where}", params).fetchone()[0]

    def store_bodies(self, bodies: Mapping[int, bytes]) -> list[int]:
        """Store fetched bodies by message id in one transaction and queue those messages for the index.

        The attachment mark is computed again from the whole message with
        ``parse_summary``, the rule used for messages stored whole. A message
        deleted meanwhile, or whose body is stored already, is skipped.
        Returns the ids whose body was stored.
        """
        stored: list[int] = []
        with self.transaction() as db:
            for message_id, raw in bodies.items():
                cursor = db.execute(
                    """INSERT OR IGNORE INTO raw_messages (message_id, raw)
                       SELECT id, ? FROM messages WHERE id = ?""",
                    (raw, message_id),
                )
                if cursor.rowcount == 0:
                    continue
                from desktop.mail.parse import parse_summary  # loaded on first use, see Store

                summary = parse_summary(raw)
                db.execute("UPDATE messages SET has_attachment = ? WHERE id = ?", (int(summary.has_attachment), message_id))
                stored.append(message_id)
            self._queue_index(stored, "add")
        if len(stored) < len(bodies):
            log.debug("Skipped %d body(ies) of messages deleted meanwhile or stored whole already", len(bodies) - len(stored))
        return stored
