"""The outbox view: messages waiting to go out, and those that failed with their errors.

Each row shows the state, when the message goes out (or is tried again),
the account, the recipients, the subject and the last error. Retry sends a
failed or unknown message again now; Cancel takes a message out so it is
never sent; Edit takes it out and opens its draft in a composer. The list
follows the outbox while the view is open.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.compose.outbox import FAILED, QUEUED, UNKNOWN, OutboxEntry, OutboxError
from desktop.ui.compose_service import ComposeService

log = logging.getLogger(__name__)

REFRESH_MS = 2000
COLUMNS = ("State", "Send at", "Account", "To", "Subject", "Error")


class OutboxView(QDialog):
    """The list of outbox entries with Retry, Cancel and Edit.

    Signals:
        edit_requested(object): Edit was pressed on an entry; the ``OutboxEntry``.
    """

    edit_requested = Signal(object)

    def __init__(self, service: ComposeService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("outboxView")
        self.setWindowTitle(self.tr("Outbox"))
        self.service = service
        self.tree = QTreeWidget(objectName="outboxList")
        self.tree.setHeaderLabels([self.tr(title) for title in COLUMNS])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.empty_label = QLabel(self.tr("The outbox is empty: every message has gone out."))
        self.retry_button = QPushButton(self.tr("Retry now"), objectName="outboxRetry")
        self.cancel_button = QPushButton(self.tr("Cancel sending"), objectName="outboxCancel")
        self.edit_button = QPushButton(self.tr("Edit"), objectName="outboxEdit")
        self.message_label = QLabel(objectName="outboxMessage")
        self.message_label.setWordWrap(True)

        buttons = QHBoxLayout()
        for button in (self.retry_button, self.cancel_button, self.edit_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.message_label)
        layout.addLayout(buttons)
        self.resize(900, 320)

        self._timer = QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.retry_button.clicked.connect(self._on_retry_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.tree.currentItemChanged.connect(self._update_buttons)
        service.outbox_changed.connect(self.refresh)

    def entries_shown(self) -> list[OutboxEntry]:
        return [self.tree.topLevelItem(row).data(0, Qt.ItemDataRole.UserRole)
                for row in range(self.tree.topLevelItemCount())]

    @Slot()
    def refresh(self) -> None:
        """Read the outbox again, keeping the current entry."""
        current = self.current_entry()
        entries = self.service.entries()
        self.tree.clear()
        for entry in entries:
            when = entry.retry_at if entry.state == FAILED and entry.retry_at else entry.send_at
            row = QTreeWidgetItem([
                self._state_text(entry), time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)), entry.account,
                ", ".join(entry.recipients), entry.subject or self.tr("(no subject)"), entry.error,
            ])
            row.setData(0, Qt.ItemDataRole.UserRole, entry)
            row.setToolTip(5, entry.error)
            self.tree.addTopLevelItem(row)
            if current is not None and entry.id == current.id:
                self.tree.setCurrentItem(row)
        if self.tree.currentItem() is None and self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        for column in range(len(COLUMNS) - 1):
            self.tree.resizeColumnToContents(column)
        self.empty_label.setVisible(not entries)
        self._update_buttons()

    def _state_text(self, entry: OutboxEntry) -> str:
        texts = {QUEUED: self.tr("waiting"), "sending": self.tr("sending"), FAILED: self.tr("failed"),
                 UNKNOWN: self.tr("unknown")}
        return texts.get(entry.state, entry.state)

    def current_entry(self) -> OutboxEntry | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    @Slot()
    def _update_buttons(self, *_args: object) -> None:
        entry = self.current_entry()
        state = entry.state if entry is not None else ""
        self.retry_button.setEnabled(state in (FAILED, UNKNOWN))
        self.cancel_button.setEnabled(state in (QUEUED, FAILED, UNKNOWN))
        self.edit_button.setEnabled(state in (QUEUED, FAILED) and entry is not None and entry.draft_id is not None)

    @Slot()
    def _on_retry_button_clicked(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        try:
            self.service.retry(entry.id)
        except OutboxError as error:
            self.message_label.setText(str(error))
            return
        self.message_label.setText(self.tr("Entry %1 goes out again now.").replace("%1", str(entry.id)))

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        if self.service.cancel(entry.id):
            self.message_label.setText(self.tr("Entry %1 was taken out; it will not be sent.").replace("%1", str(entry.id)))
        else:
            self.message_label.setText(self.tr("Entry %1 is being sent or was sent; it cannot be taken back.")
                                       .replace("%1", str(entry.id)))

    @Slot()
    def _on_edit_button_clicked(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.edit_requested.emit(entry)

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt's method name
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt's method name
        self._timer.stop()
        super().hideEvent(event)
