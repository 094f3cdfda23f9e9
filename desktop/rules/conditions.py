"""Build condition objects from the ``when`` and ``if`` values of a rule.

An ``if`` entry is a table with exactly one kind key, for example::

    { header = "subject", contains = "invoice" }
    { address = "from", part = "domain", is = "example.com" }
    { in = "body", regex = "order #\\d+" }
    { any = [{ unread = true }, { flagged = true }] }

``docs/rules.md`` lists every kind with its options.
"""

from __future__ import annotations

import re

from desktop.index.query import QueryError
from desktop.rules.model import (
    AddressTest,
    AgeTest,
    AllOf,
    AnyOf,
    AttachmentTest,
    BodyTest,
    Condition,
    FlagTest,
    HeaderTest,
    NotOf,
    SizeTest,
    TextMatch,
    When,
)
from desktop.rules.problems import unknown_key_message
from desktop.rules.values import Report, parse_age, parse_size, type_name
from desktop.rules.when import parse_when

OPERATORS = ("is", "contains", "matches", "regex")
ADDRESS_HEADERS = ("from", "to", "cc", "reply-to", "sender", "recipient")
ADDRESS_PARTS = ("address", "local", "domain")
TEXT_PLACES = ("body", "attachment")
KINDS = (
    "header", "address", "in", "has_attachment", "size_above", "size_below",
    "older_than", "newer_than", "unread", "flagged", "all", "any", "not",
)
# Nested all/any/not deeper than this are rejected, which bounds recursion here and in matchers.
MAX_DEPTH = 16

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 section 2.2: printable ASCII except ":"


def parse_when_value(value: object, report: Report) -> When | None:
    if not isinstance(value, str):
        report(f"'when' must be a string with a search query, not {type_name(value)}, e.g. when = 'from:ana'.")
        return None
    try:
        return When(value, parse_when(value))
    except QueryError as error:
        report(f"Invalid 'when' query at character {error.position + 1}: {error}")
        return None


def parse_condition(value: object, report: Report, depth: int = 0) -> Condition | None:
    """Build one condition from an ``if`` table; report problems and return None if invalid."""
    if not isinstance(value, dict):
        report(f"A condition must be a table such as {{ header = \"subject\", contains = \"x\" }}, not {type_name(value)}.")
        return None
    kinds = [key for key in value if key in KINDS]
    if len(kinds) != 1:
        _report_kinds(value, kinds, report)
        return None
    if depth >= MAX_DEPTH:
        report(f"Conditions are nested more than {MAX_DEPTH} levels deep. Flatten the all/any/not tables.")
        return None
    return _BUILDERS[kinds[0]](value, report, depth)


def _report_kinds(value: dict, kinds: list[str], report: Report) -> None:
    if kinds:
        report(f"A condition has exactly one of {', '.join(KINDS)}, but this one has {', '.join(kinds)}. Split it into separate conditions.")
        return
    unknown = [key for key in value if key not in OPTION_KEYS]
    if unknown:
        report(unknown_key_message(unknown[0], KINDS, "condition"))
        return
    report(f"A condition needs one of {', '.join(KINDS)}, e.g. {{ header = \"subject\", contains = \"invoice\" }}.")


def _check_keys(value: dict, allowed: tuple[str, ...], kind: str, report: Report) -> bool:
    unknown = [key for key in value if key not in allowed]
    for key in unknown:
        report(unknown_key_message(key, allowed, f"key in a '{kind}' condition"))
    return not unknown


def _text_match(value: dict, kind: str, report: Report) -> TextMatch | None:
    operators = [key for key in OPERATORS if key in value]
    if len(operators) != 1:
        report(f"A '{kind}' condition needs exactly one of {', '.join(OPERATORS)}, e.g. {{ {kind} = ..., contains = \"text\" }}.")
        return None
    operator = operators[0]
    pattern = value[operator]
    case = value.get("case_sensitive", False)
    if not isinstance(pattern, str) or not pattern:
        report(f"'{operator}' in a '{kind}' condition must be a non-empty string, not {pattern!r}.")
        return None
    if not isinstance(case, bool):
        report(f"'case_sensitive' must be true or false, not {case!r}.")
        return None
    if operator == "regex" and not _regex_compiles(pattern, case, report):
        return None
    return TextMatch(operator, pattern, case)


