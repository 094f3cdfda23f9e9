"""Drafts: a local copy at every save, and one copy in the account's Drafts folder on the server.

``save_local`` writes the draft's fields as JSON to the outbox file
(``drafts`` table) and is cheap enough to run every few seconds while the
user types, so a crash loses at most the last few seconds.

``save_to_server`` builds the message and stores it in the account's Drafts
folder through the store's journal: an APPEND with the flags ``\\Draft`` and
``\\Seen``, then the previous copy is deleted for good (STORE ``\\Deleted``
and UID EXPUNGE of its UID). The journal replays both in order at the next
sync, or at once with ``push``. A copy that never reached the server is
simply dropped. Every copy of one draft has the draft's Message-ID, which
the sent message keeps too.

``discard`` removes both copies, after a send or when the user throws the
draft away.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from email import policy

from desktop.compose.build import Draft, build_message
from desktop.compose.outbox import Outbox, OutboxError
from desktop.config import Account

log = logging.getLogger(__name__)

DRAFT_FLAGS = ("\\Draft", "\\Seen")
# Folder names used as Drafts when the server marks none with the \Drafts special use (RFC 6154).
_DRAFT_NAMES = ("drafts", "draft", "inbox.drafts", "entwürfe", "brouillons")


@dataclass(frozen=True)
class SavedDraft:
    """A draft kept in the outbox file.

    Attributes:
        id: The draft's number.
        account: The sending account's name.
        draft: The fields as last saved.
        updated: When it was last saved locally (seconds since the epoch).
        server_message: The store row of its copy in the Drafts folder, or None.
    """

    id: int
    account: str
    draft: Draft
    updated: float
    server_message: int | None


class DraftStore:
    """Local and server copies of drafts.

    Args:
        outbox: The outbox file, which keeps the local copies.
    """

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def save_local(self, draft: Draft, draft_id: int | None = None) -> int:
        """Save ``draft`` in the outbox file; return its id (a new one when ``draft_id`` is None).

        A draft without a Message-ID takes the one its earlier save was given,
        so every copy of one draft keeps the same Message-ID.
        """
        if draft_id is not None and not draft.message_id:
            rows = self.outbox.query("SELECT data FROM drafts WHERE id = ?", (draft_id,))
            if rows:
                draft.message_id = json.loads(rows[0][0]).get("message_id", "")
        data = json.dumps(draft.to_dict())
        now = time.time()
        with self.outbox.transaction() as db:
            if draft_id is not None:
                cursor = db.execute("UPDATE drafts SET account = ?, data = ?, updated = ? WHERE id = ?",
                                    (draft.account, data, now, draft_id))
                if cursor.rowcount == 1:
                    return draft_id
            cursor = db.execute("INSERT INTO drafts (account, data, updated) VALUES (?, ?, ?)", (draft.account, data, now))
            new_id = int(cursor.lastrowid)
        log.debug("Saved draft %d of account %s locally", new_id, draft.account)
        return new_id

    def load(self, draft_id: int) -> SavedDraft:
        """Return a saved draft.

        Raises:
            OutboxError: no draft has that id.
        """
        rows = self.outbox.query("SELECT id, account, data, updated, server_message FROM drafts WHERE id = ?", (draft_id,))
        if not rows:
            raise OutboxError(f"Draft {draft_id} does not exist; it was sent or discarded.")
        return _saved(rows[0])

    def drafts(self, account: str | None = None) -> list[SavedDraft]:
        """Return the saved drafts, the latest first."""
        sql = "SELECT id, account, data, updated, server_message FROM drafts"
        params: tuple = ()
        if account is not None:
            sql += " WHERE account = ?"
            params = (account,)
        return [_saved(row) for row in self.outbox.query(sql + " ORDER BY updated DESC", params)]

    def save_to_server(self, draft_id: int, account: Account, store, *, push: bool = False) -> int | None:
        """Store the draft's message in the account's Drafts folder, replacing the previous copy.

        Returns the new copy's store row, or None when the account has no
        Drafts folder in the store (it keeps only the local copy then). With
        ``push``, the journal is sent to the server at once (see ``push_account``).

        Raises:
            BuildError: a field of the draft cannot go into a message.
        """
        saved = self.load(draft_id)
        folder = drafts_folder(store, account.name)
        if folder is None:
            log.warning("Account %s has no Drafts folder in the store; draft %d is kept locally only",
                        account.name, draft_id)
            return None
        draft = saved.draft
        message = build_message(draft, account)
        if message.get("To") is None and message.get("Cc") is None:
            # Some servers and clients expect a To header even on drafts; an empty group is valid (RFC 5322).
            message["To"] = "undisclosed-recipients:;"
        raw = message.as_bytes(policy=policy.SMTP)
        row_id = store.append_message(folder, raw, flags=DRAFT_FLAGS)
        self._delete_copies(store, account.name, folder, draft.message_id, keep=row_id, previous=saved.server_message)
        with self.outbox.transaction() as db:
            # build_message may have made the Message-ID just now, so the stored fields are updated too.
            db.execute("UPDATE drafts SET data = ?, server_message = ?, server_saved = ? WHERE id = ?",
                       (json.dumps(draft.to_dict()), row_id, time.time(), draft_id))
        log.info("Saved draft %d of account %s to its Drafts folder as message %d", draft_id, account.name, row_id)
        if push:
            push_account(account, store)
        return row_id

    def discard(self, draft_id: int, store=None, account: str | None = None) -> None:
        """Remove the local copy and, when ``store`` is given, the copy in the Drafts folder."""
        try:
            saved = self.load(draft_id)
        except OutboxError:
            return
        if store is not None:
            folder = drafts_folder(store, account or saved.account)
            if folder is not None:
                self._delete_copies(store, account or saved.account, folder, saved.draft.message_id, keep=None,
                                    previous=saved.server_message)
        with self.outbox.transaction() as db:
            db.execute("DELETE FROM drafts WHERE id = ?", (draft_id,))
        log.info("Discarded draft %d of account %s", draft_id, saved.account)

    @staticmethod
    def _delete_copies(store, account: str, folder: int, message_id: str, *, keep: int | None,
                       previous: int | None) -> None:
        """Delete for good the earlier copies of a draft in the Drafts folder."""
        ids = {previous} if previous is not None else set()
        if message_id:
            ids.update(store.ids_by_message_id(account, message_id, folder))
        ids.discard(keep)
        rows = [row for row in store.messages(sorted(ids)) if row.folder_id == folder and "\\Draft" in row.flags]
        if not rows:
            return
        # A copy must not go to Trash, as delete_messages would do, so it is deleted for good.
        store.delete_for_good([row.id for row in rows])
        log.debug("Deleted %d earlier copy(ies) of draft %s", len(rows), message_id)


def _saved(row: tuple) -> SavedDraft:
    return SavedDraft(id=row[0], account=row[1], draft=Draft.from_dict(json.loads(row[2])), updated=row[3],
                      server_message=row[4])


def drafts_folder(store, account: str) -> int | None:
    """Return the id of the account's Drafts folder: the one marked ``\\Drafts``, else one named Drafts."""
    return special_folder(store, account, "\\Drafts", _DRAFT_NAMES)


