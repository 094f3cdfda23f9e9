"""Selecting messages in the main window and acting on the selection: keys, search-wide selection, confirmation."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale, QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QStyle

from desktop.mail.parse import Summary
from desktop.paths import Profile
from desktop.store import SEEN, NewMessage, Store
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import MARKERS, PAGE_SIZE
from desktop.ui.selection import MOVE_CONFIRM_THRESHOLD
from tests.ui.fixtures_ui import (
    ACCOUNT,
    OFFSCREEN_NOISE,
    START,
    copy_profile,
    index_profile,
    local_profile,
    open_main_window,
    refocus_window,
    search_and_wait,
)
from tests.ui.test_keys import press

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

MESSAGE_COUNT = 2000


def _generated(uid: int) -> NewMessage:
    # Even uids are invoices and odd ones reports, so "invoice" matches half of the folder.
    kind = "Invoice" if uid % 2 == 0 else "Report"
    return NewMessage(
        uid=uid + 1,
        flags=[SEEN] if uid % 3 else [],
        size=1500 + uid,
        raw=None,
        summary=Summary(
            subject=f"{kind} {uid}",
            from_name=f"Sender {uid % 41}",
            from_addr=f"sender{uid % 41}@example.org",
            date=START + timedelta(minutes=uid),
            message_id=f"<select-{uid}@example.org>",
        ),
    )


@pytest.fixture(scope="module")
def generated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build once a profile with 2,000 indexed messages in INBOX and an empty Archive folder."""
    home = tmp_path_factory.mktemp("select") / "profile"
    profile = local_profile(home, ACCOUNT)
    with Store(profile.store_file) as store:
        account_id = store.ensure_account(ACCOUNT, "local")
        inbox = store.upsert_folder(account_id, "INBOX", delimiter="/")
        store.upsert_folder(account_id, "Archive", delimiter="/", special_use="\\Archive")
        store.insert_messages(inbox, [_generated(uid) for uid in range(MESSAGE_COUNT)])
        index_profile(profile, store)
    return home


@pytest.fixture
def profile(generated_home: Path, tmp_path: Path) -> Profile:
    return copy_profile(generated_home, tmp_path / "profile")


@pytest.fixture
def us_locale():
    """Format numbers as en_US does (4,812), whatever the machine's locale."""
    previous = QLocale()
    QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))
    yield
    QLocale.setDefault(previous)


@pytest.fixture
def window(qtbot, profile: Profile, us_locale) -> MainWindow:
    main = open_main_window(qtbot, profile)
    main.message_view.setFocus()
    return main


def _folders_of(profile: Profile, ids: list[int]) -> dict[str, int]:
    """Count the messages of ``ids`` per folder name, read from the store with a separate connection."""
    counts: dict[str, int] = {}
    with Store(profile.store_file) as store:
        for row in store.messages(ids):
            counts[row.folder] = counts.get(row.folder, 0) + 1
    return counts


def _store_ids(profile: Profile, predicate) -> set[int]:
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        return {row.id for row in store.messages(store.message_ids([inbox.id])) if predicate(row)}


def _search(qtbot, window: MainWindow, query: str) -> None:
    search_and_wait(qtbot, window, query, 10_000)


class ConfirmationAnswer:
    """Click ``button`` on every message box that opens while it runs, and record each box's text."""

    def __init__(self, button: QMessageBox.StandardButton) -> None:
        self.button = button
        self.texts: list[str] = []
        self._timer = QTimer(interval=20)
        self._timer.timeout.connect(self._answer)
        self._timer.start()

    def _answer(self) -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, QMessageBox):
            self.texts.append(modal.text())
            modal.button(self.button).click()

    def stop(self) -> None:
        self._timer.stop()


@pytest.fixture
def answer_ok():
    answer = ConfirmationAnswer(QMessageBox.StandardButton.Ok)
    yield answer
    answer.stop()


@pytest.fixture
def answer_cancel():
    answer = ConfirmationAnswer(QMessageBox.StandardButton.Cancel)
    yield answer
    answer.stop()


