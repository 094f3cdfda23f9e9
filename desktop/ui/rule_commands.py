"""The window's rule commands: Edit rules, Apply rules to this folder, and Undo.

``RuleCommands`` connects the window to its ``RulesController``: it opens the
rule editor and the apply dialog, reports rule runs, undo and rule file
problems in the status bar and the log, and signals the window when the store
changed so it can refresh the list and the lane tabs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from desktop.paths import Profile
from desktop.store import MessageRow, Store
from desktop.ui.rule_editor import RuleEditor
from desktop.ui.rule_preview import ApplyRulesDialog
from desktop.ui.rules_control import RulesController, RunTarget, problem_lines
from desktop.ui.status import LogView, StatusPanel
from desktop.ui.workers import JobSet

log = logging.getLogger(__name__)


class RuleCommands(QObject):
    """Opens the rule editor and the apply dialog, and reports rule runs and undo.

    Attributes:
        controller: The profile's active rules and the rule jobs.
        editor: The rule editor once opened, else None.
        apply_dialog: The last apply dialog opened, else None.

    Signals:
        store_changed(): a rule run or an undo changed the store.
    """

    store_changed = Signal()

    def __init__(self, profile: Profile, store: Store, jobs: JobSet, status_panel: StatusPanel, log_view: LogView, *,
                 target: Callable[[], RunTarget | None], selected_message: Callable[[], MessageRow | None],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self._window = parent
        self._store = store
        self._status = status_panel
        self._log = log_view
        self._target = target
        self._selected_message = selected_message
        self.controller = RulesController(profile, jobs, self)
        self.editor: RuleEditor | None = None
        self.apply_dialog: ApplyRulesDialog | None = None
        self._loaded_once = False
        self.controller.rules_reloaded.connect(self._on_controller_rules_reloaded)
        self.controller.applied.connect(self._on_controller_applied)
        self.controller.undone.connect(self._on_controller_undone)
        self.controller.failed.connect(self._on_controller_failed)
        self.controller.busy_changed.connect(self._on_controller_busy_changed)

    def start(self) -> None:
        """Load the rules and start watching the rule files."""
        self.controller.start_watching()

    # --- commands ---------------------------------------------------------------

    def edit_rules(self) -> RuleEditor:
        """Show the rule editor, opening it on first use."""
        if self.editor is None:
            self.editor = RuleEditor(self.controller, self._store, target=self._target,
                                     selected_message=self._selected_message, parent=self._window)
        self.editor.show()
        self.editor.raise_()
        self.editor.activateWindow()
        return self.editor

    def apply_rules(self) -> ApplyRulesDialog | None:
        """Open the preview of the active rules on the folder on show, with an Apply button."""
        target = self._target()
        if target is None:
            self._status.show_message(self.tr("Select a folder or an account to apply the rules to."), error=True)
            return None
        if self.controller.is_busy():
            self._status.show_message(self.tr("A rule run or undo is still running; try again when it ends."))
            return None
        if self.apply_dialog is not None:
            self.apply_dialog.deleteLater()
        self.apply_dialog = ApplyRulesDialog(self.controller, target, self._window)
        self.apply_dialog.start(self.controller.ruleset())
        self.apply_dialog.show()
        return self.apply_dialog

    def undo(self) -> None:
        """Undo the newest rule run or bulk action on a worker."""
        if not self.controller.undo():
            self._status.show_message(self.tr("A rule run or undo is still running; try again when it ends."))
            return
        self._status.show_message(self.tr("Undoing…"))

    # --- results ------------------------------------------------------------------

    @Slot(bool)
    def _on_controller_busy_changed(self, busy: bool) -> None:
        if busy:
            self._status.show_message(self.tr("Applying rules…"))
            self._status.show_progress(0, 0)
            # A run is one store transaction, so it has no point to stop at halfway.
            self._status.cancel_button.hide()
        else:
            self._status.hide_progress()

    @Slot(object)
    def _on_controller_applied(self, result: object) -> None:
        text = self.apply_summary(result)
        log.info("Rule run done: %s", text)
        self._status.show_message(text)
        self._log.add_line(text)
        for line in result.skipped[:20]:
            self._log.add_line(line)
        for line in result.replies:
            self._log.add_line(line)
        self.store_changed.emit()

    @Slot(object)
    def _on_controller_undone(self, result: object) -> None:
        if result is None:
            text = self.tr("Nothing to undo.")
        else:
            text = self.tr("Undid “%1”: %n message(s) restored", "", result.restored).replace("%1", result.bulk.description)
            if result.skipped:
                text += self.tr("; %n left alone because they changed since", "", len(result.skipped))
        log.info("Undo done: %s", text)
        self._status.show_message(text)
        self._log.add_line(text)
        if result is not None:
            for line in result.skipped[:20]:
                self._log.add_line(line)
            self.store_changed.emit()

    @Slot(str, str)
    def _on_controller_failed(self, kind: str, message: str) -> None:
        prefix = self.tr("Undo failed: %1") if kind == "undo" else self.tr("Applying the rules failed: %1")
        text = prefix.replace("%1", message)
        log.error("%s", text)
        self._status.show_message(text, error=True)
        self._log.add_line(text)

    @Slot(list)
    def _on_controller_rules_reloaded(self, problems: list) -> None:
        lines = problem_lines(problems)
        first_load = not self._loaded_once
        self._loaded_once = True
        if not lines:
            text = self.tr("Rules loaded: %n rule(s) active", "", len(self.controller.ruleset().rules))
            self._log.add_line(text)
            # At startup the status bar keeps the folder's message count. Later reloads confirm the change.
            if not first_load:
                self._status.show_message(text)
            return
        if self.controller.kept_previous_rules():
            head = self.tr("Rule files have %n problem(s); the previous rules stay active.", "", len(lines))
        else:
            head = self.tr("Rule files have %n problem(s); no rules run until they are fixed.", "", len(lines))
        # The status bar shows the first line, and its tooltip and the log list every problem.
        self._status.show_message("\n".join([f"{head} {lines[0]}", *lines]), error=True)
        self._log.add_line(head)
        for line in lines:
            self._log.add_line(line)

    def apply_summary(self, result: object) -> str:
        """Describe a rule run for the status bar, e.g. "Rules moved 312 messages — Ctrl+Z to undo"."""
        if result.bulk_id is None:
            return self.tr("The rules changed nothing.")
        counts = result.counts
        templates = (
            ("moved", self.tr("moved %n message(s)", "", counts.get("moved", 0))),
            ("archived", self.tr("archived %n message(s)", "", counts.get("archived", 0))),
            ("deleted", self.tr("deleted %n message(s)", "", counts.get("deleted", 0))),
            ("copied", self.tr("copied %n message(s)", "", counts.get("copied", 0))),
            ("flags", self.tr("changed the flags of %n message(s)", "", counts.get("flags", 0))),
            ("lane", self.tr("put %n message(s) in lanes", "", counts.get("lane", 0))),
            ("priority", self.tr("set the priority of %n message(s)", "", counts.get("priority", 0))),
            ("replies", self.tr("sent %n auto-reply(ies)", "", counts.get("replies", 0))),
        )
        parts = [text for key, text in templates if counts.get(key)]
        if not parts:
            parts = [self.tr("changed %n message(s)", "", result.changed)]
        return self.tr("Rules %1 — Ctrl+Z to undo").replace("%1", ", ".join(parts))
