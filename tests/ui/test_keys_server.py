"""Default keys against a real Dovecot: the server has each key's change once the journal is sent.

Every test syncs a fresh IMAP account into the window, presses keys in the
message list or the reader, lets the window send its journal, and reads the
result back over a separate IMAP connection. The reader mode's bindings are
also checked here for their dispatch, as tests/ui/test_keys.py does for the
list mode.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.keymap import load_default_keymap
from desktop.paths import Profile
from desktop.store import Store
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import SENDER
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, open_main_window, server_profile
from tests.ui.test_keys import press
from tests.ui.test_select import ConfirmationAnswer

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

ACCOUNT = "server"
SYNC_TIMEOUT_MS = 60_000
SEND_TIMEOUT_SECONDS = 30.0
MAX_SEND_ATTEMPTS = 150
SERVER_FOLDERS = ("INBOX", "Archive", "Trash", "Junk")
SUBJECTS = ["Agenda for Monday", "Budget draft", "Travel plans", "Printer is jammed", "Team lunch", "Quarterly report"]


def _message(number: int, subject: str, *, reply_to: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = f"Sender {number} <sender{number}@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = f"Tue, {number + 1:02d} Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<key-{number}@example.com>"
    if reply_to:
        message["In-Reply-To"] = reply_to
        message["References"] = reply_to
    message.set_content(f"Body of message {number}.")
    return message.as_bytes()


def _message_id(number: int) -> str:
    return f"<key-{number}@example.com>"


@pytest.fixture
def profile(tmp_path: Path, imap_user, dovecot_server, direct_client: IMAPClient) -> Profile:
    """Put six unread messages into the server's INBOX and configure an account for them."""
    for number, subject in enumerate(SUBJECTS):
        direct_client.append("INBOX", _message(number, subject))
    return server_profile(tmp_path / "profile", dovecot_server, imap_user, ACCOUNT)


def open_synced_window(qtbot, profile: Profile) -> MainWindow:
    """Open the window on the profile's IMAP account and sync it with Ctrl+R."""
    main = open_main_window(qtbot, profile)
    main.message_view.setFocus()
    with qtbot.waitSignal(main.sync_finished, timeout=SYNC_TIMEOUT_MS) as finished:
        press(qtbot, main.message_view, "Ctrl+r")
    assert finished.args == [True]
    return main


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    main = open_synced_window(qtbot, profile)
    assert main.message_model.rowCount() == len(SUBJECTS)
    return main


def _pending_count(profile: Profile) -> int:
    with Store(profile.store_file) as store:
        account_id = store.account_id(ACCOUNT)
        return len(store.pending_actions(account_id)) if account_id is not None else 0


def _send_journal(qtbot, window: MainWindow, profile: Profile) -> None:
    """Send the window's queued changes to the server with Ctrl+R until none is left.

    Showing the next message after a move marks it read, which queues one
    more change while the first ones are sent. Where the window sends its
    changes by itself, it ignores Ctrl+R while it does, so the key is
    pressed again until the journal is empty. A change may be sent already
    when this starts, so the callers check the server afterwards.
    """
    deadline = time.monotonic() + SEND_TIMEOUT_SECONDS
    for _attempt in range(MAX_SEND_ATTEMPTS):
        if not _pending_count(profile):
            break
        assert time.monotonic() < deadline, f"{_pending_count(profile)} change(s) still queued"
        if window.actions_by_name["sync"].isEnabled():
            window.message_view.setFocus()
            press(qtbot, window.message_view, "Ctrl+r")
        qtbot.wait(200)
    assert _pending_count(profile) == 0
    qtbot.waitUntil(lambda: window.actions_by_name["sync"].isEnabled(), timeout=SYNC_TIMEOUT_MS)


def _server_places(client: IMAPClient, number: int) -> dict[str, set[bytes]]:
    """Return {folder: flags} for every folder of the server that has message ``number``."""
    places: dict[str, set[bytes]] = {}
    for folder in SERVER_FOLDERS:
        client.select_folder(folder, readonly=True)
        uids = client.search(["HEADER", "Message-ID", _message_id(number)])
        for flags in client.get_flags(uids).values():
            places[folder] = set(flags)
    return places


