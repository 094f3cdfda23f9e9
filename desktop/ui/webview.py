"""The full-fidelity view of a message's original HTML, in QtWebEngine, locked down for mail.

QTextBrowser, which shows the sanitised HTML, gets newsletter layouts wrong
(button-styled links, fixed-width centred tables). This view renders the
original HTML like a browser, with these limits:

* An off-the-record profile: no disk cache, and every cookie refused.
* JavaScript, plugins, WebGL, local storage and DNS prefetching are off.
* ``MailRequestInterceptor`` blocks every request except the message itself
  and its ``cid:`` and ``data:`` parts. http and https requests pass only
  after the user allows remote content for the message or its sender.
* The document and its ``cid:`` parts come from ``MessageSchemeHandler``,
  which serves them from memory.
* The page never navigates. A click on a link opens a confirmation
  before the system browser opens it.

The view runs in a process of its own (``python -m desktop.ui.webview
MESSAGE-FILE``), which the reader starts. PySide6 6.11 crashes when a Python
event filter on the QApplication, as the main window's key dispatcher
installs, is handed one of QtWebEngine's internal objects: wrapping such an
object fails before the filter's Python code runs. A separate process also
keeps a renderer crash away from the mail window, and its memory (about
276 MB) is returned when the window closes.

The ``cid`` and ``sluice-message`` schemes must be registered before the
QApplication exists, so ``main`` calls ``prepare_web_engine()`` first.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from urllib.parse import unquote

from PySide6.QtCore import QBuffer, QByteArray, QCoreApplication, QIODevice, QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineSettings,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from desktop.mail.links import Link, display_target, find_links, mark_deceptive_links, warning_marker
from desktop.mail.parse import Attachment, ParsedMessage, parse_message
from desktop.remote_content import RemoteContentError, allow_list_path, load_allow_list
from desktop.ui.link_dialog import ask_to_open_link

log = logging.getLogger(__name__)

CID_SCHEME = b"cid"
MESSAGE_SCHEME = b"sluice-message"
_LOCAL_SCHEMES = {"cid", "data", MESSAGE_SCHEME.decode()}
_REMOTE_SCHEMES = {"http", "https"}
_SANDBOX_VARIABLE = "QTWEBENGINE_DISABLE_SANDBOX"
_registered = False


def prepare_web_engine() -> bool:
    """Register the mail URL schemes and set up the sandbox; call before the QApplication exists.

    Chromium's sandbox cannot run as root, and QtWebEngine then stops at the
    first view, so as root the sandbox is turned off with a log line. Returns
    whether the schemes are registered; later calls do nothing.
    """
    global _registered
    if _registered:
        return True
    if QCoreApplication.instance() is not None:
        log.warning("The cid: scheme for the original-message view is registered after the application started; "
                    "inline images of the original view may not show")
        return False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not os.environ.get(_SANDBOX_VARIABLE):
        os.environ[_SANDBOX_VARIABLE] = "1"
        log.info("Running as root: the Chromium sandbox of the original-message view is off (%s=1)", _SANDBOX_VARIABLE)
    for name in (CID_SCHEME, MESSAGE_SCHEME):
        # No flags: a LocalScheme document could not load remote images even
        # when the user allows them, because LocalContentCanAccessRemoteUrls is off.
        scheme = QWebEngineUrlScheme(name)
        scheme.setSyntax(QWebEngineUrlScheme.Syntax.Path)
        QWebEngineUrlScheme.registerScheme(scheme)
    _registered = True
    return True


class MailRequestInterceptor(QWebEngineUrlRequestInterceptor):
    """Blocks every request but the message's own parts, and remote ones until they are allowed.

    Signals:
        remote_blocked(str): an http(s) request was blocked; its URL.
        remote_requested(str): an http(s) request was let through; its URL.
    """

    remote_blocked = Signal(str)
    remote_requested = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.remote_allowed = False

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 - Qt's method name
        url = info.requestUrl()
        scheme = url.scheme().lower()
        if scheme in _LOCAL_SCHEMES:
            return
        if scheme in _REMOTE_SCHEMES and self.remote_allowed:
            self.remote_requested.emit(url.toString())
            return
        info.block(True)
        if scheme in _REMOTE_SCHEMES:
            log.debug("Blocked a remote request of the original view")
            self.remote_blocked.emit(url.toString())
        else:
            log.info("Blocked a request with scheme %r in the original view", scheme)


class MessageSchemeHandler(QWebEngineUrlSchemeHandler):
    """Serves the document (``sluice-message:``) and its inline parts (``cid:``) from memory.

    Attributes:
        served: The ``cid:`` URLs served since the last ``set_message``.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._document = b""
        self._document_path = ""
        self._parts: dict[str, Attachment] = {}
        self.served: list[str] = []

    def set_message(self, markup: str, parts: list[Attachment]) -> QUrl:
        """Hold ``markup`` and ``parts`` for serving; return the document's URL, new for every call."""
        self._document = markup.encode("utf-8")
        # A fresh path per load, so the engine never shows an earlier document from memory.
        self._document_path = f"message-{secrets.token_hex(8)}"
        self._parts = {part.content_id.strip("<>").lower(): part for part in parts if part.content_id and part.payload}
        self.served = []
        return QUrl(f"{MESSAGE_SCHEME.decode()}:{self._document_path}")

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 - Qt's method name
        url = job.requestUrl()
        scheme = url.scheme().lower()
        if scheme == MESSAGE_SCHEME.decode() and url.path() == self._document_path:
            # The charset in the type wins over a <meta charset> in the markup, which names the part's old charset.
            self._reply(job, b"text/html;charset=utf-8", self._document)
            return
        part = self._parts.get(unquote(url.path()).strip("<>").lower()) if scheme == CID_SCHEME.decode() else None
        if part is None:
            log.debug("No part for a %s: request of the original view", scheme)
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        self.served.append(url.toString())
        self._reply(job, part.content_type.encode("ascii", "replace"), part.payload)

    def _reply(self, job: QWebEngineUrlRequestJob, content_type: bytes, data: bytes) -> None:
        buffer = QBuffer(job)
        buffer.setData(QByteArray(data))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(QByteArray(content_type), buffer)


