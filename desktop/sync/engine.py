"""Syncing one IMAP account's folders into the store.

Per folder the engine compares the server's UIDs with the store's:

1. A changed UIDVALIDITY means the server renumbered the folder, so the
   local copy is dropped and fetched again (RFC 3501 section 2.3.1.1). The
   UIDVALIDITY is stored before the first message, so a renumbering is also
   detected after a sync that stopped early.
2. Pending local flag changes from the action journal are sent first, so
   the server's flags read next already include them. A change the server
   rejects is dropped and its messages take the server's flags.
3. UIDs the server no longer has are deleted locally, and the flags of the
   rest are compared. For new UIDs the header block and BODYSTRUCTURE are
   fetched, newest first in batches, each batch one store transaction, so a
   crash leaves every message stored exactly once. Bodies follow in a later
   phase (``desktop.sync.bodies``).

With CONDSTORE (RFC 7162), a folder whose HIGHESTMODSEQ, UIDNEXT and
message count are unchanged costs one SELECT and nothing more, and in a
changed folder only the flags changed since the stored HIGHESTMODSEQ are
fetched (FETCH ... CHANGEDSINCE).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from desktop.store import NewMessage, Store
from desktop.sync import gmail
from desktop.sync.actions import replay_actions, uid_sets
from desktop.sync.responses import fetch_flags, response_flags, text
from desktop.sync.special_use import RemoteFolder, assign_roles

log = logging.getLogger(__name__)

FETCH_BATCH = 250
FLAGS_BATCH = 5000
HEADER_ITEMS = [b"FLAGS", b"RFC822.SIZE", b"INTERNALDATE", b"BODY.PEEK[HEADER]", b"BODYSTRUCTURE"]
_SPECIAL_USES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive", "\\All", "\\Flagged")


class FolderUnavailable(Exception):
    """The server refused to open a folder it had listed; the other folders can still be synced."""

    def __init__(self, folder: str, reason: str) -> None:
        super().__init__(f"The server did not open folder {folder!r}: {reason}")
        self.folder = folder
        self.reason = reason


@dataclass
class FolderProgress:
    """Progress of the sync of one folder."""

    folder: str
    phase: str  # "flags", "fetch" or "done"
    done: int
    total: int


@dataclass
class FolderResult:
    """Local changes made by the sync of one folder."""

    folder: str
    fetched: int = 0
    deleted: int = 0
    flags_changed: int = 0
    skipped_unchanged: bool = False
    reset: bool = False
    marked_for_rules: int = 0


def list_remote_folders(client: IMAPClient) -> list[RemoteFolder]:
    """Return (name, delimiter, special use, selectable) for every folder on the server.

    A role the server marks on no folder is guessed from common folder names.
    """
    return remote_folders(client.list_folders())


def remote_folders(listing: Sequence[tuple]) -> list[RemoteFolder]:
    """Turn imapclient's (flags, delimiter, name) LIST entries into RemoteFolder rows with their roles."""
    folders = []
    for flags, delimiter, name in listing:
        flag_texts = {text(flag) for flag in flags}
        lowered = {flag.lower() for flag in flag_texts}
        selectable = "\\noselect" not in lowered and "\\nonexistent" not in lowered
        special = next((use for use in _SPECIAL_USES if use.lower() in lowered), "")
        folders.append(RemoteFolder(text(name), text(delimiter or b"/"), special, selectable))
    folders = assign_roles(folders)
    return folders


