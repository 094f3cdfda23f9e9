"""Saved searches and the unified inbox: views over the mail of every account.

A saved search is a name and a query in the search language
(``docs/search.md``). The profile keeps them in ``searches.toml`` in its
config folder, one ``[[search]]`` table each::

    [[search]]
    name = "From the team"
    query = "from:ana@example.org OR from:ops@example.org"
    lane = true          # also a tab of the split inbox (optional, false by default)

Reading a file collects every problem with its file and line, and skips only
the searches that have one, as key files do. A query is checked with the
search language's own parser, so a problem names the bad term and its column.

The window shows each saved search as a virtual folder. The unified inbox
lists the INBOX folders of all accounts; it needs nothing stored, because
``inbox_folder_ids`` finds those folders in the store.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from desktop.index import QueryError, SearchIndex, parse_query
from desktop.store import FolderRow, Store
from desktop.store.lanes import ALL_LANES, NO_LANE
from desktop.text import sentence

log = logging.getLogger(__name__)

SEARCHES_FILE_NAME = "searches.toml"
MAX_NAME_LENGTH = 80
_KEYS = ("name", "query", "lane")
_TOML_LINE = re.compile(r"at line (\d+)")
_HEADER = re.compile(r"^\s*\[\[\s*search\s*\]\]\s*(#.*)?$")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*=")

# Lane keys of saved searches start with NUL, which no rule lane name contains, so the two kinds never clash.
_SEARCH_LANE_PREFIX = "\0search:"


@dataclass(frozen=True)
class SavedSearch:
    """One saved search.

    Attributes:
        name: The name shown in the folder tree, unique within the file (case ignored).
        query: The query, in the search language.
        lane: Whether the search is also a lane of the split inbox.
    """

    name: str
    query: str
    lane: bool = False


@dataclass(frozen=True)
class SearchProblem:
    """A problem in a searches file.

    Attributes:
        path: The file.
        line: The 1-based line of the problem.
        message: What is wrong and how to fix it.
    """

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class SavedSearchError(ValueError):
    """A saved search that cannot be stored: a bad name or query, or a file that cannot be written."""


def searches_file(config_dir: Path) -> Path:
    """Return the path of the profile's saved searches file."""
    return config_dir / SEARCHES_FILE_NAME


# --- checking one search ------------------------------------------------------------


def name_problem(name: object, taken: Iterable[str] = ()) -> str:
    """Return what is wrong with ``name`` as a saved search's name, or "" when it is fine.

    Args:
        name: The proposed name.
        taken: The names of the other saved searches; a name may not repeat one
            of them, case ignored.
    """
    if not isinstance(name, str):
        return f"the name must be a string in quotes, as in name = \"Team\", not {name!r}"
    stripped = name.strip()
    if not stripped:
        return "the name is empty; give the search a name, as in name = \"Team\""
    if stripped != name:
        return f"the name {name!r} starts or ends with a blank; remove it"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return f"the name {name!r} contains a control character; use printable characters only"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name {name[:20]!r}... has {len(name)} characters; use at most {MAX_NAME_LENGTH}"
    if name.casefold() in {other.casefold() for other in taken}:
        return f"the name {name!r} is used by another saved search; pick another name"
    return ""


def query_problem(query: object) -> str:
    """Return what is wrong with ``query``, naming the bad term and its column, or "" when it parses."""
    if not isinstance(query, str):
        return f"the query must be a string in quotes, as in query = 'from:ana is:unread', not {query!r}"
    if not query.strip():
        return "the query is empty; write a search, as in query = 'from:ana is:unread'"
    try:
        parse_query(query)
    except QueryError as error:
        return describe_query_error(error)
    return ""


def describe_query_error(error: QueryError) -> str:
    """Return a one-line description of ``error`` that names the bad term and its column."""
    query, position = error.query, error.position
    start = max(query.rfind(" ", 0, position), query.rfind("\t", 0, position)) + 1
    rest = query[start:].split()
    where = f"term '{rest[0]}'" if rest else "the end"
    return f"invalid query {query!r}, {where} (column {position + 1}): {error.message.rstrip('.')}"


