"""Snippets: named text blocks with Jinja2 placeholders, kept as files in the profile.

Each file in the profile's ``snippets`` folder is one snippet: its name is
the file name without ``.txt`` or ``.md`` (letters, digits, ``-`` and
``_``). The text is a Jinja2 template rendered in a sandbox with the
variables of ``VARIABLES``; an unknown variable is an error naming it,
never an empty string.

In the composer, typing ``;`` and a snippet's name (``;thanks``) followed by
Tab replaces the trigger with the rendered snippet; the palette lists them
too. ``find_trigger`` finds such a trigger before the cursor.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from desktop.text import sentence

log = logging.getLogger(__name__)

TRIGGER = ";"
SUFFIXES = (".txt", ".md")
VARIABLES = {
    "recipient_name": "the display name of the first To recipient, else its address",
    "first_name": "the first word of recipient_name",
    "recipient_address": "the address of the first To recipient",
    "my_name": "your display name on the sending address, else the address",
    "subject": "the subject of the message being written",
    "date": "today's date as YYYY-MM-DD",
}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TRIGGER_AT_END = re.compile(re.escape(TRIGGER) + r"([A-Za-z0-9_-]{1,64})$")


class SnippetError(ValueError):
    """A snippet is missing or cannot be rendered; the text names the snippet and the fix."""


@dataclass(frozen=True)
class Snippet:
    """One snippet file.

    Attributes:
        name: The name typed after ``;``.
        path: The file.
        text: The template text.
    """

    name: str
    path: Path
    text: str


def snippets_dir(profile) -> Path:
    """Return the profile's snippets folder."""
    return profile.config_dir / "snippets"


def list_snippets(folder: Path) -> list[Snippet]:
    """Return the snippets in ``folder`` sorted by name; files with other names or suffixes are skipped."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in SUFFIXES or not _NAME.match(path.stem) or not path.is_file():
            continue
        try:
            found.append(Snippet(path.stem, path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            log.warning("Skipped snippet file %s: %s", path, error)
    return found


def save_snippet(folder: Path, name: str, text: str) -> Path:
    """Write a snippet file and return its path.

    Raises:
        SnippetError: the name is invalid.
    """
    if not _NAME.match(name):
        raise SnippetError(f"Snippet name {name!r} is invalid; use 1 to 64 letters, digits, '-' or '_'.")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return path


def find_trigger(text_before_cursor: str) -> str | None:
    """Return the snippet name of a ``;name`` trigger just before the cursor, or None."""
    match = _TRIGGER_AT_END.search(text_before_cursor)
    if match is None:
        return None
    start = match.start()
    # ";" inside a word (e.g. "a;b") is punctuation, not a trigger.
    if start > 0 and not text_before_cursor[start - 1].isspace():
        return None
    return match.group(1)


def snippet_values(draft, now: datetime | None = None) -> dict[str, str]:
    """Return the template variables for ``draft`` (a ``desktop.compose.build.Draft``)."""
    import email.utils

    name, address = email.utils.parseaddr(draft.to[0]) if draft.to else ("", "")
    recipient = name or address
    return {
        "recipient_name": recipient,
        "first_name": recipient.split()[0] if recipient.split() else "",
        "recipient_address": address,
        "my_name": draft.from_name or draft.from_address,
        "subject": draft.subject,
        "date": (now or datetime.now()).strftime("%Y-%m-%d"),
    }


def render_snippet(folder: Path, name: str, values: dict[str, str]) -> str:
    """Render snippet ``name`` with ``values``.

    Raises:
        SnippetError: no such snippet, a template error, or an unknown variable.
    """
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    snippet = next((item for item in list_snippets(folder) if item.name == name), None)
    if snippet is None:
        known = ", ".join(item.name for item in list_snippets(folder)) or "none yet"
        raise SnippetError(f"No snippet named {name!r} in {folder}; known snippets: {known}.")
    environment = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    try:
        return environment.from_string(snippet.text).render(**values)
    except jinja2.UndefinedError as error:
        raise SnippetError(f"Snippet {name!r} ({snippet.path}) uses an unknown variable: {error.message}. "
                           f"Known variables: {', '.join(VARIABLES)}.") from error
    except jinja2.TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f"{snippet.path}:{line}" if line else str(snippet.path)
        raise SnippetError(f"Snippet {name!r} has a template error at {where}: {sentence(error)} Fix the file.") from error
