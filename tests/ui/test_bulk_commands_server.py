"""Move, copy, label, spam and apply-rule from the keyboard, checked on a real Dovecot.

Each test syncs a fresh IMAP account into the window, runs a command on
the selection through its key and picker, lets the window send its journal,
and reads the result back over a separate IMAP connection.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.paths import Profile
from desktop.store import Store
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, refocus_window, server_profile
from tests.ui.test_keys import press
from tests.ui.test_keys_server import _send_journal, open_synced_window

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

ACCOUNT = "server"
MESSAGE_COUNT = 10
FOLDERS = ("INBOX", "Archive", "Trash", "Junk", "Projects")
RULE_FILE = """
[[rule]]
name = "Tag example senders"
when = 'from:example.com'
actions = [{ label = "triaged" }]
"""


def _message(number: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"Sender {number} <sender{number}@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = f"Bulk subject {number}"
    message["Date"] = f"Tue, {number + 1:02d} Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<bulk-{number}@example.com>"
    message.set_content(f"Body of message {number}.")
    return message.as_bytes()


@pytest.fixture
def profile(tmp_path: Path, imap_user, dovecot_server, direct_client: IMAPClient) -> Profile:
    """Ten unread messages in the server's INBOX, a Projects folder, an account and one rule file."""
    direct_client.create_folder("Projects")
    for number in range(MESSAGE_COUNT):
        direct_client.append("INBOX", _message(number))
    profile = server_profile(tmp_path / "profile", dovecot_server, imap_user, ACCOUNT)
    profile.rules_dir.mkdir(parents=True, exist_ok=True)
    (profile.rules_dir / "10-tag.toml").write_text(RULE_FILE, encoding="utf-8")
    return profile


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    main = open_synced_window(qtbot, profile)
    assert main.message_model.rowCount() == MESSAGE_COUNT
    return main


def _places(client: IMAPClient, number: int) -> dict[str, set[bytes]]:
    """Return {folder: flags} for every server folder that has message ``number``."""
    found: dict[str, set[bytes]] = {}
    for folder in FOLDERS:
        client.select_folder(folder, readonly=True)
        uids = client.search(["HEADER", "Message-ID", f"<bulk-{number}@example.com>"])
        for flags in client.get_flags(uids).values():
            found.setdefault(folder, set()).update(flags)
    return found


def _number_of(window: MainWindow, message_id: int) -> int:
    with Store(window._profile.store_file) as store:
        row = store.message(message_id)
    assert row is not None
    return int(row.message_id.strip("<>").split("@")[0].split("-")[1])


def _select_number(qtbot, window: MainWindow, number: int) -> None:
    window.message_view.setFocus()
    row = next(row for row in range(window.message_model.rowCount())
               if _number_of(window, window.message_model.message_id(row)) == number)
    window.message_view.selectRow(row)
    message_id = window.message_model.message_id(row)
    qtbot.waitUntil(lambda: window.reader.message_id() == message_id, timeout=2000)


def _pick_folder(qtbot, window: MainWindow, keys: str, text: str) -> None:
    picker = window.bulk_commands.folder_picker
    press(qtbot, window.message_view, keys)
    qtbot.waitUntil(picker.isVisible, timeout=2000)
    qtbot.keyClicks(picker.field, text)
    press(qtbot, picker.field, "Enter")
    assert not picker.isVisible()
    refocus_window(qtbot, window)


def _pick_label(qtbot, window: MainWindow, text: str) -> None:
    picker = window.bulk_commands.label_picker
    press(qtbot, window.message_view, "l")
    qtbot.waitUntil(picker.isVisible, timeout=2000)
    qtbot.keyClicks(picker.field, text)
    press(qtbot, picker.field, "Enter")
    assert not picker.isVisible()
    refocus_window(qtbot, window)


