"""Gmail's IMAP extension (X-GM-EXT-1): message ids, labels and one download per message.

Gmail shows each label as a folder and every message in "[Gmail]/All Mail"
(special use ``\\All``), so one message is seen in several folders, with the
same X-GM-MSGID in each. When the server lists X-GM-EXT-1:

- the header fetch of new messages also reads X-GM-MSGID and X-GM-LABELS,
  and the flag sync reads X-GM-LABELS, so labels changed by another client
  show after the next sync;
- a body is fetched once per X-GM-MSGID and copied to the other rows of the
  same message (``bodies_to_fetch`` and ``Store.store_bodies_with_twins``);
- label changes are journaled and sent as STORE +X-GM-LABELS / -X-GM-LABELS.

Without the capability every function here leaves the sync as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7

from desktop.store import Store
from desktop.store.bodies import MissingBody
from desktop.sync.responses import text

log = logging.getLogger(__name__)

CAPABILITY = b"X-GM-EXT-1"
MSGID = b"X-GM-MSGID"
LABELS = b"X-GM-LABELS"

# The label a message carries to show in a folder with this special use (RFC 6154).
# Trash, Spam and All Mail are not labels that X-GM-LABELS reports.
_SPECIAL_USE_LABELS = {"\\Sent": "\\Sent", "\\Drafts": "\\Draft", "\\Flagged": "\\Starred", "\\Important": "\\Important"}
_SYSTEM_PREFIXES = ("[Gmail]/", "[Google Mail]/")


def has_gmail(client: IMAPClient) -> bool:
    """Return whether the server speaks Gmail's extension."""
    return CAPABILITY in client.capabilities()


@dataclass(frozen=True)
class LabelReader:
    """Reads X-GM-MSGID and X-GM-LABELS from FETCH responses of one folder.

    Gmail leaves the label of the selected folder out of X-GM-LABELS, so the
    folder's own label (``\\Inbox`` for INBOX, the name of a label folder) is
    added to what the server sends.
    """

    own_label: str | None

    items: tuple[bytes, ...] = (MSGID, LABELS)

    def msgid(self, data: Mapping[bytes, object]) -> int | None:
        value = data.get(MSGID)
        return int(value) if value is not None else None

    def labels(self, data: Mapping[bytes, object]) -> list[str] | None:
        """Return the message's labels, or None when the response has no X-GM-LABELS."""
        values = data.get(LABELS)
        if values is None:
            return None
        if isinstance(values, bytes | str | int):
            values = (values,)
        # Labels come in modified UTF-7, as folder names do (RFC 3501 section 5.1.3).
        labels = {decode_utf7(value) if isinstance(value, bytes) else text(str(value)) for value in values}
        if self.own_label:
            labels.add(self.own_label)
        return sorted(labels)


def label_reader(client: IMAPClient, store: Store, folder_id: int) -> LabelReader | None:
    """Return the reader for a folder of a Gmail account, or None when the server lacks X-GM-EXT-1."""
    if not has_gmail(client):
        return None
    folder = store.folder(folder_id)
    if folder is None:
        return None
    return LabelReader(folder_label(folder.name, folder.special_use))


def folder_label(name: str, special_use: str) -> str | None:
    """Return the label a message carries to show in folder ``name``, or None for All Mail, Trash, Spam and the like."""
    if name.upper() == "INBOX":
        return "\\Inbox"
    if special_use:
        return _SPECIAL_USE_LABELS.get(special_use)
    if name.startswith(_SYSTEM_PREFIXES):
        return None
    return name


def fetch_items(reader: LabelReader | None) -> list[bytes]:
    """Return the FETCH items to add for Gmail (none without X-GM-EXT-1)."""
    return list(reader.items) if reader is not None else []


def store_labels(store: Store, folder_id: int, reader: LabelReader | None, response: Mapping[int, Mapping]) -> int:
    """Store the labels of a FETCH response whose labels differ from the stored ones; return how many rows changed."""
    if reader is None:
        return 0
    stored = store.local_labels(folder_id)
    changes = {}
    for uid, data in response.items():
        labels = reader.labels(data)
        if labels is not None and labels != stored.get(uid):
            changes[uid] = labels
    if not changes:
        return 0
    changed = store.update_labels(folder_id, changes)
    log.debug("Labels of %d message(s) of folder %d changed on the server", len(changes), folder_id)
    return changed


def read_server_labels(client: IMAPClient, store: Store, folder_id: int, uids: Sequence[int]) -> int:
    """Fetch and store the server's labels of ``uids`` in the selected folder ``folder_id``."""
    reader = label_reader(client, store, folder_id)
    if reader is None or not uids:
        return 0
    response = client.fetch(list(uids), [LABELS])
    return store_labels(store, folder_id, reader, response)


def bodies_to_fetch(client: IMAPClient, store: Store, account_id: int, missing: Sequence[MissingBody]) -> list[MissingBody]:
    """Return the bodies to download: one row per X-GM-MSGID on Gmail, all of ``missing`` elsewhere.

    The rows left out get their body from the fetched row when it is stored
    with ``Store.store_bodies_with_twins``. The order (newest first) is kept.
    """
    if not has_gmail(client) or not missing:
        return list(missing)
    msgids = store.gm_msgids([item.message_id for item in missing])
    seen: set[int] = set()
    chosen = []
    for item in missing:
        msgid = msgids.get(item.message_id)
        if msgid is not None:
            if msgid in seen:
                continue
            seen.add(msgid)
        chosen.append(item)
    if len(chosen) < len(missing):
        log.info("Account %d: %d body(ies) to fetch for %d message row(s); the rest are the same Gmail messages",
                 account_id, len(chosen), len(missing))
    return chosen
