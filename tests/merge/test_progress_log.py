"""Progress output of ``sluice merge send`` when standard output is not a terminal (a cron job, a pipe to tee)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from desktop.merge.send_cli import LOG_IDLE_INTERVAL, LOG_INTERVAL, ProgressLog
from desktop.merge.sender import Progress
from tests.merge.send_helpers import ACCOUNT, ScriptedServer, add_smtp_account, address, received_counts, write_merge

DEFERRAL = "451 4.3.0 Try later"


def snapshot(sent: int, *, total: int = 10, state: str = "running", note: str = "",
             retry_waits: tuple[tuple[float, str], ...] = ()) -> Progress:
    return Progress(merge_id="20261205-1", total=total, sent=sent, failed=0, unknown=0, skipped=0,
                    remaining=total - sent, per_minute=60.0, seconds_left=(total - sent) * 1.0, state=state,
                    note=note, retry_waits=retry_waits)


def send_through_pipe(template, data, *extra: str) -> subprocess.CompletedProcess:
    """Run ``sluice merge send`` in a child process whose output goes to pipes, as under cron or ``| tee``."""
    command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
               "--no-sent-copy", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ.copy())


def progress_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("running:", "finished:", "stopped:"))]


# --- which snapshots become lines ------------------------------------------------------------------


def test_log_prints_first_snapshot():
    assert ProgressLog().line(snapshot(0), 0.0) is not None


def test_log_skips_unchanged_snapshots():
    log = ProgressLog()
    log.line(snapshot(1), 0.0)

    printed = [log.line(snapshot(1), second * 0.25) for second in range(1, 4 * 70)]

    assert printed == [None] * len(printed)


def test_log_holds_moving_counts_for_interval():
    log = ProgressLog()
    log.line(snapshot(1), 0.0)

    assert log.line(snapshot(2), LOG_INTERVAL - 1) is None
    assert log.line(snapshot(3), LOG_INTERVAL) is not None
    assert log.line(snapshot(4), LOG_INTERVAL + 1) is None


def test_log_prints_state_change_at_once():
    log = ProgressLog()
    log.line(snapshot(1), 0.0)

    assert log.line(snapshot(1, state="paused"), 1.0) is not None
    assert log.line(snapshot(1, state="paused", note="pausing until 12:00"), 2.0) is not None


def test_log_repeats_idle_line_rarely():
    log = ProgressLog()
    log.line(snapshot(1), 0.0)

    assert log.line(snapshot(1), LOG_IDLE_INTERVAL - 1) is None
    assert log.line(snapshot(1), LOG_IDLE_INTERVAL) is not None


def test_log_names_retry_wait_at_once():
    log = ProgressLog()
    log.line(snapshot(9), 0.0)

    line = log.line(snapshot(9, retry_waits=((62.4, DEFERRAL),)), 1.0)

    assert line is not None
    assert line.endswith(f"1 remaining of 10, 60/min, 1 row waits to be retried in 62 s ({DEFERRAL})")
    assert log.line(snapshot(9, retry_waits=((61.4, DEFERRAL),)), 2.0) is None


def test_log_counts_several_retry_waits():
    waits = ((12.0, DEFERRAL), (30.0, "421 4.7.0 Too busy"))

    line = ProgressLog().line(snapshot(8, retry_waits=waits), 0.0)

    assert line is not None
    assert line.endswith(f"2 rows wait to be retried, the first in 12 s ({DEFERRAL})")


def test_log_keeps_estimate_while_other_rows_remain():
    line = ProgressLog().line(snapshot(5, retry_waits=((40.0, DEFERRAL),)), 0.0)

    assert line is not None
    assert "about 5 s left" in line
    assert "retried" not in line


# --- a real send through a pipe --------------------------------------------------------------------


def test_piped_send_says_row_waits_for_retry(tmp_path):
    with ScriptedServer() as server:
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", 12)
        server.script(address(7), "rcpt", [DEFERRAL])

        result = send_through_pipe(template, data, "--connections", "1")

        counts = received_counts(server)
    assert result.returncode == 0, result.stderr
    assert counts == {address(number): 1 for number in range(1, 13)}
    lines = progress_lines(result.stdout)
    waiting = [line for line in lines if "1 row waits to be retried in" in line]
    assert len(waiting) == 1, lines
    assert f"({DEFERRAL})" in waiting[0]
    assert not any("about 0 s left" in line for line in lines), lines
    # The wait (5 s, give or take 20%) adds one line, not one per second or per five seconds.
    assert len(lines) <= 4, lines
    assert lines[-1].startswith("finished: 12 sent, 0 failed, 0 remaining of 12")
    assert sum(line.startswith("finished:") for line in lines) == 1, lines


def test_piped_send_prints_no_carriage_returns(tmp_path):
    with ScriptedServer() as server:
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", 5)

        result = send_through_pipe(template, data)

    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout
    assert "\x1b[" not in result.stdout
    assert progress_lines(result.stdout)[-1].startswith("finished: 5 sent")


def test_terminal_send_keeps_live_line(tmp_path):
    with ScriptedServer() as server:
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", 5)
        command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
                   "--no-sent-copy"]
        leader, follower = pty.openpty()
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE,
                                       env=os.environ.copy())
            os.close(follower)
            output = read_until_closed(leader)
            process.wait(timeout=120)
        finally:
            os.close(leader)

    assert process.returncode == 0
    assert "\rrunning: " in output or "\rfinished: " in output
    assert "finished: 5 sent" in output


def read_until_closed(descriptor: int) -> str:
    """Read a pseudo-terminal until the child closes it (EIO on Linux), at most 4 MB."""
    chunks = []
    for _ in range(4096):
        try:
            chunk = os.read(descriptor, 1024)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
