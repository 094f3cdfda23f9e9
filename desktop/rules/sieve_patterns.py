"""Translate rule globs and Python regexes into Sieve match keys, and check Sieve strings.

Sieve's ``:regex`` match type (draft-murchison-sieve-regex, as Dovecot's Pigeonhole
implements it) takes POSIX extended regular expressions. Only the part of Python's
syntax that means the same there is translated; the rest raises Unexpressible.
"""

from __future__ import annotations

import re

# Characters that have a meaning in POSIX extended regexes outside a bracket expression.
_ERE_SPECIAL = set("^.[$()|*+?{\\")

# Python regex escapes with a POSIX equivalent, outside and inside a bracket expression.
_CLASS_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "s": "[[:space:]]", "S": "[^[:space:]]"}
_BRACKET_ESCAPES = {"d": "0-9", "s": "[:space:]"}

_QUANTIFIER = re.compile(r"\{(\d*)(,?)(\d*)\}")


class Unexpressible(Exception):
    """A condition or value that Sieve cannot express; the message is the reason, in plain English."""


def check_sieve_text(text: str) -> None:
    if "\x00" in text:
        raise Unexpressible(f"a Sieve string cannot contain a NUL character (in {text!r})")


def check_ascii_case(value: str, case_sensitive: bool) -> None:
    """Reject a case-insensitive comparison whose value has letters outside A to Z.

    Pigeonhole offers only i;ascii-casemap for ignoring case, which folds A to Z,
    so "Über" would not match "ÜBER" as it does on the desktop.
    """
    if case_sensitive:
        return
    cased = [char for char in value if not char.isascii() and char.upper() != char.lower()]
    if cased:
        raise Unexpressible(
            f"Sieve ignores case only for A to Z, and {value!r} has other letters ({''.join(cased[:3])}); "
            f"set case_sensitive = true if the case is known"
        )


# Glob and regex translation


def escape_ere(char: str) -> str:
    return "\\" + char if char in _ERE_SPECIAL else char


def _glob_bracket_end(glob: str, start: int) -> int:
    """Return the index of the ``]`` closing the bracket at ``start``, or -1 (then ``[`` is literal)."""
    position = start + 1
    if position < len(glob) and glob[position] == "!":
        position += 1
    if position < len(glob) and glob[position] == "]":
        position += 1
    closing = glob.find("]", position)
    return closing


def glob_to_sieve(glob: str) -> tuple[str, str]:
    """Translate a rule glob into a Sieve match type and key: ``:matches``, or ``:regex`` for ``?`` and ``[...]``.

    Sieve's ``:matches`` has no bracket expressions, and Pigeonhole 0.5.19 gets
    ``?`` wrong next to ``*`` ("a*??" matches "ab", "x*?y" matches "xy"), so
    a glob with either becomes an anchored POSIX regex.
    """
    has_bracket = any(char == "[" and _glob_bracket_end(glob, index) > 0 for index, char in enumerate(glob))
    if not has_bracket and "?" not in glob:
        # A backslash is literal in the desktop's globs but an escape in Sieve's.
        return ":matches", glob.replace("\\", "\\\\")

    pieces = ["^"]
    index = 0
    while index < len(glob):
        char = glob[index]
        closing = _glob_bracket_end(glob, index) if char == "[" else -1
        if char == "*":
            pieces.append(".*")
        elif char == "?":
            pieces.append(".")
        elif closing > 0:
            pieces.append(_glob_bracket(glob, glob[index + 1 : closing]))
            index = closing
        else:
            pieces.append(escape_ere(char))
        index += 1
    pieces.append("$")
    return ":regex", "".join(pieces)


def _glob_bracket(glob: str, body: str) -> str:
    negated = body.startswith("!")
    if negated:
        body = body[1:]
    if body.startswith("^") or "[" in body:
        raise Unexpressible(f"POSIX regexes read a bracket with '^' or '[' differently (glob {glob!r})")
    return "[" + ("^" if negated else "") + body + "]"


