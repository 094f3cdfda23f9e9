"""The merge window's question before leaving out rows with errors counts the messages that really go out.

Sends go to a real aiosmtpd on 127.0.0.1, and the English catalogue is installed as the window installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QMessageBox

from desktop.merge.suppress import SuppressionList
from desktop.paths import default_profile
from desktop.ui.app import install_translations
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.merge_window_fixtures import server, window  # noqa: F401 - pytest fixtures
from tests.ui.test_merge_window import open_and_check, write_files
from tests.ui.test_merge_window_polish import rows_with_bad

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def translated(qapp) -> Iterator[None]:
    installed = install_translations(qapp)
    assert installed, "no catalogue was installed"
    yield
    for translator in installed:
        qapp.removeTranslator(translator)


def suppress(*numbers: int) -> None:
    suppression = SuppressionList(default_profile())
    for number in numbers:
        suppression.add(f"user{number}@example.org", "unsubscribed")


def errors_question(qtbot, window, tmp_path, rows) -> QMessageBox:  # noqa: F811 - the window fixture
    template, data = write_files(tmp_path / "merge", rows)
    open_and_check(qtbot, window, template, data)
    window.send_panel.send_button.click()
    box = window.errors_box
    assert isinstance(box, QMessageBox)
    return box


def test_question_counts_suppressed_rows_out(qtbot, window, server, tmp_path, translated):  # noqa: F811
    suppress(4, 5)

    box = errors_question(qtbot, window, tmp_path, rows_with_bad(6, 2))

    text = box.text()
    assert "The check found errors in 1 row (see Check)." in text
    assert "Send only the 3 messages of the rows without errors" in text
    assert "2 rows with a suppressed address are left out as well." in text
    assert "other row" not in text
    box.button(QMessageBox.StandardButton.Cancel).click()


def test_question_singular_forms(qtbot, window, server, tmp_path, translated):  # noqa: F811
    suppress(3)

    box = errors_question(qtbot, window, tmp_path, rows_with_bad(3, 2))

    text = box.text()
    assert "Send only the 1 message of the rows without errors" in text
    assert "1 row with a suppressed address is left out as well." in text
    box.button(QMessageBox.StandardButton.Cancel).click()


def test_question_without_suppressed_rows(qtbot, window, server, tmp_path, translated):  # noqa: F811
    box = errors_question(qtbot, window, tmp_path, rows_with_bad(4, 1))

    text = box.text()
    assert "Send only the 3 messages of the rows without errors" in text
    assert "suppressed" not in text
    box.button(QMessageBox.StandardButton.Cancel).click()


def test_question_count_matches_send(qtbot, window, server, tmp_path, translated):  # noqa: F811
    suppress(4)
    box = errors_question(qtbot, window, tmp_path, rows_with_bad(5, 2))
    assert "Send only the 3 messages" in box.text()
    skip = next(button for button in box.buttons() if button.text() == "Leave out 1 row and send")

    with qtbot.waitSignal(window.send_finished, timeout=30000):
        skip.click()

    assert sorted(item.rcpt_tos[0] for item in server.received) == [
        "user1@example.org", "user3@example.org", "user5@example.org"]


def test_only_suppressed_rest_sends_nothing(qtbot, window, server, tmp_path, translated):  # noqa: F811
    suppress(2, 3)
    template, data = write_files(tmp_path / "merge", rows_with_bad(3, 1))
    open_and_check(qtbot, window, template, data)

    window.send_panel.send_button.click()

    assert window.errors_box is None
    assert "every row that is not suppressed" in window.status_label.text()
    assert window.runner is None
    assert server.received == []
