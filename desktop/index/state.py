"""The search index's state on disk, read without importing Whoosh.

A sync with nothing new to index should not pay for importing Whoosh and
opening the index. It still has to notice an index that must be filled from
the store: one written by an older format, or recreated empty by a search
that opened it first.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

# Bump when the schema, the side table or the text analysis changes. An index written
# with another version is recreated empty on open, and SearchIndex.is_new is then True
# so the caller can fill it again. Version 4 added size and List-Id to the side table.
# Version 5 folds accents in terms and side table values, and adds the cc field.
SCHEMA_VERSION = 5

# The side table next to the Whoosh files: places, flags, sizes and the fill mark.
FLAGS_FILE = "flags.sqlite3"


def index_needs_fill(index_dir: Path) -> bool:
    """True when the index in ``index_dir`` is missing, of another format, or not yet filled from the store."""
    side = Path(index_dir) / FLAGS_FILE
    if not side.is_file():
        return True
    try:
        connection = sqlite3.connect(f"file:{side}?mode=ro", uri=True)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                return True
            row = connection.execute("SELECT pending FROM fill_pending").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        # Opening the index repairs or recreates it, so report True and let the caller open it.
        logger.info("Reading the search index state in %s failed (%s); the index will be opened to check it", side, error)
        return True
    return bool(row and row[0])