def _row_of(window: MainWindow, number: int) -> int:
    with Store(window._profile.store_file) as store:
        rows = store.messages(window.message_model.ids())
    message_id = next(row.id for row in rows if row.message_id.strip("<>") == _message_id(number).strip("<>"))
    row = window.message_model.row_of(message_id)
    assert row is not None
    return row


def _select(qtbot, window: MainWindow, number: int) -> None:
    """Make message ``number`` the current row, which shows it in the reader and so marks it read."""
    window.message_view.setFocus()
    row = _row_of(window, number)
    window.message_view.selectRow(row)
    message_id = window.message_model.message_id(row)
    qtbot.waitUntil(lambda: window.reader.message_id() == message_id, timeout=2000)


# --- list mode ------------------------------------------------------------------------------------


def test_e_archives_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 2)

    press(qtbot, window.message_view, "e")
    _send_journal(qtbot, window, profile)

    assert _server_places(direct_client, 2) == {"Archive": {b"\\Seen"}}
    assert set(_server_places(direct_client, 3)) == {"INBOX"}


def test_z_undoes_archive_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 2)
    press(qtbot, window.message_view, "e")
    _send_journal(qtbot, window, profile)
    assert set(_server_places(direct_client, 2)) == {"Archive"}

    window.message_view.setFocus()
    with qtbot.waitSignal(window.folders_refreshed, timeout=SEND_TIMEOUT_SECONDS * 1000):
        press(qtbot, window.message_view, "z")
    _send_journal(qtbot, window, profile)

    assert set(_server_places(direct_client, 2)) == {"INBOX"}


def test_hash_moves_to_trash_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 4)

    press(qtbot, window.message_view, "#")
    _send_journal(qtbot, window, profile)

    assert set(_server_places(direct_client, 4)) == {"Trash"}


def test_hash_in_trash_expunges(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 4)
    press(qtbot, window.message_view, "#")
    _send_journal(qtbot, window, profile)
    window.message_view.setFocus()
    with qtbot.waitSignal(window.message_model.modelReset, timeout=5000):
        press(qtbot, window.message_view, "g l")
        qtbot.waitUntil(window.palette.isVisible, timeout=2000)
        qtbot.keyClicks(window.palette.field, "Trash")
        press(qtbot, window.palette.field, "Enter")
    # The offscreen platform leaves the closed palette active, where a desktop gives the window back its focus.
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    _select(qtbot, window, 4)

    answer = ConfirmationAnswer(QMessageBox.StandardButton.Ok)
    try:
        press(qtbot, window.message_view, "#")
    finally:
        answer.stop()
    _send_journal(qtbot, window, profile)

    assert answer.texts == ["Delete 1 message(s) for good?"]
    assert _server_places(direct_client, 4) == {}
    assert set(_server_places(direct_client, 5)) == {"INBOX"}


def test_s_stars_and_unstars(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 1)

    press(qtbot, window.message_view, "s")
    _send_journal(qtbot, window, profile)

    assert _server_places(direct_client, 1) == {"INBOX": {b"\\Seen", b"\\Flagged"}}

    window.message_view.setFocus()
    press(qtbot, window.message_view, "s")
    _send_journal(qtbot, window, profile)

    assert _server_places(direct_client, 1) == {"INBOX": {b"\\Seen"}}


def test_shift_u_and_i_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 0)

    press(qtbot, window.message_view, "Shift+u")
    _send_journal(qtbot, window, profile)

    assert _server_places(direct_client, 0) == {"INBOX": set()}

    window.message_view.setFocus()
    press(qtbot, window.message_view, "Shift+i")
    _send_journal(qtbot, window, profile)

    assert _server_places(direct_client, 0) == {"INBOX": {b"\\Seen"}}


def test_selection_archive_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 5)
    press(qtbot, window.message_view, "x")
    press(qtbot, window.message_view, "Shift+j")
    press(qtbot, window.message_view, "Shift+j")
    chosen = window.message_model.selected_ids()
    assert len(chosen) == 3

    press(qtbot, window.message_view, "e")
    _send_journal(qtbot, window, profile)

    archived = [number for number in range(len(SUBJECTS)) if set(_server_places(direct_client, number)) == {"Archive"}]
    in_inbox = [number for number in range(len(SUBJECTS)) if set(_server_places(direct_client, number)) == {"INBOX"}]
    assert len(archived) == 3
    assert len(in_inbox) == len(SUBJECTS) - 3


