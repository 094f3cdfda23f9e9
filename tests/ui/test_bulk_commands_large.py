"""Label, report spam, copy and snooze of large selections: the store changes on a worker, the server follows.

Each test fills INBOX of the private Dovecot, syncs it into a headers-only
profile and drives the window with keys and the pickers. While the worker
writes, a 5 ms timer must keep firing on the window's thread. The server's
state is read back over a separate IMAP connection.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections import Counter
from pathlib import Path

import pytest

from desktop.snooze import SNOOZED_FOLDER, SNOOZED_KEYWORD
from desktop.store import Store
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.main_window import MainWindow
from tests.sync.test_bulk_send import ACCOUNT, expected_ids, server_message_ids, stored_message_ids
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.test_bulk_archive import _open_window, _profile, _reactivate, answer_ok  # noqa: F401 - a fixture
from tests.ui.test_bulk_worker_server import SEND_TIMEOUT_MS, Ticks, _server_flags
from tests.ui.test_keys import press
from tests.ui.test_select import us_locale  # noqa: F401 - a fixture

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

LABEL_COUNT = 5000
LABEL = "project-x"


def _select_inbox(qtbot, window: MainWindow, count: int) -> None:
    press(qtbot, window.message_view, "g i")
    press(qtbot, window.message_view, "* a")
    assert window.message_model.selection_count() == count


def _pick(qtbot, window: MainWindow, picker, keys: str, text: str) -> None:
    press(qtbot, window.message_view, keys)
    qtbot.waitUntil(picker.isVisible, timeout=5000)
    qtbot.keyClicks(picker.field, text)
    press(qtbot, picker.field, "Enter")
    assert not picker.isVisible()


def test_label_on_worker_then_undo(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                   answer_ok, us_locale) -> None:
    profile = _profile(tmp_path, dovecot_server, imap_user, LABEL_COUNT)
    window = _open_window(qtbot, profile)
    _select_inbox(qtbot, window, LABEL_COUNT)
    top = window.message_model.index(0, 0)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        _pick(qtbot, window, window.bulk_commands.label_picker, "l", LABEL)
        # The visible rows show the label before the worker commits it.
        assert LABEL in window.message_model.message(top.row()).flags
        assert window.bulk_sender.store_queue.is_busy()
        assert window.status_panel.message() == f"Changed the labels of 5,000 message(s) (+{LABEL}) — z to undo"
    ticks.stop()

    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    assert (sent.args[0].done, sent.args[0].error) == (LABEL_COUNT, "")
    assert _server_flags(direct_client, "INBOX")[LABEL.encode()] == LABEL_COUNT

    _reactivate(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as undone:
        press(qtbot, window.message_view, "z")
        # The rows lose the label before the undo commits.
        assert LABEL not in window.message_model.message(top.row()).flags

    assert (undone.args[0].done, undone.args[0].error) == (LABEL_COUNT, "")
    assert _server_flags(direct_client, "INBOX")[LABEL.encode()] == 0
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        rows = store.messages(store.message_ids([inbox.id]))
    assert len(rows) == LABEL_COUNT
    assert not any(LABEL in row.flags for row in rows)


def test_spam_on_worker_moves_to_junk(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                      answer_ok, us_locale) -> None:
    count = BACKGROUND_MIN_MESSAGES
    profile = _profile(tmp_path, dovecot_server, imap_user, count)
    window = _open_window(qtbot, profile)
    _select_inbox(qtbot, window, count)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "!")
        # The rows leave before the store has the change.
        assert window.message_model.rowCount() == 0
        assert window.bulk_sender.store_queue.is_busy()
    ticks.stop()

    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    # The flags go first and the move follows, so the journal names each message twice.
    assert (sent.args[0].done, sent.args[0].total, sent.args[0].error) == (2 * count, 2 * count, "")
    assert stored_message_ids(profile, "INBOX") == set()
    assert stored_message_ids(profile, "Junk") == expected_ids(range(count))
    assert server_message_ids(direct_client, "INBOX") == Counter()
    assert server_message_ids(direct_client, "Junk") == Counter(expected_ids(range(count)))
    flags = _server_flags(direct_client, "Junk")
    assert flags[b"$Junk"] == count
    assert flags[b"$NotJunk"] == 0

    _reactivate(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as undone:
        press(qtbot, window.message_view, "z")
        # INBOX lists the messages again before the undo commits.
        assert window.message_model.rowCount() == count

    assert undone.args[0].error == ""
    assert server_message_ids(direct_client, "Junk") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(count)))
    assert _server_flags(direct_client, "INBOX")[b"$Junk"] == 0


def test_copy_on_worker_keeps_originals(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                        answer_ok, us_locale) -> None:
    count = BACKGROUND_MIN_MESSAGES
    direct_client.create_folder("Projects")
    profile = _profile(tmp_path, dovecot_server, imap_user, count)
    window = _open_window(qtbot, profile)
    _select_inbox(qtbot, window, count)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        _pick(qtbot, window, window.bulk_commands.folder_picker, "Shift+v", "Projects")
        assert window.bulk_sender.store_queue.is_busy()
        # The originals stay, so the list keeps its rows.
        assert window.message_model.rowCount() == count
        assert window.status_panel.message() == f"Copied {count:,} message(s) to Projects — z to undo"
    ticks.stop()

    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    assert (sent.args[0].done, sent.args[0].error) == (count, "")
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(count))
    assert stored_message_ids(profile, "Projects") == expected_ids(range(count))
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(count)))
    assert server_message_ids(direct_client, "Projects") == Counter(expected_ids(range(count)))

    _reactivate(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as undone:
        press(qtbot, window.message_view, "z")

    # Undo deletes the copies and leaves the originals.
    assert undone.args[0].error == ""
    assert stored_message_ids(profile, "Projects") == set()
    assert server_message_ids(direct_client, "Projects") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(count)))


def test_snooze_on_worker_then_undo(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                    answer_ok, us_locale) -> None:
    count = BACKGROUND_MIN_MESSAGES
    profile = _profile(tmp_path, dovecot_server, imap_user, count)
    window = _open_window(qtbot, profile)
    _select_inbox(qtbot, window, count)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "b")
        qtbot.waitUntil(window.snooze_commands.picker.isVisible, timeout=5000)
        # The Snoozed folder is created on the server first, then the rows leave before the store has the change.
        with qtbot.waitSignal(window.bulk_sender.store_queue.changed, timeout=SEND_TIMEOUT_MS):
            press(qtbot, window.snooze_commands.picker.choices, "n")
            qtbot.waitUntil(lambda: window.message_model.rowCount() == 0, timeout=SEND_TIMEOUT_MS)
            assert window.bulk_sender.store_queue.is_busy()
    ticks.stop()

    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    assert sent.args[0].error == ""
    assert stored_message_ids(profile, SNOOZED_FOLDER) == expected_ids(range(count))
    assert server_message_ids(direct_client, "INBOX") == Counter()
    assert server_message_ids(direct_client, SNOOZED_FOLDER) == Counter(expected_ids(range(count)))
    assert _server_flags(direct_client, SNOOZED_FOLDER)[SNOOZED_KEYWORD.encode()] == count
    with Store(profile.store_file) as store:
        assert len(store.snoozes()) == count

    _reactivate(qtbot, window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as undone:
        press(qtbot, window.message_view, "z")

    assert undone.args[0].error == ""
    assert server_message_ids(direct_client, SNOOZED_FOLDER) == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(count)))
    assert _server_flags(direct_client, "INBOX")[SNOOZED_KEYWORD.encode()] == 0
    # The snooze entries stay until they are due and are dropped then, as their messages left Snoozed.
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(count))
    assert stored_message_ids(profile, SNOOZED_FOLDER) == set()
