"""An expanded conversation's own row opens its newest message, as a collapsed one does."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt

from desktop.store import Store
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import MessageListModel
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.test_conversations import model, store, window  # noqa: F401 - fixtures

# Row 1 of the conversation list is the five-message budget thread, whose newest message is e@x (hour 6).
BUDGET_ROW = 1
NEWEST = "e@x"
OLDEST = "a@x"


def _header_id(store: Store, message: int) -> str:
    return store.message(message).message_id


def test_expanded_row_keeps_newest(model: MessageListModel, store: Store) -> None:
    listed = model.row_message_ids(BUDGET_ROW)
    assert _header_id(store, model.message_id(BUDGET_ROW)) == NEWEST

    assert model.set_expanded(BUDGET_ROW, True)

    assert _header_id(store, model.message_id(BUDGET_ROW)) == NEWEST
    assert model.row_message_ids(BUDGET_ROW) == listed
    # The rows below still show the thread order, the root first.
    assert _header_id(store, model.message_id(BUDGET_ROW + 1)) == OLDEST


def test_collapse_after_expand_keeps_newest(model: MessageListModel, store: Store) -> None:
    model.set_expanded(BUDGET_ROW, True)
    model.set_expanded(BUDGET_ROW, False)

    assert _header_id(store, model.message_id(BUDGET_ROW)) == NEWEST
    assert model.rowCount() == 3


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_expanded_row_opens_newest(window: MainWindow, qtbot) -> None:
    window.message_view.conversations_action.trigger()
    view = window.message_view
    view.setFocus()
    view.selectRow(BUDGET_ROW)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert window.message_model.is_expanded(BUDGET_ROW)
    view.selectRow(BUDGET_ROW + 1)
    first_below = window.message_model.message_id(BUDGET_ROW + 1)
    qtbot.waitUntil(lambda: window.reader.message_id() == first_below, timeout=2000)

    view.selectRow(BUDGET_ROW)

    with Store(window._profile.store_file) as stored:
        qtbot.waitUntil(lambda: window.reader.message_id() is not None
                        and _header_id(stored, window.reader.message_id()) == NEWEST, timeout=2000)
