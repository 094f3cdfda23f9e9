"""Two sends of the same template and data never run at once, in one process or in two.

A send skips the addresses other merges of the same files reached only once, before it starts. A second send
running beside the first could therefore mail an address the first reaches later, so it is rejected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from desktop.merge import journal as jn
from desktop.merge.render import open_merge
from desktop.merge.sender import MergeSend, SendOptions
from desktop.paths import default_profile
from desktop.send import SmtpSender
from tests.merge.send_helpers import ACCOUNT, add_smtp_account, address, run, send, write_merge

KEY = "0123456789abcdef0123456789abcdef"
COUNT = 12
# Seconds the sink takes per message, so that a send of COUNT rows over one connection runs for several seconds.
DELIVERY_SECONDS = 0.25

PROBE = """\
import sys
from pathlib import Path
from desktop.merge.journal import JournalError, TemplateLock
try:
    TemplateLock(Path(sys.argv[1]), sys.argv[2], sys.argv[3]).acquire()
except JournalError as error:
    print(error)
    sys.exit(3)
"""


def probe(path, merge_id: str = "20261205-9") -> subprocess.CompletedProcess:
    """Take the template lock of KEY in another process, which prints the message and exits with 3 when rejected."""
    return subprocess.run([sys.executable, "-c", PROBE, str(path), KEY, merge_id], capture_output=True, text=True,
                          timeout=60)


def record_merge(template, data, *, state: str = jn.RUNNING) -> jn.MergeRecord:
    """Record a real send of the files in the profile's journal, in ``state``, with no row sent yet."""
    profile = default_profile().ensure()
    merge = open_merge(template, data, profile=profile)
    with jn.Journal(jn.journal_path(profile.data_dir)) as journal:
        record = journal.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template.resolve()),
                                      data=str(data.resolve()), account=ACCOUNT,
                                      options=SendOptions(connections=1, sent_copies=False).as_dict(), total=COUNT)
        if state != jn.RUNNING:
            journal.set_state(record.id, state, "stopped by the user")
    return record


def send_merges() -> list[jn.MergeRecord]:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        return [record for record in journal.merges() if record.kind == jn.KIND_SEND]


def busy_text(merge_id: str) -> str:
    return f"Wait for merge {merge_id} to finish or stop it, then try again."


def test_lock_rejects_other_merge_in_process(tmp_path):
    path = tmp_path / jn.JOURNAL_NAME
    with jn.TemplateLock(path, KEY, "20261205-1"):
        with pytest.raises(jn.JournalError, match="Merge 20261205-1 of the same template and data is being sent"):
            jn.TemplateLock(path, KEY, "20261205-2").acquire()
        with pytest.raises(jn.JournalError, match=busy_text("20261205-1")):
            jn.TemplateLock(path, KEY).acquire()
        with jn.TemplateLock(path, KEY, "20261205-1"):
            pass
        with pytest.raises(jn.JournalError, match="20261205-1"):
            jn.TemplateLock(path, KEY, "20261205-2").acquire()
        with jn.TemplateLock(path, KEY.replace("0", "f"), "20261205-2"):
            pass
    with jn.TemplateLock(path, KEY, "20261205-2"):
        pass


def test_lock_names_holder_across_processes(tmp_path):
    path = tmp_path / jn.JOURNAL_NAME
    with jn.TemplateLock(path, KEY) as lock:
        unnamed = probe(path)
        lock.set_merge_id("20261205-4")
        named = probe(path)

    free = probe(path)

    assert unnamed.returncode == 3, unnamed.stderr
    assert "Another merge of the same template and data is being sent now" in unnamed.stdout
    assert named.returncode == 3, named.stderr
    assert busy_text("20261205-4") in named.stdout
    assert free.returncode == 0, free.stdout + free.stderr


def test_set_merge_id_needs_held_lock(tmp_path):
    lock = jn.TemplateLock(tmp_path / jn.JOURNAL_NAME, KEY)

    with pytest.raises(jn.JournalError, match="is not held"):
        lock.set_merge_id("20261205-1")


def test_resume_beside_running_send_rejected(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", COUNT)
    older = record_merge(template, data, state=jn.STOPPED)
    server.deliver_with(lambda item: time.sleep(DELIVERY_SECONDS))
    command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
               "--connections", "1", "--no-sent-copy", "--new"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=os.environ.copy())
    try:
        server.wait_for(1, timeout=60)
        running = send_merges()[0]

        resumed = run(capsys, "merge", "resume", older.id, "--no-sent-copy")
        again = send(capsys, template, data, "--new")
        continued = send(capsys, template, data, "--resume")
        middle = len(server.received)
    finally:
        out, err = process.communicate(timeout=120)

    assert process.returncode == 0, out + err
    assert running.id != older.id
    assert middle < COUNT
    for code, _, message in (resumed, again, continued):
        assert code == 1
        assert f"Merge {running.id} of the same template and data is being sent now" in message
        assert busy_text(running.id) in message
    assert server.tries == {address(number): 1 for number in range(1, COUNT + 1)}
    assert len(server.received) == COUNT
    assert [record.id for record in send_merges()] == [running.id, older.id]
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert journal.recipients(older.id) == []
        assert journal.merge(older.id).state == jn.STOPPED


def test_second_merge_send_in_process_rejected(tmp_path, server):
    account = add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", COUNT)
    first, second = record_merge(template, data), record_merge(template, data)
    server.deliver_with(lambda item: time.sleep(DELIVERY_SECONDS))
    merge = open_merge(template, data, profile=default_profile())
    journal_file = jn.journal_path(default_profile().data_dir)
    options = SendOptions(connections=1, sent_copies=False)
    with SmtpSender() as smtp:
        sending = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=first.id,
                            options=options, smtp=smtp)
        progress: list = []
        worker = threading.Thread(target=lambda: progress.extend(sending.run()), name="first-merge")
        worker.start()
        try:
            server.wait_for(1, timeout=60)
            rejected = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=second.id,
                                 options=options, smtp=smtp)
            with pytest.raises(jn.JournalError, match=busy_text(first.id)):
                next(rejected.run())
        finally:
            worker.join(timeout=120)

    assert not worker.is_alive()
    assert progress[-1].state == jn.FINISHED
    assert server.tries == {address(number): 1 for number in range(1, COUNT + 1)}
    with jn.Journal(journal_file) as journal:
        assert journal.recipients(second.id) == []


def test_test_send_beside_running_send(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 4)
    running = record_merge(template, data)
    profile = default_profile()
    key = open_merge(template, data, profile=profile).merge_key

    with jn.TemplateLock(jn.journal_path(profile.data_dir), key, running.id):
        code, _, err = send(capsys, template, data, "--test-to", "me@example.com", "--test-count", "2")

    assert code == 0, err
    assert [item.rcpt_tos for item in server.received] == [("me@example.com",), ("me@example.com",)]
