"""Small icons drawn from inline SVG, so the window needs no emoji font."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap

from desktop.paths import resource_path

_STAR = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">
<path d="M8 1.5l1.9 4.1 4.5.5-3.4 3 1 4.4L8 11.2l-4 2.3 1-4.4-3.4-3 4.5-.5z"
 fill="#e0a526" stroke="#b7831a" stroke-width="0.8" stroke-linejoin="round"/></svg>"""

_PAPERCLIP = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">
<path d="M10.5 4.5v6.2a2.5 2.5 0 0 1-5 0V3.8a1.7 1.7 0 0 1 3.4 0v6.6a.9.9 0 0 1-1.8 0V5"
 fill="none" stroke="#5b6470" stroke-width="1.2" stroke-linecap="round"/></svg>"""

MARKER_SIZE = 16


def _pixmap_from_svg(svg: bytes, size: int) -> QPixmap:
    pixmap = QPixmap()
    pixmap.loadFromData(QByteArray(svg), "SVG")
    return pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


@cache
def marker_pixmap(flagged: bool, attachment: bool) -> QPixmap:
    """Return the marker cell image: a star when flagged, a paper clip for attachments."""
    pixmap = QPixmap(QSize(MARKER_SIZE * 2 + 2, MARKER_SIZE))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    if flagged:
        painter.drawPixmap(0, 0, _pixmap_from_svg(_STAR, MARKER_SIZE))
    if attachment:
        painter.drawPixmap(MARKER_SIZE + 2, 0, _pixmap_from_svg(_PAPERCLIP, MARKER_SIZE))
    painter.end()
    return pixmap


@cache
def attachment_icon() -> QIcon:
    """Return the paper clip icon that marks an attachment."""
    return QIcon(_pixmap_from_svg(_PAPERCLIP, MARKER_SIZE))


def app_icon() -> QIcon:
    """Return Sluice's application icon."""
    return QIcon(str(resource_path("icons", "sluice.svg")))
