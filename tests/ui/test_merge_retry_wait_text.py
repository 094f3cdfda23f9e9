"""The Send page while every row left waits for a retry: when the next try is and why, not "about 0 s left"."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QTranslator

from desktop.merge.report import duration_text
from desktop.merge.sender import Progress
from desktop.ui.app import install_translations
from desktop.ui.merge_progress import MergeSendPanel

BUSY = "451 4.3.0 Mailbox busy, try later"


@pytest.fixture
def translated(qapp) -> Iterator[list[QTranslator]]:
    installed = install_translations(qapp)
    yield installed
    for translator in installed:
        qapp.removeTranslator(translator)


def progress(remaining: int, waits: tuple[tuple[float, str], ...]) -> Progress:
    return Progress(merge_id="20261205-1", total=200, sent=200 - remaining, failed=0, unknown=0, skipped=0,
                    remaining=remaining, per_minute=900.0, seconds_left=0.0, state="running", retry_waits=waits)


def test_one_row_waiting_for_retry(qtbot, translated):
    panel = MergeSendPanel()
    qtbot.addWidget(panel)

    panel.show_progress(progress(1, ((62.0, BUSY),)))

    text = panel.rate_label.text()
    assert text == f"Rate 900 messages/min; 1 row waits to be retried in {duration_text(62.0)} ({BUSY})"
    assert "left" not in text


def test_rows_waiting_name_first_retry(qtbot, translated):
    panel = MergeSendPanel()
    qtbot.addWidget(panel)

    panel.show_progress(progress(2, ((4.0, BUSY), (30.0, BUSY))))

    assert panel.rate_label.text() == (f"Rate 900 messages/min; 2 rows wait to be retried, the first in "
                                       f"{duration_text(4.0)} ({BUSY})")


def test_other_rows_left_show_time_left(qtbot, translated):
    panel = MergeSendPanel()
    qtbot.addWidget(panel)

    panel.show_progress(progress(5, ((4.0, BUSY),)))

    assert panel.rate_label.text().startswith("Rate 900 messages/min, about ")
