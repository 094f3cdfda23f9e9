"""Snooze against a real Dovecot: the Snoozed folder, the $Snoozed keyword, waking by sync, watch and a new process.

A direct connection plays the server's view, as another mail client sees it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from desktop.cli import main
from desktop.paths import default_profile
from desktop.snooze import SNOOZED_FOLDER, SNOOZED_KEYWORD, ensure_snooze_folders
from desktop.store import Store
from desktop.sync.service import CancelToken
from desktop.sync.watch import WatchOptions, watch_profile
from tests.sync.test_sync_dovecot import make_message

pytestmark = pytest.mark.dovecot

ACCOUNT = "test"
MESSAGE_ID = "<budget@example.com>"
SUBPROCESS_TIMEOUT = 120
WATCH_SECONDS = 30


@pytest.fixture
def account(imap_user, dovecot_server, capsys):
    code = main([
        "account", "add", ACCOUNT, "--imap-host", dovecot_server.host, "--imap-port", str(dovecot_server.port),
        "--security", "none", "--user", imap_user.name, "--password-command", f"printf %s {imap_user.password}",
    ])
    assert code == 0
    capsys.readouterr()
    return imap_user


@pytest.fixture
def synced_inbox(account, direct_client, capsys):
    """One read message in INBOX on the server and in the store."""
    direct_client.append("INBOX", make_message("Budget", "numbers", message_id=MESSAGE_ID), flags=[b"\\Seen"])
    sync(capsys)
    return direct_client


def sync(capsys) -> None:
    code = main(["sync", "--quiet"])
    assert code == 0, capsys.readouterr().err


def server_flags(client, folder: str) -> list[set[bytes]]:
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    return [set(data[b"FLAGS"]) for data in client.fetch(uids, ["FLAGS"]).values()]


def snooze_inbox(seconds: float) -> int:
    profile = default_profile()
    folders = ensure_snooze_folders(profile, [ACCOUNT])
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        (message,) = store.message_ids([inbox.id])
        wake_at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        store.snooze_messages([message], wake_at, folders, "Snoozed 1 message")
    return message


def make_due() -> None:
    """Move every wake time into the past, as if the time had come."""
    with Store(default_profile().store_file) as store:
        store._db.execute("UPDATE snoozes SET wake_at = ?", (time.time() - 1,))


def test_snooze_creates_folder_and_sets_keyword(synced_inbox, capsys):
    server = synced_inbox

    snooze_inbox(3600)
    assert server.folder_exists(SNOOZED_FOLDER)
    assert any(name == SNOOZED_FOLDER for _flags, _delimiter, name in server.list_sub_folders())
    sync(capsys)

    assert server_flags(server, "INBOX") == []
    (flags,) = server_flags(server, SNOOZED_FOLDER)
    assert SNOOZED_KEYWORD.encode() in flags
    assert b"\\Seen" in flags
    with Store(default_profile().store_file) as store:
        (entry, row) = store.snoozed_messages()[0]
        assert row.uid > 0, "the placeholder UID was replaced by the server's"
        assert row.message_id == "budget@example.com"


def test_sync_wakes_due_snooze(synced_inbox, capsys):
    server = synced_inbox
    snooze_inbox(3600)
    sync(capsys)
    make_due()

    sync(capsys)

    assert server_flags(server, SNOOZED_FOLDER) == []
    (flags,) = server_flags(server, "INBOX")
    assert SNOOZED_KEYWORD.encode() not in flags
    assert b"\\Seen" not in flags
    with Store(default_profile().store_file) as store:
        assert store.snoozes() == []


def test_new_process_wakes_due_snooze(synced_inbox, capsys):
    server = synced_inbox
    snooze_inbox(3600)
    sync(capsys)
    make_due()
    profile = default_profile()

    finished = subprocess.run(
        # SLUICE_HOME from the test's environment points the new process at the same profile.
        [sys.executable, "-m", "desktop", "sync", "--quiet"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=dict(os.environ),
    )

    assert finished.returncode == 0, finished.stderr
    assert server_flags(server, SNOOZED_FOLDER) == []
    (flags,) = server_flags(server, "INBOX")
    assert SNOOZED_KEYWORD.encode() not in flags
    with Store(profile.store_file) as store:
        assert store.snoozes() == []


def test_other_client_move_drops_snooze(synced_inbox, capsys):
    server = synced_inbox
    snooze_inbox(3600)
    sync(capsys)
    server.select_folder(SNOOZED_FOLDER)
    server.move(server.search("ALL"), "INBOX")
    sync(capsys)
    make_due()

    sync(capsys)

    assert len(server_flags(server, "INBOX")) == 1
    with Store(default_profile().store_file) as store:
        assert store.snoozes() == []
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        assert len(store.message_ids([inbox.id])) == 1


def test_watch_wakes_snooze_when_due(synced_inbox, capsys):
    server = synced_inbox
    snooze_inbox(3600)
    sync(capsys)
    with Store(default_profile().store_file) as store:
        store._db.execute("UPDATE snoozes SET wake_at = ?", (time.time() + 3,))
    token = CancelToken()
    options = WatchOptions(max_seconds=WATCH_SECONDS)

    # The watch ends by itself after WATCH_SECONDS; the moves back produce index steps once they are sent.
    for _step in watch_profile(default_profile(), cancel=token, options=options):
        if not server_flags(server, SNOOZED_FOLDER):
            break
    token.cancel()

    assert server_flags(server, SNOOZED_FOLDER) == []
    (flags,) = server_flags(server, "INBOX")
    assert SNOOZED_KEYWORD.encode() not in flags
