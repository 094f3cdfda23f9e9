"""The outbox against aiosmtpd and Dovecot: undo, send later across a restart, failures, Sent copies, exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from desktop.compose.build import Draft
from desktop.compose.outbox import FAILED, QUEUED, SENT, UNKNOWN, Outbox, OutboxError
from desktop.compose.sending import queue_draft
from desktop.credentials import store_password
from desktop.paths import default_profile
from desktop.send.smtp import SmtpSender
from tests.compose.compose_helpers import (
    ADDRESS, add_account, config, folder_messages, open_outbox, sender_for, sync,
)
from tests.helpers.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SUBPROCESS_TIMEOUT = 120


def draft(subject: str = "Status", to: str = "bob@example.org") -> Draft:
    return Draft(account="work", from_address=ADDRESS, to=[to], subject=subject, body="All on track.\n")


def queue(outbox: Outbox, item: Draft, **options):
    return queue_draft(outbox, item, config().accounts["work"], **options)


def test_undo_within_delay_sends_nothing(smtp_server):
    add_account(smtp_server)
    with open_outbox() as outbox, SmtpSender() as smtp:
        entry = queue(outbox, draft(), undo_seconds=1.0)
        sender = sender_for(outbox, smtp, push=False)
        assert sender.send_due() == [], "nothing is due inside the undo delay"

        assert outbox.cancel(entry.id)
        time.sleep(1.2)
        assert sender.send_due() == []
        assert outbox.entry(entry.id) is None

    assert smtp_server.received == []


def test_message_goes_out_after_delay(smtp_server):
    add_account(smtp_server)
    with open_outbox() as outbox, SmtpSender() as smtp:
        entry = queue(outbox, draft(), undo_seconds=0.5)
        outcomes = []
        sender = sender_for(outbox, smtp, push=False)
        sender.on_outcome = outcomes.append
        sender.start(poll_seconds=0.1)
        try:
            received = smtp_server.wait_for(1, timeout=15)
        finally:
            sender.stop()
        assert outbox.cancel(entry.id) is False, "a sent message cannot be taken back"
        state = outbox.entry(entry.id)

    assert len(received) == 1
    assert received[0].message["Message-ID"] == entry.message_id
    assert state.state == SENT
    assert state.response == "Message accepted for delivery"
    assert [(outcome.entry_id, outcome.sent) for outcome in outcomes] == [(entry.id, True)]


def test_send_later_survives_restart_and_goes_once(smtp_server):
    add_account(smtp_server)
    with open_outbox() as outbox:
        entry = queue(outbox, draft("Later"), undo_seconds=0, send_at=time.time() + 2)
    with open_outbox() as outbox, SmtpSender() as smtp:
        assert sender_for(outbox, smtp, push=False).send_due() == []
    assert smtp_server.received == []
    time.sleep(2.1)

    command = [sys.executable, "-m", "desktop", "outbox", "send"]
    environment = dict(os.environ)
    for _ in range(2):
        done = subprocess.run(command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=environment)
        assert done.returncode == 0, done.stderr

    assert len(smtp_server.received) == 1
    assert smtp_server.received[0].message["Subject"] == "Later"
    with open_outbox() as outbox:
        assert outbox.entry(entry.id).state == SENT


def test_relay_denied_stays_in_outbox(smtp_server):
    add_account(smtp_server)
    smtp_server.reply_to_recipient("far@elsewhere.test", "554 5.7.1 Relay access denied")
    with open_outbox() as outbox, SmtpSender() as smtp:
        entry = queue(outbox, draft(to="far@elsewhere.test"), undo_seconds=0)
        (outcome,) = sender_for(outbox, smtp, push=False).send_due()
        state = outbox.entry(entry.id)
        again = sender_for(outbox, smtp, push=False).send_due()

    assert not outcome.sent
    assert state.state == FAILED
    assert state.error_kind == "relay_denied"
    assert "refused to relay" in state.error
    assert state.retry_at is None, "a permanent failure waits for the user"
    assert again == []
    assert smtp_server.received == []


def test_auth_failure_stays_in_outbox():
    store_password("work", "wrong-password")
    with SmtpServer(user="ana", password="right-password") as server:
        add_account(server)
        with open_outbox() as outbox, SmtpSender() as smtp:
            entry = queue(outbox, draft(), undo_seconds=0)
            sender_for(outbox, smtp, push=False).send_due()
            state = outbox.entry(entry.id)

        assert server.received == []
    assert state.state == FAILED
    assert state.error_kind == "auth_failed"
    assert "rejected the login" in state.error


def test_connection_refused_retries_later(smtp_server):
    add_account(smtp_server, smtp_port=free_port())
    with open_outbox() as outbox, SmtpSender() as smtp:
        entry = queue(outbox, draft(), undo_seconds=0)
        before = time.time()
        sender_for(outbox, smtp, push=False).send_due()
        state = outbox.entry(entry.id)

        assert state.state == FAILED
        assert state.error_kind == "connection_refused"
        assert "refused the connection" in state.error
        assert state.retry_at is not None and state.retry_at >= before + 29
        assert outbox.due(now=time.time()) == []
        assert [item.id for item in outbox.due(now=state.retry_at + 1)] == [entry.id]


def test_retry_after_failure_sends_once(smtp_server):
    add_account(smtp_server)
    smtp_server.reply_to_recipient("bob@example.org", "451 4.3.0 Try again later")
    with open_outbox() as outbox, SmtpSender() as smtp:
        entry = queue(outbox, draft(), undo_seconds=0)
        sender = sender_for(outbox, smtp, push=False)
        sender.send_due()
        assert outbox.entry(entry.id).state == FAILED
        smtp_server.behaviour.recipient_replies.clear()

        outbox.retry(entry.id)
        sender.send_due()
        sender.send_due()
        state = outbox.entry(entry.id)

    assert state.state == SENT
    assert state.attempts == 2
    assert len(smtp_server.received) == 1


def test_interrupted_send_becomes_unknown(smtp_server):
    add_account(smtp_server)
    with open_outbox() as outbox:
        entry = queue(outbox, draft(), undo_seconds=0)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        with outbox.transaction() as db:
            # A process that claimed the entry and died before the server answered.
            db.execute("UPDATE outbox SET state = 'sending', claimed_by = ? WHERE id = ?", (int(dead.stdout), entry.id))

    with open_outbox() as outbox, SmtpSender() as smtp:
        state = outbox.entry(entry.id)
        assert sender_for(outbox, smtp, push=False).send_due() == []
        with pytest.raises(OutboxError):
            outbox.retry(entry.id + 100)
        assert outbox.retry(entry.id).state == QUEUED
        sender_for(outbox, smtp, push=False).send_due()

    assert state.state == UNKNOWN
    assert "may or may not" in state.error
    assert len(smtp_server.received) == 1, "only the user's retry sends it"


@pytest.mark.dovecot
def test_sent_copy_appended_to_server(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    add_account(smtp_server, imap_user, dovecot_server)
    sync(capsys)
    with open_outbox() as outbox, SmtpSender() as smtp:
        entry = queue(outbox, draft("Copied"), undo_seconds=0)
        sender_for(outbox, smtp).send_due()
        state = outbox.entry(entry.id)

    assert state.copied
    (copy,) = folder_messages(direct_client, "Sent")
    assert copy["Message-ID"] == entry.message_id
    assert copy["Subject"] == "Copied"
    assert smtp_server.received[0].message["Message-ID"] == entry.message_id


@pytest.mark.dovecot
def test_sent_copy_never_setting(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    add_account(smtp_server, imap_user, dovecot_server, sent_copy="never")
    sync(capsys)
    with open_outbox() as outbox, SmtpSender() as smtp:
        queue(outbox, draft(), undo_seconds=0)
        sender_for(outbox, smtp).send_due()

    assert len(smtp_server.received) == 1
    assert folder_messages(direct_client, "Sent") == []


def test_outbox_file_in_profile(smtp_server):
    add_account(smtp_server)
    with open_outbox() as outbox:
        assert outbox.path.parent == default_profile().data_dir
        assert outbox.entries() == []
