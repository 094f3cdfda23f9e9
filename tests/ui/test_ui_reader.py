"""The reader pane: plain text and sanitised HTML, quotes, links, remote content, attachments and parsing off the GUI thread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QTextCursor, QTextDocument
from PySide6.QtWidgets import QFileDialog, QMessageBox

from desktop.mail.parse import parse_message, parse_summary
from desktop.paths import Profile
from desktop.remote_content import allow_list_path, load_allow_list
from desktop.store import NewMessage, Store
from desktop.ui.main_window import MainWindow
from desktop.ui.reader import PLAIN, SANITISED, ReaderPane, plain_text_html
from tests.ui.fixtures_ui import (
    ACCOUNT,
    OFFSCREEN_NOISE,
    PIXEL_PNG,
    PixelHandler,
    SampleMessage,
    UrlRecorder,
    build_profile,
    serve_pixel,
)

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

IMAGE = QTextDocument.ResourceType.ImageResource


@pytest.fixture
def image_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving a 1x1 PNG; yields its base URL."""
    with serve_pixel("image-server") as url:
        yield url


def _open_only_message(qtbot, tmp_path: Path, sample: SampleMessage) -> MainWindow:
    profile = build_profile(tmp_path / "profile", [sample])
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    window.message_view.selectRow(0)
    qtbot.waitUntil(lambda: window.reader.message_id() is not None, timeout=2000)
    return window


def _store_raw(profile_home: Path, raws: list[bytes]) -> tuple[Profile, list[int]]:
    """Store ``raws`` in INBOX of a new profile's local account; return the profile and the message ids."""
    profile = build_profile(profile_home, [])
    with Store(profile.store_file) as store:
        account_id = store.ensure_account(ACCOUNT, "local")
        folder_id = store.upsert_folder(account_id, "INBOX", delimiter="/")
        messages = [NewMessage(uid=number + 1, flags=[], size=len(raw), raw=raw, summary=parse_summary(raw))
                    for number, raw in enumerate(raws)]
        store.insert_messages(folder_id, messages)
        ids = store.all_message_ids()
    return profile, ids


def _window_on(qtbot, profile) -> MainWindow:
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    return window


def _select_and_wait(qtbot, window: MainWindow, row: int) -> int:
    window.message_view.selectRow(row)
    message_id = window.message_model.message_id(row)
    qtbot.waitUntil(lambda: window.reader.message_id() == message_id, timeout=3000)
    return message_id


