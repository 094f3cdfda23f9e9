"""The profile's suppression list: addresses that no merge sends to again.

Unsubscribed and hard-bounced addresses go here; every later merge skips
them, and ``sluice merge check`` lists the rows skipped. Addresses are
compared without regard to case. The list is an SQLite file in the
profile's data folder, so concurrent writers (a send recording a bounce while
the user adds an address) do not lose entries.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from desktop.config import is_plain_address

log = logging.getLogger(__name__)

FILE_NAME = "suppression.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS suppressed (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    added REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Suppression:
    """One suppressed address.

    Attributes:
        address: The address, lowercased.
        reason: Why it is suppressed, such as ``unsubscribed`` or a bounce reply.
        added: When it was added, in seconds since the epoch.
    """

    address: str
    reason: str
    added: float


class SuppressionList:
    """The suppression list of one profile."""

    def __init__(self, profile) -> None:
        self.path = Path(profile.data_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """Yield a connection in a transaction that commits on success, then close it."""
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def contains(self, address: str) -> bool:
        """Return whether ``address`` is suppressed, ignoring case."""
        with self._connect() as connection:
            found = connection.execute("SELECT 1 FROM suppressed WHERE address = ?", (_key(address),)).fetchone()
        return found is not None

    def add(self, address: str, reason: str) -> bool:
        """Suppress ``address``; return False when it was already on the list (its first reason is kept)."""
        key = _key(address)
        if not key or "@" not in key:
            raise ValueError(f"{address!r} is not an address; give one such as ana@example.com.")
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO suppressed (address, reason, added) VALUES (?, ?, ?)", (key, reason, time.time())
            )
        if cursor.rowcount:
            log.info("Suppressed an address (%s)", reason)
        return bool(cursor.rowcount)

    def remove(self, address: str) -> bool:
        """Take ``address`` off the list; return False when it was not on it."""
        with self._connect() as connection:
            cursor = connection.execute("DELETE FROM suppressed WHERE address = ?", (_key(address),))
        if cursor.rowcount:
            log.info("Removed an address from the suppression list")
        return bool(cursor.rowcount)

    def entries(self) -> list[Suppression]:
        """Return every suppressed address, oldest first."""
        with self._connect() as connection:
            rows = connection.execute("SELECT address, reason, added FROM suppressed ORDER BY added, address").fetchall()
        return [Suppression(*row) for row in rows]

    def addresses(self) -> set[str]:
        """Return every suppressed address, lowercased, for checking many rows at once."""
        with self._connect() as connection:
            return {row[0] for row in connection.execute("SELECT address FROM suppressed")}


@dataclass(frozen=True)
class AddressFile:
    """The addresses of a text file with one address a line.

    Attributes:
        addresses: The valid addresses, stripped, in file order.
        bad_lines: ``(line number, text)`` of each line that is not a bare
            address such as ``ana@example.com``; the first line is 1.
    """

    addresses: list[str]
    bad_lines: list[tuple[int, str]]


def read_address_file(path: Path) -> AddressFile:
    """Read a text file with one address a line; blank lines and lines starting with ``#`` are left out.

    Raises:
        OSError: when the file cannot be read.
    """
    addresses: list[str] = []
    bad_lines: list[tuple[int, str]] = []
    with Path(path).open(encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if is_plain_address(text):
                addresses.append(text)
            else:
                bad_lines.append((number, text))
    return AddressFile(addresses, bad_lines)


def _key(address: str) -> str:
    return address.strip().lower()
