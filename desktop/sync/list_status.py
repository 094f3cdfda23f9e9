"""The folder list and every folder's state in one command (LIST-STATUS, RFC 5819).

With CONDSTORE on, a folder whose UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and
message count all equal the stored ones has not changed since the last sync
(RFC 7162 section 3.1.2.1: every flag change and expunge raises the
HIGHESTMODSEQ). Read for all folders at once, that state lets a sync skip
unchanged folders without a SELECT each, so a resync of an unchanged
account costs LOGIN, one LIST and LOGOUT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from imapclient import IMAPClient, imap_utf7
from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_response

from desktop.store import FolderRow
from desktop.sync.connection import condstore_enabled
from desktop.sync.engine import list_remote_folders, remote_folders
from desktop.sync.special_use import RemoteFolder

log = logging.getLogger(__name__)

_STATUS_ITEMS = "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"


@dataclass(frozen=True)
class FolderStatus:
    """A folder's state as STATUS reports it."""

    messages: int
    uidnext: int | None
    uidvalidity: int | None
    highestmodseq: int | None


def list_folders_with_status(client: IMAPClient, account: str) -> tuple[list[RemoteFolder], dict[str, FolderStatus]]:
    """Return the folders and, when the server has LIST-STATUS and CONDSTORE is on, each folder's status by name.

    Without LIST-STATUS, or when the server rejects the extended LIST, the
    folders come from a plain LIST and the status map is empty.
    """
    capabilities = client.capabilities()
    if b"LIST-STATUS" not in capabilities or not condstore_enabled(client):
        return list_remote_folders(client), {}
    returned = f"(SPECIAL-USE STATUS {_STATUS_ITEMS})" if b"SPECIAL-USE" in capabilities else f"(STATUS {_STATUS_ITEMS})"
    # imapclient 4.1 has no LIST ... RETURN, so the command goes through its
    # imaplib connection, as imapclient's own list_folders does.
    imap = client._imap
    try:
        kind, data = imap._simple_command("LIST", '""', '"*"', "RETURN", returned)
        client._checkok("list", kind, data)
    except IMAPClientError as error:
        log.warning("LIST-STATUS failed for account %s, so each folder is selected instead: %s", account, error)
        imap.untagged_responses.pop("STATUS", None)
        return list_remote_folders(client), {}
    _kind, listed = imap._untagged_response(kind, data, "LIST")
    _kind, statuses = imap._untagged_response(kind, data, "STATUS")
    folders = remote_folders(client._proc_folder_list(listed))
    return folders, _parse_statuses(client, statuses)


def _parse_statuses(client: IMAPClient, lines: list) -> dict[str, FolderStatus]:
    items = [line for line in lines if line not in (b"", None)]
    if not items:
        return {}
    parsed = parse_response(items)
    statuses = {}
    for position in range(0, len(parsed) - 1, 2):
        name, values = parsed[position], parsed[position + 1]
        if isinstance(name, int):
            name = str(name)
        elif isinstance(name, bytes):
            name = imap_utf7.decode(name) if client.folder_encode else name.decode("utf-8", "replace")
        pairs = dict(zip(values[::2], values[1::2]))
        statuses[name] = FolderStatus(
            messages=int(pairs.get(b"MESSAGES", 0)),
            uidnext=_number(pairs.get(b"UIDNEXT")),
            uidvalidity=_number(pairs.get(b"UIDVALIDITY")),
            highestmodseq=_number(pairs.get(b"HIGHESTMODSEQ")),
        )
    return statuses


def _number(value: object) -> int | None:
    return int(value) if value is not None else None


def unchanged_since_sync(folder: FolderRow | None, status: FolderStatus | None) -> bool:
    """Return whether the stored state of ``folder`` still matches the server's ``status``."""
    if folder is None or status is None or status.highestmodseq is None or folder.highestmodseq is None:
        return False
    return (
        folder.uidvalidity == status.uidvalidity
        and folder.uidnext == status.uidnext
        and folder.highestmodseq == status.highestmodseq
        and folder.total == status.messages
    )
