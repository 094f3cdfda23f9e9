"""Small helpers for reading IMAP responses.

Most responses go through imapclient. The flag check of a folder reads one
FETCH line per changed message, thousands after a bulk change, and
imapclient's general response parser is the slowest part of that. So
``fetch_flags`` sends its UID FETCH through imaplib, which imapclient wraps,
and reads the simple lines with a regular expression; only a line it cannot
read that way goes to imapclient's parser.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

log = logging.getLogger(__name__)

# "12 (UID 40 MODSEQ (9) FLAGS (\Seen $work))": the data of an untagged FETCH as imaplib files it.
_FETCH_LINE = re.compile(rb"\d+ \((.*)\)\Z", re.DOTALL)
_UID_ITEM = re.compile(rb"(?:\A|[ (])UID (\d+)(?=[ )]|\Z)", re.IGNORECASE)
_FLAGS_ITEM = re.compile(rb"(?:\A|[ (])FLAGS \(([^()\"{}]*)\)", re.IGNORECASE)


def text(value: bytes | str) -> str:
    """Return a response item as text; servers send UTF-8 or ASCII."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def response_flags(values) -> frozenset[str]:
    """Return the flags of a FETCH response without \\Recent, which belongs to one session only (RFC 3501 2.3.2)."""
    return frozenset(text(flag) for flag in values if text(flag).lower() != "\\recent")


@contextmanager
def quiet_protocol_log(client: IMAPClient) -> Iterator[None]:
    """Stop imaplib from formatting a debug line for every response line while the block runs.

    imapclient sets imaplib's debug level to 5 and hands the lines to the
    ``imapclient.imaplib`` logger, but imaplib formats each line before the
    logger decides to drop it, which costs more than reading the line after a
    bulk MOVE or STORE. With that logger at DEBUG the lines are kept.
    """
    imap = client._imap
    if logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        yield
        return
    level = imap.debug
    imap.debug = 0
    try:
        yield
    finally:
        imap.debug = level


def fetch_flags(client: IMAPClient, uid_set: Sequence[str], changed_since: int | None = None) -> dict[int, frozenset[str]]:
    """Return {UID: flags} of the selected folder's messages in ``uid_set``, such as ``["4:9", "12"]``.

    With ``changed_since`` only messages whose MODSEQ is above it are listed
    (CHANGEDSINCE, RFC 7162 section 3.1.4). \\Recent is left out, and a FETCH
    line without FLAGS (an unsolicited MODSEQ report) is skipped, as is a UID
    outside ``uid_set``.

    Raises:
        IMAPClientError: the server returned NO or BAD.
        IMAPClientAbortError: the connection failed.
    """
    if not uid_set:
        return {}
    uid_text = ",".join(uid_set)
    arguments = [uid_text, "(UID FLAGS)"]
    if changed_since is not None:
        arguments.append(f"(CHANGEDSINCE {changed_since})")
    with quiet_protocol_log(client):
        typ, lines = client._imap.uid("FETCH", *arguments)
    if typ != "OK":
        raise IMAPClientError(f"UID FETCH of flags failed: {text(lines[0]) if lines and lines[0] else typ}")
    wanted = _RangeSet(uid_set)
    flags: dict[int, frozenset[str]] = {}
    odd: list = []
    for line in lines:
        if line is None:
            continue
        parsed = _read_line(line)
        if parsed is None:
            odd.append(line)
        elif parsed[1] is not None and parsed[0] in wanted:
            flags[parsed[0]] = parsed[1]
    if odd:
        # Literals or other forms the quick reading does not cover.
        log.debug("Read %d FETCH line(s) with imapclient's parser", len(odd))
        for uid, data in parse_fetch_response(odd, False, True).items():
            if b"FLAGS" in data and uid in wanted:
                flags[uid] = response_flags(data[b"FLAGS"])
    return flags


def _read_line(line) -> tuple[int, frozenset[str] | None] | None:
    """Return (UID, flags or None) of one FETCH line, or None when it needs the full parser."""
    if not isinstance(line, bytes):
        return None
    match = _FETCH_LINE.match(line)
    if match is None:
        return None
    items = match.group(1)
    found = _FLAGS_ITEM.search(items)
    if found is None and b"FLAGS" in items.upper():
        return None
    # The UID is looked for outside the flag list, where a keyword could look like one.
    rest = items if found is None else items[: found.start()] + b" " + items[found.end() :]
    uid = _UID_ITEM.search(rest)
    if uid is None:
        return None
    if found is None:
        return int(uid.group(1)), None
    flags = frozenset(
        flag.decode("utf-8", "replace") for flag in found.group(1).split() if flag.lower() != b"\\recent"
    )
    return int(uid.group(1)), flags


class _RangeSet:
    """Membership test for a UID set such as ``["4:9", "12"]`` without expanding it."""

    def __init__(self, uid_set: Sequence[str]) -> None:
        ranges = []
        for part in uid_set:
            for piece in part.split(","):
                first, _, last = piece.partition(":")
                low, high = int(first), int(last or first)
                ranges.append((min(low, high), max(low, high)))
        ranges.sort()
        # Merged, so that the ranges are disjoint and one lookup finds the only candidate.
        self._lows: list[int] = []
        self._highs: list[int] = []
        for low, high in ranges:
            if self._highs and low <= self._highs[-1] + 1:
                self._highs[-1] = max(self._highs[-1], high)
            else:
                self._lows.append(low)
                self._highs.append(high)

    def __contains__(self, uid: int) -> bool:
        index = bisect_right(self._lows, uid)
        return index > 0 and self._highs[index - 1] >= uid
