"""Credentials never reach a log, even in a debug protocol trace."""

from __future__ import annotations

import logging

import pytest

from desktop.logs import RedactingFilter, redact


@pytest.mark.parametrize(
    "line",
    [
        "> b'ABCD1 LOGIN ana@example.com hunter2'",
        "> b'ABCD2 AUTHENTICATE PLAIN AGFuYQBodW50ZXIy'",
        "send: 'AUTH PLAIN AGFuYQBodW50ZXIy'",
        'ABCD1 LOGIN "ana" "hunter2"',
    ],
)
def test_redact_hides_secrets(line):
    cleaned = redact(line)

    assert "hunter2" not in cleaned
    assert "AGFuYQBodW50ZXIy" not in cleaned
    assert "****" in cleaned


def test_filter_redacts_formatted_records(caplog):
    logger = logging.getLogger("imapclient.test")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG, logger="imapclient.test"):
        logger.debug("> %s", "b'TAG LOGIN user hunter2'")

    assert "hunter2" not in caplog.text
    assert "LOGIN ****" in caplog.text


def test_plain_lines_unchanged():
    assert redact("Fetched 12 message(s) of INBOX") == "Fetched 12 message(s) of INBOX"
