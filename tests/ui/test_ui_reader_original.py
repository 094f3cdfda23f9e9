"""The original-HTML window in QtWebEngine: remote requests blocked until allowed, cid: parts, no JavaScript, links.

The window runs in this process here, as no main window with its key dispatcher is open at the same time
in these tests. The last tests open it from the main window, where it runs as a process of its own.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The mail URL schemes must be registered before pytest-qt creates the QApplication,
# which happens after every test module is imported.
from desktop.ui.webview import prepare_web_engine  # noqa: E402 - must run before the QApplication exists

prepare_web_engine()

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QBuffer, QIODevice, QPoint, QProcess, Qt  # noqa: E402
from PySide6.QtGui import QColor, QDesktopServices, QImage  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from desktop.mail.parse import parse_message  # noqa: E402
from desktop.remote_content import allow_list_path, load_allow_list  # noqa: E402
from desktop.ui.main_window import MainWindow  # noqa: E402
from desktop.ui.webview import OriginalWindow  # noqa: E402
from tests.ui.fixtures_ui import (  # noqa: E402
    OFFSCREEN_NOISE,
    START,
    PixelHandler,
    SampleMessage,
    UrlRecorder,
    build_profile,
    raw_message,
    serve_pixel,
)

# QtWebEngine reports through Qt's log that the offscreen platform has no
# OpenGL or Vulkan, then falls back to software rendering. Only these
# messages are ignored; any other warning still fails the test.
WEBENGINE_NOISE = [
    OFFSCREEN_NOISE,
    "QRhiGles2: Failed to create",
    "Failed to create RHI for backend",
    "does not support createPlatformVulkanInstance",
    "QVulkanInstance: Failed to initialize Vulkan",
    "GBM is not supported",
    "GPUInfo not initialized on GpuInfoUpdate",
]
pytestmark = pytest.mark.qt_log_ignore(*WEBENGINE_NOISE)

LOAD_TIMEOUT_MS = 20_000


@pytest.fixture
def server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that records every request in ``PixelHandler.requests``; yields its base URL."""
    with serve_pixel("recording-server") as url:
        yield url


def _red_png(size: int = 40) -> bytes:
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor(255, 0, 0))
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def _window(qtbot, tmp_path: Path, sample: SampleMessage, *, allow: str = "", red_cid: bool = False) -> OriginalWindow:
    """Open the original-HTML window of ``sample`` in this process and wait until it is loaded."""
    config_dir = tmp_path / "config"
    config_dir.mkdir(exist_ok=True)
    if allow:
        allow_list = load_allow_list(allow_list_path(config_dir))
        allow_list.add_address(allow)
        allow_list.save()
    parsed = parse_message(raw_message(sample, START), keep_payloads=True)
    if red_cid:
        # The fixture embeds a 1x1 PNG; a red square is easier to find in a screen grab.
        parsed.attachments[0].payload = _red_png()
    window = OriginalWindow(parsed, config_dir=config_dir)
    qtbot.addWidget(window)
    window.resize(800, 600)
    with qtbot.waitSignal(window.view.load_finished, timeout=LOAD_TIMEOUT_MS) as loaded:
        window.show()
    assert loaded.args == [True]
    return window


def test_original_blocks_remote_until_sender_allowed(qtbot, tmp_path: Path, server: str) -> None:
    sample = SampleMessage("Newsletter", "News <news@example.org>", "Plain part.",
                           html=f"<p>Hello</p><img src='{server}/pixel.png'><div style=\"background: url('{server}/bg.png')\">x</div>")
    window = _window(qtbot, tmp_path, sample)

    assert PixelHandler.requests == []
    assert window.remote_bar.isVisible()
    assert window.remote_bar_label.text() == "Remote content blocked"
    assert window.allow_sender_button.text() == "Always allow from news@example.org"

    with qtbot.waitSignal(window.view.load_finished, timeout=LOAD_TIMEOUT_MS):
        qtbot.mouseClick(window.allow_sender_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(PixelHandler.requests) == 2, timeout=5000)

    assert sorted(PixelHandler.requests) == ["/bg.png", "/pixel.png"]
    assert not window.remote_bar.isVisible()
    assert load_allow_list(allow_list_path(tmp_path / "config")).addresses == ["news@example.org"]


def test_original_allowed_sender_loads_at_once(qtbot, tmp_path: Path, server: str) -> None:
    sample = SampleMessage("Newsletter", "News <news@example.org>", "Plain part.", html=f"<img src='{server}/known.png'>")

    window = _window(qtbot, tmp_path, sample, allow="news@example.org")
    qtbot.waitUntil(lambda: PixelHandler.requests == ["/known.png"], timeout=5000)

    assert not window.remote_bar.isVisible()


def test_original_load_once_keeps_list(qtbot, tmp_path: Path, server: str) -> None:
    sample = SampleMessage("Newsletter", "News <news@example.org>", "Plain part.", html=f"<img src='{server}/once.png'>")
    window = _window(qtbot, tmp_path, sample)
    assert PixelHandler.requests == []

    with qtbot.waitSignal(window.view.load_finished, timeout=LOAD_TIMEOUT_MS):
        window.remote_button.click()
    qtbot.waitUntil(lambda: PixelHandler.requests == ["/once.png"], timeout=5000)

    assert not allow_list_path(tmp_path / "config").exists()


