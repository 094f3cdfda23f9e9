"""What a merge send shows while it waits: time left under hour and day limits, retries of an unreachable server."""

from __future__ import annotations

import threading
import time

import pytest

from desktop.config import Account
from desktop.merge import journal as jn
from desktop.merge.rate import Rate, RateLimiter
from desktop.merge.sender import MergeSend, SendOptions, _time_left
from tests.helpers.smtp_server import free_port
from tests.merge.send_helpers import add_smtp_account, received_counts
from tests.merge.test_send import FAST, smtp, start  # noqa: F401 - smtp is a fixture


def test_time_left_follows_the_day_limit():
    limiter = RateLimiter(Rate(per_minute=20, per_day=450))
    # Sending 20 a minute now, but 450 a day in the long run: 2,990 messages take 6.6 days.
    assert _time_left(2990, 20.0, limiter) == pytest.approx(2990 / 450 * 86400)
    assert _time_left(100, 20.0, RateLimiter(Rate(per_minute=20))) == pytest.approx(300)
    assert _time_left(100, 0.0, None) is None


def test_send_says_it_waits_for_the_day_limit(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 4)
    options = SendOptions(**{**FAST, "rate": Rate(per_day=2), "connections": 1})
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id, options=options,
                     smtp=smtp)
    seen = []

    def run() -> None:
        for progress in send.run():
            seen.append(progress)

    sending = threading.Thread(target=run)
    sending.start()
    server.wait_for(2, timeout=20)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("waiting for the daily limit until" in item.note for item in seen):
        time.sleep(0.05)
    send.cancel()
    sending.join(timeout=20)

    assert not sending.is_alive()
    waiting = [item for item in seen if "waiting for the daily limit until" in item.note]
    assert waiting, [item.note for item in seen]
    assert waiting[-1].seconds_left > 23 * 3600
    assert seen[-1].state == jn.STOPPED
    assert len(server.received) == 2


def test_unreachable_server_counts_connections_failing_together_once(tmp_path, smtp):
    account = Account(name="work", imap_host="127.0.0.1", user="ana", security="none", smtp_host="127.0.0.1",
                      smtp_port=free_port(), smtp_security="none", address="ana@example.com")
    merge, journal_file, merge_id = start(tmp_path, 5)
    # Waits of 0.2, 0.4, 0.8 and 1.6 s (each within 20%) between the 5 tries.
    options = SendOptions(connections=4, timeout=5.0, backoff_seconds=0.2)
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id, options=options,
                     smtp=smtp)
    started = time.monotonic()
    seen = list(send.run())
    took = time.monotonic() - started

    assert seen[-1].state == jn.STOPPED
    assert "could not be reached 5 times" in seen[-1].note
    assert "refused the connection" in seen[-1].note
    # The four connections fail together and count as one try, so all four waits pass before the send stops.
    # None of them waits longer than the next try.
    assert 2.0 < took < 10, took
    assert any("try 4 of 5, next in" in item.note for item in seen[:-1]), [item.note for item in seen]


def test_rate_spaces_the_first_messages_too(tmp_path, smtp):
    # The limiter lets the first rows go while the connections are still opening; they used to go out together.
    from tests.merge.send_helpers import ScriptedServer

    with ScriptedServer() as server:
        account = add_smtp_account(server)
        merge, journal_file, merge_id = start(tmp_path, 5)
        arrived = []
        original = server.handler.handle_DATA

        async def note_time(smtp_server, session, envelope):  # noqa: ANN001 - aiosmtpd hook
            arrived.append(time.monotonic())
            return await original(smtp_server, session, envelope)

        server.handler.handle_DATA = note_time
        options = SendOptions(**{**FAST, "rate": Rate(per_minute=300), "connections": 4})
        send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                         options=options, smtp=smtp)
        final = list(send.run())[-1]

    assert final.sent == 5
    gaps = [later - earlier for earlier, later in zip(arrived, arrived[1:])]
    # 300 a minute: one message every 0.2 s, on the wire too.
    assert min(gaps) > 0.15, gaps
