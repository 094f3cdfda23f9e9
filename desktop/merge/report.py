"""The final report of a merge send: one CSV row per recipient, the text shown at the end of a send, and durations in progress lines."""

from __future__ import annotations

import csv
import datetime
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from desktop.merge import journal as jn
from desktop.merge.check import describe_rows
from desktop.merge.errors import MergeError
from desktop.text import pluralize

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("row", "address", "state", "message_id", "reply", "attempts", "finished")
# Max lines per state in the on-screen summary. Each line is one reply with all the rows that got it.
SUMMARY_GROUPS = 20
# Max addresses named on one line of failed or unknown rows, so the user knows whom to check with.
SUMMARY_ADDRESSES = 5
# Skip reasons written by the send (see AlreadySent.skip_in and SuppressedError), listed after real errors.
_ALREADY_SENT = "already sent in merge "
_SUPPRESSED = "on the suppression list"
# The addresses in a suppression skip reason: "a@example.org, b@example.org are on the suppression list".
_SUPPRESSED_ADDRESSES = re.compile(r"([^\s,:]+@[^\s,]+(?:, [^\s,:]+@[^\s,]+)*) (?:is|are) on the suppression list")


def report_path(journal_file: Path, merge_id: str) -> Path:
    """Return where the report of ``merge_id`` is written: next to the journal."""
    return Path(journal_file).with_name(f"merge-{merge_id}-report.csv")


def write_report(journal: jn.Journal, merge_id: str, merge=None) -> Path:  # noqa: ANN001 - a render.Merge
    """Write the report CSV of a merge (UTF-8 with a BOM, so spreadsheets read it) and return its path.

    With ``merge``, the merge's template and data as they are now, the report
    lists every data row: the rows the send has not reached yet have state
    ``queued``. Rows are read from the data file one at a time. Without it, for
    a test send, or when the data file changed (its ``merge_key`` differs, or it
    changes while being read), the report lists only the rows in the journal.
    """
    record = journal.merge(merge_id)
    if merge is not None and (record.kind != jn.KIND_SEND or merge.merge_key != record.merge_key):
        merge = None
    path = report_path(journal.path, merge_id)
    partial = path.with_suffix(".csv.partial")
    records = journal.recipients(merge_id)
    try:
        _write_rows(partial, _report_rows(records, merge))
    except MergeError as error:
        log.warning("Merge %s: the report lists only the journaled rows, because the data file failed: %s",
                    merge_id, error)
        _write_rows(partial, _report_rows(records, None))
    partial.replace(path)
    log.info("Wrote the report of merge %s to %s", merge_id, path)
    return path


def _write_rows(path: Path, rows: Iterable[tuple]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(rows)


def _report_rows(records: list[jn.RecipientRecord], merge) -> Iterator[tuple]:  # noqa: ANN001 - a render.Merge
    """Yield the CSV rows: the journal's rows, and with ``merge`` a ``queued`` row for each data row not in it."""
    journaled = iter(records)
    record = next(journaled, None)
    for row in merge.rows if merge is not None else ():
        while record is not None and record.row < row.number:
            yield _record_fields(record)
            record = next(journaled, None)
        address = row.get(merge.address_column or "", "").strip()
        if record is not None and record.row == row.number:
            # The sender journals a suppressed row without its address, so the data row gives it.
            yield _record_fields(record, address)
            record = next(journaled, None)
            continue
        yield (row.number, address, jn.QUEUED, "", "", 0, "")
    while record is not None:
        yield _record_fields(record)
        record = next(journaled, None)


def _record_fields(record: jn.RecipientRecord, data_address: str = "") -> tuple:
    """Return the report fields of ``record``; ``data_address``, from the data row, fills a missing address."""
    return (record.row, record.address or data_address or _address_of(record), record.state, record.message_id, record.reply, record.attempts,
            _time_text(record.finished_at))


def summary_lines(journal: jn.Journal, merge_id: str) -> list[str]:
    """Return the on-screen summary of a merge: counts, then the failed, unknown and skipped rows grouped by reply.

    Rows with the same reply share one line, and within the skipped rows the
    errors come before suppressed addresses and rows already sent in another
    merge, so a real problem is never hidden behind many routine skips.
    """
    record = journal.merge(merge_id)
    counts = journal.counts(merge_id)
    done = sum(counts[state] for state in jn.DONE_STATES)
    lines = [
        f"Merge {merge_id}: {counts[jn.SENT]} sent, {counts[jn.FAILED]} failed, {counts[jn.UNKNOWN]} unknown, "
        f"{counts[jn.SKIPPED]} skipped, {max(record.total - done, 0)} remaining of {record.total}.",
    ]
    for state, title in ((jn.FAILED, "Failed"), (jn.UNKNOWN, "Unknown outcome"), (jn.SKIPPED, "Skipped")):
        rows = journal.recipients(merge_id, [state])
        if rows:
            lines.append(f"{title}:")
            lines.extend(_grouped_lines(rows, with_addresses=state != jn.SKIPPED))
    return lines


def _grouped_lines(rows: list[jn.RecipientRecord], *, with_addresses: bool) -> list[str]:
    """Return one line per distinct reply, errors first, at most SUMMARY_GROUPS of them, then what was left out.

    A line of one row names its address. With ``with_addresses``, a line of several rows names the first
    SUMMARY_ADDRESSES addresses too.
    """
    groups: dict[str, list[jn.RecipientRecord]] = {}
    for row in rows:
        groups.setdefault(_reply_text(row), []).append(row)
    # sorted() is stable, so replies of the same rank keep the order of their first row.
    ordered = sorted(groups.items(), key=lambda item: _rank(item[0]))
    lines = []
    for reply, members in ordered[:SUMMARY_GROUPS]:
        if len(members) == 1:
            where = f"row {members[0].row} {_address_of(members[0]) or '-'}"
        else:
            where = describe_rows([member.row for member in members])
            if with_addresses:
                where += f" ({_addresses_text(members)})"
        lines.append(f"  {where}: {reply}")
    left_out = ordered[SUMMARY_GROUPS:]
    if left_out:
        count = sum(len(members) for _, members in left_out)
        replies = pluralize(len(left_out), "other reply", "other replies")
        lines.append(f"  ... and {pluralize(count, 'more row')} with {replies} (see the report)")
    return lines


def _addresses_text(members: list[jn.RecipientRecord]) -> str:
    named = ", ".join(_address_of(member) or "-" for member in members[:SUMMARY_ADDRESSES])
    left = len(members) - SUMMARY_ADDRESSES
    return f"{named} and {left} more" if left > 0 else named


def _address_of(record: jn.RecipientRecord) -> str:
    """Return the row's address, or for a suppressed row journaled without one, the addresses its reason names."""
    if record.address:
        return record.address
    match = _SUPPRESSED_ADDRESSES.search(record.reply or "")
    return match.group(1) if match else ""


def _reply_text(row: jn.RecipientRecord) -> str:
    """Return the row's reply without the ``row N, `` or ``row N: `` that a skip reason starts with."""
    reply = row.reply or "no reply recorded"
    for prefix in (f"row {row.row}, ", f"row {row.row}: "):
        if reply.startswith(prefix):
            return reply[len(prefix):]
    return reply


def _rank(reply: str) -> int:
    if reply.startswith(_ALREADY_SENT):
        return 2
    if _SUPPRESSED in reply:
        return 1
    return 0


def duration_text(seconds: float | None) -> str:
    """Return a short duration such as ``40 s``, ``12 min`` or ``2 h 5 min``; "–" when unknown."""
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _time_text(moment: float | None) -> str:
    if moment is None:
        return ""
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat(timespec="seconds")
