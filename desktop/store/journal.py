"""Local changes and the action journal, a part of ``Store``.

A local change is applied to the store at once and, for IMAP accounts,
recorded as a pending action. Sync sends pending actions to the server in
the order they were made, before it reads the server's state.

Kinds and payloads (``actions.folder_id`` is the folder the command runs in):

- ``flags``: ``uids``, ``add``, ``remove``.
- ``labels``: ``uids``, ``add``, ``remove``: Gmail labels (``desktop.store.gmail``).
- ``move``: ``target`` (folder id), ``target_name`` and ``moves``, a list of
  [source UID, placeholder UID in the target, Message-ID]; a move to Trash
  is a move too.
- ``copy``: ``target``, ``target_name`` and ``copies``, a list of
  [source UID, placeholder UID of the new row in the target, Message-ID].
- ``delete``: ``uids`` to delete for good.
- ``append``: ``placeholder``, ``message`` (the row id, whose raw bytes are
  sent), ``flags``, ``message_id`` and ``sent`` (set before APPEND goes out).

A moved, copied or appended message has a placeholder UID below zero until replay
learns its server UID; ``resolve_placeholder`` then rewrites the row and
every pending action that names the placeholder.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from desktop.store.flags import FLAGGED, SEEN, check_flag, flags_text

if TYPE_CHECKING:
    from desktop.store.db import MessageRow

log = logging.getLogger(__name__)


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
        with self.transaction() as db:
            by_folder: dict[int, list[int]] = {}
            updates: list[tuple[str, int, int, int]] = []
            for message_id, folder_id, uid, old_flags in self._flag_states(ids):
                flags = (old_flags | add_set) - remove_set
                if flags == old_flags:
                    continue
                updates.append((flags_text(flags), int(SEEN in flags), int(FLAGGED in flags), message_id))
                by_folder.setdefault(folder_id, []).append(uid)
            db.executemany("UPDATE messages SET flags = ?, seen = ?, flagged = ? WHERE id = ?", updates)
            self._queue_index([update[3] for update in updates], "flags")
            for folder_id, uids in by_folder.items():
                ordered = sorted(uids)
                for start in range(0, len(ordered), MESSAGES_PER_ACTION):
                    self._journal_flags(folder_id, ordered[start : start + MESSAGES_PER_ACTION], add_set, remove_set)
        return len(updates)

    def _flag_states(self, ids: Sequence[int]) -> list[tuple[int, int, int, set[str]]]:
        """Return (id, folder id, UID, flags) of the stored messages among ``ids``.

        Reads four columns instead of whole rows, because a rule run changes
        the flags of thousands of messages at once.
        """
        states = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT id, folder_id, uid, flags FROM messages WHERE id IN ({marks})", tuple(chunk))
            states.extend((row[0], row[1], row[2], set(row[3].split())) for row in rows)
        return states

    def message_places(self, ids: Sequence[int]) -> dict[int, tuple[str, int]]:
        """Return {id: (account name, folder id)} of the stored messages among ``ids``, in the order of ``ids``.

        Reads two columns instead of whole rows, so the window can check a
        selection of tens of thousands before it moves them.
        """
        # The folders' accounts come from a query of their own, because joined per chunk SQLite scans a folder's messages.
        accounts = dict(self._db.execute("SELECT f.id, a.name FROM folders f JOIN accounts a ON a.id = f.account_id"))
        folders: dict[int, int] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            folders.update(self._db.execute(f"SELECT id, folder_id FROM messages WHERE id IN ({marks})", tuple(chunk)))
        return {message: (accounts[folders[message]], folders[message]) for message in unique if message in folders}

    def _move_states(self, ids: Sequence[int]) -> list[_MoveState]:
        """Return what a move needs of the stored messages among ``ids``, in the order of ``ids``."""
        found: dict[int, _MoveState] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT m.id, a.name, m.folder_id, m.uid, m.message_id FROM messages m "
                f"JOIN folders f ON f.id = m.folder_id JOIN accounts a ON a.id = f.account_id WHERE m.id IN ({marks})",
                tuple(chunk),
            )
            found.update((row[0], _MoveState(*row)) for row in rows)
        return [found[message_id] for message_id in ids if message_id in found]

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

    def has_failed_actions(self, folder_id: int) -> bool:
        """Return whether an action of this folder ever failed, which may have left local and server apart."""
        row = self._db.execute("SELECT 1 FROM actions WHERE folder_id = ? AND state = 'failed' LIMIT 1", (folder_id,)).fetchone()
        return row is not None

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

    # --- moves, deletes and appends -------------------------------------

    def move_messages(self, ids: Sequence[int], target_folder_id: int) -> int:
        """Move messages to another folder of the same account at once; return how many moved.

        Each row keeps its id, flags, keywords and raw bytes and is queued
        for the index. For IMAP accounts the row takes a placeholder UID
        below zero, so it never clashes with a server UID, and one move
        action per source folder is journaled. Replay sets the server's UID.

        Raises:
            ValueError: when the target folder is missing, or a message
                belongs to another account than the target folder.
        """
        target = self._folder_info(target_folder_id)
        rows = [row for row in self._move_states(ids) if row.folder_id != target_folder_id]
        for row in rows:
            if row.account != target.account:
                raise ValueError(
                    f"Message {row.id} belongs to account {row.account!r}, but folder {target.name!r} belongs to "
                    f"{target.account!r}; moving between accounts is not supported, so copy the message instead."
                )
        with self.transaction():
            by_folder: dict[int, list[_MoveState]] = {}
            for row in rows:
                by_folder.setdefault(row.folder_id, []).append(row)
            for source_id, source_rows in by_folder.items():
                for start in range(0, len(source_rows), MESSAGES_PER_ACTION):
                    self._move_rows(source_rows[start : start + MESSAGES_PER_ACTION], source_id, target)
        log.info("Moved %d message(s) to folder %s of account %s", len(rows), target.name, target.account)
        return len(rows)

    def copy_messages(self, ids: Sequence[int], target_folder_id: int) -> list[int]:
        """Copy messages into another folder of the same account at once; return the new rows' ids.

        A new row takes the fields, flags, keywords, priority, lane and raw
        bytes of its original. For IMAP accounts it has a placeholder UID
        until replay sends UID COPY and learns the server's UID, and one copy
        action per source folder is journaled. A message already in the
        target folder is not copied.

        Raises:
            ValueError: when the target folder is missing, or a message
                belongs to another account than the target folder.
        """
        target = self._folder_info(target_folder_id)
        rows = [row for row in self.messages(ids) if row.folder_id != target_folder_id]
        for row in rows:
            if row.account != target.account:
                raise ValueError(
                    f"Message {row.id} belongs to account {row.account!r}, but folder {target.name!r} belongs to "
                    f"{target.account!r}; copying between accounts is not supported."
                )
        created: list[int] = []
        with self.transaction():
            by_folder: dict[int, list[MessageRow]] = {}
            for row in rows:
                by_folder.setdefault(row.folder_id, []).append(row)
            for source_id, source_rows in by_folder.items():
                for start in range(0, len(source_rows), MESSAGES_PER_ACTION):
                    created += self._copy_rows(source_rows[start : start + MESSAGES_PER_ACTION], source_id, target)
        log.info("Copied %d message(s) to folder %s of account %s", len(rows), target.name, target.account)
        return created

    def delete_messages(self, ids: Sequence[int]) -> int:
        """Delete messages at once; return how many went.

        A message outside the account's Trash folder (special use ``\\Trash``)
        moves there. A message in Trash, or of an account without one, is
        deleted for good. For IMAP accounts that journals a delete action,
        which replay sends as STORE \\Deleted plus UID EXPUNGE of those UIDs.
        """
        rows = self.messages(ids)
        with self.transaction() as db:
            to_trash: dict[int, list[int]] = {}
            for_good: list[MessageRow] = []
            for row in rows:
                trash = self._trash_folder(row.folder_id)
                if trash is not None and trash != row.folder_id:
                    to_trash.setdefault(trash, []).append(row.id)
                else:
                    for_good.append(row)
            for trash, trash_ids in to_trash.items():
                self.move_messages(trash_ids, trash)
            self._delete_rows(db, for_good)
        log.info("Deleted %d message(s): %d to Trash, %d for good",
                 len(rows), sum(len(value) for value in to_trash.values()), len(for_good))
        return len(rows)

    def append_message(self, folder_id: int, raw: bytes, flags: Iterable[str] = ()) -> int:
        """Store a new message (a draft, a sent copy, an import) in a folder; return its message id.

        Line endings are stored as CRLF, as the server stores them. For IMAP
        accounts the row takes a placeholder UID and an append action is
        journaled. Replay sends APPEND and sets the server's UID.
        """
        flag_set = set(flags)
        for flag in flag_set:
            check_flag(flag)
        folder = self._folder_info(folder_id)
        # The server stores lines ending in CRLF (RFC 5322 section 2.3), so the local copy is kept that way too.
        raw = re.sub(rb"\r?\n", b"\r\n", raw)
        from desktop.mail.parse import parse_summary  # loaded on first use, see Store

        summary = parse_summary(raw)
        with self.transaction() as db:
            action_id = self._next_action_id() if folder.kind == "imap" else None
            uid = _placeholder(action_id, 0) if action_id is not None else self.next_local_uid(folder_id)
            cursor = db.execute(
                """INSERT INTO messages (folder_id, uid, flags, seen, flagged, size, date, from_name, from_addr,
                   recipients, subject, message_id, in_reply_to, refs, thread_key, list_id, has_attachment, defects)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    folder_id, uid, flags_text(flag_set), int(SEEN in flag_set), int(FLAGGED in flag_set), len(raw),
                    summary.date.timestamp() if summary.date else time.time(), summary.from_name, summary.from_addr,
                    summary.recipients, summary.subject, summary.message_id, summary.in_reply_to,
                    " ".join(summary.references), summary.thread_key, summary.list_id, int(summary.has_attachment),
                    "; ".join(summary.defects),
                ),
            )
            message_id = cursor.lastrowid
            db.execute("INSERT INTO raw_messages (message_id, raw) VALUES (?, ?)", (message_id, raw))
            self._queue_index([message_id], "add")
            if action_id is not None:
                payload = {"placeholder": uid, "message": message_id, "flags": sorted(flag_set),
                           "message_id": summary.message_id, "sent": False}
                self._insert_action(action_id, folder, "append", payload)
        log.info("Stored new message %d in folder %s of account %s", message_id, folder.name, folder.account)
        return message_id

    def _move_rows(self, rows: list[_MoveState], source_id: int, target: _FolderInfo) -> None:
        source = self._folder_info(source_id)
        action_id = self._next_action_id() if target.kind == "imap" else None
        moves = []
        if action_id is None:
            # A local folder numbers its messages itself, one after the other.
            for row in rows:
                uid = self.next_local_uid(target.id)
                self._db.execute("UPDATE messages SET folder_id = ?, uid = ? WHERE id = ?", (target.id, uid, row.id))
        else:
            moves = [[row.uid, _placeholder(action_id, number), row.message_id] for number, row in enumerate(rows)]
            self._db.executemany("UPDATE messages SET folder_id = ?, uid = ? WHERE id = ?",
                                 [(target.id, move[1], row.id) for move, row in zip(moves, rows)])
        # Only the folder changed, so the index rewrites its side table and parses nothing.
        self._queue_index([row.id for row in rows], "place")
        if action_id is not None:
            self._insert_action(action_id, source, "move", {"target": target.id, "target_name": target.name, "moves": moves})

    def _copy_rows(self, rows: list[MessageRow], source_id: int, target: _FolderInfo) -> list[int]:
        source = self._folder_info(source_id)
        action_id = self._next_action_id() if target.kind == "imap" else None
        copies = []
        created = []
        for number, row in enumerate(rows):
            uid = _placeholder(action_id, number) if action_id is not None else self.next_local_uid(target.id)
            cursor = self._db.execute(
                f"""INSERT INTO messages (folder_id, uid, {_COPIED_COLUMNS})
                    SELECT ?, ?, {_COPIED_COLUMNS} FROM messages WHERE id = ?""",
                (target.id, uid, row.id),
            )
            new_id = cursor.lastrowid
            self._db.execute("INSERT INTO raw_messages (message_id, raw) SELECT ?, raw FROM raw_messages WHERE message_id = ?",
                             (new_id, row.id))
            created.append(new_id)
            copies.append([row.uid, uid, row.message_id])
        self._queue_index(created, "add")
        if action_id is not None:
            self._insert_action(action_id, source, "copy", {"target": target.id, "target_name": target.name, "copies": copies})
        return created

    def _delete_rows(self, db: sqlite3.Connection, rows: list[MessageRow]) -> None:
        by_folder: dict[int, list[int]] = {}
        for row in rows:
            db.execute("DELETE FROM messages WHERE id = ?", (row.id,))
            by_folder.setdefault(row.folder_id, []).append(row.uid)
        self._queue_index([row.id for row in rows], "delete")
        for folder_id, uids in by_folder.items():
            folder = self._folder_info(folder_id)
            if folder.kind != "imap":
                continue
            ordered = sorted(uids)
            for start in range(0, len(ordered), MESSAGES_PER_ACTION):
                self._insert_action(self._next_action_id(), folder, "delete", {"uids": ordered[start : start + MESSAGES_PER_ACTION]})

    def _trash_folder(self, folder_id: int) -> int | None:
        row = self._db.execute(
            """SELECT t.id FROM folders f JOIN folders t ON t.account_id = f.account_id
               WHERE f.id = ? AND t.special_use = '\\Trash' AND t.selectable = 1 ORDER BY t.id LIMIT 1""",
            (folder_id,),
        ).fetchone()
        return row[0] if row else None

    def _folder_info(self, folder_id: int) -> _FolderInfo:
        row = self._db.execute(
            """SELECT f.id, f.name, f.account_id, a.name, a.kind, f.uidvalidity
               FROM folders f JOIN accounts a ON a.id = f.account_id WHERE f.id = ?""",
            (folder_id,),
        ).fetchone()
        if row is None:
            raise ValueError(f"Folder id {folder_id} is not in the store; list the folders again and pick another.")
        return _FolderInfo(*row)

    def _next_action_id(self) -> int:
        # Called inside a write transaction (BEGIN IMMEDIATE), so no other writer can take the same id.
        return self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM actions").fetchone()[0]

    def _insert_action(self, action_id: int, folder: _FolderInfo, kind: str, payload: dict) -> None:
        self._db.execute(
            "INSERT INTO actions (id, account_id, folder_id, uidvalidity, kind, payload, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (action_id, folder.account_id, folder.id, folder.uidvalidity, kind, json.dumps(payload), time.time()),
        )

    # --- taking back unsent actions -------------------------------------

    def withdraw_actions(self, action_ids: Sequence[int]) -> Withdrawal:
        """Take back the still pending moves, copies and flag changes among ``action_ids``, locally and in one transaction.

        Newest first, each is reversed in the store: a moved message goes back
        to its source folder and UID, a copy is removed, and the added flags are
        removed and the removed ones added again. Its action is marked
        ``cancelled``, so the server never gets it and store and server agree.
        Deletes for good, Gmail label changes and appends stay pending, because
        the store cannot restore them, and replay sends them later.

        The messages put back leave the undo record of the bulk action that
        journaled them, so undo reverses only the part the server got.
        """
        withdrawal = Withdrawal()
        with self.transaction() as db:
            for action_id, folder_id, created, kind, text in self._pending_rows(action_ids):
                if kind not in ("move", "copy", "flags"):
                    withdrawal.kept += 1
                    continue
                payload = json.loads(text)
                if kind == "move":
                    restored = self._withdraw_move(folder_id, payload)
                elif kind == "copy":
                    self.resolve_placeholders(payload["target"], [(pair[1], None) for pair in payload["copies"]])
                    restored = []
                else:
                    restored = self._withdraw_flags(folder_id, payload)
                db.execute("UPDATE actions SET state = 'cancelled', error = ? WHERE id = ?", (_WITHDRAWN, action_id))
                self._forget_in_bulk(created, restored)
                withdrawal.actions += 1
                withdrawal.messages += action_size(kind, payload)
        log.info("Withdrew %d unsent action(s) with %d message(s); %d action(s) of other kinds stay pending",
                 withdrawal.actions, withdrawal.messages, withdrawal.kept)
        return withdrawal

    def _pending_rows(self, action_ids: Sequence[int]) -> list[tuple[int, int, float, str, str]]:
        """Return (id, folder id, created, kind, payload text) of the pending actions among ``action_ids``, newest first."""
        rows: list[tuple[int, int, float, str, str]] = []
        unique = sorted(set(action_ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(
                f"SELECT id, folder_id, created, kind, payload FROM actions WHERE id IN ({marks}) AND state = 'pending'",
                tuple(chunk),
            ).fetchall()
        return sorted(rows, reverse=True)

    def _withdraw_move(self, source_id: int, payload: dict) -> list[int]:
        """Put the messages of an unsent move back at their source UIDs; return their ids."""
        target = payload["target"]
        placeholders = [move[1] for move in payload["moves"]]
        rows = dict(_select_in(self._db, "SELECT uid, id FROM messages WHERE folder_id = ? AND uid IN ({})",
                               target, placeholders))
        restored: list[int] = []
        dropped: list[int] = []
        for source_uid, placeholder, _message_id in payload["moves"]:
            row_id = rows.get(placeholder)
            if row_id is None:
                continue
            try:
                self._db.execute("UPDATE messages SET folder_id = ?, uid = ? WHERE id = ?", (source_id, source_uid, row_id))
                restored.append(row_id)
            except sqlite3.IntegrityError:
                # A sync stored the source message again meanwhile; that row stays and this one goes.
                self._db.execute("DELETE FROM messages WHERE id = ?", (row_id,))
                dropped.append(row_id)
        self._queue_index(restored, "place")
        self._queue_index(dropped, "delete")
        self._rewrite_pending_uids(target, {placeholder: None for placeholder in placeholders})
        return restored

    def _withdraw_flags(self, folder_id: int, payload: dict) -> list[int]:
        """Reverse an unsent flag change on its messages; return their ids.

        NOTE: a message that had one of several added flags before the change
        loses it too, because the action records the change, not each
        message's flags before it. The window's flag commands change one flag
        at a time, so for them the reversal is exact.
        """
        add, remove = set(payload["add"]), set(payload["remove"])
        rows = _select_in(self._db, "SELECT id, flags FROM messages WHERE folder_id = ? AND uid IN ({})",
                          folder_id, payload["uids"])
        updates = []
        for row_id, text in rows:
            flags = (set(text.split()) - add) | remove
            updates.append((flags_text(flags), int(SEEN in flags), int(FLAGGED in flags), row_id))
        self._db.executemany("UPDATE messages SET flags = ?, seen = ?, flagged = ? WHERE id = ?", updates)
        self._queue_index([update[3] for update in updates], "flags")
        return [update[3] for update in updates]

    def _forget_in_bulk(self, created: float, message_ids: list[int]) -> None:
        """Take ``message_ids`` out of the undo record of the bulk action that journaled an action at ``created``.

        ``begin_bulk`` and ``finish_bulk`` stamp the bulk action in the same
        transaction that journals its changes, so the bulk action is the one
        whose time span contains the action's. A bulk action left with no
        message counts as undone, so the next undo reverses the one before it.
        """
        if not message_ids:
            return
        row = self._db.execute(
            "SELECT id, summary FROM bulk_actions WHERE created <= ? AND finished >= ? AND undone IS NULL "
            "ORDER BY id DESC LIMIT 1", (created, created),
        ).fetchone()
        if row is None:
            return
        bulk_id, summary_text = row
        summary = json.loads(summary_text or "{}")
        after = summary.get("after", {})
        for message_id in message_ids:
            after.pop(str(message_id), None)
        self._db.executemany("DELETE FROM bulk_items WHERE bulk_id = ? AND message = ?",
                             [(bulk_id, message_id) for message_id in message_ids])
        left = self._db.execute("SELECT COUNT(*) FROM bulk_items WHERE bulk_id = ?", (bulk_id,)).fetchone()[0]
        if left == 0 and not summary.get("created"):
            summary["undo"] = {"restored": 0, "copies_removed": 0, "skipped": [], "withdrawn": True}
            self._db.execute("UPDATE bulk_actions SET undone = ?, summary = ? WHERE id = ?",
                             (time.time(), json.dumps(summary, ensure_ascii=False), bulk_id))
            return
        self._db.execute("UPDATE bulk_actions SET summary = ? WHERE id = ?", (json.dumps(summary, ensure_ascii=False), bulk_id))

    # --- settling actions during replay ---------------------------------

    def pending_action(self, action_id: int) -> tuple[int, int, int | None, str, dict] | None:
        """Return (action id, folder id, uidvalidity, kind, payload) of a pending action, or None once it is settled."""
        row = self._db.execute(
            "SELECT id, folder_id, uidvalidity, kind, payload FROM actions WHERE id = ? AND state = 'pending'", (action_id,)
        ).fetchone()
        return (row[0], row[1], row[2], row[3], json.loads(row[4])) if row else None

    def stale_placeholders(self, uids: Iterable[int]) -> set[int]:
        """Return the placeholder UIDs among ``uids`` whose action is no longer pending.

        Such a row was left behind by an action that failed or was dropped, so
        the server never got the message under that UID and the row can go.
        """
        placeholders = {uid for uid in uids if uid < 0}
        if not placeholders:
            return set()
        pending = {row[0] for row in self._db.execute("SELECT id FROM actions WHERE state = 'pending'")}
        return {uid for uid in placeholders if _action_of(uid) not in pending}

    def set_action_payload(self, action_id: int, payload: dict) -> None:
        """Replace the payload of an action, for example to record that its command was sent."""
        with self.transaction() as db:
            db.execute("UPDATE actions SET payload = ? WHERE id = ?", (json.dumps(payload), action_id))

    def resolve_placeholder(self, folder_id: int, placeholder: int, uid: int | None) -> None:
        """Give the message at a placeholder UID its server UID, or drop it when ``uid`` is None.

        A dropped row is fetched again by the next sync when the server has
        it. Pending actions that name the placeholder are rewritten to name
        the server UID, or lose that UID when it is unknown.
        """
        self.resolve_placeholders(folder_id, [(placeholder, uid)])

    def resolve_placeholders(self, folder_id: int, pairs: Sequence[tuple[int, int | None]]) -> None:
        """Resolve many placeholders of one folder at once, each as ``resolve_placeholder`` does, in one transaction.

        ``pairs`` lists (placeholder, server UID or None). A row whose server
        UID another row of the folder already has, or an earlier pair took,
        is dropped too, and the sync fetches that message again.
        """
        if not pairs:
            return
        with self.transaction() as db:
            placeholders = [placeholder for placeholder, _uid in pairs]
            rows = dict(_select_in(db, "SELECT uid, id FROM messages WHERE folder_id = ? AND uid IN ({})",
                                   folder_id, placeholders))
            taken = {row[0] for row in _select_in(db, "SELECT uid FROM messages WHERE folder_id = ? AND uid IN ({})",
                                                  folder_id, [uid for _placeholder, uid in pairs if uid is not None])}
            dropped: list[int] = []
            updates: list[tuple[int, int]] = []
            for placeholder, uid in pairs:
                row_id = rows.get(placeholder)
                if row_id is None:
                    continue
                if uid is None or uid in taken:
                    dropped.append(row_id)
                else:
                    updates.append((uid, row_id))
                    taken.add(uid)
            db.executemany("DELETE FROM messages WHERE id = ?", [(row_id,) for row_id in dropped])
            db.executemany("UPDATE messages SET uid = ? WHERE id = ?", updates)
            if dropped:
                self._queue_index(dropped, "delete")
            self._rewrite_pending_uids(folder_id, dict(pairs))

    def restore_moved(self, source_id: int, source_uid: int, target_id: int, placeholder: int) -> None:
        """Put a moved message back into its source folder, where the server still has it."""
        with self.transaction() as db:
            row = db.execute(
                "UPDATE messages SET folder_id = ?, uid = ? WHERE folder_id = ? AND uid = ? RETURNING id",
                (source_id, source_uid, target_id, placeholder),
            ).fetchone()
            if row:
                self._queue_index([row[0]], "place")
            self._rewrite_pending_uid(target_id, placeholder, None)

    def _rewrite_pending_uid(self, folder_id: int, old: int, new: int | None) -> None:
        self._rewrite_pending_uids(folder_id, {old: new})

    def _rewrite_pending_uids(self, folder_id: int, renamed: dict[int, int | None]) -> None:
        """Make the pending actions of a folder name the new UIDs of ``renamed`` (old UID: new UID, or None to drop it)."""
        rows = self._db.execute(
            "SELECT id, kind, payload FROM actions WHERE folder_id = ? AND state = 'pending'", (folder_id,)
        ).fetchall()
        for action_id, kind, text in rows:
            payload = json.loads(text)
            if kind in ("flags", "labels", "delete"):
                if not any(uid in renamed for uid in payload["uids"]):
                    continue
                uids = {renamed.get(uid, uid) for uid in payload["uids"]}
                payload["uids"] = sorted(uid for uid in uids if uid is not None)
            elif kind in ("move", "copy"):
                key = _PAIRS[kind]
                if not any(move[0] in renamed for move in payload[key]):
                    continue
                moved = [[renamed[move[0]], *move[1:]] if move[0] in renamed else move for move in payload[key]]
                payload[key] = [move for move in moved if move[0] is not None]
            else:
                continue
            self._db.execute("UPDATE actions SET payload = ? WHERE id = ?", (json.dumps(payload), action_id))


def _select_in(db: sqlite3.Connection, query: str, folder_id: int, values: Sequence[int]) -> list[tuple]:
    """Run ``query``, whose ``IN ({})`` takes ``values``, in chunks below SQLite's limit of bound parameters."""
    found: list[tuple] = []
    for start in range(0, len(values), _IN_CHUNK):
        chunk = values[start : start + _IN_CHUNK]
        found += db.execute(query.format(",".join("?" * len(chunk))), (folder_id, *chunk)).fetchall()
    return found


# Values per IN (...) list, well below SQLite's default limit of 32,766 bound parameters.
_IN_CHUNK = 900


@dataclass
class Withdrawal:
    """The outcome of ``withdraw_actions``.

    Attributes:
        actions: Actions marked cancelled.
        messages: Messages those actions named.
        kept: Actions of kinds that cannot be taken back, left pending.
    """

    actions: int = 0
    messages: int = 0
    kept: int = 0


def action_size(kind: str, payload: dict) -> int:
    """Return how many messages a journaled action names: the unit of replay progress."""
    if kind in ("move", "copy"):
        return len(payload[_PAIRS[kind]])
    if kind in ("flags", "labels", "delete"):
        return len(payload["uids"])
    return 1


# The error text of an action that was taken back before it was sent.
_WITHDRAWN = "cancelled before it was sent; the change was undone locally"


class _MoveState(NamedTuple):
    """The columns of a stored message that a move reads and journals."""

    id: int
    account: str
    folder_id: int
    uid: int
    message_id: str


@dataclass(frozen=True)
class _FolderInfo:
    id: int
    name: str
    account_id: int
    account: str
    kind: str
    uidvalidity: int | None


# The payload key that lists [source UID, placeholder, Message-ID] per kind.
_PAIRS = {"move": "moves", "copy": "copies"}

# The columns a copy takes from its original; folder_id and uid are the copy's own.
_COPIED_COLUMNS = (
    "flags, seen, flagged, size, date, internal_date, from_name, from_addr, recipients, subject, message_id, "
    "in_reply_to, refs, thread_key, list_id, has_attachment, defects, gm_msgid, labels, priority, lane"
)

# Room for this many messages per action in the placeholder UIDs.
_PLACEHOLDERS_PER_ACTION = 1_000_000

# Messages per journaled action. A change of more is split into several actions. Replay sends
# and settles one action at a time, so this is the batch that progress counts in and that a
# cancel waits for. It is also what a restart after a crash checks again on the server.
MESSAGES_PER_ACTION = 2000


def _placeholder(action_id: int, number: int) -> int:
    """Return a UID below zero, unique in the store, for message ``number`` of an action.

    Server UIDs are positive 32-bit numbers (RFC 3501 section 2.3.1.1), so a
    placeholder never clashes with one, and a placeholder is never reused
    because action ids only grow.
    """
    return -(action_id * _PLACEHOLDERS_PER_ACTION + number + 1)


def _action_of(placeholder: int) -> int:
    """Return the id of the action that made ``placeholder`` (the inverse of ``_placeholder``)."""
    return (-placeholder - 1) // _PLACEHOLDERS_PER_ACTION
