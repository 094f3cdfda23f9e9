"""Rule results, priority, lanes and undoable bulk actions, a part of ``Store``.

Owned by the rule engine; see ``desktop.rules.engine``.

A bulk action is one run of the rules (or another change to many messages)
that ``undo_last`` can reverse, also after a restart, because everything is
in SQLite:

- ``bulk_actions``: one row per run. Its ``summary`` is JSON with ``counts``
  (what the run did, by kind), ``after`` ({message id: [folder id, flags,
  priority, lane]}, the state the run left each message in), ``created``
  (ids of the copies the run made) and, once undone, ``undo`` (what undo
  did).
- ``bulk_items``: the state of each touched message before the run.
- ``rule_hits``: which rule matched which message, what decided it and
  which actions were done, for ``sluice rules explain``.

Undo restores a message only when it is still in the state the run left it
in. A message deleted or changed since is skipped and reported, so undo
never overwrites a later change.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from desktop.store.flags import flags_text
from desktop.store.snooze import SNOOZE_BEFORE_KEY

if TYPE_CHECKING:
    from desktop.store.db import MessageRow

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per statement, well inside SQLite's limit of bound parameters


@dataclass(frozen=True)
class MessageState:
    """The folder, flags, priority and lane of a message, as a bulk action records them and undo restores them."""

    folder_id: int
    flags: frozenset[str]
    priority: int
    lane: str
    # Which message this is. SQLite may give a deleted row's id to a new
    # message, so undo checks this before it touches the row of a recorded id.
    identity: str = field(default="", compare=False)

    @classmethod
    def of(cls, row: MessageRow) -> MessageState:
        return cls(row.folder_id, frozenset(row.flags), row.priority, row.lane, message_identity(row))

    def to_json(self) -> list:
        return [self.folder_id, flags_text(self.flags), self.priority, self.lane, self.identity]

    @classmethod
    def from_json(cls, value: Sequence) -> MessageState:
        identity = str(value[4]) if len(value) > 4 else ""
        return cls(int(value[0]), frozenset(str(value[1]).split()), int(value[2]), str(value[3]), identity)


def message_identity(row: MessageRow) -> str:
    """Return the identity of a message: its Message-ID, or its sender, date and subject when it has none."""
    if row.message_id:
        return row.message_id
    moment = row.date.timestamp() if row.date else ""
    return f"{row.from_addr}|{moment}|{row.subject}"


def _stored_identity(message_id: str, from_addr: str, epoch: float | None, subject: str) -> str:
    """Return ``message_identity`` of a row from its stored columns, without building the whole row."""
    if message_id:
        return message_id
    # The same round trip through datetime as MessageRow.date, so both give the same text.
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc).timestamp() if epoch is not None else ""
    return f"{from_addr}|{moment}|{subject}"


@dataclass(frozen=True)
class BulkRecord:
    """One bulk action, as ``sluice undo --list`` shows it.

    Attributes:
        counts: What the run did by kind, e.g. {"moved": 12, "flags": 30}.
        undone: When it was undone, or None.
        undo: What undo did ({"restored": N, "skipped": [...]}); empty until undone.
    """

    id: int
    kind: str
    description: str
    created: datetime
    finished: datetime | None
    undone: datetime | None
    counts: dict[str, int]
    messages: int
    undo: dict = field(default_factory=dict)


@dataclass
class UndoResult:
    """The outcome of ``undo_last``.

    Attributes:
        bulk: The bulk action that was undone (its state before this undo).
        restored: Messages put back into their recorded state.
        moved_back: Of those, messages moved back to their old folder.
        moved_back_ids: Ids of the messages moved back, which the window
            makes current again.
        flags_restored: Of those, messages whose flags were set back.
        copies_removed: Copies made by the run that were deleted.
        skipped: One line per message left alone, with the reason.
    """

    bulk: BulkRecord
    restored: int = 0
    moved_back: int = 0
    moved_back_ids: list[int] = field(default_factory=list)
    flags_restored: int = 0
    copies_removed: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RuleHit:
    """One rule that matched one message in a recorded run."""

    created: datetime
    bulk_id: int | None
    message: int
    message_id: str
    rule: str
    decided_by: str
    actions: tuple[str, ...]


def normalize_message_id(value: str) -> str:
    """Return a Message-ID as the store keeps it: without angle brackets and surrounding space."""
    return value.strip().removeprefix("<").removesuffix(">").strip()


def _restorable(now: MessageState | None, old: MessageState, left: MessageState | None, folders: set[int]) -> bool:
    """Return whether undo may put a message from ``now`` back to ``old``: it is as the run ``left`` it.

    The same checks as ``RulesMixin._undo_obstacle``, on state columns only.
    """
    if now is None or left is None:
        return False
    if left.identity and left.identity != now.identity:
        return False
    # MessageState equality compares folder, flags, priority and lane.
    if now != left:
        return False
    return old.folder_id == now.folder_id or old.folder_id in folders


def _flags_words(flags: Iterable[str]) -> str:
    return flags_text(flags) or "no flags"


def _moment(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=timezone.utc) if epoch is not None else None


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class RulesMixin:
    """The rule and bulk-action methods of ``Store``; they use its connection."""

    _db: sqlite3.Connection

    # --- what rules see ---------------------------------------------------

    def rule_candidate_ids(self, folder_ids: Sequence[int]) -> list[int]:
        """Return the ids of the folders' messages that rules may run on, newest first.

        Messages still marked ``rules_pending`` are left out: the sync runs the
        rules on them, and running them twice would apply their actions twice.
        """
        ids: list[int] = []
        for chunk in _chunks(list(folder_ids)):
            marks = ",".join("?" * len(chunk))
            ids += [row[0] for row in self._db.execute(
                f"SELECT id FROM messages WHERE folder_id IN ({marks}) AND rules_pending = 0 ORDER BY date DESC, id DESC",
                tuple(chunk),
            )]
        return ids

    def message_ids_by_header(self, message_id: str) -> list[int]:
        """Return the store ids of the messages whose Message-ID header is ``message_id`` (with or without <>)."""
        rows = self._db.execute("SELECT id FROM messages WHERE message_id = ? ORDER BY id", (normalize_message_id(message_id),))
        return [row[0] for row in rows]

    # --- priority and lanes ----------------------------------------------

    def set_priority_lane(self, values: Mapping[int, tuple[int | None, str | None]]) -> int:
        """Set priority scores and lanes: {message id: (priority or None to keep, lane or None to keep)}.

        Returns how many messages changed. Priority and lane are local: they
        are not sent to the server.
        """
        changed = 0
        with self.transaction() as db:
            for message_id, (priority, lane) in values.items():
                cursor = db.execute(
                    """UPDATE messages SET priority = COALESCE(?, priority), lane = COALESCE(?, lane)
                       WHERE id = ? AND (priority != COALESCE(?, priority) OR lane != COALESCE(?, lane))""",
                    (priority, lane, message_id, priority, lane),
                )
                changed += cursor.rowcount
        return changed

    # --- sending a run's changes ------------------------------------------

    def action_errors(self, action_ids: Sequence[int]) -> list[str]:
        """Return the errors of those journaled actions that failed, in journal order."""
        errors: list[str] = []
        for chunk in _chunks(list(action_ids)):
            marks = ",".join("?" * len(chunk))
            errors += [row[0] for row in self._db.execute(
                f"SELECT error FROM actions WHERE id IN ({marks}) AND state = 'failed' ORDER BY id", tuple(chunk))]
        return errors

    # --- recording a bulk action ------------------------------------------

    def begin_bulk(self, kind: str, description: str, before: Iterable[MessageRow]) -> int:
        """Record a new bulk action and the state of every message it is about to change; return its id.

        Call it inside the transaction that makes the changes, before the first one.
        """
        with self.transaction() as db:
            bulk_id = db.execute(
                "INSERT INTO bulk_actions (kind, description, created) VALUES (?, ?, ?)", (kind, description, time.time())
            ).lastrowid
            db.executemany(
                "INSERT INTO bulk_items (bulk_id, message, folder_id, flags, priority, lane) VALUES (?, ?, ?, ?, ?, ?)",
                ((bulk_id, row.id, row.folder_id, flags_text(row.flags), row.priority, row.lane) for row in before),
            )
        log.debug("Began bulk action %d (%s): %s", bulk_id, kind, description)
        return bulk_id

    def finish_bulk(self, bulk_id: int, counts: Mapping[str, int], created: Sequence[int] = ()) -> None:
        """Record what the bulk action did and the state it left each of its messages and copies in."""
        with self.transaction() as db:
            touched = [row[0] for row in db.execute("SELECT message FROM bulk_items WHERE bulk_id = ?", (bulk_id,))]
            after = {str(message): state.to_json() for message, state in self._message_states([*touched, *created]).items()}
            summary = {"counts": dict(counts), "after": after, "created": list(created)}
            db.execute("UPDATE bulk_actions SET finished = ?, summary = ? WHERE id = ?",
                       (time.time(), json.dumps(summary, ensure_ascii=False), bulk_id))
        log.info("Finished bulk action %d: %s", bulk_id, dict(counts))

    def _message_states(self, ids: Sequence[int]) -> dict[int, MessageState]:
        """Return {id: state} of the stored messages of ``ids``, reading only the columns a state needs."""
        states: dict[int, MessageState] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT id, folder_id, flags, priority, lane, message_id, from_addr, date, subject "
                f"FROM messages WHERE id IN ({marks})", tuple(chunk))
            for message, folder_id, flags, priority, lane, message_id, from_addr, date, subject in rows:
                identity = _stored_identity(message_id, from_addr, date, subject)
                states[message] = MessageState(folder_id, frozenset(flags.split()), priority, lane, identity)
        return states

    def record_rule_hits(self, hits: Iterable[tuple[int | None, int, str, str, str, Sequence[str]]]) -> list[int]:
        """Record rule hits: (bulk id, message id, Message-ID header, rule, decided by, actions done); return their ids."""
        now = time.time()
        with self.transaction() as db:
            # The ids are given, not taken from lastrowid, so one executemany inserts every hit.
            # No other writer can take them: the transaction holds the store's write lock.
            first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM rule_hits").fetchone()[0]
            values = [
                (first + number, bulk_id, message, normalize_message_id(message_id), rule, decided_by,
                 json.dumps(list(actions), ensure_ascii=False), now)
                for number, (bulk_id, message, message_id, rule, decided_by, actions) in enumerate(hits)
            ]
            db.executemany(
                """INSERT INTO rule_hits (id, bulk_id, message, message_id, rule, decided_by, actions, created)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                values,
            )
        return [value[0] for value in values]

    def add_hit_action(self, hit_id: int, text: str) -> None:
        """Append the outcome of a late action (an auto-reply) to a recorded hit."""
        with self.transaction() as db:
            row = db.execute("SELECT actions FROM rule_hits WHERE id = ?", (hit_id,)).fetchone()
            if row is None:
                return
            actions = [*json.loads(row[0]), text]
            db.execute("UPDATE rule_hits SET actions = ? WHERE id = ?", (json.dumps(actions, ensure_ascii=False), hit_id))

    def rule_hits_for(self, message_id: str) -> list[RuleHit]:
        """Return the recorded hits of the messages with this Message-ID header (with or without <>), oldest first."""
        rows = self._db.execute(
            """SELECT created, bulk_id, message, message_id, rule, decided_by, actions FROM rule_hits
               WHERE message_id = ? ORDER BY created, id""",
            (normalize_message_id(message_id),),
        )
        return [self._hit(row) for row in rows]

    def rule_hits_of_message(self, message: int) -> list[RuleHit]:
        """Return the recorded hits of one message by its store id, oldest first."""
        rows = self._db.execute(
            """SELECT created, bulk_id, message, message_id, rule, decided_by, actions FROM rule_hits
               WHERE message = ? ORDER BY created, id""",
            (message,),
        )
        return [self._hit(row) for row in rows]

    @staticmethod
    def _hit(row: tuple) -> RuleHit:
        return RuleHit(_moment(row[0]), row[1], row[2], row[3], row[4], row[5], tuple(json.loads(row[6])))

    # --- history and undo -------------------------------------------------

    def bulk_history(self, limit: int = 20) -> list[BulkRecord]:
        """Return the newest ``limit`` bulk actions, newest first."""
        rows = self._db.execute(
            f"""SELECT {_BULK_COLUMNS} FROM bulk_actions b ORDER BY b.id DESC LIMIT ?""", (limit,)
        )
        return [_bulk_record(row) for row in rows]

    def bulk_record(self, bulk_id: int) -> BulkRecord | None:
        row = self._db.execute(f"SELECT {_BULK_COLUMNS} FROM bulk_actions b WHERE b.id = ?", (bulk_id,)).fetchone()
        return _bulk_record(row) if row else None

    def undo_preview(self) -> tuple[int, dict[int, tuple[int, frozenset[str], float | None]]] | None:
        """Return (bulk id, {message: (folder id, flags, date) before the run}) of what ``undo_last`` would reverse.

        The window shows the list as the undo will leave it from this, before
        the undo has run. Messages the undo skips show again until it commits.
        """
        row = self._db.execute(
            "SELECT id FROM bulk_actions WHERE undone IS NULL AND finished IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        items = self._db.execute(
            "SELECT i.message, i.folder_id, i.flags, m.date FROM bulk_items i JOIN messages m ON m.id = i.message "
            "WHERE i.bulk_id = ?", (row[0],))
        return row[0], {item[0]: (item[1], frozenset(item[2].split()), item[3]) for item in items}

    def message_dates(self, ids: Sequence[int]) -> dict[int, float | None]:
        """Return {id: date as epoch seconds} of the stored messages among ``ids``."""
        dates: dict[int, float | None] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            dates.update(self._db.execute(f"SELECT id, date FROM messages WHERE id IN ({marks})", tuple(chunk)))
        return dates

    def undo_last(self) -> UndoResult | None:
        """Reverse the newest bulk action not undone yet; return what was done, or None when there is none.

        Messages go back to their recorded folder through ``move_messages``
        and get their recorded flags through ``change_flags``, so the server
        follows at the next sync. Priority and lane are set back, and copies
        the run made are deleted for good. A message deleted since the run,
        or changed since (moved, flags, priority or lane), is skipped and
        listed in ``skipped``. Messages that a snooze only rescheduled get
        their earlier wake time back. The undo itself is not recorded as a bulk
        action, so it cannot be undone in turn.
        """
        with self.transaction() as db:
            row = db.execute(
                f"SELECT {_BULK_COLUMNS} FROM bulk_actions b WHERE b.undone IS NULL AND b.finished IS NOT NULL "
                "ORDER BY b.id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            record = _bulk_record(row)
            summary = json.loads(db.execute("SELECT summary FROM bulk_actions WHERE id = ?", (record.id,)).fetchone()[0])
            after = {int(key): MessageState.from_json(value) for key, value in summary.get("after", {}).items()}
            before = {
                item[0]: MessageState(item[1], frozenset(item[2].split()), item[3], item[4])
                for item in db.execute(
                    "SELECT message, folder_id, flags, priority, lane FROM bulk_items WHERE bulk_id = ?", (record.id,)
                )
            }
            result = UndoResult(record)
            self._undo_messages(before, after, result)
            self._undo_copies([int(value) for value in summary.get("created", [])], after, result)
            if SNOOZE_BEFORE_KEY in summary:
                self._undo_snooze_times(record.id, summary[SNOOZE_BEFORE_KEY])
            summary["undo"] = {"restored": result.restored, "copies_removed": result.copies_removed,
                               "skipped": result.skipped}
            db.execute("UPDATE bulk_actions SET undone = ?, summary = ? WHERE id = ?",
                       (time.time(), json.dumps(summary, ensure_ascii=False), record.id))
        log.info("Undid bulk action %d: %d message(s) restored, %d copy(ies) removed, %d skipped",
                 record.id, result.restored, result.copies_removed, len(result.skipped))
        return result

    def _undo_messages(self, before: dict[int, MessageState], after: dict[int, MessageState], result: UndoResult) -> None:
        # Only the state columns are read, and whole rows only for the messages that cannot be restored,
        # because undo of a bulk action of tens of thousands of messages spent most of its time building rows.
        states = self._message_states(sorted(before))
        folders = {row[0] for row in self._db.execute("SELECT id FROM folders")}
        moves: dict[int, list[int]] = {}
        flag_changes: dict[tuple[frozenset[str], frozenset[str]], list[int]] = {}
        scores: dict[int, tuple[int | None, str | None]] = {}
        blocked: list[int] = []
        for message, old in sorted(before.items()):
            now = states.get(message)
            left = after.get(message)
            if not _restorable(now, old, left, folders):
                blocked.append(message)
                continue
            assert now is not None
            if now.folder_id != old.folder_id:
                moves.setdefault(old.folder_id, []).append(message)
            if now.flags != old.flags:
                flag_changes.setdefault((old.flags - now.flags, now.flags - old.flags), []).append(message)
            if (now.priority, now.lane) != (old.priority, old.lane):
                scores[message] = (old.priority, old.lane)
            result.restored += 1
        self._skip_blocked(blocked, before, after, result)
        # Flags first, in the folder the server has the messages in now, so the moves carry them back.
        for (add, remove), ids in flag_changes.items():
            result.flags_restored += self.change_flags(ids, add=add, remove=remove)
        for folder_id, ids in moves.items():
            result.moved_back += self.move_messages(ids, folder_id)
            result.moved_back_ids += ids
        self.set_priority_lane(scores)

    def _skip_blocked(self, blocked: list[int], before: dict[int, MessageState], after: dict[int, MessageState],
                      result: UndoResult) -> None:
        """Record in ``result`` why each message of ``blocked`` is left alone, reading its whole row for the text."""
        rows = {row.id: row for row in self.messages(blocked)}
        for message in blocked:
            reason = self._undo_obstacle(message, rows.get(message), before[message], after.get(message))
            # A state check and the row check agree; the fallback text covers a row changed between the two reads.
            result.skipped.append(reason or f"message {message}: changed during the undo, so it was left as it is")

    def _undo_obstacle(self, message: int, row: MessageRow | None, old: MessageState, left: MessageState | None) -> str:
        """Return why a message cannot be restored, or '' when it can."""
        if row is None:
            # Another client's move reaches the store as a deletion here and a new message there.
            return f"message {message}: no longer where the run left it (moved or deleted since), so it was not restored"
        label = f"message {message} ({row.subject or 'no subject'})"
        if left is None:
            return f"{label}: the run recorded no end state for it, so it was not restored"
        if left.identity and left.identity != message_identity(row):
            return (f"message {message}: the message the run changed is gone and its number now belongs to another "
                    "message, so nothing was restored")
        now = MessageState.of(row)
        if now.folder_id != left.folder_id:
            return f"{label}: moved to {row.folder} since the run, so it was left there"
        if now.flags != left.flags:
            return (f"{label}: its flags changed since the run (now: {_flags_words(now.flags)}; after the run: "
                    f"{_flags_words(left.flags)}), so it was left as it is")
        if (now.priority, now.lane) != (left.priority, left.lane):
            return f"{label}: its priority or lane changed since the run, so it was left as it is"
        if old.folder_id != now.folder_id and self.folder(old.folder_id) is None:
            return f"{label}: its old folder no longer exists, so it stays in {row.folder}"
        return ""

    def _undo_copies(self, created: list[int], after: dict[int, MessageState], result: UndoResult) -> None:
        rows = {row.id: row for row in self.messages(created)}
        doomed = []
        for message in created:
            row = rows.get(message)
            left = after.get(message)
            if row is None:
                result.skipped.append(f"copy {message}: deleted since the run already")
            elif left is None or MessageState.of(row) != left:
                result.skipped.append(f"copy {message} ({row.subject or 'no subject'}) in {row.folder}: "
                                      "changed since the run, so it was kept")
            else:
                doomed.append(row)
        # For good, not to Trash: the copy did not exist before the run.
        self._delete_rows(self._db, doomed)
        result.copies_removed += len(doomed)


_BULK_COLUMNS = """b.id, b.kind, b.description, b.created, b.finished, b.undone,
    json_extract(b.summary, '$.counts'), (SELECT COUNT(*) FROM bulk_items i WHERE i.bulk_id = b.id),
    json_extract(b.summary, '$.undo')"""


def _bulk_record(row: tuple) -> BulkRecord:
    return BulkRecord(
        id=row[0], kind=row[1], description=row[2], created=_moment(row[3]), finished=_moment(row[4]),
        undone=_moment(row[5]), counts=json.loads(row[6]) if row[6] else {}, messages=row[7],
        undo=json.loads(row[8]) if row[8] else {},
    )
