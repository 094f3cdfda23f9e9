"""The ``window`` benchmark: from process start to the main window showing a large INBOX.

Each repeat starts ``bench/window_probe.py`` with QT_QPA_PLATFORM=offscreen
and times it from just before the start to the moment it reports that the
window is exposed, the INBOX is selected and the window has painted once.
The profile is built without a server (import plus index), like the
``search`` benchmark, unless ``--profile`` names one.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.measure import BenchError, gnu_time, median, read_usage
from bench.report import REPOSITORY, print_table
from bench.search_bench import build_sluice

log = logging.getLogger(__name__)

PROBE = Path(__file__).resolve().parent / "window_probe.py"
PROBE_TIMEOUT_SECONDS = 300.0


def open_window(home: Path, log_dir: Path) -> dict[str, object]:
    """Run the probe once; return its report plus the whole-process seconds and peak RSS."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    log_dir.mkdir(parents=True, exist_ok=True)
    usage_path = log_dir / f"window-probe-{time.monotonic_ns()}.usage"
    command = [gnu_time(), "--format", "%M %U %S", "--output", str(usage_path), sys.executable, str(PROBE), str(home)]
    with open(log_dir / "window-probe.err", "ab") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=errors)
        try:
            line = _read_report_line(process)
            ready = time.perf_counter() - started
            returncode = process.wait(timeout=PROBE_TIMEOUT_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    report = json.loads(line)
    if "error" in report or returncode != 0:
        raise BenchError(f"The window probe failed (exit code {returncode}): {report.get('error', line)}; "
                         f"see {log_dir / 'window-probe.err'}.")
    max_rss_kib, _cpu_seconds = read_usage(usage_path)
    report["process_to_shown_s"] = ready
    report["peak_rss_mb"] = max_rss_kib / 1024
    return report


def _read_report_line(process: subprocess.Popen) -> str:
    """Return the probe's JSON line; the probe prints nothing else on standard output."""
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip():
            return line.decode("utf-8")
        if process.poll() is not None:
            raise BenchError(f"The window probe exited with code {process.returncode} before reporting.")
    raise BenchError(f"The window probe did not report within {PROBE_TIMEOUT_SECONDS:.0f} s.")


def run(work: Path, size: int, repeat: int, seed: int, *, profile: Path | None = None) -> tuple[dict[str, object], dict[str, object]]:
    """Run the benchmark; return (parameters, results) for the results file."""
    build: dict[str, float] = {}
    if profile is None:
        home, build = build_sluice(work, size, seed)
        print(f"Built a Sluice profile with {build['messages']:,} messages in {build['build_s']:.1f} s (not part of the figure)")
    else:
        home = profile
        print(f"Using the existing profile {home}")
    check_size(home, size)

    # One untimed start first: it warms the page cache with Qt's libraries and the store.
    open_window(home, work / "logs")
    reports = [open_window(home, work / "logs") for _ in range(repeat)]
    results = summarise(reports)
    results["build"] = build
    print_results(results, size, repeat)
    return {"size": size, "repeat": repeat, "seed": seed, "reused_profile": profile is not None}, results


def check_size(home: Path, size: int) -> None:
    """Raise BenchError unless the profile's store holds ``size`` messages, so the recorded size is true."""
    from desktop.paths import profile_at
    from desktop.store import Store

    with Store(profile_at(home).store_file) as store:
        messages = store.message_count()
    if messages != size:
        raise BenchError(f"The profile {home} holds {messages:,} messages, not {size:,}; pass --size {messages}.")


def summarise(reports: list[dict[str, object]]) -> dict[str, object]:
    def mark(name: str) -> float:
        return median([report["marks"][name] for report in reports])

    first = reports[0]
    return {
        "process_to_shown_s": median([report["process_to_shown_s"] for report in reports]),
        "process_to_shown_s_all": [report["process_to_shown_s"] for report in reports],
        "imports_s": mark("imports"),
        "application_s": mark("application"),
        "window_built_s": mark("window_built"),
        "shown_s": mark("shown"),
        "peak_rss_mb": max(report["peak_rss_mb"] for report in reports),
        "folder": first["folder"],
        "rows": first["rows"],
        "page_loads": first["page_loads"],
    }


def print_results(results: dict[str, object], size: int, repeat: int) -> None:
    r = results
    print_table(
        f"window: {size:,} messages, INBOX with {r['rows']:,} rows, median of {repeat} starts",
        ["Step (time since the interpreter started, except the first row)", "Seconds"],
        [
            ["Process start to window shown with the INBOX list painted", r["process_to_shown_s"]],
            ["  imports done (PySide6 and Sluice)", r["imports_s"]],
            ["  QApplication created", r["application_s"]],
            ["  MainWindow built (folders read, INBOX selected)", r["window_built_s"]],
            ["  window exposed and painted", r["shown_s"]],
        ],
    )
    print(f"\nSelected folder: {r['folder']}; rows: {r['rows']:,}; pages of rows read: {r['page_loads']}; "
          f"peak RSS {r['peak_rss_mb']:.0f} MiB")
