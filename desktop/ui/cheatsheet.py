"""The cheat sheet (``?``): every command with its keys in each mode, from the registry and the key map in force."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from desktop.commands import COMMANDS, GROUPS, MODE_TITLES, MODES
from desktop.keymap import KeyMap, display_text
from desktop.ui.keys import translated


def cheat_sheet_html(keymap: KeyMap, *, columns: int = 2) -> str:
    """Build the cheat sheet: one table per command group, laid out in ``columns`` columns."""
    tables = [_group_table(group, keymap) for group in GROUPS]
    # Fill the columns in order, each about as long as the others.
    sizes = [sum(1 for command in COMMANDS if command.group == group) + 2 for group in GROUPS]
    target = sum(sizes) / columns
    cells: list[list[str]] = [[] for _column in range(columns)]
    column, filled = 0, 0
    for table, size in zip(tables, sizes, strict=True):
        if filled >= target and column < columns - 1:
            column, filled = column + 1, 0
        cells[column].append(table)
        filled += size
    body = "".join(f'<td valign="top" style="padding-right:24px">{"".join(cell)}</td>' for cell in cells)
    return f'<table width="100%"><tr>{body}</tr></table>'


def _group_table(group: str, keymap: KeyMap) -> str:
    heads = "".join(f'<th align="left" nowrap style="padding-right:12px">{html.escape(translated(MODE_TITLES[mode]))}</th>'
                    for mode in MODES)
    rows = []
    for command in (item for item in COMMANDS if item.group == group):
        keys = "".join(f'<td nowrap style="padding-right:12px">{_keys_html(keymap.keys_of(mode, command.name))}</td>'
                       for mode in MODES)
        title = html.escape(translated(command.text))
        if not command.available:
            title = f'<span style="color:gray">{title}</span>'
        rows.append(f'<tr><td nowrap style="padding-right:16px">{title}</td>{keys}</tr>')
    heading = html.escape(translated(group))
    return (f'<h3>{heading}</h3><table cellspacing="2"><tr><th></th>{heads}</tr>{"".join(rows)}</table>')


def _keys_html(keys: list[str]) -> str:
    return ", ".join(f"<code><b>{html.escape(display_text(key))}</b></code>" for key in keys)


class CheatSheet(QDialog):
    """A window with the cheat sheet; Escape or ``?`` closes it."""

    def __init__(self, keymap: KeyMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cheatSheet")
        self.setWindowTitle(self.tr("Keyboard shortcuts"))
        self.browser = QTextBrowser(objectName="cheatSheetText")
        self.browser.setOpenLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.set_keymap(keymap)
        self.resize(1060, 640)

    def set_keymap(self, keymap: KeyMap) -> None:
        note = self.tr("Grey commands are not available yet. Change keys in keys.toml in the profile's config "
                       "folder; docs/keys.md explains how.")
        self.browser.setHtml(f"{cheat_sheet_html(keymap)}<p>{html.escape(note)}</p>")

    def text(self) -> str:
        return self.browser.toPlainText()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's method name
        if event.text() == "?":
            self.reject()
            return
        super().keyPressEvent(event)
