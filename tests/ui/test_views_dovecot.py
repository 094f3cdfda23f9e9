"""The unified inbox over two IMAP accounts on a real Dovecot: archive lands in each message's own account."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shlex
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.config import Account, Config, save_config
from desktop.paths import profile_at
from desktop.store import Store
from desktop.ui.folder_tree import NODE_KEY_ROLE, UNIFIED_INBOX_KEY
from desktop.ui.main_window import MainWindow
from desktop.views import SavedSearch, save_searches, searches_file
from tests.ui.fixtures_ui import OFFSCREEN_NOISE

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

SYNC_TIMEOUT_MS = 60_000


def _message(subject: str, day: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Lima <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = f"Tue, {day:02d} Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{subject.replace(' ', '-').lower()}@example.com>"
    message.set_content(f"Body of {subject}.")
    return message.as_bytes()


def _client(dovecot_server, user) -> IMAPClient:
    client = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    client.login(user.name, user.password)
    return client


def _subjects_in(client: IMAPClient, folder: str) -> list[str]:
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
    return sorted(data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip() for data in fetched.values())


def _account(name: str, dovecot_server, user) -> Account:
    return Account(name=name, imap_host=dovecot_server.host, imap_port=dovecot_server.port, security="none",
                   user=user.name, password_command=f"echo {shlex.quote(user.password)}")


@pytest.fixture
def second_user(imap_user, dovecot_server):
    return dovecot_server.add_user(f"{imap_user.name}b", "second-test-password")


def _sync(qtbot, window: MainWindow) -> list:
    """Run a manual sync and return the arguments of ``sync_finished``.

    While the window sends queued changes to the server it starts no sync,
    so the sync is tried again every 200 ms until one starts.
    """
    deadline = time.monotonic() + SYNC_TIMEOUT_MS / 1000
    window.actions_by_name["sync"].trigger()
    while not window.is_syncing():
        assert time.monotonic() < deadline, f"no sync started: {window.status_panel.message()}"
        qtbot.wait(200)
        window.actions_by_name["sync"].trigger()
    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS) as blocker:
        pass
    return blocker.args


def test_unified_archive_reaches_each_server(qtbot, tmp_path: Path, dovecot_server, imap_user, second_user) -> None:
    home, work = _client(dovecot_server, imap_user), _client(dovecot_server, second_user)
    try:
        home.append("INBOX", _message("Home budget", 1))
        home.append("INBOX", _message("Home holiday", 3))
        work.append("INBOX", _message("Work budget", 2))
        work.append("INBOX", _message("Work rota", 4))
        profile = profile_at(tmp_path / "profile").ensure()
        save_config(Config(accounts={"home": _account("home", dovecot_server, imap_user),
                                     "work": _account("work", dovecot_server, second_user)}), profile.config_file)
        save_searches(searches_file(profile.config_dir), [SavedSearch("Budget", "budget", lane=True)])

        window = MainWindow(profile)
        qtbot.addWidget(window)
        window.show()
        assert _sync(qtbot, window) == [True]
        window.run_command("go-unified-inbox")
        qtbot.waitUntil(lambda: not window.saved_searches.is_running(), timeout=SYNC_TIMEOUT_MS)

        assert window.folder_view.currentIndex().data(NODE_KEY_ROLE) == UNIFIED_INBOX_KEY
        rows = [window.message_model.message(row) for row in range(window.message_model.rowCount())]
        assert [(row.account, row.subject) for row in rows] == [
            ("work", "Work rota"), ("home", "Home holiday"), ("work", "Work budget"), ("home", "Home budget")]
        assert window.lane_tabs.tabText(1) == "Budget (2)"

        budget_rows = [index for index, row in enumerate(rows) if "budget" in row.subject]
        window.message_model.set_rows_selected(budget_rows, True)
        window.run_command("archive")

        with Store(profile.store_file) as store:
            archived = {(row.account, row.folder) for row in store.messages([rows[index].id for index in budget_rows])}
        assert archived == {("home", "Archive"), ("work", "Archive")}
        assert [window.message_model.message(row).subject for row in range(window.message_model.rowCount())] == [
            "Work rota", "Home holiday"]

        assert _sync(qtbot, window) == [True]
        assert _subjects_in(home, "Archive") == ["Home budget"]
        assert _subjects_in(home, "INBOX") == ["Home holiday"]
        assert _subjects_in(work, "Archive") == ["Work budget"]
        assert _subjects_in(work, "INBOX") == ["Work rota"]
    finally:
        home.logout()
        work.logout()
