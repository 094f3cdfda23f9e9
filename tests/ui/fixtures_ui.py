"""Profiles with known messages, and the opened main window, for the window tests.

The builders write through the store's own API (``insert_messages``) and
index through ``update_index``, the same path that sync and the demo take.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import base64
import http.server
import shlex
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtWidgets import QApplication

from desktop.config import Account, Config, load_config, save_config
from desktop.index import SearchIndex
from desktop.index.builder import update_index
from desktop.mail.parse import Summary, parse_summary
from desktop.paths import Profile, profile_at
from desktop.store import SEEN, NewMessage, Store
from desktop.ui.main_window import MainWindow

# The offscreen platform warns about this on every shown top-level window;
# it is harmless, so the tests that show windows ignore it.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"

ACCOUNT = "local-test"
START = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)

# A 1x1 PNG, small enough to embed as a cid: part or serve over HTTP.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass
class SampleMessage:
    """A message to store: plain text, optional HTML and optional inline image."""

    subject: str
    sender: str
    body: str
    folder: str = "INBOX"
    html: str = ""
    inline_png_cid: str = ""
    attachment_name: str = ""
    seen: bool = False
    flags: list[str] = field(default_factory=list)


def raw_message(sample: SampleMessage, date: datetime) -> bytes:
    """Build the RFC 5322 bytes of ``sample``."""
    message = EmailMessage()
    message["From"] = sample.sender
    message["To"] = "Reader <reader@example.org>"
    message["Subject"] = sample.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(sample.body)
    if sample.html:
        message.add_alternative(sample.html, subtype="html")
        if sample.inline_png_cid:
            html_part = message.get_payload()[1]
            html_part.add_related(PIXEL_PNG, "image", "png", cid=f"<{sample.inline_png_cid}>")
    if sample.attachment_name:
        message.add_attachment(b"%PDF-1.4 sample", maintype="application", subtype="pdf", filename=sample.attachment_name)
    return message.as_bytes()


DEFAULT_SAMPLES = [
    SampleMessage("Quarterly budget review", "Ana Lima <ana@example.org>", "The budget spreadsheet is attached.\nSee https://example.org/budget for notes.", attachment_name="budget.pdf"),
    SampleMessage("Lunch on Friday?", "Ben Okafor <ben@example.org>", "Shall we try the new noodle place?", seen=True),
    SampleMessage("Server maintenance window", "Ops <ops@example.org>", "The mail server restarts at 22:00 UTC."),
    SampleMessage("Your parcel has shipped", "Shop <shop@example.org>", "Tracking number 12345.", seen=True, flags=["\\Flagged"]),
    SampleMessage("Weekly newsletter", "News <news@example.org>", "Plain version of the newsletter.",
                  html="<p>Hello <b>reader</b></p><p><img src='http://127.0.0.1:9/track.png' width='1' height='1'></p>"),
    SampleMessage("Python 3.14 released", "Python list <list@example.org>", "A new release is out.", folder="Lists/python"),
    SampleMessage("Old project notes", "Cara <cara@example.org>", "Notes from the kickoff.", folder="Archive", seen=True),
]


def local_profile(home: Path, account: str = ACCOUNT) -> Profile:
    """Create an empty profile whose config has one local account named ``account``."""
    profile = profile_at(home).ensure()
    save_config(Config(accounts={account: Account(name=account, kind="local")}), profile.config_file)
    return profile


def copy_profile(source_home: Path, home: Path) -> Profile:
    """Copy the profile at ``source_home`` to ``home``, so a test can change a profile built once per module."""
    shutil.copytree(source_home, home)
    return profile_at(home)


def build_profile(home: Path, samples: list[SampleMessage] | None = None, *, with_account: bool = True) -> Profile:
    """Create a profile with a local account holding ``samples``, stored and indexed."""
    if not with_account:
        return profile_at(home).ensure()
    profile = local_profile(home)
    chosen = DEFAULT_SAMPLES if samples is None else samples
    with Store(profile.store_file) as store:
        account_id = store.ensure_account(ACCOUNT, "local")
        folder_ids: dict[str, int] = {}
        for number, sample in enumerate(chosen):
            if sample.folder not in folder_ids:
                folder_ids[sample.folder] = store.upsert_folder(account_id, sample.folder, delimiter="/")
            raw = raw_message(sample, START + timedelta(hours=number))
            flags = list(sample.flags) + ([SEEN] if sample.seen else [])
            new = NewMessage(uid=number + 1, flags=flags, size=len(raw), raw=raw, summary=parse_summary(raw))
            store.insert_messages(folder_ids[sample.folder], [new])
        index_profile(profile, store)
    return profile


def index_profile(profile: Profile, store: Store) -> None:
    index = SearchIndex(profile.index_dir)
    try:
        for _step in update_index(store, index):
            pass
    finally:
        index.close()


def fill_large_folder(profile: Profile, count: int, *, batch: int = 5000) -> int:
    """Store ``count`` header-only messages in one folder; return the folder id.

    The summaries are built directly instead of parsed, and the messages
    are not indexed, so 100,000 of them take seconds.
    """
    profile.ensure()
    save_config(Config(accounts={ACCOUNT: Account(name=ACCOUNT, kind="local")}), profile.config_file)
    with Store(profile.store_file) as store:
        account_id = store.ensure_account(ACCOUNT, "local")
        folder_id = store.upsert_folder(account_id, "INBOX", delimiter="/")
        for start in range(0, count, batch):
            messages = [
                NewMessage(
                    uid=uid + 1,
                    flags=[SEEN] if uid % 3 else [],
                    size=2000 + uid % 5000,
                    raw=None,
                    summary=Summary(
                        subject=f"Message number {uid}",
                        from_name=f"Sender {uid % 97}",
                        from_addr=f"sender{uid % 97}@example.org",
                        date=START + timedelta(minutes=uid),
                        message_id=f"<large-{uid}@example.org>",
                    ),
                )
                for uid in range(start, min(start + batch, count))
            ]
            store.insert_messages(folder_id, messages)
    return folder_id


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def add_unreachable_account(profile: Profile, name: str = "offline") -> int:
    """Add an IMAP account whose server port on 127.0.0.1 is closed; return the port."""
    port = free_port()
    config = load_config(profile.config_file)
    config.accounts[name] = Account(name=name, imap_host="127.0.0.1", imap_port=port, security="none", user="nobody",
                                    password_command="echo not-a-real-password")
    save_config(config, profile.config_file)
    return port


def server_profile(home: Path, dovecot_server, imap_user, account_name: str) -> Profile:
    """Create a profile whose one IMAP account ``account_name`` logs in to the test Dovecot as ``imap_user``."""
    profile = profile_at(home).ensure()
    account = Account(name=account_name, imap_host=dovecot_server.host, imap_port=dovecot_server.port,
                      security="none", user=imap_user.name,
                      password_command=f"echo {shlex.quote(imap_user.password)}")
    save_config(Config(accounts={account_name: account}), profile.config_file)
    return profile


def discard_rule_edits(main: MainWindow) -> None:
    """Mark the rule editor's text unmodified, so closing the window at the end of a test shows no save prompt."""
    if main.rule_commands.editor is not None:
        main.rule_commands.editor.text_edit.document().setModified(False)


