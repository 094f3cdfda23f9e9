"""The window's rules: the active rule set, reloading it on file changes, and rule runs on workers.

``RulesController`` watches the profile's rules folder with a
``QFileSystemWatcher``. After a change it loads the rule files again through
``desktop.rules.active.active_rules``, as a sync does: a load with problems
keeps the last valid rule set active, and the problems are reported as
``file:line: message``. Previews (``plan_rules``), rule runs
(``apply_plan``) and undo (``Store.undo_last``) run on worker threads, each
with its own store connection, and report back through signals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, SignalInstance, Slot

from desktop.index import SearchIndex
from desktop.paths import Profile
from desktop.rules.active import active_rules
from desktop.rules.loader import rule_files
from desktop.rules.model import RuleSet
from desktop.rules.problems import RuleProblem
from desktop.store import Store
from desktop.sync.service import CancelToken
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

# Editors save a file in several writes, or write a copy and rename it, so one reload follows the last event.
RELOAD_DELAY_MS = 200


@dataclass(frozen=True)
class RunTarget:
    """The messages a preview or rule run looks at.

    Attributes:
        account: The account of the folder on show, or None for every account.
        folder: The folder on show, or None for the account's (or every) folder.
        description: Where the run happened, for the undo history, e.g.
            "INBOX of work".
    """

    account: str | None
    folder: str | None
    description: str


def _plan_steps(profile: Profile, ruleset: RuleSet, target: RunTarget, _cancel: CancelToken) -> Iterator[object]:
    from desktop.rules.engine import plan_rules

    with Store(profile.store_file) as store:
        index = SearchIndex(profile.index_dir)
        try:
            yield plan_rules(store, ruleset, account=target.account, folder=target.folder, index=index)
        finally:
            index.close()


# Recorded as the outcome of each auto-reply that Apply leaves out, and shown by ``sluice rules explain``.
APPLY_REPLIES_OFF_REASON = "Apply in the window sends no auto-replies to existing mail"


def _apply_steps(profile: Profile, plan: object, description: str, _cancel: CancelToken) -> Iterator[object]:
    """Apply ``plan`` without its auto-replies, as ``sluice rules apply`` does by default.

    Auto-replies go to new mail during sync, because a reply to months-old
    mail would reach people who no longer wait for one.
    """
    from desktop.rules.engine import apply_plan

    with Store(profile.store_file) as store:
        yield apply_plan(store, plan, description=description, auto_reply=None,
                         replies_off_reason=APPLY_REPLIES_OFF_REASON)


def _undo_steps(profile: Profile, _cancel: CancelToken) -> Iterator[object]:
    with Store(profile.store_file) as store:
        yield store.undo_last()


class RulesController(QObject):
    """Keeps the active rule set of a profile and runs rule work in the background.

    Attributes:
        problems: The problems of the last load, in file and line order.

    Signals:
        rules_reloaded(list): the rule files were read again; the list contains
            their ``RuleProblem`` objects and is empty when all loaded.
        plan_ready(int, object): a preview finished; its serial and the
            ``Plan``.
        plan_failed(int, str): a preview failed; its serial and the message
            for the user.
        applied(object): a rule run finished; the ``ApplyResult``.
        undone(object): an undo finished; the ``UndoResult``, or None when
            there was nothing to undo.
        failed(str, str): a rule run or undo failed; which one ("apply" or
            "undo") and the message for the user.
        busy_changed(bool): a run or undo started (True) or ended (False).
    """

    rules_reloaded = Signal(list)
    plan_ready = Signal(int, object)
    plan_failed = Signal(int, str)
    applied = Signal(object)
    undone = Signal(object)
    failed = Signal(str, str)
    busy_changed = Signal(bool)

    def __init__(self, profile: Profile, jobs: JobSet, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._profile = profile
        self._jobs = jobs
        self._ruleset = RuleSet()
        self._plan_serial = 0
        self._busy_job: BackgroundJob | None = None
        self.problems: list[RuleProblem] = []
        self._watcher = QFileSystemWatcher(self)
        self._reload_timer = QTimer(self, singleShot=True, interval=RELOAD_DELAY_MS)
        self._watcher.directoryChanged.connect(self._on_watcher_changed)
        self._watcher.fileChanged.connect(self._on_watcher_changed)
        self._reload_timer.timeout.connect(self.reload)

    # --- the active rules -----------------------------------------------------

    @property
    def rules_dir(self) -> Path:
        return self._profile.rules_dir

    def ruleset(self) -> RuleSet:
        """Return the active rules: those of the files, or with problems, those that last loaded without any."""
        return self._ruleset

    def start_watching(self) -> None:
        """Load the rules and watch the rules folder and its files for changes."""
        try:
            self.rules_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            log.error("Cannot create the rules folder %s: %s", self.rules_dir, error)
        self.reload()

    @Slot()
    def reload(self) -> None:
        """Read the rule files again; with problems, the last valid rules stay active."""
        self._watch_paths()
        self._ruleset, problems = active_rules(self._profile)
        self.problems = sorted(problems, key=lambda problem: (str(problem.path), problem.line))
        log.info("Rules reloaded: %d active rule(s), %d problem(s)", len(self._ruleset.rules), len(problems))
        for problem in self.problems:
            log.warning("Rule problem: %s", problem)
        self.rules_reloaded.emit(list(self.problems))

    def kept_previous_rules(self) -> bool:
        """Return whether the last load had problems and the rules of an earlier valid load stayed active."""
        return bool(self.problems) and bool(self._ruleset.rules)

    def _watch_paths(self) -> None:
        # A file replaced by rename (as many editors save) drops out of the watch, so the list is renewed.
        expected: set[str] = set()
        if self.rules_dir.is_dir():
            expected = {str(self.rules_dir)} | {str(path) for path in rule_files(self.rules_dir)}
        watched = set(self._watcher.files()) | set(self._watcher.directories())
        stale = sorted(watched - expected)
        missing = sorted(expected - watched)
        if stale:
            self._watcher.removePaths(stale)
        if missing:
            self._watcher.addPaths(missing)

    @Slot(str)
    def _on_watcher_changed(self, path: str) -> None:
        log.debug("Rules folder changed: %s", path)
        self._reload_timer.start()

    # --- previews, runs and undo --------------------------------------------------

    def is_busy(self) -> bool:
        """Return whether a rule run or an undo is running; only one runs at a time."""
        return self._busy_job is not None

    def preview(self, ruleset: RuleSet, target: RunTarget) -> int:
        """Plan ``ruleset`` on ``target`` on a worker; return the serial that ``plan_ready`` will carry.

        A newer preview makes the results of older ones stale; callers
        compare the serial.
        """
        self._plan_serial += 1
        serial = self._plan_serial
        job = BackgroundJob(partial(_plan_steps, self._profile, ruleset, target), name="rules-preview")
        job.progressed.connect(partial(self._on_plan_progressed, serial))
        job.failed.connect(partial(self.plan_failed.emit, serial))
        self._jobs.start(job)
        log.info("Rule preview %d started on %s with %d rule(s)", serial, target.description, len(ruleset.rules))
        return serial

    def apply(self, plan: object, description: str) -> bool:
        """Run ``plan`` on a worker; return False when another run or undo is still running."""
        return self._start_busy(BackgroundJob(partial(_apply_steps, self._profile, plan, description), name="rules-apply"),
                                self.applied, "apply")

    def undo(self) -> bool:
        """Undo the newest bulk action on a worker; return False when a run or undo is still running."""
        return self._start_busy(BackgroundJob(partial(_undo_steps, self._profile), name="undo"), self.undone, "undo")

    def _start_busy(self, job: BackgroundJob, done: SignalInstance, kind: str) -> bool:
        if self._busy_job is not None:
            return False
        job.progressed.connect(done.emit)
        job.failed.connect(partial(self.failed.emit, kind))
        job.finished.connect(self._on_busy_job_finished)
        self._busy_job = job
        self._jobs.start(job)
        log.info("Started %s", job.objectName())
        self.busy_changed.emit(True)
        return True

    def _on_plan_progressed(self, serial: int, plan: object) -> None:
        self.plan_ready.emit(serial, plan)

    @Slot()
    def _on_busy_job_finished(self) -> None:
        self._busy_job = None
        self.busy_changed.emit(False)


def problem_lines(problems: Sequence[RuleProblem]) -> list[str]:
    """Return each problem as ``file:line: message``, with the file name only."""
    lines = []
    for problem in problems:
        where = f"rule '{problem.rule}': " if problem.rule else ""
        lines.append(f"{problem.path.name}:{problem.line}: {where}{problem.message}")
    return lines
