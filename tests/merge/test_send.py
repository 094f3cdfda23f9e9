"""Sending merges to a real aiosmtpd on 127.0.0.1: content, retries, slow-downs, bounces, unknown outcomes, control."""

from __future__ import annotations

import re
import threading
import time

import pytest

from desktop.merge import journal as jn
from desktop.merge.rate import Rate
from desktop.merge.render import open_merge
from desktop.merge.sender import MergeSend, SendOptions, classify_reply
from desktop.merge.suppress import SuppressionList
from desktop.paths import default_profile
from desktop.send import SmtpSender
from tests.merge.send_helpers import (
    ScriptedServer,
    add_smtp_account,
    address,
    message_shape,
    parsed,
    received_counts,
    write_merge,
)

# aiosmtpd warns when a server requires AUTH without TLS, which the login failure test needs on loopback.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

FAST = {"backoff_seconds": 0.05, "backoff_max_seconds": 0.2, "slow_hold_seconds": 0.1, "timeout": 10.0}


@pytest.fixture
def smtp():
    with SmtpSender() as sender:
        yield sender


def start(tmp_path, count: int, **option_values: object):
    """Open a merge of ``count`` rows and record it in the journal; return (merge, journal file, merge id)."""
    profile = default_profile().ensure()
    template, data = write_merge(tmp_path / "merge", count, attach_every=3)
    merge = open_merge(template, data, profile=profile)
    journal_file = jn.journal_path(profile.data_dir)
    kind = jn.KIND_TEST if option_values.get("test_to") else jn.KIND_SEND
    with jn.Journal(journal_file) as journal:
        total = min(count, option_values.get("test_count", 3)) if kind == jn.KIND_TEST else count
        record = journal.create_merge(kind=kind, merge_key=merge.merge_key, template=str(template), data=str(data),
                                      account="work", options={}, total=total)
    return merge, journal_file, record.id


def send_all(account, merge, journal_file, merge_id, smtp, **option_values: object):
    options = SendOptions(**{**FAST, **option_values})
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id, options=options,
                     smtp=smtp, suppression=SuppressionList(default_profile()))
    progress = list(send.run())
    return send, progress


def rows_by_address(journal_file, merge_id) -> dict[str, jn.RecipientRecord]:
    with jn.Journal(journal_file) as journal:
        return {row.address: row for row in journal.recipients(merge_id)}


def send_interval(rows: dict[str, jn.RecipientRecord], first: int, second: int) -> float:
    return rows[address(second)].started_at - rows[address(first)].started_at


def test_received_messages_equal_previews(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 7)

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=3)

    assert progress[-1].state == "finished"
    assert progress[-1].sent == 7
    received = {item.rcpt_tos[0]: item for item in server.received}
    assert sorted(received) == sorted(address(number) for number in range(1, 8))
    rows = rows_by_address(journal_file, merge_id)
    for number in range(1, 8):
        message = parsed(received[address(number)].data)
        preview = merge.render(number).message
        assert message_shape(message) == message_shape(preview)
        assert message["Message-ID"] == rows[address(number)].message_id
        assert message["Date"] == rows[address(number)].date
        assert received[address(number)].mail_from == "ana@example.com"
    with_file = parsed(received[address(6)].data)
    assert [part.get_filename() for part in with_file.iter_attachments()] == ["sheet-6.txt"]
    assert len({row.message_id for row in rows.values()}) == 7