def test_original_shows_cid_image(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Logo", "Shop <shop@example.org>", "Plain part.",
                           html="<body style='margin:0'><img src='cid:logo@example.org' width='40' height='40'></body>",
                           inline_png_cid="logo@example.org")

    window = _window(qtbot, tmp_path, sample, red_cid=True)
    qtbot.wait(300)
    grab = window.view.web_view.grab().toImage()

    assert window.view.served_parts() == ["cid:logo@example.org"]
    assert grab.pixelColor(10, 10) == QColor(255, 0, 0)
    assert grab.pixelColor(80, 80) != QColor(255, 0, 0)


def test_original_runs_no_javascript(qtbot, tmp_path: Path, server: str) -> None:
    markup = (
        f"<html><head><meta http-equiv='refresh' content='0; url={server}/refresh'></head>"
        f"<body onload=\"new Image().src='{server}/onload'\"><img src='{server}/allowed.png'>"
        f"<script>document.title = 'script ran'; new Image().src = '{server}/script';</script></body></html>"
    )
    sample = SampleMessage("Scripted", "News <news@example.org>", "Plain part.", html=markup)

    window = _window(qtbot, tmp_path, sample, allow="news@example.org")
    qtbot.waitUntil(lambda: "/allowed.png" in PixelHandler.requests, timeout=5000)
    qtbot.wait(500)

    assert PixelHandler.requests == ["/allowed.png"]
    assert window.view.page.title() != "script ran"


def test_original_link_click_asks_first(qtbot, tmp_path: Path) -> None:
    markup = ("<body style='margin:0'><a href='https://login.example.net/offer' "
              "style='display:block;width:400px;height:300px;background:#0a0'>https://bank.example.com</a></body>")
    sample = SampleMessage("Offer", "Shop <shop@example.org>", "Plain part.", html=markup)
    window = _window(qtbot, tmp_path, sample)
    recorder = UrlRecorder()
    QDesktopServices.setUrlHandler("https", recorder, "handle")
    try:
        target = window.view.web_view.focusProxy()
        QTest.mouseMove(target, QPoint(100, 100))
        qtbot.waitUntil(lambda: window.status_label.text() != "", timeout=5000)
        assert window.status_label.text() == (
            "Warning: the link shows https://bank.example.com but goes to https://login.example.net/offer")

        QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(100, 100))
        qtbot.waitUntil(lambda: window.link_dialog is not None and window.link_dialog.isVisible(), timeout=5000)

        assert window.link_dialog.icon() == QMessageBox.Icon.Warning
        assert recorder.urls == []
        window.link_dialog.button(QMessageBox.StandardButton.Open).click()
        assert [url.toString() for url in recorder.urls] == ["https://login.example.net/offer"]
    finally:
        QDesktopServices.unsetUrlHandler("https")


def test_original_marks_deceptive_link(qtbot, tmp_path: Path) -> None:
    markup = "<p>Pay at <a href='https://login.example.net/'>bank.example.com</a></p>"
    sample = SampleMessage("Pay", "Bank <bank@example.com>", "Plain part.", html=markup)
    window = _window(qtbot, tmp_path, sample)

    with qtbot.waitCallback(timeout=5000) as callback:
        window.view.page.toPlainText(callback)

    assert "bank.example.com\xa0[⚠\xa0link goes to login.example.net]" in callback.args[0]


# --- from the main window: a process of its own --------------------------------------------------


def test_reader_opens_original_in_own_process(qtbot, tmp_path: Path) -> None:
    sample = SampleMessage("Both", "A <a@example.org>", "Plain part.", html="<p>Html part.</p>")
    profile = build_profile(tmp_path / "profile", [sample])
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.show()
    window.message_view.selectRow(0)
    qtbot.waitUntil(lambda: window.reader.message_id() is not None, timeout=3000)

    with qtbot.waitSignal(window.reader.original_loaded, timeout=LOAD_TIMEOUT_MS):
        with qtbot.waitSignal(window.reader.original_opened, timeout=2000) as opened:
            window.run_command("show-original")
    process = opened.args[0]

    assert process.state() == QProcess.ProcessState.Running
    assert window.status_panel.message() == "Opening the original HTML in its own window…"
    message_file = Path(process.arguments()[2])
    assert not message_file.exists()
    assert not message_file.parent.exists()

    window.close()

    assert process.state() == QProcess.ProcessState.NotRunning
    assert window.reader.original_processes == []


def test_original_of_plain_message_is_refused(qtbot, tmp_path: Path) -> None:
    window = MainWindow(build_profile(tmp_path / "profile", [SampleMessage("Plain", "A <a@example.org>", "Only text.")]))
    qtbot.addWidget(window)
    window.show()
    window.message_view.selectRow(0)
    qtbot.waitUntil(lambda: window.reader.message_id() is not None, timeout=3000)

    window.run_command("show-original")

    assert window.reader.original_processes == []
    assert window.status_panel.message() == "This message has no HTML part; its plain text is the original."
