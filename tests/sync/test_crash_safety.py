"""A sync killed at any point loses nothing and stores nothing twice once it is run again.

The kill test runs ``sluice sync`` as a child process against a real Dovecot and
sends it SIGKILL at points drawn from a seeded random generator: while messages
are being fetched (once the store contains a random number more of them), while
the index is being updated (a random moment after the child prints that it
started), and after a random delay, which also lands in connecting, listing
folders and syncing flags.

Between the later runs the server gets new mail, flag changes and expunges, so
those runs have every kind of work to die in. A last sync then runs to
completion, and the store and the index must match the server exactly.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.paths import Profile, profile_at
from desktop.store import Store
from desktop.sync.service import CancelToken, sync_profile
from tests.helpers.mailbox_state import fill_maildir, profile_problems

pytestmark = pytest.mark.dovecot

MESSAGES = 2000
SEED = 20261204
TRIGGERS = ("stored", "stored", "indexing", "delay", "stored", "indexing", "delay", "delay")
"""What each killed run waits for before the random delay: more stored messages, the index update, or nothing."""
CHANGED_FROM_RUN = 3
"""From this run on, the server's INBOX changes before each run."""
NEW_PER_RUN = 300
FLAGS_CHANGED_PER_RUN = 40
EXPUNGED_PER_RUN = 15
POLL_SECONDS = 0.01
RUN_TIMEOUT_SECONDS = 120.0
FINAL_TIMEOUT_SECONDS = 300.0
ACCOUNT = "crash"


@dataclass
class KillRecord:
    """What one killed run had done when it died."""

    run: int
    trigger: str
    on_server: int
    stored: int
    index_backlog: int
    exit_code: int | None


def add_account(home: Path, host: str, port: int, user: str, password: str) -> Profile:
    """Add the account through the CLI, with a password command so the child needs no keyring."""
    code = main([
        "--home", str(home), "account", "add", ACCOUNT, "--imap-host", host, "--imap-port", str(port),
        "--security", "none", "--user", user, "--password-command", f"printf %s {password}",
    ])
    assert code == 0
    return profile_at(home)


def sync_command(home: Path, *, quiet: bool = True) -> list[str]:
    return [sys.executable, "-m", "desktop", "--home", str(home), "sync", *(["--quiet"] if quiet else [])]


def store_progress(store_file: Path) -> tuple[int, int]:
    """Return (messages stored, index changes queued), or (0, 0) before the store exists."""
    if not store_file.exists():
        return 0, 0
    connection = sqlite3.connect(store_file, timeout=5)
    try:
        stored = connection.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        backlog = connection.execute("SELECT COUNT(*) FROM index_queue").fetchone()[0]
        return stored, backlog
    except sqlite3.OperationalError:
        # The child has not created the tables yet.
        return 0, 0
    finally:
        connection.close()


