"""Tests of the private Dovecot server helper, against the real dovecot binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, LoginError

from tests.helpers.dovecot import (
    INSTALL_HINT,
    DovecotError,
    DovecotServer,
    find_dovecot,
    write_maildir_message,
)

pytestmark = [
    pytest.mark.dovecot,
    pytest.mark.skipif(
        find_dovecot() is None,
        reason=f"dovecot binary not found; install it with: {INSTALL_HINT}",
    ),
]

MESSAGE = (
    b"From: Ada <ada@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: Helper test\r\n"
    b"Message-ID: <helper-test@example.org>\r\n"
    b"\r\n"
    b"Hello from the test suite.\r\n"
)

# Tests that need a second, unprivileged uid use this one, which Debian gives
# to the user "nobody".
NOBODY_UID = 65534


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path / "dovecot") as running:
        yield running


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., DovecotServer]]:
    """Create servers that the test starts and stops itself, stopped again at teardown."""
    created: list[DovecotServer] = []

    def create(name: str = "dovecot", **options: bool) -> DovecotServer:
        server = DovecotServer(tmp_path / name, **options)
        created.append(server)
        return server

    yield create
    for server in created:
        server.stop()


def connect(server: DovecotServer, name: str, password: str) -> IMAPClient:
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    client.login(name, password)
    return client


def process_exited(pid: int) -> bool:
    """Return whether pid is gone or a zombie, which has exited but awaits its parent."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat_line.rpartition(")")[2].split()[0] == "Z"


