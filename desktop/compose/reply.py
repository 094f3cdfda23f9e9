"""Drafts for reply, reply all and forward of a stored message.

Subjects. A reply's subject is ``Re: `` plus the original subject without
its leading reply prefixes, so ``Re: Re: x``, ``RE: x``, ``Aw: x``,
``AW: x``, ``Sv: x``, ``Antw: x`` and ``Re[2]: x`` all become ``Re: x``.
Forward prefixes are kept, because they tell what the message is:
``Fwd: x`` answered is ``Re: Fwd: x``. A forward's subject is ``Fwd: ``
plus the subject, unless it already starts with ``Fwd:``, ``Fw:`` or ``WG:``.

Recipients. A reply goes to the Reply-To addresses when the message has
them, else to From. A reply to a message the user sent goes to its To
addresses instead. Reply all adds the original To and Cc as Cc, without the
user's own addresses (every account's address and aliases), without the
addresses already in To, and without repeats (compared case-insensitively).
When a Reply-To took the place of From, reply all keeps the author in Cc.

Quoting. The body starts empty, followed by an attribution line and the
original text with ``> `` before each line. In Markdown format those lines
become an HTML blockquote in the HTML part. Threading headers: In-Reply-To
is the original Message-ID, References is the original References (or its
In-Reply-To) followed by that Message-ID.

Forwarding, by the ``[compose] forward_as`` setting: ``inline`` quotes the
original's headers and text in the body and keeps its attachments;
``attachment`` attaches the whole original as message/rfc822, which keeps
every part and header as they were.
"""

from __future__ import annotations

import email.utils
import logging
import re
from email import policy
from email.parser import BytesHeaderParser

from desktop.compose.build import Draft, ForwardedPart, format_entry
from desktop.config import Account, Config

log = logging.getLogger(__name__)

