"""Sending bulk changes to the server in the background, with progress and Cancel in the status bar.

A bulk action (archive, delete, move, flags, undo) changes the store and the
view at once and journals its server changes as actions of at most
``MESSAGES_PER_ACTION`` messages. ``BulkSender`` then sends the journal right
away on a worker (``desktop.sync.actions.send_journal``), one action at a time,
and for large sets shows "Archiving on the server: 6,000 of 20,000" with a
Cancel button.

Cancel stops after the action in flight. The actions the server has not got
are then taken back locally (``Store.withdraw_actions``): their messages return
to where they were, so the store and the server agree, and the undo record
keeps only the part that was sent. Closing the window is not a cancel: the
unsent actions stay queued, and the next window or sync sends them.

Changes of at least ``BACKGROUND_MIN_MESSAGES`` messages, and every change
asked for while one runs, change the store on a worker
(``change_in_background``, ``move_in_background``), through the sender's
``store_queue`` (``desktop.ui.bulk_worker``). The window changes the list at
once. The store, the undo record and the journal follow in one transaction,
which takes seconds for tens of thousands of rows, and the send starts when
it has committed.

Only one connection may send an account's journal at a time, and a folder
sync must not read a folder while its moves are half sent. So a send waits
for a running manual sync to end. With the watch for new mail running, small
changes are left to it (it sends new actions within about a second). For
large ones the watch is stopped first and started again afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QLocale, QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from desktop.config import ConfigError
from desktop.paths import Profile
from desktop.store import Store, StoreError
from desktop.store.journal import action_size
from desktop.sync.actions import SendProgress, send_journal
from desktop.sync.errors import SyncError, SyncFailures
from desktop.ui.bulk_worker import ChangeDone, MoveChange, StoreChange, StoreQueue
from desktop.ui.status import LogView, StatusPanel
from desktop.ui.sync_control import SyncController, WatchController
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

# Sends of at least this many messages show the progress bar and Cancel, and
# stop the watch for new mail while they run.
PROGRESS_MIN_MESSAGES = 500
# How long the result of a finished send stays next to the status message.
DONE_SHOWN_MS = 5000
# Bulk changes of at least this many messages change the store on a worker, so the list changes at once and the
# window's thread stays free. Written on that thread, 800 messages held it for 37 to 71 ms and 499 for 18 to 35 ms
# (median per command). Measured with bench/small_bulk_bench.py on 2 shared cores (docs/benchmarks.md, section 10).
BACKGROUND_MIN_MESSAGES = 500
# The name of a background move's count in its bulk record, as the window's own bulk actions name it.
_COUNT_NAMES = {"archive": "archived"}


@dataclass(frozen=True)
class SendOutcome:
    """The end state of a send.

    Attributes:
        done: Messages whose changes the server got.
        total: Messages the send covered.
        cancelled: The user pressed Cancel.
        withdrawn: Messages whose unsent changes were taken back locally after a cancel.
        error: Why the send stopped early, or "".
    """

    done: int
    total: int
    cancelled: bool = False
    withdrawn: int = 0
    error: str = ""


class BulkProgressBar(QWidget):
    """The label, progress bar and Cancel button of a running send, for the status bar.

    Signals:
        cancel_requested(): the user pressed Cancel.
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bulkProgress")
        self.label = QLabel(objectName="bulkProgressText")
        self.bar = QProgressBar(objectName="bulkProgressBar")
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton(self.tr("Cancel"), objectName="bulkCancel")
        self.cancel_button.setToolTip(self.tr(
            "Stop after the current batch. Changes the server has not got yet are undone here."))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.hide()

    def show_progress(self, text: str, done: int, total: int) -> None:
        self.label.setText(text)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, total))
        self.bar.show()
        self.cancel_button.show()
        self.show()

    def show_result(self, text: str) -> None:
        """Show ``text`` without bar and button; it stays until the next send or ``hide``."""
        self.label.setText(text)
        self.bar.hide()
        self.cancel_button.hide()
        self.cancel_button.setEnabled(True)
        self.show()

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.setText(self.tr("Stopping after the current batch…"))
        self.cancel_requested.emit()


