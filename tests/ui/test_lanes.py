"""The split inbox: lane tabs over a store whose lanes and priorities a real rule run set."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.index import SearchIndex
from desktop.paths import Profile
from desktop.rules.engine import apply_plan, plan_rules
from desktop.rules.loader import load_rules
from desktop.store import Store
from desktop.store.lanes import ALL_LANES, NO_LANE
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import SUBJECT
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, SampleMessage, build_profile, open_main_window

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

LANE_RULES = """
[[rule]]
name = "Team"
when = 'from:ana@example.org OR from:ops@example.org'
actions = [{ lane = "team" }, { priority = 10 }]

[[rule]]
name = "Boss"
when = 'from:boss@example.org'
actions = [{ lane = "team" }, { priority = 50 }]

[[rule]]
name = "Newsletters"
when = 'from:news@example.org OR from:shop@example.org'
actions = [{ lane = "news" }]
"""

# Oldest first. The boss's message is the oldest, so ordering by priority differs from ordering by date.
SAMPLES = [
    SampleMessage("Salary review", "The Boss <boss@example.org>", "Come and see me."),
    SampleMessage("Quarterly budget review", "Ana Lima <ana@example.org>", "Budget."),
    SampleMessage("Lunch on Friday?", "Ben Okafor <ben@example.org>", "Noodles?"),
    SampleMessage("Server maintenance window", "Ops <ops@example.org>", "Restart at 22:00."),
    SampleMessage("Your parcel has shipped", "Shop <shop@example.org>", "Tracking 12345."),
    SampleMessage("Weekly newsletter", "News <news@example.org>", "This week."),
    SampleMessage("Holiday photos", "Cara <cara@example.org>", "From the beach."),
    SampleMessage("Old project notes", "Cara <cara@example.org>", "Notes.", folder="Archive"),
]


def run_rules(profile: Profile, text: str) -> None:
    """Write ``text`` as the profile's rule file and apply it to INBOX with the engine."""
    path = profile.rules_dir / "10-lanes.toml"
    path.write_text(text, encoding="utf-8")
    ruleset = load_rules([path])
    with Store(profile.store_file) as store:
        index = SearchIndex(profile.index_dir)
        try:
            plan = plan_rules(store, ruleset, index=index)
        finally:
            index.close()
        result = apply_plan(store, plan, description="lanes for the test")
    assert result.bulk_id is not None


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    profile = build_profile(tmp_path / "profile", SAMPLES)
    run_rules(profile, LANE_RULES)
    return profile


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    return open_main_window(qtbot, profile)


def _inbox_id(profile: Profile) -> int:
    with Store(profile.store_file) as store:
        return store.folder_by_name(ACCOUNT, "INBOX").id


def _subjects(window: MainWindow) -> list[str]:
    return [window.message_model.message(row).subject for row in range(window.message_model.rowCount())]


def _tab_texts(window: MainWindow) -> list[str]:
    return [window.lane_tabs.tabText(index) for index in range(window.lane_tabs.count())]


def test_store_counts_lanes_set_by_rules(profile: Profile) -> None:
    with Store(profile.store_file) as store:
        counts = store.lane_counts([_inbox_id(profile)])

    assert counts == {NO_LANE: 2, "news": 2, "team": 3}


def test_store_orders_lane_by_priority(profile: Profile) -> None:
    with Store(profile.store_file) as store:
        inbox = _inbox_id(profile)
        by_date = store.messages(store.lane_message_ids([inbox], "team"))
        by_priority = store.messages(store.lane_message_ids([inbox], "team", by_priority=True))
        everything = store.lane_message_ids([inbox], ALL_LANES)
        newest_first = store.message_ids([inbox])

    assert [row.subject for row in by_date] == ["Server maintenance window", "Quarterly budget review", "Salary review"]
    assert [row.priority for row in by_priority] == [50, 10, 10]
    assert [row.subject for row in by_priority] == ["Salary review", "Server maintenance window", "Quarterly budget review"]
    assert everything == newest_first
    assert len(everything) == 7


def test_tabs_show_lanes_with_counts(window: MainWindow) -> None:
    assert window.lane_tabs.isVisible()
    assert _tab_texts(window) == ["All (7)", "news (2)", "team (3)", "Other (2)"]
    assert window.lane_tabs.lanes() == [ALL_LANES, "news", "team", NO_LANE]
    assert window.message_model.rowCount() == 7


def test_tabs_hidden_without_lanes(window: MainWindow, profile: Profile) -> None:
    with Store(profile.store_file) as store:
        archive_id = store.folder_by_name(ACCOUNT, "Archive").id
    window.folder_view.setCurrentIndex(window.folder_model.index_of_key(("folder", archive_id)))

    assert not window.lane_tabs.isVisible()
    assert _subjects(window) == ["Old project notes"]


