"""The window's side of writing mail: drafts, the outbox and its send loop, contacts, off the GUI thread.

``ComposeService`` owns the outbox file, the shared ``SmtpSender`` and the
``OutboxSender`` loop of the window. Every store or outbox write it does for
a composer (autosave, queueing, discarding) runs in one worker thread, in
the order asked, so a send always follows the last autosave of its draft.
Results come back to the GUI thread as signals.

A composer keeps a ``DraftSlot``: the number of its local draft, set by the
worker at the first save. Only the worker touches it after that.
"""

from __future__ import annotations

import concurrent.futures
import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from desktop.compose.build import BuildError, Draft
from desktop.compose.contacts import ContactIndex
from desktop.compose.drafts import DraftStore, push_account
from desktop.compose.outbox import Outbox, OutboxEntry, OutboxError, outbox_path
from desktop.compose.reply import ReplyError, forward_draft, own_addresses, reply_draft
from desktop.compose.sending import OutboxSender, SendOutcome, queue_draft
from desktop.compose.snippets import snippets_dir
from desktop.config import Config, ConfigError, load_config
from desktop.paths import Profile
from desktop.store import Store

log = logging.getLogger(__name__)


@dataclass
class DraftSlot:
    """The local draft of one composer.

    Attributes:
        draft_id: The draft's number in the outbox file; None until the first save.
        server_saved: When the draft last went to the Drafts folder (seconds since the epoch), or 0.
    """

    draft_id: int | None = None
    server_saved: float = 0.0


