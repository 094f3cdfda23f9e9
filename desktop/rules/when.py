"""Parse the ``when`` condition of a rule: the search language of ``docs/search.md``.

The query parser checks the text and reports errors with their positions. Its
``list:`` terms become ``ListTerm`` leaves, which the rule modules (the matcher,
the Sieve export) treat as the List-Id test of a rule.
"""

from __future__ import annotations

import dataclasses
import logging

from desktop.index.query import And, ListId, Not, Or, Query, parse_query
from desktop.rules.model import ListTerm

logger = logging.getLogger(__name__)


def parse_when(text: str) -> Query | ListTerm:
    """Parse a rule's ``when`` text into a query tree with ``ListTerm`` leaves.

    Raises:
        QueryError: The text is not a valid query; the position points into ``text``.
    """
    return _list_terms(parse_query(text))


def _list_terms(node: Query) -> Query | ListTerm:
    if isinstance(node, ListId):
        return ListTerm(node.pattern)
    if isinstance(node, Not):
        return Not(_list_terms(node.operand))  # type: ignore[arg-type]
    if isinstance(node, (And, Or)):
        return dataclasses.replace(node, operands=tuple(_list_terms(part) for part in node.operands))
    return node