def test_v_moves_to_typed_folder(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select_number(qtbot, window, 2)

    _pick_folder(qtbot, window, "v", "Proj")
    # The status bar reports the move until the send replaces the message.
    assert window.status_panel.message() == "Moved 1 message(s) to Projects — z to undo"
    assert window.message_model.rowCount() == MESSAGE_COUNT - 1
    _send_journal(qtbot, window, profile)

    assert set(_places(direct_client, 2)) == {"Projects"}
    assert set(_places(direct_client, 3)) == {"INBOX"}


def test_z_undoes_move_on_server(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select_number(qtbot, window, 4)
    _pick_folder(qtbot, window, "v", "Projects")
    _send_journal(qtbot, window, profile)
    assert set(_places(direct_client, 4)) == {"Projects"}

    with qtbot.waitSignal(window.folders_refreshed, timeout=30_000):
        press(qtbot, window.message_view, "z")
    _send_journal(qtbot, window, profile)

    assert set(_places(direct_client, 4)) == {"INBOX"}


def test_recent_target_listed_first(qtbot, window: MainWindow, profile: Profile) -> None:
    _select_number(qtbot, window, 1)
    _pick_folder(qtbot, window, "v", "Projects")
    _select_number(qtbot, window, 3)

    press(qtbot, window.message_view, "v")
    picker = window.bulk_commands.folder_picker
    qtbot.waitUntil(picker.isVisible, timeout=2000)

    with Store(profile.store_file) as store:
        stored = {row.name for row in store.folders(ACCOUNT, with_counts=False) if row.selectable}
    assert picker.shown_names()[0] == "Projects"
    assert set(picker.shown_names()) == stored
    assert set(FOLDERS) <= stored
    press(qtbot, picker.field, "Escape")
    assert not picker.isVisible()


def test_l_adds_then_removes_keyword(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select_number(qtbot, window, 1)

    _pick_label(qtbot, window, "project-x")
    _send_journal(qtbot, window, profile)

    assert b"project-x" in _places(direct_client, 1)["INBOX"]
    assert b"project-x" not in _places(direct_client, 2)["INBOX"]

    _select_number(qtbot, window, 1)
    _pick_label(qtbot, window, "project-x")
    _send_journal(qtbot, window, profile)

    assert b"project-x" not in _places(direct_client, 1)["INBOX"]


def test_bang_moves_to_junk(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select_number(qtbot, window, 5)

    press(qtbot, window.message_view, "!")
    _send_journal(qtbot, window, profile)

    places = _places(direct_client, 5)
    assert set(places) == {"Junk"}
    assert b"$Junk" in places["Junk"]
    assert b"$NotJunk" not in places["Junk"]


def test_bang_in_junk_returns_to_inbox(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select_number(qtbot, window, 5)
    press(qtbot, window.message_view, "!")
    _send_journal(qtbot, window, profile)
    with Store(profile.store_file) as store:
        junk = store.folder_by_name(ACCOUNT, "Junk")
    assert junk is not None
    window._open_folder(junk.id)
    qtbot.waitUntil(lambda: window.message_model.rowCount() == 1, timeout=2000)
    _select_number(qtbot, window, 5)

    press(qtbot, window.message_view, "!")
    _send_journal(qtbot, window, profile)

    places = _places(direct_client, 5)
    assert set(places) == {"INBOX"}
    assert b"$NotJunk" in places["INBOX"]
    assert b"$Junk" not in places["INBOX"]


def test_copy_keeps_original(qtbot, window: MainWindow, profile: Profile, direct_client: IMAPClient) -> None:
    _select_number(qtbot, window, 7)

    _pick_folder(qtbot, window, "Shift+v", "Projects")
    assert window.status_panel.message() == "Copied 1 message(s) to Projects — z to undo"
    assert window.message_model.rowCount() == MESSAGE_COUNT
    _send_journal(qtbot, window, profile)

    assert set(_places(direct_client, 7)) == {"INBOX", "Projects"}


def test_apply_rule_touches_selection_only(qtbot, window: MainWindow, profile: Profile,
                                          direct_client: IMAPClient) -> None:
    _select_number(qtbot, window, 3)
    press(qtbot, window.message_view, "x")
    press(qtbot, window.message_view, "Shift+j")
    press(qtbot, window.message_view, "Shift+j")
    chosen = sorted(_number_of(window, message_id) for message_id in window.message_model.selected_ids())
    assert len(chosen) == 3

    press(qtbot, window.message_view, "Shift+r")
    picker = window.bulk_commands.rule_picker
    qtbot.waitUntil(picker.isVisible, timeout=2000)
    qtbot.keyClicks(picker.field, "tag")
    press(qtbot, picker.field, "Enter")
    dialog = window.bulk_commands.rules_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.apply_button.isEnabled, timeout=20_000)
    assert sorted(dialog.plan().steps) == sorted(window.message_model.selected_ids())
    with qtbot.waitSignal(window.rule_commands.store_changed, timeout=20_000):
        dialog.apply_button.click()
    _send_journal(qtbot, window, profile)

    tagged = sorted(number for number in range(MESSAGE_COUNT) if b"triaged" in _places(direct_client, number)["INBOX"])
    assert tagged == chosen
