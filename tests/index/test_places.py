"""Tests of a message's place (account and folder) in the index's side table.

A move changes only where a message is, so the store queues a "place" entry
and the index rewrites one row of its side table instead of parsing the
message again.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

from desktop import mailgen
from desktop.demo import import_messages
from desktop.index import SearchIndex
from desktop.index import builder
from desktop.index.builder import update_index
from desktop.index.query import IndexDocument
from desktop.index.whoosh_engine import FLAGS_FILE, SCHEMA_VERSION, build_schema

# The format that kept account and folder in Whoosh, before the side table had them.
PLACES_IN_WHOOSH_VERSION = 2
from desktop.mailgen import GeneratedMessage
from desktop.store import Store

MESSAGES = 40


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with generated messages in a local account, and an empty folder "Moved"."""
    with Store(tmp_path / "store.sqlite3") as opened:
        import_messages(opened, "work", mailgen.generate(MESSAGES, seed=5))
        opened.upsert_folder(opened.account_id("work"), "Moved")
        yield opened


def folder_id(store: Store, name: str) -> int:
    return next(row.id for row in store.folders("work", with_counts=False) if row.name == name)


def catch_up(store: Store, index: SearchIndex, workers: int = 0) -> None:
    for _step in update_index(store, index, workers=workers):
        pass


def queued_ops(store: Store) -> dict[int, str]:
    return {message_id: op for message_id, op, _seq in store.index_batch(store.index_backlog())}


def test_move_queues_place_not_add(store: Store, tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "index")
    catch_up(store, index)
    inbox = store.message_ids([folder_id(store, "INBOX")])
    moved = inbox[:5]

    store.move_messages(moved, folder_id(store, "Moved"))

    assert queued_ops(store) == {message_id: "place" for message_id in moved}
    index.close()


