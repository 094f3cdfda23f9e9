"""The rule editor: the profile's rule files as text, checked while the user types.

The text is checked a moment after each change with
``desktop.rules.loader.check_text``, which reads nothing from disk. Each
problem underlines its line with a wave, shows its message as the line's
tooltip and is listed below the text as ``file:line: message``. Saving writes
the file even when it has problems; the window's ``RulesController`` then
keeps the previous rules active. "Test on this folder" previews the file's
rules on the folder on show, and "New rule from this message" appends a rule
built from the selected message's list or sender.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QColor, QFontDatabase, QKeySequence, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextEdit,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.rules.loader import RULE_FILE_SUFFIX, check_text, collect_rules, rule_files
from desktop.rules.model import Rule, RuleSet
from desktop.rules.problems import RuleProblem
from desktop.store import MessageRow, Store
from desktop.ui.rule_preview import RulePreviewPane
from desktop.ui.rules_control import RulesController, RunTarget, problem_lines

log = logging.getLogger(__name__)

# Long enough to skip most keystrokes of a word, short enough to feel live.
CHECK_DELAY_MS = 300
PROBLEM_COLOUR = "#d32f2f"
PROBLEM_BACKGROUND = "#fdecea"
PROBLEM_LINE_ROLE = Qt.ItemDataRole.UserRole + 1
PROBLEM_PATH_ROLE = Qt.ItemDataRole.UserRole + 2
NEW_FILE_TEXT = "# The rules of this file run after those of the files before it in name order. See docs/rules.md.\n"


def toml_string(text: str) -> str:
    """Quote ``text`` as a TOML basic string, which accepts every escape that JSON writes."""
    return json.dumps(text, ensure_ascii=False)


def rule_from_message(row: MessageRow, folder: str, taken_names: Sequence[str]) -> str:
    """Write a rule, as TOML text, that moves mail like ``row`` to ``folder``.

    The rule matches the message's List-Id when it has one, else its sender
    address. Its scope is the message's account and folder, so it runs where
    such mail arrives.
    """
    list_id = row.list_id.strip().strip("<>")
    if list_id:
        name = f"List {list_id}"
        test = f'{{ header = "list-id", contains = {toml_string(list_id)} }}'
    else:
        name = f"From {row.from_addr}"
        test = f'{{ address = "from", is = {toml_string(row.from_addr)} }}'
    unique = name
    number = 2
    while unique in taken_names:
        unique = f"{name} ({number})"
        number += 1
    return (
        "[[rule]]\n"
        f"name = {toml_string(unique)}\n"
        f"scope = {{ accounts = [{toml_string(row.account)}], folders = [{toml_string(row.folder)}] }}\n"
        f"if = [{test}]\n"
        f"actions = [{{ move = {toml_string(folder)} }}]\n"
    )


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a crash leaves the old or the new file."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class RuleTextEdit(QPlainTextEdit):
    """A plain-text editor that underlines problem lines and shows their messages as tooltips."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ruleText")
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabChangesFocus(False)
        self._messages: dict[int, list[str]] = {}

    def set_problems(self, problems: Sequence[RuleProblem]) -> None:
        """Underline the line of each problem with a red wave; the lines' tooltips carry the messages."""
        self._messages = {}
        for problem in problems:
            self._messages.setdefault(problem.line, []).append(problem.message)
        selections = []
        for line in sorted(self._messages):
            block = self.document().findBlockByNumber(line - 1)
            if not block.isValid():
                continue
            # A thin wave is easy to miss, so the whole line is tinted as well.
            tint = QTextEdit.ExtraSelection()
            tint.cursor = QTextCursor(block)
            tint.format.setBackground(QColor(PROBLEM_BACKGROUND))
            tint.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            underline = QTextEdit.ExtraSelection()
            underline.cursor = self._line_cursor(block)
            underline.format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            underline.format.setUnderlineColor(QColor(PROBLEM_COLOUR))
            underline.format.setToolTip("\n".join(self._messages[line]))
            selections += [tint, underline]
        self.setExtraSelections(selections)

    def underlined_lines(self) -> list[int]:
        """Return the 1-based numbers of the lines underlined as problems."""
        return [
            selection.cursor.block().blockNumber() + 1
            for selection in self.extraSelections()
            if selection.format.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
        ]

    def tooltip_for_line(self, line: int) -> str:
        """Return the messages of the problems on ``line`` (1-based), one per line, or an empty string."""
        return "\n".join(self._messages.get(line, []))

    def go_to_line(self, line: int) -> None:
        block = self.document().findBlockByNumber(max(0, line - 1))
        cursor = QTextCursor(block)
        self.setTextCursor(cursor)
        self.centerCursor()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        if event.type() == QEvent.Type.ToolTip:
            line = self.cursorForPosition(event.pos()).blockNumber() + 1
            text = self.tooltip_for_line(line)
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def _line_cursor(self, block: object) -> QTextCursor:
        cursor = QTextCursor(block)
        text = block.text()
        # The wave runs from the first to the last visible character. An empty line has only the tint.
        start = len(text) - len(text.lstrip())
        if text.strip():
            cursor.setPosition(block.position() + start)
            cursor.setPosition(block.position() + len(text.rstrip()), QTextCursor.MoveMode.KeepAnchor)
        return cursor


