"""Archive, delete, move, star and mark read of 800 messages: above ``BACKGROUND_MIN_MESSAGES``, below 2,000.

Written on the window's thread, 800 messages held it for 37 to 71 ms, so
changes of this size go to the store queue's worker. Each test fills INBOX
of the private Dovecot, syncs it into a headers-only profile and drives the
window with keys. While the worker writes, a 5 ms timer must keep firing on
the window's thread. The server's folders are read back by Message-ID over a
separate IMAP connection, so a message sent twice would show up twice.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections import Counter
from pathlib import Path

import pytest

from desktop.paths import Profile
from desktop.store import FLAGGED, Store
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.main_window import MainWindow
from tests.sync.test_bulk_send import ACCOUNT, expected_ids, pending_count, server_message_ids, stored_message_ids
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.test_bulk_archive import (
    ProgressTexts,
    _open_window,
    _profile,
    _reactivate,
    _search_all,
    answer_ok,  # noqa: F401 - a fixture
)
from tests.ui.test_bulk_commands_large import _pick
from tests.ui.test_bulk_worker_server import SEND_TIMEOUT_MS, Ticks, _server_flags
from tests.ui.test_keys import press
from tests.ui.test_select import us_locale  # noqa: F401 - a fixture

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

COUNT = 800
# Before the threshold was lowered to 500, changes of fewer than this many messages ran on the window's thread.
OLD_THRESHOLD = 2000


def _open(qtbot, tmp_path: Path, dovecot_server, imap_user) -> tuple[Profile, MainWindow]:
    assert BACKGROUND_MIN_MESSAGES <= COUNT < OLD_THRESHOLD
    profile = _profile(tmp_path, dovecot_server, imap_user, COUNT)
    return profile, _open_window(qtbot, profile)


def _select_inbox(qtbot, window: MainWindow) -> None:
    press(qtbot, window.message_view, "g i")
    press(qtbot, window.message_view, "* a")
    assert window.message_model.selection_count() == COUNT


def _assert_worker_left_thread_free(ticks: Ticks) -> None:
    """Check that the 5 ms timer fired on the window's thread before the worker committed."""
    assert ticks.at_commit is not None
    assert ticks.at_commit > 0


def _assert_sent_once(outcome, profile: Profile) -> None:
    """Check that one send covered every message and left nothing queued."""
    assert (outcome.done, outcome.total, outcome.cancelled, outcome.error) == (COUNT, COUNT, False, "")
    assert pending_count(profile) == 0


def _undo_and_send(qtbot, window: MainWindow, check_at_once) -> object:
    """Press z, run ``check_at_once`` before the undo commits, and return the outcome of the send that follows."""
    _reactivate(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "z")
        assert window.bulk_sender.store_queue.is_busy()
        check_at_once()
    return sent.args[0]


def test_archive_of_800_in_search(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                  answer_ok, us_locale) -> None:
    profile, window = _open(qtbot, tmp_path, dovecot_server, imap_user)
    progress = ProgressTexts(window.bulk_sender)
    _search_all(qtbot, window, "report")
    press(qtbot, window.message_view, "* a")
    assert window.message_model.selection_count() == COUNT

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "e")
        # The results keep the moved messages, as after a smaller archive, and the selection is cleared at once.
        assert window.message_model.rowCount() == COUNT
        assert window.message_model.selection_count() == 0
        assert window.bulk_sender.store_queue.is_busy()
        assert window.status_panel.message() == "Archived 800 message(s) — z to undo"
    ticks.stop()

    _assert_worker_left_thread_free(ticks)
    _assert_sent_once(sent.args[0], profile)
    assert "Archiving on the server: 800 of 800" in progress.texts
    assert server_message_ids(direct_client, "Archive") == Counter(expected_ids(range(COUNT)))
    assert server_message_ids(direct_client, "INBOX") == Counter()
    assert stored_message_ids(profile, "Archive") == expected_ids(range(COUNT))

    def results_listed_again() -> None:
        assert window.message_model.rowCount() == COUNT

    undone = _undo_and_send(qtbot, window, results_listed_again)
    _assert_sent_once(undone, profile)
    assert window.message_model.rowCount() == COUNT
    assert server_message_ids(direct_client, "Archive") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(COUNT)))
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(COUNT))