def make_search(name: str, query: str, lane: bool = False, *, others: Sequence[SavedSearch] = ()) -> SavedSearch:
    """Return a checked saved search.

    Args:
        name: Its name; blanks around it are removed.
        query: Its query; blanks around it are removed.
        lane: Whether it is also a lane of the split inbox.
        others: The other saved searches, whose names it may not repeat.

    Raises:
        SavedSearchError: The name or the query is invalid; the message explains why.
    """
    name, query = name.strip(), query.strip()
    problem = name_problem(name, (other.name for other in others)) or query_problem(query)
    if problem:
        raise SavedSearchError(_sentence(problem))
    return SavedSearch(name, query, bool(lane))


def _sentence(problem: str) -> str:
    return sentence(problem[0].upper() + problem[1:])


# --- reading and writing the file ------------------------------------------------------


def _entry_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """Return, per ``[[search]]`` table in file order, its header line and the line of each key.

    ``tomllib`` gives no positions, so the lines are found by scanning. Lines
    inside multi-line strings are skipped.
    """
    entries: list[tuple[int, dict[str, int]]] = []
    open_quote = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if open_quote:
            if line.count(open_quote) % 2:
                open_quote = ""
            continue
        if _HEADER.match(line):
            entries.append((number, {}))
        elif entries and (match := _KEY_LINE.match(line)):
            entries[-1][1].setdefault(match.group(1).strip("\"'"), number)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2:
                open_quote = quote
    return entries


def read_searches_text(text: str, path: Path) -> tuple[list[SavedSearch], list[SearchProblem]]:
    """Read the saved searches in a file's text; return the valid ones and every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = _TOML_LINE.search(str(error))
        return [], [SearchProblem(path, int(match.group(1)) if match else 1, f"invalid TOML: {error}")]
    problems: list[SearchProblem] = []
    for key in data:
        if key != "search":
            close = difflib.get_close_matches(key, ["search"], n=1, cutoff=0.5)
            hint = " Did you mean [[search]]?" if close else ""
            problems.append(SearchProblem(path, _top_line(text, key),
                                          f"unknown table or key '{key}'.{hint} Write each saved search as a "
                                          "[[search]] table with name and query"))
    tables = data.get("search", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        problems.append(SearchProblem(path, _top_line(text, "search"),
                                      "'search' must be a list of tables; write each saved search as [[search]]"))
        return [], problems
    lines = _entry_lines(text)
    searches: list[SavedSearch] = []
    for position, table in enumerate(tables):
        header, key_lines = lines[position] if position < len(lines) else (1, {})
        search = _read_table(table, path, header, key_lines, searches, problems)
        if search is not None:
            searches.append(search)
    return searches, problems


def _top_line(text: str, key: str) -> int:
    pattern = re.compile(rf"^\s*(\[+\s*{re.escape(key)}\b|{re.escape(key)}\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def _read_table(table: Mapping[str, object], path: Path, header: int, key_lines: Mapping[str, int],
                earlier: Sequence[SavedSearch], problems: list[SearchProblem]) -> SavedSearch | None:
    found = len(problems)
    for key in table:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(SearchProblem(path, key_lines.get(key, header),
                                          f"unknown key '{key}'.{hint} A saved search has name, query and lane"))
    name = table.get("name")
    query = table.get("query")
    lane = table.get("lane", False)
    label = f"saved search {name!r}" if isinstance(name, str) and name.strip() else f"the saved search at line {header}"
    if name is None:
        problems.append(SearchProblem(path, header, f"{label} has no name; add name = \"...\""))
    elif problem := name_problem(name, (search.name for search in earlier)):
        problems.append(SearchProblem(path, key_lines.get("name", header), problem))
    if query is None:
        problems.append(SearchProblem(path, header, f"{label} has no query; add query = '...'"))
    elif problem := query_problem(query):
        problems.append(SearchProblem(path, key_lines.get("query", header), f"{label}: {problem}"))
    if not isinstance(lane, bool):
        problems.append(SearchProblem(path, key_lines.get("lane", header),
                                      f"{label}: lane must be true or false, not {lane!r}"))
    if len(problems) > found:
        return None
    return SavedSearch(str(name), str(query).strip(), bool(lane))


def load_searches(path: Path) -> tuple[list[SavedSearch], list[SearchProblem]]:
    """Read a searches file; a missing file has no searches and no problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except UnicodeDecodeError as error:
        return [], [SearchProblem(path, 1, f"not UTF-8 text ({error}); save the file as UTF-8")]
    except OSError as error:
        return [], [SearchProblem(path, 1, f"cannot read the file: {error.strerror}")]
    searches, problems = read_searches_text(text, path)
    for problem in problems:
        log.warning("Saved searches: %s", problem)
    log.debug("Read %d saved search(es) from %s", len(searches), path)
    return searches, problems