def _regex_compiles(pattern: str, case_sensitive: bool, report: Report) -> bool:
    try:
        re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as error:
        report(
            f"Invalid regex '{pattern}': {error.msg} at position {error.pos}. Fix the expression, or use "
            f"'contains' or 'matches' (a glob with * and ?) for plain text."
        )
        return False
    return True


def _header(value: dict, report: Report, depth: int) -> Condition | None:
    if not _check_keys(value, ("header", *OPERATORS, "case_sensitive"), "header", report):
        return None
    name = value["header"]
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        report(f"Invalid header name {name!r}. Write the name without the colon, e.g. header = \"list-id\".")
        return None
    match = _text_match(value, "header", report)
    return None if match is None else HeaderTest(name.lower(), match)


def _address(value: dict, report: Report, depth: int) -> Condition | None:
    if not _check_keys(value, ("address", "part", *OPERATORS, "case_sensitive"), "address", report):
        return None
    header = value["address"]
    part = value.get("part", "address")
    if not isinstance(header, str) or header.lower() not in ADDRESS_HEADERS:
        report(f"Invalid address header {header!r}. Use one of: {', '.join(ADDRESS_HEADERS)}.")
        return None
    if part not in ADDRESS_PARTS:
        report(f"Invalid address part {part!r}. Use one of: {', '.join(ADDRESS_PARTS)}.")
        return None
    match = _text_match(value, "address", report)
    return None if match is None else AddressTest(header.lower(), part, match)


def _in_text(value: dict, report: Report, depth: int) -> Condition | None:
    if not _check_keys(value, ("in", *OPERATORS, "case_sensitive"), "in", report):
        return None
    place = value["in"]
    if place not in TEXT_PLACES:
        report(f"Invalid place {place!r} for 'in'. Use \"body\" (the message text) or \"attachment\" (attachment names).")
        return None
    match = _text_match(value, "in", report)
    if match is None:
        return None
    return BodyTest(match) if place == "body" else AttachmentTest(match)


def _has_attachment(value: dict, report: Report, depth: int) -> Condition | None:
    flag = _single_bool(value, "has_attachment", report)
    return None if flag is None else AttachmentTest(present=flag)


def _single_bool(value: dict, key: str, report: Report) -> bool | None:
    if not _check_keys(value, (key,), key, report):
        return None
    if not isinstance(value[key], bool):
        report(f"'{key}' must be true or false, not {value[key]!r}, e.g. {{ {key} = true }}.")
        return None
    return value[key]


def _flag(value: dict, report: Report, depth: int) -> Condition | None:
    key = "unread" if "unread" in value else "flagged"
    flag = _single_bool(value, key, report)
    return None if flag is None else FlagTest(key, flag)


def _size(value: dict, report: Report, depth: int) -> Condition | None:
    key = "size_above" if "size_above" in value else "size_below"
    if not _check_keys(value, (key,), key, report):
        return None
    size = parse_size(key, value[key], report)
    if size is None:
        return None
    return SizeTest(above=size) if key == "size_above" else SizeTest(below=size)


def _age(value: dict, report: Report, depth: int) -> Condition | None:
    key = "older_than" if "older_than" in value else "newer_than"
    if not _check_keys(value, (key,), key, report):
        return None
    age = parse_age(key, value[key], report)
    return None if age is None else AgeTest(age, older=key == "older_than")


def _group(value: dict, report: Report, depth: int) -> Condition | None:
    key = "all" if "all" in value else "any"
    if not _check_keys(value, (key,), key, report):
        return None
    items = value[key]
    if not isinstance(items, list) or not items:
        report(f"'{key}' must be a non-empty array of conditions, e.g. {key} = [{{ unread = true }}, {{ flagged = true }}].")
        return None
    parts = [parse_condition(item, report, depth + 1) for item in items]
    if any(part is None for part in parts):
        return None
    return (AllOf if key == "all" else AnyOf)(tuple(parts))  # type: ignore[arg-type]


def _not(value: dict, report: Report, depth: int) -> Condition | None:
    if not _check_keys(value, ("not",), "not", report):
        return None
    inner = parse_condition(value["not"], report, depth + 1)
    return None if inner is None else NotOf(inner)


_BUILDERS = {
    "header": _header,
    "address": _address,
    "in": _in_text,
    "has_attachment": _has_attachment,
    "size_above": _size,
    "size_below": _size,
    "older_than": _age,
    "newer_than": _age,
    "unread": _flag,
    "flagged": _flag,
    "all": _group,
    "any": _group,
    "not": _not,
}
OPTION_KEYS = (*OPERATORS, "case_sensitive", "part")