def test_delete_of_800_to_trash(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                answer_ok, us_locale) -> None:
    profile, window = _open(qtbot, tmp_path, dovecot_server, imap_user)
    _select_inbox(qtbot, window)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "#")
        assert window.message_model.rowCount() == 0
        assert window.bulk_sender.store_queue.is_busy()
        assert window.status_panel.message() == "Moved 800 message(s) to Trash — z to undo"
    ticks.stop()

    _assert_worker_left_thread_free(ticks)
    _assert_sent_once(sent.args[0], profile)
    # A delete of more than 500 messages asks first, and the fixture accepts.
    assert answer_ok.texts == ["Delete 800 message(s)?"]
    assert server_message_ids(direct_client, "Trash") == Counter(expected_ids(range(COUNT)))
    assert server_message_ids(direct_client, "INBOX") == Counter()

    def inbox_listed_again() -> None:
        assert window.message_model.rowCount() == COUNT

    undone = _undo_and_send(qtbot, window, inbox_listed_again)
    _assert_sent_once(undone, profile)
    assert server_message_ids(direct_client, "Trash") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(COUNT)))
    assert stored_message_ids(profile, "Trash") == set()


def test_move_of_800_to_folder(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                               answer_ok, us_locale) -> None:
    direct_client.create_folder("Projects")
    profile, window = _open(qtbot, tmp_path, dovecot_server, imap_user)
    _select_inbox(qtbot, window)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        _pick(qtbot, window, window.bulk_commands.folder_picker, "v", "Projects")
        assert window.message_model.rowCount() == 0
        assert window.bulk_sender.store_queue.is_busy()
        assert window.status_panel.message() == "Moved 800 message(s) to Projects — z to undo"
    ticks.stop()

    _assert_worker_left_thread_free(ticks)
    _assert_sent_once(sent.args[0], profile)
    assert server_message_ids(direct_client, "Projects") == Counter(expected_ids(range(COUNT)))
    assert server_message_ids(direct_client, "INBOX") == Counter()

    def inbox_listed_again() -> None:
        assert window.message_model.rowCount() == COUNT

    undone = _undo_and_send(qtbot, window, inbox_listed_again)
    _assert_sent_once(undone, profile)
    assert server_message_ids(direct_client, "Projects") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(COUNT)))


def test_star_and_read_of_800(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                              answer_ok, us_locale) -> None:
    profile, window = _open(qtbot, tmp_path, dovecot_server, imap_user)
    _select_inbox(qtbot, window)
    top = window.message_model.index(0, 0).row()
    assert not window.message_model.message(top).seen

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "Shift+i")
        # The visible rows show the change before the worker commits it.
        assert window.message_model.message(top).seen
        assert window.bulk_sender.store_queue.is_busy()
    ticks.stop()
    _assert_worker_left_thread_free(ticks)
    _assert_sent_once(sent.args[0], profile)
    assert _server_flags(direct_client, "INBOX")[b"\\Seen"] == COUNT

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "s")
        assert FLAGGED in window.message_model.message(top).flags
        assert window.bulk_sender.store_queue.is_busy()
    ticks.stop()
    _assert_worker_left_thread_free(ticks)
    _assert_sent_once(sent.args[0], profile)
    assert _server_flags(direct_client, "INBOX")[b"\\Flagged"] == COUNT

    def star_gone_at_once() -> None:
        assert FLAGGED not in window.message_model.message(top).flags

    undone = _undo_and_send(qtbot, window, star_gone_at_once)
    _assert_sent_once(undone, profile)
    flags = _server_flags(direct_client, "INBOX")
    assert flags[b"\\Flagged"] == 0
    # Undo reverses the star only; the messages stay read.
    assert flags[b"\\Seen"] == COUNT
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        rows = store.messages(store.message_ids([inbox.id]))
    assert len(rows) == COUNT
    assert not any(FLAGGED in row.flags for row in rows)
