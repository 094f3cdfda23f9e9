"""The pieces of auto-replies without servers: sender patterns, subjects, templates and the store's memory."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from desktop.rules.autoreply import check_template, is_valid_address, looks_automatic, parse_incoming, reply_subject, text_hash
from desktop.rules.model import AutoReply
from desktop.store import Store


@pytest.mark.parametrize(
    ("address", "automatic"),
    [
        ("no-reply@shop.example", True),
        ("NoReply@shop.example", True),
        ("DO-NOT-REPLY@bank.example", True),
        ("donotreply@bank.example", True),
        ("MAILER-DAEMON@mx.example", True),
        ("postmaster@example.org", True),
        ("owner-python-list@python.org", True),
        ("python-list-request@python.org", True),
        ("python-list-bounces@python.org", True),
        ("MAILER-DAEMON", True),
        ("ana@example.com", False),
        ("noreplyana@example.com", False),
        ("owner@example.com", False),
        ("requests@example.com", False),
        ("bounces-team@example.com", False),
        ("calendar-noreply@google.example", True),
        ("something-noreply@example.com", True),
        ("no_reply@example.com", True),
        ("do.not.reply@example.com", True),
        ("noreply+tag@example.com", True),
        ("notifications@github.example", True),
        ("Notification@jira.example", True),
        ("not-reply@example.com", False),
        ("notifications-team-lead@example.com", False),
    ],
)
def test_looks_automatic(address, automatic):
    assert looks_automatic(address) is automatic


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("ana@example.com", True),
        ("ana.diaz+tag@mail.example.co.uk", True),
        ("root@localhost", True),
        ("=?utf-8?B?broken", False),
        ("ana", False),
        ("@example.com", False),
        ("ana@", False),
        ("ana@@example.com", False),
        ("ana diaz@example.com", False),
        ("<ana@example.com>", False),
    ],
)
def test_is_valid_address(address, valid):
    assert is_valid_address(address) is valid


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Budget", "Re: Budget"),
        ("Re: Budget", "Re: Budget"),
        ("RE: re:  Budget", "Re: Budget"),
        ("Aw: Re[2]: Budget", "Re: Budget"),
        ("Budget: Re: numbers", "Re: Budget: Re: numbers"),
        ("", "Re: your message"),
    ],
)
def test_reply_subject(original, expected):
    assert reply_subject(original) == expected


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Away until {{ date }}, {{ sender_name }}.", None),
        ("{% if subject %}About {{ subject }}{% endif %}", None),
        ("{% raw %}{{ literal }}{% endraw %}", None),
        ("Hi {{ name }}", "'name' is undefined."),
        ("Hi {{ sender_adress }}", "Did you mean 'sender_address'?"),
        ("Hi {{ subject", "invalid template syntax on line 1 of the body"),
        ("{{ subject.__class__.__mro__ }}", "unsafe"),
    ],
)
def test_check_template(body, problem):
    result = check_template(body)

    if problem is None:
        assert result is None
    else:
        assert result is not None
        assert problem in result


def test_text_hash_follows_subject_and_body():
    base = text_hash(AutoReply(body="Away."))

    assert text_hash(AutoReply(body="Away.", days=3)) == base
    assert text_hash(AutoReply(body="Away!")) != base
    assert text_hash(AutoReply(body="Away.", subject="Out")) != base


def test_parse_incoming_reads_checked_fields():
    raw = (
        b"Return-Path: <>\r\nFrom: =?utf-8?q?Ana_D=C3=ADaz?= <ana@example.com>\r\n"
        b"To: Team <team@example.com>, you@example.org\r\nCc: YOU2@example.org\r\n"
        b"Reply-To: ana.home@example.net\r\nAuto-Submitted: no\r\nPrecedence: Bulk\r\n"
        b"List-Unsubscribe: <mailto:x@example.com>\r\nMessage-ID: <a1@example.com>\r\n"
        b"References: <a0@example.com>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nbody"
    )

    incoming = parse_incoming(raw)

    assert incoming.from_address == ("Ana Díaz", "ana@example.com")
    assert incoming.reply_to == ("", "ana.home@example.net")
    assert incoming.recipients == ("team@example.com", "you@example.org", "you2@example.org")
    assert incoming.return_path == "<>"
    assert incoming.auto_submitted == "no"
    assert incoming.precedence == "Bulk"
    assert incoming.list_header == "List-Unsubscribe"
    assert incoming.message_id == "a1@example.com"
    assert incoming.references == ("a0@example.com",)
    assert incoming.subject == "Grüße"


def test_store_remembers_replies(tmp_path):
    sent = datetime(2026, 12, 21, 12, tzinfo=timezone.utc)
    with Store(tmp_path / "store.sqlite3") as store:
        store.record_auto_reply("work", "Away", "Ana@Example.com", text_hash="h1", sent=sent, reply_message_id="r1@x")
        store.record_auto_reply("home", "Away", "bob@example.com", text_hash="h1", sent=sent, reply_message_id="r2@x")

    with Store(tmp_path / "store.sqlite3") as store:
        record = store.last_auto_reply("work", "Away", "ANA@example.com")
        assert record is not None
        assert (record.sender, record.text_hash, record.sent, record.reply_message_id) == (
            "ana@example.com", "h1", sent, "r1@x",
        )
        assert store.last_auto_reply("work", "Other rule", "ana@example.com") is None
        later = datetime(2026, 12, 28, 12, tzinfo=timezone.utc)
        store.record_auto_reply("work", "Away", "ana@example.com", text_hash="h2", sent=later, reply_message_id="r3@x")
        assert [item.text_hash for item in store.auto_replies("work")] == ["h2"]
        assert store.forget_auto_replies("work") == 1
        assert store.auto_replies("work") == []
        assert [item.account for item in store.auto_replies()] == ["home"]
