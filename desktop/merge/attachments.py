"""Per-recipient attachments: file names or glob patterns resolved in the template's folder.

A path must stay inside the template's folder (sub-folders are fine), so a
data file cannot make a merge attach, say, a key file from the user's home.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

COLUMN_NAMES = ("attachments", "attachment", "files", "file")
# File contents kept in memory between rows, so a file attached to every message is read once.
CACHE_LIMIT_BYTES = 64 * 1024 * 1024
_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Attachment:
    """A file to attach.

    Attributes:
        path: The resolved file.
        filename: The name shown to the recipient (the file's own name).
        content_type: The MIME type guessed from the name, ``application/octet-stream`` if unknown.
    """

    path: Path
    filename: str
    content_type: str


@dataclass
class Resolution:
    """The attachments found for one row, and the patterns that matched nothing or were rejected."""

    found: list[Attachment]
    missing: list[str]


def split_names(value: str) -> list[str]:
    """Split a data field into file names: one per line, or separated by ``;``."""
    return [name.strip() for part in value.splitlines() for name in part.split(";") if name.strip()]


def resolve(patterns: list[str], base: Path) -> Resolution:
    """Find the files named by ``patterns`` (relative to ``base``); list the ones missing or outside it."""
    root = base.resolve()
    found: list[Attachment] = []
    missing: list[str] = []
    for pattern in patterns:
        paths = _matches(pattern, root)
        if paths is None:
            missing.append(f"{pattern} (outside the template's folder; copy the file into it or a sub-folder)")
        elif not paths:
            missing.append(pattern)
        for path in paths or []:
            if all(item.path != path for item in found):
                found.append(_attachment(path))
    return Resolution(found, missing)


def _matches(pattern: str, root: Path) -> list[Path] | None:
    """Return the files matching ``pattern``, or None when it points outside ``root``."""
    if Path(pattern).is_absolute():
        return None
    if _GLOB_CHARACTERS & set(pattern):
        candidates = [Path(name) for name in sorted(glob.glob(pattern, root_dir=root))]
    else:
        candidates = [Path(pattern)]
    paths = []
    for candidate in candidates:
        path = (root / candidate).resolve()
        if not path.is_relative_to(root):
            return None
        if path.is_file():
            paths.append(path)
    return paths


def _attachment(path: Path) -> Attachment:
    content_type, encoding = mimetypes.guess_type(path.name, strict=False)
    if content_type is None or encoding is not None:
        # A compressed file (.gz) is sent as the bytes it is, not as its inner type.
        content_type = "application/octet-stream" if encoding is None else _ENCODING_TYPES.get(encoding, "application/octet-stream")
    return Attachment(path, path.name, content_type)


_ENCODING_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}


class ContentCache:
    """Encoded file contents by path, bounded in total size, dropping the oldest entries first."""

    def __init__(self, limit: int = CACHE_LIMIT_BYTES) -> None:
        self.limit = limit
        self._data: dict[Path, str] = {}
        self._size = 0

    def read(self, path: Path, encode: Callable[[bytes], str]) -> str:
        """Return ``encode`` of the bytes of ``path``, from memory when read before."""
        data = self._data.get(path)
        if data is not None:
            return data
        data = encode(path.read_bytes())
        if len(data) <= self.limit:
            while self._size + len(data) > self.limit and self._data:
                oldest = next(iter(self._data))
                self._size -= len(self._data.pop(oldest))
            self._data[path] = data
            self._size += len(data)
        return data


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file's contents, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
