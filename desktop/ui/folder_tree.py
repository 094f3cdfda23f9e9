"""The folder tree: one node per account, folders nested by their delimiter.

Each account node also shows what the account is doing (syncing, watching,
offline...), drawn by ``FolderTreeDelegate`` after the name in a muted colour,
with the reason in the tooltip.

Two kinds of views come with the accounts. With two or more accounts, a
"Unified inbox" node at the top lists the INBOX of every account. Saved
searches (``desktop.views``) are virtual folders under a "Saved searches"
node at the bottom, shown while there is at least one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from desktop.store import FolderRow
from desktop.ui.account_state import AccountState
from desktop.views import SavedSearch, inbox_folder_ids

log = logging.getLogger(__name__)

FOLDER_IDS_ROLE = Qt.ItemDataRole.UserRole + 1
NODE_KEY_ROLE = Qt.ItemDataRole.UserRole + 2
NAME_ROLE = Qt.ItemDataRole.UserRole + 3
# The account a node belongs to, on every node.
ACCOUNT_ROLE = Qt.ItemDataRole.UserRole + 4
# The FolderRow of a folder node, or None on account and path nodes.
FOLDER_ROW_ROLE = Qt.ItemDataRole.UserRole + 5
# The AccountState of an account node, or None until a sync or watch reports one.
STATE_ROLE = Qt.ItemDataRole.UserRole + 6
# The SavedSearch of a saved search's node, or None on other nodes.
SAVED_SEARCH_ROLE = Qt.ItemDataRole.UserRole + 7

UNIFIED_INBOX_KEY = ("unified",)
SAVED_SEARCHES_KEY = ("saved-searches",)


def saved_search_key(name: str) -> tuple[str, str]:
    """Return the ``NODE_KEY_ROLE`` of a saved search's node."""
    return ("saved", name)