def searches_text(searches: Sequence[SavedSearch]) -> str:
    """Return the TOML text of a searches file that contains ``searches``."""
    header = ("# Saved searches of Sluice, one [[search]] table each. The window rewrites this file\n"
              "# when you save, edit or delete a search there. The query language is in docs/search.md.\n\n")
    tables = [{"name": search.name, "query": search.query, **({"lane": True} if search.lane else {})}
              for search in searches]
    return header + tomli_w.dumps({"search": tables}) if tables else header


def save_searches(path: Path, searches: Sequence[SavedSearch]) -> None:
    """Write ``searches`` to ``path``, replacing the file in one step so a crash leaves the old or the new file.

    Comments in the old file are not kept.

    Raises:
        SavedSearchError: The file cannot be written; the message names it and the reason.
    """
    text = searches_text(searches)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".searches-", suffix=".toml", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise SavedSearchError(f"Could not write {path}: {error.strerror or error}. Check that the folder is "
                               "writable and the disk is not full.") from error
    log.info("Saved %d saved search(es) to %s", len(searches), path)


# --- changing the list --------------------------------------------------------------------


def find_search(searches: Sequence[SavedSearch], name: str) -> SavedSearch | None:
    """Return the saved search called ``name`` (case ignored), or None."""
    folded = name.casefold()
    return next((search for search in searches if search.name.casefold() == folded), None)


def with_search(searches: Sequence[SavedSearch], search: SavedSearch, *, replacing: str | None = None) -> list[SavedSearch]:
    """Return ``searches`` with ``search`` added at the end, or put in the place of the one called ``replacing``.

    Raises:
        SavedSearchError: ``replacing`` names no saved search, or another
            saved search has the new name.
    """
    others = [item for item in searches if replacing is None or item.name.casefold() != replacing.casefold()]
    if replacing is not None and len(others) == len(searches):
        raise SavedSearchError(f"There is no saved search named {replacing!r}; it may have been deleted meanwhile.")
    problem = name_problem(search.name, (item.name for item in others))
    if problem:
        raise SavedSearchError(_sentence(problem))
    if replacing is None:
        return [*searches, search]
    return [search if item.name.casefold() == replacing.casefold() else item for item in searches]


def without_search(searches: Sequence[SavedSearch], name: str) -> list[SavedSearch]:
    """Return ``searches`` without the one called ``name``.

    Raises:
        SavedSearchError: No saved search has that name.
    """
    remaining = [item for item in searches if item.name.casefold() != name.casefold()]
    if len(remaining) == len(searches):
        raise SavedSearchError(f"There is no saved search named {name!r}; it may have been deleted meanwhile.")
    return remaining


# --- running searches -----------------------------------------------------------------------