# --- selection keys ----------------------------------------------------------------------------


def test_x_toggles_current_row(qtbot, window: MainWindow) -> None:
    window.message_view.selectRow(3)
    model = window.message_model
    message_id = model.message_id(3)

    press(qtbot, window.message_view, "x")

    assert model.selected_ids() == [message_id]
    assert model.data(model.index(3, MARKERS), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert window.status_panel.message() == "1 selected"

    press(qtbot, window.message_view, "x")

    assert model.selected_ids() == []
    assert model.data(model.index(3, MARKERS), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked


def test_shift_j_and_k_extend(qtbot, window: MainWindow) -> None:
    window.message_view.selectRow(5)
    model = window.message_model

    press(qtbot, window.message_view, "Shift+j")
    press(qtbot, window.message_view, "Shift+j")

    assert model.selected_ids() == [model.message_id(row) for row in (5, 6, 7)]
    assert window.message_view.currentIndex().row() == 7

    window.message_view.selectRow(5)
    press(qtbot, window.message_view, "Shift+k")

    assert model.selected_ids() == [model.message_id(row) for row in (4, 5, 6, 7)]
    assert window.message_view.currentIndex().row() == 4


def test_star_a_selects_whole_folder(qtbot, window: MainWindow, profile: Profile) -> None:
    loads_before = window.message_model.page_loads

    press(qtbot, window.message_view, "* a")

    assert set(window.message_model.selected_ids()) == _store_ids(profile, lambda row: True)
    assert window.message_model.selection_count() == MESSAGE_COUNT
    assert window.status_panel.message() == "2,000 selected"
    # Selecting reads no pages of rows: the view repaints the few rows on screen at most.
    assert window.message_model.page_loads - loads_before <= 1


def test_star_n_clears_selection(qtbot, window: MainWindow) -> None:
    press(qtbot, window.message_view, "* a")

    press(qtbot, window.message_view, "* n")

    assert window.message_model.selection_count() == 0
    assert window.status_panel.message() == "Selection cleared"


def test_star_r_and_u_select_by_flag(qtbot, window: MainWindow, profile: Profile) -> None:
    press(qtbot, window.message_view, "* r")

    read = _store_ids(profile, lambda row: row.seen)
    assert set(window.message_model.selected_ids()) == read
    assert len(read) == MESSAGE_COUNT - len(range(0, MESSAGE_COUNT, 3))

    press(qtbot, window.message_view, "* u")

    assert set(window.message_model.selected_ids()) == _store_ids(profile, lambda row: not row.seen)


def test_keys_ignored_in_search_field(qtbot, window: MainWindow) -> None:
    window.message_view.selectRow(0)
    window.search_field.setFocus()

    for keys in ("x", "* a", "Shift+j", "* r"):
        press(qtbot, window.search_field, keys)

    assert window.message_model.selection_count() == 0
    assert window.search_field.text().casefold() == "x*aj*r"


def test_opening_other_folder_clears_selection(qtbot, window: MainWindow) -> None:
    press(qtbot, window.message_view, "* a")

    press(qtbot, window.message_view, "g a")

    assert window.message_model.rowCount() == 0
    assert window.message_model.selection_count() == 0


# --- select all matching a search, and act on it --------------------------------------------


def test_select_all_matching_includes_unloaded(qtbot, window: MainWindow, profile: Profile) -> None:
    _search(qtbot, window, "invoice")
    loads_before = window.message_model.page_loads

    press(qtbot, window.message_view, "* a")

    invoices = _store_ids(profile, lambda row: row.subject.startswith("Invoice"))
    assert len(invoices) == MESSAGE_COUNT // 2
    assert set(window.message_model.selected_ids()) == invoices
    # Most matches lie beyond the first page, and no page was read to select them.
    assert len(invoices) > 2 * PAGE_SIZE
    assert window.message_model.page_loads - loads_before <= 1
    assert window.status_panel.message() == "1,000 selected"


def test_archive_selection_and_undo(qtbot, window: MainWindow, profile: Profile, answer_ok) -> None:
    _search(qtbot, window, "invoice")
    press(qtbot, window.message_view, "* a")
    invoices = window.message_model.selected_ids()

    # 1,000 messages change the store on the store queue's worker.
    with qtbot.waitSignal(window.bulk_sender.store_queue.changed, timeout=20_000):
        press(qtbot, window.message_view, "e")

    assert answer_ok.texts == ["Archive 1,000 message(s)?"]
    assert _folders_of(profile, invoices) == {"Archive": 1000}
    assert _folders_of(profile, list(_store_ids(profile, lambda row: True))) == {"INBOX": 1000}
    assert window.status_panel.message() == "Archived 1,000 message(s) — z to undo"

    refocus_window(qtbot, window)
    with qtbot.waitSignal(window.folders_refreshed, timeout=20_000):
        press(qtbot, window.message_view, "z")

    assert _folders_of(profile, invoices) == {"INBOX": 1000}


def test_cancelled_confirmation_changes_nothing(qtbot, window: MainWindow, profile: Profile, answer_cancel) -> None:
    press(qtbot, window.message_view, "* u")
    unread = window.message_model.selected_ids()
    assert len(unread) > MOVE_CONFIRM_THRESHOLD

    press(qtbot, window.message_view, "e")

    assert answer_cancel.texts == [f"Archive {len(unread)} message(s)?"]
    assert _folders_of(profile, unread) == {"INBOX": len(unread)}
    assert window.message_model.selection_count() == len(unread)
    assert window.status_panel.message() == "Archive cancelled; no message changed."

    refocus_window(qtbot, window)
    press(qtbot, window.message_view, "#")

    # The account has no Trash folder, so this delete would be for good.
    assert answer_cancel.texts[-1] == f"Delete {len(unread)} message(s) for good?"
    assert _folders_of(profile, unread) == {"INBOX": len(unread)}


def test_small_move_asks_nothing(qtbot, window: MainWindow, profile: Profile, answer_cancel) -> None:
    window.message_view.selectRow(0)
    press(qtbot, window.message_view, "x")
    press(qtbot, window.message_view, "Shift+j")
    chosen = window.message_model.selected_ids()
    highlighted = window.message_model.message_id(5)
    window.message_view.selectRow(5)

    press(qtbot, window.message_view, "e")

    # The selection set, not the highlighted row, is what the action moves; no box was shown.
    assert answer_cancel.texts == []
    assert _folders_of(profile, chosen) == {"Archive": 2}
    assert _folders_of(profile, [highlighted]) == {"INBOX": 1}
    assert window.message_model.selection_count() == 0
    assert window.status_panel.message() == "Archived 2 message(s) — z to undo"


def test_read_keys_act_on_selection(qtbot, window: MainWindow, profile: Profile) -> None:
    press(qtbot, window.message_view, "* u")
    unread = window.message_model.selected_ids()
    assert len(unread) >= BACKGROUND_MIN_MESSAGES

    with qtbot.waitSignal(window.bulk_sender.store_queue.changed, timeout=20_000):
        press(qtbot, window.message_view, "Shift+i")

    assert _store_ids(profile, lambda row: not row.seen) == set()
    assert window.status_panel.message() == f"Marked {len(unread)} message(s) read — z to undo"
    # Flag changes keep the selection, so another action can follow on the same messages.
    assert window.message_model.selected_ids() == unread


def test_check_box_click_selects_row(qtbot, window: MainWindow) -> None:
    view = window.message_view
    model = window.message_model
    index = model.index(2, MARKERS)
    rect = view.visualRect(index)
    # The check box is drawn at the left of the first column, vertically centred.
    point = rect.topLeft() + QPoint(view.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) // 2 + 3,
                                    rect.height() // 2)

    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)

    assert model.selected_ids() == [model.message_id(2)]


def test_model_with_selection_passes_modeltester(qtmodeltester, window: MainWindow) -> None:
    window.message_model.set_selected(window.message_model.ids()[:5])

    qtmodeltester.check(window.message_model)

    assert window.message_model.selection_count() == 5
