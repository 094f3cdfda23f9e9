"""Large delete, star, mark-read and undo in the window: the store changes on a worker, the server follows.

Each test fills INBOX of the private Dovecot, syncs it into a headers-only
profile and drives the window with keys. While the worker writes, a 5 ms
timer must keep firing on the window's thread. The server's state is read
back over a separate IMAP connection.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from desktop.store import Store
from desktop.ui.main_window import MainWindow
from tests.sync.test_bulk_send import ACCOUNT, expected_ids, server_message_ids, stored_message_ids
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.test_bulk_archive import _open_window, _profile, _reactivate, answer_ok  # noqa: F401 - a fixture
from tests.ui.test_keys import press
from tests.ui.test_select import us_locale  # noqa: F401 - a fixture

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

# 5,000 rather than 20,000 keeps each test near a minute; it is above BACKGROUND_MIN_MESSAGES.
COUNT = 5000
SEND_TIMEOUT_MS = 180_000
FETCH_CHUNK = 2000


class Ticks:
    """Count the timeouts of a 5 ms timer on the window's thread, and the count when the worker committed."""

    def __init__(self, window: MainWindow) -> None:
        self.count = 0
        self.at_commit: int | None = None
        self._timer = QTimer(interval=5)
        self._timer.timeout.connect(self._on_timeout)
        self._timer.start()
        window.bulk_sender.store_queue.changed.connect(self._on_changed)
        window.bulk_sender.store_queue.undone.connect(self._on_changed)

    def _on_timeout(self) -> None:
        self.count += 1

    def _on_changed(self, _result: object) -> None:
        if self.at_commit is None:
            self.at_commit = self.count

    def stop(self) -> None:
        self._timer.stop()


def _server_flags(client, folder: str) -> Counter[bytes]:
    """Return how many messages of ``folder`` on the server carry each flag."""
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    found: Counter[bytes] = Counter()
    for start in range(0, len(uids), FETCH_CHUNK):
        for data in client.fetch(uids[start : start + FETCH_CHUNK], ["FLAGS"]).values():
            found.update(data[b"FLAGS"])
    return found


def _select_inbox(qtbot, window: MainWindow) -> None:
    press(qtbot, window.message_view, "g i")
    press(qtbot, window.message_view, "* a")
    assert window.message_model.selection_count() == COUNT


def _press_and_send(qtbot, window: MainWindow, keys: str) -> tuple[object, Ticks]:
    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, keys)
    ticks.stop()
    return sent.args[0], ticks


def test_delete_on_worker_reaches_server(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                         answer_ok, us_locale) -> None:
    profile = _profile(tmp_path, dovecot_server, imap_user, COUNT)
    window = _open_window(qtbot, profile)
    _select_inbox(qtbot, window)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "#")
        # The rows leave before the store has the change.
        assert window.message_model.rowCount() == 0
        assert window.bulk_sender.store_queue.is_busy()
        assert window.status_panel.message() == "Moved 5,000 message(s) to Trash — z to undo"
    ticks.stop()

    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    assert (sent.args[0].done, sent.args[0].error) == (COUNT, "")
    assert stored_message_ids(profile, "INBOX") == set()
    assert stored_message_ids(profile, "Trash") == expected_ids(range(COUNT))
    assert server_message_ids(direct_client, "INBOX") == Counter()
    assert server_message_ids(direct_client, "Trash") == Counter(expected_ids(range(COUNT)))


def test_star_and_read_on_worker(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                 answer_ok, us_locale) -> None:
    profile = _profile(tmp_path, dovecot_server, imap_user, COUNT)
    window = _open_window(qtbot, profile)
    _select_inbox(qtbot, window)
    top = window.message_model.index(0, 0)

    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "Shift+i")
        # The visible rows show the change before the worker commits it.
        assert window.message_model.message(top.row()).seen
    ticks.stop()
    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    assert (sent.args[0].done, sent.args[0].error) == (COUNT, "")

    outcome, ticks = _press_and_send(qtbot, window, "s")
    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    assert (outcome.done, outcome.error) == (COUNT, "")

    flags = _server_flags(direct_client, "INBOX")
    assert flags[b"\\Seen"] == COUNT
    assert flags[b"\\Flagged"] == COUNT
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        rows = store.messages(store.message_ids([inbox.id]))
    assert all(row.seen and "\\Flagged" in row.flags for row in rows)


def test_undo_archive_lists_at_once(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                    answer_ok, us_locale) -> None:
    profile = _profile(tmp_path, dovecot_server, imap_user, COUNT)
    window = _open_window(qtbot, profile)
    _select_inbox(qtbot, window)
    outcome, _ticks = _press_and_send(qtbot, window, "e")
    assert (outcome.done, outcome.error) == (COUNT, "")
    assert server_message_ids(direct_client, "INBOX") == Counter()

    _reactivate(qtbot, window)
    ticks = Ticks(window)
    with qtbot.waitSignal(window.bulk_sender.send_finished, timeout=SEND_TIMEOUT_MS) as sent:
        press(qtbot, window.message_view, "z")
        # The folder lists the messages again before the undo has committed.
        assert window.message_model.rowCount() == COUNT
        assert window.bulk_sender.store_queue.is_busy()
    ticks.stop()

    assert ticks.at_commit is not None
    assert ticks.at_commit > 0
    assert (sent.args[0].done, sent.args[0].error) == (COUNT, "")
    assert window.message_model.rowCount() == COUNT
    assert server_message_ids(direct_client, "Archive") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(COUNT)))
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(COUNT))


def test_keys_while_worker_writes(qtbot, tmp_path: Path, dovecot_server, imap_user, direct_client,
                                  answer_ok, us_locale) -> None:
    """j, k, a second archive and z pressed before the first archive commits: each acts, in order."""
    profile = _profile(tmp_path, dovecot_server, imap_user, COUNT)
    window = _open_window(qtbot, profile)
    press(qtbot, window.message_view, "g i")
    ids = window.message_model.ids()
    first, second = ids[: COUNT - 10], ids[COUNT - 10 :]
    window.message_model.set_selected(first)

    press(qtbot, window.message_view, "e")
    assert window.bulk_sender.store_queue.is_busy()
    assert window.message_model.ids() == second
    _reactivate(qtbot, window)
    # The cursor moved to the first message after the archived ones, and j and k move over the rows at once.
    assert window.message_model.message_id(window.message_view.currentIndex().row()) == second[0]
    for key in ("j", "j", "j", "k"):
        press(qtbot, window.message_view, key)
    assert window.message_model.message_id(window.message_view.currentIndex().row()) == second[2]
    window.message_model.set_selected(second[:5])
    press(qtbot, window.message_view, "e")
    assert window.message_model.ids() == second[5:]
    _reactivate(qtbot, window)
    # Undo waits behind both archives, so it reverses the second one.
    with qtbot.waitSignal(window.rule_commands.controller.undone, timeout=SEND_TIMEOUT_MS) as undone:
        press(qtbot, window.message_view, "z")
    assert undone.args[0].restored == 5
    qtbot.waitUntil(lambda: not window.bulk_sender.is_sending() and not window.bulk_sender.store_queue.is_busy(),
                    timeout=SEND_TIMEOUT_MS)

    with Store(profile.store_file) as store:
        assert store.pending_actions(store.account_id(ACCOUNT)) == []
    assert len(stored_message_ids(profile, "Archive")) == COUNT - 10
    assert len(stored_message_ids(profile, "INBOX")) == 10
    assert sum(server_message_ids(direct_client, "Archive").values()) == COUNT - 10
    assert sum(server_message_ids(direct_client, "INBOX").values()) == 10
