"""The merge window rejects a send of the same template and data while another merge of them is being sent."""

from __future__ import annotations

import threading
import time

import pytest

from desktop.merge import journal as jn
from desktop.merge.render import open_merge
from desktop.merge.sender import MergeSend, SendOptions
from desktop.paths import default_profile
from desktop.send import SmtpSender
from desktop.ui.merge_dialogs import ResumeDialog
from desktop.ui.merge_window import MergeWindow
from tests.merge.send_helpers import ScriptedServer, add_smtp_account, address, write_merge
from tests.ui.fixtures_ui import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

COUNT = 12


@pytest.fixture
def server():
    with ScriptedServer() as instance:
        yield instance


def test_send_again_beside_running_rejected(qtbot, server, tmp_path):
    account = add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", COUNT)
    profile = default_profile().ensure()
    merge = open_merge(template, data, profile=profile)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as journal:
        running = journal.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template.resolve()),
                                       data=str(data.resolve()), account=account.name, options={}, total=COUNT)
    # About three seconds for the whole merge over one connection, so the window's send starts while it runs.
    server.deliver_with(lambda item: time.sleep(0.25))
    composer = MergeWindow(profile)
    qtbot.addWidget(composer)
    composer.send_panel.copies_box.setChecked(False)
    with qtbot.waitSignal(composer.merge_checked, timeout=10000):
        composer.open_files(template, data)

    with SmtpSender() as smtp:
        sending = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=running.id,
                            options=SendOptions(connections=1, sent_copies=False), smtp=smtp)
        progress: list = []
        worker = threading.Thread(target=lambda: progress.extend(sending.run()), name="running-merge")
        worker.start()
        try:
            server.wait_for(1, timeout=60)
            composer.send_panel.send_button.click()
            dialog = composer.resume_dialog
            assert isinstance(dialog, ResumeDialog)
            with qtbot.waitSignal(composer.send_finished, timeout=30000) as blocker:
                dialog.again_button.click()
            middle = len(server.received)
        finally:
            worker.join(timeout=120)

    assert blocker.args[0].merge_id == ""
    assert middle < COUNT
    text = composer.status_label.text()
    assert f"Merge {running.id} of the same template and data is being sent now" in text
    assert f"Wait for merge {running.id} to finish or stop it, then try again." in text
    assert progress[-1].state == jn.FINISHED
    assert server.tries == {address(number): 1 for number in range(1, COUNT + 1)}
    with jn.Journal(journal_file) as journal:
        assert [record.id for record in journal.merges()] == [running.id]
