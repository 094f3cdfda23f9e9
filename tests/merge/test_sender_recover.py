"""Recovering rows left in ``sending`` with the send's wire log: never sent, sent, unknown, and logs not trusted."""

from __future__ import annotations

import fcntl

import pytest

from desktop.merge import journal as jn
from desktop.merge.render import open_merge
from desktop.merge.sender import MergeSend, SendOptions
from desktop.paths import default_profile
from desktop.send import SmtpSender
from tests.merge.send_helpers import add_smtp_account, write_merge

pytestmark = pytest.mark.skipif(not jn.boot_id(), reason="needs /proc/sys/kernel/random/boot_id")


@pytest.fixture
def journal(tmp_path):
    with jn.Journal(tmp_path / jn.JOURNAL_NAME) as opened:
        yield opened


def claim_four(journal: jn.Journal) -> str:
    """Record a merge of four rows and claim them all, as a send does before the messages go out."""
    merge_id = journal.create_merge(kind=jn.KIND_SEND, merge_key="k", template="/t.md", data="/d.csv",
                                    account="work", options={}, total=4).id
    journal.claim(merge_id, [(row, f"{row}:k", f"u{row}@example.org", f"<m{row}@x>", "date") for row in range(1, 5)])
    return merge_id


def write_log(journal: jn.Journal, merge_id: str, boot: str, lines: list[str]) -> None:
    path = jn.wire_log_path(journal.path, merge_id)
    path.write_text("".join(f"{line}\n" for line in [f"boot\t{boot}", *lines]), encoding="utf-8")


def states(journal: jn.Journal, merge_id: str) -> list[str]:
    return [row.state for row in journal.recipients(merge_id)]


def test_same_boot_log_settles_each_row(journal):
    merge_id = claim_four(journal)
    log = jn.WireLog(jn.wire_log_path(journal.path, merge_id))
    log.data_going_out(1)
    log.data_going_out(2)
    log.outcome(2, jn.SENT, "250 2.0.0 Ok:\tqueued")
    log.data_going_out(3)
    log.outcome(3, jn.QUEUED, "451 4.3.0 Try later")
    log.close(remove=False)

    recovered = journal.recover(merge_id)

    assert [row.row for row in recovered] == [1]
    assert states(journal, merge_id) == ["unknown", "sent", "queued", "queued"]
    assert journal.recipient(merge_id, 2).reply == "250 2.0.0 Ok: queued"
    assert journal.recipient(merge_id, 2).finished_at is not None
    assert journal.recipient(merge_id, 3).attempts == 1
    assert (journal.recipient(merge_id, 4).attempts, journal.recipient(merge_id, 4).message_id) == (0, "")
    assert not jn.wire_log_path(journal.path, merge_id).exists()


def test_unknown_outcome_keeps_its_reply(journal):
    merge_id = claim_four(journal)
    write_log(journal, merge_id, jn.boot_id(), ["data\t1", "done\t1\tunknown\t1.5\tno reply after the message data"])

    recovered = journal.recover(merge_id)

    assert [row.row for row in recovered] == [1]
    assert journal.recipient(merge_id, 1).reply == "no reply after the message data"
    assert states(journal, merge_id) == ["unknown", "queued", "queued", "queued"]


def test_other_boot_makes_all_unknown(journal):
    merge_id = claim_four(journal)
    write_log(journal, merge_id, "00000000-0000-0000-0000-000000000000", ["data\t1"])

    recovered = journal.recover(merge_id)

    assert [row.row for row in recovered] == [1, 2, 3, 4]
    assert states(journal, merge_id) == ["unknown"] * 4
    assert not jn.wire_log_path(journal.path, merge_id).exists()


def test_missing_log_makes_all_unknown(journal):
    merge_id = claim_four(journal)

    recovered = journal.recover(merge_id)

    assert len(recovered) == 4
    assert states(journal, merge_id) == ["unknown"] * 4


def test_damaged_log_makes_all_unknown(journal):
    merge_id = claim_four(journal)
    write_log(journal, merge_id, jn.boot_id(), ["data\t1", "data\tx2"])

    recovered = journal.recover(merge_id)

    assert len(recovered) == 4
    assert states(journal, merge_id) == ["unknown"] * 4


def test_locked_merge_is_left_alone(journal):
    merge_id = claim_four(journal)
    write_log(journal, merge_id, jn.boot_id(), [])
    lock_path = jn.MergeLock(journal.path, merge_id).path
    with open(lock_path, "a+") as held:
        # Another open file description holding the flock, as a sending process would.
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)

        recovered = journal.recover(merge_id)

    assert recovered == []
    assert states(journal, merge_id) == ["sending"] * 4
    assert jn.wire_log_path(journal.path, merge_id).exists()


def test_finished_send_removes_log(tmp_path, server):
    account = add_smtp_account(server)
    profile = default_profile().ensure()
    template, data = write_merge(tmp_path / "merge", 5)
    merge = open_merge(template, data, profile=profile)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as opened:
        merge_id = opened.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template),
                                       data=str(data), account="work", options={}, total=5).id
    options = SendOptions(connections=2, sent_copies=False, timeout=10)

    with SmtpSender() as smtp:
        progress = list(MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                                  options=options, smtp=smtp).run())

    assert progress[-1].sent == 5
    assert not jn.wire_log_path(journal_file, merge_id).exists()
