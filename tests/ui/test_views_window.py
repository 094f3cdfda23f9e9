"""The unified inbox, saved searches as folders and as lanes, in the window over two local accounts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from desktop.config import Account, Config, save_config
from desktop.mail.parse import parse_summary
from desktop.paths import Profile, profile_at
from desktop.store import SEEN, NewMessage, Store
from desktop.store.lanes import ALL_LANES, NO_LANE
from desktop.ui.folder_tree import (
    NODE_KEY_ROLE,
    SAVED_SEARCH_ROLE,
    SAVED_SEARCHES_KEY,
    UNIFIED_INBOX_KEY,
    FolderTreeModel,
    saved_search_key,
)
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import FOLDER
from desktop.views import SavedSearch, load_searches, save_searches, search_lane, searches_file
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, START, SampleMessage, index_profile, open_main_window, raw_message

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

RESULT_TIMEOUT_MS = 10_000

# (account, folder, sample), oldest first: the accounts' messages interleave by date.
MAIL = [
    ("home", "INBOX", SampleMessage("Budget for the house", "Ana Lima <ana@example.org>", "Roof and windows.")),
    ("work", "INBOX", SampleMessage("Budget review", "Ana Lima <ana@example.org>", "Numbers for Q4.")),
    ("home", "INBOX", SampleMessage("Holiday photos", "Ben Okafor <ben@example.org>", "From the beach.", seen=True)),
    ("work", "INBOX", SampleMessage("Server maintenance", "Ops <ops@example.org>", "Restart at 22:00.")),
    ("work", "Archive", SampleMessage("Old budget", "Ana Lima <ana@example.org>", "Last year.", seen=True)),
    ("home", "INBOX", SampleMessage("Weekly newsletter", "News <news@example.org>", "This week.")),
]


def build_two_accounts(home: Path) -> Profile:
    """Create a profile with local accounts "home" and "work", each with INBOX and an Archive folder."""
    profile = profile_at(home).ensure()
    save_config(Config(accounts={name: Account(name=name, kind="local") for name in ("home", "work")}),
                profile.config_file)
    with Store(profile.store_file) as store:
        folders = {}
        for account in ("home", "work"):
            account_id = store.ensure_account(account, "local")
            folders[account, "INBOX"] = store.upsert_folder(account_id, "INBOX")
            folders[account, "Archive"] = store.upsert_folder(account_id, "Archive", special_use="\\Archive")
        for number, (account, folder, sample) in enumerate(MAIL):
            raw = raw_message(sample, START + timedelta(hours=number))
            message = NewMessage(uid=number + 1, flags=[SEEN] if sample.seen else [], size=len(raw), raw=raw,
                                 summary=parse_summary(raw))
            store.insert_messages(folders[account, folder], [message])
        index_profile(profile, store)
    return profile


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return build_two_accounts(tmp_path / "profile")


def wait_for_results(qtbot, window: MainWindow) -> None:
    """Wait until no run of the saved searches is going on and the results of the last one are in."""
    qtbot.waitUntil(lambda: not window.saved_searches.is_running(), timeout=RESULT_TIMEOUT_MS)


def _subjects(window: MainWindow) -> list[str]:
    return [window.message_model.message(row).subject for row in range(window.message_model.rowCount())]


def _accounts(window: MainWindow) -> set[str]:
    return {window.message_model.message(row).account for row in range(window.message_model.rowCount())}


def _select_key(window: MainWindow, key: object) -> None:
    index = window.folder_model.index_of_key(key)
    assert index.isValid(), f"no tree node {key!r}"
    window.folder_view.setCurrentIndex(index)


def _folder_id(profile: Profile, account: str, name: str) -> int:
    with Store(profile.store_file) as store:
        return store.folder_by_name(account, name).id


def _stored(profile: Profile, message_id: int):
    with Store(profile.store_file) as store:
        return store.message(message_id)


def _tab_texts(window: MainWindow) -> list[str]:
    return [window.lane_tabs.tabText(index) for index in range(window.lane_tabs.count())]


# --- the tree -------------------------------------------------------------------------------------------


def test_tree_starts_with_unified_inbox(qtbot, profile: Profile) -> None:
    window = open_main_window(qtbot, profile)
    first = window.folder_model.index(0, 0)

    assert first.data(NODE_KEY_ROLE) == UNIFIED_INBOX_KEY
    assert first.data() == "Unified inbox (4)"
    assert "home, work" in first.data(Qt.ItemDataRole.ToolTipRole)
    assert not window.folder_model.index_of_key(SAVED_SEARCHES_KEY).isValid()


def test_one_account_has_no_unified_inbox(qtbot, tmp_path: Path) -> None:
    from tests.ui.fixtures_ui import build_profile

    window = open_main_window(qtbot, build_profile(tmp_path / "single"))

    assert not window.folder_model.unified_inbox_index().isValid()
    window.run_command("go-unified-inbox")
    assert "two or more accounts" in window.status_panel.message()


def test_tree_lists_saved_searches_last(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ana", "from:ana"), SavedSearch("Ops", "from:ops")])
    window = open_main_window(qtbot, profile)
    model = window.folder_model
    section = model.index(model.rowCount() - 1, 0)

    assert section.data(NODE_KEY_ROLE) == SAVED_SEARCHES_KEY
    assert [model.index(row, 0, section).data() for row in range(model.rowCount(section))] == ["Ana", "Ops"]
    assert model.index(0, 0, section).data(SAVED_SEARCH_ROLE) == SavedSearch("Ana", "from:ana")
    assert window.folder_view.isExpanded(section)


def test_folder_tree_model_passes_modeltester(qtmodeltester, profile: Profile) -> None:
    with Store(profile.store_file) as store:
        folders = store.folders()
    model = FolderTreeModel()
    model.set_saved_searches([SavedSearch("Ana", "from:ana", lane=True)])
    model.set_folders(folders, ["home", "work"])

    qtmodeltester.check(model, force_py=True)

    model.set_saved_searches([SavedSearch("Ops", "from:ops"), SavedSearch("Ana", "from:ana")])
    qtmodeltester.check(model, force_py=True)
    assert model.index(0, 0).data(NODE_KEY_ROLE) == UNIFIED_INBOX_KEY


def test_file_problem_shown_at_start(qtbot, profile: Profile) -> None:
    searches_file(profile.config_dir).write_text('[[search]]\nname = "Bad"\nquery = "is:sleepy"\n', encoding="utf-8")

    window = open_main_window(qtbot, profile)

    assert "1 problem(s) in the saved searches" in window.status_panel.message()
    assert "searches.toml:3:" in window.status_panel.message()
    assert "term 'is:sleepy'" in window.log_view.toPlainText()


# --- the unified inbox ----------------------------------------------------------------------------------


def test_unified_inbox_lists_both_accounts(qtbot, profile: Profile) -> None:
    window = open_main_window(qtbot, profile)

    window.run_command("go-unified-inbox")

    assert window.folder_view.currentIndex().data(NODE_KEY_ROLE) == UNIFIED_INBOX_KEY
    assert _subjects(window) == ["Weekly newsletter", "Server maintenance", "Holiday photos", "Budget review",
                                 "Budget for the house"]
    assert _accounts(window) == {"home", "work"}
    assert not window.message_view.isColumnHidden(FOLDER)
    assert window.message_model.data(window.message_model.index(1, FOLDER)) == "work/INBOX"


def test_archive_from_unified_inbox_uses_own_account(qtbot, profile: Profile) -> None:
    window = open_main_window(qtbot, profile)
    window.run_command("go-unified-inbox")
    rows = {window.message_model.message(row).subject: row for row in range(window.message_model.rowCount())}
    window.message_model.set_rows_selected([rows["Budget review"], rows["Budget for the house"]], True)
    chosen = window.message_model.selected_ids()

    window.run_command("archive")

    places = {(_stored(profile, message_id).account, _stored(profile, message_id).folder) for message_id in chosen}
    assert places == {("work", "Archive"), ("home", "Archive")}
    assert _subjects(window) == ["Weekly newsletter", "Server maintenance", "Holiday photos"]
    assert "Archived 2 message(s)" in window.status_panel.message()


def test_go_inbox_stays_in_account(qtbot, profile: Profile) -> None:
    window = open_main_window(qtbot, profile)
    window.run_command("go-unified-inbox")
    window.message_view.selectRow(1)
    qtbot.waitUntil(lambda: window.reader.message_id() is not None, timeout=2000)

    window.run_command("go-inbox")

    assert _accounts(window) == {"work"}
    assert window.message_view.isColumnHidden(FOLDER)


# --- saved searches as folders ------------------------------------------------------------------------


def test_saved_search_lists_both_accounts(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Budget", "budget")])
    window = open_main_window(qtbot, profile)
    wait_for_results(qtbot, window)

    _select_key(window, saved_search_key("Budget"))

    assert _subjects(window) == ["Old budget", "Budget review", "Budget for the house"]
    assert _accounts(window) == {"home", "work"}
    assert not window.message_view.isColumnHidden(FOLDER)
    assert not window.lane_tabs.isVisible()


def test_saved_search_follows_archive(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Inbox budget", "budget in:INBOX")])
    window = open_main_window(qtbot, profile)
    wait_for_results(qtbot, window)
    _select_key(window, saved_search_key("Inbox budget"))
    assert _subjects(window) == ["Budget review", "Budget for the house"]

    window.message_view.selectRow(0)
    with qtbot.waitSignal(window.saved_searches.results_changed, timeout=RESULT_TIMEOUT_MS):
        window.run_command("archive")

    assert _subjects(window) == ["Budget for the house"]


def test_saved_search_reruns_after_sync(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ops", "from:ops")])
    window = open_main_window(qtbot, profile)
    wait_for_results(qtbot, window)
    _select_key(window, saved_search_key("Ops"))
    assert _subjects(window) == ["Server maintenance"]
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name("home", "INBOX").id
        raw = raw_message(SampleMessage("Disk almost full", "Ops <ops@example.org>", "Clean up."), START + timedelta(days=1))
        store.insert_messages(inbox, [NewMessage(uid=99, flags=[], size=len(raw), raw=raw, summary=parse_summary(raw))])

    # New mail from a sync or the watch reaches the window through the same refresh.
    with qtbot.waitSignal(window.saved_searches.results_changed, timeout=RESULT_TIMEOUT_MS):
        window._refresh_after_sync()

    assert _subjects(window) == ["Disk almost full", "Server maintenance"]


def test_save_search_from_search_field(qtbot, profile: Profile) -> None:
    window = open_main_window(qtbot, profile)
    window.search_field.setText("from:ana in:INBOX")

    window.run_command("save-search")
    dialog = window.saved_searches.dialog
    assert dialog is not None
    assert dialog.query_field.text() == "from:ana in:INBOX"
    dialog.name_field.setText("Ana in inbox")
    with qtbot.waitSignal(window.saved_searches.results_changed, timeout=RESULT_TIMEOUT_MS):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    assert load_searches(searches_file(profile.config_dir)) == ([SavedSearch("Ana in inbox", "from:ana in:INBOX")], [])
    assert window.folder_view.currentIndex().data(NODE_KEY_ROLE) == saved_search_key("Ana in inbox")
    assert _subjects(window) == ["Budget review", "Budget for the house"]


def test_dialog_rejects_invalid_query(qtbot, profile: Profile) -> None:
    window = open_main_window(qtbot, profile)
    window.search_field.setText("from:ana is:sleepy")
    window.run_command("save-search")
    dialog = window.saved_searches.dialog
    dialog.name_field.setText("Broken")

    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    assert dialog.isVisible()
    assert "term 'is:sleepy'" in dialog.error_label.text()
    assert not searches_file(profile.config_dir).exists()


def test_edit_renames_and_changes_query(qtbot, profile: Profile) -> None:
    path = searches_file(profile.config_dir)
    save_searches(path, [SavedSearch("Ana", "from:ana"), SavedSearch("Ops", "from:ops")])
    window = open_main_window(qtbot, profile)
    wait_for_results(qtbot, window)
    _select_key(window, saved_search_key("Ana"))

    window.run_command("edit-saved-search")
    dialog = window.saved_searches.dialog
    dialog.name_field.setText("News")
    dialog.query_field.setText("from:news")
    with qtbot.waitSignal(window.saved_searches.results_changed, timeout=RESULT_TIMEOUT_MS):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    assert load_searches(path) == ([SavedSearch("News", "from:news"), SavedSearch("Ops", "from:ops")], [])
    assert window.folder_view.currentIndex().data(NODE_KEY_ROLE) == saved_search_key("News")
    assert not window.folder_model.index_of_key(saved_search_key("Ana")).isValid()
    assert _subjects(window) == ["Weekly newsletter"]


def test_edit_keeps_change_made_outside(qtbot, profile: Profile) -> None:
    path = searches_file(profile.config_dir)
    save_searches(path, [SavedSearch("Ana", "from:ana")])
    window = open_main_window(qtbot, profile)
    _select_key(window, saved_search_key("Ana"))
    save_searches(path, [SavedSearch("Ana", "from:ana"), SavedSearch("Added in an editor", "from:ben")])

    window.run_command("edit-saved-search")
    dialog = window.saved_searches.dialog
    dialog.lane_box.setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()

    assert load_searches(path)[0] == [SavedSearch("Ana", "from:ana", lane=True), SavedSearch("Added in an editor", "from:ben")]


def test_delete_asks_then_removes(qtbot, profile: Profile) -> None:
    path = searches_file(profile.config_dir)
    save_searches(path, [SavedSearch("Ana", "from:ana"), SavedSearch("Ops", "from:ops")])
    window = open_main_window(qtbot, profile)
    _select_key(window, saved_search_key("Ops"))
    window.run_command("edit-saved-search")

    window.saved_searches.dialog.delete_button.click()
    box = window.saved_searches.confirm_box
    assert box is not None
    assert "Ops" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert load_searches(path)[0] == [SavedSearch("Ana", "from:ana"), SavedSearch("Ops", "from:ops")]

    window.saved_searches.delete_action.trigger()
    window.saved_searches.confirm_box.button(QMessageBox.StandardButton.Yes).click()

    assert load_searches(path) == ([SavedSearch("Ana", "from:ana")], [])
    assert not window.folder_model.index_of_key(saved_search_key("Ops")).isValid()
    assert "deleted" in window.status_panel.message()


def test_change_refused_while_file_has_problem(qtbot, profile: Profile) -> None:
    path = searches_file(profile.config_dir)
    save_searches(path, [SavedSearch("Ana", "from:ana")])
    window = open_main_window(qtbot, profile)
    broken = path.read_text(encoding="utf-8") + '\n[[search]]\nname = "Bad"\nquery = "is:sleepy"\n'
    path.write_text(broken, encoding="utf-8")

    window.run_command("save-search")

    assert window.saved_searches.dialog is None
    assert "has a problem; fix it first" in window.status_panel.message()
    assert path.read_text(encoding="utf-8") == broken


def test_context_menu_offers_edit_on_saved_node(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ana", "from:ana")])
    window = open_main_window(qtbot, profile)
    saved = window.folder_model.index_of_key(saved_search_key("Ana"))
    inbox = window.folder_model.index_of_key(("folder", _folder_id(profile, "home", "INBOX")))

    saved_menu = window.saved_searches.context_menu_at(window.folder_view.visualRect(saved).center())
    folder_menu = window.saved_searches.context_menu_at(window.folder_view.visualRect(inbox).center())

    assert [action.objectName() for action in saved_menu.actions() if action.objectName()] == [
        "edit-saved-search", "delete-saved-search", "save-search"]
    assert [action.objectName() for action in folder_menu.actions()] == ["new-folder", "rename-folder", "delete-folder"]
    assert window.saved_searches.context_menu_at(QPoint(5, 5000)) is None


# --- lanes and the palette ------------------------------------------------------------------------------


def test_search_lane_tab_shows_count(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ana", "from:ana", lane=True),
                                                      SavedSearch("Not a lane", "from:ops")])
    window = open_main_window(qtbot, profile)
    window.run_command("go-unified-inbox")
    wait_for_results(qtbot, window)

    assert window.lane_tabs.isVisible()
    assert _tab_texts(window) == ["All (5)", "Ana (2)", "Other (3)"]
    assert window.lane_tabs.lanes() == [ALL_LANES, search_lane("Ana"), NO_LANE]

    window.run_command("next-lane")
    assert _subjects(window) == ["Budget review", "Budget for the house"]
    window.run_command("next-lane")
    assert _subjects(window) == ["Weekly newsletter", "Server maintenance", "Holiday photos"]


def test_search_lane_only_in_inbox(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ana", "from:ana", lane=True)])
    window = open_main_window(qtbot, profile)
    wait_for_results(qtbot, window)

    _select_key(window, ("folder", _folder_id(profile, "work", "INBOX")))
    assert _tab_texts(window) == ["All (2)", "Ana (1)", "Other (1)"]

    _select_key(window, ("folder", _folder_id(profile, "work", "Archive")))
    assert not window.lane_tabs.isVisible()
    assert _subjects(window) == ["Old budget"]


def test_lane_count_follows_archive(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ana", "from:ana", lane=True)])
    window = open_main_window(qtbot, profile)
    window.run_command("go-unified-inbox")
    wait_for_results(qtbot, window)
    window.lane_tabs.select_lane(search_lane("Ana"))
    window.message_view.selectRow(0)

    with qtbot.waitSignal(window.saved_searches.results_changed, timeout=RESULT_TIMEOUT_MS):
        window.run_command("archive")

    assert _tab_texts(window) == ["All (4)", "Ana (1)", "Other (3)"]
    assert _subjects(window) == ["Budget for the house"]


def test_palette_opens_saved_search(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ops alerts", "from:ops"),
                                                      SavedSearch("Ana", "from:ana")])
    window = open_main_window(qtbot, profile)
    wait_for_results(qtbot, window)
    window.message_view.setFocus()

    window.run_command("command-palette")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)
    qtbot.keyClicks(window.palette.field, "ops alerts")
    assert window.palette.current_item().kind == "saved"
    assert window.palette.current_item().detail == "from:ops"
    qtbot.keyClick(window.palette.field, Qt.Key.Key_Return)

    assert not window.palette.isVisible()
    assert window.folder_view.currentIndex().data(NODE_KEY_ROLE) == saved_search_key("Ops alerts")
    assert _subjects(window) == ["Server maintenance"]


def test_go_saved_search_lists_only_searches(qtbot, profile: Profile) -> None:
    save_searches(searches_file(profile.config_dir), [SavedSearch("Ana", "from:ana")])
    window = open_main_window(qtbot, profile)

    window.run_command("go-saved-search")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)

    assert [(item.kind, item.title) for item in window.palette.shown_items()] == [("saved", "Ana")]
    window.palette.reject()
