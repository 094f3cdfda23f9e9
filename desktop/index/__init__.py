"""Full-text search over messages: the query language and the index.

Only ``desktop.index.whoosh_engine`` imports Whoosh, so the engine can be replaced
without touching callers, which import from this package.
"""

from desktop.index.query import IndexDocument, Query, QueryError, parse_query
from desktop.index.whoosh_engine import SearchIndex

__all__ = ["IndexDocument", "Query", "QueryError", "SearchIndex", "parse_query"]
