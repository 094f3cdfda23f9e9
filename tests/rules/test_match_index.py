"""The rule matcher finds exactly the messages the search index finds for the same query.

A real store and a real Whoosh index are built from generated mail, the
malformed messages of tests/corpus, hand-written edge cases and messages stored
as headers only. For each query, the ids the index returns must equal the ids
the matcher matches, with and without the index's help for body terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desktop import mailgen
from desktop.index import SearchIndex
from desktop.index.builder import document_for, update_index
from desktop.mail.parse import parse_summary
from desktop.rules.match import INDEX_MIN_MESSAGES, Matcher
from desktop.rules.model import Flag, Rule, When
from desktop.rules.when import parse_when
from desktop.store import MessageRow, NewMessage, Store

# Seconds past a minute, so that dates just before "now minus age" fall in the
# same minute: the index compares whole minutes.
NOW = datetime(2026, 12, 1, 12, 30, 20, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# Edge cases the generator does not make: accents and case folding, CJK,
# connected words, whole addresses, host names, Cc, the $Snoozed keyword and
# dates at a day's border.
HANDWRITTEN = [
    (
        "INBOX",
        ("\\Seen", "$work"),
        "From: =?utf-8?q?J=C3=BCrgen_Wei=C3=9F?= <juergen.weiss@mail.example.de>\r\n"
        "To: Team <team@example.com>, ana.diaz@example.com\r\n"
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=\r\n"
        "Date: Tue, 01 Dec 2026 00:00:00 +0000\r\n\r\nViele Gr\xc3\xbc\xc3\x9fe, STRASSE und R\xc3\xa9sum\xc3\xa9.\r\n",
    ),
    (
        "INBOX",
        (),
        "From: =?utf-8?b?55Sw5Lit?= <tanaka@example.jp>\r\nTo: you@example.com\r\n"
        "Subject: =?utf-8?b?5piO5pel44Gu5Lya6K2w44Gr44Gk44GE44Gm?=\r\n"
        "Date: Mon, 30 Nov 2026 23:59:00 +0000\r\n\r\nreport_2026-03.pdf is ready; see python-dev@lists.python.org\r\n",
    ),
    (
        "Archive",
        ("\\Flagged", "$Snoozed"),
        "From: ana@example.com.au\r\nCc: Bob <bob@example.com>, =?utf-8?q?Zo=C3=AB_=C3=85str=C3=B6m?= "
        "<zoe@example.se>\r\nSubject: Invoice INV-7 for March\r\n"
        "Date: Sun, 01 Mar 2026 09:00:00 +0100\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<p>Your <b>invoice</b> total: 40 EUR</p>\r\n"
        "--b\r\nContent-Type: application/pdf; name=\"INV-7.pdf\"\r\nContent-Disposition: attachment; "
        "filename=\"INV-7.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
    ),
]

# Around the cutoff of newer_than:2w (2026-11-17 12:30:20 UTC): 10 seconds
# before it counts as newer, because the index compares whole minutes.
HANDWRITTEN += [
    ("INBOX", (), f"From: clock@example.com\r\nSubject: Clock {time}\r\nDate: Tue, 17 Nov 2026 {time} +0000\r\n\r\ntick\r\n")
    for time in ("12:29:59", "12:30:10", "12:30:40")
]

# Messages stored as headers only: the index has them with an empty body.
HEADERS_ONLY = [
    "From: Budget Office <budget@example.com>\r\nTo: you@example.com\r\nCc: Dana Quist <quist@example.com>\r\n"
    "Subject: Quarterly budget\r\n"
    "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\n",
    "From: Receipts <receipts@cedarbooks.example>\r\nSubject: Order 12 shipped\r\n"
    "Date: Tue, 10 Nov 2026 10:00:00 +0000\r\n\r\n",
]

QUERIES = [
    "budget",
    "subject:budget",
    "Northstar",
    "conference approval",
    '"customer call"',
    '"thank you for your order"',
    'subject:"membership renewals"',
    '"juergen.weiss"',
    'to:"team"',
    'body:"sounds good"',
    "body:invoice",
    "from:forge.example.com",
    "from:li.wei@example.com",
    "from:example.com",
    'from:"cedar books"',
    "from:juergen",
    "to:you@example.com",
    "to:team",
    "to:example.com",
    "attachment:pdf",
    "attachment:release-plan",
    "attachment:winmail.dat",
    "has:attachment",
    "-has:attachment invoice",
    "is:unread",
    "is:read is:answered",
    "is:flagged",
    "is:starred OR label:$work",
    "is:unanswered -is:unflagged",
    "label:$WORK",
    "account:home",
    "folder:lists/*",
    "folder:ARCHIVE",
    "folder:*",
    "before:2025-06-01",
    "after:2026-11-30",
    "after:2025-01-01 before:2025-02-01",
    "older_than:90d",
    "newer_than:2w",
    "newer_than:2w subject:clock",
    "older_than:14d subject:clock",
    "older_than:1y -is:read",
    "invoice OR receipt",
    "(invoice OR receipt) -is:read",
    "NOT budget",
    "-from:forge.example.com is:unread",
    "python-dev",
    "python-dev@lists.python.org",
    "python.org",
    "会議",
    "会",
    "Grüße",
    "grüsse",
    "grusse",
    "GRUSSE aus MUNCHEN",
    '"grusse aus munchen"',
    "subject:munchen",
    "from:jurgen",
    "from:JÜRGEN",
    "JÜRGEN Weiß",
    "résumé",
    "resume",
    "body:RESUME",
    "zoe",
    "cc:astrom",
    'cc:"zoë åström"',
    "cc:bob",
    "cc:bob@example.com",
    "cc:example.com",
    "cc:example.com -is:read",
    "-cc:example.com has:attachment",
    "to:zoe@example.se",
    "to:quist",
    "cc:quist",
    "is:snoozed",
    "-is:snoozed is:flagged",
    "straße",
    "inv-7",
    "2026",
    "lunch menu",
    '"budget question"',
    "in:archive",
    "filename:pdf",
    "is:replied",
    "larger:8K",
    "smaller:3k -is:read",
    "list:*",
    "list:*python*",
    "-list:* newer_than:1y",
    "",
]


def _insert(store: Store, folder_ids: dict[str, int], folder: str, flags: tuple[str, ...], raw: bytes | None,
            header: bytes, uid: int) -> None:
    new = NewMessage(uid=uid, flags=list(flags), size=len(raw if raw is not None else header), raw=raw,
                     summary=parse_summary(header))
    store.insert_messages(folder_ids[folder], [new])


def _fill(store: Store) -> None:
    work = store.ensure_account("work")
    home = store.ensure_account("home")
    names = ["INBOX", "Archive", "Sent", "Lists/python-dev", "Lists/city-cycling", "Lists/book-club"]
    folder_ids = {name: store.upsert_folder(work, name) for name in names}
    home_inbox = {"INBOX": store.upsert_folder(home, "INBOX")}

    uid = 0
    for number, message in enumerate(mailgen.generate(300, seed=23)):
        uid += 1
        flags = message.flags + (("$work",) if number % 7 == 0 else ())
        target = home_inbox if number % 5 == 0 and message.folder == "INBOX" else folder_ids
        _insert(store, target, message.folder, flags, message.raw, message.raw, uid)
    for path in sorted(CORPUS.glob("*.eml")):
        uid += 1
        raw = path.read_bytes()
        _insert(store, folder_ids, "INBOX", ("\\Seen",) if uid % 2 else (), raw, raw, uid)
    for folder, flags, text in HANDWRITTEN:
        uid += 1
        raw = text.encode("latin-1")
        _insert(store, folder_ids, folder, flags, raw, raw, uid)
    for text in HEADERS_ONLY:
        uid += 1
        _insert(store, folder_ids, "INBOX", (), None, text.encode(), uid)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, SearchIndex, list[MessageRow]]]:
    folder = tmp_path_factory.mktemp("match-index")
    store = Store(folder / "store.sqlite3")
    _fill(store)
    index = SearchIndex(folder / "index")
    for _progress in update_index(store, index, workers=0):
        pass
    rows = store.messages(store.all_message_ids())
    yield store, index, rows
    index.close()
    store.close()


@pytest.fixture(scope="module")
def matchers(indexed) -> dict[str, Matcher]:
    store, index, rows = indexed
    with_index = Matcher(store, index=index, now=NOW)
    with_index.prepare([_rule(query) for query in QUERIES], rows)
    return {"parsed": Matcher(store, now=NOW), "index": with_index}


def _rule(query: str) -> Rule:
    return Rule(name=f"query {query!r}", condition=When(query, parse_when(query)), actions=(Flag(),))


def test_corpus_is_varied(indexed):
    store, index, rows = indexed

    assert index.doc_count() == len(rows) > 300
    assert store.index_backlog() == 0
    assert {row.account for row in rows} == {"work", "home"}
    assert any(row.date is None for row in rows)
    assert sum(store.raw(row.id) is None for row in rows) == len(HEADERS_ONLY)


@pytest.mark.parametrize("mode", ["parsed", "index"])
@pytest.mark.parametrize("query", QUERIES)
def test_when_matches_index(indexed, matchers, mode, query):
    store, index, rows = indexed
    expected = set(index.search(query, limit=None, now=NOW))
    rule = _rule(query)

    verdicts = {row.id: matchers[mode].check(rule, row) for row in rows}
    matched = {message_id for message_id, verdict in verdicts.items() if verdict.matched}
    unknown = {message_id for message_id, verdict in verdicts.items() if verdict.needs_body}
    headers_only = {row.id for row in rows if store.raw(row.id) is None}
    if "has:" in query:
        disputed = _attachment_disputes(store, rows)
        matched -= disputed
        expected -= disputed

    # A message stored as headers only is indexed with an empty body, so the
    # index gives "no match" where the matcher cannot tell yet.
    assert unknown <= headers_only
    assert matched == expected - unknown


def _attachment_disputes(store: Store, rows: list[MessageRow]) -> set[int]:
    """Return the messages whose stored attachment mark differs from the attachments the index found.

    The store marks a message after a cheap look at its bytes for a file name or
    an attachment disposition. The index counts the parts its parser finds. The
    matcher uses the store's mark, because it also exists for messages stored as
    headers only.
    """
    disputed = set()
    for row in rows:
        raw = store.raw(row.id)
        if raw is not None and row.has_attachment != bool(document_for(row, raw).attachments):
            disputed.add(row.id)
    return disputed


def test_attachment_disputes_are_broken_mail(indexed):
    store, _index, rows = indexed
    disputed = _attachment_disputes(store, rows)

    subjects = {row.subject for row in store.messages(sorted(disputed))}

    # multipart/mixed without a boundary parameter: the parser finds no parts,
    # but the bytes name a file.
    undeclared = parse_summary((CORPUS / "undeclared-boundary.eml").read_bytes()).subject
    assert subjects == {undeclared}


def test_queries_discriminate(indexed):
    """Most queries match some messages but not all, so the comparison above means something."""
    _store, index, rows = indexed
    counts = {query: index.count(query, now=NOW) for query in QUERIES}

    trivial = [query for query, count in counts.items() if count in (0, len(rows))]

    assert set(trivial) <= {"", "folder:*", "cc:quist"}, trivial


def test_headers_only_needs_body(indexed, matchers):
    store, _index, rows = indexed
    headers_only = [row for row in rows if store.raw(row.id) is None]
    budget_office = next(row for row in headers_only if row.from_addr == "budget@example.com")
    receipts = next(row for row in headers_only if row.from_addr == "receipts@cedarbooks.example")

    verdict = matchers["parsed"].check(_rule("budget"), receipts)
    decided = matchers["parsed"].check(_rule("budget"), budget_office)

    assert verdict.needs_body
    assert not verdict.matched
    assert "needs the full message" in verdict.decided_by
    assert decided.matched
    assert not decided.needs_body


def test_cc_needs_body_when_headers_only(indexed, matchers):
    """The store keeps To and Cc in one column, so cc: needs the raw message; to: does not."""
    store, index, rows = indexed
    budget_office = next(row for row in rows if row.from_addr == "budget@example.com")

    cc_verdict = matchers["parsed"].check(_rule("cc:quist"), budget_office)
    to_verdict = matchers["parsed"].check(_rule("to:quist"), budget_office)

    assert store.raw(budget_office.id) is None
    assert cc_verdict.needs_body
    assert not cc_verdict.matched
    assert to_verdict.matched
    assert index.search("to:quist", limit=None) == [budget_office.id]
    assert index.search("cc:quist", limit=None) == []


def test_cc_found_after_body_arrives(tmp_path: Path):
    raw = (b"From: ana@example.com\r\nTo: you@example.com\r\nCc: Dana <dana@example.com>\r\n"
           b"Subject: Plan\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n\r\nSee you.\r\n")
    with Store(tmp_path / "store.sqlite3") as store:
        inbox = store.upsert_folder(store.ensure_account("work"), "INBOX")
        (message_id,) = store.insert_messages(inbox, [NewMessage(1, [], len(raw), None, parse_summary(raw))])
        with SearchIndex(tmp_path / "index") as index:
            for _progress in update_index(store, index, workers=0):
                pass
            before = index.search("cc:dana", limit=None)
            store.store_bodies({message_id: raw})
            for _progress in update_index(store, index, workers=0):
                pass
            after = index.search("cc:dana", limit=None)
            row = store.message(message_id)
            verdict = Matcher(store, index=index, now=NOW).check(_rule("cc:dana"), row)

    assert before == []
    assert after == [message_id]
    assert verdict.matched


@pytest.fixture
def small_indexed(tmp_path: Path) -> Iterator[tuple[Store, SearchIndex, int]]:
    store = Store(tmp_path / "store.sqlite3")
    inbox = store.upsert_folder(store.ensure_account("work"), "INBOX")
    for uid, message in enumerate(mailgen.generate(INDEX_MIN_MESSAGES, seed=5), start=1):
        store.insert_messages(inbox, [NewMessage(uid=uid, flags=list(message.flags), size=len(message.raw),
                                                 raw=message.raw, summary=parse_summary(message.raw))])
    index = SearchIndex(tmp_path / "index")
    for _progress in update_index(store, index, workers=0):
        pass
    yield store, index, inbox
    index.close()
    store.close()


def _add_plain(store: Store, folder_id: int, uid: int, body: str) -> MessageRow:
    raw = f"From: ana@example.com\r\nSubject: Note\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n\r\n{body}\r\n".encode()
    (message_id,) = store.insert_messages(folder_id, [NewMessage(uid, [], len(raw), raw, parse_summary(raw))])
    row = store.message(message_id)
    assert row is not None
    return row


def test_queued_message_is_parsed_not_looked_up(small_indexed):
    store, index, inbox = small_indexed
    row = _add_plain(store, inbox, 10_000, "The zebracorn arrived.")
    rows = store.messages(store.all_message_ids())
    matcher = Matcher(store, index=index, now=NOW)
    rule = _rule("zebracorn")
    matcher.prepare([rule], rows)

    verdict = matcher.check(rule, row)

    assert index.search("zebracorn") == []
    assert verdict.matched


def test_indexed_message_is_looked_up(small_indexed):
    """The index decides for a message it contains: one deleted from the index behind the store's back is not found."""
    store, index, inbox = small_indexed
    row = _add_plain(store, inbox, 10_000, "The zebracorn arrived.")
    for _progress in update_index(store, index, workers=0):
        pass
    rows = store.messages(store.all_message_ids())
    index.delete([row.id])
    rule = _rule("zebracorn")
    with_index = Matcher(store, index=index, now=NOW)
    with_index.prepare([rule], rows)
    without_index = Matcher(store, now=NOW)
    without_index.prepare([rule], rows)

    assert not with_index.check(rule, row).matched
    assert without_index.check(rule, row).matched
