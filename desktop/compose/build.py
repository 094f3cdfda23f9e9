"""Building outgoing messages: the ``Draft`` a composer edits and the MIME message made from it.

``build_message`` turns a Draft into an ``EmailMessage`` ready for SMTP:

- Non-ASCII subjects and display names are encoded as RFC 2047 encoded words
  and attachment file names with RFC 2231 parameters (the ``email`` package's
  default policy does both when the message is serialised).
- No line of the result is longer than 998 octets (RFC 5322 section 2.1.1):
  text whose lines are longer than 78 characters goes out quoted-printable,
  binary attachments as base64.
- The Message-ID is made from the sending address's domain, and Date is the
  local time of the build.
- A CR, LF or NUL in any header field (subject, an address, a display name,
  a Message-ID of a reply) raises ``BuildError`` naming the field, so no
  field can add a header of its own.
- With ``format = "markdown"`` the body is rendered to HTML with
  python-markdown and sent as multipart/alternative: the Markdown source is
  the plain-text part. Quoted lines (``> ``) become HTML blockquotes.

The account's signature (``Account.signature``) is added below the body
after the usual ``-- `` separator line, unless the body already contains it.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import mimetypes
import re
import time
from dataclasses import asdict, dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from desktop.config import Account

log = logging.getLogger(__name__)

FORMATS = ("plain", "markdown")
SIGNATURE_SEPARATOR = "-- "
# Largest attachment accepted, in bytes. Servers commonly reject messages above 25 to 50 MB,
# and base64 adds a third, so a larger file would fail at the server anyway.
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024

_FORBIDDEN = re.compile(r"[\r\n\0]")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+$")


class BuildError(ValueError):
    """A draft cannot become a message. The text names the field, the value and the fix.

    Attributes:
        field: The Draft field at fault, e.g. ``subject`` or ``to``.
    """

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass
class ForwardedPart:
    """An attachment taken over from a forwarded message.

    Attributes:
        filename: The file name as the original message gave it ("" for none).
        content_type: The MIME type, e.g. ``application/pdf``.
        data: The decoded content.
    """

    filename: str
    content_type: str
    data: bytes


@dataclass
class Draft:
    """A message being written: everything the composer edits, kept as plain data.

    Attributes:
        account: The name of the sending account.
        from_address: The bare sending address: the account's address or one of its aliases.
        from_name: The display name shown with ``from_address`` ("" for none).
        to, cc, bcc: Recipients, each ``addr@example.org`` or ``Name <addr@example.org>``.
        subject: The subject line.
        body: The text the user wrote, plain text or Markdown source.
        format: ``plain`` or ``markdown``.
        attachments: Paths of files to attach; they are read when the message is built.
        in_reply_to: The Message-ID (with angle brackets) of the message replied to, or "".
        references: The References chain of a reply, oldest first, each with angle brackets.
        forwarded_parts: Attachments kept from a forwarded message (inline forwarding).
        forwarded_message: The raw bytes of a message forwarded as a message/rfc822 attachment.
        signature: Add the account's signature below the body.
        message_id: The Message-ID, made at the first build and kept afterwards,
            so a draft's copies and the sent message share it.
    """

    account: str
    from_address: str
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    format: str = "plain"
    attachments: list[Path] = field(default_factory=list)
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    forwarded_parts: list[ForwardedPart] = field(default_factory=list)
    forwarded_message: bytes | None = None
    signature: bool = True
    message_id: str = ""

    def recipients(self) -> list[str]:
        """Return the bare addresses of To, Cc and Bcc, without repeats, in that order."""
        found: list[str] = []
        for value in self.to + self.cc + self.bcc:
            address = email.utils.parseaddr(value)[1].lower()
            if address and address not in found:
                found.append(address)
        return found

    def to_dict(self) -> dict:
        """Return the draft as JSON-ready data (bytes as base64, paths as text); see ``from_dict``."""
        values = asdict(self)
        values["attachments"] = [str(path) for path in self.attachments]
        values["forwarded_parts"] = [
            {"filename": part.filename, "content_type": part.content_type, "data": _b64(part.data)}
            for part in self.forwarded_parts
        ]
        values["forwarded_message"] = _b64(self.forwarded_message) if self.forwarded_message is not None else None
        return values

    @classmethod
    def from_dict(cls, values: dict) -> Draft:
        """Make a draft from the data of ``to_dict``; unknown keys are ignored."""
        known = {key: value for key, value in values.items() if key in cls.__dataclass_fields__}
        known["attachments"] = [Path(path) for path in known.get("attachments", [])]
        known["forwarded_parts"] = [
            ForwardedPart(part["filename"], part["content_type"], base64.b64decode(part["data"]))
            for part in known.get("forwarded_parts", [])
        ]
        raw = known.get("forwarded_message")
        known["forwarded_message"] = base64.b64decode(raw) if raw else None
        return cls(**known)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_message(draft: Draft, account: Account, *, now: float | None = None) -> EmailMessage:
    """Build the MIME message of ``draft`` sent from ``account``; set ``draft.message_id`` if it was empty.

    Raises:
        BuildError: a header field contains a line break, an address is invalid,
            the format is unknown, or an attachment cannot be read.
    """
    check_draft(draft, account)
    if not draft.message_id:
        draft.message_id = make_message_id(draft.from_address)

    message = EmailMessage(policy=policy.default)
    message["From"] = _address(draft.from_name, draft.from_address, "from_address")
    for name, values in (("To", draft.to), ("Cc", draft.cc), ("Bcc", draft.bcc)):
        if values:
            message[name] = [_parse_recipient(value, name.lower()) for value in values]
    message["Subject"] = draft.subject
    message["Date"] = email.utils.formatdate(now if now is not None else time.time(), localtime=True)
    message["Message-ID"] = draft.message_id
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        message["References"] = " ".join(draft.references)

    text = body_with_signature(draft, account)
    _set_body(message, text, draft.format)
    _add_attachments(message, draft)
    log.debug("Built message %s of account %s with %d attachment(s)", draft.message_id, account.name,
              len(draft.attachments) + len(draft.forwarded_parts) + int(draft.forwarded_message is not None))
    return message


def check_draft(draft: Draft, account: Account) -> None:
    """Raise BuildError for the first field of ``draft`` that cannot go into a message header."""
    if draft.format not in FORMATS:
        raise BuildError("format", f"Format {draft.format!r} is invalid; use one of {', '.join(FORMATS)}.")
    single = {
        "subject": draft.subject, "from_name": draft.from_name, "from_address": draft.from_address,
        "in_reply_to": draft.in_reply_to, "message_id": draft.message_id,
    }
    for name, value in single.items():
        _check_header_value(name, value)
    for name in ("to", "cc", "bcc", "references"):
        for value in getattr(draft, name):
            _check_header_value(name, value)
    if not draft.from_address:
        raise BuildError("from_address", f"The draft has no From address; set the address of account {account.name!r} "
                         "(its 'address' setting) or pick one of its aliases.")
    own = account.own_addresses()
    if own and draft.from_address.lower() not in own:
        raise BuildError("from_address", f"From address {draft.from_address!r} is not an address of account "
                         f"{account.name!r}; use one of: {', '.join(own)}.")


def _check_header_value(name: str, value: str) -> None:
    if _FORBIDDEN.search(value):
        raise BuildError(name, f"Field {name} contains a line break or NUL character ({value!r}); a header value "
                         "must be one line, so remove the line break.")


def make_message_id(from_address: str) -> str:
    """Return a new Message-ID on the domain of ``from_address`` (``localhost`` when it has none)."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return email.utils.make_msgid(domain=_ascii_domain(domain, "from_address"))


