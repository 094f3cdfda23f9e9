"""Sync through a faulty connection: cut inside a FETCH literal, stalled, refused.

Sluice talks to a real Dovecot through ``FaultProxy``, which breaks the connection
in the ways a real network does. After each fault the sync must report a clear
error, and the next sync must leave the store equal to the server: no message
lost or stored twice, and a queued flag change sent exactly once.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.mailgen import generate
from desktop.paths import default_profile
from desktop.store import FLAGGED, SEEN, Store
from desktop.sync import connection as sync_connection
from desktop.sync.engine import FETCH_BATCH
from tests.helpers.mailbox_state import fill_maildir, profile_problems
from tests.helpers.proxy import FaultProxy, open_literal

pytestmark = pytest.mark.dovecot

ACCOUNT = "test"
SEED = 4242
BIG_MESSAGE_BYTES = 4 * 1024 * 1024
SHORT_TIMEOUT = 1.0
STORE_COMMAND = re.compile(rb"^\S+ UID STORE ", re.MULTILINE)


@pytest.fixture
def proxy(dovecot_server):
    with FaultProxy(dovecot_server.host, dovecot_server.port) as running:
        yield running


@pytest.fixture
def account(imap_user, proxy, capsys):
    """An account that reaches the test user's mailbox through the proxy."""
    code = main([
        "account", "add", ACCOUNT, "--imap-host", proxy.host, "--imap-port", str(proxy.port), "--security", "none",
        "--user", imap_user.name, "--password-command", f"printf %s {imap_user.password}",
    ])
    assert code == 0
    capsys.readouterr()
    return imap_user


@pytest.fixture
def server(account, direct_client):
    """A direct connection to the test user's mailbox, around the proxy."""
    return direct_client


@pytest.fixture
def short_timeout(monkeypatch):
    """Make the sync's IMAP connection time out after SHORT_TIMEOUT seconds.

    The sync service passes no timeout to connect(), so the default of 30 s would
    apply; there is no setting for it yet.
    """
    monkeypatch.setattr("desktop.sync.service.connect", functools.partial(sync_connection.connect, timeout=SHORT_TIMEOUT))


def sync(capsys) -> tuple[int, str]:
    """Run ``sluice sync``; return its exit code and what it printed to stderr."""
    code = main(["sync", "--quiet"])
    return code, capsys.readouterr().err


def problems(dovecot_server, user) -> list[str]:
    return profile_problems(default_profile(), ACCOUNT, dovecot_server.host, dovecot_server.port, user.name, user.password)


