"""Read-only queries for the split inbox: lane counts and message ids by lane or priority, a part of ``Store``.

Rules set ``messages.lane`` (empty for no lane) and ``messages.priority``;
see ``desktop.rules.engine``. These queries only read them. Like
``Store.message_ids`` they leave out messages the rules have not seen yet
(``rules_pending``), so a lane never counts mail that a rule is about to move.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

log = logging.getLogger(__name__)

ALL_LANES: None = None
"""Pass as ``lane`` to list every message of the folders, whatever its lane."""

NO_LANE = ""
"""The lane value of messages that no rule put in a lane (the "Other" tab)."""


class LanesMixin:
    """The lane and priority queries of ``Store``; they use its connection."""

    _db: sqlite3.Connection

    def lane_counts(self, folder_ids: Sequence[int]) -> dict[str, int]:
        """Count the messages of the folders per lane, lanes in name order.

        Returns:
            Lane name to message count, with ``NO_LANE`` ("") for messages in
            no lane; a lane without messages is missing.
        """
        if not folder_ids:
            return {}
        marks = ",".join("?" * len(folder_ids))
        rows = self._db.execute(
            f"SELECT lane, COUNT(*) FROM messages WHERE folder_id IN ({marks}) AND rules_pending = 0 GROUP BY lane ORDER BY lane",
            tuple(folder_ids),
        )
        return dict(rows.fetchall())

    def lane_message_ids(self, folder_ids: Sequence[int], lane: str | None = ALL_LANES, *,
                         by_priority: bool = False) -> list[int]:
        """Return the ids of the folders' messages in one lane, newest first.

        Args:
            folder_ids: The folders to list.
            lane: A lane name, ``NO_LANE`` for messages in no lane, or
                ``ALL_LANES`` (None) for every message.
            by_priority: Sort by priority score, highest first, and by date
                (newest first) within the same score.
        """
        if not folder_ids:
            return []
        marks = ",".join("?" * len(folder_ids))
        where = f"folder_id IN ({marks}) AND rules_pending = 0"
        params: tuple = tuple(folder_ids)
        if lane is not None:
            where += " AND lane = ?"
            params += (lane,)
        order = "priority DESC, date DESC, id DESC" if by_priority else "date DESC, id DESC"
        rows = self._db.execute(f"SELECT id FROM messages WHERE {where} ORDER BY {order}", params)
        return [row[0] for row in rows]
