"""The dry-run preview of rules: a table of what each rule would do, and the dialog that applies them.

The preview shows one row per rule of a ``Plan`` (from
``desktop.rules.engine.plan_rules``): the rule, how many messages it matched,
its actions and the subjects of a few of those messages. Planning changes
nothing; ``ApplyRulesDialog`` hands the plan to the window's
``RulesController`` when the user presses Apply.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QAbstractTableModel, QCoreApplication, QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.rules import model as rules
from desktop.rules.model import RuleSet
from desktop.ui.rules_control import RulesController, RunTarget

log = logging.getLogger(__name__)

RULE, COUNT, ACTIONS, SAMPLES = range(4)
_CONTEXT = "RulePreview"

_AnyIndex = QModelIndex | QPersistentModelIndex


def _tr(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


def describe_action(action: rules.Action) -> str:
    """Describe one action in a few words, e.g. "move to Receipts"."""
    if isinstance(action, rules.Move):
        return _tr("move to %1").replace("%1", action.folder)
    if isinstance(action, rules.Copy):
        return _tr("copy to %1").replace("%1", action.folder)
    if isinstance(action, rules.Flag):
        return _tr("flag") if action.value else _tr("unflag")
    if isinstance(action, rules.Mark):
        return _tr("mark read") if action.read else _tr("mark unread")
    if isinstance(action, rules.Label):
        template = _tr("label %1") if action.add else _tr("unlabel %1")
        return template.replace("%1", action.keyword)
    if isinstance(action, rules.Delete):
        return _tr("delete")
    if isinstance(action, rules.Archive):
        return _tr("archive")
    if isinstance(action, rules.Priority):
        return _tr("priority %1").replace("%1", f"{action.points:+d}")
    if isinstance(action, rules.Lane):
        return _tr("lane %1").replace("%1", action.name)
    if isinstance(action, rules.AutoReply):
        return _tr("auto-reply")
    return type(action).__name__.lower()


def describe_actions(rule: rules.Rule) -> str:
    """Describe a rule's actions in order, with "stop" last when the rule stops."""
    parts = [describe_action(action) for action in rule.actions]
    if rule.stop:
        parts.append(_tr("stop"))
    return ", ".join(parts)


