"""Automatic replies for the ``auto_reply`` action, following RFC 3834 and RFC 5230 practice.

``AutoReplier`` is the callable that the rule engine calls for each message a
rule with ``auto_reply`` matched. It decides whether to reply, in this order,
and returns the reason as a short outcome ("sent to ..." or "not sent: ..."):

1. the rule's date window (``start`` and ``end``, inclusive, in local time);
2. ``Auto-Submitted`` present with a value other than ``no`` (RFC 3834 section 5);
3. ``Precedence: bulk``, ``list`` or ``junk``;
4. any ``List-*`` header (RFC 2369, RFC 2919);
5. a sender that looks automatic (no-reply in any spelling, also inside a
   longer local part, notifications, MAILER-DAEMON, postmaster, owner-*,
   *-request, *-bounces), the account's own address, or a reply address
   that is missing or not a valid address;
6. none of the account's addresses (``address`` and ``aliases``) in To or Cc;
7. an empty Return-Path (``<>``, a bounce or another automatic message);
8. a reply with the same text sent to this sender by this rule less than
   ``days`` days ago (the ``auto_replies`` table of the store).

The reply is recorded only after the SMTP server accepted it, so a failed send
does not block replies for days. A crash between the send and the record can
at worst send the same reply once more on the next run.

The reply goes out with the null envelope sender ``<>`` (RFC 5230 section 5.1),
so that a bounce of the reply cannot start a loop. Where the server rejects
the null sender, as some submission servers do, it is sent again with the
account's address.

The body is a Jinja2 template, rendered in a sandbox with the variables of
``TEMPLATE_VARIABLES``; an unknown variable is an error, never an empty string.
"""

from __future__ import annotations

import difflib
import email.utils
import functools
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING

from desktop.text import pluralize

if TYPE_CHECKING:
    import ssl

    from imapclient import IMAPClient
    from jinja2.sandbox import SandboxedEnvironment

    from desktop.config import Account, Config
    from desktop.rules.model import AutoReply, Rule
    from desktop.send.smtp import SmtpSender
    from desktop.store import Store
    from desktop.store.db import MessageRow

log = logging.getLogger(__name__)

TEMPLATE_VARIABLES = {
    "sender_name": "the display name of the person you answer, or their address when the mail has no name",
    "sender_address": "the address the reply goes to (Reply-To, else From)",
    "subject": "the subject of the message you answer",
    "date": "the date of the message you answer, as YYYY-MM-DD HH:MM in local time ('' when it has none)",
    "account_address": "your address on the account that answers",
}
_SAMPLE_VALUES = {
    "sender_name": "Ana Díaz", "sender_address": "ana@example.com", "subject": "Budget",
    "date": "2026-12-01 10:00", "account_address": "you@example.org",
}

# Local parts of senders that are programs, not people (RFC 3834 section 2, RFC 5230 section 4.6).
# Services such as GitHub and Jira send machine mail from "notifications" and "notification".
# A shared mailbox of that name read by people then gets no out-of-office notice, which costs little.
_AUTOMATIC_LOCAL_PARTS = {"mailer-daemon", "postmaster", "notifications", "notification"}
_AUTOMATIC_PREFIXES = ("owner-",)
_AUTOMATIC_SUFFIXES = ("-request", "-bounces")
# "noreply" or "donotreply" spelt by whole words of the local part, with or without separators:
# no-reply, no_reply, calendar-noreply, do.not.reply, noreply+tag, but not noreplyana.
_NO_REPLY_WORDS = {"noreply", "donotreply"}
_SEPARATORS = re.compile(r"[-_.+]")
# A reply address needs a local part, an @ and a domain, and nothing that would need quoting on the envelope.
_VALID_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")
_BULK_PRECEDENCE = {"bulk", "list", "junk"}
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_MAX_REFERENCES = 20


class TemplateError(ValueError):
    """An auto-reply body that is not a valid template, or that uses an unknown variable."""


