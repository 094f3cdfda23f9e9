"""The full-text index on Whoosh (whoosh-reloaded 2.7.5). The only module that imports whoosh.

Layout of an index folder:

- Whoosh files (``_MAIN_*``, ``MAIN_WRITELOCK``): the text fields, the attachment
  mark and the date. No field is stored. Message ids and dates are read from
  Whoosh's sortable columns.
- ``flags.sqlite3``: each indexed message id with its account, folder, size, List-Id
  and flags, normalized by ``normalize_text`` (the side table).
- ``.staging/``: segments that worker processes wrote and ``add_staged`` has not
  added yet; empty between index updates.

Why flags and places live outside Whoosh: Whoosh cannot change one field of a
document, only delete and re-add the whole document, and re-adding needs the body,
which is not stored to keep the index small. Flags change far more often than
anything else (each message read, each flag sync), and a move changes only the
folder, so ``update_flags`` and ``update_places`` only rewrite rows in SQLite. At
search time an ``is:``/``label:``/``account:``/``folder:``/``larger:``/``smaller:``/``list:``
term becomes a set of
message ids read from SQLite, and a small custom Whoosh query matches the documents
with those ids. That query works inside OR, NOT and parentheses like any other term.

Consistency: ``add`` commits the side rows before the Whoosh documents, and ``delete``
removes Whoosh documents before the side rows. A failure between the two commits can
only leave side rows for ids that Whoosh does not have, and those match nothing.
"""

from __future__ import annotations

import fnmatch
import logging
import pickle
import re
import shutil
import tempfile
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh import sorting
from whoosh.analysis import Token, Tokenizer
from whoosh.fields import BOOLEAN, ID, NUMERIC, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.matching import AndNotMatcher, ListMatcher, NullMatcher
from whoosh.writing import CLEAR, NO_MERGE, SegmentWriter

from desktop.index.state import FLAGS_FILE, SCHEMA_VERSION
from desktop.index.query import (
    And,
    DateRange,
    Exact,
    HasAttachment,
    HasFlag,
    IndexDocument,
    ListId,
    MatchAll,
    Not,
    Or,
    Query,
    RelativeDate,
    Size,
    Text,
    parse_query,
)

logger = logging.getLogger(__name__)

# The index format and the side table's file name live in desktop.index.state,
# which a sync reads without importing Whoosh.

# Segments written by worker processes wait in subfolders of this folder until
# SearchIndex.add_staged moves them in. Whoosh deletes every segment file in the index
# folder that its table of contents does not list whenever it commits, so a segment
# still being written must not be there. Names starting with "." are skipped by that cleanup.
STAGING_FOLDER = ".staging"

# How long a writer waits for another process's write lock before giving up.
WRITE_LOCK_TIMEOUT_SECONDS = 30.0

# With procs > 1, batches smaller than this still use one process, because starting
# worker processes costs more than it saves on a small batch. The value is an estimate.
MIN_PARALLEL_BATCH = 500

# Terms are cut to this many characters, at index and query time alike, so long
# base64 runs or hashes do not bloat the term dictionary.
MAX_TERM_CHARS = 100

# Dates are indexed as whole minutes since 1970 in a signed 32-bit number, which
# covers the years 1 to about 6050. Later dates count as the maximum. Whoosh
# indexes such a number with shift_step=4 as 8 terms, and a range query needs at most
# about 240 terms. A 64-bit microsecond key needed twice the terms per document, or far
# more terms per range query. NOTE: in whoosh-reloaded 2.7.5, range queries on an
# unsigned NUMERIC field also match values outside the range, so the field must stay signed.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_DATE_KEY = 2**31 - 1

# Date key of messages without a date: below every real date, so they sort oldest.
NO_DATE = -(2**31)


# Text analysis
#
# Text is NFKC-normalized and casefolded, so "Résumé" matches "résumé" and "STRASSE"
# matches "Straße". Then accents are removed from Latin and Greek letters, so "Müller"
# matches "muller" and "café" matches "cafe"; see fold_accents().
#
# A word may contain the connectors . _ - + ' (e.g. "ana.diaz", "python-dev",
# "report_2026.pdf"). Its parts get consecutive positions, and a query for a
# connected word is a phrase of its parts, so "python-dev" also finds
# "python-dev@lists.python.org".
#
# An e-mail address is split the same way, with the local part and the domain labels
# as parts. The whole address is indexed too, and so is every host name with each of
# its parent domains ("mail.example.com", "example.com"). A query for a whole address
# or a host name is one term. So "ana@example.com" finds only that address, and
# "example.com" finds "ana@mail.example.com" but not "ana@example.com.au".
#
# Chinese, Japanese and Korean text has no spaces between words. Each run of such
# characters is indexed as overlapping character bigrams at consecutive positions
# ("会議について" gives 会議 議に につ つい いて), plus the run's last character alone
# at the last bigram's position. A query run becomes a phrase of its bigrams, and a
# query of one CJK character becomes a prefix query, which finds it anywhere in a run.

_CJK_RANGES = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u3005-\u3007"  # 々 〆 〇
    "\u3041-\u309f"  # Hiragana
    "\u30a1-\u30fa\u30fc-\u30ff"  # Katakana without the middle dot
    "\u3105-\u312f"  # Bopomofo
    "\u3131-\u318e"  # Hangul compatibility Jamo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7a3"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B to G
)
_LETTERS = rf"[^\W_{_CJK_RANGES}]+"
_WORD = rf"{_LETTERS}(?:[-._+'’]{_LETTERS})*"
_TOKEN_PATTERN = re.compile(
    rf"(?P<local>{_WORD})(?:@(?P<domain>{_LETTERS}(?:[-.]{_LETTERS})*))?|(?P<cjk>[{_CJK_RANGES}]+)"
)
_CONNECTOR = re.compile(r"[-._+'’]")