def special_folder(store, account: str, special_use: str, names: tuple[str, ...]) -> int | None:
    """Return the id of the account's folder with ``special_use``, else the first with one of ``names``."""
    folders = [folder for folder in store.folders(account, with_counts=False) if folder.selectable]
    for folder in folders:
        if folder.special_use == special_use:
            return folder.id
    for folder in folders:
        if folder.name.lower() in names:
            return folder.id
    return None


def push_account(account: Account, store, *, timeout: float = 30.0, ssl_context=None) -> str:
    """Send the account's pending journal (appends, deletes) to the IMAP server now; return "" or the error.

    A failure leaves the actions pending for the next sync and is returned
    as text, because the local copies are already safe.
    """
    if account.kind != "imap":
        return ""
    from imapclient.exceptions import IMAPClientError

    from desktop.sync.actions import replay_account
    from desktop.sync.connection import connect
    from desktop.sync.errors import SyncError
    from desktop.sync.service import logout

    account_id = store.account_id(account.name)
    if account_id is None:
        return f"Account {account.name!r} is not in the store yet; run 'sluice sync' first."
    try:
        client = connect(account, timeout=timeout, ssl_context=ssl_context)
    except SyncError as error:
        log.warning("Account %s is offline; its pending changes wait for the next sync: %s", account.name, error)
        return str(error)
    try:
        replay_account(client, store, account_id)
    except (OSError, IMAPClientError) as error:
        log.warning("Sending the pending changes of account %s stopped: %s", account.name, error)
        return str(error)
    finally:
        logout(client, account)
    return ""
