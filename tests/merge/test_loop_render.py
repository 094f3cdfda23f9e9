"""Rendering merge messages on the sending loop, as a user meets it: control, row errors, retries, limits, copies.

The sender renders the rows on its loop thread, a bounded number ahead of the claims. It renders them in a separate
process only when ``SendOptions.render_process`` requests it, as the window does for large sends. These tests drive
``MergeSend`` and ``sluice merge send`` against a real aiosmtpd on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.merge import journal as jn
from desktop.merge.errors import RowError
from desktop.merge.mime import multipart
from desktop.merge.rate import Rate
from desktop.merge.render import open_merge
from desktop.merge.sender import (
    RENDER_PROCESS_MIN_ROWS,
    MergeSend,
    SendOptions,
    _dot_stuffed,
    _unstuffed,
    _Watchdog,
)
from desktop.merge.suppress import SuppressionList
from desktop.paths import default_profile
from tests.helpers.smtp_server import SmtpServer
from tests.merge.merge_samples import write_csv
from tests.merge.send_helpers import (
    ACCOUNT,
    add_smtp_account,
    address,
    parsed,
    received_counts,
    run,
    write_merge,
)
from tests.merge.test_send import FAST, smtp, start  # noqa: F401 - smtp is a fixture

# Each message takes the server this long, as a remote relay would, so the renderer gets ahead of the sending.
SLOW_DELIVERY_SECONDS = 0.02
# Slots for rendered messages (``_Slots``) with one connection: 4 per connection plus the claim look-ahead of 64.
ONE_CONNECTION_CAPACITY = 4 + 64

DOTS_TEMPLATE = """\
From: Ana <ana@example.com>
To: {{ email }}
Subject: Dots {{ code }}
Merge-Attach-Column: attachment

First line
.
.hidden {{ code }}
..two dots
{{ note }}
Last line
"""


def open_recorded(folder, template_text: str, lines: list[str], *, kind: str = jn.KIND_SEND, total: int = 0):
    """Write a template and CSV ``lines`` into ``folder``, open them and record a merge.

    Returns the merge, the journal file and the merge id.
    """
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "letter.md"
    template.write_text(template_text, encoding="utf-8")
    data = folder / "people.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profile = default_profile().ensure()
    merge = open_merge(template, data, profile=profile)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as journal:
        record = journal.create_merge(kind=kind, merge_key=merge.merge_key, template=str(template), data=str(data),
                                      account=ACCOUNT, options={}, total=total or len(lines) - 1)
    return merge, journal_file, record.id


def dots_merge(folder, count: int, **record_options):
    """Open a merge whose bodies have lines of one dot, lines starting with dots, 7bit and quoted-printable text."""
    lines = ["email,code,note,attachment"]
    for number in range(1, count + 1):
        # Even rows bring non-ASCII text, so their parts are quoted-printable. Every note contains a line of one dot.
        note = '"Grüße\n.\nnach dem Punkt"' if number % 2 == 0 else '"plain\n.\n..after"'
        attachment = ""
        if number % 3 == 0:
            attachment = f"files/sheet-{number}.txt"
            (folder / "files").mkdir(parents=True, exist_ok=True)
            (folder / attachment).write_text(f".sheet {number}\n.\n", encoding="utf-8")
        lines.append(f"{address(number)},C{number},{note},{attachment}")
    return open_recorded(folder, DOTS_TEMPLATE, lines, **record_options)


def new_send(account, merge, journal_file, merge_id, smtp, **option_values: object) -> MergeSend:
    return MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                     options=SendOptions(**{**FAST, **option_values}), smtp=smtp,
                     suppression=SuppressionList(default_profile()))


def run_in_thread(send: MergeSend) -> tuple[threading.Thread, list]:
    """Start ``send.run()`` in a thread. Return the thread and the list that collects its progress snapshots."""
    seen: list = []
    thread = threading.Thread(target=lambda: seen.extend(send.run()), name="test-merge-send")
    thread.start()
    return thread, seen


def rows_of(journal_file, merge_id) -> dict[int, jn.RecipientRecord]:
    with jn.Journal(journal_file) as journal:
        return {row.row: row for row in journal.recipients(merge_id)}


def count_greetings(server: SmtpServer) -> list[str]:
    """Record the EHLO of every connection the server gets, in the returned list."""
    greetings: list[str] = []

    async def handle_ehlo(smtp_server, session, envelope, hostname, responses):  # noqa: ANN001 - aiosmtpd hook
        greetings.append(hostname)
        session.host_name = hostname
        return responses

    server.handler.handle_EHLO = handle_ehlo
    return greetings


def assert_stopped_cleanly(journal_file, merge_id, server: SmtpServer) -> None:
    """Check that no row stays claimed and the journal's sent rows are exactly the ones the server got, once."""
    rows = rows_of(journal_file, merge_id)
    counts = received_counts(server)
    assert {row.state for row in rows.values()} <= {jn.SENT, jn.QUEUED}
    assert {row.address for row in rows.values() if row.state == jn.SENT} == set(counts)
    assert all(count == 1 for count in counts.values())
    for row in rows.values():
        if row.state == jn.QUEUED:
            assert (row.attempts, row.message_id) == (0, ""), row


