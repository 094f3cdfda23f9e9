"""Moves, deletes and appends made offline, sent to a real Dovecot through the action journal.

Sluice reaches Dovecot through ``FaultProxy``, so a test can refuse or cut the
connection and count the commands on the wire. A direct connection plays
the server's view and another mail client.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.paths import default_profile
from desktop.store import Store
from tests.helpers.mailbox_state import profile_problems
from tests.helpers.proxy import FaultProxy
from tests.sync.test_sync_dovecot import make_message

pytestmark = pytest.mark.dovecot

ACCOUNT = "test"
KEYWORD = "$Project"


@pytest.fixture
def proxy(dovecot_server):
    with FaultProxy(dovecot_server.host, dovecot_server.port) as running:
        yield running


@pytest.fixture
def account(imap_user, proxy, capsys):
    code = main([
        "account", "add", ACCOUNT, "--imap-host", proxy.host, "--imap-port", str(proxy.port), "--security", "none",
        "--user", imap_user.name, "--password-command", f"printf %s {imap_user.password}",
    ])
    assert code == 0
    capsys.readouterr()
    return imap_user


@pytest.fixture
def server(account, direct_client):
    return direct_client


@pytest.fixture
def without_capabilities(monkeypatch):
    """Return a function that hides capabilities from Sluice's connections, as a server without them."""
    original = IMAPClient.capabilities

    def hide(*names: bytes) -> None:
        def capabilities(client):
            return tuple(name for name in original(client) if name not in names)

        monkeypatch.setattr(IMAPClient, "capabilities", capabilities)

    return hide


def sync(capsys) -> tuple[int, str]:
    code = main(["sync", "--quiet"])
    return code, capsys.readouterr().err


def commands(proxy: FaultProxy, pattern: bytes) -> int:
    """Count the client commands matching ``pattern`` (after the tag) over every proxied connection."""
    regex = re.compile(rb"^\S+ " + pattern, re.MULTILINE)
    return sum(len(regex.findall(bytes(connection.from_client))) for connection in proxy.connections)


def journal() -> list[tuple[str, str, str]]:
    with sqlite3.connect(default_profile().store_file) as connection:
        return connection.execute("SELECT kind, state, error FROM actions ORDER BY id").fetchall()


def problems(dovecot_server, user) -> list[str]:
    return profile_problems(default_profile(), ACCOUNT, dovecot_server.host, dovecot_server.port, user.name, user.password)


def local_rows(folder: str) -> list:
    with Store(default_profile().store_file) as store:
        return store.messages(store.message_ids([store.folder_by_name(ACCOUNT, folder).id]))


