"""A server whose hierarchy delimiter is '.': sync, folder commands and non-ASCII names against a real Dovecot."""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.paths import default_profile
from desktop.store import Store

pytestmark = pytest.mark.dovecot

PASSWORD = "secret-test-password"
SCRIPT_NAMES = ["Entwürfe", "受信箱", "Ελληνικά"]


@pytest.fixture(scope="module")
def dot_server() -> Iterator[object]:
    """A Dovecot with '.' as delimiter that keeps names in its index, so a name may contain '/'."""
    from tests.helpers.dovecot import DovecotServer, find_dovecot

    if find_dovecot() is None:
        pytest.skip("Dovecot is not installed; install it with: apt-get install dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="sluice-dot-"))
    server = DovecotServer(root / "server", separator=".", index_layout=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def user(dot_server, monkeypatch):
    """A fresh user on the '.' server with the account 'work' added for it."""
    created = dot_server.add_user(f"dot{uuid.uuid4().hex[:10]}", PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main([
        "account", "add", "work", "--imap-host", "127.0.0.1", "--imap-port", str(dot_server.port),
        "--security", "none", "--user", created.name, "--password-stdin",
    ]) == 0
    return created


@pytest.fixture
def server_client(dot_server, user) -> Iterator[IMAPClient]:
    """Another mail client on the same mailbox, straight to Dovecot."""
    client = IMAPClient(dot_server.host, port=dot_server.port, ssl=False)
    client.login(user.name, PASSWORD)
    yield client
    client.logout()


def make_message(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    message.set_content("text")
    return message.as_bytes()


def stored_folders() -> dict[str, str]:
    """Return each stored folder of 'work' with its delimiter."""
    with Store(default_profile().store_file) as store:
        return {row.name: row.delimiter for row in store.folders("work", with_counts=False)}


def stored_subjects(folder: str) -> list[str]:
    with Store(default_profile().store_file) as store:
        row = store.folder_by_name("work", folder)
        if row is None:
            return []
        return sorted(message.subject for message in store.messages(store.message_ids([row.id])))


def server_folders(client: IMAPClient) -> set[str]:
    return {name for _flags, _delimiter, name in client.list_folders()}


def test_nested_folders_sync(server_client, capsys):
    server_client.create_folder("Lists")
    server_client.create_folder("Lists.dev")
    server_client.append("Lists.dev", make_message("Patch for review"))

    assert main(["sync"]) == 0, capsys.readouterr().err

    folders = stored_folders()
    assert folders["Lists.dev"] == "."
    assert folders["Lists"] == "."
    assert "Lists/dev" not in folders
    assert stored_subjects("Lists.dev") == ["Patch for review"]


def test_folder_commands_with_nested_names(server_client, capsys):
    assert main(["sync"]) == 0

    assert main(["folder", "create", "Projects"]) == 0
    assert main(["folder", "create", "Projects.2026"]) == 0
    server_client.append("Projects.2026", make_message("Plan"))
    assert main(["sync"]) == 0
    assert main(["folder", "rename", "Projects", "Work"]) == 0, capsys.readouterr().err

    assert {"Work", "Work.2026"} <= server_folders(server_client)
    assert not {"Projects", "Projects.2026"} & server_folders(server_client)
    assert stored_subjects("Work.2026") == ["Plan"]
    assert "Projects.2026" not in stored_folders()

    assert main(["folder", "delete", "Work", "--yes"]) == 1
    assert "it has sub-folders (Work.2026)" in capsys.readouterr().err
    assert main(["folder", "delete", "Work.2026", "--yes"]) == 0
    assert main(["folder", "delete", "Work", "--yes"]) == 0
    assert not {"Work", "Work.2026"} & server_folders(server_client)
    assert not {"Work", "Work.2026"} & set(stored_folders())


def test_slash_delimited_name_is_not_nested(server_client, capsys):
    """With '.' as delimiter, 'Projects/2026' is one top-level name, not a sub-folder."""
    assert main(["folder", "create", "Projects/2026"]) == 0, capsys.readouterr().err
    server_client.append("Projects/2026", make_message("Slash in the name"))

    assert main(["sync"]) == 0

    assert "Projects/2026" in server_folders(server_client)
    assert "Projects" not in server_folders(server_client)
    assert stored_folders()["Projects/2026"] == "."
    assert stored_subjects("Projects/2026") == ["Slash in the name"]
    assert main(["folder", "rename", "Projects/2026", "Old/2026"]) == 0, capsys.readouterr().err
    assert "Old/2026" in server_folders(server_client)
    assert stored_subjects("Old/2026") == ["Slash in the name"]


def test_wrong_delimiter_position_is_explained(server_client, capsys):
    assert main(["folder", "create", "Projects."]) == 1

    error = capsys.readouterr().err
    assert "Folder name 'Projects.' for account 'work' is invalid" in error
    assert "as in 'Projects.2026'" in error


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_names_in_other_scripts_round_trip(server_client, capsys, name):
    nested = f"{name}.{name}"
    assert main(["folder", "create", name]) == 0, capsys.readouterr().err
    assert main(["folder", "create", nested]) == 0, capsys.readouterr().err
    server_client.append(nested, make_message(f"Mail in {name}"))

    assert main(["sync"]) == 0

    assert {name, nested} <= server_folders(server_client)
    assert stored_folders()[nested] == "."
    assert stored_subjects(nested) == [f"Mail in {name}"]
    renamed = f"{name}-2"
    assert main(["folder", "rename", name, renamed]) == 0, capsys.readouterr().err
    assert {renamed, f"{renamed}.{name}"} <= server_folders(server_client)
    assert stored_subjects(f"{renamed}.{name}") == [f"Mail in {name}"]
    assert main(["folders", "--account", "work"]) == 0
    assert f"{renamed}.{name}" in capsys.readouterr().out
