"""Sending mail over SMTP with aiosmtplib, on one asyncio loop in a thread of its own.

``SmtpSender`` is the only SMTP path of the application. Its loop runs in a
daemon thread started on first use, because PySide6's QtAsyncio loop cannot
open network connections. Callers reach the loop only through
``asyncio.run_coroutine_threadsafe``: core code calls the blocking ``send``,
the window calls ``submit`` and waits on the returned future.

Security follows the account's ``smtp_security``: ``tls`` (implicit TLS,
usually port 465), ``starttls`` (required, usually port 587) or ``none``.
Certificates are verified against the system's trust store. A password or
token is sent only over TLS or to a server on a loopback address, so ``none``
is for a local relay. The secret is never logged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import email.utils
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any, TypeVar

import aiosmtplib

from desktop.config import Account
from desktop.credentials import KEYRING_SERVICE, CredentialError
from desktop.send.credentials import smtp_keyring_entry, smtp_secret, uses_imap_secret
from desktop.text import sentence

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0

T = TypeVar("T")

# Error kinds. ``SendError.temporary`` is True when trying again later may help.
KIND_CONFIG = "config"
KIND_CREDENTIALS = "credentials"
KIND_AUTH = "auth_failed"
KIND_RELAY = "relay_denied"
KIND_RECIPIENT = "recipient_rejected"
KIND_SENDER = "sender_rejected"
KIND_TOO_LARGE = "too_large"
KIND_REFUSED = "connection_refused"
KIND_DNS = "dns"
KIND_TIMEOUT = "timeout"
KIND_TLS = "tls"
KIND_NETWORK = "network"
KIND_TEMPORARY = "temporary"
KIND_PERMANENT = "permanent"

_TEMPORARY_KINDS = {KIND_REFUSED, KIND_DNS, KIND_TIMEOUT, KIND_NETWORK, KIND_TEMPORARY}


class SendError(RuntimeError):
    """Sending one message failed. The message names the server, the reply code and the fix.

    Attributes:
        kind: One of the ``KIND_*`` values of this module, e.g. ``auth_failed``.
        account: The account's name.
        server: ``host:port`` of the SMTP server, or "" when none is configured.
        code: The server's reply code (e.g. 535), or None when there was no reply.
        temporary: True when the same message may go through later (a 4xx
            reply, a timeout, a refused or dropped connection).
    """

    def __init__(self, kind: str, message: str, *, account: str, server: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.account = account
        self.server = server
        self.code = code
        self.temporary = kind in _TEMPORARY_KINDS or (code is not None and 400 <= code < 500)


@dataclass(frozen=True)
class SendResult:
    """A message the server accepted for at least one recipient.

    Attributes:
        account: The account's name.
        server: ``host:port`` of the SMTP server.
        envelope_sender: The MAIL FROM address; "" is the null sender ``<>``.
        accepted: Recipients the server accepted.
        refused: Recipients the server refused, each with the reply code and text.
        response: The server's reply to the message data, e.g. "250 OK".
    """

    account: str
    server: str
    envelope_sender: str
    accepted: tuple[str, ...]
    refused: dict[str, str] = field(default_factory=dict)
    response: str = ""


SecretSource = Callable[[Account], tuple[str, bool]]


class SmtpSender:
    """Sends messages through each account's SMTP server from one background asyncio loop.

    ``send`` and ``submit`` open one connection per message and close it after
    it; a mail merge keeps connections open with ``open_connection``. Threads may
    share the object, and ``close`` stops the loop and waits for its thread.

    Args:
        ssl_context: The TLS settings; by default the system's trust store with
            host name checks. Tests pass a context that trusts their own CA.
        secret: Returns an account's SMTP secret and whether it is an OAuth 2.0
            token; by default the keyring or the account's command.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, secret: SecretSource = smtp_secret) -> None:
        self._ssl_context = ssl_context
        self._secret = secret
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(
        self,
        account: Account,
        message: EmailMessage,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> concurrent.futures.Future[SendResult]:
        """Start sending ``message`` and return a future of its SendResult or SendError.

        Args:
            sender: The envelope sender (MAIL FROM); "" sends the null sender
                ``<>``. Default: the account's address, else the From address.
            recipients: Envelope recipients; default: the To, Cc and Bcc addresses.
                A Bcc header is never transmitted.
            timeout: Seconds allowed for each step (connect, each command).
        """
        loop = self._ensure_loop()
        coroutine = self._send(account, message, sender, recipients, timeout)
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def send(
        self,
        account: Account,
        message: EmailMessage,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> SendResult:
        """Send ``message`` and wait for the outcome; raise SendError on failure.

        Must not be called from the sender's own loop thread (it would wait on itself).
        """
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError("SmtpSender.send() was called on its own loop thread; await the coroutine or use submit().")
        return self.submit(account, message, sender=sender, recipients=recipients, timeout=timeout).result()

    def close(self) -> None:
        """Stop the loop and wait for its thread; sends still in progress are cancelled."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        log.info("Stopped the SMTP sender loop")

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("This SmtpSender is closed; create a new one.")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._run_loop, args=(loop,), name="smtp-sender", daemon=True)
                self._loop, self._thread = loop, thread
                thread.start()
                log.info("Started the SMTP sender loop")
            return self._loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()
        # Finish what was cancelled by stop() so that no task is destroyed while pending.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    async def _send(
        self,
        account: Account,
        message: EmailMessage,
        sender: str | None,
        recipients: Sequence[str] | None,
        timeout: float,
    ) -> SendResult:
        server = _server(account)
        _require_smtp_host(account)
        envelope_sender = _envelope_sender(account, message, sender)
        envelope_recipients = list(recipients) if recipients is not None else _message_recipients(message)
        if not envelope_recipients:
            raise SendError(
                KIND_CONFIG, f"The message from account {account.name!r} has no recipient; add a To, Cc or Bcc address.",
                account=account.name, server=server,
            )
        data = _serialize(message)
        log.info("Sending a message of %d bytes from account %s to %d recipient(s) via %s",
                 len(data), account.name, len(envelope_recipients), server)
        try:
            return await self._transmit(account, envelope_sender, envelope_recipients, data, timeout)
        except SendError as error:
            log.warning("Sending from account %s via %s failed (%s, code %s): %s",
                        account.name, server, error.kind, error.code, error)
            raise
        except Exception as error:  # noqa: BLE001 - every network, TLS and SMTP failure is mapped to a readable cause
            mapped = classify_error(account, error)
            log.warning("Sending from account %s via %s failed (%s, code %s): %s",
                        account.name, server, mapped.kind, mapped.code, mapped)
            raise mapped from error

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coroutine`` on the sender's loop and return its future; for work that keeps connections open."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())

    async def open_connection(self, account: Account, timeout: float = DEFAULT_TIMEOUT) -> aiosmtplib.SMTP:
        """Connect to the account's SMTP server, greet it and log in; return the open client.

        Runs on the sender's loop (see ``run_coroutine``). The caller sends any
        number of messages over the client and closes it with ``close_connection``.
        Raises SendError with the cause and the fix.
        """
        _require_smtp_host(account)
        try:
            return await self._connect(account, timeout)
        except SendError:
            raise
        except Exception as error:  # noqa: BLE001 - every network, TLS and SMTP failure is mapped to a readable cause
            raise classify_error(account, error) from error

    async def _connect(self, account: Account, timeout: float) -> aiosmtplib.SMTP:
        security = account.smtp_security
        client = aiosmtplib.SMTP(
            hostname=account.smtp_host,
            port=account.smtp_port_or_default,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            # Loading the system's trust store takes tens of milliseconds, so a plain connection skips it.
            tls_context=self._tls_context() if security in ("tls", "starttls") else None,
            timeout=timeout,
        )
        await client.connect()
        try:
            if client.is_ehlo_or_helo_needed:
                # connect() greets with EHLO only when it also starts TLS; AUTH and SIZE come from that reply.
                await client.ehlo()
            if client.supports_extension("auth"):
                await self._login(client, account)
        except BaseException:
            await _quit_quietly(client)
            raise
        return client

    def _tls_context(self) -> ssl.SSLContext:
        """Return the TLS settings: the caller's, or the system's trust store, made once per sender."""
        with self._lock:
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            return self._ssl_context

    async def _transmit(
        self, account: Account, sender: str, recipients: list[str], data: bytes, timeout: float,
    ) -> SendResult:
        client = await self._connect(account, timeout)
        try:
            _check_size(client, account, len(data))
            refused, response = await client.sendmail(sender, recipients, data)
        finally:
            await _quit_quietly(client)
        refused_text = {address: f"{reply.code} {reply.message}" for address, reply in refused.items()}
        accepted = tuple(address for address in recipients if address not in refused)
        for address, reason in refused_text.items():
            log.warning("SMTP server %s rejected recipient %s of account %s: %s", _server(account), address, account.name, reason)
        log.info("SMTP server %s accepted a message of account %s for %d recipient(s)", _server(account), account.name, len(accepted))
        return SendResult(
            account=account.name, server=_server(account), envelope_sender=sender,
            accepted=accepted, refused=refused_text, response=response,
        )

    async def _login(self, client: aiosmtplib.SMTP, account: Account) -> None:
        server = _server(account)
        if not _uses_tls(client) and not _peer_is_loopback(client):
            raise SendError(
                KIND_TLS,
                f"The SMTP server {server} of account {account.name!r} asks for a login over an unencrypted "
                "connection, and Sluice does not send a password in clear text to a server that is not on this "
                "machine. Set smtp_security to starttls (port 587) or tls (port 465).",
                account=account.name, server=server,
            )
        loop = asyncio.get_running_loop()
        try:
            # The keyring or a password command may block, so it runs outside the loop.
            secret, is_token = await loop.run_in_executor(None, self._secret, account)
        except CredentialError as error:
            raise SendError(KIND_CREDENTIALS, str(error), account=account.name, server=server) from error
        log.debug("Logging in to SMTP server %s as %s for account %s", server, account.smtp_login, account.name)
        if is_token:
            await client.auth_xoauth2(account.smtp_login, secret)
        else:
            await client.login(account.smtp_login, secret)


def _server(account: Account) -> str:
    return f"{account.smtp_host}:{account.smtp_port_or_default}" if account.smtp_host else ""


def _require_smtp_host(account: Account) -> None:
    """Raise SendError (config) when ``account`` has no SMTP server set."""
    if not account.smtp_host:
        raise SendError(
            KIND_CONFIG,
            f"Account {account.name!r} has no SMTP server, so it cannot send mail. Set smtp_host (and smtp_port, "
            "smtp_security) in the account's table of config.toml, or add the account with --smtp-host.",
            account=account.name,
        )


def _envelope_sender(account: Account, message: EmailMessage, sender: str | None) -> str:
    if sender is not None:
        return sender
    if account.address:
        return account.address
    addresses = email.utils.getaddresses([str(value) for value in message.get_all("From", [])])
    return addresses[0][1] if addresses else ""


def _message_recipients(message: EmailMessage) -> list[str]:
    values = [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    found: list[str] = []
    for _, address in email.utils.getaddresses(values):
        if address and address not in found:
            found.append(address)
    return found


def _serialize(message: EmailMessage) -> bytes:
    """Return the message as sent: CRLF line ends (policy.SMTP), without its Bcc header."""
    if "Bcc" in message:
        message = copy.copy(message)
        del message["Bcc"]
    return message.as_bytes(policy=policy.SMTP)


def _check_size(client: aiosmtplib.SMTP, account: Account, size: int) -> None:
    """Raise ``too_large`` before sending when the server announced a SIZE limit (RFC 1870) below ``size``."""
    announced = client.esmtp_extensions.get("size", "").strip()
    limit = int(announced) if announced.isdigit() else 0
    if limit and size > limit:
        server = _server(account)
        raise SendError(
            KIND_TOO_LARGE,
            f"The message of {_megabytes(size)} is larger than the limit of {_megabytes(limit)} that the SMTP server "
            f"{server} of account {account.name!r} announces (SIZE {limit}). Make it smaller, e.g. send large files "
            "as links.",
            account=account.name, server=server, code=552,
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB ({size} bytes)"


def _uses_tls(client: aiosmtplib.SMTP) -> bool:
    transport = client.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


def _peer_is_loopback(client: aiosmtplib.SMTP) -> bool:
    transport = client.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return False


async def close_connection(client: aiosmtplib.SMTP) -> None:
    """Send QUIT and close the connection; a failing QUIT only closes it."""
    await _quit_quietly(client)


def check_size(client: aiosmtplib.SMTP, account: Account, size: int) -> None:
    """Raise SendError ``too_large`` when the server announced a SIZE limit below ``size``."""
    _check_size(client, account, size)


async def _quit_quietly(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError) as error:
        log.debug("QUIT failed, closing the connection: %s", error)
        client.close()


def classify_error(account: Account, error: BaseException) -> SendError:
    """Turn an aiosmtplib, TLS or socket failure into a SendError naming the cause and the fix."""
    server = _server(account)
    name = account.name
    if isinstance(error, SendError):
        return error
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return _recipients_refused(account, error)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _reply_error(account, error)
    if isinstance(error, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, socket.timeout)):
        return SendError(
            KIND_TIMEOUT,
            f"The SMTP server {server} of account {name!r} did not respond in time (timed out). Check the network, "
            "the host and the port; a server may also be slow under load, so trying again later can help.",
            account=name, server=server,
        )
    if isinstance(error, aiosmtplib.SMTPNotSupported) or "STARTTLS extension not supported" in str(error):
        return SendError(
            KIND_TLS,
            f"The SMTP server {server} of account {name!r} does not offer STARTTLS ({error}). Use smtp_security "
            "tls with port 465 if the server has it; none is only for a relay on this machine.",
            account=name, server=server,
        )
    cause = _root_cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return SendError(
            KIND_TLS,
            f"The TLS certificate of the SMTP server {account.smtp_host} of account {name!r} could not be verified: "
            f"{cause.verify_message or cause.reason}. Check the host name; if the server uses a private CA, add it "
            "to the system trust store.",
            account=name, server=server,
        )
    if isinstance(cause, ssl.SSLError):
        return SendError(
            KIND_TLS,
            f"TLS with the SMTP server {server} of account {name!r} failed: {cause.reason or cause}. Check that "
            "smtp_security matches the port (tls: 465, starttls: 587).",
            account=name, server=server,
        )
    if isinstance(cause, socket.gaierror):
        return SendError(
            KIND_DNS,
            f"Cannot resolve the SMTP host {account.smtp_host!r} of account {name!r} ({cause.strerror}). "
            "Check the host name and the network.",
            account=name, server=server,
        )
    if isinstance(cause, ConnectionRefusedError) or "Connect call failed" in str(error):
        return SendError(
            KIND_REFUSED,
            f"The SMTP server {server} of account {name!r} refused the connection. Check the host, the port "
            "(465 for tls, 587 for starttls, 25 or 587 for none) and that the server runs.",
            account=name, server=server,
        )
    if isinstance(error, aiosmtplib.SMTPServerDisconnected):
        return SendError(
            KIND_NETWORK,
            f"The SMTP server {server} of account {name!r} closed the connection unexpectedly ({error}). Check that "
            "the port is an SMTP port and that smtp_security matches it; then try again.",
            account=name, server=server,
        )
    return SendError(
        KIND_NETWORK,
        f"Sending through the SMTP server {server} of account {name!r} failed: {sentence(error)} Check the network and the "
        "account's SMTP settings.",
        account=name, server=server,
    )


def _root_cause(error: BaseException) -> BaseException:
    """Return the innermost chained exception; aiosmtplib wraps socket and TLS errors in its own."""
    seen = {id(error)}
    while True:
        inner = error.__cause__ or error.__context__
        if inner is None or id(inner) in seen:
            return error
        seen.add(id(inner))
        error = inner


def _reply_text(error: aiosmtplib.SMTPResponseException) -> str:
    return f"{error.code} {error.message}".strip()


def _login_fix(account: Account) -> str:
    """Return what to check after a rejected SMTP login, and the command that stores the right secret."""
    if uses_imap_secret(account) and account.oauth2_token_command:
        return ("Check smtp_user, and that oauth2_token_command prints a valid access token for that login and "
                "for sending mail.")
    app_password = "some providers need an app password for SMTP"
    if not uses_imap_secret(account):
        # Account names are letters, digits, ".", "_" and "-" (validate_account_name), so they need no shell quoting.
        return (f"Check smtp_user ({app_password}), then store the right SMTP password with "
                f"'keyring set {KEYRING_SERVICE} {smtp_keyring_entry(account.name)}'.")
    command = f"'sluice account password {account.name}'"
    if account.password_command:
        return (f"Check smtp_user and the password that password_command prints ({app_password}), or store the "
                f"right password in the keyring instead with {command}.")
    return f"Check smtp_user ({app_password}), then store the right password with {command}."


def _reply_error(account: Account, error: aiosmtplib.SMTPResponseException) -> SendError:
    server = _server(account)
    name = account.name
    reply = _reply_text(error)
    code = error.code
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        if 400 <= code < 500:
            return SendError(
                KIND_TEMPORARY,
                f"The SMTP server {server} could not check the login of account {name!r} now ({reply}). "
                "Try again later.",
                account=name, server=server, code=code,
            )
        return SendError(
            KIND_AUTH,
            f"The SMTP server {server} rejected the login of account {name!r} as {account.smtp_login!r} ({reply}). "
            f"{_login_fix(account)}",
            account=name, server=server, code=code,
        )
    if _is_too_large(code, error.message):
        return SendError(
            KIND_TOO_LARGE,
            f"The SMTP server {server} of account {name!r} rejected the message as too large ({reply}). "
            "Make it smaller, e.g. send large files as links.",
            account=name, server=server, code=code,
        )
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        return SendError(
            KIND_TEMPORARY if code < 500 else KIND_SENDER,
            f"The SMTP server {server} of account {name!r} rejected the sender {error.sender or '<>'} ({reply}). "
            + ("Try again later." if code < 500 else "Check the account's address; many servers accept only the "
               "address you log in with."),
            account=name, server=server, code=code,
        )
    if 400 <= code < 500:
        return SendError(
            KIND_TEMPORARY,
            f"The SMTP server {server} of account {name!r} answered with a temporary failure ({reply}). Try again later.",
            account=name, server=server, code=code,
        )
    return SendError(
        KIND_PERMANENT,
        f"The SMTP server {server} of account {name!r} rejected the message ({reply}). Sending it again will fail "
        "the same way; check the message and the account's SMTP settings.",
        account=name, server=server, code=code,
    )


def _recipients_refused(account: Account, error: aiosmtplib.SMTPRecipientsRefused) -> SendError:
    """Map the refusal of every recipient to one error, led by the most telling reply."""
    server = _server(account)
    name = account.name
    refusals = list(error.recipients)
    listed = "; ".join(f"{item.recipient}: {_reply_text(item)}" for item in refusals)
    relay = [item for item in refusals if _is_relay_denied(item.code, item.message)]
    if relay:
        return SendError(
            KIND_RELAY,
            f"The SMTP server {server} of account {name!r} refused to relay the message ({listed}). The server "
            "accepts mail for other domains only after a login: use the account's submission server (usually port "
            "587 with starttls) and check smtp_user and the password.",
            account=name, server=server, code=relay[0].code,
        )
    permanent = [item for item in refusals if item.code >= 500]
    if permanent:
        return SendError(
            KIND_RECIPIENT,
            f"The SMTP server {server} of account {name!r} rejected every recipient ({listed}). Check the addresses.",
            account=name, server=server, code=permanent[0].code,
        )
    first = refusals[0] if refusals else None
    return SendError(
        KIND_TEMPORARY,
        f"The SMTP server {server} of account {name!r} cannot take the message for its recipients now ({listed}). "
        "Try again later.",
        account=name, server=server, code=first.code if first else None,
    )


def _is_relay_denied(code: int, text: str) -> bool:
    lowered = text.lower()
    return code >= 500 and ("relay" in lowered or "5.7.1" in lowered)


def _is_too_large(code: int, text: str) -> bool:
    lowered = text.lower()
    return code == 552 or (code >= 500 and ("too large" in lowered or "size" in lowered or "5.3.4" in lowered))
