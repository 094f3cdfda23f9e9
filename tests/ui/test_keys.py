"""Keys in the main window: every default binding, sequences, overrides, problems, the palette and the cheat sheet."""

from __future__ import annotations

import html
import os
import re

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop.commands import COMMANDS, COMMANDS_BY_NAME
from desktop.keymap import load_default_keymap, split_key
from desktop.paths import Profile
from desktop.store import FLAGGED, SEEN, Store
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, build_profile, index_profile, open_main_window

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

_QT_KEYS = {
    "Enter": Qt.Key.Key_Return, "Escape": Qt.Key.Key_Escape, "Tab": Qt.Key.Key_Tab, "Space": Qt.Key.Key_Space,
    "Delete": Qt.Key.Key_Delete,
}
_QT_MODIFIERS = {
    "Ctrl": Qt.KeyboardModifier.ControlModifier, "Alt": Qt.KeyboardModifier.AltModifier,
    "Meta": Qt.KeyboardModifier.MetaModifier, "Shift": Qt.KeyboardModifier.ShiftModifier,
}
UNAVAILABLE = [command.name for command in COMMANDS if not command.available]


def press(qtbot, widget, keys: str) -> None:
    """Press a key sequence in our spelling (``"g i"``, ``"Shift+i"``, ``"#"``) on ``widget``."""
    for key in keys.split():
        modifiers, name = split_key(key)
        flags = Qt.KeyboardModifier.NoModifier
        for modifier in modifiers:
            flags |= _QT_MODIFIERS[modifier]
        if name == "Tab" and "Shift" in modifiers:
            qtbot.keyClick(widget, Qt.Key.Key_Backtab, flags)
        elif name in _QT_KEYS:
            qtbot.keyClick(widget, _QT_KEYS[name], flags)
        elif name.isalpha():
            qtbot.keyClick(widget, getattr(Qt.Key, f"Key_{name.upper()}"), flags)
        else:
            qtbot.keyClick(widget, name, flags)
        if modifiers:
            # QTest leaves the application's modifier state at the last event's, Shift after a
            # Ctrl+Shift click, and the next click (even in the next test) would extend a selection.
            qtbot.keyRelease(widget, Qt.Key.Key_Shift)


def _set_role(profile: Profile, name: str, role: str) -> int:
    with Store(profile.store_file) as store:
        return store.upsert_folder(store.account_id(ACCOUNT), name, special_use=role)


def _stored(profile: Profile, message_id: int):
    with Store(profile.store_file) as store:
        return store.message(message_id)


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    profile = build_profile(tmp_path / "profile")
    _set_role(profile, "Archive", "\\Archive")
    _set_role(profile, "Trash", "\\Trash")
    return profile


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    return open_main_window(qtbot, profile)


def _select_row(qtbot, window: MainWindow, row: int) -> int:
    window.message_view.setFocus()
    window.message_view.selectRow(row)
    message_id = window.message_model.message_id(row)
    qtbot.waitUntil(lambda: window.reader.message_id() == message_id, timeout=2000)
    return message_id


def _show_folder(window: MainWindow, name: str) -> None:
    with Store(window._profile.store_file) as store:
        folder_id = store.folder_by_name(ACCOUNT, name).id
    window.folder_view.setCurrentIndex(window.folder_model.index_of_key(("folder", folder_id)))


# --- every default binding -------------------------------------------------------------------


LIST_BINDINGS = sorted(
    (keys, command) for command, keys_list in load_default_keymap()[0].as_table()["list"].items() for keys in keys_list
)


@pytest.mark.parametrize(("keys", "command"), LIST_BINDINGS)
def test_list_binding_runs_its_command(qtbot, window: MainWindow, keys: str, command: str) -> None:
    # Only the dispatch is under test here; the outcome tests below run the handlers.
    window.key_dispatcher.command_triggered.disconnect(window._on_key_dispatcher_command_triggered)
    _select_row(qtbot, window, 0)

    with qtbot.waitSignal(window.key_dispatcher.command_triggered, timeout=1000) as fired:
        press(qtbot, window.message_view, keys)

    assert fired.args == [command]


def test_every_window_command_has_a_handler(window: MainWindow) -> None:
    handled = set(window._command_handlers())
    handled |= {action.objectName() for action in [*window.folder_commands.actions(), *window.saved_searches.actions()]}

    def composer_only(name: str) -> bool:
        keymap = window.keymap
        return bool(keymap.keys_of("composer", name)) and not keymap.keys_of("list", name) and not keymap.keys_of("reader", name)

    missing = [command.name for command in COMMANDS if command.name not in handled and not composer_only(command.name)]

    assert UNAVAILABLE == []
    assert missing == []


