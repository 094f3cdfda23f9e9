"""The merge composer's preview page: every recipient's complete message, one row at a time.

The HTML part is sanitised with nh3 and shown in a QTextBrowser, which never
runs scripts or loads remote content.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.mail.html import sanitize_html
from desktop.merge.data import RowNumbers
from desktop.merge.errors import RowError

log = logging.getLogger(__name__)

# Headers left out of the header view, because the parts below show what they describe.
_HIDDEN_HEADERS = ("content-type", "content-transfer-encoding", "mime-version")


class MergePreview(QWidget):
    """Pages through the rendered messages of a merge.

    Signals:
        row_shown(int): the data row now shown.
    """

    row_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._merge = None
        self._numbers = RowNumbers()
        self._init_widgets()
        self._init_layout()
        self._init_keys()
        self._connect_signals()
        self.set_merge(None)

    def _init_widgets(self) -> None:
        self.previous_button = QPushButton(self.tr("◀ Previous"))
        self.next_button = QPushButton(self.tr("Next ▶"))
        self.row_box = QSpinBox()
        self.row_box.setObjectName("merge-preview-row")
        self.row_box.setKeyboardTracking(False)
        self.count_label = QLabel()
        self.error_label = QLabel()
        self.error_label.setObjectName("merge-preview-error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.headers_view = QPlainTextEdit()
        self.headers_view.setReadOnly(True)
        self.headers_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.headers_view.setMaximumHeight(150)
        self.html_view = QTextBrowser()
        self.html_view.setOpenLinks(False)
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.attachments_list = QListWidget()
        self.attachments_list.setMaximumHeight(70)

    def _init_layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.previous_button)
        bar.addWidget(QLabel(self.tr("Row")))
        bar.addWidget(self.row_box)
        bar.addWidget(self.count_label)
        bar.addWidget(self.next_button)
        bar.addStretch(1)
        parts = QSplitter(Qt.Orientation.Horizontal)
        parts.addWidget(self._titled(self.tr("HTML part"), self.html_view))
        parts.addWidget(self._titled(self.tr("Plain-text part"), self.text_view))
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.error_label)
        layout.addWidget(self.headers_view)
        layout.addWidget(parts, 1)
        layout.addWidget(QLabel(self.tr("Attachments")))
        layout.addWidget(self.attachments_list)

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(title))
        layout.addWidget(widget)
        return box

    def _init_keys(self) -> None:
        # The shortcuts work wherever the focus is on the page, also on the buttons, which would otherwise move the
        # focus on Alt+Right. QTextBrowser takes Alt+Left and Alt+Right for its own history, so the event filter
        # catches the keys before the text views and the row box receive them.
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        self.next_shortcut = QShortcut(QKeySequence("Alt+Right"), self, context=context)
        self.previous_shortcut = QShortcut(QKeySequence("Alt+Left"), self, context=context)
        for widget in (self.html_view, self.text_view, self.headers_view, self.attachments_list, self.row_box):
            widget.installEventFilter(self)
        self.next_button.setToolTip(self.tr("Next recipient (Alt+Right, or Page Down outside the text)"))
        self.previous_button.setToolTip(self.tr("Previous recipient (Alt+Left, or Page Up outside the text)"))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        if event.modifiers() != Qt.KeyboardModifier.AltModifier or event.key() not in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            return False
        if event.type() == QEvent.Type.KeyPress:
            self._step(1 if event.key() == Qt.Key.Key_Right else -1)
        event.accept()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """Page with Page Down and Page Up, which the text views leave unused."""
        key = event.key()
        plain = event.modifiers() == Qt.KeyboardModifier.NoModifier
        if plain and key == Qt.Key.Key_PageDown:
            self.show_next()
        elif plain and key == Qt.Key.Key_PageUp:
            self.show_previous()
        else:
            super().keyPressEvent(event)

    def _connect_signals(self) -> None:
        self.previous_button.clicked.connect(self.show_previous)
        self.next_button.clicked.connect(self.show_next)
        self.next_shortcut.activated.connect(self.show_next)
        self.previous_shortcut.activated.connect(self.show_previous)
        self.row_box.valueChanged.connect(self._on_row_box_value_changed)

    def set_merge(self, merge) -> None:
        """Show the rows of ``merge`` (an opened ``Merge``), starting at its first row; None clears the page."""
        self._merge = merge
        self._numbers = merge.rows.numbers if merge is not None else RowNumbers()
        enabled = bool(self._numbers)
        for widget in (self.previous_button, self.next_button, self.row_box):
            widget.setEnabled(enabled)
        self.row_box.blockSignals(True)
        self.row_box.setRange(self._numbers[0] if enabled else 0, self._numbers[-1] if enabled else 0)
        self.row_box.blockSignals(False)
        self.count_label.setText(self.tr("of {0} recipients").format(len(self._numbers)))
        if enabled:
            self.show_row(self._numbers[0])
        else:
            self._clear()

    def current_row(self) -> int:
        return self.row_box.value()

    @Slot()
    def show_next(self) -> None:
        self._step(1)

    @Slot()
    def show_previous(self) -> None:
        self._step(-1)

    def _step(self, direction: int) -> None:
        if not self._numbers:
            return
        found = self._numbers.step(self.row_box.value(), direction)
        if found is not None:
            self.show_row(found)

    def show_row(self, number: int) -> None:
        """Render data row ``number`` and show its message, or the row's problem in place of it."""
        if self._merge is None:
            return
        self.row_box.blockSignals(True)
        self.row_box.setValue(number)
        self.row_box.blockSignals(False)
        try:
            rendered = self._merge.render(number)
        except RowError as error:
            log.debug("Preview of row %d: %s", number, error.message)
            self._clear()
            where = self.tr("Row {0}").format(number)
            if error.column:
                where += self.tr(", column {0}").format(repr(error.column))
            self.error_label.setText(f"{where}: {error.message}")
        else:
            self._show_message(rendered)
        self.row_shown.emit(number)

    def _show_message(self, rendered) -> None:
        message = rendered.message
        self.error_label.clear()
        lines = [f"{name}: {value}" for name, value in message.items() if name.lower() not in _HIDDEN_HEADERS]
        lines.append(self.tr("Envelope recipients: {0}").format(", ".join(rendered.to)))
        self.headers_view.setPlainText("\n".join(lines))
        html = message.get_body(("html",))
        text = message.get_body(("plain",))
        self.html_view.setHtml(sanitize_html(html.get_content()) if html is not None else "")
        self.text_view.setPlainText(text.get_content() if text is not None else "")
        self.attachments_list.clear()
        for part in message.iter_attachments():
            size = len(part.get_payload(decode=True) or b"")
            self.attachments_list.addItem(f"{part.get_filename()} ({part.get_content_type()}, {size:,} bytes)")

    def _clear(self) -> None:
        self.error_label.clear()
        self.headers_view.clear()
        self.html_view.clear()
        self.text_view.clear()
        self.attachments_list.clear()

    @Slot(int)
    def _on_row_box_value_changed(self, number: int) -> None:
        if number in self._numbers:
            self.show_row(number)
        else:
            self._clear()
            self.error_label.setText(self.tr("Row {0} is blank in the data file.").format(number))
