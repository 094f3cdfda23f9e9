"""The window's side of writing mail: drafts, the outbox and its send loop, contacts, off the GUI thread.

``ComposeService`` owns the outbox file, the shared ``SmtpSender`` and the
``OutboxSender`` loop of the window. Every store or outbox write it does for
a composer (autosave, queueing, discarding) runs in one worker thread, in
the order asked, so a send always follows the last autosave of its draft.
Results come back to the GUI thread as signals.

A composer keeps a ``DraftSlot``: the number of its local draft, set by the
worker at the first save. Only the worker touches it after that, except at
closing (see ``ComposeService.stop``).

Closing waits ``CLOSE_GRACE_SECONDS`` for the queued writes. A draft save
that pushes to an IMAP server that does not respond could otherwise hold the
window for the whole IMAP timeout. After the grace period the writes that
have not started run on the closing thread without the server: drafts go to
the outbox file and to the store's Drafts folder, whose journal the next
sync sends, and messages queued for sending wait in the outbox.
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

# How long closing waits for queued draft saves and sends, in seconds, before it finishes them without the server.
CLOSE_GRACE_SECONDS = 3.0


@dataclass
class DraftSlot:
    """The local draft of one composer.

    Attributes:
        draft_id: The draft's number in the outbox file; None until the first save.
        server_saved: When the draft last went to the Drafts folder (seconds since the epoch), or 0.
    """

    draft_id: int | None = None
    server_saved: float = 0.0


@dataclass(frozen=True)
class CloseOutcome:
    """The writes that ``ComposeService.stop`` left for later because they outlasted the grace period.

    Attributes:
        timed_out: The queued writes did not finish within the grace period.
        drafts: Draft saves kept on this computer without reaching the server.
        sends: Messages kept in the outbox, to be sent when the window opens again.
    """

    timed_out: bool = False
    drafts: int = 0
    sends: int = 0


@dataclass
class _Task:
    """One write queued for the worker; ``started`` and ``taken`` change under ``ComposeService._tasks_lock``.

    ``slot`` is the composer's draft that the write saves, sends or discards, if any.
    """

    work: Callable[[], None]
    kind: str
    slot: DraftSlot | None = None
    started: bool = False
    taken: bool = False


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
        self._tasks_lock = threading.Lock()
        self._waiting: list[_Task] = []
        self._running: _Task | None = None
        # Set when closing gave up waiting: writes skip the server and emit no more signals.
        self._without_server = threading.Event()

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

    def _submit(self, work: Callable[[], None], kind: str = "other",
                slot: DraftSlot | None = None) -> concurrent.futures.Future | None:
        """Queue ``work`` for the worker; ``kind`` ("draft", "send", "discard", "contacts") decides what closing does with it."""
        if self._closed:
            log.warning("A compose task came after the window closed; it was dropped")
            return None
        task = _Task(work, kind, slot)
        with self._tasks_lock:
            self._waiting.append(task)
        return self._pool.submit(self._run, task)

    def _run(self, task: _Task) -> None:
        with self._tasks_lock:
            if task.taken:
                return
            task.started = True
            self._waiting.remove(task)
            self._running = task
        try:
            self._guarded(task.work)
        finally:
            with self._tasks_lock:
                self._running = None

    @staticmethod
    def _guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - the worker must go on; the trace goes to the log
            log.exception("A compose task failed")

    def load_contacts(self) -> None:
        """Read the ranked contacts from the store in the worker thread; ``contacts_ready`` follows."""
        self._submit(self._load_contacts, "contacts")

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

    def stop(self, wait: bool = True, *, grace_seconds: float = CLOSE_GRACE_SECONDS) -> CloseOutcome:
        """Finish the queued writes, stop the send loop and close the files.

        With ``wait``, the queued writes get ``grace_seconds``. When they take
        longer, those not started yet run here without the server, and the
        running one ends on the worker in the background.

        NOTE: the worker thread is not a daemon, so the interpreter's exit
        still waits for that running write, up to the IMAP timeout.
        """
        if self._closed:
            return CloseOutcome()
        if self._sender is not None:
            self._sender.stop()
            self._sender = None
        outcome = CloseOutcome()
        if wait and not self.wait_idle(grace_seconds):
            outcome = self._finish_without_server(grace_seconds)
        self._closed = True
        self._pool.submit(self._close_worker_store)
        self._pool.shutdown(wait=wait and not outcome.timed_out)
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None
        if not outcome.timed_out:
            # NOTE: after a timeout the outbox stays open, because the running write may still use it.
            self.outbox.close()
        log.info("Stopped the compose service")
        return outcome

    def _finish_without_server(self, grace_seconds: float) -> CloseOutcome:
        """Run the writes that have not started here, without the server; return what they kept for later."""
        self._without_server.set()
        with self._tasks_lock:
            taken = [task for task in self._waiting if task.kind != "contacts"]
            for task in self._waiting:
                task.taken = True
            self._waiting.clear()
            running = self._running
        log.warning("The compose worker did not finish within %.0f s (running: %s), so %d queued write(s) finish "
                    "without the server", grace_seconds, running.kind if running else "nothing", len(taken))
        for task in taken:
            self._guarded(task.work)
        self._close_worker_store()
        # Several saves of one composer's draft count as one draft.
        drafts = len({id(task.slot) for task in [*taken, running] if task is not None and task.kind == "draft"})
        sends = sum(1 for task in taken if task.kind == "send")
        return CloseOutcome(timed_out=True, drafts=drafts, sends=sends)

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
                    # When closing gave up on the server, the journal keeps the copy for the next sync.
                    if not self._without_server.is_set():
                        error = push_account(account, store, ssl_context=self._imap_ssl_context)
                except BuildError as problem:
                    # The local copy is safe; the server copy waits until the fields are valid.
                    error = str(problem)
            if error:
                log.warning("Draft %s of account %s was saved locally only: %s", slot.draft_id, snapshot.account, error)
            if not self._without_server.is_set():
                self.draft_saved.emit(slot, error)

        self._submit(work, "draft", slot)

    def discard_draft(self, slot: DraftSlot, account_name: str) -> None:
        """Remove the local draft and its copy in the Drafts folder; ``discarded`` follows."""

        def work() -> None:
            if slot.draft_id is not None:
                store = self._store()
                self.drafts.discard(slot.draft_id, store, account_name)
                account = self.config.accounts.get(account_name)
                if account is not None and not self._without_server.is_set():
                    push_account(account, store, ssl_context=self._imap_ssl_context)
            if not self._without_server.is_set():
                self.discarded.emit(slot)

        self._submit(work, "discard", slot)

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

        self._submit(work, "send", slot)

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
