"""The message list: a table model that loads rows lazily, page by page.

The model holds only the ordered list of message ids. Rows are read from the
store in pages of ``PAGE_SIZE`` when a view first requests one of them, and
at most ``MAX_CACHED_PAGES`` pages stay cached. Opening a folder therefore
reads one or two pages, however many messages it contains.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QLocale, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from desktop.store import MessageRow, Store
from desktop.ui.icons import MARKER_SIZE, marker_pixmap

log = logging.getLogger(__name__)

PAGE_SIZE = 200
MAX_CACHED_PAGES = 50

# FOLDER is last so it can be hidden without moving the others; the view shows it for search results only.
MARKERS, SENDER, SUBJECT, DATE, SIZE, FOLDER = range(6)
MESSAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1

_AnyIndex = QModelIndex | QPersistentModelIndex


class MessageListModel(QAbstractTableModel):
    """Rows of messages identified by store ids, newest first.

    Attributes:
        page_loads: How many pages were read from the store so far; tests and
            benchmarks use it to check that rows are loaded lazily.
    """

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._ids: list[int] = []
        self._row_of_id: dict[int, int] | None = None
        self._pages: OrderedDict[int, dict[int, MessageRow]] = OrderedDict()
        self._bold = QFont()
        self._bold.setBold(True)
        self._locale = QLocale()
        self.page_loads = 0

    # --- content ----------------------------------------------------------

    def set_ids(self, ids: Sequence[int]) -> None:
        """Show the messages ``ids``, in that order, dropping every cached row."""
        self.beginResetModel()
        self._ids = list(ids)
        self._row_of_id = None
        self._pages.clear()
        self.endResetModel()

    def ids(self) -> list[int]:
        return list(self._ids)

    def message_id(self, row: int) -> int | None:
        if 0 <= row < len(self._ids):
            return self._ids[row]
        return None

    def message(self, row: int) -> MessageRow | None:
        """Return the stored row shown at ``row``, loading its page if needed."""
        if not 0 <= row < len(self._ids):
            return None
        page = self._page(row // PAGE_SIZE)
        return page.get(self._ids[row])

    def row_of(self, message_id: int) -> int | None:
        if self._row_of_id is None:
            self._row_of_id = {value: row for row, value in enumerate(self._ids)}
        return self._row_of_id.get(message_id)

    def reload_messages(self, ids: Sequence[int]) -> None:
        """Read ``ids`` from the store again and repaint their rows, after a flag change."""
        fresh = {row.id: row for row in self._store.messages(list(ids))}
        for message_id in ids:
            row = self.row_of(message_id)
            if row is None:
                continue
            page = self._pages.get(row // PAGE_SIZE)
            if page is not None and message_id in fresh:
                page[message_id] = fresh[message_id]
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def _page(self, number: int) -> dict[int, MessageRow]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page

        start = number * PAGE_SIZE
        rows = self._store.messages(self._ids[start : start + PAGE_SIZE])
        page = {row.id: row for row in rows}
        self._pages[number] = page
        self.page_loads += 1
        if len(self._pages) > MAX_CACHED_PAGES:
            self._pages.popitem(last=False)
        return page

    # --- QAbstractTableModel ------------------------------------------------

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if parent.isValid() else 6

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = {
            MARKERS: "", SENDER: self.tr("From"), SUBJECT: self.tr("Subject"), DATE: self.tr("Date"), SIZE: self.tr("Size"),
            FOLDER: self.tr("Folder"),
        }
        return titles.get(section)

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        if role == MESSAGE_ID_ROLE:
            return self._ids[index.row()]
        message = self.message(index.row())
        if message is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(message, index.column())
        if role == Qt.ItemDataRole.DecorationRole and index.column() == MARKERS:
            return self._markers(message)
        if role == Qt.ItemDataRole.FontRole and not message.seen:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(message, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, message: MessageRow, column: int) -> str | None:
        if column == SENDER:
            return message.sender
        if column == SUBJECT:
            return message.subject or self.tr("(no subject)")
        if column == DATE:
            return self._format_date(message.date)
        if column == SIZE:
            return self._locale.formattedDataSize(message.size, 0)
        if column == FOLDER:
            return f"{message.account}/{message.folder}"
        return None

    def _markers(self, message: MessageRow) -> object:
        if not (message.flagged or message.has_attachment):
            return None
        return marker_pixmap(message.flagged, message.has_attachment)

    def _tooltip(self, message: MessageRow, column: int) -> str | None:
        if column == SENDER:
            return message.from_addr
        if column == SUBJECT:
            return message.subject
        if column == MARKERS:
            notes = []
            if message.flagged:
                notes.append(self.tr("Starred"))
            if message.has_attachment:
                notes.append(self.tr("Has attachments"))
            return ", ".join(notes) or None
        return None

    def _format_date(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone()
        if local.date() == datetime.now().astimezone().date():
            return local.strftime("%H:%M")
        return local.strftime("%Y-%m-%d %H:%M")


class MessageListView(QTableView):
    """A table set up for long lists: fixed row height, no per-row measuring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageList")
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setAlternatingRowColors(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self._init_headers()

    def _init_headers(self) -> None:
        # With a fixed row height the header does not request size hints
        # from the model, which would load every row of a large folder.
        rows = self.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 10)

        columns = self.horizontalHeader()
        columns.setHighlightSections(False)
        columns.setSectionsClickable(False)
        columns.setStretchLastSection(False)
        columns.setMinimumSectionSize(MARKER_SIZE)
        columns.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.setIconSize(marker_pixmap(True, True).size())

    def setModel(self, model: MessageListModel) -> None:  # noqa: N802 - Qt's method name
        super().setModel(model)
        self._size_columns()

    def _size_columns(self) -> None:
        columns = self.horizontalHeader()
        # Unread rows are bold, so the widths are measured in the bold font.
        bold = QFont(self.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        widths = {
            MARKERS: MARKER_SIZE * 2 + 14,
            SENDER: metrics.horizontalAdvance("M" * 14),
            DATE: metrics.horizontalAdvance("2026-12-31 23:59") + 24,
            SIZE: metrics.horizontalAdvance("999 bytes") + 24,
            FOLDER: metrics.horizontalAdvance("M" * 14),
        }
        for column, width in widths.items():
            columns.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            columns.resizeSection(column, width)
        self.setColumnHidden(FOLDER, True)
        columns.setSectionResizeMode(MARKERS, QHeaderView.ResizeMode.Fixed)
        columns.setSectionResizeMode(SUBJECT, QHeaderView.ResizeMode.Stretch)