# Letters that carry their mark in the letter's shape rather than as a combining
# mark, so Unicode gives them no decomposition, with the plain letters they fold to.
_PLAIN_LETTERS = {
    "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ħ": "h", "ı": "i", "ŧ": "t",
}

# Blocks whose letters with accents are folded: Latin-1 Supplement, Latin Extended-A
# and B, Greek and Coptic, Latin Extended Additional, Greek Extended, Latin Extended-C
# and D. Cyrillic is left out on purpose: "й" and "и" are different letters there.
_FOLDED_BLOCKS = ((0x00C0, 0x024F), (0x0370, 0x03FF), (0x1E00, 0x1EFF), (0x1F00, 0x1FFF),
                  (0x2C60, 0x2C7F), (0xA720, 0xA7FF))

# The combining diacritical marks (U+0300 to U+036F), which NFKC leaves in place
# where no precomposed letter exists, such as a stress mark on a Cyrillic vowel.
_COMBINING_MARKS = range(0x0300, 0x0370)


def _accent_table() -> dict[str, str]:
    """Return each letter with an accent in _FOLDED_BLOCKS, and each combining mark, with its folded text."""
    table = {chr(code): "" for code in _COMBINING_MARKS}
    for first, last in _FOLDED_BLOCKS:
        for code in range(first, last + 1):
            letter = chr(code)
            base = "".join(
                char for char in unicodedata.normalize("NFD", letter) if not unicodedata.combining(char)
            )
            base = "".join(_PLAIN_LETTERS.get(char, char) for char in base)
            if base and base != letter:
                table[letter] = base
    table.update(_PLAIN_LETTERS)
    return table


_ACCENT_TABLE = _accent_table()
# One character class of every character that folds. The substitution calls Python
# code only for those characters. On German text it took about a quarter of the time
# of str.translate with the same table.
_ACCENTED = re.compile("[" + "".join(re.escape(char) for char in sorted(_ACCENT_TABLE)) + "]")


def fold_accents(text: str) -> str:
    """Remove accents from Latin and Greek letters, and drop combining marks.

    "müller" becomes "muller", "ά" becomes "α", "ø" becomes "o" and "æ" becomes "ae".
    Capitals fold too ("É" to "E"), but normalize_text casefolds first. The German
    spelling without umlauts ("mueller") is not produced, so it matches only itself.
    """
    if text.isascii():
        return text
    return _ACCENTED.sub(lambda match: _ACCENT_TABLE[match.group()], text)


def normalize_text(text: str) -> str:
    """Return text as terms see it: NFKC-normalized, casefolded and with accents folded."""
    return fold_accents(unicodedata.normalize("NFKC", text).casefold())


def _is_host_name(word: str) -> bool:
    """Tell whether a connected word looks like a host name, e.g. "mail.example.com"."""
    labels = word.split(".")
    if len(labels) < 2 or any(char in word for char in "_+'’"):
        return False
    return labels[-1].isalpha() and len(labels[-1]) >= 2


def _split(word: str) -> list[str]:
    return _CONNECTOR.split(word)


def _word_terms(match: re.Match[str], position: int) -> tuple[list[tuple[str, int]], int]:
    """Return the (term, position) pairs of one word or address, and the positions it takes."""
    local, domain = match.group("local"), match.group("domain")
    local_parts = _split(local)
    parts = local_parts + (_split(domain) if domain else [])
    terms = [(part, position + offset) for offset, part in enumerate(parts)]

    hosts = []
    if _is_host_name(local):
        hosts.append((local, position))
    if domain:
        terms.append((match.group(0), position))
        hosts.append((domain, position + len(local_parts)))
    for host, host_position in hosts:
        labels = host.split(".")
        for index in range(len(labels) - 1):
            offset = sum(len(_split(label)) for label in labels[:index])
            terms.append((".".join(labels[index:]), host_position + offset))

    terms.sort(key=lambda pair: pair[1])
    return [(text[:MAX_TERM_CHARS], at) for text, at in terms], len(parts)


def index_terms(text: str) -> Iterator[tuple[str, int]]:
    """Yield (term, position) pairs for indexing ``text``, in position order."""
    position = 0
    for match in _TOKEN_PATTERN.finditer(normalize_text(text)):
        local, run = match.group("local"), match.group("cjk")
        if run:
            yield from _cjk_index_terms(run, position)
            position += max(len(run) - 1, 1)
            continue

        # Most words are plain: no connector and no address. This path skips the
        # list building of _word_terms, which indexing time shows.
        if match.group("domain") is None and _CONNECTOR.search(local) is None:
            yield local[:MAX_TERM_CHARS], position
            position += 1
            continue

        terms, width = _word_terms(match, position)
        yield from terms
        position += width


def _cjk_index_terms(run: str, position: int) -> Iterator[tuple[str, int]]:
    if len(run) == 1:
        yield run, position
        return
    for offset in range(len(run) - 1):
        yield run[offset : offset + 2], position + offset
    yield run[-1], position + len(run) - 2


@dataclass(frozen=True)
class QueryTerm:
    """One position of a query phrase.

    ``prefix`` is True for a lone CJK character, which must be searched as a prefix
    because it is indexed only inside bigrams (or alone at the end of a run).
    """

    text: str
    prefix: bool = False