class ComposeService(QObject):
    """Drafts, sending and contacts for one window.

    Args:
        profile: The profile whose outbox, store and accounts to use.
        smtp_factory: Makes the SMTP sender; tests pass one with their own TLS settings.
        imap_ssl_context: TLS settings for pushing drafts and Sent copies to IMAP.

    Signals:
        draft_saved(object, str): a save finished; the slot and "" or the error in words.
        queued(object, object): a message is in the outbox; the slot and its ``OutboxEntry``.
        queue_failed(object, str): a message could not be queued; the slot and the error.
        discarded(object): a draft was thrown away.
        outcome(object): the send loop tried an entry; a ``SendOutcome``.
        contacts_ready(): ``contacts`` holds the ranked contacts of the store.
        outbox_changed(): entries were queued, cancelled, sent or failed.
    """

    draft_saved = Signal(object, str)
    queued = Signal(object, object)
    queue_failed = Signal(object, str)
    discarded = Signal(object)
    outcome = Signal(object)
    contacts_ready = Signal()
    outbox_changed = Signal()

    def __init__(self, profile: Profile, parent: QObject | None = None, *,
                 smtp_factory: Callable[[], object] | None = None, imap_ssl_context=None) -> None:
        super().__init__(parent)
        self.profile = profile
        self.config = self._load_config()
        self.outbox = Outbox(outbox_path(profile.data_dir))
        self.drafts = DraftStore(self.outbox)
        self.contacts = ContactIndex([])
        self.snippets_dir = snippets_dir(profile)
        self._smtp_factory = smtp_factory
        self._imap_ssl_context = imap_ssl_context
        self._smtp = None
        self._sender: OutboxSender | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="compose")
        self._local = threading.local()
        self._closed = False

    def _load_config(self) -> Config:
        try:
            return load_config(self.profile.config_file)
        except ConfigError as error:
            log.error("Could not read the configuration for writing mail: %s", error)
            return Config()

    # --- the worker thread ----------------------------------------------------------

    def _store(self) -> Store:
        """Return the worker thread's store connection (a SQLite connection belongs to its thread)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.profile.store_file)
        return store

    def _submit(self, work: Callable[[], None]) -> concurrent.futures.Future | None:
        if self._closed:
            log.warning("A compose task came after the window closed; it was dropped")
            return None
        return self._pool.submit(self._guarded, work)

    @staticmethod
    def _guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - the worker must go on; the trace goes to the log
            log.exception("A compose task failed")

    def load_contacts(self) -> None:
        """Read the ranked contacts from the store in the worker thread; ``contacts_ready`` follows."""
        self._submit(self._load_contacts)

    def start(self) -> None:
        """Load the contacts and start the send loop, which also sends what waited over a restart."""
        self.load_contacts()
        if self._sender is None and self.config.accounts:
            from desktop.send.smtp import SmtpSender

            self._smtp = self._smtp_factory() if self._smtp_factory else SmtpSender()
            self._sender = OutboxSender(self.outbox, self.config, self._smtp, lambda: Store(self.profile.store_file),
                                        imap_ssl_context=self._imap_ssl_context, on_outcome=self._on_send_outcome)
            self._sender.start()

    def _load_contacts(self) -> None:
        self.contacts = ContactIndex.load(self._store(), own_addresses(self.config))
        self.contacts_ready.emit()

    def _on_send_outcome(self, result: SendOutcome) -> None:
        # Called in the send loop's thread; the signal reaches the window in the GUI thread.
        self.outcome.emit(result)
        self.outbox_changed.emit()

    def stop(self, wait: bool = True) -> None:
        """Finish the queued writes, stop the send loop and close the files."""
        if self._closed:
            return
        self._closed = True
        if self._sender is not None:
            self._sender.stop()
            self._sender = None
        self._pool.submit(self._close_worker_store)
        self._pool.shutdown(wait=wait)
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None
        self.outbox.close()
        log.info("Stopped the compose service")

    def _close_worker_store(self) -> None:
        store = getattr(self._local, "store", None)
        if store is not None:
            store.close()
            self._local.store = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every write asked so far is done; return False on timeout (tests and closing)."""
        future = self._submit(lambda: None)
        if future is None:
            return True
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    # --- drafts ------------------------------------------------------------------------

    def new_draft(self, account_name: str | None = None) -> Draft:
        """Return an empty draft from ``account_name`` (default: the first account with an address).

        Raises:
            ReplyError: no account is configured, or the account is unknown.
        """
        accounts = self.config.accounts
        if not accounts:
            raise ReplyError("No account is configured, so no message can be sent; add one with "
                             "'sluice account add'.")
        name = account_name if account_name in accounts else None
        if name is None:
            with_address = [item for item in sorted(accounts) if accounts[item].address]
            name = (with_address or sorted(accounts))[0]
        account = accounts[name]
        return Draft(account=name, from_address=account.address.lower(), format=self.config.compose.format)

    def reply_draft(self, message: int, *, reply_all: bool) -> Draft:
        """Return a reply draft for stored message ``message``; raises ReplyError when it cannot."""
        with Store(self.profile.store_file) as store:
            return reply_draft(store, message, self.config, reply_all=reply_all)

    def forward_draft(self, message: int) -> Draft:
        """Return a forward draft for stored message ``message``; raises ReplyError when it cannot."""
        with Store(self.profile.store_file) as store:
            return forward_draft(store, message, self.config)

    def save_draft(self, draft: Draft, slot: DraftSlot, *, to_server: bool) -> None:
        """Save ``draft`` locally and, with ``to_server``, to the account's Drafts folder; ``draft_saved`` follows."""
        snapshot = copy.deepcopy(draft)

        def work() -> None:
            error = ""
            slot.draft_id = self.drafts.save_local(snapshot, slot.draft_id)
            account = self.config.accounts.get(snapshot.account)
            if to_server and account is not None:
                try:
                    store = self._store()
                    self.drafts.save_to_server(slot.draft_id, account, store)
                    slot.server_saved = time.time()
                    error = push_account(account, store, ssl_context=self._imap_ssl_context)
                except BuildError as problem:
                    # The local copy is safe; the server copy waits until the fields are valid.
                    error = str(problem)
            if error:
                log.warning("Draft %s of account %s was saved locally only: %s", slot.draft_id, snapshot.account, error)
            self.draft_saved.emit(slot, error)

        self._submit(work)

    def discard_draft(self, slot: DraftSlot, account_name: str) -> None:
        """Remove the local draft and its copy in the Drafts folder; ``discarded`` follows."""

        def work() -> None:
            if slot.draft_id is not None:
                store = self._store()
                self.drafts.discard(slot.draft_id, store, account_name)
                account = self.config.accounts.get(account_name)
                if account is not None:
                    push_account(account, store, ssl_context=self._imap_ssl_context)
            self.discarded.emit(slot)

        self._submit(work)

    def load_draft(self, draft_id: int) -> Draft:
        """Return a saved draft's fields; raises OutboxError when it is gone."""
        return self.drafts.load(draft_id).draft

    # --- sending -----------------------------------------------------------------------

    @property
    def undo_seconds(self) -> float:
        return float(self.config.compose.undo_seconds)

    def send(self, draft: Draft, slot: DraftSlot, *, send_at: float | None = None,
             remind_days: float | None = None) -> None:
        """Save the draft and queue it: after the undo delay, or at ``send_at``; ``queued`` or ``queue_failed`` follows."""
        snapshot = copy.deepcopy(draft)

        def work() -> None:
            account = self.config.accounts.get(snapshot.account)
            if account is None:
                self.queue_failed.emit(slot, f"Account {snapshot.account!r} is not configured; pick another From address.")
                return
            slot.draft_id = self.drafts.save_local(snapshot, slot.draft_id)
            try:
                entry = queue_draft(self.outbox, snapshot, account, undo_seconds=self.undo_seconds, send_at=send_at,
                                    draft_id=slot.draft_id, remind_days=remind_days)
            except (BuildError, OutboxError) as error:
                log.warning("Draft %s was not queued: %s", slot.draft_id, error)
                self.queue_failed.emit(slot, str(error))
                return
            self.queued.emit(slot, entry)
            self.outbox_changed.emit()
            if self._sender is not None:
                self._sender.wake()

        self._submit(work)

    def cancel(self, entry_id: int) -> bool:
        """Take a queued or failed entry out of the outbox; return False when it is being sent or sent."""
        removed = self.outbox.cancel(entry_id)
        self.outbox_changed.emit()
        return removed

    def retry(self, entry_id: int) -> OutboxEntry:
        """Queue a failed or unknown entry again now; raises OutboxError when it cannot be retried."""
        entry = self.outbox.retry(entry_id)
        self.outbox_changed.emit()
        if self._sender is not None:
            self._sender.wake()
        return entry

    def entries(self) -> list[OutboxEntry]:
        """Return the outbox entries that are not sent, soonest first."""
        return self.outbox.entries()
