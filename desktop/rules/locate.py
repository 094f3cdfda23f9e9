"""Find the line of each rule, key and list item in a rule file's text.

``tomllib`` returns values without positions, so the loader finds lines by
scanning the text. ``[[rule]]`` headers start rules, and ``key =`` lines at the
top level of a rule give its keys. The start of each item in an array value
(such as ``actions``) gives that item's line. An inline table on one
line is one item, so everything inside it shares that line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_KEY = re.compile(rf"({_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*)[ \t]*=")


@dataclass
class RuleLines:
    """Lines of one rule: its header, its keys (``scope.folders`` for sub-table keys)
    and the items of its array values."""

    line: int
    keys: dict[str, int] = field(default_factory=dict)
    items: dict[str, list[int]] = field(default_factory=dict)

    def key_line(self, key: str) -> int:
        return self.keys.get(key, self.line)

    def item_line(self, key: str, index: int) -> int:
        lines = self.items.get(key, [])
        return lines[index] if index < len(lines) else self.key_line(key)


@dataclass
class FileLines:
    """Lines of the keys outside any rule, and of each ``[[rule]]`` in file order."""

    top: RuleLines = field(default_factory=lambda: RuleLines(line=1))
    rules: list[RuleLines] = field(default_factory=list)


def _normalize_key(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in re.split(r"\.(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)", raw))


class _Scanner:
    """One pass over the text that tracks strings, comments and bracket depth."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.line = 1
        self.depth = 0
        self.result = FileLines()
        self.block: RuleLines | None = self.result.top
        self.prefix = ""
        self.array_key: str | None = None
        self.expect_item = False
        self.current_key: str | None = None

    def run(self) -> FileLines:
        line_start = True
        while self.position < len(self.text):
            char = self.text[self.position]
            if char == "\n":
                self.line += 1
                self.position += 1
                line_start = True
            elif char in " \t\r":
                self.position += 1
            elif char == "#":
                self._skip_to_line_end()
            elif line_start and self.depth == 0:
                line_start = False
                self._read_line_start(char)
            else:
                line_start = False
                self._read_value_char(char)
        return self.result

    def _skip_to_line_end(self) -> None:
        end = self.text.find("\n", self.position)
        self.position = len(self.text) if end < 0 else end

    def _read_line_start(self, char: str) -> None:
        if char == "[":
            start = self.position
            self._skip_to_line_end()
            self._open_table(self.text[start : self.position].split("#")[0].strip())
            return
        match = _KEY.match(self.text, self.position)
        if match is None:
            self._read_value_char(char)
            return
        self.current_key = self.prefix + _normalize_key(match.group(1))
        if self.block is not None:
            self.block.keys.setdefault(self.current_key, self.line)
        self.position = match.end()

    def _open_table(self, header: str) -> None:
        name = re.sub(r"\s", "", header.strip("[]"))
        if header.startswith("[[") and name == "rule":
            self.block = RuleLines(line=self.line)
            self.result.rules.append(self.block)
            self.prefix = ""
        elif name.startswith("rule.") and self.result.rules:
            self.block = self.result.rules[-1]
            self.prefix = name[len("rule.") :] + "."
            self.block.keys.setdefault(name[len("rule.") :], self.line)
        else:
            self.block = self.result.top
            self.prefix = name + "."
            self.block.keys.setdefault(name, self.line)

    def _read_value_char(self, char: str) -> None:
        if self.depth == 1 and self.expect_item and char not in ",]}":
            self._record_item()
        if char in "\"'":
            self._skip_string(char)
            return
        if char in "[{":
            if self.depth == 0 and char == "[":
                self.array_key = self.current_key
                self.expect_item = True
            self.depth += 1
        elif char in "]}":
            self.depth = max(0, self.depth - 1)
        elif char == "," and self.depth == 1:
            self.expect_item = True
        self.position += 1

    def _record_item(self) -> None:
        self.expect_item = False
        if self.block is not None and self.array_key is not None:
            self.block.items.setdefault(self.array_key, []).append(self.line)

    def _skip_string(self, quote: str) -> None:
        triple = quote * 3
        if self.text.startswith(triple, self.position):
            end = self.text.find(triple, self.position + 3)
            end = len(self.text) if end < 0 else end + 3
            # A multi-line string may end with up to two extra quotes (TOML 1.0).
            while end < len(self.text) and self.text[end] == quote:
                end += 1
        else:
            end = self.position + 1
            while end < len(self.text) and self.text[end] not in (quote, "\n"):
                end += 2 if quote == '"' and self.text[end] == "\\" else 1
            end += 1
        self.line += self.text.count("\n", self.position, min(end, len(self.text)))
        self.position = end


def locate(text: str) -> FileLines:
    """Return the lines of the rules, keys and array items in a rule file's text."""
    return _Scanner(text).run()
