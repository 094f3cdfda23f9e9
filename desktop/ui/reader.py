"""The reader pane: headers, a remote-content bar, the body and attachments.

HTML mail is sanitised before it is shown, and the browser serves only what
the message carries itself (``cid:`` parts and ``data:`` URLs). Remote
images stay blocked until the user loads remote content for that one
message, so tracking images cannot report that a message was opened.

A message stored with its headers only is shown with its headers at once,
and its body is fetched from the server on a worker thread, then shown.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser

from PySide6.QtCore import QByteArray, QDateTime, QLocale, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QImage, QTextDocument
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedLayout,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.config import ConfigError
from desktop.mail.html import has_remote_content, sanitize_html
from desktop.mail.parse import Attachment, ParsedMessage, parse_message
from desktop.paths import Profile
from desktop.store import MessageRow, StoreError
from desktop.sync.bodies import fetch_body
from desktop.sync.errors import SyncError
from desktop.sync.service import CancelToken
from desktop.ui.icons import attachment_icon
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

MAX_REMOTE_BYTES = 5 * 1024 * 1024
QUOTE_COLOR = "#5b6470"
MAX_ATTACHMENT_ROWS = 4
_URL = re.compile(r"""\b(?:https?://|mailto:)[^\s<>"']+[^\s<>"'.,;:!?)\]]""", re.IGNORECASE)
_EXTERNAL_SCHEMES = {"http", "https", "mailto"}
# Webmail marks an empty line as <div><br></div>. QTextDocument gives the
# <br> a line of its own inside the block, so each such line shows twice as
# tall as in a browser. A non-breaking space in its place takes one line.
_EMPTY_LINE_DIV = re.compile(r"<div>\s*<br\s*/?>\s*</div>", re.IGNORECASE)


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
    """

    remote_content_loaded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBody")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self._parts: dict[str, Attachment] = {}
        self._remote = _RemoteState()
        self._network: QNetworkAccessManager | None = None
        self._markup = ""
        self.anchorClicked.connect(self._on_anchor_clicked)

    def show_markup(self, markup: str, parts: list[Attachment], *, remote_allowed: bool) -> None:
        """Show sanitised ``markup`` whose ``cid:`` links point into ``parts``."""
        self._abort_pending()
        self._parts = {part.content_id.strip("<>").lower(): part for part in parts if part.content_id}
        self._remote = _RemoteState(allowed=remote_allowed, images=remote_image_urls(markup))
        self._markup = markup
        self.setHtml(markup)
        if remote_allowed:
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

    @Slot(QUrl)
    def _on_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme().lower() not in _EXTERNAL_SCHEMES:
            log.info("Ignored a link with scheme %r", url.scheme())
            return
        QDesktopServices.openUrl(url)


class ReaderPane(QWidget):
    """Shows one message: headers, an optional remote-content bar, body, attachments.

    With a profile, a message whose body is not stored is fetched from its
    server in the background. Without one, the pane shows a note that only
    the headers are stored.

    Signals:
        remote_content_allowed(int): the user chose to load remote content
            for the message with this store id.
        body_downloaded(int): the body of the message with this store id was
            fetched from the server and stored.
        body_download_failed(int, str): fetching that message's body failed;
            the text is meant for the user.
    """

    remote_content_allowed = Signal(int)
    body_downloaded = Signal(int)
    body_download_failed = Signal(int, str)

    def __init__(self, parent: QWidget | None = None, *, profile: Profile | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("readerPane")
        self._message_id: int | None = None
        self._profile = profile
        self._row: MessageRow | None = None
        self._remote_allowed = False
        self._downloads = JobSet(self)
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

        self.remote_bar = QFrame(objectName="remoteBar")
        self.remote_bar_label = QLabel(self.tr("Remote images are blocked to protect your privacy."))
        self.remote_button = QPushButton(self.tr("Load remote content"), objectName="remoteButton")

        self.browser = MessageBrowser()
        self.attachments = QListWidget(objectName="attachmentList")
        self.attachments.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.placeholder = QLabel(self.tr("Select a message to read it."), objectName="readerPlaceholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def _init_layout(self) -> None:
        bar_layout = QHBoxLayout(self.remote_bar)
        bar_layout.setContentsMargins(10, 6, 10, 6)
        bar_layout.addWidget(self.remote_bar_label, 1)
        bar_layout.addWidget(self.remote_button)

        headers = QFrame(objectName="readerHeaders")
        header_layout = QVBoxLayout(headers)
        header_layout.setContentsMargins(14, 12, 14, 10)
        header_layout.setSpacing(4)
        header_layout.addWidget(self.subject_label)
        header_layout.addWidget(self.meta_label)

        message = QWidget()
        message_layout = QVBoxLayout(message)
        message_layout.setContentsMargins(0, 0, 0, 0)
        message_layout.setSpacing(0)
        message_layout.addWidget(headers)
        message_layout.addWidget(self.remote_bar)
        message_layout.addWidget(self.browser, 1)
        message_layout.addWidget(self.attachments)

        self._pages = QStackedLayout(self)
        self._pages.addWidget(self.placeholder)
        self._pages.addWidget(message)

    def _connect_signals(self) -> None:
        self.remote_button.clicked.connect(self._on_remote_button_clicked)

    def message_id(self) -> int | None:
        return self._message_id

    def set_profile(self, profile: Profile | None) -> None:
        """Set the profile whose servers provide the bodies that are not stored."""
        self._profile = profile

    def is_downloading(self) -> bool:
        """Return whether a body download's thread is still running."""
        return len(self._downloads) > 0

    def cancel_downloads(self, wait_ms: int) -> bool:
        """Stop waiting for body downloads; return whether their threads stopped within ``wait_ms`` each."""
        return self._downloads.cancel_all(wait_ms)

    def clear(self) -> None:
        """Show the placeholder instead of a message."""
        self._message_id = None
        self._row = None
        self.browser.show_markup("", [], remote_allowed=False)
        self._pages.setCurrentIndex(0)

    def show_message(self, row: MessageRow, parsed: ParsedMessage | None, *, remote_allowed: bool = False) -> None:
        """Show ``row`` with its parsed body; ``parsed`` is None when only headers are stored."""
        self._message_id = row.id
        self._row = row
        self._remote_allowed = remote_allowed
        self.subject_label.setText(row.subject or self.tr("(no subject)"))
        self.meta_label.setText(self._meta_html(row))
        self._show_body(parsed, remote_allowed)
        self._show_attachments(parsed)
        self._pages.setCurrentIndex(1)
        if parsed is None and self._profile is not None:
            self._start_download(row.id)

    def _show_body(self, parsed: ParsedMessage | None, remote_allowed: bool) -> None:
        if parsed is None:
            if self._profile is not None:
                note = self.tr("Downloading the message…")
            else:
                note = self.tr("Only the headers of this message are stored. Sync again to fetch its body.")
            self._show_note(note)
            return
        if parsed.html.strip():
            remote = has_remote_content(parsed.html)
            markup = _EMPTY_LINE_DIV.sub("<div>&nbsp;</div>", sanitize_html(parsed.html))
            self.browser.show_markup(markup, parsed.attachments, remote_allowed=remote_allowed)
            self.remote_bar.setVisible(remote and not remote_allowed)
            return
        self.browser.show_markup(plain_text_html(parsed.body_text), parsed.attachments, remote_allowed=False)
        self.remote_bar.hide()

    def _show_note(self, note: str) -> None:
        self.browser.show_markup(f"<p><i>{html.escape(note)}</i></p>", [], remote_allowed=False)
        self.remote_bar.hide()

    def _start_download(self, message_id: int) -> None:
        log.debug("Downloading the body of message %d for the reader", message_id)
        job = BackgroundJob(
            partial(_download_steps, self._profile, message_id),
            expected_errors=(SyncError, ConfigError, StoreError, OSError),
            name=f"body-{message_id}",
            parent=self,
        )
        job.progressed.connect(self._on_download_progressed)
        job.failed.connect(partial(self._on_download_failed, message_id))
        self._downloads.start(job)

    @Slot(object)
    def _on_download_progressed(self, result: object) -> None:
        message_id, raw = result
        self.body_downloaded.emit(message_id)
        if message_id != self._message_id or self._row is None:
            return  # The user moved on; the body is stored for next time.
        parsed = parse_message(raw, keep_payloads=True)
        self._show_body(parsed, self._remote_allowed)
        self._show_attachments(parsed)

    def _on_download_failed(self, message_id: int, error: str) -> None:
        log.info("Downloading the body of message %d failed: %s", message_id, error)
        self.body_download_failed.emit(message_id, error)
        if message_id != self._message_id:
            return
        self._show_note(self.tr("The message could not be downloaded: %1").replace("%1", error))

    def _show_attachments(self, parsed: ParsedMessage | None) -> None:
        self.attachments.clear()
        listed = [part for part in parsed.attachments if not part.inline] if parsed else []
        locale = QLocale()
        for part in listed:
            text = f"{part.filename}  ({locale.formattedDataSize(part.size, 0)})"
            self.attachments.addItem(QListWidgetItem(attachment_icon(), text))
        self.attachments.setVisible(bool(listed))
        if listed:
            # As tall as its rows, up to MAX_ATTACHMENT_ROWS, then it scrolls.
            rows = min(len(listed), MAX_ATTACHMENT_ROWS)
            frame = 2 * self.attachments.frameWidth() + 8
            self.attachments.setFixedHeight(rows * self.attachments.sizeHintForRow(0) + frame)

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

    @Slot()
    def _on_remote_button_clicked(self) -> None:
        if self._message_id is None:
            return
        self.remote_bar.hide()
        self.browser.allow_remote_content()
        self.remote_content_allowed.emit(self._message_id)


def _download_steps(profile: Profile, message_id: int, _token: CancelToken) -> Iterator[tuple[int, bytes]]:
    """Fetch one body on the worker thread; the single step is (message id, raw bytes)."""
    yield message_id, fetch_body(profile, message_id)


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
