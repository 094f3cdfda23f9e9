"""The merge window's failed rows: listed on the Send page and sent again, against a real aiosmtpd on 127.0.0.1.

The server replies 451 to one address until the test clears the reply, and 550 5.1.1 (a hard bounce) to
another. The merge is recorded with one try per message, and the window resumes it with those options, so a
451 fails its row at once instead of after minutes of retries.
"""

from __future__ import annotations

import pytest

from desktop.merge import journal as jn
from desktop.merge.render import open_merge
from desktop.merge.sender import SendOptions
from desktop.merge.suppress import SuppressionList
from desktop.paths import default_profile
from desktop.ui.merge_dialogs import FailedRowsDialog
from desktop.ui.merge_window import MergeWindow
from tests.merge.send_helpers import ACCOUNT, ScriptedServer, address, received_counts, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.merge_window_fixtures import window  # noqa: F401 - fixture

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

ROWS = 5
BUSY = "451 4.3.0 Mailbox busy, try later"
NO_SUCH_USER = "550 5.1.1 No such user here"


@pytest.fixture
def server():
    """A server that counts every RCPT TO per address in ``tries``, also the rejected ones."""
    with ScriptedServer() as instance:
        yield instance


def journal() -> jn.Journal:
    return jn.Journal(jn.journal_path(default_profile().data_dir))


def send_with_failed_rows(qtbot, window: MergeWindow, server, tmp_path, replies: dict[int, str]) -> str:
    """Send ``ROWS`` rows from the window while the server rejects the rows in ``replies``, and return the merge id.

    The merge is recorded first with one try per message, then sent by the window's resume, which uses the
    recorded options.
    """
    template, data = write_merge(tmp_path / "m", ROWS)
    profile = default_profile().ensure()
    merge = open_merge(template, data, profile=profile)
    options = SendOptions(connections=1, max_attempts=1, sent_copies=False, backoff_seconds=0.05, timeout=10.0)
    with journal() as opened:
        record = opened.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template),
                                     data=str(data), account=ACCOUNT, options=options.as_dict(), total=ROWS)
    for row, reply in replies.items():
        server.reply_to_recipient(address(row), reply)
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.open_files(template, data)
    assert not window.send_panel.failed_button.isEnabled()

    window.send_panel.send_button.click()
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.resume_dialog.resume_button.click()

    result = blocker.args[0]
    assert result.merge_id == record.id
    assert result.progress.failed == len(replies)
    return record.id


def open_failed_dialog(window: MergeWindow) -> FailedRowsDialog:
    window.send_panel.failed_button.click()
    dialog = window.failed_dialog
    assert isinstance(dialog, FailedRowsDialog)
    return dialog


def send_again(qtbot, window: MergeWindow, dialog: FailedRowsDialog):
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        dialog.send_button.click()
    return blocker.args[0]


def test_failed_button_shows_count(qtbot, window, server, tmp_path):
    send_with_failed_rows(qtbot, window, server, tmp_path, {2: BUSY, 4: BUSY})

    assert window.send_panel.failed_button.isEnabled()
    assert window.send_panel.failed_button.text() == "Failed rows (2)…"
    assert not window.send_panel.unknown_button.isEnabled()


def test_failed_button_counts_only_retryable(qtbot, window, server, tmp_path):
    send_with_failed_rows(qtbot, window, server, tmp_path, {3: BUSY, 5: NO_SUCH_USER})

    assert window.send_panel.failed_button.text() == "Failed rows (1)…"


def test_failed_dialog_lists_rows(qtbot, window, server, tmp_path):
    send_with_failed_rows(qtbot, window, server, tmp_path, {3: BUSY, 5: NO_SUCH_USER})

    dialog = open_failed_dialog(window)

    assert dialog.table.rowCount() == 2
    assert [dialog.table.item(0, column).text() for column in range(3)] == ["3", address(3), BUSY]
    assert [dialog.table.item(1, column).text() for column in range(3)] == [
        "5 (suppressed, stays failed)", address(5), NO_SUCH_USER]
    assert dialog.checked_rows() == [3]
    assert not dialog.bounced_label.isHidden()
    assert "sluice merge suppress remove ADDRESS" in dialog.bounced_label.text()
    assert dialog.send_button.isEnabled()
    assert dialog.send_button.text() == "Send 1 row(s) again"
    dialog.reject()
    assert window.failed_dialog is None