# --- Sent copies --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["loop", "process", "test"])
def test_sent_copies_match_received_bytes(tmp_path, server, smtp, mode):
    account = add_smtp_account(server)
    test_to = "me@example.com" if mode == "test" else ""
    kind = jn.KIND_TEST if test_to else jn.KIND_SEND
    merge, journal_file, merge_id = dots_merge(tmp_path / "m", 9, kind=kind, total=3 if test_to else 0)
    copies: list[tuple[int, bytes]] = []
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                     options=SendOptions(**FAST, connections=3, copy_batch=4, render_process=mode == "process",
                                         test_to=test_to),
                     smtp=smtp, store_copies=copies.extend)

    final = list(send.run())[-1]

    assert final.state == jn.FINISHED
    assert final.sent == (3 if test_to else 9)
    received_by_id = {str(parsed(item.data)["Message-ID"]): item.data for item in server.received}
    copies_by_id = {str(parsed(data)["Message-ID"]): data for _, data in copies}
    assert len(received_by_id) == final.sent
    assert copies_by_id.keys() == received_by_id.keys()
    for message_id, data in received_by_id.items():
        assert copies_by_id[message_id] == data, message_id
    rows = rows_of(journal_file, merge_id)
    assert sorted(row for row, _ in copies) == sorted(number for number, row in rows.items() if row.state == jn.SENT)
    # The bodies reached the server whole: a line of one dot did not end the data early.
    for data in received_by_id.values():
        message = parsed(data)
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert "First line\n.\n.hidden C" in text
        assert text.rstrip("\n").endswith("Last line")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\n", b"\r", b"a", b" "]),
                                          max_size=40).map(b"".join))
def test_unstuffed_inverts_dot_stuffing(data):
    payload = _dot_stuffed(data)
    expected = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert payload.endswith(b"\r\n.\r\n")
    assert b"\r\n.\r\n" not in b"\r\n" + payload[:-3]
    assert _unstuffed(payload) == expected
    assert _dot_stuffed(expected, crlf=True) == payload


# Text a data value may bring: line breaks of every kind, dots at line starts, controls, non-ASCII letters.
_AWKWARD_TEXT = st.lists(st.sampled_from(list("ab .\r\n\t\x0b\x0c\x1c\x1e\x85\u2028é€") + ["..", "\r\n."]),
                         max_size=30).map("".join)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_AWKWARD_TEXT, _AWKWARD_TEXT), min_size=1, max_size=6))
def test_rendered_rows_need_no_line_end_scan(tmp_path_factory, values):
    # The sender skips the line-end scan of _dot_stuffed for rendered messages (crlf=True), which is only right
    # while every line a row renders to ends in CRLF, whatever the data holds.
    folder = tmp_path_factory.mktemp("awkward")
    template = folder / "letter.md"
    template.write_text("From: Ana <ana@example.com>\nTo: {{ name }} <{{ email }}>\nSubject: For {{ name }}\n\n"
                        "Hello {{ name }},\n\n{{ note }}\n.\n{{ note }}\n", encoding="utf-8")
    rows = [[name, f"user{number}@example.org", note] for number, (name, note) in enumerate(values, 1)]
    data = write_csv(folder / "people.csv", ["name", "email", "note"], rows)
    merge = open_merge(template, data, profile=None)
    rendered = 0
    for row in merge.rows:
        try:
            raw = merge.render(row).as_bytes("<id@example.com>", "Sat, 05 Dec 2026 09:00:00 +0000")
        except RowError:
            continue  # a line break in a header value is a row error, reported by the check
        rendered += 1
        assert raw.count(b"\n") == raw.count(b"\r\n"), raw
        assert raw.count(b"\r") == raw.count(b"\r\n"), raw
        assert _dot_stuffed(raw, crlf=True) == _dot_stuffed(raw)
        assert _unstuffed(_dot_stuffed(raw, crlf=True)) == raw
    names_without_breaks = sum(1 for name, _ in values if not any(mark in name for mark in "\r\n"))
    assert rendered == names_without_breaks


