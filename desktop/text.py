"""Small helpers for the text of messages shown to users."""

from __future__ import annotations


def sentence(text: object) -> str:
    """Return ``text`` as a sentence that more text can follow: ending in a full stop, unless it ends in ``.!?``.

    Use it where a message from elsewhere (a server reply, a library error) is followed by more text, so that
    "failed: {error}. Check ..." never shows two full stops.
    """
    text = str(text).rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
