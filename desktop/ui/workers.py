"""Running core generators on a worker thread and reporting through signals.

The core writes long jobs (sync, search, reindex) as plain generators that
take a ``CancelToken`` and yield progress. ``BackgroundJob`` runs one such
generator on its own QThread, turns each yielded value into a queued signal
and turns ``cancel()`` into ``CancelToken.cancel()``, so the GUI thread stays
responsive while the job runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from desktop.sync.service import CancelToken

log = logging.getLogger(__name__)

Job = Callable[[CancelToken], Iterator[object]]


class _GeneratorWorker(QObject):
    """Drives the generator inside the worker thread."""

    progressed = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, job: Job, token: CancelToken, expected_errors: tuple[type[BaseException], ...], name: str) -> None:
        super().__init__()
        self._name = name
        self._job = job
        self._token = token
        self._expected_errors = expected_errors

    @Slot()
    def run(self) -> None:
        try:
            for step in self._job(self._token):
                self.progressed.emit(step)
        except self._expected_errors as error:
            self.failed.emit(str(error))
        except Exception as error:  # noqa: BLE001 - a worker must report every failure instead of dying silently
            log.exception("Background job %s failed", self._name)
            self.failed.emit(QCoreApplication.translate("BackgroundJob", "Unexpected error: {0}. Details are in the log file.").format(error))
        finally:
            # Hand the worker back to the GUI thread so it can be deleted there.
            self.moveToThread(QCoreApplication.instance().thread())
            self.finished.emit()


class BackgroundJob(QObject):
    """One run of a generator job on its own thread.

    Signals:
        progressed(object): a value the generator yielded.
        failed(str): the job raised; the text is meant for the user.
        finished(): the thread has stopped, after a success, a failure or
            a cancel. Emitted last.
    """

    progressed = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(
        self,
        job: Job,
        *,
        expected_errors: tuple[type[BaseException], ...] = (),
        name: str = "job",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._token = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker: _GeneratorWorker | None = _GeneratorWorker(job, self._token, expected_errors, name)
        self._worker.moveToThread(self._thread)
        self._running = False
        self._connect_signals()

    def _connect_signals(self) -> None:
        assert self._worker is not None
        self._thread.started.connect(self._worker.run)
        self._worker.progressed.connect(self.progressed)
        self._worker.failed.connect(self.failed)
        # Direct: quit() is thread-safe, and a queued call would wait for the GUI
        # thread, which may itself be blocked in wait() while the window closes.
        self._worker.finished.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next check; ``finished`` follows."""
        self._token.cancel()

    def is_running(self) -> bool:
        return self._running

    def wait(self, milliseconds: int) -> bool:
        """Block until the thread stops or the time is up; return whether it stopped."""
        return self._thread.wait(milliseconds)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._running = False
        self._worker = None
        self.finished.emit()


class JobSet(QObject):
    """Keeps started jobs alive until their threads have stopped."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: set[BackgroundJob] = set()

    def start(self, job: BackgroundJob) -> None:
        self._jobs.add(job)
        job.finished.connect(self._on_job_finished)
        job.start()

    def cancel_all(self, wait_ms: int) -> bool:
        """Cancel every job and wait up to ``wait_ms`` for each; return whether all stopped."""
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        stopped = True
        for job in jobs:
            if not job.wait(wait_ms):
                log.warning("Background job %s did not stop within %d ms", job.objectName(), wait_ms)
                stopped = False
        return stopped

    def __len__(self) -> int:
        return len(self._jobs)

    @Slot()
    def _on_job_finished(self) -> None:
        job = self.sender()
        # Dropping the last reference while the job still emits would delete
        # it inside its own signal, so it is dropped on the next loop turn.
        QTimer.singleShot(0, partial(self._jobs.discard, job))
