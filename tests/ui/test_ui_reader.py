"""The reader pane: plain text, sanitised HTML, cid: parts and blocked remote content."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QImage, QTextDocument

from desktop.mail.parse import parse_message
from desktop.store import Store
from desktop.ui.main_window import MainWindow
from desktop.ui.reader import ReaderPane, plain_text_html
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, PIXEL_PNG, SampleMessage, build_profile

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

IMAGE = QTextDocument.ResourceType.ImageResource


class _PixelHandler(http.server.BaseHTTPRequestHandler):
    """Serves the test PNG for every GET and counts the requests."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PIXEL_PNG)))
        self.end_headers()
        self.wfile.write(PIXEL_PNG)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature http.server uses
        pass


@pytest.fixture
def image_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving a 1x1 PNG; yields its base URL."""
    _PixelHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PixelHandler)
    thread = threading.Thread(target=server.serve_forever, name="image-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _open_only_message(qtbot, tmp_path: Path, sample: SampleMessage) -> MainWindow:
    profile = build_profile(tmp_path / "profile", [sample])
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    window.message_view.selectRow(0)
    qtbot.waitUntil(lambda: window.reader.message_id() is not None, timeout=2000)
    return window


def test_remote_image_blocked_until_allowed(qtbot, tmp_path: Path, image_server: str) -> None:
    image_url = f"{image_server}/pixel.png"
    sample = SampleMessage("Newsletter", "News <news@example.org>", "Plain part.",
                           html=f"<p>Hello</p><img src='{image_url}' width='10' height='10'>")
    window = _open_only_message(qtbot, tmp_path, sample)
    reader = window.reader
    browser = reader.browser

    assert reader.remote_bar.isVisible()
    assert browser.loadResource(IMAGE, QUrl(image_url)) is None
    assert image_url in browser.blocked_urls()
    assert _PixelHandler.requests == []

    with qtbot.waitSignal(browser.remote_content_loaded, timeout=10_000):
        qtbot.mouseClick(reader.remote_button, Qt.MouseButton.LeftButton)

    assert not reader.remote_bar.isVisible()
    assert _PixelHandler.requests == ["/pixel.png"]
    loaded = browser.loadResource(IMAGE, QUrl(image_url))
    assert isinstance(loaded, QImage)
    assert loaded.width() == 1


def test_remote_choice_is_kept_for_the_message(qtbot, tmp_path: Path, image_server: str) -> None:
    sample = SampleMessage("Newsletter", "News <news@example.org>", "Plain part.",
                           html=f"<img src='{image_server}/a.png'>")
    window = _open_only_message(qtbot, tmp_path, sample)
    with qtbot.waitSignal(window.reader.browser.remote_content_loaded, timeout=10_000):
        window.reader.remote_button.click()
    message_id = window.reader.message_id()

    window.reader.clear()
    window.message_view.clearSelection()
    window.message_view.selectRow(0)
    qtbot.waitUntil(lambda: window.reader.message_id() == message_id, timeout=2000)

    assert not window.reader.remote_bar.isVisible()


def test_cid_image_is_served_from_message(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("With logo", "Shop <shop@example.org>", "Plain part.",
                           html="<p>Logo:</p><img src='cid:logo@example.org'>", inline_png_cid="logo@example.org")
    window = _open_only_message(qtbot, tmp_path, sample)
    browser = window.reader.browser

    image = browser.loadResource(IMAGE, QUrl("cid:logo@example.org"))

    assert isinstance(image, QImage)
    assert not image.isNull()
    assert not window.reader.remote_bar.isVisible()
    assert window.reader.attachments.isHidden()


def test_local_files_are_refused(qtbot, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(PIXEL_PNG)
    reader = ReaderPane()
    qtbot.addWidget(reader)

    assert reader.browser.loadResource(IMAGE, QUrl.fromLocalFile(str(secret))) is None
    assert reader.browser.loadResource(IMAGE, QUrl("secret.png")) is None


def test_html_is_sanitised(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Scripted", "X <x@example.org>", "Plain part.",
                           html="<p id='p'>Visible</p><script>document.title='owned'</script><a href='javascript:alert(1)'>link</a>")
    window = _open_only_message(qtbot, tmp_path, sample)
    shown_html = window.reader.browser.toHtml()

    assert "Visible" in window.reader.browser.toPlainText()
    assert "owned" not in shown_html
    assert "javascript:" not in shown_html


def test_plain_text_is_escaped_and_linked() -> None:
    markup = plain_text_html("<b>not bold</b> see https://example.org/a?b=1&c=2.")

    assert "&lt;b&gt;not bold&lt;/b&gt;" in markup
    assert 'href="https://example.org/a?b=1&amp;c=2"' in markup
    assert "c=2</a>." in markup


def test_plain_text_quotes_are_grey() -> None:
    markup = plain_text_html("Agreed.\n> Shall we meet?\nSee you.")

    assert '<span style="color: #5b6470;">&gt; Shall we meet?</span>' in markup
    assert markup.count("<span") == 1


def test_plain_text_line_ends_become_newlines() -> None:
    markup = plain_text_html("first\r\nsecond\rthird")

    assert "\r" not in markup
    assert "first\nsecond\nthird" in markup


def test_headers_are_shown_as_text(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("<i>Subject</i> with tags", "Eve <eve@example.org>", "Body.")
    window = _open_only_message(qtbot, tmp_path, sample)

    assert window.reader.subject_label.text() == "<i>Subject</i> with tags"
    assert window.reader.subject_label.textFormat() == Qt.TextFormat.PlainText


def test_header_only_message_says_body_is_missing(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile", [SampleMessage("Headers only", "A <a@example.org>", "Body.")])
    with Store(profile.store_file) as store:
        row = store.messages(store.all_message_ids())[0]
    reader = ReaderPane()
    qtbot.addWidget(reader)

    reader.show_message(row, None)

    assert reader.subject_label.text() == "Headers only"
    assert "Sync again" in reader.browser.toPlainText()


def test_attachments_listed_with_sizes(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Report", "A <a@example.org>", "See attached.", attachment_name="report.pdf")
    profile = build_profile(tmp_path / "profile", [sample])
    with Store(profile.store_file) as store:
        message_id = store.all_message_ids()[0]
        row, raw = store.message(message_id), store.raw(message_id)
    reader = ReaderPane()
    qtbot.addWidget(reader)

    reader.show_message(row, parse_message(raw, keep_payloads=True))

    assert reader.attachments.count() == 1
    assert reader.attachments.item(0).text().startswith("report.pdf")
    assert "bytes" in reader.attachments.item(0).text()


def test_webmail_empty_lines_are_single(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Webmail", "A <a@example.org>", "Plain part.",
                           html="<div>Hello,</div><div><br></div><div>Bye</div>")
    window = _open_only_message(qtbot, tmp_path, sample)

    lines = [line.strip() for line in window.reader.browser.toPlainText().split("\n")]
    assert lines == ["Hello,", "", "Bye"]


def _headers_only_profile(tmp_path: Path, imap_user, dovecot_server, port: int):
    """A profile whose IMAP account keeps headers only, synced once from Dovecot."""
    import shlex
    from email.message import EmailMessage

    from imapclient import IMAPClient

    from desktop.cli import main
    from desktop.config import Account, Config, save_config
    from desktop.paths import profile_at

    message = EmailMessage()
    message["From"] = "Ana <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = "Fetched when opened"
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message.set_content("The body word is marmalade.")
    client = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    client.login(imap_user.name, imap_user.password)
    client.append("INBOX", message.as_bytes())
    client.logout()

    home = tmp_path / "home"
    profile = profile_at(home).ensure()
    account = Account(name="test", imap_host=dovecot_server.host, imap_port=dovecot_server.port, security="none",
                      user=imap_user.name, password_command=f"printf %s {shlex.quote(imap_user.password)}", offline=False)
    save_config(Config(accounts={"test": account}), profile.config_file)
    assert main(["--home", str(home), "sync", "--quiet"]) == 0
    if port != dovecot_server.port:
        account.imap_port = port
        save_config(Config(accounts={"test": account}), profile.config_file)
    with Store(profile.store_file) as store:
        (row,) = store.messages(store.all_message_ids())
        assert store.raw(row.id) is None
    return profile, row


@pytest.mark.dovecot
def test_reader_downloads_missing_body(qtbot, tmp_path: Path, imap_user, dovecot_server) -> None:
    profile, row = _headers_only_profile(tmp_path, imap_user, dovecot_server, dovecot_server.port)
    reader = ReaderPane(profile=profile)
    qtbot.addWidget(reader)

    with qtbot.waitSignal(reader.body_downloaded, timeout=10000) as downloaded:
        reader.show_message(row, None)
        assert "Downloading the message" in reader.browser.toPlainText()

    assert downloaded.args == [row.id]
    assert "marmalade" in reader.browser.toPlainText()
    assert reader.subject_label.text() == "Fetched when opened"
    with Store(profile.store_file) as store:
        assert store.raw(row.id) is not None
        assert store.message_count() == 1
    qtbot.waitUntil(lambda: not reader.is_downloading(), timeout=5000)


@pytest.mark.dovecot
def test_reader_download_error_keeps_headers(qtbot, tmp_path: Path, imap_user, dovecot_server) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    profile, row = _headers_only_profile(tmp_path, imap_user, dovecot_server, closed_port)
    reader = ReaderPane(profile=profile)
    qtbot.addWidget(reader)

    with qtbot.waitSignal(reader.body_download_failed, timeout=10000) as failed:
        reader.show_message(row, None)

    assert failed.args[0] == row.id
    assert "could not be downloaded" in reader.browser.toPlainText()
    assert str(closed_port) in reader.browser.toPlainText()
    assert reader.subject_label.text() == "Fetched when opened"
    assert "ana@example.com" in reader.meta_label.text()
    qtbot.waitUntil(lambda: not reader.is_downloading(), timeout=5000)
