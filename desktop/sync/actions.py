"""Sending the action journal to the server.

Each pending action of the store is sent in the order the user made it,
and marked done only after the server answered OK. Sending one again after
a crash is harmless: setting a flag that is set already changes nothing.
"""

from __future__ import annotations

import logging

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from desktop.store import Store
from desktop.sync.responses import response_flags

log = logging.getLogger(__name__)


def replay_account(client: IMAPClient, store: Store, account_id: int) -> int:
    """Send every pending action of the account, folder by folder in journal order; return how many were pending.

    Called after the folder list is stored and before any folder is synced,
    so that the server state the sync reads already includes local changes.
    """
    pending = store.pending_actions(account_id)
    folder_order = list(dict.fromkeys(action[1] for action in pending))
    for folder_id in folder_order:
        folder = store.folder(folder_id)
        if folder is None or not folder.selectable:
            continue
        info = client.select_folder(folder.name, readonly=False)
        replay_actions(client, store, folder_id, int(info.get(b"UIDVALIDITY", 0)) or None)
    if pending:
        log.info("Sent %d pending action(s) of account %d", len(pending), account_id)
    return len(pending)


def replay_actions(client: IMAPClient, store: Store, folder_id: int, uidvalidity: int | None) -> None:
    """Send journaled flag changes of this folder to the server, oldest first."""
    rejected: set[int] = set()
    for action_id, action_folder, action_validity, kind, payload in store.pending_actions(store_account_of(store, folder_id)):
        if action_folder != folder_id:
            continue
        if action_validity is not None and action_validity != uidvalidity:
            store.finish_action(action_id, error="the folder was renumbered (UIDVALIDITY changed) before the change was sent")
            log.warning("Dropped action %d: UIDVALIDITY of folder %d changed", action_id, folder_id)
            continue
        if kind != "flags":
            continue
        uids = payload["uids"]
        try:
            if payload["add"]:
                client.add_flags(uids, payload["add"], silent=True)
            if payload["remove"]:
                client.remove_flags(uids, payload["remove"], silent=True)
        except IMAPClientAbortError:
            # The connection is gone: the action stays pending, and STORE is
            # idempotent, so sending it again in the next sync is safe.
            raise
        except IMAPClientError as error:
            # The server rejected it (NO or BAD). Sent again in a later sync, it
            # would land after the changes journaled after it and undo them.
            store.finish_action(action_id, error=f"the server rejected the flag change: {error}")
            log.warning("The server rejected action %d of folder %d, so it was dropped: %s", action_id, folder_id, error)
            rejected.update(uids)
            continue
        store.finish_action(action_id)
        log.debug("Sent action %d (%d message(s)) to folder %d", action_id, len(uids), folder_id)
    if rejected:
        _take_server_flags(client, store, folder_id, sorted(rejected))


def _take_server_flags(client: IMAPClient, store: Store, folder_id: int, uids: list[int]) -> None:
    """Store the server's flags of ``uids``.

    Messages of a rejected change still show it locally, and a CONDSTORE flag
    fetch would not list them, because the server never changed them.
    """
    response = client.fetch(uids, [b"FLAGS"])
    store.update_flags(folder_id, {uid: response_flags(data.get(b"FLAGS", ())) for uid, data in response.items()})


def store_account_of(store: Store, folder_id: int) -> int:
    folder = store.folder(folder_id)
    return folder.account_id if folder else -1
