"""Sending through the outbox: queue a draft with an undo delay or a chosen time, and the send loop.

``queue_draft`` builds the message and puts it in the outbox with
``send_at`` = now + ``[compose] undo_seconds`` (10 by default), or the time
the user chose for send later. Until then ``Outbox.cancel`` takes it back.

``OutboxSender`` sends the due entries through the shared ``SmtpSender``.
``send_due`` does one pass in the caller's thread; ``start`` runs passes in
a thread of its own until ``stop``. After the server accepts a message:

1. the entry becomes ``sent`` with the server's reply (committed first, so a
   crash after this point never sends it twice);
2. a copy goes to the account's Sent folder through the store's journal,
   unless ``sent_copy`` is ``never``, or ``auto`` and the server files sent
   mail itself (Gmail: an smtp.gmail.com or googlemail.com server, or an
   account with an All Mail folder);
3. the draft it came from is discarded, locally and in the Drafts folder;
4. a follow-up reminder is set when the entry asks for one.

A temporary failure (network down, 4xx reply) is tried again after 30 s,
doubling up to 15 minutes; a permanent one waits for the user's retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from desktop.compose.build import Draft, build_message
from desktop.compose.drafts import DraftStore, push_account, special_folder
from desktop.compose.outbox import Outbox, OutboxEntry
from desktop.config import Account, Config
from desktop.send.smtp import SendError, SmtpSender

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 15 * 60.0
_SENT_NAMES = ("sent", "sent items", "sent messages", "inbox.sent", "gesendet", "envoyés")
_GMAIL_SMTP_HOSTS = ("smtp.gmail.com", "smtp.googlemail.com")


def queue_draft(
    outbox: Outbox,
    draft: Draft,
    account: Account,
    *,
    undo_seconds: float,
    send_at: float | None = None,
    draft_id: int | None = None,
    remind_days: float | None = None,
) -> OutboxEntry:
    """Build ``draft`` and queue it: at ``send_at`` (send later) or after ``undo_seconds`` from now.

    Raises:
        BuildError: a field of the draft cannot go into a message.
        OutboxError: the draft has no recipient.
    """
    message = build_message(draft, account)
    when = send_at if send_at is not None else time.time() + undo_seconds
    return outbox.queue(account.name, message, draft.recipients(), send_at=when, draft_id=draft_id,
                        remind_days=remind_days)


@dataclass(frozen=True)
class SendOutcome:
    """What one pass did with one entry.

    Attributes:
        entry_id: The outbox entry.
        sent: The server accepted the message.
        text: The server's reply, or the error with its fix.
        copy_note: "" when the Sent copy was stored (or not wanted), else why not.
    """

    entry_id: int
    sent: bool
    text: str
    copy_note: str = ""


StoreFactory = Callable[[], object]


class OutboxSender:
    """Sends due outbox entries and files the Sent copies.

    Args:
        outbox: The outbox file.
        config: The accounts.
        smtp: The shared SMTP sender.
        open_store: Returns a new ``Store``; called in the sending thread,
            because a SQLite connection belongs to the thread that made it.
        push: Append the Sent copies (and delete sent drafts) on the IMAP
            server right after sending; otherwise the next sync does it.
        imap_ssl_context: TLS settings for that IMAP connection (tests pass their own CA).
        on_outcome: Called in the sending thread with each ``SendOutcome``,
            e.g. to post a status message to the window.
    """

    def __init__(self, outbox: Outbox, config: Config, smtp: SmtpSender, open_store: StoreFactory, *,
                 push: bool = True, imap_ssl_context=None,
                 on_outcome: Callable[[SendOutcome], None] | None = None) -> None:
        self.outbox = outbox
        self.config = config
        self.smtp = smtp
        self.open_store = open_store
        self.push = push
        self.imap_ssl_context = imap_ssl_context
        self.on_outcome = on_outcome
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass ------------------------------------------------------------

    def send_due(self, now: float | None = None, *, entry_ids: set[int] | None = None) -> list[SendOutcome]:
        """Send every due entry once (or only those of ``entry_ids``) and file the Sent copies.

        Also stores Sent copies missed earlier and acts on due follow-up
        reminders. Returns what happened to each entry it tried.
        """
        due = [entry for entry in self.outbox.due(now) if entry_ids is None or entry.id in entry_ids]
        outcomes = [self._send_entry(entry) for entry in due]
        outcomes = [outcome for outcome in outcomes if outcome is not None]
        if self.on_outcome is not None:
            for outcome in outcomes:
                self.on_outcome(outcome)
        self._finish_sent([outcome.entry_id for outcome in outcomes if outcome.sent])
        self._check_reminders(now)
        return outcomes

    def _check_reminders(self, now: float | None) -> None:
        from desktop.compose.followup import Reminders

        reminders = Reminders(self.outbox)
        moment = time.time() if now is None else now
        if not any(reminder.due_at <= moment for reminder in reminders.reminders()):
            return
        store = self.open_store()
        try:
            reminders.check_due(store, self.config, moment)
        finally:
            store.close()

    def _send_entry(self, entry: OutboxEntry) -> SendOutcome | None:
        account = self.config.accounts.get(entry.account)
        if not self.outbox.claim(entry.id):
            return None
        if account is None:
            text = (f"Account {entry.account!r} no longer exists, so outbox entry {entry.id} cannot be sent; add the "
                    "account again and retry, or cancel the entry.")
            self.outbox.mark_failed(entry.id, text, "config", None)
            return SendOutcome(entry.id, False, text)
        message = BytesParser(policy=policy.default).parsebytes(self.outbox.raw(entry.id))
        log.info("Sending outbox entry %d (%s) of account %s, attempt %d", entry.id, entry.message_id,
                 entry.account, entry.attempts + 1)
        try:
            result = self.smtp.send(account, message, recipients=list(entry.recipients))
        except SendError as error:
            retry_at = time.time() + _retry_delay(entry.attempts + 1) if error.temporary else None
            self.outbox.mark_failed(entry.id, str(error), error.kind, retry_at)
            return SendOutcome(entry.id, False, str(error))
        reply = result.response
        if result.refused:
            refused = "; ".join(f"{address}: {reason}" for address, reason in result.refused.items())
            reply = f"{reply} (refused: {refused})"
        self.outbox.mark_sent(entry.id, reply)
        return SendOutcome(entry.id, True, reply)

    def _finish_sent(self, sent_ids: list[int]) -> None:
        """File the Sent copies of these and of any earlier sent entry whose copy is missing."""
        pending = {entry.id: entry for entry in self.outbox.uncopied()}
        if not pending:
            return
        store = self.open_store()
        try:
            touched: dict[str, Account] = {}
            for entry in pending.values():
                account = self.config.accounts.get(entry.account)
                if account is None:
                    self.outbox.mark_copied(entry.id)
                    continue
                self._file_copy(store, entry, account)
                touched[account.name] = account
            if self.push:
                for account in touched.values():
                    push_account(account, store, ssl_context=self.imap_ssl_context)
        finally:
            store.close()
        log.debug("Filed %d sent message(s), %d from this pass", len(pending), len(sent_ids))

    def _file_copy(self, store, entry: OutboxEntry, account: Account) -> None:
        from desktop.compose.followup import Reminders

        if wants_sent_copy(account, store):
            folder = special_folder(store, account.name, "\\Sent", _SENT_NAMES)
            if folder is None:
                log.warning("Account %s has no Sent folder in the store; no copy of outbox entry %d is kept. "
                            "Run 'sluice sync' once so the folder is known.", account.name, entry.id)
            else:
                store.append_message(folder, self.outbox.raw(entry.id), flags=("\\Seen",))
        if entry.draft_id is not None:
            DraftStore(self.outbox).discard(entry.draft_id, store, account.name)
        if entry.remind_days:
            Reminders(self.outbox).add(account.name, entry.message_id, entry.subject,
                                       due_at=(entry.sent_at or time.time()) + entry.remind_days * 86400)
        self.outbox.mark_copied(entry.id)

    # --- the loop ------------------------------------------------------------

    def start(self, poll_seconds: float = 1.0) -> None:
        """Run passes in a thread of its own, at least every ``poll_seconds``, until ``stop``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(poll_seconds,), name="outbox-sender", daemon=True)
        self._thread.start()
        log.info("Started the outbox send loop")

    def wake(self) -> None:
        """Make the loop look at the outbox now, e.g. after a retry or when the network is back."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop after the entry it is sending, and wait for its thread."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout)
        self._thread = None
        log.info("Stopped the outbox send loop")

    def _run(self, poll_seconds: float) -> None:
        while not self._stop.is_set():
            try:
                self.send_due()
            except Exception:  # noqa: BLE001 - one bad pass must not end the loop; it is logged with its trace
                log.exception("An outbox send pass failed; trying again in %s s", poll_seconds)
            self._wake.wait(poll_seconds)
            self._wake.clear()


def _retry_delay(attempt: int) -> float:
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempt - 1, 0), MAX_RETRY_SECONDS)


def wants_sent_copy(account: Account, store) -> bool:
    """Return whether a sent message of ``account`` should be appended to its Sent folder."""
    if account.sent_copy != "auto":
        return account.sent_copy == "always"
    if account.smtp_host.lower() in _GMAIL_SMTP_HOSTS:
        return False
    # Gmail files every message it relays into Sent Mail by itself; its All Mail folder gives it away.
    return not any(folder.special_use == "\\All" for folder in store.folders(account.name, with_counts=False))