@functools.cache
def _environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render_template(text: str, variables: dict[str, str]) -> str:
    """Render an auto-reply body; raise TemplateError naming the problem and the known variables."""
    from jinja2 import TemplateError as JinjaError
    from jinja2 import TemplateSyntaxError, UndefinedError

    try:
        return _environment().from_string(text).render(**variables)
    except TemplateSyntaxError as error:
        detail = (error.message or "").rstrip(".")
        raise TemplateError(f"invalid template syntax on line {error.lineno} of the body: {detail}.") from error
    except UndefinedError as error:
        raise TemplateError(_undefined_message(error.message or "")) from error
    except JinjaError as error:
        raise TemplateError(f"the body template failed: {str(error).rstrip('.')}.") from error


def _undefined_message(detail: str) -> str:
    known = ", ".join(TEMPLATE_VARIABLES)
    name = re.match(r"'([^']+)' is undefined", detail)
    close = difflib.get_close_matches(name.group(1), TEMPLATE_VARIABLES, n=1) if name else []
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"{detail.rstrip('.')}.{hint} The body may use: {known}."


def check_template(text: str) -> str | None:
    """Return a problem with an auto-reply body template, or None when it renders with the known variables."""
    try:
        render_template(text, _SAMPLE_VALUES)
    except TemplateError as error:
        return str(error)
    return None


def text_hash(action: AutoReply) -> str:
    """Return the hash that ties the rate limit to the reply's text: a new text replies to everyone again."""
    digest = hashlib.sha256()
    digest.update(action.subject.encode())
    digest.update(b"\0")
    digest.update(action.body.encode())
    return digest.hexdigest()


def looks_automatic(address: str) -> bool:
    """Return whether ``address`` looks like a program's (no-reply, MAILER-DAEMON, list owner...), ignoring case."""
    local = address.rpartition("@")[0].lower() if "@" in address else address.lower()
    if local in _AUTOMATIC_LOCAL_PARTS:
        return True
    words = _SEPARATORS.split(local)
    for start in range(len(words)):
        for end in range(start + 1, min(start + 3, len(words)) + 1):
            if "".join(words[start:end]) in _NO_REPLY_WORDS:
                return True
    return local.startswith(_AUTOMATIC_PREFIXES) or local.endswith(_AUTOMATIC_SUFFIXES)


def is_valid_address(address: str) -> bool:
    """Return whether ``address`` can take a reply: a local part, one @ and a domain, with nothing that needs quoting."""
    return _VALID_ADDRESS.fullmatch(address) is not None


def reply_subject(original: str) -> str:
    """Return "Re: " and the original subject without its own reply prefixes (no "Re: Re:")."""
    stripped = _REPLY_PREFIX.sub("", original).strip()
    return f"Re: {stripped}" if stripped else "Re: your message"


@dataclass(frozen=True)
class _Incoming:
    """The header fields of the original message that the checks and the reply need."""

    auto_submitted: str
    precedence: str
    list_header: str
    from_address: tuple[str, str]
    reply_to: tuple[str, str] | None
    recipients: tuple[str, ...]
    return_path: str | None
    message_id: str
    references: tuple[str, ...]
    subject: str


def _single_line(value: str) -> str:
    """Collapse line breaks and runs of whitespace, so a decoded value cannot add a header line."""
    return _WHITESPACE.sub(" ", value).strip()


