"""The flag check after replay, and the quick FETCH reader it uses, against a real Dovecot."""

from __future__ import annotations

import logging

import pytest

from desktop.cli import main
from desktop.paths import default_profile
from desktop.store import FLAGGED, SEEN, Store
from desktop.sync import service
from desktop.sync.responses import fetch_flags, quiet_protocol_log
from tests.sync.test_sync_dovecot import make_message

pytestmark = pytest.mark.dovecot

ACCOUNT = "test"


@pytest.fixture
def server(imap_user, dovecot_server, direct_client, capsys):
    code = main([
        "account", "add", ACCOUNT, "--imap-host", dovecot_server.host, "--imap-port", str(dovecot_server.port),
        "--security", "none", "--user", imap_user.name, "--password-command", f"printf %s {imap_user.password}",
    ])
    assert code == 0
    capsys.readouterr()
    return direct_client


def sync() -> int:
    return main(["sync", "--quiet"])


def stored_flags(store: Store, folder: str, subject: str) -> set[str]:
    folder_id = store.folder_by_name(ACCOUNT, folder).id
    rows = [row for row in store.messages(store.message_ids([folder_id])) if row.subject == subject]
    assert len(rows) == 1, f"expected one {subject!r} in {folder}, found {len(rows)}"
    return set(rows[0].flags)


def test_other_client_change_after_replay_seen(server, monkeypatch):
    for subject in ("Changed here", "Moved", "Untouched"):
        server.append("INBOX", make_message(subject, "body"))
    server.create_folder("Done")
    assert sync() == 0
    with Store(default_profile().store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX").id
        ids = {row.subject: row.id for row in store.messages(store.message_ids([inbox]))}
        assert store.change_flags([ids["Changed here"]], add=[FLAGGED]) == 1
        assert store.move_messages([ids["Moved"]], store.folder_by_name(ACCOUNT, "Done").id) == 1

    real_replay = service.replay_account

    def replay_then_other_client(client, store, account_id):
        sent = real_replay(client, store, account_id)
        # Another client changes a message Sluice just changed, one it just moved and one it left alone.
        server.select_folder("INBOX")
        server.add_flags(server.search(["SUBJECT", "Changed here"]), [b"$Other"])
        server.add_flags(server.search(["SUBJECT", "Untouched"]), [b"\\Seen"])
        server.select_folder("Done")
        server.add_flags(server.search(["SUBJECT", "Moved"]), [b"\\Answered"])
        return sent

    monkeypatch.setattr(service, "replay_account", replay_then_other_client)
    assert sync() == 0

    with Store(default_profile().store_file) as store:
        assert stored_flags(store, "INBOX", "Changed here") == {FLAGGED, "$Other"}
        assert stored_flags(store, "INBOX", "Untouched") == {SEEN}
        assert stored_flags(store, "Done", "Moved") == {"\\Answered"}
    server.select_folder("INBOX", readonly=True)
    (uid,) = server.search(["SUBJECT", "Changed here"])
    assert set(server.get_flags([uid])[uid]) == {b"\\Flagged", b"$Other"}


def test_fetch_flags_changed_since_in_set(server):
    for number in range(5):
        server.append("INBOX", make_message(f"Message {number}", "body"))
    server.enable("CONDSTORE")
    info = server.select_folder("INBOX")
    before = int(info[b"HIGHESTMODSEQ"])
    uids = sorted(server.search("ALL"))
    server.add_flags(uids[1:4], [b"\\Flagged"])

    assert set(fetch_flags(server, [f"{uids[0]}:{uids[4]}"])) == set(uids)
    changed = fetch_flags(server, [f"{uids[0]}:{uids[1]}", str(uids[3])], before)
    assert changed == {uids[1]: frozenset({"\\Flagged"}), uids[3]: frozenset({"\\Flagged"})}


def test_fetch_flags_keywords_named_like_items(server):
    server.append("INBOX", make_message("Odd keywords", "body"))
    server.select_folder("INBOX")
    (uid,) = server.search("ALL")
    # Keywords are atoms, so "UID" and "7" are keywords like any other.
    server.add_flags([uid], [b"UID", b"7", b"MODSEQ"])

    flags = fetch_flags(server, [str(uid)])
    assert flags == {uid: frozenset({"UID", "7", "MODSEQ"})}


def test_quiet_protocol_log_restores_level(server, caplog):
    server.append("INBOX", make_message("Logged", "body"))
    server.select_folder("INBOX")
    (uid,) = server.search("ALL")
    level = server._imap.debug

    with quiet_protocol_log(server):
        assert server._imap.debug == 0
    assert server._imap.debug == level

    with caplog.at_level(logging.DEBUG, logger="imapclient.imaplib"):
        with quiet_protocol_log(server):
            assert fetch_flags(server, [str(uid)]) == {uid: frozenset()}
    assert any("FETCH" in record.getMessage() for record in caplog.records)
