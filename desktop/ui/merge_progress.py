"""The merge composer's send page: test send, send options, progress with pause, resume and cancel, the report."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from PySide6.QtCore import QLocale, QSize, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.merge.rate import Rate, parse_rate
from desktop.merge.report import duration_text
from desktop.merge.sender import Progress, SendOptions
from desktop.ui.merge_models import ReportModel
from desktop.ui.merge_send import SendResult

log = logging.getLogger(__name__)

# Lines of the send summary shown above the recipient table before the user drags the splitter handle.
SUMMARY_LINES = 5


class _SummaryArea(QScrollArea):
    """A scroll area with a preferred height of SUMMARY_LINES lines, however long its text, and a minimum of two."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setMinimumHeight(2 * self.fontMetrics().lineSpacing())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        height = SUMMARY_LINES * self.fontMetrics().lineSpacing() + 2 * self.frameWidth()
        return QSize(super().sizeHint().width(), height)


class MergeSendPanel(QWidget):
    """Send controls and progress; the window connects the requests to a ``MergeSendRunner``.

    Signals:
        test_requested(): the user asked for a test send.
        send_requested(): the user asked to send the merge.
        pause_requested(), resume_requested(), cancel_requested(): controls of the running send; cancel also
            stops the check for earlier sends that runs before a send.
        unknown_requested(): the user asked to see the rows of unknown outcome and maybe send them again.
        failed_requested(): the user asked to see the failed rows and maybe send them again.
    """

    test_requested = Signal()
    send_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    cancel_requested = Signal()
    unknown_requested = Signal()
    failed_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report_file: Path | None = None
        self.report_model = ReportModel(self)
        self._init_widgets()
        self._init_layout()
        self._connect_signals()
        self.set_running(False)

    def _init_widgets(self) -> None:
        self.test_address = QLineEdit()
        self.test_address.setPlaceholderText(self.tr("your own address"))
        self.test_count = QSpinBox()
        self.test_count.setRange(1, 50)
        self.test_count.setValue(3)
        self.test_button = QPushButton(self.tr("Send test"))

        self.connections_box = QSpinBox()
        self.connections_box.setRange(1, 64)
        self.connections_box.setValue(4)
        # Two digits need no more than the size hint; the form would otherwise stretch the box across the page.
        self.connections_box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.rate_edit = QLineEdit()
        self.rate_edit.setPlaceholderText(self.tr("no limit; e.g. 30/min, 500/h or gmail"))
        self.copies_box = QCheckBox(self.tr("Keep a copy of each message in the Sent folder"))
        self.copies_box.setChecked(True)
        self.copies_note = QLabel()
        self.copies_note.setObjectName("merge-copies-note")
        self.copies_note.setWordWrap(True)
        self.copies_note.setStyleSheet("color: #8a5300;")
        self.copies_note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.copies_note.hide()

        self.send_button = QPushButton(self.tr("Send merge"))
        self.pause_button = QPushButton(self.tr("Pause"))
        self.resume_button = QPushButton(self.tr("Resume"))
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.unknown_button = QPushButton(self.tr("Rows of unknown outcome…"))
        self.unknown_button.setObjectName("merge-unknown-button")
        self.unknown_button.setToolTip(self.tr("List the rows whose message may or may not have arrived, "
                                               "and send them again"))
        self.unknown_button.setEnabled(False)
        self.failed_button = QPushButton(self.tr("Failed rows…"))
        self.failed_button.setObjectName("merge-failed-button")
        self.failed_button.setToolTip(self.tr("List the rows that the server rejected, and send them again"))
        self.failed_button.setEnabled(False)

        self.progress_bar = QProgressBar()
        self.counts_label = QLabel()
        self.counts_label.setObjectName("merge-counts")
        self.rate_label = QLabel()
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The summary of a large send has dozens of lines, so it scrolls instead of pushing the table off the page.
        self.summary_area = _SummaryArea()
        self.summary_area.setWidget(self.summary_label)

        self.report_view = QTableView()
        self.report_view.setModel(self.report_model)
        self.report_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.report_view.horizontalHeader().setStretchLastSection(True)
        self.report_view.verticalHeader().hide()
        self.save_button = QPushButton(self.tr("Save CSV…"))
        self.save_button.setEnabled(False)

    def _init_layout(self) -> None:
        test_box = QGroupBox(self.tr("Test send"))
        test_row = QHBoxLayout(test_box)
        test_row.addWidget(QLabel(self.tr("First")))
        test_row.addWidget(self.test_count)
        test_row.addWidget(QLabel(self.tr("messages to")))
        test_row.addWidget(self.test_address, 1)
        test_row.addWidget(self.test_button)
        options_box = QGroupBox(self.tr("Sending"))
        form = QFormLayout(options_box)
        form.addRow(self.tr("Connections"), self.connections_box)
        form.addRow(self.tr("Rate limit"), self.rate_edit)
        copies = QVBoxLayout()
        copies.setSpacing(2)
        copies.addWidget(self.copies_box)
        copies.addWidget(self.copies_note)
        form.addRow("", copies)
        controls = QHBoxLayout()
        for button in (self.send_button, self.pause_button, self.resume_button, self.cancel_button):
            controls.addWidget(button)
        controls.addStretch(1)
        controls.addWidget(self.unknown_button)
        controls.addWidget(self.failed_button)
        summary_pane = QWidget()
        report_row = QHBoxLayout(summary_pane)
        report_row.setContentsMargins(0, 0, 0, 0)
        report_row.addWidget(self.summary_area, 1)
        report_row.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        self.report_splitter = QSplitter(Qt.Orientation.Vertical)
        self.report_splitter.setChildrenCollapsible(False)
        self.report_splitter.addWidget(summary_pane)
        self.report_splitter.addWidget(self.report_view)
        # The summary starts at SUMMARY_LINES lines and the table gets the rest. Dragging the handle changes the split.
        self.report_splitter.setStretchFactor(0, 0)
        self.report_splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(test_box)
        layout.addWidget(options_box)
        layout.addLayout(controls)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.rate_label)
        layout.addWidget(self.state_label)
        layout.addWidget(self.report_splitter, 1)

    def _connect_signals(self) -> None:
        self.test_button.clicked.connect(self.test_requested)
        self.send_button.clicked.connect(self.send_requested)
        self.pause_button.clicked.connect(self.pause_requested)
        self.resume_button.clicked.connect(self.resume_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.unknown_button.clicked.connect(self.unknown_requested)
        self.failed_button.clicked.connect(self.failed_requested)
        self.save_button.clicked.connect(self._on_save_button_clicked)

    def options(self, *, test: bool) -> SendOptions:
        """Return the send options set on the page; raise ValueError (RateError) naming an invalid value."""
        text = self.rate_edit.text().strip()
        rate = parse_rate(text) if text else Rate()
        options = SendOptions(connections=self.connections_box.value(), rate=rate,
                              sent_copies=self.copies_box.isChecked())
        if test:
            options.test_to = self.test_address.text().strip()
            options.test_count = self.test_count.value()
            options.sent_copies = False
            if not options.test_to:
                raise ValueError(self.tr("Enter the address that receives the test messages."))
        options.validate()
        return options

    def set_running(self, running: bool, *, paused: bool = False) -> None:
        self.send_button.setEnabled(not running)
        self.test_button.setEnabled(not running)
        self.pause_button.setEnabled(running and not paused)
        self.resume_button.setEnabled(running and paused)
        self.cancel_button.setEnabled(running)
        if running:
            self.unknown_button.setEnabled(False)
            self.failed_button.setEnabled(False)

    def set_checking(self, checking: bool) -> None:
        """Show that the window checks for earlier sends of the template: a busy bar, and only Cancel enabled."""
        self.set_running(checking)
        self.pause_button.setEnabled(False)
        if checking:
            # The counts and rate of an earlier send would read as those of the send being prepared.
            self.counts_label.clear()
            self.rate_label.clear()
            self.progress_bar.setRange(0, 0)
            self.state_label.setText(self.tr("Checking which addresses got this template before…"))
        else:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.reset()
            self.state_label.clear()

    def set_copies_note(self, reason: str) -> None:
        """Show under the Sent copies box why a send keeps no copies although it is ticked; "" hides the note."""
        self.copies_note.setText(reason)
        self.copies_note.setVisible(bool(reason))

    def set_unknown_count(self, count: int) -> None:
        """Enable the unknown-outcome button when ``count`` rows of the current merge have an unknown outcome."""
        self.unknown_button.setEnabled(count > 0)
        self.unknown_button.setText(self.tr("Rows of unknown outcome ({0})…").format(count) if count
                                    else self.tr("Rows of unknown outcome…"))

    def set_failed_count(self, count: int) -> None:
        """Enable the failed-rows button when ``count`` failed rows of the current merge can be sent again."""
        self.failed_button.setEnabled(count > 0)
        self.failed_button.setText(self.tr("Failed rows ({0})…").format(count) if count
                                   else self.tr("Failed rows…"))

    def show_started(self, merge_id: str) -> None:
        self.report_model.set_records([])
        self.summary_label.clear()
        self.save_button.setEnabled(False)
        self.state_label.setText(self.tr("Merge {0} is sending.").format(merge_id))

    def show_progress(self, progress: Progress) -> None:
        done = progress.total - progress.remaining
        self.progress_bar.setRange(0, max(progress.total, 1))
        self.progress_bar.setValue(done)
        self.counts_label.setText(self.tr("{0} sent, {1} failed, {2} unknown, {3} skipped, {4} remaining of {5}").format(
            progress.sent, progress.failed, progress.unknown, progress.skipped, progress.remaining, progress.total))
        waits = progress.retry_waits
        if progress.state in ("running", "paused") and 0 < progress.remaining <= len(waits):
            # Every row left waits for a retry, so a time left from the rate would read "about 0 s".
            seconds, reply = waits[0]
            self.rate_label.setText(self.tr("Rate {0:.0f} messages/min; %Ln row(s) wait to be retried, the first in {1} "
                                            "({2})", "", len(waits)).format(progress.per_minute, duration_text(seconds),
                                                                            reply))
        elif progress.state in ("running", "paused"):
            self.rate_label.setText(self.tr("Rate {0:.0f} messages/min, about {1} left").format(
                progress.per_minute, duration_text(progress.seconds_left)))
        else:
            self.rate_label.setText(self.tr("Rate {0:.0f} messages/min").format(progress.per_minute))
        state = {"running": self.tr("Sending"), "paused": self.tr("Paused: no new messages start"),
                 "stopping": self.tr("Stopping after the messages in flight"), "finished": self.tr("Finished"),
                 "stopped": self.tr("Stopped")}.get(progress.state, progress.state)
        self.state_label.setText(f"{state} ({progress.note})" if progress.note else state)
        self.set_running(progress.state in ("running", "paused", "stopping"), paused=progress.state == "paused")

    def outcome_text(self, progress: Progress, test_to: str = "") -> str:
        """Return one line on how a send ended, from its last progress. ``test_to`` is a test send's address, or ""."""
        locale = QLocale()
        finished = progress.state == "finished"
        if finished and test_to:
            text = self.tr("Sent {0} of %Ln test message(s) to {1}", "", progress.total)
        elif finished:
            text = self.tr("Sent {0} of %Ln message(s)", "", progress.total)
        elif test_to:
            text = self.tr("Stopped after sending {0} of %Ln test message(s) to {1}", "", progress.total)
        else:
            text = self.tr("Stopped after sending {0} of %Ln message(s)", "", progress.total)
        text = text.format(locale.toString(progress.sent), test_to)
        if not finished and progress.note:
            text += f" ({progress.note})"

        counts = ((progress.failed, self.tr("{0} failed")), (progress.unknown, self.tr("{0} of unknown outcome")),
                  (progress.skipped, self.tr("{0} skipped")), (progress.remaining, self.tr("{0} not sent yet")))
        for count, label in counts:
            if count:
                text += "; " + label.format(locale.toString(count))
        return text + ". " + self.tr("See the Send page.")

    def show_result(self, result: SendResult, records) -> None:
        """Show the final report: the summary lines and one table row per recipient."""
        self.set_running(False)
        self.report_model.set_records(records)
        self.summary_label.setText("\n".join(result.summary))
        self.report_file = result.report if result.report and result.report.is_file() else None
        self.save_button.setEnabled(self.report_file is not None)

    def save_report(self, target: Path) -> None:
        """Copy the report CSV of the last send to ``target``."""
        if self.report_file is None:
            return
        shutil.copyfile(self.report_file, target)
        log.info("Saved the merge report to %s", target)

    @Slot()
    def _on_save_button_clicked(self) -> None:
        if self.report_file is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, self.tr("Save report"), str(Path.home() / self.report_file.name),
                                              self.tr("CSV files (*.csv)"))
        if name:
            try:
                self.save_report(Path(name))
            except OSError as error:
                log.warning("Saving the merge report to %s failed: %s", name, error)
                self.summary_label.setText(self.tr("Saving the report failed: {0}").format(error))