def live_processes_in_group(pgid: int) -> list[int]:
    """Return the pids in process group pgid that have not exited, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def test_append_then_fetch_roundtrip(server: DovecotServer) -> None:
    server.add_user("ada", "ada-password")
    client = connect(server, "ada", "ada-password")

    response = client.append("INBOX", MESSAGE)
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    fetched = client.fetch(uids, ["BODY.PEEK[]"])
    client.logout()

    assert b"APPENDUID" in response
    assert len(uids) == 1
    assert fetched[uids[0]][b"BODY[]"] == MESSAGE


def test_maildir_message_seen_over_imap(server: DovecotServer) -> None:
    user = server.add_user("ada", "ada-password")
    received = 1_600_000_000.0

    path = write_maildir_message(server.maildir("ada"), "Lists", MESSAGE, flags="S", when=received)

    assert path.parent == user.maildir / ".Lists" / "cur"
    assert path.name.endswith(":2,S")
    if os.geteuid() == 0:
        assert (path.stat().st_uid, path.stat().st_gid) == (user.uid, user.gid)

    client = connect(server, "ada", "ada-password")
    folder_names = [name for _flags, _separator, name in client.list_folders()]
    client.select_folder("Lists", readonly=True)
    uids = client.search(["ALL"])
    fetched = client.fetch(uids, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
    client.logout()

    assert "Lists" in folder_names
    assert len(uids) == 1
    assert b"\\Seen" in fetched[uids[0]][b"FLAGS"]
    assert fetched[uids[0]][b"BODY[]"] == MESSAGE
    assert fetched[uids[0]][b"INTERNALDATE"].timestamp() == received


def test_maildir_nested_and_unicode_folders(server: DovecotServer) -> None:
    server.add_user("ada", "ada-password")
    maildir = server.maildir("ada")

    write_maildir_message(maildir, "Projects/Café", MESSAGE, flags="FS")
    write_maildir_message(maildir, "INBOX", MESSAGE)

    client = connect(server, "ada", "ada-password")
    folder_names = [name for _flags, _separator, name in client.list_folders()]
    nested = client.select_folder("Projects/Café", readonly=True)
    nested_flags = client.fetch(client.search(["ALL"]), ["FLAGS"])
    inbox = client.select_folder("INBOX", readonly=True)
    client.logout()

    assert "Projects/Café" in folder_names
    assert nested[b"EXISTS"] == 1
    assert set(next(iter(nested_flags.values()))[b"FLAGS"]) >= {b"\\Flagged", b"\\Seen"}
    assert inbox[b"EXISTS"] == 1


def test_wrong_password_rejected(server: DovecotServer) -> None:
    server.add_user("ada", "ada-password")
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)

    with pytest.raises(LoginError):
        client.login("ada", "not-the-password")
    client.shutdown()

    # Dovecot's auth penalty would delay this login by at least 2 s, but the helper turns it off.
    began = time.monotonic()
    connect(server, "ada", "ada-password").logout()
    assert time.monotonic() - began < 1.9


def test_add_user_after_start(server: DovecotServer) -> None:
    server.add_user("ada", "ada-password")
    connect(server, "ada", "ada-password").logout()

    server.add_user("bob", "bob-password")

    client = connect(server, "bob", "bob-password")
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()


def test_special_use_folders_listed(server: DovecotServer) -> None:
    server.add_user("ada", "ada-password")
    client = connect(server, "ada", "ada-password")

    found = {
        attribute: client.find_special_folder(attribute)
        for attribute in (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive")
    }
    client.logout()

    assert found == {
        b"\\Sent": "Sent",
        b"\\Drafts": "Drafts",
        b"\\Trash": "Trash",
        b"\\Junk": "Junk",
        b"\\Archive": "Archive",
    }


def test_special_use_off_lists_inbox_only(make_server: Callable[..., DovecotServer]) -> None:
    with make_server("plain", special_use=False) as plain:
        plain.add_user("ada", "ada-password")
        client = connect(plain, "ada", "ada-password")
        folder_names = [name for _flags, _separator, name in client.list_folders()]
        sent = client.find_special_folder(b"\\Sent")
        client.logout()

    assert folder_names == ["INBOX"]
    assert sent is None


def test_stop_leaves_no_process(make_server: Callable[..., DovecotServer]) -> None:
    server = make_server()
    server.add_user("ada", "ada-password")
    server.start()
    connect(server, "ada", "ada-password").logout()
    master = server.pid
    assert master is not None
    assert live_processes_in_group(master), "the running server should have processes in its group"

    server.stop()

    assert process_exited(master)
    assert live_processes_in_group(master) == []
    assert server.pid is None
    with pytest.raises(OSError):
        IMAPClient(server.host, server.port, ssl=False, timeout=2)

    server.stop()
    assert server.pid is None


def test_stop_ends_open_sessions(make_server: Callable[..., DovecotServer]) -> None:
    server = make_server()
    server.add_user("ada", "ada-password")
    server.start()
    master = server.pid
    assert master is not None
    client = connect(server, "ada", "ada-password")
    client.select_folder("INBOX")

    server.stop()

    assert process_exited(master)
    assert live_processes_in_group(master) == []
    with pytest.raises((IMAPClientAbortError, OSError)):
        client.noop()


def test_two_servers_at_once(make_server: Callable[..., DovecotServer]) -> None:
    with make_server("first") as first, make_server("second") as second:
        first.add_user("ada", "ada-password")
        second.add_user("bob", "bob-password")

        assert first.port != second.port
        assert first.pid != second.pid
        connect(first, "ada", "ada-password").logout()
        connect(second, "bob", "bob-password").logout()
        stranger = IMAPClient(second.host, second.port, ssl=False, timeout=10)
        with pytest.raises(LoginError):
            stranger.login("ada", "ada-password")
        stranger.shutdown()


def test_restart_keeps_mail(make_server: Callable[..., DovecotServer]) -> None:
    server = make_server()
    server.add_user("ada", "ada-password")
    with server:
        client = connect(server, "ada", "ada-password")
        client.append("INBOX", MESSAGE)
        client.logout()

    with server:
        client = connect(server, "ada", "ada-password")
        exists = client.select_folder("INBOX")[b"EXISTS"]
        client.logout()

    assert exists == 1


def test_rejected_config_reports_dovecot_output(
    make_server: Callable[..., DovecotServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server()
    render_config = server._render_config
    monkeypatch.setattr(server, "_render_config", lambda: render_config() + "no_such_setting = yes\n")

    with pytest.raises(DovecotError) as raised:
        server.start()

    message = str(raised.value)
    assert "no_such_setting" in message
    assert f"doveconf -n -c {server.config_path}" in message
    assert server.pid is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a folder owned by another uid")
def test_closed_parent_folder_reported(tmp_path: Path, make_server: Callable[..., DovecotServer]) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    os.chown(closed, NOBODY_UID, NOBODY_UID)
    server = make_server("closed/dovecot")

    with pytest.raises(DovecotError) as raised:
        server.start()

    assert f"chmod o+x {closed}" in str(raised.value)
    assert server.pid is None


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv (util-linux) to run a child process as an unprivileged uid",
)
def test_unprivileged_user_runs_server() -> None:
    script = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from imapclient import IMAPClient
from tests.helpers.dovecot import DovecotServer

with DovecotServer(Path(sys.argv[2]) / "dovecot") as server:
    user = server.add_user("ada", "ada-password")
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    client.login("ada", "ada-password")
    client.append("INBOX", b"Subject: unprivileged\\r\\n\\r\\nbody\\r\\n")
    client.logout()
    print(user.uid, user.gid, user.maildir.stat().st_uid)
"""
    repository = Path(__file__).resolve().parent.parent
    # The system temp folder, unlike pytest's 0700 one, lets the unprivileged child in.
    with tempfile.TemporaryDirectory(prefix="dovecot-unprivileged-") as work:
        os.chown(work, NOBODY_UID, NOBODY_UID)
        result = subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY_UID}",
                f"--regid={NOBODY_UID}",
                "--clear-groups",
                sys.executable,
                "-c",
                script,
                str(repository),
                work,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(NOBODY_UID)] * 3


def test_invalid_arguments_rejected(tmp_path: Path) -> None:
    server = DovecotServer(tmp_path / "dovecot")
    user = server.add_user("ada", "ada-password")

    with pytest.raises(ValueError, match="already exists"):
        server.add_user("ada", "other-password")
    with pytest.raises(ValueError, match="invalid user name"):
        server.add_user("../ada", "ada-password")
    with pytest.raises(ValueError, match="must not contain"):
        server.add_user("bob", "pass:word")
    with pytest.raises(ValueError, match="invalid Maildir flags"):
        write_maildir_message(user.maildir, "INBOX", MESSAGE, flags="X")
    with pytest.raises(ValueError, match="invalid folder name"):
        write_maildir_message(user.maildir, "Lists/", MESSAGE)
    with pytest.raises(KeyError, match="add_user"):
        server.maildir("nobody-here")
    with pytest.raises(ValueError, match="not empty"):
        DovecotServer(tmp_path / "dovecot")
