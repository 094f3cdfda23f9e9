"""Snoozed messages, a part of ``Store``.

Snoozing moves messages into the account's Snoozed folder and adds the
keyword ``$Snoozed``, both through the action journal, so other mail
clients see that the message left the inbox. The wake time and the folder
to return to are kept only here, in the ``snoozes`` table. Waking moves a
due message back, removes the keyword and marks it unread.

A snooze is one bulk action (``begin_bulk`` / ``finish_bulk``), so
``undo_last`` moves the messages back and removes the keyword. A message
snoozed again in the Snoozed folder only gets a new wake time. The bulk
record keeps its earlier time (``SNOOZE_BEFORE_KEY``), and undo sets it back.
The entry of
a message that is no longer in the Snoozed folder when it is due (undone,
moved or deleted elsewhere) is dropped with a log line and nothing moves.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from desktop.store.flags import SEEN

if TYPE_CHECKING:
    from desktop.store.db import FolderRow, MessageRow

log = logging.getLogger(__name__)

SNOOZED_KEYWORD = "$Snoozed"
SNOOZED_FOLDER = "Snoozed"
# A server may mark its snooze folder with this special use; without one, the folder named Snoozed is used.
SNOOZED_SPECIAL_USE = "\\Snoozed"
# The key of a snooze's bulk summary that maps each rescheduled message to its earlier [wake_at, bulk_id],
# or to null when the message had no entry before (another client put it into the Snoozed folder).
SNOOZE_BEFORE_KEY = "snooze_before"


@dataclass(frozen=True)
class SnoozeEntry:
    """One snoozed message as the store records it.

    Attributes:
        message: The message's row id when it was snoozed.
        message_id: Its Message-ID header without angle brackets, or "".
        snooze_folder_id: The Snoozed folder the message was moved to.
        return_folder_id: The folder it returns to, or None when that folder is gone.
        return_folder: The name of that folder.
        bulk_id: The bulk action that snoozed it, which undo reverses.
    """

    id: int
    account: str
    message: int
    message_id: str
    snooze_folder_id: int
    return_folder_id: int | None
    return_folder: str
    wake_at: datetime
    created: datetime
    bulk_id: int | None


@dataclass
class SnoozeResult:
    """The outcome of ``snooze_messages``: the bulk action and how many messages moved or got a new time."""

    bulk_id: int | None = None
    snoozed: int = 0
    rescheduled: int = 0


@dataclass
class WakeResult:
    """The outcome of ``wake_snoozes``.

    Attributes:
        woken: Row ids of the messages moved back (or left in place when no folder to return to exists).
        dropped: One sentence per entry dropped because its message left the Snoozed folder.
    """

    woken: list[int] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


_ENTRY_COLUMNS = """s.id, a.name, s.message, s.message_id, s.snooze_folder_id, s.return_folder_id, s.return_folder,
    s.wake_at, s.created, s.bulk_id"""
_ENTRY_FROM = "snoozes s JOIN accounts a ON a.id = s.account_id"


def _entry(values: tuple) -> SnoozeEntry:
    return SnoozeEntry(
        id=values[0], account=values[1], message=values[2], message_id=values[3], snooze_folder_id=values[4],
        return_folder_id=values[5], return_folder=values[6],
        wake_at=datetime.fromtimestamp(values[7], tz=timezone.utc),
        created=datetime.fromtimestamp(values[8], tz=timezone.utc), bulk_id=values[9],
    )


class SnoozeMixin:
    """The snooze methods of ``Store``; they use its connection, the journal and bulk actions."""

    def snooze_folder(self, account: str) -> FolderRow | None:
        """Return the account's Snoozed folder: the one with special use ``\\Snoozed``, else the one named Snoozed."""
        folders = [row for row in self.folders(account, with_counts=False) if row.selectable]
        marked = [row for row in folders if row.special_use == SNOOZED_SPECIAL_USE]
        named = [row for row in folders if row.name.casefold() == SNOOZED_FOLDER.casefold()]
        found = marked or named
        return min(found, key=lambda row: row.id) if found else None

    def snooze_messages(self, ids: Sequence[int], wake_at: datetime, snooze_folders: Mapping[str, int],
                        description: str) -> SnoozeResult:
        """Snooze messages until ``wake_at`` as one undoable bulk action.

        Each message gets the keyword ``$Snoozed`` and moves to the Snoozed
        folder of its account (``snooze_folders``: account name to folder
        id). A message in that folder already keeps its place and gets the
        new wake time.

        Raises:
            ValueError: when ``wake_at`` is not in the future, or an account
                of the messages has no folder in ``snooze_folders``.
        """
        wake = wake_at.timestamp()
        if wake <= time.time():
            raise ValueError(f"The wake time {wake_at:%Y-%m-%d %H:%M} is not in the future; choose a later time.")
        rows = self.messages(ids)
        if not rows:
            return SnoozeResult()
        self._check_snooze_folders({row.account for row in rows}, snooze_folders)
        result = SnoozeResult()
        with self.transaction():
            result.bulk_id = self.begin_bulk("snooze", description, rows)
            # Flags first, in the folder the server has the messages in now, so the move carries the keyword along.
            self.change_flags([row.id for row in rows], add=[SNOOZED_KEYWORD])
            moving: dict[int, list[int]] = {}
            earlier: dict[str, list[float | int | None] | None] = {}
            for row in rows:
                target = snooze_folders[row.account]
                if row.folder_id == target:
                    result.rescheduled += 1
                    earlier[str(row.id)] = self._reschedule(row, wake, result.bulk_id)
                else:
                    result.snoozed += 1
                    moving.setdefault(target, []).append(row.id)
                    self._record_snooze(row, target, row.folder_id, row.folder, wake, result.bulk_id)
            for target, target_ids in moving.items():
                self.move_messages(target_ids, target)
            self.finish_bulk(result.bulk_id, {"snoozed": result.snoozed, "rescheduled": result.rescheduled})
            if earlier:
                self._db.execute("UPDATE bulk_actions SET summary = json_set(summary, ?, json(?)) WHERE id = ?",
                                 (f"$.{SNOOZE_BEFORE_KEY}", json.dumps(earlier), result.bulk_id))
        log.info("Snoozed %d message(s) and rescheduled %d until %s (bulk action %d)",
                 result.snoozed, result.rescheduled, wake_at.isoformat(timespec="minutes"), result.bulk_id)
        return result

    def _check_snooze_folders(self, accounts: set[str], snooze_folders: Mapping[str, int]) -> None:
        missing = sorted(accounts - set(snooze_folders))
        if missing:
            accounts = "account" if len(missing) == 1 else "accounts"
            raise ValueError(f"No Snoozed folder given for {accounts} {', '.join(missing)}; "
                             "create the folder (the window does it on the first snooze) and try again.")
        for account in accounts:
            folder = self.folder(snooze_folders[account])
            if folder is None or folder.account != account:
                raise ValueError(f"Folder id {snooze_folders[account]} is not a folder of account {account!r} in the "
                                 f"store {self.path}; sync the account and try again.")

    def _record_snooze(self, row: MessageRow, snooze_folder_id: int, return_folder_id: int, return_folder: str,
                       wake: float, bulk_id: int | None) -> None:
        from desktop.store.rules import normalize_message_id

        account_id = self._db.execute("SELECT account_id FROM folders WHERE id = ?", (snooze_folder_id,)).fetchone()[0]
        self._db.execute(
            """INSERT OR REPLACE INTO snoozes (account_id, message, message_id, snooze_folder_id, return_folder_id,
               return_folder, wake_at, created, bulk_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (account_id, row.id, normalize_message_id(row.message_id), snooze_folder_id, return_folder_id,
             return_folder, wake, time.time(), bulk_id),
        )

    def _reschedule(self, row: MessageRow, wake: float, bulk_id: int | None) -> list[float | int | None] | None:
        """Give a message in the Snoozed folder a new wake time; one put there by another client returns to INBOX.

        Returns the entry's earlier [wake_at, bulk_id], or None when the message had no entry.
        """
        before = self._db.execute("SELECT wake_at, bulk_id FROM snoozes WHERE message = ?", (row.id,)).fetchone()
        if before is not None:
            self._db.execute("UPDATE snoozes SET wake_at = ?, bulk_id = ? WHERE message = ?", (wake, bulk_id, row.id))
            return [before[0], before[1]]
        inbox = self._inbox_of(row.account)
        self._record_snooze(row, row.folder_id, inbox.id if inbox else None, inbox.name if inbox else "INBOX", wake, bulk_id)
        return None

    def _undo_snooze_times(self, bulk_id: int, earlier: Mapping[str, list[float | int | None] | None]) -> int:
        """Give the messages that snooze ``bulk_id`` rescheduled their earlier wake time back; return how many.

        An entry that a later snooze changed again is left alone. An entry the
        snooze made for a message without one is deleted.
        """
        restored = 0
        for message, before in earlier.items():
            if before is None:
                cursor = self._db.execute("DELETE FROM snoozes WHERE message = ? AND bulk_id = ?", (int(message), bulk_id))
            else:
                cursor = self._db.execute("UPDATE snoozes SET wake_at = ?, bulk_id = ? WHERE message = ? AND bulk_id = ?",
                                          (before[0], before[1], int(message), bulk_id))
            restored += cursor.rowcount
        if restored < len(earlier):
            log.info("Undo of snooze %d restored %d of %d earlier wake time(s) and left the entries that changed since",
                     bulk_id, restored, len(earlier))
        return restored

    # --- reading --------------------------------------------------------

    def snoozes(self, account: str | None = None) -> list[SnoozeEntry]:
        """Return the snooze entries (of one account, or all), the earliest wake time first."""
        where, params = ("WHERE a.name = ?", (account,)) if account else ("", ())
        rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS} FROM {_ENTRY_FROM} {where} ORDER BY s.wake_at, s.id", params)
        return [_entry(row) for row in rows]

    def snoozed_messages(self, account: str | None = None) -> list[tuple[SnoozeEntry, MessageRow]]:
        """Return each entry whose message is in its Snoozed folder now, with that message, the earliest first."""
        found = []
        for entry in self.snoozes(account):
            row, _reason = self._snoozed_row(entry)
            if row is not None:
                found.append((entry, row))
        return found

    def next_wake(self, account: str | None = None) -> datetime | None:
        """Return the earliest wake time of the entries (of one account, or all), or None when nothing is snoozed."""
        where, params = ("WHERE a.name = ?", (account,)) if account else ("", ())
        row = self._db.execute(f"SELECT MIN(s.wake_at) FROM {_ENTRY_FROM} {where}", params).fetchone()
        return datetime.fromtimestamp(row[0], tz=timezone.utc) if row and row[0] is not None else None

    def _snoozed_row(self, entry: SnoozeEntry) -> tuple[MessageRow | None, str]:
        """Return the entry's message if it is in the Snoozed folder, else None and where it went."""
        row = self.message(entry.message)
        if row is not None and entry.message_id and row.message_id.strip("<>") != entry.message_id:
            # SQLite may give a deleted row's id to a new message.
            row = None
        if row is not None and row.folder_id == entry.snooze_folder_id:
            return row, ""
        if row is not None:
            return None, f"it is in {row.folder} now, not in the Snoozed folder"
        if entry.message_id:
            # A row that sync dropped and fetched again (a placeholder that found no UID, a renumbered folder) has a new id.
            again = self._db.execute(
                "SELECT id FROM messages WHERE folder_id = ? AND message_id = ? ORDER BY id LIMIT 1",
                (entry.snooze_folder_id, entry.message_id),
            ).fetchone()
            if again is not None:
                return self.message(again[0]), ""
        return None, "it is no longer in the Snoozed folder (deleted, or moved by another client)"

    # --- waking ---------------------------------------------------------

    def wake_snoozes(self, now: float | None = None, *, account: str | None = None,
                     entry_ids: Sequence[int] | None = None) -> WakeResult:
        """Wake the due snoozes (of one account, or all); return what happened.

        A due message moves back to the folder it came from (INBOX when that
        folder is gone), loses ``$Snoozed`` and is marked unread, through the
        journal. Its entry is deleted in the same transaction, so a message
        wakes once even when two processes wake at the same time.

        Args:
            now: The time to compare wake times with, in seconds since the epoch; the current time if None.
            account: Wake only this account's snoozes.
            entry_ids: Wake these entries whatever their wake time (``now`` is then ignored).
        """
        moment = time.time() if now is None else now
        result = WakeResult()
        with self.transaction():
            entries = self._due_entries(moment, account, entry_ids)
            woken: list[MessageRow] = []
            moves: dict[int, list[int]] = {}
            for entry in entries:
                self._db.execute("DELETE FROM snoozes WHERE id = ?", (entry.id,))
                row, reason = self._snoozed_row(entry)
                if row is None:
                    text = (f"Snoozed message {entry.message} (Message-ID {entry.message_id or 'none'}) of account "
                            f"{entry.account}: {reason}, so it was dropped from the snooze list")
                    log.info("%s", text)
                    result.dropped.append(text)
                    continue
                woken.append(row)
                target = self._return_target(entry)
                if target is not None and target != row.folder_id:
                    moves.setdefault(target, []).append(row.id)
            self.change_flags([row.id for row in woken], remove=[SNOOZED_KEYWORD, SEEN])
            for target, ids in moves.items():
                self.move_messages(ids, target)
            result.woken = [row.id for row in woken]
        if entries:
            log.info("Woke %d snoozed message(s), dropped %d entry(ies)", len(result.woken), len(result.dropped))
        return result

    def _due_entries(self, moment: float, account: str | None, entry_ids: Sequence[int] | None) -> list[SnoozeEntry]:
        if entry_ids is not None:
            selected = set(entry_ids)
            return [entry for entry in self.snoozes(account) if entry.id in selected]
        where, params = "WHERE s.wake_at <= ?", (moment,)
        if account:
            where, params = where + " AND a.name = ?", (moment, account)
        rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS} FROM {_ENTRY_FROM} {where} ORDER BY s.wake_at, s.id", params)
        return [_entry(row) for row in rows]

    def _return_target(self, entry: SnoozeEntry) -> int | None:
        """Return the folder a woken message goes to: its old folder, one of the same name, else INBOX."""
        folders = {row.id: row for row in self.folders(entry.account, with_counts=False) if row.selectable}
        if entry.return_folder_id in folders:
            return entry.return_folder_id
        by_name = [row.id for row in folders.values() if row.name == entry.return_folder]
        if by_name:
            return by_name[0]
        inbox = self._inbox_of(entry.account)
        if inbox is None:
            log.warning("Account %s has no folder %s and no INBOX; snoozed message %d stays in the Snoozed folder",
                        entry.account, entry.return_folder, entry.message)
            return None
        log.info("Folder %s of account %s is gone; snoozed message %d returns to %s",
                 entry.return_folder, entry.account, entry.message, inbox.name)
        return inbox.id

    def _inbox_of(self, account: str) -> FolderRow | None:
        return next((row for row in self.folders(account, with_counts=False) if row.name.upper() == "INBOX"), None)
