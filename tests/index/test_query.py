"""Tests of the search query parser: the AST for valid text and every error."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.index.query import (
    FIELDS,
    MAX_NESTING,
    And,
    DateRange,
    Exact,
    HasAttachment,
    HasFlag,
    MatchAll,
    Not,
    Or,
    QueryError,
    RelativeDate,
    Text,
    parse_query,
)

A, B, C = Text("a"), Text("b"), Text("c")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Empty queries match everything.
        ("", MatchAll()),
        ("   \t\n", MatchAll()),
        # Words, phrases and implicit AND.
        ("a", A),
        ("a b", And((A, B))),
        ("a  b\tc", And((A, B, C))),
        ('"weekly report"', Text("weekly report", phrase=True)),
        ('a "b c"', And((A, Text("b c", phrase=True)))),
        ('foo"bar baz"', And((Text("foo"), Text("bar baz", phrase=True)))),
        ("e-mail", Text("e-mail")),
        ("ana@example.com", Text("ana@example.com")),
        ("Résumé", Text("Résumé")),
        ("明日の会議", Text("明日の会議")),
        # OR binds tighter than the implicit AND.
        ("a OR b", Or((A, B))),
        ("a b OR c", And((A, Or((B, C))))),
        ("a OR b c", And((Or((A, B)), C))),
        ("a OR b OR c", Or((A, B, C))),
        ("(a b) OR c", Or((And((A, B)), C))),
        # Lowercase operators are words.
        ("a or b", And((A, Text("or"), B))),
        ("a and b not c", And((A, Text("and"), B, Text("not"), C))),
        # AND is a no-op.
        ("a AND b", And((A, B))),
        ("AND a", A),
        ("a AND", A),
        ("a AND AND b", And((A, B))),
        # Negation.
        ("-a", Not(A)),
        ("NOT a", Not(A)),
        ("a -b", And((A, Not(B)))),
        ("--a", A),
        ("NOT -a", A),
        ("-(a b)", Not(And((A, B)))),
        ("-a OR b", Or((Not(A), B))),
        ('-"b c"', Not(Text("b c", phrase=True))),
        ("-from:ana", Not(Text("ana", field="from"))),
        ("a - b", And((A, B))),
        ("a -", A),
        ("-OR", Not(Text("OR"))),
        ("-NOT", Not(Text("NOT"))),
        # Parentheses.
        ("(a)", A),
        ("((a))", A),
        ("(a OR b) c", And((Or((A, B)), C))),
        ("a (b (c))", And((A, B, C))),
        ("f(x)", And((Text("f"), Text("x")))),
        # Words without letters or digits are dropped.
        ("a & b", And((A, B))),
        ("!!! a", A),
        ("-!!!", MatchAll()),
        ('""', MatchAll()),
        ("...", MatchAll()),
        # Text fields.
        ("from:ana", Text("ana", field="from")),
        ("FROM:ana", Text("ana", field="from")),
        ("to:bob@example.com", Text("bob@example.com", field="to")),
        ("subject:report", Text("report", field="subject")),
        ('subject:"weekly report"', Text("weekly report", field="subject", phrase=True)),
        ('from:"Ana Díaz"', Text("Ana Díaz", field="from", phrase=True)),
        ("body:invoice", Text("invoice", field="body")),
        ("attachment:pdf", Text("pdf", field="attachment")),
        ("subject:re:hello", Text("re:hello", field="subject")),
        # Exact fields.
        ("account:Work", Exact("account", "work")),
        ("folder:INBOX", Exact("folder", "inbox")),
        ("folder:Entwürfe", Exact("folder", "entwürfe")),
        ("folder:Lists/*", Exact("folder", "lists/", prefix=True)),
        ("folder:*", Exact("folder", "", prefix=True)),
        ('folder:"Lists/*"', Exact("folder", "lists/*")),
        ('folder:"Old Mail"', Exact("folder", "old mail")),
        ("account:wo*", Exact("account", "wo", prefix=True)),
        # Flags and attachments.
        ("is:read", HasFlag("\\seen")),
        ("is:unread", Not(HasFlag("\\seen"))),
        ("is:UNREAD", Not(HasFlag("\\seen"))),
        ("is:flagged", HasFlag("\\flagged")),
        ("is:starred", HasFlag("\\flagged")),
        ("is:unstarred", Not(HasFlag("\\flagged"))),
        ("is:unflagged", Not(HasFlag("\\flagged"))),
        ("is:answered", HasFlag("\\answered")),
        ("is:unanswered", Not(HasFlag("\\answered"))),
        ("-is:unread", Not(Not(HasFlag("\\seen")))),
        ("has:attachment", HasAttachment()),
        ("label:$Label1", HasFlag("$label1")),
        ("label:Work-Project", HasFlag("work-project")),
        # Dates.
        ("before:2026-03-31", DateRange(end=datetime(2026, 3, 31, tzinfo=UTC))),
        ("after:2026-02-28", DateRange(start=datetime(2026, 2, 28, tzinfo=UTC))),
        ("after:2024-02-29", DateRange(start=datetime(2024, 2, 29, tzinfo=UTC))),
        ("older_than:30d", RelativeDate(timedelta(days=30), older=True)),
        ("newer_than:2w", RelativeDate(timedelta(days=14), older=False)),
        ("older_than:3m", RelativeDate(timedelta(days=90), older=True)),
        ("newer_than:1y", RelativeDate(timedelta(days=365), older=False)),
        ("newer_than:0d", RelativeDate(timedelta(days=0), older=False)),
        ("OLDER_THAN:1D", RelativeDate(timedelta(days=1), older=True)),
        # URLs are words, not fields.
        ("https://example.com/a", Text("https://example.com/a")),
        # A colon after something that is not a field name is part of the word.
        ("10:30", Text("10:30")),
        ("ärger:x", Text("ärger:x")),
        # Combinations.
        (
            "from:ana is:unread (invoice OR receipt) -label:spam after:2026-01-01",
            And(
                (
                    Text("ana", field="from"),
                    Not(HasFlag("\\seen")),
                    Or((Text("invoice"), Text("receipt"))),
                    Not(HasFlag("spam")),
                    DateRange(start=datetime(2026, 1, 1, tzinfo=UTC)),
                )
            ),
        ),
    ],
)
def test_parse_valid(text: str, expected: object) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "fragments"),
    [
        # Unknown fields, with a suggestion and the list of fields.
        ("frm:x", 0, ["Unknown field 'frm'", "Did you mean 'from'?", "from, to, cc, subject"]),
        ("a subjet:x", 2, ["Unknown field 'subjet'", "Did you mean 'subject'?"]),
        ("Re: hello", 0, ["Unknown field 'Re'", 'put it in quotes: "Re:"']),
        ("zzzzzz:x", 0, ["Unknown field 'zzzzzz'", "Known fields:"]),
        # Missing or unsupported values.
        ("from:", 0, ["Missing value after 'from:'"]),
        ("from: ana", 0, ["Missing value after 'from:'", "without a space"]),
        ('subject:""', 0, ["Missing value after 'subject:'"]),
        ("from:(ana bob)", 5, ["Parentheses after 'from:' are not supported"]),
        # Dates.
        ("before:2026-13-01", 7, ["Invalid date '2026-13-01' for before:", "YYYY-MM-DD"]),
        ("after:2026-02-30", 6, ["Invalid date '2026-02-30' for after:", "day is out of range"]),
        ("after:yesterday", 6, ["Invalid date 'yesterday' for after:", "after:2026-03-31"]),
        ("before:2026-3-1", 7, ["Invalid date '2026-3-1'"]),
        ("before:0000-01-01", 7, ["Invalid date '0000-01-01'"]),
        ("older_than:30", 11, ["Invalid age '30' for older_than:", "d (days)"]),
        ("newer_than:2x", 11, ["Invalid age '2x' for newer_than:"]),
        ("newer_than:-2d", 11, ["Invalid age '-2d'"]),
        ("older_than:1001y", 11, ["too long", "365000 days"]),
        # Unknown values of is: and has:.
        ("is:unraed", 3, ["Unknown value 'unraed' for is:", "Did you mean 'unread'?", "is:flagged"]),
        ("is:spam", 3, ["Unknown value 'spam' for is:", "is:read"]),
        ("has:attachments", 4, ["Unknown value 'attachments' for has:", "has:attachment"]),
        # Quotes and parentheses.
        ('"abc', 0, ["Missing closing quote"]),
        ('a "b c', 2, ["Missing closing quote"]),
        ('from:"Ana', 5, ["Missing closing quote"]),
        ("(a b", 0, ["Missing ')'"]),
        ("a (b (c)", 2, ["Missing ')'"]),
        ("a b)", 3, ["This ')' has no matching '('"]),
        (")", 0, ["This ')' has no matching '('"]),
        ("()", 0, ["Empty parentheses"]),
        ("a ( ) b", 2, ["Empty parentheses"]),
        ("(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1), MAX_NESTING, ["nested more than"]),
        # Dangling operators.
        ("a OR", 2, ["'OR' needs a search term on its right"]),
        ("OR a", 0, ["'OR' needs a search term on its left"]),
        ("a OR OR b", 2, ["'OR' needs a search term on its right"]),
        ("(a OR) b", 3, ["'OR' needs a search term on its right"]),
        ("a AND OR b", 6, ["'OR' needs a search term on its left"]),
        ("a OR AND b", 2, ["'OR' needs a search term on its right"]),
        ("NOT", 0, ["'NOT' needs a search term right after it"]),
        ("a NOT", 2, ["'NOT' needs a search term right after it"]),
        ("(NOT) a", 1, ["'NOT' needs a search term right after it"]),
        ("-(", 1, ["Missing ')'"]),
    ],
)
def test_parse_errors(text: str, position: int, fragments: list[str]) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text)

    error = caught.value
    assert error.query == text
    assert error.position == position
    for fragment in fragments:
        assert fragment in error.message
    assert isinstance(error, ValueError)


def test_error_str_shows_caret_under_position() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("from:ana frm:x")

    lines = str(caught.value).splitlines()
    assert lines[0] == caught.value.message
    assert lines[1] == "    from:ana frm:x"
    assert lines[2] == "    " + " " * 9 + "^"


def test_error_caret_counts_wide_characters() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("会議 frm:x")

    lines = str(caught.value).splitlines()
    # Two wide characters take four columns, then one space.
    assert lines[2] == "    " + " " * 5 + "^"


def test_error_caret_with_line_breaks_in_query() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("a\nfrm:x")

    lines = str(caught.value).splitlines()
    assert lines[1] == "    a frm:x"
    assert lines[2] == "      ^"


def test_error_survives_pickling() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("is:unraed")

    copied = pickle.loads(pickle.dumps(caught.value))
    assert copied.query == "is:unraed"
    assert copied.position == 3
    assert copied.message == caught.value.message


def test_every_field_is_documented_in_unknown_field_message() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("nosuchfield:x")

    for name in FIELDS:
        assert name in caught.value.message


# Fragments that make arbitrary text likelier to reach every branch of the parser.
_QUERY_PIECES = st.sampled_from(
    [
        " ", "(", ")", '"', "-", ":", "*", "OR", "AND", "NOT", "a", "é", "会議", "\t",
        "from:", "to:", "is:", "is:unread", "has:", "label:", "folder:", "account:x*",
        "before:", "after:2026-01-01", "before:2026-13-01", "older_than:", "newer_than:9y",
        "frm:", "http://", "@", ".", "\\", "\x00",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_parse_arbitrary_text(text: str) -> None:
    try:
        parse_query(text)
    except QueryError as error:
        assert 0 <= error.position <= len(text)
        assert error.message
        str(error)


@settings(max_examples=400, deadline=None)
@given(st.lists(_QUERY_PIECES, max_size=20).map("".join))
def test_parse_query_fragments(text: str) -> None:
    try:
        parse_query(text)
    except QueryError as error:
        assert 0 <= error.position <= len(text)
        assert error.message
        str(error)
