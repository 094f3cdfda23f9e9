"""Decide whether a rule's condition matches a message.

``Matcher`` compiles each rule's condition once into a tree of closures, and
reads each message's values once (``MessageFacts``), so checking many rules
against many messages does no per-message type dispatch or repeated parsing.

The ``when`` query is evaluated in Python against the message's own fields,
with the search index's term rules, so it matches what the search box finds
(see ``desktop.rules.facts``). Rules run on new mail before the index has it,
so the index is never required. With an index, ``prepare`` queries it for the
body and attachment terms of messages it already contains, instead of parsing
each one.

Conditions are evaluated in three-valued logic: a test that needs the raw
message of a message stored as headers only is unknown. Unknown parts that
cannot change the outcome (``a OR b`` with ``a`` true) are ignored; otherwise
the verdict is "no match, needs the body".
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from desktop.index.query import (
    And,
    DateRange,
    Exact,
    HasAttachment,
    HasFlag,
    ListId,
    MatchAll,
    Not,
    Or,
    RelativeDate,
    Size,
    Text,
)
from desktop.index.whoosh_engine import QueryTerm, SearchIndex, normalize_text, query_terms
from desktop.rules import facts as fact_fields
from desktop.rules.facts import COLUMN_FIELDS, MessageFacts, TermMap, column_addresses, from_value, minute_key
from desktop.rules.model import (
    AddressTest,
    AgeTest,
    AllOf,
    AnyOf,
    AttachmentTest,
    BodyTest,
    FlagTest,
    HeaderTest,
    ListTerm,
    NotOf,
    Rule,
    SizeTest,
    TextMatch,
    When,
)
from desktop.store import MessageRow, Store
from desktop.text import sentence

logger = logging.getLogger(__name__)

# With at least this many messages, ``prepare`` queries the index for body and
# attachment terms. One index query took about as long as 60 full parses of a
# message, so smaller batches are parsed. The value is an estimate.
INDEX_MIN_MESSAGES = 100

# Descriptions in ``decided_by`` are cut to this many characters.
MAX_DESCRIPTION = 80

# Cost ranks: parts are evaluated cheapest first, so a cheap part that fails
# spares the parsing an expensive part needs.
_COLUMNS, _HEADERS, _FULL = 0, 1, 2

Check = Callable[[MessageFacts], "bool | None"]


@dataclass(frozen=True)
class Verdict:
    """Whether a rule's condition matched a message, and why.

    Attributes:
        matched: True when the condition matched.
        decided_by: The deciding part in plain English, e.g. "when 'subject:invoice'
            matched" or "if test 2 (header subject contains 'shop') did not match".
        needs_body: True when the result depends on the message body (or a header
            that only the raw message has), which is not in the store yet.
            ``matched`` is False then.
    """

    matched: bool
    decided_by: str
    needs_body: bool = False


# Three-valued combinators: None is "unknown".


def _always(_facts: MessageFacts) -> bool:
    return True


def _never(_facts: MessageFacts) -> bool:
    return False


def _all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def all_of(facts: MessageFacts) -> bool | None:
        unknown = False
        for check in checks:
            result = check(facts)
            if result is False:
                return False
            if result is None:
                unknown = True
        return None if unknown else True

    return all_of


def _any_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def any_of(facts: MessageFacts) -> bool | None:
        unknown = False
        for check in checks:
            result = check(facts)
            if result:
                return True
            if result is None:
                unknown = True
        return None if unknown else False

    return any_of


def _negate(check: Check) -> Check:
    def negated(facts: MessageFacts) -> bool | None:
        result = check(facts)
        return None if result is None else not result

    return negated


# Text comparisons of structured tests


def compile_text_match(match: TextMatch) -> Callable[[str], bool]:
    """Return a test of one string for ``match``; it ignores case unless ``case_sensitive``.

    Raises:
        ValueError: The regular expression does not compile.
    """
    if match.operator == "regex":
        try:
            pattern = re.compile(match.value, 0 if match.case_sensitive else re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"Invalid regex {match.value!r}: {sentence(error)} Fix the expression in the rule.") from None
        return lambda value: pattern.search(value) is not None

    fold: Callable[[str], str] = str if match.case_sensitive else str.casefold  # type: ignore[assignment]
    wanted = fold(match.value)
    if match.operator == "is":
        return lambda value: fold(value) == wanted
    if match.operator == "contains":
        return lambda value: wanted in fold(value)
    if match.operator == "matches":
        glob = re.compile(fnmatch.translate(wanted))
        return lambda value: glob.match(fold(value)) is not None
    raise ValueError(f"Unknown text operator {match.operator!r}. Use is, contains, matches or regex.")


# Term probes for ``when`` text, with the index's rules for terms and phrases


def _term_probe(terms: list[QueryTerm]) -> Callable[[TermMap], bool]:
    """Return a test of a field's term map for the query terms (one term, a prefix or a phrase)."""
    if len(terms) == 1:
        term = terms[0]
        if term.prefix:
            text = term.text
            return lambda found: any(candidate.startswith(text) for candidate in found)
        text = term.text
        return lambda found: text in found

    # A phrase: the terms at consecutive positions. The index ignores the
    # prefix mark of a lone CJK character inside a phrase, and so does this.
    first = terms[0].text
    rest = [(offset, term.text) for offset, term in enumerate(terms[1:], start=1)]

    def phrase(found: TermMap) -> bool:
        starts = found.get(first)
        if not starts:
            return False
        followers = []
        for offset, text in rest:
            positions = found.get(text)
            if not positions:
                return False
            followers.append((offset, positions))
        return any(all(start + offset in positions for offset, positions in followers) for start in starts)

    return phrase


