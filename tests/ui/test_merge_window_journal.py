"""The merge window's sends that depend on the journal, against a real aiosmtpd on 127.0.0.1.

The check for addresses an earlier merge reached, resuming with the recorded options, and sending rows of
unknown outcome again.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from desktop.config import Config, save_config
from desktop.merge import journal as jn
from desktop.merge.rate import Rate, RateError
from desktop.merge.sender import SendOptions
from desktop.paths import default_profile
from desktop.ui import merge_window as window_module
from desktop.ui.merge_dialogs import ResumeDialog, UnknownRowsDialog, limits_text, resume_options
from desktop.ui.merge_window import MergeWindow
from tests.merge.send_helpers import ScriptedServer, add_smtp_account, address, received_counts, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)


@pytest.fixture
def server():
    with ScriptedServer() as instance:
        yield instance


def new_window(qtbot) -> MergeWindow:
    composer = MergeWindow(default_profile())
    qtbot.addWidget(composer)
    composer.send_panel.copies_box.setChecked(False)
    return composer


@pytest.fixture
def window(qtbot, server):
    add_smtp_account(server)
    composer = new_window(qtbot)
    yield composer
    if composer.resend_check_job is not None:
        composer.resend_check_job.wait(20000)
    if composer.runner is not None and composer.runner.is_running():
        composer.runner.cancel()
        composer.runner.wait(20000)


def open_and_check(qtbot, window: MergeWindow, template, data) -> None:
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.open_files(template, data)


def send_and_wait(qtbot, window: MergeWindow):
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.send_panel.send_button.click()
    return blocker.args[0]


def journal() -> jn.Journal:
    return jn.Journal(jn.journal_path(default_profile().data_dir))


# --- the check for earlier sends -----------------------------------------------------------------------


def test_earlier_sends_checked_on_worker(qtbot, window, server, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    template, data = write_merge(folder, 3)
    open_and_check(qtbot, window, template, data)
    send_and_wait(qtbot, window)
    write_merge(folder, 5)
    open_and_check(qtbot, window, template, data)
    threads = []
    real_find = window_module.find_already_sent

    def find_and_note_thread(*args):
        threads.append(threading.current_thread())
        return real_find(*args)

    monkeypatch.setattr(window_module, "find_already_sent", find_and_note_thread)

    window.send_panel.send_button.click()

    assert window.is_checking_earlier_sends()
    assert window.resume_box is None
    assert not window.send_panel.send_button.isEnabled()
    assert window.send_panel.cancel_button.isEnabled()
    assert "Checking which addresses" in window.send_panel.state_label.text()
    qtbot.waitUntil(lambda: window.resume_box is not None, timeout=10000)
    assert threads
    assert threads[0] is not threading.main_thread()
    assert not window.is_checking_earlier_sends()
    assert "3 of the 5 rows go to addresses that already got this template" in window.resume_box.text()
    rest = next(button for button in window.resume_box.buttons() if button.text() == "Send to the rest only")
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        rest.click()
    assert blocker.args[0].progress.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, 6)}


def test_earlier_sends_check_cancel(qtbot, window, server, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    template, data = write_merge(folder, 2)
    open_and_check(qtbot, window, template, data)
    send_and_wait(qtbot, window)
    write_merge(folder, 4)
    open_and_check(qtbot, window, template, data)
    release = threading.Event()
    real_find = window_module.find_already_sent

    def find_when_released(*args):
        release.wait(20)
        return real_find(*args)

    monkeypatch.setattr(window_module, "find_already_sent", find_when_released)
    first_runner = window.runner
    window.send_panel.send_button.click()
    assert window.is_checking_earlier_sends()

    window.send_panel.cancel_button.click()
    release.set()
    qtbot.waitUntil(lambda: not window.resend_check_job.is_running(), timeout=10000)
    qtbot.wait(100)

    assert not window.is_checking_earlier_sends()
    assert window.send_panel.send_button.isEnabled()
    assert window.status_label.text() == "Nothing was sent."
    assert window.resume_box is None
    assert window.runner is first_runner
    assert len(server.received) == 2


def test_close_waits_for_earlier_sends_check(qtbot, window, server, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    template, data = write_merge(folder, 2)
    open_and_check(qtbot, window, template, data)
    send_and_wait(qtbot, window)
    write_merge(folder, 3)
    open_and_check(qtbot, window, template, data)
    release = threading.Event()
    real_find = window_module.find_already_sent

    def find_when_released(*args):
        release.wait(20)
        return real_find(*args)

    monkeypatch.setattr(window_module, "find_already_sent", find_when_released)
    window.show()
    window.send_panel.send_button.click()
    threading.Timer(0.3, release.set).start()

    assert window.close()

    assert not window.isVisible()
    assert not window.is_checking_earlier_sends()
    qtbot.waitUntil(lambda: not window.resend_check_job.is_running(), timeout=5000)
    qtbot.wait(100)
    assert window.resume_box is None
    assert len(server.received) == 2


def test_all_reached_offers_no_rest(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 3)
    open_and_check(qtbot, window, template, data)
    send_and_wait(qtbot, window)
    other = tmp_path / "other"
    other.mkdir()
    other_data = other / "people.csv"
    other_data.write_text(data.read_text(encoding="utf-8").replace("C000", "D000"), encoding="utf-8")
    open_and_check(qtbot, window, template, other_data)

    window.send_panel.send_button.click()
    qtbot.waitUntil(lambda: window.resume_box is not None, timeout=10000)

    box = window.resume_box
    labels = [button.text() for button in box.buttons()]
    assert "Send to the rest only" not in labels
    assert "Send to everyone again" in labels
    assert box.defaultButton() is box.button(box.StandardButton.Cancel)
    assert "3 of the 3 rows go to addresses that already got this template" in box.text()
    assert box.text().endswith("Send it to everyone again?")
    box.reject()
    qtbot.waitUntil(lambda: window.resume_box is None, timeout=5000)
    assert len(server.received) == 3


def test_send_after_test_send_checks_then_sends(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 3)
    open_and_check(qtbot, window, template, data)
    window.send_panel.test_address.setText("me@example.com")
    window.send_panel.test_count.setValue(1)
    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.test_button.click()

    result = send_and_wait(qtbot, window)

    assert result.progress.state == jn.FINISHED
    assert window.resume_box is None
    assert received_counts(server) == {"me@example.com": 1, address(1): 1, address(2): 1, address(3): 1}


def test_unreadable_journal_named_on_send(qtbot, window, server, tmp_path, caplog):
    template, data = write_merge(tmp_path / "m", 2)
    path = jn.journal_path(default_profile().data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database" * 100)

    open_and_check(qtbot, window, template, data)
    window.send_panel.send_button.click()

    assert "cannot be read for earlier sends" in caplog.text
    assert not window.send_panel.unknown_button.isEnabled()
    assert f"The send journal {path} cannot be opened" in window.status_label.text()
    assert window.runner is None
    assert server.received == []


# --- resuming with the recorded options -------------------------------------------------------------------


def start_and_cancel(qtbot, window: MergeWindow, server, template, data) -> int:
    """Send at 120/min over one connection, cancel after two messages; return how many arrived."""
    open_and_check(qtbot, window, template, data)
    window.send_panel.rate_edit.setText("120/min")
    window.send_panel.connections_box.setValue(1)
    window.send_panel.send_button.click()
    server.wait_for(2, timeout=15)
    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.cancel_button.click()
    return len(server.received)


def test_resume_shows_recorded_options(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 6)
    first_count = start_and_cancel(qtbot, window, server, template, data)
    window.send_panel.rate_edit.setText("1/min")
    window.send_panel.connections_box.setValue(3)

    window.send_panel.send_button.click()

    dialog = window.resume_dialog
    assert isinstance(dialog, ResumeDialog)
    assert dialog.rate_edit.text() == "120/min"
    assert dialog.connections_box.value() == 1
    assert dialog.account_label.text() == "work"
    assert dialog.pauses_label.text() == "none"
    assert f"{first_count} of 6 sent" in dialog.question_label.text()
    dialog.rate_edit.setText("600/min")
    dialog.connections_box.setValue(2)
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        dialog.resume_button.click()
    assert window.runner.request.options.connections == 2
    assert window.runner.request.options.rate == Rate(per_minute=600)
    assert window.runner.request.resume_id == blocker.args[0].merge_id
    assert blocker.args[0].progress.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, 7)}
    with journal() as opened:
        assert opened.merge(blocker.args[0].merge_id).options["connections"] == 1


def test_resume_keeps_rate_not_page(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 4)
    open_and_check(qtbot, window, template, data)
    window.send_panel.connections_box.setValue(1)
    server.script(address(3), "rcpt", ["421 4.3.2 Service shutting down"] * 10)
    window.send_panel.send_button.click()
    server.wait_for(2, timeout=15)
    with qtbot.waitSignal(window.send_finished, timeout=30000):
        window.send_panel.cancel_button.click()
    server.scripts.clear()
    window.send_panel.rate_edit.setText("1/min")

    window.send_panel.send_button.click()
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        window.resume_dialog.resume_button.click()

    assert window.runner.request.options.rate == Rate()
    assert blocker.args[0].progress.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, 5)}


def test_resume_rejects_invalid_rate(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 6)
    start_and_cancel(qtbot, window, server, template, data)
    window.send_panel.send_button.click()
    dialog = window.resume_dialog

    dialog.rate_edit.setText("fast")
    dialog.resume_button.click()

    assert window.resume_dialog is dialog
    assert "'fast' is invalid" in dialog.error_label.text()
    assert not window.runner.is_running()
    dialog.reject()
    assert window.resume_dialog is None


def test_resume_needs_recorded_account(qtbot, window, server, tmp_path):
    template, data = write_merge(tmp_path / "m", 6)
    start_and_cancel(qtbot, window, server, template, data)
    account = add_smtp_account(server)
    renamed = replace(account, name="other")
    save_config(Config(accounts={"other": renamed}), default_profile().config_file)
    window.load_accounts()

    window.send_panel.send_button.click()

    assert window.resume_dialog is None
    assert "account work, which is not configured any more" in window.status_label.text()
    assert not window.runner.is_running()


def test_resume_options_keep_pauses():
    recorded = SendOptions(connections=3, rate=Rate(per_minute=30, per_day=400, pause_every=50, pause_seconds=20,
                                                    jitter=0.3)).as_dict()

    options = resume_options(recorded, connections=5, rate_text="10/min", sent_copies=True)

    assert options.connections == 5
    assert options.rate == Rate(per_minute=10, pause_every=50, pause_seconds=20, jitter=0.3)
    assert options.sent_copies is True
    assert limits_text(Rate(per_minute=30, per_day=400)) == "30/min, 400/day"
    assert resume_options(recorded, connections=3, rate_text="", sent_copies=True).rate == Rate(
        pause_every=50, pause_seconds=20, jitter=0.3)


def test_resume_options_copies_only_off(qtbot):
    without_copies = SendOptions(sent_copies=False).as_dict()
    with_copies = SendOptions(sent_copies=True).as_dict()

    assert resume_options(without_copies, connections=4, rate_text="", sent_copies=True).sent_copies is False
    assert resume_options(with_copies, connections=4, rate_text="", sent_copies=False).sent_copies is False
    with pytest.raises(RateError, match="'3 per minute' is invalid"):
        resume_options(with_copies, connections=4, rate_text="3 per minute", sent_copies=True)
    with pytest.raises(ValueError, match="--connections 0 is invalid"):
        resume_options(with_copies, connections=0, rate_text="", sent_copies=True)
    record = jn.MergeRecord("20261205-9", jn.KIND_SEND, "key", "t.md", "d.csv", "work", without_copies, 5, 0.0,
                            jn.STOPPED, "")
    dialog = ResumeDialog(record, {jn.SENT: 2}, None)
    qtbot.addWidget(dialog)
    assert not dialog.copies_box.isChecked()
    assert not dialog.copies_box.isEnabled()


# --- rows of unknown outcome ------------------------------------------------------------------------------


def send_with_unknown_row(qtbot, window: MergeWindow, server, tmp_path):
    """Send four rows; the server drops the connection after row 2's data, so row 2 is unknown."""
    template, data = write_merge(tmp_path / "m", 4)
    open_and_check(qtbot, window, template, data)
    assert not window.send_panel.unknown_button.isEnabled()
    server.drop_after_data(address(2))
    result = send_and_wait(qtbot, window)
    assert result.progress.unknown == 1
    return template, data, result


