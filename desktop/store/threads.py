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

import itertools
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


def id_keys(message: _Stored) -> set[str]:
    """Return the keys of the Message-IDs a message names: its own, In-Reply-To and References, as ``<id>``."""
    keys = {f"<{reference}>" for reference in map(clean_id, message.refs.split()) if reference}
    for value in (message.message_id, message.in_reply_to):
        cleaned = clean_id(value)
        if cleaned:
            keys.add(f"<{cleaned}>")
    return keys


def subject_key(message: _Stored) -> str | None:
    """Return the key of a message that subject grouping may join, or None.

    The key is ``s:`` and the normalised subject, a newline (which a
    normalised subject cannot contain) and the date as 12 digits of seconds,
    so keys of one subject sort by date. That is the order in which subject
    grouping decides, and it lets a lookup find a date's neighbours.
    """
    if message.date is None or message.refs.strip() or message.in_reply_to.strip():
        return None
    subject, _replied = normalize_subject(message.subject)
    if not is_groupable_subject(subject):
        return None
    return f"s:{subject}\n{max(0, int(message.date)):012d}"


def _subject_keys(thread: Thread, loaded: dict[int, _Stored]) -> set[str]:
    """Return the subject keys of the thread's messages that subject grouping considered.

    A message without references of its own can still get a parent from
    another message's References. It is no candidate then and gets no key,
    so a lookup of a subject's neighbours finds real candidates only.
    """
    keys: set[str] = set()
    for container in thread.containers():
        if container.subject_candidate:
            keys.update(key for key in (subject_key(loaded[item.key]) for item in container.items) if key is not None)
    return keys


def _choose_thread_id(members: list[_Stored], used: set[int]) -> int | None:
    """Return the old thread id that most of the members have and no other thread took, or None."""
    counts: dict[int, int] = {}
    for row in members:
        if row.thread_id is not None and row.thread_id not in used:
            counts[row.thread_id] = counts.get(row.thread_id, 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda thread_id: (-counts[thread_id], thread_id))


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
        """Return the new messages with the stored threads whose result they may change, and those thread ids.

        First the threads that share a Message-ID with the new messages, and
        with those threads, until no new one turns up: their tree may change.
        Then, for each message of that set that subject grouping may join,
        the threads of the previous and next such message with the same
        subject. Grouping decides in date order, and each decision depends
        only on the previous candidate's date and group, so no thread farther
        away can change.
        """
        loaded = {row.id: row for row in new_rows}
        if self._db.execute("SELECT 1 FROM thread_keys WHERE account_id = ? LIMIT 1", (account_id,)).fetchone() is None:
            return loaded, set()
        found_threads: set[int] = set()
        searched: set[str] = set()
        pending = set().union(*(id_keys(row) for row in new_rows))
        while pending:
            searched |= pending
            threads = self._threads_with_keys(account_id, sorted(pending)) - found_threads
            found_threads |= threads
            pending = set()
            for row in self._thread_members(sorted(threads)):
                if row.id not in loaded:
                    loaded[row.id] = row
                    pending |= id_keys(row) - searched

        subject_keys = {key for key in map(subject_key, loaded.values()) if key is not None}
        neighbours = set().union(*(self._subject_neighbours(account_id, key) for key in subject_keys)) - found_threads
        found_threads |= neighbours
        for row in self._thread_members(sorted(neighbours)):
            loaded.setdefault(row.id, row)
        return loaded, found_threads

    def _subject_neighbours(self, account_id: int, key: str) -> set[int]:
        """Return the threads with the subject key ``key``, and with the nearest older and newer keys of its subject."""
        prefix = key[: key.index("\n") + 1]
        end = prefix[:-1] + "\x0b"  # the character after the newline, so [prefix, end) is this subject
        rows = self._db.execute(
            """SELECT thread_id FROM thread_keys WHERE account_id = ?1 AND key IN (
                   ?2,
                   (SELECT MAX(key) FROM thread_keys WHERE account_id = ?1 AND key >= ?3 AND key < ?2),
                   (SELECT MIN(key) FROM thread_keys WHERE account_id = ?1 AND key > ?2 AND key < ?4))""",
            (account_id, key, prefix, end),
        )
        return {row[0] for row in rows}

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
        new_ids = self._new_thread_ids()
        groups = sorted(((thread.keys(), thread) for thread in threads),
                        key=lambda group: (-len(group[0]), min(group[0])))
        for members, thread in groups:
            thread_id = _choose_thread_id([loaded[key] for key in members], used) or next(new_ids)
            used.add(thread_id)
            for key in members:
                row = loaded[key]
                if row.thread_id != thread_id:
                    changes.append((thread_id, row.id))
                keys.extend((account_id, value, thread_id) for value in id_keys(row))
            keys.extend((account_id, key, thread_id) for key in _subject_keys(thread, loaded))
        self._db.executemany("INSERT OR IGNORE INTO threads (id, account_id) VALUES (?, ?)",
                             ((thread_id, account_id) for thread_id in sorted(used - old_threads)))
        self._db.executemany("UPDATE messages SET thread_id = ? WHERE id = ?", changes)
        self._delete_threads(sorted(old_threads - used), "threads", "id")
        self._delete_threads(sorted(old_threads & used), "thread_keys", "thread_id")
        self._db.executemany("INSERT OR IGNORE INTO thread_keys (account_id, key, thread_id) VALUES (?, ?, ?)", keys)

    def _new_thread_ids(self) -> Iterator[int]:
        """Yield unused thread ids; the caller inserts the ones it uses into ``threads``.

        Runs inside the write transaction, so no other writer takes the same ids.
        """
        row = self._db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'threads'), 0), "
            "COALESCE((SELECT MAX(id) FROM threads), 0))"
        ).fetchone()
        return itertools.count(row[0] + 1)

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