# Roles (RFC 6154 special-use, plus INBOX) that the folder commands leave alone.
SPECIAL_FOLDERS = {"\\Inbox", "\\Sent", "\\Trash", "\\Drafts", "\\Junk", "\\Archive", "\\All", "\\Flagged"}
_STATE_COLOURS = {"offline": "#b3541e", "error": "#c0392b"}
_MUTED_COLOUR = "#5b6470"


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
        self._states: dict[str, AccountState] = {}
        self._unified_item: QStandardItem | None = None
        self._inbox_ids: list[int] = []
        self._saved_searches: list[SavedSearch] = []

    def set_folders(self, folders: Sequence[FolderRow], accounts: Iterable[str] = ()) -> None:
        """Rebuild the tree from ``folders``, as returned by ``Store.folders()``.

        Args:
            folders: The folders to show, grouped under their accounts.
            accounts: Accounts to show even without stored folders, such as
                one whose server was never reached.
        """
        self.removeRows(0, self.rowCount())
        self._folder_items.clear()
        self._account_items.clear()
        self._unified_item = None
        for account, rows in _by_account(folders, accounts):
            account_item = self._new_item(account, ("account", account), account)
            account_item.setData([row.id for row in rows], FOLDER_IDS_ROLE)
            self._account_items[account] = account_item
            self.appendRow(account_item)
            self._add_folders(account_item, account, rows)
            self._show_state(account)
        self._inbox_ids = inbox_folder_ids(folders)
        if len(self._inbox_ids) >= 2:
            self._add_unified_inbox(folders)
        self._add_saved_searches()
        self.update_counts(folders)

    def set_saved_searches(self, searches: Sequence[SavedSearch]) -> None:
        """Show ``searches`` under the "Saved searches" node, in their order; no node without any."""
        self._saved_searches = list(searches)
        section = self.index_of_key(SAVED_SEARCHES_KEY)
        if section.isValid():
            self.removeRow(section.row())
        self._add_saved_searches()

    def saved_searches(self) -> list[SavedSearch]:
        return list(self._saved_searches)

    def inbox_ids(self) -> list[int]:
        """Return the folder id of each account's INBOX, as of the last ``set_folders``."""
        return list(self._inbox_ids)

    def unified_inbox_index(self) -> QModelIndex:
        """Return the unified inbox's node, or an invalid index while fewer than two accounts have an INBOX."""
        return self._unified_item.index() if self._unified_item is not None else QModelIndex()

    def _add_unified_inbox(self, folders: Sequence[FolderRow]) -> None:
        item = self._new_item(self.tr("Unified inbox"), UNIFIED_INBOX_KEY, "")
        item.setData(list(self._inbox_ids), FOLDER_IDS_ROLE)
        accounts = sorted({row.account for row in folders if row.id in self._inbox_ids})
        item.setToolTip(self.tr("The INBOX of every account: %1").replace("%1", ", ".join(accounts)))
        self.insertRow(0, item)
        self._unified_item = item

    def _add_saved_searches(self) -> None:
        if not self._saved_searches:
            return
        section = self._new_item(self.tr("Saved searches"), SAVED_SEARCHES_KEY, "")
        section.setData([], FOLDER_IDS_ROLE)
        section.setForeground(Qt.GlobalColor.gray)
        section.setToolTip(self.tr("Searches kept in searches.toml of the profile; each lists its matches in every account"))
        for search in self._saved_searches:
            item = self._new_item(search.name, saved_search_key(search.name), "")
            item.setData([], FOLDER_IDS_ROLE)
            item.setData(search, SAVED_SEARCH_ROLE)
            lane = self.tr(" (also a lane of the split inbox)") if search.lane else ""
            item.setToolTip(self.tr("Saved search: %1").replace("%1", search.query) + lane)
            section.appendRow(item)
        self.appendRow(section)

    def accounts(self) -> list[str]:
        return list(self._account_items)

    def set_account_state(self, account: str, state: AccountState) -> None:
        """Remember ``state`` for ``account`` and show it on its node, now and after rebuilds."""
        self._states[account] = state
        self._show_state(account)

    def account_state(self, account: str) -> AccountState | None:
        return self._states.get(account)

    def index_of_key(self, key: object) -> QModelIndex:
        """Return the node whose ``NODE_KEY_ROLE`` equals ``key``, or an invalid index.

        The keys are Python tuples, which ``match()`` cannot compare by value,
        so the tree is walked here.
        """
        pending = [self.item(row) for row in range(self.rowCount())]
        while pending:
            item = pending.pop()
            if item.data(NODE_KEY_ROLE) == key:
                return item.index()
            pending.extend(item.child(row) for row in range(item.rowCount()))
        return QModelIndex()

    def account_index(self, account: str) -> QModelIndex:
        item = self._account_items.get(account)
        return item.index() if item is not None else QModelIndex()

    def _show_state(self, account: str) -> None:
        item = self._account_items.get(account)
        if item is None:
            return
        state = self._states.get(account)
        item.setData(state, STATE_ROLE)
        if state is None:
            item.setToolTip(account)
            return
        item.setToolTip(f"{account}: {state.label()}\n{state.reason}" if state.reason else f"{account}: {state.label()}")

    def folder_ids(self) -> set[int]:
        return set(self._folder_items)

    def update_counts(self, folders: Iterable[FolderRow]) -> None:
        """Relabel each folder and account with its unread count."""
        unread_by_account: dict[str, int] = {}
        unread_in_inboxes = 0
        for row in folders:
            unread_by_account[row.account] = unread_by_account.get(row.account, 0) + row.unread
            if row.id in self._inbox_ids:
                unread_in_inboxes += row.unread
            item = self._folder_items.get(row.id)
            if item is not None:
                _label(item, row.unread)
        for account, item in self._account_items.items():
            _label(item, unread_by_account.get(account, 0))
        if self._unified_item is not None:
            _label(self._unified_item, unread_in_inboxes)

    def _add_folders(self, account_item: QStandardItem, account: str, rows: Sequence[FolderRow]) -> None:
        nodes: dict[str, QStandardItem] = {}
        for row in sorted(rows, key=_sort_key):
            parts = row.name.split(row.delimiter) if row.delimiter else [row.name]
            parent = account_item
            for depth, part in enumerate(parts):
                path = (row.delimiter or "").join(parts[: depth + 1])
                node = nodes.get(path)
                if node is None:
                    node = self._new_item(part, ("path", account, path), account)
                    node.setData([], FOLDER_IDS_ROLE)
                    node.setForeground(Qt.GlobalColor.gray)
                    parent.appendRow(node)
                    nodes[path] = node
                parent = node
            self._make_folder(parent, row)

    def _make_folder(self, item: QStandardItem, row: FolderRow) -> None:
        item.setData(("folder", row.id), NODE_KEY_ROLE)
        item.setData([row.id] if row.selectable else [], FOLDER_IDS_ROLE)
        item.setData(row, FOLDER_ROW_ROLE)
        item.setData(None, Qt.ItemDataRole.ForegroundRole)
        item.setToolTip(self.tr("%n message(s)", "", row.total))
        self._folder_items[row.id] = item

    def _new_item(self, name: str, key: tuple, account: str) -> QStandardItem:
        item = QStandardItem(name)
        item.setEditable(False)
        item.setData(name, NAME_ROLE)
        item.setData(key, NODE_KEY_ROLE)
        item.setData(account, ACCOUNT_ROLE)
        return item


def is_special(row: FolderRow) -> bool:
    """Return whether ``row`` is INBOX or a special-use folder (Sent, Trash...), which the folder commands keep."""
    return row.name.upper() == "INBOX" or any(flag in SPECIAL_FOLDERS for flag in row.special_use.split())


class FolderTreeDelegate(QStyledItemDelegate):
    """Draws an account's state after its name, right-aligned and muted; red when it failed."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        state = index.data(STATE_ROLE)
        if not isinstance(state, AccountState):
            super().paint(painter, option, index)
            return
        label = state.label()
        width = option.fontMetrics.horizontalAdvance(label) + 8
        # The name gets the room left of the state, so a long name is elided, not overdrawn.
        name_option = QStyleOptionViewItem(option)
        name_option.rect = QRect(option.rect.left(), option.rect.top(), max(0, option.rect.width() - width), option.rect.height())
        super().paint(painter, name_option, index)
        painter.save()
        painter.setPen(QColor(_STATE_COLOURS.get(state.kind, _MUTED_COLOUR)))
        font = QFont(option.font)
        font.setBold(False)
        painter.setFont(font)
        state_rect = QRect(option.rect.right() - width, option.rect.top(), width - 4, option.rect.height())
        painter.drawText(state_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex):  # noqa: N802 - Qt's method name
        hint = super().sizeHint(option, index)
        state = index.data(STATE_ROLE)
        if isinstance(state, AccountState):
            hint.setWidth(hint.width() + option.fontMetrics.horizontalAdvance(state.label()) + 12)
        return hint


def _by_account(folders: Iterable[FolderRow], accounts: Iterable[str] = ()) -> list[tuple[str, list[FolderRow]]]:
    grouped: dict[str, list[FolderRow]] = {name: [] for name in accounts}
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
