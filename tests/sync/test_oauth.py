"""OAuth 2.0 login (OAUTHBEARER and XOAUTH2) against a Dovecot that checks tokens with a local introspection server."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.config import Account
from desktop.paths import default_profile
from desktop.store import Store
from desktop.sync import connection
from desktop.sync.connection import connect, oauth2_mechanism
from desktop.sync.errors import SyncError

pytestmark = pytest.mark.dovecot

PASSWORD = "secret-test-password"


class IntrospectionServer:
    """An RFC 7662 token introspection endpoint on 127.0.0.1 that accepts the tokens a test registers.

    Attributes:
        url: the endpoint's URL.
        tokens: active tokens, each mapped to the user name it belongs to.
        requests: how many introspection requests arrived.
    """

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode("ascii", "replace"))
                token = form.get("token", [""])[0]
                owner.requests += 1
                user = owner.tokens.get(token)
                body = {"active": "true", "username": user} if user else {"active": "false"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature http.server calls
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/introspect"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-introspection", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[tuple[object, IntrospectionServer]]:
    from tests.helpers.dovecot import DovecotServer, find_dovecot

    if find_dovecot() is None:
        pytest.skip("Dovecot is not installed; install it with: apt-get install dovecot-imapd")
    introspection = IntrospectionServer()
    root = Path(tempfile.mkdtemp(prefix="sluice-oauth-"))
    server = DovecotServer(root / "server", oauth2_introspection_url=introspection.url)
    try:
        server.start()
        yield server, introspection
    finally:
        server.stop()
        introspection.close()
        shutil.rmtree(root, ignore_errors=True)


def make_message(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    message.set_content("text")
    return message.as_bytes()


def new_user(server):
    user = server.add_user(f"oauth{uuid.uuid4().hex[:10]}", PASSWORD)
    client = IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user.name, user.password)
    client.append("INBOX", make_message("Hello over OAuth"))
    client.logout()
    return user


def add_account(server, user_name: str, token_command: str) -> None:
    code = main([
        "account", "add", "work", "--imap-host", "127.0.0.1", "--imap-port", str(server.port),
        "--security", "none", "--user", user_name, "--oauth2-token-command", token_command,
    ])
    assert code == 0


def stored_subjects() -> list[str]:
    with Store(default_profile().store_file) as store:
        row = store.folder_by_name("work", "INBOX")
        return [message.subject for message in store.messages(store.message_ids([row.id]))] if row else []


def test_good_token_syncs(oauth_server, capsys):
    server, introspection = oauth_server
    user = new_user(server)
    token = f"tok-{uuid.uuid4().hex}"
    introspection.tokens[token] = user.name
    add_account(server, user.name, f"echo {token}")
    requests_before = introspection.requests

    assert main(["sync"]) == 0, capsys.readouterr().err

    assert stored_subjects() == ["Hello over OAuth"]
    assert introspection.requests > requests_before


@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "XOAUTH2"])
def test_each_mechanism_logs_in(oauth_server, monkeypatch, mechanism):
    server, introspection = oauth_server
    user = new_user(server)
    token = f"tok-{uuid.uuid4().hex}"
    introspection.tokens[token] = user.name
    account = Account(name="work", imap_host="127.0.0.1", imap_port=server.port, security="none",
                      user=user.name, oauth2_token_command=f"echo {token}")
    monkeypatch.setattr(connection, "OAUTH2_MECHANISMS", (mechanism,))
    used: list[str] = []
    real = connection.oauth2_mechanism
    monkeypatch.setattr(connection, "oauth2_mechanism", lambda *args: used.append(real(*args)) or used[-1])

    client = connect(account)
    try:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
    finally:
        client.logout()
    assert used == [mechanism]


def test_refused_token_is_explained(oauth_server, capsys):
    server, _introspection = oauth_server
    user = new_user(server)
    add_account(server, user.name, "echo not-a-known-token")
    capsys.readouterr()

    assert main(["sync"]) == 1

    errors = capsys.readouterr().err
    assert "refused the OAuth 2.0 access token of account 'work'" in errors
    assert "Check that the token command 'echo not-a-known-token'" in errors
    assert "invalid_token" in errors
    assert stored_subjects() == []


def test_failing_token_command_names_status(oauth_server, capsys):
    server, _introspection = oauth_server
    user = new_user(server)
    add_account(server, user.name, "echo 'token expired, run the login again' >&2; echo second >&2; exit 7")
    capsys.readouterr()

    assert main(["sync"]) == 1

    errors = capsys.readouterr().err
    assert "OAuth 2.0 token command of account 'work'" in errors
    assert "failed with exit code 7: token expired, run the login again" in errors


def test_token_never_logged(oauth_server, caplog, tmp_path):
    server, introspection = oauth_server
    user = new_user(server)
    good = f"tok-{uuid.uuid4().hex}"
    refused = f"tok-{uuid.uuid4().hex}"
    introspection.tokens[good] = user.name
    (tmp_path / "good").write_text(good + "\n")
    (tmp_path / "refused").write_text(refused + "\n")

    def account(name: str) -> Account:
        return Account(name="work", imap_host="127.0.0.1", imap_port=server.port, security="none",
                       user=user.name, oauth2_token_command=f"cat {tmp_path / name}")

    # DEBUG everywhere includes imapclient's protocol trace, as 'sluice -v' logs it.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="imapclient")

    connect(account("good")).logout()
    with pytest.raises(SyncError) as raised:
        connect(account("refused"))

    texts = [record.getMessage() for record in caplog.records]
    assert any("AUTHENTICATE" in text for text in texts), "the protocol trace was not captured"
    for token in (good, refused):
        encoded = [base64.b64encode(f"n,a={user.name},\1auth=Bearer {token}\1\1".encode()).decode(),
                   base64.b64encode(f"user={user.name}\1auth=Bearer {token}\1\1".encode()).decode()]
        for text in texts + [str(raised.value)]:
            assert token not in text
            assert not any(form in text for form in encoded)


def test_server_without_oauth_is_explained(dovecot_server, imap_user):
    account = Account(name="work", imap_host="127.0.0.1", imap_port=dovecot_server.port, security="none",
                      user=imap_user.name, oauth2_token_command="echo some-token")

    with pytest.raises(SyncError) as raised:
        connect(account)

    text = str(raised.value)
    assert "offers neither OAUTHBEARER nor XOAUTH2" in text
    assert "it lists PLAIN, LOGIN" in text


def test_mechanism_prefers_oauthbearer():
    account = Account(name="work", imap_host="h", user="u")

    assert oauth2_mechanism(account, [b"IMAP4rev1", b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER"]) == "OAUTHBEARER"
    assert oauth2_mechanism(account, [b"IMAP4rev1", b"AUTH=XOAUTH2"]) == "XOAUTH2"


def test_account_list_shows_token_command(capsys):
    assert main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana@example.com",
                 "--oauth2-token-command", "oauth-helper --account work"]) == 0
    capsys.readouterr()

    assert main(["account", "list"]) == 0

    listing = capsys.readouterr().out
    assert "work\timap ana@example.com@imap.example.com:993 tls\tOAuth 2.0 token command 'oauth-helper --account work'" in listing