class MailPage(QWebEnginePage):
    """A page that loads only its own document and reports link clicks instead of following them.

    Signals:
        link_clicked(QUrl): the user clicked a link; nothing was opened.
    """

    link_clicked = Signal(QUrl)

    def __init__(self, profile: QWebEngineProfile, parent: QObject | None = None) -> None:
        super().__init__(profile, parent)
        self.document_url = QUrl()

    def acceptNavigationRequest(self, url: QUrl, kind: QWebEnginePage.NavigationType,  # noqa: N802 - Qt's method name
                                is_main_frame: bool) -> bool:
        if _same_document(url, self.document_url):
            return True
        if kind == QWebEnginePage.NavigationType.NavigationTypeLinkClicked:
            self.link_clicked.emit(url)
        else:
            # Meta refresh, form submissions and frames that would navigate away.
            log.info("Blocked a navigation of type %s in the original view", kind.name)
        return False

    def createWindow(self, _kind: QWebEnginePage.WebWindowType) -> QWebEnginePage:  # noqa: N802 - Qt's method name
        # A link with target="_blank" requests a new window first; a page that
        # only reports its first navigation turns that click into link_clicked.
        catcher = _LinkCatcher(self.profile(), self)
        catcher.link_clicked.connect(self.link_clicked)
        return catcher


class _LinkCatcher(QWebEnginePage):
    """Stands in for a new window: reports the link it was opened for, then deletes itself."""

    link_clicked = Signal(QUrl)

    def acceptNavigationRequest(self, url: QUrl, _kind: QWebEnginePage.NavigationType,  # noqa: N802 - Qt's method name
                                _is_main_frame: bool) -> bool:
        self.link_clicked.emit(url)
        self.deleteLater()
        return False


