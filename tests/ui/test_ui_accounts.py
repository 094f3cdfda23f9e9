"""Account states, new mail pushed into the window, and folder commands, against a real Dovecot."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shlex
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from desktop.config import Account, Config, save_config
from desktop.paths import Profile, profile_at
from desktop.sync.retry import Backoff
from desktop.sync.watch import WatchOptions
from desktop.ui.account_state import CONNECTING, OFFLINE, WATCHING
from desktop.ui.folder_tree import FOLDER_ROW_ROLE, NAME_ROLE
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, free_port

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

WATCH_TIMEOUT_MS = 30_000
PUSH_TIMEOUT_MS = 5_000
FOLDER_TIMEOUT_MS = 15_000
# Short reconnect delays, so a refused account retries a few times during a test.
FAST_RETRY = WatchOptions(backoff=lambda: Backoff(base=0.2, cap=2.0))


def _message(subject: str, day: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = f"Tue, {day % 28 + 1:02d} Dec 2026 {day % 24:02d}:00:00 +0000"
    message.set_content(f"Body of {subject}.")
    return message.as_bytes()


def _account(name: str, user, server) -> Account:
    return Account(name=name, imap_host=server.host, imap_port=server.port, security="none",
                   user=user.name, password_command=f"echo {shlex.quote(user.password)}")


def _profile(tmp_path: Path, accounts: dict[str, Account]) -> Profile:
    profile = profile_at(tmp_path / "profile").ensure()
    save_config(Config(accounts=accounts), profile.config_file)
    return profile


def _open(qtbot, profile: Profile) -> MainWindow:
    window = MainWindow(profile, watch=True, watch_options=FAST_RETRY)
    qtbot.addWidget(window)
    window.resize(1200, 700)
    window.show()
    return window


def _kind(window: MainWindow, account: str) -> str:
    state = window.folder_model.account_state(account)
    return state.kind if state is not None else ""


def _wait_watching(qtbot, window: MainWindow, account: str) -> None:
    qtbot.waitUntil(lambda: _kind(window, account) == WATCHING, timeout=WATCH_TIMEOUT_MS)
    # The list and the tree follow a moment after the sync, once a burst of steps is over.
    qtbot.waitUntil(lambda: window.folder_model.rowCount(window.folder_model.account_index(account)) > 0, timeout=PUSH_TIMEOUT_MS)


def _select_folder(qtbot, window: MainWindow, account: str, name: str) -> None:
    account_index = window.folder_model.account_index(account)
    for row in range(window.folder_model.rowCount(account_index)):
        index = window.folder_model.index(row, 0, account_index)
        if index.data(NAME_ROLE) == name:
            window.folder_view.setCurrentIndex(index)
            return
    raise AssertionError(f"folder {name!r} is not in the tree of account {account!r}")


def _folder_label(window: MainWindow, account: str, name: str) -> str:
    account_index = window.folder_model.account_index(account)
    for row in range(window.folder_model.rowCount(account_index)):
        index = window.folder_model.index(row, 0, account_index)
        if index.data(NAME_ROLE) == name:
            return index.data()
    return ""


def test_state_connecting_then_watching(qtbot, tmp_path, imap_user, dovecot_server, direct_client) -> None:
    direct_client.append("INBOX", _message("Hello", 1))
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    kinds: list[str] = []
    window = MainWindow(profile, watch=True, watch_options=FAST_RETRY)
    qtbot.addWidget(window)
    # Connected after the window's own slot, so each entry is the state the window just set.
    window.watch_controller.progressed.connect(lambda _step: kinds.append(_kind(window, "work")))
    window.show()

    _wait_watching(qtbot, window, "work")

    assert kinds[0] == CONNECTING
    assert "syncing" in kinds
    tooltip = window.folder_model.account_index("work").data(Qt.ItemDataRole.ToolTipRole)
    assert "idle (watching)" in tooltip
    assert "INBOX" in tooltip
    qtbot.waitUntil(lambda: window.message_model.rowCount() == 1, timeout=PUSH_TIMEOUT_MS)
    assert window.folder_view.currentIndex().data(NAME_ROLE) == "INBOX"
    window.close()


def test_refused_account_offline_other_works(qtbot, tmp_path, imap_user, dovecot_server, direct_client) -> None:
    direct_client.append("INBOX", _message("Still readable", 1))
    port = free_port()
    down = Account(name="down", imap_host="127.0.0.1", imap_port=port, security="none", user="nobody",
                   password_command="echo not-a-real-password")
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server), "down": down})
    window = _open(qtbot, profile)

    qtbot.waitUntil(lambda: _kind(window, "down") == OFFLINE, timeout=WATCH_TIMEOUT_MS)
    _wait_watching(qtbot, window, "work")

    tooltip = window.folder_model.account_index("down").data(Qt.ItemDataRole.ToolTipRole)
    assert f"127.0.0.1:{port}" in tooltip
    assert "refused" in tooltip
    assert "offline" in tooltip
    _select_folder(qtbot, window, "work", "INBOX")
    qtbot.waitUntil(lambda: window.message_model.rowCount() == 1, timeout=PUSH_TIMEOUT_MS)
    window.message_view.selectRow(0)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(0), timeout=2000)
    assert "Body of Still readable." in window.reader.browser.toPlainText()
    assert _kind(window, "down") == OFFLINE
    window.close()


def test_new_mail_keeps_selection_and_scroll(qtbot, tmp_path, imap_user, dovecot_server, direct_client) -> None:
    for number in range(60):
        direct_client.append("INBOX", _message(f"Older message {number:02d}", number))
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    window = _open(qtbot, profile)
    _wait_watching(qtbot, window, "work")
    _select_folder(qtbot, window, "work", "INBOX")
    qtbot.waitUntil(lambda: window.message_model.rowCount() == 60, timeout=PUSH_TIMEOUT_MS)
    window.message_view.selectRow(30)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(30), timeout=2000)
    window.message_view.scrollTo(window.message_model.index(25, 0), window.message_view.ScrollHint.PositionAtTop)
    top_id = window.message_model.message_id(window.message_view.rowAt(0))
    shown_id = window.reader.message_id()
    unread_before = _folder_label(window, "work", "INBOX")

    direct_client.append("INBOX", _message("Pushed to the window", 40))
    qtbot.waitUntil(lambda: window.message_model.rowCount() == 61, timeout=PUSH_TIMEOUT_MS)

    assert window.message_model.message_id(window.message_view.rowAt(0)) == top_id
    assert window.reader.message_id() == shown_id
    assert window._selected_ids() == [shown_id]
    subjects = [window.message_model.message(row).subject for row in range(61)]
    assert "Pushed to the window" in subjects
    assert _folder_label(window, "work", "INBOX") != unread_before

    # The watch may store only the headers; the reader then fetches the body.
    window.message_view.selectRow(subjects.index("Pushed to the window"))
    qtbot.waitUntil(lambda: "Body of Pushed to the window." in window.reader.browser.toPlainText(), timeout=PUSH_TIMEOUT_MS)
    window.close()


def test_manual_sync_restarts_watch(qtbot, tmp_path, imap_user, dovecot_server) -> None:
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    window = _open(qtbot, profile)
    _wait_watching(qtbot, window, "work")

    with qtbot.waitSignal(window.sync_finished, timeout=WATCH_TIMEOUT_MS) as blocker:
        window.actions_by_name["sync"].trigger()

    assert blocker.args == [True]
    assert "Sync finished" in window.log_view.toPlainText()
    _wait_watching(qtbot, window, "work")
    window.close()


def test_close_stops_watch_threads(qtbot, tmp_path, imap_user, dovecot_server) -> None:
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    window = _open(qtbot, profile)
    _wait_watching(qtbot, window, "work")
    assert any(thread.name == "sluice-sync-work" for thread in threading.enumerate())

    started = time.monotonic()
    window.close()

    # The watch notices a cancel within a second of IDLE; the rest is a LOGOUT.
    assert time.monotonic() - started < 5.0
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("sluice-sync-") and thread.is_alive()]


def test_folder_commands_reach_server(qtbot, tmp_path, imap_user, dovecot_server, direct_client, monkeypatch) -> None:
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    window = _open(qtbot, profile)
    _wait_watching(qtbot, window, "work")
    answers = iter(["Projects", "Clients"])
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *args: (next(answers), True)))
    questions: list[str] = []

    def confirm(_parent, _title, text, *_args):
        questions.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(confirm))
    window.folder_view.setCurrentIndex(window.folder_model.account_index("work"))

    with qtbot.waitSignal(window.folders_refreshed, timeout=FOLDER_TIMEOUT_MS):
        window.actions_by_name["new-folder"].trigger()
    assert "Projects" in [name for _flags, _delimiter, name in direct_client.list_folders()]
    assert window.folder_view.currentIndex().data(FOLDER_ROW_ROLE).name == "Projects"
    for number in range(2):
        direct_client.append("Projects", _message(f"Project note {number}", number))
    with qtbot.waitSignal(window.sync_finished, timeout=WATCH_TIMEOUT_MS):
        window.actions_by_name["sync"].trigger()
    assert window.message_model.rowCount() == 2

    with qtbot.waitSignal(window.folders_refreshed, timeout=FOLDER_TIMEOUT_MS):
        window.actions_by_name["rename-folder"].trigger()
    names = [name for _flags, _delimiter, name in direct_client.list_folders()]
    assert "Clients" in names
    assert "Projects" not in names

    with qtbot.waitSignal(window.folders_refreshed, timeout=FOLDER_TIMEOUT_MS):
        window.actions_by_name["delete-folder"].trigger()
    assert "Clients" not in [name for _flags, _delimiter, name in direct_client.list_folders()]
    assert "Clients" in questions[0]
    assert "2 message(s)" in questions[0]
    assert window.folder_view.currentIndex().data(NAME_ROLE) == "work"
    window.close()


def test_inbox_rename_delete_disabled(qtbot, tmp_path, imap_user, dovecot_server) -> None:
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    window = _open(qtbot, profile)
    _wait_watching(qtbot, window, "work")
    _select_folder(qtbot, window, "work", "INBOX")

    for name in ("rename-folder", "delete-folder"):
        action = window.actions_by_name[name]
        assert not action.isEnabled()
        assert "special folder" in action.toolTip()
    assert window.actions_by_name["new-folder"].isEnabled()
    window.close()


def test_folder_error_shows_reason(qtbot, tmp_path, imap_user, dovecot_server, direct_client, monkeypatch) -> None:
    direct_client.create_folder("Taken")
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    window = _open(qtbot, profile)
    _wait_watching(qtbot, window, "work")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *args: ("Taken", True)))
    window.folder_view.setCurrentIndex(window.folder_model.account_index("work"))

    with qtbot.waitSignal(window.folder_commands.folder_failed, timeout=FOLDER_TIMEOUT_MS) as blocker:
        window.actions_by_name["new-folder"].trigger()

    assert "exists already" in blocker.args[0]
    qtbot.waitUntil(lambda: window.status_panel.message_label.property("error") is True, timeout=2000)
    assert "Taken" in window.status_panel.message()
    window.close()


def _tree_names(window: MainWindow, account: str) -> set[str]:
    account_index = window.folder_model.account_index(account)
    if not account_index.isValid():
        return set()
    return {window.folder_model.index(row, 0, account_index).data(NAME_ROLE)
            for row in range(window.folder_model.rowCount(account_index))}


def test_tree_follows_command_line_changes(qtbot, tmp_path, imap_user, dovecot_server, direct_client) -> None:
    """A folder renamed and an account added by the command line show after the watch's next full sync."""
    from desktop.cli import main

    direct_client.create_folder("Projects")
    profile = _profile(tmp_path, {"work": _account("work", imap_user, dovecot_server)})
    options = WatchOptions(backoff=lambda: Backoff(base=0.2, cap=2.0), full_sync_seconds=1.0)
    window = MainWindow(profile, watch=True, watch_options=options)
    qtbot.addWidget(window)
    window.show()
    _wait_watching(qtbot, window, "work")
    qtbot.waitUntil(lambda: "Projects" in _tree_names(window, "work"), timeout=PUSH_TIMEOUT_MS)

    assert main(["--home", str(tmp_path / "profile"), "folder", "rename", "Projects", "Projekte", "--account", "work"]) == 0
    assert main(["--home", str(tmp_path / "profile"), "account", "add", "later", "--imap-host", "127.0.0.1",
                 "--imap-port", str(free_port()), "--security", "none", "--user", "x",
                 "--password-command", "echo x"]) == 0

    qtbot.waitUntil(lambda: "Projekte" in _tree_names(window, "work"), timeout=FOLDER_TIMEOUT_MS)
    assert "Projects" not in _tree_names(window, "work")
    assert window.folder_model.account_index("later").isValid()
    window.close()
