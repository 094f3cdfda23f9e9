"""The window's named commands and their default keys.

Every keyboard command is declared here once, by name, so that menus, a
cheat sheet and a later user-configurable key map can all be built from this
table. The window looks up its handler for each name.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

_CONTEXT = "Commands"


@dataclass(frozen=True)
class Command:
    """One named command.

    Attributes:
        name: Stable identifier used by key maps and handlers.
        text: Menu text, marked for translation in the ``Commands`` context.
        keys: Default key sequences in ``QKeySequence`` text form.
        scope: ``window`` for keys that work anywhere in the window, or
            ``list`` for keys that work only while the message list has focus.
    """

    name: str
    text: str
    keys: tuple[str, ...]
    scope: str = "window"

    def translated_text(self) -> str:
        return QCoreApplication.translate(_CONTEXT, self.text)


# Single-letter keys are safe at window scope because a focused QLineEdit
# takes printable keys as text before shortcuts see them. Return is not
# printable, so "open-message" is limited to the list, or it would take
# Enter away from the search field.
COMMANDS: tuple[Command, ...] = (
    Command("next-message", QT_TRANSLATE_NOOP(_CONTEXT, "Next message"), ("J",)),
    Command("previous-message", QT_TRANSLATE_NOOP(_CONTEXT, "Previous message"), ("K",)),
    Command("open-message", QT_TRANSLATE_NOOP(_CONTEXT, "Open message"), ("Return", "Enter"), scope="list"),
    Command("focus-search", QT_TRANSLATE_NOOP(_CONTEXT, "Search"), ("/",)),
    Command("toggle-read", QT_TRANSLATE_NOOP(_CONTEXT, "Toggle read"), ("U",)),
    Command("toggle-flag", QT_TRANSLATE_NOOP(_CONTEXT, "Toggle star"), ("S",)),
    Command("sync", QT_TRANSLATE_NOOP(_CONTEXT, "Sync"), ("Ctrl+R",)),
    Command("leave-search", QT_TRANSLATE_NOOP(_CONTEXT, "Leave search"), ("Escape",)),
    # Tab normally moves the focus on, but in the list it switches the lane tabs instead.
    # Qt reports Shift+Tab as Backtab, so both spellings are bound.
    Command("next-lane", QT_TRANSLATE_NOOP(_CONTEXT, "Next lane"), ("Tab",), scope="list"),
    Command("previous-lane", QT_TRANSLATE_NOOP(_CONTEXT, "Previous lane"), ("Backtab", "Shift+Backtab"), scope="list"),
    Command("sort-by-priority", QT_TRANSLATE_NOOP(_CONTEXT, "Sort by priority"), ("Ctrl+Shift+P",)),
    Command("undo", QT_TRANSLATE_NOOP(_CONTEXT, "Undo"), ("Ctrl+Z",)),
    Command("edit-rules", QT_TRANSLATE_NOOP(_CONTEXT, "Edit rules…"), ("Ctrl+Shift+E",)),
    Command("apply-rules", QT_TRANSLATE_NOOP(_CONTEXT, "Apply rules to this folder…"), ("Ctrl+Shift+A",)),
)

COMMANDS_BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}
