"""Selecting messages for bulk actions: x, Shift+J/K, select all, none, read and unread.

The selection is the message list model's set of ids (see
``MessageListModel.selected_ids``), so "select all" on a search with 50,000
matches stores the ids only and reads no rows for the view. Bulk actions
act on that set when it is not empty, else on the rows highlighted in the
list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.store import Store
from desktop.ui.message_list import MessageListModel, MessageListView

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