def sync_folder(
    client: IMAPClient,
    store: Store,
    folder_id: int,
    name: str,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    mark_for_rules: bool = False,
) -> Iterator[FolderProgress | FolderResult]:
    """Sync one folder; yield progress and, last, a FolderResult.

    With ``mark_for_rules`` new messages are stored with the ``rules_pending``
    mark, for the rules to see before the window shows them. The first sync
    of a folder and a refetch after a renumbering never mark anything,
    because everything in the folder is new to the store then, not new mail.
    """
    result = FolderResult(folder=name)
    condstore = b"CONDSTORE" in client.capabilities()
    try:
        info = client.select_folder(name, readonly=False)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as error:
        # A NO: another client deleted or renamed the folder after the LIST, or it may not be opened.
        raise FolderUnavailable(name, str(error)) from error
    uidvalidity = int(info.get(b"UIDVALIDITY", 0)) or None
    uidnext = int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None
    exists = int(info.get(b"EXISTS", 0))
    modseq = int(info[b"HIGHESTMODSEQ"]) if condstore and b"HIGHESTMODSEQ" in info else None
    state = store.folder(folder_id)

    if state and state.uidvalidity is not None and state.uidvalidity != uidvalidity:
        log.warning("UIDVALIDITY of %s changed from %s to %s; fetching the folder again", name, state.uidvalidity, uidvalidity)
        store.clear_folder(folder_id)
        result.reset = True
        state = store.folder(folder_id)
    # A folder whose sync never finished has no UIDNEXT yet; its messages are old mail arriving in the store.
    mark_new = mark_for_rules and not result.reset and state is not None and state.uidnext is not None
    if state is None or state.uidvalidity is None:
        # Recorded before the first message is stored, so that after a sync that
        # stopped early the next one can still detect a renumbering.
        store.set_uidvalidity(folder_id, uidvalidity)

    replay_actions(client, store, folder_id, uidvalidity)
    local = store.local_flags(folder_id)
    if _unchanged(state, uidnext, modseq, exists, len(local)):
        log.debug("Folder %s unchanged since the last sync", name)
        result.skipped_unchanged = True
        yield result
        return

    server_uids = _server_uids(client, store, folder_id, state, local, exists)
    missing = set(local) - server_uids
    # A negative UID is a placeholder of a journaled move or append; it stays while that action is pending.
    gone = {uid for uid in missing if uid > 0} | store.stale_placeholders(missing)
    if gone:
        result.deleted = store.delete_uids(folder_id, gone)
    kept = sorted(server_uids & set(local))
    # With a stored HIGHESTMODSEQ only flags changed since then are fetched.
    since = state.highestmodseq if modseq is not None and state and state.highestmodseq else None
    yield from _sync_flags(client, store, folder_id, name, kept, local, result, cancelled, since)

    new = sorted(server_uids - set(local), reverse=True)
    yield from _fetch_new(client, store, folder_id, name, new, result, cancelled, mark_new)
    if cancelled():
        yield result
        return

    # HIGHESTMODSEQ is recorded only after every change up to it is stored.
    store.set_folder_state(folder_id, uidvalidity=uidvalidity, uidnext=uidnext, highestmodseq=modseq)
    yield result


def _server_uids(client: IMAPClient, store: Store, folder_id: int, state, local, exists: int) -> set[int]:
    """Return the UIDs the server has in the selected folder.

    UIDs only grow (RFC 3501 section 2.3.1.1), and the last complete sync
    stored every UID below the UIDNEXT it recorded. So when the UIDs from
    that UIDNEXT on plus the stored ones add up to the server's message
    count, nothing was expunged, and only the new UIDs need a SEARCH. That
    keeps new mail in a big folder from costing a list of all its UIDs.
    """
    if not exists:
        return set()
    known = {uid for uid in local if uid > 0}
    # A stored UID at or above UIDNEXT (a sync cut short, a move into the folder) or a failed action means
    # the store may differ from the server below UIDNEXT too, so the full list is read.
    if state is not None and state.uidnext and known and max(known) < state.uidnext \
            and not store.has_failed_actions(folder_id):
        # "N:*" includes the highest UID even when it is below N (RFC 3501 section 6.4.8), hence the filter.
        arrived = {uid for uid in client.search(["UID", f"{state.uidnext}:*"]) if uid >= state.uidnext}
        if exists == len(known) + len(arrived):
            return known | arrived
        log.debug("Folder %d lost messages since the last sync; reading all its UIDs", folder_id)
    return set(client.search("ALL"))


def _unchanged(state, uidnext: int | None, modseq: int | None, exists: int, local_count: int) -> bool:
    if state is None or modseq is None or state.highestmodseq is None:
        return False
    return state.highestmodseq == modseq and state.uidnext == uidnext and exists == local_count


