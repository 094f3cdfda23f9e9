"""Archiving every match of a search in the window, sent to a real Dovecot with progress, cancel and undo.

The INBOX is written straight into the test user's Maildir and synced into a
headers-only profile before the window opens. The server's folders are read
back by Message-ID over a separate IMAP connection.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from desktop.paths import Profile
from desktop.store import Store
from desktop.ui.bulk_progress import PROGRESS_MIN_MESSAGES, BulkSender
from desktop.ui.main_window import MainWindow
from tests.sync.test_bulk_send import (
    ACCOUNT,
    expected_ids,
    fill_inbox,
    make_profile,
    server_message_ids,
    stored_message_ids,
    sync,
)
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, search_and_wait
from tests.ui.test_keys import press
from tests.ui.test_select import answer_ok, us_locale  # noqa: F401 - fixtures

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

LARGE = 20_000
SMALL = 3000
SEARCH_TIMEOUT_MS = 60_000
SEND_TIMEOUT_MS = 180_000


class ProgressTexts:
    """Record each text the progress widget shows while the sender runs."""

    def __init__(self, sender: BulkSender) -> None:
        self.texts: list[str] = []
        self._label = sender.widget.label
        sender.widget.bar.valueChanged.connect(self._on_value_changed)

    def _on_value_changed(self, _value: int) -> None:
        self.texts.append(self._label.text())


def _open_window(qtbot, profile: Profile) -> MainWindow:
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    _reactivate(qtbot, window)
    return window


def _search_all(qtbot, window: MainWindow, query: str) -> None:
    search_and_wait(qtbot, window, query, SEARCH_TIMEOUT_MS)


def _reactivate(qtbot, window: MainWindow) -> None:
    # The offscreen platform leaves no window active after a modal box closes, and the keys need it back.
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    window.message_view.setFocus()


def _profile(tmp_path: Path, dovecot_server, imap_user, count: int) -> Profile:
    fill_inbox(imap_user.maildir, count)
    profile = make_profile(tmp_path / "profile", dovecot_server.host, dovecot_server.port, imap_user.name,
                           imap_user.password)
    sync(profile)
    return profile


def test_archive_all_matches_then_undo(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                       answer_ok, us_locale) -> None:
    profile = _profile(tmp_path, dovecot_server, imap_user, LARGE)
    window = _open_window(qtbot, profile)
    progress = ProgressTexts(window.bulk_sender)
    _search_all(qtbot, window, "report")
    press(qtbot, window.message_view, "* a")
    assert window.message_model.selection_count() == LARGE

    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "e")
        # The list changes at once, and the store and the server follow in the background. Search results keep
        # the moved messages, as after an archive of fewer messages, and the selection is cleared.
        assert window.message_model.rowCount() == LARGE
        assert window.message_model.selection_count() == 0
        assert window.status_panel.message() == "Archived 20,000 message(s) — z to undo"

    assert stored_message_ids(profile, "INBOX") == set()
    assert stored_message_ids(profile, "Archive") == expected_ids(range(LARGE))
    outcome = sent.args[0]
    assert (outcome.done, outcome.total, outcome.cancelled, outcome.error) == (LARGE, LARGE, False, "")
    assert "Archiving on the server: 0 of 20,000" in progress.texts
    assert "Archiving on the server: 20,000 of 20,000" in progress.texts
    assert window.bulk_sender.widget.label.text() == "The server has all 20,000 changes."
    archived = server_message_ids(direct_client, "Archive")
    assert set(archived) == expected_ids(range(LARGE))
    assert set(archived.values()) == {1}
    assert server_message_ids(direct_client, "INBOX") == Counter()

    _reactivate(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as undone:
        press(qtbot, window.message_view, "z")

    assert (undone.args[0].done, undone.args[0].error) == (LARGE, "")
    # The search results list the messages again.
    assert window.message_model.rowCount() == LARGE
    assert "Undoing on the server: 20,000 of 20,000" in progress.texts
    assert server_message_ids(direct_client, "Archive") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(LARGE)))
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(LARGE))


def test_cancel_keeps_store_and_server_equal(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                             answer_ok, us_locale) -> None:
    """Cancel as soon as the progress shows: nothing is sent, and everything goes back to INBOX here.

    A cancel between batches is covered in tests/sync/test_bulk_send.py,
    where the test can step the send one batch at a time.
    """
    profile = _profile(tmp_path, dovecot_server, imap_user, SMALL)
    window = _open_window(qtbot, profile)
    assert SMALL >= PROGRESS_MIN_MESSAGES
    press(qtbot, window.message_view, "g i")
    press(qtbot, window.message_view, "* a")
    assert window.message_model.selection_count() == SMALL
    widget = window.bulk_sender.widget
    widget.bar.valueChanged.connect(lambda _value: widget.cancel_button.click())

    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "e")

    outcome = sent.args[0]
    assert outcome.cancelled
    assert (outcome.done, outcome.withdrawn, outcome.total) == (0, SMALL, SMALL)
    assert server_message_ids(direct_client, "Archive") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(SMALL)))
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(SMALL))
    assert stored_message_ids(profile, "Archive") == set()
    assert window.status_panel.message() == "Stopped: the server got 0 of 3,000 changes; the other 3,000 were undone here."
    qtbot.waitUntil(lambda: window.message_model.rowCount() == SMALL, timeout=5000)
    with Store(profile.store_file) as store:
        assert store.pending_actions(store.account_id(ACCOUNT)) == []
        # The archive left nothing to undo.
        assert store.bulk_history(1)[0].undone is not None


def test_large_send_pauses_watch(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client, answer_ok,
                                 us_locale) -> None:
    profile = _profile(tmp_path, dovecot_server, imap_user, SMALL)
    window = MainWindow(profile, watch=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    # Once the watch's first sync is done, it waits in IDLE.
    with qtbot.waitSignal(window.watch_controller.progressed, timeout=SEND_TIMEOUT_MS,
                          check_params_cb=lambda step: step.phase == "watching"):
        pass
    _reactivate(qtbot, window)
    press(qtbot, window.message_view, "g i")
    press(qtbot, window.message_view, "* a")

    with qtbot.waitSignal(window.watch_controller.stopped, timeout=SEND_TIMEOUT_MS):
        with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
            press(qtbot, window.message_view, "e")

    assert (sent.args[0].done, sent.args[0].error) == (SMALL, "")
    # The watch stopped for the send and runs again after it.
    qtbot.waitUntil(window.is_watching, timeout=10_000)
    assert server_message_ids(direct_client, "Archive") == Counter(expected_ids(range(SMALL)))
    assert server_message_ids(direct_client, "INBOX") == Counter()
    with Store(profile.store_file) as store:
        assert store.pending_actions(store.account_id(ACCOUNT)) == []