class Matcher:
    """Rule checks against the messages of one store.

    Use one Matcher for one run over a fixed state of the store: it caches
    compiled conditions, each message's values and the index's results, and
    does not notice later changes to raw messages or the index queue. A newer
    row of a message (e.g. with changed flags) is read again from its columns.

    Args:
        store: The store the messages come from; raw messages are read from it.
        index: The search index, used by ``prepare`` for body and attachment
            terms of messages it contains; optional.
        now: The moment ages count from (``older_than``); the current time when None.
    """

    def __init__(self, store: Store, *, index: SearchIndex | None = None, now: datetime | None = None) -> None:
        self._store = store
        self._index = index
        self.now = now or datetime.now(UTC)
        self._rules: dict[int, tuple[Rule, _CompiledRule]] = {}
        self._last_rule: Rule | None = None
        self._last_compiled: _CompiledRule | None = None
        self._facts: dict[int, MessageFacts] = {}
        # Ids of prepared messages whose index document equals the stored message,
        # filled by prepare() when a batch is large enough to query the index.
        self._indexed: set[int] = set()
        self._index_hits: dict[str, frozenset[int] | None] = {}
        self._names: dict[str, str] = {}
        self._shared_terms: dict[str, TermMap] = {}

    # Public API

    def prepare(self, rules: Sequence[Rule], rows: Sequence[MessageRow]) -> None:
        """Compile ``rules`` and, for a large batch with an index, run their index queries once."""
        started = time.monotonic()
        compiled = [self._compiled(rule) for rule in rules]
        queries = sorted({query for rule in compiled for query in rule.index_queries})
        if self._index is not None and queries and len(rows) >= INDEX_MIN_MESSAGES:
            self._indexed.update(row.id for row in rows)
            self._indexed -= self._ids_not_in_index(rows)
            for query in queries:
                self._hits(query)
        logger.debug(
            "Prepared %d rule(s) for %d message(s) with %d index query(ies) in %.0f ms",
            len(rules), len(rows), len(self._index_hits), (time.monotonic() - started) * 1000,
        )

    def check(self, rule: Rule, row: MessageRow) -> Verdict:
        """Return whether the rule's condition matches the message; the rule's scope is not checked here."""
        # Callers loop over rules per message or over messages per rule, so the
        # last rule and the cached facts spare most lookups.
        if rule is self._last_rule:
            compiled = self._last_compiled
        else:
            compiled = self._compiled(rule)
            self._last_rule, self._last_compiled = rule, compiled
        facts = self._facts.get(row.id)
        if facts is None or facts.row is not row:
            facts = self._facts_for(row)
        return compiled.verdict(facts)

    # Caches

    def _compiled(self, rule: Rule) -> _CompiledRule:
        # Keyed by identity: hashing a frozen rule hashes its whole condition tree.
        entry = self._rules.get(id(rule))
        if entry is not None and entry[0] is rule:
            return entry[1]
        compiled = _CompiledRule(rule, _Compiler(self))
        self._rules[id(rule)] = (rule, compiled)
        return compiled

    def _facts_for(self, row: MessageRow) -> MessageFacts:
        facts = self._facts.get(row.id)
        if facts is None:
            facts = MessageFacts(row, self._store.raw, self._shared_terms)
            self._facts[row.id] = facts
        elif facts.row is not row:
            facts = facts.with_row(row)
            self._facts[row.id] = facts
        return facts

    def normalized(self, name: str) -> str:
        """Return ``normalize_text(name)``, cached, for account and folder names."""
        value = self._names.get(name)
        if value is None:
            value = self._names[name] = normalize_text(name)
        return value

    # The index

    def _ids_not_in_index(self, rows: Sequence[MessageRow]) -> set[int]:
        """Return the ids among ``rows`` whose index document may differ from the stored message.

        That is the messages still queued for the index, and those without a
        stored body, which the index stores with an empty body.
        """
        queued = {entry[0] for entry in self._store.index_batch(self._store.index_backlog())}
        missing: set[int] = set()
        for account in sorted({row.account for row in rows}):
            account_id = self._store.account_id(account)
            if account_id is not None:
                missing.update(item.message_id for item in self._store.missing_bodies(account_id))
        return queued | missing

    def _hits(self, query: str) -> frozenset[int] | None:
        if query not in self._index_hits:
            try:
                hits: frozenset[int] | None = frozenset(self._index.search(query, limit=None, now=self.now))
            except Exception as error:  # noqa: BLE001 - a broken index must not stop the rules; parsing gives the same result
                logger.warning("The search index failed on %r, so rules parse the messages instead: %s", query, error)
                hits = None
            self._index_hits[query] = hits
        return self._index_hits[query]

    def index_lookup(self, query: str) -> Callable[[MessageFacts], bool | None]:
        """Return a test of a message against ``query`` run on the index; the test gives None when the index cannot tell."""

        def lookup(facts: MessageFacts) -> bool | None:
            if facts.row.id not in self._indexed:
                return None
            hits = self._hits(query)
            return None if hits is None else facts.row.id in hits

        return lookup


