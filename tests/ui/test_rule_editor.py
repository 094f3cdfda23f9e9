"""The rule editor, the rule preview, applying rules with undo, and reloading rule files in the window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCharFormat
from PySide6.QtWidgets import QMessageBox

from desktop.config import load_config, save_config
from desktop.index import SearchIndex
from desktop.paths import Profile
from desktop.rules.engine import plan_rules
from desktop.rules.loader import check_text, load_rules
from desktop.store import SEEN, Store
from desktop.ui.main_window import MainWindow
from desktop.ui.rule_editor import RuleEditor, rule_from_message
from desktop.ui.rule_preview import ACTIONS, COUNT, RULE, SAMPLES, RulePreviewModel
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, activate, build_profile, discard_rule_edits, open_main_window

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, "This plugin does not support raise()")

RULES = """\
# Sorting for the tests.

[[rule]]
name = "Newsletters"
when = 'from:news@example.org OR from:shop@example.org'
actions = [{ move = "Archive" }, { mark = "read" }]

[[rule]]
name = "Ops"
when = 'from:ops@example.org'
actions = [{ lane = "team" }, { priority = 5 }]
"""

# The rule starts on line 3, and line 7 has the misspelt key.
BROKEN = """\
# A rule with a typo.

[[rule]]
name = "Ops"
when = 'from:ops@example.org'
actions = [{ lane = "team" }]
stopp = true
"""


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    profile = build_profile(tmp_path / "profile")
    (profile.rules_dir / "10-sort.toml").write_text(RULES, encoding="utf-8")
    return profile


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    return open_main_window(qtbot, profile, before_close=discard_rule_edits)


@pytest.fixture
def editor(qtbot, window: MainWindow) -> RuleEditor:
    opened = window.rule_commands.edit_rules()
    qtbot.waitExposed(opened)
    return opened


def _folder_of(profile: Profile, subject: str) -> str:
    with Store(profile.store_file) as store:
        ids = store.all_message_ids()
        rows = [row for row in store.messages(ids) if row.subject == subject]
    assert len(rows) == 1, f"expected one message {subject!r}, found {len(rows)}"
    return rows[0].folder


def _message(profile: Profile, subject: str):
    with Store(profile.store_file) as store:
        rows = [row for row in store.messages(store.all_message_ids()) if row.subject == subject]
    return rows[0]


def _plan(profile: Profile, ruleset, folder: str):
    with Store(profile.store_file) as store:
        index = SearchIndex(profile.index_dir)
        try:
            return plan_rules(store, ruleset, account=ACCOUNT, folder=folder, index=index)
        finally:
            index.close()


def _problem_texts(editor: RuleEditor) -> list[str]:
    return [editor.problem_list.item(row).text() for row in range(editor.problem_list.count())]


# --- checking text -----------------------------------------------------------------


def test_check_text_reports_line_without_disk(tmp_path: Path) -> None:
    path = tmp_path / "never-written.toml"

    ruleset, problems = check_text(BROKEN, path)

    assert ruleset.rules == ()
    assert len(problems) == 1
    assert problems[0].line == 7
    assert problems[0].path == path
    assert "Unknown rule key 'stopp'. Did you mean 'stop'?" in problems[0].message
    assert not path.exists()


def test_check_text_finds_duplicates_and_folders(tmp_path: Path) -> None:
    other = load_rules([_write(tmp_path / "05-other.toml", '[[rule]]\nname = "Ops"\nactions = [{ flag = true }]\n')])

    _ruleset, problems = check_text(RULES, tmp_path / "10-sort.toml", other_rules=other.rules,
                                    folders=[(ACCOUNT, "INBOX")])

    messages = [(problem.line, problem.message) for problem in problems]
    assert any(line == 6 and "Folder 'Archive' not found in account 'local-test'" in text for line, text in messages)
    assert any(line == 8 and "Duplicate rule name" in text and "05-other.toml:1" in text for line, text in messages)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- the editor ----------------------------------------------------------------------


def test_editor_opens_first_rule_file(editor: RuleEditor, profile: Profile) -> None:
    assert editor.path() == profile.rules_dir / "10-sort.toml"
    assert editor.text_edit.toPlainText() == RULES
    assert editor.problems() == []
    assert _problem_texts(editor) == ["No problems."]
    assert editor.text_edit.underlined_lines() == []


def test_editor_underlines_error_line(qtbot, editor: RuleEditor) -> None:
    with qtbot.waitSignal(editor.checked, timeout=3000) as blocker:
        editor.text_edit.setPlainText(BROKEN)

    assert blocker.args == [1]
    assert editor.text_edit.underlined_lines() == [7]
    tooltip = editor.text_edit.tooltip_for_line(7)
    assert "Unknown rule key 'stopp'" in tooltip
    assert editor.text_edit.tooltip_for_line(6) == ""
    assert _problem_texts(editor) == [f"10-sort.toml:7: rule 'Ops': {editor.problems()[0].message}"]
    waves = [selection for selection in editor.text_edit.extraSelections()
             if selection.format.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline]
    assert [wave.cursor.selectedText() for wave in waves] == ["stopp = true"]


def test_editor_checks_while_typing(qtbot, editor: RuleEditor) -> None:
    cursor = editor.text_edit.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    editor.text_edit.setTextCursor(cursor)
    editor.text_edit.setFocus()

    with qtbot.waitSignal(editor.checked, timeout=3000) as blocker:
        qtbot.keyClicks(editor.text_edit, "colour = 1")

    assert blocker.args == [1]
    assert editor.text_edit.underlined_lines() == [12]
    assert "Unknown rule key 'colour'" in editor.text_edit.tooltip_for_line(12)


def test_editor_jumps_to_problem_line(qtbot, editor: RuleEditor) -> None:
    editor.text_edit.setPlainText(BROKEN)
    editor.check_now()

    editor.problem_list.itemActivated.emit(editor.problem_list.item(0))

    assert editor.text_edit.textCursor().blockNumber() + 1 == 7


def test_save_with_problem_keeps_previous_rules(qtbot, window: MainWindow, editor: RuleEditor, profile: Profile) -> None:
    controller = window.rule_commands.controller
    assert [rule.name for rule in controller.ruleset().rules] == ["Newsletters", "Ops"]
    editor.text_edit.setPlainText(BROKEN)

    assert editor.save()

    assert (profile.rules_dir / "10-sort.toml").read_text(encoding="utf-8") == BROKEN
    assert "previous rules stay active" in editor.status()
    assert [rule.name for rule in controller.ruleset().rules] == ["Newsletters", "Ops"]
    assert controller.problems[0].line == 7
    assert "10-sort.toml:7:" in window.status_panel.message_label.toolTip()


def test_save_valid_text_activates_rules(qtbot, window: MainWindow, editor: RuleEditor, profile: Profile) -> None:
    changed = RULES.replace('name = "Ops"', 'name = "Operations"')
    editor.text_edit.setPlainText(changed)

    assert editor.save()

    assert editor.status() == "Saved 10-sort.toml. Its rules are active."
    assert [rule.name for rule in window.rule_commands.controller.ruleset().rules] == ["Newsletters", "Operations"]
    assert not editor.text_edit.document().isModified()


def test_new_file_is_created_and_opened(editor: RuleEditor, profile: Profile) -> None:
    assert editor.create_file("60-projects") == profile.rules_dir / "60-projects.toml"

    assert editor.path() == profile.rules_dir / "60-projects.toml"
    assert (profile.rules_dir / "60-projects.toml").is_file()
    assert editor.file_box.currentText() == "60-projects.toml"
    assert editor.file_box.count() == 2
    assert editor.create_file("../outside") is None
    assert "Invalid file name" in editor.status()
    assert editor.create_file("60-projects.toml") is None
    assert "exists already" in editor.status()


def test_closing_window_asks_about_unsaved_rules(qtbot, window: MainWindow, editor: RuleEditor, profile: Profile,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    editor.text_edit.setFocus()
    qtbot.keyClicks(editor.text_edit, "# edited")
    assert editor.text_edit.document().isModified()
    questions = []

    def answer(*args: object) -> QMessageBox.StandardButton:
        questions.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", answer)

    assert not window.close()

    assert questions == ["10-sort.toml has unsaved changes. Save them?"]
    assert window.isVisible()
    assert editor.isVisible()
    assert (profile.rules_dir / "10-sort.toml").read_text(encoding="utf-8") == RULES


# --- preview ----------------------------------------------------------------------------


def test_preview_counts_match_plan(qtbot, window: MainWindow, editor: RuleEditor, profile: Profile) -> None:
    expected = _plan(profile, load_rules([profile.rules_dir]), "INBOX")
    assert sum(report.count for report in expected.reports) > 0

    with qtbot.waitSignal(window.rule_commands.controller.plan_ready, timeout=10_000):
        assert editor.test_on_folder()

    model = editor.preview.preview_model
    assert model.counts() == {report.rule.name: report.count for report in expected.reports}
    assert model.rowCount() == 2
    assert model.index(0, RULE).data() == "Newsletters"
    assert model.index(0, COUNT).data() == expected.reports[0].count
    assert model.index(0, ACTIONS).data() == "move to Archive, mark read"
    assert model.index(0, SAMPLES).data() == " · ".join(row.subject for row in expected.reports[0].sample)
    assert _folder_of(profile, "Weekly newsletter") == "INBOX"


def test_preview_model_passes_model_tester(qtmodeltester, profile: Profile) -> None:
    plan = _plan(profile, load_rules([profile.rules_dir]), "INBOX")
    model = RulePreviewModel()

    model.set_plan(plan)

    assert model.rowCount() == 2
    qtmodeltester.check(model)


def test_preview_refuses_text_with_problems(editor: RuleEditor) -> None:
    editor.text_edit.setPlainText(BROKEN)

    assert not editor.test_on_folder()
    assert "Fix the problems first" in editor.status()


# --- new rule from a message ---------------------------------------------------------------


def test_rule_from_list_message_uses_list_id(profile: Profile) -> None:
    row = _message(profile, "Weekly newsletter")
    row = type(row)(**{**row.__dict__, "list_id": "<weekly.news.example.org>"})

    text = rule_from_message(row, "Archive", ["List weekly.news.example.org"])

    ruleset, problems = check_text(text, profile.rules_dir / "x.toml")
    assert problems == []
    rule = ruleset.rules[0]
    assert rule.name == "List weekly.news.example.org (2)"
    assert 'contains = "weekly.news.example.org"' in text
    assert rule.scope.folders == ("INBOX",)


def test_new_rule_from_selected_message(qtbot, window: MainWindow, editor: RuleEditor, profile: Profile) -> None:
    subjects = [window.message_model.message(row).subject for row in range(window.message_model.rowCount())]
    row = subjects.index("Lunch on Friday?")
    window.message_view.selectRow(row)
    qtbot.waitUntil(lambda: window.selected_message() is not None, timeout=2000)

    assert editor.new_rule_from_message("Archive")

    text = editor.text_edit.toPlainText()
    assert text.startswith(RULES)
    assert 'name = "From ben@example.org"' in text
    assert '{ address = "from", is = "ben@example.org" }' in text
    assert '{ move = "Archive" }' in text
    assert editor.problems() == []
    plan = _plan(profile, check_text(text, editor.path())[0], "INBOX")
    report = next(report for report in plan.reports if report.rule.name == "From ben@example.org")
    assert [sample.subject for sample in report.sample] == ["Lunch on Friday?"]


# --- apply and undo ----------------------------------------------------------------------------


def _apply_in_window(qtbot, window: MainWindow) -> None:
    dialog = window.rule_commands.apply_rules()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.apply_button.isEnabled, timeout=10_000)
    with qtbot.waitSignal(window.rule_commands.store_changed, timeout=10_000):
        dialog.apply_button.click()


def test_apply_then_ctrl_z_restores_store(qtbot, window: MainWindow, profile: Profile) -> None:
    before = _message(profile, "Weekly newsletter")
    assert before.folder == "INBOX"
    assert not before.seen

    _apply_in_window(qtbot, window)

    moved = _message(profile, "Weekly newsletter")
    assert moved.folder == "Archive"
    assert SEEN in moved.flags
    assert _message(profile, "Your parcel has shipped").folder == "Archive"
    assert _message(profile, "Server maintenance window").lane == "team"
    assert window.status_panel.message() == (
        "Rules moved 2 message(s), changed the flags of 1 message(s), put 1 message(s) in lanes, "
        "set the priority of 1 message(s) — Ctrl+Z to undo"
    )
    assert "Weekly newsletter" not in [window.message_model.message(row).subject for row in range(window.message_model.rowCount())]

    activate(qtbot, window)
    window.message_view.setFocus()
    with qtbot.waitSignal(window.rule_commands.store_changed, timeout=10_000):
        qtbot.keyClick(window.message_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)

    restored = _message(profile, "Weekly newsletter")
    assert restored.folder == "INBOX"
    assert restored.flags == before.flags
    assert _message(profile, "Your parcel has shipped").folder == "INBOX"
    assert _message(profile, "Server maintenance window").lane == ""
    assert window.status_panel.message().startswith("Undid “Rules on INBOX of local-test”: 3 message(s) restored")
    assert "Weekly newsletter" in [window.message_model.message(row).subject for row in range(window.message_model.rowCount())]


AWAY_RULES = """\
[[rule]]
name = "Away"
when = 'from:ana@example.org OR from:ops@example.org'
actions = [{ flag = true }, { auto_reply = { body = "I am away this week." } }]
"""


def test_apply_sends_no_auto_replies(qtbot, window: MainWindow, profile: Profile, smtp_server) -> None:
    config = load_config(profile.config_file)
    account = config.accounts[ACCOUNT]
    account.smtp_host, account.smtp_port, account.smtp_security = smtp_server.host, smtp_server.port, "none"
    account.address = "reader@example.org"
    save_config(config, profile.config_file)
    (profile.rules_dir / "10-sort.toml").write_text(AWAY_RULES, encoding="utf-8")
    window.rule_commands.controller.reload()

    dialog = window.rule_commands.apply_rules()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.apply_button.isEnabled, timeout=10_000)
    model = dialog.preview.preview_model
    assert model.index(0, ACTIONS).data() == "flag, auto-reply (2 auto-reply(ies) not sent to existing mail)"
    assert "Apply sends no auto-replies to existing mail, so 2 auto-reply(ies)" in dialog.preview.summary.text()
    with qtbot.waitSignal(window.rule_commands.store_changed, timeout=10_000):
        dialog.apply_button.click()

    assert "\\Flagged" in _message(profile, "Server maintenance window").flags
    assert smtp_server.received == []
    with Store(profile.store_file) as store:
        assert store.auto_replies(ACCOUNT) == []
        hits = store.rule_hits_of_message(_message(profile, "Server maintenance window").id)
    assert hits[0].actions == ("flag", "auto-reply not sent: Apply in the window sends no auto-replies to existing mail")


def test_undo_works_after_restart(qtbot, window: MainWindow, profile: Profile) -> None:
    _apply_in_window(qtbot, window)
    assert _message(profile, "Weekly newsletter").folder == "Archive"
    window.close()

    reopened = MainWindow(profile)
    qtbot.addWidget(reopened)
    reopened.show()
    qtbot.waitExposed(reopened)
    activate(qtbot, reopened)
    reopened.message_view.setFocus()
    with qtbot.waitSignal(reopened.rule_commands.store_changed, timeout=10_000):
        qtbot.keyClick(reopened.message_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)

    assert _message(profile, "Weekly newsletter").folder == "INBOX"


def test_undo_with_nothing_to_undo(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.rule_commands.controller.undone, timeout=10_000) as blocker:
        window.actions_by_name["undo"].trigger()

    assert blocker.args == [None]
    assert window.status_panel.message() == "Nothing to undo."


# --- the file watcher ------------------------------------------------------------------------------


def test_watcher_reloads_and_reports_problems(qtbot, window: MainWindow, editor: RuleEditor, profile: Profile) -> None:
    controller = window.rule_commands.controller
    path = profile.rules_dir / "10-sort.toml"

    with qtbot.waitSignal(controller.rules_reloaded, timeout=5000) as blocker:
        path.write_text(BROKEN, encoding="utf-8")

    problems = blocker.args[0]
    assert [(problem.path.name, problem.line) for problem in problems] == [("10-sort.toml", 7)]
    assert [rule.name for rule in controller.ruleset().rules] == ["Newsletters", "Ops"]
    assert window.status_panel.message_label.property("error") is True
    assert "10-sort.toml:7: rule 'Ops': Unknown rule key 'stopp'" in window.status_panel.message()
    assert editor.text_edit.toPlainText() == BROKEN
    assert editor.text_edit.underlined_lines() == [7]

    with qtbot.waitSignal(controller.rules_reloaded, timeout=5000) as blocker:
        (profile.rules_dir / "20-more.toml").write_text(
            '[[rule]]\nname = "Cara"\nwhen = \'from:cara@example.org\'\nactions = [{ flag = true }]\n', encoding="utf-8")
        path.write_text(RULES.replace('"Ops"', '"Ops team"'), encoding="utf-8")
    qtbot.waitUntil(lambda: not controller.problems and len(controller.ruleset().rules) == 3, timeout=5000)

    assert [rule.name for rule in controller.ruleset().rules] == ["Newsletters", "Ops team", "Cara"]
    assert window.status_panel.message() == "Rules loaded: 3 rule(s) active"
    assert editor.file_box.count() == 2
