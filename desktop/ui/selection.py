"""Selecting messages for bulk actions: x, Shift+J/K, Shift+click, Ctrl+click, select all, none, read and unread.

The selection is the message list model's set of ids (see
``MessageListModel.selected_ids``), so "select all" on a search with 50,000
matches stores the ids only and reads no rows for the view. Bulk actions
act on that set when it is not empty, else on the rows highlighted in the
list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEvent, QModelIndex, QObject, QPersistentModelIndex, QPoint, Qt, Slot
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QMessageBox, QStyle, QWidget

from desktop.store import Store
from desktop.ui.message_list import MARKERS, MessageListModel, MessageListView

log = logging.getLogger(__name__)

# Moves of more messages than this ask for confirmation first. A module
# constant for now, not a setting in config.toml.
MOVE_CONFIRM_THRESHOLD = 500


class SelectionCommands(QObject):
    """The handlers of the selection commands of the main window's message list."""

    def __init__(self, model: MessageListModel, view: MessageListView, store: Store,
                 move_to_row: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._view = view
        self._store = store
        self._move_to_row = move_to_row
        self._swallow_release = False
        # The row a Shift+click extends from: the last row clicked or made current.
        self._anchor = QPersistentModelIndex()
        view.viewport().installEventFilter(self)
        view.selectionModel().currentChanged.connect(self._on_view_current_changed)

    def _current_row(self) -> int | None:
        """Return the current row, making the first row current when none is."""
        if not self._model.rowCount():
            return None
        current = self._view.currentIndex()
        if not current.isValid():
            self._move_to_row(0)
            return 0
        return current.row()

    def toggle_current(self) -> None:
        """Select the current row's messages, or unselect them when they are selected."""
        row = self._current_row()
        if row is not None:
            self._model.toggle_row_selected(row)

    def extend(self, step: int) -> None:
        """Select the current row, move ``step`` rows and select that row too."""
        row = self._current_row()
        if row is None:
            return
        target = max(0, min(self._model.rowCount() - 1, row + step))
        self._model.set_rows_selected([row, target], True)
        if target != row:
            self._move_to_row(target)

    def select_all(self) -> None:
        """Select every message of the list, loaded or not: the folder's tab or every match of a search."""
        ids = self._model.ids()
        self._model.set_selected(ids)
        log.debug("Selected all %d message(s) of the list", len(ids))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        """Extend the selection set on Shift+click and toggle a row on Ctrl+click in the message list.

        The view still gets the click, so its highlighted rows and current
        row change as usual. Only the set of selected ids is handled here.
        """
        if watched is not self._view.viewport() or not isinstance(event, QMouseEvent):
            return False
        if event.type() == QEvent.Type.MouseButtonRelease and self._swallow_release:
            # The press already selected the range, so the check box must not toggle the clicked row back.
            self._swallow_release = False
            return True
        if event.type() != QEvent.Type.MouseButtonPress or event.button() != Qt.MouseButton.LeftButton:
            return False
        index = self._view.indexAt(event.position().toPoint())
        if not index.isValid():
            return False
        modifiers = event.modifiers()
        on_check_box = self._on_check_box(index, event.position().toPoint())
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            self._extend_to(index.row())
            self._swallow_release = on_check_box
        elif modifiers & Qt.KeyboardModifier.ControlModifier and not on_check_box:
            # On the check box itself the click toggles the row already.
            self._model.toggle_row_selected(index.row())
        self._anchor = QPersistentModelIndex(index)
        return False

    def _extend_to(self, row: int) -> None:
        """Select the rows from the anchor to ``row``, both included."""
        if self._anchor.isValid():
            anchor = self._anchor.row()
        else:
            current = self._view.currentIndex()
            anchor = current.row() if current.isValid() else row
        first, last = sorted((anchor, row))
        self._model.set_rows_selected(range(first, last + 1), True)
        log.debug("Selected rows %d to %d by Shift+click", first, last)

    @Slot(QModelIndex, QModelIndex)
    def _on_view_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._anchor = QPersistentModelIndex(current)

    def _on_check_box(self, index: QModelIndex, point: QPoint) -> bool:
        """Return whether ``point`` may be on the check box of ``index``.

        The style draws the box at the left of the first column, after a
        focus frame margin. The area tested here is a few pixels wider than
        the box, so a click that the view takes as a check box click always
        counts as one.
        """
        if index.column() != MARKERS:
            return False
        style = self._view.style()
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self._view) + 1
        width = style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth, None, self._view)
        return point.x() - self._view.visualRect(index).left() <= 2 * margin + width + 2

    def select_none(self) -> None:
        self._model.set_selected(())

    def select_by_seen(self, seen: bool) -> None:
        """Select the read (``seen``) or unread messages of the list; the others leave the selection."""
        # The flags come from the store, because most rows of a long list are not loaded.
        rows = self._store.messages(self._model.ids())
        self._model.set_selected(row.id for row in rows if row.seen == seen)


def confirm_move(parent: QWidget, action_text: str, count: int) -> bool:
    """Ask whether to go on with a move of ``count`` messages above ``MOVE_CONFIRM_THRESHOLD``.

    Returns True at once for smaller moves. ``action_text`` names the
    action with the count, such as "Archive 4,812 messages?".
    """
    if count <= MOVE_CONFIRM_THRESHOLD:
        return True
    box = QMessageBox(QMessageBox.Icon.Question, QCoreApplication.translate("Selection", "Confirm move"), action_text,
                      QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("confirmMoveBox")
    box.setDefaultButton(QMessageBox.StandardButton.Ok)
    answer = box.exec()
    box.deleteLater()
    confirmed = answer == QMessageBox.StandardButton.Ok
    log.info("Move of %d message(s) %s", count, "confirmed" if confirmed else "cancelled")
    return confirmed


def confirm_delete_for_good(parent: QWidget, question: str, count: int, to_trash: int = 0) -> bool:
    """Ask whether to delete ``count`` messages for good, with Cancel as the default answer.

    Every such delete asks, whatever its size, because undo cannot bring the
    messages back. ``question`` names the action with the count, such as
    "Delete 12 message(s) for good?". ``to_trash`` is the number of other
    selected messages, which go to Trash.
    """
    translate = QCoreApplication.translate
    details = translate("Selection", "They are in Trash, or their account has no Trash folder, so undo cannot bring "
                                     "them back.")
    if to_trash:
        details += " " + translate("Selection", "The other %n selected message(s) move to Trash.", "", to_trash)
    box = QMessageBox(QMessageBox.Icon.Warning, translate("Selection", "Delete for good"), question,
                      QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("confirmDeleteForGoodBox")
    box.setInformativeText(details)
    box.button(QMessageBox.StandardButton.Ok).setText(translate("Selection", "Delete for good"))
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)
    answer = box.exec()
    box.deleteLater()
    confirmed = answer == QMessageBox.StandardButton.Ok
    log.info("Delete of %d message(s) for good %s", count, "confirmed" if confirmed else "cancelled")
    return confirmed
