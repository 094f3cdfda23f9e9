"""A process killed while it sends a queued bulk archive, then run again, moves each message exactly once.

The test archives a few thousand messages in the store (journaled as actions
of ``MESSAGES_PER_ACTION`` messages), then runs ``sluice sync`` as a child
process, which sends the journal first, and kills it with SIGKILL:

- ``paused``: the child pauses (``SLUICE_DEBUG_PAUSE_AFTER_BATCHES``) after the
  server accepted the UID MOVE of the second batch and before the store
  recorded it, the moment at which a repeat would be most likely;
- ``server-partial``: as soon as another connection finds the first moved
  messages in Archive, wherever the child is then.

A second ``sluice sync`` then runs to completion. A separate IMAP connection
checks that every Message-ID is in Archive exactly once and none is left in
INBOX, and the store must show the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.store import Store
from desktop.store.journal import MESSAGES_PER_ACTION
from desktop.sync.actions import PAUSE_VARIABLE
from tests.sync.test_bulk_send import (
    ACCOUNT,
    archive_inbox,
    expected_ids,
    fill_inbox,
    make_profile,
    server_message_ids,
    stored_message_ids,
    sync,
)

pytestmark = pytest.mark.dovecot

MESSAGES = 2 * MESSAGES_PER_ACTION + 500
POLL_SECONDS = 0.01
KILL_DEADLINE_SECONDS = 120.0
FINAL_TIMEOUT_SECONDS = 300.0


def sync_child(home: Path, env: dict[str, str]) -> subprocess.Popen:
    # A session of its own, so that the kill also reaches a password command it may be running.
    return subprocess.Popen([sys.executable, "-m", "desktop", "--home", str(home), "sync", "--quiet"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)


def kill(child: subprocess.Popen) -> int | None:
    """SIGKILL the child and its session; return its exit code if it had ended by itself."""
    code = child.poll()
    if code is None:
        child.kill()
        child.wait(timeout=30)
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # Nothing of the child's session is left.
    return code


def archive_count(client: IMAPClient) -> int:
    return client.folder_status("Archive", [b"MESSAGES"])[b"MESSAGES"]


def pending_actions(store_file: Path) -> int:
    with Store(store_file) as store:
        return len(store.pending_actions(store.account_id(ACCOUNT)))


def wait_and_kill(child: subprocess.Popen, client: IMAPClient, reached) -> tuple[int | None, int]:
    """Kill the child once ``reached(messages in Archive)`` holds; return (its exit code if it ended, Archive count)."""
    deadline = time.monotonic() + KILL_DEADLINE_SECONDS
    count = 0
    while child.poll() is None and time.monotonic() < deadline:
        count = archive_count(client)
        if reached(count):
            break
        time.sleep(POLL_SECONDS)
    return kill(child), count


@pytest.mark.parametrize("moment", ["paused", "server-partial"])
def test_killed_replay_moves_each_message_once(moment: str, tmp_path: Path, dovecot_server, imap_user, direct_client) -> None:
    fill_inbox(imap_user.maildir, MESSAGES)
    home = tmp_path / "profile"
    profile = make_profile(home, dovecot_server.host, dovecot_server.port, imap_user.name, imap_user.password)
    sync(profile)
    archive_inbox(profile)
    batches = pending_actions(profile.store_file)
    assert batches == 3

    env = dict(os.environ)
    if moment == "paused":
        env[PAUSE_VARIABLE] = "2"
        reached = lambda count: count >= 2 * MESSAGES_PER_ACTION  # noqa: E731 - a one-line condition
    else:
        env.pop(PAUSE_VARIABLE, None)
        reached = lambda count: count > 0  # noqa: E731 - a one-line condition
    child = sync_child(home, env)
    code, moved_at_kill = wait_and_kill(child, direct_client, reached)

    assert code is None, "the child ended before the kill"
    assert 0 < moved_at_kill < MESSAGES
    left = pending_actions(profile.store_file)
    assert 0 < left <= batches
    if moment == "paused":
        # The server has two batches, but the store recorded only the first.
        assert moved_at_kill == 2 * MESSAGES_PER_ACTION
        assert left == batches - 1

    final = subprocess.run([sys.executable, "-m", "desktop", "--home", str(home), "sync", "--quiet"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FINAL_TIMEOUT_SECONDS)

    assert final.returncode == 0, final.stderr
    archived = server_message_ids(direct_client, "Archive")
    assert set(archived) == expected_ids(range(MESSAGES))
    assert set(archived.values()) == {1}
    assert server_message_ids(direct_client, "INBOX") == Counter()
    assert pending_actions(profile.store_file) == 0
    assert stored_message_ids(profile, "Archive") == expected_ids(range(MESSAGES))
    assert stored_message_ids(profile, "INBOX") == set()
    with Store(profile.store_file) as store:
        archive = store.folder_by_name(ACCOUNT, "Archive")
        uids = [row.uid for row in store.messages(store.message_ids([archive.id]))]
    assert len(uids) == MESSAGES
    assert min(uids) > 0