def query_terms(text: str) -> list[QueryTerm]:
    """Split query text into terms at consecutive positions.

    A whole e-mail address or host name stays one term; see the comment on text analysis.
    """
    normalized = normalize_text(text).strip()
    whole = _TOKEN_PATTERN.fullmatch(normalized)
    if whole and (whole.group("domain") or _is_host_name(normalized)):
        return [QueryTerm(normalized[:MAX_TERM_CHARS])]

    terms: list[QueryTerm] = []
    for match in _TOKEN_PATTERN.finditer(normalized):
        run = match.group("cjk")
        if run and len(run) == 1:
            terms.append(QueryTerm(run, prefix=True))
        elif run:
            terms.extend(QueryTerm(run[i : i + 2]) for i in range(len(run) - 1))
        else:
            local, domain = match.group("local"), match.group("domain")
            parts = _split(local) + (_split(domain) if domain else [])
            terms.extend(QueryTerm(part[:MAX_TERM_CHARS]) for part in parts)
    return terms


class MailTokenizer(Tokenizer):
    """Whoosh tokenizer for mail text, as the comment on text analysis above describes.

    NOTE: Whoosh pickles the schema, and this class's import path with it, into the
    index. Moving or renaming the class makes old indexes unreadable; SearchIndex
    then recreates them empty, as it does for a SCHEMA_VERSION change.
    """

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        # Whoosh reuses one Token object for the whole stream, by design.
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pairs = index_terms(value) if tokenize else [(normalize_text(value), 0)]
        for text, position in pairs:
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = text
            if positions:
                token.pos = start_pos + position
            if chars:
                # Offsets into the normalized text are not offsets into the original,
                # so none are given; no field of this schema records characters.
                token.startchar = token.endchar = start_char
            yield token


def build_schema() -> Schema:
    """Return the Whoosh schema. Text fields record positions for phrase queries."""
    analyzer = MailTokenizer()
    return Schema(
        # Read through its column, never searched by range, so one term per document
        # (shift_step=0) is enough and nothing needs to be stored.
        message_id=NUMERIC(int, bits=64, shift_step=0, sortable=True),
        # Written only by format 2. Since format 3 the side table contains a message's
        # account and folder, because a move changes them. Nothing writes or searches
        # these fields now.
        account=ID(),
        folder=ID(),
        sender=TEXT(analyzer=analyzer),
        recipients=TEXT(analyzer=analyzer),
        subject=TEXT(analyzer=analyzer),
        body=TEXT(analyzer=analyzer),
        attachments=TEXT(analyzer=analyzer),
        # Cc names and addresses, also contained in recipients (To and Cc). Empty for
        # a message stored with its headers only, because the store keeps To and Cc
        # together in one column.
        cc=TEXT(analyzer=analyzer),
        has_attachment=BOOLEAN(),
        # See _date_key().
        date=NUMERIC(int, bits=32, shift_step=4, sortable=True),
    )


# Query field names to schema field names.
_TEXT_FIELD_NAMES = {
    "from": "sender",
    "to": "recipients",
    "cc": "cc",
    "subject": "subject",
    "body": "body",
    "attachment": "attachments",
}
_WORD_FIELDS = ("sender", "recipients", "subject", "body", "attachments")
_PHRASE_FIELDS = ("subject", "body")


def _schema_signature(schema: Schema) -> list[tuple[str, str, str]]:
    """Return each field's name, type and analyzer type, for comparing schemas.

    Whoosh's own schema comparison reports unequal for identical NUMERIC fields
    read back from disk, so it cannot be used.
    """
    return [
        (name, type(field).__name__, type(getattr(field, "analyzer", None)).__name__)
        for name, field in sorted(schema.items())
    ]