def test_boundary_avoids_text_of_parts():
    # Boundaries come from the random module's generator. A boundary that the parts contain must be drawn again.
    state = random.getstate()
    try:
        random.seed(7)
        first = f"=_{random.getrandbits(96):024x}"
        random.seed(7)
        headers, body = multipart("mixed", [('Content-Type: text/plain; charset="utf-8"\r\n', f"see {first}\r\n")])
    finally:
        random.setstate(state)
    boundary = re.search(r'boundary="([^"]+)"', headers).group(1)
    assert boundary != first
    assert body.count(f"--{boundary}") == 2
    message = parsed((headers + "\r\n" + body).encode("ascii"))
    assert [part.get_content() for part in message.iter_parts()] == [f"see {first}\r\n"]


# --- cancel and pause while the renderer waits for room --------------------------------------------------------

def test_cancel_while_renderer_waits_for_room(tmp_path, server, smtp):
    server.deliver_with(lambda item: time.sleep(SLOW_DELIVERY_SECONDS))
    account = add_smtp_account(server)
    count = 3 * ONE_CONNECTION_CAPACITY
    merge, journal_file, merge_id = start(tmp_path, count)
    send = new_send(account, merge, journal_file, merge_id, smtp, connections=1)
    thread, seen = run_in_thread(send)
    server.wait_for(5, timeout=30)
    # Every slot for rendered messages is taken, so the renderer on the loop waits for the claims to free some.
    assert send._state.outstanding >= ONE_CONNECTION_CAPACITY - 5

    cancelled_at = time.monotonic()
    send.cancel()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 3
    final = seen[-1]
    assert final.state == jn.STOPPED
    assert final.note == "cancelled by the user"
    assert 5 <= final.sent < count
    assert final.sent == len(server.received)
    assert_stopped_cleanly(journal_file, merge_id, server)

    final = list(new_send(account, merge, journal_file, merge_id, smtp, connections=4).run())[-1]

    assert final.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}


def test_pause_holds_renderer_then_cancel(tmp_path, server, smtp):
    server.deliver_with(lambda item: time.sleep(SLOW_DELIVERY_SECONDS))
    account = add_smtp_account(server)
    count = 2 * ONE_CONNECTION_CAPACITY
    merge, journal_file, merge_id = start(tmp_path, count)
    send = new_send(account, merge, journal_file, merge_id, smtp, connections=1)
    thread, seen = run_in_thread(send)
    server.wait_for(5, timeout=30)

    send.pause()
    time.sleep(0.5)  # the message in flight when the pause came arrives meanwhile
    sent_before_pause = len(server.received)
    time.sleep(1.0)  # the waiting renderer looks for free slots every 0.2 s, so five times meanwhile

    assert len(server.received) == sent_before_pause
    assert seen[-1].state == "paused"
    assert sent_before_pause < count
    cancelled_at = time.monotonic()
    send.cancel()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 3
    assert seen[-1].state == jn.STOPPED
    assert seen[-1].sent == sent_before_pause
    assert_stopped_cleanly(journal_file, merge_id, server)

    final = list(new_send(account, merge, journal_file, merge_id, smtp, connections=2).run())[-1]

    assert final.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}


def test_cancel_before_run_sends_nothing(tmp_path, server, smtp):
    account = add_smtp_account(server)
    greetings = count_greetings(server)
    merge, journal_file, merge_id = start(tmp_path, 20)
    send = new_send(account, merge, journal_file, merge_id, smtp, connections=4)
    send.cancel()

    final = list(send.run())[-1]

    assert final.state == jn.STOPPED
    assert (final.sent, final.remaining) == (0, 20)
    assert server.received == []
    assert greetings == []
    assert {row.state for row in rows_of(journal_file, merge_id).values()} <= {jn.QUEUED}


# --- a row that cannot be rendered -----------------------------------------------------------------------------

