"""The composer window against a real Dovecot and aiosmtpd: keys, completion, drops, undo, autosave, outbox."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from PySide6.QtCore import QDateTime, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop.compose.outbox import FAILED
from desktop.config import load_config, save_config
from desktop.paths import default_profile
from desktop.ui.compose_send import SendLaterDialog, preset_times
from desktop.ui.composer import ComposerWindow
from desktop.ui.main_window import MainWindow
from tests.compose.compose_helpers import ADDRESS, add_account, folder_messages, sync
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, refocus_window
from tests.ui.test_keys import press

# The offscreen platform cannot raise the completion popup or let it grab the keyboard; harmless here.
pytestmark = [pytest.mark.dovecot,
              pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, "does not support raise", "does not support grabbing")]

WAIT_MS = 15_000


def _mail(sender: str, to: str, subject: str, body: str, *, cc: str = "", message_id: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = message_id or f"<{abs(hash(subject))}@example.org>"
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture
def profile(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    direct_client.append("INBOX", _mail("Bob Stone <bob@example.org>", f"Ana <{ADDRESS}>", "Budget",
                                        "Line one\nLine two\n", cc="Carol <carol@example.org>",
                                        message_id="<budget-1@example.org>"))
    # Sent mail ranks the contacts: Dora twice, Dan once.
    for number, recipient in enumerate(["Dora Díaz <dora@example.org>", "Dora Díaz <dora@example.org>",
                                        "Dan Doe <dan@example.org>"]):
        direct_client.append("Sent", _mail(f"Ana <{ADDRESS}>", recipient, f"Note {number}", "Hello.\n"))
    add_account(smtp_server, imap_user, dovecot_server, signature="Ana\nExample Ltd")
    set_undo_seconds(2)
    sync(capsys)
    return default_profile().ensure()


def set_undo_seconds(seconds: int) -> None:
    profile = default_profile().ensure()
    config = load_config(profile.config_file)
    config.compose.undo_seconds = seconds
    save_config(config, profile.config_file)


@pytest.fixture
def window(qtbot, profile) -> MainWindow:
    main = MainWindow(profile)
    qtbot.addWidget(main)
    main.resize(1100, 700)
    main.show()
    qtbot.waitExposed(main)
    main.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main, timeout=2000)
    qtbot.waitUntil(lambda: main.message_model.rowCount() == 1, timeout=WAIT_MS)
    main.message_view.setFocus()
    main.message_view.selectRow(0)
    qtbot.waitUntil(lambda: main.reader.message_id() == main.message_model.message_id(0), timeout=WAIT_MS)
    yield main
    main.close()


def _composer(qtbot, window: MainWindow) -> ComposerWindow:
    qtbot.waitUntil(lambda: len(window.compose_commands.composers) == 1, timeout=WAIT_MS)
    composer = window.compose_commands.composers[-1]
    qtbot.addWidget(composer)
    qtbot.waitExposed(composer)
    composer.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is composer, timeout=2000)
    return composer


def chord(qtbot, widget, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    """Press ``key`` with ``modifiers``, then release the modifiers.

    Qt keeps the modifier state of the last key event. Without the releases, later tests would click
    with Ctrl or Shift still held.
    """
    qtbot.keyClick(widget, key, modifiers)
    qtbot.keyRelease(widget, Qt.Key.Key_Control, Qt.KeyboardModifier.NoModifier)
    qtbot.keyRelease(widget, Qt.Key.Key_Shift, Qt.KeyboardModifier.NoModifier)


def _close_without_draft(composer: ComposerWindow) -> None:
    composer.discard()


def test_r_a_f_c_open_the_right_composers(qtbot, window: MainWindow) -> None:
    press(qtbot, window.message_view, "r")
    reply = _composer(qtbot, window)
    assert reply.to_field.text() == "Bob Stone <bob@example.org>"
    assert reply.cc_field.text() == ""
    assert reply.subject_field.text() == "Re: Budget"
    body = reply.body.toPlainText()
    assert "> Line one\n> Line two" in body
    assert "Bob Stone <bob@example.org> wrote:" in body
    assert body.index("-- \nAna\nExample Ltd") < body.index("> Line one"), "the signature sits above the quote"
    assert reply.from_box.currentData() == ("work", ADDRESS)
    assert reply.draft.in_reply_to == "<budget-1@example.org>"
    _close_without_draft(reply)

    refocus_window(qtbot, window)
    press(qtbot, window.message_view, "a")
    reply_all = _composer(qtbot, window)
    assert reply_all.to_field.text() == "Bob Stone <bob@example.org>"
    assert reply_all.cc_field.text() == "Carol <carol@example.org>", "the user's own address is left out"
    _close_without_draft(reply_all)

    refocus_window(qtbot, window)
    press(qtbot, window.message_view, "f")
    forward = _composer(qtbot, window)
    assert forward.to_field.text() == ""
    assert forward.subject_field.text() == "Fwd: Budget"
    assert "Forwarded message" in forward.body.toPlainText()
    assert "Line two" in forward.body.toPlainText()
    _close_without_draft(forward)

    refocus_window(qtbot, window)
    press(qtbot, window.message_view, "c")
    new = _composer(qtbot, window)
    assert new.to_field.text() == ""
    assert new.subject_field.text() == ""
    assert new.body.toPlainText().startswith("\n\n-- \nAna\nExample Ltd")
    assert QApplication.focusWidget() is new.to_field
    _close_without_draft(new)


def test_ctrl_enter_sends_reply_after_delay(qtbot, window: MainWindow, smtp_server) -> None:
    press(qtbot, window.message_view, "r")
    composer = _composer(qtbot, window)
    composer.body.setFocus()
    qtbot.keyClicks(composer.body, "Thanks, agreed.")
    chord(qtbot, composer.body, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    qtbot.waitUntil(lambda: window.compose_commands.undo_bar.isVisible(), timeout=WAIT_MS)
    assert "Sending in" in window.compose_commands.undo_bar.label.text()
    assert smtp_server.received == [], "nothing goes out during the undo delay"
    qtbot.waitUntil(lambda: len(smtp_server.received) == 1, timeout=WAIT_MS)
    message = smtp_server.received[0].message
    assert message["Subject"] == "Re: Budget"
    assert message["In-Reply-To"] == "<budget-1@example.org>"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Thanks, agreed.")
    assert "> Line one" in text
    assert smtp_server.received[0].rcpt_tos == ("bob@example.org",)
    qtbot.waitUntil(lambda: not window.compose_commands.undo_bar.isVisible(), timeout=WAIT_MS)


def test_undo_within_delay_sends_nothing_and_reopens(qtbot, window: MainWindow, smtp_server) -> None:
    press(qtbot, window.message_view, "c")
    composer = _composer(qtbot, window)
    qtbot.keyClicks(composer.to_field, "zed@example.org")
    composer.subject_field.setText("Take this back")
    composer.remind_box.setChecked(True)
    composer.remind_days.setValue(3)
    composer.body.setFocus()
    chord(qtbot, composer.body, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.compose_commands.undo_bar.isVisible(), timeout=WAIT_MS)
    entry_id = window.compose_commands.undo_bar.pending.entry_id

    refocus_window(qtbot, window)
    press(qtbot, window.message_view, "z")

    reopened = _composer(qtbot, window)
    assert reopened.subject_field.text() == "Take this back"
    assert reopened.to_field.text() == "zed@example.org"
    assert reopened.remind_box.isChecked()
    assert reopened.remind_days.value() == 3
    assert window.compose_commands.service.outbox.entry(entry_id) is None
    # Well past the original send time: the server still has nothing.
    qtbot.wait(3500)
    assert smtp_server.received == []
    _close_without_draft(reopened)


def test_typing_a_name_offers_the_ranked_address(qtbot, window: MainWindow) -> None:
    service = window.compose_commands.service
    qtbot.waitUntil(lambda: bool(service.contacts.contacts), timeout=WAIT_MS)
    press(qtbot, window.message_view, "c")
    composer = _composer(qtbot, window)
    composer.to_field.setFocus()
    qtbot.keyClicks(composer.to_field, "d")
    assert composer.to_field.suggestions()[:2] == ["Dora Díaz <dora@example.org>", "Dan Doe <dan@example.org>"]
    qtbot.waitUntil(composer.to_field.completer.popup().isVisible, timeout=2000)
    qtbot.keyClick(composer.to_field.completer.popup(), Qt.Key.Key_Tab)
    assert composer.to_field.text() == "Dora Díaz <dora@example.org>, "
    qtbot.keyClicks(composer.to_field, "dan")
    assert composer.to_field.suggestions() == ["Dan Doe <dan@example.org>"]
    qtbot.keyClick(composer.to_field.completer.popup(), Qt.Key.Key_Tab)
    assert composer.to_field.text() == "Dora Díaz <dora@example.org>, Dan Doe <dan@example.org>, "
    assert composer.current_draft().to == ["Dora Díaz <dora@example.org>", "Dan Doe <dan@example.org>"]
    _close_without_draft(composer)


def test_dropped_file_is_attached_and_sent(qtbot, window: MainWindow, smtp_server, tmp_path: Path) -> None:
    attachment = tmp_path / "Übersicht März.txt"
    attachment.write_bytes(b"numbers\n")
    press(qtbot, window.message_view, "c")
    composer = _composer(qtbot, window)
    composer.to_field.setText("bob@example.org")
    composer.subject_field.setText("Figures")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(attachment))])
    # Qt delivers a drop only to a widget that accepted the drag's entry, as a real drag does.
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(composer.body.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(composer.body.viewport(), drop)
    assert composer.attachments.paths() == [attachment]
    assert composer.attachments.list.item(0).text() == "Übersicht März.txt  (8 B)"
    assert "Übersicht" not in composer.body.toPlainText(), "the path is not pasted into the text"

    composer.send()
    received = smtp_server.wait_for(1, timeout=15)
    assert len(received) == 1
    files = [(part.get_filename(), part.get_content()) for part in received[0].message.iter_attachments()]
    assert files == [("Übersicht März.txt", "numbers\n")]


def test_autosave_reaches_drafts_folder_once(qtbot, window: MainWindow, direct_client) -> None:
    press(qtbot, window.message_view, "c")
    composer = _composer(qtbot, window)
    composer.autosave_ms = 100
    composer.server_save_seconds = 0
    qtbot.keyClicks(composer.to_field, "bob@example.org")
    composer.subject_field.setFocus()
    qtbot.keyClicks(composer.subject_field, "Plan")
    composer.body.setFocus()
    qtbot.keyClicks(composer.body, "First words")
    service = window.compose_commands.service

    def drafts_hold(text: str) -> bool:
        service.wait_idle()
        copies = folder_messages(direct_client, "Drafts")
        return len(copies) == 1 and text in copies[0].get_body(("plain",)).get_content()

    qtbot.waitUntil(lambda: drafts_hold("First words"), timeout=WAIT_MS)
    qtbot.keyClicks(composer.body, " and more")
    qtbot.waitUntil(lambda: drafts_hold("First words and more"), timeout=WAIT_MS)
    copies = folder_messages(direct_client, "Drafts")
    assert len(copies) == 1
    assert copies[0]["Subject"] == "Plan"

    composer.discard()
    service.wait_idle()
    assert folder_messages(direct_client, "Drafts") == []


def test_snippet_trigger_in_body(qtbot, window: MainWindow) -> None:
    folder = window.compose_commands.service.snippets_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thanks.txt").write_text("Hi {{ first_name }}, thanks!", encoding="utf-8")
    press(qtbot, window.message_view, "r")
    composer = _composer(qtbot, window)
    composer.body.setFocus()
    qtbot.keyClicks(composer.body, ";thanks")
    qtbot.keyClick(composer.body, Qt.Key.Key_Tab)
    assert composer.body.toPlainText().startswith("Hi Bob, thanks!\n")
    qtbot.keyClicks(composer.body, " ;nosuch")
    qtbot.keyClick(composer.body, Qt.Key.Key_Tab)
    assert "nosuch" in composer.message_label.text()
    assert "thanks" in composer.message_label.text(), "the error lists the known snippets"
    assert composer.body.toPlainText().startswith("Hi Bob, thanks! ;nosuch")
    _close_without_draft(composer)


def test_failed_send_is_listed_in_outbox_with_error(qtbot, window: MainWindow, smtp_server) -> None:
    smtp_server.reply_to_recipient("nobody@example.org", "550 5.1.1 No such user here")
    press(qtbot, window.message_view, "c")
    composer = _composer(qtbot, window)
    composer.to_field.setText("nobody@example.org")
    composer.subject_field.setText("Lost")
    composer.send()
    service = window.compose_commands.service
    qtbot.waitUntil(lambda: any(entry.state == FAILED for entry in service.entries()), timeout=WAIT_MS)
    assert smtp_server.received == []

    view = window.compose_commands.show_outbox()
    qtbot.waitUntil(lambda: [entry.state for entry in view.entries_shown()] == [FAILED], timeout=WAIT_MS)
    row = view.tree.topLevelItem(0)
    assert row.text(4) == "Lost"
    assert "No such user" in row.text(5)
    qtbot.waitUntil(lambda: "No such user" in window.status_panel.message_label.text(), timeout=WAIT_MS)
    assert view.retry_button.isEnabled()
    assert view.cancel_button.isEnabled()
    view.cancel_button.click()
    qtbot.waitUntil(lambda: view.entries_shown() == [], timeout=WAIT_MS)
    assert service.entries() == []
    view.close()


def test_send_later_waits_in_outbox(qtbot, window: MainWindow, smtp_server) -> None:
    press(qtbot, window.message_view, "c")
    composer = _composer(qtbot, window)
    composer.to_field.setText("bob@example.org")
    composer.subject_field.setText("Tomorrow")
    composer.remind_box.setChecked(True)
    composer.remind_days.setValue(4)
    later = time.time() + 3600
    composer._queue(later)
    service = window.compose_commands.service
    qtbot.waitUntil(lambda: len(service.entries()) == 1, timeout=WAIT_MS)
    entry = service.entries()[0]
    assert abs(entry.send_at - later) < 1
    assert entry.remind_days == 4
    assert not window.compose_commands.undo_bar.isVisible()
    qtbot.waitUntil(lambda: "Tomorrow goes out at" in window.log_view.toPlainText(), timeout=WAIT_MS)
    view = window.compose_commands.show_outbox()
    assert [item.subject for item in view.entries_shown()] == ["Tomorrow"]
    assert view.edit_button.isEnabled()
    view.edit_button.click()
    reopened = _composer(qtbot, window)
    assert reopened.subject_field.text() == "Tomorrow"
    assert reopened.remind_box.isChecked()
    assert reopened.remind_days.value() == 4
    assert service.entries() == []
    assert smtp_server.received == []
    view.close()
    _close_without_draft(reopened)


def test_ctrl_semicolon_picks_a_snippet(qtbot, window: MainWindow) -> None:
    folder = window.compose_commands.service.snippets_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thanks.txt").write_text("Thanks, {{ first_name }}.", encoding="utf-8")
    (folder / "later.txt").write_text("I will answer later.", encoding="utf-8")
    press(qtbot, window.message_view, "r")
    composer = _composer(qtbot, window)
    composer.body.setFocus()
    chord(qtbot, composer.body, Qt.Key.Key_Semicolon, Qt.KeyboardModifier.ControlModifier)
    picker = composer.snippet_picker
    qtbot.waitUntil(picker.isVisible, timeout=2000)
    assert sorted(item.title for item in picker.shown_items()) == ["later", "thanks"]
    qtbot.keyClicks(picker.field, "tha")
    qtbot.keyClick(picker.field, Qt.Key.Key_Return)
    assert composer.body.toPlainText().startswith("Thanks, Bob.\n")
    _close_without_draft(composer)


def test_markdown_preview_key_shows_rendered_text(qtbot, window: MainWindow) -> None:
    press(qtbot, window.message_view, "c")
    composer = _composer(qtbot, window)
    composer.markdown_box.setChecked(True)
    composer.body.setFocus()
    composer.body.setPlainText("Some **bold** words <script>x</script>")
    chord(qtbot, composer.body, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert composer.body_pages.currentWidget() is composer.preview
    html = composer.preview.toHtml()
    assert "font-weight" in html, "the bold text is rendered bold"
    assert "words <script>x</script>" in composer.preview.toPlainText(), "typed markup is shown as text"
    assert "&lt;script&gt;" in html
    composer.preview_box.toggle()
    assert composer.body_pages.currentWidget() is composer.body
    _close_without_draft(composer)


def test_send_later_refuses_a_past_time(qtbot) -> None:
    now = datetime(2026, 12, 2, 10, 15)  # a Wednesday
    presets = dict(preset_times(now))
    assert presets["In 1 hour"] == datetime(2026, 12, 2, 11, 15)
    assert presets["This evening"] == datetime(2026, 12, 2, 18, 0)
    assert presets["Tomorrow morning"] == datetime(2026, 12, 3, 8, 0)
    assert presets["Monday morning"] == datetime(2026, 12, 7, 8, 0)
    dialog = SendLaterDialog()
    qtbot.addWidget(dialog)
    dialog.time_field.setDateTime(QDateTime(datetime.now() - timedelta(minutes=5)))
    dialog.accept()
    assert dialog.result() != SendLaterDialog.DialogCode.Accepted
    assert "has passed" in dialog.error_label.text()