class _Compiler:
    """Turns conditions and query trees into checks with a cost rank."""

    def __init__(self, matcher: Matcher) -> None:
        self._matcher = matcher
        self.index_queries: set[str] = set()

    # Structured tests

    def condition(self, condition: object) -> tuple[Check, int]:
        match condition:
            case When(query=query):
                return self.query(query)
            case HeaderTest():
                return self._header(condition)
            case AddressTest():
                return self._address(condition)
            case BodyTest(match=text_match):
                test = compile_text_match(text_match)
                return _unknown_aware(lambda facts: facts.body(), lambda body: test(body)), _FULL
            case AttachmentTest(match=None, present=present):
                return (lambda facts: facts.row.has_attachment is present), _COLUMNS
            case AttachmentTest(match=text_match):
                test = compile_text_match(text_match)
                return _unknown_aware(
                    lambda facts: facts.attachment_names(), lambda names: any(test(name) for name in names)
                ), _FULL
            case SizeTest(above=above, below=below):
                return _size_check(above, below), _COLUMNS
            case AgeTest(age=age, older=older):
                return _date_check(*_age_bounds(self._matcher.now, age, older)), _COLUMNS
            case FlagTest(flag=flag, value=value):
                return _flag_check(flag, value), _COLUMNS
            case AllOf(conditions=parts):
                checks, cost = self._each(parts)
                return _all_of(checks), cost
            case AnyOf(conditions=parts):
                checks, cost = self._each(parts)
                return _any_of(checks), cost
            case NotOf(condition=inner):
                check, cost = self.condition(inner)
                return _negate(check), cost
        raise TypeError(f"Unknown rule condition {condition!r}")

    def _each(self, parts: Sequence[object]) -> tuple[list[Check], int]:
        compiled = sorted((self.condition(part) for part in parts), key=lambda pair: pair[1])
        return [check for check, _cost in compiled], max((cost for _check, cost in compiled), default=_COLUMNS)

    def _header(self, test: HeaderTest) -> tuple[Check, int]:
        matches = compile_text_match(test.match)
        name = test.header
        column = _COLUMN_HEADERS.get(name)
        if column is not None:
            def column_header(facts: MessageFacts) -> bool:
                value = column(facts.row)
                return bool(value) and matches(value)

            return column_header, _COLUMNS
        return _unknown_aware(
            lambda facts: facts.header_values(name), lambda values: any(matches(value) for value in values)
        ), _HEADERS

    def _address(self, test: AddressTest) -> tuple[Check, int]:
        matches = compile_text_match(test.match)
        part = _ADDRESS_PARTS[test.part]

        def any_matches(addresses: list[str]) -> bool:
            return any(matches(part(address)) for address in addresses)

        if test.header == "from":
            return (lambda facts: bool(facts.row.from_addr) and matches(part(facts.row.from_addr))), _COLUMNS
        if test.header == "recipient":
            return (lambda facts: any_matches(column_addresses(facts.row.recipients))), _COLUMNS
        name = test.header
        return _unknown_aware(lambda facts: facts.header_addresses(name), any_matches), _HEADERS

    # The search language

    def query(self, node: object) -> tuple[Check, int]:
        match node:
            case MatchAll():
                return _always, _COLUMNS
            case Text():
                return self._text(node)
            case Exact(field=field, value=value, prefix=prefix):
                return self._exact(field, normalize_text(value), prefix), _COLUMNS
            case HasFlag(flag=flag):
                wanted = normalize_text(flag)
                return (lambda facts: wanted in facts.flags), _COLUMNS
            case HasAttachment():
                return (lambda facts: facts.row.has_attachment), _COLUMNS
            case DateRange(start=start, end=end):
                return _date_check(start, end), _COLUMNS
            case RelativeDate(age=age, older=older):
                return _date_check(*_age_bounds(self._matcher.now, age, older)), _COLUMNS
            case ListTerm(pattern=pattern) | ListId(pattern=pattern):
                return _list_check(pattern), _COLUMNS
            case Size(limit=limit, larger=larger):
                return (_size_check(limit, None) if larger else _size_check(None, limit)), _COLUMNS
            case Not(operand=operand):
                check, cost = self.query(operand)
                return _negate(check), cost
            case And(operands=operands):
                compiled = sorted((self.query(operand) for operand in operands), key=lambda pair: pair[1])
                return _all_of([check for check, _ in compiled]), compiled[-1][1]
            case Or(operands=operands):
                compiled = sorted((self.query(operand) for operand in operands), key=lambda pair: pair[1])
                return _any_of([check for check, _ in compiled]), compiled[-1][1]
        raise TypeError(f"Unknown query node {node!r}")

    def _exact(self, field: str, value: str, prefix: bool) -> Check:
        if prefix and not value:
            return _always
        normalized = self._matcher.normalized
        if field == "account":
            if prefix:
                return lambda facts: normalized(facts.row.account).startswith(value)
            return lambda facts: normalized(facts.row.account) == value
        if prefix:
            return lambda facts: normalized(facts.row.folder).startswith(value)
        return lambda facts: normalized(facts.row.folder) == value

    def _text(self, node: Text) -> tuple[Check, int]:
        terms = query_terms(node.text)
        if not terms:
            return _never, _COLUMNS
        if node.field is not None:
            fields: tuple[str, ...] = (fact_fields.QUERY_FIELDS[node.field],)
        else:
            fields = fact_fields.PHRASE_FIELDS if node.phrase else fact_fields.WORD_FIELDS
        probe = _term_probe(terms)
        columns = [field for field in fields if field in COLUMN_FIELDS]
        parsed = [field for field in fields if field not in COLUMN_FIELDS]
        if not parsed:
            return _column_text_check(columns, probe), _COLUMNS

        query = " OR ".join(f'{_QUERY_NAMES[field]}:"{node.text}"' for field in parsed)
        self.index_queries.add(query)
        from_index = self._matcher.index_lookup(query)

        def text(facts: MessageFacts) -> bool | None:
            for field in columns:
                if probe(facts.terms(field)):  # type: ignore[arg-type]
                    return True
            found = from_index(facts)
            if found is not None:
                return found
            for field in parsed:
                terms_found = facts.terms(field)
                if terms_found is None:
                    return None
                if probe(terms_found):
                    return True
            return False

        return text, _FULL