def _sync_flags(client, store, folder_id, name, uids: Sequence[int], local, result: FolderResult, cancelled,
                since: int | None) -> Iterator[FolderProgress]:
    modifiers = [f"CHANGEDSINCE {since}"] if since is not None else None
    labels = gmail.label_reader(client, store, folder_id)
    for start in range(0, len(uids), FLAGS_BATCH):
        if cancelled():
            return
        chunk = uids[start : start + FLAGS_BATCH]
        if labels is None:
            # Flags alone: the quick reader, and the UIDs sent as ranges.
            server_flags: dict[int, frozenset[str]] = {}
            for uid_set in uid_sets(chunk):
                server_flags.update(fetch_flags(client, uid_set, since))
        else:
            response = client.fetch(list(chunk), [b"FLAGS", *gmail.fetch_items(labels)], modifiers=modifiers)
            server_flags = {uid: response_flags(data.get(b"FLAGS", ())) for uid, data in response.items()}
            gmail.store_labels(store, folder_id, labels, response)
        changes = {uid: flags for uid, flags in server_flags.items() if flags != local.get(uid)}
        if changes:
            result.flags_changed += store.update_flags(folder_id, changes)
        yield FolderProgress(name, "flags", min(start + FLAGS_BATCH, len(uids)), len(uids))


def _fetch_new(client, store, folder_id, name, uids: Sequence[int], result: FolderResult, cancelled,
               mark_new: bool) -> Iterator[FolderProgress]:
    total = len(uids)
    if not total:
        return
    started = time.monotonic()
    labels = gmail.label_reader(client, store, folder_id)
    yield FolderProgress(name, "fetch", 0, total)
    for start in range(0, total, FETCH_BATCH):
        if cancelled():
            log.info("Sync of %s cancelled after %d of %d messages", name, start, total)
            return
        chunk = list(uids[start : start + FETCH_BATCH])
        response = client.fetch(chunk, HEADER_ITEMS + gmail.fetch_items(labels))
        batch = [_new_message(uid, data, labels) for uid, data in response.items() if b"BODY[HEADER]" in data]
        missing = len(chunk) - len(batch)
        if missing:
            # Expunged between SEARCH and FETCH: the next sync removes them locally.
            log.debug("%d message(s) of %s vanished during the fetch", missing, name)
        inserted = store.insert_messages(folder_id, batch, rules_pending=mark_new)
        result.fetched += len(batch)
        if mark_new:
            result.marked_for_rules += len(inserted)
        yield FolderProgress(name, "fetch", min(start + FETCH_BATCH, total), total)
    elapsed = time.monotonic() - started
    log.info("Fetched the headers of %d message(s) of %s in %.1f s", result.fetched, name, elapsed)


def _new_message(uid: int, data: dict, labels: gmail.LabelReader | None = None) -> NewMessage:
    header = data[b"BODY[HEADER]"]
    internal = data.get(b"INTERNALDATE")
    if isinstance(internal, datetime) and internal.tzinfo is None:
        internal = internal.replace(tzinfo=timezone.utc)
    # Imported on the first new message, so a sync with no new mail never loads the email package.
    from desktop.mail.parse import parse_summary

    summary = parse_summary(header)
    structure = data.get(b"BODYSTRUCTURE")
    if structure is not None:
        # The header block alone cannot show attachments inside a multipart body.
        summary.has_attachment = summary.has_attachment or structure_has_attachment(structure)
    return NewMessage(
        uid=uid,
        flags=sorted(response_flags(data.get(b"FLAGS", ()))),
        size=int(data.get(b"RFC822.SIZE", len(header))),
        raw=None,
        summary=summary,
        internal_date=internal if isinstance(internal, datetime) else None,
        gm_msgid=labels.msgid(data) if labels else None,
        labels=(labels.labels(data) or []) if labels else (),
    )


def structure_has_attachment(structure: object) -> bool:
    """Return whether a parsed BODYSTRUCTURE (RFC 3501 section 7.4.2) has a part with a file name or an attachment disposition.

    The check matches what ``parse_summary`` looks for in a whole message:
    a disposition of ``attachment`` or a ``filename`` parameter anywhere.
    It walks every nested list, because the position of the disposition
    differs between text, message/rfc822, other single parts and multiparts.
    """
    if isinstance(structure, bytes | str):
        return False
    if not isinstance(structure, list | tuple):
        return False
    if _is_disposition(structure):
        return True
    return any(structure_has_attachment(item) for item in structure)


def _is_disposition(node: list | tuple) -> bool:
    """Return whether ``node`` is a body disposition ``(type, parameters)`` of an attachment or with a file name."""
    if len(node) != 2 or not isinstance(node[0], bytes):
        return False
    kind, parameters = node
    if kind.lower() == b"attachment":
        return True
    if not isinstance(parameters, list | tuple):
        return False
    keys = parameters[0::2]
    return any(isinstance(key, bytes) and key.lower().startswith(b"filename") for key in keys)