def test_tab_cycles_lanes_in_list(qtbot, window: MainWindow, profile: Profile) -> None:
    window.message_view.setFocus()
    qtbot.waitUntil(window.message_view.hasFocus, timeout=2000)

    qtbot.keyClick(window.message_view, Qt.Key.Key_Tab)
    assert window.lane_tabs.current_lane() == "news"
    assert _subjects(window) == ["Weekly newsletter", "Your parcel has shipped"]

    qtbot.keyClick(window.message_view, Qt.Key.Key_Tab)
    assert window.lane_tabs.current_lane() == "team"
    assert _subjects(window) == ["Server maintenance window", "Quarterly budget review", "Salary review"]
    with Store(profile.store_file) as store:
        assert window.message_model.ids() == store.lane_message_ids([_inbox_id(profile)], "team")

    qtbot.keyClick(window.message_view, Qt.Key.Key_Tab)
    assert window.lane_tabs.current_lane() == NO_LANE
    assert _subjects(window) == ["Holiday photos", "Lunch on Friday?"]

    qtbot.keyClick(window.message_view, Qt.Key.Key_Tab)
    assert window.lane_tabs.current_lane() is ALL_LANES
    assert window.message_model.rowCount() == 7
    assert window.message_view.hasFocus()


def test_shift_tab_cycles_back(qtbot, window: MainWindow) -> None:
    window.message_view.setFocus()
    qtbot.waitUntil(window.message_view.hasFocus, timeout=2000)

    qtbot.keyClick(window.message_view, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert window.lane_tabs.current_lane() == NO_LANE

    qtbot.keyClick(window.message_view, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert window.lane_tabs.current_lane() == "team"
    assert window.message_view.hasFocus()


def test_tab_in_search_field_moves_focus(qtbot, window: MainWindow) -> None:
    window.search_field.setFocus()
    qtbot.waitUntil(window.search_field.hasFocus, timeout=2000)

    qtbot.keyClick(window.search_field, Qt.Key.Key_Tab)

    assert window.lane_tabs.current_lane() is ALL_LANES
    assert not window.search_field.hasFocus()


def test_sort_by_priority_orders_highest_first(qtbot, window: MainWindow) -> None:
    by_date = _subjects(window)
    assert by_date == ["Holiday photos", "Weekly newsletter", "Your parcel has shipped", "Server maintenance window",
                       "Lunch on Friday?", "Quarterly budget review", "Salary review"]

    window.actions_by_name["sort-by-priority"].trigger()

    assert window.actions_by_name["sort-by-priority"].isChecked()
    assert _subjects(window) == ["Salary review", "Server maintenance window", "Quarterly budget review", "Holiday photos",
                                 "Weekly newsletter", "Your parcel has shipped", "Lunch on Friday?"]

    window.actions_by_name["sort-by-priority"].trigger()
    assert _subjects(window) == by_date


def test_sort_keeps_selected_message(qtbot, window: MainWindow) -> None:
    row = _subjects(window).index("Weekly newsletter")
    window.message_view.setFocus()
    window.message_view.selectRow(row)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(row), timeout=2000)
    shown = window.reader.message_id()

    window.actions_by_name["sort-by-priority"].trigger()

    current = window.message_view.currentIndex()
    assert window.message_model.message_id(current.row()) == shown
    assert window.reader.message_id() == shown
    assert window.message_model.index(current.row(), SUBJECT).data() == "Weekly newsletter"


def test_tabs_refresh_after_rule_run_in_window(qtbot, window: MainWindow, profile: Profile) -> None:
    window.lane_tabs.select_lane("news")
    assert _tab_texts(window)[1] == "news (2)"
    controller = window.rule_commands.controller
    with qtbot.waitSignal(controller.rules_reloaded, timeout=5000):
        (profile.rules_dir / "20-friends.toml").write_text(
            '[[rule]]\nname = "Cara"\nwhen = \'from:cara@example.org\'\nactions = [{ lane = "friends" }]\n', encoding="utf-8")
    assert [rule.name for rule in controller.ruleset().rules] == ["Team", "Boss", "Newsletters", "Cara"]

    dialog = window.rule_commands.apply_rules()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.apply_button.isEnabled, timeout=10_000)
    with qtbot.waitSignal(window.folders_refreshed, timeout=10_000):
        dialog.apply_button.click()

    assert _tab_texts(window) == ["All (7)", "friends (1)", "news (2)", "team (3)", "Other (1)"]
    assert window.lane_tabs.current_lane() == "news"
    assert _subjects(window) == ["Weekly newsletter", "Your parcel has shipped"]
