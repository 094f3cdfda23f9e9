"""Threads in the store: persisted, updated as mail arrives, equal to a full rethreading."""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from desktop.demo import import_messages
from desktop.mail.parse import parse_summary
from desktop.mailgen import generate
from desktop.store import NewMessage, Store
from desktop.store.schema import MIGRATIONS

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def mail(uid: int, message_id: str, subject: str, *, references: str = "", hours: int = 0) -> NewMessage:
    lines = [
        "From: Ana Lima <ana@example.com>",
        f"Subject: {subject}",
        f"Date: {(START + timedelta(hours=hours)).strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <{message_id}>",
    ]
    if references:
        lines.append("References: " + " ".join(f"<{value}>" for value in references.split()))
        lines.append(f"In-Reply-To: <{references.split()[-1]}>")
    raw = ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode()
    return NewMessage(uid=uid, flags=[], size=len(raw), raw=raw, summary=parse_summary(raw))


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store.sqlite3") as opened:
        yield opened


@pytest.fixture
def folders(store):
    account_id = store.ensure_account("work", "imap")
    return store.upsert_folder(account_id, "INBOX"), store.upsert_folder(account_id, "Sent")


def thread_of(store: Store, message_ids: list[int]) -> list[int | None]:
    found = store.thread_ids(message_ids)
    return [found.get(message_id) for message_id in message_ids]


def partition(store: Store) -> set[frozenset[int]]:
    """Return the stored threads as sets of message ids."""
    members: dict[int, set[int]] = {}
    for message_id, thread_id in store._db.execute("SELECT id, thread_id FROM messages"):
        members.setdefault(thread_id, set()).add(message_id)
    return {frozenset(ids) for ids in members.values()}


def test_new_mail_starts_unthreaded(store, folders):
    inbox, _sent = folders
    store.insert_messages(inbox, [mail(1, "a@x", "Budget for the autumn fair")])

    assert store.unthreaded_count() == 1
    assert store.update_threads() == 1
    assert store.unthreaded_count() == 0
    assert store.update_threads() == 0


def test_reply_before_parent_joins_it(store, folders):
    inbox, _sent = folders
    [reply] = store.insert_messages(inbox, [mail(2, "b@x", "Re: Budget", references="a@x", hours=2)])
    [other] = store.insert_messages(inbox, [mail(3, "z@x", "Train tickets to Lyon", hours=1)])
    store.update_threads()
    reply_thread, other_thread = thread_of(store, [reply, other])
    assert reply_thread != other_thread

    [parent] = store.insert_messages(inbox, [mail(1, "a@x", "Budget")])
    store.update_threads()

    assert thread_of(store, [parent, reply, other]) == [reply_thread, reply_thread, other_thread]


def test_bridging_message_merges_threads(store, folders):
    inbox, _sent = folders
    first = store.insert_messages(inbox, [mail(1, "a@x", "Plans"), mail(2, "b@x", "Re: Plans", references="a@x", hours=1),
                                          mail(3, "c@x", "Re: Plans", references="a@x b@x", hours=2)])
    [orphan] = store.insert_messages(inbox, [mail(4, "d@x", "Re: Plans", references="x@x", hours=3)])
    store.update_threads()
    big_thread = thread_of(store, first)[0]
    assert thread_of(store, first) == [big_thread] * 3
    assert thread_of(store, [orphan])[0] != big_thread
    orphan_thread = thread_of(store, [orphan])[0]

    # x@x turns out to be a reply to c@x, which ties the orphan to the big thread.
    [bridge] = store.insert_messages(inbox, [mail(5, "x@x", "Re: Plans", references="a@x b@x c@x", hours=2)])
    store.update_threads()

    assert thread_of(store, [*first, orphan, bridge]) == [big_thread] * 5
    remaining = {row[0] for row in store._db.execute("SELECT id FROM threads")}
    assert orphan_thread not in remaining
    keys = store._db.execute("SELECT COUNT(*) FROM thread_keys WHERE thread_id = ?", (orphan_thread,)).fetchone()[0]
    assert keys == 0


def test_threads_span_folders(store, folders):
    inbox, sent = folders
    [question] = store.insert_messages(inbox, [mail(1, "a@x", "Plans for the offsite")])
    [answer] = store.insert_messages(sent, [mail(1, "b@x", "Re: Plans for the offsite", references="a@x", hours=1)])
    [follow_up] = store.insert_messages(inbox, [mail(2, "c@x", "Re: Plans for the offsite", references="a@x b@x", hours=2)])

    assert len(set(thread_of(store, [question, answer, follow_up]))) == 1
    assert store.thread_message_ids(inbox, question) == [follow_up, question]
    assert store.thread_message_ids([inbox, sent], follow_up) == [follow_up, answer, question]
    assert store.thread_message_ids(sent, store.message(question)) == [answer]
    assert store.thread_message_ids(inbox, 999_999) == []


def test_pending_mail_threaded_but_hidden(store, folders):
    inbox, _sent = folders
    [first] = store.insert_messages(inbox, [mail(1, "a@x", "Plans for the offsite")])
    [pending] = store.insert_messages(inbox, [mail(2, "b@x", "Re: Plans", references="a@x", hours=1)], rules_pending=True)

    assert thread_of(store, [first])[0] == thread_of(store, [pending])[0]
    assert store.thread_message_ids(inbox, first) == [first]


