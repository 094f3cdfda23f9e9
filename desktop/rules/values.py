"""Parsers for the small value formats of rule files: sizes, ages and names.

Each parser returns the value, or calls ``report`` with a message that names the
bad value and the fix and returns None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

Report = Callable[[str], None]

# Sizes count in binary units, as file managers on Linux and most mail servers do.
SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
AGE_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}
# About 1000 years, the limit of older_than: in the search language too.
MAX_AGE_DAYS = 365_000

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?b)", re.IGNORECASE)
_AGE = re.compile(r"(\d+)([dwmy])", re.IGNORECASE)
_LANE = re.compile(r"[a-z][a-z0-9-]{0,31}")
# RFC 3501 section 9: a keyword is an atom, so no spaces, controls or "(){%*\"\\]".
_KEYWORD = re.compile(r"[^\x00-\x20\x7f(){%*\"\\\]]+")


def type_name(value: object) -> str:
    """Name a TOML value's type as the TOML spec does."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    return names.get(type(value), type(value).__name__)


def parse_size(key: str, value: object, report: Report) -> int | None:
    """Parse ``"10MB"``, ``"512KB"``, ``"2.5 GB"`` or a plain integer of bytes."""
    example = f'Write a number of bytes or a number with B, KB, MB or GB, e.g. {key} = "10MB".'
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if not isinstance(value, str):
        report(f"Invalid {key} {value!r} ({type_name(value)}). {example}")
        return None
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        report(f"Invalid {key} '{value}'. {example}")
        return None
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def parse_age(key: str, value: object, report: Report) -> timedelta | None:
    """Parse ``"30d"``, ``"2w"``, ``"6m"``, ``"1y"`` or a plain integer of days."""
    example = (
        f"Write a number of days or a number followed by d (days), w (weeks), m (months of "
        f'30 days) or y (years of 365 days), e.g. {key} = "30d".'
    )
    days: int | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        days = value
    elif isinstance(value, str) and (match := _AGE.fullmatch(value.strip())):
        days = int(match.group(1)) * AGE_UNIT_DAYS[match.group(2).lower()]
    if days is None:
        shown = f"'{value}'" if isinstance(value, str) else f"{value!r} ({type_name(value)})"
        report(f"Invalid {key} {shown}. {example}")
        return None
    if days > MAX_AGE_DAYS:
        report(f"{key} '{value}' is too long. Use at most {MAX_AGE_DAYS} days (1000y).")
        return None
    return timedelta(days=days)


def check_lane(value: object, report: Report) -> str | None:
    if isinstance(value, str) and _LANE.fullmatch(value):
        return value
    report(
        f"Invalid lane name {value!r}. A lane name is 1 to 32 lowercase letters, digits or "
        f'hyphens and starts with a letter, e.g. lane = "vip".'
    )
    return None


def check_keyword(key: str, value: object, report: Report) -> str | None:
    if isinstance(value, str) and _KEYWORD.fullmatch(value) and not value.startswith("\\"):
        return value
    report(
        f"Invalid IMAP keyword {value!r} for {key}. Write one word without spaces, "
        f'quotes, brackets, % or *, and not starting with a backslash, e.g. {key} = "$work".'
    )
    return None
