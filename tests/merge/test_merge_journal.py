"""The send journal: merge ids, recipient states, recovery of interrupted rows, the merge lock, the schema version."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from desktop.merge import journal as jn


@pytest.fixture
def journal(tmp_path):
    with jn.Journal(tmp_path / jn.JOURNAL_NAME) as opened:
        yield opened


def new_merge(journal: jn.Journal, key: str = "k1", kind: str = jn.KIND_SEND, total: int = 3) -> jn.MergeRecord:
    return journal.create_merge(kind=kind, merge_key=key, template="/t.md", data="/d.csv", account="work",
                                options={"connections": 2}, total=total)


def test_merge_ids_unique_per_day(journal):
    first, second = new_merge(journal), new_merge(journal, "k2")

    assert first.id != second.id
    assert first.id.endswith("-1")
    assert second.id.endswith("-2")
    assert journal.merge(first.id).options == {"connections": 2}
    assert [record.id for record in journal.merges()] == [second.id, first.id]


def test_unknown_merge_id_lists_latest(journal):
    record = new_merge(journal)

    with pytest.raises(jn.JournalError) as caught:
        journal.merge("19990101-9")

    assert "19990101-9" in str(caught.value)
    assert record.id in str(caught.value)


def test_merges_with_key_ignores_tests(journal):
    sent = new_merge(journal, "same")
    new_merge(journal, "same", kind=jn.KIND_TEST)
    new_merge(journal, "other")

    assert [record.id for record in journal.merges_with_key("same")] == [sent.id]


def test_row_goes_sending_then_sent(journal):
    record = new_merge(journal)

    attempt = journal.mark_sending(record.id, 1, "1:a@example.org", "a@example.org", "<m1@example.com>", "date")
    row = journal.recipient(record.id, 1)
    assert attempt == 1
    assert row.state == "sending"
    assert row.message_id == "<m1@example.com>"
    assert row.started_at is not None

    journal.mark_done(record.id, 1, jn.SENT, "250 OK")
    row = journal.recipient(record.id, 1)
    assert row.state == "sent"
    assert row.reply == "250 OK"
    assert row.finished_at is not None
    assert journal.counts(record.id)["sent"] == 1


def test_retry_counts_attempts(journal):
    record = new_merge(journal)
    journal.mark_sending(record.id, 2, "k", "b@example.org", "<m2@example.com>", "date")
    journal.mark_done(record.id, 2, jn.QUEUED, "451 later")

    attempt = journal.mark_sending(record.id, 2, "k", "b@example.org", "<m2@example.com>", "date", durable=False)

    assert attempt == 2
    assert journal.recipient(record.id, 2).reply == "451 later"


def test_sent_row_never_marked_sending_again(journal):
    record = new_merge(journal)
    journal.mark_sending(record.id, 1, "k", "a@example.org", "<m@example.com>", "date")
    journal.mark_done(record.id, 1, jn.SENT, "250 OK")

    with pytest.raises(jn.JournalError, match="Row 1 .* is sent"):
        journal.mark_sending(record.id, 1, "k", "a@example.org", "<m@example.com>", "date")

    assert journal.recipient(record.id, 1).attempts == 1


def test_recover_marks_sending_unknown(journal):
    record = new_merge(journal)
    journal.mark_sending(record.id, 1, "k1", "a@example.org", "<m1@example.com>", "date")
    journal.mark_sending(record.id, 2, "k2", "b@example.org", "<m2@example.com>", "date")
    journal.mark_done(record.id, 2, jn.SENT, "250 OK")

    recovered = journal.recover(record.id)

    assert [row.row for row in recovered] == [1]
    row = journal.recipient(record.id, 1)
    assert row.state == "unknown"
    assert "stopped before the server's reply" in row.reply
    assert journal.recipient(record.id, 2).state == "sent"


def test_requeue_unknown_rows(journal):
    record = new_merge(journal)
    for number in (1, 2, 3):
        journal.mark_sending(record.id, number, f"k{number}", f"u{number}@example.org", f"<m{number}@x>", "date")
    journal.recover(record.id)

    assert journal.requeue_unknown(record.id, [2]) == 1
    assert [row.state for row in journal.recipients(record.id)] == ["unknown", "queued", "unknown"]
    assert journal.requeue_unknown(record.id) == 2
    assert journal.counts(record.id)["queued"] == 3


def test_skipped_row_keeps_reason(journal):
    record = new_merge(journal)

    journal.mark_skipped(record.id, 3, "", "", "row 3: suppressed")

    row = journal.recipient(record.id, 3)
    assert (row.state, row.reply) == ("skipped", "row 3: suppressed")


def test_sent_times_span_merges_of_account(journal):
    first, second = new_merge(journal, "a"), new_merge(journal, "b")
    for record in (first, second):
        journal.mark_sending(record.id, 1, "k", "a@example.org", "<m@x>", "date")
        journal.mark_done(record.id, 1, jn.SENT, "250 OK")

    assert len(journal.sent_times("work", 0)) == 2
    assert journal.sent_times("other", 0) == []


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "newer.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {jn.SCHEMA_VERSION + 1}")
    connection.close()

    with pytest.raises(jn.JournalError, match="newer than this Sluice"):
        jn.Journal(path)


def test_lock_refuses_second_holder(tmp_path):
    path = tmp_path / jn.JOURNAL_NAME
    with jn.MergeLock(path, "20261205-1"):
        with pytest.raises(jn.JournalError, match="being sent already"):
            jn.MergeLock(path, "20261205-1").acquire()
        probe = subprocess.run(
            [sys.executable, "-c",
             "import sys; from pathlib import Path; from desktop.merge.journal import MergeLock, JournalError\n"
             "try:\n    MergeLock(Path(sys.argv[1]), '20261205-1').acquire()\nexcept JournalError as e:\n"
             "    print(e); sys.exit(3)", str(path)],
            capture_output=True, text=True, timeout=60,
        )
        assert probe.returncode == 3, probe.stderr
        assert "another Sluice process" in probe.stdout
        with jn.MergeLock(path, "20261205-2"):
            pass
    with jn.MergeLock(path, "20261205-1"):
        pass


def test_claim_commits_many_rows_in_one_go(journal, tmp_path):
    record = new_merge(journal, total=4)
    journal.mark_sending(record.id, 2, "k2", "b@example.org", "<old2@example.com>", "date")
    journal.mark_done(record.id, 2, jn.SENT, "250 OK")
    journal.mark_sending(record.id, 3, "k3", "c@example.org", "<old3@example.com>", "date")
    journal.mark_done(record.id, 3, jn.QUEUED, "451 later")

    claimed = journal.claim(record.id, [(row, f"k{row}", f"{row}@example.org", f"<new{row}@example.com>", "date")
                                        for row in (1, 2, 3, 4)])

    assert claimed == {1: 1, 3: 2, 4: 1}
    # Read back through a second connection: the claim is committed.
    with jn.Journal(tmp_path / jn.JOURNAL_NAME) as other:
        rows = {row.row: row for row in other.recipients(record.id)}
    assert {number: rows[number].state for number in rows} == {1: "sending", 2: "sent", 3: "sending", 4: "sending"}
    assert rows[1].message_id == "<new1@example.com>"
    assert rows[2].message_id == "<old2@example.com>"
    assert rows[3].message_id == "<new3@example.com>"
    assert rows[4].started_at is not None


def test_claimed_row_is_not_claimed_twice(journal):
    record = new_merge(journal)
    assert journal.claim(record.id, [(1, "k1", "a@example.org", "<m1@example.com>", "date")]) == {1: 1}

    again = journal.claim(record.id, [(1, "k1", "a@example.org", "<m1b@example.com>", "date")], durable=False)

    assert again == {}
    assert journal.recipient(record.id, 1).message_id == "<m1@example.com>"
    assert journal.recipient(record.id, 1).attempts == 1


def test_release_puts_unsent_claims_back(journal):
    record = new_merge(journal)
    journal.claim(record.id, [(row, f"k{row}", f"{row}@example.org", f"<m{row}@example.com>", "date")
                              for row in (1, 2)])
    journal.mark_done(record.id, 2, jn.SENT, "250 OK")

    assert journal.release(record.id, [1, 2]) == 1

    first = journal.recipient(record.id, 1)
    assert (first.state, first.attempts, first.message_id, first.started_at) == ("queued", 0, "", None)
    assert journal.recipient(record.id, 2).state == "sent"
    assert journal.recover(record.id) == []
    assert journal.claim(record.id, [(1, "k1", "1@example.org", "<m1c@example.com>", "date")]) == {1: 1}


def test_mark_done_many_records_each_outcome(journal):
    record = new_merge(journal)
    journal.claim(record.id, [(row, f"k{row}", f"{row}@example.org", f"<m{row}@example.com>", "date")
                              for row in (1, 2, 3)])

    journal.mark_done_many(record.id, [(1, jn.SENT, "250 OK"), (2, jn.FAILED, "550 no"), (3, jn.QUEUED, "451 later")])

    rows = {row.row: row for row in journal.recipients(record.id)}
    assert [(rows[n].state, rows[n].reply) for n in (1, 2, 3)] == [
        ("sent", "250 OK"), ("failed", "550 no"), ("queued", "451 later")]
    assert rows[1].finished_at is not None and rows[3].finished_at is None
    with pytest.raises(ValueError, match="'sending' is not an outcome"):
        journal.mark_done_many(record.id, [(3, jn.SENT, "250"), (1, jn.SENDING, "")])
    assert journal.recipient(record.id, 3).state == "queued"