def test_accounts_never_share_threads(store):
    work = store.upsert_folder(store.ensure_account("work"), "INBOX")
    home = store.upsert_folder(store.ensure_account("home"), "INBOX")
    [at_work] = store.insert_messages(work, [mail(1, "a@x", "Plans for the offsite")])
    [at_home] = store.insert_messages(home, [mail(1, "b@x", "Re: Plans", references="a@x", hours=1)])

    first, second = thread_of(store, [at_work, at_home])

    assert first != second


def test_threads_survive_reopening(tmp_path):
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        inbox = store.upsert_folder(store.ensure_account("work"), "INBOX")
        ids = store.insert_messages(inbox, [mail(1, "a@x", "Plans"), mail(2, "b@x", "Re: Plans", references="a@x")])
        before = thread_of(store, ids)

    with Store(path) as store:
        assert store.unthreaded_count() == 0
        assert thread_of(store, ids) == before
        assert store.update_threads() == 0


def test_upgraded_store_threads_old_mail(tmp_path):
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:4], start=1):
        db.executescript(script + f"PRAGMA user_version = {number};")
    db.execute("INSERT INTO accounts (id, name) VALUES (1, 'work')")
    db.execute("INSERT INTO folders (id, account_id, name) VALUES (1, 1, 'INBOX')")
    db.execute("INSERT INTO messages (id, folder_id, uid, message_id, subject, date) VALUES (1, 1, 1, 'a@x', 'Plans', 1)")
    db.execute("INSERT INTO messages (id, folder_id, uid, message_id, refs, in_reply_to, subject, date) "
               "VALUES (2, 1, 2, 'b@x', 'a@x', 'a@x', 'Re: Plans', 2)")
    db.commit()
    db.close()

    with Store(path) as store:
        assert store.unthreaded_count() == 2
        first, second = thread_of(store, [1, 2])

    assert first is not None
    assert first == second


def test_incremental_equals_full_rebuild(store):
    messages = list(generate(1500, seed=5))
    random.Random(3).shuffle(messages)
    for start in range(0, len(messages), 100):
        import_messages(store, "demo", messages[start : start + 100])
        store.update_threads()
    incremental = partition(store)
    assert len(incremental) < 1500 - 100

    store.rebuild_threads()

    assert partition(store) == incremental
    assert store.unthreaded_count() == 0


def test_deleted_message_keeps_thread(store, folders):
    inbox, _sent = folders
    ids = store.insert_messages(inbox, [mail(1, "a@x", "Plans"), mail(2, "b@x", "Re: Plans", references="a@x", hours=1)])
    thread = thread_of(store, ids)[0]
    store.delete_uids(inbox, [1])

    [late] = store.insert_messages(inbox, [mail(3, "c@x", "Re: Plans", references="a@x", hours=2)])

    assert thread_of(store, [ids[1], late]) == [thread, thread]


@pytest.mark.parametrize("seed", range(4))
def test_tangled_references_incremental_equals_full(store, folders, seed):
    # Few ids, random References and a few subjects: many loops, conflicting parents and subject groups.
    inbox, _sent = folders
    rng = random.Random(seed)
    pool = [f"m{index}@x" for index in range(60)]
    subjects = ["Plans for the offsite", "Re: Plans for the offsite", "Fwd: Plans for the offsite", "Hello"]
    batch: list[NewMessage] = []
    for uid in range(1, 161):
        references = " ".join(rng.sample(pool, rng.randint(0, 3))) if rng.random() < 0.6 else ""
        batch.append(mail(uid, rng.choice(pool), rng.choice(subjects), references=references, hours=rng.randint(0, 2000)))
        if len(batch) == rng.randint(1, 12):
            store.insert_messages(inbox, batch)
            store.update_threads()
            batch = []
    store.insert_messages(inbox, batch)
    store.update_threads()
    incremental = partition(store)

    store.rebuild_threads()

    assert partition(store) == incremental


@pytest.mark.parametrize("seed", range(6))
def test_subject_groups_incremental_equal_full(store, folders, seed):
    # Mostly mail without references, so subject grouping decides; a few References tie candidates under parents.
    inbox, _sent = folders
    rng = random.Random(100 + seed)
    subjects = ["Offsite agenda for March", "Re: Offsite agenda for March", "Fwd: Offsite agenda for March",
                "Security alert for your account", "Re: Security alert for your account"]
    uids = iter(range(1, 10_000))
    pending: list[NewMessage] = []
    for number in range(150):
        references = f"m{rng.randrange(number)}@x" if number and rng.random() < 0.1 else ""
        pending.append(mail(next(uids), f"m{number}@x", rng.choice(subjects), references=references,
                            hours=rng.randint(0, 24 * 90)))
        if rng.random() < 0.3:
            store.insert_messages(inbox, pending)
            store.update_threads()
            pending = []
    store.insert_messages(inbox, pending)
    store.update_threads()
    incremental = partition(store)

    store.rebuild_threads()

    assert partition(store) == incremental