def test_moved_message_found_in_new_folder(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = SearchIndex(tmp_path / "index")
    catch_up(store, index)
    inbox = store.message_ids([folder_id(store, "INBOX")])
    moved = set(inbox[:5])
    store.move_messages(sorted(moved), folder_id(store, "Moved"))

    parsed: list[int] = []
    real_parse = builder._parse_in_process
    monkeypatch.setattr(builder, "_parse_in_process", lambda items: parsed.extend(row.id for row, _ in items) or real_parse(items))
    catch_up(store, index)

    assert parsed == []
    assert store.index_backlog() == 0
    assert set(index.search("folder:Moved", limit=None)) == moved
    assert set(index.search("folder:INBOX", limit=None)) == set(inbox) - moved
    assert set(index.search("-folder:inbox", limit=None)) == set(store.all_message_ids()) - set(inbox) | moved
    assert index.doc_count() == MESSAGES
    index.close()


def test_search_results_name_the_new_folder(store: Store, tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "index")
    catch_up(store, index)
    first = store.message_ids([folder_id(store, "INBOX")])[0]
    subject = store.message(first).subject

    store.move_messages([first], folder_id(store, "Moved"))
    catch_up(store, index)

    found = index.search(f'folder:moved subject:"{subject}"', limit=None)
    assert found == [first]
    assert [row.folder for row in store.messages(found)] == ["Moved"]
    index.close()


def test_move_keeps_text_and_flags_searchable(store: Store, tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "index")
    catch_up(store, index)
    first = store.message_ids([folder_id(store, "INBOX")])[0]
    row = store.message(first)
    word = next(part for part in row.subject.split() if part.isalpha() and len(part) > 3)

    store.change_flags([first], add=["$moved-flag"])
    store.move_messages([first], folder_id(store, "Moved"))
    assert queued_ops(store) == {first: "place"}
    catch_up(store, index)

    assert first in index.search(f"folder:moved subject:{word}", limit=None)
    assert index.search("label:$moved-flag", limit=None) == [first]
    index.close()


def test_queue_merges_place_with_other_ops(store: Store) -> None:
    inbox = store.message_ids([folder_id(store, "INBOX")])
    moved_folder = folder_id(store, "Moved")
    # Every imported message is still queued as "add", which a move keeps.
    store.move_messages([inbox[0]], moved_folder)
    assert queued_ops(store)[inbox[0]] == "add"

    store.index_done(store.index_batch(store.index_backlog()))
    store.move_messages([inbox[1]], moved_folder)
    store.change_flags([inbox[1]], add=["\\Flagged"])
    store.change_flags([inbox[2]], add=["\\Flagged"])
    store.move_messages([inbox[2]], moved_folder)

    assert queued_ops(store) == {inbox[1]: "place", inbox[2]: "place"}


def test_place_op_writes_flags_changed_before(store: Store, tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "index")
    catch_up(store, index)
    message = store.message_ids([folder_id(store, "INBOX")])[0]

    store.move_messages([message], folder_id(store, "Moved"))
    store.change_flags([message], add=["\\Flagged"])
    catch_up(store, index)

    assert message in index.search("folder:moved is:starred", limit=None)
    index.close()


def test_moves_and_adds_with_workers(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder, "BATCH", 10)
    monkeypatch.setattr(builder, "PARALLEL_BACKLOG", 20)
    index = SearchIndex(tmp_path / "index")
    catch_up(store, index)
    old = store.message_ids([folder_id(store, "INBOX")])
    moved = set(old[:15])
    store.move_messages(sorted(moved), folder_id(store, "Moved"))
    import_messages(store, "work", mailgen.generate(30, seed=6))
    new = set(store.message_ids([folder_id(store, "INBOX")])) - set(old)

    catch_up(store, index, workers=2)

    assert store.index_backlog() == 0
    assert set(index.search("folder:moved", limit=None)) == moved
    assert set(index.search("folder:inbox", limit=None)) == (set(old) - moved) | new
    assert index.doc_count() == MESSAGES + 30
    index.close()


def test_update_places_skips_unknown_ids(tmp_path: Path) -> None:
    with SearchIndex(tmp_path / "index") as index:
        index.add([_doc(1, "INBOX")])
        index.update_places([(1, "work", "Moved"), (99, "work", "Moved")])
        assert index.search("folder:moved", limit=None) == [1]
        assert index.search("folder:inbox", limit=None) == []
        assert index.doc_count() == 1


def test_accounts_filter_uses_places(tmp_path: Path) -> None:
    with SearchIndex(tmp_path / "index") as index:
        index.add([_doc(1, "INBOX", account="work"), _doc(2, "INBOX", account="home"), _doc(3, "Lists/a", account="Home")])
        assert set(index.search("", limit=None, accounts=["HOME"])) == {2, 3}
        assert set(index.search("folder:lists/*", limit=None, accounts=["home"])) == {3}
        assert set(index.search("account:ho*", limit=None)) == {2, 3}
        assert index.search("", limit=None, accounts=[]) == []


def test_large_folder_set_inverted(tmp_path: Path) -> None:
    # Most documents in one folder: the side table returns the smaller complement.
    with SearchIndex(tmp_path / "index") as index:
        index.add([_doc(number, "INBOX") for number in range(1, 31)] + [_doc(31, "Moved")])
        assert len(index.search("folder:inbox", limit=None)) == 30
        assert index.search("-folder:inbox", limit=None) == [31]
        assert index.count("folder:inbox OR folder:moved") == 31


# Migration from format 2, which kept account and folder as Whoosh terms


def _doc(message_id: int, folder: str, *, account: str = "work", flags: list[str] | None = None) -> IndexDocument:
    return IndexDocument(
        message_id=message_id, account=account, folder=folder, sender="Ana <ana@example.com>",
        recipients="bo@example.com", subject=f"Report {message_id}", body="Quarterly numbers",
        attachments=[], date=datetime(2026, 3, message_id % 28 + 1, tzinfo=UTC), flags=flags or [],
    )


def _write_format_2(path: Path, docs: list[IndexDocument]) -> None:
    """Write an index as format 2 did: account and folder as Whoosh terms, ids and flags in SQLite."""
    path.mkdir()
    created = whoosh_index.create_in(str(path), build_schema())
    writer = created.writer()
    for doc in docs:
        writer.add_document(
            message_id=doc.message_id, account=doc.account.casefold(), folder=doc.folder.casefold(),
            subject=doc.subject, body=doc.body, sender=doc.sender, has_attachment=False,
        )
    writer.commit()
    created.close()
    connection = sqlite3.connect(path / FLAGS_FILE)
    connection.executescript(
        f"""
        CREATE TABLE message (message_id INTEGER PRIMARY KEY);
        CREATE TABLE message_flag (flag TEXT NOT NULL, message_id INTEGER NOT NULL,
                                   PRIMARY KEY (flag, message_id)) WITHOUT ROWID;
        CREATE INDEX message_flag_by_message ON message_flag (message_id);
        PRAGMA user_version = {PLACES_IN_WHOOSH_VERSION};
        """
    )
    connection.executemany("INSERT INTO message (message_id) VALUES (?)", [(doc.message_id,) for doc in docs])
    connection.executemany(
        "INSERT INTO message_flag (flag, message_id) VALUES (?, ?)",
        [(flag.casefold(), doc.message_id) for doc in docs for flag in doc.flags],
    )
    connection.commit()
    connection.close()


@pytest.mark.parametrize("version", [PLACES_IN_WHOOSH_VERSION, 3])
def test_older_format_is_recreated_for_a_rebuild(tmp_path: Path, caplog: pytest.LogCaptureFixture, version: int) -> None:
    # Formats 2 and 3 lack the sizes and List-Ids that larger:, smaller: and list: read.
    path = tmp_path / "index"
    _write_format_2(path, [_doc(1, "INBOX"), _doc(2, "Archive", flags=["\\Seen"])])
    connection = sqlite3.connect(path / FLAGS_FILE)
    connection.execute(f"PRAGMA user_version = {version}")
    connection.close()

    with caplog.at_level(logging.INFO, logger="desktop.index.whoosh_engine"):
        index = SearchIndex(path)

    assert index.is_new
    assert f"its format version is {version}, this program uses {SCHEMA_VERSION}" in caplog.text
    assert index.doc_count() == 0
    index.add([_doc(1, "INBOX")])
    assert index.search("folder:inbox", limit=None) == [1]
    index.close()


def test_unknown_format_is_recreated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "index"
    _write_format_2(path, [_doc(1, "INBOX")])
    connection = sqlite3.connect(path / FLAGS_FILE)
    connection.execute("PRAGMA user_version = 1")
    connection.close()

    with caplog.at_level(logging.INFO, logger="desktop.index.whoosh_engine"):
        index = SearchIndex(path)

    assert index.is_new
    assert "Recreating the search index" in caplog.text
    assert index.doc_count() == 0
    index.close()


def test_generated_message_kept_in_folder(tmp_path: Path) -> None:
    # A message stored straight into a sub-folder is indexed with that place.
    with Store(tmp_path / "store.sqlite3") as store:
        message = next(iter(mailgen.generate(1, seed=7)))
        import_messages(store, "work", [GeneratedMessage("Lists/cycling", (), message.date, message.raw)])
        with SearchIndex(tmp_path / "index") as index:
            catch_up(store, index)
            assert index.search("folder:lists/cycling", limit=None) == store.all_message_ids()
