"""The ``search`` benchmark: query latency of Sluice's index next to notmuch on the same mailbox.

Sluice is measured in-process through ``SearchIndex.search(query, limit=50)``
after one warm-up call per query, which is what the window does for each
search. notmuch is measured as the command a user runs,
``notmuch search --output=messages --limit=50 QUERY``. Its figures therefore
include starting the process and opening the database, and the query that
matches nothing shows that fixed cost. ``sluice search`` is also timed as a
whole process, for a like-for-like comparison.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.measure import BenchError, median, percentile, ratio, run_child
from bench.peers import Notmuch, require
from bench.report import print_table

log = logging.getLogger(__name__)

# How many times each query runs as a whole `sluice search` process. Each run
# takes about half a second, so the default K of 20 would add minutes.
CLI_REPEATS = 5


@dataclass(frozen=True)
class SearchCase:
    """One query in Sluice's language and the closest notmuch query."""

    label: str
    sluice: str
    notmuch: str


# The words come from the generator's vocabulary (desktop/mailgen.py), so
# they match in every mailbox it makes. "farewell" occurs in about 0.2% of
# the messages. notmuch reads a date range in the time zone given by TZ,
# so the benchmark sets TZ=UTC, the time zone Sluice's dates use.
CASES = (
    SearchCase("plain word", "budget", "budget"),
    SearchCase("rare word", "farewell", "farewell"),
    SearchCase("phrase", '"security review"', '"security review"'),
    SearchCase("from: address", "from:notifications@forge.example.com", "from:notifications@forge.example.com"),
    SearchCase("subject: word", "subject:invoice", "subject:invoice"),
    SearchCase("is:unread", "is:unread", "tag:unread"),
    SearchCase("has:attachment", "has:attachment", "tag:attachment"),
    SearchCase("date range (one month)", "after:2025-03-01 before:2025-04-01", "date:2025-03-01..2025-03-31"),
    SearchCase("OR", "kestrel OR tidewater", "kestrel OR tidewater"),
    SearchCase("negation", "budget -meeting", "budget AND NOT meeting"),
    SearchCase("word + unread + date", "budget is:unread after:2026-01-01", "budget AND tag:unread AND date:2026-01-01.."),
)
NO_MATCH = SearchCase("matches nothing", "zzzqqqxxy", "zzzqqqxxy")


def build_sluice(work: Path, size: int, seed: int) -> tuple[Path, dict[str, float]]:
    """Build a profile in a child process; return its home and the build figures."""
    home = work / "sluice"
    child = run_child([sys.executable, "-m", "bench.build_profile", str(home), str(size), str(seed)],
                      cwd=Path(__file__).resolve().parent.parent, log_dir=work / "logs", timeout=7200)
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    figures["build_s"] = child.seconds
    figures["build_peak_rss_mb"] = child.max_rss_mb
    if figures["messages"] != size:
        raise BenchError(f"The profile build stored {figures['messages']} messages, expected {size}.")
    from desktop.paths import profile_at

    figures["index_mb"] = folder_mb(profile_at(home).index_dir)
    return home, figures


