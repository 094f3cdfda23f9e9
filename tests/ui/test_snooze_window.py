"""Snooze in the main window: b opens the picker, a choice leaves the inbox, z undoes, the timer wakes."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shlex
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient
from PySide6.QtCore import QDateTime, Qt

from desktop.config import Account, Config, save_config
from desktop.paths import Profile, profile_at
from desktop.snooze import SNOOZED_FOLDER, SNOOZED_KEYWORD
from desktop.store import SEEN, Store
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, build_profile, open_main_window
from tests.ui.test_keys import _select_row, _stored, press

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

# Long enough for the window to show the message as snoozed first, short enough for a test.
WAKE_SECONDS = 2
WAIT_MS = 10_000
SYNC_TIMEOUT_MS = 60_000


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return build_profile(tmp_path / "profile")


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    return open_main_window(qtbot, profile)


def _message(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Message-ID"] = "<budget-draft@example.com>"
    message.set_content(f"Body of {subject}.")
    return message.as_bytes()


def _snoozes(profile: Profile):
    with Store(profile.store_file) as store:
        return store.snoozes()


def test_b_opens_picker_and_tomorrow_snoozes(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    rows_before = window.message_model.rowCount()

    press(qtbot, window.message_view, "b")
    qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=2000)
    names = [window.snooze_commands.picker.choices.item(row).data(Qt.ItemDataRole.UserRole)
             for row in range(window.snooze_commands.picker.choices.count())]
    assert names[-4:] == ["tomorrow", "weekend", "next-week", "custom"]
    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        press(qtbot, window.snooze_commands.picker.choices, "t")

    assert not window.snooze_commands.picker.isVisible()
    row = _stored(profile, message_id)
    assert row.folder == "Snoozed"
    assert SNOOZED_KEYWORD in row.flags
    assert window.message_model.row_of(message_id) is None
    assert window.message_model.rowCount() == rows_before - 1
    assert window.status_panel.message().endswith("— z to undo")
    (entry,) = _snoozes(profile)
    tomorrow = (datetime.now() + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    assert entry.wake_at.astimezone().replace(tzinfo=None) == tomorrow
    assert entry.return_folder == "INBOX"


def test_escape_closes_picker_without_change(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)

    press(qtbot, window.message_view, "b")
    qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=2000)
    press(qtbot, window.snooze_commands.picker.choices, "Escape")

    assert not window.snooze_commands.picker.isVisible()
    assert _stored(profile, message_id).folder == "INBOX"
    assert _snoozes(profile) == []


def test_z_undoes_snooze(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    press(qtbot, window.message_view, "b")
    qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=2000)
    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        press(qtbot, window.snooze_commands.picker.choices, "n")

    window.message_view.setFocus()
    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        press(qtbot, window.message_view, "z")

    row = _stored(profile, message_id)
    assert row.folder == "INBOX"
    assert SNOOZED_KEYWORD not in row.flags
    assert window.message_model.row_of(message_id) is not None


def test_custom_time_rejects_past(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    picker = window.snooze_commands.picker
    press(qtbot, window.message_view, "b")
    qtbot.waitUntil(picker.isVisible, timeout=2000)

    press(qtbot, picker.choices, "d")
    assert picker.pages.currentIndex() == 1
    picker.date_time.setDateTime(QDateTime.currentDateTime().addSecs(-3600))
    qtbot.keyClick(picker.date_time, Qt.Key.Key_Return)

    assert picker.isVisible()
    assert "in the future" in picker.error.text()
    assert _stored(profile, message_id).folder == "INBOX"
    picker.date_time.setDateTime(QDateTime.currentDateTime().addDays(3))
    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        qtbot.keyClick(picker.date_time, Qt.Key.Key_Return)
    assert _stored(profile, message_id).folder == "Snoozed"


def test_timer_brings_snooze_back_unread(qtbot, window: MainWindow, profile: Profile) -> None:
    # Row 0 is current from the start and stays unread, so the test shows the next unread row.
    message_id = _select_row(qtbot, window, 2)
    rows = window._selected_rows()
    wake_at = datetime.now().astimezone() + timedelta(seconds=WAKE_SECONDS)
    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        window.snooze_commands.snooze(rows, wake_at)
    assert window.message_model.row_of(message_id) is None
    assert SEEN in _stored(profile, message_id).flags, "showing the message in the reader marked it read"

    with qtbot.waitSignal(window.folders_refreshed, timeout=WAIT_MS):
        pass

    assert time.time() >= wake_at.timestamp()
    row = _stored(profile, message_id)
    assert row.folder == "INBOX"
    assert SNOOZED_KEYWORD not in row.flags
    assert SEEN not in row.flags
    assert window.message_model.row_of(message_id) is not None
    assert "came back" in window.status_panel.message()


def test_window_start_wakes_due_snooze(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "restart")
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        message_id = store.message_ids([inbox.id])[0]
        snoozed = store.upsert_folder(store.account_id(ACCOUNT), "Snoozed")
        store.snooze_messages([message_id], datetime.now().astimezone() + timedelta(hours=1), {ACCOUNT: snoozed},
                              "Snoozed 1 message")
        store._db.execute("UPDATE snoozes SET wake_at = ?", (time.time() - 60,))

    window = open_main_window(qtbot, profile)

    assert _stored(profile, message_id).folder == "INBOX"
    assert window.message_model.row_of(message_id) is not None
    assert _snoozes(profile) == []


def test_snoozed_list_shows_and_wakes(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    subject = _stored(profile, message_id).subject
    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        window.snooze_commands.snooze(window._selected_rows(), datetime.now().astimezone() + timedelta(days=2))
    window.message_view.setFocus()

    press(qtbot, window.message_view, "Shift+b")
    tree = window.snooze_commands.snoozed_list.tree
    qtbot.waitUntil(tree.isVisible, timeout=2000)
    assert tree.topLevelItemCount() == 1
    assert tree.topLevelItem(0).text(1) == subject
    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        press(qtbot, tree, "w")

    assert tree.topLevelItemCount() == 0
    assert _stored(profile, message_id).folder == "INBOX"
    assert _snoozes(profile) == []


@pytest.mark.dovecot
def test_first_imap_snooze_creates_folder(qtbot, tmp_path: Path, imap_user, dovecot_server) -> None:
    server = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    server.login(imap_user.name, imap_user.password)
    server.append("INBOX", _message("Budget draft"))
    profile = profile_at(tmp_path / "imap").ensure()
    account = Account(name="test", imap_host=dovecot_server.host, imap_port=dovecot_server.port, security="none",
                      user=imap_user.name, password_command=f"echo {shlex.quote(imap_user.password)}")
    save_config(Config(accounts={"test": account}), profile.config_file)
    window = open_main_window(qtbot, profile)
    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS):
        window.actions_by_name["sync"].trigger()
    message_id = _select_row(qtbot, window, 0)

    press(qtbot, window.message_view, "b")
    qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=2000)
    with qtbot.waitSignal(window.folders_refreshed, timeout=SYNC_TIMEOUT_MS):
        press(qtbot, window.snooze_commands.picker.choices, "n")
    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS):
        window.actions_by_name["sync"].trigger()

    assert server.folder_exists(SNOOZED_FOLDER)
    server.select_folder("INBOX", readonly=True)
    assert server.search("ALL") == []
    server.select_folder(SNOOZED_FOLDER, readonly=True)
    (flags,) = [data[b"FLAGS"] for data in server.fetch(server.search("ALL"), ["FLAGS"]).values()]
    assert SNOOZED_KEYWORD.encode() in flags
    assert _stored(profile, message_id).folder == SNOOZED_FOLDER
    server.logout()