def test_star_a_then_shift_i_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "* a")
    press(qtbot, window.message_view, "Shift+i")
    _send_journal(qtbot, window, profile)

    for number in range(len(SUBJECTS)):
        assert _server_places(direct_client, number) == {"INBOX": {b"\\Seen"}}, number


@pytest.mark.parametrize(("command", "picker"), [("label", "label_picker"), ("move", "folder_picker"),
                                                 ("copy", "folder_picker")])
def test_picker_escape_leaves_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient,
                                     command: str, picker: str) -> None:
    _select(qtbot, window, 3)
    # Showing the message marked it read; that change goes out first.
    _send_journal(qtbot, window, profile)
    before = _server_places(direct_client, 3)
    dialog = getattr(window.bulk_commands, picker)

    press(qtbot, window.message_view, window.keymap.keys_of("list", command)[0])
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    press(qtbot, dialog.field, "Escape")
    _send_journal(qtbot, window, profile)

    assert not dialog.isVisible()
    assert _server_places(direct_client, 3) == before


def test_bang_reports_spam_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 3)

    press(qtbot, window.message_view, "!")
    _send_journal(qtbot, window, profile)

    assert _server_places(direct_client, 3) == {"Junk": {b"\\Seen", b"$Junk"}}


# --- reader mode ----------------------------------------------------------------------------------


READER_BINDINGS = sorted(
    (keys, command) for command, keys_list in load_default_keymap()[0].as_table()["reader"].items() for keys in keys_list
)


@pytest.mark.parametrize(("keys", "command"), READER_BINDINGS)
def test_reader_binding_runs_its_command(qtbot, window: MainWindow, keys: str, command: str) -> None:
    # Only the dispatch is under test here. The tests below check the server for the actions.
    window.key_dispatcher.command_triggered.disconnect(window._on_key_dispatcher_command_triggered)
    _select(qtbot, window, 0)
    window.reader.browser.setFocus()

    with qtbot.waitSignal(window.key_dispatcher.command_triggered, timeout=1000) as fired:
        press(qtbot, window.reader.browser, keys)

    assert fired.args == [command]


def test_reader_keys_change_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 3)
    press(qtbot, window.message_view, "o")
    assert window.reader.browser.hasFocus()

    press(qtbot, window.reader.browser, "s")
    press(qtbot, window.reader.browser, "Shift+u")
    _send_journal(qtbot, window, profile)

    assert _server_places(direct_client, 3) == {"INBOX": {b"\\Flagged"}}

    _select(qtbot, window, 3)
    window.reader.browser.setFocus()
    press(qtbot, window.reader.browser, "e")
    _send_journal(qtbot, window, profile)

    assert set(_server_places(direct_client, 3)) == {"Archive"}


def test_reader_hash_trashes(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select(qtbot, window, 5)
    window.reader.browser.setFocus()

    press(qtbot, window.reader.browser, "#")
    _send_journal(qtbot, window, profile)

    assert set(_server_places(direct_client, 5)) == {"Trash"}


# --- thread counts ---------------------------------------------------------------------------------


def test_thread_count_after_new_mail(qtbot, window: MainWindow, direct_client: IMAPClient) -> None:
    window.message_view.conversations_action.trigger()
    assert window.message_model.rowCount() == len(SUBJECTS)
    direct_client.append("INBOX", _message(10, "Re: Budget draft", reply_to=_message_id(1)))
    direct_client.append("INBOX", _message(11, "Re: Budget draft", reply_to=_message_id(10)))

    window.message_view.setFocus()
    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS):
        press(qtbot, window.message_view, "Ctrl+r")

    model = window.message_model
    assert model.rowCount() == len(SUBJECTS)
    assert len(model.ids()) == len(SUBJECTS) + 2
    row = _row_of(window, 1)
    assert model.data(model.index(row, SENDER)).endswith("(3)")
    assert len(model.row_message_ids(row)) == 3