def _date_key(moment: datetime | None) -> int:
    """Return the indexed value of a date: whole minutes since 1970 in UTC, or NO_DATE.

    Naive dates are taken as UTC.
    """
    if moment is None:
        return NO_DATE
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min((moment - _EPOCH) // timedelta(minutes=1), _MAX_DATE_KEY)


def _document_fields(doc: IndexDocument) -> dict[str, object]:
    return {
        "message_id": doc.message_id,
        "sender": doc.sender,
        "recipients": doc.recipients,
        "cc": doc.cc,
        "subject": doc.subject,
        "body": doc.body,
        "attachments": "\n".join(doc.attachments),
        "has_attachment": bool(doc.attachments),
        "date": _date_key(doc.date),
    }


# Flags and places (the side table)

# A message's place: its account and folder.
PLACE_COLUMNS = ("account", "folder")

# One row of the side table: message id, account, folder, flags, size and List-Id.
SideRow = tuple[int, str, str, list[str], int, str]


class _SideTable:
    """Each indexed message id with its account, folder and flags in SQLite, next to the Whoosh files.

    Values are stored as ``normalize_text`` returns them. One connection is shared
    by all threads and guarded by a lock; every call is short.
    """

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")

    def version(self) -> int:
        with self._lock:
            return self._connection.execute("PRAGMA user_version").fetchone()[0]

    def recreate(self, version: int) -> None:
        with self._lock:
            self._connection.executescript(
                f"""
                BEGIN;
                DROP TABLE IF EXISTS message_flag;
                DROP TABLE IF EXISTS message;
                CREATE TABLE message (
                    message_id INTEGER PRIMARY KEY,
                    account TEXT NOT NULL DEFAULT '',
                    folder TEXT NOT NULL DEFAULT '',
                    size INTEGER NOT NULL DEFAULT 0,
                    list_id TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX message_by_size ON message (size);
                CREATE INDEX message_by_account ON message (account);
                CREATE INDEX message_by_folder ON message (folder);
                CREATE TABLE message_flag (
                    flag TEXT NOT NULL,
                    message_id INTEGER NOT NULL,
                    PRIMARY KEY (flag, message_id)
                ) WITHOUT ROWID;
                CREATE INDEX message_flag_by_message ON message_flag (message_id);
                DROP TABLE IF EXISTS fill_pending;
                CREATE TABLE fill_pending (pending INTEGER NOT NULL);
                INSERT INTO fill_pending (pending) VALUES (1);
                PRAGMA user_version = {int(version)};
                COMMIT;
                """
            )

    def fill_pending(self) -> bool:
        """Tell whether the index was created empty and has not been filled from the store since."""
        with self._lock:
            row = self._connection.execute("SELECT pending FROM fill_pending").fetchone()
        return bool(row and row[0])

    def clear_fill_pending(self) -> None:
        with self._lock:
            self._connection.execute("UPDATE fill_pending SET pending = 0")

    def replace(self, rows: Iterable[SideRow]) -> int:
        """Set the place, size, List-Id and flags of each message id, adding ids not in the table; return the count."""
        written = 0
        with self._lock, self._transaction():
            for message_id, account, folder, flags, size, list_id in rows:
                self._connection.execute(
                    "INSERT INTO message (message_id, account, folder, size, list_id) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (message_id) DO UPDATE SET account = excluded.account, folder = excluded.folder, "
                    "size = excluded.size, list_id = excluded.list_id",
                    (message_id, normalize_text(account), normalize_text(folder), size, normalize_text(list_id)),
                )
                self._write_flags(message_id, flags)
                written += 1
        return written

    def replace_flags(self, items: Iterable[tuple[int, list[str]]]) -> int:
        """Set the flags of each message id in the table and return how many were set; other ids are skipped."""
        requested = dict(items)
        with self._lock, self._transaction():
            known = [message_id for message_id in requested if self._is_known(message_id)]
            self._connection.executemany(
                "DELETE FROM message_flag WHERE message_id = ?", [(message_id,) for message_id in known]
            )
            self._connection.executemany(
                "INSERT OR IGNORE INTO message_flag (flag, message_id) VALUES (?, ?)",
                [(normalize_text(flag), message_id) for message_id in known for flag in requested[message_id]],
            )
        return len(known)

    def replace_places(self, items: Iterable[tuple[int, str, str]]) -> int:
        """Set the account and folder of each message id in the table and return how many were set; other ids are skipped."""
        rows = [(normalize_text(account), normalize_text(folder), message_id) for message_id, account, folder in items]
        with self._lock, self._transaction():
            before = self._connection.total_changes
            self._connection.executemany("UPDATE message SET account = ?, folder = ? WHERE message_id = ?", rows)
            return self._connection.total_changes - before

    def _is_known(self, message_id: int) -> bool:
        row = self._connection.execute(
            "SELECT 1 FROM message WHERE message_id = ?", (message_id,)
        ).fetchone()
        return row is not None

    def _write_flags(self, message_id: int, flags: list[str]) -> None:
        execute = self._connection.execute
        execute("DELETE FROM message_flag WHERE message_id = ?", (message_id,))
        self._connection.executemany(
            "INSERT OR IGNORE INTO message_flag (flag, message_id) VALUES (?, ?)",
            [(normalize_text(flag), message_id) for flag in flags],
        )

    def delete(self, message_ids: Iterable[int]) -> None:
        rows = [(message_id,) for message_id in message_ids]
        with self._lock, self._transaction():
            self._connection.executemany("DELETE FROM message_flag WHERE message_id = ?", rows)
            self._connection.executemany("DELETE FROM message WHERE message_id = ?", rows)

    def clear(self) -> None:
        with self._lock, self._transaction():
            self._connection.execute("DELETE FROM message_flag")
            self._connection.execute("DELETE FROM message")

    def lookup(self, flag: str) -> tuple[frozenset[int], bool]:
        """Return the ids with ``flag``, or, when that set is the larger half, the ids without it.

        The boolean is True when the ids returned are those *without* the flag.
        """
        return self._smaller_half(
            "SELECT message_id FROM message_flag WHERE flag = ?",
            "SELECT message_id FROM message WHERE message_id NOT IN "
            "(SELECT message_id FROM message_flag WHERE flag = ?)",
            (flag,),
        )

    def lookup_place(self, column: str, values: list[str], prefix: bool) -> tuple[frozenset[int], bool]:
        """Return the ids whose ``column`` (account or folder) is one of ``values``, or starts with it.

        As for ``lookup``, the ids *without* a match come back, with True, when that set is smaller.
        """
        if column not in PLACE_COLUMNS:
            raise ValueError(f"Unknown place column {column!r}; use one of {', '.join(PLACE_COLUMNS)}")
        if prefix:
            # substr() counts characters, as len() does.
            condition = " OR ".join(f"substr({column}, 1, {len(value)}) = ?" for value in values)
        else:
            condition = f"{column} IN ({','.join('?' * len(values))})"
        condition = condition or "0"
        return self._smaller_half(
            f"SELECT message_id FROM message WHERE {condition}",
            f"SELECT message_id FROM message WHERE NOT ({condition})",
            tuple(values),
        )

    def lookup_size(self, limit: int, larger: bool) -> tuple[frozenset[int], bool]:
        """Return the ids of messages larger (or smaller) than ``limit`` bytes, as ``lookup`` does."""
        condition = "size > ?" if larger else "size < ?"
        return self._smaller_half(
            f"SELECT message_id FROM message WHERE {condition}",
            f"SELECT message_id FROM message WHERE NOT ({condition})",
            (limit,),
        )

    def lookup_list(self, pattern: str) -> frozenset[int]:
        """Return the ids of messages whose List-Id matches the glob ``pattern`` (already normalized)."""
        glob = re.compile(fnmatch.translate(pattern), re.DOTALL)
        with self._lock:
            rows = self._connection.execute("SELECT message_id, list_id FROM message WHERE list_id != ''").fetchall()
        return frozenset(message_id for message_id, list_id in rows if glob.match(list_id))

    def _smaller_half(self, matching: str, others: str, params: tuple) -> tuple[frozenset[int], bool]:
        execute = self._connection.execute
        with self._lock:
            total = execute("SELECT count(*) FROM message").fetchone()[0]
            count = execute(f"SELECT count(*) FROM ({matching})", params).fetchone()[0]
            if count * 2 <= total:
                return frozenset(row[0] for row in execute(matching, params)), False
            return frozenset(row[0] for row in execute(others, params)), True

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class _Transaction:
    """BEGIN on enter; COMMIT on success, ROLLBACK on error."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self._connection.execute("COMMIT" if exc_type is None else "ROLLBACK")


class _DocnumCache:
    """Per-segment maps from message id to segment-local document number.

    A Whoosh segment never changes once written, apart from its deletion marks. So a
    map built from its message_id column stays valid, and live_docnums() skips the
    deleted documents.
    """

    MAX_SEGMENTS = 64

    def __init__(self) -> None:
        self._maps: dict[str, dict[int, int]] = {}

    def for_reader(self, reader: object) -> dict[int, int]:
        """Return the map for a leaf (single-segment) reader."""
        if reader.doc_count_all() == 0:
            return {}
        key = reader.segment().segment_id()
        mapping = self._maps.get(key)
        if mapping is None:
            column = reader.column_reader("message_id")
            mapping = {message_id: docnum for docnum, message_id in enumerate(column)}
            if len(self._maps) >= self.MAX_SEGMENTS:
                self._maps.clear()
            self._maps[key] = mapping
        return mapping

    def live_docnums(self, reader: object, message_ids: Iterable[int]) -> list[int]:
        """Return the global document numbers of live documents with these ids."""
        requested = message_ids if isinstance(message_ids, (set, frozenset)) else set(message_ids)
        docnums = []
        for leaf, offset in reader.leaf_readers():
            mapping = self.for_reader(leaf)
            # A folder: or account: term can bring tens of thousands of ids, so the
            # smaller of the two sides is walked.
            if len(mapping) < len(requested):
                found = [docnum for message_id, docnum in mapping.items() if message_id in requested]
            else:
                found = [docnum for docnum in map(mapping.get, requested) if docnum is not None]
            docnums.extend(offset + docnum for docnum in found if not leaf.is_deleted(docnum))
        return docnums


class MessageIdSetQuery(wq.Query):
    """Whoosh query that matches the documents whose message id is in a fixed set."""

    def __init__(self, message_ids: frozenset[int], cache: _DocnumCache) -> None:
        self.message_ids = message_ids
        self._cache = cache
        self.boost = 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.message_ids)} ids)"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.message_ids == self.message_ids

    def __hash__(self) -> int:
        return hash(self.message_ids)

    def __deepcopy__(self, memo: dict) -> MessageIdSetQuery:
        # Copies (Whoosh makes them in with_boost) share the id set and the cache.
        copied = MessageIdSetQuery(self.message_ids, self._cache)
        copied.boost = self.boost
        return copied

    def field(self) -> None:
        return None

    def estimate_size(self, ixreader: object) -> int:
        return min(len(self.message_ids), ixreader.doc_count_all())

    def matcher(self, searcher: object, context: object = None) -> object:
        # Whoosh calls this once per segment. live_docnums() also accepts a
        # multi-segment reader, so a direct call on a top-level searcher works too.
        reader = searcher.reader()
        docnums = sorted(self._cache.live_docnums(reader, self.message_ids))
        if not docnums:
            return NullMatcher()
        return ListMatcher(docnums, all_weights=self.boost)


class _AndNotMatcher(AndNotMatcher):
    """AndNotMatcher with its first match fixed.

    In whoosh-reloaded 2.7.5 the first document of ``a`` is excluded only when it is
    also the first document of ``b``, so "a -b" could return a document that matches b.
    """

    def _find_first(self) -> None:
        if self.a.is_active() and self.b.is_active():
            self._find_next()


class _AndNotQuery(wq.AndNot):
    """wq.AndNot that uses the fixed matcher."""

    def matcher(self, searcher: object, context: object = None) -> object:
        included = self.a.matcher(searcher, context)
        excluded = self.b.matcher(searcher, searcher.boolean_context())
        return _AndNotMatcher(included, excluded)


# Translation of the query AST into Whoosh queries


class _Translator:
    """Build a Whoosh query from a query AST.

    wq.NullQuery stands for "matches nothing" and is folded away here, because
    Whoosh's own normalize() turns NOT of nothing into nothing.
    """

    def __init__(self, side: _SideTable, cache: _DocnumCache, now: datetime) -> None:
        self._side = side
        self._cache = cache
        self._now = now

    def translate(self, node: Query) -> wq.Query:
        match node:
            case MatchAll():
                return wq.Every()
            case Text():
                return self._text(node)
            case Exact(field=name, value=value, prefix=prefix):
                return self.place(name, [normalize_text(value)], prefix)
            case HasFlag(flag=flag):
                return self._flag(normalize_text(flag))
            case HasAttachment():
                return wq.Term("has_attachment", True)
            case DateRange(start=start, end=end):
                return _date_range(start, end)
            case RelativeDate(age=age, older=older):
                cutoff = self._now - age
                return _date_range(None, cutoff) if older else _date_range(cutoff, None)
            case Size(limit=limit, larger=larger):
                return self._id_set(*self._side.lookup_size(limit, larger))
            case ListId(pattern=pattern):
                return self._id_set(self._side.lookup_list(normalize_text(pattern)), False)
            case Not(operand=operand):
                return _negate(self.translate(operand))
            case And(operands=operands):
                return _all_of([self.translate(operand) for operand in operands])
            case Or(operands=operands):
                return _any_of([self.translate(operand) for operand in operands])
        raise TypeError(f"Unknown query node {node!r}")

    def _text(self, node: Text) -> wq.Query:
        if node.field is not None:
            fieldnames: tuple[str, ...] = (_TEXT_FIELD_NAMES[node.field],)
        else:
            fieldnames = _PHRASE_FIELDS if node.phrase else _WORD_FIELDS
        terms = query_terms(node.text)
        return _any_of([_terms_query(fieldname, terms) for fieldname in fieldnames])

    def _flag(self, flag: str) -> wq.Query:
        return self._id_set(*self._side.lookup(flag))

    def place(self, column: str, values: list[str], prefix: bool) -> wq.Query:
        """Match the messages whose account or folder (``column``) is one of ``values``, or starts with one."""
        if prefix and "" in values:
            return wq.Every()
        return self._id_set(*self._side.lookup_place(column, values, prefix))

    def _id_set(self, message_ids: frozenset[int], inverted: bool) -> wq.Query:
        matched = MessageIdSetQuery(message_ids, self._cache) if message_ids else wq.NullQuery
        return _negate(matched) if inverted else matched


def _terms_query(fieldname: str, terms: list[QueryTerm]) -> wq.Query:
    if not terms:
        return wq.NullQuery
    if len(terms) == 1:
        term = terms[0]
        query_class = wq.Prefix if term.prefix else wq.Term
        return query_class(fieldname, term.text)
    return wq.Phrase(fieldname, [term.text for term in terms])


def _date_range(start: datetime | None, end: datetime | None) -> wq.Query:
    """Match dates from start (inclusive) to end (exclusive), to the minute.

    Undated messages never match.
    """
    low = _date_key(start) if start is not None else NO_DATE + 1
    high = _date_key(end) - 1 if end is not None else None
    if high is not None and high < low:
        return wq.NullQuery
    return wq.NumericRange("date", low, high)


def _negate(query: wq.Query) -> wq.Query:
    if query is wq.NullQuery:
        return wq.Every()
    if _matches_all(query):
        return wq.NullQuery
    if isinstance(query, wq.Not):
        return query.query
    return wq.Not(query)


def _all_of(queries: list[wq.Query]) -> wq.Query:
    if any(query is wq.NullQuery for query in queries):
        return wq.NullQuery
    queries = [query for query in queries if not _matches_all(query)]
    if not queries:
        return wq.Every()

    # "a -b" becomes AndNot(a, b), which skips through b's matches. And([a, Not(b)])
    # would step through every document of the index to invert b.
    included = [query for query in queries if not isinstance(query, wq.Not)]
    excluded = [query.query for query in queries if isinstance(query, wq.Not)]
    if not excluded:
        return included[0] if len(included) == 1 else wq.And(included)
    if not included:
        return _negate(_any_of(excluded))
    positive = included[0] if len(included) == 1 else wq.And(included)
    return _AndNotQuery(positive, _any_of(excluded))


def _any_of(queries: list[wq.Query]) -> wq.Query:
    if any(_matches_all(query) for query in queries):
        return wq.Every()
    queries = [query for query in queries if query is not wq.NullQuery]
    if not queries:
        return wq.NullQuery
    return queries[0] if len(queries) == 1 else wq.Or(queries)


def _matches_all(query: wq.Query) -> bool:
    return isinstance(query, wq.Every) and query.fieldname is None


# The index


@dataclass(frozen=True)
class StagedSegment:
    """A Whoosh segment written outside the index by ``write_staged_segment``.

    Attributes:
        folder: The staging subfolder that holds the segment's files.
        segment: Whoosh's segment object, which the index's table of contents lists.
        side_rows: The message id, account, folder, flags, size and List-Id of each document in the segment.
    """

    folder: Path
    segment: object
    side_rows: list[SideRow]


def _side_row(doc: IndexDocument) -> SideRow:
    return (doc.message_id, doc.account, doc.folder, doc.flags, doc.size, doc.list_id)


def write_staged_segment(staging_dir: Path, docs: list[IndexDocument]) -> StagedSegment:
    """Write ``docs`` as one new Whoosh segment in a fresh subfolder of ``staging_dir``.

    Meant for worker processes: it takes no lock and changes nothing in the index
    until ``SearchIndex.add_staged`` adds the segment. Within ``docs``, the last
    document with a given message_id wins.
    """
    batch = {doc.message_id: doc for doc in docs}
    Path(staging_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="segment-", dir=staging_dir))
    staging = FileStorage(str(folder)).create_index(build_schema())
    # NOTE: SegmentWriter(_lk=False) and _finalize_segment() are internals of
    # whoosh-reloaded 2.7.5, used the same way by its own multiprocessing writer.
    writer = SegmentWriter(staging, _lk=False)
    try:
        for doc in batch.values():
            writer.add_document(**_document_fields(doc))
        segment = writer._finalize_segment()
    except BaseException:
        writer.cancel()
        raise
    writer._finish()
    return StagedSegment(folder, segment, [_side_row(doc) for doc in batch.values()])



class SearchIndex:
    """A full-text index of messages in one folder on disk.

    One writer at a time: writes from threads of this object are serialized, and
    another process holding the Whoosh write lock makes a write wait up to
    WRITE_LOCK_TIMEOUT_SECONDS. Searches may run from other threads while a write
    is in progress; they see the state of the last commit.

    Attributes:
        path: The index folder.
        is_new: True when this open created an empty index, because none existed or
            the existing one had another format. See ``needs_fill`` for the state
            that outlasts this open.
    """

    def __init__(self, path: Path, *, procs: int = 1) -> None:
        """Open the index in ``path``, creating the folder and index as needed.

        Args:
            path: The index folder.
            procs: Worker processes for adding batches of at least MIN_PARALLEL_BATCH
                documents. Values above 1 use Whoosh's multiprocessing writer, which
                leaves one new segment per process instead of merging them at once.
                NOTE: the workers are started with multiprocessing's default method,
                fork on Linux before Python 3.14, which is unsafe in a process that
                runs other threads (such as a GUI). Use procs > 1 only in a
                single-threaded process, such as a command-line rebuild.
        """
        if procs < 1:
            raise ValueError(f"procs must be at least 1, got {procs}")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._procs = procs
        self._write_lock = threading.Lock()
        self._searchers: dict[int, object] = {}
        self._searchers_lock = threading.Lock()
        self._cache = _DocnumCache()
        self._closed = False
        self._side = _SideTable(self.path / FLAGS_FILE)
        self._index, self.is_new = self._open_or_create()
        self._sort = sorting.MultiFacet(
            [sorting.FieldFacet("date", reverse=True), sorting.FieldFacet("message_id", reverse=True)]
        )

    def _open_or_create(self) -> tuple[whoosh_index.FileIndex, bool]:
        reason = self._incompatibility()
        if reason is None:
            return whoosh_index.open_dir(str(self.path)), False
        if reason:
            logger.warning("Recreating the search index in %s empty: %s", self.path, reason)
        else:
            logger.info("Creating a search index in %s", self.path)
        created = whoosh_index.create_in(str(self.path), build_schema())
        self._side.recreate(SCHEMA_VERSION)
        return created, True

    def _incompatibility(self) -> str | None:
        """Return why the existing index cannot be used, "" when there is none, or None when it can."""
        if not whoosh_index.exists_in(str(self.path)):
            return ""
        version = self._side.version()
        if version == 0:
            return f"its side table {FLAGS_FILE} is missing"
        if version != SCHEMA_VERSION:
            return f"its format version is {version}, this program uses {SCHEMA_VERSION}"
        try:
            stored = whoosh_index.open_dir(str(self.path)).schema
        except (pickle.UnpicklingError, AttributeError, ImportError, EOFError) as error:
            return f"its schema cannot be read ({error})"
        if _schema_signature(stored) != _schema_signature(build_schema()):
            return "its fields differ from this program's"
        return None

    @property
    def needs_fill(self) -> bool:
        """True from the creation of an empty index until ``mark_filled``, across opens and processes.

        A search may be the first to open an index after its format changed, and
        it recreates the index empty without filling it. The next index update,
        in whichever process, then queues every stored message.
        """
        self._check_open()
        return self._side.fill_pending()

    def mark_filled(self) -> None:
        """Record that every stored message is queued for this index, so ``needs_fill`` turns False."""
        self._check_open()
        self._side.clear_fill_pending()
        logger.info("Marked the search index in %s as filled from the store", self.path)

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"The search index in {self.path} is closed")

    # Writing

    def _writer(self, batch_size: int) -> object:
        procs = self._procs if batch_size >= MIN_PARALLEL_BATCH else 1
        # Without multisegment, the parent process merges the workers' segments
        # again in commit(), which took longer than indexing with one process.
        options = {"multisegment": True} if procs > 1 else {}
        try:
            return self._index.writer(procs=procs, timeout=WRITE_LOCK_TIMEOUT_SECONDS, **options)
        except whoosh_index.LockError:
            raise TimeoutError(
                f"The search index in {self.path} is locked by another writer, and it was "
                f"not released within {WRITE_LOCK_TIMEOUT_SECONDS:.0f} s. Close other "
                f"programs that use this index and try again."
            ) from None

    def add(self, docs: Iterable[IndexDocument]) -> int:
        """Add documents, replacing any with the same message_id, in one commit.

        The whole batch is held in memory; within it, the last document with a given
        message_id wins. Returns the number of documents written.
        """
        self._check_open()
        batch = {doc.message_id: doc for doc in docs}
        if not batch:
            return 0

        with self._write_lock:
            writer = self._writer(len(batch))
            try:
                for docnum in self._cache.live_docnums(writer.reader(), batch):
                    writer.delete_document(docnum)
                for doc in batch.values():
                    writer.add_document(**_document_fields(doc))
                self._side.replace(_side_row(doc) for doc in batch.values())
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
        logger.debug("Indexed %d documents", len(batch))
        return len(batch)

    @property
    def staging_dir(self) -> Path:
        """The folder where ``write_staged_segment`` should write segments for this index."""
        return self.path / STAGING_FOLDER

    def add_staged(self, staged: StagedSegment, *, merge: bool = True) -> int:
        """Add a segment from ``write_staged_segment``, replacing documents with the same ids.

        Moves the segment's files into the index and commits, so the staging
        subfolder is gone afterwards, also when this raises. Returns the number of
        documents added.

        Args:
            staged: The segment to add.
            merge: False to commit without merging small segments, which keeps a
                long run of commits fast; finish such a run with ``merge_segments``.
        """
        self._check_open()
        with self._write_lock:
            try:
                self._commit_staged(staged, merge)
            finally:
                shutil.rmtree(staged.folder, ignore_errors=True)
        logger.debug("Added a staged segment of %d documents", len(staged.side_rows))
        return len(staged.side_rows)

    def _commit_staged(self, staged: StagedSegment, merge: bool) -> None:
        writer = self._writer(0)
        moved: list[Path] = []
        try:
            for docnum in self._cache.live_docnums(writer.reader(), [item[0] for item in staged.side_rows]):
                writer.delete_document(docnum)
            prefix = f"{staged.segment.segment_id()}."
            for source in staged.folder.iterdir():
                if source.name.startswith(prefix):
                    moved.append(source.replace(self.path / source.name))
            self._side.replace(staged.side_rows)
            # The same steps as SegmentWriter.commit, with the staged segment added
            # to the table of contents next to the writer's own.
            segments = writer._merge_segments(None if merge else NO_MERGE, None, None)
            segments.append(staged.segment)
            if writer._added:
                segments.append(writer._finalize_segment())
            else:
                writer._close_segment()
            writer._commit_toc(segments)
        except BaseException:
            for path in moved:
                path.unlink(missing_ok=True)
            if not writer.is_closed:
                writer.cancel()
            raise
        writer._finish()

    def merge_segments(self) -> None:
        """Merge small segments as a normal commit does; see ``add_staged(merge=False)``."""
        self._check_open()
        with self._write_lock:
            self._writer(0).commit()
        logger.debug("Merged small index segments")

    def delete(self, message_ids: Iterable[int]) -> int:
        """Delete documents by message id in one commit; return how many were found."""
        self._check_open()
        requested = set(message_ids)
        if not requested:
            return 0

        with self._write_lock:
            writer = self._writer(0)
            try:
                docnums = self._cache.live_docnums(writer.reader(), requested)
                for docnum in docnums:
                    writer.delete_document(docnum)
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            self._side.delete(requested)
        logger.debug("Deleted %d of %d requested documents", len(docnums), len(requested))
        return len(docnums)

    def update_flags(self, message_id_flags: Iterable[tuple[int, list[str]]]) -> None:
        """Replace the flags of indexed messages; ids that are not indexed are skipped.

        Only the flag table changes, so this is fast and needs no message text.
        """
        self._check_open()
        with self._write_lock:
            written = self._side.replace_flags(message_id_flags)
        logger.debug("Updated the flags of %d messages", written)

    def update_places(self, message_id_places: Iterable[tuple[int, str, str]]) -> None:
        """Set the account and folder of indexed messages, e.g. after a move; ids that are not indexed are skipped.

        Only the side table changes, so this needs no message text.
        """
        self._check_open()
        with self._write_lock:
            written = self._side.replace_places(message_id_places)
        logger.debug("Updated the account and folder of %d messages", written)

    def clear(self) -> None:
        """Remove every document, keeping the index folder, e.g. before a rebuild."""
        self._check_open()
        with self._write_lock:
            writer = self._writer(0)
            writer.commit(mergetype=CLEAR)
            self._side.clear()
        logger.info("Cleared the search index in %s", self.path)

    # Searching

    def _build_query(
        self, text: str, accounts: list[str] | None, now: datetime | None
    ) -> wq.Query:
        translator = _Translator(self._side, self._cache, now or datetime.now(UTC))
        query = translator.translate(parse_query(text))
        if accounts is None:
            return query
        if not accounts:
            return wq.NullQuery
        allowed = translator.place("account", [normalize_text(name) for name in accounts], prefix=False)
        return _all_of([query, allowed])

    def search(
        self,
        query: str,
        *,
        limit: int | None = 100,
        accounts: list[str] | None = None,
        now: datetime | None = None,
    ) -> list[int]:
        """Return the message ids matching ``query``, newest first.

        Messages without a date come last; equal dates are ordered by message id,
        highest first.

        Args:
            query: Text in the query language; see ``docs/search.md``.
            limit: The maximum number of ids, or None for all.
            accounts: Account names to search in, or None for all accounts.
            now: The moment that older_than: and newer_than: count from; the
                current time when None.

        Raises:
            QueryError: The query text is invalid.
        """
        self._check_open()
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or at least 0, got {limit}")
        whoosh_query = self._build_query(query, accounts, now)
        if whoosh_query is wq.NullQuery or limit == 0:
            return []
        searcher = self._searcher()
        if searcher.doc_count_all() == 0:
            return []
        results = searcher.search(whoosh_query, limit=limit, sortedby=self._sort)
        column = searcher.reader().column_reader("message_id")
        return [column[docnum] for docnum, _ in results.items()]

    def count(
        self, query: str, *, accounts: list[str] | None = None, now: datetime | None = None
    ) -> int:
        """Return how many messages match ``query``; arguments as for ``search``."""
        self._check_open()
        whoosh_query = self._build_query(query, accounts, now)
        if whoosh_query is wq.NullQuery:
            return 0
        return sum(1 for _ in self._searcher().docs_for_query(whoosh_query))

    def doc_count(self) -> int:
        """Return the number of documents in the index."""
        self._check_open()
        return self._index.doc_count()

    def _searcher(self) -> object:
        """Return the calling thread's searcher, reopened when a commit made it stale.

        Opening a searcher reads every segment's files, which took 3 to 9 ms on an
        index of 10,000 messages, so each thread keeps its own between searches.
        Whoosh searchers are not shared between threads.
        """
        ident = threading.get_ident()
        with self._searchers_lock:
            current = self._searchers.get(ident)
        if current is not None and current.up_to_date():
            return current

        fresh = self._index.searcher()
        with self._searchers_lock:
            alive = {thread.ident for thread in threading.enumerate()}
            for owner in [owner for owner in self._searchers if owner not in alive]:
                self._searchers.pop(owner).close()
            if current is not None:
                current.close()
            self._searchers[ident] = fresh
        return fresh

    def close(self) -> None:
        """Release the index; later calls raise RuntimeError. Closing twice is allowed.

        No search may be running in another thread when this is called.
        """
        if self._closed:
            return
        self._closed = True
        with self._searchers_lock:
            for searcher in self._searchers.values():
                searcher.close()
            self._searchers.clear()
        self._index.close()
        self._side.close()
