"""Saved searches: the file format with its problems, and queries over a store with two accounts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from desktop.index import SearchIndex
from desktop.index.builder import update_index
from desktop.mail.parse import parse_summary
from desktop.store import SEEN, NewMessage, Store
from desktop.store.lanes import ALL_LANES, NO_LANE
from desktop.views import (
    SavedSearch,
    SavedSearchError,
    find_search,
    inbox_folder_ids,
    lane_counts,
    lane_ids,
    load_searches,
    make_search,
    read_searches_text,
    run_saved_searches,
    save_searches,
    search_lane,
    search_of_lane,
    searches_file,
    with_search,
    without_search,
)

FILE = Path("searches.toml")
START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

GOOD = """\
# My searches
[[search]]
name = "Team"
query = "from:ana@example.org OR from:ops@example.org"
lane = true

[[search]]
name = "Unread budget"
query = 'budget is:unread'
"""


# --- reading ------------------------------------------------------------------------------


def test_read_valid_file() -> None:
    searches, problems = read_searches_text(GOOD, FILE)

    assert problems == []
    assert searches == [
        SavedSearch("Team", "from:ana@example.org OR from:ops@example.org", lane=True),
        SavedSearch("Unread budget", "budget is:unread", lane=False),
    ]


def test_missing_file_has_no_searches(tmp_path: Path) -> None:
    assert load_searches(tmp_path / "searches.toml") == ([], [])


def test_invalid_query_names_term_and_line() -> None:
    text = GOOD + '\n[[search]]\nname = "Broken"\nquery = "from:ana is:sleepy"\n'

    searches, problems = read_searches_text(text, FILE)

    assert [search.name for search in searches] == ["Team", "Unread budget"]
    assert len(problems) == 1
    assert problems[0].line == 13
    assert "term 'is:sleepy' (column 13)" in problems[0].message
    assert "Broken" in problems[0].message
    assert str(problems[0]).startswith("searches.toml:13: ")


def test_unknown_key_suggests_fix() -> None:
    text = '[[search]]\nname = "Team"\nquerry = "from:ana"\n'

    searches, problems = read_searches_text(text, FILE)

    assert searches == []
    assert [problem.line for problem in problems] == [3, 1]
    assert "Did you mean 'query'?" in problems[0].message
    assert "has no query" in problems[1].message


def test_duplicate_name_is_reported() -> None:
    text = '[[search]]\nname = "Team"\nquery = "a"\n\n[[search]]\nname = "team"\nquery = "b"\n'

    searches, problems = read_searches_text(text, FILE)

    assert searches == [SavedSearch("Team", "a")]
    assert [problem.line for problem in problems] == [6]
    assert "used by another saved search" in problems[0].message


def test_lane_must_be_boolean() -> None:
    text = '[[search]]\nname = "Team"\nquery = "a"\nlane = "yes"\n'

    searches, problems = read_searches_text(text, FILE)

    assert searches == []
    assert problems[0].line == 4
    assert "lane must be true or false" in problems[0].message


def test_bad_toml_gives_line() -> None:
    searches, problems = read_searches_text('[[search]]\nname = "Team\n', FILE)

    assert searches == []
    assert problems[0].line == 2
    assert problems[0].message.startswith("invalid TOML")


def test_wrong_table_name_suggests_search() -> None:
    searches, problems = read_searches_text('[[searches]]\nname = "Team"\nquery = "a"\n', FILE)

    assert searches == []
    assert problems[0].line == 1
    assert "Did you mean [[search]]?" in problems[0].message


def test_multiline_string_hides_header() -> None:
    text = '[[search]]\nname = "A"\nquery = """from:ana\n[[search]]\n"""\n\n[[search]]\nname = "B"\nquery = 42\n'

    _searches, problems = read_searches_text(text, FILE)

    assert [problem.line for problem in problems] == [9]


# --- writing and changing ------------------------------------------------------------------


def test_save_then_load_round_trip(tmp_path: Path) -> None:
    path = searches_file(tmp_path / "config")
    searches = [SavedSearch("Team", 'from:ana OR subject:"weekly report"', lane=True), SavedSearch("Ünïcode", "café")]

    save_searches(path, searches)

    assert load_searches(path) == (searches, [])
    assert list(path.parent.glob(".searches-*")) == []


def test_save_to_unwritable_place_names_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")

    with pytest.raises(SavedSearchError, match="not-a-folder"):
        save_searches(blocker / "searches.toml", [SavedSearch("A", "a")])


def test_make_search_rejects_bad_query() -> None:
    with pytest.raises(SavedSearchError, match=r"term 'before:tomorrow' \(column 12\)"):
        make_search("Bad", "ana before:tomorrow")


def test_make_search_rejects_taken_name() -> None:
    with pytest.raises(SavedSearchError, match="used by another saved search"):
        make_search("team", "a", others=[SavedSearch("Team", "b")])


def test_make_search_strips_blanks() -> None:
    assert make_search("  Team ", " from:ana ", True) == SavedSearch("Team", "from:ana", True)


def test_with_search_replaces_in_place() -> None:
    searches = [SavedSearch("A", "a"), SavedSearch("B", "b"), SavedSearch("C", "c")]

    changed = with_search(searches, SavedSearch("Bee", "bb", lane=True), replacing="b")

    assert changed == [SavedSearch("A", "a"), SavedSearch("Bee", "bb", lane=True), SavedSearch("C", "c")]


def test_with_search_rejects_clash_on_rename() -> None:
    searches = [SavedSearch("A", "a"), SavedSearch("B", "b")]

    with pytest.raises(SavedSearchError, match="used by another"):
        with_search(searches, SavedSearch("A", "x"), replacing="B")


def test_without_search_of_unknown_name() -> None:
    with pytest.raises(SavedSearchError, match="no saved search named 'Z'"):
        without_search([SavedSearch("A", "a")], "Z")
    assert without_search([SavedSearch("A", "a"), SavedSearch("B", "b")], "a") == [SavedSearch("B", "b")]
    assert find_search([SavedSearch("Team", "t")], "TEAM") == SavedSearch("Team", "t")


# --- queries over two accounts --------------------------------------------------------------


def _message(uid: int, sender: str, subject: str, hours: int, *, seen: bool = False) -> NewMessage:
    date = (START + timedelta(hours=hours)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    raw = (f"From: {sender}\r\nTo: me@example.org\r\nSubject: {subject}\r\nDate: {date}\r\n"
           f"Message-ID: <m{uid}-{hours}@example.org>\r\n\r\nAbout the {subject.lower()}.\r\n").encode()
    return NewMessage(uid=uid, flags=[SEEN] if seen else [], size=len(raw), raw=raw, summary=parse_summary(raw))


@pytest.fixture
def two_accounts(tmp_path: Path):
    """A store and index with accounts "home" and "work", each with INBOX and Archive."""
    with Store(tmp_path / "store.sqlite3") as store:
        folders = {}
        for account in ("home", "work"):
            account_id = store.ensure_account(account, "local")
            folders[account, "INBOX"] = store.upsert_folder(account_id, "INBOX")
            folders[account, "Archive"] = store.upsert_folder(account_id, "Archive", special_use="\\Archive")
        store.insert_messages(folders["home", "INBOX"], [
            _message(1, "Ana <ana@example.org>", "Budget plan", 1),
            _message(2, "Ben <ben@example.org>", "Holiday", 3, seen=True),
        ])
        store.insert_messages(folders["work", "INBOX"], [
            _message(1, "Ana <ana@example.org>", "Budget review", 2),
            _message(2, "Ops <ops@example.org>", "Maintenance", 4),
        ])
        store.insert_messages(folders["work", "Archive"], [_message(3, "Ana <ana@example.org>", "Old budget", 0, seen=True)])
        index = SearchIndex(tmp_path / "index")
        for _step in update_index(store, index, workers=0):
            pass
        yield store, index, folders
        index.close()


def _subjects(store: Store, ids: list[int]) -> list[str]:
    by_id = {row.id: row.subject for row in store.messages(ids)}
    return [by_id[message_id] for message_id in ids]


def test_saved_search_spans_accounts(two_accounts) -> None:
    store, index, _folders = two_accounts

    results = run_saved_searches(store, index, [SavedSearch("Ana", "from:ana@example.org"),
                                                SavedSearch("Unread budget", "budget is:unread")])

    assert _subjects(store, results["Ana"]) == ["Budget review", "Budget plan", "Old budget"]
    assert {row.account for row in store.messages(results["Ana"])} == {"home", "work"}
    assert _subjects(store, results["Unread budget"]) == ["Budget review", "Budget plan"]


def test_saved_search_sees_move_at_once(two_accounts) -> None:
    store, index, folders = two_accounts
    search = SavedSearch("Inbox budget", "budget in:INBOX")
    moved = [message_id for message_id in run_saved_searches(store, index, [search])["Inbox budget"]
             if store.message(message_id).account == "work"]

    store.move_messages(moved, folders["work", "Archive"])
    results = run_saved_searches(store, index, [search])

    assert _subjects(store, results["Inbox budget"]) == ["Budget plan"]
    assert store.index_backlog() == 0


def test_invalid_stored_query_returns_error_text(two_accounts) -> None:
    store, index, _folders = two_accounts

    results = run_saved_searches(store, index, [SavedSearch("Bad", "is:sleepy")])

    assert isinstance(results["Bad"], str)
    assert "'is:sleepy'" in results["Bad"]


def test_inbox_folder_ids_one_per_account(two_accounts) -> None:
    store, _index, folders = two_accounts

    assert inbox_folder_ids(store.folders()) == [folders["home", "INBOX"], folders["work", "INBOX"]]


def test_search_lanes_count_inbox_matches(two_accounts) -> None:
    store, index, folders = two_accounts
    inboxes = [folders["home", "INBOX"], folders["work", "INBOX"]]
    ana = set(run_saved_searches(store, index, [SavedSearch("Ana", "from:ana")])["Ana"])

    counts, total = lane_counts(store, inboxes, {"Ana": ana, "Nobody": set()})

    assert total == 4
    assert counts == {search_lane("Ana"): 2, NO_LANE: 2}
    assert _subjects(store, lane_ids(store, inboxes, search_lane("Ana"), {"Ana": ana})) == ["Budget review", "Budget plan"]
    assert _subjects(store, lane_ids(store, inboxes, NO_LANE, {"Ana": ana})) == ["Maintenance", "Holiday"]
    assert len(lane_ids(store, inboxes, ALL_LANES, {"Ana": ana})) == 4


def test_search_lane_keys_round_trip() -> None:
    assert search_of_lane(search_lane("news")) == "news"
    assert search_of_lane("news") is None
    assert search_of_lane(NO_LANE) is None
    assert search_of_lane(ALL_LANES) is None


def test_cancelled_run_returns_nothing(two_accounts) -> None:
    store, index, _folders = two_accounts

    results = run_saved_searches(store, index, [SavedSearch("Ana", "from:ana")], cancelled=lambda: True)

    assert results == {}
