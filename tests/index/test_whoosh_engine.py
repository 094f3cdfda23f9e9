"""Tests of SearchIndex on a real Whoosh index: each operator, order, writes and reopening."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.index import IndexDocument, QueryError, SearchIndex
from desktop.index import whoosh_engine
from desktop.index.whoosh_engine import FLAGS_FILE, MIN_PARALLEL_BATCH, index_terms, query_terms

NOW = datetime(2026, 4, 10, tzinfo=UTC)
SEEN, FLAGGED, ANSWERED = "\\Seen", "\\Flagged", "\\Answered"


def day(number: int) -> datetime:
    """Return 09:00 UTC on the given day of March 2026 (day 0 is 28 February)."""
    return datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(days=number - 1)


def doc(message_id: int, **fields: object) -> IndexDocument:
    values: dict[str, object] = {
        "account": "work",
        "folder": "INBOX",
        "sender": "Someone <someone@example.org>",
        "recipients": "Me <me@example.org>",
        "subject": "",
        "body": "",
        "attachments": [],
        "date": day(message_id),
        "flags": [],
    }
    values.update(fields)
    return IndexDocument(message_id=message_id, **values)  # type: ignore[arg-type]


CORPUS = [
    doc(1, sender="Ana Díaz <ana@example.com>", subject="Weekly report",
        body="The weekly report is attached.", attachments=["report_2026-03.pdf"], flags=[SEEN]),
    doc(2, sender="Bob Stone <bob@mail.example.com>", subject="Lunch tomorrow?",
        body="Shall we have lunch at noon"),
    doc(3, sender="Carol Mint <carol@other.org>", recipients="Ana Díaz <ana@example.com>",
        subject="Re: Weekly report", body="Thanks for the report", flags=[SEEN, ANSWERED]),
    doc(4, sender="Python-Dev <python-dev@lists.python.org>", folder="Lists/python-dev",
        subject="[Python-Dev] PEP 999", body="Discussion of the proposal", flags=[SEEN]),
    doc(5, sender="Dana Reyes <dana@python.org>", folder="Lists/python-ideas",
        subject="Idea: pattern matching", body="What about a new syntax"),
    doc(6, folder="Lists", subject="List admin", body="Moderation queue", flags=[SEEN]),
    doc(7, account="home", folder="Entwürfe", sender="Jürgen Weiß <juergen.weiss@example.de>",
        subject="Grüße aus München", body="Viele Grüße und bis bald", flags=[SEEN, "\\Draft"]),
    doc(8, account="home", sender="田中 太郎 <tanaka@example.jp>", subject="明日の会議について",
        body="会議室は三階です。"),
    doc(9, account="home", sender="李明 <li@example.cn>", subject="项目进度报告",
        body="请查看附件。", attachments=["报告.docx"], flags=[SEEN]),
    doc(10, subject="Résumé for the position", body="Please find my résumé attached",
        attachments=["CV Ana.pdf"], flags=[SEEN]),
    doc(11, sender="Billing <billing@shop.example.net>", subject="Invoice 4411",
        body="Your invoice is due", flags=[SEEN, FLAGGED]),
    doc(12, subject="Project kickoff", body="Agenda for the kickoff",
        flags=[SEEN, "$Label1", "Work-Project"]),
    doc(13, subject="Undated message", body="This one has no date header", date=None),
    doc(14, sender="News <news@shop.example.net>", subject="Old newsletter", body="Sale ends soon",
        date=datetime(2025, 1, 15, tzinfo=UTC), flags=[SEEN]),
    doc(15, subject="Fox story", body="the quick brown fox jumps over the dog"),
    doc(16, subject="Fox reversed", body="brown quick fox, in the wrong order"),
    doc(17, sender="Eve Long <eve@example.org>",
        recipients="Ana Díaz <ana@example.com>, Zed Ray <zed@example.org>",
        subject="Meeting notes", body="Notes from the meeting", flags=[SEEN, FLAGGED]),
    doc(18, account="personal", sender="Ana Smith <ana@example.com.au>",
        subject="Hello from Australia", body="Greetings"),
    doc(19, subject="Budget", body="See the sheets", attachments=["Budget 2026.xlsx", "notes.txt"],
        flags=[SEEN]),
    doc(20, sender="Ana Diaz <ana.diaz@corp.example.com>", subject="From corporate",
        body="Company news"),
    doc(21, subject="Adresse", body="Hauptstraße 5, München"),
    doc(22, subject="Decomposed", body="my re\u0301sume\u0301 in NFD"),
    doc(23, subject="OR and AND words", body="this or that"),
    doc(24, subject="Python入門の本", body="Book list"),
    doc(25, subject="회의 일정", body="Korean schedule"),
    doc(26, subject="Sports", body="大会の結果"),
    doc(27, account="personal", subject="Shipping notice",
        body="Tracking: https://track.example.net/abc123"),
    doc(28, account="personal", subject="Second notice", body="Same time as the first",
        date=day(27)),
    doc(29, subject="Answered only", body="Replied but not read", flags=[ANSWERED]),
    doc(30, subject="Midnight", body="boundary", date=datetime(2026, 3, 31, tzinfo=UTC)),
    doc(31, subject="Just before midnight", body="boundary",
        date=datetime(2026, 3, 30, 23, 59, 59, tzinfo=UTC)),
]
ALL_IDS = {item.message_id for item in CORPUS}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SearchIndex]:
    search_index = SearchIndex(tmp_path / "index")
    search_index.add(CORPUS)
    yield search_index
    search_index.close()


def found(search_index: SearchIndex, query: str) -> set[int]:
    return set(search_index.search(query, limit=None, now=NOW))


# Words, phrases and normalization


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lunch", {2}),
        ("LUNCH", {2}),
        ("report", {1, 3}),
        ("weekly report", {1, 3}),
        ("stone", {2}),  # sender name
        ("zed", {17}),  # recipient name
        ("xlsx", {19}),  # attachment file name
        ("notes", {17, 19}),  # subject "Meeting notes" and attachment "notes.txt"
        ("invoice due", {11}),
        ("nonexistentword", set()),
        ('"quick brown"', {15}),
        ('"brown quick"', {16}),
        ('"weekly report"', {1, 3}),
        ('"report weekly"', set()),
        ("Résumé", {10, 22}),
        ("RÉSUMÉ", {10, 22}),
        ("resume", {10, 22}),  # accents are folded
        ("resumé", {10, 22}),
        ("grüße", {7}),
        ("GRÜSSE", {7}),
        ("hauptstraße", {21}),
        ("HAUPTSTRASSE", {21}),
        ("strasse", set()),  # compounds are not split
        ("münchen", {7, 21}),
        ("or", {23}),
        ("pep 999", {4}),
    ],
)
def test_words_and_phrases(index: SearchIndex, query: str, expected: set[int]) -> None:
    assert found(index, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("会議", {8}),
        ("明日", {8}),
        ("会議について", {8}),
        ("会議室", {8}),
        ("三階", {8}),
        ("会", {8, 26}),
        ("报告", {9}),
        ("项目进度", {9}),
        ("attachment:报告", {9}),
        ("入門", {24}),
        ("python入門", {24}),
        ("python", {4, 5, 24}),
        ("회의", {25}),
        ("田中", {8}),
        ("from:太郎", {8}),
        ("大会", {26}),
        ("議会", set()),
    ],
)
def test_cjk_words_inside_sentences(index: SearchIndex, query: str, expected: set[int]) -> None:
    assert found(index, query) == expected


# Fields


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from:ana", {1, 18, 20}),
        ("from:díaz", {1, 20}),  # "Ana Diaz" is written without the accent
        ("from:diaz", {1, 20}),
        ('from:"Ana Díaz"', {1, 20}),
        ("from:ana@example.com", {1}),
        ("from:ANA@EXAMPLE.COM", {1}),
        ("from:example.com", {1, 2, 20}),
        ("from:mail.example.com", {2}),
        ("from:example.com.au", {18}),
        ("from:ana.diaz", {20}),
        ("from:python.org", {4, 5}),
        ("from:python-dev", {4}),
        ("from:shop.example.net", {11, 14}),
        ("to:ana@example.com", {3, 17}),
        ("to:zed", {17}),
        ("to:me@example.org", ALL_IDS - {3, 17}),
        ("subject:report", {1, 3}),
        ("subject:attached", set()),
        ('subject:"weekly report"', {1, 3}),
        ("body:attached", {1, 10}),
        ("body:report", {1, 3}),
        ("attachment:pdf", {1, 10}),
        ("attachment:report", {1}),
        ("attachment:report_2026-03.pdf", {1}),
        ("attachment:report_2026", {1}),
        ('attachment:"CV Ana.pdf"', {10}),
        ("attachment:budget", {19}),
        ("track.example.net", {27}),
        ("example.net", {11, 14, 27}),
    ],
)
def test_text_fields(index: SearchIndex, query: str, expected: set[int]) -> None:
    assert found(index, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("account:home", {7, 8, 9}),
        ("account:HOME", {7, 8, 9}),
        ("account:personal", {18, 27, 28}),
        ("account:nosuch", set()),
        ("account:pers*", {18, 27, 28}),
        ("folder:inbox", ALL_IDS - {4, 5, 6, 7}),
        ("folder:Lists", {6}),
        ("folder:lists/*", {4, 5}),
        ("folder:Lists/python-dev", {4}),
        ('folder:"lists/python-ideas"', {5}),
        ("folder:lists*", {4, 5, 6}),
        ("folder:Entwürfe", {7}),
        ("folder:ENTWÜRFE", {7}),
        ("folder:*", ALL_IDS),
    ],
)
def test_account_and_folder(index: SearchIndex, query: str, expected: set[int]) -> None:
    assert found(index, query) == expected


SEEN_IDS = {item.message_id for item in CORPUS if SEEN in item.flags}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("is:read", SEEN_IDS),
        ("is:unread", ALL_IDS - SEEN_IDS),
        ("is:flagged", {11, 17}),
        ("is:unflagged", ALL_IDS - {11, 17}),
        ("is:answered", {3, 29}),
        ("is:unanswered", ALL_IDS - {3, 29}),
        ("is:answered is:unread", {29}),
        ("is:flagged OR is:answered", {3, 11, 17, 29}),
        ("has:attachment", {1, 9, 10, 19}),
        ("-has:attachment", ALL_IDS - {1, 9, 10, 19}),
        ("label:$label1", {12}),
        ("label:$LABEL1", {12}),
        ("label:work-project", {12}),
        ("label:\\draft", {7}),
        ("label:nosuch", set()),
        ("-label:nosuch", ALL_IDS),
        ("report is:unread", set()),
        ("report OR is:flagged", {1, 3, 11, 17}),
    ],
)
def test_flags_and_attachments(index: SearchIndex, query: str, expected: set[int]) -> None:
    assert found(index, query) == expected


DATED = {item.message_id: item.date for item in CORPUS if item.date is not None}


def dated_ids(predicate: object) -> set[int]:
    return {message_id for message_id, moment in DATED.items() if predicate(moment)}  # type: ignore[operator]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("before:2026-03-31", dated_ids(lambda d: d < datetime(2026, 3, 31, tzinfo=UTC))),
        ("after:2026-03-31", dated_ids(lambda d: d >= datetime(2026, 3, 31, tzinfo=UTC))),
        ("after:2026-03-29 before:2026-03-31", {29, 31}),
        ("before:2026-01-01", {14}),
        ("after:2026-04-01", set()),
        ("before:2026-03-03 after:2026-03-03", set()),
        ("-before:2026-03-03", ALL_IDS - {1, 2, 14}),
        ("older_than:30d", dated_ids(lambda d: d < NOW - timedelta(days=30))),
        ("newer_than:2w", dated_ids(lambda d: d >= NOW - timedelta(days=14))),
        ("older_than:1y", {14}),
        ("newer_than:1m", dated_ids(lambda d: d >= NOW - timedelta(days=30))),
        ("older_than:0d", set(DATED)),
    ],
)
def test_dates(index: SearchIndex, query: str, expected: set[int]) -> None:
    assert found(index, query) == expected


def test_dates_exclude_undated_messages(index: SearchIndex) -> None:
    assert 13 not in found(index, "before:9999-12-31")
    assert 13 not in found(index, "after:0001-01-01")
    assert 13 in found(index, "-before:2026-03-10")


def test_date_boundaries_are_utc_days(index: SearchIndex) -> None:
    assert 31 in found(index, "before:2026-03-31")
    assert 30 not in found(index, "before:2026-03-31")
    assert 30 in found(index, "after:2026-03-31")
    assert 31 not in found(index, "after:2026-03-31")


def test_extreme_dates(tmp_path: Path) -> None:
    docs = [
        doc(1, date=datetime(1, 1, 1, tzinfo=UTC)),
        doc(2, date=datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
        doc(3, date=datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),
        doc(4, date=None),
        doc(5, date=datetime(2026, 3, 1, 12)),  # naive: taken as UTC
    ]
    with SearchIndex(tmp_path / "index") as search_index:
        search_index.add(docs)

        assert search_index.search("", limit=None) == [2, 5, 3, 1, 4]
        assert set(search_index.search("before:1900-01-01", limit=None)) == {1}
        assert set(search_index.search("before:1970-01-01", limit=None)) == {1, 3}
        assert set(search_index.search("after:6000-01-01", limit=None)) == {2}
        assert set(search_index.search("after:2026-03-01 before:2026-03-02", limit=None)) == {5}


def test_relative_dates_follow_now(index: SearchIndex) -> None:
    later = NOW + timedelta(days=365)

    assert set(index.search("newer_than:1w", limit=None, now=later)) == set()
    assert set(index.search("older_than:1w", limit=None, now=later)) == set(DATED)


# Boolean structure


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("report -weekly", set()),
        ("report -subject:re", {1}),
        ("report NOT thanks", {1}),
        ("-report", ALL_IDS - {1, 3}),
        ("--report", {1, 3}),
        ("NOT -report", {1, 3}),
        ("lunch OR invoice", {2, 11}),
        ("report lunch OR thanks", {3}),
        ("(report lunch) OR thanks", {3}),
        ("report (lunch OR thanks)", {3}),
        ("report AND thanks", {3}),
        ("-(report OR lunch)", ALL_IDS - {1, 2, 3}),
        ("-subject:!!!", ALL_IDS),
        ("subject:!!!", set()),
        ("subject:!!! OR lunch", {2}),
        ("", ALL_IDS),
        ("-is:read -is:unread", set()),
        ("is:read OR is:unread", ALL_IDS),
    ],
)
def test_boolean_operators(index: SearchIndex, query: str, expected: set[int]) -> None:
    assert found(index, query) == expected


def test_negation_excludes_first_match(tmp_path: Path) -> None:
    # The first "alpha" document also has "beta", and an earlier document has only
    # "beta". Whoosh's own AndNotMatcher kept such a first match.
    docs = [doc(1, body="beta"), doc(2, body="alpha beta"), doc(3, body="alpha")]
    with SearchIndex(tmp_path / "index") as search_index:
        search_index.add(docs)

        assert search_index.search("alpha -beta", limit=None) == [3]
        assert search_index.search("alpha NOT body:beta", limit=None) == [3]
        assert search_index.search("-beta", limit=None) == [3]


# Order, limit, accounts and count


def expected_order(ids: set[int]) -> list[int]:
    by_id = {item.message_id: item for item in CORPUS}

    def key(message_id: int) -> tuple[datetime, int]:
        moment = by_id[message_id].date or datetime.min.replace(tzinfo=UTC)
        return moment, message_id

    return sorted(ids, key=key, reverse=True)


def test_empty_query_returns_newest_first(index: SearchIndex) -> None:
    result = index.search("", limit=None)

    assert result == expected_order(ALL_IDS)
    assert result[0] == 30
    assert result[-1] == 13  # the undated message comes last
    assert result.index(28) == result.index(27) - 1  # same date: higher id first


def test_search_orders_matches_newest_first(index: SearchIndex) -> None:
    assert index.search("is:read", limit=None) == expected_order(SEEN_IDS)


def test_limit(index: SearchIndex) -> None:
    assert index.search("", limit=5) == expected_order(ALL_IDS)[:5]
    assert index.search("") == expected_order(ALL_IDS)[:100]
    assert index.search("", limit=0) == []
    assert index.search("report", limit=1) == [3]
    with pytest.raises(ValueError, match="limit must be None or at least 0, got -1"):
        index.search("", limit=-1)


def test_accounts_filter(index: SearchIndex) -> None:
    assert set(index.search("", limit=None, accounts=["home"])) == {7, 8, 9}
    assert set(index.search("", limit=None, accounts=["HOME", "personal"])) == {7, 8, 9, 18, 27, 28}
    assert set(index.search("ana", limit=None, accounts=["personal"])) == {18}
    assert index.search("", accounts=["nosuch"]) == []
    assert index.search("", accounts=[]) == []


def test_count_matches_search(index: SearchIndex) -> None:
    for query in ["", "report", "is:unread", "-is:read", "from:example.com", "older_than:30d"]:
        assert index.count(query, now=NOW) == len(index.search(query, limit=None, now=NOW))
    assert index.count("", accounts=["home"]) == 3
    assert index.count("subject:!!!") == 0


def test_invalid_query_raises_query_error(index: SearchIndex) -> None:
    with pytest.raises(QueryError):
        index.search("frm:ana")
    with pytest.raises(QueryError):
        index.count("before:2026-13-01")


# Writes


def test_doc_count(index: SearchIndex) -> None:
    assert index.doc_count() == len(CORPUS)


def test_add_same_id_twice_keeps_one_document(index: SearchIndex) -> None:
    changed = replace(CORPUS[1], subject="Dinner tonight", body="Shall we have dinner")

    assert index.add([changed]) == 1

    assert index.doc_count() == len(CORPUS)
    assert found(index, "lunch") == set()
    assert found(index, "dinner") == {2}
    assert index.search("", limit=None).count(2) == 1


def test_add_duplicate_ids_in_one_batch_keeps_last(tmp_path: Path) -> None:
    with SearchIndex(tmp_path / "index") as search_index:
        written = search_index.add([doc(1, subject="first"), doc(1, subject="second")])

        assert written == 1
        assert search_index.doc_count() == 1
        assert search_index.search("first") == []
        assert search_index.search("second") == [1]


def test_add_nothing(index: SearchIndex) -> None:
    assert index.add([]) == 0
    assert index.doc_count() == len(CORPUS)


def test_add_accepts_a_generator(tmp_path: Path) -> None:
    with SearchIndex(tmp_path / "index") as search_index:
        assert search_index.add(doc(number, subject=f"item{number}") for number in range(1, 6)) == 5
        assert search_index.search("item3") == [3]


def test_delete(index: SearchIndex) -> None:
    assert index.delete([2, 11, 999]) == 2

    assert index.doc_count() == len(CORPUS) - 2
    assert found(index, "lunch OR invoice") == set()
    assert 11 not in found(index, "is:flagged")
    assert index.delete([2]) == 0
    assert index.delete([]) == 0


def test_delete_then_add_again(index: SearchIndex) -> None:
    index.delete([2])
    index.add([CORPUS[1]])

    assert found(index, "lunch") == {2}
    assert found(index, "is:unread lunch") == {2}


def test_update_flags(index: SearchIndex) -> None:
    index.update_flags([(2, [SEEN, FLAGGED]), (11, []), (999, [SEEN])])

    assert 2 in found(index, "is:read")
    assert found(index, "is:flagged") == {2, 17}
    assert 11 in found(index, "is:unread")
    assert found(index, "lunch is:flagged") == {2}
    assert index.doc_count() == len(CORPUS)


def test_update_flags_of_unknown_id_is_ignored(index: SearchIndex) -> None:
    index.update_flags([(999, [SEEN])])
    index.add([doc(999, subject="late arrival")])

    assert found(index, "late arrival is:unread") == {999}


def test_add_replaces_flags(index: SearchIndex) -> None:
    index.add([replace(CORPUS[10], flags=[])])

    assert found(index, "is:flagged") == {17}
    assert 11 in found(index, "is:unread")


def test_flag_search_when_most_messages_have_the_flag(tmp_path: Path) -> None:
    # Eight of ten messages are seen, so the flag table returns the two without
    # the flag and the engine negates that set. The results must be the same.
    docs = [doc(number, flags=[SEEN] if number <= 8 else []) for number in range(1, 11)]
    with SearchIndex(tmp_path / "index") as search_index:
        search_index.add(docs)

        assert set(search_index.search("is:read", limit=None)) == set(range(1, 9))
        assert set(search_index.search("is:unread", limit=None)) == {9, 10}
        assert set(search_index.search("-is:read", limit=None)) == {9, 10}
        assert set(search_index.search("is:read OR is:unread", limit=None)) == set(range(1, 11))


def test_flag_search_across_segments_after_upserts(tmp_path: Path) -> None:
    with SearchIndex(tmp_path / "index") as search_index:
        for round_number in range(4):
            search_index.add(
                [doc(number, subject=f"round{round_number}", flags=[SEEN]) for number in range(1, 4)]
            )
        search_index.add([doc(4, subject="other")])

        assert search_index.search("is:read", limit=None) == [3, 2, 1]
        assert search_index.search("is:unread", limit=None) == [4]
        assert search_index.search("round3 is:read", limit=None) == [3, 2, 1]
        assert search_index.search("round0", limit=None) == []


def test_clear(index: SearchIndex) -> None:
    index.clear()

    assert index.doc_count() == 0
    assert index.search("") == []
    assert index.search("is:read") == []
    assert index.count("") == 0

    index.add([CORPUS[0]])
    assert index.search("") == [1]
    assert index.search("is:read") == [1]


def test_reopen_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "index"
    first = SearchIndex(path)
    assert first.is_new
    first.add(CORPUS)
    first.update_flags([(2, [FLAGGED])])
    first.close()

    with SearchIndex(path) as reopened:
        assert not reopened.is_new
        assert reopened.doc_count() == len(CORPUS)
        assert reopened.search("", limit=None) == expected_order(ALL_IDS)
        assert found(reopened, "is:flagged") == {2, 11, 17}
        assert found(reopened, "会議") == {8}


def test_closed_index_raises(tmp_path: Path) -> None:
    search_index = SearchIndex(tmp_path / "index")
    search_index.close()
    search_index.close()

    with pytest.raises(RuntimeError, match="closed"):
        search_index.search("")


def test_other_format_version_is_recreated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "index"
    with SearchIndex(path) as search_index:
        search_index.add(CORPUS[:3])
    with sqlite3.connect(path / FLAGS_FILE) as connection:
        connection.execute("PRAGMA user_version = 999")

    with caplog.at_level(logging.WARNING, logger="desktop.index.whoosh_engine"):
        reopened = SearchIndex(path)

    with reopened:
        assert reopened.is_new
        assert reopened.doc_count() == 0
    assert "format version is 999" in caplog.text


def test_needs_fill_outlasts_reopen(tmp_path: Path) -> None:
    path = tmp_path / "index"
    with SearchIndex(path) as created:
        new_index_waits = created.needs_fill
    with SearchIndex(path) as reopened:
        still_waits = reopened.needs_fill
        reopened.mark_filled()
    with SearchIndex(path) as filled:
        waits_after_mark = filled.needs_fill
    with sqlite3.connect(path / FLAGS_FILE) as connection:
        connection.execute("PRAGMA user_version = 999")
    with SearchIndex(path) as recreated:
        waits_after_recreate = recreated.needs_fill

    assert new_index_waits
    assert still_waits
    assert not waits_after_mark
    assert waits_after_recreate


def test_missing_flag_table_recreates_index(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "index"
    with SearchIndex(path) as search_index:
        search_index.add(CORPUS[:3])
    for name in (FLAGS_FILE, FLAGS_FILE + "-wal", FLAGS_FILE + "-shm"):
        (path / name).unlink(missing_ok=True)

    with caplog.at_level(logging.WARNING, logger="desktop.index.whoosh_engine"):
        reopened = SearchIndex(path)

    with reopened:
        assert reopened.is_new
        assert reopened.doc_count() == 0
        assert reopened.search("is:unread") == []


def test_write_waits_for_lock_then_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whoosh_engine, "WRITE_LOCK_TIMEOUT_SECONDS", 0.3)
    with SearchIndex(tmp_path / "index") as search_index, SearchIndex(tmp_path / "index") as other:
        # Another writer holds the Whoosh write lock, as another process would.
        lock = other._index.lock("WRITELOCK")
        assert lock.acquire()
        try:
            with pytest.raises(TimeoutError, match="locked by another writer"):
                search_index.add([doc(1)])
        finally:
            lock.release()

        assert search_index.add([doc(1)]) == 1


def test_procs_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="procs must be at least 1"):
        SearchIndex(tmp_path / "index", procs=0)


def test_parallel_writer_bulk_add(tmp_path: Path) -> None:
    docs = [
        doc(number, subject=f"bulk item{number}", body="shared words " * 20,
            flags=[SEEN] if number % 2 else [])
        for number in range(1, MIN_PARALLEL_BATCH + 101)
    ]
    with SearchIndex(tmp_path / "index", procs=2) as search_index:
        assert search_index.add(docs) == len(docs)
        # A second bulk add of the same ids must replace, not duplicate.
        assert search_index.add(docs) == len(docs)

        assert search_index.doc_count() == len(docs)
        assert search_index.search("item7") == [7]
        assert search_index.count("shared") == len(docs)
        assert search_index.count("is:read") == (len(docs) + 1) // 2


# Concurrency


def test_search_while_another_thread_writes(tmp_path: Path) -> None:
    search_index = SearchIndex(tmp_path / "index")
    search_index.add(CORPUS)
    errors: list[BaseException] = []
    writing_done = threading.Event()

    def write() -> None:
        try:
            for batch in range(20):
                start = 1000 + batch * 50
                search_index.add(
                    doc(number, subject=f"batch{batch}", flags=[SEEN]) for number in range(start, start + 50)
                )
                search_index.update_flags([(2, [SEEN] if batch % 2 else [])])
                search_index.delete([start])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            writing_done.set()

    writer = threading.Thread(target=write)
    writer.start()
    searches = 0
    try:
        while not writing_done.is_set() or searches < 5:
            assert 1 in search_index.search("report", limit=None)
            search_index.search("is:read lunch OR batch3", limit=50)
            search_index.count("-is:unread")
            searches += 1
    finally:
        writer.join(timeout=120)
        search_index.close()

    assert errors == []
    assert not writer.is_alive()
    assert searches >= 5


# Arbitrary input


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchIndex]:
    search_index = SearchIndex(tmp_path_factory.mktemp("small") / "index")
    search_index.add(CORPUS[:10])
    yield search_index
    search_index.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(
            ["a", "-", "(", ")", '"', " ", "OR", "NOT", "from:", "is:read", "会", "會議", "é",
             "folder:*", "label:x", "subject:", "ana@example.com", ".", "_", "older_than:1d"]
        )
        | st.text(max_size=5),
        max_size=12,
    ).map("".join)
)
def test_search_raises_only_query_error(small_index: SearchIndex, text: str) -> None:
    try:
        result = small_index.search(text, limit=None)
    except QueryError:
        return
    assert set(result) <= {item.message_id for item in CORPUS[:10]}


# Text analysis


def test_index_terms_positions_for_address() -> None:
    terms = list(index_terms("Ana <ana.diaz@mail.example.com>"))

    assert ("ana", 0) in terms
    assert ("ana.diaz@mail.example.com", 1) in terms
    assert ("ana.diaz", 1) in terms
    assert ("diaz", 2) in terms
    assert ("mail.example.com", 3) in terms
    assert ("example.com", 4) in terms
    assert [position for _, position in terms] == sorted(position for _, position in terms)


def test_index_terms_cjk_bigrams() -> None:
    assert list(index_terms("会議室")) == [("会議", 0), ("議室", 1), ("室", 1)]
    assert list(index_terms("会 x")) == [("会", 0), ("x", 1)]


def test_query_terms() -> None:
    assert [term.text for term in query_terms("ana@example.com")] == ["ana@example.com"]
    assert [term.text for term in query_terms("example.com")] == ["example.com"]
    assert [term.text for term in query_terms("python-dev")] == ["python", "dev"]
    assert [term.text for term in query_terms("明日の会議")] == ["明日", "日の", "の会", "会議"]
    assert [(term.text, term.prefix) for term in query_terms("会")] == [("会", True)]
    assert query_terms("!!!") == []


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Müller", "muller"),
        ("CAFÉ", "cafe"),
        ("Ærøskøbing", "aeroskobing"),
        ("Łódź", "lodz"),
        ("Hàng Đào", "hang dao"),
        ("İstanbul", "istanbul"),
        ("Ελλάδα", "ελλαδα"),
        ("ﬁancée", "fiancee"),
        ("Straße", "strasse"),
        ("мой й ё", "мой й ё"),  # Cyrillic letters with marks are letters of their own
        ("がぎぐ", "がぎぐ"),  # the kana voicing marks stay
        ("한국어", "한국어"),
    ],
)
def test_normalize_text_folds_accents(text: str, folded: str) -> None:
    assert whoosh_engine.normalize_text(text) == folded


def test_index_terms_fold_accents() -> None:
    terms = list(index_terms("Zoë Åström <zoe@exämple.se>"))

    assert ("zoe", 0) in terms
    assert ("astrom", 1) in terms
    assert ("zoe@example.se", 2) in terms
    assert [term.text for term in query_terms("Åström")] == ["astrom"]


def test_long_terms_are_cut(tmp_path: Path) -> None:
    long_word = "x" * 500
    terms = list(index_terms(long_word))

    assert terms == [("x" * whoosh_engine.MAX_TERM_CHARS, 0)]
    with SearchIndex(tmp_path / "index") as search_index:
        search_index.add([doc(1, body=long_word)])
        assert search_index.search(long_word) == [1]
