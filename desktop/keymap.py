"""Key bindings as data: key names, key files, and matching key sequences.

The default bindings are in ``resources/keys.toml``; a profile may override
them in ``keys.toml`` in its config folder. Both have one table per mode
(``MODES``), mapping a command name to a key or a list of keys::

    [list]
    archive = ["e", "y"]
    go-inbox = "g i"

A key is written as modifiers and a key name joined by ``+`` (``Ctrl+k``,
``Shift+i``, ``#``); the keys of a sequence are separated by spaces. Every
key is kept in one canonical spelling (``canonical_key``), which the window
also builds from each key press, so matching is a plain string comparison.

Problems are collected for the whole file and reported as ``file:line:
message``. A line with a problem is skipped, so its command keeps its
default keys.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktop.commands import COMMANDS, COMMANDS_BY_NAME, MODES
from desktop.rules.locate import locate
from desktop.text import pluralize

log = logging.getLogger(__name__)

KEYS_FILE_NAME = "keys.toml"
MAX_SEQUENCE = 4
# The window drops a started sequence after this long without its next key.
SEQUENCE_TIMEOUT_MS = 2000

MODIFIERS = ("Ctrl", "Alt", "Meta", "Shift")
_MODIFIER_ALIASES = {"ctrl": "Ctrl", "control": "Ctrl", "alt": "Alt", "meta": "Meta", "super": "Meta",
                     "shift": "Shift"}

NAMED_KEYS = ("Enter", "Escape", "Tab", "Space", "Backspace", "Delete", "Insert", "Home", "End", "PageUp",
              "PageDown", "Up", "Down", "Left", "Right", *(f"F{number}" for number in range(1, 13)))
_NAMED_ALIASES = {name.casefold(): name for name in NAMED_KEYS} | {
    "return": "Enter", "esc": "Escape", "del": "Delete", "ins": "Insert", "pgup": "PageUp", "pgdown": "PageDown",
    "backtab": "Tab",
}

# Keys a focused widget other than the message list keeps for itself (scrolling, moving the focus, opening).
NAVIGATION_KEYS = frozenset({"Up", "Down", "Left", "Right", "PageUp", "PageDown", "Home", "End", "Tab", "Shift+Tab",
                             "Enter", "Space"})

_TOML_LINE = re.compile(r"at line (\d+)")


class KeyNameError(ValueError):
    """A key name that cannot be read; the message explains why and what to write instead."""


def canonical_key(text: str) -> str:
    """Return the canonical spelling of one key such as ``ctrl+K`` (``Ctrl+k``).

    A lone upper-case letter means the shifted letter (``I`` is ``Shift+i``).
    With other modifiers a letter's case does not matter (``Ctrl+K`` is
    ``Ctrl+k``). Symbols carry no Shift, because which symbols need Shift
    depends on the keyboard layout.

    Raises:
        KeyNameError: when the text is not a key.
    """
    original = text
    text = text.strip()
    if not text:
        raise KeyNameError("empty key; write a key such as 'j', 'Shift+i' or 'Ctrl+k'")
    parts = text.split("+")
    if text.endswith("+"):
        # "+" itself, or "Ctrl++": the last part is the key "+".
        parts = [*text[:-1].split("+")[:-1], "+"] if len(text) > 1 else ["+"]
    *modifier_parts, name = parts
    modifiers: set[str] = set()
    for part in modifier_parts:
        modifier = _MODIFIER_ALIASES.get(part.strip().casefold())
        if modifier is None:
            raise KeyNameError(f"unknown modifier '{part}' in '{original}'; use {', '.join(MODIFIERS)}")
        modifiers.add(modifier)
    name = name.strip()
    if len(name) == 1:
        key = _single_character(name, modifiers, original)
    else:
        key = _NAMED_ALIASES.get(name.casefold())
        if key is None:
            hint = ""
            if not modifier_parts and len(name) <= MAX_SEQUENCE:
                hint = f" A sequence needs spaces between its keys, as in '{' '.join(name)}'."
            raise KeyNameError(f"unknown key name '{name}' in '{original}'.{hint} Key names: a single character, "
                            f"or {', '.join(NAMED_KEYS[:15])}, F1 to F12")
        if name.casefold() == "backtab":
            modifiers.add("Shift")
    return "+".join([*(modifier for modifier in MODIFIERS if modifier in modifiers), key])


def _single_character(name: str, modifiers: set[str], original: str) -> str:
    if name.isspace():
        raise KeyNameError(f"write Space instead of a blank in '{original}'")
    if name.isalpha():
        if name.isupper() and not modifiers:
            modifiers.add("Shift")
        return name.lower()
    modifiers.discard("Shift")
    return name


def parse_sequence(text: str) -> tuple[str, ...]:
    """Return the canonical keys of a sequence such as ``"g i"``.

    Raises:
        KeyNameError: when a key cannot be read or the sequence is too long.
    """
    if not isinstance(text, str):
        raise KeyNameError(f"{text!r} is not a key; write keys as strings, as in \"e\" or \"g i\"")
    words = text.split()
    if not words:
        raise KeyNameError("empty key; write a key such as 'j', or use an empty list [] to unbind the command")
    if len(words) > MAX_SEQUENCE:
        raise KeyNameError(f"'{text}' has {len(words)} keys; a sequence has at most {MAX_SEQUENCE}")
    return tuple(canonical_key(word) for word in words)


def sequence_text(sequence: Sequence[str]) -> str:
    return " ".join(sequence)


def display_text(text: str) -> str:
    """Return a key sequence's text as menus write it, with a letter after a modifier in upper case: ``Shift+J``.

    The canonical text (``Shift+j``) has the letter in lower case, and both spellings parse to the same key.
    """
    keys = []
    for key in text.split(" "):
        modifiers, name = split_key(key)
        if modifiers and len(name) == 1 and name.isalpha():
            key = "+".join([*modifiers, name.upper()])
        keys.append(key)
    return " ".join(keys)


def split_key(key: str) -> tuple[list[str], str]:
    """Split a canonical key into its modifiers and its key name (``Ctrl++`` into ``["Ctrl"], "+"``)."""
    if key == "+":
        return [], "+"
    if key.endswith("++"):
        return key[:-2].split("+"), "+"
    *modifiers, name = key.split("+")
    return modifiers, name


# --- problems ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyProblem:
    """One problem in a key file.

    Attributes:
        path: The key file.
        line: 1-based line the problem is on.
        message: What is wrong and what to write instead.
    """

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def commands_by_similarity(name: str, names: Iterable[str] = COMMANDS_BY_NAME) -> list[str]:
    """Return every command name, the ones closest to ``name`` first.

    A command with ``name`` as one of its words ("star" in "toggle-star") counts
    as closest, then one with a word starting with it, then spelling similarity.
    """
    return sorted(names, key=lambda candidate: (-_similarity(name, candidate), candidate))


def _similarity(name: str, candidate: str) -> float:
    words = candidate.split("-")
    if name in words:
        return 3.0
    if len(name) >= 3 and any(word.startswith(name) for word in words):
        return 2.0
    return difflib.SequenceMatcher(None, name, candidate).ratio()


def unknown_command_message(name: str) -> str:
    ordered = commands_by_similarity(name)
    best = _similarity(name, ordered[0])
    # Commands with the name as a word are all offered; otherwise only the closest spelling.
    close = [candidate for candidate in ordered[:3] if _similarity(name, candidate) == best] if best >= 2 else (
        ordered[:1] if best >= 0.6 else [])
    hint = f" Did you mean {' or '.join(repr(candidate) for candidate in close)}?" if close else ""
    return f"unknown command '{name}'.{hint} Commands, closest first: {', '.join(ordered)}."


# --- reading a key file -------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """The keys a key file gives one command in one mode.

    Attributes:
        mode: One of ``MODES``.
        command: The command's name.
        sequences: The key sequences, canonical; empty to unbind.
        path: The key file.
        line: The line of the command in the file.
    """

    mode: str
    command: str
    sequences: tuple[tuple[str, ...], ...]
    path: Path
    line: int


def read_key_text(text: str, path: Path) -> tuple[list[Binding], list[KeyProblem]]:
    """Read the bindings of a key file's text; return them and every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = _TOML_LINE.search(str(error))
        return [], [KeyProblem(path, int(match.group(1)) if match else 1, f"invalid TOML: {error}")]
    lines = locate(text).top
    bindings: list[Binding] = []
    problems: list[KeyProblem] = []
    for mode, table in data.items():
        mode_line = lines.key_line(mode)
        if mode not in MODES:
            problems.append(KeyProblem(path, mode_line, _unknown_mode_message(mode, table)))
            continue
        if not isinstance(table, dict):
            problems.append(KeyProblem(path, mode_line, f"'{mode}' must be a table, as in [{mode}]"))
            continue
        for command, value in table.items():
            line = lines.key_line(f"{mode}.{command}")
            binding = _read_binding(mode, command, value, path, line, problems)
            if binding is not None:
                bindings.append(binding)
    return bindings, problems