@pytest.mark.parametrize("render_process", [False, True])
def test_row_error_skips_only_that_row(tmp_path, server, smtp, render_process):
    server.deliver_with(lambda item: time.sleep(0.005))
    account = add_smtp_account(server)
    count = 2 * ONE_CONNECTION_CAPACITY
    bad = count - 10  # rendered while the renderer waits for room, long after the send started
    template = ("From: Ana <ana@example.com>\nTo: {{ email }}\nSubject: Share {{ code }}\n\n"
                "Your share is {{ 100 // parts|int }}.\n")
    lines = ["email,code,parts"] + [f"{address(n)},C{n},{0 if n == bad else 4}" for n in range(1, count + 1)]
    merge, journal_file, merge_id = open_recorded(tmp_path / "m", template, lines)

    send = new_send(account, merge, journal_file, merge_id, smtp, connections=1, render_process=render_process)
    final = list(send.run())[-1]

    assert final.state == jn.FINISHED
    assert (final.sent, final.skipped) == (count - 1, 1)
    rows = rows_of(journal_file, merge_id)
    assert rows[bad].state == jn.SKIPPED
    assert "ZeroDivisionError" in rows[bad].reply
    expected = {address(number): 1 for number in range(1, count + 1) if number != bad}
    assert received_counts(server) == expected


def test_missing_attachment_skips_its_row(tmp_path, server, smtp):
    account = add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 12, attach_every=4)
    (tmp_path / "m" / "files" / "sheet-8.txt").unlink()
    profile = default_profile().ensure()
    merge = open_merge(template, data, profile=profile)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as journal:
        merge_id = journal.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template),
                                        data=str(data), account=ACCOUNT, options={}, total=12).id

    final = list(new_send(account, merge, journal_file, merge_id, smtp, connections=2).run())[-1]

    assert final.state == jn.FINISHED
    assert (final.sent, final.skipped) == (11, 1)
    rows = rows_of(journal_file, merge_id)
    assert rows[8].state == jn.SKIPPED
    assert "attachment not found: files/sheet-8.txt" in rows[8].reply
    assert received_counts(server) == {address(number): 1 for number in range(1, 13) if number != 8}


def test_removed_attachment_stops_send(tmp_path, server, smtp):
    server.deliver_with(lambda item: time.sleep(SLOW_DELIVERY_SECONDS))
    account = add_smtp_account(server)
    count = 3 * ONE_CONNECTION_CAPACITY
    # A row with a file (start() attaches one to every third row) far past the first slots, so it is rendered
    # after the removal.
    late = 2 * ONE_CONNECTION_CAPACITY - 1
    merge, journal_file, merge_id = start(tmp_path, count)
    sheet = tmp_path / "merge" / "files" / f"sheet-{late}.txt"
    content = sheet.read_bytes()
    send = new_send(account, merge, journal_file, merge_id, smtp, connections=1)
    thread, seen = run_in_thread(send)
    server.wait_for(3, timeout=30)

    sheet.unlink()
    thread.join(timeout=60)

    assert not thread.is_alive()
    final = seen[-1]
    assert final.state == jn.STOPPED
    assert str(sheet) in final.note
    assert final.sent < late
    assert address(late) not in received_counts(server)
    assert_stopped_cleanly(journal_file, merge_id, server)

    sheet.write_bytes(content)
    final = list(new_send(account, merge, journal_file, merge_id, smtp, connections=4).run())[-1]

    assert final.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}


def test_data_edited_in_place_stops_send(tmp_path, server, smtp):
    holding, edited = threading.Event(), threading.Event()

    def deliver(item) -> None:  # noqa: ANN001 - a Received
        holding.set()
        edited.wait(10)

    server.deliver_with(deliver)
    account = add_smtp_account(server)
    count = 600  # more rows than the reader's buffer holds, but fewer than the 1,000 between checks
    merge, journal_file, merge_id = start(tmp_path, count)
    data = merge.table.path
    send = new_send(account, merge, journal_file, merge_id, smtp, connections=1)
    thread, seen = run_in_thread(send)
    assert holding.wait(30)

    # The first message waits for its reply, and the renderer on the loop is a few dozen rows ahead.
    data.write_bytes(data.read_bytes().replace(b"C0500", b"X0500"))
    edited.set()
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert all(b"X0500" not in item.data for item in server.received)
    assert seen[-1].state == jn.STOPPED
    assert "changed after the merge was opened" in seen[-1].note


