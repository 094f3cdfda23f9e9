"""Syncing a whole profile: every account, every folder, then the index.

``sync_profile`` is a generator so the command line can print its progress
and the window can run it on a worker thread and show it; both stop it
through a CancelToken. It opens its own store connection and index in the
calling thread, as SQLite connections and IMAP connections belong to one
thread each.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from desktop.config import Account, load_config
from desktop.index import SearchIndex
from desktop.index.builder import update_index
from desktop.paths import Profile
from desktop.store import Store
from desktop.sync.connection import connect
from desktop.sync.engine import FolderProgress, FolderResult, list_remote_folders, sync_folder
from desktop.sync.errors import SyncError, SyncFailures

log = logging.getLogger(__name__)


class CancelToken:
    """A thread-safe flag that asks a running sync to stop soon."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class SyncProgress:
    """One step of a profile sync.

    Attributes:
        phase: ``connect``, ``folders``, ``flags``, ``fetch``, ``folder-done``,
            ``index``, ``account-done``, ``cancelled`` or ``error``.
        done, total: Messages (or index entries) done of the total, when known.
        text: A one-line description for a status bar or a terminal.
    """

    account: str
    folder: str
    phase: str
    done: int
    total: int
    text: str


def sync_profile(profile: Profile, *, account: str | None = None, cancel: CancelToken | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> Iterator[SyncProgress]:
    """Sync the profile's IMAP accounts (or one of them) and update the index.

    Raises:
        SyncFailures: after the other accounts were synced, when any failed.
        ConfigError: when ``account`` is unknown or the config is invalid.
    """
    token = cancel or CancelToken()
    config = load_config(profile.config_file)
    accounts = config.selected(account)
    failures: list[SyncError] = []
    with Store(profile.store_file) as store:
        index = SearchIndex(profile.index_dir)
        try:
            for entry in accounts:
                if token.cancelled:
                    break
                if entry.kind != "imap":
                    continue
                try:
                    yield from _sync_account(entry, store, token, ssl_context)
                except SyncError as error:
                    log.error("Sync of account %s failed (%s): %s", entry.name, error.cause, error)
                    failures.append(error)
                    yield SyncProgress(entry.name, "", "error", 0, 0, str(error))
            yield from _index(store, index, token)
        finally:
            index.close()
    if token.cancelled:
        yield SyncProgress(account or "", "", "cancelled", 0, 0, "Sync cancelled; what was fetched is kept.")
    if failures:
        raise SyncFailures(failures)


def _index(store: Store, index: SearchIndex, token: CancelToken) -> Iterator[SyncProgress]:
    for step in update_index(store, index, cancelled=lambda: token.cancelled):
        yield SyncProgress("", "", "index", step.done, step.total, f"Indexing {step.done}/{step.total}")


def _sync_account(account: Account, store: Store, token: CancelToken, ssl_context: ssl.SSLContext | None) -> Iterator[SyncProgress]:
    yield SyncProgress(account.name, "", "connect", 0, 0, f"{account.name}: connecting to {account.imap_host}")
    client = connect(account, ssl_context=ssl_context)
    try:
        yield from _sync_folders(client, account, store, token)
    except (OSError, IMAPClientError) as error:
        raise SyncError(account.name, "network", f"Sync of account {account.name!r} stopped: {error}. What was fetched is kept; sync again to continue.") from error
    finally:
        _logout(client, account)


def _sync_folders(client: IMAPClient, account: Account, store: Store, token: CancelToken) -> Iterator[SyncProgress]:
    account_id = store.ensure_account(account.name, "imap")
    remote = list_remote_folders(client)
    yield SyncProgress(account.name, "", "folders", 0, len(remote), f"{account.name}: {len(remote)} folder(s)")
    _drop_vanished_folders(store, account.name, {name for name, *_ in remote})
    for name, delimiter, special_use, selectable in remote:
        folder_id = store.upsert_folder(account_id, name, delimiter=delimiter, special_use=special_use, selectable=selectable)
        if not selectable:
            continue
        if token.cancelled:
            return
        yield from _sync_one(client, store, account, folder_id, name, token)
    yield SyncProgress(account.name, "", "account-done", 0, 0, f"{account.name}: synced")


def _sync_one(client: IMAPClient, store: Store, account: Account, folder_id: int, name: str, token: CancelToken) -> Iterator[SyncProgress]:
    for step in sync_folder(client, store, folder_id, name, cancelled=lambda: token.cancelled):
        if isinstance(step, FolderProgress):
            verb = "fetching" if step.phase == "fetch" else "checking flags"
            yield SyncProgress(account.name, name, step.phase, step.done, step.total,
                               f"{account.name}/{name}: {verb} {step.done}/{step.total}")
        elif isinstance(step, FolderResult):
            text = (f"{account.name}/{name}: {step.fetched} new, {step.deleted} removed, "
                    f"{step.flags_changed} flag change(s)" + (" (renumbered on the server)" if step.reset else ""))
            yield SyncProgress(account.name, name, "folder-done", step.fetched, step.fetched, text)


def _drop_vanished_folders(store: Store, account: str, remote_names: set[str]) -> None:
    for folder in store.folders(account, with_counts=False):
        if folder.name not in remote_names:
            removed = store.delete_folder(folder.id)
            log.info("Folder %s of account %s is gone from the server; removed it and %d local message(s)", folder.name, account, removed)


def _logout(client: IMAPClient, account: Account) -> None:
    try:
        client.logout()
    except (OSError, IMAPClientError, socket.error) as error:
        log.debug("Logout of account %s failed: %s", account.name, error)
