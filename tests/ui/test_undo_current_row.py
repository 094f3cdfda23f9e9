"""The current row after an undo: the restored messages come back current and selected.

Each change takes messages out of INBOX, on the window's thread for
``SMALL`` messages and on the store queue's worker for ``LARGE``. After
``z`` the first restored message is the current row and the reader shows
it, several restored messages are the selection again, and none of them
was marked read by coming back. The profile is a local account, so the
tests need no server.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sqlite3
from pathlib import Path

import pytest

from desktop.store import FLAGGED, SEEN, Store
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, copy_profile, open_main_window, refocus_window, search_and_wait
from tests.ui.test_bulk_commands_large import _pick
from tests.ui.test_keys import press
from tests.ui.test_select import answer_ok, generated_home, us_locale  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

SMALL = 20
LARGE = 600
# The changed rows start below the top, so the cursor can land above or below them.
# Row 4 of the generated INBOX is unread, so a test can see that undo does not mark it read.
FIRST_ROW = 4
WAIT_MS = 60_000
ACTIONS = ["archive", "delete", "move", "spam", "snooze"]


@pytest.fixture
def window(qtbot, generated_home: Path, tmp_path: Path, us_locale, answer_ok) -> MainWindow:
    profile = copy_profile(generated_home, tmp_path / "profile")
    with Store(profile.store_file) as store:
        account_id = store.account_id(ACCOUNT)
        store.upsert_folder(account_id, "Trash", delimiter="/", special_use="\\Trash")
        store.upsert_folder(account_id, "Junk", delimiter="/", special_use="\\Junk")
        store.upsert_folder(account_id, "Projects", delimiter="/")
    main = open_main_window(qtbot, profile)
    main.message_view.setFocus()
    return main


def _stored_flags(window: MainWindow, message: int) -> frozenset[str]:
    with Store(window._profile.store_file) as store:
        row = store.message(message)
    assert row is not None
    return frozenset(row.flags)


def _current_id(window: MainWindow) -> int | None:
    row = window.selected_message()
    return row.id if row is not None else None


def _change(qtbot, window: MainWindow, action: str) -> None:
    view = window.message_view
    if action == "move":
        _pick(qtbot, window, window.bulk_commands.folder_picker, "v", "Projects")
    elif action == "snooze":
        press(qtbot, view, "b")
        qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=5000)
        press(qtbot, window.snooze_commands.picker.choices, "n")
    else:
        press(qtbot, view, {"archive": "e", "delete": "#", "spam": "!"}[action])


def _change_and_wait(qtbot, window: MainWindow, action: str, chosen: list[int]) -> None:
    """Run ``action`` on the selection and wait until ``chosen`` left the list and the store has the change."""
    model = window.message_model
    queue = window.bulk_sender.store_queue
    _change(qtbot, window, action)
    # A snooze creates the Snoozed folder on a worker first, so its rows can leave later.
    qtbot.waitUntil(lambda: all(model.row_of(message) is None for message in chosen), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=WAIT_MS)


def _undo_and_wait(qtbot, window: MainWindow) -> None:
    refocus_window(qtbot, window)
    queue = window.bulk_sender.store_queue
    with qtbot.waitSignal(window.rule_commands.controller.undone, timeout=WAIT_MS):
        press(qtbot, window.message_view, "z")
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=WAIT_MS)


@pytest.mark.parametrize("count", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("action", ACTIONS)
def test_undo_selects_restored(qtbot, window: MainWindow, action: str, count: int) -> None:
    assert SMALL < BACKGROUND_MIN_MESSAGES <= LARGE
    model = window.message_model
    window.message_view.selectRow(0)
    # The selection set, as x and Shift+J build it, without moving the cursor over the rows and reading them.
    chosen = model.ids()[FIRST_ROW:FIRST_ROW + count]
    model.set_selected(chosen)
    flags_before = _stored_flags(window, chosen[0])
    assert SEEN not in flags_before

    _change_and_wait(qtbot, window, action, chosen)
    assert model.selection_count() == 0
    _undo_and_wait(qtbot, window)

    assert model.ids()[FIRST_ROW:FIRST_ROW + count] == chosen
    assert _current_id(window) == chosen[0]
    assert window.message_view.currentIndex().row() == FIRST_ROW
    assert window.reader.requested_message_id() == chosen[0]
    assert model.selected_ids() == chosen
    assert _stored_flags(window, chosen[0]) == flags_before
    assert window.status_panel.message().startswith("Undid")


@pytest.mark.parametrize("action", ACTIONS)
def test_undo_of_current_message(qtbot, window: MainWindow, action: str) -> None:
    model = window.message_model
    window.message_view.selectRow(FIRST_ROW)
    message = model.message_id(FIRST_ROW)
    qtbot.waitUntil(lambda: window.reader.message_id() == message, timeout=5000)

    _change_and_wait(qtbot, window, action, [message])
    # The cursor moved on to the next message.
    assert _current_id(window) == model.ids()[FIRST_ROW]
    _undo_and_wait(qtbot, window)

    assert _current_id(window) == message
    assert window.reader.requested_message_id() == message
    # A single row becomes the current row only. No check box was set before the change, so none is set now.
    assert model.selection_count() == 0
    press(qtbot, window.message_view, "j")
    assert _current_id(window) == model.ids()[FIRST_ROW + 1]


def test_undo_queued_behind_large_change(qtbot, window: MainWindow) -> None:
    """z pressed while the archive still waits to write: the cursor follows the undo's commit."""
    model = window.message_model
    queue = window.bulk_sender.store_queue
    window.message_view.selectRow(0)
    chosen = model.ids()[FIRST_ROW:FIRST_ROW + LARGE]
    model.set_selected(chosen)
    # Another connection holds the write lock, so the worker's archive waits and the undo queues behind it.
    blocker = sqlite3.connect(window._profile.store_file, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        press(qtbot, window.message_view, "e")
        refocus_window(qtbot, window)
        assert queue.is_busy()
        press(qtbot, window.message_view, "z")
        # The undo waits behind the archive, so the list has no restored rows yet.
        assert model.row_of(chosen[0]) is None
        with qtbot.waitSignal(window.rule_commands.controller.undone, timeout=WAIT_MS) as undone:
            blocker.execute("ROLLBACK")
    finally:
        # Closing rolls back a transaction still open after a failed check.
        blocker.close()
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=WAIT_MS)

    assert undone.args[0].restored == LARGE
    assert sorted(undone.args[0].moved_back_ids) == sorted(chosen)
    assert _current_id(window) == chosen[0]
    assert window.reader.requested_message_id() == chosen[0]
    assert model.selected_ids() == chosen
    assert window.status_panel.message().startswith("Undid")


