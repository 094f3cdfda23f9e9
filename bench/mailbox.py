"""Test data: generated mailboxes in a private Dovecot, a local store or a plain Maildir."""

from __future__ import annotations

import imaplib
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench.measure import BenchError
from bench.report import REPOSITORY

log = logging.getLogger(__name__)

USER = "bench"
# A throwaway password for a server that listens on 127.0.0.1 only and lives for one run.
PASSWORD = "bench-password"


def _import_dovecot_helper():
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    try:
        from tests.helpers import dovecot
    except ImportError as error:
        raise BenchError(f"Cannot import tests/helpers/dovecot.py ({error}); the sync benchmark needs it to start Dovecot.") from error
    return dovecot


@dataclass
class ServerMailbox:
    """A running private Dovecot with one user whose Maildir contains the generated messages."""

    host: str
    port: int
    user: str
    password: str
    maildir: Path
    count: int
    generate_seconds: float
    log_path: Path


@contextmanager
def dovecot_mailbox(root: Path, count: int, seed: int, *, folders: int | None = None) -> Iterator[ServerMailbox]:
    """Start a Dovecot under ``root`` with ``count`` generated messages; stop it on exit.

    Args:
        folders: Spread the messages round-robin over this many folders
            (INBOX and "Folder 02" up to "Folder NN") instead of the
            generator's own folders.
    """
    dovecot = _import_dovecot_helper()
    from desktop import mailgen

    server = dovecot.DovecotServer(root / "dovecot")
    server.start()
    try:
        user = server.add_user(USER, PASSWORD)
        maildir = Path(user.maildir)
        started = time.perf_counter()
        messages = mailgen.generate(count, seed=seed)
        if folders is not None:
            messages = spread_over_folders(messages, folders)
        written = mailgen.write_maildir(messages, maildir)
        _chown_tree(maildir, user.uid, user.gid)
        generate_seconds = time.perf_counter() - started
        if written != count:
            raise BenchError(f"mailgen.write_maildir wrote {written} messages, expected {count}.")
        yield ServerMailbox(server.host, server.port, USER, PASSWORD, maildir, written, generate_seconds, Path(server.log_path))
    finally:
        server.stop()


def folder_names(count: int) -> list[str]:
    """Return the names of ``count`` folders: INBOX, then "Folder 02" and up."""
    if count < 1:
        raise BenchError(f"Invalid folder count {count}: spread the messages over at least 1 folder.")
    return ["INBOX", *(f"Folder {number:02d}" for number in range(2, count + 1))]


def spread_over_folders(messages: Iterable, count: int) -> Iterator:
    """Yield ``messages`` with their folder replaced, round-robin over ``folder_names(count)``."""
    names = folder_names(count)
    for number, message in enumerate(messages):
        yield replace(message, folder=names[number % count])


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    for directory, subdirs, files in os.walk(root):
        os.chown(directory, uid, gid)
        for name in subdirs + files:
            os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)


def warm_server(mailbox: ServerMailbox) -> tuple[int, float]:
    """Read every message once over IMAP so Dovecot's index and the page cache are built before timing.

    Returns the number of messages read and the seconds taken. Without this
    the first client measured would also pay for Dovecot indexing the
    freshly written Maildir. The folders are opened read-write (SELECT), so
    this session takes the \\Recent flag of every message. Every client
    measured afterwards then gets the same flags, whichever runs first.
    """
    started = time.perf_counter()
    seen = 0
    client = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=600)
    try:
        client.login(mailbox.user, mailbox.password)
        for name in list_folders(client):
            typ, data = client.select(_quote(name), readonly=False)
            if typ != "OK":
                raise BenchError(f"SELECT {name} failed during warm-up: {data!r}")
            exists = int(data[0])
            if exists:
                typ, data = client.fetch("1:*", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
                if typ != "OK":
                    raise BenchError(f"FETCH in {name} failed during warm-up: {data!r}")
            seen += exists
    finally:
        _logout(client)
    return seen, time.perf_counter() - started


def _logout(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError) as error:
        log.debug("Logout after the warm-up failed: %s", error)


def list_folders(client: imaplib.IMAP4) -> list[str]:
    """Return the selectable folder names (modified UTF-7, as sent) of an imaplib connection."""
    typ, data = client.list()
    if typ != "OK":
        raise BenchError(f"LIST failed: {data!r}")
    names = []
    for line in data:
        text = line.decode("utf-8") if isinstance(line, bytes) else str(line)
        flags, _, rest = text.partition(") ")
        if "\\noselect" in flags.lower():
            continue
        name = rest.split(" ", 1)[1]
        names.append(name[1:-1] if name.startswith('"') else name)
    return names


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class SessionTotals:
    """Logout statistics of the IMAP sessions in a stretch of Dovecot's log.

    Attributes:
        sessions: Sessions that logged out.
        bytes_in: Bytes the client sent.
        bytes_out: Bytes the server sent.
        body_count: Messages whose body was fetched (Dovecot's ``fetch_body_count``).
    """

    sessions: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    body_count: int = 0


_LOGOUT_FIELD = re.compile(r"\b(in|out|body_count)=(\d+)")


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def session_totals(path: Path, offset: int, *, expected_sessions: int = 1, wait: float = 3.0) -> SessionTotals:
    """Sum the logout statistics Dovecot wrote to ``path`` after ``offset``.

    Dovecot 2.3 ends each IMAP session with a line such as "Logged out in=120
    out=5800 ... body_count=0 body_bytes=0" (its default imap_logout_format).
    Its log process writes that line a moment after the client has gone, so
    this waits up to ``wait`` seconds for ``expected_sessions`` lines.
    """
    deadline = time.monotonic() + wait
    totals = _read_totals(path, offset)
    while totals.sessions < expected_sessions and time.monotonic() < deadline:
        time.sleep(0.05)
        totals = _read_totals(path, offset)
    return totals


def _read_totals(path: Path, offset: int) -> SessionTotals:
    totals = SessionTotals()
    with open(path, "rb") as stream:
        stream.seek(offset)
        text = stream.read().decode("utf-8", "replace")
    for line in text.splitlines():
        if "Logged out" not in line and "Disconnected" not in line:
            continue
        fields = dict(_LOGOUT_FIELD.findall(line))
        if "out" not in fields:
            continue
        totals.sessions += 1
        totals.bytes_in += int(fields.get("in", 0))
        totals.bytes_out += int(fields["out"])
        totals.body_count += int(fields.get("body_count", 0))
    return totals
