"""Describing the machine, printing result tables and recording results."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
OUT_DIR = REPOSITORY / "bench" / "out"
RESULTS_FILE = OUT_DIR / "results.jsonl"


def _command_output(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        completed = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    return (completed.stdout or completed.stderr).strip()


def _cpu_model() -> str:
    for line in _command_output(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return math.nan


def _debian_version() -> str:
    path = Path("/etc/debian_version")
    return path.read_text(encoding="ascii").strip() if path.exists() else "not Debian"


def _git_commit() -> str:
    text = _command_output(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"])
    dirty = _command_output(["git", "-C", str(REPOSITORY), "status", "--porcelain", "--", "desktop"])
    return text + ("+changes" if dirty and dirty != "not installed" else "")


def _last_word(version_output: str) -> str:
    """Return the version at the end of a ``--version`` output, or the output itself when the program is missing."""
    if not version_output or version_output == "not installed":
        return version_output or "unknown"
    return version_output.split()[-1]


def machine() -> dict[str, object]:
    """Describe the hardware, the OS and the versions of the programs measured."""
    mbsync = _command_output(["mbsync", "--version"])
    notmuch = _command_output(["notmuch", "--version"])
    offlineimap = _command_output(["offlineimap", "--version"])
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "debian": _debian_version(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "dovecot": _command_output(["dovecot", "--version"]).split(" ")[0],
        "mbsync": _last_word(mbsync),
        "notmuch": _last_word(notmuch),
        "offlineimap": _last_word(offlineimap),
        "sluice_commit": _git_commit(),
    }


def print_machine(info: dict[str, object]) -> None:
    print(
        f"Machine: {info['cpus']} x {info['cpu']}, {info['memory_gib']} GiB, Debian {info['debian']}, "
        f"Python {info['python']}, Dovecot {info['dovecot']}, mbsync {info['mbsync']}, notmuch {info['notmuch']}, "
        f"offlineimap3 {info['offlineimap']}, "
        f"Sluice {info['sluice_commit']}"
    )


def format_number(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table, so the output can be pasted into docs/benchmarks.md."""
    cells = [[format_number(value) for value in row] for row in rows]
    print()
    print(f"### {title}")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in cells:
        print("| " + " | ".join(row) + " |")


def record(benchmark: str, parameters: dict[str, object], results: dict[str, object], info: dict[str, object]) -> None:
    """Append one JSON line with the benchmark's parameters, results and machine."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    line = {
        "benchmark": benchmark,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "parameters": parameters,
        "results": _finite(results),
        "machine": info,
    }
    with open(RESULTS_FILE, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(line, sort_keys=True) + "\n")
    print(f"\nAppended the results to {RESULTS_FILE.relative_to(REPOSITORY)}")


def _finite(value: object) -> object:
    """Replace NaN (not measured) with None, which JSON can carry."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
