"""The ``sync`` benchmark: Sluice's initial and no-change sync against mbsync, offlineimap3 and notmuch.

Per repeat, on one Dovecot whose index and page cache were warmed first:

1. ``sluice sync`` into a fresh profile (fetch, store, then index), run
   through ``bench/sync_probe.py`` so the time the message list became usable
   is known, then ``sluice sync`` again with nothing changed on the server.
2. ``mbsync --all`` into a fresh Maildir, with fsync on (its default) and
   with ``FSync no``, each followed by a no-change run.
3. ``notmuch new`` on the Maildir that mbsync (fsync on) filled.
4. ``offlineimap -o`` into a fresh Maildir (fsync on, its default), stopped
   after the peer timeout if it has not finished by then.

Every step is a separate process timed from start to exit, with its peak
RSS from GNU time and the peak summed RSS of its whole process tree.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.mailbox import ServerMailbox, SessionTotals, dovecot_mailbox, log_size, session_totals, warm_server
from bench.measure import BenchError, ChildRun, median, ratio, run_child
from bench.peers import Mbsync, Notmuch, Offlineimap, count_maildir_messages
from bench.report import print_table

log = logging.getLogger(__name__)

ACCOUNT = "bench"
# mbsync waits for the clock to reach the next second when a Maildir folder
# changed within the current one (seen with isync 1.4.4: about 1 s right after
# the initial sync, 0.03 s two seconds later). Every no-change sync, Sluice's
# too, starts after this pause so none of them measures that wait.
SETTLE_SECONDS = 2.0
PROBE = Path(__file__).resolve().parent / "sync_probe.py"
# offlineimap3 is many times slower than the other clients measured here, so at
# 50,000 messages it can run for many minutes. The benchmark stops it after this long.
DEFAULT_PEER_TIMEOUT = 1200.0
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


@dataclass
class SluiceSync:
    """One measured run of ``sluice sync``.

    Attributes:
        run: The process measurement.
        index_seconds: Time between the log lines that open and close the
            index update, or NaN when the log has none.
        fetched_lines: How many "Fetched N message(s)" lines the run logged.
        messages: Messages in the store after the run.
        server: What Dovecot logged for the run's IMAP session.
        list_ready_seconds: Seconds from the start of the process until every
            message's headers were in the store (see ``bench/sync_probe.py``),
            or NaN when the run never reached that point.
    """

    run: ChildRun
    index_seconds: float
    fetched_lines: int
    messages: int
    server: SessionTotals
    list_ready_seconds: float = float("nan")


@dataclass
class OfflineimapRun:
    """One offlineimap3 full sync: the process, and how many messages its Maildir held at the end."""

    run: ChildRun
    messages: int


@dataclass
class Repeat:
    """The measurements of one repeat."""

    sluice: SluiceSync
    sluice_resync: SluiceSync
    mbsync: ChildRun
    mbsync_resync: ChildRun
    mbsync_nofsync: ChildRun
    mbsync_nofsync_resync: ChildRun
    notmuch_new: ChildRun
    mbsync_resync_server: SessionTotals
    mbsync_messages: int
    notmuch_messages: int
    offlineimap: OfflineimapRun


def write_profile(home: Path, mailbox: ServerMailbox) -> None:
    """Create a Sluice profile under ``home`` with one IMAP account on the benchmark server."""
    from desktop.config import Account, load_config, save_config
    from desktop.paths import profile_at

    profile = profile_at(home).ensure()
    config = load_config(profile.config_file)
    config.accounts[ACCOUNT] = Account(
        name=ACCOUNT,
        kind="imap",
        imap_host=mailbox.host,
        imap_port=mailbox.port,
        security="none",
        user=mailbox.user,
        password_command=f"printf %s {shlex.quote(mailbox.password)}",
    )
    save_config(config, profile.config_file)


def sluice_sync(home: Path, mailbox: ServerMailbox, log_dir: Path) -> SluiceSync:
    """Run ``sluice --home HOME sync --quiet`` through the probe and read its log for the index part."""
    from desktop.paths import profile_at
    from desktop.store import Store

    profile = profile_at(home)
    log_file = profile.log_file
    offset = log_size(log_file)
    server_offset = log_size(mailbox.log_path)
    times_file = log_dir / f"sluice-times-{time.monotonic_ns()}.json"
    started = time.time()
    run = run_child([sys.executable, str(PROBE), str(times_file), "--", "--home", str(home), "sync", "--quiet"], log_dir=log_dir)
    list_ready = json.loads(times_file.read_text("utf-8")).get("list_ready")
    server = session_totals(mailbox.log_path, server_offset)
    lines = log_file.read_text("utf-8", "replace")[offset:].splitlines() if log_file.exists() else []
    with Store(profile.store_file) as store:
        messages = store.message_count()
    return SluiceSync(
        run=run,
        index_seconds=_index_seconds(lines),
        fetched_lines=sum(1 for line in lines if " Fetched " in line),
        messages=messages,
        server=server,
        list_ready_seconds=list_ready - started if list_ready is not None else float("nan"),
    )


def _index_seconds(lines: list[str]) -> float:
    """Return the seconds between "Updating the index" and "Index updated" in the log, or 0 without an update."""
    start = end = None
    for line in lines:
        if "Updating the index with" in line:
            start = _log_time(line)
        elif "Index updated:" in line:
            end = _log_time(line)
    if start is None and end is None:
        return 0.0
    if start is None or end is None:
        return float("nan")
    return (end - start).total_seconds()


def _log_time(line: str) -> datetime | None:
    match = _LOG_TIME.match(line)
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f") if match else None


def run_repeat(work: Path, mailbox: ServerMailbox, number: int, peer_timeout: float) -> Repeat:
    """Measure Sluice, mbsync, notmuch and offlineimap3 once each, in fresh folders named after ``number``."""
    logs = work / "logs"
    home = work / f"sluice-{number}"
    write_profile(home, mailbox)
    first = sluice_sync(home, mailbox, logs)
    time.sleep(SETTLE_SECONDS)
    second = sluice_sync(home, mailbox, logs)
    _check_count("Sluice's store", first.messages, mailbox.count)

    mbsync = Mbsync.write(work / f"mbsync-{number}", host=mailbox.host, port=mailbox.port, user=mailbox.user, password=mailbox.password)
    mbsync_run = mbsync.sync(logs)
    time.sleep(SETTLE_SECONDS)
    server_offset = log_size(mailbox.log_path)
    mbsync_resync = mbsync.sync(logs)
    mbsync_resync_server = session_totals(mailbox.log_path, server_offset)
    mbsync_messages = count_maildir_messages(mbsync.maildir)
    _check_count("mbsync's Maildir", mbsync_messages, mailbox.count)

    quick = Mbsync.write(work / f"mbsync-nofsync-{number}", host=mailbox.host, port=mailbox.port, user=mailbox.user,
                         password=mailbox.password, fsync=False)
    quick_run = quick.sync(logs)
    time.sleep(SETTLE_SECONDS)
    quick_resync = quick.sync(logs)

    notmuch = Notmuch.write(work / f"notmuch-{number}", mbsync.maildir)
    notmuch_run = notmuch.new(logs)
    notmuch_messages = notmuch.count(logs)
    _check_count("notmuch's database", notmuch_messages, mailbox.count)

    offlineimap = Offlineimap.write(work / f"offlineimap-{number}", host=mailbox.host, port=mailbox.port, user=mailbox.user,
                                    password=mailbox.password)
    offlineimap_run = OfflineimapRun(offlineimap.sync(logs, timeout=peer_timeout), 0)
    offlineimap_run.messages = count_maildir_messages(offlineimap.maildir)
    if not offlineimap_run.run.timed_out:
        _check_count("offlineimap3's Maildir", offlineimap_run.messages, mailbox.count)
    return Repeat(first, second, mbsync_run, mbsync_resync, quick_run, quick_resync, notmuch_run, mbsync_resync_server,
                  mbsync_messages, notmuch_messages, offlineimap_run)


def _check_count(place: str, found: int, expected: int) -> None:
    if found != expected:
        raise BenchError(f"{place} contains {found} messages after the sync, expected {expected}, so the figures would not compare like with like.")


def run(work: Path, size: int, repeat: int, seed: int, *,
        peer_timeout: float = DEFAULT_PEER_TIMEOUT) -> tuple[dict[str, object], dict[str, object]]:
    """Run the benchmark; return (parameters, results) for the results file."""
    with dovecot_mailbox(work, size, seed) as mailbox:
        print(f"Generated {mailbox.count:,} messages (seed {seed}) into Dovecot's Maildir in {mailbox.generate_seconds:.1f} s")
        warmed, warm_seconds = warm_server(mailbox)
        print(f"Warmed Dovecot: read {warmed:,} messages over IMAP in {warm_seconds:.1f} s (not timed)")
        repeats = []
        for number in range(1, repeat + 1):
            started = time.perf_counter()
            repeats.append(run_repeat(work, mailbox, number, peer_timeout))
            print(f"Repeat {number}/{repeat} done in {time.perf_counter() - started:.0f} s")
    results = summarise(repeats, size)
    print_results(results, size, repeat)
    parameters = {"size": size, "repeat": repeat, "seed": seed, "peer_timeout_s": peer_timeout}
    return parameters, results


def summarise(repeats: list[Repeat], size: int) -> dict[str, object]:
    """Reduce the repeats to medians and ratios."""
    def med(pick) -> float:
        return median([pick(item) for item in repeats])

    sluice_total = med(lambda item: item.sluice.run.seconds)
    sluice_index = med(lambda item: item.sluice.index_seconds)
    mbsync_total = med(lambda item: item.mbsync.seconds)
    mbsync_nofsync = med(lambda item: item.mbsync_nofsync.seconds)
    notmuch_total = med(lambda item: item.notmuch_new.seconds)
    sluice_resync = med(lambda item: item.sluice_resync.run.seconds)
    mbsync_resync = med(lambda item: item.mbsync_resync.seconds)
    sluice_list_ready = med(lambda item: item.sluice.list_ready_seconds)
    offlineimap_finished = [item.offlineimap.run.seconds for item in repeats if not item.offlineimap.run.timed_out]
    offlineimap_total = median(offlineimap_finished) if len(offlineimap_finished) == len(repeats) else float("nan")
    return {
        "sluice_list_ready_s": sluice_list_ready,
        "sluice_list_ready_s_all": [item.sluice.list_ready_seconds for item in repeats],
        "sluice_tree_peak_rss_mb": max(item.sluice.run.tree_peak_rss_mb for item in repeats),
        "sluice_sync_index_s": sluice_total,
        "sluice_sync_index_s_all": [item.sluice.run.seconds for item in repeats],
        "sluice_index_part_s": sluice_index,
        "sluice_sync_part_s": med(lambda item: item.sluice.run.seconds - item.sluice.index_seconds),
        "sluice_msgs_per_s": size / sluice_total,
        "sluice_cpu_s": med(lambda item: item.sluice.run.cpu_seconds),
        "sluice_peak_rss_mb": max(item.sluice.run.max_rss_mb for item in repeats),
        "sluice_resync_s": sluice_resync,
        "sluice_resync_peak_rss_mb": max(item.sluice_resync.run.max_rss_mb for item in repeats),
        "sluice_resync_fetched_lines": max(item.sluice_resync.fetched_lines for item in repeats),
        "sluice_resync_messages_changed": max(abs(item.sluice_resync.messages - item.sluice.messages) for item in repeats),
        "sluice_first_bodies_fetched": max(item.sluice.server.body_count for item in repeats),
        "sluice_resync_bodies_fetched": max(item.sluice_resync.server.body_count for item in repeats),
        "sluice_resync_bytes_out": max(item.sluice_resync.server.bytes_out for item in repeats),
        "mbsync_resync_bodies_fetched": max(item.mbsync_resync_server.body_count for item in repeats),
        "mbsync_resync_bytes_out": max(item.mbsync_resync_server.bytes_out for item in repeats),
        "mbsync_s": mbsync_total,
        "mbsync_s_all": [item.mbsync.seconds for item in repeats],
        "mbsync_peak_rss_mb": max(item.mbsync.max_rss_mb for item in repeats),
        "mbsync_tree_peak_rss_mb": max(item.mbsync.tree_peak_rss_mb for item in repeats),
        "mbsync_resync_s": mbsync_resync,
        "mbsync_nofsync_s": mbsync_nofsync,
        "mbsync_nofsync_resync_s": med(lambda item: item.mbsync_nofsync_resync.seconds),
        "notmuch_new_s": notmuch_total,
        "notmuch_new_peak_rss_mb": max(item.notmuch_new.max_rss_mb for item in repeats),
        "notmuch_new_tree_peak_rss_mb": max(item.notmuch_new.tree_peak_rss_mb for item in repeats),
        "offlineimap_s": offlineimap_total,
        "offlineimap_s_all": [item.offlineimap.run.seconds for item in repeats],
        "offlineimap_timed_out": [item.offlineimap.run.timed_out for item in repeats],
        "offlineimap_messages_at_end": [item.offlineimap.messages for item in repeats],
        "offlineimap_tree_peak_rss_mb": max(item.offlineimap.run.tree_peak_rss_mb for item in repeats),
        "ratio_list_ready_to_mbsync": ratio(sluice_list_ready, mbsync_total),
        "ratio_sluice_to_offlineimap": ratio(sluice_total, offlineimap_total),
        "ratio_sluice_to_mbsync": ratio(sluice_total, mbsync_total),
        "ratio_sluice_to_mbsync_nofsync": ratio(sluice_total, mbsync_nofsync),
        "ratio_sluice_sync_part_to_mbsync": ratio(sluice_total - sluice_index, mbsync_total),
        "ratio_sluice_to_mbsync_plus_notmuch": ratio(sluice_total, mbsync_total + notmuch_total),
        "ratio_resync_sluice_to_mbsync": ratio(sluice_resync, mbsync_resync),
    }


def print_results(results: dict[str, object], size: int, repeat: int) -> None:
    r = results
    print_table(
        f"sync: {size:,} messages, median of {repeat} run(s)",
        ["Work", "Seconds", "Messages/s", "Peak RSS (MiB)", "Peak RSS of the process tree (MiB)"],
        [
            ["Sluice: message list usable (headers in the store)", r["sluice_list_ready_s"], size / r["sluice_list_ready_s"], "-", "-"],
            ["Sluice initial sync + index (offline and searchable)", r["sluice_sync_index_s"], r["sluice_msgs_per_s"],
             r["sluice_peak_rss_mb"], r["sluice_tree_peak_rss_mb"]],
            ["  of which sync (fetch + store)", r["sluice_sync_part_s"], size / r["sluice_sync_part_s"], "-", "-"],
            ["  of which index", r["sluice_index_part_s"], size / r["sluice_index_part_s"] if r["sluice_index_part_s"] else float("nan"), "-", "-"],
            ["Sluice no-change sync", r["sluice_resync_s"], "-", r["sluice_resync_peak_rss_mb"], "-"],
            ["mbsync full sync (fsync on)", r["mbsync_s"], size / r["mbsync_s"], r["mbsync_peak_rss_mb"], r["mbsync_tree_peak_rss_mb"]],
            ["mbsync full sync (FSync no)", r["mbsync_nofsync_s"], size / r["mbsync_nofsync_s"], "-", "-"],
            ["mbsync no-change sync", r["mbsync_resync_s"], "-", "-", "-"],
            ["notmuch new on mbsync's Maildir", r["notmuch_new_s"], size / r["notmuch_new_s"], r["notmuch_new_peak_rss_mb"],
             r["notmuch_new_tree_peak_rss_mb"]],
            ["mbsync + notmuch new", r["mbsync_s"] + r["notmuch_new_s"], size / (r["mbsync_s"] + r["notmuch_new_s"]), "-", "-"],
            ["offlineimap3 full sync (fsync on)", r["offlineimap_s"], size / r["offlineimap_s"], "-", r["offlineimap_tree_peak_rss_mb"]],
        ],
    )
    print_table(
        "sync: ratios (below 1 means Sluice is faster)",
        ["Ratio", "Value", "Target"],
        [
            ["Sluice list usable / mbsync (fsync on)", r["ratio_list_ready_to_mbsync"], "at most 2"],
            ["Sluice sync + index / mbsync (fsync on)", r["ratio_sluice_to_mbsync"], "-"],
            ["Sluice sync + index / mbsync (FSync no)", r["ratio_sluice_to_mbsync_nofsync"], "-"],
            ["Sluice sync part / mbsync (fsync on)", r["ratio_sluice_sync_part_to_mbsync"], "-"],
            ["Sluice sync + index / (mbsync + notmuch new)", r["ratio_sluice_to_mbsync_plus_notmuch"], "at most 1"],
            ["Sluice sync + index / offlineimap3", r["ratio_sluice_to_offlineimap"], "-"],
            ["Sluice no-change sync / mbsync no-change sync", r["ratio_resync_sluice_to_mbsync"], "at most 2"],
        ],
    )
    for seconds, timed_out, messages in zip(r["offlineimap_s_all"], r["offlineimap_timed_out"], r["offlineimap_messages_at_end"]):
        if timed_out:
            print(f"\nofflineimap3 did not finish: stopped after {seconds:.0f} s with {messages:,} of {size:,} messages "
                  f"in its Maildir ({messages / seconds:.0f} messages/s).")
    print(
        f"\nNo-change sync check (most of any repeat): Dovecot sent {r['sluice_resync_bodies_fetched']} message bodies "
        f"and {r['sluice_resync_bytes_out']:,} bytes to Sluice (initial sync: {r['sluice_first_bodies_fetched']} bodies); "
        f"Sluice logged {r['sluice_resync_fetched_lines']} fetch line(s) and its store changed by "
        f"{r['sluice_resync_messages_changed']} message(s). mbsync's no-change sync: "
        f"{r['mbsync_resync_bodies_fetched']} bodies, {r['mbsync_resync_bytes_out']:,} bytes."
    )
