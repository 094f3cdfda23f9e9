"""The search query language and the documents it searches, independent of any engine.

``parse_query`` turns the text a user types into a small tree of frozen dataclasses
(the query AST). An engine translates that tree into its own query objects, so user
text never reaches an engine's own parser. ``docs/search.md`` describes the language
for users. In short:

- Words separated by spaces must all match (implicit AND). ``OR`` joins the terms on
  its two sides and binds tighter than the implicit AND, so ``a b OR c`` means
  ``a AND (b OR c)``. ``AND`` is accepted and changes nothing.
- ``-term`` and ``NOT term`` negate, and parentheses group.
- ``field:value`` restricts a term to a field. Values may be quoted.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

logger = logging.getLogger(__name__)

# Parentheses nested deeper than this are rejected, which also bounds recursion
# in the parser and in engines that walk the tree.
MAX_NESTING = 32

# Maximum age in days for older_than: and newer_than:, about 1000 years. Much larger
# values would push "now minus age" below datetime.min.
MAX_AGE_DAYS = 365_000

_AGE_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


@dataclass
class IndexDocument:
    """The fields of one message that the search index stores or searches.

    Attributes:
        message_id: The store's integer id, unique across all accounts.
        account: Account name, e.g. "work".
        folder: Folder name as shown, e.g. "INBOX", "Lists/python-dev", "Entwürfe".
        sender: Display name and address, e.g. "Ana Díaz <ana@example.com>".
        recipients: To and Cc, names and addresses, comma separated.
        subject: The decoded subject.
        body: Plain text, or text extracted from HTML.
        attachments: Decoded file names.
        date: Timezone-aware date, or None when the message has no usable date.
            Naive values are taken as UTC.
        flags: IMAP flags and keywords, e.g. ["\\Seen", "\\Flagged", "$label1"].
        size: The message's size in bytes, as the server reported it.
        list_id: The id of the mailing list from the List-Id header, e.g.
            "python-dev.python.org", or "" when there is none.
        cc: Cc alone, names and addresses, comma separated. Empty when only the
            message's headers are stored, because the store keeps To and Cc together.
    """

    message_id: int
    account: str
    folder: str
    sender: str
    recipients: str
    subject: str
    body: str
    attachments: list[str] = field(default_factory=list)
    date: datetime | None = None
    flags: list[str] = field(default_factory=list)
    size: int = 0
    list_id: str = ""
    cc: str = ""


class QueryError(ValueError):
    """A search query that cannot be parsed.

    Attributes:
        query: The full query text.
        position: Offset into ``query`` where the problem starts.
        message: What is wrong and how to fix it, in plain English.
    """

    def __init__(self, query: str, position: int, message: str) -> None:
        # All three go to args, so the error survives pickling (e.g. across processes).
        super().__init__(query, position, message)
        self.query = query
        self.position = position
        self.message = message

    def __str__(self) -> str:
        line = re.sub(r"\s", " ", self.query)
        column = _display_width(line[: self.position])
        return f"{self.message}\n    {line}\n    {' ' * column}^"


def _display_width(text: str) -> int:
    """Count terminal columns, so the caret lines up under CJK and combining characters."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


# The query AST. Engines match on these classes; every field is plain data.


@dataclass(frozen=True)
class MatchAll:
    """Matches every message (the empty query)."""


@dataclass(frozen=True)
class Text:
    """Words to find in a text field.

    Attributes:
        text: The words as typed, without quotes.
        field: One of TEXT_FIELDS, or None for any text field (a quoted phrase
            without a field searches only subject and body).
        phrase: True when the user quoted the words.
    """

    text: str
    field: str | None = None
    phrase: bool = False


@dataclass(frozen=True)
class Exact:
    """A whole-value match on ``account`` or ``folder``, case-insensitive.

    Attributes:
        field: "account" or "folder".
        value: The casefolded value.
        prefix: True when the value ended with ``*``: match values starting with it.
    """

    field: str
    value: str
    prefix: bool = False


@dataclass(frozen=True)
class HasFlag:
    """Messages carrying an IMAP flag or keyword; ``flag`` is casefolded, e.g. "\\seen"."""

    flag: str


@dataclass(frozen=True)
class HasAttachment:
    """Messages with at least one attachment."""


@dataclass(frozen=True)
class DateRange:
    """Messages dated from ``start`` (inclusive) to ``end`` (exclusive), in UTC.

    A missing bound is open. Messages without a date never match.
    """

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class RelativeDate:
    """Messages older or newer than ``age`` before the moment of the search.

    ``older`` True means dated before now minus age; False means dated at or after it.
    Messages without a date never match.
    """

    age: timedelta
    older: bool


@dataclass(frozen=True)
class Size:
    """Messages larger (``larger`` True) or smaller than ``limit`` bytes; equal sizes match neither."""

    limit: int
    larger: bool


