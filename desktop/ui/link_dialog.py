"""The question asked before a link in a message opens in the web browser, shared by the reader and the original-HTML window."""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QCoreApplication, Qt, QUrl
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.mail.links import Link, display_target

_CONTEXT = "LinkDialog"


def ask_to_open_link(parent: QWidget, previous: QMessageBox | None, url: QUrl, link: Link | None,
                     on_finished: Callable[[QUrl, int], None]) -> QMessageBox:
    """Close ``previous``, open a window-modal question whether to open ``url``, and return the new dialog.

    The question turns into a warning when ``link`` is deceptive, that is when its text shows another
    address. ``on_finished`` receives ``url`` and the dialog's result. Cancel is the default button.
    """
    if previous is not None:
        previous.close()
        previous.deleteLater()
    target = html.escape(display_target(url.toString()))
    text = QCoreApplication.translate(_CONTEXT, "Open this link in your web browser?") + f"<p><b>{target}</b></p>"
    icon = QMessageBox.Icon.Question
    if link is not None and link.deceptive:
        icon = QMessageBox.Icon.Warning
        warning = QCoreApplication.translate(_CONTEXT, "The link shows %1, but it goes to another address.")
        text += "<p>" + html.escape(warning.replace("%1", link.text)) + "</p>"
    dialog = QMessageBox(icon, QCoreApplication.translate(_CONTEXT, "Open link"), text,
                         QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, parent)
    dialog.setObjectName("openLinkDialog")
    dialog.setTextFormat(Qt.TextFormat.RichText)
    dialog.setDefaultButton(QMessageBox.StandardButton.Cancel)
    dialog.finished.connect(partial(on_finished, QUrl(url)))
    dialog.open()
    return dialog
