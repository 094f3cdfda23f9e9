"""Timing child processes and summarising repeated measurements."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import statistics
import subprocess
import threading
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
        tree_peak_rss_mb: Largest sum of the resident set sizes of the process
            and all its descendants seen by sampling every 0.1 s, in MiB. Pages
            shared between processes count once per process.
        timed_out: Whether the process was killed at the timeout (only with
            ``allow_timeout``); then ``seconds`` is the timeout.
    """

    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    tree_peak_rss_mb: float = math.nan
    timed_out: bool = False


def run_child(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 1800.0, log_dir: Path, allow_timeout: bool = False) -> ChildRun:
    """Run ``argv`` to the end and measure it; raise BenchError when it fails or times out.

    With ``allow_timeout`` a process still running at ``timeout`` is killed and
    returned with ``timed_out`` set, so the caller can report how far it got.

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
        sampler = TreeRssSampler(process.pid)
        sampler.start()
        timed_out = False
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            if not allow_timeout:
                raise BenchError(f"{' '.join(argv)} timed out after {timeout:.0f} s; its output is in {out_path} and {err_path}.") from None
            timed_out, returncode = True, process.returncode
        finally:
            sampler.stop()
        seconds = time.perf_counter() - started
    stdout = out_path.read_text("utf-8", "replace")
    stderr = err_path.read_text("utf-8", "replace")
    if timed_out:
        return ChildRun(seconds=seconds, cpu_seconds=math.nan, max_rss_mb=math.nan, returncode=returncode, stdout=stdout,
                        stderr=stderr, tree_peak_rss_mb=sampler.peak_kib / 1024, timed_out=True)
    if returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed with exit code {returncode}:\n{_tail(stderr or stdout)}")
    max_rss_kib, cpu_seconds = read_usage(usage_path)
    return ChildRun(seconds=seconds, cpu_seconds=cpu_seconds, max_rss_mb=max_rss_kib / 1024,
                    returncode=returncode, stdout=stdout, stderr=stderr, tree_peak_rss_mb=sampler.peak_kib / 1024)


class TreeRssSampler:
    """Sample the summed RSS of a process and its descendants on a background thread.

    Attributes:
        peak_kib: Largest sum seen so far, in KiB.
    """

    INTERVAL_SECONDS = 0.1

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.peak_kib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-sampler-{root_pid}", daemon=True)
        self._page_kib = os.sysconf("SC_PAGE_SIZE") / 1024

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, self.sample_kib())
            self._stop.wait(self.INTERVAL_SECONDS)

    def sample_kib(self) -> float:
        """Return the summed RSS of the root process and its descendants now, in KiB."""
        return sum(self._rss_pages(pid) for pid in descendants(self.root_pid)) * self._page_kib

    @staticmethod
    def _rss_pages(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
                return int(statm.read().split()[1])
        except (OSError, IndexError, ValueError):
            return 0  # The process ended between listing and reading.


def descendants(root_pid: int) -> list[int]:
    """Return ``root_pid`` and the pids of all its live descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        parent = _parent_pid(int(entry.name))
        if parent is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name in field 2 may contain spaces and parentheses, so split after its closing one.
    fields = text[text.rfind(")") + 2:].split()
    return int(fields[1]) if len(fields) > 1 else None


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


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill a timed-out child and its descendants (GNU time does not pass the signal on)."""
    log.warning("Child process %d timed out; killing it and its descendants", process.pid)
    for pid in reversed(descendants(process.pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
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