def test_retries_then_states(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 6)
    server.script(address(2), "rcpt", ["451 4.3.0 Mailbox busy, try later", "450 4.2.1 Mailbox busy"])
    server.script(address(3), "data", ["451 4.3.0 Local problem"])
    server.script(address(4), "rcpt", ["550 5.1.1 No such user here"])
    server.script(address(5), "rcpt", ["554 5.7.1 Message refused by policy"])
    server.script(address(6), "rcpt", ["452 4.3.1 Insufficient storage"] * 5)

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=2, max_attempts=4)

    rows = rows_by_address(journal_file, merge_id)
    assert (rows[address(1)].state, rows[address(1)].attempts) == ("sent", 1)
    assert (rows[address(2)].state, rows[address(2)].attempts) == ("sent", 3)
    assert (rows[address(3)].state, rows[address(3)].attempts) == ("sent", 2)
    assert (rows[address(4)].state, rows[address(4)].attempts) == ("failed", 1)
    assert rows[address(4)].reply == "550 5.1.1 No such user here"
    assert (rows[address(5)].state, rows[address(5)].attempts) == ("failed", 1)
    assert rows[address(5)].reply == "554 5.7.1 Message refused by policy"
    assert (rows[address(6)].state, rows[address(6)].attempts) == ("failed", 4)
    assert rows[address(6)].reply.startswith("452 4.3.1")
    counts = received_counts(server)
    assert counts == {address(1): 1, address(2): 1, address(3): 1}
    assert progress[-1].state == "finished"
    assert (progress[-1].sent, progress[-1].failed) == (3, 3)


def test_hard_bounce_suppresses_address(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 3)
    server.script(address(2), "rcpt", ["550 5.1.1 <user2@example.org>: Recipient address rejected: User unknown"])

    send_all(account, merge, journal_file, merge_id, smtp)

    suppression = SuppressionList(default_profile())
    assert suppression.contains(address(2))
    assert not suppression.contains(address(1))
    assert not suppression.contains(address(3))


def test_too_many_slows_whole_send(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 6)
    server.script(address(2), "rcpt", ["421 4.7.0 Too many messages, slow down"])
    server.script(address(3), "data", ["451 4.7.1 Rate limit exceeded, try again later"])

    send, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=1, max_attempts=1,
                              slow_hold_seconds=0.3, rate=Rate(per_minute=6000))

    rows = rows_by_address(journal_file, merge_id)
    assert all(row.state == "sent" for row in rows.values()), (progress[-1], {row.row: row.state for row in rows.values()})
    # With max_attempts=1 a plain 4xx would fail the row; throttled tries do not count against it.
    assert rows[address(2)].attempts == 2
    assert rows[address(3)].attempts == 2
    with jn.Journal(journal_file) as journal:
        slowdowns = [event for event in journal.events(merge_id) if event[1] == "slow_down"]
    assert len(slowdowns) == 2
    assert "421 4.7.0" in slowdowns[0][2]
    assert "row 2" in slowdowns[0][2]
    # After a slow-down the next message waits at least the hold time.
    assert rows[address(2)].started_at - slowdowns[0][0] >= 0.25
    # The spacing of 10 ms doubles at each slow-down: two slow-downs leave 40 ms between messages.
    assert send_interval(rows, 5, 6) >= 0.035
    assert received_counts(server) == {address(number): 1 for number in range(1, 7)}
    assert "more slowly" in progress[-1].note or progress[-1].state == "finished"


def test_repeated_too_many_stops_send(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 4)
    server.script(address(1), "rcpt", ["421 4.7.0 Too many messages"] * 10)

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=1, max_slowdowns=3,
                           slow_hold_seconds=0.05, rate=Rate(per_minute=6000))

    final = progress[-1]
    assert final.state == "stopped"
    assert "3 times in a row" in final.note
    rows = rows_by_address(journal_file, merge_id)
    assert rows[address(1)].state == "queued"
    assert received_counts(server)[address(1)] == 0


def test_quota_reply_stops_and_keeps_row(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 5)
    server.script(address(3), "data", ["550 5.4.5 Daily user sending quota exceeded"])

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=1)

    assert progress[-1].state == "stopped"
    assert "quota" in progress[-1].note
    rows = rows_by_address(journal_file, merge_id)
    assert rows[address(3)].state == "queued"
    assert address(5) not in rows or rows[address(5)].state == "queued"
    assert received_counts(server)[address(3)] == 0


def test_drop_after_data_is_unknown(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 4)
    server.drop_after_data(address(2))

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=1)

    rows = rows_by_address(journal_file, merge_id)
    assert rows[address(2)].state == "unknown"
    assert rows[address(2)].attempts == 1
    assert "no reply after the message data" in rows[address(2)].reply
    assert [rows[address(number)].state for number in (1, 3, 4)] == ["sent"] * 3
    assert received_counts(server) == {address(number): 1 for number in range(1, 5)}
    assert progress[-1].unknown == 1


