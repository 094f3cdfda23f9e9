"""The merge window's status line above the tabs shows how a send ended, not that the merge was checked."""

from __future__ import annotations

import pytest

from desktop.merge import journal as jn
from desktop.paths import default_profile
from desktop.ui.merge_window import MergeWindow
from tests.merge.send_helpers import address, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.merge_window_fixtures import server, window  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

CHECKED = "Checked. See the Check page"


def open_and_check(qtbot, window: MergeWindow, template, data) -> None:
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.open_files(template, data)
    assert window.status_label.text().startswith(CHECKED)


def test_finished_send_counts_failed(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 3)
    server.reply_to_recipient(address(2), "550 5.1.1 No such user here")
    open_and_check(qtbot, window, template, data)

    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.send_panel.send_button.click()

    assert blocker.args[0].progress.state == "finished"
    assert window.status_label.text() == "Sent 2 of 3 message(s); 1 failed. See the Send page."


def test_stopped_send_counts_rest(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 6)
    open_and_check(qtbot, window, template, data)
    window.send_panel.rate_edit.setText("120/min")
    window.send_panel.connections_box.setValue(1)
    window.send_panel.send_button.click()
    server.wait_for(2, timeout=15)

    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.send_panel.cancel_button.click()

    merge_id = blocker.args[0].merge_id
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        sent = journal.counts(merge_id)[jn.SENT]
    assert sent == len(server.received)
    assert sent < 6
    text = window.status_label.text()
    assert text.startswith(f"Stopped after sending {sent} of 6 message(s) (cancelled by the user)")
    assert f"; {6 - sent} not sent yet." in text
    assert text.endswith("See the Send page.")


def test_test_send_names_address(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 5)
    open_and_check(qtbot, window, template, data)
    window.send_panel.test_address.setText("me@example.com")
    window.send_panel.test_count.setValue(2)

    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.test_button.click()

    assert len(server.received) == 2
    assert window.status_label.text() == "Sent 2 of 2 test message(s) to me@example.com. See the Send page."


def test_test_send_keeps_left_out_note(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 5)
    data.write_text(data.read_text(encoding="utf-8").replace(address(2), "not-an-address"), encoding="utf-8")
    open_and_check(qtbot, window, template, data)
    window.send_panel.test_address.setText("me@example.com")
    window.send_panel.test_count.setValue(3)

    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.test_button.click()

    assert len(server.received) == 2
    text = window.status_label.text()
    assert text.startswith("Leaving out 1 of the first 3 rows of the test, because they have errors (see Check). ")
    assert text.endswith(". Sent 2 of 3 test message(s) to me@example.com; 1 skipped. See the Send page.")


def test_send_never_run_keeps_error(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 3)
    open_and_check(qtbot, window, template, data)
    data.write_text(data.read_text(encoding="utf-8").replace("C0003", "C0999"), encoding="utf-8")

    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.send_panel.send_button.click()

    assert blocker.args[0].progress is None
    assert "changed after the check" in window.status_label.text()
    assert server.received == []