class BulkSender(QObject):
    """Sends the journal to the server after each bulk action, with progress and Cancel for large sets.

    Attributes:
        widget: The status bar part that shows the progress.
        store_queue: The worker queue of store changes; its jobs run one at a time.

    Signals:
        send_finished(object): a send ended; the ``SendOutcome``.
        store_changed(): a background change or a cancel changed the store, so the list must be read again.
        move_failed(str): a background change failed and changed nothing; the message for the user.
        rows_restored(object): an undo reversed a background change; the ``restore`` value given to
            ``change_in_background``, so the window can list those messages again.
    """

    send_finished = Signal(object)
    store_changed = Signal()
    move_failed = Signal(str)
    rows_restored = Signal(object)

    def __init__(self, profile: Profile, store: Store, jobs: JobSet, sync: SyncController, watch: WatchController,
                 status_panel: StatusPanel, log_view: LogView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._profile = profile
        self._store = store
        self._jobs = jobs
        self._sync = sync
        self._watch = watch
        self._status = status_panel
        self._log = log_view
        self.widget = BulkProgressBar()
        self._job: BackgroundJob | None = None
        self._kinds: list[str] = []
        self._job_kinds: list[str] = []
        self._job_actions: list[int] = []
        self._progress = SendProgress("", 0, 0, "sending")
        self._error = ""
        self._withdraw = False
        self._waiting_for_watch = False
        self._restart_watch = False
        self.store_queue = StoreQueue(profile, jobs, self)
        self._requested = False
        self._closed = False
        self._after_send: list[Callable[[], None]] = []
        self._restore_after_undo: dict[int, object] = {}
        self._done_timer = QTimer(self, singleShot=True, interval=DONE_SHOWN_MS)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.widget.cancel_requested.connect(self._on_widget_cancel_requested)
        self._sync.sync_finished.connect(self._on_sync_finished)
        self._watch.stopped.connect(self._on_watch_stopped)
        self._done_timer.timeout.connect(self.widget.hide)
        self.store_queue.changed.connect(self._on_store_queue_changed)
        self.store_queue.failed.connect(self._on_store_queue_failed)
        self.store_queue.idle.connect(self._on_store_queue_idle)

    def is_sending(self) -> bool:
        """Return whether a send runs, or waits for the watch to stop before it runs."""
        return self._job is not None or self._waiting_for_watch

    def request(self, kind: str = "changes") -> None:
        """Send the journal soon; ``kind`` ("archive", "delete", "flags", "undo" or "changes") names the progress text."""
        if self._closed:
            return
        self._kinds.append(kind)
        self._requested = True
        if self.is_sending():
            # The running send covers the actions journaled before it started; this one follows it.
            return
        self._start_when_possible()

    def run_when_idle(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` once the running send has ended; return False, calling nothing, when none runs."""
        if not self.is_sending():
            return False
        self._after_send.append(callback)
        return True

    def move_in_background(self, kind: str, text: str, ids: list[int], targets: dict[str, int], *,
                           restore: object = None) -> None:
        """Move ``ids`` into ``targets`` ({account: folder id}) on a worker as one undoable bulk action, then send it.

        The caller has taken the messages out of the list already. ``restore``
        comes back through ``rows_restored`` when an undo reverses this move.
        """
        self.change_in_background(kind, text, ids, MoveChange(targets, _COUNT_NAMES.get(kind, "moved")),
                                  restore=restore)

    def change_in_background(self, kind: str, text: str, ids: Sequence[int], change: StoreChange, *,
                             restore: object = None, record: bool = True) -> None:
        """Apply ``change`` to ``ids`` on a worker, as one undoable bulk action unless ``record`` is False, then send it.

        The caller has changed the view already (rows taken out of the list,
        or ``bulk_worker.show_flags``). ``kind`` names the progress text of
        the send ("archive", "delete", "flags", ...). ``restore`` comes back
        through ``rows_restored`` when an undo reverses this change. Changes
        run one after the other, in the order they were asked for.
        """
        log.info("Changing %d message(s) on a worker (%s)", len(ids), kind)
        if len(ids) >= PROGRESS_MIN_MESSAGES and self._watch.is_running() and not self.is_sending():
            # Stopped before the change commits, the watch cannot send the new actions without progress.
            self._stop_watch_for_send()
        self.store_queue.change(kind, text, ids, change, record=record, token=restore)

    @Slot(object)
    def _on_store_queue_changed(self, done: ChangeDone) -> None:
        if self._closed:
            return
        if done.token is not None and done.bulk_id is not None:
            self._restore_after_undo[done.bulk_id] = done.token
        self.store_changed.emit()
        self.request(done.kind)

    @Slot()
    def _on_store_queue_idle(self) -> None:
        if self._closed or self.is_sending():
            return
        if self._requested:
            self._start_when_possible()
        elif self._restart_watch and not self._watch.is_running():
            # The change failed after the watch was stopped for its send.
            self._restart_watch = False
            self._watch.start()

    @Slot(str, str)
    def _on_store_queue_failed(self, kind: str, message: str) -> None:
        if self._closed or kind == "undo":
            # An undo's failure is reported by the window, as for undo of a rule run.
            return
        self.move_failed.emit(message)
        self.store_changed.emit()

    def restore_value(self, bulk_id: int) -> object:
        """Return the ``restore`` value given with the background change that made bulk action ``bulk_id``, or None."""
        return self._restore_after_undo.get(bulk_id)

    def shutdown(self) -> None:
        """Stop reacting before the window closes; a running send is cancelled with the window's jobs."""
        self._closed = True
        self._done_timer.stop()
        self.store_queue.shutdown()

    # --- starting a send ----------------------------------------------------------

    def _start_when_possible(self) -> None:
        if self._closed or not self._requested:
            return
        actions = self._pending_actions()
        pending = sum(actions.values())
        if not pending:
            self._requested = False
            self._kinds.clear()
            if self._restart_watch and not self._watch.is_running():
                self._restart_watch = False
                self._watch.start()
            return
        if self._sync.is_running():
            # The sync sends the journal first; what it did not cover follows when it ends.
            log.debug("Sending %d queued change(s) after the running sync", pending)
            return
        if self._watch.is_running():
            if pending < PROGRESS_MIN_MESSAGES:
                log.debug("Leaving %d queued change(s) to the watch for new mail", pending)
                self._requested = False
                self._kinds.clear()
                return
            log.info("Stopping the watch for new mail to send %d change(s) with progress", pending)
            self._stop_watch_for_send()
            return
        self._start_job(actions)

    def _stop_watch_for_send(self) -> None:
        self._waiting_for_watch = True
        self._restart_watch = True
        self._watch.stop()

    def _pending_actions(self) -> dict[int, int]:
        """Return {action id: messages it names} of the pending actions of the IMAP accounts."""
        found: dict[int, int] = {}
        for row in self._store.accounts():
            if row.kind == "imap":
                found.update((action[0], action_size(action[3], action[4])) for action in self._store.pending_actions(row.id))
        return found

    def _start_job(self, actions: dict[int, int]) -> None:
        through = max(actions)
        self._job_actions = sorted(actions)
        self._job_kinds = list(dict.fromkeys(self._kinds))
        self._kinds.clear()
        self._requested = False
        self._withdraw = False
        self._error = ""
        self._progress = SendProgress("", 0, sum(actions.values()), "sending")
        job = BackgroundJob(partial(send_journal, self._profile, through=through),
                            expected_errors=(SyncError, SyncFailures, ConfigError, StoreError), name="send-journal")
        job.progressed.connect(self._on_job_progressed)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(self._on_job_finished)
        self._job = job
        log.info("Sending %d action(s) with %d message(s) to the server", len(self._job_actions), self._progress.total)
        self._done_timer.stop()
        self._show_progress()
        self._jobs.start(job)

    # --- while it runs ------------------------------------------------------------

    @Slot(object)
    def _on_job_progressed(self, step: SendProgress) -> None:
        self._progress = step
        if not self._withdraw:
            self._show_progress()

    def _show_progress(self) -> None:
        if self._progress.total < PROGRESS_MIN_MESSAGES:
            return
        locale = QLocale()
        text = self._progress_text().replace("%1", locale.toString(self._progress.done))
        self.widget.show_progress(text.replace("%2", locale.toString(self._progress.total)),
                                  self._progress.done, self._progress.total)

    def _progress_text(self) -> str:
        texts = {
            "archive": self.tr("Archiving on the server: %1 of %2"),
            "delete": self.tr("Deleting on the server: %1 of %2"),
            "flags": self.tr("Changing flags on the server: %1 of %2"),
            "undo": self.tr("Undoing on the server: %1 of %2"),
        }
        if len(self._job_kinds) == 1 and self._job_kinds[0] in texts:
            return texts[self._job_kinds[0]]
        return self.tr("Sending changes to the server: %1 of %2")

    @Slot()
    def _on_widget_cancel_requested(self) -> None:
        if self._job is None:
            return
        log.info("Cancel requested after %d of %d message(s) sent", self._progress.done, self._progress.total)
        self._withdraw = True
        self._job.cancel()

    @Slot(str)
    def _on_job_failed(self, message: str) -> None:
        self._error = message
        log.warning("Sending the changes stopped: %s", message)

    # --- when it ends -------------------------------------------------------------

    @Slot()
    def _on_job_finished(self) -> None:
        self._job = None
        if self._closed:
            return
        outcome = self._finish_outcome()
        self._report(outcome)
        if self._restart_watch:
            self._restart_watch = False
            self._watch.start()
        if self._requested and not outcome.cancelled and not self._after_send:
            self._start_when_possible()
        self.send_finished.emit(outcome)
        callbacks, self._after_send = self._after_send, []
        for callback in callbacks:
            callback()

    def _finish_outcome(self) -> SendOutcome:
        done, total = self._progress.done, self._progress.total
        if not self._withdraw:
            return SendOutcome(done, total, error=self._error)
        try:
            withdrawal = self._store.withdraw_actions(self._job_actions)
        except StoreError as error:
            log.error("Taking back the unsent changes failed: %s", error)
            return SendOutcome(done, total, cancelled=True, error=str(error))
        self.store_changed.emit()
        return SendOutcome(done, total, cancelled=True, withdrawn=withdrawal.messages)

    def _report(self, outcome: SendOutcome) -> None:
        locale = QLocale()
        if outcome.cancelled:
            text = self.tr("Stopped: the server got %1 of %2 changes; the other %3 were undone here.")
            text = (text.replace("%1", locale.toString(outcome.done)).replace("%2", locale.toString(outcome.total))
                    .replace("%3", locale.toString(outcome.withdrawn)))
            self.widget.hide()
            self._status.show_message(text)
            self._log.add_line(text)
            return
        if outcome.error:
            text = self.tr("Could not send the changes to the server: %1 They stay queued for the next sync.")
            text = text.replace("%1", outcome.error.splitlines()[0])
            self.widget.hide()
            self._status.show_message(text, error=True)
            self._log.add_line(text)
            return
        if outcome.total >= PROGRESS_MIN_MESSAGES:
            text = self.tr("The server has all %1 changes.").replace("%1", locale.toString(outcome.total))
            self.widget.show_result(text)
            self._log.add_line(text)
            self._done_timer.start()
        elif outcome.total:
            self.widget.hide()

    # --- syncs and the watch ------------------------------------------------------

    def follow_rules(self, controller: QObject) -> None:
        """Send the journal after each rule run and undo of the window's ``RulesController``."""
        controller.applied.connect(self._on_rules_applied)
        controller.undone.connect(self._on_rules_undone)

    @Slot(object)
    def _on_rules_applied(self, _result: object) -> None:
        self.request("changes")

    @Slot(object)
    def _on_rules_undone(self, result: object) -> None:
        if result is None:
            return
        restore = self._restore_after_undo.pop(result.bulk.id, None)
        if restore is not None:
            self.rows_restored.emit(restore)
        self.request("undo")

    @Slot(bool)
    def _on_sync_finished(self, _succeeded: bool) -> None:
        # The window starts the watch again in its own slot of this signal. Deciding after that slot
        # ran lets a large send stop the watch first, so the two never send at the same time.
        QTimer.singleShot(0, self._after_sync)

    @Slot()
    def _after_sync(self) -> None:
        if not self.is_sending():
            self._start_when_possible()

    @Slot()
    def _on_watch_stopped(self) -> None:
        if not self._waiting_for_watch or self._closed:
            return
        self._waiting_for_watch = False
        self._requested = True
        if self._sync.is_running():
            # A manual sync took over while the watch stopped; it sends the journal itself.
            self._restart_watch = False
            return
        if self.store_queue.is_busy():
            # The send starts once the change has committed (``_on_store_queue_idle``).
            return
        actions = self._pending_actions()
        if actions:
            self._start_job(actions)
            return
        # The watch sent the new actions itself before it stopped, without progress.
        self._requested = False
        if self._restart_watch:
            self._restart_watch = False
            self._watch.start()
        self.send_finished.emit(SendOutcome(0, 0))
