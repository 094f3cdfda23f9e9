"""The status bar counts down the wait before the watch reconnects to a server that refused it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from desktop.config import Account, Config, save_config
from desktop.paths import profile_at
from desktop.sync.retry import Backoff
from desktop.sync.watch import WatchOptions
from desktop.ui.main_window import MainWindow
from desktop.ui.status import StatusPanel
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, free_port

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

# Without jitter every reconnect waits exactly this long, so the countdown starts at a known number.
RETRY_SECONDS = 3
COUNTDOWN_TIMEOUT_MS = 10_000


def _open_refused(qtbot, tmp_path: Path) -> MainWindow:
    """Open a watching window on one account whose port has no server, so each connect is refused."""
    account = Account(name="down", imap_host="127.0.0.1", imap_port=free_port(), security="none", user="nobody",
                      password_command="echo not-a-real-password")
    profile = profile_at(tmp_path / "profile").ensure()
    save_config(Config(accounts={"down": account}), profile.config_file)
    options = WatchOptions(backoff=lambda: Backoff(base=RETRY_SECONDS, cap=RETRY_SECONDS, jitter=0))
    window = MainWindow(profile, watch=True, watch_options=options)
    qtbot.addWidget(window)
    window.show()
    return window


def test_retry_wait_counts_down(qtbot, tmp_path):
    window = _open_refused(qtbot, tmp_path)
    panel = window.status_panel
    seen: list[str] = []

    def saw(text: str) -> bool:
        message = panel.message()
        if not seen or seen[-1] != message:
            seen.append(message)
        return message.endswith(text)

    qtbot.waitUntil(lambda: saw(f"Retrying in {RETRY_SECONDS} s."), timeout=COUNTDOWN_TIMEOUT_MS)
    first = seen[-1]
    assert first.startswith("down: ")
    for seconds in range(RETRY_SECONDS - 1, 0, -1):
        qtbot.waitUntil(lambda seconds=seconds: saw(f"Retrying in {seconds} s."), timeout=2000)
        assert seen[-1] == first.replace(f"in {RETRY_SECONDS} s.", f"in {seconds} s.")

    # The next refused connect shows a new wait of RETRY_SECONDS, which counts down again.
    qtbot.waitUntil(lambda: saw(f"Retrying in {RETRY_SECONDS} s."), timeout=COUNTDOWN_TIMEOUT_MS)
    assert panel.retry_timer.isActive()
    window.close()
    assert not panel.retry_timer.isActive()


def test_countdown_stops_at_retry(qtbot):
    panel = StatusPanel()
    qtbot.addWidget(panel)
    panel.show_check_started("Checking for mail…")

    panel.show_check_outcome("retry", "down: Connection refused. Retrying in 1 s.", "0 messages")

    assert panel.message() == "down: Connection refused. Retrying in 1 s."
    qtbot.waitUntil(lambda: panel.message() == "down: Connection refused. Retrying now.", timeout=3000)
    assert not panel.retry_timer.isActive()
    assert panel.message_label.property("error") is True
    # The next outcome still replaces the message.
    panel.show_check_outcome("watching", "", "0 messages")
    assert panel.message() == "0 messages"


def test_other_message_ends_countdown(qtbot):
    panel = StatusPanel()
    qtbot.addWidget(panel)
    panel.show_check_started("Checking for mail…")
    panel.show_check_outcome("retry", "down: Connection refused. Retrying in 30 s.", "0 messages")
    assert panel.retry_timer.isActive()

    panel.show_message("Selection cleared")

    assert not panel.retry_timer.isActive()
    assert panel.message() == "Selection cleared"
