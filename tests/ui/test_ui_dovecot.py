"""The window against a real Dovecot: sync new mail, then send a star back to the server."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shlex
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient
from PySide6.QtCore import Qt

from desktop.config import Account, Config, save_config
from desktop.paths import profile_at
from desktop.store import FLAGGED, Store
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import OFFSCREEN_NOISE

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

SYNC_TIMEOUT_MS = 60_000


def _message(subject: str, body: str, day: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = f"Tue, {day:02d} Dec 2026 10:00:00 +0000"
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture
def server(imap_user, dovecot_server):
    client = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    client.login(imap_user.name, imap_user.password)
    yield client
    client.logout()


def _sync(qtbot, window: MainWindow) -> list:
    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS) as blocker:
        window.actions_by_name["sync"].trigger()
    return blocker.args


def test_window_syncs_and_sends_star(qtbot, tmp_path: Path, imap_user, dovecot_server, server) -> None:
    for day, subject in enumerate(["Agenda for Monday", "Budget draft", "Travel plans"], start=1):
        server.append("INBOX", _message(subject, f"Body of {subject}.", day))
    profile = profile_at(tmp_path / "profile").ensure()
    account = Account(name="test", imap_host=dovecot_server.host, imap_port=dovecot_server.port, security="none",
                      user=imap_user.name, password_command=f"echo {shlex.quote(imap_user.password)}")
    save_config(Config(accounts={"test": account}), profile.config_file)

    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.show()
    assert window.pages.currentWidget() is window.splitter
    assert window.message_model.rowCount() == 0

    assert _sync(qtbot, window) == [True]
    assert window.folder_view.currentIndex().data().startswith("INBOX")
    assert window.message_model.rowCount() == 3
    assert window.message_model.message(0).subject == "Travel plans"

    # The first folders made the first row current without marking it read; o opens it and marks it read.
    window.message_view.setFocus()
    qtbot.keyClick(window.message_view, Qt.Key.Key_O)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(0), timeout=2000)
    assert "Body of Travel plans." in window.reader.browser.toPlainText()
    window.message_view.setFocus()
    qtbot.keyClick(window.message_view, Qt.Key.Key_S)
    with Store(profile.store_file) as store:
        assert FLAGGED in store.message(window.message_model.message_id(0)).flags

    assert _sync(qtbot, window) == [True]
    server.select_folder("INBOX")
    flags = server.get_flags(server.search(["SUBJECT", "Travel plans"]))
    assert [b"\\Flagged" in value for value in flags.values()] == [True]
    assert [b"\\Seen" in value for value in flags.values()] == [True]