def run_saved_searches(store: Store, index: SearchIndex, searches: Sequence[SavedSearch], *,
                       cancelled: Callable[[], bool] = lambda: False) -> dict[str, list[int] | str]:
    """Run each search over every account; return its matching ids, newest first, or the error text.

    The index first takes the store's queued changes, so moves and flag
    changes made a moment ago count. A Gmail message found in All Mail and
    in another folder is listed once, as the window's search does. When
    ``cancelled`` returns True, the searches not run yet are left out.
    """
    from desktop.index.builder import update_index

    if store.index_backlog():
        for _step in update_index(store, index, cancelled=cancelled):
            pass
    results: dict[str, list[int] | str] = {}
    for search in searches:
        if cancelled():
            log.debug("Saved searches cancelled after %d of %d", len(results), len(searches))
            break
        try:
            results[search.name] = store.without_all_mail_twins(index.search(search.query, limit=None))
        except QueryError as error:
            log.warning("Saved search %r has an invalid query: %s", search.name, error.message)
            results[search.name] = describe_query_error(error)
    return results


# --- the unified inbox and the lanes of saved searches ------------------------------------------


def is_inbox(row: FolderRow) -> bool:
    return row.selectable and (row.name.upper() == "INBOX" or "\\Inbox" in row.special_use.split())


def inbox_folder_ids(folders: Iterable[FolderRow]) -> list[int]:
    """Return the id of each account's INBOX, in account order."""
    chosen: dict[str, int] = {}
    for row in sorted(folders, key=lambda folder: (folder.account, folder.name.upper() != "INBOX", folder.id)):
        if is_inbox(row):
            chosen.setdefault(row.account, row.id)
    return list(chosen.values())


def search_lane(name: str) -> str:
    """Return the lane key of the saved search ``name``; rule lanes use their own names."""
    return _SEARCH_LANE_PREFIX + name


def search_of_lane(lane: str | None) -> str | None:
    """Return the saved search's name of a lane key from ``search_lane``, or None for other lanes."""
    if isinstance(lane, str) and lane.startswith(_SEARCH_LANE_PREFIX):
        return lane[len(_SEARCH_LANE_PREFIX) :]
    return None


def lane_counts(store: Store, folder_ids: Sequence[int], matches: Mapping[str, Set[int]]) -> tuple[dict[str, int], int]:
    """Count the messages of the folders per lane, with the lanes of saved searches after the rule lanes.

    Args:
        store: The store.
        folder_ids: The folders on show.
        matches: For each saved search that is a lane, the ids it matches in
            any folder. A search lane without messages in the folders is left out.

    Returns:
        The counts by lane key (rule lane names, ``search_lane(name)``, and
        ``NO_LANE`` for the messages in no lane of either kind), and the
        number of messages of the folders. A message may be in a rule lane and
        in several search lanes, so the counts can add up to more than that.
    """
    counts = store.lane_counts(folder_ids)
    total = sum(counts.values())
    if not matches or not folder_ids:
        return counts, total
    in_folders = set(store.lane_message_ids(folder_ids, ALL_LANES))
    other = counts.pop(NO_LANE, 0)
    in_any_search: set[int] = set()
    for name, ids in matches.items():
        found = in_folders.intersection(ids)
        if found:
            counts[search_lane(name)] = len(found)
            in_any_search |= found
    if in_any_search:
        other = sum(1 for message_id in store.lane_message_ids(folder_ids, NO_LANE) if message_id not in in_any_search)
    counts[NO_LANE] = other
    return counts, total


def lane_ids(store: Store, folder_ids: Sequence[int], lane: str | None, matches: Mapping[str, Set[int]], *,
             by_priority: bool = False) -> list[int]:
    """Return the ids of the folders' messages in ``lane``, in list order.

    ``lane`` is a rule lane's name, a ``search_lane`` key, ``NO_LANE`` for the
    messages in no lane of either kind, or ``ALL_LANES`` for every message.
    """
    name = search_of_lane(lane)
    if name is not None:
        selected = matches.get(name, frozenset())
        return [message_id for message_id in store.lane_message_ids(folder_ids, ALL_LANES, by_priority=by_priority)
                if message_id in selected]
    ids = store.lane_message_ids(folder_ids, lane, by_priority=by_priority)
    if lane == NO_LANE and matches:
        in_any_search = set().union(*matches.values())
        return [message_id for message_id in ids if message_id not in in_any_search]
    return ids
