"""Parse the ``when`` condition of a rule: the search language plus rule-only terms.

Rules accept every term of the search language (``docs/search.md``) and one more,
``list:PATTERN``, which tests the List-Id header: the search index does not store
that header, so the term is rule-only. Each ``list:`` term is swapped for a
placeholder word of the same length before ``parse_query`` runs, so the query
parser checks the rest and its error positions still point into the text as written.
"""

from __future__ import annotations

import dataclasses
import logging

from desktop.index.query import And, Not, Or, Query, QueryError, Text, parse_query
from desktop.rules.model import ListTerm

logger = logging.getLogger(__name__)

RULE_ONLY_FIELDS = ("list",)

# A private-use character: no one types it, and the query lexer keeps it in a word.
_FILLER = "\ue000"
_WORD_STOP = set('()"')


def parse_when(text: str) -> Query | ListTerm:
    """Parse a rule's ``when`` text into a query tree with ``ListTerm`` leaves.

    Raises:
        QueryError: The text is not a valid query; the position points into ``text``.
    """
    if _FILLER in text:
        raise QueryError(text, text.index(_FILLER), "Invalid character U+E000. Remove it.")
    masked, terms = _mask_list_terms(text)
    try:
        tree = parse_query(masked)
    except QueryError as error:
        # Show the text as written, not the placeholders.
        raise QueryError(text, error.position, error.message) from None
    return _restore(tree, terms)


def _mask_list_terms(text: str) -> tuple[str, dict[str, ListTerm]]:
    """Replace each ``list:`` term outside quotes with a placeholder of the same length."""
    pieces: list[str] = []
    terms: dict[str, ListTerm] = {}
    position = 0
    while position < len(text):
        char = text[position]
        if char == '"':
            end = text.find('"', position + 1)
            end = len(text) if end < 0 else end + 1
            pieces.append(text[position:end])
            position = end
            continue
        if _starts_word(text, position) and text[position : position + 5].lower() == "list:":
            end = _term_end(text, position + 5)
            value = text[position + 5 : end]
            if value.strip('"').strip():
                placeholder = _placeholder(len(terms), end - position)
                terms[placeholder] = ListTerm(value.strip('"').casefold())
                pieces.append(placeholder)
                position = end
                continue
            raise QueryError(
                text, position, "Missing value after 'list:'. Write list:* for any mailing list, "
                "or a List-Id pattern such as list:*python.org*."
            )
        pieces.append(char)
        position += 1
    return "".join(pieces), terms


def _starts_word(text: str, position: int) -> bool:
    if position == 0:
        return True
    return text[position - 1].isspace() or text[position - 1] in "()-"


def _term_end(text: str, position: int) -> int:
    if text.startswith('"', position):
        closing = text.find('"', position + 1)
        if closing < 0:
            raise QueryError(text, position, "Missing closing quote for the quote here. Add a '\"' after the value.")
        return closing + 1
    while position < len(text) and not text[position].isspace() and text[position] not in _WORD_STOP:
        position += 1
    return position


def _placeholder(number: int, length: int) -> str:
    # The digits keep placeholders apart; the lexer drops words without letters or
    # digits, so at least one digit is needed. A term is at least 6 characters long.
    digits = str(number)
    return _FILLER + digits + _FILLER * (length - 1 - len(digits))


def _restore(node: Query, terms: dict[str, ListTerm]) -> Query | ListTerm:
    if isinstance(node, Text) and node.text in terms:
        return terms[node.text]
    if isinstance(node, Not):
        return Not(_restore(node.operand, terms))  # type: ignore[arg-type]
    if isinstance(node, (And, Or)):
        return dataclasses.replace(node, operands=tuple(_restore(part, terms) for part in node.operands))
    return node
