"""The folder tree: one node per account, folders nested by their delimiter."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel

from desktop.store import FolderRow

log = logging.getLogger(__name__)

FOLDER_IDS_ROLE = Qt.ItemDataRole.UserRole + 1
NODE_KEY_ROLE = Qt.ItemDataRole.UserRole + 2
NAME_ROLE = Qt.ItemDataRole.UserRole + 3


class FolderTreeModel(QStandardItemModel):
    """Accounts and their folders, each labelled with its unread count.

    Every item stores the ids of the folders whose messages it lists in
    ``FOLDER_IDS_ROLE``: a folder lists itself, an account lists all its
    folders, and a path part that is no folder of its own lists none. A
    stable key in ``NODE_KEY_ROLE`` lets the window find a node again after
    the tree is rebuilt.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeaderLabels([self.tr("Folders")])
        self._folder_items: dict[int, QStandardItem] = {}
        self._account_items: dict[str, QStandardItem] = {}

    def set_folders(self, folders: Sequence[FolderRow]) -> None:
        """Rebuild the tree from ``folders``, as returned by ``Store.folders()``."""
        self.removeRows(0, self.rowCount())
        self._folder_items.clear()
        self._account_items.clear()
        for account, rows in _by_account(folders):
            account_item = self._new_item(account, ("account", account))
            account_item.setData([row.id for row in rows], FOLDER_IDS_ROLE)
            self._account_items[account] = account_item
            self.appendRow(account_item)
            self._add_folders(account_item, account, rows)
        self.update_counts(folders)

    def folder_ids(self) -> set[int]:
        return set(self._folder_items)

    def update_counts(self, folders: Iterable[FolderRow]) -> None:
        """Relabel each folder and account with its unread count."""
        unread_by_account: dict[str, int] = {}
        for row in folders:
            unread_by_account[row.account] = unread_by_account.get(row.account, 0) + row.unread
            item = self._folder_items.get(row.id)
            if item is not None:
                _label(item, row.unread)
        for account, item in self._account_items.items():
            _label(item, unread_by_account.get(account, 0))

    def _add_folders(self, account_item: QStandardItem, account: str, rows: Sequence[FolderRow]) -> None:
        nodes: dict[str, QStandardItem] = {}
        for row in sorted(rows, key=_sort_key):
            parts = row.name.split(row.delimiter) if row.delimiter else [row.name]
            parent = account_item
            for depth, part in enumerate(parts):
                path = (row.delimiter or "").join(parts[: depth + 1])
                node = nodes.get(path)
                if node is None:
                    node = self._new_item(part, ("path", account, path))
                    node.setData([], FOLDER_IDS_ROLE)
                    node.setForeground(Qt.GlobalColor.gray)
                    parent.appendRow(node)
                    nodes[path] = node
                parent = node
            self._make_folder(parent, row)

    def _make_folder(self, item: QStandardItem, row: FolderRow) -> None:
        item.setData(("folder", row.id), NODE_KEY_ROLE)
        item.setData([row.id] if row.selectable else [], FOLDER_IDS_ROLE)
        item.setData(None, Qt.ItemDataRole.ForegroundRole)
        item.setToolTip(self.tr("%n message(s)", "", row.total))
        self._folder_items[row.id] = item

    def _new_item(self, name: str, key: tuple) -> QStandardItem:
        item = QStandardItem(name)
        item.setEditable(False)
        item.setData(name, NAME_ROLE)
        item.setData(key, NODE_KEY_ROLE)
        return item


def _by_account(folders: Iterable[FolderRow]) -> list[tuple[str, list[FolderRow]]]:
    grouped: dict[str, list[FolderRow]] = {}
    for row in folders:
        grouped.setdefault(row.account, []).append(row)
    return sorted(grouped.items())


def _sort_key(row: FolderRow) -> tuple[int, str]:
    # INBOX first, as every mail client shows it; then the rest by name.
    return (0 if row.name.upper() == "INBOX" else 1, row.name.casefold())


def _label(item: QStandardItem, unread: int) -> None:
    name = item.data(NAME_ROLE)
    item.setText(f"{name} ({unread})" if unread else name)
    font = QFont(item.font())
    font.setBold(unread > 0)
    item.setFont(font)
