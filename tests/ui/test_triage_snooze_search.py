"""Undo of a snooze made from search results lists the messages in the results again, large or small."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from desktop.paths import Profile
from desktop.snooze import SNOOZED_FOLDER
from desktop.store import Store
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, copy_profile, open_main_window, refocus_window, search_and_wait
from tests.ui.test_keys import press
from tests.ui.test_select import MESSAGE_COUNT, generated_home, us_locale  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

# Every message of the generated folder is an invoice or a report.
EVERY_MESSAGE = "invoice OR report"
WAIT_MS = 60_000


@pytest.fixture
def window(qtbot, generated_home: Path, tmp_path: Path, us_locale) -> MainWindow:
    profile = copy_profile(generated_home, tmp_path / "profile")
    return open_main_window(qtbot, profile)


def _folder_counts(profile: Profile) -> dict[str, int]:
    with Store(profile.store_file) as store:
        return {row.name: row.total for row in store.folders()}


def _snooze_next_week(qtbot, window: MainWindow) -> None:
    press(qtbot, window.message_view, "b")
    qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=5000)
    press(qtbot, window.snooze_commands.picker.choices, "n")


def test_large_snooze_undo_relists_results(qtbot, window: MainWindow) -> None:
    assert MESSAGE_COUNT >= BACKGROUND_MIN_MESSAGES
    search_and_wait(qtbot, window, EVERY_MESSAGE, WAIT_MS)
    assert window.message_model.rowCount() == MESSAGE_COUNT
    press(qtbot, window.message_view, "* a")

    queue = window.bulk_sender.store_queue
    with qtbot.waitSignal(queue.changed, timeout=WAIT_MS) as changed:
        _snooze_next_week(qtbot, window)
        # The results keep the snoozed messages, as after a smaller snooze, and the selection is cleared.
        qtbot.waitUntil(lambda: window.message_model.selection_count() == 0, timeout=WAIT_MS)
        assert window.message_model.rowCount() == MESSAGE_COUNT
    assert changed.args[0].kind == "snooze"
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=WAIT_MS)
    assert _folder_counts(window._profile)[SNOOZED_FOLDER] == MESSAGE_COUNT

    refocus_window(qtbot, window)
    with qtbot.waitSignal(queue.undone, timeout=WAIT_MS):
        press(qtbot, window.message_view, "z")
        # The results list the messages again before the undo commits.
        assert window.message_model.rowCount() == MESSAGE_COUNT
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=WAIT_MS)

    assert window.message_model.rowCount() == MESSAGE_COUNT
    assert _folder_counts(window._profile)["INBOX"] == MESSAGE_COUNT


def test_small_snooze_undo_keeps_results(qtbot, window: MainWindow) -> None:
    search_and_wait(qtbot, window, EVERY_MESSAGE, WAIT_MS)
    window.message_view.selectRow(0)
    message_id = window.message_model.message_id(0)

    with qtbot.waitSignal(window.folders_refreshed, timeout=WAIT_MS):
        _snooze_next_week(qtbot, window)
    qtbot.waitUntil(lambda: _folder_counts(window._profile).get(SNOOZED_FOLDER) == 1, timeout=WAIT_MS)

    refocus_window(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.store_queue.undone, timeout=WAIT_MS):
        press(qtbot, window.message_view, "z")
    qtbot.waitUntil(lambda: not window.bulk_sender.store_queue.is_busy(), timeout=WAIT_MS)

    assert window.message_model.row_of(message_id) is not None
    assert window.message_model.rowCount() == MESSAGE_COUNT
    assert _folder_counts(window._profile)["INBOX"] == MESSAGE_COUNT