# --- test sends, limits, retries, connections ------------------------------------------------------------------

@pytest.mark.parametrize("render_process", [None, True])
def test_test_send_sends_only_count(tmp_path, server, smtp, caplog, render_process):
    account = add_smtp_account(server)
    count = RENDER_PROCESS_MIN_ROWS + 10
    merge, journal_file, merge_id = start(tmp_path, count, test_to="me@example.com", test_count=4)

    with caplog.at_level("INFO", logger="desktop.merge.sender"):
        final = list(new_send(account, merge, journal_file, merge_id, smtp, connections=16, test_to="me@example.com",
                              test_count=4, render_process=render_process).run())[-1]

    # A test send's journal has only the rows to test, so chosen by size it renders on the loop.
    assert ("rendering in a separate process" in caplog.text) is bool(render_process)
    assert final.state == jn.FINISHED
    assert final.sent == 4
    assert [item.rcpt_tos for item in server.received] == [("me@example.com",)] * 4
    marks = sorted(str(parsed(item.data)["X-Sluice-Merge-Test"]) for item in server.received)
    assert marks == sorted(f"row {number}, for {address(number)}" for number in range(1, 5))


def test_retries_under_minute_limit_while_rendering(tmp_path, server, smtp):
    account = add_smtp_account(server)
    count = ONE_CONNECTION_CAPACITY + 12
    late = ONE_CONNECTION_CAPACITY + 6  # rendered only after the claims freed slots
    server.script(address(2), "rcpt", ["451 4.3.0 Mailbox busy, try later"])
    server.script(address(late), "data", ["451 4.3.0 Local problem"])
    merge, journal_file, merge_id = start(tmp_path, count)
    per_minute = 1500
    send = new_send(account, merge, journal_file, merge_id, smtp, connections=2, rate=Rate(per_minute=per_minute))

    started = time.monotonic()
    max_sending = 0
    with jn.Journal(journal_file) as reader:
        for progress in send.run():
            max_sending = max(max_sending, reader.counts(merge_id)["sending"])
    elapsed = time.monotonic() - started

    assert progress.state == jn.FINISHED
    assert progress.sent == count
    rows = rows_of(journal_file, merge_id)
    assert (rows[2].state, rows[2].attempts) == (jn.SENT, 2)
    assert (rows[late].state, rows[late].attempts) == (jn.SENT, 2)
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}
    # Each of the count + 2 tries waited for the limit, which claims one row at a time.
    assert max_sending <= 1
    assert elapsed >= (count + 1) * 60 / per_minute


@pytest.mark.parametrize(("connections", "count"), [(16, 3), (64, 1), (8, 8)])
def test_many_connections_few_rows(tmp_path, server, smtp, connections, count):
    account = add_smtp_account(server)
    greetings = count_greetings(server)
    merge, journal_file, merge_id = start(tmp_path, count)

    started = time.monotonic()
    final = list(new_send(account, merge, journal_file, merge_id, smtp, connections=connections).run())[-1]

    assert final.state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}
    # A connection opens for a message, so no more open than there are rows.
    assert 1 <= len(greetings) <= count
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("render_process", [False, True])
def test_nothing_left_finishes_without_connecting(tmp_path, server, smtp, render_process):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 6)
    first = list(new_send(account, merge, journal_file, merge_id, smtp).run())[-1]
    assert first.state == jn.FINISHED
    greetings = count_greetings(server)

    again = list(new_send(account, merge, journal_file, merge_id, smtp, connections=4,
                          render_process=render_process).run())

    assert again[-1].state == jn.FINISHED
    assert (again[-1].sent, again[-1].remaining) == (6, 0)
    assert greetings == []
    assert received_counts(server) == {address(number): 1 for number in range(1, 7)}
    with jn.Journal(journal_file) as journal:
        assert journal.merge(merge_id).state == jn.FINISHED


# --- a row that takes long to render ----------------------------------------------------------------------------

class SlowDataReplyServer(SmtpServer):
    """An aiosmtpd server that waits ``DATA_REPLY_SECONDS`` before its 354 reply to DATA, as a busy relay may."""

    DATA_REPLY_SECONDS = 0.1

    def __init__(self) -> None:
        super().__init__()
        handler, smtp_options = self.handler, self.controller.SMTP_kwargs
        self.controller.factory = lambda: _SlowDataSmtp(handler, **smtp_options)


