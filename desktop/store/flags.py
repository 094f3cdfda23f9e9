"""Flag names and the rules for which flags a server can store."""

from __future__ import annotations

from collections.abc import Iterable

SEEN = "\\Seen"
FLAGGED = "\\Flagged"
_SYSTEM_FLAG_NAMES = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
_SETTABLE_SYSTEM_FLAGS = frozenset(name.lower() for name in _SYSTEM_FLAG_NAMES)
_ATOM_SPECIALS = frozenset('(){%*"\\]')


def check_flag(flag: str) -> None:
    r"""Raise ValueError unless ``flag`` can be stored on an IMAP server and in the store.

    That is a system flag a client may set, or a keyword: an IMAP atom (RFC 3501
    section 9), which has no spaces, control characters or any of ``(){%*"\]``.
    """
    if flag.lower() in _SETTABLE_SYSTEM_FLAGS:
        return
    if flag and all("!" <= char <= "~" and char not in _ATOM_SPECIALS for char in flag):
        return
    raise ValueError(
        f"Flag {flag!r} cannot be stored on an IMAP server: use a system flag ({', '.join(_SYSTEM_FLAG_NAMES)}) "
        "or a keyword of printable ASCII without spaces or any of ( ) { % * \" \\ ]."
    )


def flags_text(flags: Iterable[str]) -> str:
    """Return flags as the store keeps them: sorted, space-separated, each once."""
    return " ".join(sorted(set(flags)))