class SyncChild:
    """A ``sluice sync`` child process whose progress lines are collected by a thread."""

    def __init__(self, home: Path) -> None:
        # A session of its own lets the test end helper processes that outlive a killed child.
        self.process = subprocess.Popen(sync_command(home, quiet=False), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def printed(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for line in list(self.lines))

    def kill(self) -> int | None:
        """SIGKILL the child, then anything left in its session; return its exit code if it had ended by itself."""
        code = self.process.poll()
        if code is None:
            self.process.kill()
            self.process.wait(timeout=30)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # No helper process of the child is left.
        self._reader.join(timeout=30)
        self.process.stdout.close()
        return code


def wait_for_trigger(child: SyncChild, store_file: Path, reached: Callable[[SyncChild, int], bool]) -> None:
    """Return once ``reached(child, messages stored)`` is true, or the child ended."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while child.process.poll() is None and time.monotonic() < deadline:
        if reached(child, store_progress(store_file)[0]):
            return
        time.sleep(POLL_SECONDS)


def choose_trigger(rng: random.Random, kind: str, on_server: int, stored: int) -> tuple[str, Callable[[SyncChild, int], bool], float]:
    """Return a description, the condition to wait for and the delay after it, for one killed run."""
    if kind == "stored" and on_server - stored > 1:
        target = stored + rng.randint(1, on_server - stored - 1)
        delay = rng.uniform(0.0, 0.02)
        return f"stored >= {target}, then {delay:.2f} s", lambda _child, now: now >= target, delay
    if kind == "indexing":
        # Short, so the kill lands before a small backlog (a few hundred messages) is indexed.
        delay = rng.uniform(0.0, 0.15)
        return f"indexing, then {delay:.2f} s", lambda child, _now: child.printed("Indexing "), delay
    delay = rng.uniform(0.3, 3.0)
    return f"{delay:.2f} s", lambda _child, _now: True, delay


def change_server(host: str, port: int, user, rng: random.Random, run: int) -> None:
    """Flag, unflag and expunge random INBOX messages, and deliver NEW_PER_RUN new ones."""
    client = IMAPClient(host, port=port, ssl=False)
    client.login(user.name, user.password)
    try:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        changed = rng.sample(uids, FLAGS_CHANGED_PER_RUN)
        client.add_flags(changed[::2], [b"\\Flagged", b"$Triaged"])
        client.remove_flags(changed[1::2], [b"\\Seen"])
        client.delete_messages(rng.sample(uids, EXPUNGED_PER_RUN))
        client.expunge()
    finally:
        client.logout()
    fill_maildir(user.maildir, NEW_PER_RUN, seed=SEED + run, folder="INBOX")


def test_killed_sync_loses_and_duplicates_nothing(dovecot_server, imap_user, tmp_path):
    fill_maildir(imap_user.maildir, MESSAGES, seed=SEED)
    home = tmp_path / "profile"
    profile = add_account(home, dovecot_server.host, dovecot_server.port, imap_user.name, imap_user.password)
    rng = random.Random(SEED)
    records: list[KillRecord] = []

    on_server = MESSAGES
    for run, kind in enumerate(TRIGGERS):
        if run >= CHANGED_FROM_RUN:
            change_server(dovecot_server.host, dovecot_server.port, imap_user, rng, run)
            on_server += NEW_PER_RUN - EXPUNGED_PER_RUN
        trigger, reached, delay = choose_trigger(rng, kind, on_server, store_progress(profile.store_file)[0])
        child = SyncChild(home)
        wait_for_trigger(child, profile.store_file, reached)
        try:
            child.process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass  # Still running: the kill below lands where it is.
        code = child.kill()
        records.append(KillRecord(run, trigger, on_server, *store_progress(profile.store_file), code))

    final = subprocess.run(sync_command(home), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=FINAL_TIMEOUT_SECONDS)

    history = "\n".join(str(record) for record in records)
    assert final.returncode == 0, f"the sync after the kills failed:\n{final.stderr}\nkills:\n{history}"
    killed = [record for record in records if record.exit_code is None]
    assert any(0 < record.stored < record.on_server for record in killed), f"no kill landed while messages were fetched:\n{history}"
    assert any(record.trigger.startswith("indexing") and record.index_backlog for record in killed), (
        f"no kill landed while the index was being updated:\n{history}"
    )
    problems = profile_problems(profile, ACCOUNT, dovecot_server.host, dovecot_server.port, imap_user.name, imap_user.password)
    assert problems == [], "\n".join(problems[:30]) + f"\nkills:\n{history}"


def test_renumbered_folder_after_interrupted_first_sync(dovecot_server, imap_user, tmp_path):
    """A first sync that stops early must still notice when the server renumbers the folder before the next sync."""
    fill_maildir(imap_user.maildir, 1000, seed=SEED, folder="Projects")
    profile = add_account(tmp_path / "profile", dovecot_server.host, dovecot_server.port, imap_user.name, imap_user.password)
    token = CancelToken()
    for step in sync_profile(profile, cancel=token):
        if step.folder == "Projects" and step.phase == "fetch" and step.done > 0:
            token.cancel()
    with Store(profile.store_file) as store:
        partly = store.folder_by_name(ACCOUNT, "Projects").total
    assert 0 < partly < 1000

    recreate_folder(dovecot_server, imap_user, "Projects", seed=SEED + 1, count=600)
    for _step in sync_profile(profile):
        pass

    problems = profile_problems(profile, ACCOUNT, dovecot_server.host, dovecot_server.port, imap_user.name, imap_user.password)
    assert problems == [], "\n".join(problems[:30])


def recreate_folder(server, user, folder: str, *, seed: int, count: int) -> None:
    """Delete and create ``folder`` again, which gives it a new UIDVALIDITY, and fill it with other messages."""
    client = IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user.name, user.password)
    try:
        old = client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        client.delete_folder(folder)
        client.create_folder(folder)
        fill_maildir(user.maildir, count, seed=seed, folder=folder)
        assert client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"] != old
    finally:
        client.logout()