REPLY_PREFIX = "Re: "
FORWARD_PREFIX = "Fwd: "
_REPLY_PREFIXES = re.compile(r"^\s*(?:(?:re|aw|sv|antw|vs|r)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_FORWARD_PREFIXES = re.compile(r"^\s*(?:fwd?|wg)\s*:", re.IGNORECASE)
_HEADER_PARSER = BytesHeaderParser(policy=policy.default)


class ReplyError(ValueError):
    """The message to reply to or forward is not available; the text gives the cause and the fix."""


def reply_subject(subject: str) -> str:
    """Return the subject of a reply: one ``Re: `` in front of the subject without its reply prefixes."""
    return REPLY_PREFIX + _REPLY_PREFIXES.sub("", subject).strip()


def forward_subject(subject: str) -> str:
    """Return the subject of a forward: ``Fwd: `` in front, unless a forward prefix is there already."""
    cleaned = subject.strip()
    return cleaned if _FORWARD_PREFIXES.match(cleaned) else FORWARD_PREFIX + cleaned


def own_addresses(config: Config) -> set[str]:
    """Return the user's addresses over every account (addresses and aliases), lowercased."""
    return {address for account in config.accounts.values() for address in account.own_addresses()}


def reply_draft(store, message: int, config: Config, *, reply_all: bool = False, account: str | None = None,
                text_format: str | None = None) -> Draft:
    """Return a draft replying to stored message ``message`` (its row id).

    Args:
        account: The sending account; by default the account that holds the message.
        text_format: ``plain`` or ``markdown``; by default ``[compose] format``.

    Raises:
        ReplyError: the message or its body is not in the store, or the account is unknown.
    """
    raw, sending = _load(store, message, config, account)
    headers = _HEADER_PARSER.parsebytes(raw)
    parsed = _parse(raw)
    own = own_addresses(config)
    from_address = _answering_address(sending, headers)

    to = _reply_targets(headers, own)
    cc: list[str] = []
    if reply_all:
        addressed = {email.utils.parseaddr(value)[1].lower() for value in to}
        # With a Reply-To that differs from From, the author stays in the conversation too.
        author = _addresses(headers, "From") if _addresses(headers, "Reply-To") else []
        cc = _others(author + _addresses(headers, "To") + _addresses(headers, "Cc"), own | addressed)

    original_id = parsed.summary.message_id
    references = [f"<{value}>" for value in parsed.summary.references]
    if not references and parsed.summary.in_reply_to:
        references = [f"<{parsed.summary.in_reply_to}>"]
    if original_id:
        references.append(f"<{original_id}>")

    draft = Draft(
        account=sending.name, from_address=from_address, from_name=_display_name(sending, headers, from_address),
        to=to, cc=cc, subject=reply_subject(parsed.summary.subject),
        body="\n\n" + attribution(parsed.summary) + "\n" + quote_text(parsed.body_text),
        format=text_format or config.compose.format,
        in_reply_to=f"<{original_id}>" if original_id else "", references=references,
    )
    log.debug("Made a %s draft for message %d of account %s", "reply-all" if reply_all else "reply", message, sending.name)
    return draft


def forward_draft(store, message: int, config: Config, *, as_attachment: bool | None = None,
                  account: str | None = None, text_format: str | None = None) -> Draft:
    """Return a draft forwarding stored message ``message``; ``as_attachment`` None follows ``[compose] forward_as``.

    Raises:
        ReplyError: the message or its body is not in the store, or the account is unknown.
    """
    raw, sending = _load(store, message, config, account)
    headers = _HEADER_PARSER.parsebytes(raw)
    parsed = _parse(raw)
    attach = config.compose.forward_as == "attachment" if as_attachment is None else as_attachment
    from_address = _answering_address(sending, headers)
    draft = Draft(
        account=sending.name, from_address=from_address, from_name=_display_name(sending, headers, from_address),
        subject=forward_subject(parsed.summary.subject), format=text_format or config.compose.format,
    )
    if attach:
        draft.forwarded_message = raw
        return draft
    draft.body = "\n\n" + forwarded_header_block(headers) + "\n" + parsed.body_text
    draft.forwarded_parts = [
        ForwardedPart(part.filename, part.content_type, part.payload)
        for part in parsed.attachments if not part.inline or part.filename
    ]
    return draft


def attribution(summary) -> str:
    """Return the line above a quote, e.g. ``On 2026-12-01 10:00, Ana Díaz <ana@example.com> wrote:``."""
    when = summary.date.astimezone().strftime("%Y-%m-%d %H:%M") if summary.date else ""
    who = format_entry(summary.from_name, summary.from_addr) if summary.from_addr else "someone"
    return f"On {when}, {who} wrote:" if when else f"{who} wrote:"


def quote_text(text: str) -> str:
    """Put ``> `` before every line of ``text`` (``>`` alone on empty lines, and ``>>`` stays compact)."""
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    return "\n".join(_quote_line(line) for line in lines) + "\n"


def _quote_line(line: str) -> str:
    if not line or line.startswith(">"):
        return ">" + line
    return "> " + line


def forwarded_header_block(headers) -> str:
    """Return the lines that introduce an inline forward: From, Date, Subject, To and Cc of the original."""
    lines = ["---------- Forwarded message ----------"]
    for name in ("From", "Date", "Subject", "To", "Cc"):
        value = headers.get(name)
        if value:
            lines.append(f"{name}: {' '.join(str(value).split())}")
    return "\n".join(lines) + "\n"


def _load(store, message: int, config: Config, account: str | None) -> tuple[bytes, Account]:
    places = store.message_places([message])
    if message not in places:
        raise ReplyError(f"Message {message} is not in the store; it may have been deleted. Reload the list.")
    name = account or places[message][0]
    sending = config.accounts.get(name)
    if sending is None:
        raise ReplyError(f"Account {name!r} is not configured, so it cannot send; pick another account to reply from.")
    raw = store.raw(message)
    if raw is None:
        raise ReplyError(f"The body of message {message} is not downloaded yet; open it once (or sync) and try again.")
    return raw, sending


def _parse(raw: bytes):
    from desktop.mail.parse import parse_message

    return parse_message(raw, keep_payloads=True)


def _addresses(headers, name: str) -> list[tuple[str, str]]:
    values = [str(value) for value in headers.get_all(name, [])]
    return [(display, address) for display, address in email.utils.getaddresses(values) if address]


def _format(pairs: list[tuple[str, str]]) -> list[str]:
    return [format_entry(display, address) for display, address in pairs]


def _others(pairs: list[tuple[str, str]], exclude: set[str]) -> list[str]:
    seen = set(exclude)
    kept = []
    for display, address in pairs:
        key = address.lower()
        if key in seen:
            continue
        seen.add(key)
        kept.append((display, address))
    return _format(kept)


def _reply_targets(headers, own: set[str]) -> list[str]:
    senders = _addresses(headers, "From")
    if senders and all(address.lower() in own for _, address in senders):
        # A reply to one's own sent message continues the conversation with its recipients.
        return _others(_addresses(headers, "To"), set()) or _format(senders)
    reply_to = _addresses(headers, "Reply-To")
    return _others(reply_to or senders, set())


def _answering_address(account: Account, headers) -> str:
    """Return the account's address that the message was sent to, else the account's main address."""
    own = account.own_addresses()
    for _, address in _addresses(headers, "To") + _addresses(headers, "Cc") + _addresses(headers, "Delivered-To"):
        if address.lower() in own:
            return address.lower()
    return account.address


def _display_name(account: Account, headers, from_address: str) -> str:
    """Return the user's display name: the one the original used for ``from_address``, if any."""
    for display, address in _addresses(headers, "To") + _addresses(headers, "Cc") + _addresses(headers, "From"):
        if address.lower() == from_address.lower() and display:
            return display
    return ""
