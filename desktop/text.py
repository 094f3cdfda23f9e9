"""Small helpers for the text of messages shown to users."""

from __future__ import annotations


def sentence(text: object) -> str:
    """Return ``text`` as a sentence that more text can follow: ending in a full stop, unless it ends in ``.!?``.

    Use it where a message from elsewhere (a server reply, a library error) is followed by more text, so that
    "failed: {error}. Check ..." never shows two full stops.
    """
    text = str(text).rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def pluralize(number: int, singular: str, plural: str | None = None) -> str:
    """Return ``number`` followed by the noun in the form that goes with it: "1 message", "0 messages".

    ``plural`` defaults to ``singular`` with an "s". Pass it for the other plurals ("reply", "replies").
    The number has no thousands separators, as in the other counts that the command line prints.
    """
    if number == 1:
        return f"{number} {singular}"
    return f"{number} {plural if plural is not None else singular + 's'}"