class RuleEditor(QWidget):
    """A window that edits the rule files of a profile.

    Attributes:
        text_edit: The rule file's text.
        problem_list: The problems of the text, then those of the other files.
        preview: The preview table of "Test on this folder".

    Signals:
        checked(int): the text was checked; the number of problems it has.
        saved(str): a file was written; its path.
    """

    checked = Signal(int)
    saved = Signal(str)

    def __init__(self, controller: RulesController, store: Store, *,
                 target: Callable[[], RunTarget | None], selected_message: Callable[[], MessageRow | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("ruleEditor")
        self.setWindowTitle(self.tr("Rules"))
        self._controller = controller
        self._store = store
        self._target = target
        self._selected_message = selected_message
        self._path: Path | None = None
        self._rules = RuleSet()
        self._problems: list[RuleProblem] = []
        self._other_rules: tuple[Rule, ...] = ()
        self._preview_serial = 0
        self._preview_target: RunTarget | None = None
        self._check_timer = QTimer(self, singleShot=True, interval=CHECK_DELAY_MS)
        self._init_widgets()
        self._init_layout()
        self._connect_signals()
        self._fill_file_list()
        self.resize(980, 760)

    # --- construction -------------------------------------------------------

    def _init_widgets(self) -> None:
        self.file_box = QComboBox(objectName="ruleFiles")
        self.file_box.setMinimumWidth(240)
        self.new_file_button = QPushButton(self.tr("New file…"), objectName="newRuleFile")
        self.save_button = QPushButton(self.tr("&Save"), objectName="saveRules")
        self.save_button.setShortcut(QKeySequence.StandardKey.Save)
        self.text_edit = RuleTextEdit()
        self.problem_list = QListWidget(objectName="ruleProblems")
        self.problem_list.setWordWrap(True)
        # Query problems point at a character with a caret on the next line, which needs a fixed-width font.
        self.problem_list.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview = RulePreviewPane()
        self.test_button = QPushButton(self.tr("&Test on this folder"), objectName="testRules")
        self.from_message_button = QPushButton(self.tr("New rule from this &message…"), objectName="ruleFromMessage")
        self.status_label = QLabel(objectName="ruleEditorStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _init_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("File:")))
        top.addWidget(self.file_box, 1)
        top.addWidget(self.new_file_button)
        top.addWidget(self.save_button)

        splitter = QSplitter(Qt.Orientation.Vertical, objectName="ruleEditorSplitter")
        splitter.addWidget(self.text_edit)
        splitter.addWidget(self.problem_list)
        splitter.addWidget(self.preview)
        splitter.setSizes([420, 110, 200])

        bottom = QHBoxLayout()
        bottom.addWidget(self.test_button)
        bottom.addWidget(self.from_message_button)
        bottom.addWidget(self.status_label, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

    def _connect_signals(self) -> None:
        self.file_box.activated.connect(self._on_file_box_activated)
        self.new_file_button.clicked.connect(self._on_new_file_button_clicked)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.text_edit.textChanged.connect(self._check_timer.start)
        self.text_edit.modificationChanged.connect(self._on_text_modification_changed)
        self._check_timer.timeout.connect(self.check_now)
        self.problem_list.itemActivated.connect(self._on_problem_list_item_activated)
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.from_message_button.clicked.connect(self._on_from_message_button_clicked)
        self._controller.rules_reloaded.connect(self._on_controller_rules_reloaded)
        self._controller.plan_ready.connect(self._on_controller_plan_ready)
        self._controller.plan_failed.connect(self._on_controller_plan_failed)

    # --- files ----------------------------------------------------------------

    def path(self) -> Path | None:
        """Return the file being edited, or None before any file exists."""
        return self._path

    def _fill_file_list(self) -> None:
        files = rule_files(self._controller.rules_dir) if self._controller.rules_dir.is_dir() else []
        self.file_box.clear()
        for path in files:
            self.file_box.addItem(path.name, str(path))
        if self._path is None and files:
            self.open_file(files[0])
        elif self._path is not None:
            self.file_box.setCurrentIndex(self.file_box.findData(str(self._path)))
        elif not files:
            self._show_status(self.tr("No rule files yet. Press \"New file…\" to write the first one."))
            self.text_edit.setEnabled(False)

    def open_file(self, path: Path) -> bool:
        """Show ``path`` in the editor, asking first when the current text has unsaved changes.

        Returns:
            False when the user kept the current text, or the file cannot be read.
        """
        if path != self._path and not self._confirm_discard():
            self.file_box.setCurrentIndex(self.file_box.findData(str(self._path)))
            return False
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            log.error("Cannot read rule file %s: %s", path, error)
            self._show_status(self.tr("Cannot read %1: %2").replace("%1", path.name).replace("%2", str(error)), error=True)
            return False
        self._path = path
        self._load_other_rules()
        self.text_edit.setEnabled(True)
        self.text_edit.setPlainText(text)
        self.text_edit.document().setModified(False)
        self.file_box.setCurrentIndex(self.file_box.findData(str(path)))
        self._update_title()
        self.check_now()
        log.debug("Opened rule file %s", path)
        return True

    def create_file(self, name: str) -> Path | None:
        """Create an empty rule file ``name`` in the rules folder and open it; return None when the name is invalid."""
        name = name.strip()
        if not name.endswith(RULE_FILE_SUFFIX):
            name += RULE_FILE_SUFFIX
        if "/" in name or "\\" in name or name.startswith(".") or name == RULE_FILE_SUFFIX:
            self._show_status(self.tr("Invalid file name '%1'. Write a plain name such as 60-projects.toml.").replace("%1", name), error=True)
            return None
        path = self._controller.rules_dir / name
        if path.exists():
            self._show_status(self.tr("%1 exists already; pick it in the file list or choose another name.").replace("%1", name), error=True)
            return None
        if not self._confirm_discard():
            return None
        try:
            self._controller.rules_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, NEW_FILE_TEXT)
        except OSError as error:
            log.error("Cannot create rule file %s: %s", path, error)
            self._show_status(self.tr("Cannot create %1: %2").replace("%1", name).replace("%2", str(error)), error=True)
            return None
        log.info("Created rule file %s", path)
        self._path = None
        self._fill_file_list()
        self.open_file(path)
        return path

    def save(self) -> bool:
        """Write the text to its file; return False when writing failed."""
        if self._path is None:
            return False
        self.check_now()
        try:
            write_text_atomic(self._path, self.text_edit.toPlainText())
        except OSError as error:
            log.error("Cannot save rule file %s: %s", self._path, error)
            self._show_status(self.tr("Cannot save %1: %2").replace("%1", self._path.name).replace("%2", str(error)), error=True)
            return False
        self.text_edit.document().setModified(False)
        log.info("Saved rule file %s with %d problem(s)", self._path, len(self._problems))
        # The controller decides what runs, and its reload reports the problems that keep this text from running.
        self._controller.reload()
        self._show_saved_status()
        self.saved.emit(str(self._path))
        return True

    def _show_saved_status(self) -> None:
        blocking = [problem for problem in self._controller.problems if problem.path == self._path]
        name = self._path.name
        if blocking and self._controller.kept_previous_rules():
            text = self.tr("Saved %1. It has %n problem(s), so the previous rules stay active.", "", len(blocking))
        elif blocking:
            text = self.tr("Saved %1. It has %n problem(s); no rules run until they are fixed.", "", len(blocking))
        elif self._problems:
            text = self.tr("Saved %1. Its rules are active, but check the %n problem(s) listed below.", "", len(self._problems))
        else:
            text = self.tr("Saved %1. Its rules are active.")
        self._show_status(text.replace("%1", name), error=bool(blocking or self._problems))

    def _load_other_rules(self) -> None:
        others = [path for path in rule_files(self._controller.rules_dir) if path != self._path]
        ruleset, _problems = collect_rules(others)
        self._other_rules = ruleset.rules

    def _confirm_discard(self) -> bool:
        if self._path is None or not self.text_edit.document().isModified():
            return True
        answer = QMessageBox.question(
            self, self.tr("Unsaved rules"),
            self.tr("%1 has unsaved changes. Save them?").replace("%1", self._path.name),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _update_title(self) -> None:
        name = self._path.name if self._path else ""
        self.setWindowTitle(self.tr("Rules – %1[*]").replace("%1", name))
        self.setWindowModified(self.text_edit.document().isModified())

    # --- checking ---------------------------------------------------------------

    @Slot()
    def check_now(self) -> list[RuleProblem]:
        """Check the text at once (the editor also does it shortly after each change); return its problems."""
        self._check_timer.stop()
        if self._path is None:
            return []
        folders = [(row.account, row.name) for row in self._store.folders(with_counts=False)]
        self._rules, self._problems = check_text(self.text_edit.toPlainText(), self._path, other_rules=self._other_rules,
                                                 folders=folders or None)
        self.text_edit.set_problems(self._problems)
        self._fill_problem_list()
        self.checked.emit(len(self._problems))
        return list(self._problems)

    def problems(self) -> list[RuleProblem]:
        return list(self._problems)

    def _fill_problem_list(self) -> None:
        self.problem_list.clear()
        others = [problem for problem in self._controller.problems if problem.path != self._path]
        for problem, text in zip([*self._problems, *others], problem_lines([*self._problems, *others]), strict=True):
            item = QListWidgetItem(text)
            item.setData(PROBLEM_LINE_ROLE, problem.line)
            item.setData(PROBLEM_PATH_ROLE, str(problem.path))
            item.setToolTip(self.tr("Double-click to go to the line"))
            self.problem_list.addItem(item)
        if not self._problems and not others:
            self.problem_list.addItem(QListWidgetItem(self.tr("No problems.")))

    @Slot(QListWidgetItem)
    def _on_problem_list_item_activated(self, item: QListWidgetItem) -> None:
        line = item.data(PROBLEM_LINE_ROLE)
        path = item.data(PROBLEM_PATH_ROLE)
        if line is None:
            return
        if path != str(self._path) and not self.open_file(Path(path)):
            return
        self.text_edit.go_to_line(line)

    @Slot(list)
    def _on_controller_rules_reloaded(self, problems: list) -> None:
        if self._path is not None and not self._path.exists():
            self._path = None
            self.text_edit.clear()
            self.text_edit.document().setModified(False)
        self._fill_file_list()
        if self._path is None:
            return
        self._load_other_rules()
        if not self.text_edit.document().isModified():
            self._reload_from_disk()
        else:
            self.check_now()
        if any(problem.path != self._path for problem in problems):
            self._show_status(self.tr("Other rule files have problems; they are listed below."), error=True)

    def _reload_from_disk(self) -> None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            log.warning("Cannot read rule file %s again: %s", self._path, error)
            return
        if text != self.text_edit.toPlainText():
            cursor_line = self.text_edit.textCursor().blockNumber() + 1
            self.text_edit.setPlainText(text)
            self.text_edit.document().setModified(False)
            self.text_edit.go_to_line(cursor_line)
            self._show_status(self.tr("%1 changed on disk and was read again.").replace("%1", self._path.name))
        self.check_now()

    # --- preview and new rules --------------------------------------------------

    def test_on_folder(self) -> bool:
        """Preview the text's rules on the folder on show; return False when they cannot run yet."""
        self.check_now()
        target = self._target()
        if self._problems:
            self._show_status(self.tr("Fix the problems first; a file with problems runs no rules."), error=True)
            return False
        if not self._rules.rules:
            self._show_status(self.tr("This file has no rules to test."), error=True)
            return False
        if target is None:
            self._show_status(self.tr("Select a folder in the main window first."), error=True)
            return False
        self._preview_target = target
        self.preview.show_planning(target)
        self._preview_serial = self._controller.preview(self._rules, target)
        self._show_status(self.tr("Testing %n rule(s); nothing changes.", "", len(self._rules.rules)))
        return True

    def new_rule_from_message(self, folder: str | None = None) -> bool:
        """Append a rule that moves mail like the selected message to ``folder``.

        Without ``folder`` the user picks one of the message's account's folders.

        Returns:
            False when no message is selected, no file is open or the user cancelled.
        """
        row = self._selected_message()
        if row is None:
            self._show_status(self.tr("Select a message in the main window first."), error=True)
            return False
        if self._path is None:
            self._show_status(self.tr("Create a rule file first with \"New file…\"."), error=True)
            return False
        if folder is None:
            folder = self._ask_folder(row)
            if folder is None:
                return False
        used_names = [rule.name for rule in self._other_rules] + [rule.name for rule in self._rules.rules]
        self._append_text(rule_from_message(row, folder, used_names))
        self.check_now()
        return True

    def _ask_folder(self, row: MessageRow) -> str | None:
        names = [folder.name for folder in self._store.folders(row.account, with_counts=False) if folder.name != row.folder]
        if not names:
            self._show_status(self.tr("Account %1 has no other folder to move to.").replace("%1", row.account), error=True)
            return None
        name, chosen = QInputDialog.getItem(self, self.tr("New rule"), self.tr("Move such messages to:"), names, 0, False)
        return name if chosen else None

    def _append_text(self, rule_text: str) -> None:
        cursor = QTextCursor(self.text_edit.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        existing = self.text_edit.toPlainText()
        if not existing.strip():
            separator = ""
        elif existing.endswith("\n"):
            separator = "\n"
        else:
            separator = "\n\n"
        cursor.insertText(separator + rule_text)
        self.text_edit.setTextCursor(cursor)
        self.text_edit.ensureCursorVisible()

    @Slot(int, object)
    def _on_controller_plan_ready(self, serial: int, plan: object) -> None:
        if serial != self._preview_serial or self._preview_target is None:
            return
        self.preview.show_plan(plan, self._preview_target)
        self._show_status(self.tr("Preview ready; nothing has changed."))

    @Slot(int, str)
    def _on_controller_plan_failed(self, serial: int, message: str) -> None:
        if serial == self._preview_serial:
            self.preview.show_error(message)

    # --- buttons ------------------------------------------------------------------

    @Slot(int)
    def _on_file_box_activated(self, index: int) -> None:
        data = self.file_box.itemData(index)
        if data:
            self.open_file(Path(data))

    @Slot()
    def _on_new_file_button_clicked(self) -> None:
        name, chosen = QInputDialog.getText(self, self.tr("New rule file"),
                                            self.tr("File name (files run in name order, e.g. 60-projects.toml):"))
        if chosen and name.strip():
            self.create_file(name)

    @Slot()
    def _on_save_button_clicked(self) -> None:
        self.save()

    @Slot()
    def _on_test_button_clicked(self) -> None:
        self.test_on_folder()

    @Slot()
    def _on_from_message_button_clicked(self) -> None:
        self.new_rule_from_message()

    @Slot(bool)
    def _on_text_modification_changed(self, _modified: bool) -> None:
        self._update_title()

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("error", error)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)

    def status(self) -> str:
        return self.status_label.text()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's method name
        if not self._confirm_discard():
            event.ignore()
            return
        super().closeEvent(event)

