"""Item models of the merge composer: the check report's problems, grouped, and the final send report."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from desktop.merge.check import Problem
from desktop.merge.journal import RecipientRecord

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex
_Item = TypeVar("_Item")
# The internal id of a top-level index in ProblemModel; a child's internal id is its group's row.
_TOP = 0xFFFFFFFF


class _RowTableModel(QAbstractTableModel, Generic[_Item]):
    """A flat table with one item per row under the column titles ``_titles``. Subclasses implement ``data``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: list[_Item] = []
        self._titles: tuple[str, ...] = ()

    def _set_items(self, items: Sequence[_Item]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def _item_at(self, index: _Index) -> _Item | None:
        """Return the item of ``index``'s row, or None for an invalid index or a row out of range."""
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        return self._items[index.row()]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self._titles)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._titles):
            return self._titles[section]
        return None


@dataclass
class ProblemGroup:
    """Identical problems of several rows, shown as one line as ``merge check`` prints them.

    Attributes:
        problems: The problems of the group, one per row, in row order.
    """

    problems: list[Problem] = field(default_factory=list)

    @property
    def first(self) -> Problem:
        return self.problems[0]

    @property
    def rows(self) -> list[int]:
        return [problem.row for problem in self.problems]


def group_problems(problems: Iterable[Problem]) -> list[ProblemGroup]:
    """Group ``problems`` as ``check.grouped_lines`` does: errors first, then skipped rows, one group per column and message.

    Groups keep the order of their first row, and a row is listed once in its group.
    """
    groups: dict[tuple[bool, str | None, str], ProblemGroup] = {}
    for problem in sorted(problems, key=lambda item: not item.is_error):
        group = groups.setdefault((problem.is_error, problem.column, problem.message), ProblemGroup())
        if not group.problems or group.problems[-1].row != problem.row:
            group.problems.append(problem)
    return list(groups.values())


class ProblemModel(QAbstractItemModel):
    """The problems of a merge check as a tree: one line per group of identical problems, its rows below it.

    Columns: rows, data column, problem. A group of one row has no children.
    ``Qt.UserRole`` returns the data row to preview: the problem's row, or a group's first row.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._groups: list[ProblemGroup] = []
        self._titles = (self.tr("Rows"), self.tr("Column"), self.tr("Problem"))

    def set_problems(self, problems: Sequence[Problem]) -> None:
        self.beginResetModel()
        self._groups = group_problems(problems)
        self.endResetModel()

    def groups(self) -> list[ProblemGroup]:
        return list(self._groups)

    def problem(self, index: _Index) -> Problem | None:
        """Return the problem of ``index``: a child's own, or the first of a group."""
        if not index.isValid():
            return None
        group_number = index.internalId()
        if group_number == _TOP:
            return self._groups[index.row()].first
        return self._groups[group_number].problems[index.row()]

    def is_group(self, index: _Index) -> bool:
        """Return whether ``index`` is a line that represents several rows."""
        return index.isValid() and index.internalId() == _TOP and len(self._groups[index.row()].problems) > 1

    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:  # noqa: B008 - Qt API
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, _TOP)
        return self.createIndex(row, column, parent.row())

    def parent(self, child: _Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008 - Qt API
        if not child.isValid() or child.internalId() == _TOP:
            return QModelIndex()
        return self.createIndex(child.internalId(), 0, _TOP)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() != _TOP or parent.column() != 0:
            return 0
        problems = self._groups[parent.row()].problems
        return len(problems) if len(problems) > 1 else 0

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return len(self._titles)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._titles):
            return self._titles[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        problem = self.problem(index)
        if problem is None:
            return None
        if role == Qt.ItemDataRole.UserRole:
            return problem.row
        group = self._groups[index.row()] if index.internalId() == _TOP else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if group is not None and len(group.problems) > 1:
                return self.tr("{0} rows: {1}").format(len(group.problems), problem.message)
            return problem.describe()
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if index.column() == 0:
            return self.rows_text(group.rows) if group is not None else str(problem.row)
        if index.column() == 1:
            return problem.column or ""
        prefix = "" if problem.is_error else self.tr("skipped: ")
        return prefix + problem.message

    def rows_text(self, rows: list[int], shown: int = 5) -> str:
        """Return rows as ``4`` or ``1-3, 5, 9 and 12 more``: at most ``shown`` runs of consecutive rows, then a count."""
        runs: list[list[int]] = []
        for number in rows:
            if runs and number == runs[-1][1] + 1:
                runs[-1][1] = number
            else:
                runs.append([number, number])
        text = ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in runs[:shown])
        left = sum(last - first + 1 for first, last in runs[shown:])
        return self.tr("{0} and {1} more").format(text, left) if left else text


class ReportModel(_RowTableModel[RecipientRecord]):
    """The journal's recipient rows of one merge: row, address, state, Message-ID, server reply."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._titles = (self.tr("Row"), self.tr("Address"), self.tr("State"), self.tr("Message-ID"),
                        self.tr("Server reply"))

    def set_records(self, records: Sequence[RecipientRecord]) -> None:
        self._set_items(records)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        record = self._item_at(index)
        if record is None:
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        values = (str(record.row), record.address, record.state, record.message_id, record.reply)
        return values[index.column()] if 0 <= index.column() < len(values) else None