def test_failed_dialog_cancel_sends_nothing(qtbot, window, server, tmp_path):
    merge_id = send_with_failed_rows(qtbot, window, server, tmp_path, {3: BUSY})
    server.behaviour.recipient_replies.clear()
    dialog = open_failed_dialog(window)

    dialog.reject()
    qtbot.wait(300)

    assert window.runner.request.retry_failed == ()
    assert server.tries[address(3)] == 1
    with journal() as opened:
        assert opened.recipient(merge_id, 3).state == jn.FAILED


def test_failed_row_sent_again_once(qtbot, window, server, tmp_path):
    merge_id = send_with_failed_rows(qtbot, window, server, tmp_path, {3: BUSY})
    assert received_counts(server) == {address(number): 1 for number in (1, 2, 4, 5)}
    server.behaviour.recipient_replies.clear()
    dialog = open_failed_dialog(window)

    result = send_again(qtbot, window, dialog)

    assert result.merge_id == merge_id
    assert result.progress.state == jn.FINISHED
    assert window.runner.request.retry_failed == (3,)
    assert received_counts(server) == {address(number): 1 for number in range(1, ROWS + 1)}
    assert server.tries[address(3)] == 2
    for number in (1, 2, 4, 5):
        assert server.tries[address(number)] == 1
    with journal() as opened:
        assert opened.recipient(merge_id, 3).state == jn.SENT
        assert opened.counts(merge_id)[jn.FAILED] == 0
    assert not window.send_panel.failed_button.isEnabled()
    assert window.send_panel.failed_button.text() == "Failed rows…"


def test_suppressed_bounce_stays_failed(qtbot, window, server, tmp_path):
    merge_id = send_with_failed_rows(qtbot, window, server, tmp_path, {3: BUSY, 5: NO_SUCH_USER})
    server.behaviour.recipient_replies.clear()
    dialog = open_failed_dialog(window)

    send_again(qtbot, window, dialog)

    assert server.tries[address(5)] == 1
    assert address(5) not in received_counts(server)
    assert received_counts(server)[address(3)] == 1
    with journal() as opened:
        assert opened.recipient(merge_id, 5).state == jn.FAILED
        assert opened.recipient(merge_id, 5).reply == NO_SUCH_USER
        assert opened.recipient(merge_id, 3).state == jn.SENT
    assert not window.send_panel.failed_button.isEnabled()


def test_bounce_requested_anyway_stays_failed(qtbot, window, server, tmp_path):
    """A request that names a suppressed hard bounce does not send it, because the send decides again."""
    merge_id = send_with_failed_rows(qtbot, window, server, tmp_path, {3: BUSY, 5: NO_SUCH_USER})
    server.behaviour.recipient_replies.clear()
    with journal() as opened:
        record = opened.merge(merge_id)

    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window._retry_failed(record, [3, 5])

    assert server.tries[address(5)] == 1
    assert received_counts(server)[address(3)] == 1
    with journal() as opened:
        assert opened.recipient(merge_id, 5).state == jn.FAILED


def test_unsuppressed_bounce_sent_again(qtbot, window, server, tmp_path):
    merge_id = send_with_failed_rows(qtbot, window, server, tmp_path, {3: BUSY, 5: NO_SUCH_USER})
    assert SuppressionList(default_profile()).remove(address(5))
    server.behaviour.recipient_replies.clear()

    dialog = open_failed_dialog(window)
    assert dialog.checked_rows() == [3, 5]
    assert dialog.bounced_label.isHidden()
    send_again(qtbot, window, dialog)

    assert received_counts(server) == {address(number): 1 for number in range(1, ROWS + 1)}
    assert server.tries[address(5)] == 2
    with journal() as opened:
        assert opened.counts(merge_id)[jn.FAILED] == 0
