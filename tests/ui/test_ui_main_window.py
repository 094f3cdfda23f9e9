"""The main window on a small local profile: folders, list, reader, search and keys."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.index import SearchIndex
from desktop.paths import Profile
from desktop.store import FLAGGED, SEEN, Store
from desktop.ui.folder_tree import FOLDER_IDS_ROLE, NAME_ROLE
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import FOLDER, SUBJECT
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, build_profile, open_main_window

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return build_profile(tmp_path / "profile")


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    return open_main_window(qtbot, profile)


def _folder_id(profile: Profile, name: str) -> int:
    with Store(profile.store_file) as store:
        return store.folder_by_name(ACCOUNT, name).id


def _stored_message(profile: Profile, message_id: int):
    with Store(profile.store_file) as store:
        return store.message(message_id)


def _select_row(qtbot, window: MainWindow, row: int) -> None:
    window.message_view.setFocus()
    window.message_view.selectRow(row)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(row), timeout=2000)


def _shift_click(qtbot, widget, key: Qt.Key) -> None:
    qtbot.keyClick(widget, key, Qt.KeyboardModifier.ShiftModifier)
    # QTest keeps Shift in the application's modifier state after the click, and a
    # later selection in the same or the next test would then extend instead of replace.
    qtbot.keyRelease(widget, Qt.Key.Key_Shift)


def _folder_label(window: MainWindow, folder_name: str) -> tuple[str, bool]:
    matches = window.folder_model.match(
        window.folder_model.index(0, 0), NAME_ROLE, folder_name, 1, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive
    )
    assert matches, f"no folder node named {folder_name!r}"
    index = matches[0]
    return index.data(), bool(index.data(Qt.ItemDataRole.FontRole) and index.data(Qt.ItemDataRole.FontRole).bold())


def test_window_lists_inbox_messages(window: MainWindow, profile: Profile) -> None:
    inbox = _folder_id(profile, "INBOX")
    with Store(profile.store_file) as store:
        expected = store.message_ids([inbox])

    assert window.folder_view.currentIndex().data(FOLDER_IDS_ROLE) == [inbox]
    assert window.message_model.rowCount() == len(expected)
    assert window.message_model.ids() == expected
    assert window.pages.currentWidget() is window.splitter


def test_folder_tree_nests_and_counts(window: MainWindow) -> None:
    inbox_text, inbox_bold = _folder_label(window, "INBOX")
    archive_text, archive_bold = _folder_label(window, "Archive")
    python_text, _bold = _folder_label(window, "python")
    lists_text, _bold = _folder_label(window, "Lists")

    assert inbox_text == "INBOX (3)"
    assert inbox_bold
    assert archive_text == "Archive"
    assert not archive_bold
    assert python_text == "python (1)"
    assert lists_text == "Lists"


def test_selecting_row_shows_message(qtbot, window: MainWindow, profile: Profile) -> None:
    row = window.message_model.rowCount() - 1
    message_id = window.message_model.message_id(row)
    stored = _stored_message(profile, message_id)
    assert stored.subject == "Quarterly budget review"
    assert not stored.seen

    _select_row(qtbot, window, row)

    assert window.reader.subject_label.text() == "Quarterly budget review"
    assert "The budget spreadsheet is attached." in window.reader.browser.toPlainText()
    assert "ana@example.org" in window.reader.meta_label.text()
    assert window.reader.attachments.count() == 1
    assert "budget.pdf" in window.reader.attachments.item(0).text()
    assert _stored_message(profile, message_id).seen


def test_plain_text_links_are_clickable(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, window.message_model.rowCount() - 1)

    assert 'href="https://example.org/budget"' in window.reader.browser.toHtml()


def test_selecting_message_updates_unread_count(qtbot, window: MainWindow) -> None:
    assert _folder_label(window, "INBOX")[0] == "INBOX (3)"

    # Row 0 is current from the start and stays unread, so the test selects the next unread row.
    _select_row(qtbot, window, 2)

    assert _folder_label(window, "INBOX")[0] == "INBOX (2)"


def test_search_narrows_list_to_index_result(qtbot, window: MainWindow, profile: Profile) -> None:
    index = SearchIndex(profile.index_dir)
    try:
        expected = index.search("budget")
    finally:
        index.close()
    assert len(expected) == 1

    window.search_field.setFocus()
    qtbot.keyClicks(window.search_field, "budget")
    with qtbot.waitSignal(window.search_finished, timeout=10_000) as blocker:
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)

    assert blocker.args == [1]
    assert window.message_model.ids() == expected
    assert "1 message" in window.status_panel.message()
    assert not window.message_view.isColumnHidden(FOLDER)
    folder_text = window.message_model.data(window.message_model.index(0, FOLDER))
    assert folder_text.endswith("/INBOX")


def test_escape_leaves_search(qtbot, window: MainWindow) -> None:
    folder_ids = window.message_model.ids()
    window.search_field.setFocus()
    qtbot.keyClicks(window.search_field, "noodle")
    with qtbot.waitSignal(window.search_finished, timeout=10_000):
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    assert len(window.message_model.ids()) == 1

    qtbot.keyClick(window.search_field, Qt.Key.Key_Escape)

    assert window.search_field.text() == ""
    assert window.message_model.ids() == folder_ids
    assert window.message_view.hasFocus()
    assert window.message_view.isColumnHidden(FOLDER)


def test_bad_query_shows_error_and_window_works(qtbot, window: MainWindow) -> None:
    before = window.message_model.ids()
    window.search_field.setFocus()
    qtbot.keyClicks(window.search_field, "(budget")
    with qtbot.waitSignal(window.search_failed, timeout=10_000) as blocker:
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)

    message = blocker.args[0]
    assert message
    assert message.splitlines()[0] in window.status_panel.message()
    assert "(budget" in window.status_panel.message_label.toolTip()
    assert window.status_panel.message_label.property("error") is True
    assert window.search_field.property("invalid") is True
    assert window.message_model.ids() == before

    window.message_view.setFocus()
    qtbot.keyClick(window.message_view, Qt.Key.Key_J)
    assert window.message_view.currentIndex().row() == 1


def test_j_and_k_move_selection(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    # The window opens with the cursor on row 0.
    qtbot.keyClick(window.message_view, Qt.Key.Key_J)
    assert window.message_view.currentIndex().row() == 1
    qtbot.keyClick(window.message_view, Qt.Key.Key_J)
    qtbot.keyClick(window.message_view, Qt.Key.Key_J)
    assert window.message_view.currentIndex().row() == 3
    qtbot.keyClick(window.message_view, Qt.Key.Key_K)
    assert window.message_view.currentIndex().row() == 2
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(2), timeout=2000)


def test_j_stops_at_last_row(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    for _press in range(window.message_model.rowCount() + 3):
        qtbot.keyClick(window.message_view, Qt.Key.Key_J)
    assert window.message_view.currentIndex().row() == window.message_model.rowCount() - 1


def test_j_works_while_reader_has_focus(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, 0)
    window.reader.browser.setFocus()
    qtbot.keyClick(window.reader.browser, Qt.Key.Key_J)
    assert window.message_view.currentIndex().row() == 1


def test_shift_u_and_i_change_read(qtbot, window: MainWindow, profile: Profile) -> None:
    _select_row(qtbot, window, 2)
    message_id = window.message_model.message_id(2)
    assert _stored_message(profile, message_id).seen
    unread_after_open = _folder_label(window, "INBOX")[0]

    _shift_click(qtbot, window.message_view, Qt.Key.Key_U)
    assert not _stored_message(profile, message_id).seen
    assert window.message_model.data(window.message_model.index(2, SUBJECT), Qt.ItemDataRole.FontRole).bold()
    assert _folder_label(window, "INBOX")[0] != unread_after_open

    _shift_click(qtbot, window.message_view, Qt.Key.Key_I)
    assert _stored_message(profile, message_id).seen
    assert window.message_model.data(window.message_model.index(2, SUBJECT), Qt.ItemDataRole.FontRole) is None
    assert _folder_label(window, "INBOX")[0] == unread_after_open


def test_s_toggles_flag_in_store(qtbot, window: MainWindow, profile: Profile) -> None:
    _select_row(qtbot, window, 2)
    message_id = window.message_model.message_id(2)
    assert FLAGGED not in _stored_message(profile, message_id).flags

    qtbot.keyClick(window.message_view, Qt.Key.Key_S)
    assert FLAGGED in _stored_message(profile, message_id).flags
    assert window.message_model.data(window.message_model.index(2, 0), Qt.ItemDataRole.DecorationRole) is not None

    qtbot.keyClick(window.message_view, Qt.Key.Key_S)
    assert FLAGGED not in _stored_message(profile, message_id).flags


def test_shift_u_marks_every_selected_row(qtbot, window: MainWindow, profile: Profile) -> None:
    _select_row(qtbot, window, 0)
    window.message_view.selectAll()
    ids = window.message_model.ids()

    _shift_click(qtbot, window.message_view, Qt.Key.Key_U)

    assert all(SEEN not in _stored_message(profile, message_id).flags for message_id in ids)


def test_slash_focuses_search_and_keys_type_there(qtbot, window: MainWindow, profile: Profile) -> None:
    _select_row(qtbot, window, 2)
    qtbot.keyClick(window.message_view, "/")
    assert window.search_field.hasFocus()

    qtbot.keyClick(window.search_field, "j")
    qtbot.keyClick(window.search_field, "u")

    assert window.search_field.text() == "ju"
    assert window.message_view.currentIndex().row() == 2
    assert _stored_message(profile, window.message_model.message_id(2)).seen


def test_enter_opens_message(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    qtbot.keyClick(window.message_view, Qt.Key.Key_J)
    qtbot.keyClick(window.message_view, Qt.Key.Key_Return)
    assert window.reader.browser.hasFocus()


def test_folder_change_shows_its_messages(qtbot, window: MainWindow, profile: Profile) -> None:
    matches = window.folder_model.match(
        window.folder_model.index(0, 0), NAME_ROLE, "python", 1, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive
    )
    window.folder_view.setCurrentIndex(matches[0])

    assert window.message_model.rowCount() == 1
    assert window.message_model.message(0).subject == "Python 3.14 released"


def test_account_node_lists_all_folders(qtbot, window: MainWindow, profile: Profile) -> None:
    window.folder_view.setCurrentIndex(window.folder_model.index(0, 0))
    with Store(profile.store_file) as store:
        total = store.message_count()
    assert window.message_model.rowCount() == total


def test_empty_profile_explains_how_to_start(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "empty", with_account=False)
    main = MainWindow(profile)
    qtbot.addWidget(main)
    main.show()

    assert main.pages.currentWidget() is main.empty_state
    assert "sluice account add" in main.empty_state.text()
    assert "sluice --demo" in main.empty_state.text()
    assert not main.actions_by_name["sync"].isEnabled()


def test_invalid_config_is_shown_not_raised(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "broken", with_account=False)
    profile.config_file.write_text("[accounts.x\n", encoding="utf-8")
    main = MainWindow(profile)
    qtbot.addWidget(main)

    assert main.pages.currentWidget() is main.empty_state
    assert "invalid TOML" in main.empty_state.text()


def test_invalid_config_with_mail_shows_error(qtbot, profile: Profile) -> None:
    profile.config_file.write_text("[accounts.x\n", encoding="utf-8")
    main = MainWindow(profile)
    qtbot.addWidget(main)

    assert main.pages.currentWidget() is main.splitter
    assert main.message_model.rowCount() == 5
    assert "invalid TOML" in main.status_panel.message()
    assert main.status_panel.message_label.property("error") is True


def test_every_command_has_an_action(window: MainWindow) -> None:
    from desktop.commands import COMMANDS

    missing = [command.name for command in COMMANDS if command.name not in window.actions_by_name]

    assert missing == []


def test_models_pass_model_tester(qtmodeltester, window: MainWindow) -> None:
    qtmodeltester.check(window.folder_model)
    qtmodeltester.check(window.message_model)


def test_demo_profile_opens(qtbot, tmp_path: Path) -> None:
    demo = pytest.importorskip("desktop.demo")
    from desktop.paths import resource_path

    if not resource_path("demo", "demo.mbox").exists():
        pytest.skip("the demo mailbox resources/demo/demo.mbox is not generated yet")
    profile = demo.prepare_demo(Profile(config_dir=tmp_path / "demo", data_dir=tmp_path / "demo", rules_dir=tmp_path / "demo" / "rules"))
    main = MainWindow(profile)
    qtbot.addWidget(main)
    main.show()

    assert main.pages.currentWidget() is main.splitter
    assert main.message_model.rowCount() > 0
    main.message_view.selectRow(0)
    assert main.reader.subject_label.text()


def test_search_lists_every_match(qtbot, tmp_path: Path) -> None:
    from desktop.demo import prepare_demo
    from desktop.paths import profile_at

    demo = prepare_demo(profile_at(tmp_path / "demo"))
    index = SearchIndex(demo.index_dir)
    try:
        total = index.count("budget")
    finally:
        index.close()
    assert total > 100
    main = MainWindow(demo)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)

    main.search_field.setFocus()
    qtbot.keyClicks(main.search_field, "budget")
    with qtbot.waitSignal(main.search_finished, timeout=10_000) as blocker:
        qtbot.keyClick(main.search_field, Qt.Key.Key_Return)

    assert blocker.args == [total]
    assert main.message_model.rowCount() == total
