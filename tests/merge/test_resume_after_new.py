"""Resuming a deliberate second send (``--new``) leaves out only the addresses other merges reached after it began."""

from __future__ import annotations

import time

from desktop.merge import journal as jn
from desktop.paths import default_profile
from tests.merge.send_helpers import address, add_smtp_account, received_counts, run, send, write_merge

QUOTA = "550 5.4.5 Daily user sending quota exceeded"
ROWS = 8


def send_merges() -> list[jn.MergeRecord]:
    """Return the real (not test) sends in the journal, newest first."""
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        return [record for record in journal.merges() if record.kind == jn.KIND_SEND]


def finished_then_new_stopped(tmp_path, server, capsys):
    """Merge A reaches all rows; merge B (``--new``) stops on a quota reply to row 4 after rows 1-3."""
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", ROWS)
    code, _, err = send(capsys, template, data)
    assert code == 0, err
    server.script(address(4), "data", [QUOTA])
    code, out, _ = send(capsys, template, data, "--new", "--connections", "1")
    assert code == 1, out
    assert received_counts(server) == {address(number): 2 if number < 4 else 1 for number in range(1, ROWS + 1)}
    second, first = send_merges()[:2]
    return template, data, first, second


def test_resume_new_sends_the_rest(tmp_path, server, capsys):
    _, _, first, second = finished_then_new_stopped(tmp_path, server, capsys)

    code, out, err = run(capsys, "merge", "resume", second.id, "--no-sent-copy")

    assert code == 0, err
    assert "Leaving out" not in out
    assert received_counts(server) == {address(number): 2 for number in range(1, ROWS + 1)}
    # Every address got RCPT TO once from each merge. Row 4 got one more, which the quota reply rejected.
    expected_tries = {address(number).lower(): 2 for number in range(1, ROWS + 1)}
    expected_tries[address(4).lower()] = 3
    assert dict(server.tries) == expected_tries
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert journal.counts(second.id)[jn.SENT] == ROWS
        assert journal.counts(second.id)[jn.SKIPPED] == 0
        assert journal.counts(first.id)[jn.SENT] == ROWS


def test_send_resume_new_sends_the_rest(tmp_path, server, capsys):
    template, data, _, second = finished_then_new_stopped(tmp_path, server, capsys)

    code, out, err = send(capsys, template, data, "--resume")

    assert code == 0, err
    assert f"Resuming merge {second.id}" in out
    assert "Leaving out" not in out
    assert received_counts(server) == {address(number): 2 for number in range(1, ROWS + 1)}


def test_resume_old_merge_skips_later_unknown(tmp_path, server, capsys):
    """Merge A stops after rows 1-2; merge B (``--new``) then reaches rows 1-8, with row 6 of unknown outcome."""
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", ROWS)
    server.script(address(3), "data", [QUOTA])
    assert send(capsys, template, data, "--connections", "1")[0] == 1
    server.drop_after_data(address(6))
    code, out, err = send(capsys, template, data, "--new", "--connections", "1")
    assert code == 0, err
    assert "7 sent, 0 failed, 1 unknown" in out
    second, first = send_merges()[:2]
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert journal.recipient(second.id, 6).state == jn.UNKNOWN

    code, out, err = run(capsys, "merge", "resume", first.id, "--no-sent-copy")

    assert code == 0, err
    assert "Leaving out 6 rows whose address got this template in another merge since." in out
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        states = journal.row_states(first.id)
        reasons = {row.reply for row in journal.recipients(first.id, [jn.SKIPPED])}
    assert states == {1: jn.SENT, 2: jn.SENT, **{number: jn.SKIPPED for number in range(3, ROWS + 1)}}
    assert reasons == {f"already sent in merge {second.id}"}


def test_sent_to_since_counts_later_sends(tmp_path):
    """Sent, unknown and sending rows count from ``since`` on; earlier ones and failed ones never count."""
    with jn.Journal(tmp_path / "merges.sqlite3") as journal:
        record = journal.create_merge(kind=jn.KIND_SEND, merge_key="k", template="t", data="d", account="a",
                                      options={}, total=4)
        for row, state in enumerate((jn.SENT, jn.UNKNOWN, jn.FAILED), start=1):
            journal.mark_sending(record.id, row, f"{row}:before{row}@example.org", f"before{row}@example.org",
                                 f"<before{row}@example.org>", "", durable=False)
            journal.mark_done(record.id, row, state, "reply")
        boundary = time.time()
        while time.time() == boundary:
            time.sleep(0.001)
        later = {4: jn.SENT, 5: jn.UNKNOWN, 6: jn.FAILED, 7: jn.SENDING}
        for row, state in later.items():
            journal.mark_sending(record.id, row, f"{row}:after{row}@example.org", f"after{row}@example.org",
                                 f"<after{row}@example.org>", "", durable=False)
            if state != jn.SENDING:
                journal.mark_done(record.id, row, state, "reply")
        addresses = [f"before{row}@example.org" for row in range(1, 4)]
        addresses += [f"after{row}@example.org" for row in later]

        everything = journal.sent_to([record.id], addresses)
        recent = journal.sent_to([record.id], addresses, since=boundary)

    assert set(everything) == {"before1@example.org", "before2@example.org", "after4@example.org",
                               "after5@example.org", "after7@example.org"}
    assert set(recent) == {"after4@example.org", "after5@example.org", "after7@example.org"}
