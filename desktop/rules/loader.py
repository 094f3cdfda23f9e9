"""Read rule files into a RuleSet, collecting every problem with its line.

Files are read in name order from a folder (or in the order given), rules in file
order. A file with any problem contributes no rules, so a half-valid file never runs.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from desktop.rules.actions import STOP, parse_action
from desktop.rules.conditions import parse_condition, parse_when_value
from desktop.rules.locate import RuleLines, locate
from desktop.rules.model import DEFAULT_FOLDERS, AllOf, Condition, Copy, Move, Rule, RuleSet, Scope
from desktop.rules.problems import RuleFileError, RuleProblem, closest, unknown_key_message
from desktop.rules.values import type_name
from desktop.text import sentence

logger = logging.getLogger(__name__)

RULE_KEYS = ("name", "description", "scope", "when", "if", "actions", "stop")
SCOPE_KEYS = ("accounts", "folders")
TOP_KEYS = ("rule",)
RULE_FILE_SUFFIX = ".toml"

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def folder_key(name: str) -> str:
    """Return the name to compare folder names by: INBOX in any case is INBOX (RFC 3501 section 5.1)."""
    return "INBOX" if name.upper() == "INBOX" else name


def rule_files(folder: Path) -> list[Path]:
    """Return the rule files of ``folder`` (``*.toml``) in name order."""
    return sorted(path for path in folder.glob(f"*{RULE_FILE_SUFFIX}") if path.is_file())


def _expand(paths: Path | Iterable[Path]) -> list[Path]:
    paths = [paths] if isinstance(paths, Path) else list(paths)
    files: list[Path] = []
    for path in paths:
        files.extend(rule_files(path) if path.is_dir() else [path])
    return files


def collect_rules(paths: Path | Iterable[Path]) -> tuple[RuleSet, list[RuleProblem]]:
    """Load every valid file and list the problems of the others.

    Args:
        paths: Rule files, or folders whose ``*.toml`` files are read in name order.

    Returns:
        The rules of the files without problems, and every problem found.
    """
    files = _expand(paths)
    rules: list[Rule] = []
    problems: list[RuleProblem] = []
    seen: dict[str, Rule] = {}
    for path in files:
        file_rules, file_problems = _load_file(path)
        file_problems += _duplicates(file_rules, seen)
        if file_problems:
            logger.debug("Rule file %s has %d problem(s)", path, len(file_problems))
            problems.extend(file_problems)
            continue
        rules.extend(file_rules)
    logger.debug("Loaded %d rule(s) from %d file(s)", len(rules), len(files))
    return RuleSet(tuple(rules), tuple(files)), problems


def check_files(paths: Path | Iterable[Path], folders: Iterable[tuple[str, str]] | None) -> tuple[RuleSet, list[RuleProblem]]:
    """Check rule files as ``sluice rules check`` does: every problem of every file at once.

    Unlike ``collect_rules``, the folder check also covers the valid rules of
    files that have other problems, so one run lists all that can be found.

    Args:
        paths: Rule files, or folders whose ``*.toml`` files are read in name order.
        folders: (account, folder) pairs known to the store, or None to skip the folder check.

    Returns:
        The rules of the files without problems, and every problem found,
        ordered by file and line.
    """
    files = _expand(paths)
    rules: list[Rule] = []
    problems: list[RuleProblem] = []
    seen: dict[str, Rule] = {}
    for path in files:
        file_rules, file_problems = _load_file(path)
        file_problems += _duplicates(file_rules, seen)
        if folders is not None:
            file_problems += check_folders(RuleSet(tuple(file_rules), (path,)), folders)
        problems.extend(sorted(file_problems, key=lambda problem: problem.line))
        if not file_problems:
            rules.extend(file_rules)
    return RuleSet(tuple(rules), tuple(files)), problems


def load_rules(paths: Path | Iterable[Path]) -> RuleSet:
    """Load rule files, all or nothing.

    Raises:
        RuleFileError: Any file has a problem; the error lists every problem.
    """
    ruleset, problems = collect_rules(paths)
    if problems:
        raise RuleFileError(problems)
    return ruleset


def _duplicates(rules: list[Rule], seen: dict[str, Rule]) -> list[RuleProblem]:
    problems = []
    for rule in rules:
        first = seen.setdefault(rule.name, rule)
        if first is not rule:
            problems.append(RuleProblem(
                rule.path, rule.line, rule.name,
                f"Duplicate rule name; it is also used at {first.path}:{first.line}. Give each rule its own name.",
            ))
    return problems


def check_text(text: str, path: Path, *, other_rules: Iterable[Rule] = (),
               folders: Iterable[tuple[str, str]] | None = None) -> tuple[RuleSet, list[RuleProblem]]:
    """Check the text of one rule file without reading or writing the disk.

    The rule editor calls this as the user types, so the problems carry the
    lines of ``text`` and name ``path``, the file the text is meant for.

    Args:
        text: The rule file's content.
        path: The file the text belongs to; problems and rules carry it.
        other_rules: Rules of the profile's other files; a name used there too
            is reported as a duplicate. Rules from ``path`` itself are skipped,
            because the text replaces them.
        folders: (account, folder) pairs known to the store; when given, the
            scope folders and move or copy targets are checked as by
            ``check_folders``.

    Returns:
        The text's rules, or no rules when the text has any problem (as
        ``collect_rules`` treats a file), and every problem found.
    """
    rules, problems = _parse_text(path, text)
    seen: dict[str, Rule] = {}
    for rule in other_rules:
        if rule.path != path:
            seen.setdefault(rule.name, rule)
    problems += _duplicates(rules, seen)
    if folders is not None:
        problems += check_folders(RuleSet(tuple(rules), (path,)), folders)
        problems.sort(key=lambda problem: problem.line)
    if problems:
        return RuleSet((), (path,)), problems
    return RuleSet(tuple(rules), (path,)), problems


def _load_file(path: Path) -> tuple[list[Rule], list[RuleProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], [RuleProblem(path, 1, None, f"Cannot read the rule file: {sentence(error)} Check that it exists and is UTF-8 text.")]
    return _parse_text(path, text)


def _parse_text(path: Path, text: str) -> tuple[list[Rule], list[RuleProblem]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return [], [_syntax_problem(path, text, error)]
    return _FileReader(path, text).read(data)


def _syntax_problem(path: Path, text: str, error: tomllib.TOMLDecodeError) -> RuleProblem:
    # Python 3.11's TOMLDecodeError has no line attribute, only "(at line L, column C)"
    # or "(at end of document)" in its message.
    message = str(error)
    position = _TOML_POSITION.search(message)
    if position is None:
        last_line = max(1, len(text.rstrip("\n").splitlines()))
        detail = message.removesuffix(" (at end of document)")
        return RuleProblem(path, last_line, None, f"Invalid TOML at the end of the file: {detail}. See docs/rules.md for the format.")
    line, column = int(position.group(1)), int(position.group(2))
    detail = message[: position.start()]
    return RuleProblem(path, line, None, f"Invalid TOML at column {column}: {detail}. See docs/rules.md for the format.")


class _FileReader:
    """Build the rules of one parsed file, collecting problems with their lines."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = locate(text)
        self.problems: list[RuleProblem] = []

    def report(self, line: int, rule: str | None, message: str) -> None:
        self.problems.append(RuleProblem(self.path, line, rule, message))

    def read(self, data: dict) -> tuple[list[Rule], list[RuleProblem]]:
        for key in data:
            if key not in TOP_KEYS:
                self.report(self.lines.top.key_line(key), None, unknown_key_message(key, TOP_KEYS, "top-level key") + " Start each rule with [[rule]].")
        entries = data.get("rule", [])
        if not isinstance(entries, list):
            self.report(self.lines.top.key_line("rule"), None, "Write rules as [[rule]] tables, not [rule].")
            return [], self.problems
        if not entries and not self.problems:
            logger.debug("Rule file %s has no rules", self.path)
        rules = [self._rule(entry, self._rule_lines(index)) for index, entry in enumerate(entries)]
        return [rule for rule in rules if rule is not None], self.problems

    def _rule_lines(self, index: int) -> RuleLines:
        if index < len(self.lines.rules):
            return self.lines.rules[index]
        return RuleLines(line=self.lines.top.item_line("rule", index))

    def _rule(self, entry: dict, lines: RuleLines) -> Rule | None:
        before = len(self.problems)
        name = self._name(entry, lines)
        report = partial(self.report, rule=name)
        for key in entry:
            if key not in RULE_KEYS:
                report(lines.key_line(key), message=unknown_key_message(key, RULE_KEYS, "rule key"))
        if "description" in entry and not isinstance(entry["description"], str):
            report(lines.key_line("description"), message="'description' must be a string.")
        scope = self._scope(entry.get("scope", {}), lines, name)
        condition = self._condition(entry, lines, name)
        actions, stop_action = self._actions(entry, lines, name)
        stop = entry.get("stop", False)
        if not isinstance(stop, bool):
            report(lines.key_line("stop"), message=f"'stop' must be true or false, not {stop!r}.")
        if len(self.problems) > before or name is None:
            return None
        return Rule(name, condition, tuple(actions), scope, stop or stop_action, self.path, lines.line,
                    folder_lines=_folder_lines(entry, scope, lines), accounts_line=_scope_line(lines, "accounts"))

    def _name(self, entry: dict, lines: RuleLines) -> str | None:
        name = entry.get("name")
        if isinstance(name, str) and name.strip():
            return name
        if name is None:
            self.report(lines.line, None, 'Rule without a name. Add name = "..." below [[rule]].')
        else:
            self.report(lines.key_line("name"), None, f"Invalid rule name {name!r}. Write non-empty text, e.g. name = \"Receipts\".")
        return None

    def _scope(self, value: object, lines: RuleLines, name: str | None) -> Scope:
        line = lines.key_line("scope")
        if not isinstance(value, dict):
            self.report(line, name, f"'scope' must be a table such as {{ accounts = [\"work\"], folders = [\"INBOX\"] }}, not {type_name(value)}.")
            return Scope()
        for key in value:
            if key not in SCOPE_KEYS:
                self.report(lines.key_line(f"scope.{key}"), name, unknown_key_message(key, SCOPE_KEYS, "scope key"))
        accounts = self._names(value, "accounts", (), lines, name)
        folders = self._names(value, "folders", DEFAULT_FOLDERS, lines, name)
        return Scope(accounts, folders)

    def _names(self, scope: dict, key: str, default: tuple[str, ...], lines: RuleLines, name: str | None) -> tuple[str, ...]:
        if key not in scope:
            return default
        value = scope[key]
        if isinstance(value, list) and value and all(isinstance(item, str) and item for item in value):
            return tuple(value)
        line = lines.key_line(f"scope.{key}") if f"scope.{key}" in lines.keys else lines.key_line("scope")
        self.report(line, name, f"'scope.{key}' must be a non-empty array of names, e.g. {key} = [\"{default[0] if default else 'work'}\"], not {value!r}.")
        return default

    def _condition(self, entry: dict, lines: RuleLines, name: str | None) -> Condition | None:
        parts: list[Condition | None] = []
        if "when" in entry:
            parts.append(parse_when_value(entry["when"], partial(self.report, lines.key_line("when"), name)))
        tests = entry.get("if", [])
        if not isinstance(tests, list):
            self.report(lines.key_line("if"), name, f"'if' must be an array of condition tables, not {type_name(tests)}.")
            tests = []
        for index, test in enumerate(tests):
            parts.append(parse_condition(test, partial(self.report, lines.item_line("if", index), name)))
        valid = [part for part in parts if part is not None]
        if not valid:
            return None
        return valid[0] if len(valid) == 1 else AllOf(tuple(valid))

    def _actions(self, entry: dict, lines: RuleLines, name: str | None) -> tuple[list, bool]:
        value = entry.get("actions")
        if not isinstance(value, list) or not value:
            shown = "missing" if value is None else f"{value!r}"
            self.report(lines.key_line("actions") if "actions" in entry else lines.line, name,
                        f"'actions' is {shown}. Add a non-empty array, e.g. actions = [{{ move = \"Receipts\" }}].")
            return [], False
        actions = []
        stop = False
        for index, item in enumerate(value):
            action = parse_action(item, partial(self.report, lines.item_line("actions", index), name))
            if action is STOP:
                stop = True
            elif action is not None:
                actions.append(action)
        return actions, stop


