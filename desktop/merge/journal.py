"""The send journal of mail merges: one SQLite file per profile, one row per recipient.

The journal is what makes a merge safe to interrupt. Each recipient's row is
written before and after its message: state ``sending`` and the Message-ID
are committed before the DATA command, ``sent`` or ``failed`` with the
server's reply after it. A process that dies in between leaves the row in
``sending``. ``recover`` turns such rows into ``unknown``, and they are not
sent again unless the user requeues them (``requeue_unknown``).

States of a recipient row:
    queued: not sent yet (also after a temporary failure, with the attempts so far).
    sending: the message is being handed to the server.
    sent: the server accepted the message (its reply is kept).
    failed: the server rejected it permanently, or every retry failed.
    unknown: the connection was lost while the server had the data, or the
        process stopped during the send; the server may have accepted it.
    skipped: not sent on purpose: a suppressed address or a row that does not render.

A sender claims rows in groups (``claim``): one transaction, and one disk
sync, commits ``sending`` and the Message-ID for several rows before any of
them goes out. When a send stops, its rows claimed but not sent are put back to
``queued`` (``release``). After a kill they stay in ``sending``, and ``recover``
reads the send's ``WireLog`` to find which of them had their message data
sent. Only those become ``unknown``, and the others are queued again.

The file uses WAL with ``synchronous=NORMAL``: a commit survives the process
being killed (the case this journal is for). NOTE: after a power failure the
last commits may be lost, so a row can go back from sent to sending and then
read as unknown; it is never read as queued, because ``sending`` is committed
before DATA with a full sync of the WAL (see ``mark_sending`` and ``claim``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
JOURNAL_NAME = "merges.sqlite3"

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"
SKIPPED = "skipped"
STATES = (QUEUED, SENDING, SENT, FAILED, UNKNOWN, SKIPPED)
DONE_STATES = (SENT, FAILED, UNKNOWN, SKIPPED)

# Merge states.
RUNNING = "running"
STOPPED = "stopped"
FINISHED = "finished"
# Shown, never stored: a merge recorded as running whose sending process is gone (see ``shown_state``).
INTERRUPTED = "interrupted"

KIND_SEND = "send"
KIND_TEST = "test"

_SCHEMA = """
CREATE TABLE merges (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    merge_key TEXT NOT NULL,
    template TEXT NOT NULL,
    data TEXT NOT NULL,
    account TEXT NOT NULL,
    options TEXT NOT NULL,
    total INTEGER NOT NULL,
    created REAL NOT NULL,
    state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX merges_by_key ON merges (merge_key, kind);
CREATE TABLE recipients (
    merge_id TEXT NOT NULL REFERENCES merges (id),
    row INTEGER NOT NULL,
    key TEXT NOT NULL,
    address TEXT NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    reply TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    copied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (merge_id, row)
);
CREATE INDEX recipients_by_state ON recipients (merge_id, state);
CREATE INDEX recipients_by_finish ON recipients (finished_at);
CREATE TABLE events (
    merge_id TEXT NOT NULL REFERENCES merges (id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


class JournalError(Exception):
    """The journal file is unusable, or a merge id is unknown or busy."""


@dataclass(frozen=True)
class MergeRecord:
    """One merge as the journal keeps it.

    Attributes:
        id: The id shown to the user, e.g. ``20261205-1``.
        kind: ``send``, or ``test`` for a test send to the user's own address.
        merge_key: Stable hash of the template, the data and the attachments.
        options: The send options (rate, connections, ...) as a dict.
        total: Number of recipients (data rows) of the merge.
        created: Unix time the merge was recorded, before its first message went out.
        state: ``running``, ``stopped`` or ``finished``.
        note: Why the merge stopped, when it did not finish.
    """

    id: str
    kind: str
    merge_key: str
    template: str
    data: str
    account: str
    options: dict
    total: int
    created: float
    state: str
    note: str


@dataclass(frozen=True)
class RecipientRecord:
    """One recipient row of a merge."""

    merge_id: str
    row: int
    key: str
    address: str
    state: str
    message_id: str
    date: str
    reply: str
    attempts: int
    queued_at: float
    started_at: float | None
    finished_at: float | None
    copied: bool


_RECIPIENT_COLUMNS = ("merge_id, row, key, address, state, message_id, date, reply, attempts, queued_at, "
                      "started_at, finished_at, copied")


class Journal:
    """The send journal of one profile. One object is one SQLite connection for one thread.

    Args:
        path: The journal file; created with its schema when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._depth = 0
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Each connection keeps at most 1 MB of pages, so memory stays the same as the journal grows.
            self._db.execute("PRAGMA cache_size=-1024")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise JournalError(
                f"The send journal {self.path} cannot be opened ({error}). Move the file aside to start a new "
                "journal; the merges listed in it are then forgotten."
            ) from error

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"The send journal {self.path} has schema version {version}, newer than this Sluice knows "
                f"({SCHEMA_VERSION}). Use the newer Sluice that wrote it."
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        log.info("Created the send journal %s (schema %d)", self.path, SCHEMA_VERSION)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction; a nested block joins the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self._db
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._db
        except BaseException:
            self._depth = 0
            self._db.execute("ROLLBACK")
            raise
        self._depth = 0
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _synced_transaction(self, durable: bool) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction whose commit, with ``durable``, syncs the WAL to disk (``synchronous=FULL``)."""
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            with self.transaction() as db:
                yield db
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def run_batch(self, calls: list[Callable[[Journal], object]], *, durable: bool) -> list[tuple[bool, object]]:
        """Run several journal calls in one transaction (one disk sync for all); return (ok, result or error) each.

        Each call runs in a savepoint, so a call that raises leaves no trace and
        the others still commit. With ``durable`` the commit syncs the WAL.
        """
        outcomes: list[tuple[bool, object]] = []
        with self._synced_transaction(durable) as db:
            for call in calls:
                db.execute("SAVEPOINT journal_call")
                try:
                    outcomes.append((True, call(self)))
                except Exception as error:  # noqa: BLE001 - handed back to the caller of this one call
                    db.execute("ROLLBACK TO journal_call")
                    outcomes.append((False, error))
                db.execute("RELEASE journal_call")
        return outcomes

    # --- merges -----------------------------------------------------------------

    def create_merge(
        self, *, kind: str, merge_key: str, template: str, data: str, account: str, options: dict, total: int,
    ) -> MergeRecord:
        """Record a new merge in state ``running`` and return it with its new id."""
        now = time.time()
        day = time.strftime("%Y%m%d", time.localtime(now))
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM merges WHERE id LIKE ?", (f"{day}-%",)).fetchone()[0]
            merge_id = f"{day}-{count + 1}"
            while db.execute("SELECT 1 FROM merges WHERE id = ?", (merge_id,)).fetchone():
                count += 1
                merge_id = f"{day}-{count + 1}"
            db.execute(
                "INSERT INTO merges (id, kind, merge_key, template, data, account, options, total, created, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (merge_id, kind, merge_key, template, data, account, json.dumps(options, sort_keys=True), total, now,
                 RUNNING),
            )
        log.info("Created %s merge %s of %d recipient(s) for account %s", kind, merge_id, total, account)
        return self.merge(merge_id)

    def merge(self, merge_id: str) -> MergeRecord:
        """Return the merge ``merge_id`` or raise JournalError listing the latest ids."""
        row = self._db.execute(
            "SELECT id, kind, merge_key, template, data, account, options, total, created, state, note"
            " FROM merges WHERE id = ?", (merge_id,),
        ).fetchone()
        if row is None:
            latest = [record.id for record in self.merges()[:5]]
            known = ", ".join(latest) if latest else "none yet"
            raise JournalError(f"No merge with id {merge_id!r}. Latest merges: {known} (see 'sluice merge status').")
        return _merge_record(row)

    def merges(self) -> list[MergeRecord]:
        """Return every merge, newest first."""
        rows = self._db.execute(
            "SELECT id, kind, merge_key, template, data, account, options, total, created, state, note"
            " FROM merges ORDER BY created DESC, rowid DESC",
        ).fetchall()
        return [_merge_record(row) for row in rows]

    def merges_with_key(self, merge_key: str, kind: str = KIND_SEND) -> list[MergeRecord]:
        """Return the merges of ``kind`` made from the same template and data, newest first."""
        return [record for record in self.merges() if record.merge_key == merge_key and record.kind == kind]

    def set_state(self, merge_id: str, state: str, note: str = "") -> None:
        with self.transaction() as db:
            db.execute("UPDATE merges SET state = ?, note = ? WHERE id = ?", (state, note, merge_id))
        log.info("Merge %s is %s%s", merge_id, state, f": {note}" if note else "")

    def add_event(self, merge_id: str, kind: str, detail: str) -> None:
        """Record an event of a send (a slow-down, a stop) with the time."""
        with self.transaction() as db:
            db.execute("INSERT INTO events (merge_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                       (merge_id, time.time(), kind, detail))

    def events(self, merge_id: str) -> list[tuple[float, str, str]]:
        return [tuple(row) for row in self._db.execute(
            "SELECT at, kind, detail FROM events WHERE merge_id = ? ORDER BY rowid", (merge_id,))]

    # --- recipients -------------------------------------------------------------

    def recipients(self, merge_id: str, states: Iterable[str] | None = None) -> list[RecipientRecord]:
        """Return the recipient rows of a merge in data order, optionally only those in ``states``."""
        query = f"SELECT {_RECIPIENT_COLUMNS} FROM recipients WHERE merge_id = ?"
        parameters: list = [merge_id]
        if states is not None:
            wanted = list(states)
            query += f" AND state IN ({', '.join('?' * len(wanted))})"
            parameters += wanted
        rows = self._db.execute(query + " ORDER BY row", parameters).fetchall()
        return [_recipient_record(row) for row in rows]

    def recipient(self, merge_id: str, row: int) -> RecipientRecord | None:
        found = self._db.execute(
            f"SELECT {_RECIPIENT_COLUMNS} FROM recipients WHERE merge_id = ? AND row = ?", (merge_id, row),
        ).fetchone()
        return _recipient_record(found) if found else None

    def row_states(self, merge_id: str) -> dict[int, str]:
        """Return each journaled row number of a merge with its state."""
        return dict(self._db.execute("SELECT row, state FROM recipients WHERE merge_id = ?", (merge_id,)).fetchall())

    def done_rows(self, merge_id: str, first: int, last: int) -> set[int]:
        """Return the row numbers from ``first`` to ``last`` (inclusive) of a merge that are in a done state."""
        marks = ", ".join("?" * len(DONE_STATES))
        return {row for (row,) in self._db.execute(
            f"SELECT row FROM recipients WHERE merge_id = ? AND row BETWEEN ? AND ? AND state IN ({marks})",
            (merge_id, first, last, *DONE_STATES),
        )}

    def counts(self, merge_id: str) -> dict[str, int]:
        """Return the number of rows in each state (every state is a key)."""
        counts = dict.fromkeys(STATES, 0)
        for state, count in self._db.execute(
            "SELECT state, COUNT(*) FROM recipients WHERE merge_id = ? GROUP BY state", (merge_id,),
        ):
            counts[state] = count
        return counts

    def mark_sending(
        self, merge_id: str, row: int, key: str, address: str, message_id: str, date: str, *, durable: bool = True,
    ) -> int:
        """Commit state ``sending`` with the Message-ID before the message goes out; return the attempt number.

        The row is created when it is not journaled yet. With ``durable`` the
        commit syncs the WAL to disk (``synchronous=FULL`` for this one
        transaction), because this record is what keeps a message from being
        sent twice even after a power failure.
        """
        now = time.time()
        # Inside run_batch, the batch's own commit decides whether to sync.
        with self._synced_transaction(durable and not self._depth) as db:
            db.execute(
                "INSERT INTO recipients (merge_id, row, key, address, state, queued_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (merge_id, row) DO NOTHING",
                (merge_id, row, key, address, QUEUED, now),
            )
            state = db.execute("SELECT state FROM recipients WHERE merge_id = ? AND row = ?",
                               (merge_id, row)).fetchone()[0]
            if state != QUEUED:
                raise JournalError(f"Row {row} of merge {merge_id} is {state}, not queued; it is not sent again.")
            db.execute(
                "UPDATE recipients SET state = ?, message_id = ?, date = ?, attempts = attempts + 1,"
                " started_at = ? WHERE merge_id = ? AND row = ?",
                (SENDING, message_id, date, now, merge_id, row),
            )
            attempts = db.execute("SELECT attempts FROM recipients WHERE merge_id = ? AND row = ?",
                                  (merge_id, row)).fetchone()[0]
        return attempts

    def claim(
        self, merge_id: str, items: Iterable[tuple[int, str, str, str, str]], *, durable: bool = True,
    ) -> dict[int, int]:
        """Commit state ``sending`` for several rows at once; return the attempt number of each row claimed.

        ``items`` holds (row, key, address, Message-ID, date). One transaction
        covers them all, so one disk sync makes many rows safe to send. A row
        that is not queued (sent, failed, unknown, skipped, or already being
        sent) is left as it is and missing from the result. With ``durable``
        the commit syncs the WAL, as in ``mark_sending``.
        """
        items = list(items)
        if not items:
            return {}
        now = time.time()
        # Inside run_batch, the batch's own commit decides whether to sync.
        with self._synced_transaction(durable and not self._depth) as db:
            db.executemany(
                "INSERT INTO recipients (merge_id, row, key, address, state, message_id, date, attempts, queued_at,"
                " started_at) VALUES (?, ?, ?, ?, 'sending', ?, ?, 1, ?, ?) ON CONFLICT (merge_id, row) DO UPDATE"
                " SET state = 'sending', message_id = excluded.message_id, date = excluded.date,"
                " attempts = recipients.attempts + 1, started_at = excluded.started_at"
                " WHERE recipients.state = 'queued'",
                [(merge_id, row, key, address, message_id, date, now, now)
                 for row, key, address, message_id, date in items],
            )
            requested = {row: message_id for row, _, _, message_id, _ in items}
            placeholders = ", ".join("?" * len(requested))
            found = db.execute(
                f"SELECT row, state, message_id, attempts FROM recipients WHERE merge_id = ? AND row IN ({placeholders})",
                [merge_id, *requested],
            ).fetchall()
        claimed = {row: attempts for row, state, message_id, attempts in found
                   if state == SENDING and message_id == requested[row]}
        rejected = sorted(set(requested) - set(claimed))
        if rejected:
            log.warning("Merge %s: row(s) %s are not queued, so they are not sent again",
                        merge_id, ", ".join(map(str, rejected)))
        return claimed

    def release(self, merge_id: str, rows: Iterable[int]) -> int:
        """Put rows claimed for sending but never sent back to ``queued``, undoing their attempt; return how many.

        Only rows in state ``sending`` change, so a row whose outcome was
        recorded meanwhile keeps it.
        """
        with self.transaction() as db:
            count = 0
            for row in rows:
                count += db.execute(
                    "UPDATE recipients SET state = ?, message_id = '', date = '', attempts = MAX(attempts - 1, 0),"
                    " started_at = NULL WHERE merge_id = ? AND row = ? AND state = ?",
                    (QUEUED, merge_id, row, SENDING),
                ).rowcount
        if count:
            log.info("Merge %s: %d row(s) claimed but not sent are queued again", merge_id, count)
        return count

    def mark_done_many(self, merge_id: str, outcomes: Iterable[tuple[int, str, str]]) -> None:
        """Record several outcomes at once: (row, state, reply) each, as ``mark_done`` does for one."""
        outcomes = list(outcomes)
        now = time.time()
        for _, state, _ in outcomes:
            if state not in (SENT, FAILED, UNKNOWN, QUEUED):
                raise ValueError(f"state {state!r} is not an outcome; use sent, failed, unknown or queued")
        with self.transaction() as db:
            db.executemany(
                "UPDATE recipients SET state = ?, reply = ?, finished_at = ? WHERE merge_id = ? AND row = ?",
                [(state, reply, None if state == QUEUED else now, merge_id, row) for row, state, reply in outcomes],
            )

    def mark_done(self, merge_id: str, row: int, state: str, reply: str) -> None:
        """Record the outcome of a message: ``sent``, ``failed``, ``unknown``, or ``queued`` to retry it."""
        if state not in (SENT, FAILED, UNKNOWN, QUEUED):
            raise ValueError(f"state {state!r} is not an outcome; use sent, failed, unknown or queued")
        finished = None if state == QUEUED else time.time()
        with self.transaction() as db:
            db.execute(
                "UPDATE recipients SET state = ?, reply = ?, finished_at = ? WHERE merge_id = ? AND row = ?",
                (state, reply, finished, merge_id, row),
            )

    def mark_skipped(self, merge_id: str, row: int, key: str, address: str, reason: str) -> None:
        """Record a row that is not sent on purpose (suppressed, or it does not render), with the reason."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO recipients (merge_id, row, key, address, state, reply, queued_at, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (merge_id, row) DO UPDATE SET state = excluded.state,"
                " reply = excluded.reply, finished_at = excluded.finished_at WHERE recipients.state = 'queued'",
                (merge_id, row, key, address, SKIPPED, reason, now, now),
            )

    def mark_copied(self, merge_id: str, rows: Iterable[int]) -> None:
        """Record that the Sent copies of ``rows`` are in the store."""
        with self.transaction() as db:
            db.executemany("UPDATE recipients SET copied = 1 WHERE merge_id = ? AND row = ?",
                           [(merge_id, row) for row in rows])

    def recover(self, merge_id: str) -> list[RecipientRecord]:
        """Settle the rows left in ``sending`` by a stopped send; return those that became ``unknown``.

        Without a usable wire log (see ``read_wire_log``) every such row
        becomes ``unknown``: its message may or may not have reached the
        server, so it is not sent again automatically. With one, a row whose
        outcome the log has gets that outcome, a row whose message data went
        out becomes ``unknown``, and a row never sent is queued again. The
        merge lock is taken unless this process has it already. While another
        process has it, that process is sending, so nothing changes.
        """
        lock = MergeLock(self.path, merge_id)
        if lock.path in MergeLock._locked_paths:
            return self._recover(merge_id)
        try:
            lock.acquire()
        except JournalError:
            log.info("Merge %s is being sent by another process, so its rows are left as they are", merge_id)
            return []
        try:
            return self._recover(merge_id)
        finally:
            lock.release()

    def _recover(self, merge_id: str) -> list[RecipientRecord]:
        path = wire_log_path(self.path, merge_id)
        events = read_wire_log(path)
        with self.transaction() as db:
            rows = db.execute(
                f"SELECT {_RECIPIENT_COLUMNS} FROM recipients WHERE merge_id = ? AND state = ? ORDER BY row",
                (merge_id, SENDING),
            ).fetchall()
            if events is None:
                lost = unknown = rows
            else:
                lost = [row for row in rows if events.get(row[1]) == ("data",)]
                unknown = [row for row in rows if events.get(row[1], ("",))[0] in ("data", UNKNOWN)]
                self._settle_from_wire_log(db, merge_id, [row[1] for row in rows], events)
            db.executemany(
                "UPDATE recipients SET state = ?, finished_at = ?, reply = CASE WHEN reply = '' THEN ? ELSE reply END"
                " WHERE merge_id = ? AND row = ? AND state = ?",
                [(UNKNOWN, time.time(), "the send stopped before the server's reply", merge_id, row[1], SENDING)
                 for row in lost],
            )
        path.unlink(missing_ok=True)
        if unknown:
            log.warning("Merge %s: %d row(s) were being sent when the send stopped; marked unknown: %s",
                        merge_id, len(unknown), ", ".join(str(row[1]) for row in unknown))
        return [_recipient_record(row) for row in unknown]

    def _settle_from_wire_log(self, db: sqlite3.Connection, merge_id: str, rows: list[int],
                              events: dict[int, tuple]) -> None:
        """Give the rows whose outcome the wire log has that outcome, and queue the rows it never saw sent."""
        queued = [row for row in rows if row not in events]
        db.executemany(
            "UPDATE recipients SET state = ?, message_id = '', date = '', attempts = MAX(attempts - 1, 0),"
            " started_at = NULL WHERE merge_id = ? AND row = ? AND state = ?",
            [(QUEUED, merge_id, row, SENDING) for row in queued],
        )
        settled = [(row, events[row]) for row in rows if row in events and events[row] != ("data",)]
        db.executemany(
            "UPDATE recipients SET state = ?, reply = ?, finished_at = ? WHERE merge_id = ? AND row = ? AND state = ?",
            [(state, reply, None if state == QUEUED else at, merge_id, row, SENDING)
             for row, (state, at, reply) in settled],
        )
        if queued or settled:
            log.info("Merge %s: of the rows being sent when the send stopped, %d were never sent and are queued "
                     "again, and %d got their outcome from the wire log", merge_id, len(queued), len(settled))

    def requeue_unknown(self, merge_id: str, rows: Iterable[int] | None = None) -> int:
        """Put rows in state ``unknown`` back to ``queued`` (all, or only ``rows``); return how many."""
        with self.transaction() as db:
            if rows is None:
                cursor = db.execute("UPDATE recipients SET state = ? WHERE merge_id = ? AND state = ?",
                                    (QUEUED, merge_id, UNKNOWN))
                count = cursor.rowcount
            else:
                count = 0
                for row in rows:
                    count += db.execute(
                        "UPDATE recipients SET state = ? WHERE merge_id = ? AND row = ? AND state = ?",
                        (QUEUED, merge_id, row, UNKNOWN),
                    ).rowcount
        log.info("Merge %s: requeued %d row(s) of unknown outcome", merge_id, count)
        return count

    def requeue_failed(self, merge_id: str, rows: Iterable[int]) -> int:
        """Put ``rows`` in state ``failed`` back to ``queued`` with no attempts, so they get every retry again.

        Return how many rows changed. A failed row was rejected by the server, so sending it again reaches nobody
        twice. Its last reply stays until the new outcome replaces it.
        """
        with self.transaction() as db:
            count = 0
            for row in rows:
                count += db.execute(
                    "UPDATE recipients SET state = ?, attempts = 0, finished_at = NULL"
                    " WHERE merge_id = ? AND row = ? AND state = ?",
                    (QUEUED, merge_id, row, FAILED),
                ).rowcount
        log.info("Merge %s: requeued %d failed row(s)", merge_id, count)
        return count

    def sent_times(self, account: str, since: float) -> list[float]:
        """Return the times of messages the account sent since ``since``, over every merge, oldest first."""
        return [row[0] for row in self._db.execute(
            "SELECT r.finished_at FROM recipients r JOIN merges m ON m.id = r.merge_id"
            " WHERE m.account = ? AND r.state = ? AND r.finished_at >= ? ORDER BY r.finished_at",
            (account, SENT, since),
        )]

    def sent_counts(self, account: str, since: float) -> list[tuple[float, int]]:
        """Return how many messages the account sent in each minute since ``since``, over every merge.

        Each pair is (Unix time of the end of the minute, count), oldest first, so the result has at most one pair
        per minute however many messages were sent (see ``RateLimiter``).
        """
        return [(minute * 60.0 + 60.0, count) for minute, count in self._db.execute(
            "SELECT CAST(r.finished_at / 60 AS INTEGER) AS minute, COUNT(*) FROM recipients r"
            " JOIN merges m ON m.id = r.merge_id WHERE m.account = ? AND r.state = ? AND r.finished_at >= ?"
            " GROUP BY minute ORDER BY minute",
            (account, SENT, since),
        )]

    def sent_to(self, merge_ids: list[str], addresses: Iterable[str], *, since: float | None = None) -> dict[str, str]:
        """Return which of ``addresses`` (lower case) one of ``merge_ids`` sent to, with the first of those ids that did.

        Rows in ``unknown`` or ``sending`` count as sent, because their message may have arrived. With ``since``
        (Unix time) only rows whose send started at or after it count. Pass the ids newest first to get the latest
        merge of each address. Ask for a few hundred addresses at a time.
        """
        wanted = sorted({address.lower() for address in addresses})
        if not merge_ids or not wanted:
            return {}
        order = {merge_id: index for index, merge_id in enumerate(merge_ids)}
        query = (f"SELECT lower(address), merge_id FROM recipients WHERE merge_id IN ({', '.join('?' * len(merge_ids))})"
                 f" AND state IN (?, ?, ?) AND lower(address) IN ({', '.join('?' * len(wanted))})")
        parameters: list = [*merge_ids, SENT, UNKNOWN, SENDING, *wanted]
        if since is not None:
            # Every sent, unknown or sending row has started_at (set by claim and mark_sending); the fallbacks only
            # keep a row without it from being left out.
            query += " AND COALESCE(started_at, finished_at, queued_at) >= ?"
            parameters.append(since)
        found: dict[str, str] = {}
        for address, merge_id in self._db.execute(query, parameters):
            if address not in found or order[merge_id] < order[found[address]]:
                found[address] = merge_id
        return found


def journal_path(data_dir: Path) -> Path:
    """Return the journal file of a profile's data folder."""
    return Path(data_dir) / JOURNAL_NAME


def wire_log_path(journal_file: Path, merge_id: str) -> Path:
    """Return the file next to the journal where a send of ``merge_id`` logs what went out (see ``WireLog``)."""
    return Path(journal_file).with_name(f"{Path(journal_file).stem}.{merge_id}.wire")


def boot_id() -> str:
    """Return the Linux kernel's random id of the running boot, or "" where it cannot be read."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


class WireLog:
    """The log of one send: which rows had their message data sent, and their outcomes, for ``Journal.recover``.

    Each line is appended with one ``os.write`` and never synced. After the
    process is killed the kernel still writes the lines out, but a power
    failure may lose them, so the first line is the boot id and
    ``read_wire_log`` trusts the log only within the same boot. Lines
    (tab-separated): ``boot ID``, then ``data ROW`` just before a row's
    message data goes out, and ``done ROW STATE TIME REPLY`` when its outcome
    is known. A write that fails empties the log, so that ``recover`` falls
    back to marking every row in ``sending`` unknown.

    Args:
        path: The log file (``wire_log_path``); an older log there is replaced.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        except OSError as error:
            log.warning("Opening the wire log %s failed (%s); after a kill, every row being sent then reads as "
                        "unknown", self.path, error)
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)  # an older log must not speak for this send
            return
        self._write(f"boot\t{boot_id()}\n")

    def data_going_out(self, row: int) -> None:
        """Log that the message data of ``row`` is about to be sent."""
        self._write(f"data\t{row}\n")

    def outcome(self, row: int, state: str, reply: str) -> None:
        """Log the outcome of ``row`` (a journal state) with the server's reply."""
        reply = " ".join(reply.split())
        self._write(f"done\t{row}\t{state}\t{time.time():.3f}\t{reply}\n")

    def close(self, *, remove: bool) -> None:
        """Close the log; with ``remove`` delete it, because the journal has every outcome."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove:
            self.path.unlink(missing_ok=True)

    def _write(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode("utf-8", "replace"))
        except OSError as error:
            log.warning("Writing the wire log %s failed (%s); after a kill, every row being sent then reads as "
                        "unknown", self.path, error)
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def read_wire_log(path: Path) -> dict[int, tuple] | None:
    """Return the last event of each row in a wire log: ``("data",)`` or ``(state, time, reply)``.

    Returns None when the log is missing, unreadable, empty, or written
    during another boot (or where the boot id cannot be read), because then
    lines may be lost and the log cannot show that a row was never sent.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    except OSError as error:
        log.warning("The wire log %s cannot be read (%s), so rows being sent read as unknown", path, error)
        return None
    current = boot_id()
    if not lines or not current or lines[0] != f"boot\t{current}":
        return None
    events: dict[int, tuple] = {}
    for line in lines[1:]:
        fields = line.split("\t", 4)
        try:
            if fields[0] == "data" and len(fields) == 2:
                events[int(fields[1])] = ("data",)
            elif fields[0] == "done" and len(fields) == 5 and fields[2] in (SENT, FAILED, UNKNOWN, QUEUED):
                events[int(fields[1])] = (fields[2], float(fields[3]), fields[4])
            else:
                raise ValueError(f"unexpected line {line!r}")
        except ValueError as error:
            # A line that cannot be read may have named a row whose data went out: trust none of the log.
            log.warning("The wire log %s is damaged (%s), so rows being sent read as unknown", path, error)
            return None
    return events


class MergeLock:
    """An exclusive lock on one merge, so that two processes never send the same merge at once.

    The lock is an ``flock`` on a file next to the journal; the kernel drops it
    when the process ends, also on SIGKILL.
    """

    _locked_paths: set[Path] = set()
    _guard = threading.Lock()

    def __init__(self, journal_file: Path, merge_id: str) -> None:
        self.path = Path(journal_file).with_name(f"{Path(journal_file).stem}.{merge_id}.lock")
        self.merge_id = merge_id
        self._file = None

    def __enter__(self) -> MergeLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        import fcntl

        with self._guard:
            if self.path in self._locked_paths:
                raise JournalError(f"Merge {self.merge_id} is being sent already; wait for it or stop it first.")
            handle = open(self.path, "a+")  # noqa: SIM115 - held open while the lock is held
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise JournalError(
                    f"Merge {self.merge_id} is being sent by another Sluice process; wait for it or stop it first."
                ) from None
            self._locked_paths.add(self.path)
            self._file = handle

    def release(self) -> None:
        if self._file is None:
            return
        with self._guard:
            self._locked_paths.discard(self.path)
            self._file.close()
            self._file = None
        # The file stays: removing it would let a second process lock a new file while a third still holds the old one.

    def is_held(self) -> bool:
        """Return whether some process, this one included, holds the lock now; the lock is not kept."""
        import fcntl

        if self.path in self._locked_paths:
            return True
        try:
            handle = open(self.path)  # noqa: SIM115 - closed below; a missing file means nobody ever locked it
        except FileNotFoundError:
            return False
        with handle:
            # NOTE: a sender that tries to lock during this shared probe of a few microseconds is rejected as busy.
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


@dataclass
class _HeldTemplateLock:
    """A template lock that this process holds, with the merge being sent, the locked file and its holder count."""

    merge_id: str
    fd: int
    holders: int


class TemplateLock:
    """An exclusive lock on the real sends of one template and data file (one ``merge_key``) in one journal.

    A send skips the rows whose address another merge of the same files
    reached (``send_cli.skip_sent_elsewhere``), but it looks only once, before
    it starts. Two such sends running at once could then both reach an
    address, so a second one is rejected while the first runs. Hold the lock
    from before the journal is searched for earlier sends until the send
    ends. Like ``MergeLock`` it is an ``flock`` on a file next to the journal,
    which the kernel drops when the process ends. The file contains the id of
    the merge that holds it, so the rejection can name that merge.

    In one process a second lock for the same merge id joins the first,
    because the command-line send and the window take the lock before
    ``MergeSend.run`` takes it again. A lock with another merge id, or with
    none (a merge not recorded yet), is rejected. Test sends take no template lock, because they mail only the
    test address and no other merge counts their rows as sent.

    NOTE: a rest-only send of a changed data file has a merge_key of its own,
    so it can run beside a send of the original file and reach an address
    that this send reaches later.

    Args:
        journal_file: The journal of the merges.
        merge_key: The ``merge_key`` of the template and data.
        merge_id: The merge this lock is for, or "" for a merge not recorded yet (see ``set_merge_id``).
    """

    _held_locks: dict[Path, _HeldTemplateLock] = {}
    _guard = threading.Lock()

    def __init__(self, journal_file: Path, merge_key: str, merge_id: str = "") -> None:
        self.path = Path(journal_file).with_name(f"{Path(journal_file).stem}.template-{merge_key}.lock")
        self.merge_id = merge_id
        self._acquired = False

    def __enter__(self) -> TemplateLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise JournalError naming the merge that is being sent from the same files."""
        import fcntl

        with self._guard:
            held = self._held_locks.get(self.path)
            if held is not None:
                if not self.merge_id or held.merge_id != self.merge_id:
                    raise JournalError(_template_busy_text(held.merge_id))
                held.holders += 1
                self._acquired = True
                return
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                raise JournalError(f"The lock file {self.path} cannot be opened ({error.strerror}); make its folder "
                                   "writable, then send again.") from error
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                os.close(fd)
                raise JournalError(_template_busy_text(holder)) from None
            self._held_locks[self.path] = _HeldTemplateLock(self.merge_id, fd, 1)
            _write_holder(fd, self.merge_id)
            self._acquired = True
        log.debug("Took the template lock %s for merge %s", self.path.name, self.merge_id or "(new)")

    def set_merge_id(self, merge_id: str) -> None:
        """Name the merge that holds the lock, once a lock taken for a new merge has its recorded id."""
        with self._guard:
            held = self._held_locks.get(self.path)
            if not self._acquired or held is None:
                raise JournalError(f"The template lock {self.path.name} is not held, so merge {merge_id} cannot "
                                   "take it over; take the lock first.")
            self.merge_id = held.merge_id = merge_id
            _write_holder(held.fd, merge_id)

    def release(self) -> None:
        if not self._acquired:
            return
        with self._guard:
            self._acquired = False
            held = self._held_locks[self.path]
            held.holders -= 1
            if held.holders:
                return
            del self._held_locks[self.path]
            # Emptied first, so that no later reader names a merge that has stopped. The file itself stays, as
            # MergeLock's does.
            with contextlib.suppress(OSError):
                os.ftruncate(held.fd, 0)
            os.close(held.fd)


def _write_holder(fd: int, merge_id: str) -> None:
    """Replace the content of a template lock file with ``merge_id``. A failed write loses the name, not the lock."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, merge_id.encode("utf-8"), 0)
    except OSError as error:
        log.warning("Writing the merge id %s into its template lock failed (%s), so a second send is still rejected "
                    "but its message cannot name the merge", merge_id, error)


def _template_busy_text(holder: str) -> str:
    """Return the rejection of a second send of the same template and data while ``holder`` is being sent."""
    if not holder:
        return ("Another merge of the same template and data is being sent now, and two sends of them at once "
                "could reach an address twice. Wait for that merge to finish or stop it (see 'sluice merge status'), "
                "then try again.")
    return (f"Merge {holder} of the same template and data is being sent now, and two sends of them at once could "
            f"reach an address twice. Wait for merge {holder} to finish or stop it, then try again.")


@contextlib.contextmanager
def send_locks(journal: Journal, merge_id: str) -> Iterator[MergeRecord]:
    """Hold the locks that a send of ``merge_id`` needs and yield its record.

    Every send holds its ``MergeLock``, and a real send also holds the ``TemplateLock`` of its template and data.
    """
    record = journal.merge(merge_id)
    with contextlib.ExitStack() as stack:
        stack.enter_context(MergeLock(journal.path, merge_id))
        if record.kind == KIND_SEND:
            stack.enter_context(TemplateLock(journal.path, record.merge_key, merge_id))
        yield record


def shown_state(journal_file: Path, record: MergeRecord) -> str:
    """Return the state to show for ``record``: ``interrupted`` for a running merge that no process is sending.

    The journal says ``running`` from the start of a send until it stops. A
    process killed in between cannot change that, but the kernel drops its
    merge lock, so a free lock means the send was interrupted.
    """
    if record.state != RUNNING or MergeLock(journal_file, record.id).is_held():
        return record.state
    return INTERRUPTED


def shown_record(journal_file: Path, record: MergeRecord) -> MergeRecord:
    """Return ``record`` with the state to show in place of the stored one (see ``shown_state``)."""
    return replace(record, state=shown_state(journal_file, record))


def _merge_record(row: tuple) -> MergeRecord:
    values = list(row)
    values[6] = json.loads(values[6])
    return MergeRecord(*values)


def _recipient_record(row: tuple) -> RecipientRecord:
    values = list(row)
    values[12] = bool(values[12])
    return RecipientRecord(*values)
