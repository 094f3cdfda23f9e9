"""Connection failures name the host and the cause: untrusted TLS certificate, no STARTTLS, timeout."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from desktop.config import Account
from desktop.credentials import store_password
from desktop.sync.connection import connect
from desktop.sync.errors import SyncError


class OneShotServer:
    """A loopback server that greets each client with fixed bytes, optionally over TLS."""

    def __init__(self, greeting: bytes, context: ssl.SSLContext | None = None, *, silent: bool = False) -> None:
        self.greeting = greeting
        self.context = context
        self.silent = silent
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _address = self.listener.accept()
        except OSError:
            return
        with connection:
            try:
                if self.context is not None:
                    connection = self.context.wrap_socket(connection, server_side=True)
                if not self.silent:
                    connection.sendall(self.greeting)
                connection.settimeout(5)
                self._answer(connection)
            except (OSError, ssl.SSLError):
                return

    def _answer(self, connection: socket.socket) -> None:
        """Reply to up to ten commands: CAPABILITY without STARTTLS, anything else BAD."""
        for _ in range(10):
            line = connection.recv(1024)
            if not line:
                return
            tag, _, command = line.decode("ascii", "replace").strip().partition(" ")
            if command.upper() == "CAPABILITY":
                connection.sendall(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode())
            else:
                connection.sendall(f"{tag} BAD not here\r\n".encode())

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture
def self_signed(tmp_path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed; install it with: apt-get install openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=imap.test"],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def account_for(port: int, security: str) -> Account:
    store_password("probe", "pw")
    return Account(name="probe", imap_host="127.0.0.1", imap_port=port, security=security, user="u")


def test_untrusted_certificate_names_host(self_signed):
    server = OneShotServer(b"* OK ready\r\n", self_signed)
    try:
        with pytest.raises(SyncError) as raised:
            connect(account_for(server.port, "tls"), timeout=5)
    finally:
        server.close()

    assert raised.value.cause == "tls"
    assert "certificate of 127.0.0.1 could not be verified" in str(raised.value)
    assert "self-signed" in str(raised.value) or "self signed" in str(raised.value)


def test_missing_starttls_is_explained():
    server = OneShotServer(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
    try:
        with pytest.raises(SyncError) as raised:
            connect(account_for(server.port, "starttls"), timeout=5)
    finally:
        server.close()

    assert raised.value.cause == "tls"
    assert "does not offer STARTTLS" in str(raised.value)


def test_silent_server_times_out():
    server = OneShotServer(b"", silent=True)
    try:
        with pytest.raises(SyncError) as raised:
            connect(account_for(server.port, "none"), timeout=1)
    finally:
        server.close()

    assert raised.value.cause == "timeout"
    assert f"127.0.0.1:{server.port}" in str(raised.value)
