"""The merge composer's questions before a send: resume an earlier merge, and send unknown or failed rows again.

``ResumeDialog`` shows the options an earlier merge started with and lets the
user change only what ``sluice merge resume`` lets change. ``UnknownRowsDialog``
lists the rows whose outcome is unknown and requires an explicit confirmation
before they are sent again, because each may reach its recipient twice.
``FailedRowsDialog`` lists the failed rows, which the server rejected, and
sends them again when the user confirms with its send button.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.merge import journal as jn
from desktop.merge.rate import Rate, parse_rate
from desktop.merge.sender import SendOptions, options_from_dict

log = logging.getLogger(__name__)

RESUME = "resume"
SEND_AGAIN = "new"


def limits_text(rate: Rate) -> str:
    """Return the per-minute, per-hour and per-day limits of ``rate`` in the form ``parse_rate`` reads, or ""."""
    parts = [f"{value:g}/{unit}" for value, unit in
             ((rate.per_minute, "min"), (rate.per_hour, "h"), (rate.per_day, "day")) if value]
    return ", ".join(parts)


def resume_options(recorded: dict, *, connections: int, rate_text: str, sent_copies: bool) -> SendOptions:
    """Return the options a merge was recorded with, changed only where ``sluice merge resume`` allows it.

    ``rate_text`` replaces the per-minute, hour and day limits ("" for none) and keeps the recorded pauses and
    jitter, as ``--rate`` does. ``connections`` replaces the connections. ``sent_copies`` False turns the Sent
    copies off, as ``--no-sent-copy`` does, but True cannot turn on copies that the merge started without.
    Raises ValueError (RateError for the rate) naming an invalid value.
    """
    options = options_from_dict(recorded)
    recorded_pauses = Rate(pause_every=options.rate.pause_every, pause_seconds=options.rate.pause_seconds,
                           jitter=options.rate.jitter)
    options.rate = parse_rate(rate_text, recorded_pauses) if rate_text.strip() else recorded_pauses
    options.connections = connections
    options.sent_copies = options.sent_copies and sent_copies
    options.validate()
    return options


class ResumeDialog(QDialog):
    """The question before a second send of the same files: continue the earlier merge, send everything again, or stop.

    Resuming uses the options the merge was recorded with. The connections and the rate limit can be changed,
    and the Sent copies turned off; the pauses and jitter stay as recorded.

    Attributes:
        choice: ``RESUME``, ``SEND_AGAIN`` or "" (cancelled), set when the dialog closes.
        options: The options to resume with, set when ``choice`` is ``RESUME``.
    """

    def __init__(self, record: jn.MergeRecord, counts: dict[str, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("merge-resume-dialog")
        self.setWindowTitle(self.tr("Sent before"))
        self.record = record
        self.choice = ""
        self.options: SendOptions | None = None
        self._recorded = options_from_dict(record.options)
        self._init_widgets(counts)
        self._init_layout()
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.again_button.clicked.connect(self._on_again_clicked)
        self.buttons.rejected.connect(self.reject)

    def _init_widgets(self, counts: dict[str, int]) -> None:
        record = self.record
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
        self.question_label = QLabel(self.tr(
            "This template and data were sent before as merge {0}, started {1} ({2}: {3} of {4} sent, {5} failed, "
            "{6} unknown). Continue that merge with the rows not sent yet, or send every message again as a new "
            "merge?").format(record.id, started, record.state, counts.get(jn.SENT, 0), record.total,
                             counts.get(jn.FAILED, 0), counts.get(jn.UNKNOWN, 0)))
        self.question_label.setWordWrap(True)

        recorded = self._recorded
        self.account_label = QLabel(record.account)
        self.connections_box = QSpinBox()
        self.connections_box.setRange(1, 64)
        self.connections_box.setValue(recorded.connections)
        self.rate_edit = QLineEdit(limits_text(recorded.rate))
        self.rate_edit.setPlaceholderText(self.tr("no limit; e.g. 30/min, 500/h or gmail"))
        self.pauses_label = QLabel(self._pauses_text(recorded.rate))
        self.copies_box = QCheckBox(self.tr("Keep a copy of each message in the Sent folder"))
        self.copies_box.setChecked(recorded.sent_copies)
        if not recorded.sent_copies:
            self.copies_box.setEnabled(False)
            self.copies_box.setToolTip(self.tr("The merge started without Sent copies, so a resume keeps none."))
        self.error_label = QLabel()
        self.error_label.setObjectName("merge-resume-error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")

        self.buttons = QDialogButtonBox()
        self.resume_button = QPushButton(self.tr("Resume merge {0}").format(record.id))
        self.again_button = QPushButton(self.tr("Send again as new"))
        self.buttons.addButton(self.resume_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.again_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.resume_button.setDefault(True)

    def _pauses_text(self, rate: Rate) -> str:
        parts = []
        if rate.pause_every:
            parts.append(self.tr("a pause of {0:g} s every {1} messages").format(rate.pause_seconds, rate.pause_every))
        if rate.jitter:
            parts.append(self.tr("jitter {0:.0%}").format(rate.jitter))
        return ", ".join(parts) if parts else self.tr("none")

    def _init_layout(self) -> None:
        options_box = QGroupBox(self.tr("Resume with the options of merge {0}").format(self.record.id))
        form = QFormLayout(options_box)
        form.addRow(self.tr("Account"), self.account_label)
        form.addRow(self.tr("Connections"), self.connections_box)
        form.addRow(self.tr("Rate limit"), self.rate_edit)
        form.addRow(self.tr("Pauses and jitter"), self.pauses_label)
        form.addRow("", self.copies_box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.question_label)
        layout.addWidget(options_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def resume_options(self) -> SendOptions:
        """Return the options to resume with; raise ValueError naming an invalid value."""
        return resume_options(self.record.options, connections=self.connections_box.value(),
                              rate_text=self.rate_edit.text(), sent_copies=self.copies_box.isChecked())

    @Slot()
    def _on_resume_clicked(self) -> None:
        try:
            self.options = self.resume_options()
        except ValueError as error:
            self.error_label.setText(str(error))
            return
        self.choice = RESUME
        self.accept()

    @Slot()
    def _on_again_clicked(self) -> None:
        self.choice = SEND_AGAIN
        self.accept()


def _recipient_table(count: int, headers: list[str]) -> QTableWidget:
    """Return a read-only table for ``count`` journal rows with ``headers``, its last column stretched."""
    table = QTableWidget(count, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _checked_rows(table: QTableWidget, count: int) -> list[int]:
    """Return the data rows of the first ``count`` table rows whose check box is checked, in table order."""
    rows = []
    for position in range(count):
        item = table.item(position, 0)
        if item.checkState() == Qt.CheckState.Checked:
            rows.append(int(item.data(Qt.ItemDataRole.UserRole)))
    return rows


class UnknownRowsDialog(QDialog):
    """A merge's rows of unknown outcome, with a confirmation required before they are sent again.

    Every row starts checked. The send button stays disabled until the user ticks the box that names the risk
    of a second copy and at least one row is checked.
    """

    def __init__(self, record: jn.MergeRecord, rows: Sequence[jn.RecipientRecord],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("merge-unknown-dialog")
        self.setWindowTitle(self.tr("Rows of unknown outcome"))
        self.record = record
        self._rows = list(rows)
        self._init_widgets()
        self._init_layout()
        self.table.itemChanged.connect(self._on_table_item_changed)
        self.confirm_box.toggled.connect(self._on_confirm_box_toggled)
        self.send_button.clicked.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._update_send_button()
        self.resize(1000, 460)

    def _init_widgets(self) -> None:
        self.explanation_label = QLabel(self.tr(
            "Merge {0} has %n row(s) of unknown outcome: the connection broke after the message was sent and "
            "before the server replied, or the send stopped at that moment. Each message may or may not have "
            "arrived. Send them again only when you know they did not arrive (ask the recipients, or look at the "
            "server's log).", "", len(self._rows)).format(self.record.id))
        self.explanation_label.setWordWrap(True)

        self.table = _recipient_table(len(self._rows), [self.tr("Row"), self.tr("Address"), self.tr("Message-ID"),
                                                        self.tr("Server reply")])
        for position, row in enumerate(self._rows):
            number = QTableWidgetItem(str(row.row))
            number.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            number.setCheckState(Qt.CheckState.Checked)
            number.setData(Qt.ItemDataRole.UserRole, row.row)
            self.table.setItem(position, 0, number)
            for column, text in enumerate((row.address, row.message_id, row.reply), start=1):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(position, column, item)

        self.confirm_box = QCheckBox(self.tr(
            "I understand that each checked recipient who already got the message gets a second copy."))
        self.buttons = QDialogButtonBox()
        self.send_button = QPushButton()
        self.buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)

    def _init_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.confirm_box)
        layout.addWidget(self.buttons)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        """Fit the row heights to the long server replies once the columns have their widths."""
        super().showEvent(event)
        QTimer.singleShot(0, self.table.resizeRowsToContents)

    def checked_rows(self) -> list[int]:
        """Return the data rows checked for sending again, in table order."""
        return _checked_rows(self.table, self.table.rowCount())

    def _update_send_button(self) -> None:
        count = len(self.checked_rows())
        self.send_button.setText(self.tr("Send %n row(s) again", "", count))
        self.send_button.setEnabled(count > 0 and self.confirm_box.isChecked())

    @Slot(QTableWidgetItem)
    def _on_table_item_changed(self, _item: QTableWidgetItem) -> None:
        self._update_send_button()

    @Slot(bool)
    def _on_confirm_box_toggled(self, _checked: bool) -> None:
        self._update_send_button()


class FailedRowsDialog(QDialog):
    """A merge's failed rows, to send again after the user confirms with the send button.

    ``retry`` are the rows that may be sent again, each checked at the start. ``bounced`` are the hard bounces
    whose address is on the suppression list: they are listed without a check box, because they stay failed
    until the address is taken off the list.
    """

    def __init__(self, record: jn.MergeRecord, retry: Sequence[jn.RecipientRecord],
                 bounced: Sequence[jn.RecipientRecord], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("merge-failed-dialog")
        self.setWindowTitle(self.tr("Failed rows"))
        self.record = record
        self._retry = list(retry)
        self._bounced = list(bounced)
        self._init_widgets()
        self._init_layout()
        self.table.itemChanged.connect(self._on_table_item_changed)
        self.send_button.clicked.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._update_send_button()
        self.resize(900, 420)

    def _init_widgets(self) -> None:
        self.explanation_label = QLabel(self.tr(
            "Merge {0} has %n failed row(s) that can be sent again. The server rejected each of these messages, "
            "so sending them again reaches nobody twice. Fix the cause first (a full mailbox, a server that was "
            "down), then send them again with the options the merge started with.", "",
            len(self._retry)).format(self.record.id))
        self.explanation_label.setWordWrap(True)
        self.bounced_label = QLabel()
        self.bounced_label.setObjectName("merge-failed-bounced")
        self.bounced_label.setWordWrap(True)
        self.bounced_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if self._bounced:
            self.bounced_label.setText(self.tr(
                "%n row(s) stay failed, because the server replied that the address does not exist and the address "
                "is on the suppression list. To send to such an address anyway, take it off the list with "
                "\"sluice merge suppress remove ADDRESS\" and open this list again.", "", len(self._bounced)))
        self.bounced_label.setVisible(bool(self._bounced))

        self.table = _recipient_table(len(self._retry) + len(self._bounced),
                                      [self.tr("Row"), self.tr("Address"), self.tr("Server reply")])
        for position, row in enumerate(self._retry):
            self._fill_row(position, row, str(row.row))
        for position, row in enumerate(self._bounced, start=len(self._retry)):
            self._fill_row(position, row, self.tr("{0} (suppressed, stays failed)").format(row.row))

        self.buttons = QDialogButtonBox()
        self.send_button = QPushButton()
        self.buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)

    def _fill_row(self, position: int, row: jn.RecipientRecord, number_text: str) -> None:
        """Show ``row`` at ``position``. A row to retry gets a check box, and a suppressed hard bounce gets none."""
        number = QTableWidgetItem(number_text)
        number.setData(Qt.ItemDataRole.UserRole, row.row)
        if position < len(self._retry):
            number.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            number.setCheckState(Qt.CheckState.Checked)
        else:
            number.setFlags(Qt.ItemFlag.NoItemFlags)
        self.table.setItem(position, 0, number)
        for column, text in enumerate((row.address, row.reply), start=1):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.table.setItem(position, column, item)

    def _init_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.bounced_label)
        layout.addWidget(self.buttons)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        """Fit the row heights to the long server replies once the columns have their widths."""
        super().showEvent(event)
        QTimer.singleShot(0, self.table.resizeRowsToContents)

    def checked_rows(self) -> list[int]:
        """Return the data rows checked for sending again, in table order."""
        return _checked_rows(self.table, len(self._retry))

    def _update_send_button(self) -> None:
        count = len(self.checked_rows())
        self.send_button.setText(self.tr("Send %n row(s) again", "", count))
        self.send_button.setEnabled(count > 0)

    @Slot(QTableWidgetItem)
    def _on_table_item_changed(self, _item: QTableWidgetItem) -> None:
        self._update_send_button()
