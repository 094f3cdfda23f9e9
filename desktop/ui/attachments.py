"""The reader's attachment row: the list of attachments with Open, Save and Save all.

Open writes the attachment, read-only, into a private temporary folder
(mode 0700) and hands it to the desktop's default application. Save and Save
all offer the sanitised file name (``desktop.mail.attachments``). Before Save
replaces a file, the file dialog requests confirmation. Save all never replaces
one and numbers the copies instead.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from functools import partial
from pathlib import Path

from PySide6.QtCore import QLocale, QStandardPaths, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.mail.attachments import safe_file_name, save_all, save_attachment, unique_path, write_new_file
from desktop.mail.parse import Attachment
from desktop.ui.icons import attachment_icon

log = logging.getLogger(__name__)

MAX_ATTACHMENT_ROWS = 4


class AttachmentBar(QWidget):
    """Lists a message's attachments and opens or saves them.

    Attributes:
        list: One row per attachment, with its name and size.
        save_dialog: The file dialog of the last Save or Save all, while open.

    Signals:
        status_message(str, bool): a result for the user; True for an error.
    """

    status_message = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachmentBar")
        self._parts: list[Attachment] = []
        self._open_folder: Path | None = None
        self.save_dialog: QFileDialog | None = None
        self._init_widgets()
        self._init_layout()
        self._connect_signals()

    def _init_widgets(self) -> None:
        self.list = QListWidget(objectName="attachmentList")
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.open_button = QPushButton(self.tr("Open"), objectName="openAttachmentButton")
        self.save_button = QPushButton(self.tr("Save…"), objectName="saveAttachmentButton")
        self.save_all_button = QPushButton(self.tr("Save all…"), objectName="saveAllAttachmentsButton")

    def _init_layout(self) -> None:
        buttons = QVBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.open_button, self.save_button, self.save_all_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def _connect_signals(self) -> None:
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.save_all_button.clicked.connect(self._on_save_all_button_clicked)
        self.list.itemActivated.connect(self._on_list_item_activated)

    def set_attachments(self, parts: list[Attachment]) -> None:
        """List ``parts``; the row hides itself when there are none."""
        self._parts = list(parts)
        self.list.clear()
        locale = QLocale()
        for part in self._parts:
            text = f"{part.filename}  ({locale.formattedDataSize(part.size, 0)})"
            self.list.addItem(QListWidgetItem(attachment_icon(), text))
        self.setVisible(bool(self._parts))
        if self._parts:
            self.list.setCurrentRow(0)
            # As tall as its rows, up to MAX_ATTACHMENT_ROWS, then it scrolls.
            rows = min(len(self._parts), MAX_ATTACHMENT_ROWS)
            frame = 2 * self.list.frameWidth() + 8
            self.list.setFixedHeight(rows * self.list.sizeHintForRow(0) + frame)
        self.save_all_button.setEnabled(len(self._parts) > 1)

    def attachments(self) -> list[Attachment]:
        return list(self._parts)

    def _current(self) -> Attachment | None:
        row = self.list.currentRow()
        return self._parts[row] if 0 <= row < len(self._parts) else None

    # --- open ----------------------------------------------------------------------

    def open_attachment(self, part: Attachment) -> Path | None:
        """Write ``part`` into the private folder and open it with the desktop's application; return its path."""
        try:
            folder = self._private_folder()
            path = unique_path(folder, safe_file_name(part.filename))
            write_new_file(path, part.payload, mode=0o400)
        except OSError as error:
            log.error("Could not write attachment %r for opening: %s", part.filename, error)
            self.status_message.emit(self.tr("Could not open %1: %2").replace("%1", part.filename).replace("%2", str(error)), True)
            return None
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            log.warning("No application opened %s", path)
            self.status_message.emit(self.tr("No application could open %1. It is saved as %2.")
                                     .replace("%1", part.filename).replace("%2", str(path)), True)
            return path
        self.status_message.emit(self.tr("Opened %1").replace("%1", part.filename), False)
        return path

    def _private_folder(self) -> Path:
        if self._open_folder is None or not self._open_folder.is_dir():
            self._open_folder = Path(tempfile.mkdtemp(prefix="sluice-attachments-"))
            log.debug("Created the folder for opened attachments: %s", self._open_folder)
        return self._open_folder

    def remove_opened_files(self) -> None:
        """Delete the private folder of opened attachments, as the window closes."""
        if self._open_folder is None:
            return
        # NOTE: an application still showing an opened attachment keeps its
        # own copy in memory; one that reads the file again later finds it gone.
        shutil.rmtree(self._open_folder, ignore_errors=True)
        log.debug("Removed the folder for opened attachments: %s", self._open_folder)
        self._open_folder = None

    @Slot()
    def _on_open_button_clicked(self) -> None:
        part = self._current()
        if part is not None:
            self.open_attachment(part)

    @Slot(QListWidgetItem)
    def _on_list_item_activated(self, _item: QListWidgetItem) -> None:
        self._on_open_button_clicked()

    # --- save ------------------------------------------------------------------------

    def save_to(self, part: Attachment, path: Path, *, overwrite: bool) -> bool:
        """Write ``part`` to ``path``; return whether it worked. The user hears of the result."""
        try:
            save_attachment(part.payload, path, overwrite=overwrite)
        except OSError as error:
            log.error("Could not save attachment %r to %s: %s", part.filename, path, error)
            self.status_message.emit(self.tr("Could not save %1: %2").replace("%1", part.filename).replace("%2", str(error)), True)
            return False
        self.status_message.emit(self.tr("Saved %1").replace("%1", str(path)), False)
        return True

    def save_all_to(self, folder: Path) -> list[Path]:
        """Write every attachment into ``folder`` without replacing a file; return the paths written."""
        try:
            paths = save_all([(part.filename, part.payload) for part in self._parts], folder)
        except OSError as error:
            log.error("Could not save the attachments to %s: %s", folder, error)
            self.status_message.emit(self.tr("Could not save the attachments: %1").replace("%1", str(error)), True)
            return []
        self.status_message.emit(self.tr("Saved %n attachment(s) to %1", "", len(paths)).replace("%1", str(folder)), False)
        return paths

    @Slot()
    def _on_save_button_clicked(self) -> None:
        part = self._current()
        if part is None:
            return
        dialog = self._new_dialog(self.tr("Save attachment"))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.selectFile(safe_file_name(part.filename))
        dialog.fileSelected.connect(partial(self._on_save_file_selected, part))
        dialog.open()

    def _on_save_file_selected(self, part: Attachment, name: str) -> None:
        # The dialog asked before replacing an existing file, so the save may replace it.
        self.save_to(part, Path(name), overwrite=True)

    @Slot()
    def _on_save_all_button_clicked(self) -> None:
        if not self._parts:
            return
        dialog = self._new_dialog(self.tr("Save all attachments into"))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self._on_save_all_folder_selected)
        dialog.open()

    @Slot(str)
    def _on_save_all_folder_selected(self, name: str) -> None:
        self.save_all_to(Path(name))

    def _new_dialog(self, title: str) -> QFileDialog:
        if self.save_dialog is not None:
            self.save_dialog.close()
            self.save_dialog.deleteLater()
        dialog = QFileDialog(self, title)
        # Qt's own dialog behaves the same on every desktop, and confirms before replacing a file.
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setDirectory(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation))
        self.save_dialog = dialog
        return dialog
