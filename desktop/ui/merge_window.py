"""The merge composer: a window that edits a merge's template, picks its data, checks, previews and sends it.

The work is the core's (``desktop.merge``): ``open_merge``, ``check`` and the
search for addresses an earlier merge reached run on worker threads, the
preview renders one row at a time, and sending runs ``MergeSend`` through
``MergeSendRunner``. The window only edits files, shows results and passes
the user's requests on.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QFontDatabase, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.config import ConfigError, load_config
from desktop.merge import journal as jn
from desktop.merge.errors import MergeError
from desktop.merge.send_cli import AlreadySent, find_already_sent, split_failed
from desktop.merge.sender import options_from_dict
from desktop.merge.suppress import SuppressionList
from desktop.store import StoreError
from desktop.ui.merge_dialogs import RESUME, SEND_AGAIN, FailedRowsDialog, ResumeDialog, UnknownRowsDialog
from desktop.ui.merge_files import LastMerge, MergeFileWatch, load_last_merge, save_last_merge
from desktop.ui.merge_models import ProblemModel
from desktop.ui.merge_preview import MergePreview
from desktop.ui.merge_progress import MergeSendPanel
from desktop.ui.merge_send import MergeSendRunner, SendRequest, SendResult, earlier_merge, sent_copies_reason
from desktop.ui.workers import BackgroundJob

log = logging.getLogger(__name__)

NEW_TEMPLATE = """\
From: {sender}
Subject: Hello {{{{ name | first_name }}}}

Dear {{{{ name | first_name }}}},

write the message here. A column's name in double braces, as in the greeting above, is replaced by
each recipient's value.

{{{{ unsubscribe }}}}
"""
_NO_COLUMN = "—"
# How long closing the window waits for a check for earlier sends to end; it renders every row's address.
CLOSE_WAIT_MS = 15000
_HEADER_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*:")


def display_path(path: Path) -> str:
    """Return ``path`` for showing, with the home folder written as ``~``."""
    try:
        return str(Path("~") / path.resolve().relative_to(Path.home().resolve()))
    except ValueError:
        return str(path)


def split_template(text: str) -> tuple[str, str]:
    """Split a template's text into its header lines and its body, at the first blank line."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    headers, separator, body = text.partition("\n\n")
    return (headers, body) if separator else (text.rstrip("\n"), "")


def replace_header(headers: str, name: str, value: str | None) -> str:
    """Return ``headers`` with every line of header ``name`` (and its continuation lines) replaced by one line.

    ``value`` None removes the header; a header not there yet is added at the end.
    """
    remaining: list[str] = []
    skipping = False
    for line in headers.split("\n"):
        match = _HEADER_NAME.match(line)
        if match:
            skipping = match.group(1).lower() == name.lower()
        elif not (line[:1] in (" ", "\t") and skipping):
            skipping = False
        if not skipping:
            remaining.append(line)
    remaining = [line for line in remaining if line.strip()]
    if value is not None:
        remaining.append(f"{name}: {value}")
    return "\n".join(remaining)


