"""Replies that do not come in time: retried before the message data went out, unknown after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from desktop.merge import journal as jn
from desktop.merge.render import open_merge
from desktop.merge.sender import MergeSend, SendOptions
from desktop.paths import default_profile
from desktop.send import SmtpSender
from tests.helpers.smtp_server import SmtpServer
from tests.merge.send_helpers import add_smtp_account, address, received_counts, write_merge

TIMEOUT = 0.6
STALL = 3.0


class StallingServer(SmtpServer):
    """An aiosmtpd server that waits ``STALL`` seconds before one reply to a chosen recipient, once.

    The wait is awaited, so the other connections go on meanwhile.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stalls: set[tuple[str, str]] = set()
        handler = self.handler
        accept_rcpt, accept_data = handler.handle_RCPT, handler.handle_DATA

        async def handle_rcpt(server, session, envelope, recipient, rcpt_options):  # noqa: ANN001 - aiosmtpd hook
            await self._stall(recipient, "rcpt")
            return await accept_rcpt(server, session, envelope, recipient, rcpt_options)

        async def handle_data(server, session, envelope):  # noqa: ANN001 - aiosmtpd hook
            await self._stall(envelope.rcpt_tos[0], "data")
            return await accept_data(server, session, envelope)

        handler.handle_RCPT = handle_rcpt
        handler.handle_DATA = handle_data

    async def _stall(self, recipient: str, stage: str) -> None:
        if (recipient.lower(), stage) in self.stalls:
            self.stalls.discard((recipient.lower(), stage))
            await asyncio.sleep(STALL)


@pytest.fixture
def stalling():
    with StallingServer() as server:
        yield server


def send(tmp_path, server: SmtpServer, count: int) -> tuple[list, dict[str, jn.RecipientRecord], float]:
    """Send a merge of ``count`` rows over one connection and return the progress, the rows by address and the time."""
    account = add_smtp_account(server)
    profile = default_profile().ensure()
    template, data = write_merge(tmp_path / "merge", count)
    merge = open_merge(template, data, profile=profile)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as journal:
        merge_id = journal.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template),
                                        data=str(data), account="work", options={}, total=count).id
    options = SendOptions(connections=1, timeout=TIMEOUT, backoff_seconds=0.05, backoff_max_seconds=0.1,
                          sent_copies=False)
    started = time.monotonic()
    with SmtpSender() as smtp:
        progress = list(MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id,
                                  options=options, smtp=smtp).run())
    seconds = time.monotonic() - started
    with jn.Journal(journal_file) as journal:
        rows = {row.address: row for row in journal.recipients(merge_id)}
    return progress, rows, seconds


def test_stalled_rcpt_reply_is_retried(tmp_path, stalling):
    stalling.stalls.add((address(2), "rcpt"))

    progress, rows, seconds = send(tmp_path, stalling, 4)

    assert progress[-1].state == "finished"
    assert [rows[address(number)].state for number in range(1, 5)] == ["sent"] * 4
    assert rows[address(2)].attempts == 2
    assert received_counts(stalling) == {address(number): 1 for number in range(1, 5)}
    # The connection is given up within the timeout plus the watchdog's period, not after the server's stall.
    assert seconds < STALL


def test_stalled_data_reply_is_unknown(tmp_path, stalling):
    stalling.stalls.add((address(3), "data"))

    progress, rows, seconds = send(tmp_path, stalling, 4)

    assert rows[address(3)].state == "unknown"
    assert rows[address(3)].attempts == 1
    assert "did not respond in time" in rows[address(3)].reply
    assert [rows[address(number)].state for number in (1, 2, 4)] == ["sent"] * 3
    assert progress[-1].unknown == 1
    assert seconds < STALL