def _column_text_check(fields: list[str], probe: Callable[[TermMap], bool]) -> Check:
    if len(fields) == 1:
        field = fields[0]
        return lambda facts: probe(facts.terms(field))  # type: ignore[arg-type]
    return lambda facts: any(probe(facts.terms(field)) for field in fields)  # type: ignore[arg-type]


def _unknown_aware(read: Callable[[MessageFacts], object], test: Callable[[object], bool]) -> Check:
    """Return a check of a value that may be unknown (None): unknown values give None."""

    def check(facts: MessageFacts) -> bool | None:
        value = read(facts)
        return None if value is None else test(value)

    return check


def _size_check(above: int | None, below: int | None) -> Check:
    if above is not None and below is not None:
        return lambda facts: below > facts.row.size > above
    if above is not None:
        return lambda facts: facts.row.size > above
    if below is not None:
        return lambda facts: facts.row.size < below
    return _always


def _age_bounds(now: datetime, age: object, older: bool) -> tuple[datetime | None, datetime | None]:
    """Return the date range of "older" (before now minus age) or "newer" (from it on)."""
    cutoff = now - age  # type: ignore[operator]
    return (None, cutoff) if older else (cutoff, None)


def _date_check(start: datetime | None, end: datetime | None) -> Check:
    """Match dates from ``start`` (inclusive) to ``end`` (exclusive) to the minute; undated never matches."""
    low = minute_key(start) if start is not None else None
    high = minute_key(end) - 1 if end is not None else None
    if low is not None and high is not None:
        if high < low:
            return _never
        return lambda facts: facts.date_key is not None and low <= facts.date_key <= high
    if low is not None:
        return lambda facts: facts.date_key is not None and facts.date_key >= low
    if high is not None:
        return lambda facts: facts.date_key is not None and facts.date_key <= high
    return lambda facts: facts.date_key is not None