@pytest.mark.parametrize("count", [SMALL, LARGE], ids=["small", "large"])
def test_undo_in_search_results(qtbot, window: MainWindow, count: int) -> None:
    """Search results keep archived messages, and undo brings the cursor back to the first of them."""
    search_and_wait(qtbot, window, "invoice OR report", WAIT_MS)
    model = window.message_model
    window.message_view.selectRow(0)
    chosen = model.ids()[FIRST_ROW:FIRST_ROW + count]
    model.set_selected(chosen)

    press(qtbot, window.message_view, "e")
    qtbot.waitUntil(lambda: not window.bulk_sender.store_queue.is_busy(), timeout=WAIT_MS)
    assert model.row_of(chosen[0]) == FIRST_ROW
    assert model.selection_count() == 0
    _undo_and_wait(qtbot, window)

    assert _current_id(window) == chosen[0]
    assert window.reader.requested_message_id() == chosen[0]
    assert model.selected_ids() == chosen


def test_undo_of_star_keeps_cursor(qtbot, window: MainWindow) -> None:
    """A flag change leaves the list as it is, so its undo leaves the cursor where the user put it."""
    model = window.message_model
    window.message_view.selectRow(0)
    chosen = model.ids()[FIRST_ROW:FIRST_ROW + SMALL]
    model.set_selected(chosen)
    _change_and_wait(qtbot, window, "archive", chosen)
    _undo_and_wait(qtbot, window)
    assert _current_id(window) == chosen[0]

    press(qtbot, window.message_view, "s")
    assert all(FLAGGED in _stored_flags(window, message) for message in chosen)
    press(qtbot, window.message_view, "* n")
    window.message_view.selectRow(1)
    _undo_and_wait(qtbot, window)

    assert not any(FLAGGED in _stored_flags(window, message) for message in chosen)
    assert _current_id(window) == model.message_id(1)
    assert model.selection_count() == 0
