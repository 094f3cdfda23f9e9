"""Snoozing in the store: schema 6, snooze and wake through the journal, undo, and message identity."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.mail.parse import parse_summary
from desktop.paths import default_profile
from desktop.snooze import SNOOZED_KEYWORD, ensure_snooze_folders, snooze_choices
from desktop.store import SEEN, NewMessage, Store
from desktop.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.core.test_journal import add_account, add_message, make_raw


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as opened:
        yield opened


@pytest.fixture
def folders(store):
    found = add_account(store, "work", "imap")
    found["Snoozed"] = store.upsert_folder(store.account_id("work"), "Snoozed")
    store.set_uidvalidity(found["Snoozed"], 7)
    return found


def soon(seconds: float = 3600) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def journal(store: Store) -> list[tuple[str, int, dict]]:
    rows = store._db.execute("SELECT kind, folder_id, payload FROM actions WHERE state = 'pending' ORDER BY id")
    return [(kind, folder_id, json.loads(payload)) for kind, folder_id, payload in rows]


def snooze(store: Store, ids: list[int], folders: dict[str, int], seconds: float = 3600):
    return store.snooze_messages(ids, soon(seconds), {"work": folders["Snoozed"]}, "Snoozed for a test")


def test_version_5_store_migrates_to_6(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:5], start=1):
            db.executescript(script + f"PRAGMA user_version = {number};")
        db.execute("INSERT INTO accounts (id, name) VALUES (1, 'work')")
        db.execute("INSERT INTO folders (id, account_id, name) VALUES (1, 1, 'INBOX')")
        db.execute("INSERT INTO messages (folder_id, uid, subject) VALUES (1, 7, 'kept')")

    with Store(path) as store:
        assert SCHEMA_VERSION == 6
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == 6
        (row,) = store.messages(store.message_ids([1]))
        assert row.subject == "kept"
        assert store.snoozes() == []
        assert store.next_wake() is None


def test_snooze_moves_to_snoozed_with_keyword(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget", flags=(SEEN,))

    result = snooze(store, [message], folders)

    assert (result.snoozed, result.rescheduled) == (1, 0)
    row = store.message(message)
    assert row.folder_id == folders["Snoozed"]
    assert SNOOZED_KEYWORD in row.flags
    kinds = [(kind, folder_id) for kind, folder_id, _payload in journal(store)]
    assert kinds == [("flags", folders["INBOX"]), ("move", folders["INBOX"])]
    assert journal(store)[0][2]["add"] == [SNOOZED_KEYWORD]
    (entry,) = store.snoozes()
    assert (entry.account, entry.message, entry.message_id) == ("work", message, "Budget@example.com")
    assert (entry.return_folder_id, entry.return_folder) == (folders["INBOX"], "INBOX")
    assert entry.bulk_id == result.bulk_id
    assert store.snoozed_messages()[0][1].id == message


def test_wake_moves_back_unread_without_keyword(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget", flags=(SEEN,))
    later = add_message(store, folders["INBOX"], 6, "Later", flags=(SEEN,))
    snooze(store, [message], folders, seconds=60)
    snooze(store, [later], folders, seconds=7200)

    assert store.wake_snoozes(now=time.time() + 1).woken == []
    result = store.wake_snoozes(now=time.time() + 120)

    assert result.woken == [message]
    assert result.dropped == []
    row = store.message(message)
    assert row.folder_id == folders["INBOX"]
    assert SNOOZED_KEYWORD not in row.flags
    assert SEEN not in row.flags
    assert [entry.message for entry in store.snoozes()] == [later]
    assert store.message(later).folder_id == folders["Snoozed"]
    assert store.wake_snoozes(now=time.time() + 120).woken == [], "a woken message wakes once"


def test_wake_journals_flags_then_move(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget")
    snooze(store, [message], folders, seconds=60)
    store._db.execute("UPDATE actions SET state = 'done'")

    store.wake_snoozes(now=time.time() + 120)

    (flags, move) = journal(store)
    assert (flags[0], flags[1]) == ("flags", folders["Snoozed"])
    assert flags[2]["remove"] == sorted([SEEN, SNOOZED_KEYWORD])
    assert (move[0], move[1], move[2]["target"]) == ("move", folders["Snoozed"], folders["INBOX"])


def test_undo_restores_and_wake_drops_entry(store, folders, caplog):
    message = add_message(store, folders["INBOX"], 5, "Budget", flags=(SEEN,))
    snooze(store, [message], folders, seconds=60)

    undone = store.undo_last()

    assert undone is not None and undone.bulk.kind == "snooze"
    assert undone.moved_back == 1
    row = store.message(message)
    assert row.folder_id == folders["INBOX"]
    assert SNOOZED_KEYWORD not in row.flags
    assert store.snoozed_messages() == []
    with caplog.at_level(logging.INFO, logger="desktop.store.snooze"):
        result = store.wake_snoozes(now=time.time() + 120)
    assert result.woken == []
    assert len(result.dropped) == 1
    assert "it is in INBOX now" in result.dropped[0]
    assert "dropped from the snooze list" in caplog.text
    assert SEEN in store.message(message).flags, "an undone snooze is not marked unread at its old wake time"
    assert store.snoozes() == []


def test_message_fetched_again_wakes_by_message_id(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget")
    add_message(store, folders["INBOX"], 6, "Newer")
    snooze(store, [message], folders, seconds=60)
    # Sync drops a row whose placeholder found no UID and fetches the message again under a new id.
    store._db.execute("DELETE FROM messages WHERE id = ?", (message,))
    raw = make_raw("Budget", "<Budget@example.com>")
    (again,) = store.insert_messages(folders["Snoozed"], [NewMessage(40, [SNOOZED_KEYWORD], len(raw), raw, parse_summary(raw))])

    result = store.wake_snoozes(now=time.time() + 120)

    assert again != message
    assert result.woken == [again]
    assert store.message(again).folder_id == folders["INBOX"]


def test_reused_row_id_is_not_woken(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget")
    snooze(store, [message], folders, seconds=60)
    store._db.execute("DELETE FROM messages WHERE id = ?", (message,))
    store._db.execute(
        "INSERT INTO messages (id, folder_id, uid, message_id, subject) VALUES (?, ?, 41, 'other@example.com', 'Other')",
        (message, folders["Snoozed"]),
    )

    result = store.wake_snoozes(now=time.time() + 120)

    assert result.woken == []
    assert "no longer in the Snoozed folder" in result.dropped[0]
    assert store.message(message).folder_id == folders["Snoozed"]


def test_message_moved_elsewhere_is_dropped_once(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget")
    snooze(store, [message], folders, seconds=60)
    store.move_messages([message], folders["Archive"])

    first = store.wake_snoozes(now=time.time() + 120)
    second = store.wake_snoozes(now=time.time() + 120)

    assert first.woken == []
    assert len(first.dropped) == 1
    assert second.woken == []
    assert second.dropped == []
    assert store.message(message).folder_id == folders["Archive"]


def test_gone_return_folder_wakes_into_inbox(store, folders):
    account_id = store.account_id("work")
    projects = store.upsert_folder(account_id, "Projects")
    message = add_message(store, projects, 5, "Budget")
    snooze(store, [message], folders, seconds=60)
    store.delete_folder(projects)

    result = store.wake_snoozes(now=time.time() + 120)

    assert result.woken == [message]
    assert store.message(message).folder_id == folders["INBOX"]


def test_snoozed_message_gets_new_time(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget")
    snooze(store, [message], folders, seconds=60)

    result = snooze(store, [message], folders, seconds=7200)

    assert (result.snoozed, result.rescheduled) == (0, 1)
    (entry,) = store.snoozes()
    assert entry.wake_at.timestamp() > time.time() + 3600
    assert entry.return_folder == "INBOX"
    assert store.wake_snoozes(now=time.time() + 120).woken == []


def test_snooze_rejects_past_time_and_missing_folder(store, folders):
    message = add_message(store, folders["INBOX"], 5, "Budget")

    with pytest.raises(ValueError, match="not in the future"):
        store.snooze_messages([message], soon(-60), {"work": folders["Snoozed"]}, "past")
    with pytest.raises(ValueError, match="No Snoozed folder given for account"):
        store.snooze_messages([message], soon(), {}, "missing")
    assert store.message(message).folder_id == folders["INBOX"]
    assert store.snoozes() == []


def test_choices_on_a_wednesday_morning():
    wednesday = datetime(2026, 12, 2, 10, 20).astimezone()

    choices = {choice.name: choice for choice in snooze_choices(wednesday)}

    assert list(choices) == ["later-today", "tomorrow", "weekend", "next-week"]
    assert choices["later-today"].wake_at.replace(tzinfo=None) == datetime(2026, 12, 2, 14, 0)
    assert choices["tomorrow"].wake_at.replace(tzinfo=None) == datetime(2026, 12, 3, 8, 0)
    assert choices["weekend"].wake_at.replace(tzinfo=None) == datetime(2026, 12, 5, 8, 0)
    assert not choices["weekend"].next_weekend
    assert choices["next-week"].wake_at.replace(tzinfo=None) == datetime(2026, 12, 7, 8, 0)


def test_choices_late_on_a_saturday():
    saturday = datetime(2026, 12, 5, 22, 0).astimezone()

    choices = {choice.name: choice for choice in snooze_choices(saturday)}

    assert "later-today" not in choices
    assert choices["weekend"].wake_at.replace(tzinfo=None) == datetime(2026, 12, 12, 8, 0)
    assert choices["weekend"].next_weekend
    assert choices["next-week"].wake_at.replace(tzinfo=None) == datetime(2026, 12, 7, 8, 0)


def test_local_account_gets_snoozed_folder():
    profile = default_profile()
    with Store(profile.store_file) as store:
        store.upsert_folder(store.ensure_account("home", "local"), "INBOX")

    first = ensure_snooze_folders(profile, ["home"])
    second = ensure_snooze_folders(profile, ["home"])

    assert first == second
    with Store(profile.store_file) as store:
        assert store.folder(first["home"]).name == "Snoozed"


def test_cli_add_list_and_wake(capsys):
    profile = default_profile()
    with Store(profile.store_file) as store:
        inbox = store.upsert_folder(store.ensure_account("home", "local"), "INBOX")
        message = add_message(store, inbox, 1, "Budget", flags=(SEEN,))

    assert main(["snooze", "add", "<Budget@example.com>", "--until", "2999-01-01 08:00"]) == 0
    assert "Snoozed 1 message until 2999-01-01 08:00;" in capsys.readouterr().out
    assert main(["snooze", "list"]) == 0
    listed = capsys.readouterr().out
    assert "2999-01-01 08:00\thome\tINBOX\tBudget" in listed
    assert main(["snooze", "wake"]) == 0
    assert "Woke 0 snoozed messages;" in capsys.readouterr().out
    assert main(["snooze", "wake", "--all"]) == 0
    assert "Woke 1 snoozed message;" in capsys.readouterr().out
    with Store(profile.store_file) as store:
        row = store.message(message)
        assert row.folder == "INBOX"
        assert SEEN not in row.flags
        assert SNOOZED_KEYWORD not in row.flags


def test_cli_rejects_bad_time_and_unknown_id(capsys):
    assert main(["snooze", "add", "<x@example.com>", "--until", "soon"]) == 2
    assert "invalid time 'soon'; use 'YYYY-MM-DD HH:MM'" in capsys.readouterr().err
    assert main(["snooze", "add", "<x@example.com>", "--until", "tomorrow"]) == 1
    assert "no stored message has Message-ID '<x@example.com>'" in capsys.readouterr().err
