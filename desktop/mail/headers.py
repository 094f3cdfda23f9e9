"""Decoding of header values that real mail gets wrong.

The ``email`` package's default policy repairs a lot but parses only about
900 messages/s, so Sluice parses with ``compat32`` (five to ten times faster)
and decodes here: RFC 2047 encoded words (also split across folded lines or
with bad padding), raw 8-bit headers, unknown or wrong charsets, and dates in
any common shape.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.utils
import logging
import quopri
import re
from datetime import datetime, timezone
from email.header import Header

log = logging.getLogger(__name__)

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
# Whitespace between two adjacent encoded words is not part of the text (RFC 2047 section 6.2).
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_SURROGATE = re.compile("[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n[ \t]")
_CHARSET_ALIASES = {
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "x-user-defined": "windows-1252",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ascii": "utf-8",
    "us-ascii": "utf-8",
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
}


def normalize_charset(charset: str | None) -> str:
    """Return a Python codec name for ``charset``, falling back to UTF-8."""
    if not charset:
        return "utf-8"
    name = charset.strip().strip('"').lower()
    # RFC 2231 allows a language suffix, as in "utf-8*en".
    name = name.split("*", 1)[0]
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode ``data`` as ``charset``, repairing the common lies.

    Mail that declares ``us-ascii`` or ``utf-8`` but carries Latin-1 bytes is
    frequent, so valid UTF-8 is tried first whenever the declared charset
    fails, then Windows-1252, which maps every byte.
    """
    codec = normalize_charset(charset)
    for candidate in (codec, "utf-8", "windows-1252"):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", errors="replace")


def header_to_str(value: object) -> str:
    """Return the raw text of a header value as compat32 parsing gives it.

    compat32 returns ``str`` with 8-bit bytes smuggled as surrogate escapes,
    or a ``Header`` object for undecodable values; both become plain text
    here, with raw 8-bit bytes decoded as UTF-8 (or Windows-1252).
    """
    if value is None:
        return ""
    if isinstance(value, Header):
        return str(value)
    text = str(value)
    if _SURROGATE.search(text):
        raw = text.encode("ascii", errors="surrogateescape")
        text = decode_bytes(raw, "utf-8")
    return text


def decode_words(value: object) -> str:
    """Decode RFC 2047 encoded words in a header value and unfold it.

    Adjacent encoded words in the same charset are joined as bytes before
    decoding, because some mailers split one multibyte character across two
    words, which RFC 2047 forbids but real mail does.
    """
    text = _FOLD.sub(" ", header_to_str(value))
    if "=?" not in text:
        return text.strip()
    text = _BETWEEN_WORDS.sub(r"\1\2", text)
    pieces: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        if match.start() > position:
            pieces.append(_flush(pending, pending_charset))
            pending, pending_charset = [], ""
            pieces.append(text[position : match.start()])
        position = match.end()
        charset = match.group(1).lower()
        data = _word_bytes(match)
        if data is None:
            pieces.append(_flush(pending, pending_charset))
            pending, pending_charset = [], ""
            pieces.append(match.group(0))
            continue
        if pending and charset != pending_charset:
            pieces.append(_flush(pending, pending_charset))
            pending = []
        pending.append(data)
        pending_charset = charset
    pieces.append(_flush(pending, pending_charset))
    pieces.append(text[position:])
    return "".join(pieces).strip()


def _flush(pending: list[bytes], charset: str) -> str:
    return decode_bytes(b"".join(pending), charset) if pending else ""


def _word_bytes(match: re.Match[str]) -> bytes | None:
    """Return the bytes of one encoded word, or None when they cannot be decoded."""
    charset, encoding, payload = match.groups()
    try:
        if encoding in "bB":
            padded = payload + "=" * (-len(payload) % 4)
            return base64.b64decode(padded, validate=False)
        return quopri.decodestring(payload.replace("_", " ").encode("ascii", errors="replace"), header=False)
    except (binascii.Error, ValueError) as error:
        log.debug("Kept an undecodable encoded word of charset %s as it is: %s", charset, error)
        return None


# "Name <local@domain>" or a bare address, with nothing that needs a real parser.
_SIMPLE_ADDRESS = re.compile(r'^\s*(?:([^",;:<>()@\\]*?)\s*<([^<>\s,;:"()@]+@[^<>\s,;:"()@]+)>|([^<>\s,;:"()@]+@[^<>\s,;:"()@]+))\s*$')


def parse_addresses(value: object) -> list[tuple[str, str]]:
    """Return (display name, address) pairs of an address header, decoded."""
    text = decode_words(value) if value is not None else ""
    if not text:
        return []
    simple = _SIMPLE_ADDRESS.match(text)
    if simple:
        # email.utils.getaddresses costs about 0.1 ms a call; most headers hold one plain address.
        name, address, bare = simple.groups()
        return [(name or "", address)] if address else [("", bare)]
    pairs = email.utils.getaddresses([text])
    result = []
    for name, address in pairs:
        name = name.strip().strip('"')
        address = address.strip()
        if not name and not address:
            continue
        result.append((name, address))
    return result


def format_address(name: str, address: str) -> str:
    """Return ``Name <address>``, or whichever part is present."""
    if name and address:
        return f"{name} <{address}>"
    return name or address


def parse_date(value: object) -> datetime | None:
    """Return a header date as an aware UTC datetime, or None if unreadable."""
    text = header_to_str(value).strip()
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    if not 1971 <= parsed.year <= 2200:
        return None
    return parsed.astimezone(timezone.utc)


_MSGID = re.compile(r"<([^<>\s]+)>")


def parse_message_ids(value: object) -> list[str]:
    """Return the ids in a Message-ID, In-Reply-To or References header, without brackets."""
    text = header_to_str(value)
    found = _MSGID.findall(text)
    if found:
        return found
    bare = text.strip()
    return [bare] if bare and " " not in bare else []
