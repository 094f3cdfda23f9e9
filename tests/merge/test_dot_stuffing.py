"""The DATA section of a merged message, and the message taken back out of it for the Sent copy."""

import pytest

from desktop.merge.sender import Outgoing, _dot_stuffed, _unstuffed

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
