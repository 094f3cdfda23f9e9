"""The command palette (Ctrl+K): find a command, folder, label or saved search by typing part of its name.

Each row shows what it is and, for a command, its keys. Enter runs the
command or opens the folder, label or saved search, Escape closes the palette. Matching is
``desktop.commands.fuzzy_score``: the typed characters in order, anywhere
in the name.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from desktop.commands import fuzzy_filter

log = logging.getLogger(__name__)

# Rows shown at most; typing more narrows the list further.
MAX_ROWS = 100

# Keywords that servers and clients set for their own bookkeeping; they are not labels a user would pick.
_SYSTEM_KEYWORDS = frozenset(
    keyword.casefold()
    for keyword in ("$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "$Phishing", "Junk", "NonJunk", "$Submitted",
                    "$SubmitPending", "$Answered", "$HasAttachment", "$HasNoAttachment")
)

KINDS = ("command", "folder", "label", "saved")


@dataclass(frozen=True)
class PaletteItem:
    """One row of the palette.

    Attributes:
        kind: ``command``, ``folder``, ``label`` or ``saved`` (a saved search).
        title: The name shown and matched.
        detail: Text shown after the title and keys (a command's description, a folder's account,
            a saved search's query).
        keys: A command's keys, as shown; empty for other kinds.
        target: The command's name, the folder's id, the label, or the saved search's name.
        search_text: What the typed text is matched against.
    """

    kind: str
    title: str
    detail: str
    keys: str
    target: object
    search_text: str


def stored_keywords(store_file: Path) -> list[str]:
    """Return the IMAP keywords that stored messages carry, sorted, without system flags and bookkeeping keywords.

    It reads the store through a read-only connection of its own, so the
    window's connection stays free.
    """
    try:
        with closing(sqlite3.connect(f"{store_file.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT DISTINCT flags FROM messages WHERE flags != ''").fetchall()
    except sqlite3.Error as error:
        log.warning("Could not read the labels of %s: %s", store_file, error)
        return []
    keywords = {flag for (text,) in rows for flag in text.split() if not flag.startswith("\\")}
    return sorted((keyword for keyword in keywords if keyword.casefold() not in _SYSTEM_KEYWORDS), key=str.casefold)


class CommandPalette(QDialog):
    """The palette dialog.

    Signals:
        item_chosen(object): the user picked a row (Enter or double-click); the ``PaletteItem``.
    """

    item_chosen = Signal(object)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Dialog | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("commandPalette")
        self.setWindowTitle(self.tr("Command palette"))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._items: list[PaletteItem] = []
        self._init_widgets()
        self._connect_signals()

    def _init_widgets(self) -> None:
        self.field = QLineEdit(objectName="paletteField")
        self.field.setPlaceholderText(self.tr("Type a command, folder, label or saved search"))
        self.field.installEventFilter(self)
        self.results = QTreeWidget(objectName="paletteResults")
        self.results.setColumnCount(3)
        self.results.setHeaderHidden(True)
        self.results.setRootIsDecorated(False)
        self.results.setUniformRowHeights(True)
        self.results.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Frameless, the dialog needs a border of its own to stand out from the window under it.
        self.setStyleSheet("#commandPalette { border: 1px solid palette(mid); }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.field)
        layout.addWidget(self.results)
        self.resize(640, 420)

    def _connect_signals(self) -> None:
        self.field.textChanged.connect(self._on_field_text_changed)
        self.field.returnPressed.connect(self._on_field_return_pressed)
        self.results.itemActivated.connect(self._on_results_item_activated)

    def show_items(self, items: Sequence[PaletteItem], *, kinds: Sequence[str] = KINDS, text: str = "") -> None:
        """Open the palette over ``items`` of the given kinds, with ``text`` typed."""
        self._items = [item for item in items if item.kind in kinds]
        self.field.setPlaceholderText(self._placeholder(kinds))
        self.field.setText(text)
        self._refilter()
        parent = self.parentWidget()
        if parent is not None:
            # Centred near the top of the window, where a palette is expected.
            top_left = parent.mapToGlobal(QPoint(0, 0))
            self.move(top_left.x() + (parent.width() - self.width()) // 2, top_left.y() + 80)
        self.open()
        self.field.setFocus(Qt.FocusReason.PopupFocusReason)

    def _placeholder(self, kinds: Sequence[str]) -> str:
        if "command" in kinds:
            return self.tr("Type a command, folder, label or saved search")
        if tuple(kinds) == ("saved",):
            return self.tr("Type a saved search")
        return self.tr("Type a folder or label")

    def shown_items(self) -> list[PaletteItem]:
        """Return the rows on show, in order."""
        return [self.results.topLevelItem(row).data(0, Qt.ItemDataRole.UserRole)
                for row in range(self.results.topLevelItemCount())]

    def current_item(self) -> PaletteItem | None:
        row = self.results.currentItem()
        return row.data(0, Qt.ItemDataRole.UserRole) if row is not None else None

    def _refilter(self) -> None:
        positions = fuzzy_filter(self.field.text(), [item.search_text for item in self._items])[:MAX_ROWS]
        self.results.clear()
        kind_names = {"command": self.tr("Command"), "folder": self.tr("Folder"), "label": self.tr("Label"),
                      "saved": self.tr("Saved search")}
        rows = []
        for position in positions:
            item = self._items[position]
            row = QTreeWidgetItem([item.title, item.keys, item.detail or kind_names[item.kind]])
            row.setData(0, Qt.ItemDataRole.UserRole, item)
            row.setToolTip(0, item.detail)
            rows.append(row)
        self.results.addTopLevelItems(rows)
        for column in range(2):
            self.results.resizeColumnToContents(column)
        if rows:
            self.results.setCurrentItem(rows[0])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        # Up, Down, Page Up and Page Down in the field move through the results.
        if watched is self.field and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 10, Qt.Key.Key_PageUp: -10}.get(
                Qt.Key(event.key()))
            if step is not None:
                self._move_current(step)
                return True
        return super().eventFilter(watched, event)

    def _move_current(self, step: int) -> None:
        count = self.results.topLevelItemCount()
        if not count:
            return
        current = self.results.indexOfTopLevelItem(self.results.currentItem()) if self.results.currentItem() else -1
        self.results.setCurrentItem(self.results.topLevelItem(max(0, min(count - 1, current + step))))

    def _choose(self, item: PaletteItem | None) -> None:
        if item is None:
            return
        log.debug("Palette: %s %s chosen", item.kind, item.target)
        self.accept()
        self.item_chosen.emit(item)

    @Slot(str)
    def _on_field_text_changed(self, _text: str) -> None:
        self._refilter()

    @Slot()
    def _on_field_return_pressed(self) -> None:
        self._choose(self.current_item())

    @Slot(QTreeWidgetItem, int)
    def _on_results_item_activated(self, row: QTreeWidgetItem, _column: int) -> None:
        self._choose(row.data(0, Qt.ItemDataRole.UserRole))