def _flag_check(flag: str, value: bool) -> Check:
    if flag == "unread":
        return lambda facts: ("\\seen" not in facts.flags) is value
    if flag == "flagged":
        return lambda facts: ("\\flagged" in facts.flags) is value
    raise ValueError(f"Unknown flag test {flag!r}. Use unread or flagged.")


def _list_check(pattern: str) -> Check:
    # Normalized as the search index stores List-Ids, so both agree.
    if pattern == "*":
        return lambda facts: bool(facts.row.list_id)
    glob = re.compile(fnmatch.translate(normalize_text(pattern)), re.DOTALL)
    return lambda facts: bool(facts.row.list_id) and glob.match(normalize_text(facts.row.list_id)) is not None


# Headers read from store columns, so they work on messages stored as headers only.
# "recipient" is the To and Cc column: "Name <address>" entries, comma separated.
_COLUMN_HEADERS: dict[str, Callable[[MessageRow], str]] = {
    "from": from_value,
    "subject": lambda row: row.subject,
    "list-id": lambda row: row.list_id,
    "recipient": lambda row: row.recipients,
}

_ADDRESS_PARTS: dict[str, Callable[[str], str]] = {
    "address": lambda address: address,
    "local": lambda address: address.rpartition("@")[0] if "@" in address else address,
    "domain": lambda address: address.rpartition("@")[2] if "@" in address else "",
}