def test_cancel_then_resume_sends_rest_once(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 30)
    options = dict(connections=2, rate=Rate(per_minute=600))
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                     options=SendOptions(**{**FAST, **options}), smtp=smtp)

    states = []
    for progress in send.run():
        states.append(progress.state)
        if progress.sent >= 5 and not send._cancelled.is_set():
            threading.Thread(target=send.cancel).start()
    assert states[-1] == "stopped"
    first_run = len(server.received)
    assert 5 <= first_run < 30

    send_all(account, merge, journal_file, merge_id, smtp, connections=4)

    assert received_counts(server) == {address(number): 1 for number in range(1, 31)}
    with jn.Journal(journal_file) as journal:
        assert journal.merge(merge_id).state == "finished"
        assert journal.counts(merge_id)["sent"] == 30


def test_pause_holds_and_resume_continues(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 6)
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                     options=SendOptions(**FAST), smtp=smtp)
    send.pause()

    paused_counts = []
    deadline = time.monotonic() + 30
    for progress in send.run():
        assert time.monotonic() < deadline
        if progress.state == "paused":
            paused_counts.append(progress.sent)
            if len(paused_counts) >= 4:
                send.resume()

    assert paused_counts[:4] == [0, 0, 0, 0]
    assert progress.state == "finished"
    assert len(server.received) == 6


def test_test_send_marks_and_redirects(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 5, test_to="me@example.com", test_count=2)

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, test_to="me@example.com", test_count=2)

    assert progress[-1].state == "finished"
    assert [item.rcpt_tos for item in server.received] == [("me@example.com",), ("me@example.com",)]
    subjects = sorted(str(parsed(item.data)["Subject"]) for item in server.received)
    assert subjects == ["[TEST] Your results, User 1", "[TEST] Your results, User 2"]
    marks = sorted(str(parsed(item.data)["X-Sluice-Merge-Test"]) for item in server.received)
    assert marks == [f"row 1, for {address(1)}", f"row 2, for {address(2)}"]
    with jn.Journal(journal_file) as journal:
        assert journal.merge(merge_id).kind == "test"
        assert journal.merges_with_key(merge.merge_key) == []


def test_auth_failure_stops_without_failing_rows(tmp_path, smtp):
    with ScriptedServer(user="ana", password="right-password") as server:
        account = add_smtp_account(server, password_command="echo wrong-password")
        merge, journal_file, merge_id = start(tmp_path, 3)

        _, progress = send_all(account, merge, journal_file, merge_id, smtp)

    assert progress[-1].state == "stopped"
    assert "rejected the login" in progress[-1].note
    with jn.Journal(journal_file) as journal:
        assert journal.counts(merge_id)["failed"] == 0
        assert journal.counts(merge_id)["sent"] == 0


@pytest.mark.parametrize(("code", "text", "outcome"), [
    (250, "2.0.0 Ok", "sent"),
    (421, "4.7.0 Try again later, closing connection.", "slow"),
    (450, "4.7.28 Unusual rate of unsolicited mail", "slow"),
    (451, "4.3.0 Temporary lookup failure", "retry"),
    (421, "4.4.2 Connection dropped", "retry"),
    (550, "5.1.1 The email account that you tried to reach does not exist", "bounce"),
    (550, "5.4.5 Daily user sending quota exceeded.", "quota"),
    (554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", "quota"),
    (550, "5.7.1 Too many messages sent, rate limit", "slow"),
    (554, "5.7.1 Relay access denied", "failed"),
    (552, "5.3.4 Message size exceeds fixed limit", "failed"),
])
def test_reply_classification(code, text, outcome):
    assert classify_reply(code, text) == outcome


def test_connection_limit_keeps_open_ones(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 12)
    greetings = []

    async def handle_ehlo(smtp_server, session, envelope, hostname, responses):  # noqa: ANN001 - aiosmtpd hook
        greetings.append(hostname)
        if len(greetings) > 2:
            return ["421 4.7.0 Too many connections from your host"]
        session.host_name = hostname
        return responses

    server.handler.handle_EHLO = handle_ehlo

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=4)

    assert progress[-1].state == "finished"
    assert received_counts(server) == {address(number): 1 for number in range(1, 13)}
    assert len(greetings) >= 4


