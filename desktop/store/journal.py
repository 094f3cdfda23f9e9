"""Local changes and the action journal, a part of ``Store``.

A local change is applied to the store at once and, for IMAP accounts,
recorded as a pending action. Sync sends pending actions to the server in
the order they were made, before it reads the server's state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence

from desktop.store.flags import FLAGGED, SEEN, check_flag, flags_text


class JournalMixin:
    """The journal methods of ``Store``; they use its connection and index queue."""

    def change_flags(self, ids: Sequence[int], *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> int:
        """Change flags locally at once and journal the change for the server.

        Local accounts keep the change in the store only. For IMAP accounts
        one journal entry per folder records the UIDs and the flags to add
        and remove. Sync replays pending entries before it reads the
        server's flags, so the change is neither lost nor undone.
        """
        add_set, remove_set = set(add), set(remove)
        for flag in add_set | remove_set:
            check_flag(flag)
        changed = 0
        with self.transaction() as db:
            by_folder: dict[int, list[int]] = {}
            for row in self.messages(ids):
                flags = (set(row.flags) | add_set) - remove_set
                if flags == set(row.flags):
                    continue
                text = flags_text(flags)
                db.execute(
                    "UPDATE messages SET flags = ?, seen = ?, flagged = ? WHERE id = ?",
                    (text, int(SEEN in flags), int(FLAGGED in flags), row.id),
                )
                by_folder.setdefault(row.folder_id, []).append(row.uid)
                self._queue_index([row.id], "flags")
                changed += 1
            for folder_id, uids in by_folder.items():
                self._journal_flags(folder_id, uids, add_set, remove_set)
        return changed

    def _journal_flags(self, folder_id: int, uids: list[int], add: set[str], remove: set[str]) -> None:
        row = self._db.execute(
            "SELECT f.account_id, a.kind, f.uidvalidity FROM folders f JOIN accounts a ON a.id = f.account_id WHERE f.id = ?",
            (folder_id,),
        ).fetchone()
        account_id, kind, uidvalidity = row
        if kind != "imap":
            return
        payload = json.dumps({"uids": sorted(uids), "add": sorted(add), "remove": sorted(remove)})
        self._db.execute(
            "INSERT INTO actions (account_id, folder_id, uidvalidity, kind, payload, created) VALUES (?, ?, ?, 'flags', ?, ?)",
            (account_id, folder_id, uidvalidity, payload, time.time()),
        )

    def pending_actions(self, account_id: int) -> list[tuple[int, int, int | None, str, dict]]:
        """Return (action id, folder id, uidvalidity, kind, payload) of pending actions, oldest first."""
        rows = self._db.execute(
            "SELECT id, folder_id, uidvalidity, kind, payload FROM actions WHERE account_id = ? AND state = 'pending' ORDER BY id",
            (account_id,),
        )
        return [(row[0], row[1], row[2], row[3], json.loads(row[4])) for row in rows]

    def finish_action(self, action_id: int, *, error: str = "") -> None:
        """Mark an action done, or failed with ``error`` (kept for the user to see)."""
        state = "failed" if error else "done"
        with self.transaction() as db:
            db.execute(
                "UPDATE actions SET state = ?, error = ?, attempts = attempts + 1 WHERE id = ?", (state, error, action_id)
            )
