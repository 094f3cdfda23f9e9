"""Timing child processes and summarising repeated measurements."""

from __future__ import annotations

import logging
import math
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class BenchError(RuntimeError):
    """A benchmark step failed; the message names the step and what to check."""


@dataclass
class ChildRun:
    """One finished child process.

    Attributes:
        seconds: Wall-clock time from just before the start to the end of the process.
        cpu_seconds: User plus system CPU time of the process and its children.
        max_rss_mb: Peak resident set size of the process, in MiB, as GNU time reports it.
        returncode: Exit code, negative for a signal.
        stdout, stderr: What the process wrote, decoded as UTF-8.
    """

    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_child(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 1800.0, log_dir: Path) -> ChildRun:
    """Run ``argv`` to the end and measure it; raise BenchError when it fails or times out.

    The peak RSS comes from GNU time wrapped around the command. Reading
    ``wait4``'s ``ru_maxrss`` directly would be wrong for small programs:
    Linux carries the parent's peak RSS over into a child across fork and
    exec, so every child of this Python process would report at least the
    harness's own size.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    name = Path(argv[0]).name
    stem = log_dir / f"{name}-{time.monotonic_ns()}"
    out_path, err_path, usage_path = stem.with_suffix(".out"), stem.with_suffix(".err"), stem.with_suffix(".usage")
    command = [gnu_time(), "--format", "%M %U %S", "--output", str(usage_path), *argv]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=dict(env) if env is not None else None, cwd=cwd, stdout=out, stderr=err)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise BenchError(f"{' '.join(argv)} timed out after {timeout:.0f} s; its output is in {out_path} and {err_path}.") from None
        seconds = time.perf_counter() - started
    stdout = out_path.read_text("utf-8", "replace")
    stderr = err_path.read_text("utf-8", "replace")
    if returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed with exit code {returncode}:\n{_tail(stderr or stdout)}")
    max_rss_kib, cpu_seconds = read_usage(usage_path)
    return ChildRun(seconds=seconds, cpu_seconds=cpu_seconds, max_rss_mb=max_rss_kib / 1024,
                    returncode=returncode, stdout=stdout, stderr=stderr)


def gnu_time() -> str:
    """Return the path of GNU time, or raise BenchError naming the Debian package."""
    path = shutil.which("time", path="/usr/bin:/bin:/usr/local/bin")
    if path is None:
        raise BenchError("GNU time (/usr/bin/time) is not installed; install the Debian package time (apt-get install time).")
    return path


def read_usage(path: Path) -> tuple[float, float]:
    """Return (peak RSS in KiB, user + system CPU seconds) from GNU time's "%M %U %S" output."""
    lines = [line for line in path.read_text("utf-8", "replace").splitlines() if line.strip()]
    try:
        rss, user, system = lines[-1].split()
        return float(rss), float(user) + float(system)
    except (IndexError, ValueError):
        raise BenchError(f"Invalid output of GNU time in {path}: {lines!r}, expected '%M %U %S'; check that /usr/bin/time is GNU time.") from None


def _kill(process: subprocess.Popen) -> None:
    log.warning("Child process %d timed out; killing it", process.pid)
    process.kill()
    process.wait()


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile (0.95 for p95) by the nearest-rank method."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ratio(numerator: float, denominator: float) -> float:
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator
