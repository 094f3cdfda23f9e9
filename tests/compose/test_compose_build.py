"""Building messages: MIME structure, encodings, header injection and line lengths, checked after real SMTP."""

from __future__ import annotations

import re
from email import policy

import pytest

from desktop.compose.build import BuildError, Draft, build_message, parse_address_list
from desktop.config import Account
from desktop.send.smtp import SmtpSender
from tests.compose.compose_helpers import ADDRESS, ALIAS

ACCOUNT = Account(name="work", imap_host="127.0.0.1", user="ana", address=ADDRESS, aliases=[ALIAS],
                  signature="Ana Díaz\nExample Ltd")


def smtp_account(server) -> Account:
    return Account(name="work", imap_host="127.0.0.1", user="ana", smtp_host=server.host, smtp_port=server.port,
                   smtp_security="none", address=ADDRESS, aliases=[ALIAS])


def draft(**changes) -> Draft:
    values = {"account": "work", "from_address": ADDRESS, "to": ["bob@example.org"], "subject": "Hello", "body": "Hi Bob."}
    values.update(changes)
    return Draft(**values)


@pytest.mark.parametrize("field_name, changes", [
    ("subject", {"subject": "Hi\r\nBcc: victim@example.org"}),
    ("subject", {"subject": "Hi\nX-Injected: 1"}),
    ("to", {"to": ["bob@example.org\r\nBcc: victim@example.org"]}),
    ("cc", {"cc": ["carol@example.org\nX: y"]}),
    ("bcc", {"bcc": ["dan@example.org\r"]}),
    ("from_name", {"from_name": "Ana\r\nX-Evil: 1"}),
    ("in_reply_to", {"in_reply_to": "<a@b>\r\nX-Evil: 1"}),
    ("references", {"references": ["<a@b>", "<c@d>\nX-Evil: 1"]}),
])
def test_header_injection_rejected(field_name, changes):
    with pytest.raises(BuildError) as caught:
        build_message(draft(**changes), ACCOUNT)

    assert caught.value.field == field_name
    assert field_name in str(caught.value)
    assert "line break" in str(caught.value)


def test_invalid_recipient_named():
    with pytest.raises(BuildError) as caught:
        build_message(draft(to=["not an address"]), ACCOUNT)

    assert caught.value.field == "to"
    assert "'not an address'" in str(caught.value)


def test_foreign_from_address_rejected():
    with pytest.raises(BuildError) as caught:
        build_message(draft(from_address="mallory@example.org"), ACCOUNT)

    assert caught.value.field == "from_address"
    assert ALIAS in str(caught.value)


def test_alias_from_and_message_id_domain():
    message = build_message(draft(from_address=ALIAS), ACCOUNT)

    assert message["From"].addresses[0].addr_spec == ALIAS
    assert message["Message-ID"].endswith("@example.net>")
    assert message["Date"].datetime is not None


def test_message_id_kept_between_builds():
    item = draft()
    first = build_message(item, ACCOUNT)
    second = build_message(item, ACCOUNT)

    assert first["Message-ID"] == second["Message-ID"] == item.message_id


def test_long_lines_within_998_octets():
    body = "word " * 600 + "\n" + "x" * 5000 + "\nÄ" * 3 + "ö" * 1200
    message = build_message(draft(body=body), ACCOUNT)

    data = message.as_bytes(policy=policy.SMTP)
    longest = max(len(line) for line in data.split(b"\r\n"))
    assert longest <= 998
    assert message.get_body(("plain",)).get_content().startswith(body.rstrip("\n")[:3000])
    assert "x" * 5000 in message.get_body(("plain",)).get_content()


def test_markdown_has_plain_alternative():
    message = build_message(draft(body="**bold** text\n\n> quoted line", format="markdown"), ACCOUNT)

    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "**bold** text" in plain
    assert "<strong>bold</strong>" in html
    assert "<blockquote>" in html
    assert "quoted line" in html


def test_markdown_escapes_raw_html():
    message = build_message(draft(body="<script>alert(1)</script> hi", format="markdown"), ACCOUNT)

    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_signature_added_once():
    message = build_message(draft(body="Hi Bob."), ACCOUNT)
    text = message.get_body(("plain",)).get_content()

    assert "\n-- \nAna Díaz\nExample Ltd" in text
    again = build_message(draft(body=text), ACCOUNT)
    assert again.get_body(("plain",)).get_content().count("Example Ltd") == 1
    without = build_message(draft(signature=False), ACCOUNT)
    assert "Example Ltd" not in without.get_body(("plain",)).get_content()


def test_missing_attachment_named(tmp_path):
    missing = tmp_path / "nope.pdf"
    with pytest.raises(BuildError) as caught:
        build_message(draft(attachments=[missing]), ACCOUNT)

    assert caught.value.field == "attachments"
    assert str(missing) in str(caught.value)


def test_unknown_format_rejected():
    with pytest.raises(BuildError) as caught:
        build_message(draft(format="rtf"), ACCOUNT)

    assert caught.value.field == "format"


def test_address_list_keeps_quoted_commas():
    entries = parse_address_list('"Díaz, Ana" <ana@example.com>, bob@example.org')

    assert entries == ['"Díaz, Ana" <ana@example.com>', "bob@example.org"]


def test_draft_round_trip_through_dict(tmp_path):
    item = draft(attachments=[tmp_path / "a.txt"], forwarded_message=b"From: x\r\n\r\nbody")
    again = Draft.from_dict(item.to_dict())

    assert again == item


def test_non_ascii_arrives_decodable(smtp_server, tmp_path):
    attachment = tmp_path / "Übersicht März – 2026.pdf"
    attachment.write_bytes(b"%PDF-1.4 fake content \x00\xff")
    item = draft(from_name="Ana Díaz", to=["Jörg Müller <joerg@example.org>"], subject="Grüße aus Köln – 日本",
                 body="Schöne Grüße\n", attachments=[attachment])

    with SmtpSender() as sender:
        sender.send(smtp_account(smtp_server), build_message(item, smtp_account(smtp_server)))

    received = smtp_server.received[0]
    assert received.data.isascii(), "headers must be RFC 2047 encoded, not raw UTF-8"
    message = received.message
    assert message["Subject"] == "Grüße aus Köln – 日本"
    assert message["From"].addresses[0].display_name == "Ana Díaz"
    assert message["To"].addresses[0].display_name == "Jörg Müller"
    assert "Schöne Grüße" in message.get_body(("plain",)).get_content()
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "Übersicht März – 2026.pdf"
    assert part.get_content() == b"%PDF-1.4 fake content \x00\xff"
    assert re.search(rb"filename\*=utf-8''", received.data)