def python_regex_to_posix(pattern: str) -> str:
    """Translate a Python regex into POSIX extended syntax, or raise Unexpressible.

    Accepted: literals, ``.``, ``| ( ) ^ $``, the quantifiers ``* + ? {m,n}`` (a
    lazy ``?`` after one is dropped, because laziness does not change whether a
    match exists), bracket expressions, ``\\d \\D \\s \\S`` and escaped punctuation.
    Anything else, such as ``\\b``, ``\\w``, back-references or ``(?...)`` groups,
    has no POSIX equivalent and is rejected.

    NOTE: \\d and \\s become their ASCII classes, while Python also matches other
    Unicode digits and spaces. And ``.`` may match one byte of a multi-byte character
    in Pigeonhole but always one whole character in Python.
    """
    pieces: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            pieces.append(_regex_escape(pattern, index))
            index += 2
            continue
        if char == "[":
            text, index = _regex_bracket(pattern, index)
            pieces.append(text)
            continue
        if char == "(" and pattern.startswith("(?", index):
            raise Unexpressible(f"POSIX extended regexes (Sieve's regex) have no '(?...)' groups (regex {pattern!r})")
        if char == "{":
            text, index = _regex_braces(pattern, index)
            pieces.append(text)
            continue
        pieces.append(char)
        index += 1
        if char in "*+?" and index < len(pattern) and pattern[index] in "?+":
            index = _skip_lazy(pattern, index)
    return "".join(pieces)


def _skip_lazy(pattern: str, index: int) -> int:
    if pattern[index] == "+":
        raise Unexpressible(f"POSIX extended regexes (Sieve's regex) have no possessive quantifiers (regex {pattern!r})")
    return index + 1


def _regex_escape(pattern: str, index: int) -> str:
    if index + 1 >= len(pattern):
        raise Unexpressible(f"a regex cannot end with a backslash (regex {pattern!r})")
    escaped = pattern[index + 1]
    if escaped in _CLASS_ESCAPES:
        return _CLASS_ESCAPES[escaped]
    if escaped.isalnum() or escaped.isspace():
        raise Unexpressible(f"POSIX extended regexes (Sieve's regex) have no '\\{escaped}' (regex {pattern!r})")
    return escape_ere(escaped)


def _regex_braces(pattern: str, index: int) -> tuple[str, int]:
    match = _QUANTIFIER.match(pattern, index)
    if match is None or not (match.group(1) or match.group(3)):
        # Python reads a brace that starts no quantifier as a literal.
        return "\\{", index + 1
    low, comma, high = match.groups()
    end = match.end()
    if end < len(pattern) and pattern[end] in "?+":
        end = _skip_lazy(pattern, end)
    return "{" + (low or "0") + comma + high + "}", end


def _regex_bracket(pattern: str, start: int) -> tuple[str, int]:
    """Translate the bracket expression at ``start``; return it and the index after its ``]``."""
    index = start + 1
    negated = pattern.startswith("^", index)
    if negated:
        index += 1
    content_start = index
    items: list[str] = []
    specials: set[str] = set()

    # Python reads a "]" right after "[" or "[^" as a literal.
    while index < len(pattern) and (pattern[index] != "]" or index == content_start):
        item_start = index
        item, index = _bracket_item(pattern, index)
        # A "-" is a literal when escaped or at either end; elsewhere it forms a range.
        literal_dash = item == "-" and (
            pattern[item_start] == "\\" or item_start == content_start or pattern.startswith("]", index)
        )
        if item in ("]", "^", "\\") or literal_dash:
            specials.add(item)
        else:
            items.append(item)
    if index >= len(pattern):
        raise Unexpressible(f"a '[' has no ']' (regex {pattern!r})")

    body = _bracket_body(items, specials)
    if body == "^" and not negated:
        return "\\^", index + 1
    return "[" + ("^" if negated else "") + body + "]", index + 1


def _bracket_item(pattern: str, index: int) -> tuple[str, int]:
    """Return one character or class of a bracket expression, as POSIX writes it, and the next index."""
    char = pattern[index]
    if char == "[" and pattern[index + 1 : index + 2] in (":", ".", "="):
        raise Unexpressible(f"POSIX reads '[{pattern[index + 1]}' in brackets as a class (regex {pattern!r})")
    if char != "\\" or index + 1 >= len(pattern):
        return char, index + 1

    escaped = pattern[index + 1]
    if escaped in _BRACKET_ESCAPES:
        return _BRACKET_ESCAPES[escaped], index + 2
    if escaped.isalnum() or escaped.isspace():
        raise Unexpressible(f"POSIX brackets have no '\\{escaped}' (regex {pattern!r})")
    return escaped, index + 2


def _bracket_body(items: list[str], specials: set[str]) -> str:
    """Place the characters POSIX cannot escape in brackets: "]" first, "^" not first, "-" last."""
    body = "]" if "]" in specials else ""
    body += "".join(items)
    if "\\" in specials:
        body += "\\"
    if "^" in specials:
        body += "^"
    if "-" in specials:
        body += "-"
    return body
