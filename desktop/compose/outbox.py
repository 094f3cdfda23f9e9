"""The durable outbox: every message waits here until the SMTP server has taken it.

The outbox is a SQLite file of its own in the profile (``compose.sqlite3``),
next to the store, so the store's schema stays as it is. It also holds the
local copies of drafts (``desktop.compose.drafts``) and follow-up reminders
(``desktop.compose.followup``).

An entry moves through these states, one transaction per step::

    queued --claim--> sending --server accepted--> sent
                         |  \\--server or network failed--> failed
                         \\--process died--> unknown

- ``queued``: waiting for ``send_at``: now plus the undo delay for a normal
  send, a chosen time for send later. ``cancel`` (undo) deletes a queued
  entry, so nothing is sent.
- ``sending``: claimed by one process (its pid is kept) while SMTP runs. A
  row found in ``sending`` whose process is gone becomes ``unknown``: the
  server may or may not have taken it, so it is not sent again unless the
  user asks (``retry``). That keeps every message to at most one delivery.
- ``failed``: the error text and kind are kept. A temporary failure (network,
  4xx reply) has a ``retry_at`` and is sent again by the send loop then; a
  permanent one (relay denied, login rejected) waits for ``retry``.
- ``sent``: the server's reply and the time are kept; ``copied`` records that
  the copy for the Sent folder was stored (see ``desktop.compose.sending``).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "compose.sqlite3"

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"
STATES = (QUEUED, SENDING, SENT, FAILED, UNKNOWN)

_SCHEMA = [
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        recipients TEXT NOT NULL,
        raw BLOB NOT NULL,
        send_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        claimed_by INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        error_kind TEXT NOT NULL DEFAULT '',
        retry_at REAL,
        response TEXT NOT NULL DEFAULT '',
        sent_at REAL,
        copied INTEGER NOT NULL DEFAULT 0,
        draft_id INTEGER,
        remind_days REAL,
        created REAL NOT NULL
    );
    CREATE INDEX outbox_by_state ON outbox (state, send_at);
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        data TEXT NOT NULL,
        updated REAL NOT NULL,
        server_message INTEGER,
        server_saved REAL
    );
    CREATE TABLE reminders (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        due_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting',
        created REAL NOT NULL,
        done_at REAL
    );
    CREATE INDEX reminders_by_due ON reminders (state, due_at);
    """,
]


class OutboxError(ValueError):
    """An outbox request that cannot be carried out; the text names the entry and what to do."""


@dataclass(frozen=True)
class OutboxEntry:
    """One message in the outbox.

    Attributes:
        id: The entry's number, shown by ``sluice outbox list``.
        account: The sending account's name.
        message_id: The message's Message-ID header.
        subject: The subject, for lists.
        recipients: The envelope recipients (To, Cc and Bcc).
        send_at: When the message goes out (seconds since the epoch).
        state: One of ``queued``, ``sending``, ``sent``, ``failed``, ``unknown``.
        attempts: How many times sending was tried.
        error: The last failure, in words, or "".
        error_kind: The ``SendError`` kind of the last failure, or "".
        retry_at: When a temporary failure is tried again; None when it
            waits for the user.
        response: The server's reply to the accepted message.
        sent_at: When the server accepted the message.
        copied: The Sent copy was stored (or is not wanted).
        draft_id: The local draft the message came from, if any.
        remind_days: Days after sending for a follow-up reminder, if any.
    """

    id: int
    account: str
    message_id: str
    subject: str
    recipients: tuple[str, ...]
    send_at: float
    state: str
    attempts: int
    error: str
    error_kind: str
    retry_at: float | None
    response: str
    sent_at: float | None
    copied: bool
    draft_id: int | None
    remind_days: float | None


_COLUMNS = ("id, account, message_id, subject, recipients, send_at, state, attempts, error, error_kind, retry_at, "
            "response, sent_at, copied, draft_id, remind_days")


def _entry(row: tuple) -> OutboxEntry:
    values = list(row)
    values[4] = tuple(json.loads(values[4]))
    values[13] = bool(values[13])
    return OutboxEntry(*values)


def outbox_path(data_dir: Path) -> Path:
    """Return the outbox file of a profile's data folder."""
    return data_dir / FILE_NAME


