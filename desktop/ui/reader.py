"""The reader pane: headers, a remote-content bar, the body and attachments.

The body shows as sanitised HTML or as plain text (``toggle_format``). On
request the original HTML opens in a locked-down QtWebEngine window of its
own (``show_original``, see ``desktop.ui.webview`` for why it is a process
of its own). A trailing quote is folded behind a "Show quoted text" link.
Links show their real target in the status bar, links whose text shows
another address are marked, and a click opens a confirmation before the
system browser opens the link.

The sanitised view serves only what the message carries itself (``cid:``
parts and ``data:`` URLs). Remote images stay blocked until the user loads
them for the message, or allows its sender or the sender's domain for good
(``desktop.remote_content``), so tracking images cannot report that a
message was opened.

Messages are parsed and prepared on a worker thread, and the pane shows the
result through a signal. A message stored with its headers only is shown
with its headers at once, and its body is fetched from the server on a
worker thread, then shown.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, QDateTime, QLocale, QProcess, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QImage, QTextDocument
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QStackedLayout,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.config import ConfigError
from desktop.mail.html import has_remote_content, sanitize_html
from desktop.mail.links import Link, display_target, mark_deceptive_links, warning_marker
from desktop.mail.parse import Attachment, ParsedMessage, parse_message
from desktop.mail.quotes import fold_html, fold_plain
from desktop.paths import Profile
from desktop.remote_content import RemoteContentError, allow_list_path, load_allow_list
from desktop.store import MessageRow, StoreError
from desktop.sync.bodies import fetch_body
from desktop.sync.errors import SyncError
from desktop.sync.service import CancelToken
from desktop.ui.attachments import AttachmentBar
from desktop.ui.link_dialog import ask_to_open_link
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

MAX_REMOTE_BYTES = 5 * 1024 * 1024
QUOTE_COLOR = "#5b6470"
# A parse that takes longer than this shows the headers with a note meanwhile.
SLOW_PARSE_MS = 150
# Links of the pane's own controls inside the body, such as "Show quoted text".
# The sanitiser keeps only http, https, mailto, cid and data links, so mail cannot forge them.
CONTROL_SCHEME = "sluice-reader"
SHOW_QUOTED_URL = f"{CONTROL_SCHEME}:show-quoted"
HIDE_QUOTED_URL = f"{CONTROL_SCHEME}:hide-quoted"
_URL = re.compile(r"""\b(?:https?://|mailto:)[^\s<>"']+[^\s<>"'.,;:!?)\]]""", re.IGNORECASE)
_EXTERNAL_SCHEMES = {"http", "https", "mailto"}
# Webmail marks an empty line as <div><br></div>. QTextDocument gives the
# <br> a line of its own inside the block, so each such line shows twice as
# tall as in a browser. A non-breaking space in its place takes one line.
_EMPTY_LINE_DIV = re.compile(r"<div>\s*<br\s*/?>\s*</div>", re.IGNORECASE)
_CONTEXT = "ReaderPane"

SANITISED = "html"
PLAIN = "plain"
# The original-HTML window logs this line on standard error once the message is on show.
ORIGINAL_LOADED_LINE = "Original view loaded: ok"


def _translate(text: str, count: int = -1) -> str:
    # QCoreApplication.translate is thread-safe, so the worker that prepares a message can call it.
    return QCoreApplication.translate(_CONTEXT, text, None, count)


# --- preparing a message (runs on a worker thread) ----------------------------------


@dataclass
class PreparedMessage:
    """A message made ready to show: sanitised, folded and with its links checked.

    Attributes:
        row: The message's list fields.
        parsed: The parsed message, or None when only its headers are stored.
        html_head: Sanitised HTML before the trailing quote ('' without an HTML part).
        html_quoted: Sanitised HTML of the trailing quote ('' when none).
        plain_head: The plain text before the trailing quote, as HTML.
        plain_quoted: The trailing quote of the plain text, as HTML.
        raw: The raw message, for the original-HTML window (b'' when not at hand).
        has_remote: Whether the HTML part would load anything from the network.
        links: The links of the HTML part by their URL as ``QUrl.toString`` writes it.
    """

    row: MessageRow
    parsed: ParsedMessage | None
    html_head: str = ""
    html_quoted: str = ""
    plain_head: str = ""
    plain_quoted: str = ""
    raw: bytes = b""
    has_remote: bool = False
    links: dict[str, Link] = field(default_factory=dict)

    @property
    def has_html(self) -> bool:
        return bool(self.html_head or self.html_quoted)


def prepare_message(row: MessageRow, parsed: ParsedMessage | None, raw: bytes = b"") -> PreparedMessage:
    """Sanitise, fold and check the links of ``parsed`` for showing; safe to call off the GUI thread."""
    prepared = PreparedMessage(row=row, parsed=parsed, raw=raw)
    if parsed is None:
        return prepared
    if parsed.html.strip():
        _prepare_html(prepared, parsed.html)
    plain = parsed.text if parsed.text.strip() else parsed.body_text
    fold = fold_plain(plain)
    prepared.plain_head = plain_text_html(fold.head)
    prepared.plain_quoted = plain_text_html(fold.quoted) if fold.has_quote else ""
    return prepared


def _prepare_html(prepared: PreparedMessage, markup: str) -> None:
    prepared.has_remote = has_remote_content(markup)
    fold = fold_html(markup)
    head, links = _sanitised_part(fold.head)
    prepared.html_head = head
    if fold.has_quote:
        prepared.html_quoted, quoted_links = _sanitised_part(fold.quoted)
        links += quoted_links
    for link in links:
        prepared.links.setdefault(QUrl(link.href.strip()).toString(), link)


def _sanitised_part(markup: str) -> tuple[str, list[Link]]:
    clean = _EMPTY_LINE_DIV.sub("<div>&nbsp;</div>", sanitize_html(markup))
    return mark_deceptive_links(clean, deceptive_marker)


def deceptive_marker(link: Link) -> str:
    """Return the HTML put after a deceptive link: a warning with the real host."""
    host = link.target_host or display_target(link.href)
    return warning_marker(_translate("link goes to %1").replace("%1", host))


def _prepare_steps(row: MessageRow, raw: bytes, _token: CancelToken) -> Iterator[PreparedMessage]:
    yield prepare_message(row, parse_message(raw, keep_payloads=True), raw)


def _download_steps(profile: Profile, row: MessageRow, _token: CancelToken) -> Iterator[PreparedMessage]:
    """Fetch one body on the worker thread, then prepare it there too."""
    raw = fetch_body(profile, row.id)
    yield prepare_message(row, parse_message(raw, keep_payloads=True), raw)


# --- the sanitised view ------------------------------------------------------------------


@dataclass
class _RemoteState:
    """Remote resources of the message on show: allowed or not, loaded or pending."""

    allowed: bool = False
    images: list[str] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    loaded: dict[str, QImage] = field(default_factory=dict)
    pending: dict[str, QNetworkReply] = field(default_factory=dict)


class MessageBrowser(QTextBrowser):
    """A text browser that loads only the message's own parts.

    Signals:
        remote_content_loaded(): every remote resource requested after
            ``allow_remote_content()`` has arrived or failed.
        link_activated(QUrl): the user clicked a link; nothing was opened.
    """

    remote_content_loaded = Signal()
    link_activated = Signal(QUrl)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBody")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self._parts: dict[str, Attachment] = {}
        self._remote = _RemoteState()
        self._network: QNetworkAccessManager | None = None
        self._markup = ""
        self.anchorClicked.connect(self.link_activated)

    def show_markup(self, markup: str, parts: list[Attachment], *, remote_allowed: bool) -> None:
        """Show sanitised ``markup`` whose ``cid:`` links point into ``parts``."""
        self._abort_pending()
        self._parts = {part.content_id.strip("<>").lower(): part for part in parts if part.content_id}
        self._remote = _RemoteState(allowed=remote_allowed, images=remote_image_urls(markup))
        self._markup = markup
        self.setHtml(markup)
        if remote_allowed:
            self._fetch_all()

    def replace_markup(self, markup: str) -> None:
        """Show other markup of the same message (quotes folded or not), keeping its parts and remote state."""
        self._remote.images = remote_image_urls(markup)
        self._markup = markup
        self.setHtml(markup)
        if self._remote.allowed:
            self._fetch_all()

    def allow_remote_content(self) -> None:
        """Load the remote images of the message on show."""
        if self._remote.allowed:
            return
        self._remote.allowed = True
        self._remote.blocked.clear()
        self._fetch_all()

    def _fetch_all(self) -> None:
        # Images are requested when the document is laid out, which may not
        # have happened yet, so the URLs come from the markup itself.
        for url in self._remote.images:
            if url not in self._remote.loaded and url not in self._remote.pending:
                self._fetch(QUrl(url))
        if not self._remote.pending:
            self.remote_content_loaded.emit()

    def blocked_urls(self) -> set[str]:
        """Return the remote URLs that the message requested and that were blocked."""
        return set(self._remote.blocked)

    def loadResource(self, kind: int, url: QUrl | str) -> object:  # noqa: N802 - Qt's method name
        url = QUrl(url)
        scheme = url.scheme().lower()
        if scheme == "cid":
            return self._inline_part(url)
        if scheme == "data":
            return super().loadResource(kind, url)
        if scheme in ("http", "https"):
            return self._remote_resource(kind, url)
        # Anything else, relative names included, could read local files.
        log.debug("Rejected a resource with scheme %r", scheme)
        return None

    def _inline_part(self, url: QUrl) -> object:
        part = self._parts.get(url.path().strip("<>").lower())
        if part is None or not part.payload:
            return None
        image = QImage.fromData(part.payload)
        return image if not image.isNull() else QByteArray(part.payload)

    def _remote_resource(self, kind: int, url: QUrl) -> object:
        key = url.toString()
        if not self._remote.allowed:
            self._remote.blocked.add(key)
            return None
        if key in self._remote.loaded:
            return self._remote.loaded[key]
        if kind == QTextDocument.ResourceType.ImageResource and key not in self._remote.pending:
            self._fetch(url)
        return None

    def _fetch(self, url: QUrl) -> None:
        if self._network is None:
            self._network = QNetworkAccessManager(self)
        request = QNetworkRequest(url)
        request.setAttribute(QNetworkRequest.Attribute.RedirectPolicyAttribute,
                             QNetworkRequest.RedirectPolicy.NoLessSafeRedirectPolicy)
        reply = self._network.get(request)
        reply.setReadBufferSize(MAX_REMOTE_BYTES)
        self._remote.pending[url.toString()] = reply
        reply.finished.connect(self._on_reply_finished)

    @Slot()
    def _on_reply_finished(self) -> None:
        reply = self.sender()
        if not isinstance(reply, QNetworkReply):
            return
        key = reply.request().url().toString()
        reply.deleteLater()
        if self._remote.pending.get(key) is not reply:
            return  # A reply for a message that is no longer shown.
        del self._remote.pending[key]
        self._store_reply(key, reply)
        if not self._remote.pending:
            self._relayout()
            self.remote_content_loaded.emit()

    def _store_reply(self, key: str, reply: QNetworkReply) -> None:
        if reply.error() != QNetworkReply.NetworkError.NoError:
            log.info("Remote image %s failed: %s", key, reply.errorString())
            return
        image = QImage.fromData(reply.read(MAX_REMOTE_BYTES))
        if image.isNull():
            log.info("Remote resource %s is not a valid image; skipped", key)
            return
        self._remote.loaded[key] = image

    def _relayout(self) -> None:
        # Setting the markup again makes the document ask for every resource
        # once more, now served from the loaded images.
        position = self.verticalScrollBar().value()
        self.setHtml(self._markup)
        self.verticalScrollBar().setValue(position)

    def _abort_pending(self) -> None:
        pending = list(self._remote.pending.values())
        self._remote.pending.clear()
        for reply in pending:
            reply.abort()


# --- the pane ----------------------------------------------------------------------------------


class ReaderPane(QWidget):
    """Shows one message: headers, an optional remote-content bar, body, attachments.

    With a profile, a message whose body is not stored is fetched from its
    server in the background, and the remote content allow list of the
    profile applies. Without one, the pane shows a note that only the
    headers are stored, and offers no "always allow".

    Signals:
        message_shown(int): the body of the message with this store id is on show.
        remote_content_allowed(int): the user chose to load remote content
            for the message with this store id.
        body_downloaded(int): the body of the message with this store id was
            fetched from the server and stored.
        body_download_failed(int, str): fetching that message's body failed;
            the text is meant for the user.
        link_hovered(str): the text for the status bar about the link under
            the mouse; '' when the mouse left it.
        status_message(str, bool): a result for the user; True for an error.
        original_opened(object): the QProcess of a new original-HTML window.
        original_loaded(): an original-HTML window shows its message.
    """

    message_shown = Signal(int)
    remote_content_allowed = Signal(int)
    body_downloaded = Signal(int)
    body_download_failed = Signal(int, str)
    link_hovered = Signal(str)
    status_message = Signal(str, bool)
    original_opened = Signal(object)
    original_loaded = Signal()

    def __init__(self, parent: QWidget | None = None, *, profile: Profile | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("readerPane")
        self._message_id: int | None = None
        self._requested_id: int | None = None
        self._serial = 0
        self._profile = profile
        self._prepared: PreparedMessage | None = None
        self._remote_allowed = False
        self._format = SANITISED
        self._quotes_shown = False
        self.original_processes: list[QProcess] = []
        self._pending_row: MessageRow | None = None
        self.link_dialog: QMessageBox | None = None
        self._jobs = JobSet(self)
        self._downloads = JobSet(self)
        self._slow_timer = QTimer(self, singleShot=True, interval=SLOW_PARSE_MS)
        self._init_widgets()
        self._init_layout()
        self._connect_signals()
        self.clear()

    def _init_widgets(self) -> None:
        self.subject_label = QLabel(objectName="readerSubject")
        self.subject_label.setWordWrap(True)
        self.subject_label.setTextFormat(Qt.TextFormat.PlainText)
        self.meta_label = QLabel(objectName="readerMeta")
        self.meta_label.setWordWrap(True)
        for label in (self.subject_label, self.meta_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view_label = QLabel(objectName="readerViewMode")
        self.view_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)

        self.remote_bar = QFrame(objectName="remoteBar")
        self.remote_bar_label = QLabel(self.tr("Remote content blocked"))
        self.remote_bar_label.setWordWrap(True)
        self.remote_button = QPushButton(self.tr("Load once"), objectName="remoteButton")
        self.allow_sender_button = QPushButton(objectName="allowSenderButton")
        self.allow_domain_button = QPushButton(objectName="allowDomainButton")

        self.browser = MessageBrowser()
        self.attachment_bar = AttachmentBar()
        self.attachments = self.attachment_bar.list
        self.placeholder = QLabel(self.tr("Select a message to read it."), objectName="readerPlaceholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def _init_layout(self) -> None:
        bar_layout = QHBoxLayout(self.remote_bar)
        bar_layout.setContentsMargins(10, 6, 10, 6)
        bar_layout.addWidget(self.remote_bar_label, 1)
        for button in (self.remote_button, self.allow_sender_button, self.allow_domain_button):
            bar_layout.addWidget(button)

        headers = QFrame(objectName="readerHeaders")
        header_layout = QVBoxLayout(headers)
        header_layout.setContentsMargins(14, 12, 14, 10)
        header_layout.setSpacing(4)
        subject_row = QHBoxLayout()
        subject_row.addWidget(self.subject_label, 1)
        subject_row.addWidget(self.view_label)
        header_layout.addLayout(subject_row)
        header_layout.addWidget(self.meta_label)

        message = QWidget()
        message_layout = QVBoxLayout(message)
        message_layout.setContentsMargins(0, 0, 0, 0)
        message_layout.setSpacing(0)
        message_layout.addWidget(headers)
        message_layout.addWidget(self.remote_bar)
        message_layout.addWidget(self.browser, 1)
        message_layout.addWidget(self.attachment_bar)

        self._pages = QStackedLayout(self)
        self._pages.addWidget(self.placeholder)
        self._pages.addWidget(message)

    def _connect_signals(self) -> None:
        self.remote_button.clicked.connect(self._on_remote_button_clicked)
        self.allow_sender_button.clicked.connect(self._on_allow_sender_button_clicked)
        self.allow_domain_button.clicked.connect(self._on_allow_domain_button_clicked)
        self.browser.link_activated.connect(self._on_link_activated)
        self.browser.highlighted.connect(self._on_browser_highlighted)
        self.attachment_bar.status_message.connect(self.status_message)
        self._slow_timer.timeout.connect(self._on_slow_timer_timeout)

    # --- state ------------------------------------------------------------------------

    def message_id(self) -> int | None:
        """Return the store id of the message whose body is on show (or being downloaded)."""
        return self._message_id

    def requested_message_id(self) -> int | None:
        """Return the store id of the message last asked for, shown or still being prepared."""
        return self._requested_id

    def view_mode(self) -> str:
        """Return what the body shows: SANITISED or PLAIN."""
        return self._format if self._prepared is not None and self._prepared.has_html else PLAIN

    def set_profile(self, profile: Profile | None) -> None:
        """Set the profile whose servers provide the bodies that are not stored."""
        self._profile = profile

    def is_downloading(self) -> bool:
        """Return whether a body download's thread is still running."""
        return len(self._downloads) > 0

    def cancel_downloads(self, wait_ms: int) -> bool:
        """Stop waiting for body downloads and parses; return whether their threads stopped within ``wait_ms`` each."""
        self._serial += 1
        parses_stopped = self._jobs.cancel_all(wait_ms)
        self.attachment_bar.remove_opened_files()
        self._close_original_windows()
        return self._downloads.cancel_all(wait_ms) and parses_stopped

    def clear(self) -> None:
        """Show the placeholder instead of a message."""
        self._serial += 1
        self._message_id = None
        self._requested_id = None
        self._prepared = None
        self._slow_timer.stop()
        self.browser.show_markup("", [], remote_allowed=False)
        self._pages.setCurrentIndex(0)

    # --- showing a message ---------------------------------------------------------------

    def open_message(self, row: MessageRow, raw: bytes | None, *, remote_allowed: bool = False) -> None:
        """Parse ``raw`` on a worker thread, then show ``row`` with it; ``raw`` is None when only headers are stored."""
        if raw is None:
            self.show_message(row, None, remote_allowed=remote_allowed)
            return
        self._serial += 1
        self._requested_id = row.id
        job = BackgroundJob(partial(_prepare_steps, row, raw), name=f"prepare-{row.id}", parent=self)
        job.progressed.connect(partial(self._on_prepare_progressed, self._serial, remote_allowed))
        job.failed.connect(partial(self._on_prepare_failed, self._serial, row))
        self._pending_row = row
        self._message_id = None
        self._prepared = None
        self._jobs.start(job)
        # The headers come from the list fields, so they show at once. The body of the
        # previous message goes, so the pane never mixes two messages.
        self._show_headers(row)
        self.browser.show_markup("", [], remote_allowed=False)
        self.remote_bar.hide()
        self.attachment_bar.set_attachments([])
        self._pages.setCurrentIndex(1)
        self._slow_timer.start()

    def show_message(self, row: MessageRow, parsed: ParsedMessage | None, *, remote_allowed: bool = False) -> None:
        """Show ``row`` with its parsed body, prepared on this thread; ``parsed`` is None when only headers are stored."""
        self._serial += 1
        self._requested_id = row.id
        self._show_prepared(prepare_message(row, parsed), remote_allowed)
        if parsed is None and self._profile is not None:
            self._start_download(row)

    def _on_prepare_progressed(self, serial: int, remote_allowed: bool, prepared: object) -> None:
        if serial != self._serial or not isinstance(prepared, PreparedMessage):
            return  # The user moved on to another message.
        self._show_prepared(prepared, remote_allowed)

    def _on_prepare_failed(self, serial: int, row: MessageRow, error: str) -> None:
        log.error("Preparing message %d for the reader failed: %s", row.id, error)
        if serial != self._serial:
            return
        self._show_prepared(PreparedMessage(row=row, parsed=None), False)
        self._show_note(self.tr("The message could not be shown: %1").replace("%1", error))

    @Slot()
    def _on_slow_timer_timeout(self) -> None:
        row = self._pending_row
        if row is None or row.id != self._requested_id or row.id == self._message_id:
            return
        self._show_note(self.tr("Opening the message…"))

    def _show_prepared(self, prepared: PreparedMessage, remote_allowed: bool) -> None:
        self._slow_timer.stop()
        self._prepared = prepared
        self._message_id = prepared.row.id
        self._remote_allowed = remote_allowed or self._sender_allowed(prepared.row)
        self._quotes_shown = False
        self._show_headers(prepared.row)
        self._update_allow_buttons(prepared.row)
        self._show_body()
        parts = prepared.parsed.attachments if prepared.parsed else []
        self.attachment_bar.set_attachments([part for part in parts if not part.inline])
        self._pages.setCurrentIndex(1)
        self.message_shown.emit(prepared.row.id)

    def _show_headers(self, row: MessageRow) -> None:
        self.subject_label.setText(row.subject or self.tr("(no subject)"))
        self.meta_label.setText(self._meta_html(row))

    def _show_body(self) -> None:
        prepared = self._prepared
        if prepared is None:
            return
        if prepared.parsed is None:
            if self._profile is not None:
                note = self.tr("Downloading the message…")
            else:
                note = self.tr("Only the headers of this message are stored. Sync again to fetch its body.")
            self._show_note(note)
            return
        parts = prepared.parsed.attachments
        html_view = self._format == SANITISED and prepared.has_html
        self.browser.show_markup(self._body_markup(), parts, remote_allowed=self._remote_allowed and html_view)
        self._update_remote_bar()
        self._update_view_label()

    def _body_markup(self) -> str:
        prepared = self._prepared
        assert prepared is not None
        if self._format == SANITISED and prepared.has_html:
            head, quoted = prepared.html_head, prepared.html_quoted
        else:
            head, quoted = prepared.plain_head, prepared.plain_quoted
        if not quoted:
            return head
        if self._quotes_shown:
            return head + _control_link(HIDE_QUOTED_URL, self.tr("Hide quoted text")) + quoted
        return head + _control_link(SHOW_QUOTED_URL, self.tr("··· Show quoted text"))

    def _show_note(self, note: str) -> None:
        self.browser.show_markup(f"<p><i>{html.escape(note)}</i></p>", [], remote_allowed=False)
        self.remote_bar.hide()

    def _update_view_label(self) -> None:
        html_view = self._prepared is not None and self._prepared.has_html and self._format == SANITISED
        self.view_label.setText(self.tr("HTML") if html_view else self.tr("Plain text"))

    # --- formats, quotes and the original -------------------------------------------------

    def toggle_format(self) -> None:
        """Switch the body between sanitised HTML and plain text; the choice stays for later messages."""
        self._format = PLAIN if self._format == SANITISED else SANITISED
        log.debug("Reader format: %s", self._format)
        if self._prepared is None or self._prepared.parsed is None:
            return
        if not self._prepared.has_html:
            self.status_message.emit(self.tr("This message has plain text only."), False)
        self._show_body()

    def toggle_quoted_text(self) -> None:
        """Show the folded quote of the message, or fold it again."""
        if self._prepared is None or self._prepared.parsed is None:
            return
        html_view = self._format == SANITISED and self._prepared.has_html
        if not (self._prepared.html_quoted if html_view else self._prepared.plain_quoted):
            self.status_message.emit(self.tr("This message has no folded quote."), False)
            return
        self._quotes_shown = not self._quotes_shown
        self.browser.replace_markup(self._body_markup())

    def show_original(self) -> QProcess | None:
        """Open the original HTML of the message on show in a window of its own; return its process."""
        prepared = self._prepared
        if prepared is None or prepared.parsed is None:
            return None
        if not prepared.has_html:
            self.status_message.emit(self.tr("This message has no HTML part; its plain text is the original."), False)
            return None
        if not prepared.raw:
            self.status_message.emit(self.tr("The original of this message is not at hand; open it again."), True)
            return None
        try:
            path = _write_message_file(prepared.raw)
        except OSError as error:
            log.error("Could not write message %d for the original view: %s", prepared.row.id, error)
            self.status_message.emit(self.tr("Could not open the original: %1").replace("%1", str(error)), True)
            return None

        arguments = ["-m", "desktop.ui.webview", str(path)]
        if self._profile is not None:
            arguments += ["--config-dir", str(self._profile.config_dir)]
        if self._remote_allowed:
            arguments.append("--remote-allowed")
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(partial(self._on_original_process_output, process))
        process.finished.connect(partial(self._on_original_process_finished, process, path))
        process.errorOccurred.connect(partial(self._on_original_process_error, process, path))
        process.start(sys.executable, arguments)
        self.original_processes.append(process)

        log.info("Opening the original of message %d in its own window", prepared.row.id)
        self.status_message.emit(self.tr("Opening the original HTML in its own window…"), False)
        self.original_opened.emit(process)
        return process

    def _on_original_process_output(self, process: QProcess) -> None:
        # The window's log lines join this process's log, and its "loaded" line becomes a signal.
        text = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        for line in text.splitlines():
            if not line.strip():
                continue
            log.debug("Original-HTML window: %s", line)
            if ORIGINAL_LOADED_LINE in line:
                self.original_loaded.emit()

    def _on_original_process_finished(self, process: QProcess, path: Path, code: int, _status: object) -> None:
        log.info("The original-HTML window ended with exit code %d", code)
        self._forget_original(process, path)

    def _on_original_process_error(self, process: QProcess, path: Path, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.Crashed and process.state() == QProcess.ProcessState.NotRunning:
            log.warning("The original-HTML window crashed")
        elif error == QProcess.ProcessError.FailedToStart:
            log.error("Could not start the original-HTML window: %s", process.errorString())
            self.status_message.emit(self.tr("Could not open the original: %1").replace("%1", process.errorString()), True)
        self._forget_original(process, path)

    def _forget_original(self, process: QProcess, path: Path) -> None:
        # The window deletes the file once it has read it; this covers a window that never started.
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()
        if process in self.original_processes:
            self.original_processes.remove(process)
            process.deleteLater()

    def _close_original_windows(self) -> None:
        for process in list(self.original_processes):
            process.terminate()
            if not process.waitForFinished(2000):
                process.kill()
                process.waitForFinished(1000)

    # --- remote content --------------------------------------------------------------------

    def _sender_allowed(self, row: MessageRow) -> bool:
        if self._profile is None or not row.from_addr:
            return False
        try:
            return load_allow_list(allow_list_path(self._profile.config_dir)).allows(row.from_addr)
        except RemoteContentError as error:
            log.error("%s", error)
            self.status_message.emit(self.tr("%1 Remote content stays blocked.").replace("%1", str(error)), True)
            return False

    def _update_allow_buttons(self, row: MessageRow) -> None:
        address = row.from_addr.strip().lower()
        usable = self._profile is not None and "@" in address
        domain = address.rpartition("@")[2]
        self.allow_sender_button.setText(self.tr("Always allow from %1").replace("%1", address))
        self.allow_domain_button.setText(self.tr("Always allow from %1").replace("%1", domain))
        self.allow_sender_button.setVisible(usable)
        self.allow_domain_button.setVisible(usable)

    def _update_remote_bar(self) -> None:
        prepared = self._prepared
        if prepared is None or prepared.parsed is None or self._remote_allowed:
            blocked = False
        else:
            blocked = self._format == SANITISED and prepared.has_remote
        self.remote_bar.setVisible(blocked)

    def _allow_remote_now(self) -> None:
        if self._message_id is None:
            return
        self._remote_allowed = True
        self.remote_bar.hide()
        self.browser.allow_remote_content()

    @Slot()
    def _on_remote_button_clicked(self) -> None:
        if self._message_id is None:
            return
        self._allow_remote_now()
        self.remote_content_allowed.emit(self._message_id)

    @Slot()
    def _on_allow_sender_button_clicked(self) -> None:
        self._allow_always("address")

    @Slot()
    def _on_allow_domain_button_clicked(self) -> None:
        self._allow_always("domain")

    def _allow_always(self, kind: str) -> None:
        if self._prepared is None or self._profile is None:
            return
        address = self._prepared.row.from_addr
        path = allow_list_path(self._profile.config_dir)
        try:
            allow_list = load_allow_list(path)
            if kind == "address":
                allow_list.add_address(address)
                entry = address.lower()
            else:
                entry = address.rpartition("@")[2].lower()
                allow_list.add_domain(entry)
            allow_list.save()
        except (RemoteContentError, OSError) as error:
            log.error("Could not add %s to the remote content allow list: %s", kind, error)
            self.status_message.emit(self.tr("Could not allow remote content: %1").replace("%1", str(error)), True)
            return
        self.status_message.emit(self.tr("Remote content of mail from %1 now loads without asking.").replace("%1", entry), False)
        self._allow_remote_now()

    # --- links ------------------------------------------------------------------------------

    @Slot(QUrl)
    def _on_browser_highlighted(self, url: QUrl) -> None:
        self.link_hovered.emit(self.link_status_text(url.toString()) if url.isValid() and not url.isEmpty() else "")

    def link_status_text(self, url: str) -> str:
        """Return the status bar text for a link to ``url``: its real target, and a warning when it is deceptive."""
        if url.startswith(CONTROL_SCHEME + ":"):
            return ""
        target = display_target(url)
        link = self._link(url)
        if link is not None and link.deceptive:
            return self.tr("Warning: the link shows %1 but goes to %2").replace("%1", link.text).replace("%2", target)
        return target

    def _link(self, url: str) -> Link | None:
        if self._prepared is None:
            return None
        return self._prepared.links.get(QUrl(url).toString())

    @Slot(QUrl)
    def _on_link_activated(self, url: QUrl) -> None:
        text = url.toString()
        if text == SHOW_QUOTED_URL or text == HIDE_QUOTED_URL:
            self.toggle_quoted_text()
            return
        if url.scheme().lower() not in _EXTERNAL_SCHEMES:
            log.info("Ignored a link with scheme %r", url.scheme())
            self.status_message.emit(self.tr("Links of type %1: are not opened.").replace("%1", url.scheme()), True)
            return
        self._ask_to_open(url)

    def _ask_to_open(self, url: QUrl) -> None:
        self.link_dialog = ask_to_open_link(self, self.link_dialog, url, self._link(url.toString()),
                                            self._on_link_dialog_finished)

    def _on_link_dialog_finished(self, url: QUrl, result: int) -> None:
        if result != QMessageBox.StandardButton.Open.value:
            return
        log.debug("Opening a link with scheme %s in the system browser", url.scheme())
        if not QDesktopServices.openUrl(url):
            self.status_message.emit(self.tr("No application could open %1").replace("%1", url.toString()), True)

    # --- downloads ------------------------------------------------------------------------------

    def _start_download(self, row: MessageRow) -> None:
        log.debug("Downloading the body of message %d for the reader", row.id)
        job = BackgroundJob(
            partial(_download_steps, self._profile, row),
            expected_errors=(SyncError, ConfigError, StoreError, OSError),
            name=f"body-{row.id}",
            parent=self,
        )
        job.progressed.connect(self._on_download_progressed)
        job.failed.connect(partial(self._on_download_failed, row.id))
        self._downloads.start(job)

    @Slot(object)
    def _on_download_progressed(self, prepared: object) -> None:
        if not isinstance(prepared, PreparedMessage):
            return
        self.body_downloaded.emit(prepared.row.id)
        if prepared.row.id != self._message_id or self._prepared is None:
            return  # The user moved on; the body is stored for next time.
        self._show_prepared(prepared, self._remote_allowed)

    def _on_download_failed(self, message_id: int, error: str) -> None:
        log.info("Downloading the body of message %d failed: %s", message_id, error)
        self.body_download_failed.emit(message_id, error)
        if message_id != self._message_id:
            return
        self._show_note(self.tr("The message could not be downloaded: %1").replace("%1", error))

    def _meta_html(self, row: MessageRow) -> str:
        sender = f"{row.from_name} <{row.from_addr}>" if row.from_name else row.from_addr
        lines = [(self.tr("From"), sender), (self.tr("To"), row.recipients)]
        if row.date is not None:
            moment = QDateTime.fromSecsSinceEpoch(int(row.date.timestamp()))
            lines.append((self.tr("Date"), QLocale().toString(moment, QLocale.FormatType.LongFormat)))
        cells = "".join(
            f"<tr><td class='name'>{html.escape(name)}:&nbsp;</td><td>{html.escape(value)}</td></tr>"
            for name, value in lines
            if value
        )
        return f"<table cellspacing='0' cellpadding='1'>{cells}</table>"


def _write_message_file(raw: bytes) -> Path:
    """Write ``raw`` into a new private folder (mode 0700) as a file only the user can read."""
    folder = Path(tempfile.mkdtemp(prefix="sluice-original-"))
    path = folder / "message.eml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(raw)
    return path


def _control_link(url: str, text: str) -> str:
    return f'<p><a href="{url}" style="color: {QUOTE_COLOR};">{html.escape(text)}</a></p>'


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img":
            return
        for name, value in attrs:
            if name == "src" and value and value.strip().lower().startswith(("http://", "https://")):
                url = QUrl(value.strip()).toString()
                if url not in self.urls:
                    self.urls.append(url)


def remote_image_urls(markup: str) -> list[str]:
    """Return the http(s) image URLs of ``markup``, each once, in document order."""
    parser = _ImageSources()
    parser.feed(markup)
    parser.close()
    return parser.urls


def plain_text_html(text: str) -> str:
    """Return ``text`` as HTML that keeps its line breaks, links its URLs and greys quoted lines."""
    # A bare CR is a line break of its own in a QTextDocument, so CRLF would
    # show every line followed by an empty one.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for line in text.split("\n"):
        linked = _linked_html(line)
        if line.startswith(">"):
            linked = f'<span style="color: {QUOTE_COLOR};">{linked}</span>'
        lines.append(linked)
    body = "\n".join(lines)
    return f'<div style="white-space: pre-wrap;">{body}</div>'


def _linked_html(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        pieces.append(html.escape(text[position : match.start()]))
        url = match.group(0)
        pieces.append(f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>')
        position = match.end()
    pieces.append(html.escape(text[position:]))
    return "".join(pieces)
