"""Parsing raw messages into what the store, the index and the reader need.

Two paths, chosen for sync speed:

* ``parse_summary`` reads the header block only (about ten times faster than
  a full parse) and gives the fields the message list shows. Sync uses it.
* ``parse_message`` walks the whole MIME tree and gives the text, the HTML
  and the attachments. The indexer and the reader use it.

Neither raises on broken mail: what cannot be read is left empty, the
problem is recorded in ``defects``, and the raw bytes stay in the store.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from desktop.mail.headers import (
    decode_bytes,
    decode_words,
    format_address,
    header_to_str,
    parse_addresses,
    parse_date,
    parse_message_ids,
)
from desktop.mail.html import html_to_text, sanitize_html

log = logging.getLogger(__name__)

_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)
_FULL_PARSER = email.parser.BytesParser(policy=email.policy.compat32)
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|sv|vs|antw|r)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
# A cheap look at the raw bytes for a part with a file name or an attachment
# disposition. The full parse in the indexer gives the exact result.
_ATTACHMENT_HINTS = (b"attachment", b"filename=", b"filename*")
# A line in the header block that is neither "Name:" nor a folded continuation.
_BAD_HEADER_LINE = re.compile(rb"(?:^|\n)(?![ \t]|[\x21-\x39\x3b-\x7e]+[ \t]*:|\r?\n|$)", re.MULTILINE)
_HEADER_LINE = re.compile(rb"^(?:[ \t]|[\x21-\x39\x3b-\x7e]+[ \t]*:)")


@dataclass
class Summary:
    """The header fields the message list and threading need."""

    subject: str = ""
    from_name: str = ""
    from_addr: str = ""
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    list_id: str = ""
    has_attachment: bool = False
    thread_key: str = ""
    defects: list[str] = field(default_factory=list)

    @property
    def sender(self) -> str:
        return format_address(self.from_name, self.from_addr)

    @property
    def recipients(self) -> str:
        return ", ".join(format_address(name, address) for name, address in self.to + self.cc)


@dataclass
class Attachment:
    """One attachment or inline part with a file name."""

    filename: str
    content_type: str
    size: int
    content_id: str = ""
    inline: bool = False
    payload: bytes = b""


@dataclass
class ParsedMessage:
    """A fully parsed message."""

    summary: Summary
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    @property
    def body_text(self) -> str:
        """The plain text, or the text of the sanitised HTML part when there is no plain part."""
        if self.text.strip():
            return self.text
        return html_to_text(sanitize_html(self.html)) if self.html else ""


def header_end(raw: bytes) -> int:
    """Return the offset just past the blank line that ends the header block, or len(raw)."""
    crlf = raw.find(b"\r\n\r\n")
    lf = raw.find(b"\n\n")
    candidates = [offset + size for offset, size in ((crlf, 4), (lf, 2)) if offset >= 0]
    return min(candidates) if candidates else len(raw)


def repair_header_block(raw: bytes) -> bytes:
    """Drop stray lines from the header block that would end it early.

    A parser takes the first line that is not a header as the start of the
    body, so one stray line would hide every header after it. Mail clients
    skip such a line instead.
    """
    block = raw[: header_end(raw)].rstrip(b"\r\n")
    if not _BAD_HEADER_LINE.search(block):
        return raw
    lines = block.split(b"\n")
    kept = [line for line in lines if _HEADER_LINE.match(line)]
    log.debug("Dropped %d stray line(s) from a header block", len(lines) - len(kept))
    return b"\n".join(kept) + raw[len(block) :]


def _header(message: Message, name: str) -> str | None:
    """Return the first raw value of header ``name``.

    compat32 turns a value with 8-bit bytes into a Header object that has
    lost them; the raw value keeps them for ``decode_words`` to repair.
    """
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return value
    return None


def parse_summary(raw: bytes) -> Summary:
    """Return the list fields of a raw message from its header block."""
    raw = repair_header_block(raw)
    try:
        # Only the header block goes to the parser: it would split the whole body into lines otherwise.
        message = _HEADER_PARSER.parsebytes(raw[: header_end(raw)])
    except Exception as error:  # noqa: BLE001 - the parser may raise anything on hostile input; the message is kept raw
        log.warning("Could not parse the headers of a message of %d bytes: %s", len(raw), error)
        return Summary(subject="(unreadable message)", defects=[f"header parse failed: {error}"])
    summary = _summary_from(message)
    summary.has_attachment = _has_attachment_hint(raw, message)
    return summary


def _summary_from(message: Message) -> Summary:
    summary = Summary()
    summary.subject = decode_words(_header(message, "Subject"))
    senders = parse_addresses(_header(message, "From"))
    if senders:
        summary.from_name, summary.from_addr = senders[0]
    else:
        summary.defects.append("no readable From")
    summary.to = parse_addresses(_header(message, "To"))
    summary.cc = parse_addresses(_header(message, "Cc"))
    summary.date = parse_date(_header(message, "Date"))
    if summary.date is None:
        summary.defects.append("no readable Date")
    ids = parse_message_ids(_header(message, "Message-ID"))
    summary.message_id = ids[0] if ids else ""
    reply_ids = parse_message_ids(_header(message, "In-Reply-To"))
    summary.in_reply_to = reply_ids[0] if reply_ids else ""
    summary.references = parse_message_ids(_header(message, "References"))
    summary.list_id = _list_id(_header(message, "List-Id"))
    summary.thread_key = thread_key(summary)
    for defect in getattr(message, "defects", []):
        summary.defects.append(type(defect).__name__)
    return summary


def _list_id(value: object) -> str:
    text = decode_words(value) if value is not None else ""
    ids = parse_message_ids(text)
    return ids[0].lower() if ids else text.lower()


def _has_attachment_hint(raw: bytes, message: Message) -> bool:
    if message.get_content_maintype() != "multipart":
        return message.get_filename() is not None
    lowered = raw.lower()
    return any(hint in lowered for hint in _ATTACHMENT_HINTS)


def normalize_subject(subject: str) -> str:
    """Return ``subject`` without reply and forward prefixes, for threading."""
    return _SUBJECT_PREFIX.sub("", subject).strip().lower()


def thread_key(summary: Summary) -> str:
    """Return a key shared by the messages of one thread.

    The root is the first id in References, else In-Reply-To, else the
    message's own id. This links replies to their thread's first message;
    full JWZ threading builds on the same stored fields.
    """
    root = (summary.references[0] if summary.references else "") or summary.in_reply_to or summary.message_id
    if root:
        return root
    digest = hashlib.sha1(normalize_subject(summary.subject).encode("utf-8", "replace")).hexdigest()[:16]
    return f"subject:{digest}"


def parse_message(raw: bytes, *, keep_payloads: bool = False) -> ParsedMessage:
    """Parse the whole message; ``keep_payloads`` keeps attachment bytes for the reader."""
    raw = repair_header_block(raw)
    try:
        message = _FULL_PARSER.parsebytes(raw)
    except Exception as error:  # noqa: BLE001 - the parser may raise anything on hostile input; the message is kept raw
        log.warning("Could not parse a message of %d bytes: %s", len(raw), error)
        summary = Summary(subject="(unreadable message)", defects=[f"parse failed: {error}"])
        return ParsedMessage(summary=summary, text=decode_bytes(raw), defects=summary.defects)

    parsed = ParsedMessage(summary=_summary_from(message))
    parsed.headers = [(name, decode_words(value)) for name, value in message.raw_items()]
    texts: list[str] = []
    htmls: list[str] = []
    _walk(message, parsed, texts, htmls, keep_payloads)
    parsed.text = "\n\n".join(texts)
    parsed.html = "\n".join(htmls)
    parsed.summary.has_attachment = any(not part.inline for part in parsed.attachments)
    parsed.defects = parsed.summary.defects + [type(defect).__name__ for part in message.walk() for defect in part.defects]
    return parsed


def _walk(part: Message, parsed: ParsedMessage, texts: list[str], htmls: list[str], keep: bool) -> None:
    """Collect text, HTML and attachments; a multipart/alternative gives one body."""
    maintype = part.get_content_maintype()
    subtype = part.get_content_subtype()
    if maintype == "multipart":
        children = part.get_payload()
        if not isinstance(children, list):
            texts.append(_payload_text(part))
            return
        if subtype == "alternative":
            _walk_alternative(children, parsed, texts, htmls, keep)
            return
        for child in children:
            _walk(child, parsed, texts, htmls, keep)
        return
    if maintype == "message" and subtype == "rfc822":
        _add_attachment(part, parsed, keep, default_name=_forwarded_name(part))
        return

    filename = _filename(part)
    disposition = _disposition(part)
    if filename or disposition == "attachment" or maintype not in ("text",):
        _add_attachment(part, parsed, keep, default_name=filename or f"part.{subtype or 'bin'}")
        return
    if subtype == "html":
        htmls.append(_payload_text(part))
    else:
        texts.append(_payload_text(part))


def _walk_alternative(children: list[Message], parsed: ParsedMessage, texts: list[str], htmls: list[str], keep: bool) -> None:
    plain_parts: list[str] = []
    html_parts: list[str] = []
    for child in children:
        _walk(child, parsed, plain_parts, html_parts, keep)
    texts.extend(plain_parts)
    htmls.extend(html_parts)


def _disposition(part: Message) -> str:
    """Return ``inline``, ``attachment`` or '' (compat32 may hand back a Header object)."""
    return header_to_str(_header(part, "Content-Disposition")).split(";", 1)[0].strip().lower()


def _payload_text(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception as error:  # noqa: BLE001 - bad transfer encodings raise varied errors
        log.debug("Kept an undecodable part as raw text: %s", error)
        data = None
    if data is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    return decode_bytes(data, part.get_content_charset())


def _filename(part: Message) -> str:
    """Return the part's decoded file name (RFC 2231 or RFC 2047), or ''.

    ``Message.get_filename`` decodes RFC 2231 values with errors replaced,
    so a Latin-1 name labelled UTF-8 loses its accents. The raw parameter
    is decoded here instead, with the same repairs as header text.
    """
    for name, header in (("filename", "Content-Disposition"), ("name", "Content-Type")):
        raw_value = _header(part, header)
        if raw_value is None:
            continue
        # A fresh Message over the repaired text keeps raw 8-bit names intact.
        probe = Message()
        probe[header] = header_to_str(raw_value)
        try:
            value = probe.get_param(name, header=header)
        except Exception:  # noqa: BLE001 - malformed RFC 2231 parameters raise from deep inside email.utils
            continue
        if value is None:
            continue
        if isinstance(value, tuple):
            charset, _language, text = value
            return decode_bytes(text.encode("latin-1", "replace"), charset).strip()
        return decode_words(value.strip('"')).strip()
    return ""


def _forwarded_name(part: Message) -> str:
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        subject = decode_words(_header(inner[0], "Subject")) or "forwarded message"
        return f"{subject}.eml"
    return "forwarded message.eml"


def _add_attachment(part: Message, parsed: ParsedMessage, keep: bool, default_name: str) -> None:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - bad transfer encodings raise varied errors
        data = None
    if data is None:
        payload = part.get_payload()
        if isinstance(payload, list):
            data = b"".join(sub.as_bytes() for sub in payload if isinstance(sub, Message))
        else:
            data = str(payload).encode("utf-8", "surrogateescape")
    content_id = parse_message_ids(_header(part, "Content-ID"))
    disposition = _disposition(part)
    parsed.attachments.append(
        Attachment(
            filename=_filename(part) or default_name,
            content_type=part.get_content_type(),
            size=len(data),
            content_id=content_id[0] if content_id else "",
            inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
            payload=data if keep else b"",
        )
    )