_QUERY_NAMES = {index_field: query_field for query_field, index_field in fact_fields.QUERY_FIELDS.items()}


# Whole rules and their verdicts


@dataclass
class _Part:
    """One top-level part of a rule's condition, with its verdicts made in advance."""

    check: Check
    cost: int
    failed: Verdict
    unknown: Verdict


class _CompiledRule:
    """A rule's condition as checks, with the verdicts each outcome returns."""

    def __init__(self, rule: Rule, compiler: _Compiler) -> None:
        self.parts: list[_Part] = []
        condition = rule.condition
        if condition is None:
            self.matched = Verdict(True, "the rule has no conditions, so it matches every message in its scope")
            self.index_queries: set[str] = set()
            return

        items = list(condition.conditions) if isinstance(condition, AllOf) else [condition]
        labels = _part_labels(items)
        for item, label in zip(items, labels):
            self._add(item, label, compiler)
        self.parts.sort(key=lambda part: part.cost)
        self.matched = Verdict(True, _joined(labels) + " matched")
        self.index_queries = compiler.index_queries
        if len(self.parts) == 1:
            self.verdict = self._single_part_verdict(self.parts[0])  # type: ignore[method-assign]

    def _single_part_verdict(self, part: _Part) -> Callable[[MessageFacts], Verdict]:
        check, matched, failed, unknown = part.check, self.matched, part.failed, part.unknown

        def verdict(facts: MessageFacts) -> Verdict:
            result = check(facts)
            if result:
                return matched
            return failed if result is False else unknown

        return verdict

    def _add(self, item: object, label: str, compiler: _Compiler) -> None:
        unknown = Verdict(False, f"{label} needs the full message, which is not downloaded yet", needs_body=True)
        query = item.query if isinstance(item, When) else None
        if isinstance(query, And):
            # Each term of the query is a part of its own, so a miss names the term.
            for operand in query.operands:
                check, cost = compiler.query(operand)
                failed = Verdict(False, f"{label} did not match: no match for {_cut(describe_query(operand))}")
                self.parts.append(_Part(check, cost, failed, unknown))
            return
        check, cost = compiler.condition(item)
        self.parts.append(_Part(check, cost, Verdict(False, f"{label} did not match"), unknown))

    def verdict(self, facts: MessageFacts) -> Verdict:
        unknown: Verdict | None = None
        for part in self.parts:
            result = part.check(facts)
            if result is False:
                return part.failed
            if result is None and unknown is None:
                unknown = part.unknown
        return self.matched if unknown is None else unknown


def _part_labels(items: list[object]) -> list[str]:
    labels = []
    number = 0
    for item in items:
        if isinstance(item, When):
            labels.append(f"when '{_cut(item.text)}'")
        else:
            number += 1
            labels.append(f"if test {number} ({_cut(describe_condition(item))})")
    return labels


