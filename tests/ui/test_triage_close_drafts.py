"""Closing the window while the IMAP server does not respond: a short wait, then the drafts are kept locally.

A fault proxy in front of the test Dovecot holds back the server's greeting,
so a draft's push to the Drafts folder waits for the IMAP timeout. Closing
must not wait for it. The draft typed last must survive in the outbox file
and in the store's Drafts folder, and the next sync must put it on the server.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.compose.drafts import DraftStore, drafts_folder
from desktop.compose.outbox import Outbox, outbox_path
from desktop.paths import default_profile
from desktop.store import Store
from desktop.ui.compose_service import CLOSE_GRACE_SECONDS
from desktop.ui.main_window import MainWindow
from tests.compose.compose_helpers import ACCOUNT, add_account, folder_messages, sync
from tests.helpers.proxy import FaultProxy
from tests.ui.fixtures_ui import OFFSCREEN_NOISE
from tests.ui.test_keys import press
from tests.ui.test_select import ConfirmationAnswer

pytestmark = [pytest.mark.dovecot, pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)]

WAIT_MS = 15_000
# The server's greeting is held back this long, longer than the grace period and the test's limit on closing.
STALL_SECONDS = 20.0
# Closing may take the grace period plus the local saves, but must not wait for the stalled server.
CLOSE_LIMIT_SECONDS = CLOSE_GRACE_SECONDS + 5.0


@pytest.fixture
def proxy(dovecot_server):
    with FaultProxy(dovecot_server.host, dovecot_server.port) as started:
        yield started


@pytest.fixture
def window(qtbot, imap_user, dovecot_server, proxy, capsys) -> MainWindow:
    add_account(None, imap_user, dovecot_server, imap_port=proxy.port)
    sync(capsys)
    main = MainWindow(default_profile().ensure())
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    main.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main, timeout=2000)
    main.message_view.setFocus()
    return main


def _stored_draft_bodies() -> list[str]:
    with Store(default_profile().store_file) as store:
        folder = drafts_folder(store, ACCOUNT)
        assert folder is not None
        return [store.raw(message).decode(errors="replace") for message in store.message_ids([folder])]


def test_close_keeps_draft_when_server_stalls(qtbot, window: MainWindow, proxy, direct_client, capsys) -> None:
    press(qtbot, window.message_view, "c")
    qtbot.waitUntil(lambda: len(window.compose_commands.composers) == 1, timeout=WAIT_MS)
    composer = window.compose_commands.composers[0]
    qtbot.addWidget(composer)
    composer.to_field.setText("bob@example.org")
    composer.subject_field.setText("Plan")
    composer.body.setPlainText("First words")
    service = window.compose_commands.service

    proxy.stall(STALL_SECONDS)
    # This save's push waits for the held-back greeting, so the save at closing queues behind it.
    composer.save_draft()
    composer.body.setPlainText("First words and the last ones")

    answer = ConfirmationAnswer(QMessageBox.StandardButton.Ok)
    started = time.monotonic()
    try:
        window.close()
    finally:
        answer.stop()
    closing = time.monotonic() - started

    assert closing < CLOSE_LIMIT_SECONDS
    assert len(answer.texts) == 1
    assert "did not respond within 3 seconds" in answer.texts[0]
    assert "1 draft(s) were kept on this computer" in answer.texts[0]
    outbox = Outbox(outbox_path(default_profile().data_dir))
    try:
        (saved,) = DraftStore(outbox).drafts(ACCOUNT)
    finally:
        outbox.close()
    assert saved.draft.body.startswith("First words and the last ones")
    assert any("First words and the last ones" in raw for raw in _stored_draft_bodies())

    # The stalled push ends on its own thread once the proxy passes the server's bytes again.
    service._pool.shutdown(wait=True)
    proxy.pass_through()
    sync(capsys)

    copies = folder_messages(direct_client, "Drafts")
    assert len(copies) == 1
    assert "First words and the last ones" in copies[0].get_body(("plain",)).get_content()


def test_close_without_stall_asks_nothing(qtbot, window: MainWindow, direct_client) -> None:
    press(qtbot, window.message_view, "c")
    qtbot.waitUntil(lambda: len(window.compose_commands.composers) == 1, timeout=WAIT_MS)
    composer = window.compose_commands.composers[0]
    qtbot.addWidget(composer)
    composer.to_field.setText("bob@example.org")
    composer.subject_field.setText("Quick note")
    composer.body.setPlainText("Saved on the server at once")

    answer = ConfirmationAnswer(QMessageBox.StandardButton.Ok)
    try:
        window.close()
    finally:
        answer.stop()

    assert answer.texts == []
    copies = folder_messages(direct_client, "Drafts")
    assert len(copies) == 1
    assert copies[0]["Subject"] == "Quick note"