def parse_incoming(header_block: bytes) -> _Incoming:
    """Read the fields the auto-reply checks need from a raw header block."""
    from email import policy as email_policy

    from desktop.mail.headers import decode_words, header_to_str, parse_message_ids
    from desktop.mail.parse import header_end, repair_header_block

    raw = repair_header_block(header_block)
    message = BytesHeaderParser(policy=email_policy.compat32).parsebytes(raw[: header_end(raw)])
    # The raw values keep 8-bit bytes, which decode_words reads as UTF-8 (else Windows-1252) as the
    # store's parser does. message.get() would return compat32 Header objects that have lost them.
    values: dict[str, list[str]] = {}
    for key, value in message.raw_items():
        values.setdefault(key.lower(), []).append(value)

    def first(name: str) -> str:
        found = values.get(name.lower())
        return _single_line(decode_words(found[0])) if found else ""

    def every(name: str) -> list[str]:
        return values.get(name.lower(), [])

    froms = _addresses(every("From"))
    reply_tos = _addresses(every("Reply-To"))
    recipients = [address.lower() for _, address in _addresses(every("To") + every("Cc"))]
    list_headers = [key for key in message.keys() if key.lower().startswith("list-")]
    return_path = every("Return-Path")[0] if every("Return-Path") else None
    references = parse_message_ids(every("References")[0]) if every("References") else []
    message_ids = parse_message_ids(every("Message-ID")[0]) if every("Message-ID") else []
    return _Incoming(
        auto_submitted=first("Auto-Submitted"),
        precedence=first("Precedence"),
        list_header=list_headers[0] if list_headers else "",
        from_address=froms[0] if froms else ("", ""),
        reply_to=reply_tos[0] if reply_tos else None,
        recipients=tuple(recipients),
        return_path=_single_line(header_to_str(return_path)) if return_path is not None else None,
        message_id=message_ids[0] if message_ids else "",
        references=tuple(references),
        subject=first("Subject"),
    )


def _addresses(values: list) -> list[tuple[str, str]]:
    """Return (display name, address) pairs, splitting the raw header before decoding the names.

    RFC 2047 section 5 allows encoded words in display names only, so splitting
    first keeps an encoded comma, colon or line break in a name from creating
    another address.
    """
    from desktop.mail.headers import decode_words, header_to_str

    pairs = email.utils.getaddresses([_single_line(header_to_str(value)) for value in values])
    return [(_single_line(decode_words(name)), address.strip()) for name, address in pairs if address.strip()]


HeaderSource = Callable[["Account", "MessageRow"], "bytes | None"]


