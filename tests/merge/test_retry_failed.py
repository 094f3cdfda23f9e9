"""``--retry-failed`` sends the failed rows of a merge again, except addresses that bounced as unknown users."""

from __future__ import annotations

from desktop.merge import journal as jn
from desktop.merge.render import open_merge
from desktop.merge.sender import MergeSend, SendOptions
from desktop.merge.suppress import SuppressionList
from desktop.paths import default_profile
from desktop.send import SmtpSender
from tests.merge.send_helpers import address, add_smtp_account, received_counts, run, send, write_merge

ROWS = 6
BUSY = "451 4.3.0 Mailbox busy, try later"
NO_SUCH_USER = "550 5.1.1 No such user here"


def failed_merge(tmp_path, server):
    """Send a merge of ``ROWS`` rows, one try each, to a server that replies 451 for row 3 and 550 5.1.1 for row 5.

    Return the template, the data file and the merge id. The merge is finished with rows 3 and 5 failed.
    """
    account = add_smtp_account(server)
    profile = default_profile().ensure()
    template, data = write_merge(tmp_path / "m", ROWS)
    merge = open_merge(template, data, profile=profile)
    options = SendOptions(connections=1, max_attempts=1, sent_copies=False, backoff_seconds=0.05, timeout=10.0)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as journal:
        record = journal.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template),
                                      data=str(data), account=account.name, options=options.as_dict(), total=ROWS)
    server.reply_to_recipient(address(3), BUSY)
    server.reply_to_recipient(address(5), NO_SUCH_USER)
    with SmtpSender() as smtp:
        send_run = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=record.id,
                             options=options, smtp=smtp, suppression=SuppressionList(profile))
        final = list(send_run.run())[-1]
    assert final.state == jn.FINISHED
    assert (final.sent, final.failed) == (ROWS - 2, 2)
    assert SuppressionList(profile).contains(address(5))
    return template, data, record.id


def row_state(merge_id: str, row: int) -> jn.RecipientRecord:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        return journal.recipient(merge_id, row)


def test_resume_names_retry_command(tmp_path, server, capsys):
    _, _, merge_id = failed_merge(tmp_path, server)
    server.behaviour.recipient_replies.pop(address(3))

    code, out, _ = run(capsys, "merge", "resume", merge_id)

    assert code == 1
    assert "The 1 failed row was rejected by the server" in out
    assert f"send again with: sluice merge resume {merge_id} --retry-failed" in out
    assert server.tries[address(3)] == 1
    assert row_state(merge_id, 3).state == jn.FAILED


def test_status_names_retry_command(tmp_path, server, capsys):
    _, _, merge_id = failed_merge(tmp_path, server)

    code, out, _ = run(capsys, "merge", "status", merge_id)

    assert code == 0
    assert "The 1 failed row was rejected by the server" in out
    assert f"send again with: sluice merge resume {merge_id} --retry-failed" in out


def test_retry_failed_sends_temporary_failure(tmp_path, server, capsys):
    _, _, merge_id = failed_merge(tmp_path, server)
    server.behaviour.recipient_replies.pop(address(3))

    code, out, err = run(capsys, "merge", "resume", merge_id, "--retry-failed")

    assert code == 1, err
    assert "Requeued 1 failed row; it is sent again now." in out
    assert "1 failed row (row 5) stays failed, because the server replied that the address does not exist" in out
    assert "--retry-failed" not in out
    assert received_counts(server) == {address(number): 1 for number in (1, 2, 3, 4, 6)}
    assert server.tries[address(3)] == 2
    assert server.tries[address(5)] == 1
    assert row_state(merge_id, 3).state == jn.SENT
    assert row_state(merge_id, 3).attempts == 1
    assert row_state(merge_id, 5).state == jn.FAILED


def test_retry_failed_only_bounce_left(tmp_path, server, capsys):
    _, _, merge_id = failed_merge(tmp_path, server)
    server.behaviour.recipient_replies.pop(address(3))
    run(capsys, "merge", "resume", merge_id, "--retry-failed")

    code, out, err = run(capsys, "merge", "resume", merge_id, "--retry-failed")

    assert "No failed row can be sent again." in out, err
    assert "Requeued 0" not in out
    assert f"take it off the list with: sluice merge suppress remove {address(5)}" in out
    assert server.tries[address(5)] == 1
    assert received_counts(server) == {address(number): 1 for number in (1, 2, 3, 4, 6)}


def test_retry_failed_while_still_busy(tmp_path, server, capsys):
    """A row that fails again stays failed and can be retried once more, each time with a full set of tries."""
    _, _, merge_id = failed_merge(tmp_path, server)

    code, out, _ = run(capsys, "merge", "resume", merge_id, "--retry-failed")

    assert code == 1
    assert "Requeued 1 failed row" in out
    assert server.tries[address(3)] == 2
    assert row_state(merge_id, 3).state == jn.FAILED
    assert row_state(merge_id, 3).reply == BUSY
    assert f"sluice merge resume {merge_id} --retry-failed" in out

    server.behaviour.recipient_replies.pop(address(3))
    code, _, err = run(capsys, "merge", "resume", merge_id, "--retry-failed")

    assert code == 1, err
    assert server.tries[address(3)] == 3
    assert received_counts(server)[address(3)] == 1
    assert row_state(merge_id, 3).state == jn.SENT


def test_send_resume_retry_failed(tmp_path, server, capsys):
    template, data, merge_id = failed_merge(tmp_path, server)
    server.behaviour.recipient_replies.pop(address(3))

    code, out, err = send(capsys, template, data, "--resume", "--retry-failed")

    assert code == 1, err
    assert f"Resuming merge {merge_id}" in out
    assert "Requeued 1 failed row; it is sent again now." in out
    assert received_counts(server) == {address(number): 1 for number in (1, 2, 3, 4, 6)}
    assert server.tries[address(5)] == 1


def test_retry_failed_after_suppress_remove(tmp_path, server, capsys):
    """Taking a bounced address off the suppression list lets --retry-failed send to it again."""
    _, _, merge_id = failed_merge(tmp_path, server)
    assert run(capsys, "merge", "suppress", "remove", address(5))[0] == 0
    server.behaviour.recipient_replies.clear()

    code, out, err = run(capsys, "merge", "resume", merge_id, "--retry-failed")

    assert code == 0, err
    assert "Requeued 2 failed rows; they are sent again now." in out
    assert "stays failed" not in out
    assert received_counts(server) == {address(number): 1 for number in range(1, ROWS + 1)}
    assert server.tries[address(5)] == 2


def test_requeue_failed_only_failed_rows(tmp_path):
    with jn.Journal(tmp_path / "merges.sqlite3") as journal:
        record = journal.create_merge(kind=jn.KIND_SEND, merge_key="k", template="t", data="d", account="a",
                                      options={}, total=3)
        for row, state in enumerate((jn.FAILED, jn.SENT, jn.UNKNOWN), start=1):
            journal.mark_sending(record.id, row, f"{row}:r{row}@example.org", f"r{row}@example.org",
                                 f"<m{row}@example.org>", "", durable=False)
            journal.mark_done(record.id, row, state, "451 4.3.0 busy")

        count = journal.requeue_failed(record.id, [1, 2, 3])
        states = journal.row_states(record.id)
        first = journal.recipient(record.id, 1)

    assert count == 1
    assert states == {1: jn.QUEUED, 2: jn.SENT, 3: jn.UNKNOWN}
    assert first.attempts == 0
    assert first.finished_at is None
