"""Fetching message bodies after the headers, in the background or on demand.

The folder sync (``desktop.sync.engine``) stores only headers for new mail.
Once every folder of an account has its headers, ``fetch_missing_bodies``
fetches the bodies still missing, newest first across the account's folders,
in batches. Each batch is one store transaction, so a cut or a kill keeps
every finished batch, and the next sync fetches the rest. ``fetch_body``
fetches one message's body over a connection of its own, for the reader.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from desktop.config import Account, load_config
from desktop.paths import Profile
from desktop.store import Store
from desktop.store.bodies import MissingBody
from desktop.sync import gmail
from desktop.sync.connection import classify_error, connect
from desktop.sync.errors import SyncError

log = logging.getLogger(__name__)

BODY_BATCH = 250
BODY_BATCH_BYTES = 16 * 1024 * 1024
"""A batch ends at BODY_BATCH messages or once it reaches this many bytes, so one transaction stays small."""


@dataclass
class BodyProgress:
    """Progress of the body phase of one account."""

    done: int
    total: int


def body_size_limit(account: Account) -> int | None:
    """Return the largest message size in bytes fetched in the background, or None for no limit."""
    if account.offline_size_limit_kb == 0:
        return None
    return account.offline_size_limit_kb * 1024


def fetch_missing_bodies(
    client: IMAPClient,
    account: Account,
    store: Store,
    *,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[BodyProgress]:
    """Fetch the bodies of the account's stored messages that have none, newest first.

    Does nothing when the account's ``offline`` setting is off. Messages
    larger than ``offline_size_limit_kb`` are left for ``fetch_body``.
    """
    if not account.offline:
        log.debug("Account %s keeps headers only; no bodies fetched in the background", account.name)
        return
    account_id = store.account_id(account.name)
    if account_id is None:
        return
    if gmail.has_gmail(client):
        # A Gmail message stored in several folders needs one download (see desktop.sync.gmail).
        store.copy_twin_bodies(account_id)
    missing = gmail.bodies_to_fetch(client, store, account_id, store.missing_bodies(account_id, max_size=body_size_limit(account)))
    total = len(missing)
    if not total:
        return
    started = time.monotonic()
    log.info("Fetching %d missing body(ies) of account %s", total, account.name)
    yield BodyProgress(0, total)
    selection = _Selection(client)
    done = 0
    for batch in _batches(missing):
        if cancelled():
            log.info("Body fetch of account %s cancelled after %d of %d", account.name, done, total)
            return
        store.store_bodies_with_twins(_fetch_batch(selection, batch))
        done += len(batch)
        yield BodyProgress(done, total)
    log.info("Fetched %d body(ies) of account %s in %.1f s", total, account.name, time.monotonic() - started)


def _batches(missing: Sequence[MissingBody]) -> Iterator[list[MissingBody]]:
    batch: list[MissingBody] = []
    size = 0
    for item in missing:
        batch.append(item)
        size += item.size
        if len(batch) >= BODY_BATCH or size >= BODY_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _Selection:
    """The folder selected on a connection, so that a batch from the same folder needs no new SELECT."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        self.folder: str | None = None
        self.uidvalidity: int | None = None

    def select(self, folder: str) -> int | None:
        """Select ``folder`` read-only (EXAMINE, which sets no \\Seen) and return its UIDVALIDITY."""
        if folder != self.folder:
            info = self.client.select_folder(folder, readonly=True)
            self.folder = folder
            self.uidvalidity = int(info.get(b"UIDVALIDITY", 0)) or None
        return self.uidvalidity


def _fetch_batch(selection: _Selection, batch: list[MissingBody]) -> dict[int, bytes]:
    """Fetch the bodies of one batch, folder by folder; return {message id: raw bytes}."""
    by_folder: dict[str, list[MissingBody]] = {}
    for item in batch:
        by_folder.setdefault(item.folder, []).append(item)
    bodies: dict[int, bytes] = {}
    for folder, items in by_folder.items():
        bodies.update(_fetch_folder_bodies(selection, folder, items))
    return bodies


def _fetch_folder_bodies(selection: _Selection, folder: str, items: list[MissingBody]) -> dict[int, bytes]:
    uidvalidity = selection.select(folder)
    if uidvalidity != items[0].uidvalidity:
        # The folder was renumbered since its headers were stored; its next sync fetches it again.
        log.warning("UIDVALIDITY of %s is %s, stored %s; skipping its bodies until the folder is synced again",
                    folder, uidvalidity, items[0].uidvalidity)
        return {}
    ids_by_uid = {item.uid: item.message_id for item in items}
    response = selection.client.fetch(list(ids_by_uid), [b"BODY.PEEK[]"])
    bodies = {ids_by_uid[uid]: data[b"BODY[]"] for uid, data in response.items() if uid in ids_by_uid and b"BODY[]" in data}
    if len(bodies) < len(items):
        # Expunged since the header phase: the next sync removes them locally.
        log.debug("%d message(s) of %s vanished before their body was fetched", len(items) - len(bodies), folder)
    return bodies


def fetch_body(profile: Profile, message_id: int, *, ssl_context: ssl.SSLContext | None = None) -> bytes:
    """Return the raw bytes of one stored message, fetching and storing them first when only its headers are stored.

    Opens a connection of its own, so call it from a worker thread.

    Raises:
        SyncError: when the message is not stored, its account is not configured,
            the server cannot be reached, or the server no longer has the message.
        ConfigError: when the config file is invalid.
    """
    with Store(profile.store_file) as store:
        raw = store.raw(message_id)
        if raw is not None:
            return raw
        raw = store.copy_body_from_twin(message_id)
        if raw is not None:
            return raw
        location = store.body_location(message_id)
        if location is None:
            raise SyncError("", "missing", f"Message {message_id} is not in the store any more; sync and select it again.")
        account = _configured_account(profile, location.account)
        log.info("Fetching the body of message %d (account %s, %s UID %d)", message_id, account.name, location.folder, location.uid)
        raw = _fetch_one(account, location, ssl_context)
        store.store_bodies_with_twins({message_id: raw})
        return raw


def _configured_account(profile: Profile, name: str) -> Account:
    config = load_config(profile.config_file)
    account = config.accounts.get(name)
    if account is None or account.kind != "imap":
        raise SyncError(name, "config", f"Account {name!r} is not an IMAP account in {profile.config_file}; "
                        "add it again with 'sluice account add'.")
    return account


def _fetch_one(account: Account, location: MissingBody, ssl_context: ssl.SSLContext | None) -> bytes:
    client = connect(account, ssl_context=ssl_context)
    try:
        selection = _Selection(client)
        bodies = _fetch_folder_bodies(selection, location.folder, [location])
    except (OSError, IMAPClientError) as error:
        raise classify_error(account, error, after="The message's headers are still shown.") from error
    finally:
        _logout(client, account)
    if location.message_id not in bodies:
        raise SyncError(account.name, "missing",
                        f"The server no longer has this message ({location.folder} UID {location.uid}); sync to update the list.")
    return bodies[location.message_id]


def _logout(client: IMAPClient, account: Account) -> None:
    try:
        client.logout()
    except (OSError, IMAPClientError, socket.error) as error:
        log.debug("Logout of account %s failed: %s", account.name, error)