def test_unknown_rows_listed_then_sent(qtbot, window, server, tmp_path):
    _, _, result = send_with_unknown_row(qtbot, window, server, tmp_path)
    assert received_counts(server)[address(2)] == 1
    assert window.send_panel.unknown_button.isEnabled()
    assert window.send_panel.unknown_button.text() == "Rows of unknown outcome (1)…"

    window.send_panel.unknown_button.click()

    dialog = window.unknown_dialog
    assert isinstance(dialog, UnknownRowsDialog)
    assert dialog.table.rowCount() == 1
    with journal() as opened:
        row = opened.recipient(result.merge_id, 2)
    assert [dialog.table.item(0, column).text() for column in range(4)] == ["2", address(2), row.message_id,
                                                                             row.reply]
    assert row.message_id
    assert "second copy" in dialog.confirm_box.text()
    assert not dialog.send_button.isEnabled()
    dialog.confirm_box.setChecked(True)
    assert dialog.send_button.isEnabled()
    assert dialog.send_button.text() == "Send 1 row(s) again"
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        dialog.send_button.click()
    assert blocker.args[0].merge_id == result.merge_id
    assert blocker.args[0].progress.state == jn.FINISHED
    assert received_counts(server) == {address(1): 1, address(2): 2, address(3): 1, address(4): 1}
    with journal() as opened:
        assert opened.recipient(result.merge_id, 2).state == jn.SENT
        assert opened.counts(result.merge_id)[jn.UNKNOWN] == 0
    assert not window.send_panel.unknown_button.isEnabled()


