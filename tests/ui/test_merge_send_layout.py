"""A long summary after a send leaves the recipient table most of the Send page's report area."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication

from desktop.merge.report import SUMMARY_GROUPS
from desktop.ui.merge_window import MergeWindow
from tests.merge.send_helpers import address, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.merge_window_fixtures import server, window  # noqa: F401 - fixtures

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

# More distinct replies than the summary lists, so it has its longest form.
FAILED_ROWS = SUMMARY_GROUPS + 10
ROWS = FAILED_ROWS + 20


def send_with_many_replies(qtbot, window: MergeWindow, server, folder) -> None:
    """Send ROWS rows whose first FAILED_ROWS recipients each get another 550 reply."""
    template, data = write_merge(folder, ROWS)
    for number in range(1, FAILED_ROWS + 1):
        server.reply_to_recipient(address(number), f"550 5.1.1 Mailbox user{number} unknown at this host")
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.open_files(template, data)
    window.tabs.setCurrentWidget(window.send_panel)

    with qtbot.waitSignal(window.send_finished, timeout=60000) as blocker:
        window.send_panel.send_button.click()

    assert blocker.args[0].progress.failed == FAILED_ROWS


def visible_rows(window: MergeWindow) -> int:
    view = window.send_panel.report_view
    first = view.rowAt(0)
    last = view.rowAt(view.viewport().height() - 1)
    if last < 0:
        last = view.model().rowCount() - 1
    return last - first + 1


# At 600 pixels the options above the report leave it about 120 pixels (offscreen platform), room for two table rows.
@pytest.mark.parametrize(("size", "min_rows"), [(None, 5), ((800, 600), 2)], ids=["default-size", "800x600"])
def test_long_summary_keeps_table_space(qtbot, window, server, tmp_path, size, min_rows):
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitExposed(window)

    send_with_many_replies(qtbot, window, server, tmp_path / "m")
    # Let the layout take in the summary and the table rows that the send set.
    QApplication.processEvents()

    panel = window.send_panel
    summary = panel.summary_label.text()
    assert summary.count("\n") > SUMMARY_GROUPS
    if size is not None:
        # The Check page needs a window wider than 800 pixels, so only the height is exact.
        assert window.height() == size[1]
        assert window.width() == max(size[0], window.minimumSizeHint().width())
    # The report area runs from the top of the visible summary to the bottom of the table.
    visible_summary = panel.summary_label.visibleRegion().boundingRect()
    summary_top = panel.summary_label.mapTo(panel, visible_summary.topLeft()).y()
    table_bottom = panel.report_view.mapTo(panel, QPoint(0, panel.report_view.height())).y()
    area = table_bottom - summary_top
    assert panel.report_view.height() >= area / 2
    assert visible_rows(window) >= min_rows
    # The whole summary stays readable by scrolling.
    assert visible_summary.height() < panel.summary_label.height()

    image = window.grab()
    name = "default" if size is None else f"{size[0]}x{size[1]}"
    assert image.save(str(tmp_path / f"send-page-{name}.png"))