def big_message() -> bytes:
    line = b"All work and no play makes a long literal.\r\n"
    body = line * (BIG_MESSAGE_BYTES // len(line))
    # Dated before every generated message, so its body is fetched last.
    headers = b"From: big@example.com\r\nSubject: Big\r\nDate: Mon, 01 Jan 2001 00:00:00 +0000\r\nMessage-ID: <big@example.com>\r\n"
    return headers + b"\r\n" + body


def fill_inbox_with_big_oldest(server_client: IMAPClient, user, count: int) -> int:
    """Put a big message at UID 1 of INBOX and ``count`` generated ones after it.

    The sync fetches every header first, then the bodies newest first,
    FETCH_BATCH at a time; Dovecot returns each FETCH response in UID order,
    so the big message opens the last batch. Returns about how many bytes the
    server sends before that body: the headers and the batches before it.
    """
    server_client.append("INBOX", big_message())
    fill_maildir(user.maildir, count, seed=SEED, folder="INBOX")
    server_client.select_folder("INBOX", readonly=True)
    sizes = server_client.fetch(server_client.search("ALL"), [b"RFC822.SIZE"])
    assert min(sizes) == 1
    assert sizes[1][b"RFC822.SIZE"] >= BIG_MESSAGE_BYTES
    newest_first = sorted(sizes, reverse=True)
    last_batch_start = (len(newest_first) - 1) // FETCH_BATCH * FETCH_BATCH
    headers = server_client.fetch(newest_first, [b"BODY.PEEK[HEADER]"])
    header_bytes = sum(len(data[b"BODY[HEADER]"]) for data in headers.values())
    return header_bytes + sum(sizes[uid][b"RFC822.SIZE"] for uid in newest_first[:last_batch_start])


def test_cut_inside_fetch_literal_then_retry_completes(server, account, proxy, dovecot_server, capsys):
    before_big = fill_inbox_with_big_oldest(server, account, 2 * FETCH_BATCH)
    # Past the earlier batches and the commands before them, well inside the big literal.
    proxy.cut_after(before_big + 1024 * 1024)

    code, error = sync(capsys)

    assert code == 1
    assert f"account {ACCOUNT!r}" in error
    assert "sync again" in error
    (cut,) = [connection for connection in proxy.connections if connection.cut]
    assert open_literal(bytes(cut.from_server)) is not None
    with Store(default_profile().store_file) as store:
        # Every header is stored before the body phase; the big body was being read at the cut.
        assert store.folder_by_name(ACCOUNT, "INBOX").total == 2 * FETCH_BATCH + 1
        assert store.missing_body_count(ACCOUNT) == 1

    assert sync(capsys) == (0, "")
    assert problems(dovecot_server, account) == []
    # The retry fetches the big message, not the batches stored before the cut.
    retry = proxy.connections[-1]
    assert len(retry.from_server) < BIG_MESSAGE_BYTES + before_big // 2


def test_cut_error_names_host_and_port(server, account, proxy, capsys):
    fill_inbox_with_big_oldest(server, account, 10)
    proxy.cut_after(256 * 1024)

    code, error = sync(capsys)

    assert code == 1
    assert f"{proxy.host}:{proxy.port}" in error


def test_stall_before_greeting_names_host_port(account, proxy, short_timeout, capsys):
    proxy.stall(SHORT_TIMEOUT * 5)

    code, error = sync(capsys)

    assert code == 1
    assert f"{proxy.host}:{proxy.port}" in error
    assert "did not respond in time" in error


def test_stall_inside_fetch_then_retry_completes(server, account, proxy, dovecot_server, short_timeout, capsys):
    before_big = fill_inbox_with_big_oldest(server, account, FETCH_BATCH)
    proxy.stall(SHORT_TIMEOUT * 5, after=before_big + 1024 * 1024)

    code, error = sync(capsys)

    assert code == 1
    assert f"account {ACCOUNT!r}" in error
    assert "timed out" in error
    proxy.pass_through()
    assert sync(capsys) == (0, "")
    assert problems(dovecot_server, account) == []


def test_stall_inside_fetch_error_names_host_and_port(server, account, proxy, short_timeout, capsys):
    fill_inbox_with_big_oldest(server, account, 10)
    proxy.stall(SHORT_TIMEOUT * 5, after=256 * 1024)

    code, error = sync(capsys)

    assert code == 1
    assert f"{proxy.host}:{proxy.port}" in error
    assert "did not respond in time" in error


def test_reset_connection_names_host_and_port(account, proxy, capsys):
    proxy.refuse(reset=True)

    code, error = sync(capsys)

    assert code == 1
    assert proxy.refused == 1
    assert f"{proxy.host}:{proxy.port}" in error
    assert "reset" in error


def test_closed_before_greeting_says_connection_closed(account, proxy, capsys):
    proxy.refuse()

    code, error = sync(capsys)

    assert code == 1
    assert proxy.refused == 1
    assert f"{proxy.host}:{proxy.port}" in error
    assert "closed the connection" in error


def folder_order(server_client: IMAPClient) -> list[str]:
    """Return the selectable folders in the order the sync visits them, which is the server's LIST order."""
    return [name for flags, _delimiter, name in server_client.list_folders() if b"\\Noselect" not in flags]


def journal(store_file) -> list[tuple[str, str, str]]:
    with sqlite3.connect(store_file) as connection:
        return connection.execute("SELECT state, payload, error FROM actions ORDER BY id").fetchall()


def store_commands(proxy: FaultProxy) -> int:
    return sum(len(STORE_COMMAND.findall(bytes(connection.from_client))) for connection in proxy.connections)


def test_queued_flag_change_sent_once_across_cut(server, account, proxy, dovecot_server, capsys):
    """Pending actions go out before any folder is synced, so a cut in a later folder's FETCH does not send them twice."""
    for name in ("Alpha", "Omega"):
        server.create_folder(name)
        server.append(name, next(generate(1, seed=SEED)).raw)
    order = [name for name in folder_order(server) if name in ("Alpha", "Omega")]
    cut_folder, flagged_folder = order[0], order[-1]
    assert sync(capsys) == (0, "")
    with Store(default_profile().store_file) as store:
        (message_id,) = store.message_ids([store.folder_by_name(ACCOUNT, flagged_folder).id])
        assert store.change_flags([message_id], add=[FLAGGED]) == 1
        uid = store.message(message_id).uid

    server.append(cut_folder, big_message())
    proxy.cut_after(_bytes_before_big_literal_estimate())
    code, _error = sync(capsys)
    assert code == 1
    assert any(connection.cut for connection in proxy.connections)
    assert [state for state, _payload, _error in journal(default_profile().store_file)] == ["done"]

    assert sync(capsys) == (0, "")

    ((state, payload, error),) = journal(default_profile().store_file)
    assert (state, error) == ("done", "")
    assert json.loads(payload)["add"] == [FLAGGED]
    server.select_folder(flagged_folder, readonly=True)
    assert b"\\Flagged" in server.get_flags([uid])[uid]
    assert store_commands(proxy) == 1
    assert problems(dovecot_server, account) == []


def _bytes_before_big_literal_estimate() -> int:
    """Enough server bytes for the commands before the big literal, and well short of its end."""
    return BIG_MESSAGE_BYTES // 2


def test_rejected_flag_change_dropped(server, account, proxy, dovecot_server, capsys, caplog):
    """A journal entry that Dovecot rejects with BAD, such as one written before flags were checked, is not sent again."""
    server.append("INBOX", next(generate(1, seed=SEED)).raw)
    assert sync(capsys) == (0, "")
    with Store(default_profile().store_file) as store:
        (message_id,) = store.message_ids([store.folder_by_name(ACCOUNT, "INBOX").id])
        store.change_flags([message_id], add=[FLAGGED])
        uid = store.message(message_id).uid
    with sqlite3.connect(default_profile().store_file) as connection:
        connection.execute("UPDATE actions SET payload = ?", (json.dumps({"uids": [uid], "add": [FLAGGED, "bad(flag"], "remove": []}),))
    with Store(default_profile().store_file) as store:
        store.change_flags([message_id], add=[SEEN])

    assert sync(capsys) == (0, "")
    assert problems(dovecot_server, account) == []
    assert sync(capsys) == (0, "")

    (rejected, sent) = journal(default_profile().store_file)
    assert rejected[0] == "failed"
    assert "Invalid characters in atom" in rejected[2]
    assert sent[0] == "done"
    server.select_folder("INBOX", readonly=True)
    assert set(server.get_flags([uid])[uid]) == {SEEN.encode()}
    assert store_commands(proxy) == 2
    assert "rejected action" in caplog.text
    assert problems(dovecot_server, account) == []
