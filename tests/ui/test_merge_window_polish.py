"""The merge window after a new user's trial: keys on the preview, typed paths, the last merge, checking again,
rows with errors, Sent copies and the look of disabled buttons. Sends go to a real aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QVBoxLayout, QWidget

from desktop.merge import journal as jn
from desktop.paths import default_profile
from desktop.ui.app import load_style_sheet
from desktop.ui.merge_files import LAST_MERGE_FILE
from desktop.ui.merge_window import MergeWindow
from tests.helpers.smtp_server import SmtpServer
from tests.merge.send_helpers import ACCOUNT, add_smtp_account, parsed
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.test_merge_window import good_rows, open_and_check, write_files

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def server():
    with SmtpServer() as instance:
        yield instance


def new_window(qtbot, *, copies: bool = False) -> MergeWindow:
    window = MergeWindow(default_profile())
    qtbot.addWidget(window)
    window.send_panel.copies_box.setChecked(copies)
    return window


@pytest.fixture
def window(qtbot, server):
    add_smtp_account(server)
    composer = new_window(qtbot)
    yield composer
    if composer.runner is not None and composer.runner.is_running():
        composer.runner.cancel()
        composer.runner.wait(20000)


def rows_with_bad(count: int, *bad: int) -> list[tuple[str, str, str, str]]:
    """Return ``count`` good rows, with an invalid address in the rows numbered ``bad``."""
    rows = good_rows(count)
    for number in bad:
        rows[number - 1] = (f"User {number}", f"user{number}.example.org", f"C{number}", "")
    return rows


def subjects(server) -> list[str]:
    return sorted(str(parsed(item.data)["Subject"]) for item in server.received)


def show(qtbot, window: MergeWindow) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)


# --- the preview's keys ----------------------------------------------------------------


def test_preview_alt_keys_on_buttons(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(4))
    open_and_check(qtbot, window, template, data)
    preview = window.preview
    show(qtbot, window)
    window.tabs.setCurrentWidget(preview)

    preview.next_button.setFocus()
    qtbot.keyClick(preview.next_button, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert preview.current_row() == 2
    qtbot.keyClick(preview.next_button, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert preview.current_row() == 3

    preview.previous_button.setFocus()
    qtbot.keyClick(preview.previous_button, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert preview.current_row() == 2

    preview.html_view.setFocus()
    qtbot.keyClick(preview.html_view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert preview.current_row() == 3


# --- the style sheet ------------------------------------------------------------------


def test_disabled_button_looks_different(qtbot):
    box = QWidget()
    qtbot.addWidget(box)
    box.setStyleSheet(load_style_sheet())
    layout = QVBoxLayout(box)
    enabled, disabled = QPushButton("Send merge"), QPushButton("Send merge")
    disabled.setEnabled(False)
    layout.addWidget(enabled)
    layout.addWidget(disabled)
    box.show()
    qtbot.waitExposed(box)

    enabled_image = enabled.grab().toImage()
    disabled_image = disabled.grab().toImage()

    assert enabled_image.size() == disabled_image.size()
    assert enabled_image != disabled_image
    middle = enabled_image.width() // 2, 2
    assert enabled_image.pixelColor(*middle) != disabled_image.pixelColor(*middle)


# --- typed paths, the summary and the last merge -----------------------------------------


def test_typed_paths_open_and_check(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(3))
    window.show()
    qtbot.waitExposed(window)

    window.template_edit.setText(str(template))
    qtbot.keyClick(window.template_edit, Qt.Key.Key_Return)
    assert window.template_path == template
    assert "Subject: Results for {{ name }}" in window.headers_editor.toPlainText()

    window.data_edit.setFocus()
    window.data_edit.setText(f'"{data}"')
    with qtbot.waitSignal(window.merge_checked, timeout=10000) as blocker:
        qtbot.keyClick(window.data_edit, Qt.Key.Key_Return)
    assert blocker.args[0].total_rows == 3
    assert window.data_path == data


def test_typed_missing_path_named(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(2))
    open_and_check(qtbot, window, template, data)
    missing = tmp_path / "merge" / "peple.csv"

    window.data_edit.setText(str(missing))
    qtbot.keyClick(window.data_edit, Qt.Key.Key_Return)

    assert window.data_path == data
    assert f"The data file {missing} does not exist" in window.status_label.text()
    assert "Open…" in window.status_label.text()
    assert window.data_edit.text() == str(missing)

    window.template_edit.setText(str(tmp_path / "merge"))
    qtbot.keyClick(window.template_edit, Qt.Key.Key_Return)
    assert window.template_path == template
    assert "is a folder" in window.status_label.text()


def test_check_summary_shown_once(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(3))
    open_and_check(qtbot, window, template, data)

    assert "3 of 3 rows will go out" in window.total_label.text()
    assert "rows will go out" not in window.status_label.text()
    assert window.status_label.text() != window.total_label.text()


def test_connections_box_stays_narrow(qtbot, window):
    window.resize(1100, 760)
    window.show()
    window.tabs.setCurrentWidget(window.send_panel)
    qtbot.waitExposed(window)

    box = window.send_panel.connections_box
    assert box.width() <= box.sizeHint().width() + 10
    assert box.width() < window.send_panel.rate_edit.width() / 2


def test_window_reopens_last_merge(qtbot, server, tmp_path):
    add_smtp_account(server)
    template, data = write_files(tmp_path / "merge", good_rows(3))
    first = new_window(qtbot)
    open_and_check(qtbot, first, template, data)
    first.close()

    reopened = new_window(qtbot)
    qtbot.waitUntil(lambda: reopened.report is not None, timeout=10000)

    assert reopened.template_path == template.resolve()
    assert reopened.data_path == data.resolve()
    assert reopened.account_box.currentData() == ACCOUNT
    assert reopened.report.total_rows == 3


def test_reopen_skips_missing_file(qtbot, server, tmp_path):
    add_smtp_account(server)
    template, data = write_files(tmp_path / "merge", good_rows(3))
    first = new_window(qtbot)
    open_and_check(qtbot, first, template, data)
    first.close()
    data.unlink()

    reopened = new_window(qtbot)

    assert reopened.template_path == template.resolve()
    assert reopened.data_path is None
    assert f"{data.resolve()} is gone" in reopened.status_label.text()
    assert (default_profile().data_dir / LAST_MERGE_FILE).is_file()


# --- checking again ------------------------------------------------------------------------


def touch_later(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with a modification time clearly after the previous one."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_data_change_marks_check_stale(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(3))
    open_and_check(qtbot, window, template, data)
    assert not window.is_check_stale()
    check_tab = window.tabs.indexOf(window.problem_view.parentWidget())

    touch_later(data, data.read_text(encoding="utf-8") + "User 4,user4@example.org,C4,\n")

    qtbot.waitUntil(window.is_check_stale, timeout=5000)
    assert "people.csv changed on disk after the check" in window.stale_label.text()
    assert "Check again (F5)" in window.stale_label.text()
    assert window.tabs.tabText(check_tab) == "Check (out of date)"

    with qtbot.waitSignal(window.merge_checked, timeout=10000) as blocker:
        window.check_again_button.click()
    assert blocker.args[0].total_rows == 4
    assert not window.is_check_stale()
    assert window.tabs.tabText(check_tab) == "Check"


def test_own_save_not_stale(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(2))
    open_and_check(qtbot, window, template, data)
    time.sleep(0.01)
    window.body_editor.appendPlainText("One more line.")

    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.save_button.click()
    qtbot.wait(300)

    assert not window.is_check_stale()
    assert window.save_button.text() == "Save template and check"


def test_check_again_shortcut_rereads_template(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(2))
    open_and_check(qtbot, window, template, data)
    show(qtbot, window)
    touch_later(template, template.read_text(encoding="utf-8").replace("your code is", "your new code is"))
    qtbot.waitUntil(window.is_check_stale, timeout=5000)

    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        qtbot.keyClick(window.body_editor, Qt.Key.Key_F5)

    assert "your new code is" in window.body_editor.toPlainText()
    assert not window.is_check_stale()


def test_check_again_keeps_unsaved_edits(qtbot, window, tmp_path):
    template, data = write_files(tmp_path / "merge", good_rows(2))
    open_and_check(qtbot, window, template, data)
    window.body_editor.appendPlainText("Not saved yet.")

    window.check_again()

    assert "Not saved yet." in window.body_editor.toPlainText()
    assert "unsaved edits" in window.status_label.text()


# --- rows with errors ----------------------------------------------------------------------


def test_send_leaves_out_error_rows(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", rows_with_bad(3, 2))
    open_and_check(qtbot, window, template, data)

    window.send_panel.send_button.click()
    box = window.errors_box
    assert isinstance(box, QMessageBox)
    assert "errors in 1 row(s)" in box.text()
    assert "Send only the 2 message(s) of the rows without errors" in box.text()
    skip = next(button for button in box.buttons() if button.text() == "Leave out 1 row(s) and send")
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        skip.click()

    result = blocker.args[0]
    assert sorted(item.rcpt_tos[0] for item in server.received) == ["user1@example.org", "user3@example.org"]
    assert result.summary[1].startswith("Left out 1 row with errors")
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        row = journal.recipient(result.merge_id, 2)
    assert row.state == jn.SKIPPED
    assert "user2.example.org" in row.reply or row.reply != ""


def test_send_with_errors_cancelled(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", rows_with_bad(3, 2))
    open_and_check(qtbot, window, template, data)

    window.send_panel.send_button.click()
    window.errors_box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(300)

    assert window.runner is None
    assert server.received == []


def test_test_send_ignores_later_errors(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", rows_with_bad(5, 4))
    open_and_check(qtbot, window, template, data)
    window.send_panel.test_address.setText("me@example.com")
    window.send_panel.test_count.setValue(2)

    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.test_button.click()

    assert window.errors_box is None
    assert subjects(server) == ["[TEST] Results for User 1", "[TEST] Results for User 2"]


def test_test_send_leaves_out_its_error_rows(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", rows_with_bad(4, 2))
    open_and_check(qtbot, window, template, data)
    window.send_panel.test_address.setText("me@example.com")
    window.send_panel.test_count.setValue(3)

    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.send_panel.test_button.click()

    assert "Leaving out 1 of the first 3 rows of the test" in window.status_label.text()
    assert subjects(server) == ["[TEST] Results for User 1", "[TEST] Results for User 3"]
    assert blocker.args[0].summary[1].startswith("Left out 1 row with errors")


def test_test_send_all_rows_with_errors(qtbot, window, server, tmp_path):
    template, data = write_files(tmp_path / "merge", rows_with_bad(3, 1, 2))
    open_and_check(qtbot, window, template, data)
    window.send_panel.test_address.setText("me@example.com")
    window.send_panel.test_count.setValue(2)

    window.send_panel.test_button.click()
    qtbot.wait(300)

    assert window.runner is None
    assert "Each of the first 2 row(s) has errors" in window.status_label.text()
    assert server.received == []


# --- Sent copies ---------------------------------------------------------------------------


def test_copies_note_without_sent_folder(qtbot, server, tmp_path):
    add_smtp_account(server)
    window = new_window(qtbot, copies=True)
    template, data = write_files(tmp_path / "merge", good_rows(2))
    open_and_check(qtbot, window, template, data)

    window.tabs.setCurrentWidget(window.send_panel)

    note = window.send_panel.copies_note
    assert not note.isHidden()
    assert note.text().startswith(f"No Sent folder of account {ACCOUNT!r} is in the store yet")
    assert "no copies are kept" in note.text()
    window.send_panel.copies_box.setChecked(False)
    assert note.isHidden()
    window.send_panel.copies_box.setChecked(True)

    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.send_panel.send_button.click()

    assert len(server.received) == 2
    assert note.text() in blocker.args[0].summary
    assert note.text() in window.send_panel.summary_label.text()


def test_copies_note_names_account_setting(qtbot, server, tmp_path):
    add_smtp_account(server, sent_copy="never")
    window = new_window(qtbot, copies=True)

    window.tabs.setCurrentWidget(window.send_panel)

    note = window.send_panel.copies_note.text()
    assert note.startswith(f"Account {ACCOUNT!r} has sent_copy = 'never' in config.toml")
    assert note.endswith("so no Sent copies are kept.")