def test_j_k_and_o_move_and_open(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    press(qtbot, window.message_view, "j")
    press(qtbot, window.message_view, "j")
    press(qtbot, window.message_view, "k")
    # The window opens with the cursor on row 0.
    assert window.message_view.currentIndex().row() == 1

    press(qtbot, window.message_view, "j")
    press(qtbot, window.message_view, "o")

    assert window.reader.browser.hasFocus()
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(2), timeout=2000)


def test_u_goes_back_from_reader(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, 0)
    press(qtbot, window.message_view, "Enter")
    assert window.reader.browser.hasFocus()

    press(qtbot, window.reader.browser, "u")

    assert window.message_view.hasFocus()


def test_escape_in_reader_goes_back(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, 0)
    window.reader.browser.setFocus()

    press(qtbot, window.reader.browser, "Escape")

    assert window.message_view.hasFocus()


def test_u_leaves_search(qtbot, window: MainWindow) -> None:
    folder_rows = window.message_model.rowCount()
    window.message_view.setFocus()
    with qtbot.waitSignal(window.search_finished, timeout=5000):
        press(qtbot, window.message_view, "g s")
    assert window.message_model.rowCount() == 1

    press(qtbot, window.message_view, "u")

    assert window.message_model.rowCount() == folder_rows
    assert window.search_field.text() == ""


def test_star_and_read_keys_change_store(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 2)
    assert FLAGGED not in _stored(profile, message_id).flags

    press(qtbot, window.message_view, "s")
    assert FLAGGED in _stored(profile, message_id).flags
    assert window.status_panel.message() == "Starred 1 message(s) — z to undo"

    press(qtbot, window.message_view, "Shift+u")
    assert SEEN not in _stored(profile, message_id).flags

    press(qtbot, window.message_view, "Shift+i")
    assert SEEN in _stored(profile, message_id).flags

    press(qtbot, window.message_view, "s")
    assert FLAGGED not in _stored(profile, message_id).flags


def test_e_archives_and_z_undoes(qtbot, window: MainWindow, profile: Profile) -> None:
    rows_before = window.message_model.rowCount()
    message_id = _select_row(qtbot, window, 0)

    press(qtbot, window.message_view, "e")

    assert _stored(profile, message_id).folder == "Archive"
    assert window.message_model.row_of(message_id) is None
    assert window.message_model.rowCount() == rows_before - 1
    assert window.status_panel.message() == "Archived 1 message(s) — z to undo"
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(0), timeout=2000)

    with qtbot.waitSignal(window.folders_refreshed, timeout=5000):
        press(qtbot, window.message_view, "z")

    assert _stored(profile, message_id).folder == "INBOX"
    assert window.message_model.row_of(message_id) is not None


def test_archive_without_archive_folder_explains(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "plain")
    window = open_main_window(qtbot, profile)
    message_id = _select_row(qtbot, window, 0)

    press(qtbot, window.message_view, "e")

    assert _stored(profile, message_id).folder == "INBOX"
    assert window.status_panel.message().startswith(f"Account {ACCOUNT} has no Archive folder.")
    assert window.status_panel.message_label.property("error") is True


def test_hash_moves_to_trash(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 1)

    press(qtbot, window.message_view, "#")

    assert _stored(profile, message_id).folder == "Trash"
    assert window.status_panel.message() == "Moved 1 message(s) to Trash — z to undo"


def test_hash_in_trash_deletes_for_good(qtbot, window: MainWindow, profile: Profile) -> None:
    from tests.ui.test_select import ConfirmationAnswer

    message_id = _select_row(qtbot, window, 1)
    press(qtbot, window.message_view, "#")
    _show_folder(window, "Trash")
    _select_row(qtbot, window, 0)

    answer = ConfirmationAnswer(QMessageBox.StandardButton.Ok)
    try:
        press(qtbot, window.message_view, "#")
    finally:
        answer.stop()

    assert answer.texts == ["Delete 1 message(s) for good?"]
    assert _stored(profile, message_id) is None
    assert window.status_panel.message() == "Deleted 1 message(s) for good"


# A popup menu on the offscreen platform warns that it cannot raise itself or grab the keyboard.
@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, "does not support raise", "does not support grabbing the keyboard")
def test_dot_shows_more_actions(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, 0)

    press(qtbot, window.message_view, ".")

    qtbot.waitUntil(lambda: window.more_menu.isVisible(), timeout=2000)
    texts = [action.text() for action in window.more_menu.actions()]
    assert "Archive" in texts
    assert "Reply" in texts
    for text in ("Move to…", "Copy to…", "Label…", "Report spam", "Apply rule to selection…"):
        assert text in texts
    window.more_menu.close()


