"""The current row when the window opens: the first row of the list, shown in the reader and left unread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from desktop.store import SEEN, Store
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, build_profile, open_main_window
from tests.ui.test_keys import press

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    return open_main_window(qtbot, build_profile(tmp_path / "profile"))


def _stored_seen(window: MainWindow, message: int) -> bool:
    with Store(window._profile.store_file) as store:
        row = store.message(message)
    assert row is not None
    return SEEN in row.flags


def _newest_in_inbox(window: MainWindow) -> int:
    with Store(window._profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        rows = store.messages(store.message_ids([inbox.id]))
    return max(rows, key=lambda row: row.date).id


def test_first_row_current_at_start(qtbot, window: MainWindow) -> None:
    first = window.message_model.message_id(0)

    assert first == _newest_in_inbox(window)
    current = window.selected_message()
    assert current is not None
    assert current.id == first
    assert window.reader.requested_message_id() == first
    qtbot.waitUntil(lambda: window.reader.message_id() == first, timeout=5000)
    # The status bar still counts the folder's messages, as before a row was current.
    assert window.status_panel.message() == f"{window.message_model.rowCount()} message(s)"


def test_first_row_stays_unread(qtbot, window: MainWindow) -> None:
    first = window.message_model.message_id(0)
    qtbot.waitUntil(lambda: window.reader.message_id() == first, timeout=5000)

    assert not _stored_seen(window, first)
    row = window.message_model.message(0)
    assert row is not None
    assert not row.seen

    # Opening it on purpose marks it read, as for any other message.
    window.message_view.setFocus()
    press(qtbot, window.message_view, "o")
    assert _stored_seen(window, first)


def test_j_and_k_move_from_first_row(qtbot, window: MainWindow) -> None:
    model = window.message_model
    window.message_view.setFocus()

    press(qtbot, window.message_view, "j")
    assert window.message_view.currentIndex().row() == 1
    assert window.reader.requested_message_id() == model.message_id(1)

    press(qtbot, window.message_view, "k")
    press(qtbot, window.message_view, "k")
    assert window.message_view.currentIndex().row() == 0
    assert window.reader.requested_message_id() == model.message_id(0)


def test_list_has_focus_at_start(qtbot, window: MainWindow) -> None:
    # The folder tree would take the first letters for its type-ahead search.
    assert window.message_view.hasFocus()
    assert not window.folder_view.hasFocus()

    press(qtbot, window.message_view, "j")

    assert window.message_view.currentIndex().row() == 1
