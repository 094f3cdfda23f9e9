"""The ``resync`` benchmark: a no-change sync of many folders, Sluice against mbsync.

The generated messages are spread round-robin over a number of folders (20 by
default) in one Dovecot, warmed first. Sluice and mbsync (fsync on) each make
one untimed initial sync into a fresh profile or Maildir. Then, K times, each
runs once more with nothing changed on the server, as its own process timed
from start to exit. Dovecot's logout line for each session gives the bytes
the client sent (``in=``), the bytes the server sent (``out=``) and the
message bodies it sent (``body_count=``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from bench.mailbox import ServerMailbox, SessionTotals, dovecot_mailbox, log_size, session_totals, warm_server
from bench.measure import BenchError, ChildRun, median, ratio
from bench.peers import Mbsync, count_maildir_messages
from bench.report import print_table
from bench.sync_bench import SETTLE_SECONDS, sluice_sync, write_profile

log = logging.getLogger(__name__)

DEFAULT_FOLDERS = 20


@dataclass
class NoChangeRun:
    """One timed no-change sync and what Dovecot logged for its session."""

    run: ChildRun
    server: SessionTotals


def mbsync_sync(mbsync: Mbsync, mailbox: ServerMailbox, log_dir: Path) -> NoChangeRun:
    """Run ``mbsync --all`` once and read Dovecot's logout line for it."""
    offset = log_size(mailbox.log_path)
    run = mbsync.sync(log_dir)
    return NoChangeRun(run, session_totals(mailbox.log_path, offset))


def run(work: Path, size: int, repeat: int, seed: int, *, folders: int = DEFAULT_FOLDERS) -> tuple[dict[str, object], dict[str, object]]:
    """Run the benchmark; return (parameters, results) for the results file."""
    logs = work / "logs"
    with dovecot_mailbox(work, size, seed, folders=folders) as mailbox:
        print(f"Generated {mailbox.count:,} messages (seed {seed}) over {folders} folders in {mailbox.generate_seconds:.1f} s")
        warmed, warm_seconds = warm_server(mailbox)
        print(f"Warmed Dovecot: read {warmed:,} messages over IMAP in {warm_seconds:.1f} s (not timed)")

        home = work / "sluice"
        write_profile(home, mailbox)
        initial = sluice_sync(home, mailbox, logs)
        _check_count("Sluice's store", initial.messages, mailbox.count)
        print(f"Sluice initial sync (not part of the figures): {initial.run.seconds:.1f} s")
        mbsync = Mbsync.write(work / "mbsync", host=mailbox.host, port=mailbox.port, user=mailbox.user, password=mailbox.password)
        mbsync_initial = mbsync.sync(logs)
        _check_count("mbsync's Maildir", count_maildir_messages(mbsync.maildir), mailbox.count)
        print(f"mbsync initial sync (not part of the figures): {mbsync_initial.seconds:.1f} s")

        sluice_runs, mbsync_runs = [], []
        for number in range(1, repeat + 1):
            time.sleep(SETTLE_SECONDS)
            result = sluice_sync(home, mailbox, logs)
            _check_count("Sluice's store after a no-change sync", result.messages, mailbox.count)
            sluice_runs.append(NoChangeRun(result.run, result.server))
            time.sleep(SETTLE_SECONDS)
            mbsync_runs.append(mbsync_sync(mbsync, mailbox, logs))
            print(f"No-change round {number}/{repeat}: Sluice {sluice_runs[-1].run.seconds:.2f} s, "
                  f"mbsync {mbsync_runs[-1].run.seconds:.2f} s")
    results = summarise(sluice_runs, mbsync_runs)
    print_results(results, size, folders, repeat)
    return {"size": size, "repeat": repeat, "seed": seed, "folders": folders}, results


def _check_count(place: str, found: int, expected: int) -> None:
    if found != expected:
        raise BenchError(f"{place} contains {found} messages, expected {expected}, so the figures would not compare like with like.")


def summarise(sluice_runs: list[NoChangeRun], mbsync_runs: list[NoChangeRun]) -> dict[str, object]:
    """Reduce the runs to medians and ratios."""
    results: dict[str, object] = {}
    for name, runs in (("sluice", sluice_runs), ("mbsync", mbsync_runs)):
        results[f"{name}_resync_s"] = median([item.run.seconds for item in runs])
        results[f"{name}_resync_s_all"] = [item.run.seconds for item in runs]
        results[f"{name}_resync_client_bytes"] = median([item.server.bytes_in for item in runs])
        results[f"{name}_resync_server_bytes"] = median([item.server.bytes_out for item in runs])
        results[f"{name}_resync_bodies"] = max(item.server.body_count for item in runs)
        results[f"{name}_resync_sessions"] = max(item.server.sessions for item in runs)
        results[f"{name}_resync_peak_rss_mb"] = max(item.run.max_rss_mb for item in runs)
    results["ratio_resync_s"] = ratio(results["sluice_resync_s"], results["mbsync_resync_s"])
    results["ratio_resync_client_bytes"] = ratio(results["sluice_resync_client_bytes"], results["mbsync_resync_client_bytes"])
    results["ratio_resync_server_bytes"] = ratio(results["sluice_resync_server_bytes"], results["mbsync_resync_server_bytes"])
    return results


def print_results(results: dict[str, object], size: int, folders: int, repeat: int) -> None:
    r = results
    print_table(
        f"resync: no-change sync of {size:,} messages in {folders} folders, median of {repeat} run(s)",
        ["Client", "Seconds", "Runs (s)", "Bytes sent by the client", "Bytes sent by the server", "Bodies sent", "Peak RSS (MiB)"],
        [
            [name, r[f"{key}_resync_s"], ", ".join(f"{value:.3f}" for value in r[f"{key}_resync_s_all"]),
             r[f"{key}_resync_client_bytes"], r[f"{key}_resync_server_bytes"], r[f"{key}_resync_bodies"], r[f"{key}_resync_peak_rss_mb"]]
            for name, key in (("Sluice", "sluice"), ("mbsync (fsync on)", "mbsync"))
        ],
    )
    print_table(
        "resync: ratios Sluice / mbsync (below 1 means Sluice is faster or sends less)",
        ["Ratio", "Value", "Target"],
        [
            ["Time", r["ratio_resync_s"], "at most 2"],
            ["Bytes sent by the client", r["ratio_resync_client_bytes"], "-"],
            ["Bytes sent by the server", r["ratio_resync_server_bytes"], "-"],
        ],
    )
