"""The merge composer window against a real aiosmtpd on 127.0.0.1: check, preview, send, pause, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop.merge import journal as jn
from desktop.merge.render import open_merge
from desktop.paths import default_profile
from desktop.ui.merge_dialogs import ResumeDialog
from desktop.ui.merge_window import MergeWindow, display_path, replace_header, split_template
from tests.merge.send_helpers import message_shape, parsed
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.merge_window_fixtures import server, window  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

TEMPLATE = """\
From: Ana <ana@example.com>
To: {{ name }} <{{ email }}>
Subject: Results for {{ name }}

Dear **{{ name }}**,

your code is {{ code }}.
"""


def write_files(folder: Path, rows: list[tuple[str, str, str, str]]) -> tuple[Path, Path]:
    """Write the template and a CSV of (name, email, code, attachment) rows; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "results.md"
    template.write_text(TEMPLATE, encoding="utf-8")
    lines = ["name,email,code,attachment"] + [",".join(row) for row in rows]
    data = folder / "people.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "files").mkdir(exist_ok=True)
    return template, data


def good_rows(count: int) -> list[tuple[str, str, str, str]]:
    return [(f"User {number}", f"user{number}@example.org", f"C{number}", "") for number in range(1, count + 1)]


def open_and_check(qtbot, window: MergeWindow, template: Path, data: Path):
    with qtbot.waitSignal(window.merge_checked, timeout=10000) as blocker:
        window.open_files(template, data)
    return blocker.args[0]


def send_and_wait(qtbot, window: MergeWindow, timeout: int = 30000):
    with qtbot.waitSignal(window.send_finished, timeout=timeout) as blocker:
        window.send_panel.send_button.click()
    return blocker.args[0]


def test_split_and_replace_header():
    headers, body = split_template("\ufeffFrom: a@example.com\r\nTo: x\r\n  continued\r\n\r\nBody\r\n")
    assert headers == "From: a@example.com\nTo: x\n  continued"
    assert body == "Body\n"
    assert replace_header(headers, "To", "{{ email }}") == "From: a@example.com\nTo: {{ email }}"
    assert replace_header(headers, "Merge-Attach-Column", None) == headers


def test_check_panel_lists_planted_problems(qtbot, window, tmp_path, qtmodeltester):
    rows = good_rows(3) + [
        ("Bad Address", "not-an-address", "C4", ""),
        ("Repeat", "user1@example.org", "C5", ""),
        ("No File", "nofile@example.org", "C6", "files/missing.pdf"),
    ]
    template, data = write_files(tmp_path / "merge", rows)

    report = open_and_check(qtbot, window, template, data)

    qtmodeltester.check(window.problem_model)
    listed = {(window.problem_model.index(row, 0).data(), window.problem_model.index(row, 1).data())
              for row in range(window.problem_model.rowCount())}
    assert ("4", "email") in listed
    assert ("5", "email") in listed
    assert ("6", "attachment") in listed
    assert window.problem_model.rowCount() == 3
    assert list(report.sendable) == [1, 2, 3]
    assert "3 of 6 rows will go out" in window.total_label.text()
    assert "comma" in window.source_label.text()
    assert window.address_box.currentText() == "email"
    assert window.attach_box.currentText() == "attachment"


def test_check_groups_identical_problems(qtbot, window, tmp_path, qtmodeltester):
    folder = tmp_path / "grouped"
    folder.mkdir()
    template = folder / "t.md"
    template.write_text("From: ana@example.com\nTo: {{ email }}\nSubject: Hi\n\n"
                        "{% if code == 'X' %}{{ missing }}{% endif %}Hello\n", encoding="utf-8")
    codes = {number: "X" for number in (1, 3, 5, 7, 9, 11, 12)}
    lines = ["email,code"] + [f"user{number}@example.org,{codes.get(number, 'A')}" for number in range(1, 13)]
    lines[6] = "nope,A"
    data = folder / "people.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = open_and_check(qtbot, window, template, data)

    model = window.problem_model
    qtmodeltester.check(model)
    assert len(report.problems) == 8
    assert model.rowCount() == 2
    group = model.index(0, 0)
    assert model.is_group(group)
    assert group.data() == "1, 3, 5, 7, 9 and 2 more"
    assert model.rowCount(group) == 7
    children = [model.index(row, 0, group).data() for row in range(7)]
    assert children == ["1", "3", "5", "7", "9", "11", "12"]
    messages = {model.index(row, 2, group).data() for row in range(7)}
    assert messages == {model.index(0, 2).data()}
    assert model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole).startswith("7 rows: ")
    single = model.index(1, 0)
    assert not model.is_group(single)
    assert (single.data(), model.index(1, 1).data()) == ("6", "email")
    assert model.rowCount(single) == 0
    assert model.rows_text([2, 3, 4, 8]) == "2-4, 8"


