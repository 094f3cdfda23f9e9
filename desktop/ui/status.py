"""The status bar widgets and the in-window log."""

from __future__ import annotations

import html
import logging
import re
import time
from datetime import datetime

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QWidget

log = logging.getLogger(__name__)

MAX_LOG_LINES = 2000
# The end of a watch step's text while it waits to reconnect, as AccountWatcher._wait_to_retry in
# desktop/sync/watch.py writes it.
_RETRY_WAIT = re.compile(r"Retrying in (\d+) s\.$")


class StatusPanel(QWidget):
    """A message on the left, and sync progress with a Cancel button on the right.

    Attributes:
        retry_timer: Timer that counts down a shown reconnect wait once a second, until the retry.

    Signals:
        cancel_requested(): the user pressed Cancel during a job.
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_label = QLabel(objectName="statusMessage")
        self.message_label.setMinimumWidth(200)
        self.progress_bar = QProgressBar(objectName="syncProgress")
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton(self.tr("Cancel"), objectName="cancelSync")
        # Whether the message is about checking for new mail, which the watch's next outcome replaces.
        self._showing_check = False
        self.retry_timer = QTimer(self)
        self.retry_timer.setInterval(1000)
        # The text before "Retrying in", and the time.monotonic() of the retry that the countdown ends at.
        self._retry_reason = ""
        self._retry_deadline = 0.0
        self._init_layout()
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.retry_timer.timeout.connect(self._on_retry_timer_timeout)
        self.hide_progress()

    def _init_layout(self) -> None:
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.message_label, 1)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.cancel_button)

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Show the first line of ``text``; the tooltip has all of it, in a fixed-width font so a caret lines up."""
        self._showing_check = False
        self.retry_timer.stop()
        self._display(text, error=error)

    def _display(self, text: str, *, error: bool) -> None:
        lines = text.splitlines()
        self.message_label.setText(lines[0] if lines else "")
        self.message_label.setToolTip(f"<pre>{html.escape(text)}</pre>" if len(lines) > 1 else text)
        self.message_label.setProperty("error", error)
        # A changed dynamic property needs a re-polish before the style sheet applies to it.
        self.message_label.style().unpolish(self.message_label)
        self.message_label.style().polish(self.message_label)

    def message(self) -> str:
        return self.message_label.text()

    def show_check_started(self, text: str) -> None:
        """Show that the window checks for new mail; ``show_check_outcome`` replaces the message later."""
        self.show_message(text)
        self._showing_check = True

    def show_check_outcome(self, phase: str, text: str, watching_text: str) -> None:
        """Replace the checking message with the outcome of a watch step, unless another message replaced it.

        A ``retry`` or ``error`` step shows ``text`` (why the server could not be
        reached) as an error, which the next outcome replaces again. A ``retry``
        text that ends with "Retrying in N s." counts N down once a second.
        ``watching`` means the check succeeded, and shows ``watching_text``.
        """
        if not self._showing_check:
            return
        if phase in ("retry", "error"):
            self.show_message(text, error=True)
            self._showing_check = True
            if phase == "retry":
                self._start_countdown(text)
        elif phase == "watching":
            self.show_message(watching_text)

    def stop_countdown(self) -> None:
        """Stop counting down a reconnect wait, as when the window closes; the message stays."""
        self.retry_timer.stop()

    def _start_countdown(self, text: str) -> None:
        match = _RETRY_WAIT.search(text)
        if match is None:
            return
        self._retry_reason = text[:match.start()]
        self._retry_deadline = time.monotonic() + int(match.group(1))
        self.retry_timer.start()

    @Slot()
    def _on_retry_timer_timeout(self) -> None:
        # The deadline, not a count of ticks, gives the seconds, so a late tick does not make the countdown drift.
        seconds = max(0, round(self._retry_deadline - time.monotonic()))
        if seconds == 0:
            self.retry_timer.stop()
            self._display(self._retry_reason + self.tr("Retrying now."), error=True)
            return
        self._display(self._retry_reason + self.tr("Retrying in %1 s.").replace("%1", str(seconds)), error=True)

    def show_progress(self, done: int, total: int) -> None:
        """Show determinate progress when ``total`` is known, else a busy bar."""
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
        else:
            self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.cancel_button.show()

    def hide_progress(self) -> None:
        self.progress_bar.hide()
        self.cancel_button.hide()
        self.cancel_button.setEnabled(True)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_requested.emit()


class LogView(QPlainTextEdit):
    """A read-only list of what happened: sync steps, errors, cancels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logView")
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LOG_LINES)

    def add_line(self, text: str) -> None:
        self.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")
