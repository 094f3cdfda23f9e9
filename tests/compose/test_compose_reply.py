"""Reply, reply all and forward of messages synced from a real Dovecot, sent through aiosmtpd."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from desktop.compose.reply import forward_draft, forward_subject, reply_draft, reply_subject
from desktop.compose.sending import queue_draft
from desktop.send.smtp import SmtpSender
from tests.compose.compose_helpers import (
    ADDRESS, ALIAS, add_account, config, open_outbox, open_store, sender_for, sync,
)

pytestmark = pytest.mark.dovecot

ORIGINAL_ID = "<original-1@example.org>"


@pytest.mark.parametrize("subject, expected", [
    ("Budget", "Re: Budget"),
    ("Re: Budget", "Re: Budget"),
    ("RE: Re: Budget", "Re: Budget"),
    ("Aw: Budget", "Re: Budget"),
    ("AW: SV: Budget", "Re: Budget"),
    ("Re[2]: Budget", "Re: Budget"),
    ("Fwd: Budget", "Re: Fwd: Budget"),
    ("Antw: Budget", "Re: Budget"),
    ("Reading list", "Re: Reading list"),
    ("", "Re: "),
])
def test_reply_subject_prefixed_once(subject, expected):
    assert reply_subject(subject) == expected


@pytest.mark.parametrize("subject, expected", [
    ("Budget", "Fwd: Budget"),
    ("Fwd: Budget", "Fwd: Budget"),
    ("FW: Budget", "FW: Budget"),
    ("WG: Budget", "WG: Budget"),
    ("Re: Budget", "Fwd: Re: Budget"),
])
def test_forward_subject(subject, expected):
    assert forward_subject(subject) == expected


def original(*, reply_to: str | None = None, attachment: bool = False) -> bytes:
    message = EmailMessage()
    message["From"] = "Bob Stone <bob@example.org>"
    message["To"] = f"Ana Díaz <{ALIAS}>, Carol <carol@example.org>, {ADDRESS}"
    message["Cc"] = "Dan <dan@example.org>, BOB@example.org, carol@EXAMPLE.org, other-me@example.com"
    message["Subject"] = "RE: Aw: Quarterly budget"
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = ORIGINAL_ID
    message["References"] = "<root@example.org> <middle@example.org>"
    message["In-Reply-To"] = "<middle@example.org>"
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content("First line\n\n> earlier quote\nLast line\n")
    if attachment:
        message.add_attachment(b"sheet data", maintype="application", subtype="vnd.ms-excel", filename="Zahlen März.xls")
    return message.as_bytes()


@pytest.fixture
def synced(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    """Account 'work' with a second account holding the address other-me@example.com, and one synced message."""
    add_account(smtp_server, imap_user, dovecot_server)
    direct_client.append("INBOX", original(attachment=True))
    sync(capsys)
    from desktop.config import Account, save_config

    settings = config()
    settings.accounts["home"] = Account(name="home", kind="local", address="other-me@example.com")
    save_config(settings, settings.path)
    with open_store() as store:
        inbox = store.folder_by_name("work", "INBOX")
        (message,) = store.message_ids([inbox.id])
    return message


def send(draft, smtp_server):
    with open_outbox() as outbox, SmtpSender() as smtp:
        account = config().accounts["work"]
        queue_draft(outbox, draft, account, undo_seconds=0)
        outcomes = sender_for(outbox, smtp, push=False).send_due()
    assert [outcome.sent for outcome in outcomes] == [True], outcomes
    return smtp_server.received[-1]


def test_reply_headers_and_quote(synced, smtp_server):
    with open_store() as store:
        draft = reply_draft(store, synced, config())
    draft.body = "Thanks, agreed." + draft.body

    received = send(draft, smtp_server)

    message = received.message
    assert message["Subject"] == "Re: Quarterly budget"
    assert message["In-Reply-To"] == ORIGINAL_ID
    assert message["References"].split() == ["<root@example.org>", "<middle@example.org>", ORIGINAL_ID]
    assert [address.addr_spec for address in message["To"].addresses] == ["bob@example.org"]
    assert message["Cc"] is None
    assert received.rcpt_tos == ("bob@example.org",)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Thanks, agreed.\n\nOn ")
    assert "Bob Stone <bob@example.org> wrote:" in text
    assert "> First line\n>\n>> earlier quote\n> Last line" in text


def test_reply_from_address_that_received_it(synced):
    with open_store() as store:
        draft = reply_draft(store, synced, config())

    assert draft.from_address == ALIAS
    assert draft.from_name == "Ana Díaz"


def test_reply_all_drops_own_and_duplicates(synced, smtp_server):
    with open_store() as store:
        draft = reply_draft(store, synced, config(), reply_all=True)

    assert draft.to == ["Bob Stone <bob@example.org>"]
    assert draft.cc == ["Carol <carol@example.org>", "Dan <dan@example.org>"]
    received = send(draft, smtp_server)
    assert sorted(received.rcpt_tos) == ["bob@example.org", "carol@example.org", "dan@example.org"]


def test_reply_respects_reply_to(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    add_account(smtp_server, imap_user, dovecot_server)
    direct_client.append("INBOX", original(reply_to="List <list@example.org>"))
    sync(capsys)
    with open_store() as store:
        inbox = store.folder_by_name("work", "INBOX")
        (message,) = store.message_ids([inbox.id])
        draft = reply_draft(store, message, config(), reply_all=True)

    assert draft.to == ["List <list@example.org>"]
    assert "Bob Stone <bob@example.org>" in draft.cc


def test_markdown_reply_quotes_as_blockquote(synced, smtp_server):
    with open_store() as store:
        draft = reply_draft(store, synced, config(), text_format="markdown")
    draft.body = "Sounds **good**." + draft.body

    message = send(draft, smtp_server).message

    html = message.get_body(("html",)).get_content()
    assert "<blockquote>" in html
    assert "First line" in html
    assert "> First line" in message.get_body(("plain",)).get_content()


def test_forward_inline_keeps_attachments(synced, smtp_server):
    with open_store() as store:
        draft = forward_draft(store, synced, config(), as_attachment=False)
    draft.to = ["erin@example.org"]

    message = send(draft, smtp_server).message

    assert message["Subject"] == "Fwd: RE: Aw: Quarterly budget"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "---------- Forwarded message ----------" in text
    assert "From: Bob Stone <bob@example.org>" in text
    assert "First line" in text
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "Zahlen März.xls"
    assert part.get_content() == b"sheet data"


def test_forward_as_attachment_is_rfc822(synced, smtp_server):
    with open_store() as store:
        draft = forward_draft(store, synced, config(), as_attachment=True)
    draft.to = ["erin@example.org"]

    message = send(draft, smtp_server).message

    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "message/rfc822"
    inner = part.get_content()
    assert inner["Message-ID"] == ORIGINAL_ID
    assert inner["Subject"] == "RE: Aw: Quarterly budget"
    (inner_attachment,) = list(inner.iter_attachments())
    assert inner_attachment.get_filename() == "Zahlen März.xls"
