"""Shared fixtures: offscreen Qt, an in-memory keyring, profiles and a private Dovecot."""

from __future__ import annotations

import os

# Qt reads the platform when the QApplication is created; without a display
# pytest-qt aborts unless this is set first.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))



class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that keeps passwords in memory, for tests only."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such password")


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Give every test an empty in-memory keyring, never the user's."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's profile, config and data out of the user's folders."""
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "sluice-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(autouse=True)
def _clean_root_handlers() -> Iterator[None]:
    """Remove log handlers that a CLI run under test added to the root logger."""
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    yield
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(scope="session")
def dovecot_server():
    """One private Dovecot for the whole run; each test gets its own user.

    Its folder lies outside pytest's temporary tree, because a second pytest
    run on the machine resets that tree's permissions, and Dovecot's auth
    process could then no longer read its password files.
    """
    from tests.helpers.dovecot import DovecotServer, find_dovecot

    if find_dovecot() is None:
        pytest.skip("Dovecot is not installed; install it with: apt-get install dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="sluice-dovecot-"))
    server = DovecotServer(root / "server")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


_user_numbers = iter(range(1, 100_000))


@pytest.fixture
def imap_user(dovecot_server):
    """A fresh user with an empty mailbox on the session's Dovecot."""
    return dovecot_server.add_user(f"user{next(_user_numbers)}", "secret-test-password")


@pytest.fixture
def direct_client(imap_user, dovecot_server):
    """An IMAP connection to the test user's mailbox straight to Dovecot, playing another mail client."""
    from imapclient import IMAPClient

    client = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    client.login(imap_user.name, imap_user.password)
    yield client
    client.logout()


@pytest.fixture
def smtp_server():
    """A real aiosmtpd server on 127.0.0.1 without login, recording the messages it accepts."""
    from tests.helpers.smtp_server import SmtpServer

    with SmtpServer() as server:
        yield server
