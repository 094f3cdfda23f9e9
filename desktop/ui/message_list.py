"""The message list: a table model that loads rows lazily, page by page.

The model holds only the ordered list of message ids. Rows are read from the
store in pages of ``PAGE_SIZE`` when a view first requests one of them, and
at most ``MAX_CACHED_PAGES`` pages stay cached. Opening a folder therefore
reads one or two pages, however many messages it contains.

In conversation view (``set_conversations``) the same ids are grouped by
their thread in the store: a row stands for a conversation, and expanding it
shows the conversation's messages on the rows below (see
``desktop.ui.conversations``). A page then holds the messages of the
conversations on its rows.

The selection for bulk actions is a set of message ids kept next to the
list (``selected_ids``), shown as a check box in the first column. It is
independent of the loaded pages, so selecting every match of a long
search costs one set of ints and no row reads.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QLocale, QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QKeyEvent, QPalette
from PySide6.QtWidgets import QAbstractItemView, QFrame, QHeaderView, QStyle, QTableView, QWidget

from desktop.store import MessageRow, Store
from desktop.ui.conversations import (
    HEAD,
    MAX_PARTICIPANTS,
    ConversationLayout,
    ConversationSummary,
    summarize,
    thread_order,
)
from desktop.ui.icons import MARKER_SIZE, marker_pixmap

log = logging.getLogger(__name__)

PAGE_SIZE = 200
MAX_CACHED_PAGES = 50

# FOLDER is last so it can be hidden without moving the others; the view shows it for search results only.
MARKERS, SENDER, SUBJECT, DATE, SIZE, FOLDER = range(6)
MESSAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
# Spaces per level of a reply in an expanded conversation, and the deepest level indented.
INDENT = "    "
MAX_INDENT_DEPTH = 8

_AnyIndex = QModelIndex | QPersistentModelIndex
# Returned by the conversation view's data helpers for roles that the flat list's code handles.
_NOT_HANDLED = object()


class MessageListModel(QAbstractTableModel):
    """Rows of messages identified by store ids, newest first.

    Attributes:
        page_loads: How many pages were read from the store so far; tests and
            benchmarks use it to check that rows are loaded lazily.

    Signals:
        conversations_changed(bool): conversation view was turned on or off.
        selection_changed(int): the set of selected message ids changed; its new size.
    """

    conversations_changed = Signal(bool)
    selection_changed = Signal(int)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._ids: list[int] = []
        self._row_of_id: dict[int, int] | None = None
        self._pages: OrderedDict[int, dict[int, MessageRow]] = OrderedDict()
        self._layout: ConversationLayout | None = None
        self._summaries: dict[int, ConversationSummary] = {}
        self._bold = QFont()
        self._bold.setBold(True)
        self._locale = QLocale()
        self._selected: set[int] = set()
        self.page_loads = 0

    # --- content ----------------------------------------------------------

    def set_ids(self, ids: Sequence[int]) -> None:
        """Show the messages ``ids``, in that order, dropping every cached row.

        In conversation view the messages are grouped by thread, and the
        conversations that were expanded stay expanded.
        """
        self.beginResetModel()
        self._ids = list(ids)
        self._row_of_id = None
        self._clear_cache()
        selected_before = len(self._selected)
        if self._selected:
            # Selected messages that left the list (moved, deleted) leave the selection too.
            self._selected.intersection_update(self._ids)
        if self._layout is not None:
            expanded = {conversation.thread_id for conversation in self._layout.conversations if conversation.expanded}
            self._layout = ConversationLayout(self._ids, self._store.thread_ids(self._ids))
            self._expand_threads(expanded)
        self.endResetModel()
        if len(self._selected) != selected_before:
            self.selection_changed.emit(len(self._selected))

    def ids(self) -> list[int]:
        """Return the ids of every message in the list, in order, also in conversation view."""
        return list(self._ids)

    def message_id(self, row: int) -> int | None:
        """Return the message of a row; for a conversation's row, the first of its messages."""
        if self._layout is not None:
            return self._layout.message_id(row)
        if 0 <= row < len(self._ids):
            return self._ids[row]
        return None

    def row_message_ids(self, row: int) -> list[int]:
        """Return every message a row stands for: a conversation's messages in this list, or one message."""
        if self._layout is not None:
            return self._layout.message_ids(row)
        message_id = self.message_id(row)
        return [message_id] if message_id is not None else []

    def message(self, row: int) -> MessageRow | None:
        """Return the stored row of ``message_id(row)``, loading its page if needed."""
        message_id = self.message_id(row)
        if message_id is None:
            return None
        page = self._page(row // PAGE_SIZE)
        return page.get(message_id)

    def row_of(self, message_id: int) -> int | None:
        """Return the row that shows a message; in conversation view, its collapsed conversation's row."""
        if self._layout is not None:
            return self._layout.row_of(message_id)
        return self._row_of_id_map().get(message_id)

    def message_outside(self, row: int, changed: set[int]) -> int | None:
        """Return the first message below ``row`` that is not in ``changed``, else the nearest one above, or None.

        A row stands for every message it shows, so a conversation's row
        counts while any of its messages is not in ``changed``.
        """
        if self._layout is None:
            below = next((message for message in self._ids[row + 1:] if message not in changed), None)
            if below is not None:
                return below
            return next((message for message in reversed(self._ids[:row]) if message not in changed), None)
        for candidate in [*range(row + 1, self.rowCount()), *range(row - 1, -1, -1)]:
            staying = [message for message in self._layout.message_ids(candidate) if message not in changed]
            if staying:
                return staying[0]
        return None

    # --- selection ------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        """Return the selected message ids in list order."""
        if not self._selected:
            return []
        return [message_id for message_id in self._ids if message_id in self._selected]

    def selection_count(self) -> int:
        return len(self._selected)

    def is_row_selected(self, row: int) -> bool:
        """Return whether every message of ``row`` is selected (all of a conversation's)."""
        ids = self.row_message_ids(row)
        return bool(ids) and all(message_id in self._selected for message_id in ids)

    def set_selected(self, ids: Iterable[int]) -> None:
        """Replace the selection with those of ``ids`` that are in the list."""
        chosen = set(ids).intersection(self._ids)
        if chosen == self._selected:
            return
        self._selected = chosen
        self._repaint_check_boxes(0, self.rowCount() - 1)
        self.selection_changed.emit(len(self._selected))

    def set_rows_selected(self, rows: Iterable[int], selected: bool) -> None:
        """Add the messages of ``rows`` to the selection, or take them out."""
        changed_rows = []
        for row in rows:
            ids = self.row_message_ids(row)
            if not ids:
                continue
            if selected:
                self._selected.update(ids)
            else:
                self._selected.difference_update(ids)
            changed_rows.append(row)
        if not changed_rows:
            return
        first, last = min(changed_rows), max(changed_rows)
        if self._layout is not None:
            # A conversation's check box and those of its shown messages change together.
            spans = [span for span in map(self._layout.span, changed_rows) if span is not None]
            first = min([first, *(span[0] for span in spans)])
            last = max([last, *(span[1] for span in spans)])
        self._repaint_check_boxes(first, last)
        self.selection_changed.emit(len(self._selected))

    def toggle_row_selected(self, row: int) -> None:
        """Select the messages of ``row``, or unselect them when all of them are selected."""
        self.set_rows_selected([row], not self.is_row_selected(row))

    def _row_of_id_map(self) -> dict[int, int]:
        if self._row_of_id is None:
            self._row_of_id = {value: row for row, value in enumerate(self._ids)}
        return self._row_of_id

    def _repaint_check_boxes(self, first: int, last: int) -> None:
        if last >= first >= 0:
            roles = [Qt.ItemDataRole.CheckStateRole]
            self.dataChanged.emit(self.index(first, MARKERS), self.index(last, MARKERS), roles)

    # --- conversations ------------------------------------------------------

    def conversations(self) -> bool:
        """Return whether the list groups messages by conversation."""
        return self._layout is not None

    def set_conversations(self, enabled: bool) -> None:
        """Turn conversation view on or off, keeping the list's messages."""
        if enabled == (self._layout is not None):
            return
        self.beginResetModel()
        self._clear_cache()
        # NOTE: thread_ids threads unthreaded mail first, here on the GUI thread. Sync threads new mail, so
        # this takes milliseconds, except once for a large store synced before conversations were stored.
        self._layout = ConversationLayout(self._ids, self._store.thread_ids(self._ids)) if enabled else None
        self.endResetModel()
        log.debug("Conversation view %s for %d message(s)", "on" if enabled else "off", len(self._ids))
        self.conversations_changed.emit(enabled)

    def is_expandable(self, row: int) -> bool:
        """Return whether ``row`` is a conversation with more than one message."""
        return self._layout is not None and self._layout.expandable(row)

    def is_expanded(self, row: int) -> bool:
        entry = self._layout.entry(row) if self._layout is not None else None
        return entry is not None and entry[1] == HEAD and entry[0].expanded

    def conversation_row(self, row: int) -> int | None:
        """Return the row of the conversation that ``row`` belongs to; ``row`` itself in the flat list."""
        if self._layout is None:
            return row if 0 <= row < len(self._ids) else None
        return self._layout.head_row(row)

    def set_expanded(self, row: int, expanded: bool) -> bool:
        """Show or hide the messages of the conversation at ``row``; return whether anything changed."""
        if not self.is_expandable(row) or self.is_expanded(row) == expanded:
            return False
        assert self._layout is not None
        conversation = self._layout.entry(row)[0]  # type: ignore[index] - is_expandable checked the row
        if expanded:
            order, depths = thread_order(self._store.messages(conversation.member_ids))
            order += [member for member in conversation.member_ids if member not in depths]
            self.beginInsertRows(QModelIndex(), row + 1, row + len(order))
            self._layout.expand(row, order, depths)
            self._clear_cache()
            self.endInsertRows()
        else:
            self.beginRemoveRows(QModelIndex(), row + 1, row + len(conversation.thread_ids))
            self._layout.collapse(row)
            self._clear_cache()
            self.endRemoveRows()
        self.dataChanged.emit(self.index(row, SUBJECT), self.index(row, SUBJECT))
        return True

    def _expand_threads(self, thread_ids: set[int | None]) -> None:
        # Called inside a model reset, so rows may change without signals.
        assert self._layout is not None
        row = 0
        while row < self._layout.row_count():
            entry = self._layout.entry(row)
            if entry is not None and entry[0].thread_id in thread_ids and self._layout.expandable(row):
                conversation = entry[0]
                order, depths = thread_order(self._store.messages(conversation.member_ids))
                order += [member for member in conversation.member_ids if member not in depths]
                self._layout.expand(row, order, depths)
                row += len(order)
            row += 1

    def _summary(self, row: int) -> ConversationSummary | None:
        """Return the summary of the conversation whose own row is ``row``, None for other rows."""
        entry = self._layout.entry(row) if self._layout is not None else None
        if entry is None or entry[1] != HEAD or len(entry[0].member_ids) < 2:
            return None
        summary = self._summaries.get(row)
        if summary is None:
            page = self._page(row // PAGE_SIZE)
            rows = [page[member] for member in entry[0].member_ids if member in page]
            if not rows:
                return None
            summary = summarize(rows)
            self._summaries[row] = summary
        return summary

    def _clear_cache(self) -> None:
        self._pages.clear()
        self._summaries.clear()

    def reload_messages(self, ids: Sequence[int]) -> None:
        """Read ``ids`` from the store again and repaint their rows, after a flag change."""
        fresh = {row.id: row for row in self._store.messages(list(ids))}
        for page in self._pages.values():
            for message_id in page.keys() & fresh.keys():
                page[message_id] = fresh[message_id]
        rows = {self.row_of(message_id) for message_id in ids}
        if self._layout is not None:
            # A conversation's row summarises its messages, so it changes with each of them.
            rows |= {self._layout.head_row(row) for row in rows if row is not None}
            self._summaries.clear()
        for row in sorted(row for row in rows if row is not None):
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def _page(self, number: int) -> dict[int, MessageRow]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page

        start = number * PAGE_SIZE
        if self._layout is None:
            ids = self._ids[start : start + PAGE_SIZE]
        else:
            ids = [member for row in range(start, min(start + PAGE_SIZE, self._layout.row_count()))
                   for member in self._layout.message_ids(row)]
        rows = self._store.messages(ids)
        page = {row.id: row for row in rows}
        self._pages[number] = page
        self.page_loads += 1
        if len(self._pages) > MAX_CACHED_PAGES:
            self._pages.popitem(last=False)
        return page

    # --- QAbstractTableModel ------------------------------------------------

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        if parent.isValid():
            return 0
        return self._layout.row_count() if self._layout is not None else len(self._ids)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if parent.isValid() else 6

    def flags(self, index: _AnyIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == MARKERS:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def setData(self, index: _AnyIndex, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802 - Qt's method name
        """Select or unselect a row's messages when its check box is clicked."""
        if not index.isValid() or index.column() != MARKERS or role != Qt.ItemDataRole.CheckStateRole:
            return False
        checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value)
        self.set_rows_selected([index.row()], checked)
        return True

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = {
            MARKERS: "", SENDER: self.tr("From"), SUBJECT: self.tr("Subject"), DATE: self.tr("Date"), SIZE: self.tr("Size"),
            FOLDER: self.tr("Folder"),
        }
        return titles.get(section)

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= self.rowCount():
            return None
        if role == MESSAGE_ID_ROLE:
            return self.message_id(index.row())
        if role == Qt.ItemDataRole.CheckStateRole:
            if index.column() != MARKERS:
                return None
            checked = self.is_row_selected(index.row())
            return Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        message = self.message(index.row())
        if message is None:
            return None
        if self._layout is not None:
            shown = self._conversation_data(index.row(), index.column(), role, message)
            if shown is not _NOT_HANDLED:
                return shown
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

    def _conversation_data(self, row: int, column: int, role: int, message: MessageRow) -> object:
        """Return what a conversation's row or an expanded message's row shows, or _NOT_HANDLED."""
        summary = self._summary(row)
        if summary is not None:
            return self._summary_data(row, column, role, summary)
        entry = self._layout.entry(row) if self._layout is not None else None
        if entry is None or entry[1] == HEAD or role != Qt.ItemDataRole.DisplayRole or column != SUBJECT:
            return _NOT_HANDLED
        depth = min(entry[0].depths.get(message.id, 0), MAX_INDENT_DEPTH)
        return INDENT * (depth + 1) + (message.subject or self.tr("(no subject)"))

    def _summary_data(self, row: int, column: int, role: int, summary: ConversationSummary) -> object:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._summary_display(row, column, summary)
        if role == Qt.ItemDataRole.DecorationRole and column == MARKERS:
            return marker_pixmap(summary.flagged, summary.has_attachment) if summary.flagged or summary.has_attachment else None
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if summary.unread else None
        if role == Qt.ItemDataRole.ToolTipRole and column == SENDER:
            return ", ".join(summary.participants)
        if role == Qt.ItemDataRole.ToolTipRole and column == SUBJECT:
            return summary.subject
        return _NOT_HANDLED

    def _summary_display(self, row: int, column: int, summary: ConversationSummary) -> object:
        if column == SENDER:
            names = ", ".join(summary.participants[:MAX_PARTICIPANTS])
            if len(summary.participants) > MAX_PARTICIPANTS:
                names += ", …"
            return self.tr("%1 (%2)").replace("%1", names).replace("%2", self._locale.toString(summary.count))
        if column == SUBJECT:
            marker = "▾ " if self.is_expanded(row) else "▸ "
            return marker + (summary.subject or self.tr("(no subject)"))
        if column == DATE:
            return self._format_date(summary.newest)
        return _NOT_HANDLED

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
    """A table set up for long lists: fixed row height, no per-row measuring.

    In conversation view, Right or a double click expands the current
    conversation, and Left collapses it.

    Attributes:
        conversations_action: A checkable action that turns conversation view
            on and off, for the View menu.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageList")
        self.conversations_action = QAction(self.tr("&Conversations"), self, objectName="conversations")
        self.conversations_action.setCheckable(True)
        self.conversations_action.setToolTip(self.tr("Show one row per conversation"))
        self.conversations_action.toggled.connect(self._on_conversations_action_toggled)
        self.doubleClicked.connect(self._on_double_clicked)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        # Set here rather than in the style sheet, where a border or a background
        # makes every move of the current row repaint all visible rows.
        self.setFrameShape(QFrame.Shape.NoFrame)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
        self.setPalette(palette)
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
        self.conversations_action.setChecked(model.conversations())
        model.conversations_changed.connect(self.conversations_action.setChecked)

    def set_current_expanded(self, expanded: bool) -> bool:
        """Expand or collapse the conversation of the current row; return whether it changed.

        Collapsing from one of its messages moves the current row up to the conversation.
        """
        model = self.model()
        current = self.currentIndex()
        if not isinstance(model, MessageListModel) or not current.isValid():
            return False
        row = current.row() if expanded else model.conversation_row(current.row())
        if row is None or not model.set_expanded(row, expanded):
            return False
        if row != current.row():
            self.selectRow(row)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's method name
        model = self.model()
        key = event.key()
        if isinstance(model, MessageListModel) and model.conversations() and key in (Qt.Key.Key_Right, Qt.Key.Key_Left):
            self.set_current_expanded(key == Qt.Key.Key_Right)
            event.accept()
            return
        super().keyPressEvent(event)

    @Slot(bool)
    def _on_conversations_action_toggled(self, checked: bool) -> None:
        model = self.model()
        if isinstance(model, MessageListModel):
            model.set_conversations(checked)

    @Slot(QModelIndex)
    def _on_double_clicked(self, index: QModelIndex) -> None:
        model = self.model()
        if isinstance(model, MessageListModel) and model.is_expandable(index.row()):
            model.set_expanded(index.row(), not model.is_expanded(index.row()))

    def _size_columns(self) -> None:
        columns = self.horizontalHeader()
        # Unread rows are bold, so the widths are measured in the bold font.
        bold = QFont(self.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        widths = {
            # Room for the selection check box and the star and attachment markers.
            MARKERS: MARKER_SIZE * 2 + 14 + self.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + 6,
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
