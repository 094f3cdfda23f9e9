"""Folder management from the command line: create, rename and delete on Dovecot and on a local account."""

from __future__ import annotations

import io
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.demo import DEMO_ACCOUNT, prepare_demo
from desktop.index import SearchIndex
from desktop.index.builder import catch_up
from desktop.paths import Profile, default_profile, profile_at
from desktop.store import Store


def make_message(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message.set_content(f"Body of {subject}")
    return message.as_bytes()


@pytest.fixture
def account(imap_user, dovecot_server, monkeypatch, capsys):
    """An account 'test' added through the CLI for a fresh Dovecot user."""
    monkeypatch.setattr("sys.stdin", io.StringIO(imap_user.password + "\n"))
    code = main([
        "account", "add", "test", "--imap-host", dovecot_server.host, "--imap-port", str(dovecot_server.port),
        "--security", "none", "--user", imap_user.name, "--password-stdin",
    ])
    assert code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    capsys.readouterr()
    return imap_user


@pytest.fixture
def server(account, direct_client):
    return direct_client


@pytest.fixture
def demo(monkeypatch, tmp_path) -> Profile:
    """A profile with only the demo's local account."""
    profile = prepare_demo(profile_at(tmp_path / "p"))
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "p"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return profile


def server_folders(client: IMAPClient) -> set[str]:
    return {name for _flags, _delimiter, name in client.list_folders()}


def local_folders(account: str = "test") -> set[str]:
    with Store(default_profile().store_file) as store:
        return {folder.name for folder in store.folders(account, with_counts=False)}


def folder_message_ids(account: str, folder: str) -> list[int]:
    with Store(default_profile().store_file) as store:
        row = store.folder_by_name(account, folder)
        assert row is not None, f"folder {folder} not in the store"
        return sorted(store.message_ids([row.id]))


def search(query: str) -> list[int]:
    profile = default_profile()
    with Store(profile.store_file) as store:
        catch_up(store, profile.index_dir)
    index = SearchIndex(profile.index_dir)
    try:
        return sorted(index.search(query, limit=None))
    finally:
        index.close()


def folder(*words: str) -> int:
    return main(["folder", *words])


# --- IMAP ----------------------------------------------------------------


@pytest.mark.dovecot
@pytest.mark.parametrize("name", ["Projects", "Entwürfe", "受信箱", "Projects/2026"])
def test_create_shows_on_server_and_locally(server, capsys, name):
    assert folder("create", name) == 0

    assert name in server_folders(server)
    assert name in local_folders()
    capsys.readouterr()
    assert main(["folders"]) == 0
    assert name in capsys.readouterr().out


@pytest.mark.dovecot
def test_rename_keeps_messages_and_ids(server, capsys, monkeypatch):
    server.create_folder("Projects")
    server.create_folder("Projects/2026")
    server.append("Projects", make_message("Alpha plan"))
    server.append("Projects", make_message("Beta plan"))
    server.append("Projects/2026", make_message("Gamma plan"))
    assert main(["sync"]) == 0
    top_ids = folder_message_ids("test", "Projects")
    sub_ids = folder_message_ids("test", "Projects/2026")
    server.select_folder("Projects")
    uidvalidity_before = server.folder_status("Projects", ["UIDVALIDITY"])[b"UIDVALIDITY"]

    assert folder("rename", "Projects", "Arbeit") == 0

    assert {"Arbeit", "Arbeit/2026"} <= server_folders(server)
    assert "Projects" not in server_folders(server)
    assert local_folders() >= {"Arbeit", "Arbeit/2026"}
    assert not local_folders() & {"Projects", "Projects/2026"}
    assert folder_message_ids("test", "Arbeit") == top_ids
    assert folder_message_ids("test", "Arbeit/2026") == sub_ids
    assert search("folder:Arbeit") == top_ids
    assert search('folder:"Arbeit/2026"') == sub_ids
    assert search("folder:Projects") == []

    fetched: list[int] = []
    original = IMAPClient.fetch

    def counting_fetch(self, messages, data, *args, **kwargs):
        if any(b"BODY" in (item.encode() if isinstance(item, str) else item).upper() for item in data):
            fetched.extend(messages)
        return original(self, messages, data, *args, **kwargs)

    monkeypatch.setattr(IMAPClient, "fetch", counting_fetch)
    capsys.readouterr()
    assert main(["sync"]) == 0

    uidvalidity_after = server.folder_status("Arbeit", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    if uidvalidity_after == uidvalidity_before:
        assert fetched == []
        assert folder_message_ids("test", "Arbeit") == top_ids
    assert len(folder_message_ids("test", "Arbeit")) == 2
    assert len(folder_message_ids("test", "Arbeit/2026")) == 1
    assert len(search("plan")) == 3


@pytest.mark.dovecot
def test_rename_non_ascii_name(server):
    server.create_folder("Entwürfe")
    assert main(["sync"]) == 0

    assert folder("rename", "Entwürfe", "受信箱") == 0

    assert "受信箱" in server_folders(server)
    assert "Entwürfe" not in server_folders(server)
    assert "受信箱" in local_folders()


@pytest.mark.dovecot
def test_delete_removes_server_and_local(server, capsys):
    server.create_folder("Old")
    server.append("Old", make_message("Stale xylophone"))
    assert main(["sync"]) == 0
    assert len(search("xylophone")) == 1

    assert folder("delete", "Old", "--yes") == 0

    assert "Old" not in server_folders(server)
    assert "Old" not in local_folders()
    assert search("xylophone") == []
    assert "and 1 local message." in capsys.readouterr().out


@pytest.mark.dovecot
def test_delete_without_yes_refuses(server, capsys):
    server.create_folder("Old")
    assert main(["sync"]) == 0
    capsys.readouterr()

    assert folder("delete", "Old") != 0

    assert "--yes" in capsys.readouterr().err
    assert "Old" in server_folders(server)
    assert "Old" in local_folders()


@pytest.mark.dovecot
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("create", ""), "is empty"),
        (("create", "/Lead"), "hierarchy delimiter '/'"),
        (("create", "Trail/"), "hierarchy delimiter '/'"),
        (("create", "Two//Levels"), "hierarchy delimiter '/'"),
        (("create", "Existing"), "'Existing' exists already in account 'test'"),
        (("rename", "INBOX", "Other"), "INBOX of account 'test' cannot be renamed"),
        (("rename", "inbox", "Other"), "INBOX of account 'test' cannot be renamed"),
        (("delete", "INBOX", "--yes"), "INBOX of account 'test' cannot be deleted"),
        (("rename", "Missing", "Other"), "Folder 'Missing' not found in account 'test'"),
        (("delete", "Missing", "--yes"), "Folder 'Missing' not found in account 'test'"),
        (("rename", "Existing", "Existing/Inner"), "inside the folder itself"),
        (("rename", "Existing", "Parent"), "'Parent' exists already"),
        (("delete", "Parent", "--yes"), "has sub-folders (Parent/Child)"),
        (("rename", "Sent", "Gesendet"), "Folder 'Sent' of account 'test' is its Sent folder, so Sluice does not rename it"),
        (("delete", "Trash", "--yes"), "is its Trash folder, so Sluice does not delete it"),
    ],
)
def test_folder_errors(server, capsys, words, expected):
    server.create_folder("Existing")
    server.create_folder("Parent/Child")
    before = server_folders(server)
    capsys.readouterr()

    assert folder(*words) == 1

    error = capsys.readouterr().err
    assert expected in error
    assert server_folders(server) == before