def _ascii_domain(domain: str, field_name: str) -> str:
    """Return ``domain`` in its ASCII form; an internationalised domain becomes punycode (IDNA)."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise BuildError(field_name, f"Domain {domain!r} is not a valid domain name ({error}); check its spelling.") from error


def _address(display_name: str, address: str, field_name: str, entry: str = "") -> Address:
    if not _ADDRESS.match(address):
        raise BuildError(field_name, f"Address {entry or address!r} in field {field_name} is invalid; write it as "
                         "name@example.org or Name <name@example.org>.")
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise BuildError(field_name, f"Address {address!r} in field {field_name} has non-ASCII characters before the @, "
                         "which needs SMTPUTF8 (RFC 6531); Sluice does not send such addresses yet.")
    return Address(display_name=display_name, username=local, domain=_ascii_domain(domain, field_name))


def _parse_recipient(value: str, field_name: str) -> Address:
    """Parse ``Name <addr>`` or a bare address; raise BuildError naming ``value`` when it is not one address."""
    pairs = email.utils.getaddresses([value])
    if len(pairs) != 1 or not pairs[0][1]:
        raise BuildError(field_name, f"Recipient {value!r} in field {field_name} is not one address; write one "
                         "address per entry, as name@example.org or Name <name@example.org>.")
    name, address = pairs[0]
    return _address(name, address, field_name, value)


def parse_address_list(text: str, field_name: str = "to") -> list[str]:
    """Split a comma-separated address line into entries (commas inside quoted names are kept).

    Raises:
        BuildError: a part of ``text`` is not an address; the error quotes the whole line.
    """
    entries = []
    for name, address in email.utils.getaddresses([text]):
        if not address:
            continue
        if not _ADDRESS.match(address):
            raise BuildError(field_name, f"Recipient {text!r} in field {field_name} is not a list of addresses; write "
                             "name@example.org or Name <name@example.org>, separated by commas.")
        entries.append(format_entry(name, address))
    return entries


def format_entry(name: str, address: str) -> str:
    """Return ``Name <address>`` (the name quoted where needed, kept readable) or the bare address."""
    if not name:
        return address
    if re.search(r'[()<>\[\]:;@\\,."]', name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{name} <{address}>"


def body_with_signature(draft: Draft, account: Account) -> str:
    """Return the body with the account's signature below a ``-- `` line, when the draft wants one."""
    body = draft.body
    signature = account.signature.strip("\n")
    if not draft.signature or not signature or signature in body:
        return body
    return f"{body.rstrip()}\n\n{SIGNATURE_SEPARATOR}\n{signature}\n"