@dataclass(frozen=True)
class ListId:
    """Messages from a mailing list whose List-Id matches ``pattern``.

    ``pattern`` is a casefolded glob with ``*``, ``?`` and ``[...]`` matched against
    the whole list id; ``*`` matches any message that has a List-Id.
    """

    pattern: str


@dataclass(frozen=True)
class Not:
    operand: Query


@dataclass(frozen=True)
class And:
    operands: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Query, ...]


Query = (
    MatchAll | Text | Exact | HasFlag | HasAttachment | DateRange | RelativeDate | Size | ListId | Not | And | Or
)

# Fields searched by words that carry no field name, in the user's words.
TEXT_FIELDS = ("from", "to", "cc", "subject", "body", "attachment")

_IS_VALUES: dict[str, Query] = {
    "read": HasFlag("\\seen"),
    "unread": Not(HasFlag("\\seen")),
    "flagged": HasFlag("\\flagged"),
    "unflagged": Not(HasFlag("\\flagged")),
    # The window calls a flagged message starred, as Gmail and Thunderbird do.
    "starred": HasFlag("\\flagged"),
    "unstarred": Not(HasFlag("\\flagged")),
    "answered": HasFlag("\\answered"),
    "unanswered": Not(HasFlag("\\answered")),
    "replied": HasFlag("\\answered"),
    "unreplied": Not(HasFlag("\\answered")),
    # Snoozing a message sets this IMAP keyword, so other clients see it too.
    "snoozed": HasFlag("$snoozed"),
}

_HAS_VALUES: dict[str, Query] = {"attachment": HasAttachment()}


class _InvalidValue(Exception):
    """A field value that is invalid; the lexer adds the position."""


# Other names for fields: ``filename:`` is ``attachment:`` and ``in:`` is ``folder:``.
_ALIASES = {"filename": "attachment", "in": "folder"}


def _build_text(name: str, value: str, quoted: bool) -> Query:
    return Text(value, field=_ALIASES.get(name, name), phrase=quoted)


def _build_exact(name: str, value: str, quoted: bool) -> Query:
    prefix = value.endswith("*") and not quoted
    if prefix:
        value = value[:-1]
    return Exact(_ALIASES.get(name, name), value.casefold(), prefix=prefix)


def _build_choice(choices: dict[str, Query]) -> Callable[[str, str, bool], Query]:
    def build(name: str, value: str, quoted: bool) -> Query:
        node = choices.get(value.casefold())
        if node is not None:
            return node
        raise _InvalidValue(
            f"Unknown value '{value}' for {name}:.{_suggestion(value.casefold(), choices)} "
            f"Use one of: {', '.join(f'{name}:{choice}' for choice in choices)}."
        )

    return build


def _build_label(name: str, value: str, quoted: bool) -> Query:
    return HasFlag(value.casefold())


def _parse_day(name: str, value: str) -> datetime:
    example = f"Write dates as YYYY-MM-DD, e.g. {name}:2026-03-31."
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    if match is None:
        raise _InvalidValue(f"Invalid date '{value}' for {name}:. {example}")
    try:
        day = date(*(int(part) for part in match.groups()))
    except ValueError as error:
        raise _InvalidValue(f"Invalid date '{value}' for {name}: ({error}). {example}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _build_before(name: str, value: str, quoted: bool) -> Query:
    return DateRange(end=_parse_day(name, value))


def _build_after(name: str, value: str, quoted: bool) -> Query:
    return DateRange(start=_parse_day(name, value))


def _parse_age(name: str, value: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dwmy])", value.casefold())
    if match is None:
        raise _InvalidValue(
            f"Invalid age '{value}' for {name}:. Write a number followed by d (days), "
            f"w (weeks), m (months of 30 days) or y (years of 365 days), e.g. {name}:30d."
        )
    days = int(match.group(1)) * _AGE_UNIT_DAYS[match.group(2)]
    if days > MAX_AGE_DAYS:
        raise _InvalidValue(
            f"Age '{value}' for {name}: is too long. Use at most {MAX_AGE_DAYS} days (1000y)."
        )
    return timedelta(days=days)


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


def _build_size(name: str, value: str, quoted: bool) -> Query:
    match = re.fullmatch(r"(\d{1,12})([km]?)b?", value.casefold())
    if match is None:
        raise _InvalidValue(
            f"Invalid size '{value}' for {name}:. Write a number of bytes, optionally followed "
            f"by K (1024 bytes) or M (1024 K), e.g. {name}:500K or {name}:2M."
        )
    limit = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    return Size(limit, larger=name == "larger")


def _build_list(name: str, value: str, quoted: bool) -> Query:
    return ListId(value.casefold())


def _build_older_than(name: str, value: str, quoted: bool) -> Query:
    return RelativeDate(_parse_age(name, value), older=True)


