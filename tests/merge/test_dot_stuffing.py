"""The DATA section of a merged message, and the message taken back out of it for the Sent copy."""

import pytest

from desktop.merge.render import open_merge
from desktop.merge.sender import Outgoing, _dot_stuffed, _unstuffed
from tests.merge.merge_samples import profile_in, write_merge

MESSAGES = [
    b"Subject: plain\r\n\r\nHello\r\n",
    b"Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nend\r\n",
    b".leading dot on the first line\r\n\r\nbody\r\n",
    b"Subject: no final line end\r\n\r\nlast line",
    b"Subject: bare line feeds\n\nline\n.dot\n",
    b"",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_unstuffed_restores_sent_message(message):
    payload = _dot_stuffed(message)
    assert payload.endswith(b"\r\n.\r\n")
    assert b"\r\n.\r\n" not in b"\r\n" + payload[:-3], "a line of one dot would end the message early"
    expected = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert _unstuffed(payload) == expected


def test_outgoing_data_from_payload():
    message = b"Subject: a\r\n\r\n.dot\r\nbody\r\n"
    item = Outgoing(1, "1:a@example.org", "a@example.org", "me@example.org", "<id@example.org>", "date",
                    _dot_stuffed(message), size=len(message))
    assert item.data == message
    assert item.size == len(message)


def test_rendered_messages_end_lines_in_crlf(tmp_path):
    # The sender skips its line-end scan for rendered messages, so every line of them must end in CRLF, whatever
    # line breaks the template and the data bring: CR, LF and CRLF in body values, a long line, non-ASCII text.
    template = (
        "From: Ana Pérez <ana@example.com>\nTo: {{ name }} <{{ email }}>\nSubject: Note for {{ name }}\n"
        "Merge-Attach: invoices/{{ id }}.pdf\n\n"
        "Hello {{ name }},\r\n\r\n{{ note }}\n\n" + "x" * 1200 + "\n\n.a line with a leading dot\n\n{{ unsubscribe }}\n"
    )
    rows = [
        ["Zoë Brandt", "zoe@example.org", "17", "first\rsecond\nthird\r\nfourth"],
        ["Bob Stone", "bob@example.net", "18", "plain ascii note"],
    ]
    template_path, data_path = write_merge(tmp_path, template, ["name", "email", "id", "note"], rows)
    merge = open_merge(template_path, data_path, profile=profile_in(tmp_path))
    for row in (1, 2):
        raw = merge.render(row).as_bytes("<id@example.com>", "Sat, 05 Dec 2026 09:00:00 +0000")
        assert raw.count(b"\n") == raw.count(b"\r\n"), f"row {row} has a bare LF"
        assert raw.count(b"\r") == raw.count(b"\r\n"), f"row {row} has a bare CR"
        assert _unstuffed(_dot_stuffed(raw, crlf=True)) == raw
