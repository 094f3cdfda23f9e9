"""The composer window: write a new message, a reply or a forward, and send it through the outbox.

The window edits a ``desktop.compose.build.Draft``. Its fields: From (every
account's address and aliases), To, Cc and Bcc with completion, the
subject, the body as plain text or Markdown (with a preview), attachments
(by dialog or drag and drop), and "remind me if no reply in N days".

The account's signature is put into the body below a ``-- `` line when the
window opens, and swapped when another account is chosen in From. The
draft is saved locally every few seconds while it changes, and to the
account's Drafts folder now and then, always off the GUI thread (see
``desktop.ui.compose_service``).

Keys come from the composer mode of the key map (Ctrl+Enter sends). Send
puts the message in the outbox with the undo delay and closes the window;
the main window's status bar then offers Undo.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.commands import COMMANDS_BY_NAME
from desktop.compose.build import SIGNATURE_SEPARATOR, BuildError, Draft, parse_address_list, render_markdown
from desktop.compose.snippets import SnippetError, list_snippets, render_snippet, snippet_values
from desktop.keymap import KeyMap, display_text
from desktop.ui.compose_fields import AddressField, AttachmentList, BodyEditor, dropped_files
from desktop.ui.compose_send import SendLaterDialog
from desktop.ui.compose_service import ComposeService, DraftSlot
from desktop.ui.icons import app_icon
from desktop.ui.keys import MODE_PROPERTY, KeyDispatcher, translated
from desktop.ui.palette import CommandPalette, PaletteItem

log = logging.getLogger(__name__)

# Local saves while the text changes; a crash loses at most this much typing.
AUTOSAVE_MS = 3000
# The Drafts folder on the server gets a copy at most this often while typing, and always on close.
SERVER_SAVE_SECONDS = 30.0
DEFAULT_REMIND_DAYS = 3


class ComposerWindow(QMainWindow):
    """One message being written.

    Args:
        service: The window's compose service.
        draft: The fields to start with (new, reply or forward).
        keymap: The key bindings; the composer mode applies here.
        slot: The local draft being continued, or None for a new one.

    Signals:
        sent(object): the message is in the outbox; its ``OutboxEntry``.
        closed_with_draft(str): the window closed and kept the draft; a status text.
        closed(): the window closed.
    """

    sent = Signal(object)
    closed_with_draft = Signal(str)
    closed = Signal()

    def __init__(self, service: ComposeService, draft: Draft, keymap: KeyMap, slot: DraftSlot | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.draft = draft
        self.slot = slot or DraftSlot()
        self.autosave_ms = AUTOSAVE_MS
        self.server_save_seconds = SERVER_SAVE_SECONDS
        self._dirty = False
        self._finished = False
        self._signature = ""
        self._connected = True
        self.setWindowTitle(self.tr("New message"))
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._init_widgets()
        self._init_layout()
        self._fill(draft)
        self._connect_signals()
        self.keymap = keymap
        self.key_dispatcher = KeyDispatcher(self, keymap)
        self.key_dispatcher.command_triggered.connect(self.run_command)
        self.resize(760, 640)

    # --- construction ------------------------------------------------------------------

    def _init_widgets(self) -> None:
        self.from_box = QComboBox(objectName="fromBox")
        for name, account in sorted(self.service.config.accounts.items()):
            for address in account.own_addresses():
                self.from_box.addItem(f"{address}  ({name})", (name, address))
        contacts = lambda: self.service.contacts  # noqa: E731 - read at each keystroke, after loading
        self.to_field = AddressField(contacts, objectName="toField")
        self.cc_field = AddressField(contacts, objectName="ccField")
        self.bcc_field = AddressField(contacts, objectName="bccField")
        self.subject_field = QLineEdit(objectName="subjectField")
        self.body = BodyEditor(objectName="bodyEditor")
        self.preview = QTextBrowser(objectName="markdownPreview")
        self.preview.setOpenLinks(False)
        self.body_pages = QStackedWidget()
        self.body_pages.addWidget(self.body)
        self.body_pages.addWidget(self.preview)
        self.markdown_box = QCheckBox(self.tr("Markdown"), objectName="markdownBox")
        self.preview_box = QCheckBox(self.tr("Preview"), objectName="previewBox")
        self.attachments = AttachmentList()
        self.attach_button = QPushButton(self.tr("Attach…"), objectName="attachButton")
        self.remind_box = QCheckBox(self.tr("Remind me if no reply in"), objectName="remindBox")
        self.remind_days = QSpinBox(objectName="remindDays")
        self.remind_days.setRange(1, 90)
        self.remind_days.setValue(DEFAULT_REMIND_DAYS)
        self.remind_days.setSuffix(self.tr(" days"))
        self.send_button = QPushButton(self.tr("Send"), objectName="sendButton")
        self.send_later_button = QPushButton(self.tr("Send later…"), objectName="sendLaterButton")
        self.save_button = QPushButton(self.tr("Save draft"), objectName="saveDraftButton")
        self.discard_button = QPushButton(self.tr("Discard"), objectName="discardButton")
        self.message_label = QLabel(objectName="composerMessage")
        self.message_label.setWordWrap(True)
        self.autosave_timer = QTimer(self, singleShot=True)

    def _init_layout(self) -> None:
        form = QFormLayout()
        form.addRow(self.tr("From"), self.from_box)
        form.addRow(self.tr("To"), self.to_field)
        form.addRow(self.tr("Cc"), self.cc_field)
        form.addRow(self.tr("Bcc"), self.bcc_field)
        form.addRow(self.tr("Subject"), self.subject_field)
        options = QHBoxLayout()
        options.addWidget(self.markdown_box)
        options.addWidget(self.preview_box)
        options.addStretch(1)
        options.addWidget(self.remind_box)
        options.addWidget(self.remind_days)
        buttons = QHBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.send_later_button)
        buttons.addWidget(self.attach_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.discard_button)
        central = QWidget(objectName="composer")
        central.setProperty(MODE_PROPERTY, "composer")
        layout = QVBoxLayout(central)
        layout.addLayout(form)
        layout.addLayout(options)
        layout.addWidget(self.body_pages, 1)
        layout.addWidget(self.attachments)
        layout.addWidget(self.message_label)
        layout.addLayout(buttons)
        self.setCentralWidget(central)

    def _connect_signals(self) -> None:
        for field in (self.to_field, self.cc_field, self.bcc_field, self.subject_field):
            field.textChanged.connect(self._on_changed)
        self.subject_field.textChanged.connect(self._on_subject_field_text_changed)
        self.body.textChanged.connect(self._on_changed)
        self.body.snippet_requested.connect(self._on_body_snippet_requested)
        self.body.files_dropped.connect(self.attachments.add)
        self.attachments.changed.connect(self._on_changed)
        self.from_box.currentIndexChanged.connect(self._on_from_box_current_index_changed)
        self.markdown_box.toggled.connect(self._on_changed)
        self.preview_box.toggled.connect(self._on_preview_box_toggled)
        self.attach_button.clicked.connect(self.choose_attachments)
        self.send_button.clicked.connect(self.send)
        self.send_later_button.clicked.connect(self.send_later)
        self.save_button.clicked.connect(self.save_draft)
        self.discard_button.clicked.connect(self.discard)
        self.autosave_timer.timeout.connect(self._on_autosave_timer_timeout)
        self.service.draft_saved.connect(self._on_service_draft_saved)
        self.service.queued.connect(self._on_service_queued)
        self.service.queue_failed.connect(self._on_service_queue_failed)
        self.service.discarded.connect(self._on_service_discarded)

    def _fill(self, draft: Draft) -> None:
        index = self.from_box.findData((draft.account, draft.from_address.lower()))
        if index < 0:
            index = next((row for row in range(self.from_box.count()) if self.from_box.itemData(row)[0] == draft.account), 0)
        self.from_box.setCurrentIndex(index)
        self.to_field.setText(", ".join(draft.to))
        self.cc_field.setText(", ".join(draft.cc))
        self.bcc_field.setText(", ".join(draft.bcc))
        self.subject_field.setText(draft.subject)
        self.markdown_box.setChecked(draft.format == "markdown")
        self.attachments.add([Path(path) for path in draft.attachments])
        body = draft.body
        account = self.service.config.accounts.get(draft.account)
        signature = account.signature.strip("\n") if account is not None else ""
        if draft.signature and signature and signature not in body:
            body = _with_signature(body, signature)
        self._signature = signature if draft.signature else ""
        self.body.setPlainText(body)
        cursor = self.body.textCursor()
        cursor.movePosition(cursor.MoveOperation.Start)
        self.body.setTextCursor(cursor)
        self._update_title()
        self._dirty = False

    def focus_first_field(self) -> None:
        """Put the cursor where writing starts: To for a new message or forward, the body for a reply."""
        if self.draft.in_reply_to and self.to_field.text():
            self.body.setFocus()
        else:
            self.to_field.setFocus()

    # --- reading the fields --------------------------------------------------------

    def current_draft(self) -> Draft:
        """Return the draft as the fields show it.

        Raises:
            BuildError: an address line is not a list of addresses.
        """
        draft = self.draft
        account, address = self.from_box.currentData() or (draft.account, draft.from_address)
        draft.account, draft.from_address = account, address
        draft.to = parse_address_list(self.to_field.text(), "to")
        draft.cc = parse_address_list(self.cc_field.text(), "cc")
        draft.bcc = parse_address_list(self.bcc_field.text(), "bcc")
        draft.subject = self.subject_field.text()
        draft.body = self.body.toPlainText()
        draft.format = "markdown" if self.markdown_box.isChecked() else "plain"
        draft.attachments = self.attachments.paths()
        # The signature is in the body already, where the user could edit or delete it.
        draft.signature = False
        return draft

    def _draft_for_saving(self) -> Draft | None:
        try:
            return self.current_draft()
        except BuildError as error:
            self.show_message(str(error), error=True)
            return None

    # --- commands ------------------------------------------------------------------------

    def handlers(self) -> dict:
        return {
            "send-message": self.send,
            "send-later": self.send_later,
            "attach-file": self.choose_attachments,
            "save-draft": self.save_draft,
            "discard-draft": self.discard,
            "insert-snippet": self.choose_snippet,
            "toggle-preview": self.preview_box.toggle,
            "command-palette": self.choose_command,
        }

    @Slot(str)
    def run_command(self, name: str) -> None:
        """Run a composer command by name, as its key does."""
        handler = self.handlers().get(name)
        if handler is None:
            command = COMMANDS_BY_NAME.get(name)
            title = translated(command.text) if command else name
            self.show_message(self.tr("%1 does not work in the composer.").replace("%1", title))
            return
        handler()

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setStyleSheet("color: #b00020;" if error else "")
        self.message_label.setText(text)
        if error:
            log.warning("Composer: %s", text)

    @Slot()
    def send(self) -> None:
        """Queue the message with the undo delay and close the window once it is in the outbox."""
        self._queue(None)

    @Slot()
    def send_later(self) -> None:
        """Ask for a time, then queue the message for that time."""
        dialog = SendLaterDialog(self)
        if dialog.exec() != SendLaterDialog.DialogCode.Accepted:
            return
        self._queue(dialog.chosen_time())

    def _queue(self, send_at: float | None) -> None:
        if self._finished:
            return
        draft = self._draft_for_saving()
        if draft is None:
            return
        if not draft.recipients():
            self.show_message(self.tr("Add a recipient in To, Cc or Bcc before sending."), error=True)
            self.to_field.setFocus()
            return
        self.autosave_timer.stop()
        self._set_busy(True)
        remind = float(self.remind_days.value()) if self.remind_box.isChecked() else None
        self.service.send(draft, self.slot, send_at=send_at, remind_days=remind)

    def set_reminder(self, days: float) -> None:
        """Tick "Remind me if no reply" with ``days`` (rounded to whole days, within the box's range)."""
        self.remind_days.setValue(max(self.remind_days.minimum(), min(self.remind_days.maximum(), round(days))))
        self.remind_box.setChecked(True)

    @Slot()
    def save_draft(self) -> None:
        """Save the draft locally and to the Drafts folder now."""
        self._save(to_server=True)

    def _save(self, *, to_server: bool) -> bool:
        draft = self._draft_for_saving()
        if draft is None:
            return False
        self._dirty = False
        self.service.save_draft(draft, self.slot, to_server=to_server)
        return True

    @Slot()
    def discard(self) -> None:
        """Throw the draft away, locally and in the Drafts folder, and close."""
        if self._finished:
            return
        self._finished = True
        self.autosave_timer.stop()
        self.service.discard_draft(self.slot, self.draft.account)
        self.close()

    @Slot()
    def choose_attachments(self) -> None:
        names, _filter = QFileDialog.getOpenFileNames(self, self.tr("Attach files"))
        if names:
            self.attachments.add([Path(name) for name in names])

    @Slot()
    def choose_command(self) -> None:
        """Open a palette over the composer's commands."""
        items = []
        for name in self.handlers():
            command = COMMANDS_BY_NAME[name]
            if name == "command-palette":
                continue
            keys = ", ".join(display_text(key) for key in self.keymap.keys_of("composer", name))
            title = translated(command.text)
            items.append(PaletteItem("command", title, translated(command.description), keys, name, f"{title} {name}"))
        self.command_picker = CommandPalette(self)
        self.command_picker.item_chosen.connect(self._on_command_picker_item_chosen)
        self.command_picker.show_items(items, kinds=("command",))
        self.command_picker.field.setPlaceholderText(self.tr("Type a command"))

    @Slot(object)
    def _on_command_picker_item_chosen(self, item: PaletteItem) -> None:
        self.run_command(str(item.target))

    @Slot()
    def choose_snippet(self) -> None:
        """Open a picker over the snippets; the chosen one goes in at the cursor."""
        snippets = list_snippets(self.service.snippets_dir)
        if not snippets:
            self.show_message(self.tr("No snippets yet. Put text files in %1; each file is one snippet.")
                              .replace("%1", str(self.service.snippets_dir)))
            return
        items = [PaletteItem("snippet", snippet.name, snippet.text.strip().splitlines()[0] if snippet.text.strip() else
                             "", "", snippet.name, f"{snippet.name} {snippet.text[:200]}") for snippet in snippets]
        self.snippet_picker = CommandPalette(self)
        self.snippet_picker.item_chosen.connect(self._on_snippet_picker_item_chosen)
        self.snippet_picker.show_items(items, kinds=("snippet",))
        self.snippet_picker.field.setPlaceholderText(self.tr("Type a snippet name"))

    @Slot(object)
    def _on_snippet_picker_item_chosen(self, item: PaletteItem) -> None:
        text = self._render_snippet(str(item.target))
        if text is not None:
            self.body.insertPlainText(text)
            self.body.setFocus()

    @Slot(str)
    def _on_body_snippet_requested(self, name: str) -> None:
        text = self._render_snippet(name)
        if text is not None:
            self.body.replace_trigger(name, text)

    def _render_snippet(self, name: str) -> str | None:
        try:
            values = snippet_values(self.current_draft())
        except BuildError:
            values = snippet_values(self.draft)
        try:
            return render_snippet(self.service.snippets_dir, name, values)
        except SnippetError as error:
            self.show_message(str(error), error=True)
            return None

    # --- changes and autosave ---------------------------------------------------------------

    @Slot()
    def _on_changed(self, *_args: object) -> None:
        if self._finished:
            return
        self._dirty = True
        if not self.autosave_timer.isActive():
            self.autosave_timer.start(self.autosave_ms)

    @Slot()
    def _on_autosave_timer_timeout(self) -> None:
        if self._finished or not self._dirty:
            return
        due = time.time() - self.slot.server_saved >= self.server_save_seconds
        self._save(to_server=due)

    @Slot(str)
    def _on_subject_field_text_changed(self, _text: str) -> None:
        self._update_title()

    def _update_title(self) -> None:
        subject = self.subject_field.text().strip()
        self.setWindowTitle(subject or self.tr("New message"))

    @Slot(int)
    def _on_from_box_current_index_changed(self, _index: int) -> None:
        data = self.from_box.currentData()
        if not data:
            return
        account = self.service.config.accounts.get(data[0])
        new = account.signature.strip("\n") if account is not None else ""
        text = self.body.toPlainText()
        if self._signature and self._signature in text:
            text = text.replace(self._signature, new, 1) if new else _without_signature(text, self._signature)
            self.body.setPlainText(text)
        elif new and new not in text and self._signature == "" and not self._dirty:
            self.body.setPlainText(_with_signature(text, new))
        self._signature = new
        self._on_changed()

    @Slot(bool)
    def _on_preview_box_toggled(self, on: bool) -> None:
        if on:
            text = self.body.toPlainText()
            if self.markdown_box.isChecked():
                self.preview.setHtml(render_markdown(text))
            else:
                self.preview.setPlainText(text)
        self.body_pages.setCurrentWidget(self.preview if on else self.body)

    # --- results of the service -----------------------------------------------------------

    @Slot(object, str)
    def _on_service_draft_saved(self, slot: DraftSlot, error: str) -> None:
        if slot is not self.slot:
            return
        if error:
            self.show_message(self.tr("Draft saved on this computer only: %1").replace("%1", error), error=True)
        else:
            self.show_message(self.tr("Draft saved at %1").replace("%1", time.strftime("%H:%M:%S")))

    @Slot(object, object)
    def _on_service_queued(self, slot: DraftSlot, entry) -> None:  # noqa: ANN001 - an OutboxEntry
        if slot is not self.slot:
            return
        self._finished = True
        self.sent.emit(entry)
        self.close()

    @Slot(object, str)
    def _on_service_queue_failed(self, slot: DraftSlot, error: str) -> None:
        if slot is not self.slot:
            return
        self._set_busy(False)
        self.show_message(error, error=True)

    @Slot(object)
    def _on_service_discarded(self, slot: DraftSlot) -> None:
        if slot is self.slot:
            log.info("Discarded draft %s", slot.draft_id)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.send_button, self.send_later_button, self.discard_button):
            widget.setEnabled(not busy)
        if busy:
            self.show_message(self.tr("Putting the message in the outbox…"))

    # --- drops and closing ------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's method name
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's method name
        files = dropped_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.attachments.add(files)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's method name
        if not self._finished:
            if self._dirty or self.slot.draft_id is not None:
                if not self._save(to_server=True):
                    answer = QMessageBox.question(
                        self, self.tr("Close the message?"),
                        self.tr("The draft cannot be saved: %1\nClose and lose the changes?")
                        .replace("%1", self.message_label.text()))
                    if answer != QMessageBox.StandardButton.Yes:
                        event.ignore()
                        return
                else:
                    self.closed_with_draft.emit(self.tr("Draft saved; Go to Drafts (g d) shows it."))
            self._finished = True
        self.autosave_timer.stop()
        if self._connected:
            self._connected = False
            self._disconnect_service()
            self.closed.emit()
        super().closeEvent(event)

    def _disconnect_service(self) -> None:
        self.key_dispatcher.detach()
        for signal, slot in ((self.service.draft_saved, self._on_service_draft_saved),
                             (self.service.queued, self._on_service_queued),
                             (self.service.queue_failed, self._on_service_queue_failed),
                             (self.service.discarded, self._on_service_discarded)):
            signal.disconnect(slot)


def _with_signature(body: str, signature: str) -> str:
    """Put the signature after the text the user writes: before a quote, else at the end."""
    block = f"\n\n{SIGNATURE_SEPARATOR}\n{signature}\n"
    if body.startswith("\n\n"):
        # A reply or forward: writing starts on the first line, the quote follows the signature.
        return block + body
    return body.rstrip("\n") + block


def _without_signature(body: str, signature: str) -> str:
    block = f"\n\n{SIGNATURE_SEPARATOR}\n{signature}\n"
    return body.replace(block, "", 1) if block in body else body.replace(signature, "", 1)
