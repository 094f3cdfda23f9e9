"""Shift+click and Ctrl+click in the message list change the selection set, with real mouse clicks."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QStyle

from desktop.demo import import_messages
from desktop.mailgen import generate
from desktop.paths import Profile
from desktop.store import Store
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import MARKERS, SUBJECT, MessageListModel
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, copy_profile, index_profile, local_profile, open_main_window
from tests.ui.test_keys import press

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

ACCOUNT = "clicks"
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier
NO_MODIFIER = Qt.KeyboardModifier.NoModifier


@pytest.fixture(scope="module")
def generated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build once a profile with 300 generated messages, conversations among them, and an Archive folder."""
    home = tmp_path_factory.mktemp("clicks") / "profile"
    profile = local_profile(home, ACCOUNT)
    with Store(profile.store_file) as store:
        import_messages(store, ACCOUNT, generate(300, seed=7))
        index_profile(profile, store)
    return home


@pytest.fixture
def profile(generated_home: Path, tmp_path: Path) -> Profile:
    return copy_profile(generated_home, tmp_path / "profile")


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    main = open_main_window(qtbot, profile, size=(1200, 900))
    main.message_view.setFocus()
    return main


def click_row(qtbot, window: MainWindow, row: int, modifiers=NO_MODIFIER) -> None:
    """Click the subject of ``row`` with ``modifiers`` held."""
    view = window.message_view
    point = view.visualRect(window.message_model.index(row, SUBJECT)).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifiers, point)


def click_check_box(qtbot, window: MainWindow, row: int, modifiers=NO_MODIFIER) -> None:
    """Click the check box of ``row``, drawn at the left of the first column and centred vertically."""
    view = window.message_view
    rect = view.visualRect(window.message_model.index(row, MARKERS))
    indicator = view.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth)
    point = rect.topLeft() + QPoint(indicator // 2 + 3, rect.height() // 2)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifiers, point)


def ids_of(model: MessageListModel, rows) -> list[int]:
    return [message_id for row in rows for message_id in model.row_message_ids(row)]


def checked_rows(model: MessageListModel, rows) -> list[int]:
    """Return which of ``rows`` the check box column shows as checked."""
    return [row for row in rows
            if model.data(model.index(row, MARKERS), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked]


def test_shift_click_extends_from_clicked_row(qtbot, window: MainWindow) -> None:
    model = window.message_model
    click_row(qtbot, window, 2)
    assert model.selection_count() == 0

    click_row(qtbot, window, 6, SHIFT)

    assert model.selected_ids() == ids_of(model, range(2, 7))
    assert checked_rows(model, range(0, 10)) == [2, 3, 4, 5, 6]
    assert window.status_panel.message() == "5 selected"
    assert window.message_view.currentIndex().row() == 6


def test_shift_click_upwards_after_x(qtbot, window: MainWindow) -> None:
    model = window.message_model
    window.message_view.selectRow(8)
    press(qtbot, window.message_view, "x")

    click_row(qtbot, window, 5, SHIFT)

    assert model.selected_ids() == ids_of(model, range(5, 9))


def test_shift_click_adds_to_selection(qtbot, window: MainWindow) -> None:
    model = window.message_model
    click_row(qtbot, window, 1)
    click_row(qtbot, window, 2, SHIFT)
    click_row(qtbot, window, 10)

    click_row(qtbot, window, 12, SHIFT)

    assert model.selected_ids() == ids_of(model, [1, 2, 10, 11, 12])
    assert checked_rows(model, range(0, 15)) == [1, 2, 10, 11, 12]


def test_ctrl_click_toggles_one_row(qtbot, window: MainWindow) -> None:
    model = window.message_model

    click_row(qtbot, window, 4, CTRL)
    click_row(qtbot, window, 9, CTRL)
    assert model.selected_ids() == ids_of(model, [4, 9])

    click_row(qtbot, window, 4, CTRL)

    assert model.selected_ids() == ids_of(model, [9])
    assert checked_rows(model, range(0, 12)) == [9]


def test_shift_click_on_check_boxes(qtbot, window: MainWindow) -> None:
    model = window.message_model
    click_check_box(qtbot, window, 3)
    assert model.selected_ids() == ids_of(model, [3])

    click_check_box(qtbot, window, 7, SHIFT)

    # The range stays selected: the check box of the clicked row is not toggled back.
    assert model.selected_ids() == ids_of(model, range(3, 8))
    assert checked_rows(model, range(0, 10)) == [3, 4, 5, 6, 7]


def test_ctrl_click_on_check_box_toggles_once(qtbot, window: MainWindow) -> None:
    model = window.message_model

    click_check_box(qtbot, window, 5, CTRL)

    assert model.selected_ids() == ids_of(model, [5])

    click_check_box(qtbot, window, 5, CTRL)

    assert model.selection_count() == 0


def test_plain_click_keeps_selection(qtbot, window: MainWindow) -> None:
    model = window.message_model
    click_row(qtbot, window, 2, CTRL)

    click_row(qtbot, window, 6)

    assert model.selected_ids() == ids_of(model, [2])
    qtbot.waitUntil(lambda: window.reader.message_id() == model.message_id(6), timeout=2000)


def _expanded_conversation(qtbot, window: MainWindow) -> int:
    """Turn conversation view on and expand the first conversation of several messages; return its row."""
    window.message_view.conversations_action.trigger()
    model = window.message_model
    head = next(row for row in range(model.rowCount()) if model.is_expandable(row))
    assert model.set_expanded(head, True)
    return head


def test_conversation_check_boxes_in_step(qtbot, window: MainWindow) -> None:
    model = window.message_model
    head = _expanded_conversation(qtbot, window)
    members = model.row_message_ids(head)
    repainted: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda first, last, _roles: repainted.append((first.row(), last.row())))

    click_check_box(qtbot, window, head, CTRL)

    assert set(model.selected_ids()) == set(members)
    assert checked_rows(model, range(head, head + len(members) + 1)) == list(range(head, head + len(members) + 1))
    # The view repaints the check boxes of the conversation and of each of its shown messages.
    assert any(first <= head and last >= head + len(members) for first, last in repainted)

    repainted.clear()
    click_row(qtbot, window, head + 2, CTRL)

    assert len(model.selected_ids()) == len(members) - 1
    assert checked_rows(model, [head]) == []
    assert any(first <= head <= last for first, last in repainted)


def test_shift_click_over_conversations(qtbot, window: MainWindow) -> None:
    model = window.message_model
    head = _expanded_conversation(qtbot, window)
    last_row = head + len(model.row_message_ids(head)) + 2
    click_row(qtbot, window, max(0, head - 1))

    click_row(qtbot, window, last_row, SHIFT)

    expected = set(ids_of(model, range(max(0, head - 1), last_row + 1)))
    assert set(model.selected_ids()) == expected
    assert checked_rows(model, range(max(0, head - 1), last_row + 1)) == list(range(max(0, head - 1), last_row + 1))


def test_archive_acts_on_clicked_selection(qtbot, window: MainWindow, profile: Profile) -> None:
    model = window.message_model
    click_row(qtbot, window, 0)
    click_row(qtbot, window, 3, SHIFT)
    click_row(qtbot, window, 8, CTRL)
    chosen = model.selected_ids()
    assert len(chosen) == 5

    press(qtbot, window.message_view, "e")

    with Store(profile.store_file) as store:
        folders = {row.id: row.folder for row in store.messages(chosen)}
    assert folders == {message_id: "Archive" for message_id in chosen}
    assert model.selection_count() == 0