def server_messages(server: IMAPClient, folder: str) -> dict[int, dict]:
    server.select_folder(folder, readonly=True)
    uids = server.search("ALL")
    return server.fetch(uids, [b"FLAGS", b"BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}


def server_subjects(server: IMAPClient, folder: str) -> list[str]:
    return sorted(data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip().removeprefix("Subject: ")
                  for data in server_messages(server, folder).values())


def put(server: IMAPClient, folder: str, subject: str, flags=(KEYWORD,)) -> None:
    server.append(folder, make_message(subject, f"text of {subject}", message_id=f"<{subject.replace(' ', '.')}@example.com>"),
                  flags=flags)


def move_local(subject: str, source: str, target: str) -> int:
    with Store(default_profile().store_file) as store:
        (row,) = [row for row in local_rows(source) if row.subject == subject]
        store.move_messages([row.id], store.folder_by_name(ACCOUNT, target).id)
    return row.id


def body_fetches(proxy: FaultProxy) -> int:
    return commands(proxy, rb"UID FETCH [^\r\n]*BODY\.PEEK\[\]")


def test_move_uses_move_and_keeps_keywords(server, proxy, dovecot_server, account, capsys):
    put(server, "INBOX", "Budget")
    put(server, "INBOX", "Stays")
    assert sync(capsys) == (0, "")
    fetched = body_fetches(proxy)

    message_id = move_local("Budget", "INBOX", "Archive")
    (row,) = local_rows("Archive")
    assert row.uid < 0
    assert KEYWORD in row.flags

    assert sync(capsys) == (0, "")

    assert server_subjects(server, "INBOX") == ["Stays"]
    ((uid, data),) = server_messages(server, "Archive").items()
    assert KEYWORD.encode() in data[b"FLAGS"]
    (row,) = local_rows("Archive")
    assert (row.id, row.uid) == (message_id, uid)
    assert KEYWORD in row.flags
    assert commands(proxy, rb"UID MOVE ") == 1
    assert body_fetches(proxy) == fetched
    assert journal() == [("move", "done", "")]
    assert problems(dovecot_server, account) == []


@pytest.mark.parametrize("uidplus", [True, False], ids=["uidplus", "no-uidplus"])
def test_move_without_move_capability(server, proxy, dovecot_server, account, capsys, without_capabilities, uidplus):
    put(server, "INBOX", "Budget")
    put(server, "INBOX", "Marked by another client")
    assert sync(capsys) == (0, "")
    server.select_folder("INBOX")
    other = server.search(["SUBJECT", "another"])
    server.add_flags(other, [b"\\Deleted"])
    without_capabilities(b"MOVE", *(() if uidplus else (b"UIDPLUS",)))
    fetched = body_fetches(proxy)

    message_id = move_local("Budget", "INBOX", "Archive")
    assert sync(capsys) == (0, "")

    assert commands(proxy, rb"UID MOVE ") == 0
    assert commands(proxy, rb"UID COPY ") == 1
    assert commands(proxy, rb"UID EXPUNGE ") == (1 if uidplus else 0)
    assert commands(proxy, rb"EXPUNGE\r\n") == 0
    ((uid, data),) = server_messages(server, "Archive").items()
    assert KEYWORD.encode() in data[b"FLAGS"]
    (row,) = local_rows("Archive")
    assert (row.id, row.uid) == (message_id, uid)
    # Without UIDPLUS the source copy stays on the server, marked \Deleted, so the sync fetches it into INBOX.
    assert body_fetches(proxy) == fetched + (0 if uidplus else 1)
    inbox = server_messages(server, "INBOX")
    # The other client's \Deleted message is never expunged by Sluice; without UIDPLUS the moved one stays too.
    assert len(inbox) == (1 if uidplus else 2)
    assert all(b"\\Deleted" in data[b"FLAGS"] for data in inbox.values())
    assert problems(dovecot_server, account) == []


def test_delete_moves_to_trash_then_for_good(server, proxy, dovecot_server, account, capsys):
    put(server, "INBOX", "Spam")
    assert sync(capsys) == (0, "")

    with Store(default_profile().store_file) as store:
        (row,) = local_rows("INBOX")
        store.delete_messages([row.id])
    assert [row.subject for row in local_rows("Trash")] == ["Spam"]
    assert sync(capsys) == (0, "")
    assert server_subjects(server, "INBOX") == []
    assert server_subjects(server, "Trash") == ["Spam"]

    with Store(default_profile().store_file) as store:
        (row,) = local_rows("Trash")
        assert row.uid > 0
        store.delete_messages([row.id])
    assert local_rows("Trash") == []
    assert sync(capsys) == (0, "")

    assert server_subjects(server, "Trash") == []
    assert commands(proxy, rb"UID EXPUNGE ") == 1
    assert journal() == [("move", "done", ""), ("delete", "done", "")]
    assert problems(dovecot_server, account) == []


def test_append_takes_appenduid(server, proxy, dovecot_server, account, capsys):
    assert sync(capsys) == (0, "")
    fetched = body_fetches(proxy)
    raw = make_message("Draft reply", "draft text", message_id="<draft.1@example.com>")
    with Store(default_profile().store_file) as store:
        message_id = store.append_message(store.folder_by_name(ACCOUNT, "Drafts").id, raw, ["\\Draft", KEYWORD])

    assert sync(capsys) == (0, "")

    ((uid, data),) = server_messages(server, "Drafts").items()
    assert {b"\\Draft", KEYWORD.encode()} <= set(data[b"FLAGS"])
    (row,) = local_rows("Drafts")
    assert (row.id, row.uid) == (message_id, uid)
    assert commands(proxy, rb"APPEND ") == 1
    assert body_fetches(proxy) == fetched
    assert problems(dovecot_server, account) == []


def test_offline_actions_sent_once_after_restart(server, proxy, dovecot_server, account, capsys):
    put(server, "INBOX", "Move me")
    put(server, "INBOX", "Trash me")
    assert sync(capsys) == (0, "")
    proxy.refuse()

    move_local("Move me", "INBOX", "Archive")
    with Store(default_profile().store_file) as store:
        (trash,) = [row for row in local_rows("INBOX") if row.subject == "Trash me"]
        store.delete_messages([trash.id])
        store.append_message(store.folder_by_name(ACCOUNT, "Drafts").id,
                             make_message("Offline draft", "text", message_id="<offline@example.com>"), [KEYWORD])
        (moved,) = local_rows("Archive")
        store.change_flags([moved.id], add=["\\Flagged"])
    assert local_rows("INBOX") == []
    assert [row.subject for row in local_rows("Drafts")] == ["Offline draft"]

    code, error = sync(capsys)
    assert code == 1
    assert "test" in error
    assert [state for _kind, state, _error in journal()] == ["pending"] * 4

    # A new process opens the store again; the pending journal is all it has.
    proxy.pass_through()
    assert sync(capsys) == (0, "")
    assert sync(capsys) == (0, "")

    assert server_subjects(server, "INBOX") == []
    assert server_subjects(server, "Archive") == ["Move me"]
    assert server_subjects(server, "Trash") == ["Trash me"]
    assert server_subjects(server, "Drafts") == ["Offline draft"]
    (archived,) = server_messages(server, "Archive").values()
    assert b"\\Flagged" in archived[b"FLAGS"]
    assert commands(proxy, rb"UID MOVE ") == 2
    assert commands(proxy, rb"APPEND ") == 1
    assert [state for _kind, state, _error in journal()] == ["done"] * 4
    assert problems(dovecot_server, account) == []


def test_cut_after_move_sent_applies_once(server, proxy, dovecot_server, account, capsys):
    """The connection drops after Dovecot moved the message but before Sluice read the OK."""
    put(server, "INBOX", "Budget")
    assert sync(capsys) == (0, "")
    move_local("Budget", "INBOX", "Archive")
    real_move = IMAPClient.move

    def move_then_cut(client, messages, folder):
        proxy.cut_after(0)
        return real_move(client, messages, folder)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IMAPClient, "move", move_then_cut)
        code, _error = sync(capsys)
    assert code == 1
    assert any(connection.cut for connection in proxy.connections)
    assert server_subjects(server, "Archive") == ["Budget"]
    assert journal() == [("move", "pending", "")]

    proxy.pass_through()
    assert sync(capsys) == (0, "")

    assert commands(proxy, rb"UID MOVE ") == 1
    assert journal() == [("move", "done", "")]
    ((uid, _data),) = server_messages(server, "Archive").items()
    assert [row.uid for row in local_rows("Archive")] == [uid]
    assert problems(dovecot_server, account) == []


def test_cut_after_append_sent_appends_once(server, proxy, dovecot_server, account, capsys):
    assert sync(capsys) == (0, "")
    raw = make_message("Draft", "text", message_id="<cut.draft@example.com>")
    with Store(default_profile().store_file) as store:
        store.append_message(store.folder_by_name(ACCOUNT, "Drafts").id, raw, [])
    real_append = IMAPClient.append

    def append_then_cut(client, folder, message, flags=(), msg_time=None):
        # Let Dovecot's continuation request through, so the literal is sent and stored, then cut before the OK.
        proxy.cut_after(len(b"+ OK\r\n"))
        return real_append(client, folder, message, flags, msg_time)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IMAPClient, "append", append_then_cut)
        code, _error = sync(capsys)
    assert code == 1
    assert server_subjects(server, "Drafts") == ["Draft"]

    proxy.pass_through()
    assert sync(capsys) == (0, "")

    assert server_subjects(server, "Drafts") == ["Draft"]
    assert [kind_state[:2] for kind_state in journal()] == [("append", "done")]
    assert problems(dovecot_server, account) == []


