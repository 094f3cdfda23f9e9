"""Resuming a merge in the window after a rest-only send of the same template reached some of its addresses."""

from __future__ import annotations

import pytest

from desktop.merge import journal as jn
from desktop.paths import default_profile
from desktop.ui.merge_window import MergeWindow
from tests.merge.send_helpers import ScriptedServer, add_smtp_account, address, received_counts, send, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def server():
    with ScriptedServer() as instance:
        yield instance


def test_window_resume_skips_later_merge(qtbot, server, tmp_path, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 8)
    server.script(address(3), "data", ["550 5.4.5 Daily user sending quota exceeded"])
    assert send(capsys, template, data, "--connections", "1", "--no-sent-copy")[0] == 1
    original = data.read_text(encoding="utf-8")
    data.write_text(original.replace("C0008", "C0999"), encoding="utf-8")
    assert send(capsys, template, data, "--resume", "--no-sent-copy")[0] == 0
    assert received_counts(server) == {address(number): 1 for number in range(1, 9)}
    data.write_text(original, encoding="utf-8")

    window = MergeWindow(default_profile())
    qtbot.addWidget(window)
    window.send_panel.copies_box.setChecked(False)
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.open_files(template, data)
    window.send_panel.send_button.click()
    qtbot.waitUntil(lambda: window.resume_dialog is not None, timeout=10000)
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.resume_dialog.resume_button.click()

    assert blocker.args[0].progress.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, 9)}
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        counts = journal.counts(blocker.args[0].merge_id)
    assert (counts[jn.SENT], counts[jn.SKIPPED]) == (2, 6)
