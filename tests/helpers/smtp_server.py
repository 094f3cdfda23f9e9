"""A real aiosmtpd SMTP server on 127.0.0.1 for tests, recording what it accepted.

``SmtpServer`` wraps aiosmtpd's ``Controller`` (its own thread and loop) on a
free port. Its options cover what the send tests need: AUTH with a fixed user
and password, STARTTLS or implicit TLS with a throwaway certificate, a SIZE
limit, and scripted replies for some recipients or senders. A ``deliver``
callback passes each accepted message on, e.g. into the recipient's Dovecot
INBOX in the auto-reply loop test.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    """One message the server accepted: the envelope and the bytes as transmitted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class _Behaviour:
    recipient_replies: dict[str, str] = field(default_factory=dict)
    sender_replies: dict[str, str] = field(default_factory=dict)
    deliver: Callable[[Received], None] | None = None


class _RecordingHandler:
    """aiosmtpd handler that replies as scripted and keeps every accepted message."""

    def __init__(self, behaviour: _Behaviour) -> None:
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001, N802 - aiosmtpd hook
        # aiosmtpd passes the null sender as "<>" and needs a non-empty mail_from for RCPT;
        # Received records it as "", the way SMTP clients name it.
        reply = self.behaviour.sender_replies.get("" if address == "<>" else address.lower())
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802 - aiosmtpd hook
        reply = self.behaviour.recipient_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        mail_from = "" if envelope.mail_from == "<>" else envelope.mail_from
        item = Received(mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content), login)
        if self.behaviour.deliver is not None:
            self.behaviour.deliver(item)
        with self.changed:
            self.received.append(item)
            self.changed.notify_all()
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 and a free port.

    Args:
        user, password: When set, the server offers AUTH PLAIN and LOGIN and
            requires a login before MAIL.
        tls: "" (plain SMTP), "starttls" (offered and required before MAIL) or
            "tls" (implicit TLS). Needs ``certificate``.
        certificate: ``(cert file, key file)`` from ``make_certificate``.
        size_limit: The SIZE the server announces and enforces.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        tls: str = "",
        certificate: tuple[Path, Path] | None = None,
        size_limit: int = 33554432,
    ) -> None:
        self.behaviour = _Behaviour()
        self.handler = _RecordingHandler(self.behaviour)
        self.user = user
        self.password = password
        self.port = free_port()
        self.logins: list[tuple[str, bool]] = []
        kwargs: dict = {"data_size_limit": size_limit}
        if user is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        server_context = None
        if tls:
            if certificate is None:
                raise ValueError("a TLS server needs a certificate from make_certificate()")
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        if tls == "starttls":
            kwargs.update(tls_context=server_context, require_starttls=True)
        self.controller = Controller(
            self.handler, hostname=self.host, port=self.port,
            ssl_context=server_context if tls == "tls" else None, **kwargs,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001 - aiosmtpd hook
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "", ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def reply_to_recipient(self, address: str, reply: str) -> None:
        """Reply to RCPT TO for ``address`` with ``reply`` (e.g. "550 5.1.1 No such user") instead of accepting it."""
        self.behaviour.recipient_replies[address.lower()] = reply

    def reply_to_sender(self, address: str, reply: str) -> None:
        """Reply to MAIL FROM for ``address`` ("" for the null sender) with ``reply``."""
        self.behaviour.sender_replies[address.lower()] = reply

    def deliver_with(self, callback: Callable[[Received], None]) -> None:
        """Call ``callback`` with each accepted message before the server replies 250."""
        self.behaviour.deliver = callback

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; return them all."""
        with self.handler.changed:
            self.handler.changed.wait_for(lambda: len(self.handler.received) >= count, timeout)
            return list(self.handler.received)


def make_certificate(folder: Path) -> tuple[Path, Path] | None:
    """Write a throwaway self-signed certificate for 127.0.0.1 and localhost; None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key