class MergeWindow(QWidget):
    """The merge composer window.

    Signals:
        merge_checked(object): the check report after the template and data were opened and checked.
        open_failed(str): the template or data could not be opened; the text names the file and the fix.
        send_finished(object): a ``SendResult`` at the end of a send or test send.
    """

    merge_checked = Signal(object)
    open_failed = Signal(str)
    send_finished = Signal(object)

    def __init__(self, profile, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(self.tr("New mail merge"))
        self.setObjectName("merge-window")
        self._profile = profile
        self.template_path: Path | None = None
        self.data_path: Path | None = None
        self.merge = None
        self.report = None
        self.columns: list[str] = []
        self.runner: MergeSendRunner | None = None
        self.resume_box: QMessageBox | None = None
        self.resume_dialog: ResumeDialog | None = None
        self.unknown_dialog: UnknownRowsDialog | None = None
        self.failed_dialog: FailedRowsDialog | None = None
        self.close_box: QMessageBox | None = None
        self.errors_box: QMessageBox | None = None
        self.file_watch = MergeFileWatch(self)
        self._check_job: BackgroundJob | None = None
        self._check_generation = 0
        self.resend_check_job: BackgroundJob | None = None
        self._resend_generation = 0
        self._pending_request: SendRequest | None = None
        self._unknown_merge_id = ""
        # Lines for the status line above the tabs from before or during a send, kept in front of its outcome.
        self._send_notes: list[str] = []
        self._close_after_send = False
        self._accounts: dict = {}
        self.problem_model = ProblemModel(self)
        self._init_widgets()
        self._init_layout()
        self._connect_signals()
        self.load_accounts()
        self.reopen_last_merge()
        self.resize(1100, 760)

    # --- construction -----------------------------------------------------------------

    def _init_widgets(self) -> None:
        self.template_edit = QLineEdit()
        self.template_edit.setObjectName("merge-template-path")
        self.template_edit.setPlaceholderText(self.tr("Type or paste the path of a .md or .html template, or click Open…"))
        self.open_template_button = QPushButton(self.tr("Open…"))
        self.new_template_button = QPushButton(self.tr("New…"))
        self.data_edit = QLineEdit()
        self.data_edit.setObjectName("merge-data-path")
        self.data_edit.setPlaceholderText(self.tr("Type or paste the path of a .csv, .tsv or .xlsx file, or click Open…"))
        self.open_data_button = QPushButton(self.tr("Open…"))
        self.account_box = QComboBox()

        self.status_label = QLabel()
        self.status_label.setObjectName("merge-status")
        self.status_label.setWordWrap(True)

        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.headers_editor = QPlainTextEdit()
        self.headers_editor.setFont(fixed)
        self.headers_editor.setMaximumHeight(160)
        self.body_editor = QPlainTextEdit()
        self.body_editor.setFont(fixed)
        self.save_button = QPushButton(self.tr("Save template and check"))
        self.save_button.setToolTip(self.tr("Write the header lines and body to the template file, then read the "
                                            "data file again and check every row"))

        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        self.columns_list = QListWidget()
        self.address_box = QComboBox()
        self.attach_box = QComboBox()

        self.total_label = QLabel()
        self.total_label.setObjectName("merge-total")
        self.total_label.setWordWrap(True)
        self.stale_label = QLabel()
        self.stale_label.setObjectName("merge-stale")
        self.stale_label.setWordWrap(True)
        self.stale_label.setStyleSheet("color: #8a5300;")
        self.stale_label.hide()
        self.check_again_button = QPushButton(self.tr("Check again"))
        self.check_again_button.setObjectName("merge-check-again")
        self.check_again_button.setToolTip(self.tr("Read the template and the data file from disk again and check "
                                                   "every row (F5)"))
        self.check_again_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self)
        self.problem_view = QTreeView()
        self.problem_view.setObjectName("merge-problems")
        self.problem_view.setModel(self.problem_model)
        self.problem_view.setSelectionBehavior(QTreeView.SelectionBehavior.SelectRows)
        self.problem_view.setUniformRowHeights(True)
        self.problem_view.setExpandsOnDoubleClick(False)
        self.problem_view.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.problem_view.header().setStretchLastSection(True)

        self.preview = MergePreview()
        self.send_panel = MergeSendPanel()
        self.tabs = QTabWidget()

    def _init_layout(self) -> None:
        files = QFormLayout()
        files.addRow(self.tr("Template"), self._row(self.template_edit, self.open_template_button,
                                                    self.new_template_button))
        files.addRow(self.tr("Recipients"), self._row(self.data_edit, self.open_data_button))
        files.addRow(self.tr("Send from"), self.account_box)

        editor = QWidget()
        editor_layout = QVBoxLayout(editor)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addWidget(QLabel(self.tr("Header lines (From, To, Subject, Merge-… settings), Jinja2 allowed")))
        editor_layout.addWidget(self.headers_editor)
        editor_layout.addWidget(QLabel(self.tr("Body (Markdown, or HTML for a .html template)")))
        editor_layout.addWidget(self.body_editor, 1)
        editor_layout.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignRight)
        data_box = QGroupBox(self.tr("Recipient data"))
        data_form = QFormLayout(data_box)
        data_form.addRow(self.tr("Read as"), self.source_label)
        data_form.addRow(self.tr("Columns"), self.columns_list)
        data_form.addRow(self.tr("Address column"), self.address_box)
        data_form.addRow(self.tr("Attachments column"), self.attach_box)
        composer = QSplitter(Qt.Orientation.Horizontal)
        composer.addWidget(editor)
        composer.addWidget(data_box)
        composer.setStretchFactor(0, 3)
        composer.setStretchFactor(1, 1)

        check_page = self._check_page = QWidget()
        check_layout = QVBoxLayout(check_page)
        check_bar = QHBoxLayout()
        check_bar.addWidget(self.total_label, 1)
        check_bar.addWidget(self.check_again_button, 0, Qt.AlignmentFlag.AlignTop)
        check_layout.addLayout(check_bar)
        check_layout.addWidget(self.stale_label)
        check_layout.addWidget(QLabel(self.tr(
            "Identical problems of several rows share a line: click it to list the rows, or double-click it to "
            "preview the first. Click a single row to preview it.")))
        check_layout.addWidget(self.problem_view, 1)

        self.tabs.addTab(composer, self.tr("Template and data"))
        self.tabs.addTab(check_page, self.tr("Check"))
        self.tabs.addTab(self.preview, self.tr("Preview"))
        self.tabs.addTab(self.send_panel, self.tr("Send"))
        layout = QVBoxLayout(self)
        layout.addLayout(files)
        layout.addWidget(self.status_label)
        layout.addWidget(self.tabs, 1)

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(widgets[0], 1)
        for widget in widgets[1:]:
            layout.addWidget(widget)
        return box

    def _connect_signals(self) -> None:
        self.open_template_button.clicked.connect(self._on_open_template_clicked)
        self.new_template_button.clicked.connect(self._on_new_template_clicked)
        self.open_data_button.clicked.connect(self._on_open_data_clicked)
        self.save_button.clicked.connect(self.save_and_check)
        self.template_edit.editingFinished.connect(self._on_template_edit_finished)
        self.data_edit.editingFinished.connect(self._on_data_edit_finished)
        self.check_again_button.clicked.connect(self.check_again)
        self.check_again_shortcut.activated.connect(self.check_again)
        self.file_watch.file_changed.connect(self._on_file_changed)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.send_panel.copies_box.toggled.connect(self._on_copies_toggled)
        self.address_box.activated.connect(self._on_address_box_activated)
        self.attach_box.activated.connect(self._on_attach_box_activated)
        self.problem_view.clicked.connect(self._on_problem_clicked)
        self.problem_view.activated.connect(self._on_problem_activated)
        self.account_box.currentIndexChanged.connect(self._on_account_changed)
        self.send_panel.test_requested.connect(self._on_test_requested)
        self.send_panel.send_requested.connect(self._on_send_requested)
        self.send_panel.pause_requested.connect(self._on_pause_requested)
        self.send_panel.resume_requested.connect(self._on_resume_requested)
        self.send_panel.cancel_requested.connect(self._on_cancel_requested)
        self.send_panel.unknown_requested.connect(self._on_unknown_requested)
        self.send_panel.failed_requested.connect(self._on_failed_requested)

    # --- files -------------------------------------------------------------------------

    def load_accounts(self) -> None:
        """Fill the account chooser from the profile's configuration."""
        self.account_box.clear()
        try:
            self._accounts = dict(load_config(self._profile.config_file).accounts)
        except ConfigError as error:
            self._accounts = {}
            self.status_label.setText(str(error))
        for name, account in self._accounts.items():
            self.account_box.addItem(f"{name} <{account.address}>" if account.address else name, name)
        self._on_account_changed()

    def open_files(self, template: Path | None = None, data: Path | None = None) -> None:
        """Show ``template`` in the editors and use ``data`` as the recipients; check when both are set."""
        if template is not None:
            self.template_path = Path(template)
            self.template_edit.setText(display_path(self.template_path))
            try:
                text = self.template_path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as error:
                self._show_open_error(self.tr("The template {0} cannot be read: {1}").format(template, error))
                return
            self._set_editors(*split_template(text))
        if data is not None:
            self.data_path = Path(data)
            self.data_edit.setText(display_path(self.data_path))
        self.check_now()

    def save_template(self) -> bool:
        """Write the editors' header lines and body to the template file; return whether it was written."""
        if self.template_path is None:
            return False
        headers = self.headers_editor.toPlainText().strip("\n")
        body = self.body_editor.toPlainText()
        try:
            self.template_path.write_text(f"{headers}\n\n{body}" + ("" if body.endswith("\n") else "\n"),
                                          encoding="utf-8")
        except OSError as error:
            self._show_open_error(self.tr("The template {0} cannot be saved: {1}").format(self.template_path, error))
            return False
        self._mark_saved()
        log.info("Saved merge template %s", self.template_path)
        return True

    @Slot()
    def save_and_check(self) -> None:
        if self.save_template():
            self.check_now()

    @Slot()
    def _on_open_template_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, self.tr("Open template"), self._folder(),
                                              self.tr("Templates (*.md *.txt *.html *.htm);;All files (*)"))
        if name:
            self.open_files(template=Path(name))

    @Slot()
    def _on_new_template_clicked(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, self.tr("New template"), self._folder(),
                                              self.tr("Markdown templates (*.md);;HTML templates (*.html)"))
        if name:
            self.create_template(Path(name))

    def create_template(self, path: Path) -> None:
        """Start a new template file at ``path`` with a From line for the chosen account and a short body."""
        account = self.current_account()
        sender = account.address if account is not None and account.address else "you@example.com"
        self.template_path = path
        self.template_edit.setText(display_path(path))
        self._set_editors(*split_template(NEW_TEMPLATE.format(sender=sender)))
        self.save_and_check()

    def _set_editors(self, headers: str, body: str) -> None:
        self.headers_editor.setPlainText(headers)
        self.body_editor.setPlainText(body)
        self._mark_saved()

    def _mark_saved(self) -> None:
        self.headers_editor.document().setModified(False)
        self.body_editor.document().setModified(False)

    def has_unsaved_edits(self) -> bool:
        return self.headers_editor.document().isModified() or self.body_editor.document().isModified()

    @Slot()
    def _on_open_data_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, self.tr("Open recipient data"), self._folder(),
                                              self.tr("Recipient data (*.csv *.tsv *.txt *.xlsx *.xlsm);;All files (*)"))
        if name:
            self.open_files(data=Path(name))

    def _folder(self) -> str:
        known = self.template_path or self.data_path
        return str(known.parent) if known is not None else str(Path.home())

    @Slot()
    def _on_template_edit_finished(self) -> None:
        path = self._typed_path(self.template_edit, self.template_path, self.tr("template"))
        if path is not None:
            self.open_files(template=path)

    @Slot()
    def _on_data_edit_finished(self) -> None:
        path = self._typed_path(self.data_edit, self.data_path, self.tr("data file"))
        if path is not None:
            self.open_files(data=path)

    def _typed_path(self, edit: QLineEdit, current: Path | None, file_kind: str) -> Path | None:
        """Return the new file typed or pasted into ``edit``, or None when it is unchanged, empty or not a file.

        A missing file is named in the status line, and the field keeps the text so that it can be corrected.
        """
        text = edit.text().strip().strip('"')
        if not text:
            if current is not None:
                edit.setText(display_path(current))
            return None
        path = Path(text).expanduser()
        if current is not None and path.resolve() == current.resolve():
            return None
        if not path.is_file():
            problem = self.tr("is a folder") if path.is_dir() else self.tr("does not exist")
            self.status_label.setText(self.tr("The {0} {1} {2}. Type the path of an existing file, or click Open…")
                                      .format(file_kind, path, problem))
            log.info("Merge composer: the typed %s %s %s", file_kind, path, "is a folder" if path.is_dir() else "is missing")
            return None
        return path

    # --- the last merge and changes on disk ----------------------------------------------

    def reopen_last_merge(self) -> None:
        """Open the template, data and account of the profile's last checked merge, where the files still exist."""
        last = load_last_merge(self._profile.data_dir)
        if last is None:
            return
        index = self.account_box.findData(last.account)
        if index >= 0:
            self.account_box.setCurrentIndex(index)
        missing = [path for path in (last.template, last.data) if path is not None and not path.is_file()]
        template = last.template if last.template is not None and last.template not in missing else None
        data = last.data if last.data is not None and last.data not in missing else None
        log.info("Merge composer: reopening the last merge (template %s, data %s)", template, data)
        if template is not None or data is not None:
            self.open_files(template, data)
        if missing:
            self.status_label.setText(self.tr("The last merge's {0} is gone, so it was not opened again.")
                                      .format(", ".join(str(path) for path in missing)))

    def _remember_merge(self) -> None:
        save_last_merge(self._profile.data_dir,
                        LastMerge(self.template_path, self.data_path, self.account_box.currentData() or ""))

    @Slot(str)
    def _on_file_changed(self, name: str) -> None:
        """Mark the check out of date when the template or data changed on disk, and offer to check again."""
        changed = self.file_watch.changed_files()
        if not changed:
            return
        names = ", ".join(display_path(path) for path in changed)
        if self.has_unsaved_edits() and self.template_path in changed:
            text = self.tr("{0} changed on disk after the check, and the editors have unsaved edits of the template. "
                           "Save template and check writes your edits over the file on disk.").format(names)
        else:
            text = self.tr("{0} changed on disk after the check, so the check and the preview may be out of date. "
                           "Click Check again (F5) to read the files again.").format(names)
        self.stale_label.setText(text)
        self.stale_label.show()
        self.status_label.setText(text)
        self.tabs.setTabText(self.tabs.indexOf(self._check_page), self.tr("Check (out of date)"))

    def _clear_stale(self) -> None:
        self.stale_label.hide()
        self.stale_label.clear()
        self.tabs.setTabText(self.tabs.indexOf(self._check_page), self.tr("Check"))

    def is_check_stale(self) -> bool:
        return not self.stale_label.isHidden()

    @Slot()
    def check_again(self) -> None:
        """Read the template and the data file from disk again and check every row.

        The editors take the template's text from disk, unless they have unsaved edits: those are kept, and the
        user is asked to save them first.
        """
        if self.template_path is None or self.data_path is None:
            self.check_now()
            return
        if self.has_unsaved_edits():
            self.status_label.setText(self.tr("The template has unsaved edits; click Save template and check to "
                                              "save them and check again."))
            return
        self.open_files(template=self.template_path)

    # --- open and check on a worker ------------------------------------------------------

    def check_now(self) -> None:
        """Open the saved template with the data and check every row, off the GUI thread."""
        if self.template_path is None or self.data_path is None:
            self.status_label.setText(self.tr("Open or create a template, and open the recipient data."))
            return
        self._check_generation += 1
        generation = self._check_generation
        template, data, profile = self.template_path, self.data_path, self._profile

        def steps(token):
            from desktop.merge.data import read_data
            from desktop.merge.render import open_merge

            yield generation, read_data(data), None
            merge = open_merge(template, data, profile=profile)
            yield generation, merge, merge.check()

        self.status_label.setText(self.tr("Checking every row…"))
        self._clear_stale()
        self.file_watch.watch([template, data])
        job = BackgroundJob(steps, expected_errors=(MergeError, OSError), name="merge-check", parent=self)
        job.progressed.connect(self._on_check_progressed)
        job.failed.connect(self._on_check_failed)
        self._check_job = job
        job.start()

    @Slot(object)
    def _on_check_progressed(self, step) -> None:
        generation, opened, report = step
        if generation != self._check_generation:
            return
        if report is None:
            # The data file alone, read first so the columns show even when the template does not fit them.
            self._show_columns(opened.columns, opened.source)
            return
        merge = opened
        self.merge = merge
        self.report = report
        self._show_choices(merge)
        self.problem_model.set_problems(report.problems)
        self.total_label.setText(self._total_text(report))
        # The Check page shows the totals, so the status line only reports that the check ended.
        self.status_label.setText(self.tr("Checked. See the Check page for the rows and their problems."))
        self.preview.set_merge(merge)
        self._remember_merge()
        self._show_unknown_count_of(merge.merge_key)
        self.merge_checked.emit(report)

    @Slot(str)
    def _on_check_failed(self, message: str) -> None:
        self.merge = None
        self.report = None
        self.problem_model.set_problems([])
        self.preview.set_merge(None)
        self._show_open_error(message)

    def _show_open_error(self, message: str) -> None:
        log.info("Merge composer: %s", message)
        self.status_label.setText(message)
        self.total_label.setText(message)
        self.open_failed.emit(message)

    def _total_text(self, report) -> str:
        error_rows = len({problem.row for problem in report.errors})
        text = self.tr("{0} of {1} rows will go out ({2} recipients); {3} suppressed; {4} rows with errors. "
                       "Data read as {5}.").format(len(report.sendable), report.total_rows, report.recipients,
                                                   len(report.skipped), error_rows, report.source)
        if report.errors:
            text += " " + self.tr("Fix the errors, or leave those rows out when you send.")
        return text

    def _show_columns(self, columns: list[str], source: str) -> None:
        self.columns = list(columns)
        self.source_label.setText(source)
        self.columns_list.clear()
        self.columns_list.addItems(self.columns)
        self.address_box.clear()
        self.address_box.addItems(self.columns)
        self.address_box.setCurrentIndex(-1)
        self.attach_box.clear()
        self.attach_box.addItems([_NO_COLUMN] + self.columns)

    def _show_choices(self, merge) -> None:
        self.address_box.setCurrentText(merge.address_column or "")
        self.attach_box.setCurrentText(merge.attach_column or _NO_COLUMN)

    @Slot(int)
    def _on_address_box_activated(self, index: int) -> None:
        self.choose_address_column(self.address_box.itemText(index))

    def choose_address_column(self, column: str) -> None:
        """Make ``column`` the recipients' address by writing the To line into the template, then check again."""
        if not column or column not in self.columns:
            return
        names = {name.lower().strip(): name for name in self.columns}
        name_column = next((names[key] for key in ("name", "full name", "display name") if key in names), None)
        value = f"{{{{ row[{column!r}] }}}}"
        if name_column and name_column != column:
            value = f"{{{{ row[{name_column!r}] }}}} <{value}>"
        self.headers_editor.setPlainText(replace_header(self.headers_editor.toPlainText(), "To", value))
        self.save_and_check()

    @Slot(int)
    def _on_attach_box_activated(self, index: int) -> None:
        column = self.attach_box.itemText(index)
        value = None if column == _NO_COLUMN else column
        self.headers_editor.setPlainText(replace_header(self.headers_editor.toPlainText(), "Merge-Attach-Column", value))
        self.save_and_check()

    @Slot(QModelIndex)
    def _on_problem_clicked(self, index: QModelIndex) -> None:
        """Show or hide the rows of a group line; preview the row of any other line."""
        group = index.siblingAtColumn(0)
        if self.problem_model.is_group(group):
            self.problem_view.setExpanded(group, not self.problem_view.isExpanded(group))
            return
        self._preview_problem(index)

    @Slot(QModelIndex)
    def _on_problem_activated(self, index: QModelIndex) -> None:
        self._preview_problem(index)

    def _preview_problem(self, index: QModelIndex) -> None:
        row = self.problem_model.data(index, Qt.ItemDataRole.UserRole)
        if row is None:
            return
        self.tabs.setCurrentWidget(self.preview)
        self.preview.show_row(int(row))

    # --- accounts and sending -------------------------------------------------------------

    def current_account(self):
        return self._accounts.get(self.account_box.currentData())

    @Slot(int)
    def _on_account_changed(self, _index: int = -1) -> None:
        account = self.current_account()
        if account is not None and not self.send_panel.test_address.text():
            self.send_panel.test_address.setText(account.address or "")
        if self.report is not None:
            self._remember_merge()
        self._update_copies_note()

    @Slot(int)
    def _on_tab_changed(self, _index: int) -> None:
        self._update_copies_note()

    @Slot(bool)
    def _on_copies_toggled(self, _checked: bool) -> None:
        self._update_copies_note()

    def _update_copies_note(self) -> None:
        """Say on the Send page when the ticked Sent copies will not be kept, and why, as ``merge send`` prints it."""
        account = self.current_account()
        if self.tabs.currentWidget() is not self.send_panel or account is None:
            return
        if not self.send_panel.copies_box.isChecked():
            self.send_panel.set_copies_note("")
            return
        try:
            reason = sent_copies_reason(self._profile, account)
        except (StoreError, OSError) as error:
            log.warning("Merge composer: the store cannot be read to find the Sent folder of %s: %s", account.name, error)
            reason = self.tr("The store cannot be read to find the Sent folder ({0}), so Sent copies may not be "
                             "kept.").format(error)
        self.send_panel.set_copies_note(reason)

    def _request(self, *, test: bool, resume_id: str = "") -> SendRequest | None:
        self._send_notes = []
        account = self.current_account()
        if self.merge is None or self.report is None:
            self.status_label.setText(self.tr("Open the template and the data first."))
            return None
        if account is None:
            self.status_label.setText(self.tr("Add an account with an SMTP server first (sluice account add)."))
            return None
        if self.has_unsaved_edits():
            self.status_label.setText(self.tr("The template has unsaved edits; click Save template and check before "
                                              "sending."))
            return None
        try:
            options = self.send_panel.options(test=test)
        except ValueError as error:
            self.status_label.setText(str(error))
            return None
        return SendRequest(self.merge.merge_key, self.template_path, self.data_path, account, options, resume_id)

    def _row_errors(self, rows: set[int] | None = None) -> tuple:
        """Return one check error of each row with errors, in row order; only of ``rows`` when given."""
        first_of_row = {}
        for problem in self.report.errors:
            if rows is None or problem.row in rows:
                first_of_row.setdefault(problem.row, problem)
        return tuple(first_of_row.values())

    @Slot()
    def _on_test_requested(self) -> None:
        """Send the test; its rows with check errors are left out, and errors in later rows do not matter."""
        request = self._request(test=True)
        if request is None:
            return
        numbers = self.merge.rows.numbers
        tested = {numbers[index] for index in range(min(request.options.test_count, len(numbers)))}
        left_out = self._row_errors(tested)
        if left_out and len(left_out) == len(tested):
            self.status_label.setText(self.tr(
                "Each of the first %n row(s) has errors, so the test sends nothing. Fix them (see Check), or raise "
                "the number of test messages to include rows without errors.", "", len(tested)))
            return
        if left_out:
            # %n counts the rows left out. Here at least one test row has no errors, so there are two test rows or more.
            note = self.tr("Leaving out %n of the first {0} rows of the test, because they have errors (see Check).",
                           "", len(left_out)).format(len(tested))
            self.status_label.setText(note)
            self._send_notes.append(note)
        self._start_send(replace(request, left_out=left_out))

    @Slot()
    def _on_send_requested(self) -> None:
        request = self._request(test=False)
        if request is None:
            return
        if not self.report.ok:
            self._offer_skip_errors(request)
            return
        self._continue_send(request)

    def _offer_skip_errors(self, request: SendRequest) -> None:
        """Ask whether to send only the rows without check errors, as ``merge send --skip-errors`` does, or stop."""
        left_out = self._row_errors()
        # Suppressed rows are left out as well, so only the rows that the check found sendable go out.
        going = len(self.report.sendable)
        suppressed = len(self.report.skipped)
        self.status_label.setText(self.tr("The check found errors in %n row(s).", "", len(left_out)))
        if going <= 0:
            self.status_label.setText(self.tr("The check found errors in every row that is not suppressed, so no "
                                              "message would go out; fix them (see Check) before sending."))
            return
        # Three counts need three strings, because a catalogue entry has the plural forms of one count only.
        parts = [
            self.tr("The check found errors in %n row(s) (see Check).", "", len(left_out)),
            self.tr("Send only the %Ln message(s) of the rows without errors, and leave the rows with errors out?",
                    "", going),
        ]
        if suppressed:
            parts.append(self.tr("%Ln row(s) with a suppressed address are left out as well.", "", suppressed))
        parts.append(self.tr("The report lists each row left out with its error, and a later send of the fixed "
                             "files offers to send to the rest."))
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Rows with errors"), " ".join(parts),
                          QMessageBox.StandardButton.NoButton, self)
        skip = box.addButton(self.tr("Leave out %n row(s) and send", "", len(left_out)),
                             QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setObjectName("merge-errors-box")
        self.errors_box = box

        def on_finished() -> None:
            self.errors_box = None
            if box.clickedButton() is skip:
                log.info("Merge composer: the user chose to leave out %d row(s) with errors", len(left_out))
                self._continue_send(replace(request, left_out=left_out))

        box.finished.connect(on_finished)
        box.open()

    def _continue_send(self, request: SendRequest) -> None:
        """Offer to resume an earlier send of the same files, or look for addresses reached before, then send."""
        try:
            earlier = earlier_merge(self._profile, request.merge_key)
        except jn.JournalError as error:
            self._on_send_failed(str(error))
            return
        if earlier is not None:
            self._offer_resume(request, earlier)
            return
        self._start_resend_check(request)

    def _start_resend_check(self, request: SendRequest) -> None:
        """Find the rows whose address got this template in an earlier merge, as ``merge send`` does, off the GUI thread.

        ``find_already_sent`` took about 0.8 s for 10,000 rows on a 2-core machine, so a worker runs it while the
        Send page shows that it is checking. Cancel drops the check.
        """
        path = jn.journal_path(self._profile.data_dir)
        if not path.exists():
            self._start_send(request)
            return
        self._resend_generation += 1
        generation = self._resend_generation
        profile = self._profile

        def steps(token):
            from desktop.merge.render import open_merge

            merge = open_merge(request.template, request.data, profile=profile)
            if merge.merge_key != request.merge_key:
                raise MergeError(f"{request.template} or {request.data} changed after the check; check the merge "
                                 "again before sending.")
            with jn.Journal(path) as journal:
                yield generation, find_already_sent(journal, merge, request.template)

        job = BackgroundJob(steps, expected_errors=(MergeError, jn.JournalError, OSError), name="merge-resend-check",
                            parent=self)
        job.progressed.connect(self._on_resend_check_progressed)
        job.failed.connect(self._on_resend_check_failed)
        self.resend_check_job = job
        self._pending_request = request
        self.send_panel.set_checking(True)
        self.tabs.setCurrentWidget(self.send_panel)
        log.info("Merge composer: checking for earlier sends of %s (check %d)", request.template, generation)
        job.start()

    def is_checking_earlier_sends(self) -> bool:
        return self._pending_request is not None

    def _end_resend_check(self) -> SendRequest | None:
        """Stop waiting for the check for earlier sends; return the send request it was for."""
        request = self._pending_request
        self._pending_request = None
        self._resend_generation += 1
        self.send_panel.set_checking(False)
        return request

    @Slot(object)
    def _on_resend_check_progressed(self, step) -> None:
        generation, overlap = step
        if generation != self._resend_generation or self._pending_request is None:
            return
        request = self._end_resend_check()
        if overlap is None:
            self._start_send(request)
            return
        self._offer_rest(request, overlap)

    @Slot(str)
    def _on_resend_check_failed(self, message: str) -> None:
        if self._pending_request is None:
            return
        self._end_resend_check()
        self._on_send_failed(message)

    def _offer_rest(self, request: SendRequest, overlap: AlreadySent) -> None:
        """Ask whether to send only to the addresses that have not got this template, to everyone again, or stop.

        When every address got it, only sending to everyone again or stopping is offered.
        """
        left = overlap.total - len(overlap.rows)
        question = (self.tr("{0} Send only to the {1} addresses that have not got it yet, or to everyone again?")
                    if left else self.tr("{0} Send it to everyone again?"))
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Sent before"),
                          question.format(overlap.describe(), left), QMessageBox.StandardButton.NoButton, self)
        rest = box.addButton(self.tr("Send to the rest only"), QMessageBox.ButtonRole.AcceptRole) if left else None
        again = box.addButton(self.tr("Send to everyone again"), QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(rest or cancel)
        box.setObjectName("merge-resume-box")
        self.resume_box = box

        def on_finished() -> None:
            clicked = box.clickedButton()
            self.resume_box = None
            if rest is not None and clicked is rest:
                self._start_send(replace(request, rest=overlap))
            elif clicked is again:
                self._start_send(request)

        box.finished.connect(on_finished)
        box.open()

    def _offer_resume(self, request: SendRequest, earlier: jn.MergeRecord) -> None:
        """Ask whether to resume the earlier send of the same files with its recorded options, send all again, or stop."""
        account = self._accounts.get(earlier.account)
        if account is None:
            self.status_label.setText(self.tr(
                "Merge {0} of these files was sent from account {1}, which is not configured any more. Add it "
                "again to resume the merge.").format(earlier.id, earlier.account))
            return
        with jn.Journal(jn.journal_path(self._profile.data_dir)) as journal:
            counts = journal.counts(earlier.id)
        dialog = ResumeDialog(jn.shown_record(journal.path, earlier), counts, self)
        self.resume_dialog = dialog

        def on_finished() -> None:
            self.resume_dialog = None
            if dialog.choice == RESUME and dialog.options is not None:
                self._start_send(replace(request, account=account, options=dialog.options, resume_id=earlier.id))
            elif dialog.choice == SEND_AGAIN:
                self._start_send(request)

        dialog.finished.connect(on_finished)
        dialog.open()

    # --- rows of unknown outcome -----------------------------------------------------------

    def _show_unknown_count_of(self, merge_key: str) -> None:
        """Offer the rows of unknown outcome of the latest send of the checked files, if there is one."""
        try:
            earlier = earlier_merge(self._profile, merge_key)
        except jn.JournalError as error:
            log.warning("Merge composer: the journal cannot be read for earlier sends: %s", error)
            earlier = None
        self._show_unknown_count(earlier.id if earlier is not None else "")

    def _show_unknown_count(self, merge_id: str) -> None:
        """Make ``merge_id`` the merge whose rows of unknown outcome and failed rows the Send page offers to resend."""
        self._unknown_merge_id = merge_id
        count = 0
        failed = 0
        if merge_id:
            with jn.Journal(jn.journal_path(self._profile.data_dir)) as journal:
                counts = journal.counts(merge_id)
                count = counts[jn.UNKNOWN]
                if counts[jn.FAILED]:
                    failed = len(split_failed(journal, merge_id, SuppressionList(self._profile))[0])
        self.send_panel.set_unknown_count(count)
        self.send_panel.set_failed_count(failed)

    @Slot()
    def _on_unknown_requested(self) -> None:
        """List the current merge's rows of unknown outcome, and send the ones the user confirms again."""
        if not self._unknown_merge_id or (self.runner is not None and self.runner.is_running()):
            return
        with jn.Journal(jn.journal_path(self._profile.data_dir)) as journal:
            record = journal.merge(self._unknown_merge_id)
            rows = journal.recipients(record.id, [jn.UNKNOWN])
        if not rows:
            self._show_unknown_count(record.id)
            return
        dialog = UnknownRowsDialog(record, rows, self)
        self.unknown_dialog = dialog

        def on_finished(result: int) -> None:
            self.unknown_dialog = None
            if result == UnknownRowsDialog.DialogCode.Accepted:
                self._retry_unknown(record, dialog.checked_rows())

        dialog.finished.connect(on_finished)
        dialog.open()

    def _retry_unknown(self, record: jn.MergeRecord, rows: list[int]) -> None:
        """Queue ``rows`` of ``record`` again and continue that merge with its recorded options."""
        request = self._resume_request(record)
        if request is None:
            return
        log.info("Merge %s: the user confirmed sending %d row(s) of unknown outcome again", record.id, len(rows))
        self._start_send(replace(request, retry_unknown=tuple(rows)))

    def _resume_request(self, record: jn.MergeRecord) -> SendRequest | None:
        """Return the request that continues ``record`` with its recorded options, or None after naming the obstacle."""
        account = self._accounts.get(record.account)
        if account is None:
            self.status_label.setText(self.tr(
                "Merge {0} was sent from account {1}, which is not configured any more. Add it again to send "
                "its rows.").format(record.id, record.account))
            return None
        if self.merge is None or self.merge.merge_key != record.merge_key or self.has_unsaved_edits():
            self.status_label.setText(self.tr(
                "The template or data changed since merge {0} started; open {1} and {2} as they were, then try "
                "again.").format(record.id, record.template, record.data))
            return None
        self._send_notes = []
        return SendRequest(record.merge_key, self.template_path, self.data_path, account,
                           options_from_dict(record.options), record.id)

    # --- failed rows -----------------------------------------------------------------------

    @Slot()
    def _on_failed_requested(self) -> None:
        """List the current merge's failed rows, and send the ones the user confirms again."""
        if not self._unknown_merge_id or (self.runner is not None and self.runner.is_running()):
            return
        with jn.Journal(jn.journal_path(self._profile.data_dir)) as journal:
            record = journal.merge(self._unknown_merge_id)
            retry, bounced = split_failed(journal, record.id, SuppressionList(self._profile))
        if not retry:
            self._show_unknown_count(record.id)
            return
        dialog = FailedRowsDialog(record, retry, bounced, self)
        self.failed_dialog = dialog

        def on_finished(result: int) -> None:
            self.failed_dialog = None
            if result == FailedRowsDialog.DialogCode.Accepted:
                self._retry_failed(record, dialog.checked_rows())

        dialog.finished.connect(on_finished)
        dialog.open()

    def _retry_failed(self, record: jn.MergeRecord, rows: list[int]) -> None:
        """Queue the failed ``rows`` of ``record`` again and continue that merge, as ``resume --retry-failed`` does."""
        request = self._resume_request(record)
        if request is None:
            return
        log.info("Merge %s: the user confirmed sending %d failed row(s) again", record.id, len(rows))
        self._start_send(replace(request, retry_failed=tuple(rows)))

    def _start_send(self, request: SendRequest) -> None:
        if self.runner is not None and self.runner.is_running():
            return
        runner = MergeSendRunner(self._profile, request, self)
        runner.started.connect(self.send_panel.show_started)
        runner.progressed.connect(self.send_panel.show_progress)
        runner.failed.connect(self._on_send_failed)
        runner.finished.connect(self._on_send_finished)
        self.runner = runner
        self.send_panel.set_running(True)
        self.tabs.setCurrentWidget(self.send_panel)
        runner.start()

    @Slot()
    def _on_pause_requested(self) -> None:
        if self.runner is not None:
            self.runner.pause()
            self.send_panel.set_running(True, paused=True)

    @Slot()
    def _on_resume_requested(self) -> None:
        if self.runner is not None:
            self.runner.resume()
            self.send_panel.set_running(True, paused=False)

    @Slot()
    def _on_cancel_requested(self) -> None:
        if self._pending_request is not None:
            log.info("Merge composer: the check for earlier sends was cancelled")
            self._end_resend_check()
            self.status_label.setText(self.tr("Nothing was sent."))
            return
        if self.runner is not None:
            self.runner.cancel()

    @Slot(str)
    def _on_send_failed(self, message: str) -> None:
        log.warning("Merge send from the window failed: %s", message)
        self._send_notes.append(message)
        self.send_panel.state_label.setText(message)
        self.status_label.setText(message)

    @Slot(object)
    def _on_send_finished(self, result: SendResult) -> None:
        records = []
        if result.merge_id:
            with jn.Journal(jn.journal_path(self._profile.data_dir)) as journal:
                records = journal.recipients(result.merge_id)
        self.send_panel.show_result(result, records)
        self._show_send_outcome(result)
        if result.merge_id:
            self._show_unknown_count(result.merge_id)
        self.send_finished.emit(result)
        if self._close_after_send:
            self.close()

    def _show_send_outcome(self, result: SendResult) -> None:
        """Replace the check's line above the tabs with how the send ended. A send that never ran leaves its error."""
        notes, self._send_notes = self._send_notes, []
        if result.progress is None:
            return
        test_to = self.runner.request.options.test_to if self.runner is not None else ""
        outcome = self.send_panel.outcome_text(result.progress, test_to)
        self.status_label.setText(" ".join([*notes, outcome]))

    # --- closing -----------------------------------------------------------------------------

    def _stop_resend_check(self) -> None:
        """Drop a running check for earlier sends and wait for its thread, which cannot stop halfway."""
        if self._pending_request is not None:
            self._end_resend_check()
        job = self.resend_check_job
        if job is not None and job.is_running() and not job.wait(CLOSE_WAIT_MS):
            log.warning("The check for earlier sends did not end within %d ms", CLOSE_WAIT_MS)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Close, but during a send first ask whether to stop it (the rows not sent stay queued for a resume)."""
        self._stop_resend_check()
        if self.runner is None or not self.runner.is_running():
            event.accept()
            return
        event.ignore()
        if self.close_box is not None or self._close_after_send:
            return
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Sending"),
                          self.tr("The merge is still sending. Stop after the messages in flight and close? The "
                                  "rest stay queued, and sending the same files again offers to resume."),
                          QMessageBox.StandardButton.NoButton, self)
        stop = box.addButton(self.tr("Stop and close"), QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(self.tr("Keep sending"), QMessageBox.ButtonRole.RejectRole)
        box.setObjectName("merge-close-box")
        self.close_box = box

        def on_finished() -> None:
            self.close_box = None
            if box.clickedButton() is stop and self.runner is not None:
                self._close_after_send = True
                self.runner.cancel()

        box.finished.connect(on_finished)
        box.open()