def test_unknown_rows_need_confirmation(qtbot, window, server, tmp_path):
    _, _, result = send_with_unknown_row(qtbot, window, server, tmp_path)
    window.send_panel.unknown_button.click()
    dialog = window.unknown_dialog

    dialog.confirm_box.setChecked(True)
    dialog.table.item(0, 0).setCheckState(Qt.CheckState.Unchecked)
    assert not dialog.send_button.isEnabled()
    assert dialog.checked_rows() == []
    dialog.reject()
    qtbot.wait(300)

    assert window.unknown_dialog is None
    assert window.runner.request.retry_unknown == ()
    assert len(server.received) == 4
    with journal() as opened:
        assert opened.recipient(result.merge_id, 2).state == jn.UNKNOWN


def test_unknown_rows_offered_after_reopen(qtbot, window, server, tmp_path):
    template, data, result = send_with_unknown_row(qtbot, window, server, tmp_path)

    reopened = new_window(qtbot)
    open_and_check(qtbot, reopened, template, data)

    assert reopened.send_panel.unknown_button.isEnabled()
    reopened.send_panel.unknown_button.click()
    assert reopened.unknown_dialog.record.id == result.merge_id
    assert reopened.unknown_dialog.checked_rows() == [2]
    reopened.unknown_dialog.reject()
