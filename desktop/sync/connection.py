"""Opening an IMAP connection with clear errors for each way it can fail.

Certificates are verified against the system's trust store by default, for
implicit TLS and for STARTTLS alike. An account with an OAuth 2.0 token
command logs in with AUTHENTICATE OAUTHBEARER (RFC 7628) or XOAUTH2 (the
Google and Microsoft mechanism) instead of LOGIN.
"""

from __future__ import annotations

import logging
import socket
import ssl

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from desktop.config import Account
from desktop.credentials import CredentialError, get_oauth2_token, get_password
from desktop.sync.errors import SyncError
from desktop.text import sentence

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
# Tried in this order: OAUTHBEARER is the standard (RFC 7628), XOAUTH2 its older vendor form.
OAUTH2_MECHANISMS = ("OAUTHBEARER", "XOAUTH2")


def connect(account: Account, *, timeout: float = DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None) -> IMAPClient:
    """Connect and log in to ``account``'s IMAP server, or raise SyncError."""
    try:
        secret = get_oauth2_token(account) if account.oauth2_token_command else get_password(account)
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
        _login(client, account, secret)
    except SyncError:
        _close_quietly(client)
        raise
    except (OSError, IMAPClientError) as error:
        _close_quietly(client)
        raise _classify(account, error) from error
    client.normalise_times = False
    _enable_condstore(client, account)
    log.info("Logged in to %s for account %s", where, account.name)
    return client


def _login(client: IMAPClient, account: Account, secret: str) -> None:
    """Log in with the password, or with the OAuth 2.0 token when the account has a token command."""
    where = f"{account.imap_host}:{account.imap_port}"
    if account.oauth2_token_command:
        _oauth2_login(client, account, secret)
        return
    try:
        client.login(account.user, secret)
    except LoginError as error:
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


def _oauth2_login(client: IMAPClient, account: Account, token: str) -> None:
    where = f"{account.imap_host}:{account.imap_port}"
    mechanism = oauth2_mechanism(account, client.capabilities())
    log.info("Authenticating account %s at %s with %s", account.name, where, mechanism)
    exchange = _OAuth2Exchange(mechanism, account.user, token)
    try:
        client.sasl_login(mechanism, exchange)
    except LoginError as error:
        detail = _server_text(error) + (f" ({exchange.server_error})" if exchange.server_error else "")
        raise SyncError(
            account.name,
            "auth",
            f"The server {where} refused the OAuth 2.0 access token of account {account.name!r} "
            f"(user {account.user!r}, {mechanism}): {detail}. Check that the token command "
            f"{account.oauth2_token_command!r} prints a current access token for this user.",
        ) from error


class _OAuth2Exchange:
    """The client side of an OAUTHBEARER (RFC 7628) or XOAUTH2 exchange, called by imaplib for each challenge.

    Attributes:
        server_error: the JSON error the server sent before failing, or "".
    """

    def __init__(self, mechanism: str, user: str, token: str) -> None:
        self._mechanism = mechanism
        self._user = user
        self._token = token
        self._sent = False
        self.server_error = ""

    def __call__(self, challenge: bytes) -> bytes:
        if not self._sent:
            self._sent = True
            return self._initial_response()
        # A challenge after the token carries the error as JSON (RFC 7628 section 3.2.2). The client
        # replies with %x01 for OAUTHBEARER (section 3.2.3) and an empty line for XOAUTH2, and the
        # server then fails the command.
        self.server_error = challenge.decode("utf-8", "replace").strip()
        return b"\x01" if self._mechanism == "OAUTHBEARER" else b""

    def _initial_response(self) -> bytes:
        if self._mechanism == "OAUTHBEARER":
            # GS2 header with the user as authorization identity (RFC 5801 section 4; ',' and '=' escaped).
            identity = self._user.replace("=", "=3D").replace(",", "=2C")
            return f"n,a={identity},\x01auth=Bearer {self._token}\x01\x01".encode()
        return f"user={self._user}\x01auth=Bearer {self._token}\x01\x01".encode()


def oauth2_mechanism(account: Account, capabilities: tuple[bytes, ...] | list[bytes]) -> str:
    """Return the OAuth 2.0 SASL mechanism to use, from the server's AUTH= capabilities (RFC 3501 section 6.2.2).

    Raises:
        SyncError: the server offers neither OAUTHBEARER nor XOAUTH2.
    """
    offered = [item.decode("ascii", "replace")[5:] for item in capabilities if item.upper().startswith(b"AUTH=")]
    for mechanism in OAUTH2_MECHANISMS:
        if mechanism in (name.upper() for name in offered):
            return mechanism
    listed = ", ".join(offered) if offered else "no AUTH= mechanisms"
    raise SyncError(
        account.name,
        "auth",
        f"The server {account.imap_host}:{account.imap_port} of account {account.name!r} offers neither "
        f"OAUTHBEARER nor XOAUTH2 (it lists {listed}), so the OAuth 2.0 token cannot be used. "
        "Remove the token command from the account and log in with a password, or check the host and port.",
    )


def _enable_condstore(client: IMAPClient, account: Account) -> None:
    """Turn on CONDSTORE, so SELECT reports HIGHESTMODSEQ (RFC 7162 section 3.1)."""
    capabilities = client.capabilities()
    if b"CONDSTORE" not in capabilities or b"ENABLE" not in capabilities:
        return
    try:
        enabled = client.enable("CONDSTORE")
    except IMAPClientError as error:
        # Sync still works without it, only with a full flag fetch per folder.
        log.warning("ENABLE CONDSTORE failed for account %s: %s", account.name, error)
        return
    if b"CONDSTORE" in enabled:
        client.sluice_condstore = True


def condstore_enabled(client: IMAPClient) -> bool:
    """Return whether ``connect`` turned CONDSTORE on for this connection."""
    return getattr(client, "sluice_condstore", False)


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
    return SyncError(name, "protocol", f"The IMAP server {where} of account {name!r} sent an unexpected response: {sentence(error)}")


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