class AutoReplier:
    """Sends (or decides not to send) the auto-reply of a rule for one message.

    An AutoReplier uses the store of the thread that created it, so it belongs
    to that thread. Close it to log out the IMAP connections it opened to read
    headers of messages whose raw bytes are not stored yet.

    Args:
        store: The profile's store; the rate limit lives in its ``auto_replies`` table.
        config: The profile's configuration (accounts with SMTP settings and addresses).
        sender: The SMTP sender used for every reply.
        now: A fixed current time for tests; by default the clock at each call.
        ssl_context: TLS settings for the IMAP header fetch; tests pass their own.
        headers: Returns a message's raw header block when the store has no
            raw bytes; by default it is fetched from the IMAP server.
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        sender: SmtpSender,
        *,
        now: datetime | None = None,
        ssl_context: ssl.SSLContext | None = None,
        headers: HeaderSource | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._sender = sender
        self._now = now
        self._ssl_context = ssl_context
        self._fetch_headers = headers or self._fetch_headers_over_imap
        self._imap: dict[str, tuple[IMAPClient, str]] = {}

    def __enter__(self) -> AutoReplier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out the IMAP connections opened for header fetches."""
        for name, (client, _folder) in list(self._imap.items()):
            try:
                client.logout()
            except Exception as error:  # noqa: BLE001 - the connection is dropped either way
                log.debug("Logout of the header connection of account %s failed: %s", name, error)
        self._imap.clear()

    def __call__(self, rule: Rule, action: AutoReply, row: MessageRow) -> str:
        """Send (or decide not to send) one auto-reply; return the outcome for the log and explain."""
        outcome = self._reply(rule, action, row)
        log.info("Auto-reply of rule %r for message %d (%s): %s", rule.name, row.id, row.account, outcome)
        return outcome

    def _reply(self, rule: Rule, action: AutoReply, row: MessageRow) -> str:
        account = self._config.accounts.get(row.account)
        if account is None:
            return f"not sent: account {row.account!r} is not in the configuration"
        now = self._now or datetime.now(timezone.utc)
        reason = _outside_window(action, now.astimezone().date())
        if reason:
            return reason
        incoming = self._incoming(account, row)
        if isinstance(incoming, str):
            return incoming
        reason = _automatic_reason(incoming, account)
        if reason:
            return reason
        target_name, target = incoming.reply_to or incoming.from_address
        hash_value = text_hash(action)
        previous = self._store.last_auto_reply(account.name, rule.name, target)
        if previous is not None and previous.text_hash == hash_value and now - previous.sent < timedelta(days=action.days):
            when = previous.sent.astimezone().strftime("%Y-%m-%d %H:%M")
            every = pluralize(action.days, "day")
            return f"not sent: already replied to {target.lower()} on {when} (at most once every {every})"
        if not account.smtp_host:
            return (f"not sent: account {account.name!r} has no SMTP server; set smtp_host in its table of "
                    "config.toml or add it with --smtp-host")
        try:
            message = build_reply(account, action, incoming, row, now, target_name, target)
        except TemplateError as error:
            log.error("The auto-reply template of rule %r is invalid: %s", rule.name, error)
            return f"not sent: the body template of rule {rule.name!r} is invalid: {error}"
        except ValueError as error:
            # EmailMessage rejects header values it cannot write safely, e.g. an address with a line break.
            log.warning("Cannot build the auto-reply of rule %r for message %d: %s", rule.name, row.id, error)
            return f"not sent: the reply could not be built ({error})"
        return self._send_and_record(account, rule, message, target, hash_value, now)

    def _send_and_record(
        self, account: Account, rule: Rule, message: EmailMessage, target: str, hash_value: str, now: datetime,
    ) -> str:
        from desktop.send.smtp import KIND_SENDER, SendError

        try:
            try:
                self._sender.send(account, message, sender="", recipients=[target])
            except SendError as error:
                if error.kind != KIND_SENDER or not account.address:
                    raise
                log.info("SMTP server %s rejected the null sender; sending the auto-reply as %s", error.server, account.address)
                self._sender.send(account, message, sender=account.address, recipients=[target])
        except SendError as error:
            return f"not sent: {error}"
        reply_id = message["Message-ID"].strip("<>")
        self._store.record_auto_reply(account.name, rule.name, target, text_hash=hash_value, sent=now,
                                      reply_message_id=reply_id)
        return f"sent to {target.lower()}"

    def _incoming(self, account: Account, row: MessageRow) -> _Incoming | str:
        raw = self._store.raw(row.id)
        if raw is None:
            try:
                raw = self._fetch_headers(account, row)
            except Exception as error:  # noqa: BLE001 - any fetch failure means "not now"; it is logged with ids
                log.warning("Fetching the headers of message %d (account %s, %s UID %d) failed: %s",
                            row.id, account.name, row.folder, row.uid, error)
                return f"not sent: the message's headers could not be fetched ({error})"
        if raw is None:
            return "not sent: the message is no longer on the server"
        return parse_incoming(raw)

    def _fetch_headers_over_imap(self, account: Account, row: MessageRow) -> bytes | None:
        """Fetch the header block of ``row`` with BODY.PEEK[HEADER], which leaves \\Seen alone."""
        from desktop.sync.connection import connect

        client, selected = self._imap.get(account.name, (None, ""))
        if client is None:
            client = connect(account, ssl_context=self._ssl_context)
            selected = ""
        if selected != row.folder:
            status = client.select_folder(row.folder, readonly=True)
            folder = self._store.folder(row.folder_id)
            if folder is not None and folder.uidvalidity is not None and status.get(b"UIDVALIDITY") != folder.uidvalidity:
                self._imap[account.name] = (client, row.folder)
                return None
        self._imap[account.name] = (client, row.folder)
        data = client.fetch([row.uid], ["BODY.PEEK[HEADER]"])
        return data.get(row.uid, {}).get(b"BODY[HEADER]")


