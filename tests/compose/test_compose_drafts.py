"""Drafts saved locally and to a real Dovecot's Drafts folder, replaced on each save and removed after sending."""

from __future__ import annotations

import pytest

from desktop.compose.build import Draft
from desktop.compose.drafts import DraftStore, push_account
from desktop.compose.outbox import OutboxError
from desktop.compose.sending import queue_draft
from desktop.send.smtp import SmtpSender
from tests.compose.compose_helpers import (
    ADDRESS, add_account, config, folder_messages, open_outbox, open_store, sender_for, sync,
)

pytestmark = pytest.mark.dovecot


@pytest.fixture
def account(imap_user, dovecot_server, smtp_server, capsys):
    add_account(smtp_server, imap_user, dovecot_server)
    sync(capsys)
    return config().accounts["work"]


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_drafts_hold_one_copy_after_autosaves(account, direct_client):
    item = Draft(account="work", from_address=ADDRESS, to=["bob@example.org"], subject="Plan")
    with open_outbox() as outbox, open_store() as store:
        drafts = DraftStore(outbox)
        draft_id = None
        for number in range(1, 5):
            item.body = f"Version {number}\n"
            draft_id = drafts.save_local(item, draft_id)
            drafts.save_to_server(draft_id, account, store, push=True)
        message_id = drafts.load(draft_id).draft.message_id

    copies = folder_messages(direct_client, "Drafts")
    assert len(copies) == 1
    assert body_of(copies[0]).startswith("Version 4")
    assert copies[0]["Message-ID"] == message_id
    assert item.message_id == message_id, "later saves take over the Message-ID of the first"
    direct_client.select_folder("Drafts", readonly=True)
    flags = list(direct_client.get_flags(direct_client.search("ALL")).values())
    assert b"\\Draft" in flags[0]


def test_saves_while_offline_leave_one_copy(account, direct_client, capsys):
    item = Draft(account="work", from_address=ADDRESS, subject="Offline plan")
    with open_outbox() as outbox, open_store() as store:
        drafts = DraftStore(outbox)
        draft_id = drafts.save_local(item)
        for number in range(3):
            item.body = f"Offline version {number}\n"
            drafts.save_local(item, draft_id)
            drafts.save_to_server(draft_id, account, store)
    assert folder_messages(direct_client, "Drafts") == []

    sync(capsys)

    copies = folder_messages(direct_client, "Drafts")
    assert len(copies) == 1
    assert body_of(copies[0]).startswith("Offline version 2")
    assert copies[0]["To"] == "undisclosed-recipients:;"


def test_local_draft_survives_reopen(account):
    item = Draft(account="work", from_address=ADDRESS, to=["bob@example.org"], subject="Kept", body="Typed text")
    with open_outbox() as outbox:
        draft_id = DraftStore(outbox).save_local(item)
    with open_outbox() as outbox:
        saved = DraftStore(outbox).load(draft_id)
        listed = DraftStore(outbox).drafts("work")

    assert saved.draft == item
    assert [entry.id for entry in listed] == [draft_id]


def test_sending_removes_draft(account, smtp_server, direct_client):
    item = Draft(account="work", from_address=ADDRESS, to=["bob@example.org"], subject="Final", body="Done\n")
    with open_outbox() as outbox, open_store() as store, SmtpSender() as smtp:
        drafts = DraftStore(outbox)
        draft_id = drafts.save_local(item)
        drafts.save_to_server(draft_id, account, store, push=True)
        assert len(folder_messages(direct_client, "Drafts")) == 1
        saved = drafts.load(draft_id).draft
        queue_draft(outbox, saved, account, undo_seconds=0, draft_id=draft_id)
        sender_for(outbox, smtp).send_due()
        with pytest.raises(OutboxError):
            drafts.load(draft_id)

    assert folder_messages(direct_client, "Drafts") == []
    (sent,) = folder_messages(direct_client, "Sent")
    assert sent["Message-ID"] == saved.message_id
    assert smtp_server.received[0].message["Message-ID"] == saved.message_id


def test_push_offline_returns_error(account, dovecot_server):
    offline = config().accounts["work"]
    offline.imap_port = 1
    with open_store() as store:
        error = push_account(offline, store, timeout=5)

    assert error
