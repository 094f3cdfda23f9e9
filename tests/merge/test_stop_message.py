"""The message of a stopped ``sluice merge send``: the reason once, the rows not sent, and the resume command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from desktop.merge import journal as jn
from desktop.merge.send_cli import _stop_text
from desktop.paths import default_profile
from tests.helpers.smtp_server import SmtpServer
from tests.merge.send_helpers import ACCOUNT, add_smtp_account, write_merge

COUNT = 40


def stop_send(tmp_path, number: int) -> tuple[int, str, str]:
    """Start a send in a child process with piped output, send it signal ``number`` after 6 messages, and wait."""
    with SmtpServer() as server:
        # Each message takes the server 30 ms, so the signal arrives while most rows are still queued.
        server.deliver_with(lambda item: time.sleep(0.03))
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", COUNT)
        command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
                   "--connections", "2", "--no-sent-copy"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=os.environ.copy())
        try:
            server.wait_for(6, timeout=60)
            process.send_signal(number)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=60)
    return process.returncode, out, err


def unsent_rows() -> tuple[str, int]:
    """Return the id of the only merge and how many of its rows are not sent, failed, unknown or skipped."""
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        record = journal.merges()[0]
        counts = journal.counts(record.id)
    return record.id, record.total - sum(counts[state] for state in jn.DONE_STATES)


@pytest.mark.parametrize(("number", "reason"), [(signal.SIGINT, "Stopped by the user (Ctrl+C)"),
                                                (signal.SIGTERM, "Stopped by SIGTERM")])
def test_signal_stop_names_reason_once(tmp_path, number, reason):
    code, out, err = stop_send(tmp_path, number)

    merge_id, unsent = unsent_rows()
    assert code == 1, err
    assert 0 < unsent < COUNT
    expected = f"{reason}; {unsent} rows not sent yet. Continue with: sluice merge resume {merge_id}"
    assert expected in out.splitlines(), out
    assert out.lower().count(reason.lower()) == 1, out
    assert "stopped: stopped" not in out.lower()
    final = next(line for line in out.splitlines() if line.startswith("stopped: "))
    assert "(" not in final, final
    assert "left" not in final, final
    status = subprocess.run([sys.executable, "-m", "desktop", "merge", "status", merge_id], capture_output=True,
                            text=True, env=os.environ.copy(), timeout=60)
    assert f"Merge {merge_id} (send), {reason[0].lower()}{reason[1:]}" in status.stdout, status.stdout


def test_stop_text_one_row():
    assert _stop_text("stopped by the user (Ctrl+C)", 1) == "Stopped by the user (Ctrl+C); 1 row not sent yet."


def test_stop_text_note_with_clauses():
    note = "the account's sending quota is used up (550 5.4.5 Daily quota); resume the merge later"

    assert _stop_text(note, 5) == f"Stopped: {note}. 5 rows are not sent yet."


def test_stop_text_note_as_sentence():
    note = "The SMTP server rejected the login. Check the password."

    assert _stop_text(note, 1) == f"Stopped: {note} 1 row is not sent yet."


def test_stop_text_count_not_repeated():
    assert _stop_text("3 rows not sent", 3) == "Stopped: 3 rows not sent."


def test_stop_text_nothing_left():
    assert _stop_text("stopped by SIGTERM", 0) == "Stopped by SIGTERM."