class Outbox:
    """One connection to the outbox file; the methods are safe to call from several threads.

    Opening the outbox turns entries left in ``sending`` by a process that no
    longer runs into ``unknown`` (see the module's docstring).

    Args:
        path: The SQLite file; created with its tables when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._migrate()
        self.recover()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, len(_SCHEMA)):
                for statement in _statements(_SCHEMA[number]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")
                log.info("Outbox %s is at schema version %d", self.path.name, number + 1)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction (BEGIN IMMEDIATE), rolled back on an error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Run a read query and return all rows."""
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # --- queueing and undo -------------------------------------------------

    def queue(
        self,
        account: str,
        message: EmailMessage,
        recipients: Iterable[str],
        *,
        send_at: float,
        draft_id: int | None = None,
        remind_days: float | None = None,
    ) -> OutboxEntry:
        """Store ``message`` to go out at ``send_at``; return its entry.

        The message is stored serialised, exactly as it will be sent, so a
        restart sends the same bytes with the same Message-ID and Date.

        Raises:
            OutboxError: the message has no Message-ID or no recipient.
        """
        message_id = str(message.get("Message-ID", "")).strip()
        if not message_id:
            raise OutboxError("The message has no Message-ID header; build it with desktop.compose.build.build_message.")
        recipient_list = list(dict.fromkeys(recipients))
        if not recipient_list:
            raise OutboxError("The message has no recipient; add a To, Cc or Bcc address.")
        raw = message.as_bytes(policy=policy.SMTP)
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (account, message_id, subject, recipients, raw, send_at, draft_id, remind_days, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, message_id, str(message.get("Subject", "")), json.dumps(recipient_list), raw, send_at,
                 draft_id, remind_days, time.time()),
            )
            entry_id = cursor.lastrowid
        log.info("Queued outbox entry %d (%s) of account %s for %s", entry_id, message_id, account,
                 time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(send_at)))
        return self.entry(entry_id)

    def cancel(self, entry_id: int) -> bool:
        """Take back a queued or failed entry so it is never sent; return False when it is too late.

        An entry being sent or already sent cannot be taken back. An entry in
        state ``unknown`` can be removed: the server may have it, but Sluice
        will not send it again.
        """
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM outbox WHERE id = ? AND state IN (?, ?, ?)",
                                (entry_id, QUEUED, FAILED, UNKNOWN))
            removed = cursor.rowcount == 1
        log.info("Cancelling outbox entry %d: %s", entry_id, "removed" if removed else "too late, already sending or sent")
        return removed

    def retry(self, entry_id: int, *, at: float | None = None) -> OutboxEntry:
        """Queue a failed or unknown entry again, to go out at ``at`` (default: now).

        Raises:
            OutboxError: the entry does not exist or is queued, sending or sent.
        """
        entry = self.entry(entry_id)
        if entry is None:
            raise OutboxError(f"Outbox entry {entry_id} does not exist; 'sluice outbox list' shows the entries.")
        if entry.state not in (FAILED, UNKNOWN):
            raise OutboxError(f"Outbox entry {entry_id} is {entry.state}; only failed or unknown entries can be retried.")
        with self.transaction() as db:
            db.execute("UPDATE outbox SET state = ?, send_at = ?, retry_at = NULL, claimed_by = NULL WHERE id = ?",
                       (QUEUED, at if at is not None else time.time(), entry_id))
        log.info("Outbox entry %d queued again by the user", entry_id)
        return self.entry(entry_id)

    def reschedule(self, entry_id: int, send_at: float) -> OutboxEntry:
        """Change when a queued entry goes out.

        Raises:
            OutboxError: the entry is missing or no longer queued.
        """
        with self.transaction() as db:
            cursor = db.execute("UPDATE outbox SET send_at = ? WHERE id = ? AND state = ?", (send_at, entry_id, QUEUED))
            if cursor.rowcount != 1:
                raise OutboxError(f"Outbox entry {entry_id} is not waiting to be sent, so its time cannot change.")
        return self.entry(entry_id)

    # --- reading -----------------------------------------------------------

    def entry(self, entry_id: int) -> OutboxEntry | None:
        """Return one entry, or None."""
        rows = self.query(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (entry_id,))
        return _entry(rows[0]) if rows else None

    def entries(self, states: Iterable[str] | None = None, *, account: str | None = None) -> list[OutboxEntry]:
        """Return entries, soonest first; by default every entry that is not sent."""
        wanted = list(states) if states is not None else [QUEUED, SENDING, FAILED, UNKNOWN]
        marks = ",".join("?" * len(wanted))
        sql = f"SELECT {_COLUMNS} FROM outbox WHERE state IN ({marks})"
        params: list = list(wanted)
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        return [_entry(row) for row in self.query(sql + " ORDER BY send_at, id", params)]

    def raw(self, entry_id: int) -> bytes:
        """Return the stored bytes of an entry's message (CRLF line ends)."""
        rows = self.query("SELECT raw FROM outbox WHERE id = ?", (entry_id,))
        if not rows:
            raise OutboxError(f"Outbox entry {entry_id} does not exist; 'sluice outbox list' shows the entries.")
        return bytes(rows[0][0])

    def due(self, now: float | None = None, *, account: str | None = None) -> list[OutboxEntry]:
        """Return queued entries whose time has come and temporary failures whose retry time has come."""
        moment = time.time() if now is None else now
        sql = (f"SELECT {_COLUMNS} FROM outbox WHERE ((state = ? AND send_at <= ?) "
               "OR (state = ? AND retry_at IS NOT NULL AND retry_at <= ?))")
        params: list = [QUEUED, moment, FAILED, moment]
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        return [_entry(row) for row in self.query(sql + " ORDER BY send_at, id", params)]

    def next_due_time(self) -> float | None:
        """Return the earliest time at which an entry becomes due, or None when nothing waits."""
        rows = self.query(
            "SELECT MIN(t) FROM (SELECT MIN(send_at) AS t FROM outbox WHERE state = ? "
            "UNION ALL SELECT MIN(retry_at) FROM outbox WHERE state = ? AND retry_at IS NOT NULL)",
            (QUEUED, FAILED),
        )
        return rows[0][0] if rows and rows[0][0] is not None else None

    def uncopied(self) -> list[OutboxEntry]:
        """Return sent entries whose Sent copy was not stored yet (e.g. after a crash right after sending)."""
        return [_entry(row) for row in self.query(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = ? AND copied = 0 ORDER BY id", (SENT,))]

    # --- state changes of the send loop -------------------------------------

    def claim(self, entry_id: int) -> bool:
        """Move a due entry to ``sending`` for this process; return False when another caller got it first."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = ?, claimed_by = ?, attempts = attempts + 1 WHERE id = ? AND "
                "(state = ? OR (state = ? AND retry_at IS NOT NULL))",
                (SENDING, os.getpid(), entry_id, QUEUED, FAILED),
            )
            return cursor.rowcount == 1

    def mark_sent(self, entry_id: int, response: str) -> None:
        """Record that the server accepted the message."""
        with self.transaction() as db:
            db.execute("UPDATE outbox SET state = ?, response = ?, sent_at = ?, error = '', error_kind = '', "
                       "retry_at = NULL, claimed_by = NULL WHERE id = ?", (SENT, response, time.time(), entry_id))
        log.info("Outbox entry %d was accepted by the server: %s", entry_id, response)

    def mark_failed(self, entry_id: int, error: str, kind: str, retry_at: float | None) -> None:
        """Record a failed attempt with its error; ``retry_at`` None waits for the user."""
        with self.transaction() as db:
            db.execute("UPDATE outbox SET state = ?, error = ?, error_kind = ?, retry_at = ?, claimed_by = NULL "
                       "WHERE id = ?", (FAILED, error, kind, retry_at, entry_id))
        log.warning("Outbox entry %d failed (%s); %s", entry_id, kind,
                    "retrying at " + time.strftime("%H:%M:%S", time.localtime(retry_at)) if retry_at else "waiting for the user")

    def mark_copied(self, entry_id: int) -> None:
        """Record that the Sent copy of an entry was stored or is not wanted."""
        with self.transaction() as db:
            db.execute("UPDATE outbox SET copied = 1 WHERE id = ?", (entry_id,))

    def recover(self) -> list[int]:
        """Turn entries left in ``sending`` by a process that no longer runs into ``unknown``; return their ids."""
        rows = self.query("SELECT id, claimed_by FROM outbox WHERE state = ?", (SENDING,))
        lost = [entry_id for entry_id, pid in rows if not _process_runs(pid)]
        if not lost:
            return []
        with self.transaction() as db:
            for entry_id in lost:
                db.execute(
                    "UPDATE outbox SET state = ?, claimed_by = NULL, error = ? WHERE id = ? AND state = ?",
                    (UNKNOWN, "Sending was interrupted, so the server may or may not have accepted the message. "
                     "Check the recipient's copy or your Sent folder, then retry or cancel the entry.", entry_id, SENDING),
                )
        log.warning("Outbox entries %s were interrupted while sending; they are now unknown and are not resent "
                    "without the user", lost)
        return lost


def _process_runs(pid: int | None) -> bool:
    # NOTE: a pid reused by an unrelated process keeps its entry in ``sending`` until that process ends.
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