def test_source_deleted_by_other_client(server, proxy, dovecot_server, account, capsys):
    put(server, "INBOX", "Budget")
    assert sync(capsys) == (0, "")
    move_local("Budget", "INBOX", "Archive")
    server.select_folder("INBOX")
    server.delete_messages(server.search("ALL"))
    server.expunge()

    assert sync(capsys) == (0, "")

    ((kind, state, error),) = journal()
    assert (kind, state) == ("move", "failed")
    assert "deleted on the server by another client" in error
    assert local_rows("Archive") == []
    assert server_subjects(server, "Archive") == []
    assert problems(dovecot_server, account) == []


def test_target_deleted_by_other_client(server, proxy, dovecot_server, account, capsys):
    server.create_folder("Projects")
    put(server, "INBOX", "Budget")
    assert sync(capsys) == (0, "")
    move_local("Budget", "INBOX", "Projects")
    server.delete_folder("Projects")

    assert sync(capsys) == (0, "")

    ((kind, state, error),) = journal()
    assert (kind, state) == ("move", "failed")
    assert "Projects was deleted on the server" in error
    assert server_subjects(server, "INBOX") == ["Budget"]
    assert [row.subject for row in local_rows("INBOX")] == ["Budget"]
    assert problems(dovecot_server, account) == []