def _same_document(url: QUrl, document: QUrl) -> bool:
    # A link to an anchor of the same document only scrolls it.
    return document.isValid() and url.toString().split("#", 1)[0] == document.toString()


class OriginalView(QWidget):
    """Shows one message's original HTML in a locked-down QtWebEngine page.

    Signals:
        load_finished(bool): the document (with whatever the interceptor let
            through) finished loading; whether it succeeded.
        remote_blocked(str): a remote request was blocked; its URL.
        link_hovered(str): the mouse is over a link to this URL ('' when it left).
        link_clicked(QUrl): the user clicked a link to this URL.
    """

    load_finished = Signal(bool)
    remote_blocked = Signal(str)
    link_hovered = Signal(str)
    link_clicked = Signal(QUrl)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("originalView")
        if not prepare_web_engine():
            log.warning("The original view starts without registered mail schemes")
        from PySide6.QtWebEngineWidgets import QWebEngineView  # loaded with the first view only

        # The view is created before the profile, so it is deleted first: a
        # profile deleted while its page lives makes QtWebEngine warn.
        self.web_view = QWebEngineView(self)
        self.profile = QWebEngineProfile(self)
        self._init_profile()
        self.page = MailPage(self.profile, self.web_view)
        self.web_view.setPage(self.page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.web_view)
        self._markup = ""
        self._parts: list[Attachment] = []
        self._connect_signals()
        log.info("Created the original-message view")

    def _init_profile(self) -> None:
        assert self.profile.isOffTheRecord()
        self.profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
        self.profile.setPersistentCookiesPolicy(QWebEngineProfile.PersistentCookiesPolicy.NoPersistentCookies)
        self.profile.cookieStore().setCookieFilter(_refuse_cookie)
        self.interceptor = MailRequestInterceptor(self.profile)
        self.profile.setUrlRequestInterceptor(self.interceptor)
        self.scheme_handler = MessageSchemeHandler(self.profile)
        for scheme in (CID_SCHEME, MESSAGE_SCHEME):
            self.profile.installUrlSchemeHandler(QByteArray(scheme), self.scheme_handler)
        settings = self.profile.settings()
        attribute = QWebEngineSettings.WebAttribute
        for name in ("JavascriptEnabled", "JavascriptCanOpenWindows", "JavascriptCanAccessClipboard",
                     "LocalContentCanAccessRemoteUrls", "LocalContentCanAccessFileUrls", "PluginsEnabled",
                     "LocalStorageEnabled", "WebGLEnabled", "DnsPrefetchEnabled", "AutoLoadIconsForPage",
                     "PdfViewerEnabled", "NavigateOnDropEnabled", "ScreenCaptureEnabled"):
            settings.setAttribute(getattr(attribute, name), False)

    def _connect_signals(self) -> None:
        self.page.loadFinished.connect(self.load_finished)
        self.page.linkHovered.connect(self.link_hovered)
        self.page.link_clicked.connect(self.link_clicked)
        self.interceptor.remote_blocked.connect(self.remote_blocked)

    def show_original(self, markup: str, parts: list[Attachment], *, remote_allowed: bool) -> None:
        """Load ``markup`` with its inline ``parts``; remote requests pass only with ``remote_allowed``."""
        self._markup = markup
        self._parts = parts
        self._load(remote_allowed)

    def _load(self, remote_allowed: bool) -> None:
        self.interceptor.remote_allowed = remote_allowed
        url = self.scheme_handler.set_message(self._markup, self._parts)
        self.page.document_url = url
        self.page.load(url)

    def allow_remote_content(self) -> None:
        """Load the message on show again, now with its remote content."""
        if self.interceptor.remote_allowed or not self.page.document_url.isValid():
            return
        self._load(True)

    def remote_allowed(self) -> bool:
        return self.interceptor.remote_allowed

    def served_parts(self) -> list[str]:
        """Return the ``cid:`` URLs the page loaded since the message was set."""
        return list(self.scheme_handler.served)


def _refuse_cookie(_request: object) -> bool:
    return False