def _build_newer_than(name: str, value: str, quoted: bool) -> Query:
    return RelativeDate(_parse_age(name, value), older=False)


_FIELD_BUILDERS: dict[str, Callable[[str, str, bool], Query]] = {
    **{name: _build_text for name in TEXT_FIELDS},
    "filename": _build_text,
    "account": _build_exact,
    "folder": _build_exact,
    "in": _build_exact,
    "is": _build_choice(_IS_VALUES),
    "has": _build_choice(_HAS_VALUES),
    "label": _build_label,
    "before": _build_before,
    "after": _build_after,
    "older_than": _build_older_than,
    "newer_than": _build_newer_than,
    "larger": _build_size,
    "smaller": _build_size,
    "list": _build_list,
}

FIELDS = tuple(_FIELD_BUILDERS)


def _suggestion(word: str, choices: object) -> str:
    """Return " Did you mean 'x'?" for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


# Lexer


@dataclass
class _Token:
    """One lexical unit of a query.

    ``kind`` is one of: word, phrase, field, lparen, rparen, or, and, not, minus, end.
    For kind "field", ``node`` is the already built AST leaf.
    """

    kind: str
    position: int
    text: str = ""
    node: Query | None = None


_FIELD_NAME = re.compile(r"([A-Za-z][A-Za-z_]*):")
_OPERATORS = {"OR": "or", "AND": "and", "NOT": "not"}


class _Lexer:
    """Split query text into tokens, building field leaves on the way."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.tokens: list[_Token] = []

    def error(self, position: int, message: str) -> QueryError:
        return QueryError(self.text, position, message)

    def run(self) -> list[_Token]:
        text = self.text
        while self.position < len(text):
            char = text[self.position]
            if char.isspace():
                self.position += 1
            elif char in "()":
                kind = "lparen" if char == "(" else "rparen"
                self.tokens.append(_Token(kind, self.position))
                self.position += 1
            elif char == "-" and self._starts_term(self.position + 1):
                self.tokens.append(_Token("minus", self.position))
                self.position += 1
            elif char == '"':
                self._read_phrase()
            else:
                self._read_word()
        self.tokens.append(_Token("end", len(text)))
        return self.tokens

    def _starts_term(self, position: int) -> bool:
        return position < len(self.text) and not self.text[position].isspace() and (
            self.text[position] != ")"
        )

    def _read_quoted(self, start: int) -> str:
        """Read a quoted string whose opening quote is at ``start``."""
        end = self.text.find('"', start + 1)
        if end < 0:
            raise self.error(
                start, "Missing closing quote for the quote here. Add a '\"' after the phrase."
            )
        self.position = end + 1
        return self.text[start + 1 : end]

    def _read_phrase(self) -> None:
        start = self.position
        content = self._read_quoted(start)
        self._append_term(_Token("phrase", start, text=content))

    def _word_end(self, position: int) -> int:
        while position < len(self.text):
            char = self.text[position]
            if char.isspace() or char in '()"':
                break
            position += 1
        return position

    def _follows_minus(self, position: int) -> bool:
        return bool(self.tokens) and self.tokens[-1].kind == "minus" and (
            self.tokens[-1].position == position - 1
        )

    def _read_word(self) -> None:
        start = self.position
        self.position = self._word_end(start)
        word = self.text[start : self.position]

        if word in _OPERATORS and not self._follows_minus(start):
            self.tokens.append(_Token(_OPERATORS[word], start, text=word))
            return

        match = _FIELD_NAME.match(word)
        # "https://..." and similar are words, not fields.
        if match and not word[match.end() :].startswith("//"):
            self._read_field(start, match.group(1), word)
            return

        self._append_term(_Token("word", start, text=word))

    def _append_term(self, token: _Token) -> None:
        # Words without letters or digits ("-", "&", "...") find nothing, so they
        # are dropped, together with a minus written directly before them.
        if any(char.isalnum() for char in token.text):
            self.tokens.append(token)
        elif self._follows_minus(token.position):
            self.tokens.pop()

    def _read_field(self, start: int, name: str, word: str) -> None:
        key = name.lower()
        if key not in _FIELD_BUILDERS:
            raise self.error(
                start,
                f"Unknown field '{name}'.{_suggestion(key, FIELDS)} "
                f"Known fields: {', '.join(FIELDS)}. "
                f"To search for the text itself, put it in quotes: \"{word}\".",
            )

        value_start = start + len(name) + 1
        value = word[len(name) + 1 :]
        quoted = False
        if not value and self.text.startswith('"', self.position):
            value = self._read_quoted(self.position)
            quoted = True
        elif not value:
            self._reject_missing_value(start, key)

        if not value.strip():
            raise self.error(start, f"Missing value after '{key}:'. Put the text inside the quotes.")

        try:
            node = _FIELD_BUILDERS[key](key, value, quoted)
        except _InvalidValue as problem:
            raise self.error(value_start, str(problem)) from None
        self.tokens.append(_Token("field", start, text=value, node=node))

    def _reject_missing_value(self, start: int, key: str) -> None:
        if self.text.startswith("(", self.position):
            raise self.error(
                self.position,
                f"Parentheses after '{key}:' are not supported. Repeat the field for each "
                f"value instead, e.g. {key}:one OR {key}:two.",
            )
        raise self.error(
            start,
            f"Missing value after '{key}:'. Write the value right after the colon, without "
            f"a space, e.g. {key}:something, or quote it: {key}:\"two words\".",
        )


