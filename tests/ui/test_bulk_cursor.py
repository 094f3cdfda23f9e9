"""The cursor and the search results after archive and move, the same below and above ``BACKGROUND_MIN_MESSAGES``.

Each test changes 20 messages, which the window's thread writes, and then
600, which the store queue's worker writes, in one window on a private
Dovecot. After each change the current row is the message that followed the
selection, and the reader shows it. The inbox loses the moved messages at
once; search results keep them. The server's folders are read back by
Message-ID over a separate connection, so a message sent twice would show.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import SUBJECT
from tests.sync.test_bulk_send import pending_count, server_message_ids
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, copy_profile, open_main_window, refocus_window, search_and_wait
from tests.ui.test_bulk_archive import SEND_TIMEOUT_MS, _open_window, _profile, _reactivate, _search_all
from tests.ui.test_bulk_commands_large import _pick
from tests.ui.test_keys import press
from tests.ui.test_select import answer_ok, generated_home, us_locale  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

SMALL = 20
LARGE = 600
# Enough messages that one follows both selections.
COUNT = 700
LOCAL_WAIT_MS = 30_000


@dataclass(frozen=True)
class Outcome:
    """What the user sees after a change, in terms that must not depend on its size."""

    current_is_next: bool
    reader_shows_next: bool
    moved_listed: int
    rows_lost: int
    selection_count: int


def _select_from_current(qtbot, window: MainWindow, count: int) -> list[int]:
    """Select ``count`` rows from the current row down, with x and a Shift+click on the last; return their ids."""
    view = window.message_view
    last = view.currentIndex().row() + count - 1
    press(qtbot, view, "x")
    index = window.message_model.index(last, SUBJECT)
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     view.visualRect(index).center())
    qtbot.keyRelease(view, Qt.Key.Key_Shift)
    chosen = window.message_model.selected_ids()
    assert len(chosen) == count
    assert view.currentIndex().row() == last
    return chosen


def _change(qtbot, window: MainWindow, action: str, target: str) -> None:
    if action == "archive":
        press(qtbot, window.message_view, "e")
    else:
        _pick(qtbot, window, window.bulk_commands.folder_picker, "v", target)


def _outcome(window: MainWindow, chosen: list[int], next_id: int, rows_before: int) -> Outcome:
    model = window.message_model
    current = window.selected_message()
    return Outcome(
        current_is_next=current is not None and current.id == next_id,
        reader_shows_next=window.reader.requested_message_id() == next_id,
        moved_listed=sum(1 for message in chosen if model.row_of(message) is not None),
        rows_lost=rows_before - model.rowCount(),
        selection_count=model.selection_count(),
    )


def _change_and_wait(qtbot, window: MainWindow, action: str, target: str, count: int) -> tuple[Outcome, Outcome]:
    """Select ``count`` rows from the cursor and change them; return the outcome at once and after the send."""
    _reactivate(qtbot, window)
    chosen = _select_from_current(qtbot, window, count)
    model = window.message_model
    next_id = model.message_id(model.row_of(chosen[-1]) + 1)
    rows_before = model.rowCount()
    queue = window.bulk_sender.store_queue
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS):
        _change(qtbot, window, action, target)
        # A large change waits for the worker to commit it, but a small one was written here already.
        assert queue.is_busy() == (count >= BACKGROUND_MIN_MESSAGES)
        at_once = _outcome(window, chosen, next_id, rows_before)
    qtbot.waitUntil(lambda: not queue.is_busy() and not window.bulk_sender.is_sending(), timeout=SEND_TIMEOUT_MS)
    return at_once, _outcome(window, chosen, next_id, rows_before)


@pytest.mark.parametrize(("action", "target"), [("archive", "Archive"), ("move", "Projects")])
@pytest.mark.parametrize("in_search", [False, True], ids=["inbox", "search"])
@pytest.mark.dovecot
def test_cursor_same_both_sides(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client, answer_ok,
                                us_locale, action: str, target: str, in_search: bool) -> None:
    assert SMALL < BACKGROUND_MIN_MESSAGES <= LARGE
    direct_client.create_folder("Projects")
    profile = _profile(tmp_path, dovecot_server, imap_user, COUNT)
    window = _open_window(qtbot, profile)
    if in_search:
        _search_all(qtbot, window, "report")
    assert window.message_model.rowCount() == COUNT
    window.message_view.selectRow(0)

    small_at_once, small_after = _change_and_wait(qtbot, window, action, target, SMALL)
    large_at_once, large_after = _change_and_wait(qtbot, window, action, target, LARGE)

    # Search results keep the moved messages, but the inbox loses them.
    assert small_at_once == Outcome(True, True, SMALL if in_search else 0, 0 if in_search else SMALL, 0)
    assert large_at_once == Outcome(True, True, LARGE if in_search else 0, 0 if in_search else LARGE, 0)
    # The list read again after the commit keeps the cursor and the reader where they were.
    assert small_after == small_at_once
    assert large_after == large_at_once
    assert pending_count(profile) == 0
    moved = server_message_ids(direct_client, target)
    assert sum(moved.values()) == SMALL + LARGE
    assert set(moved.values()) == {1}
    assert sum(server_message_ids(direct_client, "INBOX").values()) == COUNT - SMALL - LARGE
    if in_search:
        # The first row was the first message of the small selection; it shows its new folder.
        first = window.message_model.message(0)
        assert first is not None
        assert first.folder == target


# --- delete for good and snooze, on a local account ---------------------------------------------


def _change_locally(qtbot, window: MainWindow, action: str, count: int) -> tuple[Outcome, Outcome]:
    """Select ``count`` rows from the cursor and delete or snooze them; return the outcome at once and after the commit."""
    refocus_window(qtbot, window)
    chosen = _select_from_current(qtbot, window, count)
    model = window.message_model
    next_id = model.message_id(model.row_of(chosen[-1]) + 1)
    rows_before = model.rowCount()
    queue = window.bulk_sender.store_queue
    if action == "delete":
        press(qtbot, window.message_view, "#")
    else:
        press(qtbot, window.message_view, "b")
        qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=5000)
        press(qtbot, window.snooze_commands.picker.choices, "n")
    # A snooze creates the account's Snoozed folder on a worker first, so its change can come later.
    qtbot.waitUntil(lambda: model.selection_count() == 0, timeout=LOCAL_WAIT_MS)
    at_once = _outcome(window, chosen, next_id, rows_before)
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=LOCAL_WAIT_MS)
    return at_once, _outcome(window, chosen, next_id, rows_before)


@pytest.mark.parametrize("action", ["delete", "snooze"])
@pytest.mark.parametrize("in_search", [False, True], ids=["inbox", "search"])
def test_delete_and_snooze_cursor(qtbot, generated_home: Path, tmp_path: Path, answer_ok, us_locale, action: str,
                                  in_search: bool) -> None:
    profile = copy_profile(generated_home, tmp_path / "profile")
    window = open_main_window(qtbot, profile)
    window.message_view.setFocus()
    if in_search:
        search_and_wait(qtbot, window, "invoice OR report", LOCAL_WAIT_MS)
    window.message_view.selectRow(0)

    small = _change_locally(qtbot, window, action, SMALL)
    large = _change_locally(qtbot, window, action, LARGE)

    # The account has no Trash folder, so the delete is for good and its messages leave search results too.
    stays_listed = in_search and action == "snooze"
    assert small[0] == Outcome(True, True, SMALL if stays_listed else 0, 0 if stays_listed else SMALL, 0)
    assert large[0] == Outcome(True, True, LARGE if stays_listed else 0, 0 if stays_listed else LARGE, 0)
    assert small[1] == small[0]
    assert large[1] == large[0]
