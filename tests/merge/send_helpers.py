"""Shared pieces of the merge send tests: a template with data, an account, and a scripted aiosmtpd server."""

from __future__ import annotations

import asyncio
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from desktop.cli import main
from desktop.config import Account, Config, save_config
from desktop.paths import default_profile
from tests.helpers.smtp_server import SmtpServer

ACCOUNT = "work"
SENDER = "ana@example.com"

TEMPLATE = """\
From: Ana <ana@example.com>
To: {{ name }} <{{ email }}>
Subject: Your results, {{ name }}
Merge-Attach-Column: attachment

Dear **{{ name }}**,

your code is {{ code }}.
"""


def address(number: int) -> str:
    return f"user{number}@example.org"


def write_merge(folder: Path, count: int, *, attach_every: int = 0) -> tuple[Path, Path]:
    """Write a template and a CSV of ``count`` recipients; every ``attach_every``-th row gets a file attached."""
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "results.md"
    template.write_text(TEMPLATE, encoding="utf-8")
    lines = ["name,email,code,attachment"]
    for number in range(1, count + 1):
        attachment = ""
        if attach_every and number % attach_every == 0:
            attachment = f"files/sheet-{number}.txt"
            (folder / "files").mkdir(exist_ok=True)
            (folder / attachment).write_text(f"Sheet of row {number}\n", encoding="utf-8")
        lines.append(f"User {number},{address(number)},C{number:04d},{attachment}")
    data = folder / "people.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return template, data


def add_smtp_account(server: SmtpServer, **changes: object) -> Account:
    """Write the profile's config with one account that sends through ``server``."""
    values: dict = {
        "name": ACCOUNT, "imap_host": "127.0.0.1", "user": "ana", "security": "none", "smtp_host": server.host,
        "smtp_port": server.port, "smtp_security": "none", "address": SENDER,
    }
    values.update(changes)
    account = Account(**values)
    account.validate()
    profile = default_profile().ensure()
    save_config(Config(accounts={ACCOUNT: account}), profile.config_file)
    return account


def add_dovecot_account(capsys, server: SmtpServer, dovecot_server, imap_user) -> int:
    """Add the account with ``sluice account add``: IMAP on the test Dovecot, SMTP through ``server``.

    Returns the command's exit code.
    """
    return run(capsys, "account", "add", ACCOUNT, "--imap-host", dovecot_server.host, "--imap-port",
               str(dovecot_server.port), "--security", "none", "--user", imap_user.name, "--password-command",
               f"printf %s {imap_user.password}", "--smtp-host", server.host, "--smtp-port", str(server.port),
               "--smtp-security", "none", "--address", SENDER)[0]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def received_counts(server: SmtpServer) -> Counter:
    """Count the messages the server accepted per envelope recipient."""
    return Counter(recipient for item in server.received for recipient in item.rcpt_tos)


def parsed(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def message_shape(message: EmailMessage) -> list:
    """Return a message's headers (without Message-ID, Date and MIME boundaries) and each part's type, name and content."""
    headers = [(name, str(value)) for name, value in message.items()
               if name.lower() not in ("message-id", "date", "content-type")]
    parts = []
    for part in message.walk():
        if part.is_multipart():
            parts.append((part.get_content_type(), None, None))
            continue
        content = part.get_content()
        if isinstance(content, str):
            # Received text has the CRLF line ends of SMTP; the preview has the newlines of Python strings.
            content = content.replace("\r\n", "\n")
        parts.append((part.get_content_type(), part.get_filename(), content))
    return [headers, parts]


class ScriptedServer(SmtpServer):
    """An aiosmtpd server that replies from a script per recipient before it accepts, and can drop a connection.

    ``script(address, "rcpt", ["451 4.3.0 Try later"])`` replies to the next RCPT
    TO commands for ``address`` with those replies in turn, then accepts them.
    Stage ``"data"`` replies to the message data instead. ``drop_after_data(address)`` closes the
    connection after the data of ``address`` arrived, without a reply.
    """

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.scripts: dict[tuple[str, str], list[str]] = {}
        self.tries: Counter = Counter()
        self.drops: set[str] = set()
        handler = self.handler
        accept_rcpt, accept_data = handler.handle_RCPT, handler.handle_DATA

        async def handle_rcpt(server, session, envelope, address, rcpt_options):  # noqa: ANN001 - aiosmtpd hook
            self.tries[address.lower()] += 1
            reply = self._next(address, "rcpt")
            if reply:
                return reply
            return await accept_rcpt(server, session, envelope, address, rcpt_options)

        async def handle_data(server, session, envelope):  # noqa: ANN001 - aiosmtpd hook
            first = envelope.rcpt_tos[0].lower()
            reply = self._next(first, "data")
            if reply:
                return reply
            result = await accept_data(server, session, envelope)
            if first in self.drops:
                self.drops.discard(first)
                server.transport.close()
                await asyncio.sleep(0)
            return result

        handler.handle_RCPT = handle_rcpt
        handler.handle_DATA = handle_data

    def _next(self, address: str, stage: str) -> str:
        replies = self.scripts.get((address.lower(), stage))
        return replies.pop(0) if replies else ""

    def script(self, address: str, stage: str, replies: list[str]) -> None:
        self.scripts[(address.lower(), stage)] = list(replies)

    def drop_after_data(self, address: str) -> None:
        self.drops.add(address.lower())


def send(capsys, template, data, *extra: str) -> tuple[int, str, str]:
    """Run ``sluice merge send`` for the test account without Sent copies; return the status, stdout and stderr."""
    return run(capsys, "merge", "send", str(template), str(data), "--account", ACCOUNT, "--no-sent-copy", *extra)