def folder_mb(folder: Path) -> float:
    """Return the size of the files under ``folder`` in MB (10**6 bytes)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def build_notmuch(work: Path, size: int, seed: int) -> tuple[Notmuch, dict[str, float]]:
    """Write the same messages as a Maildir and index it with ``notmuch new``."""
    from desktop import mailgen

    maildir = work / "maildir"
    started = time.perf_counter()
    written = mailgen.write_maildir(mailgen.generate(size, seed=seed), maildir)
    write_seconds = time.perf_counter() - started
    notmuch = Notmuch.write(work / "notmuch", maildir)
    notmuch.extra_env["TZ"] = "UTC"
    child = notmuch.new(work / "logs")
    counted = notmuch.count(work / "logs")
    if counted != written:
        raise BenchError(f"notmuch indexed {counted} messages of the {written} written.")
    return notmuch, {"maildir_write_s": write_seconds, "notmuch_new_s": child.seconds,
                     "notmuch_new_peak_rss_mb": child.max_rss_mb}


def time_calls(call: Callable[[], object], repeat: int) -> list[float]:
    """Call once to warm up, then ``repeat`` times; return the timed seconds."""
    call()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


def check_index(index, size: int) -> None:
    """Raise BenchError unless ``index`` holds ``size`` documents.

    SearchIndex silently recreates an empty index when the one on disk has an
    older format, for example when Sluice's index code changed after the
    profile was built; measuring that would give meaningless figures.
    """
    documents = index.doc_count()
    if documents != size:
        raise BenchError(
            f"The search index in {index.path} holds {documents} documents, expected {size}. If Sluice's index format "
            f"changed since the profile was built, run 'sluice --home {index.path.parent} index rebuild' or build a new profile."
        )


def measure_sluice(home: Path, size: int, repeat: int) -> dict[str, dict[str, float]]:
    """Time every query in-process and as ``sluice search``; return figures by label."""
    from desktop.index import SearchIndex
    from desktop.paths import profile_at

    profile = profile_at(home)
    figures: dict[str, dict[str, float]] = {}
    index = SearchIndex(profile.index_dir)
    try:
        check_index(index, size)
        for case in (*CASES, NO_MATCH):
            timings = time_calls(lambda query=case.sluice: index.search(query, limit=50), repeat)
            figures[case.label] = {
                "median_ms": median(timings) * 1000,
                "p95_ms": percentile(timings, 0.95) * 1000,
                "matches": index.count(case.sluice),
            }
    finally:
        index.close()
    for case in (*CASES, NO_MATCH):
        argv = [sys.executable, "-m", "desktop", "--home", str(home), "search", "--limit", "50", case.sluice]
        timings = time_calls(lambda argv=argv: _run_quietly(argv, os.environ), CLI_REPEATS)
        figures[case.label]["cli_median_ms"] = median(timings) * 1000
    return figures


# Documents added in each run of measure_index_cpu, and the number of runs.
INDEX_SAMPLE = 3000
INDEX_RUNS = 3


def measure_index_cpu(home: Path, work: Path) -> dict[str, float]:
    """Time adding the profile's first INDEX_SAMPLE messages to a new index in this process.

    The documents are parsed before the clock starts, so the figure covers text
    analysis and Whoosh's writing, the part that a change of the analyzer
    affects. It is the process CPU time of one writer without worker processes.
    That varies less than the wall-clock time of the parallel build when other
    programs share the cores.
    """
    from desktop.index import SearchIndex
    from desktop.index.builder import document_for
    from desktop.paths import profile_at
    from desktop.store import Store

    with Store(profile_at(home).store_file) as store:
        rows = store.messages(store.all_message_ids()[:INDEX_SAMPLE])
        documents = [document_for(row, store.raw(row.id)) for row in rows]
    cpu_seconds = []
    for run_number in range(INDEX_RUNS):
        # A fresh folder each run, so no run reads or replaces the files of another.
        folder = work / f"index-cpu-{run_number}"
        with SearchIndex(folder) as index:
            started = time.process_time()
            index.add(documents)
            cpu_seconds.append(time.process_time() - started)
        shutil.rmtree(folder)
    cpu = median(cpu_seconds)
    return {"documents": len(documents), "median_cpu_s": cpu, "docs_per_cpu_s": len(documents) / cpu}


def measure_notmuch(notmuch: Notmuch, repeat: int) -> dict[str, dict[str, float]]:
    """Time every query as a ``notmuch search`` process; return figures by label."""
    program = require("notmuch", "notmuch")
    env = notmuch.env
    figures: dict[str, dict[str, float]] = {}
    for case in (*CASES, NO_MATCH):
        argv = [program, "search", "--output=messages", "--limit=50", case.notmuch]
        timings = time_calls(lambda argv=argv: _run_quietly(argv, env), repeat)
        counted = _run_quietly([program, "count", "--output=messages", case.notmuch], env)
        figures[case.label] = {
            "median_ms": median(timings) * 1000,
            "p95_ms": percentile(timings, 0.95) * 1000,
            "matches": int(counted.strip() or 0),
        }
    return figures


def _run_quietly(argv: list[str], env: dict[str, str] | os._Environ) -> str:
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed with exit code {completed.returncode}: {completed.stderr.strip()}")
    return completed.stdout


def run(work: Path, size: int, repeat: int, seed: int, *, profile: Path | None = None,
        peers: bool = True) -> tuple[dict[str, object], dict[str, object]]:
    """Run the benchmark; return (parameters, results) for the results file."""
    build: dict[str, float] = {}
    if profile is None:
        home, build = build_sluice(work, size, seed)
        print(f"Built a Sluice profile with {build['messages']:,} messages in {build['build_s']:.1f} s: "
              f"generate {build['generate_s']:.1f} s, import {build['import_s']:.1f} s, index {build['index_s']:.1f} s "
              f"({build['documents'] / build['index_s']:.0f} docs/s), index size {build['index_mb']:.1f} MB, "
              f"peak RSS {build['build_peak_rss_mb']:.0f} MiB")
    else:
        home = profile
        print(f"Using the existing profile {home}; its build is not timed")
    sluice = measure_sluice(home, size, repeat)
    index_cpu = measure_index_cpu(home, work)
    print(f"Adding {index_cpu['documents']:,} parsed documents to a new index in-process took "
          f"{index_cpu['median_cpu_s']:.2f} s CPU (median of {INDEX_RUNS}), {index_cpu['docs_per_cpu_s']:.0f} docs per CPU second")

    notmuch_figures: dict[str, dict[str, float]] = {}
    if peers:
        notmuch, notmuch_build = build_notmuch(work, size, seed)
        build.update(notmuch_build)
        print(f"Wrote the same messages as a Maildir in {notmuch_build['maildir_write_s']:.1f} s; "
              f"notmuch new took {notmuch_build['notmuch_new_s']:.1f} s, peak RSS {notmuch_build['notmuch_new_peak_rss_mb']:.0f} MiB")
        notmuch_figures = measure_notmuch(notmuch, repeat)

    print_results(size, repeat, sluice, notmuch_figures)
    results = {"build": build, "index_cpu": index_cpu, "sluice": sluice, "notmuch": notmuch_figures}
    return {"size": size, "repeat": repeat, "seed": seed, "cli_repeat": CLI_REPEATS, "reused_profile": profile is not None}, results


def print_results(size: int, repeat: int, sluice: dict[str, dict[str, float]], notmuch: dict[str, dict[str, float]]) -> None:
    nan = float("nan")
    rows = []
    for case in (*CASES, NO_MATCH):
        ours = sluice[case.label]
        theirs = notmuch.get(case.label, {})
        rows.append([
            case.label, f"`{case.sluice}`", ours["matches"], ours["median_ms"], ours["p95_ms"], ours["cli_median_ms"],
            f"`{case.notmuch}`", theirs.get("matches", "-"), theirs.get("median_ms", nan), theirs.get("p95_ms", nan),
            ratio(ours["cli_median_ms"], theirs.get("median_ms", nan)),
        ])
    print_table(
        f"search: {size:,} messages, limit 50, {repeat} timed runs per query (sluice search: {CLI_REPEATS})",
        ["Query", "Sluice query", "Matches", "In-process median ms", "p95 ms", "sluice search ms",
         "notmuch query", "Matches", "notmuch search median ms", "p95 ms", "Process ratio Sluice/notmuch"],
        rows,
    )
