"""Copy, label and spam of 1,000 messages change the store on the worker, as archive and move do.

Each test selects the 1,000 invoices of the generated folder. The command must
leave the store to the store queue's worker, so the window's thread stays free,
and undo must reverse it.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from desktop.paths import Profile
from desktop.store import Store
from desktop.ui.bulk_commands import JUNK
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, copy_profile, open_main_window, refocus_window, search_and_wait
from tests.ui.test_bulk_commands_large import _pick
from tests.ui.test_keys import press
from tests.ui.test_select import answer_ok, generated_home, us_locale  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

INVOICES = 1000
LABEL = "project-x"
WAIT_MS = 60_000


@pytest.fixture
def profile(generated_home: Path, tmp_path: Path) -> Profile:
    copied = copy_profile(generated_home, tmp_path / "profile")
    with Store(copied.store_file) as store:
        store.upsert_folder(store.account_id(ACCOUNT), "Junk", delimiter="/", special_use="\\Junk")
    return copied


@pytest.fixture
def window(qtbot, profile: Profile, us_locale) -> MainWindow:
    return open_main_window(qtbot, profile)


def _select_invoices(qtbot, window: MainWindow) -> list[int]:
    assert INVOICES >= BACKGROUND_MIN_MESSAGES
    search_and_wait(qtbot, window, "invoice", WAIT_MS)
    press(qtbot, window.message_view, "* a")
    ids = window.message_model.selected_ids()
    assert len(ids) == INVOICES
    return ids


def _rows(profile: Profile, ids: list[int]):
    with Store(profile.store_file) as store:
        return store.messages(ids)


def _undo(qtbot, window: MainWindow) -> None:
    refocus_window(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.store_queue.undone, timeout=WAIT_MS):
        press(qtbot, window.message_view, "z")
    qtbot.waitUntil(lambda: not window.bulk_sender.store_queue.is_busy(), timeout=WAIT_MS)


def test_label_of_1000_runs_on_worker(qtbot, window: MainWindow, profile: Profile) -> None:
    ids = _select_invoices(qtbot, window)
    queue = window.bulk_sender.store_queue
    # The top row is on show, so its page is loaded, as the view loads it when it paints.
    assert LABEL not in window.message_model.message(0).flags

    with qtbot.waitSignal(queue.changed, timeout=WAIT_MS) as changed:
        _pick(qtbot, window, window.bulk_commands.label_picker, "l", LABEL)
        assert queue.is_busy()
        # The visible rows show the label before the worker commits it.
        assert LABEL in window.message_model.message(0).flags

    assert changed.args[0].kind == "label"
    assert all(LABEL in row.flags for row in _rows(profile, ids))
    _undo(qtbot, window)
    assert not any(LABEL in row.flags for row in _rows(profile, ids))


def test_copy_of_1000_runs_on_worker(qtbot, window: MainWindow, profile: Profile) -> None:
    ids = _select_invoices(qtbot, window)
    queue = window.bulk_sender.store_queue

    with qtbot.waitSignal(queue.changed, timeout=WAIT_MS) as changed:
        _pick(qtbot, window, window.bulk_commands.folder_picker, "Shift+v", "Archive")
        assert queue.is_busy()
        assert window.status_panel.message() == "Copied 1,000 message(s) to Archive — z to undo"

    assert changed.args[0].counts == {"copied": INVOICES}
    assert {row.folder for row in _rows(profile, ids)} == {"INBOX"}
    with Store(profile.store_file) as store:
        archive = store.folder_by_name(ACCOUNT, "Archive")
        assert len(store.message_ids([archive.id])) == INVOICES
    _undo(qtbot, window)
    with Store(profile.store_file) as store:
        assert store.message_ids([archive.id]) == []


def test_spam_of_1000_runs_on_worker(qtbot, window: MainWindow, profile: Profile, answer_ok) -> None:
    ids = _select_invoices(qtbot, window)
    queue = window.bulk_sender.store_queue

    with qtbot.waitSignal(queue.changed, timeout=WAIT_MS):
        press(qtbot, window.message_view, "!")
        assert queue.is_busy()
        # The results keep the moved messages, as after a smaller report, and the selection is cleared at once.
        assert window.message_model.rowCount() == INVOICES
        assert window.message_model.selection_count() == 0

    assert answer_ok.texts == ["Move 1,000 message(s) out of their folder?"]
    rows = _rows(profile, ids)
    assert {row.folder for row in rows} == {"Junk"}
    assert all(JUNK in row.flags for row in rows)
    _undo(qtbot, window)
    assert {row.folder for row in _rows(profile, ids)} == {"INBOX"}
    # In a search, undo lists the results again.
    assert window.message_model.rowCount() == INVOICES
