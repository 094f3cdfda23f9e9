"""Small helpers for reading imapclient responses."""

from __future__ import annotations


def text(value: bytes | str) -> str:
    """Return a response item as text; servers send UTF-8 or ASCII."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def response_flags(values) -> frozenset[str]:
    """Return the flags of a FETCH response without \\Recent, which belongs to one session only (RFC 3501 2.3.2)."""
    return frozenset(text(flag) for flag in values if text(flag).lower() != "\\recent")