def activate(qtbot, widget) -> None:
    """Make ``widget`` the active window and wait until Qt reports it so."""
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget, timeout=2000)


def refocus_window(qtbot, window: MainWindow) -> None:
    """Make ``window`` active again and focus its message list, as a desktop does when a dialog closes.

    The offscreen platform leaves either no window or the closed dialog active, and the keys need the
    main window active with its list focused.
    """
    activate(qtbot, window)
    window.message_view.setFocus()


def search_and_wait(qtbot, window: MainWindow, query: str, timeout_ms: int) -> None:
    """Run ``query`` from the search field, wait for its results and focus the message list."""
    window.search_field.setText(query)
    with qtbot.waitSignal(window.search_finished, timeout=timeout_ms):
        window.search_field.returnPressed.emit()
    window.message_view.setFocus()


def open_main_window(qtbot, profile: Profile, *, size: tuple[int, int] = (1200, 800),
                     before_close=None) -> MainWindow:
    """Show a main window on ``profile``, sized ``size``, and wait until it is the active window.

    ``before_close`` runs on the window before pytest-qt closes it at the end of the test.
    """
    main = MainWindow(profile)
    if before_close is None:
        qtbot.addWidget(main)
    else:
        qtbot.addWidget(main, before_close_func=before_close)
    main.resize(*size)
    main.show()
    qtbot.waitExposed(main)
    activate(qtbot, main)
    return main


class PixelHandler(http.server.BaseHTTPRequestHandler):
    """Serves the test PNG for every GET and records each request's path in ``requests``."""

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


@contextmanager
def serve_pixel(thread_name: str) -> Iterator[str]:
    """Run an HTTP server on 127.0.0.1 with ``PixelHandler`` and yield its base URL.

    ``PixelHandler.requests`` starts empty, so a test reads only its own requests there.
    """
    PixelHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PixelHandler)
    thread = threading.Thread(target=server.serve_forever, name=thread_name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class UrlRecorder(QObject):
    """Receives the URLs QDesktopServices would hand to the desktop, for the schemes it is set up for."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def handle(self, url: QUrl) -> None:
        self.urls.append(QUrl(url))
