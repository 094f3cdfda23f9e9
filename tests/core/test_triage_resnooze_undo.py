"""Undo of a snooze that only moved a snoozed message's wake time sets the earlier time back."""

from __future__ import annotations

import time

from desktop.snooze import SNOOZED_KEYWORD
from desktop.store import Store
from tests.core.test_journal import add_message
from tests.core.test_snooze_store import folders, snooze, store  # noqa: F401 - fixtures


def test_undo_resnooze_restores_wake_time(store: Store, folders) -> None:
    message = add_message(store, folders["INBOX"], 5, "Budget")
    first = snooze(store, [message], folders, seconds=600)
    (entry,) = store.snoozes()
    earlier = entry.wake_at

    again = snooze(store, [message], folders, seconds=7200)
    assert again.rescheduled == 1
    assert store.snoozes()[0].wake_at.timestamp() > time.time() + 3600

    result = store.undo_last()

    assert result is not None
    assert result.bulk.id == again.bulk_id
    (entry,) = store.snoozes()
    assert entry.wake_at == earlier
    assert entry.bulk_id == first.bulk_id
    row = store.message(message)
    assert row.folder_id == folders["Snoozed"]
    assert SNOOZED_KEYWORD in row.flags


def test_undo_of_first_snooze_after_resnooze(store: Store, folders) -> None:
    message = add_message(store, folders["INBOX"], 5, "Budget")
    snooze(store, [message], folders, seconds=600)
    snooze(store, [message], folders, seconds=7200)

    store.undo_last()
    store.undo_last()

    row = store.message(message)
    assert row.folder_id == folders["INBOX"]
    assert SNOOZED_KEYWORD not in row.flags
    # The entry stays until it is due and is dropped then, because the message left the Snoozed folder.
    assert store.wake_snoozes(now=time.time() + 700).woken == []


def test_undo_twice_steps_back_through_times(store: Store, folders) -> None:
    message = add_message(store, folders["INBOX"], 5, "Budget")
    first = snooze(store, [message], folders, seconds=600)
    first_wake = store.snoozes()[0].wake_at
    second = snooze(store, [message], folders, seconds=7200)
    second_wake = store.snoozes()[0].wake_at
    snooze(store, [message], folders, seconds=9000)

    store.undo_last()
    (entry,) = store.snoozes()
    assert (entry.wake_at, entry.bulk_id) == (second_wake, second.bulk_id)

    store.undo_last()
    (entry,) = store.snoozes()
    assert (entry.wake_at, entry.bulk_id) == (first_wake, first.bulk_id)


def test_undo_resnooze_of_unlisted_message(store: Store, folders) -> None:
    # Another mail client put this message into the Snoozed folder, so it has no entry before the snooze.
    message = add_message(store, folders["Snoozed"], 9, "Moved by another client")

    snooze(store, [message], folders, seconds=7200)
    assert len(store.snoozes()) == 1

    store.undo_last()

    assert store.snoozes() == []
    assert store.message(message).folder_id == folders["Snoozed"]
