"""Sending from the window: the send-later time picker and the "Sending in 10 s — Undo" bar.

``SendLaterDialog`` offers presets (in an hour, this evening, tomorrow
morning, Monday morning) and a date and time field; times in the past are
refused with a message.

``SendUndoBar`` sits in the main window's status bar while a sent message
waits out its undo delay. It counts down, and its Undo button (or the undo
keys of the window) takes the message back out of the outbox.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from PySide6.QtCore import QDateTime, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)


def preset_times(now: datetime) -> list[tuple[str, datetime]]:
    """Return the send-later presets after ``now``: in an hour, this evening, tomorrow, next Monday (08:00)."""
    morning = now.replace(hour=8, minute=0, second=0, microsecond=0)
    evening = now.replace(hour=18, minute=0, second=0, microsecond=0)
    presets = [("In 1 hour", now.replace(second=0, microsecond=0) + timedelta(hours=1))]
    if evening > now + timedelta(minutes=30):
        presets.append(("This evening", evening))
    presets.append(("Tomorrow morning", morning + timedelta(days=1)))
    days_to_monday = (7 - now.weekday()) % 7 or 7
    presets.append(("Monday morning", morning + timedelta(days=days_to_monday)))
    return presets


class SendLaterDialog(QDialog):
    """Pick when a message goes out."""

    def __init__(self, parent: QWidget | None = None, *, now: datetime | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Send later"))
        self.setObjectName("sendLaterDialog")
        start = now or datetime.now()
        self.time_field = QDateTimeEdit(objectName="sendLaterTime")
        self.time_field.setCalendarPopup(True)
        self.time_field.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.time_field.setDateTime(QDateTime(start + timedelta(hours=1)))
        self.error_label = QLabel(objectName="sendLaterError")
        self.error_label.setStyleSheet("color: #b00020;")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr("Send the message at:")))
        presets = QHBoxLayout()
        for title, moment in preset_times(start):
            button = QPushButton(self.tr(title))
            button.setToolTip(moment.strftime("%a %Y-%m-%d %H:%M"))
            button.clicked.connect(lambda _checked=False, when=moment: self._choose(when))
            presets.addWidget(button)
        layout.addLayout(presets)
        layout.addWidget(self.time_field)
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen_time(self) -> float:
        """Return the chosen time in seconds since the epoch."""
        return self.time_field.dateTime().toSecsSinceEpoch()

    def _choose(self, moment: datetime) -> None:
        self.time_field.setDateTime(QDateTime(moment))
        self.accept()

    def accept(self) -> None:
        if self.chosen_time() <= time.time():
            self.error_label.setText(self.tr("%1 has passed; pick a later time, or use Send to send now.")
                                     .replace("%1", self.time_field.text()))
            return
        super().accept()


@dataclass
class PendingSend:
    """A message waiting out its undo delay."""

    entry_id: int
    draft_id: int | None
    send_at: float
    subject: str
    remind_days: float | None = None


class SendUndoBar(QWidget):
    """The status bar's "Sending in 10 s — Undo" for the latest message sent.

    Signals:
        undo_requested(object): the Undo button was pressed; the ``PendingSend``.
    """

    undo_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sendUndoBar")
        self.label = QLabel(objectName="sendUndoLabel")
        self.undo_button = QPushButton(self.tr("Undo"), objectName="sendUndoButton")
        self.undo_button.setFlat(True)
        self.undo_button.clicked.connect(self._on_undo_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.undo_button)
        self.pending: PendingSend | None = None
        self._timer = QTimer(self, interval=250)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.hide()

    def offer(self, pending: PendingSend) -> None:
        """Show the countdown for ``pending`` until its send time."""
        self.pending = pending
        self._on_timer_timeout()
        self._timer.start()
        self.show()

    def clear(self) -> None:
        self.pending = None
        self._timer.stop()
        self.hide()

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self.pending is None:
            self.clear()
            return
        left = self.pending.send_at - time.time()
        if left <= 0:
            self.clear()
            return
        self.label.setText(self.tr("Sending in %1 s —").replace("%1", str(int(left + 0.999))))

    @Slot()
    def _on_undo_button_clicked(self) -> None:
        if self.pending is not None:
            self.undo_requested.emit(self.pending)