def _scope_line(lines: RuleLines, key: str) -> int:
    """Return the line of ``scope.KEY``, else of ``scope``, else of the rule's header."""
    if f"scope.{key}" in lines.keys:
        return lines.keys[f"scope.{key}"]
    return lines.key_line("scope")


def _folder_lines(entry: dict, scope: Scope, lines: RuleLines) -> tuple[tuple[str, int], ...]:
    """Return (folder, line) for the scope folders and the move and copy targets of a rule entry."""
    found = [(folder, _scope_line(lines, "folders")) for folder in scope.folders]
    for index, item in enumerate(entry.get("actions") or []):
        if not isinstance(item, dict):
            continue
        for key in ("move", "copy"):
            if isinstance(item.get(key), str):
                found.append((item[key], lines.item_line("actions", index)))
    return tuple(found)


def store_folders(store_file: Path) -> list[tuple[str, str]] | None:
    """Return the (account, folder) pairs of a store, or None when it has no folders to check rules against."""
    if not store_file.exists():
        return None
    from desktop.store import Store

    with Store(store_file) as store:
        folders = [(row.account, row.name) for row in store.folders(with_counts=False)]
    return folders or None


def check_folders(ruleset: RuleSet, folders: Iterable[tuple[str, str]]) -> list[RuleProblem]:
    """List rules whose scope or move/copy target names a folder that does not exist.

    Args:
        ruleset: Loaded rules.
        folders: (account, folder) pairs known to the store.

    Returns:
        One problem per unknown folder, at the line that names it (the rule's
        ``[[rule]]`` line when that is not known).
        INBOX matches in any case, as IMAP names it (RFC 3501 section 5.1).
    """
    known = known_folders(folders)
    problems = []
    for rule in ruleset.rules:
        accounts = rule.scope.accounts or tuple(known)
        wanted = [*rule.scope.folders, *(a.folder for a in rule.actions if isinstance(a, (Move, Copy)))]
        for account in accounts:
            if account not in known:
                problems.append(RuleProblem(rule.path, rule.accounts_line or rule.line, rule.name, f"Account '{account}' has no folders in the store. Check the name with 'sluice account list', or run 'sluice sync'."))
                continue
            where = dict(reversed(rule.folder_lines))
            for folder in wanted:
                if folder_key(folder) not in known[account]:
                    problems.append(RuleProblem(
                        rule.path, where.get(folder, rule.line), rule.name,
                        f"Folder '{folder}' not found in account '{account}'.{_closest_folder(folder, known[account])} Check the name with 'sluice folders'.",
                    ))
    return problems


def known_folders(folders: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Return {account: folder keys} of (account, folder) pairs, with INBOX in any case as one key."""
    known: dict[str, set[str]] = {}
    for account, folder in folders:
        known.setdefault(account, set()).add(folder_key(folder))
    return known


def _closest_folder(folder: str, names: set[str]) -> str:
    return closest(folder, sorted(names))