class OriginalWindow(QWidget):
    """A window with the original HTML of one message and a bar for its remote content.

    Signals:
        status_changed(str): a result for the user, also shown in the window.
    """

    status_changed = Signal(str)

    def __init__(self, parsed: ParsedMessage, *, config_dir: Path | None, remote_allowed: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("originalWindow")
        self._parsed = parsed
        self._config_dir = config_dir
        self._sender = parsed.summary.from_addr.strip().lower()
        self._blocked = False
        self.link_dialog: QMessageBox | None = None
        subject = parsed.summary.subject or self.tr("(no subject)")
        self.setWindowTitle(self.tr("Original of %1").replace("%1", subject))
        self._init_widgets()
        self._init_layout()
        self._connect_signals()
        self._links = {QUrl(link.href.strip()).toString(): link for link in find_links(parsed.html)}
        marked, _links = mark_deceptive_links(parsed.html, self._marker)
        self._remote_allowed = remote_allowed or self._sender_allowed()
        self.view.show_original(marked, parsed.attachments, remote_allowed=self._remote_allowed)
        self._update_bar()

    def _marker(self, link: Link) -> str:
        return warning_marker(self.tr("link goes to %1").replace("%1", link.target_host or link.href))

    def _init_widgets(self) -> None:
        sender = self._parsed.summary.sender
        self.header_label = QLabel(objectName="originalHeader")
        self.header_label.setTextFormat(Qt.TextFormat.PlainText)
        self.header_label.setText(f"{self._parsed.summary.subject}\n{sender}")
        self.remote_bar = QFrame(objectName="remoteBar")
        self.remote_bar_label = QLabel(self.tr("Remote content blocked"))
        self.remote_button = QPushButton(self.tr("Load once"), objectName="remoteButton")
        domain = self._sender.rpartition("@")[2]
        self.allow_sender_button = QPushButton(self.tr("Always allow from %1").replace("%1", self._sender),
                                               objectName="allowSenderButton")
        self.allow_domain_button = QPushButton(self.tr("Always allow from %1").replace("%1", domain),
                                               objectName="allowDomainButton")
        usable = self._config_dir is not None and "@" in self._sender
        self.allow_sender_button.setVisible(usable)
        self.allow_domain_button.setVisible(usable)
        self.view = OriginalView()
        self.status_label = QLabel(objectName="originalStatus")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)

    def _init_layout(self) -> None:
        bar_layout = QHBoxLayout(self.remote_bar)
        bar_layout.setContentsMargins(10, 6, 10, 6)
        bar_layout.addWidget(self.remote_bar_label, 1)
        for button in (self.remote_button, self.allow_sender_button, self.allow_domain_button):
            bar_layout.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.header_label.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.header_label)
        layout.addWidget(self.remote_bar)
        layout.addWidget(self.view, 1)
        self.status_label.setContentsMargins(10, 3, 10, 3)
        layout.addWidget(self.status_label)

    def _connect_signals(self) -> None:
        self.remote_button.clicked.connect(self._on_remote_button_clicked)
        self.allow_sender_button.clicked.connect(partial(self._allow_always, "address"))
        self.allow_domain_button.clicked.connect(partial(self._allow_always, "domain"))
        self.view.remote_blocked.connect(self._on_view_remote_blocked)
        self.view.link_hovered.connect(self._on_view_link_hovered)
        self.view.link_clicked.connect(self._on_view_link_clicked)

    def _sender_allowed(self) -> bool:
        if self._config_dir is None or not self._sender:
            return False
        try:
            return load_allow_list(allow_list_path(self._config_dir)).allows(self._sender)
        except RemoteContentError as error:
            log.error("%s", error)
            self._show_status(self.tr("%1 Remote content stays blocked.").replace("%1", str(error)))
            return False

    def _update_bar(self) -> None:
        self.remote_bar.setVisible(not self._remote_allowed and (self._blocked or _has_remote(self._parsed.html)))

    def _show_status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_changed.emit(text)

    @Slot(str)
    def _on_view_remote_blocked(self, _url: str) -> None:
        self._blocked = True
        self._update_bar()

    @Slot()
    def _on_remote_button_clicked(self) -> None:
        self._allow_now()

    def _allow_now(self) -> None:
        self._remote_allowed = True
        self._update_bar()
        self.view.allow_remote_content()

    def _allow_always(self, kind: str, _checked: bool = False) -> None:
        if self._config_dir is None:
            return
        try:
            allow_list = load_allow_list(allow_list_path(self._config_dir))
            if kind == "address":
                allow_list.add_address(self._sender)
                entry = self._sender
            else:
                entry = self._sender.rpartition("@")[2]
                allow_list.add_domain(entry)
            allow_list.save()
        except (RemoteContentError, OSError) as error:
            log.error("Could not add %s to the remote content allow list: %s", kind, error)
            self._show_status(self.tr("Could not allow remote content: %1").replace("%1", str(error)))
            return
        self._show_status(self.tr("Remote content of mail from %1 now loads without asking.").replace("%1", entry))
        self._allow_now()

    @Slot(str)
    def _on_view_link_hovered(self, url: str) -> None:
        if not url:
            self.status_label.clear()
            return
        link = self._links.get(QUrl(url).toString())
        target = display_target(url)
        if link is not None and link.deceptive:
            self.status_label.setText(self.tr("Warning: the link shows %1 but goes to %2")
                                      .replace("%1", link.text).replace("%2", target))
        else:
            self.status_label.setText(target)

    @Slot(QUrl)
    def _on_view_link_clicked(self, url: QUrl) -> None:
        if url.scheme().lower() not in ("http", "https", "mailto"):
            self._show_status(self.tr("Links of type %1: are not opened.").replace("%1", url.scheme()))
            return
        self.link_dialog = ask_to_open_link(self, self.link_dialog, url, self._links.get(url.toString()),
                                            self._on_link_dialog_finished)

    def _on_link_dialog_finished(self, url: QUrl, result: int) -> None:
        if result == QMessageBox.StandardButton.Open.value and not QDesktopServices.openUrl(url):
            self._show_status(self.tr("No application could open %1").replace("%1", url.toString()))