class RulePreviewModel(QAbstractTableModel):
    """One row per rule of a plan: name, matched messages, actions, sample subjects."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._reports: list = []

    def set_plan(self, plan: object | None) -> None:
        """Show the rule reports of ``plan`` (a ``Plan``), or nothing for None."""
        self.beginResetModel()
        self._reports = list(plan.reports) if plan is not None else []
        self.endResetModel()

    def counts(self) -> dict[str, int]:
        """Return each rule's message count by rule name."""
        return {report.rule.name: report.count for report in self._reports}

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if parent.isValid() else len(self._reports)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if parent.isValid() else 4

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = {RULE: self.tr("Rule"), COUNT: self.tr("Messages"), ACTIONS: self.tr("Actions"), SAMPLES: self.tr("Sample subjects")}
        return titles.get(section)

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._reports):
            return None
        report = self._reports[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(report, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(report, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and report.count == 0:
            return QPalette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        return None

    def _display(self, report: object, column: int) -> object:
        if column == RULE:
            return report.rule.name
        if column == COUNT:
            return report.count
        if column == ACTIONS:
            text = describe_actions(report.rule)
            if report.replies:
                text += self.tr(" (%n auto-reply(ies) not sent to existing mail)", "", report.replies)
            return text
        if column == SAMPLES:
            return " · ".join(self._subjects(report.sample))
        return None

    def _tooltip(self, report: object, column: int) -> str | None:
        if column == SAMPLES and report.sample:
            return "\n".join(self._subjects(report.sample))
        if column == RULE and report.rule.path is not None:
            return f"{report.rule.path.name}:{report.rule.line}"
        return None

    def _subjects(self, rows: Sequence) -> list[str]:
        return [row.subject or self.tr("(no subject)") for row in rows]


class RulePreviewPane(QWidget):
    """The preview table, a summary line above it, and a busy bar while planning."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview_model = RulePreviewModel(self)
        self.table = QTableView(objectName="rulePreview")
        self.table.setModel(self.preview_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(RULE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COUNT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ACTIONS, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(ACTIONS, 260)
        header.setSectionResizeMode(SAMPLES, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel(objectName="previewSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy_bar = QProgressBar(objectName="previewBusy")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(6)
        self.busy_bar.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.table, 1)

    def show_planning(self, target: RunTarget) -> None:
        self.preview_model.set_plan(None)
        self.busy_bar.show()
        self.summary.setText(self.tr("Checking the rules against %1…").replace("%1", target.description))

    def show_plan(self, plan: object, target: RunTarget) -> None:
        """Show ``plan``: its rule rows, how many messages would change, and its problems."""
        self.busy_bar.hide()
        self.preview_model.set_plan(plan)
        matched = len(plan.steps)
        lines = [self.tr("%n message(s) in %1 match the rules. Nothing has changed yet.", "", matched).replace("%1", target.description)]
        if plan.waiting_for_body:
            lines.append(self.tr("%n message(s) need their body for a rule and are left until it is downloaded.", "",
                                 len(plan.waiting_for_body)))
        if plan.replies:
            lines.append(self.tr("Apply sends no auto-replies to existing mail, so %n auto-reply(ies) of the rules "
                                 "would not go out. Auto-replies answer new mail during sync.", "", plan.replies))
        lines.extend(plan.problems)
        self.summary.setText("\n".join(lines))

    def show_error(self, message: str) -> None:
        self.busy_bar.hide()
        self.preview_model.set_plan(None)
        self.summary.setText(self.tr("The preview failed: %1").replace("%1", message))


class ApplyRulesDialog(QDialog):
    """Preview the active rules on the folder on show, then apply them.

    Pressing Apply hands the plan to the controller and closes the dialog; the
    window reports the result in its status bar.
    """

    def __init__(self, controller: RulesController, target: RunTarget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("applyRulesDialog")
        self.setWindowTitle(self.tr("Apply rules to %1").replace("%1", target.description))
        self._controller = controller
        self._target = target
        self._serial = 0
        self._plan: object | None = None
        self.preview = RulePreviewPane()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button: QPushButton = self.buttons.addButton(self.tr("&Apply"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.buttons)
        self.resize(900, 420)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        controller.plan_ready.connect(self._on_controller_plan_ready)
        controller.plan_failed.connect(self._on_controller_plan_failed)

    def start(self, ruleset: RuleSet) -> None:
        """Plan ``ruleset`` on the target in the background; the table fills when it is done."""
        self._plan = None
        self.apply_button.setEnabled(False)
        if not ruleset.rules:
            self.preview.summary.setText(self.tr("No active rules. Write rules with Rules > Edit rules…"))
            return
        self.preview.show_planning(self._target)
        self._serial = self._controller.preview(ruleset, self._target)

    def plan(self) -> object | None:
        return self._plan

    @Slot(int, object)
    def _on_controller_plan_ready(self, serial: int, plan: object) -> None:
        if serial != self._serial:
            return
        self._plan = plan
        self.preview.show_plan(plan, self._target)
        self.apply_button.setEnabled(bool(plan.steps) and not self._controller.is_busy())

    @Slot(int, str)
    def _on_controller_plan_failed(self, serial: int, message: str) -> None:
        if serial == self._serial:
            self.preview.show_error(message)

    @Slot()
    def _on_buttons_accepted(self) -> None:
        if self._plan is None:
            return
        if not self._controller.apply(self._plan, self.tr("Rules on %1").replace("%1", self._target.description)):
            self.preview.summary.setText(self.tr("A rule run or undo is still running; try again when it ends."))
            return
        self.accept()
