"""Keyboard-driven pickers for bulk actions: a list picker (folders, rules) and the label picker.

Both are small dialogs with a text field over a list. Typing filters the
list with ``desktop.commands.fuzzy_filter``, Up and Down move through it,
and Escape closes the dialog without a change. They are windows of their
own, so the main window's key dispatcher ignores their key events: a ``j``
or ``e`` typed there is text, not a command.

``ListPicker`` returns one name on Enter. ``LabelPicker`` shows, for each
label, whether all, some or none of the selected messages carry it. Space
toggles the current label and keeps the picker open, and Enter toggles the
current label when nothing was toggled yet, then returns the changes.
Typing a name that no label has offers to create it, once it is a valid
IMAP atom.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractListModel,
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QDialog, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

from desktop.commands import fuzzy_filter

log = logging.getLogger(__name__)

_AnyIndex = QModelIndex | QPersistentModelIndex

# Characters an IMAP atom (RFC 3501, section 9) must not contain, besides spaces and control characters.
_ATOM_SPECIALS = '(){%*"\\]'


def _tr(text: str) -> str:
    return QCoreApplication.translate("Pickers", text)


def keyword_problem(name: str) -> str:
    """Return why ``name`` cannot be an IMAP keyword, naming the bad character, or "" when it can."""
    if not name:
        return _tr("A label needs a name.")
    for char in name:
        if char == " ":
            return _tr("A label cannot contain a space; use - or _ instead.")
        if char in _ATOM_SPECIALS:
            return _tr("A label cannot contain the character %1; leave it out.").replace("%1", char)
        if not "!" <= char <= "~":
            return _tr("A label cannot contain the character %1 (U+%2), because IMAP keywords are printable ASCII "
                       "only.").replace("%1", repr(char)).replace("%2", f"{ord(char):04X}")
    return ""


@dataclass
class Choice:
    """One row of a picker.

    Attributes:
        name: The value the row stands for (a folder name, a rule name, a label).
        detail: Text shown after the name.
        state: The row's check state in the label picker, or None in a list picker.
        new: The row creates a label that no message has yet.
    """

    name: str
    detail: str = ""
    state: Qt.CheckState | None = None
    new: bool = False


class ChoiceModel(QAbstractListModel):
    """The rows on show in a picker, with an optional check state per row."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Choice] = []

    def set_rows(self, rows: Sequence[Choice]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def choice(self, row: int) -> Choice | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        choice = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{choice.name}  —  {choice.detail}" if choice.detail else choice.name
        if role == Qt.ItemDataRole.CheckStateRole and choice.state is not None:
            return choice.state
        if role == Qt.ItemDataRole.ToolTipRole:
            return choice.detail or None
        return None

    def flags(self, index: _AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
        if self._rows[index.row()].state is not None:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def setData(self, index: _AnyIndex, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid() or role != Qt.ItemDataRole.CheckStateRole:
            return False
        choice = self._rows[index.row()]
        if choice.state is None:
            return False
        choice.state = Qt.CheckState(value)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        return True


class _PickerBase(QDialog):
    """The field over a list that both pickers share."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.field = QLineEdit(objectName="pickerField")
        self.field.installEventFilter(self)
        self.model = ChoiceModel(self)
        self.view = QListView(objectName="pickerList")
        self.view.setModel(self.model)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setUniformItemSizes(True)
        self.message = QLabel(objectName="pickerMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.field)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.message)
        self.resize(420, 360)
        self.field.textChanged.connect(self._on_field_text_changed)
        self.field.returnPressed.connect(self._on_field_return_pressed)
        self.view.doubleClicked.connect(self._on_view_double_clicked)

    def current_choice(self) -> Choice | None:
        return self.model.choice(self.view.currentIndex().row())

    def shown_names(self) -> list[str]:
        """Return the names of the rows on show, in order."""
        return [self.model.choice(row).name for row in range(self.model.rowCount())]

    def _show_dialog(self) -> None:
        self.message.hide()
        self.open()
        self.activateWindow()
        self.field.setFocus(Qt.FocusReason.PopupFocusReason)

    def _set_rows(self, rows: Sequence[Choice]) -> None:
        self.model.set_rows(rows)
        if rows:
            self.view.setCurrentIndex(self.model.index(0, 0))

    def _move_current(self, step: int) -> None:
        count = self.model.rowCount()
        if not count:
            return
        row = max(0, min(count - 1, self.view.currentIndex().row() + step))
        self.view.setCurrentIndex(self.model.index(row, 0))

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        if watched is self.field and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 10, Qt.Key.Key_PageUp: -10}.get(
                Qt.Key(event.key()))
            if step is not None:
                self._move_current(step)
                return True
            if self._handle_key(event):
                return True
        return super().eventFilter(watched, event)

    def _handle_key(self, _event: QKeyEvent) -> bool:
        return False

    def _refilter(self) -> None:
        raise NotImplementedError

    def _activate(self) -> None:
        raise NotImplementedError

    @Slot(str)
    def _on_field_text_changed(self, _text: str) -> None:
        self._refilter()

    @Slot()
    def _on_field_return_pressed(self) -> None:
        self._activate()

    @Slot(QModelIndex)
    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        self.view.setCurrentIndex(index)
        self._activate()


class ListPicker(_PickerBase):
    """Pick one name from a list by typing part of it: a folder to move or copy to, or a rule to apply.

    Signals:
        chosen(str): the user pressed Enter on a row; its name.
    """

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("listPicker", parent)
        self._choices: list[Choice] = []

    def show_choices(self, title: str, choices: Sequence[Choice], *, placeholder: str = "") -> None:
        """Open the picker over ``choices`` in the given order; an empty field lists them as they are."""
        self.setWindowTitle(title)
        self._choices = list(choices)
        self.field.setPlaceholderText(placeholder)
        self.field.clear()
        self._refilter()
        self._show_dialog()

    def _refilter(self) -> None:
        texts = [f"{choice.name} {choice.detail}" for choice in self._choices]
        self._set_rows([self._choices[position] for position in fuzzy_filter(self.field.text(), texts)])
        if not self.model.rowCount() and self.field.text():
            self._show_message(self.tr("Nothing matches “%1”.").replace("%1", self.field.text()))
        else:
            self._show_message("")

    def _activate(self) -> None:
        choice = self.current_choice()
        if choice is None:
            return
        log.debug("Picker %s: %s chosen", self.windowTitle(), choice.name)
        self.accept()
        self.chosen.emit(choice.name)


class LabelPicker(_PickerBase):
    """Add and remove labels (IMAP keywords) on the selected messages.

    Signals:
        labels_chosen(list, list): the labels to add to every selected
            message and those to remove from every one.
    """

    labels_chosen = Signal(list, list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("labelPicker", parent)
        self.setWindowTitle(self.tr("Label…"))
        self.field.setPlaceholderText(self.tr("Type a label; Space toggles it, Enter applies"))
        self._original: dict[str, Qt.CheckState] = {}
        self._states: dict[str, Qt.CheckState] = {}
        self._toggled = False

    def show_labels(self, states: dict[str, Qt.CheckState]) -> None:
        """Open the picker over ``states``: each label with Checked (all selected messages have it),
        PartiallyChecked (some) or Unchecked (none)."""
        self._original = dict(states)
        self._states = dict(states)
        self._toggled = False
        self.field.clear()
        self._refilter()
        self._show_dialog()

    def changes(self) -> tuple[list[str], list[str]]:
        """Return the labels to add and to remove, each sorted, as the picker's states stand now."""
        add = sorted(name for name, state in self._states.items()
                     if state == Qt.CheckState.Checked and self._original.get(name) != Qt.CheckState.Checked)
        remove = sorted(name for name, state in self._states.items()
                        if state == Qt.CheckState.Unchecked and self._original.get(name, Qt.CheckState.Unchecked)
                        != Qt.CheckState.Unchecked)
        return add, remove

    def toggle_current(self) -> bool:
        """Toggle the current row: a label that all messages have is removed, any other is added to all."""
        choice = self.current_choice()
        if choice is None:
            return False
        checked = self._states.get(choice.name) != Qt.CheckState.Checked
        self._states[choice.name] = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        self._toggled = True
        if choice.new:
            # The new label is a row of its own now, so clearing the field keeps it listed.
            self.field.clear()
        self._refilter(keep=choice.name)
        return True

    def _handle_key(self, event: QKeyEvent) -> bool:
        # Labels are atoms without spaces, so Space in the field is free to toggle.
        if event.key() == Qt.Key.Key_Space and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.toggle_current()
            return True
        return False

    def _refilter(self, keep: str | None = None) -> None:
        text = self.field.text().strip()
        names = sorted(self._states, key=str.casefold)
        rows = [Choice(names[position], self._state_text(names[position]), self._states[names[position]])
                for position in fuzzy_filter(text, names)]
        problem = keyword_problem(text) if text else ""
        exists = any(name.casefold() == text.casefold() for name in self._states)
        if text and not exists and not problem:
            rows.insert(0, Choice(text, self.tr("new label"), Qt.CheckState.Unchecked, new=True))
        self._set_rows(rows)
        self._show_message(self.tr("“%1” cannot be a label: %2").replace("%1", text).replace("%2", problem)
                           if problem and not exists else "")
        if keep is not None:
            for row, choice in enumerate(rows):
                if choice.name == keep:
                    self.view.setCurrentIndex(self.model.index(row, 0))

    def _state_text(self, name: str) -> str:
        original = self._original.get(name, Qt.CheckState.Unchecked)
        texts = {Qt.CheckState.Checked: self.tr("on all"), Qt.CheckState.PartiallyChecked: self.tr("on some"),
                 Qt.CheckState.Unchecked: self.tr("on none")}
        text = texts[original]
        if self._states[name] != original:
            text = self.tr("%1, will be added").replace("%1", text) if self._states[name] == Qt.CheckState.Checked \
                else self.tr("%1, will be removed").replace("%1", text)
        return text

    def _activate(self) -> None:
        if not self._toggled and not self.toggle_current():
            return
        add, remove = self.changes()
        log.debug("Label picker: add %s, remove %s", add, remove)
        self.accept()
        if add or remove:
            self.labels_chosen.emit(add, remove)
