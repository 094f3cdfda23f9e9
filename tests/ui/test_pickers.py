"""The folder, rule and label pickers, and the bulk commands on a local account.

A local account keeps every change in the store, so these tests read the
outcome from the store; tests/ui/test_bulk_commands_server.py checks the
server side against Dovecot.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop.config import Account, load_config, save_config
from desktop.paths import Profile, profile_at
from desktop.mail.parse import parse_summary
from desktop.store import NewMessage, Store
from desktop.ui.main_window import MainWindow
from desktop.ui.pickers import Choice, ChoiceModel, keyword_problem
from desktop.ui.selection import MOVE_CONFIRM_THRESHOLD
from tests.ui.fixtures_ui import (
    ACCOUNT,
    OFFSCREEN_NOISE,
    START,
    SampleMessage,
    build_profile,
    fill_large_folder,
    open_main_window,
    raw_message,
)
from tests.ui.test_keys import _select_row, _set_role, press
from tests.ui.test_select import ConfirmationAnswer

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    profile = build_profile(tmp_path / "profile")
    _set_role(profile, "Archive", "\\Archive")
    return profile


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    return open_main_window(qtbot, profile)


def _row(profile: Profile, message_id: int):
    with Store(profile.store_file) as store:
        return store.message(message_id)


def test_choice_model_passes_modeltester(qtmodeltester) -> None:
    model = ChoiceModel()
    model.set_rows([Choice("INBOX"), Choice("work", "on some", Qt.CheckState.PartiallyChecked),
                    Choice("new-one", "new label", Qt.CheckState.Unchecked, new=True)])

    qtmodeltester.check(model)

    assert model.data(model.index(1, 0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.PartiallyChecked
    assert model.data(model.index(0, 0), Qt.ItemDataRole.CheckStateRole) is None


@pytest.mark.parametrize(("name", "named"), [("a b", "space"), ("x]", "]"), ("(y", "("), ("a*", "*"),
                                             ("café", "U+00E9"), ("", "needs a name")])
def test_keyword_problem_names_character(name: str, named: str) -> None:
    assert named in keyword_problem(name)


@pytest.mark.parametrize("name", ["$label", "project-x", "Work_2026", "a.b"])
def test_keyword_problem_accepts_atoms(name: str) -> None:
    assert keyword_problem(name) == ""


def test_folder_picker_ignores_list_keys(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    before = _row(profile, message_id)
    count = window.message_model.rowCount()
    picker = window.bulk_commands.folder_picker
    press(qtbot, window.message_view, "v")
    qtbot.waitUntil(picker.isVisible, timeout=2000)

    qtbot.keyClicks(picker.field, "je#x")

    assert picker.field.text() == "je#x"
    assert picker.isVisible()
    assert window.message_model.rowCount() == count
    assert _row(profile, message_id) == before
    assert "Nothing matches" in picker.message.text()
    press(qtbot, picker.field, "Escape")
    assert not picker.isVisible()
    assert _row(profile, message_id) == before


def test_folder_picker_filters_and_moves(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    picker = window.bulk_commands.folder_picker
    press(qtbot, window.message_view, "v")
    qtbot.waitUntil(picker.isVisible, timeout=2000)

    qtbot.keyClicks(picker.field, "pyth")
    assert picker.shown_names() == ["Lists/python"]
    press(qtbot, picker.field, "Enter")

    assert _row(profile, message_id).folder == "Lists/python"
    assert window.message_model.row_of(message_id) is None
    assert window.status_panel.message() == "Moved 1 message(s) to Lists/python — z to undo"


def test_label_picker_shows_partial_state(qtbot, window: MainWindow, profile: Profile) -> None:
    first = window.message_model.message_id(0)
    with Store(profile.store_file) as store:
        store.change_flags([first], add=["work"])
    window.message_view.setFocus()
    press(qtbot, window.message_view, "x")
    press(qtbot, window.message_view, "Shift+j")
    selected = window.message_model.selected_ids()
    assert len(selected) == 2
    picker = window.bulk_commands.label_picker

    press(qtbot, window.message_view, "l")
    qtbot.waitUntil(picker.isVisible, timeout=2000)

    assert picker.shown_names() == ["work"]
    assert picker.model.data(picker.model.index(0, 0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.PartiallyChecked
    # Space toggles a partial label to all; Enter then applies without toggling again.
    press(qtbot, picker.field, "Space")
    assert picker.field.text() == ""
    press(qtbot, picker.field, "Enter")
    for message_id in selected:
        assert "work" in _row(profile, message_id).flags


def test_label_picker_rejects_bad_name(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    before = _row(profile, message_id)
    picker = window.bulk_commands.label_picker
    press(qtbot, window.message_view, "l")
    qtbot.waitUntil(picker.isVisible, timeout=2000)

    qtbot.keyClicks(picker.field, "bad]name")
    press(qtbot, picker.field, "Enter")

    assert picker.isVisible()
    assert "character ]" in picker.message.text()
    assert picker.shown_names() == []
    press(qtbot, picker.field, "Escape")
    assert _row(profile, message_id) == before


def test_label_then_z_restores(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    picker = window.bulk_commands.label_picker
    press(qtbot, window.message_view, "l")
    qtbot.waitUntil(picker.isVisible, timeout=2000)
    qtbot.keyClicks(picker.field, "later")
    press(qtbot, picker.field, "Enter")
    assert "later" in _row(profile, message_id).flags
    assert window.status_panel.message() == "Changed the labels of 1 message(s) (+later) — z to undo"

    window.activateWindow()
    window.message_view.setFocus()
    with qtbot.waitSignal(window.folders_refreshed, timeout=10_000):
        press(qtbot, window.message_view, "z")

    assert "later" not in _row(profile, message_id).flags


def test_spam_without_junk_names_account(qtbot, window: MainWindow, profile: Profile) -> None:
    message_id = _select_row(qtbot, window, 0)
    before = _row(profile, message_id)

    press(qtbot, window.message_view, "!")

    assert f"Account {ACCOUNT} has no Junk folder" in window.status_panel.message()
    assert _row(profile, message_id) == before


def test_move_across_accounts_names_missing(qtbot, profile: Profile) -> None:
    config = load_config(profile.config_file)
    config.accounts["second"] = Account(name="second", kind="local")
    save_config(config, profile.config_file)
    with Store(profile.store_file) as store:
        folder = store.upsert_folder(store.ensure_account("second", "local"), "INBOX")
        raw = raw_message(SampleMessage("Second account", "Dan <dan@example.org>", "Hello."), START)
        other = store.insert_messages(folder, [NewMessage(uid=1, flags=[], size=len(raw), raw=raw,
                                                          summary=parse_summary(raw))])[0]
        first = store.message_ids([store.folder_by_name(ACCOUNT, "INBOX").id])[0]
    window = open_main_window(qtbot, profile)

    moved = window.bulk_commands.move_to([first, other], "Archive")

    assert not moved
    assert "Folder Archive does not exist in account second" in window.status_panel.message()
    assert _row(profile, first).folder == "INBOX"
    assert _row(profile, other).folder == "INBOX"

    with Store(profile.store_file) as store:
        second_archive = store.upsert_folder(store.account_id("second"), "Archive")

    assert window.bulk_commands.move_to([first, other], "Archive")
    assert (_row(profile, first).account, _row(profile, first).folder) == (ACCOUNT, "Archive")
    assert _row(profile, other).folder_id == second_archive


def test_move_undone_after_restart(qtbot, profile: Profile) -> None:
    window = open_main_window(qtbot, profile)
    message_id = _select_row(qtbot, window, 0)
    window.bulk_commands.move_to([message_id], "Lists/python")
    assert _row(profile, message_id).folder == "Lists/python"
    window.close()

    reopened = open_main_window(qtbot, profile)
    reopened.message_view.setFocus()
    with qtbot.waitSignal(reopened.folders_refreshed, timeout=10_000):
        press(qtbot, reopened.message_view, "z")

    assert _row(profile, message_id).folder == "INBOX"


def test_apply_rule_without_rules_explains(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, 0)

    window.run_command("apply-rule")

    assert "No active rules" in window.status_panel.message()
    assert not window.bulk_commands.rule_picker.isVisible()


@pytest.mark.parametrize(("button", "moved"), [(QMessageBox.StandardButton.Cancel, False),
                                               (QMessageBox.StandardButton.Ok, True)])
def test_large_move_asks_once(qtbot, tmp_path: Path, button: QMessageBox.StandardButton, moved: bool) -> None:
    profile = profile_at(tmp_path / "large")
    count = MOVE_CONFIRM_THRESHOLD + 100
    fill_large_folder(profile, count)
    with Store(profile.store_file) as store:
        projects = store.upsert_folder(store.account_id(ACCOUNT), "Projects")
    window = open_main_window(qtbot, profile)
    window.message_view.setFocus()
    press(qtbot, window.message_view, "* a")
    assert window.message_model.selection_count() == count
    picker = window.bulk_commands.folder_picker
    press(qtbot, window.message_view, "v")
    qtbot.waitUntil(picker.isVisible, timeout=2000)
    qtbot.keyClicks(picker.field, "Projects")
    answer = ConfirmationAnswer(button)
    try:
        press(qtbot, picker.field, "Enter")
    finally:
        answer.stop()
    # A move of this size changes the store on the store queue's worker.
    qtbot.waitUntil(lambda: not window.bulk_sender.store_queue.is_busy(), timeout=20_000)

    assert answer.texts == [f"Move {count} message(s) to Projects?"]
    with Store(profile.store_file) as store:
        assert len(store.message_ids([projects])) == (count if moved else 0)
