"""Running a profile sync, and the watch for new mail, from the window.

``SyncController`` runs one full sync on demand and shows it in the status
bar. ``WatchController`` runs ``watch_profile`` in the background for as long
as the window wants push: it reports each step, so the window can show each
account's state and list new mail as it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from functools import partial

from PySide6.QtCore import QObject, Signal, Slot

from desktop.config import ConfigError
from desktop.paths import Profile
from desktop.store import StoreError
from desktop.sync.errors import SyncError, SyncFailures
from desktop.sync.service import CancelToken, SyncProgress, sync_profile
from desktop.sync.watch import WatchOptions, watch_profile
from desktop.ui.status import LogView, StatusPanel
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

# Phases of a sync that go into the log. Per-message steps would flood it.
_LOGGED_PHASES = {"connect", "folder-done", "account-done", "cancelled"}


def _sync_steps(profile: Profile, cancel: CancelToken) -> Iterator[SyncProgress]:
    return sync_profile(profile, cancel=cancel)


def _watch_steps(profile: Profile, options: WatchOptions, cancel: CancelToken) -> Iterator[SyncProgress]:
    return watch_profile(profile, cancel=cancel, options=options)


class SyncController(QObject):
    """Runs ``sync_profile`` on a worker and reports it in the status bar and log.

    Signals:
        sync_started(): a sync began.
        progressed(SyncProgress): a step of the running sync.
        sync_finished(bool): the sync ended; True when every account synced.
    """

    sync_started = Signal()
    progressed = Signal(object)
    sync_finished = Signal(bool)

    def __init__(self, profile: Profile, status_panel: StatusPanel, log_view: LogView, jobs: JobSet,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._profile = profile
        self._status = status_panel
        self._log = log_view
        self._jobs = jobs
        self._job: BackgroundJob | None = None
        self._errors: list[str] = []
        self._status.cancel_requested.connect(self._on_status_cancel_requested)

    def is_running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        """Start a sync unless one is running already."""
        if self._job is not None:
            self._status.show_message(self.tr("A sync is running already."))
            return
        job = BackgroundJob(
            partial(_sync_steps, self._profile),
            expected_errors=(SyncError, SyncFailures, ConfigError, StoreError),
            name="sync",
        )
        job.progressed.connect(self._on_job_progressed)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(self._on_job_finished)
        self._job = job
        self._errors.clear()
        self._status.show_message(self.tr("Syncing…"))
        self._status.show_progress(0, 0)
        self._log.add_line(self.tr("Sync started"))
        self._jobs.start(job)
        self.sync_started.emit()

    @Slot(object)
    def _on_job_progressed(self, step: SyncProgress) -> None:
        self.progressed.emit(step)
        self._status.show_progress(step.done, step.total)
        self._status.show_message(step.text, error=step.phase == "error")
        if step.phase == "error":
            self._record_error(step.text)
        elif step.phase in _LOGGED_PHASES:
            self._log.add_line(step.text)

    @Slot(str)
    def _on_job_failed(self, message: str) -> None:
        # SyncFailures repeats, one per line, the errors already reported as steps.
        for line in message.splitlines():
            self._record_error(line)

    @Slot()
    def _on_job_finished(self) -> None:
        self._job = None
        self._status.hide_progress()
        if self._errors:
            summary = self.tr("Sync failed: %1  (View > Log lists every error)")
            self._status.show_message(summary.replace("%1", self._errors[0]), error=True)
        else:
            self._status.show_message(self.tr("Synced at %1").replace("%1", f"{datetime.now():%H:%M}"))
            self._log.add_line(self.tr("Sync finished"))
        self.sync_finished.emit(not self._errors)

    @Slot()
    def _on_status_cancel_requested(self) -> None:
        if self._job is None:
            return
        self._job.cancel()
        self._status.show_message(self.tr("Cancelling the sync…"))

    def _record_error(self, text: str) -> None:
        if text in self._errors:
            return
        self._errors.append(text)
        self._log.add_line(text)


class WatchController(QObject):
    """Runs ``watch_profile`` on a worker until stopped, and logs what it reports.

    Signals:
        progressed(SyncProgress): a step of the watch: a sync, a new message,
            a reconnect attempt.
        stopped(): the watch has ended and its thread has stopped.
    """

    progressed = Signal(object)
    stopped = Signal()

    def __init__(self, profile: Profile, log_view: LogView, jobs: JobSet, options: WatchOptions | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._profile = profile
        self._log = log_view
        self._jobs = jobs
        self._options = options or WatchOptions()
        self._job: BackgroundJob | None = None

    def is_running(self) -> bool:
        return self._job is not None

    def start(self) -> None:
        """Start watching unless the watch runs already."""
        if self._job is not None:
            return
        job = BackgroundJob(
            partial(_watch_steps, self._profile, self._options),
            expected_errors=(ConfigError, StoreError),
            name="watch",
        )
        job.progressed.connect(self._on_job_progressed)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(self._on_job_finished)
        self._job = job
        log.info("Starting the watch for new mail")
        self._log.add_line(self.tr("Watching for new mail"))
        self._jobs.start(job)

    def stop(self) -> None:
        """Ask the watch to stop; ``stopped`` follows once its thread has ended."""
        if self._job is None:
            return
        log.info("Stopping the watch for new mail")
        self._job.cancel()

    @Slot(object)
    def _on_job_progressed(self, step: SyncProgress) -> None:
        if step.phase in {"arrived", "retry", "error", "watching"}:
            self._log.add_line(step.text)
        self.progressed.emit(step)

    @Slot(str)
    def _on_job_failed(self, message: str) -> None:
        log.error("The watch for new mail stopped: %s", message)
        self._log.add_line(self.tr("The watch for new mail stopped: %1").replace("%1", message))

    @Slot()
    def _on_job_finished(self) -> None:
        self._job = None
        self._log.add_line(self.tr("Stopped watching for new mail"))
        self.stopped.emit()
