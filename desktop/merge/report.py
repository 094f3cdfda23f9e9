"""The final report of a merge send: one CSV row per recipient, the text shown at the end of a send, and durations in progress lines."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from desktop.merge import journal as jn

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("row", "address", "state", "message_id", "reply", "attempts", "finished")


def report_path(journal_file: Path, merge_id: str) -> Path:
    """Return where the report of ``merge_id`` is written: next to the journal."""
    return Path(journal_file).with_name(f"merge-{merge_id}-report.csv")


def write_report(journal: jn.Journal, merge_id: str) -> Path:
    """Write the report CSV of a merge (UTF-8 with a BOM, so spreadsheets read it) and return its path.

    Rows never journaled (not reached yet) are absent; ``merge status`` counts them as remaining.
    """
    path = report_path(journal.path, merge_id)
    partial = path.with_suffix(".csv.partial")
    with partial.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for record in journal.recipients(merge_id):
            writer.writerow((
                record.row, record.address, record.state, record.message_id, record.reply, record.attempts,
                _time_text(record.finished_at),
            ))
    partial.replace(path)
    log.info("Wrote the report of merge %s to %s", merge_id, path)
    return path


def summary_lines(journal: jn.Journal, merge_id: str) -> list[str]:
    """Return the on-screen summary of a merge: counts, and every failed and unknown row with its reply."""
    record = journal.merge(merge_id)
    counts = journal.counts(merge_id)
    done = sum(counts[state] for state in jn.DONE_STATES)
    lines = [
        f"Merge {merge_id}: {counts[jn.SENT]} sent, {counts[jn.FAILED]} failed, {counts[jn.UNKNOWN]} unknown, "
        f"{counts[jn.SKIPPED]} skipped, {max(record.total - done, 0)} remaining of {record.total}.",
    ]
    for state, title in ((jn.FAILED, "Failed"), (jn.UNKNOWN, "Unknown outcome"), (jn.SKIPPED, "Skipped")):
        rows = journal.recipients(merge_id, [state])
        if not rows:
            continue
        lines.append(f"{title}:")
        lines.extend(f"  row {row.row} {row.address or '-'}: {row.reply}" for row in rows[:50])
        if len(rows) > 50:
            lines.append(f"  ... and {len(rows) - 50} more (see the report)")
    return lines


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
    import datetime

    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat(timespec="seconds")
