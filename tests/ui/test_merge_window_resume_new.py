"""Resuming a deliberate second send (``--new``) in the window sends its rest, as ``sluice merge resume`` does."""

from __future__ import annotations

import pytest

from desktop.merge import journal as jn
from desktop.paths import default_profile
from desktop.ui.merge_window import MergeWindow
from tests.merge.send_helpers import ScriptedServer, add_smtp_account, address, received_counts, send, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

ROWS = 8


@pytest.fixture
def server():
    with ScriptedServer() as instance:
        yield instance


def test_window_resume_of_new_send(qtbot, server, tmp_path, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", ROWS)
    assert send(capsys, template, data)[0] == 0
    server.script(address(4), "data", ["550 5.4.5 Daily user sending quota exceeded"])
    assert send(capsys, template, data, "--new", "--connections", "1")[0] == 1
    assert received_counts(server) == {address(number): 2 if number < 4 else 1 for number in range(1, ROWS + 1)}

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
    assert received_counts(server) == {address(number): 2 for number in range(1, ROWS + 1)}
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        counts = journal.counts(blocker.args[0].merge_id)
    assert (counts[jn.SENT], counts[jn.SKIPPED]) == (ROWS, 0)
