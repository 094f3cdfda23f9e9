"""Saving attachments: file names that are safe to write, and writes that never overwrite by surprise.

A file name in mail comes from the sender. It may hold folder parts
(``../../.bashrc``), control characters, right-to-left overrides that hide
the real extension (``invoice\u202efdp.exe`` shows as ``invoiceexe.pdf``),
or names Windows reserves for devices. ``safe_file_name`` keeps what is left
after removing those, so a save dialog can offer it and a "save all" can write it.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_NAME = "attachment"
MAX_NAME_BYTES = 255
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
# Characters that Windows or common file systems reject, besides the folder separators.
_FORBIDDEN = re.compile(r'[<>:"|?*]')


def safe_file_name(name: str, fallback: str = DEFAULT_NAME) -> str:
    """Return ``name`` without folder parts, control and format characters, usable as one file name."""
    name = unicodedata.normalize("NFC", name)
    # Only the last part counts: "a/b\\c.txt" becomes "c.txt".
    name = re.split(r"[/\\]", name)[-1]
    name = re.sub(r"[\t\r\n\v\f]", " ", name)
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    name = _FORBIDDEN.sub("_", name)
    name = " ".join(name.split())
    # Leading dots make hidden files (or "." and ".."); trailing dots and spaces vanish on Windows.
    name = name.lstrip(".").rstrip(". ")
    if _WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    if not name:
        return fallback
    return _shorten(name)


def _shorten(name: str) -> str:
    """Cut ``name`` to MAX_NAME_BYTES of UTF-8, keeping its extension."""
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    encoded = stem.encode("utf-8")[:budget]
    return encoded.decode("utf-8", "ignore") + suffix


def unique_path(folder: Path, name: str) -> Path:
    """Return ``folder / name``, or ``name (2).ext``, ``name (3).ext``… when that exists."""
    candidate = folder / name
    if not candidate.exists():
        return candidate
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    for number in range(2, 10_000):
        candidate = folder / f"{stem} ({number}){suffix}"
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"{folder} already has {name} and 9,998 numbered copies; choose another folder.")


def write_new_file(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path``, which must not exist; raise FileExistsError naming it otherwise."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise FileExistsError(f"{path} exists already; choose another name or confirm replacing it.") from None
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)


def save_attachment(data: bytes, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` and return it.

    Without ``overwrite`` an existing file raises FileExistsError. With it,
    the file is replaced atomically, so a failed write leaves the old file.
    """
    if not overwrite:
        write_new_file(path, data)
        log.info("Saved an attachment of %d bytes to %s", len(data), path)
        return path
    temporary = path.with_name(f".{path.name}.part")
    temporary.unlink(missing_ok=True)
    write_new_file(temporary, data)
    os.replace(temporary, path)
    log.info("Replaced %s with an attachment of %d bytes", path, len(data))
    return path


def save_all(parts: list[tuple[str, bytes]], folder: Path) -> list[Path]:
    """Write each (file name, data) into ``folder`` under a safe, unused name; return the paths in order."""
    written = []
    for name, data in parts:
        path = unique_path(folder, safe_file_name(name))
        write_new_file(path, data)
        written.append(path)
    log.info("Saved %d attachment(s) to %s", len(written), folder)
    return written
