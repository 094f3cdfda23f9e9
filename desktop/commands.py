"""The registry of named commands: every action the window offers, by name.

Menus, the command palette, the cheat sheet and docs/keys.md are built from
``COMMANDS``. A command's default keys are data in ``resources/keys.toml``
(see ``desktop.keymap``), so this module holds only what a command is.

Texts are English. The window translates them with
``QCoreApplication.translate("Commands", text)``; the ``QT_TRANSLATE_NOOP``
calls below mark them, so ``pyside6-lupdate desktop/commands.py`` collects
them into the ``Commands`` context without this module importing Qt.

``python -m desktop.commands --markdown`` prints docs/keys.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TRANSLATION_CONTEXT = "Commands"

MODES = ("list", "reader", "composer")

# Menu ids in menu bar order; the window gives each a translated title.
MENUS = ("mail", "edit", "message", "go", "folder", "view", "rules", "help")


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:  # noqa: N802 - the marker name lupdate looks for
    """Return ``text`` unchanged; lupdate collects it for translation in ``context``."""
    return text


_C = TRANSLATION_CONTEXT


@dataclass(frozen=True)
class Command:
    """One named command.

    Attributes:
        name: Stable identifier, used in key files and by the window's handlers.
        text: Short title for menus, the palette and the cheat sheet.
        description: One sentence on what the command does.
        group: Heading the cheat sheet and docs/keys.md list it under.
        menu: Id of the menu it appears in (one of ``MENUS``), or "" for none.
        selection: Whether it acts on the selected messages (or the current one).
        available: False while the feature behind it does not exist yet. The
            window then shows that in the status bar when the command runs.
    """

    name: str
    text: str
    description: str
    group: str
    menu: str = ""
    selection: bool = False
    available: bool = True


_NAVIGATION = QT_TRANSLATE_NOOP(_C, "Moving around")
_SELECTION = QT_TRANSLATE_NOOP(_C, "Selecting")
_MESSAGES = QT_TRANSLATE_NOOP(_C, "Acting on messages")
_WRITING = QT_TRANSLATE_NOOP(_C, "Writing")
_READING = QT_TRANSLATE_NOOP(_C, "Reading")
_APPLICATION = QT_TRANSLATE_NOOP(_C, "Search, sync and the rest")

COMMANDS: tuple[Command, ...] = (
    # Moving around
    Command("next-message", QT_TRANSLATE_NOOP(_C, "Next message"),
            QT_TRANSLATE_NOOP(_C, "Move to the next message in the list and show it."), _NAVIGATION, "message"),
    Command("previous-message", QT_TRANSLATE_NOOP(_C, "Previous message"),
            QT_TRANSLATE_NOOP(_C, "Move to the previous message in the list and show it."), _NAVIGATION, "message"),
    Command("open-message", QT_TRANSLATE_NOOP(_C, "Open message"),
            QT_TRANSLATE_NOOP(_C, "Open the current message in the reader and mark it read."), _NAVIGATION, "message"),
    Command("back", QT_TRANSLATE_NOOP(_C, "Back to the list"),
            QT_TRANSLATE_NOOP(_C, "Go from the reader back to the list, or from a search back to the folder."),
            _NAVIGATION, "view"),
    Command("next-lane", QT_TRANSLATE_NOOP(_C, "Next lane"),
            QT_TRANSLATE_NOOP(_C, "Show the next tab of the split inbox."), _NAVIGATION, "view"),
    Command("previous-lane", QT_TRANSLATE_NOOP(_C, "Previous lane"),
            QT_TRANSLATE_NOOP(_C, "Show the previous tab of the split inbox."), _NAVIGATION, "view"),
    Command("go-inbox", QT_TRANSLATE_NOOP(_C, "Go to Inbox"),
            QT_TRANSLATE_NOOP(_C, "Show the INBOX of the current account."), _NAVIGATION, "go"),
    Command("go-starred", QT_TRANSLATE_NOOP(_C, "Go to starred"),
            QT_TRANSLATE_NOOP(_C, "Search for the starred messages of every account (is:flagged)."), _NAVIGATION, "go"),
    Command("go-sent", QT_TRANSLATE_NOOP(_C, "Go to Sent"),
            QT_TRANSLATE_NOOP(_C, "Show the Sent folder of the current account."), _NAVIGATION, "go"),
    Command("go-drafts", QT_TRANSLATE_NOOP(_C, "Go to Drafts"),
            QT_TRANSLATE_NOOP(_C, "Show the Drafts folder of the current account."), _NAVIGATION, "go"),
    Command("go-archive", QT_TRANSLATE_NOOP(_C, "Go to Archive"),
            QT_TRANSLATE_NOOP(_C, "Show the Archive folder of the current account."), _NAVIGATION, "go"),
    Command("go-folder", QT_TRANSLATE_NOOP(_C, "Go to folder or label…"),
            QT_TRANSLATE_NOOP(_C, "Open the palette on the folders and labels, to pick one by typing."), _NAVIGATION, "go"),
    Command("go-unified-inbox", QT_TRANSLATE_NOOP(_C, "Go to unified inbox"),
            QT_TRANSLATE_NOOP(_C, "Show the INBOX of every account in one list, newest first."), _NAVIGATION, "go"),
    Command("go-saved-search", QT_TRANSLATE_NOOP(_C, "Go to saved search…"),
            QT_TRANSLATE_NOOP(_C, "Open the palette on the saved searches, to pick one by typing."), _NAVIGATION, "go"),
    # Selecting
    Command("toggle-select", QT_TRANSLATE_NOOP(_C, "Select message"),
            QT_TRANSLATE_NOOP(_C, "Add the current message (or conversation) to the selection, or take it out."),
            _SELECTION, "edit"),
    Command("select-next", QT_TRANSLATE_NOOP(_C, "Extend selection down"),
            QT_TRANSLATE_NOOP(_C, "Select the current message and the next one, and move to the next one."),
            _SELECTION, "edit"),
    Command("select-previous", QT_TRANSLATE_NOOP(_C, "Extend selection up"),
            QT_TRANSLATE_NOOP(_C, "Select the current message and the previous one, and move to the previous one."),
            _SELECTION, "edit"),
    Command("select-all", QT_TRANSLATE_NOOP(_C, "Select all"),
            QT_TRANSLATE_NOOP(_C, "Select every message of the list: the folder's current tab, or every match of "
                                  "the search, also those not loaded yet."), _SELECTION, "edit"),
    Command("select-none", QT_TRANSLATE_NOOP(_C, "Select none"),
            QT_TRANSLATE_NOOP(_C, "Clear the selection."), _SELECTION, "edit"),
    Command("select-read", QT_TRANSLATE_NOOP(_C, "Select read"),
            QT_TRANSLATE_NOOP(_C, "Select the read messages of the folder or search."), _SELECTION, "edit"),
    Command("select-unread", QT_TRANSLATE_NOOP(_C, "Select unread"),
            QT_TRANSLATE_NOOP(_C, "Select the unread messages of the folder or search."), _SELECTION, "edit"),
    # Acting on messages
    Command("archive", QT_TRANSLATE_NOOP(_C, "Archive"),
            QT_TRANSLATE_NOOP(_C, "Move the selected messages to their account's Archive folder."), _MESSAGES,
            "message", selection=True),
    Command("delete", QT_TRANSLATE_NOOP(_C, "Delete"),
            QT_TRANSLATE_NOOP(_C, "Move the selected messages to Trash; in Trash, delete them for good."), _MESSAGES,
            "message", selection=True),
    Command("report-spam", QT_TRANSLATE_NOOP(_C, "Report spam"),
            QT_TRANSLATE_NOOP(_C, "Move the selected messages to Junk and mark them as spam; in Junk, move them back "
                                  "to INBOX as not spam."), _MESSAGES, "message", selection=True),
    Command("toggle-star", QT_TRANSLATE_NOOP(_C, "Star or unstar"),
            QT_TRANSLATE_NOOP(_C, "Star the selected messages, or unstar them when the current one is starred."),
            _MESSAGES, "message", selection=True),
    Command("mark-read", QT_TRANSLATE_NOOP(_C, "Mark as read"),
            QT_TRANSLATE_NOOP(_C, "Mark the selected messages as read."), _MESSAGES, "message", selection=True),
    Command("mark-unread", QT_TRANSLATE_NOOP(_C, "Mark as unread"),
            QT_TRANSLATE_NOOP(_C, "Mark the selected messages as unread."), _MESSAGES, "message", selection=True),
    Command("label", QT_TRANSLATE_NOOP(_C, "Label…"),
            QT_TRANSLATE_NOOP(_C, "Add or remove labels (IMAP keywords) on the selected messages, or create one, "
                                  "in a picker."), _MESSAGES, "message", selection=True),
    Command("move", QT_TRANSLATE_NOOP(_C, "Move to…"),
            QT_TRANSLATE_NOOP(_C, "Move the selected messages to a folder you pick by typing part of its name."),
            _MESSAGES, "message", selection=True),
    Command("copy", QT_TRANSLATE_NOOP(_C, "Copy to…"),
            QT_TRANSLATE_NOOP(_C, "Copy the selected messages into a folder you pick; the originals stay."), _MESSAGES,
            "message", selection=True),
    Command("apply-rule", QT_TRANSLATE_NOOP(_C, "Apply rule to selection…"),
            QT_TRANSLATE_NOOP(_C, "Pick one active rule and run it on the selected messages, after a preview."),
            _MESSAGES, "rules", selection=True),
    Command("snooze", QT_TRANSLATE_NOOP(_C, "Snooze…"),
            QT_TRANSLATE_NOOP(_C, "Move the selected messages to Snoozed until a time you pick; then they come "
                                  "back unread."), _MESSAGES, "message", selection=True),
    Command("show-snoozed", QT_TRANSLATE_NOOP(_C, "Snoozed messages…"),
            QT_TRANSLATE_NOOP(_C, "List the snoozed messages with their wake times, to show or wake one early."),
            _MESSAGES, "message"),
    Command("more-actions", QT_TRANSLATE_NOOP(_C, "More actions…"),
            QT_TRANSLATE_NOOP(_C, "Show a menu of the commands for the selected messages."), _MESSAGES, "message",
            selection=True),
    Command("undo", QT_TRANSLATE_NOOP(_C, "Undo"),
            QT_TRANSLATE_NOOP(_C, "Undo the last archive, delete, flag change, rule run or bulk action."), _MESSAGES,
            "edit"),
    # Writing
    Command("compose", QT_TRANSLATE_NOOP(_C, "Compose"),
            QT_TRANSLATE_NOOP(_C, "Write a new message."), _WRITING, "mail"),
    Command("reply", QT_TRANSLATE_NOOP(_C, "Reply"),
            QT_TRANSLATE_NOOP(_C, "Reply to the sender of the current message."), _WRITING, "message",
            selection=True),
    Command("reply-all", QT_TRANSLATE_NOOP(_C, "Reply to all"),
            QT_TRANSLATE_NOOP(_C, "Reply to the sender and every recipient of the current message."), _WRITING,
            "message", selection=True),
    Command("forward", QT_TRANSLATE_NOOP(_C, "Forward"),
            QT_TRANSLATE_NOOP(_C, "Forward the current message."), _WRITING, "message", selection=True),
    Command("new-merge", QT_TRANSLATE_NOOP(_C, "New mail merge…"),
            QT_TRANSLATE_NOOP(_C, "Open the merge composer: a template and recipient data, checked, previewed and "
                                  "sent one personal message per row."), _WRITING, "mail"),
    Command("send-message", QT_TRANSLATE_NOOP(_C, "Send"),
            QT_TRANSLATE_NOOP(_C, "Send the message being written, after the undo delay."), _WRITING, ""),
    Command("send-later", QT_TRANSLATE_NOOP(_C, "Send later…"),
            QT_TRANSLATE_NOOP(_C, "Pick a time at which the message being written goes out."), _WRITING, ""),
    Command("attach-file", QT_TRANSLATE_NOOP(_C, "Attach files…"),
            QT_TRANSLATE_NOOP(_C, "Pick files to attach to the message being written."), _WRITING, ""),
    Command("insert-snippet", QT_TRANSLATE_NOOP(_C, "Insert snippet…"),
            QT_TRANSLATE_NOOP(_C, "Pick a snippet to insert at the cursor."), _WRITING, ""),
    Command("toggle-preview", QT_TRANSLATE_NOOP(_C, "Preview"),
            QT_TRANSLATE_NOOP(_C, "Show the message being written as it will look, or go back to editing."),
            _WRITING, ""),
    Command("save-draft", QT_TRANSLATE_NOOP(_C, "Save draft"),
            QT_TRANSLATE_NOOP(_C, "Save the message being written to the Drafts folder now."), _WRITING, ""),
    Command("discard-draft", QT_TRANSLATE_NOOP(_C, "Discard draft"),
            QT_TRANSLATE_NOOP(_C, "Throw the message being written away, with its saved draft, and close it."),
            _WRITING, ""),
    Command("show-outbox", QT_TRANSLATE_NOOP(_C, "Outbox…"),
            QT_TRANSLATE_NOOP(_C, "List the messages waiting to go out and those that failed, to retry, cancel "
                                  "or edit them."), _WRITING, "mail"),
    # Reading
    Command("toggle-html", QT_TRANSLATE_NOOP(_C, "HTML or plain text"),
            QT_TRANSLATE_NOOP(_C, "Show the message as sanitised HTML or as plain text; the choice stays for the "
                                  "next messages."), _READING, "view"),
    Command("toggle-quoted-text", QT_TRANSLATE_NOOP(_C, "Show or fold quoted text"),
            QT_TRANSLATE_NOOP(_C, "Show the quoted earlier message at the end of a reply, or fold it again."),
            _READING, "view"),
    Command("show-original", QT_TRANSLATE_NOOP(_C, "Show original HTML"),
            QT_TRANSLATE_NOOP(_C, "Open the message's HTML in a window of its own, shown as a browser would, with "
                                  "scripts off and remote content blocked unless allowed."), _READING, "view"),
    # Search, sync and the rest
    Command("focus-search", QT_TRANSLATE_NOOP(_C, "Search"),
            QT_TRANSLATE_NOOP(_C, "Put the cursor in the search field."), _APPLICATION, "view"),
    Command("leave-search", QT_TRANSLATE_NOOP(_C, "Leave search"),
            QT_TRANSLATE_NOOP(_C, "Clear the search and show the folder again."), _APPLICATION, "view"),
    Command("save-search", QT_TRANSLATE_NOOP(_C, "Save search…"),
            QT_TRANSLATE_NOOP(_C, "Keep the text of the search field as a saved search, shown as a folder in the "
                                  "folder tree."), _APPLICATION, "folder"),
    Command("edit-saved-search", QT_TRANSLATE_NOOP(_C, "Edit saved search…"),
            QT_TRANSLATE_NOOP(_C, "Rename, change or delete the saved search on show, or make it a lane of the "
                                  "split inbox."), _APPLICATION, "folder"),
    Command("sort-by-priority", QT_TRANSLATE_NOOP(_C, "Sort by priority"),
            QT_TRANSLATE_NOOP(_C, "List the highest rule priority first instead of the newest message."),
            _APPLICATION, "view"),
    Command("sync", QT_TRANSLATE_NOOP(_C, "Sync"),
            QT_TRANSLATE_NOOP(_C, "Send local changes and fetch new mail of every account now."), _APPLICATION, "mail"),
    Command("edit-rules", QT_TRANSLATE_NOOP(_C, "Edit rules…"),
            QT_TRANSLATE_NOOP(_C, "Open the rule editor."), _APPLICATION, "rules"),
    Command("apply-rules", QT_TRANSLATE_NOOP(_C, "Apply rules to this folder…"),
            QT_TRANSLATE_NOOP(_C, "Run the rules on the mail of the selected folder or account."), _APPLICATION,
            "rules"),
    Command("new-folder", QT_TRANSLATE_NOOP(_C, "New folder…"),
            QT_TRANSLATE_NOOP(_C, "Create a folder in the selected account."), _APPLICATION, "folder"),
    Command("rename-folder", QT_TRANSLATE_NOOP(_C, "Rename folder…"),
            QT_TRANSLATE_NOOP(_C, "Rename the selected folder with its sub-folders."), _APPLICATION, "folder"),
    Command("delete-folder", QT_TRANSLATE_NOOP(_C, "Delete folder…"),
            QT_TRANSLATE_NOOP(_C, "Delete the selected folder and its mail."), _APPLICATION, "folder"),
    Command("command-palette", QT_TRANSLATE_NOOP(_C, "Command palette…"),
            QT_TRANSLATE_NOOP(_C, "Find any command, folder or label by typing part of its name."), _APPLICATION,
            "help"),
    Command("cheat-sheet", QT_TRANSLATE_NOOP(_C, "Keyboard shortcuts"),
            QT_TRANSLATE_NOOP(_C, "Show every command with its keys, by mode."), _APPLICATION, "help"),
    Command("quit", QT_TRANSLATE_NOOP(_C, "Quit"),
            QT_TRANSLATE_NOOP(_C, "Close the window and stop syncing."), _APPLICATION, "mail"),
)

COMMANDS_BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(command.group for command in COMMANDS))

MODE_TITLES = {
    "list": QT_TRANSLATE_NOOP(_C, "Message list"),
    "reader": QT_TRANSLATE_NOOP(_C, "Reader"),
    "composer": QT_TRANSLATE_NOOP(_C, "Composer"),
}


# --- fuzzy matching for the palette ----------------------------------------------


def fuzzy_score(query: str, text: str) -> int | None:
    """Score how well ``query`` matches ``text`` as a subsequence; None when it does not.

    Every character of the query must appear in the text in order, case
    ignored. A higher score is a better match. A match at the start of the
    text or of a word scores more, and so do characters next to each other,
    while each skipped character costs a little. An empty query matches
    everything with score 0.
    """
    query = query.casefold().strip()
    if not query:
        return 0
    text_folded = text.casefold()
    score = 0
    position = 0
    previous = -2
    for char in query:
        if char == " ":
            continue
        found = text_folded.find(char, position)
        if found < 0:
            return None
        if found == 0 or not text_folded[found - 1].isalnum():
            score += 10
        if found == previous + 1:
            score += 5
        score -= min(found - position, 10)
        previous = found
        position = found + 1
    if text_folded.startswith(query):
        score += 20
    return score


def fuzzy_filter(query: str, texts: Sequence[str]) -> list[int]:
    """Return the positions of the ``texts`` that match ``query``, best first (ties keep their order)."""
    scored = [(score, position) for position, text in enumerate(texts) if (score := fuzzy_score(query, text)) is not None]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [position for _score, position in scored]


# --- docs/keys.md ---------------------------------------------------------------------


def markdown(bindings: dict[str, dict[str, list[str]]], commands: Iterable[Command] = COMMANDS) -> str:
    """Build docs/keys.md from the commands and their keys per mode ({mode: {command: [keys]}})."""
    from desktop.keymap import SEQUENCE_TIMEOUT_MS

    lines = [
        "# Keys and commands",
        "",
        "<!-- Generated by `python -m desktop.commands --markdown > docs/keys.md`; edit desktop/commands.py",
        "     and resources/keys.toml instead. A test fails when this file is out of date. -->",
        "",
        "Every action in Sluice is a named command. The menus, the command palette (Ctrl+K), the cheat sheet (`?`)",
        "and this page are made from one list of commands, and the keys are data that you can change.",
        "",
        "![The command palette](images/palette.png)",
        "",
        "## Modes",
        "",
        "Keys are bound per mode. The reader mode applies while the reader pane has the keyboard focus; the",
        "list mode applies everywhere else in the window (message list, folder tree). The composer mode is for",
        "the message editor.",
        "",
        "- A key with several parts, such as `g i`, is a sequence: press `g`, then `i`. After the first key a",
        "  hint at the bottom of the window lists the keys that can follow. Escape, a key that continues no",
        f"  sequence, or {SEQUENCE_TIMEOUT_MS / 1000:g} seconds without a key cancel it.",
        "- Keys run commands in the main window only; dialogs and the rule editor keep their own keys.",
        "- While a text field has the focus (the search field), plain keys type text and fire no command.",
        "  Keys with Ctrl, Alt or Meta still run their command in the mode around the field, unless",
        "  the field uses them for editing (Ctrl+Z, Ctrl+C, Ctrl+A and the like stay with the field). In the",
        "  search field, Enter searches and Escape leaves the search.",
        "- Arrows, Page Up/Down, Home, End, Tab, Enter and Space keep their usual meaning in the folder tree and",
        "  the reader; the message list gives them to the commands bound to them.",
        "- Commands marked *not available yet* are bound so that the keys are reserved, and say so in the",
        "  status bar when used.",
        "",
        "## Changing keys",
        "",
        "Put a `keys.toml` file in the profile's config folder (next to `config.toml`; `~/.config/sluice/` on",
        "Linux, or the `--home` folder). It has a table per mode, and in it a command name with one key or a",
        "list of keys. A command listed there loses its default keys in that mode; an empty list unbinds it.",
        "When a key you bind belongs to another command by default, your binding takes it.",
        "",
        "```toml",
        "[list]",
        "archive = [\"e\", \"y\"]     # y archives too",
        "delete = \"Delete\"",
        "go-inbox = \"g g\"",
        "report-spam = []         # no key",
        "",
        "[reader]",
        "back = [\"u\", \"Escape\"]",
        "```",
        "",
        "A key is a letter or symbol as typed (`j`, `#`, `?`). An upper-case letter, or `Shift+i`, is the",
        "shifted letter. The modifiers are `Ctrl+`, `Alt+`, `Meta+` and `Shift+`, and the named keys are",
        "`Enter`, `Escape`, `Tab`, `Space`, `Backspace`, `Delete`, `Insert`, `Home`, `End`, `PageUp`,",
        "`PageDown`, `Up`, `Down`, `Left`, `Right` and `F1` to `F12`. Separate the keys of a sequence with",
        "spaces (`* a`); a sequence has at most four keys.",
        "",
        "`sluice keys check` reads the file and prints each problem as `file:line: message`. It reports an",
        "unknown mode, command or key name, and a key bound to two commands of one mode. It also reports a key",
        "that is the start of a sequence (`g` and `g i`), because that sequence could never finish. The window",
        "shows the same problems in the status bar at start. A bad line is skipped, so its command keeps its",
        "default keys.",
        "`sluice keys list` prints the keys in force, per mode.",
        "",
        "## Commands and default keys",
        "",
    ]
    commands = list(commands)
    for group in dict.fromkeys(command.group for command in commands):
        lines += [f"### {group}", "", "| Command | Name | List | Reader | Composer | What it does |",
                  "|---|---|---|---|---|---|"]
        for command in (item for item in commands if item.group == group):
            keys = [_markdown_keys(bindings.get(mode, {}).get(command.name, [])) for mode in MODES]
            note = "" if command.available else " *Not available yet.*"
            text = command.text.replace("…", "")
            lines.append(f"| {text} | `{command.name}` | {' | '.join(keys)} | {command.description}{note} |")
        lines.append("")
    lines += ["## The cheat sheet", "", "`?` shows every command with its keys, by mode.", "",
              "![The cheat sheet](images/cheatsheet.png)", ""]
    return "\n".join(lines)


def _markdown_keys(keys: Sequence[str]) -> str:
    from desktop.keymap import display_text

    return ", ".join(f"`{display_text(key)}`".replace("|", "\\|") for key in keys) if keys else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m desktop.commands",
                                     description="Print the command registry with its default keys.")
    parser.add_argument("--markdown", action="store_true", help="print docs/keys.md")
    args = parser.parse_args(argv)
    from desktop.keymap import load_default_keymap

    keymap, problems = load_default_keymap()
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.markdown:
        sys.stdout.write(markdown(keymap.as_table()))
        return 1 if problems else 0
    for command in COMMANDS:
        keys = "; ".join(f"{mode}: {', '.join(keymap.keys_of(mode, command.name))}"
                         for mode in MODES if keymap.keys_of(mode, command.name))
        print(f"{command.name:18} {command.text:30} {keys}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
