"""Key presses to named commands: the window's key dispatcher and the sequence hint.

``KeyDispatcher`` watches the key presses of one window through an
application event filter. It turns each press into a canonical key name
(``desktop.keymap.canonical_key`` spelling), finds the mode from the focused
widget, and feeds the key to a ``SequenceMatcher`` over the window's key map.
A finished sequence emits ``command_triggered``; the window runs the command.

Qt's own shortcut handling stays out of the way: for a key the dispatcher
takes, it accepts the ``ShortcutOverride`` event, as a focused text field
does for the keys it types. The window's actions still carry their keys as
shortcuts, but only for the menus to show them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from desktop.commands import COMMANDS_BY_NAME, TRANSLATION_CONTEXT
from desktop.keymap import (
    MODIFIERS,
    NAVIGATION_KEYS,
    SEQUENCE_TIMEOUT_MS,
    KeyMap,
    SequenceMatcher,
    sequence_text,
    split_key,
)

log = logging.getLogger(__name__)

# Dynamic properties read from the focused widget and its ancestors.
MODE_PROPERTY = "keyMode"
# Set on the message list: it gives Enter, Tab, arrows and the like to the commands bound to them.
COMMAND_KEYS_FIRST_PROPERTY = "commandKeysFirst"

_NAMED_QT_KEYS: dict[int, str] = {
    Qt.Key.Key_Return.value: "Enter",
    Qt.Key.Key_Enter.value: "Enter",
    Qt.Key.Key_Escape.value: "Escape",
    Qt.Key.Key_Tab.value: "Tab",
    Qt.Key.Key_Backtab.value: "Tab",
    Qt.Key.Key_Space.value: "Space",
    Qt.Key.Key_Backspace.value: "Backspace",
    Qt.Key.Key_Delete.value: "Delete",
    Qt.Key.Key_Insert.value: "Insert",
    Qt.Key.Key_Home.value: "Home",
    Qt.Key.Key_End.value: "End",
    Qt.Key.Key_PageUp.value: "PageUp",
    Qt.Key.Key_PageDown.value: "PageDown",
    Qt.Key.Key_Up.value: "Up",
    Qt.Key.Key_Down.value: "Down",
    Qt.Key.Key_Left.value: "Left",
    Qt.Key.Key_Right.value: "Right",
    **{getattr(Qt.Key, f"Key_F{number}").value: f"F{number}" for number in range(1, 13)},
}

# The Qt spelling of key names that differ from ours, for QKeySequence.
_QT_NAMES = {"Enter": "Return", "Escape": "Esc", "PageUp": "PgUp", "PageDown": "PgDown", "Delete": "Del",
             "Insert": "Ins"}

_MODIFIER_FLAGS = (
    ("Ctrl", Qt.KeyboardModifier.ControlModifier),
    ("Alt", Qt.KeyboardModifier.AltModifier),
    ("Meta", Qt.KeyboardModifier.MetaModifier),
    ("Shift", Qt.KeyboardModifier.ShiftModifier),
)

# Keys a text field uses for editing; they stay with the field even when a command is bound to them.
_EDITING_KEYS = (
    QKeySequence.StandardKey.Undo, QKeySequence.StandardKey.Redo, QKeySequence.StandardKey.Cut,
    QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Paste, QKeySequence.StandardKey.SelectAll,
    QKeySequence.StandardKey.Delete, QKeySequence.StandardKey.DeleteEndOfLine,
    QKeySequence.StandardKey.DeleteStartOfWord, QKeySequence.StandardKey.DeleteEndOfWord,
    QKeySequence.StandardKey.DeleteCompleteLine, QKeySequence.StandardKey.Backspace,
    QKeySequence.StandardKey.MoveToStartOfLine, QKeySequence.StandardKey.MoveToEndOfLine,
    QKeySequence.StandardKey.MoveToNextWord, QKeySequence.StandardKey.MoveToPreviousWord,
    QKeySequence.StandardKey.SelectNextWord, QKeySequence.StandardKey.SelectPreviousWord,
    QKeySequence.StandardKey.SelectStartOfLine, QKeySequence.StandardKey.SelectEndOfLine,
)


def translated(text: str) -> str:
    """Translate a text of ``desktop.commands`` in its context."""
    return QCoreApplication.translate(TRANSLATION_CONTEXT, text)


def key_from_event(event: QKeyEvent) -> str | None:
    """Return the canonical name of a pressed key, or None for a modifier pressed alone or an unknown key."""
    code = event.key()
    code = code.value if hasattr(code, "value") else int(code)
    modifiers = event.modifiers()
    names = {name for name, flag in _MODIFIER_FLAGS if modifiers & flag}
    if code in _NAMED_QT_KEYS:
        key = _NAMED_QT_KEYS[code]
        if code == Qt.Key.Key_Backtab.value:
            names.add("Shift")
    elif Qt.Key.Key_A.value <= code <= Qt.Key.Key_Z.value:
        key = chr(code).lower()
    elif 0x20 < code < 0x110000 and chr(code).isprintable():
        key = chr(code)
        if key.isalpha():
            key = key.lower()
        else:
            # Which symbols need Shift depends on the layout, so a symbol is named without it.
            names.discard("Shift")
    else:
        return None
    return "+".join([*(name for name in MODIFIERS if name in names), key])


def qt_key_sequence(keys: Sequence[str]) -> QKeySequence:
    """Return the QKeySequence of a sequence in our spelling, for a menu to show."""
    parts = []
    for key in keys[:4]:
        modifiers, name = split_key(key)
        name = _QT_NAMES.get(name, name.upper() if len(name) == 1 else name)
        parts.append("+".join([*modifiers, name]))
    return QKeySequence.fromString(", ".join(parts), QKeySequence.SequenceFormat.PortableText)


def is_text_field(widget: QWidget | None) -> bool:
    """Return whether ``widget`` takes typed text: a line edit, an editable text edit or a spin box."""
    if isinstance(widget, (QLineEdit, QAbstractSpinBox)):
        return True
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    return False


def mode_of(widget: QWidget | None, default: str = "list") -> str:
    """Return the key mode of ``widget``: the ``keyMode`` property of it or its nearest ancestor that has one."""
    while widget is not None:
        mode = widget.property(MODE_PROPERTY)
        if mode:
            return str(mode)
        widget = widget.parentWidget()
    return default


class SequenceHint(QLabel):
    """The hint at the bottom of the window after the first key of a sequence: the keys that can follow."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("sequenceHint")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.ToolTipBase)
        self.setForegroundRole(QPalette.ColorRole.ToolTipText)
        self.setMargin(8)
        self.setFrameShape(QLabel.Shape.StyledPanel)
        self.hide()

    def show_continuations(self, typed: Sequence[str], continuations: Sequence[tuple[tuple[str, ...], str]]) -> None:
        rows = []
        for sequence, command in continuations:
            rest = sequence_text(sequence[len(typed):])
            title = translated(COMMANDS_BY_NAME[command].text)
            rows.append(f"<tr><td><b>{_escape(rest)}</b>&nbsp;&nbsp;</td><td>{_escape(title)}</td></tr>")
        heading = self.tr("%1 … (Escape cancels)").replace("%1", _escape(sequence_text(typed)))
        self.setText(f"<p>{heading}</p><table>{''.join(rows)}</table>")
        self.adjustSize()
        parent = self.parentWidget()
        margin = 12
        self.move(margin, max(0, parent.height() - self.height() - 3 * margin))
        self.raise_()
        self.show()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class KeyDispatcher(QObject):
    """The dispatcher from one window's key presses to the bound commands.

    Signals:
        command_triggered(str): a key or sequence for this command was pressed.
        sequence_unmatched(str): a started sequence ended with a key that
            matches nothing; the keys typed, such as "g x".
    """

    command_triggered = Signal(str)
    sequence_unmatched = Signal(str)

    def __init__(self, window: QWidget, keymap: KeyMap) -> None:
        super().__init__(window)
        self._window = window
        self.matcher = SequenceMatcher(keymap)
        self.hint = SequenceHint(window)
        self._timer = QTimer(self, singleShot=True, interval=SEQUENCE_TIMEOUT_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        QApplication.instance().installEventFilter(self)

    def detach(self) -> None:
        """Stop watching key presses; the window calls this when it closes."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.cancel()

    def set_keymap(self, keymap: KeyMap) -> None:
        self.cancel()
        self.matcher = SequenceMatcher(keymap)

    def cancel(self) -> None:
        self.matcher.cancel()
        self._timer.stop()
        self.hint.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        mode_and_key = self._claim(watched, event)
        if mode_and_key is None:
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        self._press(*mode_and_key)
        return True

    def _claim(self, watched: QObject, event: QKeyEvent) -> tuple[str, str] | None:
        """Return (mode, key) when this press is the dispatcher's, else None to let Qt handle it."""
        if not isinstance(watched, QWidget) or watched.window() is not self._window:
            return None
        # A key the focus widget ignores travels up to its parents; only its first delivery counts.
        focus = QApplication.focusWidget()
        if watched is not focus and not (focus is None and watched is self._window):
            return None
        key = key_from_event(event)
        if key is None:
            return None
        mode = mode_of(focus)
        if self.matcher.pending:
            return mode, key
        if is_text_field(focus):
            chord = event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                                         | Qt.KeyboardModifier.MetaModifier)
            if not chord or any(event.matches(standard) for standard in _EDITING_KEYS):
                return None
        elif key in NAVIGATION_KEYS and focus is not None and not focus.property(COMMAND_KEYS_FIRST_PROPERTY):
            return None
        return (mode, key) if self.matcher.wants(mode, key) else None

    def _press(self, mode: str, key: str) -> None:
        if self.matcher.pending and key == "Escape":
            log.debug("Key sequence %s cancelled", sequence_text(self.matcher.pending))
            self.cancel()
            return
        result = self.matcher.press(mode, key)
        if result.pending:
            self.hint.show_continuations(result.pending, result.continuations)
            self._timer.start()
            return
        self._timer.stop()
        self.hint.hide()
        if result.command is not None:
            log.debug("Key %s in mode %s runs %s", key, mode, result.command)
            self.command_triggered.emit(result.command)
        elif result.unmatched:
            self.sequence_unmatched.emit(sequence_text(result.unmatched))

    @Slot()
    def _on_timer_timeout(self) -> None:
        log.debug("Key sequence %s timed out", sequence_text(self.matcher.pending))
        self.cancel()