# Parser


class _Parser:
    """Recursive descent over the token list.

    Grammar, lowest precedence first::

        sequence := (["AND"] either)*          implicit AND
        either   := unary ("OR" unary)*
        unary    := ("-" | "NOT")* primary
        primary  := "(" sequence ")" | word | phrase | field
    """

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    def error(self, position: int, message: str) -> QueryError:
        return QueryError(self.text, position, message)

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Query:
        node = self.parse_sequence(depth=0, opening=None)
        return MatchAll() if node is None else node

    def parse_sequence(self, depth: int, opening: _Token | None) -> Query | None:
        """Parse terms up to the end or the ``)`` that closes ``opening``."""
        operands: list[Query] = []
        while True:
            token = self.peek()
            if token.kind == "end":
                self._reject_unclosed(opening)
                break
            if token.kind == "rparen":
                self._reject_unopened(token, opening)
                self.advance()
                break
            if token.kind == "and":
                self.advance()
                continue
            if token.kind == "or":
                raise self.error(
                    token.position,
                    "'OR' needs a search term on its left, e.g. invoice OR receipt.",
                )
            operands.append(self.parse_either(depth))
        return _combine(And, operands)

    def _reject_unclosed(self, opening: _Token | None) -> None:
        if opening is not None:
            raise self.error(
                opening.position, "Missing ')' for this '('. Add a ')' where the group ends."
            )

    def _reject_unopened(self, token: _Token, opening: _Token | None) -> None:
        if opening is None:
            raise self.error(
                token.position,
                "This ')' has no matching '('. Remove it or add a '(' where the group starts.",
            )

    def parse_either(self, depth: int) -> Query:
        operands = [self.parse_unary(depth)]
        while self.peek().kind == "or":
            operator = self.advance()
            if self.peek().kind in ("end", "rparen", "or", "and"):
                raise self.error(
                    operator.position,
                    "'OR' needs a search term on its right, e.g. invoice OR receipt.",
                )
            operands.append(self.parse_unary(depth))
        node = _combine(Or, operands)
        assert node is not None
        return node

    def parse_unary(self, depth: int) -> Query:
        negations = 0
        while self.peek().kind in ("minus", "not"):
            operator = self.advance()
            negations += 1
            if self.peek().kind in ("end", "rparen", "or", "and"):
                operator_text = "-" if operator.kind == "minus" else "NOT"
                raise self.error(
                    operator.position,
                    f"'{operator_text}' needs a search term right after it, e.g. -newsletter "
                    f"or NOT from:ana.",
                )
        node = self.parse_primary(depth)
        return Not(node) if negations % 2 else node

    def parse_primary(self, depth: int) -> Query:
        token = self.advance()
        if token.kind == "lparen":
            return self._parse_group(token, depth)
        if token.kind == "field":
            assert token.node is not None
            return token.node
        if token.kind == "phrase":
            return Text(token.text, phrase=True)
        return Text(token.text)

    def _parse_group(self, opening: _Token, depth: int) -> Query:
        if depth >= MAX_NESTING:
            raise self.error(
                opening.position,
                f"Parentheses are nested more than {MAX_NESTING} levels deep. "
                f"Remove some of them.",
            )
        node = self.parse_sequence(depth + 1, opening)
        if node is None:
            raise self.error(
                opening.position, "Empty parentheses. Put search terms inside or remove them."
            )
        return node


def _combine(kind: type[And] | type[Or], operands: list[Query]) -> Query | None:
    """Join operands with And or Or, flattening nested nodes of the same kind."""
    flat: list[Query] = []
    for operand in operands:
        if isinstance(operand, kind):
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    if not flat:
        return None
    if len(flat) == 1:
        return flat[0]
    return kind(tuple(flat))


def parse_query(text: str) -> Query:
    """Parse search text into a query tree.

    An empty or blank query returns MatchAll.

    Raises:
        QueryError: The text is not a valid query. The error names the problem,
            its position and the fix.
    """
    tokens = _Lexer(text).run()
    node = _Parser(text, tokens).parse()
    logger.debug("Parsed a query of %d characters into %s", len(text), type(node).__name__)
    return node
