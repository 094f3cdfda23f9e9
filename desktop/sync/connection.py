"""Opening an IMAP connection with clear errors for each way it can fail.

Certificates are verified against the system's trust store by default, for
implicit TLS and for STARTTLS alike.
"""

from __future__ import annotations

import logging
import socket
import ssl

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from desktop.config import Account
from desktop.credentials import CredentialError, get_password
from desktop.sync.errors import SyncError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0


def connect(account: Account, *, timeout: float = DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None) -> IMAPClient:
    """Connect and log in to ``account``'s IMAP server, or raise SyncError."""
    try:
        password = get_password(account)
    except CredentialError as error:
        raise SyncError(account.name, "credentials", str(error)) from error

    where = f"{account.imap_host}:{account.imap_port}"
    log.info("Connecting account %s to %s (%s)", account.name, where, account.security)
    context = ssl_context or ssl.create_default_context()
    try:
        client = _open(account, context, timeout)
    except SyncError:
        raise
    except Exception as error:  # noqa: BLE001 - every socket and TLS failure is mapped to a readable cause below
        raise _classify(account, error) from error

    try:
        client.login(account.user, password)
    except LoginError as error:
        _close_quietly(client)
        fix = (
            "Check the user name, and that the password command prints the current password."
            if account.password_command
            else f"Check the user name; if the password changed, store it with 'sluice account password {account.name}'."
        )
        raise SyncError(
            account.name,
            "auth",
            f"Login to {where} as {account.user!r} failed for account {account.name!r}: {_server_text(error)}. {fix}",
        ) from error
    except (OSError, IMAPClientError) as error:
        _close_quietly(client)
        raise _classify(account, error) from error
    client.normalise_times = False
    _enable_condstore(client, account)
    log.info("Logged in to %s for account %s", where, account.name)
    return client


def _enable_condstore(client: IMAPClient, account: Account) -> None:
    """Turn on CONDSTORE, so SELECT reports HIGHESTMODSEQ (RFC 7162 section 3.1)."""
    capabilities = client.capabilities()
    if b"CONDSTORE" not in capabilities or b"ENABLE" not in capabilities:
        return
    try:
        client.enable("CONDSTORE")
    except IMAPClientError as error:
        # Sync still works without it, only with a full flag fetch per folder.
        log.warning("ENABLE CONDSTORE failed for account %s: %s", account.name, error)


def _open(account: Account, context: ssl.SSLContext, timeout: float) -> IMAPClient:
    if account.security == "tls":
        return IMAPClient(account.imap_host, port=account.imap_port, ssl=True, ssl_context=context, timeout=timeout)
    client = IMAPClient(account.imap_host, port=account.imap_port, ssl=False, timeout=timeout)
    if account.security == "starttls":
        if b"STARTTLS" not in client.capabilities():
            _close_quietly(client)
            raise SyncError(
                account.name,
                "tls",
                f"The server {account.imap_host}:{account.imap_port} does not offer STARTTLS; "
                "use --security tls with the TLS port (usually 993), or --security none only on a trusted network.",
            )
        client.starttls(context)
    return client


def classify_error(account: Account, error: BaseException, *, after: str = "") -> SyncError:
    """Turn a connection failure into a SyncError that names what to check.

    ``after`` is appended to the message, for example what happens to the
    work done so far.
    """
    result = _classify(account, error)
    if after:
        return SyncError(result.account, result.cause, f"{result} {after}")
    return result


def _classify(account: Account, error: BaseException) -> SyncError:
    where = f"{account.imap_host}:{account.imap_port}"
    name = account.name
    # imaplib reports socket failures inside a command as an abort whose text
    # carries the socket error ("command: FETCH => socket error: EOF").
    text = str(error)
    if isinstance(error, (socket.timeout, TimeoutError)) or (isinstance(error, IMAPClientError) and "timed out" in text):
        return SyncError(
            name, "timeout",
            f"The IMAP server {where} of account {name!r} did not respond in time (the connection timed out). "
            "Check the network and the port.",
        )
    if isinstance(error, IMAPClientError) and ("EOF" in text or "socket error" in text):
        return SyncError(
            name, "network",
            f"The IMAP server {where} closed the connection of account {name!r} unexpectedly ({text}). "
            "Check that the server runs and that the port is an IMAP port.",
        )
    if isinstance(error, socket.gaierror):
        return SyncError(name, "dns", f"Cannot resolve the IMAP host {account.imap_host!r} of account {name!r} ({error.strerror}). Check the host name and the network.")
    if isinstance(error, ConnectionRefusedError):
        return SyncError(name, "refused", f"The IMAP server {where} of account {name!r} refused the connection. Check the host, the port and that the server runs.")
    if isinstance(error, ssl.SSLCertVerificationError):
        return SyncError(
            name,
            "tls",
            f"The TLS certificate of {account.imap_host} could not be verified for account {name!r}: "
            f"{error.verify_message or error.reason}. Check the host name; if the server uses a private CA, add it to the system trust store.",
        )
    if isinstance(error, ssl.SSLError):
        return SyncError(name, "tls", f"TLS with {where} failed for account {name!r}: {error.reason or error}. Check that --security matches the port (tls: 993, starttls: 143).")
    if isinstance(error, OSError):
        return SyncError(name, "network", f"Network error talking to {where} for account {name!r}: {error.strerror or error}.")
    return SyncError(name, "protocol", f"The IMAP server {where} of account {name!r} sent an unexpected response: {error}.")


def _server_text(error: BaseException) -> str:
    text = str(error)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.rstrip(". ") or "the server gave no reason"


def _close_quietly(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except OSError as error:
        log.debug("Ignored an error while closing a failed connection: %s", error)
