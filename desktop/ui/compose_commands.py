"""The main window's writing commands: compose, reply, reply all, forward, undo send and the outbox.

``ComposeCommands`` opens composer windows over the window's
``ComposeService``, shows "Sending in N s — Undo" in the status bar after a
send, takes a message back on Undo (the composer opens again on its draft),
and reports what the send loop did: sent, or failed with the error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QWidget

from desktop.compose.build import Draft
from desktop.compose.outbox import OutboxEntry, OutboxError
from desktop.compose.reply import ReplyError
from desktop.compose.sending import SendOutcome
from desktop.keymap import KeyMap
from desktop.paths import Profile
from desktop.ui.compose_send import PendingSend, SendUndoBar
from desktop.ui.compose_service import CloseOutcome, ComposeService, DraftSlot
from desktop.ui.composer import ComposerWindow
from desktop.ui.outbox import OutboxView
from desktop.ui.status import LogView, StatusPanel

log = logging.getLogger(__name__)


class ComposeCommands(QObject):
    """Writing and sending for one main window.

    Args:
        profile: The window's profile.
        keymap: Returns the key map in force (the composer mode is used).
        current_message: Returns the store id of the message on show in the list or reader, or None.
        status_panel, log_view: Where results are shown.
        service: A compose service to use; by default one is made for ``profile``.

    Attributes:
        composers: The composer windows open now.
        undo_bar: The status bar widget offering Undo during the delay.
    """

    def __init__(self, profile: Profile, keymap: Callable[[], KeyMap], current_message: Callable[[], int | None],
                 status_panel: StatusPanel, log_view: LogView, parent: QWidget, *,
                 service: ComposeService | None = None) -> None:
        super().__init__(parent)
        self._window = parent
        self._keymap = keymap
        self._current_message = current_message
        self._status = status_panel
        self._log = log_view
        self.service = service or ComposeService(profile, self)
        self.composers: list[ComposerWindow] = []
        self.undo_bar = SendUndoBar()
        self.outbox_view: OutboxView | None = None
        self.undo_bar.undo_requested.connect(self._on_undo_bar_undo_requested)
        self.service.outcome.connect(self._on_service_outcome)

    def start(self) -> None:
        self.service.start()

    def stop(self) -> CloseOutcome:
        """Close the composers (their drafts are saved) and stop sending; return what waits for the server."""
        for composer in list(self.composers):
            composer.close()
        if self.outbox_view is not None:
            self.outbox_view.close()
        self.undo_bar.clear()
        return self.service.stop()

    # --- opening composers -------------------------------------------------------------

    def open(self, kind: str) -> ComposerWindow | None:
        """Open a composer: ``compose``, ``reply``, ``reply-all`` or ``forward`` of the current message."""
        try:
            if kind == "compose":
                draft = self.service.new_draft(self._account_of_current())
            else:
                message = self._current_message()
                if message is None:
                    self._status.show_message(self.tr("No message selected."))
                    return None
                if kind == "forward":
                    draft = self.service.forward_draft(message)
                else:
                    draft = self.service.reply_draft(message, reply_all=kind == "reply-all")
        except ReplyError as error:
            self._report_error(str(error))
            return None
        return self.open_draft(draft)

    def open_draft(self, draft: Draft, slot: DraftSlot | None = None, *,
                   remind_days: float | None = None) -> ComposerWindow:
        """Open a composer on ``draft`` (continuing the local draft of ``slot``, if given).

        ``remind_days`` ticks "Remind me if no reply" with that many days, as it was when the message was sent.
        """
        # Addresses seen since the last look (a sync, a send) are offered too.
        self.service.load_contacts()
        composer = ComposerWindow(self.service, draft, self._keymap(), slot)
        if remind_days:
            composer.set_reminder(remind_days)
        composer.sent.connect(self._on_composer_sent)
        composer.closed_with_draft.connect(self._status.show_message)
        composer.closed.connect(lambda window=composer: self._forget(window))
        self.composers.append(composer)
        composer.show()
        composer.activateWindow()
        composer.focus_first_field()
        log.info("Opened a composer for account %s", draft.account)
        return composer

    def _forget(self, composer: ComposerWindow) -> None:
        if composer in self.composers:
            self.composers.remove(composer)

    def _account_of_current(self) -> str | None:
        message = self._current_message()
        if message is None:
            return None
        try:
            from desktop.store import Store

            with Store(self.service.profile.store_file) as store:
                places = store.message_places([message])
        except Exception:  # noqa: BLE001 - only a default; a new message still opens
            log.exception("Could not look up the account of message %s", message)
            return None
        return places[message][0] if message in places else None

    # --- sending and undo ----------------------------------------------------------------

    @Slot(object)
    def _on_composer_sent(self, entry: OutboxEntry) -> None:
        composer = self.sender()
        if isinstance(composer, ComposerWindow):
            self._forget(composer)
        subject = entry.subject or self.tr("(no subject)")
        if entry.send_at > time.time() + self.service.undo_seconds + 1:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.send_at))
            text = self.tr("%1 goes out at %2; the outbox lists it.").replace("%1", subject).replace("%2", when)
            self._status.show_message(text)
            self._log.add_line(text)
            return
        if entry.send_at <= time.time():
            self._status.show_message(self.tr("Sending %1…").replace("%1", subject))
            return
        self.undo_bar.offer(PendingSend(entry.id, entry.draft_id, entry.send_at, entry.subject, entry.remind_days))
        self._status.show_message(self.tr("%1 is in the outbox.").replace("%1", subject))

    def can_undo_send(self) -> bool:
        """Return whether a sent message still waits out its undo delay."""
        pending = self.undo_bar.pending
        return pending is not None and pending.send_at > time.time()

    def undo_send(self) -> bool:
        """Take the latest sent message back if its delay runs; reopen its composer. Return whether it was taken back."""
        pending = self.undo_bar.pending
        if pending is None or not self.can_undo_send():
            return False
        self.undo_bar.clear()
        if not self.service.cancel(pending.entry_id):
            self._status.show_message(self.tr("Too late to undo: the message is being sent."), error=True)
            return True
        log.info("Took back outbox entry %d before sending", pending.entry_id)
        self._status.show_message(self.tr("Sending undone; the message is open again."))
        if pending.draft_id is not None:
            try:
                draft = self.service.load_draft(pending.draft_id)
            except OutboxError as error:
                self._report_error(str(error))
                return True
            self.open_draft(draft, DraftSlot(pending.draft_id), remind_days=pending.remind_days)
        return True

    @Slot(object)
    def _on_undo_bar_undo_requested(self, _pending: PendingSend) -> None:
        self.undo_send()

    @Slot(object)
    def _on_service_outcome(self, outcome: SendOutcome) -> None:
        if self.undo_bar.pending is not None and self.undo_bar.pending.entry_id == outcome.entry_id:
            self.undo_bar.clear()
        if outcome.sent:
            text = self.tr("Message sent: %1").replace("%1", outcome.text)
            self._status.show_message(text)
            self._log.add_line(text)
        else:
            self._report_error(self.tr("Sending failed; the message waits in the outbox: %1").replace("%1", outcome.text))

    def _report_error(self, text: str) -> None:
        log.error("%s", text)
        self._status.show_message(text, error=True)
        self._log.add_line(text)

    # --- the outbox view -------------------------------------------------------------------

    def show_outbox(self) -> OutboxView:
        """Show the outbox: messages waiting, and those that failed with their errors."""
        if self.outbox_view is None:
            self.outbox_view = OutboxView(self.service, self._window)
            self.outbox_view.edit_requested.connect(self._on_outbox_view_edit_requested)
        self.outbox_view.refresh()
        self.outbox_view.show()
        self.outbox_view.activateWindow()
        return self.outbox_view

    @Slot(object)
    def _on_outbox_view_edit_requested(self, entry: OutboxEntry) -> None:
        if entry.draft_id is None:
            self._report_error(self.tr("Outbox entry %1 was not written in the window, so it cannot be edited; "
                                       "cancel it and write it again.").replace("%1", str(entry.id)))
            return
        try:
            draft = self.service.load_draft(entry.draft_id)
        except OutboxError as error:
            self._report_error(str(error))
            return
        if not self.service.cancel(entry.id):
            self._report_error(self.tr("Outbox entry %1 is being sent, so it cannot be edited.")
                               .replace("%1", str(entry.id)))
            return
        self.open_draft(draft, DraftSlot(entry.draft_id), remind_days=entry.remind_days)
