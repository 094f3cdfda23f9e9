"""Killing ``sluice merge send`` with SIGKILL mid-batch, then resuming: every recipient gets the message once.

Only rows whose message data was on the wire without a reply read as unknown after the kill, so there are at most
as many as connections.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from desktop.merge import journal as jn
from desktop.paths import default_profile
from tests.helpers.smtp_server import SmtpServer
from tests.merge.send_helpers import (
    ACCOUNT,
    add_dovecot_account,
    add_smtp_account,
    address,
    received_counts,
    run,
    write_merge,
)

COUNT = 60
CONNECTIONS = 3


def settled_counts(server: SmtpServer):
    """Return the received counts once the server has finished the messages that were in flight at the kill."""
    deadline = time.monotonic() + 10
    last = -1
    while time.monotonic() < deadline and len(server.received) != last:
        last = len(server.received)
        time.sleep(0.5)
    return received_counts(server)


@pytest.mark.parametrize("kill_after", [7, 23])
def test_kill_and_resume_sends_each_once(tmp_path, capsys, kill_after):
    with SmtpServer() as server:
        # Each message takes the server 30 ms, as a remote relay would, so the kill lands mid-batch.
        server.deliver_with(lambda item: time.sleep(0.03))
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", COUNT, attach_every=4)
        command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
                   "--connections", str(CONNECTIONS), "--no-sent-copy"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        try:
            server.wait_for(kill_after, timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        first_run = len(server.received)
        assert kill_after <= first_run < COUNT

        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            record = journal.merges()[0]
        code, out, err = run(capsys, "merge", "resume", record.id, "--no-sent-copy")

        assert code == 0, err
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            states = {row.address: row.state for row in journal.recipients(record.id)}
        unknown = sorted(name for name, state in states.items() if state == "unknown")
        counts = received_counts(server)
        assert len(unknown) <= CONNECTIONS, unknown
        assert not jn.wire_log_path(jn.journal_path(default_profile().data_dir), record.id).exists()
        for number in range(1, COUNT + 1):
            name = address(number)
            if name in unknown:
                assert counts[name] <= 1, name
            else:
                assert counts[name] == 1, (name, states.get(name))
                assert states[name] == "sent"
        assert len(server.received) == sum(counts.values())
        if unknown:
            assert "not resent" in out
            for name in unknown:
                assert name in out
            assert f"sluice merge resume {record.id} --retry-unknown" in out
        assert sum(1 for state in states.values() if state == "sent") == COUNT - len(unknown)


def test_retry_unknown_sends_them_again(tmp_path, capsys):
    with SmtpServer() as server:
        # The server keeps the data of row 5 unanswered while the sender is killed, so that row is unknown.
        holding, released = threading.Event(), threading.Event()

        def deliver(item) -> None:  # noqa: ANN001 - a Received
            if address(5) in item.rcpt_tos:
                holding.set()
                time.sleep(1.0)
                released.set()
            time.sleep(0.03)

        server.deliver_with(deliver)
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", 20)
        command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
                   "--connections", "2", "--no-sent-copy"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        try:
            assert holding.wait(60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=60)
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            record = journal.merges()[0]
            unknown = [row.address for row in journal.recover(record.id)]
        assert released.wait(10)
        before = settled_counts(server)
        assert address(5) in unknown
        assert len(unknown) <= 2

        code, out, err = run(capsys, "merge", "resume", record.id, "--retry-unknown", "--no-sent-copy")

        assert code == 0, err
        rows = "row" if len(unknown) == 1 else "rows"
        assert f"Requeued {len(unknown)} {rows} of unknown outcome" in out
        after = received_counts(server)
        for name in unknown:
            assert after[name] == before[name] + 1
        assert all(after[address(number)] >= 1 for number in range(1, 21))
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            assert journal.counts(record.id)["sent"] == 20


@pytest.mark.dovecot
def test_kill_then_resume_keeps_all_sent_copies(tmp_path, capsys, dovecot_server, imap_user, direct_client):
    with SmtpServer() as server:
        server.deliver_with(lambda item: time.sleep(0.03))
        code = add_dovecot_account(capsys, server, dovecot_server, imap_user)
        assert code == 0
        assert run(capsys, "sync", "--quiet")[0] == 0
        template, data = write_merge(tmp_path / "m", 30)
        command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
                   "--connections", "2"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        try:
            server.wait_for(8, timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=60)
        settled_counts(server)
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            record = journal.merges()[0]

        code, out, err = run(capsys, "merge", "resume", record.id)

        assert code == 0, err
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            sent = {row.message_id for row in journal.recipients(record.id, ["sent"])}
            copied = [row.copied for row in journal.recipients(record.id, ["sent"])]
        assert all(copied)
        direct_client.select_folder("Sent", readonly=True)
        fetched = direct_client.fetch(direct_client.search("ALL"), [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        on_server = [item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
                     for item in fetched.values()]
        assert sorted(on_server) == sorted(sent)


def test_interrupt_stops_cleanly_then_resume(tmp_path, capsys):
    with SmtpServer() as server:
        server.deliver_with(lambda item: time.sleep(0.03))
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", 40)
        command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
                   "--connections", "2", "--no-sent-copy"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=os.environ.copy())
        try:
            server.wait_for(6, timeout=60)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=60)

        assert process.returncode == 1, err
        assert "Stopping after the messages in flight" in err
        assert "Stopped by the user (Ctrl+C); " in out
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            record = journal.merges()[0]
            counts = journal.counts(record.id)
        assert counts["sending"] == 0
        assert counts["unknown"] == 0
        assert counts["sent"] == len(server.received)

        code, out, err = run(capsys, "merge", "resume", record.id, "--no-sent-copy")

        assert code == 0, err
        assert received_counts(server) == {address(number): 1 for number in range(1, 41)}
