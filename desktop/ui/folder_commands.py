"""New, Rename and Delete folder, from the Folder menu and the folder tree's context menu.

The commands ask for a name or a confirmation in a dialog, then run the
server command and the store change from ``desktop.sync.folders`` on a
worker thread, because they open an IMAP connection. INBOX and special-use
folders (Sent, Trash...) keep their names: those commands are disabled on
them, with a tooltip that explains why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMenu, QMessageBox, QTreeView, QWidget

from desktop.config import ConfigError
from desktop.paths import Profile
from desktop.store import FolderRow, StoreError
from desktop.sync.errors import SyncError
from desktop.sync.folders import FolderError, create_folder, delete_folder, rename_folder
from desktop.sync.service import CancelToken
from desktop.ui.folder_tree import ACCOUNT_ROLE, FOLDER_ROW_ROLE, NODE_KEY_ROLE, is_special
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

_EXPECTED_ERRORS = (FolderError, SyncError, ConfigError, StoreError)


def _folder_steps(command: Callable[[], object], cancel: CancelToken) -> Iterator[object]:
    # One server command cannot be stopped halfway, so the job ignores the token.
    yield command()


class FolderCommands(QObject):
    """The three folder actions over the window's folder tree.

    Attributes:
        new_action, rename_action, delete_action: The actions, for menus.

    Signals:
        folder_started(str): a command began; a message for the status bar.
        folder_changed(str, str): a command succeeded; the account and the
            folder's name afterwards (empty after a delete).
        folder_failed(str): a command failed; the message for the user,
            with the server's reason when the server refused.
    """

    folder_started = Signal(str)
    folder_changed = Signal(str, str)
    folder_failed = Signal(str)

    def __init__(self, profile: Profile, tree: QTreeView, jobs: JobSet, parent: QWidget) -> None:
        super().__init__(parent)
        self._profile = profile
        self._tree = tree
        self._jobs = jobs
        self._dialog_parent = parent
        self._running: BackgroundJob | None = None
        self._failed = False
        self.new_action = QAction(self.tr("&New Folder…"), self, objectName="new-folder")
        self.rename_action = QAction(self.tr("&Rename Folder…"), self, objectName="rename-folder")
        self.delete_action = QAction(self.tr("&Delete Folder…"), self, objectName="delete-folder")
        self.new_action.triggered.connect(self._on_new_action_triggered)
        self.rename_action.triggered.connect(self._on_rename_action_triggered)
        self.delete_action.triggered.connect(self._on_delete_action_triggered)
        self._tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._tree.customContextMenuRequested.connect(self._on_tree_context_menu_requested)
        self.update_actions()

    def actions(self) -> list[QAction]:
        return [self.new_action, self.rename_action, self.delete_action]

    def is_running(self) -> bool:
        return self._running is not None

    def update_actions(self) -> None:
        """Enable the actions that apply to the current node, and explain in each tooltip why one is off."""
        index = self._tree.currentIndex()
        account = index.data(ACCOUNT_ROLE) if index.isValid() else None
        row = index.data(FOLDER_ROW_ROLE) if index.isValid() else None
        is_account = index.isValid() and (index.data(NODE_KEY_ROLE) or ("",))[0] == "account"
        busy = self._running is not None
        self.new_action.setEnabled(not busy and bool(account) and (is_account or row is not None))
        self.new_action.setToolTip(self._new_tooltip(account, row, is_account))
        reason = self._keep_reason(row, busy)
        for action in (self.rename_action, self.delete_action):
            action.setEnabled(not reason)
            action.setToolTip(reason or action.text().replace("&", "").rstrip("…"))

    def _new_tooltip(self, account: str | None, row: FolderRow | None, is_account: bool) -> str:
        if row is not None:
            return self.tr("Create a folder inside %1").replace("%1", row.name)
        if is_account and account:
            return self.tr("Create a folder in account %1").replace("%1", account)
        return self.tr("Choose an account or a folder to create a folder in")

    def _keep_reason(self, row: FolderRow | None, busy: bool) -> str:
        """Return why the current node cannot be renamed or deleted, or "" when it can."""
        if busy:
            return self.tr("A folder command is running; wait for it to finish")
        if row is None:
            return self.tr("Choose a folder first; accounts and path parts are not folders of their own")
        if is_special(row):
            return self.tr("%1 is a special folder; the mail client and the server rely on its name").replace("%1", row.name)
        return ""

    # --- the three commands -------------------------------------------------------

    @Slot()
    def _on_new_action_triggered(self) -> None:
        index = self._tree.currentIndex()
        account = index.data(ACCOUNT_ROLE) if index.isValid() else None
        if not account or not self.new_action.isEnabled():
            return
        parent_row: FolderRow | None = index.data(FOLDER_ROW_ROLE)
        where = parent_row.name if parent_row else account
        label = self.tr("Name of the new folder in %1:").replace("%1", where)
        leaf, accepted = QInputDialog.getText(self._dialog_parent, self.tr("New Folder"), label, QLineEdit.EchoMode.Normal, "")
        leaf = leaf.strip()
        if not accepted or not leaf:
            return
        name = f"{parent_row.name}{parent_row.delimiter or '/'}{leaf}" if parent_row else leaf
        self._run(partial(create_folder, self._profile, account, name), account, name,
                  self.tr("Creating folder %1…").replace("%1", name))

    @Slot()
    def _on_rename_action_triggered(self) -> None:
        row = self._current_row()
        if row is None or not self.rename_action.isEnabled():
            return
        parent, delimiter, leaf = _split(row)
        label = self.tr("New name for folder %1:").replace("%1", row.name)
        new_leaf, accepted = QInputDialog.getText(self._dialog_parent, self.tr("Rename Folder"), label, QLineEdit.EchoMode.Normal, leaf)
        new_leaf = new_leaf.strip()
        if not accepted or not new_leaf or new_leaf == leaf:
            return
        new_name = f"{parent}{delimiter}{new_leaf}" if parent else new_leaf
        self._run(partial(rename_folder, self._profile, row.account, row.name, new_name), row.account, new_name,
                  self.tr("Renaming folder %1 to %2…").replace("%1", row.name).replace("%2", new_name))

    @Slot()
    def _on_delete_action_triggered(self) -> None:
        row = self._current_row()
        if row is None or not self.delete_action.isEnabled():
            return
        question = self.tr("Delete folder %1 of account %2 with its %n message(s)?\n\n"
                           "It is deleted on the server too, and this cannot be undone.", "", row.total)
        question = question.replace("%1", row.name).replace("%2", row.account)
        answer = QMessageBox.question(self._dialog_parent, self.tr("Delete Folder"), question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._run(partial(delete_folder, self._profile, row.account, row.name), row.account, "",
                  self.tr("Deleting folder %1…").replace("%1", row.name))

    def _current_row(self) -> FolderRow | None:
        index = self._tree.currentIndex()
        return index.data(FOLDER_ROW_ROLE) if index.isValid() else None

    def _run(self, command: Callable[[], object], account: str, result_name: str, message: str) -> None:
        job = BackgroundJob(partial(_folder_steps, command), expected_errors=_EXPECTED_ERRORS, name="folder")
        job.failed.connect(self._on_job_failed)
        job.finished.connect(partial(self._on_job_finished, job, account, result_name))
        self._running = job
        self._failed = False
        self.update_actions()
        log.info("Folder command started for account %s", account)
        self.folder_started.emit(message)
        self._jobs.start(job)

    @Slot(str)
    def _on_job_failed(self, message: str) -> None:
        self._failed = True
        log.warning("Folder command failed: %s", message)
        self.folder_failed.emit(message)

    def _on_job_finished(self, job: BackgroundJob, account: str, result_name: str) -> None:
        if job is self._running:
            self._running = None
        self.update_actions()
        if not self._failed:
            self.folder_changed.emit(account, result_name)

    # --- context menu -------------------------------------------------------------

    def context_menu_at(self, point: QPoint) -> QMenu | None:
        """Make the node at ``point`` (viewport coordinates) current and return its menu, or None off the nodes."""
        index: QModelIndex = self._tree.indexAt(point)
        if not index.isValid():
            return None
        self._tree.setCurrentIndex(index)
        self.update_actions()
        menu = QMenu(self._tree)
        menu.setToolTipsVisible(True)
        menu.addActions(self.actions())
        return menu

    @Slot(QPoint)
    def _on_tree_context_menu_requested(self, point: QPoint) -> None:
        run_tree_menu(self._tree, self.context_menu_at(point), point)


def run_tree_menu(tree: QTreeView, menu: QMenu | None, point: QPoint) -> None:
    """Show ``menu`` at ``point`` (viewport coordinates of ``tree``) until it closes, then delete it. None shows nothing."""
    if menu is None:
        return
    menu.exec(tree.viewport().mapToGlobal(point))
    menu.deleteLater()


def _split(row: FolderRow) -> tuple[str, str, str]:
    """Return the parent path, the delimiter and the last part of the folder's name."""
    delimiter = row.delimiter or ""
    if not delimiter or delimiter not in row.name:
        return "", delimiter, row.name
    parent, _sep, leaf = row.name.rpartition(delimiter)
    return parent, delimiter, leaf