def _joined(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


# Descriptions


def describe_condition(condition: object) -> str:
    """Return a structured test in plain words, e.g. "header subject contains 'shop'"."""
    match condition:
        case When(text=text):
            return f"when '{text}'"
        case HeaderTest(header=header, match=text_match):
            return f"header {header} {_describe_match(text_match)}"
        case AddressTest(header=header, part=part, match=text_match):
            place = "address" if part == "address" else f"address {part} part"
            return f"{header} {place} {_describe_match(text_match)}"
        case BodyTest(match=text_match):
            return f"body {_describe_match(text_match)}"
        case AttachmentTest(match=None, present=present):
            return "has an attachment" if present else "has no attachment"
        case AttachmentTest(match=text_match):
            return f"attachment name {_describe_match(text_match)}"
        case SizeTest(above=above, below=below):
            bounds = []
            if above is not None:
                bounds.append(f"size above {above:,} bytes")
            if below is not None:
                bounds.append(f"size below {below:,} bytes")
            return " and ".join(bounds)
        case AgeTest(age=age, older=older):
            return f"{'older' if older else 'newer'} than {_describe_age(age)}"
        case FlagTest(flag=flag, value=value):
            names = {("unread", True): "unread", ("unread", False): "read", ("flagged", True): "flagged"}
            return names.get((flag, value), "not flagged")
        case AllOf(conditions=parts):
            return "all of (" + "; ".join(describe_condition(part) for part in parts) + ")"
        case AnyOf(conditions=parts):
            return "any of (" + "; ".join(describe_condition(part) for part in parts) + ")"
        case NotOf(condition=inner):
            return f"not ({describe_condition(inner)})"
    return repr(condition)


def _describe_match(text_match: TextMatch) -> str:
    case = ", case-sensitive" if text_match.case_sensitive else ""
    return f"{text_match.operator} '{text_match.value}'{case}"


def _describe_age(age: object) -> str:
    days = getattr(age, "days", 0)
    return "1 day" if days == 1 else f"{days} days"


_FLAG_TERMS = {
    "\\seen": ("is:read", "is:unread"),
    "\\flagged": ("is:flagged", "is:unflagged"),
    "\\answered": ("is:answered", "is:unanswered"),
    "$snoozed": ("is:snoozed", "-is:snoozed"),
}


def describe_query(node: object) -> str:
    """Return a query tree as search text, e.g. "subject:invoice -is:read"."""
    match node:
        case MatchAll():
            return "(everything)"
        case Text(text=text, field=field, phrase=phrase):
            value = f'"{text}"' if phrase or " " in text else text
            return f"{field}:{value}" if field else value
        case Exact(field=field, value=value, prefix=prefix):
            return f"{field}:{value}{'*' if prefix else ''}"
        case HasFlag(flag=flag):
            return _FLAG_TERMS[flag][0] if flag in _FLAG_TERMS else f"label:{flag}"
        case HasAttachment():
            return "has:attachment"
        case DateRange(start=start, end=end):
            bounds = []
            if start is not None:
                bounds.append(f"after:{start:%Y-%m-%d}")
            if end is not None:
                bounds.append(f"before:{end:%Y-%m-%d}")
            return " ".join(bounds)
        case RelativeDate(age=age, older=older):
            return f"{'older_than' if older else 'newer_than'}:{age.days}d"
        case ListTerm(pattern=pattern) | ListId(pattern=pattern):
            return f"list:{pattern}"
        case Size(limit=limit, larger=larger):
            return f"{'larger' if larger else 'smaller'}:{limit}"
        case Not(operand=HasFlag(flag=flag)) if flag in _FLAG_TERMS:
            return _FLAG_TERMS[flag][1]
        case Not(operand=operand):
            inner = describe_query(operand)
            return f"-({inner})" if isinstance(operand, (And, Or)) else f"-{inner}"
        case And(operands=operands):
            return " ".join(_grouped(operand) for operand in operands)
        case Or(operands=operands):
            return " OR ".join(_grouped(operand) for operand in operands)
    return repr(node)


def _grouped(node: object) -> str:
    # OR binds tighter than the implicit AND, so parentheses are needed only
    # around an AND inside an OR; they are added around any group for clarity.
    text = describe_query(node)
    return f"({text})" if isinstance(node, (And, Or)) else text
