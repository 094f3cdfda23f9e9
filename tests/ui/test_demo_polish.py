"""What a first look at the window shows: snooze times, the cheat sheet's keys, the status bar while offline and
the merge window's question about an interrupted merge."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale

from desktop.keymap import display_text, load_default_keymap
from desktop.merge import journal as jn
from desktop.paths import default_profile, profile_at
from desktop.ui.cheatsheet import CheatSheet
from desktop.ui.main_window import MainWindow
from desktop.ui.merge_dialogs import ResumeDialog
from desktop.ui.merge_window import MergeWindow
from desktop.ui.snooze import format_wake
from tests.merge.send_helpers import ScriptedServer, add_smtp_account, send, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, add_unreachable_account

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

WATCH_TIMEOUT_MS = 30_000
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@pytest.fixture
def c_locale(qapp):
    """Qt's C locale, which LANG=C.UTF-8 gives, for the length of one test."""
    previous = QLocale()
    QLocale.setDefault(QLocale.c())
    yield
    QLocale.setDefault(previous)


# --- snooze times ---------------------------------------------------------------------------------


def test_wake_time_readable_in_c_locale(c_locale):
    wake = datetime(2026, 12, 6, 8, 0).astimezone()

    assert format_wake(wake, now=datetime(2026, 12, 5, 14, 0)) == "Sun 6 Dec, 08:00"


def test_wake_time_this_year_by_default(c_locale):
    wake = datetime.now().replace(hour=8, minute=0, second=0, microsecond=0).astimezone()

    assert format_wake(wake) == f"{DAYS[wake.weekday()]} {wake.day} {MONTHS[wake.month - 1]}, 08:00"


def test_wake_time_names_other_year(c_locale):
    wake = datetime(2027, 1, 3, 18, 5).astimezone()

    assert format_wake(wake, now=datetime(2026, 12, 5, 14, 0)) == "Sun 3 Jan 2027, 18:05"


# --- the cheat sheet ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("canonical", "shown"), [
    ("Shift+j", "Shift+J"), ("Ctrl+Shift+i", "Ctrl+Shift+I"), ("g i", "g i"), ("Ctrl++", "Ctrl++"),
    ("Shift+Tab", "Shift+Tab"), ("?", "?"), ("Ctrl+k g", "Ctrl+K g"),
])
def test_display_text_cases(canonical, shown):
    assert display_text(canonical) == shown


def test_cheat_sheet_writes_shifted_letters_upper(qtbot):
    sheet = CheatSheet(load_default_keymap()[0])
    qtbot.addWidget(sheet)

    text = sheet.text()

    assert "Shift+J" in text
    assert "Shift+j" not in text
    assert "Shift+b" not in text


# --- the status bar while the server refuses ------------------------------------------------------


def test_status_bar_shows_refused_server(qtbot, tmp_path: Path):
    profile = profile_at(tmp_path / "home").ensure()
    port = add_unreachable_account(profile, "offline")
    window = MainWindow(profile, watch=True)
    qtbot.addWidget(window)
    window.show()

    qtbot.waitUntil(lambda: window.status_panel.message() != window.tr("Checking for mail…"),
                    timeout=WATCH_TIMEOUT_MS)

    message = window.status_panel.message()
    assert "refused" in message or f"127.0.0.1:{port}" in message, message
    assert window.status_panel.message_label.property("error") is True
    window.close()


# --- the merge window's question about an earlier merge -------------------------------------------


@pytest.fixture
def server():
    with ScriptedServer() as instance:
        yield instance


def test_resume_question_says_interrupted(qtbot, server, tmp_path, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    send(capsys, template, data)
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        [record] = journal.merges()
        # What a killed send leaves behind: the journal still has state running, and no process holds the merge lock.
        journal.set_state(record.id, jn.RUNNING)
    window = MergeWindow(default_profile())
    qtbot.addWidget(window)
    window.send_panel.copies_box.setChecked(False)
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.open_files(template, data)

    window.send_panel.send_button.click()

    qtbot.waitUntil(lambda: window.resume_dialog is not None, timeout=10000)
    dialog = window.resume_dialog
    assert isinstance(dialog, ResumeDialog)
    assert "(interrupted: 3 of 3 sent" in dialog.question_label.text()
    assert "running" not in dialog.question_label.text()
    dialog.reject()