def test_target_deleted_during_replay_restores(server, proxy, dovecot_server, account, capsys):
    """The folder vanishes between the folder list and the MOVE: the row goes back to its source at once."""
    server.create_folder("Projects")
    put(server, "INBOX", "Budget")
    assert sync(capsys) == (0, "")
    message_id = move_local("Budget", "INBOX", "Projects")
    real_move = IMAPClient.move

    def delete_target_then_move(client, messages, folder):
        server.delete_folder("Projects")
        return real_move(client, messages, folder)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IMAPClient, "move", delete_target_then_move)
        main(["sync", "--quiet"])
        capsys.readouterr()

    ((kind, state, error),) = journal()
    assert (kind, state) == ("move", "failed")
    assert "Projects was deleted on the server" in error
    assert [(row.id, row.subject) for row in local_rows("INBOX")] == [(message_id, "Budget")]
    assert server_subjects(server, "INBOX") == ["Budget"]
    assert sync(capsys) == (0, "")
    assert problems(dovecot_server, account) == []


def move_many_local(subjects: list[str], source: str, target: str) -> None:
    """Move the messages with ``subjects`` in one journal action, as a rule or a bulk move does."""
    with Store(default_profile().store_file) as store:
        ids = [row.id for row in local_rows(source) if row.subject in subjects]
        assert len(ids) == len(subjects)
        store.move_messages(ids, store.folder_by_name(ACCOUNT, target).id)


def presence_searches(proxy: FaultProxy) -> int:
    """Count the UID SEARCH commands that look for given UIDs in a folder."""
    return commands(proxy, rb"UID SEARCH UID ")


def test_move_unchecked_drops_deleted_source(server, proxy, dovecot_server, account, capsys):
    """With MOVE and UIDPLUS, UID MOVE is sent at once, and a UID missing from its COPYUID was deleted."""
    put(server, "INBOX", "Budget")
    put(server, "INBOX", "Gone")
    put(server, "INBOX", "Stays")
    assert sync(capsys) == (0, "")
    move_many_local(["Budget", "Gone"], "INBOX", "Archive")
    server.select_folder("INBOX")
    (gone_uid,) = server.search(["HEADER", "Subject", "Gone"])
    server.delete_messages([gone_uid])
    server.expunge()
    searches = presence_searches(proxy)

    assert sync(capsys) == (0, "")

    assert presence_searches(proxy) == searches
    assert commands(proxy, rb"UID MOVE ") == 1
    ((kind, state, error),) = journal()
    assert (kind, state) == ("move", "failed")
    assert f"UIDs [{gone_uid}] of folder INBOX were deleted on the server by another client" in error
    assert server_subjects(server, "INBOX") == ["Stays"]
    assert server_subjects(server, "Archive") == ["Budget"]
    ((uid, _data),) = server_messages(server, "Archive").items()
    assert [(row.subject, row.uid) for row in local_rows("Archive")] == [("Budget", uid)]
    assert [row.subject for row in local_rows("INBOX")] == ["Stays"]
    assert problems(dovecot_server, account) == []


def test_move_without_uidplus_searches_first(server, proxy, dovecot_server, account, capsys, without_capabilities):
    """Without UIDPLUS no COPYUID lists the moved UIDs, so UID SEARCH finds the present ones before UID MOVE."""
    put(server, "INBOX", "Budget")
    put(server, "INBOX", "Gone")
    assert sync(capsys) == (0, "")
    move_many_local(["Budget", "Gone"], "INBOX", "Archive")
    server.select_folder("INBOX")
    (gone_uid,) = server.search(["HEADER", "Subject", "Gone"])
    server.delete_messages([gone_uid])
    server.expunge()
    without_capabilities(b"UIDPLUS")
    searches = presence_searches(proxy)

    assert sync(capsys) == (0, "")

    assert presence_searches(proxy) == searches + 1
    assert commands(proxy, rb"UID MOVE ") == 1
    ((kind, state, error),) = journal()
    assert (kind, state) == ("move", "failed")
    assert f"UIDs [{gone_uid}]" in error
    assert server_subjects(server, "INBOX") == []
    assert server_subjects(server, "Archive") == ["Budget"]
    assert [row.subject for row in local_rows("Archive")] == ["Budget"]
    assert problems(dovecot_server, account) == []
