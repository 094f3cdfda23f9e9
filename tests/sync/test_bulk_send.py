"""Sending a bulk archive in batches: progress, cancel with local withdrawal, and undo of the sent part.

Runs against the private Dovecot: the INBOX is written straight into the
Maildir, synced into a profile, archived there, and sent with
``send_journal``. A separate IMAP connection reads the server's folders
back by Message-ID.
"""

from __future__ import annotations

import shlex
import time
from collections import Counter
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.config import Account, Config, save_config
from desktop.paths import Profile, profile_at
from desktop.store import Store
from desktop.store.journal import MESSAGES_PER_ACTION
from desktop.sync.actions import SendProgress, send_journal
from desktop.sync.service import CancelToken, sync_profile
from tests.helpers.dovecot import write_maildir_message

pytestmark = pytest.mark.dovecot

ACCOUNT = "bulk"
FETCH_CHUNK = 2000


def bulk_message(number: int) -> bytes:
    """Return a small message whose Message-ID and subject carry ``number``."""
    return (
        f"From: Sender {number % 50} <sender{number % 50}@example.org>\r\n"
        "To: reader@example.org\r\n"
        f"Subject: Weekly report {number}\r\n"
        f"Date: Mon, 07 Dec 2026 {number // 3600 % 24:02d}:{number // 60 % 60:02d}:{number % 60:02d} +0000\r\n"
        f"Message-ID: <bulk-{number}@example.org>\r\n"
        "\r\n"
        f"Report number {number}.\r\n"
    ).encode()


def fill_inbox(maildir: Path, count: int) -> None:
    """Write ``count`` small messages into the INBOX of a test user's Maildir."""
    base = time.time() - count
    for number in range(count):
        write_maildir_message(maildir, "INBOX", bulk_message(number), when=base + number)


def make_profile(home: Path, host: str, port: int, user: str, password: str, *, offline: bool = False) -> Profile:
    """Create a profile with one IMAP account on the test server; headers only unless ``offline``."""
    profile = profile_at(home).ensure()
    account = Account(name=ACCOUNT, imap_host=host, imap_port=port, security="none", user=user,
                      password_command=f"printf %s {shlex.quote(password)}", offline=offline)
    save_config(Config(accounts={ACCOUNT: account}), profile.config_file)
    return profile


def sync(profile: Profile) -> None:
    steps = list(sync_profile(profile))
    errors = [step.text for step in steps if getattr(step, "phase", "") == "error"]
    assert errors == []


def archive_inbox(profile: Profile) -> tuple[int, list[int]]:
    """Archive every INBOX message as one bulk action, as the window does; return (bulk id, message ids)."""
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        archive = store.folder_by_name(ACCOUNT, "Archive")
        ids = store.message_ids([inbox.id])
        rows = store.messages(ids)
        with store.transaction():
            bulk_id = store.begin_bulk("archive", f"Archived {len(ids)} messages", rows)
            moved = store.move_messages(ids, archive.id)
            store.finish_bulk(bulk_id, {"archived": moved})
    return bulk_id, ids


