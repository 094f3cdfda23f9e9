"""A large send from the merge window renders in a process of its own, so the window's thread keeps the lock."""

from __future__ import annotations

import pytest

from desktop.merge.sender import RENDER_PROCESS_MIN_ROWS
from tests.merge.send_helpers import address, received_counts, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.merge_window_fixtures import server, window  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.mark.parametrize(("rows", "in_process"), [(RENDER_PROCESS_MIN_ROWS + 10, True), (20, False)])
def test_window_send_renders_by_size(qtbot, window, server, tmp_path, caplog, rows, in_process):
    template, data = write_merge(tmp_path / "m", rows)
    with qtbot.waitSignal(window.merge_checked, timeout=30000):
        window.open_files(template, data)

    with caplog.at_level("INFO", logger="desktop.merge.sender"), \
            qtbot.waitSignal(window.send_finished, timeout=120000) as blocker:
        window.send_panel.send_button.click()

    assert blocker.args[0].progress.state == "finished"
    assert ("rendering in a separate process" in caplog.text) is in_process
    assert received_counts(server) == {address(number): 1 for number in range(1, rows + 1)}
