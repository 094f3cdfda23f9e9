"""Conversations in the store: each message's thread, kept up to date as mail arrives, a part of ``Store``.

A message's thread is ``messages.thread_id``. New rows have none (NULL),
whichever code path inserted them, and ``update_threads`` threads them with
``desktop.mail.threads.build_threads``. It does not re-read the whole
account. It reads the new messages and every stored thread that shares a
key with them, from ``thread_keys``. A key is a Message-ID that a message
names or a subject it may be grouped by. Threads that share a key with
those are read too, until no new thread turns up, and the whole set is
threaded again. Threading processes messages in date order, so the result
matches a full run over the account (the tests compare both on random and
generated mail). A reply stored before its parent joins the parent's
thread when the parent arrives, and threads that a new message bridges are
merged.

Thread ids are stable: a thread keeps its id while it grows, and of two
merged threads the one with more messages keeps its id.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from desktop.mail.threads import Thread, ThreadInput, build_threads, clean_id, is_groupable_subject, normalize_subject

if TYPE_CHECKING:
    from desktop.store.db import MessageRow

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per statement, well inside SQLite's limit on bound parameters


class _Stored(NamedTuple):
    """A message as threading reads it from the store, with its current thread."""

    id: int
    message_id: str
    in_reply_to: str
    refs: str
    subject: str
    date: float | None
    thread_id: int | None

    def as_input(self) -> ThreadInput:
        return ThreadInput(self.id, self.message_id, self.in_reply_to, tuple(self.refs.split()), self.subject, self.date)


_STORED_COLUMNS = "m.id, m.message_id, m.in_reply_to, m.refs, m.subject, m.date, m.thread_id"


def thread_keys(message: _Stored) -> set[str]:
    """Return the keys by which new mail finds a message's thread.

    Message-IDs are kept as ``<id>`` and subjects as ``s:subject``, so the
    two kinds cannot collide. A subject key exists only for a message that
    subject grouping may join (see ``desktop.mail.threads``).
    """
    keys = {f"<{reference}>" for reference in map(clean_id, message.refs.split()) if reference}
    for value in (message.message_id, message.in_reply_to):
        cleaned = clean_id(value)
        if cleaned:
            keys.add(f"<{cleaned}>")
    if message.date is not None and not message.refs.strip() and not message.in_reply_to.strip():
        subject, _replied = normalize_subject(message.subject)
        if is_groupable_subject(subject):
            keys.add(f"s:{subject}")
    return keys


def _chunks(values: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class ThreadsMixin:
    """The conversation queries and updates of ``Store``; they use its connection."""

    _db: sqlite3.Connection

    # --- threading ----------------------------------------------------------

    def update_threads(self, account_id: int | None = None) -> int:
        """Thread the messages that have no thread yet, of one account or all; return how many.

        Each account is threaded in one write transaction, so two processes
        threading at once cannot give one message two threads.
        """
        if account_id is not None:
            accounts = [account_id]
        else:
            accounts = [row[0] for row in self._db.execute(
                """SELECT DISTINCT f.account_id FROM messages m JOIN folders f ON f.id = m.folder_id
                   WHERE m.thread_id IS NULL"""
            )]
        threaded = 0
        for account in accounts:
            started = time.perf_counter()
            with self.transaction():
                count, loaded = self._thread_account(account)
            threaded += count
            if count:
                log.debug("Threaded %d new message(s) of account %d, re-reading %d, in %.3f s",
                          count, account, loaded, time.perf_counter() - started)
        return threaded

    def rebuild_threads(self, account_id: int | None = None) -> int:
        """Thread every message again from scratch; return how many were threaded."""
        with self.transaction() as db:
            if account_id is None:
                db.execute("UPDATE messages SET thread_id = NULL")
                db.execute("DELETE FROM threads")
            else:
                db.execute(
                    "UPDATE messages SET thread_id = NULL WHERE folder_id IN (SELECT id FROM folders WHERE account_id = ?)",
                    (account_id,),
                )
                db.execute("DELETE FROM threads WHERE account_id = ?", (account_id,))
        log.info("Rebuilding the threads of %s", "every account" if account_id is None else f"account {account_id}")
        return self.update_threads(account_id)

    def unthreaded_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM messages WHERE thread_id IS NULL").fetchone()[0]

    def _thread_account(self, account_id: int) -> tuple[int, int]:
        """Thread the account's new messages with every thread they touch; return (new, loaded) counts."""
        new_rows = self._stored("JOIN folders f ON f.id = m.folder_id WHERE f.account_id = ? AND m.thread_id IS NULL",
                                (account_id,))
        if not new_rows:
            return 0, 0
        loaded, old_threads = self._related(account_id, new_rows)
        threads = build_threads(row.as_input() for row in loaded.values())
        self._store_threads(account_id, threads, loaded, old_threads)
        return len(new_rows), len(loaded)

    def _stored(self, where: str, params: tuple) -> list[_Stored]:
        rows = self._db.execute(f"SELECT {_STORED_COLUMNS} FROM messages m {where}", params)
        return [_Stored(*row) for row in rows]

    def _related(self, account_id: int, new_rows: list[_Stored]) -> tuple[dict[int, _Stored], set[int]]:
        """Return the new messages plus every stored thread they reach through shared keys, and those thread ids."""
        loaded = {row.id: row for row in new_rows}
        searched: set[str] = set()
        pending = set().union(*(thread_keys(row) for row in new_rows))
        found_threads: set[int] = set()
        while pending:
            searched |= pending
            threads = self._threads_with_keys(account_id, sorted(pending)) - found_threads
            pending = set()
            if not threads:
                break
            found_threads |= threads
            for row in self._thread_members(sorted(threads)):
                if row.id not in loaded:
                    loaded[row.id] = row
                    pending |= thread_keys(row) - searched
        return loaded, found_threads

    def _threads_with_keys(self, account_id: int, keys: Sequence[str]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self._db.execute(
                f"SELECT DISTINCT thread_id FROM thread_keys WHERE account_id = ? AND key IN ({marks})",
                (account_id, *chunk),
            ))
        return found

    def _thread_members(self, thread_ids: Sequence[int]) -> list[_Stored]:
        rows: list[_Stored] = []
        for chunk in _chunks(thread_ids):
            marks = ",".join("?" * len(chunk))
            rows += self._stored(f"WHERE m.thread_id IN ({marks})", tuple(chunk))
        return rows

    def _store_threads(self, account_id: int, threads: list[Thread], loaded: dict[int, _Stored],
                       old_threads: set[int]) -> None:
        """Give each thread the old id that most of its messages have (or a new one), and write ids and keys."""
        changes: list[tuple[int, int]] = []
        keys: list[tuple[int, str, int]] = []
        used: set[int] = set()
        groups = sorted((thread.keys() for thread in threads), key=lambda members: (-len(members), min(members)))
        for members in groups:
            thread_id = self._choose_thread_id(account_id, [loaded[key] for key in members], used)
            used.add(thread_id)
            for key in members:
                row = loaded[key]
                if row.thread_id != thread_id:
                    changes.append((thread_id, row.id))
                keys.extend((account_id, value, thread_id) for value in thread_keys(row))
        self._db.executemany("UPDATE messages SET thread_id = ? WHERE id = ?", changes)
        self._delete_threads(sorted(old_threads - used), "threads", "id")
        self._delete_threads(sorted(old_threads & used), "thread_keys", "thread_id")
        self._db.executemany("INSERT OR IGNORE INTO thread_keys (account_id, key, thread_id) VALUES (?, ?, ?)", keys)

    def _choose_thread_id(self, account_id: int, members: list[_Stored], used: set[int]) -> int:
        counts: dict[int, int] = {}
        for row in members:
            if row.thread_id is not None and row.thread_id not in used:
                counts[row.thread_id] = counts.get(row.thread_id, 0) + 1
        if counts:
            return min(counts, key=lambda thread_id: (-counts[thread_id], thread_id))
        return self._db.execute("INSERT INTO threads (account_id) VALUES (?)", (account_id,)).lastrowid

    def _delete_threads(self, thread_ids: Sequence[int], table: str, column: str) -> None:
        for chunk in _chunks(thread_ids):
            marks = ",".join("?" * len(chunk))
            self._db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", tuple(chunk))

    # --- reading ------------------------------------------------------------

    def thread_ids(self, ids: Sequence[int]) -> dict[int, int]:
        """Return {message id: thread id} for ``ids``, threading new mail first; ids not found are left out."""
        self._thread_if_needed()
        found: dict[int, int] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT id, thread_id FROM messages WHERE id IN ({marks})", tuple(chunk)))
        return found

    def thread_message_ids(self, folder_ids: int | Iterable[int], message: MessageRow | int) -> list[int]:
        """Return the ids of the messages in ``message``'s thread that are in the folders, newest first.

        Bulk actions on a conversation act on these. Like ``message_ids`` the
        result leaves out mail the rules have not seen yet. A message that is
        not in the store gives [].
        """
        folders = [folder_ids] if isinstance(folder_ids, int) else list(folder_ids)
        message_id = message if isinstance(message, int) else message.id
        if not folders:
            return []
        self._thread_if_needed()
        row = self._db.execute("SELECT thread_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return []
        marks = ",".join("?" * len(folders))
        rows = self._db.execute(
            f"""SELECT id FROM messages WHERE thread_id = ? AND folder_id IN ({marks}) AND rules_pending = 0
                ORDER BY date DESC, id DESC""",
            (row[0], *folders),
        )
        return [value for (value,) in rows]

    def _thread_if_needed(self) -> None:
        if self._db.execute("SELECT 1 FROM messages WHERE thread_id IS NULL LIMIT 1").fetchone() is not None:
            self.update_threads()
