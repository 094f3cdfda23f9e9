"""Sync against a real Dovecot: new mail, flags, expunges, renumbered folders, and what a second sync costs."""

from __future__ import annotations

import io
import json
import socket
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.index import SearchIndex
from desktop.paths import default_profile
from desktop.store import FLAGGED, SEEN, Store
from desktop.sync import engine

pytestmark = pytest.mark.dovecot

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def make_message(subject: str, body: str, *, sender: str = "Ana Díaz <ana@example.com>", message_id: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
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
    capsys.readouterr()
    return imap_user


@pytest.fixture
def server(account, direct_client):
    return direct_client


@pytest.fixture(params=["condstore", "plain"])
def sync_path(request, monkeypatch) -> str:
    """Run a test once with CONDSTORE and once as with a server without it (a full flag fetch)."""
    if request.param == "plain":
        monkeypatch.setattr("desktop.sync.connection._enable_condstore", lambda _client, _account: None)
    return request.param


def sync() -> int:
    return main(["sync"])


def subjects(folder: str = "INBOX") -> list[str]:
    with Store(default_profile().store_file) as store:
        row = store.folder_by_name("test", folder)
        assert row is not None, f"folder {folder} not in the store"
        return sorted(message.subject for message in store.messages(store.message_ids([row.id])))


def search(query: str) -> list[int]:
    index = SearchIndex(default_profile().index_dir)
    try:
        return index.search(query, limit=None)
    finally:
        index.close()


def test_new_mail_appears(server):
    server.append("INBOX", make_message("Quarterly budget", "The budget meeting moves to Thursday."))
    server.append("INBOX", make_message("Lunch?", "Pizza or sushi"))

    assert sync() == 0

    assert subjects() == ["Lunch?", "Quarterly budget"]
    assert len(search("budget")) == 1
    assert len(search("sushi")) == 1


def test_server_flag_change_appears_locally(server, sync_path):
    server.append("INBOX", make_message("Flag me", "text"))
    assert sync() == 0

    server.select_folder("INBOX")
    uid = server.search("ALL")[0]
    server.add_flags([uid], [b"\\Flagged", b"\\Seen"])
    assert sync() == 0

    with Store(default_profile().store_file) as store:
        (row,) = store.messages(store.message_ids([store.folder_by_name("test", "INBOX").id]))
    assert FLAGGED in row.flags
    assert SEEN in row.flags
    assert len(search("is:flagged")) == 1


def test_server_expunge_removes_local_copy(server, sync_path):
    server.append("INBOX", make_message("Keep", "stays"))
    server.append("INBOX", make_message("Remove", "goes away xylophone"))
    assert sync() == 0
    assert len(search("xylophone")) == 1

    server.select_folder("INBOX")
    doomed = server.search(["SUBJECT", "Remove"])
    server.delete_messages(doomed)
    server.expunge()
    assert sync() == 0

    assert subjects() == ["Keep"]
    assert search("xylophone") == []


def test_recreated_folder_resyncs_without_duplicates(server, sync_path):
    server.create_folder("Projects")
    server.append("Projects", make_message("One", "first"))
    server.append("Projects", make_message("Two", "second"))
    assert sync() == 0
    with Store(default_profile().store_file) as store:
        old_validity = store.folder_by_name("test", "Projects").uidvalidity

    server.delete_folder("Projects")
    server.create_folder("Projects")
    for subject in ("One", "Two", "Three"):
        server.append("Projects", make_message(subject, subject.lower()))
    assert sync() == 0

    assert subjects("Projects") == ["One", "Three", "Two"]
    with Store(default_profile().store_file) as store:
        assert store.folder_by_name("test", "Projects").uidvalidity != old_validity
    assert len(search("folder:Projects")) == 3


class FetchSpy:
    """Records the items and modifiers of every FETCH, and every SEARCH, that goes through IMAPClient."""

    def __init__(self, monkeypatch):
        self.requests: list[list[bytes]] = []
        self.modifiers: list[list[str] | None] = []
        self.searches = 0
        self.search_criteria: list = []
        original_fetch = IMAPClient.fetch
        original_search = IMAPClient.search
        spy = self

        def fetch(client, messages, data, modifiers=None):
            spy.requests.append([bytes(item) if isinstance(item, bytes) else item.encode() for item in data])
            spy.modifiers.append(modifiers)
            return original_fetch(client, messages, data, modifiers)

        def search(client, criteria="ALL", charset=None):
            spy.searches += 1
            spy.search_criteria.append(criteria)
            return original_search(client, criteria, charset)

        # The flag check sends its UID FETCH FLAGS through the quick reader, not IMAPClient.fetch.
        original_flags = engine.fetch_flags

        def fetch_flags(client, uid_set, changed_since=None):
            spy.requests.append([b"FLAGS"])
            spy.modifiers.append([f"CHANGEDSINCE {changed_since}"] if changed_since is not None else None)
            return original_flags(client, uid_set, changed_since)

        monkeypatch.setattr(IMAPClient, "fetch", fetch)
        monkeypatch.setattr(IMAPClient, "search", search)
        monkeypatch.setattr(engine, "fetch_flags", fetch_flags)

    def body_fetches(self) -> int:
        """Return how many FETCH commands asked for whole messages."""
        return sum(1 for items in self.requests if b"BODY.PEEK[]" in items)

    def header_fetches(self) -> int:
        return sum(1 for items in self.requests if b"BODY.PEEK[HEADER]" in items)


def test_second_sync_fetches_no_bodies(server, sync_path, monkeypatch, capsys):
    for number in range(5):
        server.append("INBOX", make_message(f"Message {number}", "body"))
    assert sync() == 0
    capsys.readouterr()

    spy = FetchSpy(monkeypatch)
    assert sync() == 0

    assert spy.body_fetches() == 0
    assert spy.header_fetches() == 0
    assert "1 new" not in capsys.readouterr().out
    # Without CONDSTORE the flags of every message are read again; with it nothing is.
    flag_fetches = [items for items in spy.requests if items == [b"FLAGS"]]
    assert bool(flag_fetches) == (sync_path == "plain")


def test_unchanged_folders_cost_no_search_or_fetch(server, monkeypatch):
    server.create_folder("Projects")
    server.append("INBOX", make_message("One", "one"))
    server.append("Projects", make_message("Two", "two"))
    assert sync() == 0
    with Store(default_profile().store_file) as store:
        assert store.folder_by_name("test", "INBOX").highestmodseq is not None

    spy = FetchSpy(monkeypatch)
    assert sync() == 0

    assert spy.requests == []
    assert spy.searches == 0


def selected_folders(monkeypatch) -> list[str]:
    """Record the folder of every SELECT that goes through IMAPClient."""
    names: list[str] = []
    original = IMAPClient.select_folder

    def select_folder(client, folder, readonly=False):
        names.append(folder)
        return original(client, folder, readonly)

    monkeypatch.setattr(IMAPClient, "select_folder", select_folder)
    return names


def test_unchanged_folders_not_selected(server, sync_path, monkeypatch):
    for name in ("Projects", "Entwürfe", "受信箱"):
        server.create_folder(name)
        server.append(name, make_message(f"In {name}", "text"))
    assert sync() == 0
    selected = selected_folders(monkeypatch)

    assert sync() == 0
    unchanged_run = list(selected)
    server.select_folder("受信箱")
    server.add_flags(server.search("ALL"), [b"\\Flagged"])
    selected.clear()
    assert sync() == 0

    # Without CONDSTORE nothing proves a folder unchanged, so every folder is selected.
    if sync_path == "condstore":
        assert unchanged_run == []
        assert selected == ["受信箱"]
    else:
        assert {"INBOX", "Projects", "Entwürfe", "受信箱"} <= set(unchanged_run)
    with Store(default_profile().store_file) as store:
        (message_id,) = store.message_ids([store.folder_by_name("test", "受信箱").id])
        assert store.message(message_id).flagged


def test_flag_change_fetched_by_modseq(server, monkeypatch):
    for number in range(3):
        server.append("INBOX", make_message(f"Message {number}", "body"))
    assert sync() == 0
    with Store(default_profile().store_file) as store:
        stored_modseq = store.folder_by_name("test", "INBOX").highestmodseq

    server.select_folder("INBOX")
    uid = server.search(["SUBJECT", "Message 1"])[0]
    server.add_flags([uid], [b"$Important"])
    spy = FetchSpy(monkeypatch)
    assert sync() == 0

    assert [f"CHANGEDSINCE {stored_modseq}"] in spy.modifiers
    assert len(search("label:$Important")) == 1


def test_new_mail_after_first_sync_fetches_only_it(server, sync_path, monkeypatch):
    server.append("INBOX", make_message("Old", "old"))
    assert sync() == 0

    server.append("INBOX", make_message("New", "new"))
    spy = FetchSpy(monkeypatch)
    assert sync() == 0

    assert subjects() == ["New", "Old"]
    assert spy.header_fetches() == 1
    assert spy.body_fetches() == 1


def test_local_flag_change_reaches_server(server, sync_path):
    server.append("INBOX", make_message("Star me", "text"))
    assert sync() == 0
    with Store(default_profile().store_file) as store:
        (message_id,) = store.message_ids([store.folder_by_name("test", "INBOX").id])
        assert store.change_flags([message_id], add=[FLAGGED, SEEN]) == 1

    assert sync() == 0

    server.select_folder("INBOX", readonly=True)
    uid = server.search("ALL")[0]
    flags = set(server.get_flags([uid])[uid])
    assert b"\\Flagged" in flags
    assert b"\\Seen" in flags
    with Store(default_profile().store_file) as store:
        (row,) = store.messages([message_id])
    assert FLAGGED in row.flags


def test_keywords_sync_both_ways(server, sync_path):
    server.append("INBOX", make_message("Tag me", "text"))
    assert sync() == 0
    server.select_folder("INBOX")
    uid = server.search("ALL")[0]
    server.add_flags([uid], [b"$Work", b"ProjectX"])

    assert sync() == 0
    with Store(default_profile().store_file) as store:
        (message_id,) = store.message_ids([store.folder_by_name("test", "INBOX").id])
        assert {"$Work", "ProjectX"} <= store.message(message_id).flags
        assert store.change_flags([message_id], add=["$ToDo"], remove=["ProjectX"]) == 1
    assert sync() == 0

    server.select_folder("INBOX", readonly=True)
    assert set(server.get_flags([uid])[uid]) == {b"$Work", b"$ToDo"}
    assert len(search("label:$ToDo")) == 1
    assert search("label:ProjectX") == []


def test_non_ascii_folder_round_trips(server):
    server.create_folder("Entwürfe")
    server.create_folder("受信箱")
    server.append("Entwürfe", make_message("Entwurf", "draft text"))
    assert sync() == 0

    assert subjects("Entwürfe") == ["Entwurf"]
    assert subjects("受信箱") == []


def test_wrong_password_names_the_cause(account, dovecot_server, memory_keyring, capsys):
    memory_keyring.set_password("sluice", "test", "wrong password")

    assert sync() == 1

    error = capsys.readouterr().err
    assert "Login" in error
    assert account.name in error
    assert "password" in error


def test_refused_connection_names_host_and_port(tmp_path, capsys, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main(["account", "add", "dead", "--imap-host", "127.0.0.1", "--imap-port", str(port),
                 "--security", "none", "--user", "nobody", "--password-stdin"]) == 0
    capsys.readouterr()

    assert sync() == 1

    error = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in error
    assert "refused" in error


def test_search_json_lists_fields(server, capsys):
    server.append("INBOX", make_message("Invoice 42", "Please pay the invoice."))
    assert sync() == 0
    capsys.readouterr()

    assert main(["search", "--json", "subject:invoice"]) == 0

    (result,) = json.loads(capsys.readouterr().out)
    assert result["subject"] == "Invoice 42"
    assert result["from"] == "ana@example.com"
    assert result["account"] == "test"
    assert result["folder"] == "INBOX"
    assert isinstance(result["id"], int)
    assert result["flags"] == []


def test_folders_command_counts(server, capsys):
    server.append("INBOX", make_message("a", "a"), flags=[b"\\Seen"])
    server.append("INBOX", make_message("b", "b"))
    assert sync() == 0
    capsys.readouterr()

    assert main(["folders"]) == 0

    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    inbox = next(line for line in lines if line[1] == "INBOX")
    assert inbox[2:] == ["2", "1"]


def test_malformed_corpus_syncs_and_indexes(server):
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    for name in sorted(expected):
        server.append("INBOX", (CORPUS / name).read_bytes())

    assert sync() == 0

    with Store(default_profile().store_file) as store:
        rows = store.messages(store.message_ids([store.folder_by_name("test", "INBOX").id]))
    assert len(rows) == len(expected)
    index = SearchIndex(default_profile().index_dir)
    try:
        assert index.doc_count() == len(expected)
    finally:
        index.close()
    got_subjects = sorted(row.subject for row in rows)
    wanted_subjects = sorted(values["subject"] or "" for values in expected.values())
    assert got_subjects == wanted_subjects


def test_index_rebuild_restores_search(server, capsys):
    server.append("INBOX", make_message("Harbour report", "The harbour opens at dawn."))
    assert sync() == 0
    index_dir = default_profile().index_dir
    for path in index_dir.iterdir():
        path.unlink()

    assert main(["index", "rebuild"]) == 0

    assert "Rebuilt the index: 1 message." in capsys.readouterr().out
    assert len(search("harbour")) == 1


def test_sync_without_new_mail_fills_an_emptied_index(server):
    """A search that opens an index of an older format recreates it empty; the next sync, with nothing new, fills it."""
    server.append("INBOX", make_message("Café opening", "The café opens at dawn."))
    assert sync() == 0
    index_dir = default_profile().index_dir
    for path in index_dir.iterdir():
        path.unlink()
    # Only a search opens the index here, as the window's search box might after an upgrade.
    assert search("cafe") == []

    assert sync() == 0

    assert len(search("cafe")) == 1


def test_bad_query_exits_with_usage_error(server, capsys):
    server.append("INBOX", make_message("x", "y"))
    assert sync() == 0
    capsys.readouterr()

    assert main(["search", "frm:ana"]) == 2

    assert "from" in capsys.readouterr().err


def test_special_use_roles_stored(server):
    server.create_folder("Spam")
    assert sync() == 0

    with Store(default_profile().store_file) as store:
        roles = {folder.name: folder.special_use for folder in store.folders("test")}
    assert roles["Sent"] == "\\Sent"
    assert roles["Trash"] == "\\Trash"
    assert roles["Spam"] == ""


def test_new_mail_searches_only_new_uids(server, sync_path, monkeypatch):
    for number in range(5):
        server.append("INBOX", make_message(f"Old {number}", "body"))
    assert sync() == 0
    server.append("INBOX", make_message("New", "body"))

    spy = FetchSpy(monkeypatch)
    assert sync() == 0

    # The count adds up (5 stored + 1 new), so no list of every UID is read.
    assert "ALL" not in spy.search_criteria
    assert len(subjects()) == 6

    server.select_folder("INBOX")
    server.delete_messages(server.search(["SUBJECT", "Old 2"]))
    server.expunge()
    server.append("INBOX", make_message("Newer", "body"))
    spy.search_criteria.clear()
    assert sync() == 0

    # One expunged and one new: the count alone cannot tell, so every UID is read.
    assert "ALL" in spy.search_criteria
    assert sorted(subjects()) == ["New", "Newer", "Old 0", "Old 1", "Old 3", "Old 4"]


def test_folder_deleted_during_sync_is_skipped(server, monkeypatch, capsys):
    """Another client deletes a folder between the sync's LIST and its SELECT; the other folders still sync."""
    for name in ("Doomed", "Zebra"):
        server.create_folder(name)
        server.append(name, make_message(f"In {name}", "text"))
    original = IMAPClient.select_folder

    def select_folder(client, folder, readonly=False):
        if folder == "Doomed" and client is not server:
            server.delete_folder("Doomed")
        return original(client, folder, readonly)

    monkeypatch.setattr(IMAPClient, "select_folder", select_folder)
    assert sync() == 0

    output = capsys.readouterr().out
    assert "test/Doomed: skipped, The server did not open folder 'Doomed'" in output
    with Store(default_profile().store_file) as store:
        zebra = store.folder_by_name("test", "Zebra")
        assert [row.subject for row in store.messages(store.message_ids([zebra.id]))] == ["In Zebra"]
    monkeypatch.setattr(IMAPClient, "select_folder", original)
    assert sync() == 0
    with Store(default_profile().store_file) as store:
        assert store.folder_by_name("test", "Doomed") is None
