"""Each field of the search language against a small known corpus.

The corpus is built from ``EmailMessage`` objects, stored in a real store and
indexed by the real index builder. Every row gives a query and the subjects of
exactly the messages it must find. The search index and the rule matcher must
both return that set.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from desktop.index import SearchIndex, whoosh_engine
from desktop.index.builder import update_index
from desktop.index.query import QueryError, parse_query
from desktop.mail.parse import parse_summary
from desktop.rules.match import Matcher
from desktop.rules.model import Flag, Rule, When
from desktop.rules.when import parse_when
from desktop.store import NewMessage, Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _message(subject: str, sender: str, to: str, body: str, when: datetime, *, cc: str = "",
             list_id: str = "", attachment: tuple[str, bytes] | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    if list_id:
        message["List-Id"] = list_id
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message.set_content(body)
    if attachment is not None:
        name, data = attachment
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


# (account, folder, flags, raw message)
CORPUS = [
    ("work", "INBOX", ("\\Seen", "\\Answered"), _message(
        "Invoice for March", "Ana Müller <ana@example.com>", "Bob <bob@example.org>",
        "Please pay the invoice by Friday.", datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        cc="Carol Núñez <carol@corp.example>", attachment=("invoice-march.pdf", bytes(range(256)) * 80),
    )),
    ("work", "Archive", ("\\Seen", "\\Flagged", "$SNOOZED"), _message(
        "Lunch plans", "bob@example.org", "ana@example.com", "Meet at the café at noon.",
        datetime(2026, 1, 10, 12, 0, tzinfo=UTC), list_id="Python developers <python-dev.python.org>",
    )),
    ("home", "INBOX", ("$work",), _message(
        "Weekly digest", "News <news@lists.example.net>", "carol@corp.example", "A quiet week in Zürich.",
        datetime(2025, 5, 1, 8, 0, tzinfo=UTC), list_id="<digest.lists.example.net>",
        attachment=("résumé.pdf", b"%PDF-1.4"),
    )),
]

INVOICE, LUNCH, DIGEST = "Invoice for March", "Lunch plans", "Weekly digest"


ROWS = [
    ("from:ana", {INVOICE}),
    ("from:Müller", {INVOICE}),
    ("to:bob@example.org", {INVOICE}),
    ("to:carol@corp.example", {INVOICE, DIGEST}),
    ("cc:carol@corp.example", {INVOICE}),
    ("cc:corp.example", {INVOICE}),
    ('cc:"Carol Núñez"', {INVOICE}),
    ("cc:nunez", {INVOICE}),
    ("cc:bob", set()),
    ("-cc:carol", {LUNCH, DIGEST}),
    ("subject:lunch", {LUNCH}),
    ("body:pay", {INVOICE}),
    ("filename:invoice-march.pdf", {INVOICE}),
    ("attachment:march", {INVOICE}),
    ("in:archive", {LUNCH}),
    ("in:ÁRCHIVE", {LUNCH}),
    ("folder:INBOX", {INVOICE, DIGEST}),
    ("account:home", {DIGEST}),
    ("label:$work", {DIGEST}),
    ("is:unread", {DIGEST}),
    ("is:read", {INVOICE, LUNCH}),
    ("is:flagged", {LUNCH}),
    ("is:replied", {INVOICE}),
    ("is:snoozed", {LUNCH}),
    ("-is:snoozed", {INVOICE, DIGEST}),
    ("has:attachment", {INVOICE, DIGEST}),
    ("before:2026-01-01", {DIGEST}),
    ("after:2026-06-01", {INVOICE}),
    ("older_than:30d", {LUNCH, DIGEST}),
    ("newer_than:2w", {INVOICE}),
    ("larger:10K", {INVOICE}),
    ("smaller:10k", {LUNCH, DIGEST}),
    ("larger:1M", set()),
    ("list:*", {LUNCH, DIGEST}),
    ("list:python-dev.*", {LUNCH}),
    ("list:PYTHON-DEV.PYTHON.ORG", {LUNCH}),
    ("list:pythön-dev.*", {LUNCH}),
    ("lunch OR digest", {LUNCH, DIGEST}),
    ("-has:attachment", {LUNCH}),
    ("(lunch OR digest) -from:news", {LUNCH}),
    ('"pay the invoice"', {INVOICE}),
    ('"invoice the pay"', set()),
    ("carol@corp.example", {INVOICE, DIGEST}),
    ("example.org", {INVOICE, LUNCH}),
    ("Muller", {INVOICE}),
    ("MÜLLER", {INVOICE}),
    ("from:muller", {INVOICE}),
    ("Mueller", set()),
    ("cafe", {LUNCH}),
    ("café", {LUNCH}),
    ("body:CAFÉ", {LUNCH}),
    ('"the cafe at noon"', {LUNCH}),
    ("zurich", {DIGEST}),
    ("filename:resume", {DIGEST}),
    ("filename:résumé.pdf", {DIGEST}),
    ("subject:márch", {INVOICE}),
]


def _fill(store: Store) -> None:
    folders: dict[tuple[str, str], int] = {}
    for uid, (account, name, flags, raw) in enumerate(CORPUS, start=1):
        key = (account, name)
        if key not in folders:
            folders[key] = store.upsert_folder(store.ensure_account(account), name)
        store.insert_messages(folders[key], [NewMessage(uid, list(flags), len(raw), raw, parse_summary(raw))])


def _catch_up(store: Store, index: SearchIndex) -> None:
    for _progress in update_index(store, index, workers=0):
        pass


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, SearchIndex, dict[int, str]]]:
    folder = tmp_path_factory.mktemp("search-fields")
    store = Store(folder / "store.sqlite3")
    _fill(store)
    index = SearchIndex(folder / "index")
    _catch_up(store, index)
    subjects = {row.id: row.subject for row in store.messages(store.all_message_ids())}
    yield store, index, subjects
    index.close()
    store.close()


@pytest.mark.parametrize(("query", "expected"), ROWS)
def test_field_finds_exactly(corpus, query, expected):
    store, index, subjects = corpus

    found = {subjects[message_id] for message_id in index.search(query, limit=None, now=NOW)}
    matcher = Matcher(store, now=NOW)
    rule = Rule(name=query, condition=When(query, parse_when(query)), actions=(Flag(),))
    matched = {subjects[row.id] for row in store.messages(list(subjects)) if matcher.check(rule, row).matched}

    assert found == expected
    assert matched == expected


def test_corpus_sizes_straddle_the_limit(corpus):
    store, _index, subjects = corpus
    sizes = {subjects[row.id]: row.size for row in store.messages(list(subjects))}

    assert sizes[INVOICE] > 10 * 1024 > max(sizes[LUNCH], sizes[DIGEST])


def test_format_4_index_is_refilled_folded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An index of format 4, which kept accents, is recreated by the first open and filled by the next update.

    The first open here only searches, as the window's search box may; the
    update that follows runs through another SearchIndex, as a later sync does.
    """
    store = Store(tmp_path / "store.sqlite3")
    _fill(store)
    with monkeypatch.context() as patch:
        patch.setattr(whoosh_engine, "SCHEMA_VERSION", 4)
        patch.setattr(whoosh_engine, "fold_accents", lambda text: text)
        with SearchIndex(tmp_path / "index") as old:
            _catch_up(store, old)
            unfolded = old.search("muller", limit=None)
            accented = old.search("müller", limit=None)

    with SearchIndex(tmp_path / "index") as first:
        recreated = first.is_new
        searched = first.search("müller", limit=None)
    with SearchIndex(tmp_path / "index") as index:
        reopened_new = index.is_new
        waiting = index.needs_fill
        _catch_up(store, index)
        filled = not index.needs_fill
        folded = index.search("muller", limit=None)
        cc = index.search("cc:carol", limit=None)
        documents = index.doc_count()
    store.close()

    assert unfolded == []
    assert len(accented) == 1
    assert recreated
    assert searched == []
    assert not reopened_new
    assert waiting
    assert filled
    assert documents == len(CORPUS)
    assert folded == accented
    assert cc == accented


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("invoice larger:10G", 15, "Invalid size '10G' for larger:"),
        ("smaller:", 0, "Missing value after 'smaller:'"),
        ("is:replyed", 3, "Did you mean 'replied'?"),
        ("larger:-5", 7, "Invalid size '-5'"),
    ],
)
def test_invalid_values_name_term_and_position(query, position, words):
    with pytest.raises(QueryError) as caught:
        parse_query(query)

    assert caught.value.position == position
    assert words in caught.value.message