def server_message_ids(client: IMAPClient, folder: str) -> Counter[str]:
    """Return how often each Message-ID is in ``folder`` on the server."""
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    found: Counter[str] = Counter()
    for start in range(0, len(uids), FETCH_CHUNK):
        response = client.fetch(uids[start : start + FETCH_CHUNK], [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        for data in response.values():
            header = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
            found[header.split(":", 1)[1].strip()] += 1
    return found


def stored_message_ids(profile: Profile, folder: str) -> set[str]:
    with Store(profile.store_file) as store:
        row = store.folder_by_name(ACCOUNT, folder)
        # The store keeps Message-IDs without angle brackets.
        return {f"<{message.message_id}>" for message in store.messages(store.message_ids([row.id]))}


def expected_ids(numbers) -> set[str]:
    return {f"<bulk-{number}@example.org>" for number in numbers}


def pending_count(profile: Profile) -> int:
    with Store(profile.store_file) as store:
        return sum(len(store.pending_actions(row.id)) for row in store.accounts())


@pytest.fixture
def profile(tmp_path: Path, imap_user, dovecot_server) -> Profile:
    return make_profile(tmp_path / "profile", dovecot_server.host, dovecot_server.port, imap_user.name, imap_user.password)


def test_send_reports_each_batch(profile: Profile, imap_user, direct_client) -> None:
    count = 2 * MESSAGES_PER_ACTION + 300
    fill_inbox(imap_user.maildir, count)
    sync(profile)
    archive_inbox(profile)

    steps = list(send_journal(profile, CancelToken()))

    assert [step.done for step in steps if step.phase == "sending"] == [MESSAGES_PER_ACTION, 2 * MESSAGES_PER_ACTION, count]
    assert {step.total for step in steps} == {count}
    assert steps[-1] == SendProgress("", count, count, "sent")
    assert server_message_ids(direct_client, "Archive") == Counter(expected_ids(range(count)))
    assert server_message_ids(direct_client, "INBOX") == Counter()
    assert pending_count(profile) == 0


def test_cancel_withdraws_unsent_batches(profile: Profile, imap_user, direct_client) -> None:
    count = 3 * MESSAGES_PER_ACTION
    fill_inbox(imap_user.maildir, count)
    sync(profile)
    bulk_id, _ids = archive_inbox(profile)
    with Store(profile.store_file) as store:
        action_ids = [action[0] for action in store.pending_actions(store.account_id(ACCOUNT))]

    cancel = CancelToken()
    steps = []
    for step in send_journal(profile, cancel):
        steps.append(step)
        if step.phase == "sending" and step.done == MESSAGES_PER_ACTION:
            cancel.cancel()
    with Store(profile.store_file) as store:
        withdrawal = store.withdraw_actions(action_ids)

    assert steps[-1].phase == "cancelled"
    assert steps[-1].done == MESSAGES_PER_ACTION
    assert (withdrawal.actions, withdrawal.messages, withdrawal.kept) == (2, 2 * MESSAGES_PER_ACTION, 0)
    on_server = server_message_ids(direct_client, "Archive")
    left_on_server = server_message_ids(direct_client, "INBOX")
    assert sum(on_server.values()) == MESSAGES_PER_ACTION
    assert set(on_server.values()) == {1}
    assert set(on_server) | set(left_on_server) == expected_ids(range(count))
    assert not set(on_server) & set(left_on_server)
    # The store agrees with the server folder by folder.
    assert stored_message_ids(profile, "Archive") == set(on_server)
    assert stored_message_ids(profile, "INBOX") == set(left_on_server)
    assert pending_count(profile) == 0
    with Store(profile.store_file) as store:
        assert store.bulk_record(bulk_id).messages == MESSAGES_PER_ACTION

    with Store(profile.store_file) as store:
        undone = store.undo_last()
    assert undone.bulk.id == bulk_id
    assert (undone.restored, undone.skipped) == (MESSAGES_PER_ACTION, [])
    list(send_journal(profile, CancelToken()))
    assert server_message_ids(direct_client, "Archive") == Counter()
    assert server_message_ids(direct_client, "INBOX") == Counter(expected_ids(range(count)))
    sync(profile)
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(count))


def test_cancel_of_whole_bulk_skips_it_in_undo(profile: Profile, imap_user, direct_client) -> None:
    fill_inbox(imap_user.maildir, 30)
    sync(profile)
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        first = store.message_ids([inbox.id])[:5]
        rows = store.messages(first)
        with store.transaction():
            earlier = store.begin_bulk("flags", "Starred 5 messages", rows)
            store.change_flags(first, add=["\\Flagged"])
            store.finish_bulk(earlier, {"changed": 5})
    list(send_journal(profile, CancelToken()))
    bulk_id, _ids = archive_inbox(profile)

    with Store(profile.store_file) as store:
        pending = [action[0] for action in store.pending_actions(store.account_id(ACCOUNT))]
        store.withdraw_actions(pending)
        record = store.bulk_record(bulk_id)
        undone = store.undo_last()

    assert record.undone is not None
    assert undone.bulk.id == earlier
    assert undone.flags_restored == 5
    assert server_message_ids(direct_client, "Archive") == Counter()
    assert stored_message_ids(profile, "INBOX") == expected_ids(range(30))


def test_withdraw_reverses_unsent_flag_change(profile: Profile, imap_user, direct_client) -> None:
    fill_inbox(imap_user.maildir, 40)
    sync(profile)
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(ACCOUNT, "INBOX")
        ids = store.message_ids([inbox.id])
        store.change_flags(ids, add=["\\Seen"])
        pending = [action[0] for action in store.pending_actions(store.account_id(ACCOUNT))]
        withdrawal = store.withdraw_actions(pending)
        seen = [row.seen for row in store.messages(ids)]

    assert withdrawal.messages == 40
    assert seen == [False] * 40
    direct_client.select_folder("INBOX", readonly=True)
    assert direct_client.search(["SEEN"]) == []
    assert pending_count(profile) == 0
