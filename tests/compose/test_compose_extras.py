"""Address completion, snippets and follow-up reminders on a real store synced from Dovecot."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from desktop.compose.build import Draft
from desktop.compose.contacts import ContactIndex
from desktop.compose.followup import KEYWORD, REPLIED, RETURNED, Reminders
from desktop.compose.sending import queue_draft
from desktop.compose.snippets import (
    SnippetError, find_trigger, list_snippets, render_snippet, save_snippet, snippet_values,
)
from desktop.send.smtp import SmtpSender
from tests.compose.compose_helpers import (
    ADDRESS, add_account, config, open_outbox, open_store, sender_for, sync,
)


def mail(sender: str, to: str, subject: str, message_id: str, in_reply_to: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content("text")
    return message.as_bytes()


@pytest.mark.dovecot
def test_contacts_ranked_by_sent_then_received(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    add_account(smtp_server, imap_user, dovecot_server)
    for number in range(3):
        direct_client.append("INBOX", mail("Jörg Müller <joerg@example.org>", ADDRESS, f"In {number}", f"<in{number}@x>"))
    direct_client.append("INBOX", mail("Jo Ann <joann@example.org>", ADDRESS, "Hi", "<in9@x>"))
    for number in range(2):
        direct_client.append("Sent", mail(ADDRESS, "Jo Ann <joann@example.org>, carol@example.org", f"Out {number}",
                                          f"<out{number}@x>"))
    direct_client.append("INBOX", mail(f"Me <{ADDRESS}>", ADDRESS, "Note to self", "<self@x>"))
    sync(capsys)

    with open_store() as store:
        index = ContactIndex.load(store, {ADDRESS})

    assert [contact.address for contact in index.complete("jo")] == ["joann@example.org", "joerg@example.org"]
    assert index.complete("jo")[0].sent == 2
    assert index.complete("jo")[0].received == 1
    assert [contact.address for contact in index.complete("mul")] == ["joerg@example.org"], "accents are ignored"
    assert index.complete("example.org", limit=1)[0].address == "joann@example.org"
    assert index.complete("ana") == [], "own addresses are left out"
    assert index.complete("joerg")[0].display == "Jörg Müller <joerg@example.org>"


def test_snippet_rendered_with_recipient(tmp_path):
    folder = tmp_path / "snippets"
    save_snippet(folder, "thanks", "Hi {{ first_name }},\n\nthanks for the note of {{ date }}.\n")
    item = Draft(account="work", from_address=ADDRESS, to=["Jörg Müller <joerg@example.org>"], subject="x")

    text = render_snippet(folder, "thanks", snippet_values(item))

    assert text.startswith("Hi Jörg,\n\nthanks for the note of 20")
    assert [snippet.name for snippet in list_snippets(folder)] == ["thanks"]


def test_snippet_unknown_variable_named(tmp_path):
    folder = tmp_path / "snippets"
    save_snippet(folder, "bad", "Hello {{ nickname }}")

    with pytest.raises(SnippetError) as caught:
        render_snippet(folder, "bad", snippet_values(Draft(account="work", from_address=ADDRESS)))

    assert "nickname" in str(caught.value)
    assert "first_name" in str(caught.value)


def test_snippet_missing_and_bad_name(tmp_path):
    folder = tmp_path / "snippets"
    with pytest.raises(SnippetError, match="No snippet named 'nope'"):
        render_snippet(folder, "nope", {})
    with pytest.raises(SnippetError, match="invalid"):
        save_snippet(folder, "../escape", "x")


@pytest.mark.parametrize("text, expected", [
    ("Thanks ;thanks", "thanks"),
    (";sig", "sig"),
    ("a;thanks", None),
    ("no trigger", None),
    ("line\n;follow-up_2", "follow-up_2"),
])
def test_snippet_trigger(text, expected):
    assert find_trigger(text) == expected


def sent_reminder_setup(smtp_server, imap_user, dovecot_server, direct_client, capsys):
    add_account(smtp_server, imap_user, dovecot_server)
    sync(capsys)
    item = Draft(account="work", from_address=ADDRESS, to=["bob@example.org"], subject="Proposal", body="See plan.\n")
    with open_outbox() as outbox, SmtpSender() as smtp:
        entry = queue_draft(outbox, item, config().accounts["work"], undo_seconds=0, remind_days=2)
        sender_for(outbox, smtp).send_due()
        (reminder,) = Reminders(outbox).reminders()
    assert reminder.message_id == entry.message_id
    assert reminder.due_at >= time.time() + 2 * 86400 - 60
    return entry, reminder


@pytest.mark.dovecot
def test_followup_returns_thread_without_reply(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    entry, reminder = sent_reminder_setup(smtp_server, imap_user, dovecot_server, direct_client, capsys)

    with open_outbox() as outbox, open_store() as store:
        done = Reminders(outbox).check_due(store, config(), now=reminder.due_at + 1)
    sync(capsys)

    assert [state for _, state in done] == [RETURNED]
    direct_client.select_folder("INBOX", readonly=True)
    uids = direct_client.search(["HEADER", "Message-ID", entry.message_id])
    assert len(uids) == 1
    flags = direct_client.get_flags(uids)[uids[0]]
    assert b"\\Flagged" in flags
    assert KEYWORD.encode() in flags


@pytest.mark.dovecot
def test_followup_closed_when_reply_arrived(imap_user, dovecot_server, smtp_server, direct_client, capsys):
    entry, reminder = sent_reminder_setup(smtp_server, imap_user, dovecot_server, direct_client, capsys)
    direct_client.append("INBOX", mail("Bob <bob@example.org>", ADDRESS, "Re: Proposal", "<answer@x>", entry.message_id))
    sync(capsys)

    with open_outbox() as outbox, open_store() as store:
        done = Reminders(outbox).check_due(store, config(), now=reminder.due_at + 1)

    assert [state for _, state in done] == [REPLIED]
    direct_client.select_folder("INBOX", readonly=True)
    assert direct_client.search(["HEADER", "Message-ID", entry.message_id]) == []


def test_followup_not_due_yet(smtp_server):
    add_account(smtp_server)
    with open_outbox() as outbox, open_store() as store:
        Reminders(outbox).add("work", "<x@example.com>", "x", due_at=time.time() + 3600)
        assert Reminders(outbox).check_due(store, config()) == []
        assert len(Reminders(outbox).reminders()) == 1