def render_markdown(text: str) -> str:
    """Render Markdown ``text`` to an HTML document; raw HTML in the text is escaped, not passed through."""
    import markdown

    renderer = markdown.Markdown(extensions=["extra", "sane_lists", "nl2br"], output_format="html")
    # Escaping first keeps a typed <script> or <img> from reaching the recipient as markup.
    body = renderer.convert(_escape_html_blocks(text))
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{body}\n</body></html>\n'


def _escape_html_blocks(text: str) -> str:
    # Markdown's own syntax uses '>' at line starts for quotes, so only '<' and '&' are escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _set_body(message: EmailMessage, text: str, text_format: str) -> None:
    # cte=None lets the email package choose: 7bit or 8bit for short lines,
    # quoted-printable or base64 when a line is longer than 78 characters.
    # Non-ASCII text goes out quoted-printable, so the message passes servers without 8BITMIME.
    cte = None if text.isascii() else "quoted-printable"
    if text_format == "markdown":
        message.set_content(text, subtype="plain", cte=cte)
        message.add_alternative(render_markdown(text), subtype="html", cte=cte)
        return
    message.set_content(text, subtype="plain", cte=cte)


def _add_attachments(message: EmailMessage, draft: Draft) -> None:
    for path in draft.attachments:
        data = _read_attachment(Path(path))
        maintype, subtype = _guess_type(Path(path).name)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=Path(path).name)
    for part in draft.forwarded_parts:
        maintype, _, subtype = part.content_type.partition("/")
        if maintype == "text":
            text = part.data.decode("utf-8", errors="replace")
            message.add_attachment(text, subtype=subtype or "plain", filename=part.filename or None)
            continue
        if maintype == "message":
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(part.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                               filename=part.filename or None)
    if draft.forwarded_message is not None:
        original = BytesParser(policy=policy.default).parsebytes(draft.forwarded_message)
        filename = f"{_file_name(str(original.get('Subject', '')) or 'message')}.eml"
        message.add_attachment(original, filename=filename)


def _read_attachment(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise BuildError("attachments", f"Attachment {str(path)!r} cannot be read ({error.strerror}); check the path "
                         "or remove it from the message.") from error
    if not path.is_file():
        raise BuildError("attachments", f"Attachment {str(path)!r} is not a file; attach files, not folders.")
    if size > MAX_ATTACHMENT_BYTES:
        raise BuildError("attachments", f"Attachment {str(path)!r} is {size // (1024 * 1024)} MB, above the limit of "
                         f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB; share large files as a link instead.")
    try:
        return path.read_bytes()
    except OSError as error:
        raise BuildError("attachments", f"Attachment {str(path)!r} cannot be read ({error.strerror}); check the path "
                         "or remove it from the message.") from error


def _guess_type(name: str) -> tuple[str, str]:
    guessed, encoding = mimetypes.guess_type(name)
    if guessed is None or encoding is not None:
        return "application", "octet-stream"
    maintype, _, subtype = guessed.partition("/")
    # Text files are attached as bytes too, so their charset and line ends arrive unchanged.
    return maintype, subtype


def _file_name(subject: str) -> str:
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", subject).strip()
    return cleaned[:80] or "message"
