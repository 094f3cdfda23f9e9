"""Full-text search over messages: the query language and the index.

Only ``desktop.index.whoosh_engine`` imports Whoosh, so the engine can be replaced
without touching callers, which import from this package. ``SearchIndex`` is
imported on first use, so code that only parses queries or reads
``desktop.index.state`` does not load Whoosh.
"""

from desktop.index.query import IndexDocument, Query, QueryError, parse_query

__all__ = ["IndexDocument", "Query", "QueryError", "SearchIndex", "parse_query"]


def __getattr__(name: str) -> object:
    if name == "SearchIndex":
        from desktop.index.whoosh_engine import SearchIndex

        return SearchIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