@pytest.mark.dovecot
def test_server_rejection_shows_its_text(server, capsys):
    # Dovecot 2.3 returns NO for names that begin with '~'.
    capsys.readouterr()

    assert folder("create", "~home") == 1

    error = capsys.readouterr().err
    assert "rejected CREATE of folder '~home'" in error
    assert "Begins with '~'" in error
    assert "account 'test'" in error
    assert "~home" not in local_folders()


@pytest.mark.dovecot
def test_several_accounts_need_account_option(account, dovecot_server, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(account.password + "\n"))
    assert main([
        "account", "add", "second", "--imap-host", dovecot_server.host, "--imap-port", str(dovecot_server.port),
        "--security", "none", "--user", account.name, "--password-stdin",
    ]) == 0
    capsys.readouterr()

    assert folder("create", "Projects") == 1
    assert "--account NAME" in capsys.readouterr().err

    assert folder("create", "Projects", "--account", "second") == 0
    assert "Projects" in local_folders("second")


# --- local account -------------------------------------------------------


def test_local_create_rename_delete(demo, capsys):
    assert folder("create", "Receipts") == 0
    assert folder("create", "Receipts/2026") == 0
    assert {"Receipts", "Receipts/2026"} <= local_folders(DEMO_ACCOUNT)

    assert folder("rename", "Receipts", "Belege") == 0
    assert {"Belege", "Belege/2026"} <= local_folders(DEMO_ACCOUNT)
    assert not local_folders(DEMO_ACCOUNT) & {"Receipts", "Receipts/2026"}

    assert folder("delete", "Belege/2026", "--yes") == 0
    assert folder("delete", "Belege", "--yes") == 0
    assert not local_folders(DEMO_ACCOUNT) & {"Belege", "Belege/2026"}


def test_local_rename_keeps_ids_and_search(demo, capsys):
    ids = folder_message_ids(DEMO_ACCOUNT, "Lists/book-club")
    assert ids

    assert folder("rename", "Lists/book-club", "Lists/Buchclub") == 0

    assert folder_message_ids(DEMO_ACCOUNT, "Lists/Buchclub") == ids
    assert search("folder:Lists/Buchclub") == ids
    assert search("folder:Lists/book-club") == []


def test_local_delete_removes_messages(demo, capsys):
    ids = folder_message_ids(DEMO_ACCOUNT, "Lists/book-club")

    assert folder("delete", "Lists/book-club", "--yes") == 0

    assert "Lists/book-club" not in local_folders(DEMO_ACCOUNT)
    assert f"and {len(ids)} local messages." in capsys.readouterr().out
    assert search("folder:Lists/book-club") == []


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("create", "  "), "is empty"),
        (("create", "Trail/"), "hierarchy delimiter '/'"),
        (("create", "Archive"), "'Archive' exists already"),
        (("rename", "INBOX", "Other"), "cannot be renamed"),
        (("delete", "INBOX", "--yes"), "cannot be deleted"),
        (("rename", "Missing", "Other"), "'Missing' not found"),
        (("rename", "Lists/book-club", "Sent"), "'Sent' exists already"),
        (("rename", "Archive", "Ablage"), "is its Archive folder, so Sluice does not rename it"),
        (("delete", "Lists/book-club"), "--yes"),
    ],
)
def test_local_errors(demo, capsys, words, expected):
    before = local_folders(DEMO_ACCOUNT)
    capsys.readouterr()

    assert folder(*words) != 0

    assert expected in capsys.readouterr().err
    assert local_folders(DEMO_ACCOUNT) == before
