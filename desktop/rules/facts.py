"""What the rule matcher reads from one message, computed once and then cached.

Most conditions need only the store's columns (sender, recipients, subject,
List-Id, date, flags, size, attachment mark). A named header needs the header
block, and body text or attachment names need a full parse, so those are read
from the stored raw message only when a condition needs them.

Text is split into terms with the search index's own functions
(``index_terms``, ``normalize_text``), and body and attachment names come from
``document_for``, the function that builds index documents. So a ``when`` query
matches here exactly the messages the search box finds.

A value that needs the raw message is None ("unknown") when the store has only
the message's headers; the matcher then reports that it needs the body. Mail
that cannot be parsed is never an error: what cannot be read counts as empty.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from desktop.index.builder import document_for
from desktop.index.whoosh_engine import index_terms, normalize_text
from desktop.mail.headers import decode_words, format_address, parse_addresses
from desktop.store import MessageRow

logger = logging.getLogger(__name__)

# Index field names, as the index document calls them.
SENDER = "sender"
RECIPIENTS = "recipients"
SUBJECT = "subject"
BODY = "body"
ATTACHMENTS = "attachments"
CC = "cc"

# Query field names (``from:``, ``to:``...) to index field names.
QUERY_FIELDS = {
    "from": SENDER, "to": RECIPIENTS, "cc": CC, "subject": SUBJECT, "body": BODY, "attachment": ATTACHMENTS,
}
# Words without a field search these five fields, and a quoted phrase without a
# field searches only subject and body, as the search index does. Cc is not
# listed because recipients (To and Cc) contains it.
WORD_FIELDS = (SENDER, RECIPIENTS, SUBJECT, BODY, ATTACHMENTS)
PHRASE_FIELDS = (SUBJECT, BODY)
# Fields built from store columns; the others need the raw message. Cc needs it
# because the store keeps To and Cc together in the recipients column.
COLUMN_FIELDS = frozenset((SENDER, RECIPIENTS, SUBJECT))

# The index stores dates as whole minutes since 1970 (UTC) in a signed 32-bit
# number, so date ranges compare at that resolution, and later dates count as
# the maximum. The same rule is applied here.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
_MAX_MINUTE = 2**31 - 1

# One header field: a name of printable ASCII except the colon (RFC 5322
# section 2.2), the colon, and the value with its folded continuation lines.
_HEADER_FIELD = re.compile(r"^([!-9;-~]+)[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.MULTILINE)
# Addresses in the store's recipients column, which lists "Name <address>" or
# bare addresses, comma separated.
_COLUMN_ADDRESS = re.compile(r"<([^<>\s]+)>|([^\s<>,;\"]+@[^\s<>,;\"]+)")

# The maximum number of term maps cached by text across messages; the cache is emptied when full.
MAX_SHARED_TERM_MAPS = 50_000

TermMap = dict[str, list[int]]
RawLoader = Callable[[int], "bytes | None"]


def minute_key(moment: datetime) -> int:
    """Return ``moment`` as whole minutes since 1970 in UTC, as the index stores dates.

    Naive values are taken as UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min((moment - _EPOCH) // _MINUTE, _MAX_MINUTE)


def term_map(text: str) -> TermMap:
    """Return each index term of ``text`` with its positions, as the index would record them."""
    terms: TermMap = {}
    for term, position in index_terms(text):
        positions = terms.get(term)
        if positions is None:
            terms[term] = [position]
        else:
            positions.append(position)
    return terms


def column_addresses(recipients: str) -> list[str]:
    """Return the addresses in the store's recipients column (To and Cc)."""
    return [bracketed or bare for bracketed, bare in _COLUMN_ADDRESS.findall(recipients)]


class MessageFacts:
    """The values of one message that conditions test, each computed on first use.

    Attributes:
        row: The message's store row.
    """

    __slots__ = ("row", "_load_raw", "_shared_terms", "_terms", "_flags", "_date_key", "_headers", "_decoded", "_document")

    def __init__(self, row: MessageRow, load_raw: RawLoader, shared_terms: dict[str, TermMap] | None = None) -> None:
        """Read nothing yet.

        Args:
            row: The message's store row.
            load_raw: Returns the raw message by store id, or None when only its headers are stored.
            shared_terms: A cache of term maps by text, shared between the messages
                of one run: many messages have the same sender or recipients.
        """
        self.row = row
        self._load_raw = load_raw
        self._shared_terms = {} if shared_terms is None else shared_terms
        self._terms: dict[str, TermMap | None] = {}
        self._flags: frozenset[str] | None = None
        self._date_key: int | None | bool = False
        # False: not read yet; None: the raw message is not stored.
        self._headers: dict[str, list[str]] | None | bool = False
        self._decoded: dict[tuple[str, bool], list[str]] = {}
        self._document: tuple[str, list[str], str] | None | bool = False

    def with_row(self, row: MessageRow) -> MessageFacts:
        """Return facts for a newer row of the same message, keeping what was read from its raw bytes."""
        fresh = MessageFacts(row, self._load_raw, self._shared_terms)
        fresh._headers = self._headers
        fresh._decoded = self._decoded
        fresh._document = self._document
        if self._document is not False:
            for field in (BODY, ATTACHMENTS, CC):
                if field in self._terms:
                    fresh._terms[field] = self._terms[field]
        return fresh

    # Store columns

    @property
    def flags(self) -> frozenset[str]:
        """The flags and keywords, normalised as the index stores them (e.g. "\\seen")."""
        if self._flags is None:
            self._flags = frozenset(normalize_text(flag) for flag in self.row.flags)
        return self._flags

    @property
    def date_key(self) -> int | None:
        """The date in whole minutes since 1970, or None when the message has no date."""
        if self._date_key is False:
            self._date_key = None if self.row.date is None else minute_key(self.row.date)
        return self._date_key

    def sender_text(self) -> str:
        """Return the From column as the index document has it: "Name <address>" or the address."""
        row = self.row
        return f"{row.from_name} <{row.from_addr}>" if row.from_name else row.from_addr

    def terms(self, field: str) -> TermMap | None:
        """Return the index terms of a text field, or None when it needs a raw message that is not stored."""
        try:
            return self._terms[field]
        except KeyError:
            pass
        terms = self._compute_terms(field)
        self._terms[field] = terms
        return terms

    def _compute_terms(self, field: str) -> TermMap | None:
        if field in COLUMN_FIELDS:
            if field == SUBJECT:
                text = self.row.subject
            elif field == SENDER:
                text = self.sender_text()
            else:
                text = self.row.recipients
            terms = self._shared_terms.get(text)
            if terms is None:
                if len(self._shared_terms) >= MAX_SHARED_TERM_MAPS:
                    self._shared_terms.clear()
                terms = self._shared_terms[text] = term_map(text)
            return terms
        document = self.document()
        if document is None:
            return None
        body, attachments, cc = document
        if field == BODY:
            return term_map(body)
        if field == CC:
            return term_map(cc)
        return term_map("\n".join(attachments))

    # The raw message

    def header_values(self, name: str) -> list[str] | None:
        """Return the decoded values of header ``name`` (lowercase), or None when the raw message is not stored."""
        return self._header_read(name, addresses=False)

    def header_addresses(self, name: str) -> list[str] | None:
        """Return the addresses in header ``name`` (lowercase), or None when the raw message is not stored."""
        return self._header_read(name, addresses=True)

    def _header_read(self, name: str, addresses: bool) -> list[str] | None:
        decoded = self._decoded.get((name, addresses))
        if decoded is not None:
            return decoded
        headers = self._read_headers()
        if headers is None:
            return None
        values = headers.get(name, ())
        if addresses:
            decoded = [address for value in values for _name, address in parse_addresses(value) if address]
        else:
            decoded = [decode_words(value) for value in values]
        self._decoded[(name, addresses)] = decoded
        return decoded

    def body(self) -> str | None:
        """Return the plain-text body (text from HTML without a plain part), or None when not stored."""
        document = self.document()
        return None if document is None else document[0]

    def attachment_names(self) -> list[str] | None:
        """Return the attachment file names, or None when the raw message is not stored."""
        document = self.document()
        return None if document is None else document[1]

    def document(self) -> tuple[str, list[str], str] | None:
        """Return the body, attachment names and Cc text the index has for this message, or None when not stored."""
        if self._document is False:
            self._document = self._read_document()
        return self._document  # type: ignore[return-value]

    def _read_headers(self) -> dict[str, list[str]] | None:
        if self._headers is False:
            raw = self._load_raw(self.row.id)
            self._headers = None if raw is None else _parse_headers(raw)
        return self._headers  # type: ignore[return-value]

    def _read_document(self) -> tuple[str, list[str], str] | None:
        raw = self._load_raw(self.row.id)
        if raw is None:
            return None
        try:
            document = document_for(self.row, raw)
        except Exception as error:  # noqa: BLE001 - hostile mail may break the parser anywhere; the index then keeps headers only
            logger.debug("Could not parse message %d for rules, so its body counts as empty: %s", self.row.id, error)
            return "", [], ""
        return document.body, document.attachments, document.cc


def _header_end(raw: bytes) -> int:
    """Return the same offset as ``header_end``, without scanning a CRLF message's body for a bare LF pair."""
    crlf = raw.find(b"\r\n\r\n")
    limit = crlf + 4 if crlf >= 0 else len(raw)
    lf = raw.find(b"\n\n", 0, limit)
    if lf >= 0 and lf + 2 <= limit:
        return lf + 2
    return limit


def _parse_headers(raw: bytes) -> dict[str, list[str]]:
    """Return each header's raw values by lowercase name, as ``compat32`` parsing gives them.

    One regular expression reads the header block. On generated mail it took
    less than half the time of the email package's header parser, which
    matters when a rule tests a header of every message. Lines that are neither
    "Name: value" nor a folded continuation are skipped, as
    ``repair_header_block`` does, so one stray line hides no later header.
    """
    block = raw[: _header_end(raw)].decode("ascii", "surrogateescape").replace("\r\n", "\n")
    headers: dict[str, list[str]] = {}
    for name, value in _HEADER_FIELD.findall(block):
        headers.setdefault(name.lower(), []).append(value)
    return headers


def from_value(row: MessageRow) -> str:
    """Return the From column as a decoded header value: "Name <address>" or whichever part is present."""
    return format_address(row.from_name, row.from_addr)