def test_problem_group_expands_and_previews(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(1) + [(f"Bad {n}", "nope", f"C{n}", "")
                                                                     for n in (2, 3, 4)])
    open_and_check(qtbot, window, template, data)
    window.show()
    qtbot.waitExposed(window)
    window.tabs.setCurrentIndex(1)
    view = window.problem_view
    group = window.problem_model.index(0, 0)
    assert window.problem_model.rowCount() == 1
    assert group.data() == "2-4"

    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(group).center())
    assert view.isExpanded(group)
    assert window.tabs.currentIndex() == 1
    child = window.problem_model.index(1, 2, group)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(child).center())
    assert window.tabs.currentWidget() is window.preview
    assert window.preview.current_row() == 3
    assert "'nope'" in window.preview.error_label.text()

    window.tabs.setCurrentIndex(1)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(group).center())
    assert not view.isExpanded(group)
    view.activated.emit(group)
    assert window.tabs.currentWidget() is window.preview
    assert window.preview.current_row() == 2


def test_problem_click_jumps_to_row(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(2) + [("Bad", "nope", "C3", "")])
    open_and_check(qtbot, window, template, data)
    index = window.problem_model.index(0, 2)
    rect = window.problem_view.visualRect(index)
    window.show()
    qtbot.waitExposed(window)
    window.tabs.setCurrentIndex(1)

    qtbot.mouseClick(window.problem_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    assert window.tabs.currentWidget() is window.preview
    assert window.preview.current_row() == 3
    assert "'nope'" in window.preview.error_label.text()
    assert window.preview.headers_view.toPlainText() == ""


def test_preview_pages_show_rendered_messages(qtbot, window, tmp_path):
    rows = good_rows(3)
    rows[1] = ("User 2", "user2@example.org", "C2", "files/sheet.txt")
    template, data = write_files(tmp_path / "merge", rows)
    (tmp_path / "merge" / "files" / "sheet.txt").write_text("sheet\n", encoding="utf-8")
    open_and_check(qtbot, window, template, data)
    merge = open_merge(template, data, profile=None)
    preview = window.preview
    window.show()
    window.tabs.setCurrentWidget(preview)
    qtbot.waitExposed(window)
    window.activateWindow()
    preview.html_view.setFocus()

    for number in (1, 2, 3):
        if number > 1:
            qtbot.keyClick(preview.html_view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
        expected = merge.render(number).message
        assert preview.current_row() == number
        assert f"Subject: Results for User {number}" in preview.headers_view.toPlainText()
        assert f"To: User {number} <user{number}@example.org>" in preview.headers_view.toPlainText()
        # The text view shows the part's lines with LF ends; the wire form has CRLF.
        assert preview.text_view.toPlainText() == expected.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert f"your code is C{number}." in preview.html_view.toPlainText()
        assert preview.html_view.document().toHtml().count("font-weight") >= 1

    assert preview.attachments_list.count() == 0
    preview.next_button.setFocus()
    qtbot.keyClick(preview.next_button, Qt.Key.Key_PageUp)
    assert preview.current_row() == 2
    assert preview.attachments_list.count() == 1
    assert preview.attachments_list.item(0).text().startswith("sheet.txt (text/plain")
    preview.row_box.setValue(1)
    assert "User 1" in preview.headers_view.toPlainText()


def test_send_delivers_all_rows(qtbot, window, server, tmp_path, qtmodeltester):
    template, data = write_files(tmp_path / "merge", good_rows(7))
    open_and_check(qtbot, window, template, data)
    merge = open_merge(template, data, profile=None)

    result = send_and_wait(qtbot, window)

    assert result.progress.state == "finished"
    assert len(server.received) == 7
    assert sorted(item.rcpt_tos[0] for item in server.received) == sorted(f"user{n}@example.org" for n in range(1, 8))
    by_address = {item.rcpt_tos[0]: parsed(item.data) for item in server.received}
    for number in range(1, 8):
        assert message_shape(by_address[f"user{number}@example.org"]) == message_shape(merge.render(number).message)
    qtmodeltester.check(window.send_panel.report_model)
    assert window.send_panel.report_model.rowCount() == 7
    states = {window.send_panel.report_model.index(row, 2).data() for row in range(7)}
    assert states == {"sent"}
    assert "7 sent, 0 failed" in window.send_panel.counts_label.text()
    saved = tmp_path / "report.csv"
    window.send_panel.save_report(saved)
    assert len(saved.read_text(encoding="utf-8-sig").splitlines()) == 8


def test_test_send_goes_to_own_address(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(5))
    open_and_check(qtbot, window, template, data)
    window.send_panel.test_address.setText("me@example.com")
    window.send_panel.test_count.setValue(2)

    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.test_button.click()

    assert [item.rcpt_tos for item in server.received] == [("me@example.com",), ("me@example.com",)]
    subjects = sorted(str(parsed(item.data)["Subject"]) for item in server.received)
    assert subjects == ["[TEST] Results for User 1", "[TEST] Results for User 2"]


def test_pause_holds_then_resume_finishes(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(8))
    open_and_check(qtbot, window, template, data)
    window.send_panel.rate_edit.setText("150/min")
    window.send_panel.connections_box.setValue(1)

    window.send_panel.send_button.click()
    server.wait_for(2, timeout=15)
    window.send_panel.pause_button.click()
    qtbot.waitUntil(lambda: "Paused" in window.send_panel.state_label.text(), timeout=5000)
    qtbot.wait(600)  # a message already in flight when the pause came may still arrive
    count_when_paused = len(server.received)
    qtbot.wait(2000)

    assert len(server.received) == count_when_paused
    assert count_when_paused < 8
    assert window.send_panel.resume_button.isEnabled()
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.send_panel.resume_button.click()
    assert blocker.args[0].progress.state == "finished"
    assert len(server.received) == 8
    assert len({item.rcpt_tos[0] for item in server.received}) == 8


def test_second_send_offers_resume(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(6))
    open_and_check(qtbot, window, template, data)
    window.send_panel.rate_edit.setText("120/min")
    window.send_panel.connections_box.setValue(1)
    window.send_panel.send_button.click()
    server.wait_for(2, timeout=15)
    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.cancel_button.click()
    first_count = len(server.received)
    assert first_count < 6
    window.send_panel.rate_edit.clear()

    window.send_panel.send_button.click()

    dialog = window.resume_dialog
    assert isinstance(dialog, ResumeDialog)
    assert len(server.received) == first_count
    assert dialog.resume_button.text().startswith("Resume merge")
    dialog.rate_edit.clear()
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        dialog.resume_button.click()
    assert blocker.args[0].progress.state == "finished"
    assert len(server.received) == 6
    assert sorted(item.rcpt_tos[0] for item in server.received) == sorted(f"user{n}@example.org" for n in range(1, 7))
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert len(journal.merges()) == 1


def test_send_again_as_new(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(3))
    open_and_check(qtbot, window, template, data)
    send_and_wait(qtbot, window)
    assert len(server.received) == 3

    window.send_panel.send_button.click()
    dialog = window.resume_dialog
    assert dialog.again_button.text() == "Send again as new"
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        dialog.again_button.click()

    assert blocker.args[0].progress.state == "finished"
    assert len(server.received) == 6
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert len(journal.merges()) == 2


def test_close_during_send_asks(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(6))
    open_and_check(qtbot, window, template, data)
    window.send_panel.rate_edit.setText("120/min")
    window.send_panel.connections_box.setValue(1)
    window.show()
    window.send_panel.send_button.click()
    server.wait_for(1, timeout=15)

    window.close()

    assert window.isVisible()
    box = window.close_box
    assert isinstance(box, QMessageBox)
    stop = next(button for button in box.buttons() if button.text() == "Stop and close")
    with qtbot.waitSignal(window.send_finished, timeout=30000):
        stop.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    qtbot.wait(1000)
    assert len(server.received) < 6


def test_create_template_writes_file(qtbot, window, tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    data = folder / "people.csv"
    data.write_text("name,email\nAna Gómez,ana@example.org\n", encoding="utf-8")
    window.data_path = data

    with qtbot.waitSignal(window.merge_checked, timeout=10000) as blocker:
        window.create_template(folder / "hello.md")

    text = (folder / "hello.md").read_text(encoding="utf-8")
    assert text.startswith("From: ana@example.com\nSubject: Hello {{ name | first_name }}\n\n")
    assert list(blocker.args[0].sendable) == [1]
    assert "Subject: Hello Ana" in window.preview.headers_view.toPlainText()


def test_address_chooser_writes_to_line(qtbot, window, tmp_path):
    folder = tmp_path / "choose"
    folder.mkdir()
    template = folder / "t.md"
    template.write_text("From: ana@example.com\nSubject: Hi\n\nHello\n", encoding="utf-8")
    data = folder / "people.csv"
    data.write_text("Name,Work mail,Home\nBo,bo@example.org,bo@home.example\n", encoding="utf-8")
    with qtbot.waitSignal(window.open_failed, timeout=10000) as failure:
        window.open_files(template, data)
    assert "has no column named email" in failure.args[0]
    assert window.address_box.count() == 3

    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.choose_address_column("Home")

    assert "To: {{ row['Name'] }} <{{ row['Home'] }}>" in template.read_text(encoding="utf-8")
    assert "To: Bo <bo@home.example>" in window.preview.headers_view.toPlainText()
    assert window.address_box.currentText() == "Home"


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, "This plugin does not support raise")
def test_main_window_key_opens_composer(qtbot, tmp_path):
    from desktop.ui.main_window import MainWindow
    from tests.ui.fixtures_ui import build_profile
    from tests.ui.test_keys import press

    main = MainWindow(build_profile(tmp_path / "profile"))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    main.message_view.setFocus()

    press(qtbot, main.message_view, "Ctrl+Shift+m")

    qtbot.waitUntil(lambda: main.merge_window is not None and main.merge_window.isVisible(), timeout=3000)
    assert isinstance(main.merge_window, MergeWindow)
    assert main.actions_by_name["new-merge"].text() == "New mail merge…"
    main.merge_window.close()


def test_send_blocked_by_check_errors(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(2) + [("Bad", "nope", "C3", "")])
    open_and_check(qtbot, window, template, data)

    window.send_panel.send_button.click()
    qtbot.wait(500)

    assert window.runner is None
    assert "found errors" in window.status_label.text()
    assert server.received == []


def test_display_path_abbreviates_home():
    assert display_path(Path.home() / "club" / "invite.md") == str(Path("~") / "club" / "invite.md")
    assert display_path(Path("/srv/club/invite.md")) == "/srv/club/invite.md"


def test_unsaved_edits_block_send(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(2))
    open_and_check(qtbot, window, template, data)
    assert not window.has_unsaved_edits()
    window.body_editor.appendPlainText("A new line.")

    window.send_panel.send_button.click()
    qtbot.wait(300)

    assert window.runner is None
    assert "unsaved edits" in window.status_label.text()
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.save_button.click()
    assert "A new line." in template.read_text(encoding="utf-8")
    assert not window.has_unsaved_edits()
    result = send_and_wait(qtbot, window)
    assert result.progress.state == "finished"
    assert all("A new line." in item.message.get_body(("plain",)).get_content() for item in server.received)
    assert len(server.received) == 2


def test_attachment_chooser_writes_setting(qtbot, window, tmp_path):
    folder = tmp_path / "attach"
    folder.mkdir()
    template = folder / "t.md"
    template.write_text("From: ana@example.com\nTo: {{ email }}\nSubject: Hi\n\nHello\n", encoding="utf-8")
    data = folder / "people.csv"
    data.write_text("email,docs\nbo@example.org,sheet.txt\n", encoding="utf-8")
    (folder / "sheet.txt").write_text("sheet\n", encoding="utf-8")
    open_and_check(qtbot, window, template, data)
    assert window.attach_box.currentText() == "—"
    assert window.preview.attachments_list.count() == 0

    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.attach_box.activated.emit(window.attach_box.findText("docs"))

    assert "Merge-Attach-Column: docs" in template.read_text(encoding="utf-8")
    assert window.attach_box.currentText() == "docs"
    assert window.preview.attachments_list.item(0).text().startswith("sheet.txt")
