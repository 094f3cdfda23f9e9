"""Filling a test server's mailbox fast, and comparing a Sluice profile with the server.

``profile_problems`` lists every way a profile differs from the server: a message
missing, stored twice or with other bytes or flags, an index that does not hold
exactly the stored messages, or a damaged store file. The fault and crash tests
assert that the list is empty after a sync that followed a fault.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from desktop.index import SearchIndex
from desktop.mail.parse import parse_summary
from desktop.mailgen import generate
from desktop.paths import Profile
from desktop.store import Store
from tests.helpers.dovecot import write_maildir_message

_MAILDIR_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}
_FETCH_CHUNK = 500


@dataclass(frozen=True)
class Copy:
    """One message as stored on the server or in the store."""

    message_id: str
    flags: frozenset[str]
    digest: str


def fill_maildir(maildir: Path, count: int, *, seed: int, folder: str | None = None) -> int:
    """Write ``count`` generated messages into a test user's Maildir and return the count.

    Each message goes to the folder mailgen chose for it, or to ``folder`` when given.
    """
    written = 0
    for message in generate(count, seed=seed):
        letters = "".join(_MAILDIR_LETTERS[flag] for flag in message.flags if flag in _MAILDIR_LETTERS)
        write_maildir_message(maildir, folder or message.folder, message.raw, flags=letters, when=message.date.timestamp())
        written += 1
    return written


def server_copies(host: str, port: int, user: str, password: str) -> dict[tuple[str, int], Copy]:
    """Return {(folder, uid): Copy} of every message on the server, read without changing anything."""
    client = IMAPClient(host, port=port, ssl=False, timeout=30)
    try:
        client.login(user, password)
        copies: dict[tuple[str, int], Copy] = {}
        for flags, _delimiter, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            copies.update(_folder_copies(client, name))
        return copies
    finally:
        client.logout()


def _folder_copies(client: IMAPClient, name: str) -> dict[tuple[str, int], Copy]:
    client.select_folder(name, readonly=True)
    uids = client.search("ALL")
    copies = {}
    for start in range(0, len(uids), _FETCH_CHUNK):
        response = client.fetch(uids[start : start + _FETCH_CHUNK], [b"FLAGS", b"BODY.PEEK[]"])
        for uid, data in response.items():
            flags = frozenset(flag.decode() for flag in data[b"FLAGS"] if flag.lower() != b"\\recent")
            copies[(name, uid)] = _copy(data[b"BODY[]"], flags)
    return copies


def store_copies(store: Store, account: str) -> tuple[dict[tuple[str, int], Copy], list[str]]:
    """Return {(folder, uid): Copy} of the account's stored messages, and the problems seen reading them."""
    copies: dict[tuple[str, int], Copy] = {}
    problems = []
    for folder in store.folders(account, with_counts=False):
        for row in store.messages(store.message_ids([folder.id])):
            raw = store.raw(row.id)
            if raw is None:
                problems.append(f"{folder.name} UID {row.uid}: stored without its raw bytes")
                continue
            key = (folder.name, row.uid)
            if key in copies:
                problems.append(f"{folder.name} UID {row.uid}: stored twice")
            copies[key] = _copy(raw, row.flags)
    return copies, problems


def _copy(raw: bytes, flags: Iterable[str]) -> Copy:
    return Copy(message_id=parse_summary(raw).message_id, flags=frozenset(flags), digest=hashlib.sha256(raw).hexdigest())


def copy_problems(server: dict[tuple[str, int], Copy], stored: dict[tuple[str, int], Copy]) -> list[str]:
    """Compare by folder and UID, then the Message-IDs of each folder as a multiset."""
    problems = [f"{folder} UID {uid}: on the server, not in the store" for folder, uid in sorted(server.keys() - stored.keys())]
    problems += [f"{folder} UID {uid}: in the store, gone from the server" for folder, uid in sorted(stored.keys() - server.keys())]
    for key in sorted(server.keys() & stored.keys()):
        if server[key].digest != stored[key].digest:
            problems.append(f"{key[0]} UID {key[1]}: stored bytes differ from the server's")
        if server[key].flags != stored[key].flags:
            problems.append(f"{key[0]} UID {key[1]}: flags {sorted(stored[key].flags)} in the store, {sorted(server[key].flags)} on the server")
    for folder in sorted({folder for folder, _uid in server.keys() | stored.keys()}):
        on_server = Counter(copy.message_id for (name, _uid), copy in server.items() if name == folder)
        in_store = Counter(copy.message_id for (name, _uid), copy in stored.items() if name == folder)
        for message_id in sorted((on_server - in_store).keys()):
            problems.append(f"{folder}: Message-ID {message_id} missing from the store")
        for message_id in sorted((in_store - on_server).keys()):
            problems.append(f"{folder}: Message-ID {message_id} stored {in_store[message_id]} time(s), {on_server[message_id]} on the server")
    return problems


def profile_problems(profile: Profile, account: str, host: str, port: int, user: str, password: str) -> list[str]:
    """List every difference between the profile's store and index and the server; empty when they agree."""
    server = server_copies(host, port, user, password)
    with Store(profile.store_file) as store:
        stored, problems = store_copies(store, account)
        problems += copy_problems(server, stored)
        problems += _index_problems(store, profile.index_dir)
    integrity = _integrity(profile.store_file)
    if integrity != ["ok"]:
        problems.append(f"PRAGMA integrity_check of the store: {integrity}")
    return problems


def _index_problems(store: Store, index_dir: Path) -> list[str]:
    problems = []
    backlog = store.index_backlog()
    if backlog:
        problems.append(f"{backlog} index change(s) still queued after the sync")
    index = SearchIndex(index_dir)
    try:
        documents = index.doc_count()
    finally:
        index.close()
    if documents != store.message_count():
        problems.append(f"the index holds {documents} document(s), the store {store.message_count()} message(s)")
    return problems


def _integrity(store_file: Path) -> list[str]:
    connection = sqlite3.connect(store_file)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()
