"""The composer's fields: address lines with completion, the body editor with snippet triggers, attachments.

``AddressField`` completes the entry under the cursor from the ranked
contacts (``desktop.compose.contacts.ContactIndex``). Entries are separated
by commas; Tab (or Enter) in the popup accepts the highlighted contact, or
the first one when none is highlighted, and starts the next entry.

``BodyEditor`` replaces a ``;name`` trigger before the cursor with the
rendered snippet when Tab is pressed, and hands dropped files to the
attachment list instead of pasting their paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject, QStringListModel, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.compose.contacts import ContactIndex
from desktop.compose.snippets import find_trigger

log = logging.getLogger(__name__)

COMPLETION_ROWS = 10


def dropped_files(mime: QMimeData) -> list[Path]:
    """Return the local files of a drag (folders and remote URLs are left out)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile() and Path(url.toLocalFile()).is_file()]


class AddressField(QLineEdit):
    """A To, Cc or Bcc line with completion of the entry being typed."""

    def __init__(self, contacts: Callable[[], ContactIndex], parent: QWidget | None = None, *,
                 objectName: str = "") -> None:  # noqa: N803 - Qt's keyword spelling
        super().__init__(parent)
        self.setObjectName(objectName)
        self._contacts = contacts
        self.completion_model = QStringListModel(self)
        self.completer = QCompleter(self.completion_model, self)
        # The contact index already matched and ranked the rows; Qt must not filter them again.
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setWidget(self)
        self.completer.activated.connect(self._on_completer_activated)
        # Installed after QCompleter's own filter, so it sees Tab first.
        self.completer.popup().installEventFilter(self)
        self.textEdited.connect(self._on_text_edited)

    def current_entry(self) -> str:
        """Return the text of the entry being typed: after the last comma before the cursor."""
        before = self.text()[: self.cursorPosition()]
        return before.rsplit(",", 1)[-1].strip()

    def suggestions(self) -> list[str]:
        """Return the completion rows on offer."""
        return self.completion_model.stringList()

    @Slot(str)
    def _on_text_edited(self, _text: str) -> None:
        entry = self.current_entry()
        if not entry:
            self.completer.popup().hide()
            return
        rows = [contact.display for contact in self._contacts().complete(entry, COMPLETION_ROWS)]
        self.completion_model.setStringList(rows)
        if rows:
            self.completer.complete()
        else:
            self.completer.popup().hide()

    @Slot(str)
    def _on_completer_activated(self, text: str) -> None:
        self.accept_entry(text)

    def accept_entry(self, text: str) -> None:
        """Put ``text`` in place of the entry being typed and start the next one."""
        cursor = self.cursorPosition()
        before, after = self.text()[:cursor], self.text()[cursor:]
        head = before.rsplit(",", 1)[0] + ", " if "," in before else ""
        new_before = f"{head}{text}, "
        self.setText(new_before + after.lstrip(", "))
        self.setCursorPosition(len(new_before))
        self.completer.popup().hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        popup = self.completer.popup()
        if watched is popup and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Return, Qt.Key.Key_Enter):
                index = popup.currentIndex()
                row = index.row() if index.isValid() else 0
                rows = self.suggestions()
                if 0 <= row < len(rows):
                    self.accept_entry(rows[row])
                    return True
            if event.text() == ",":
                popup.hide()
                self.keyPressEvent(event)
                return True
        return super().eventFilter(watched, event)


class BodyEditor(QPlainTextEdit):
    """The message text: Tab after ``;name`` inserts snippet ``name``; dropped files become attachments.

    Signals:
        snippet_requested(str): Tab was pressed after a trigger; the snippet name.
        files_dropped(list): local files were dropped on the text.
    """

    snippet_requested = Signal(str)
    files_dropped = Signal(list)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's method name
        if event.key() == Qt.Key.Key_Tab and not event.modifiers():
            cursor = self.textCursor()
            before = cursor.block().text()[: cursor.positionInBlock()]
            name = find_trigger(before)
            if name is not None:
                self.snippet_requested.emit(name)
                return
        super().keyPressEvent(event)

    def replace_trigger(self, name: str, text: str) -> None:
        """Replace ``;name`` just before the cursor with ``text`` as one undo step."""
        cursor = self.textCursor()
        cursor.beginEditBlock()
        cursor.movePosition(cursor.MoveOperation.Left, cursor.MoveMode.KeepAnchor, len(name) + 1)
        cursor.insertText(text)
        cursor.endEditBlock()
        self.setTextCursor(cursor)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's method name
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
            return
        super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt's method name
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
            return
        super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's method name
        files = dropped_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.files_dropped.emit(files)
            return
        super().dropEvent(event)


class AttachmentList(QWidget):
    """The attached files with their sizes, a Remove button, and a drop target for more.

    Signals:
        changed(): a file was added or removed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.list = QListWidget(objectName="attachmentList")
        self.list.setMaximumHeight(90)
        self.remove_button = QPushButton(self.tr("Remove"), objectName="removeAttachment")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QVBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._paths: list[Path] = []
        self._refresh()

    def paths(self) -> list[Path]:
        return list(self._paths)

    def add(self, paths: list[Path]) -> None:
        """Attach ``paths``; a file attached already is not added twice."""
        for path in paths:
            if path not in self._paths:
                self._paths.append(path)
                log.debug("Attached a file of %d bytes", _size(path))
        self._refresh()
        self.changed.emit()

    @Slot()
    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.list.selectedIndexes()}, reverse=True)
        for row in rows:
            del self._paths[row]
        if rows:
            self._refresh()
            self.changed.emit()

    def _refresh(self) -> None:
        self.list.clear()
        for path in self._paths:
            item = QListWidgetItem(f"{path.name}  ({human_size(_size(path))})")
            item.setToolTip(str(path))
            self.list.addItem(item)
        self.setVisible(bool(self._paths))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's method name
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's method name
        files = dropped_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.add(files)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def human_size(size: int) -> str:
    """Return a size as people read it: 512 B, 12 KB, 3.4 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