def _anchor_point(browser, text: str) -> QPoint:
    """Return the viewport point in the middle of the first occurrence of ``text`` in the browser."""
    found = browser.document().find(text)
    assert not found.isNull(), text
    middle = QTextCursor(browser.document())
    middle.setPosition(found.selectionStart() + len(text) // 2)
    return browser.cursorRect(middle).center()


@pytest.fixture
def url_recorder() -> Iterator[UrlRecorder]:
    """Catches http, https and file URLs opened through QDesktopServices, so no program starts."""
    recorder = UrlRecorder()
    for scheme in ("http", "https", "file"):
        QDesktopServices.setUrlHandler(scheme, recorder, "handle")
    yield recorder
    for scheme in ("http", "https", "file"):
        QDesktopServices.unsetUrlHandler(scheme)


def _reply(subject: str, sender: str, text: str, html: str = "", attachments: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Reader <reader@example.org>"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{abs(hash((subject, text)))}@example.org>"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for name, data in attachments:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


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
    assert PixelHandler.requests == []

    with qtbot.waitSignal(browser.remote_content_loaded, timeout=10_000):
        qtbot.mouseClick(reader.remote_button, Qt.MouseButton.LeftButton)

    assert not reader.remote_bar.isVisible()
    assert PixelHandler.requests == ["/pixel.png"]
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
    assert window.reader.attachment_bar.isHidden()


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


# --- parsing off the GUI thread ---------------------------------------------------------


def test_open_message_parses_on_worker(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Big one", "A <a@example.org>", "Body text here.", attachment_name="big.pdf")
    profile = build_profile(tmp_path / "profile", [sample])
    with Store(profile.store_file) as store:
        message_id = store.all_message_ids()[0]
        row, raw = store.message(message_id), store.raw(message_id)
    reader = ReaderPane()
    qtbot.addWidget(reader)

    with qtbot.waitSignal(reader.message_shown, timeout=5000) as shown:
        reader.open_message(row, raw)
        # The call returns before the worker has parsed the message: the headers show, the body not yet.
        assert reader.message_id() is None
        assert reader.requested_message_id() == message_id
        assert reader.subject_label.text() == "Big one"
        assert "Body text here." not in reader.browser.toPlainText()

    assert shown.args == [message_id]
    assert reader.message_id() == message_id
    assert "Body text here." in reader.browser.toPlainText()
    assert reader.attachments.count() == 1


def test_stale_parse_result_is_dropped(qtbot, tmp_path: Path) -> None:
    samples = [SampleMessage("First", "A <a@example.org>", "First body."), SampleMessage("Second", "B <b@example.org>", "Second body.")]
    profile = build_profile(tmp_path / "profile", samples)
    with Store(profile.store_file) as store:
        rows = store.messages(store.all_message_ids())
        raws = [store.raw(row.id) for row in rows]
    reader = ReaderPane()
    qtbot.addWidget(reader)

    reader.open_message(rows[0], raws[0])
    with qtbot.waitSignal(reader.message_shown, timeout=5000) as shown:
        reader.open_message(rows[1], raws[1])
    qtbot.wait(200)

    assert shown.args == [rows[1].id]
    assert reader.message_id() == rows[1].id
    assert reader.subject_label.text() == rows[1].subject
    assert f"{rows[1].subject} body." in reader.browser.toPlainText()


# --- HTML or plain text -------------------------------------------------------------------


def _shift_h(qtbot, widget) -> None:
    qtbot.keyClick(widget, Qt.Key.Key_H, Qt.KeyboardModifier.ShiftModifier)
    # QTest leaves the application's modifier state at Shift, which would make the next click extend a selection.
    qtbot.keyRelease(widget, Qt.Key.Key_Shift)


def test_key_toggles_html_and_plain(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Both parts", "A <a@example.org>", "The plain version.", html="<p>The <b>HTML</b> version.</p>")
    window = _open_only_message(qtbot, tmp_path, sample)
    reader = window.reader
    window.message_view.setFocus()
    assert reader.view_mode() == SANITISED
    assert "The HTML version." in reader.browser.toPlainText()

    _shift_h(qtbot, window.message_view)

    assert reader.view_mode() == PLAIN
    assert "The plain version." in reader.browser.toPlainText()
    assert "HTML version" not in reader.browser.toPlainText()
    assert reader.view_label.text() == "Plain text"

    _shift_h(qtbot, window.message_view)

    assert reader.view_mode() == SANITISED
    assert "The HTML version." in reader.browser.toPlainText()


def test_plain_choice_stays_for_next_message(qtbot, tmp_path: Path) -> None:
    samples = [SampleMessage("One", "A <a@example.org>", "Plain one.", html="<p>Html one.</p>"),
               SampleMessage("Two", "A <a@example.org>", "Plain two.", html="<p>Html two.</p>")]
    profile = build_profile(tmp_path / "profile", samples)
    window = _window_on(qtbot, profile)
    _select_and_wait(qtbot, window, 0)

    window.run_command("toggle-html")
    _select_and_wait(qtbot, window, 1)

    assert window.reader.view_mode() == PLAIN
    assert "Plain" in window.reader.browser.toPlainText()
    assert "Html" not in window.reader.browser.toPlainText()


def test_plain_only_message_says_so(qtbot, tmp_path: Path) -> None:
    window = _open_only_message(qtbot, tmp_path, SampleMessage("Plain", "A <a@example.org>", "Only text."))

    window.run_command("toggle-html")

    assert window.status_panel.message() == "This message has plain text only."
    assert "Only text." in window.reader.browser.toPlainText()


# --- quoted text ------------------------------------------------------------------------------

GMAIL_REPLY_HTML = (
    '<div dir="ltr">Thursday works.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
    "On Tue, Dec 1, 2026 at 10:02 AM Ana wrote:<br></div>"
    '<blockquote class="gmail_quote">Can we move the review to Thursday?</blockquote></div>'
)


def test_html_quote_folds_and_unfolds(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Re: Review", "Ben <ben@example.org>", "Thursday works.", html=GMAIL_REPLY_HTML)
    window = _open_only_message(qtbot, tmp_path, sample)
    browser = window.reader.browser
    assert "Thursday works." in browser.toPlainText()
    assert "Can we move the review" not in browser.toPlainText()
    assert "Show quoted text" in browser.toPlainText()

    qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=_anchor_point(browser, "Show quoted text"))

    assert "Can we move the review to Thursday?" in browser.toPlainText()
    assert "On Tue, Dec 1, 2026" in browser.toPlainText()
    assert "Hide quoted text" in browser.toPlainText()
    assert window.reader.link_dialog is None

    window.run_command("toggle-quoted-text")

    assert "Can we move the review" not in browser.toPlainText()


def test_plain_quote_folds_with_attribution(qtbot, tmp_path: Path) -> None:
    text = "Agreed.\n\nOn Mon, 30 Nov 2026, Ana wrote:\n> Shall we ship on Friday?\n> Ana\n"
    window = _open_only_message(qtbot, tmp_path, SampleMessage("Re: Ship", "Ben <ben@example.org>", text))
    browser = window.reader.browser
    assert "Agreed." in browser.toPlainText()
    assert "Shall we ship" not in browser.toPlainText()
    assert "Ana wrote:" not in browser.toPlainText()

    window.run_command("toggle-quoted-text")

    assert "> Shall we ship on Friday?" in browser.toPlainText()


def test_quote_folds_again_on_next_message(qtbot, tmp_path: Path) -> None:
    text = "Yes.\n\nOn Mon, Ana wrote:\n> Lunch?\n"
    samples = [SampleMessage("Re: Lunch", "B <b@example.org>", text), SampleMessage("Re: Lunch 2", "B <b@example.org>", text)]
    window = _window_on(qtbot, build_profile(tmp_path / "profile", samples))
    _select_and_wait(qtbot, window, 0)
    window.run_command("toggle-quoted-text")
    assert "> Lunch?" in window.reader.browser.toPlainText()

    _select_and_wait(qtbot, window, 1)

    assert "> Lunch?" not in window.reader.browser.toPlainText()


# --- links ------------------------------------------------------------------------------------------

PHISHING_HTML = (
    '<p>Please confirm at <a href="https://login.example.net/session">https://bank.example.com/login</a> today.</p>'
    '<p>Our <a href="https://bank.example.com/terms">terms</a>.</p>'
)


def test_deceptive_link_is_marked(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Confirm", "Bank <bank@example.com>", "Plain part.", html=PHISHING_HTML)
    window = _open_only_message(qtbot, tmp_path, sample)
    text = window.reader.browser.toPlainText()

    assert "https://bank.example.com/login [⚠ link goes to login.example.net]" in text
    assert "terms [" not in text


def test_hover_shows_real_target(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Confirm", "Bank <bank@example.com>", "Plain part.", html=PHISHING_HTML)
    window = _open_only_message(qtbot, tmp_path, sample)
    browser = window.reader.browser

    with qtbot.waitSignal(window.reader.link_hovered, timeout=2000) as hovered:
        qtbot.mouseMove(browser.viewport(), _anchor_point(browser, "bank.example.com/login"))

    assert hovered.args[0] == "Warning: the link shows https://bank.example.com/login but goes to https://login.example.net/session"
    assert window.statusBar().currentMessage() == hovered.args[0]

    with qtbot.waitSignal(window.reader.link_hovered, timeout=2000) as hovered:
        qtbot.mouseMove(browser.viewport(), _anchor_point(browser, "terms"))

    assert hovered.args[0] == "https://bank.example.com/terms"


def test_link_click_asks_before_opening(qtbot, tmp_path: Path, url_recorder: UrlRecorder) -> None:
    sample = SampleMessage("Confirm", "Bank <bank@example.com>", "Plain part.", html=PHISHING_HTML)
    window = _open_only_message(qtbot, tmp_path, sample)
    browser = window.reader.browser

    qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=_anchor_point(browser, "bank.example.com/login"))
    dialog = window.reader.link_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.icon() == QMessageBox.Icon.Warning
    assert "https://login.example.net/session" in dialog.text()
    assert url_recorder.urls == []

    dialog.button(QMessageBox.StandardButton.Cancel).click()

    assert url_recorder.urls == []

    qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=_anchor_point(browser, "terms"))
    dialog = window.reader.link_dialog
    assert dialog.icon() == QMessageBox.Icon.Question
    dialog.button(QMessageBox.StandardButton.Open).click()

    assert [url.toString() for url in url_recorder.urls] == ["https://bank.example.com/terms"]


# --- remote content allow list ---------------------------------------------------------------------


def test_always_allow_sender_loads_and_remembers(qtbot, tmp_path: Path, image_server: str) -> None:
    samples = [SampleMessage("News 1", "News <news@example.org>", "Plain.", html=f"<img src='{image_server}/one.png'>"),
               SampleMessage("News 2", "News <news@example.org>", "Plain.", html=f"<img src='{image_server}/two.png'>")]
    profile = build_profile(tmp_path / "profile", samples)
    window = _window_on(qtbot, profile)
    _select_and_wait(qtbot, window, 1)
    reader = window.reader
    assert reader.remote_bar.isVisible()
    assert reader.allow_sender_button.text() == "Always allow from news@example.org"
    assert reader.allow_domain_button.text() == "Always allow from example.org"
    assert PixelHandler.requests == []

    with qtbot.waitSignal(reader.browser.remote_content_loaded, timeout=10_000):
        qtbot.mouseClick(reader.allow_sender_button, Qt.MouseButton.LeftButton)

    assert PixelHandler.requests == ["/one.png"]
    assert load_allow_list(allow_list_path(profile.config_dir)).addresses == ["news@example.org"]

    with qtbot.waitSignal(reader.browser.remote_content_loaded, timeout=10_000):
        _select_and_wait(qtbot, window, 0)

    assert not reader.remote_bar.isVisible()
    assert PixelHandler.requests == ["/one.png", "/two.png"]


def test_always_allow_domain(qtbot, tmp_path: Path, image_server: str) -> None:
    sample = SampleMessage("Shop", "Shop <deals@shop.example.com>", "Plain.", html=f"<img src='{image_server}/deal.png'>")
    window = _open_only_message(qtbot, tmp_path, sample)

    with qtbot.waitSignal(window.reader.browser.remote_content_loaded, timeout=10_000):
        window.reader.allow_domain_button.click()

    allow_list = load_allow_list(allow_list_path(window._profile.config_dir))
    assert allow_list.domains == ["shop.example.com"]
    assert PixelHandler.requests == ["/deal.png"]


def test_broken_allow_list_keeps_blocking(qtbot, tmp_path: Path, image_server: str) -> None:
    sample = SampleMessage("News", "News <news@example.org>", "Plain.", html=f"<img src='{image_server}/x.png'>")
    profile = build_profile(tmp_path / "profile", [sample])
    path = allow_list_path(profile.config_dir)
    path.write_text('addresses = ["news@example.org"\n', encoding="utf-8")
    window = _window_on(qtbot, profile)

    _select_and_wait(qtbot, window, 0)
    qtbot.wait(100)

    assert window.reader.remote_bar.isVisible()
    assert "invalid TOML" in window.status_panel.message()
    assert str(path) in window.status_panel.message()
    assert PixelHandler.requests == []


def test_plain_view_hides_remote_bar(qtbot, tmp_path: Path, image_server: str) -> None:
    sample = SampleMessage("News", "News <news@example.org>", "Plain.", html=f"<img src='{image_server}/x.png'>")
    window = _open_only_message(qtbot, tmp_path, sample)
    assert window.reader.remote_bar.isVisible()

    window.run_command("toggle-html")

    assert not window.reader.remote_bar.isVisible()
    assert PixelHandler.requests == []


# --- attachments ------------------------------------------------------------------------------------

REPORT_BYTES = bytes(range(256)) * 40


def test_save_attachment_through_dialog(qtbot, tmp_path: Path) -> None:
    raw = _reply("Report", "Ana <ana@example.org>", "Attached.", attachments=(("../../Q4 report.bin", REPORT_BYTES),))
    profile, _ids = _store_raw(tmp_path / "profile", [raw])
    window = _window_on(qtbot, profile)
    _select_and_wait(qtbot, window, 0)
    bar = window.reader.attachment_bar
    target_folder = tmp_path / "saved"
    target_folder.mkdir()

    qtbot.mouseClick(bar.save_button, Qt.MouseButton.LeftButton)
    dialog = bar.save_dialog
    assert isinstance(dialog, QFileDialog)
    assert dialog.selectedFiles()[0].endswith("Q4 report.bin")
    dialog.setDirectory(str(target_folder))
    dialog.selectFile(str(target_folder / "Q4 report.bin"))
    dialog.accept()

    assert (target_folder / "Q4 report.bin").read_bytes() == REPORT_BYTES
    assert window.status_panel.message() == f"Saved {target_folder / 'Q4 report.bin'}"


def test_save_all_keeps_existing_files(qtbot, tmp_path: Path) -> None:
    raw = _reply("Two files", "Ana <ana@example.org>", "Attached.", attachments=(("a.bin", b"first"), ("a.bin", b"second")))
    profile, _ids = _store_raw(tmp_path / "profile", [raw])
    window = _window_on(qtbot, profile)
    _select_and_wait(qtbot, window, 0)
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"mine")

    window.reader.attachment_bar.save_all_button.click()
    dialog = window.reader.attachment_bar.save_dialog
    dialog.setDirectory(str(folder))
    dialog.selectFile(str(folder))
    dialog.accept()

    assert (folder / "a.bin").read_bytes() == b"mine"
    assert (folder / "a (2).bin").read_bytes() == b"first"
    assert (folder / "a (3).bin").read_bytes() == b"second"


def test_open_attachment_writes_private_copy(qtbot, tmp_path: Path, url_recorder: UrlRecorder) -> None:
    raw = _reply("Report", "Ana <ana@example.org>", "Attached.", attachments=(("report.bin", REPORT_BYTES),))
    profile, _ids = _store_raw(tmp_path / "profile", [raw])
    window = _window_on(qtbot, profile)
    _select_and_wait(qtbot, window, 0)

    window.reader.attachment_bar.open_button.click()

    (url,) = url_recorder.urls
    opened = Path(url.toLocalFile())
    assert opened.name == "report.bin"
    assert opened.read_bytes() == REPORT_BYTES
    assert stat.S_IMODE(opened.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(opened.stat().st_mode) == 0o400

    window.close()

    assert not opened.parent.exists()