def test_g_i_goes_to_inbox(qtbot, window: MainWindow) -> None:
    _show_folder(window, "Archive")
    assert window.message_model.message(0).folder == "Archive"
    window.message_view.setFocus()

    press(qtbot, window.message_view, "g i")

    assert window.message_model.message(0).folder == "INBOX"


def test_g_a_goes_to_archive(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "g a")

    assert window.message_model.message(0).folder == "Archive"


def test_g_t_without_sent_explains(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "g t")

    assert window.status_panel.message() == f"Account {ACCOUNT} has no Sent folder."


def test_slash_focuses_search(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "/")

    assert window.search_field.hasFocus()


def test_ctrl_q_closes_window(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "Ctrl+q")

    assert not window.isVisible()


# --- text fields ----------------------------------------------------------------------------------


def test_keys_type_in_search_field(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    before = _stored(profile, message_id)
    window.search_field.setFocus()

    for keys in ("e", "#", "s", "x", "g", "i", "Shift+i", "z", "?", "."):
        press(qtbot, window.search_field, keys)

    # QTest types a lower-case letter for Shift+i, where a keyboard would type "I".
    assert window.search_field.text().casefold() == "e#sxgiiz?."
    assert _stored(profile, message_id) == before
    assert not window.key_dispatcher.hint.isVisible()
    assert not window.cheat_sheet.isVisible()
    assert window.search_field.hasFocus()


def test_ctrl_z_in_search_field_edits_text(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    press(qtbot, window.message_view, "e")
    assert _stored(profile, message_id).folder == "Archive"
    window.search_field.setFocus()
    qtbot.keyClicks(window.search_field, "abc")

    press(qtbot, window.search_field, "Ctrl+z")

    assert window.search_field.text() != "abc"
    assert _stored(profile, message_id).folder == "Archive"


def test_chord_runs_from_search_field(qtbot, window: MainWindow) -> None:
    window.search_field.setFocus()

    press(qtbot, window.search_field, "Ctrl+k")

    qtbot.waitUntil(window.palette.isVisible, timeout=2000)
    window.palette.reject()


def test_folder_tree_keeps_tab(qtbot, window: MainWindow) -> None:
    window.folder_view.setFocus()

    with qtbot.assertNotEmitted(window.key_dispatcher.command_triggered):
        press(qtbot, window.folder_view, "Tab")

    assert not window.folder_view.hasFocus()


# --- sequences ------------------------------------------------------------------------------------


def test_first_key_shows_hint(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "*")

    hint = window.key_dispatcher.hint
    assert hint.isVisible()
    for text in ("Select all", "Select none", "Select read", "Select unread"):
        assert text in hint.text()


def test_escape_cancels_sequence(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    press(qtbot, window.message_view, "g")

    with qtbot.assertNotEmitted(window.key_dispatcher.command_triggered):
        press(qtbot, window.message_view, "Escape")
        press(qtbot, window.message_view, "i")

    assert not window.key_dispatcher.hint.isVisible()
    assert window.key_dispatcher.matcher.pending == ()


def test_sequence_times_out(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    press(qtbot, window.message_view, "g")
    assert window.key_dispatcher.hint.isVisible()

    qtbot.waitUntil(lambda: not window.key_dispatcher.hint.isVisible(), timeout=5000)

    assert window.key_dispatcher.matcher.pending == ()


def test_unbound_sequence_is_reported(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "g q")

    assert window.status_panel.message() == "No command is bound to g q."


# --- overrides and problems -------------------------------------------------------------------


def test_profile_keys_override_defaults(qtbot, profile: Profile) -> None:
    (profile.config_dir / "keys.toml").write_text('[list]\narchive = "y"\n', encoding="utf-8")
    window = open_main_window(qtbot, profile)
    message_id = _select_row(qtbot, window, 0)

    press(qtbot, window.message_view, "e")
    assert _stored(profile, message_id).folder == "INBOX"

    press(qtbot, window.message_view, "y")
    assert _stored(profile, message_id).folder == "Archive"
    assert window.actions_by_name["archive"].shortcut().toString() == "Y"


def test_invalid_bindings_reported_in_status(qtbot, profile: Profile, caplog: pytest.LogCaptureFixture) -> None:
    path = profile.config_dir / "keys.toml"
    path.write_text('[list]\n# mine\narchve = "y"\ndelete = "g"\n', encoding="utf-8")

    window = open_main_window(qtbot, profile)

    message = window.status_panel.message()
    assert message.startswith("2 problem(s) in the key bindings; the default keys stay in force")
    assert f"{path}:3: unknown command 'archve'. Did you mean 'archive'?" in message
    tooltip = html.unescape(window.status_panel.message_label.toolTip())
    assert f"{path}:4: delete: 'g' is the start of" in tooltip
    log_text = window.log_view.toPlainText()
    assert f"{path}:3:" in log_text
    assert f"{path}:4:" in log_text
    assert window.keymap.keys_of("list", "delete") == ["#"]
    assert any("Key binding problem" in record.message for record in caplog.records)


# --- palette and cheat sheet ----------------------------------------------------------------------


def test_palette_writes_shifted_letters_upper(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, 0)
    press(qtbot, window.message_view, "Ctrl+k")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)

    keys = [item.keys for item in window.palette.shown_items() if item.kind == "command" and item.keys]

    assert any("Shift+J" in text for text in keys), keys
    assert not any(re.search(r"(Shift|Ctrl|Alt)\+[a-z]\b", text) for text in keys), keys


def test_palette_filters_and_runs_command(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)

    press(qtbot, window.message_view, "Ctrl+k")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)
    qtbot.keyClicks(window.palette.field, "archiv")

    shown = window.palette.shown_items()
    assert shown[0].title == "Archive"
    assert shown[0].keys == "e"
    assert {item.kind for item in shown} >= {"command", "folder"}

    qtbot.keyClick(window.palette.field, Qt.Key.Key_Return)

    assert not window.palette.isVisible()
    assert _stored(profile, message_id).folder == "Archive"


def test_palette_opens_folder(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    press(qtbot, window.message_view, "Ctrl+k")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)

    qtbot.keyClicks(window.palette.field, "python")
    assert window.palette.current_item().kind == "folder"
    qtbot.keyClick(window.palette.field, Qt.Key.Key_Return)

    assert window.message_model.message(0).folder == "Lists/python"


def test_palette_escape_closes(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    press(qtbot, window.message_view, "Ctrl+k")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)

    qtbot.keyClick(window.palette.field, Qt.Key.Key_Escape)

    assert not window.palette.isVisible()


def test_palette_arrow_keys_move(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    press(qtbot, window.message_view, "Ctrl+k")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)
    first, second = window.palette.shown_items()[:2]

    qtbot.keyClick(window.palette.field, Qt.Key.Key_Down)
    assert window.palette.current_item() == second
    qtbot.keyClick(window.palette.field, Qt.Key.Key_Up)
    assert window.palette.current_item() == first
    window.palette.reject()


def test_palette_finds_label(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "labels")
    with Store(profile.store_file) as store:
        labelled = store.message_ids([store.folder_by_name(ACCOUNT, "INBOX").id])[0]
        store.change_flags([labelled], add=["project-x", "$Forwarded"])
        index_profile(profile, store)
    window = open_main_window(qtbot, profile)

    window.message_view.setFocus()
    press(qtbot, window.message_view, "g l")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)
    kinds = {item.kind for item in window.palette.shown_items()}
    assert kinds == {"folder", "label"}
    titles = [item.title for item in window.palette.shown_items() if item.kind == "label"]
    assert titles == ["project-x"]

    qtbot.keyClicks(window.palette.field, "projx")
    with qtbot.waitSignal(window.search_finished, timeout=5000) as found:
        qtbot.keyClick(window.palette.field, Qt.Key.Key_Return)

    assert found.args == [1]
    assert window.message_model.message_id(0) == labelled


def test_question_mark_shows_cheat_sheet(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()

    press(qtbot, window.message_view, "?")

    qtbot.waitUntil(window.cheat_sheet.isVisible, timeout=2000)
    text = window.cheat_sheet.text()
    for command in COMMANDS:
        assert command.text in text, command.name
    for keys in ("* a", "g i", "Shift+I", "Ctrl+K", "Ctrl+Enter"):
        assert keys in text
    window.cheat_sheet.close()


def test_menus_show_keys(window: MainWindow) -> None:
    assert window.actions_by_name["archive"].shortcut().toString() == "E"
    assert window.actions_by_name["go-inbox"].shortcut().toString() == "G, I"
    assert window.actions_by_name["mark-read"].shortcut().toString() == "Shift+I"
    menu_texts = [action.text() for action in window.menuBar().actions()]
    assert menu_texts[:4] == ["&Mail", "&Edit", "M&essage", "&Go"]


def test_every_command_has_action(window: MainWindow) -> None:
    for command in COMMANDS:
        assert window.actions_by_name[command.name].text(), command.name
    assert set(window.actions_by_name) >= set(COMMANDS_BY_NAME)