def test_rejected_sender_stops_without_failing_rows(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 5)
    server.reply_to_sender("ana@example.com", "553 5.7.1 Sender address rejected: not owned by user")

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=2)

    assert progress[-1].state == "stopped"
    assert "rejected the sender ana@example.com" in progress[-1].note
    with jn.Journal(journal_file) as journal:
        counts = journal.counts(merge_id)
    assert counts["failed"] == 0
    assert counts["sent"] == 0
    assert server.received == []


def same_but_boundaries(first: bytes, second: bytes) -> bool:
    pattern = re.compile(rb'boundary="([^"]+)"')
    for found, other in zip(pattern.findall(first), pattern.findall(second)):
        second = second.replace(other, found)
    return first == second


def test_lines_starting_with_a_dot_arrive_whole(tmp_path, server, smtp):
    account = add_smtp_account(server)
    folder = tmp_path / "dots"
    folder.mkdir()
    template = folder / "dots.md"
    # A line that is only "." would end the message data early unless it is doubled on the wire.
    template.write_text("From: Ana <ana@example.com>\nTo: {{ email }}\nSubject: Dots\n\n"
                        "First line\n.\n.hidden {{ code }}\n..two dots\nLast line\n", encoding="utf-8")
    data = folder / "people.csv"
    data.write_text("email,code\n" + "".join(f"{address(n)},C{n}\n" for n in (1, 2, 3)), encoding="utf-8")
    profile = default_profile().ensure()
    merge = open_merge(template, data, profile=profile)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as journal:
        merge_id = journal.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template),
                                        data=str(data), account="work", options={}, total=3).id

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=2)

    assert progress[-1].sent == 3
    rows = rows_by_address(journal_file, merge_id)
    received = {item.rcpt_tos[0]: item.data for item in server.received}
    for number in (1, 2, 3):
        row = rows[address(number)]
        expected = merge.render(number).as_bytes(row.message_id, row.date)
        # Each rendering draws new MIME boundaries; apart from them the bytes are the same.
        assert same_but_boundaries(received[address(number)], expected)
        assert f"\r\nFirst line\r\n.\r\n.hidden C{number}\r\n..two dots\r\n".encode() in received[address(number)]


def test_cancel_leaves_no_row_claimed(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 300)
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                     options=SendOptions(**{**FAST, "connections": 4}), smtp=smtp)

    for progress in send.run():
        if progress.sent >= 20 and not send._cancelled.is_set():
            send.cancel()
    assert progress.state == "stopped"

    rows = rows_by_address(journal_file, merge_id)
    counts = received_counts(server)
    assert {row.state for row in rows.values()} <= {"sent", "queued"}
    assert {name for name, row in rows.items() if row.state == "sent"} == set(counts)
    assert all(count == 1 for count in counts.values())
    for row in rows.values():
        if row.state == "queued":
            assert (row.attempts, row.message_id) == (0, ""), row
    send_all(account, merge, journal_file, merge_id, smtp, connections=4)
    assert received_counts(server) == {address(number): 1 for number in range(1, 301)}


def test_rate_limit_claims_no_row_ahead(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 8)
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                     options=SendOptions(**{**FAST, "connections": 2, "rate": Rate(per_minute=300)}), smtp=smtp)

    max_sending = 0
    with jn.Journal(journal_file) as reader:
        for progress in send.run():
            max_sending = max(max_sending, reader.counts(merge_id)["sending"])
    assert progress.sent == 8
    # One message every 0.2 s: a row is claimed when the limiter lets it go, not seconds ahead.
    assert max_sending <= 1
    rows = rows_by_address(journal_file, merge_id)
    assert all(row.finished_at - row.started_at < 0.19 for row in rows.values()), sorted(round(row.finished_at - row.started_at, 3) for row in rows.values())
