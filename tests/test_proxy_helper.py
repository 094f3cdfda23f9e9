"""The fault proxy's literal scanner, which the fault tests use to show a cut fell inside a FETCH literal."""

from __future__ import annotations

import pytest

from tests.helpers.proxy import open_literal

RESPONSE = b"* 1 FETCH (UID 7 BODY[] {10}\r\n0123456789)\r\n* 2 FETCH (UID 8 BODY[] {4}\r\nabcd)\r\nA5 OK done\r\n"


@pytest.mark.parametrize(
    ("length", "missing"),
    [
        (len(b"* 1 FETCH (UID 7 BODY[] {10}\r\n"), 10),
        (len(b"* 1 FETCH (UID 7 BODY[] {10}\r\n012"), 7),
        (len(b"* 1 FETCH (UID 7 BODY[] {10}\r\n0123456789"), None),
        (len(b"* 1 FETCH (UID 7 BODY[] {10}\r\n0123456789)\r\n* 2 FETCH (UID 8 BODY[] {4}\r\nab"), 2),
        (len(RESPONSE), None),
        (0, None),
    ],
)
def test_open_literal_counts_missing_bytes(length, missing):
    assert open_literal(RESPONSE[:length]) == missing


def test_open_literal_skips_braces_inside_literal():
    data = b"* 1 FETCH (BODY[] {6}\r\n{99}\r\n)\r\n"

    assert open_literal(data) is None