def _unknown_mode_message(mode: str, value: object) -> str:
    if not isinstance(value, dict):
        return (f"'{mode}' is outside a mode table; put each command under [{MODES[0]}], [{MODES[1]}] or "
                f"[{MODES[2]}]")
    close = difflib.get_close_matches(mode, MODES, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown mode '{mode}'.{hint} Modes: {', '.join(MODES)}."


def _read_binding(mode: str, command: str, value: object, path: Path, line: int,
                  problems: list[KeyProblem]) -> Binding | None:
    if command not in COMMANDS_BY_NAME:
        problems.append(KeyProblem(path, line, unknown_command_message(command)))
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        problems.append(KeyProblem(path, line, f"the keys of '{command}' must be a string or a list of strings, "
                                               f"as in {command} = [\"x\", \"Ctrl+x\"]"))
        return None
    sequences: list[tuple[str, ...]] = []
    for item in values:
        try:
            sequence = parse_sequence(item)
        except KeyNameError as error:
            problems.append(KeyProblem(path, line, f"{command}: {error}"))
            return None
        if sequence not in sequences:
            sequences.append(sequence)
    return Binding(mode, command, tuple(sequences), path, line)


def read_key_file(path: Path) -> tuple[list[Binding], list[KeyProblem]]:
    """Read a key file; a missing file has no bindings and no problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except UnicodeDecodeError as error:
        return [], [KeyProblem(path, 1, f"not UTF-8 text ({error}); save the file as UTF-8")]
    except OSError as error:
        return [], [KeyProblem(path, 1, f"cannot read the file: {error.strerror}")]
    return read_key_text(text, path)


# --- the key map ------------------------------------------------------------------------------


@dataclass
class _Entry:
    command: str
    user: bool
    line: int


@dataclass
class KeyMap:
    """The bindings in force: per mode, each key sequence and its command.

    No sequence of a mode is the start of another one, so a key press either
    finishes a sequence, continues one, or matches nothing.
    """

    modes: dict[str, dict[tuple[str, ...], _Entry]] = field(default_factory=lambda: {mode: {} for mode in MODES})

    def command_for(self, mode: str, sequence: Sequence[str]) -> str | None:
        entry = self.modes.get(mode, {}).get(tuple(sequence))
        return entry.command if entry else None

    def continuations(self, mode: str, prefix: Sequence[str]) -> list[tuple[tuple[str, ...], str]]:
        """Return the (sequence, command) pairs of ``mode`` that start with ``prefix`` and are longer, in key order."""
        prefix = tuple(prefix)
        found = [(sequence, entry.command) for sequence, entry in self.modes.get(mode, {}).items()
                 if len(sequence) > len(prefix) and sequence[: len(prefix)] == prefix]
        return sorted(found)

    def keys_of(self, mode: str, command: str) -> list[str]:
        """Return the key sequences bound to ``command`` in ``mode`` as text, in file order."""
        return [sequence_text(sequence) for sequence, entry in self.modes.get(mode, {}).items()
                if entry.command == command]

    def as_table(self) -> dict[str, dict[str, list[str]]]:
        """Return {mode: {command: [key text...]}}."""
        table: dict[str, dict[str, list[str]]] = {}
        for mode, entries in self.modes.items():
            for sequence, entry in entries.items():
                table.setdefault(mode, {}).setdefault(entry.command, []).append(sequence_text(sequence))
        return table

    # --- building -------------------------------------------------------------------------

    def _conflict(self, mode: str, sequence: tuple[str, ...], *, ignore: str) -> tuple[tuple[str, ...], _Entry] | None:
        """Return a binding that equals ``sequence``, starts it, or starts with it (other than ``ignore``'s)."""
        for other, entry in self.modes[mode].items():
            if entry.command == ignore:
                continue
            shorter = min(len(other), len(sequence))
            if other[:shorter] == sequence[:shorter]:
                return other, entry
        return None

    def _remove(self, mode: str, command: str) -> dict[tuple[str, ...], _Entry]:
        removed = {sequence: entry for sequence, entry in self.modes[mode].items() if entry.command == command}
        for sequence in removed:
            del self.modes[mode][sequence]
        return removed

    def add(self, binding: Binding, *, user: bool) -> KeyProblem | None:
        """Bind ``binding``'s sequences in place of the command's keys in its mode; return a problem instead when they clash.

        A sequence equal to a default key of another command takes that key
        away from it when ``user`` is True. Any other clash (with a key the
        same file bound, or a sequence that starts another one) is a problem,
        and then nothing changes.
        """
        mode = binding.mode
        own = _own_clash(binding)
        if own is not None:
            return KeyProblem(binding.path, binding.line, own)
        previous = self._remove(mode, binding.command)
        taken_defaults: list[tuple[tuple[str, ...], _Entry]] = []
        for sequence in binding.sequences:
            clash = self._conflict(mode, sequence, ignore=binding.command)
            if clash is not None and clash[0] == sequence and user and not clash[1].user:
                log.debug("Key %s in mode %s moves from %s to %s", sequence_text(sequence), mode, clash[1].command,
                          binding.command)
                taken_defaults.append((sequence, self.modes[mode].pop(sequence)))
                clash = self._conflict(mode, sequence, ignore=binding.command)
            if clash is not None:
                self._undo_add(mode, binding, previous, taken_defaults)
                return KeyProblem(binding.path, binding.line, _clash_message(mode, binding.command, sequence, *clash))
        for sequence in binding.sequences:
            self.modes[mode][sequence] = _Entry(binding.command, user, binding.line)
        return None

    def _undo_add(self, mode: str, binding: Binding, previous: dict[tuple[str, ...], _Entry],
                  taken_defaults: list[tuple[tuple[str, ...], _Entry]]) -> None:
        for sequence in binding.sequences:
            entry = self.modes[mode].get(sequence)
            if entry is not None and entry.command == binding.command:
                del self.modes[mode][sequence]
        for sequence, entry in [*previous.items(), *taken_defaults]:
            self.modes[mode][sequence] = entry


def _own_clash(binding: Binding) -> str | None:
    for first in binding.sequences:
        for second in binding.sequences:
            if len(first) < len(second) and second[: len(first)] == first:
                return (f"{binding.command}: '{sequence_text(first)}' is the start of '{sequence_text(second)}', "
                        "so that sequence could never finish; keep one of them")
    return None


def _clash_message(mode: str, command: str, sequence: tuple[str, ...], other: tuple[str, ...], entry: _Entry) -> str:
    where = f"{entry.command} (line {entry.line})" if entry.user else f"{entry.command} (a default)"
    key, other_key = sequence_text(sequence), sequence_text(other)
    if other == sequence:
        return (f"{command}: '{key}' is already bound to {where} in mode {mode}; bind each key once per mode, "
                f"or give {entry.command} other keys")
    if len(other) > len(sequence):
        return (f"{command}: '{key}' is the start of '{other_key}' of {where} in mode {mode}, so that sequence "
                f"could never finish; choose another key or bind {entry.command} elsewhere")
    return (f"{command}: '{key}' starts with '{other_key}', bound to {where} in mode {mode}, so '{key}' could "
            f"never be reached; choose another key or bind {entry.command} elsewhere")


def build_keymap(defaults: Sequence[Binding], overrides: Sequence[Binding] = ()) -> tuple[KeyMap, list[KeyProblem]]:
    """Make the key map of default bindings and a user's overrides; return it and every clash found.

    Overrides first take away the default keys of the commands they name,
    then add their own keys, so the order of lines in the file does not
    matter. An override that clashes is reported and its command keeps
    its default keys (those that do not clash with the accepted overrides).
    """
    keymap = KeyMap()
    problems: list[KeyProblem] = []
    for binding in defaults:
        problem = keymap.add(binding, user=False)
        if problem is not None:
            problems.append(problem)
    overridden = {(binding.mode, binding.command) for binding in overrides}
    saved = {key: keymap._remove(*key) for key in overridden}
    rejected: list[Binding] = []
    for binding in overrides:
        problem = keymap.add(binding, user=True)
        if problem is not None:
            problems.append(problem)
            rejected.append(binding)
    for binding in rejected:
        _restore_defaults(keymap, binding, saved.get((binding.mode, binding.command), {}))
    return keymap, problems


def _restore_defaults(keymap: KeyMap, binding: Binding, defaults: Mapping[tuple[str, ...], _Entry]) -> None:
    for sequence, entry in defaults.items():
        if keymap._conflict(binding.mode, sequence, ignore=binding.command) is None:
            keymap.modes[binding.mode][sequence] = entry
        else:
            log.warning("Default key %s of %s in mode %s stays unbound: another binding uses it",
                        sequence_text(sequence), binding.command, binding.mode)


def default_keys_path() -> Path:
    from desktop.paths import resource_path

    return resource_path(KEYS_FILE_NAME)


def load_default_keymap() -> tuple[KeyMap, list[KeyProblem]]:
    """Load the shipped default bindings; problems here are a bug in Sluice."""
    defaults, problems = read_key_file(default_keys_path())
    keymap, clashes = build_keymap(defaults)
    return keymap, problems + clashes


def load_keymap(user_file: Path | None) -> tuple[KeyMap, list[KeyProblem]]:
    """Load the default bindings and the user's key file, if it exists; return the map and every problem."""
    defaults, problems = read_key_file(default_keys_path())
    overrides: list[Binding] = []
    if user_file is not None:
        overrides, user_problems = read_key_file(user_file)
        problems += user_problems
    keymap, clashes = build_keymap(defaults, overrides)
    problems = sorted(problems + clashes, key=lambda problem: (str(problem.path), problem.line))
    for problem in problems:
        log.warning("Key binding problem: %s", problem)
    return keymap, problems


def user_keys_file(config_dir: Path) -> Path:
    return config_dir / KEYS_FILE_NAME


# --- sluice keys check | list -------------------------------------------------------------------


def check_command(args: argparse.Namespace, profile: object) -> int:
    """Run ``sluice keys check [FILE]``: print each problem as file:line: message; 1 when there are any."""
    path = args.file or user_keys_file(profile.config_dir)
    if args.file is not None and not path.exists():
        print(f"sluice: key file {path} not found. Give an existing file, or leave it out to check the profile's.",
              file=sys.stderr)
        return 1
    overrides, problems = read_key_file(path)
    defaults, default_problems = read_key_file(default_keys_path())
    _keymap, clashes = build_keymap(defaults, overrides)
    problems = sorted(default_problems + problems + clashes, key=lambda problem: (str(problem.path), problem.line))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{pluralize(len(problems), 'problem')} found; the default keys stay in force for those lines.",
              file=sys.stderr)
        return 1
    if not path.exists():
        print(f"OK: no {path}, so the default keys are in force.")
    else:
        print(f"OK: {pluralize(len(overrides), 'binding')} in {path}.")
    return 0


def list_command(args: argparse.Namespace, profile: object) -> int:
    """Run ``sluice keys list [FILE]``: print each mode's commands with the keys in force."""
    path = args.file or user_keys_file(profile.config_dir)
    keymap, problems = load_keymap(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    for mode in MODES:
        print(f"[{mode}]")
        for command in COMMANDS:
            keys = keymap.keys_of(mode, command.name)
            if keys:
                print(f"  {command.name:20} {', '.join(keys)}")
    return 1 if problems else 0


# --- matching key presses ------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyResult:
    """The outcome of one key press.

    Attributes:
        command: The command the press finished, or None.
        pending: The keys typed so far of an unfinished sequence (empty when none).
        continuations: For an unfinished sequence, the (sequence, command) pairs that can follow.
        unmatched: The keys of a sequence that matched nothing (they are dropped).
    """

    command: str | None = None
    pending: tuple[str, ...] = ()
    continuations: tuple[tuple[tuple[str, ...], str], ...] = ()
    unmatched: tuple[str, ...] = ()


class SequenceMatcher:
    """Follow key presses through the bindings of one key map, one press at a time."""

    def __init__(self, keymap: KeyMap) -> None:
        self.keymap = keymap
        self._pending: tuple[str, ...] = ()
        self._mode = ""

    @property
    def pending(self) -> tuple[str, ...]:
        return self._pending

    def cancel(self) -> None:
        self._pending = ()

    def wants(self, mode: str, key: str) -> bool:
        """Return whether ``key`` would do something in ``mode``: finish, continue or break a sequence."""
        if self._pending:
            return True
        return self.keymap.command_for(mode, (key,)) is not None or bool(self.keymap.continuations(mode, (key,)))

    def press(self, mode: str, key: str) -> KeyResult:
        """Feed one canonical key pressed in ``mode``."""
        if self._pending and mode != self._mode:
            self._pending = ()
        self._mode = mode
        typed = (*self._pending, key)
        command = self.keymap.command_for(mode, typed)
        if command is not None:
            self._pending = ()
            return KeyResult(command=command)
        continuations = self.keymap.continuations(mode, typed)
        if continuations:
            self._pending = typed
            return KeyResult(pending=typed, continuations=tuple(continuations))
        self._pending = ()
        return KeyResult(unmatched=typed if len(typed) > 1 else ())