class _SlowDataSmtp(SMTP):
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's command method
        await asyncio.sleep(SlowDataReplyServer.DATA_REPLY_SECONDS)
        await super().smtp_DATA(arg)


SPIN_TEMPLATE = """\
From: Ana <ana@example.com>
To: {{ email }}
Subject: Report {{ code }}

{% for i in range(spin|int) %}{% for j in range(spin|int) %}{% endfor %}{% endfor %}Your report {{ code }}.
"""


def spin_for(seconds: float, folder) -> int:
    """Return the ``spin`` value that makes SPIN_TEMPLATE take about ``seconds`` to render on this machine."""
    probe = 1500
    merge, _, _ = open_recorded(folder, SPIN_TEMPLATE, ["email,code,spin", f"{address(1)},C1,{probe}"])
    started = time.perf_counter()
    merge.render(1)
    elapsed = max(time.perf_counter() - started, 1e-3)
    return min(int(probe * math.sqrt(seconds / elapsed)) + 1, 100_000)


def test_slow_row_leaves_no_false_unknown(tmp_path, smtp):
    timeout = 1.0
    # One row takes three reply timeouts to render. The loop renders it while the connections wait for replies.
    spin = spin_for(3 * timeout, tmp_path / "probe")
    count = 200
    slow = 150
    lines = ["email,code,spin"] + [f"{address(n)},C{n},{spin if n == slow else 1}" for n in range(1, count + 1)]
    with SlowDataReplyServer() as server:
        account = add_smtp_account(server)
        merge, journal_file, merge_id = open_recorded(tmp_path / "m", SPIN_TEMPLATE, lines)

        final = list(new_send(account, merge, journal_file, merge_id, smtp, connections=4, timeout=timeout).run())[-1]

        # The server replied to every command at once, so each row went out once and none has an unknown outcome.
        rows = rows_of(journal_file, merge_id)
        unknown = {number: row.reply for number, row in rows.items() if row.state == jn.UNKNOWN}
        assert unknown == {}
        assert final.state == jn.FINISHED
        assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}


# --- a killed send ------------------------------------------------------------------------------------------------

def test_kill_during_wait_then_resume(tmp_path, capsys):
    count = 2 * ONE_CONNECTION_CAPACITY
    with SmtpServer() as server:
        server.deliver_with(lambda item: time.sleep(SLOW_DELIVERY_SECONDS))
        add_smtp_account(server)
        template, data = write_merge(tmp_path / "m", count, attach_every=5)
        command = [sys.executable, "-m", "desktop", "merge", "send", str(template), str(data), "--account", ACCOUNT,
                   "--connections", "1", "--no-sent-copy"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        try:
            server.wait_for(10, timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        time.sleep(0.5)  # the message in flight at the kill arrives or not
        first_run = len(server.received)
        assert 10 <= first_run < count
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            record = journal.merges()[0]

        code, out, err = run(capsys, "merge", "resume", record.id, "--no-sent-copy")

        assert code == 0, err
        with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
            states = {row.address: row.state for row in journal.recipients(record.id)}
        unknown = [name for name, state in states.items() if state == jn.UNKNOWN]
        counts = received_counts(server)
        assert len(unknown) <= 1, unknown
        for number in range(1, count + 1):
            name = address(number)
            if name in unknown:
                assert counts[name] <= 1, name
            else:
                assert (counts[name], states[name]) == (1, jn.SENT), name



def test_watchdog_skips_time_loop_was_blocked():
    # A reply that came while the loop was busy has not been read yet, so that time must not count against the
    # server. Time while the loop runs still counts.
    async def main() -> tuple[bool, bool]:
        watchdog = _Watchdog(asyncio.get_running_loop(), 0.4)
        client = aiosmtplib.SMTP(hostname="127.0.0.1")
        try:
            watchdog.arm(client)
            time.sleep(1.0)  # the loop is blocked, as by a slow row
            await asyncio.sleep(0.25)
            after_block = watchdog.expired
            await asyncio.sleep(0.8)
            return after_block, watchdog.expired
        finally:
            watchdog.stop()

    after_block, later = asyncio.run(main())

    assert not after_block, "the time the loop was blocked counted against the server"
    assert later, "the reply never timed out while the loop ran"