def _outside_window(action: AutoReply, today: date) -> str:
    if action.start is not None and today < action.start:
        return f"not sent: the rule replies from {action.start.isoformat()} on (today is {today.isoformat()})"
    if action.end is not None and today > action.end:
        return f"not sent: the rule replied until {action.end.isoformat()} (today is {today.isoformat()})"
    return ""


def _automatic_reason(incoming: _Incoming, account: Account) -> str:
    """Return why the message must get no reply, or "" (checks 2 to 7 of the module docstring)."""
    if incoming.auto_submitted and incoming.auto_submitted.split(";")[0].strip().lower() != "no":
        return f"not sent: Auto-Submitted: {incoming.auto_submitted}"
    if incoming.precedence.lower() in _BULK_PRECEDENCE:
        return f"not sent: Precedence: {incoming.precedence}"
    if incoming.list_header:
        return f"not sent: {incoming.list_header} header (mailing list mail)"
    own = account.own_addresses()
    candidates = [incoming.from_address[1]]
    if incoming.reply_to is not None:
        candidates.append(incoming.reply_to[1])
    if incoming.return_path and incoming.return_path.strip("<> "):
        candidates.append(incoming.return_path.strip("<> "))
    for address in candidates:
        if looks_automatic(address):
            return f"not sent: the sender {address} looks automatic"
        if address.lower() in own:
            return f"not sent: the sender {address} is this account's own address"
    target = (incoming.reply_to or incoming.from_address)[1]
    if not target:
        return "not sent: the message has no From or Reply-To address"
    if not is_valid_address(target):
        return f"not sent: the sender address {target!r} is not a valid address"
    if not own:
        return (f"not sent: account {account.name!r} has no address, so Sluice cannot tell whether the mail was "
                "sent to you; set address (and aliases) in its table of config.toml")
    if not set(own) & set(incoming.recipients):
        return f"not sent: none of the account's addresses ({', '.join(own)}) is in To or Cc"
    if incoming.return_path is not None and incoming.return_path.strip() in ("<>", ""):
        return "not sent: the Return-Path is empty (<>), as on bounces and other automatic mail"
    return ""


def build_reply(
    account: Account,
    action: AutoReply,
    incoming: _Incoming,
    row: MessageRow,
    now: datetime,
    target_name: str,
    target: str,
) -> EmailMessage:
    """Build the reply. Every value from the answered message passes through EmailMessage's header checks."""
    date_text = row.date.astimezone().strftime("%Y-%m-%d %H:%M") if row.date is not None else ""
    variables = {
        "sender_name": target_name or target,
        "sender_address": target,
        "subject": incoming.subject or row.subject,
        "date": date_text,
        "account_address": account.address,
    }
    body = render_template(action.body, variables)

    message = EmailMessage(policy=policy.SMTP)
    message["From"] = account.address
    message["To"] = email.utils.formataddr((_single_line(target_name), target))
    message["Subject"] = _single_line(action.subject) or reply_subject(incoming.subject or row.subject)
    message["Date"] = email.utils.format_datetime(now)
    domain = account.address.rpartition("@")[2] or "localhost"
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-replied"
    # Exchange and Outlook skip their own automatic replies to a message carrying this header.
    message["X-Auto-Response-Suppress"] = "All"
    original_id = incoming.message_id or row.message_id.strip("<>")
    if original_id:
        message["In-Reply-To"] = f"<{original_id}>"
        references = [*(incoming.references or row.references), original_id][-_MAX_REFERENCES:]
        message["References"] = " ".join(f"<{value.strip('<>')}>" for value in references)
    message.set_content(body)
    return message