def _has_remote(markup: str) -> bool:
    from desktop.mail.html import has_remote_content

    return has_remote_content(markup)


def main(argv: Sequence[str] | None = None) -> int:
    """Show the original HTML of the message in MESSAGE-FILE in a window of its own; delete the file once read."""
    parser = argparse.ArgumentParser(prog="python -m desktop.ui.webview",
                                     description="Show the original HTML of a message, with remote content blocked.")
    parser.add_argument("message_file", type=Path, help="raw message (RFC 5322); deleted after reading")
    parser.add_argument("--config-dir", type=Path, help="profile config folder with remote-allow.toml")
    parser.add_argument("--remote-allowed", action="store_true", help="load remote content at once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s: %(message)s")

    try:
        raw = args.message_file.read_bytes()
    except OSError as error:
        print(f"Could not read the message file {args.message_file}: {error}", file=sys.stderr)
        return 1
    _remove_message_file(args.message_file)
    prepare_web_engine()
    from desktop.ui.app import create_application  # after the schemes are registered

    app = create_application([sys.argv[0]])
    window = OriginalWindow(parse_message(raw, keep_payloads=True), config_dir=args.config_dir,
                            remote_allowed=args.remote_allowed)
    window.view.load_finished.connect(_log_load_finished)
    window.resize(1000, 800)
    window.show()
    return app.exec()


def _remove_message_file(path: Path) -> None:
    # The reader writes each message into a private folder of its own.
    try:
        path.unlink()
        if path.parent.name.startswith("sluice-original-"):
            path.parent.rmdir()
    except OSError as error:
        log.warning("Could not remove the message file %s: %s", path, error)


def _log_load_finished(ok: bool) -> None:
    # The reader and the tests wait for this line on standard error.
    log.info("Original view loaded: %s", "ok" if ok else "failed")


if __name__ == "__main__":
    sys.exit(main())
