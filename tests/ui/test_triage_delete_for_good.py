"""Deleting messages for good (in Trash, or in an account without Trash) asks first, with Cancel as the default."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.paths import Profile
from desktop.store import Store
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import (
    ACCOUNT,
    OFFSCREEN_NOISE,
    SampleMessage,
    build_profile,
    copy_profile,
    open_main_window,
)
from tests.ui.test_keys import _set_role, _show_folder, press
from tests.ui.test_select import MESSAGE_COUNT, generated_home, us_locale  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

SAMPLES = [
    SampleMessage("Old invoice", "Shop <shop@example.org>", "Paid.", folder="Trash", seen=True),
    SampleMessage("Old newsletter", "News <news@example.org>", "Read.", folder="Trash", seen=True),
    SampleMessage("Lunch on Friday?", "Ben Okafor <ben@example.org>", "Noodles?", seen=True),
]


class BoxAnswer:
    """Click ``button`` on every message box that opens, recording its text and whether Cancel was the default."""

    def __init__(self, button: QMessageBox.StandardButton) -> None:
        self.button = button
        self.texts: list[str] = []
        self.cancel_was_default: list[bool] = []
        self._timer = QTimer(interval=20)
        self._timer.timeout.connect(self._answer)
        self._timer.start()

    def _answer(self) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            return
        self.texts.append(box.text())
        self.cancel_was_default.append(box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel))
        box.button(self.button).click()

    def stop(self) -> None:
        self._timer.stop()


@pytest.fixture
def answer_ok():
    answer = BoxAnswer(QMessageBox.StandardButton.Ok)
    yield answer
    answer.stop()


@pytest.fixture
def answer_cancel():
    answer = BoxAnswer(QMessageBox.StandardButton.Cancel)
    yield answer
    answer.stop()


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    built = build_profile(tmp_path / "profile", SAMPLES)
    _set_role(built, "Trash", "\\Trash")
    return built


@pytest.fixture
def window(qtbot, profile: Profile, us_locale) -> MainWindow:
    return open_main_window(qtbot, profile)


def _folder_ids(profile: Profile, name: str) -> list[int]:
    with Store(profile.store_file) as store:
        return store.message_ids([store.folder_by_name(ACCOUNT, name).id])


def _select_all_in(qtbot, window: MainWindow, folder: str) -> None:
    _show_folder(window, folder)
    window.message_view.setFocus()
    press(qtbot, window.message_view, "* a")


def test_trash_delete_cancel_keeps_messages(qtbot, window: MainWindow, profile: Profile, answer_cancel) -> None:
    _select_all_in(qtbot, window, "Trash")

    press(qtbot, window.message_view, "#")

    assert answer_cancel.texts == ["Delete 2 message(s) for good?"]
    assert answer_cancel.cancel_was_default == [True]
    assert len(_folder_ids(profile, "Trash")) == 2
    assert window.status_panel.message() == "Delete cancelled; no message changed."


def test_trash_delete_confirmed_removes(qtbot, window: MainWindow, profile: Profile, answer_ok) -> None:
    _select_all_in(qtbot, window, "Trash")

    press(qtbot, window.message_view, "#")

    assert answer_ok.texts == ["Delete 2 message(s) for good?"]
    assert _folder_ids(profile, "Trash") == []
    assert window.status_panel.message() == "Deleted 2 message(s) for good"


def test_move_to_trash_asks_nothing(qtbot, window: MainWindow, profile: Profile, answer_cancel) -> None:
    _select_all_in(qtbot, window, "INBOX")

    press(qtbot, window.message_view, "#")

    assert answer_cancel.texts == []
    assert _folder_ids(profile, "INBOX") == []
    assert len(_folder_ids(profile, "Trash")) == 3


def test_large_delete_without_trash_asks(qtbot, generated_home: Path, tmp_path: Path, us_locale,
                                         answer_cancel) -> None:
    # The generated account has no Trash folder, so a delete there is for good, and 2,000 run on the worker.
    profile = copy_profile(generated_home, tmp_path / "generated")
    window = open_main_window(qtbot, profile)
    window.message_view.setFocus()
    press(qtbot, window.message_view, "* a")

    press(qtbot, window.message_view, "#")

    assert answer_cancel.texts == [f"Delete {MESSAGE_COUNT:,} message(s) for good?"]
    assert answer_cancel.cancel_was_default == [True]
    assert not window.bulk_sender.store_queue.is_busy()
    assert window.message_model.rowCount() == MESSAGE_COUNT
    assert len(_folder_ids(profile, "INBOX")) == MESSAGE_COUNT
