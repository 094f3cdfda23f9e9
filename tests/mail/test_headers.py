"""Header decoding repairs what real mail gets wrong."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.mail.headers import decode_bytes, decode_words, parse_addresses, parse_date, parse_message_ids


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("=?utf-8?b?SMOpbGxv?=\r\n =?utf-8?b?IHfDtnJsZA==?=", "Héllo wörld"),
        ("=?utf-8?b?SMOpbGxv?=", "Héllo"),  # missing padding
        ("=?iso-8859-1?q?caf=E9?= au lait", "café au lait"),
        ("=?x-unknown?q?caf=C3=A9?=", "café"),
        ("=?iso-2022-jp?b?GyRCMnE1RBsoQg==?=", "会議"),
        ("Plain subject", "Plain subject"),
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),
    ],
)
def test_decode_words(raw, expected):
    assert decode_words(raw) == expected


def test_raw_utf8_header_bytes():
    smuggled = "Caf\udcc3\udca9".replace("\udcc3\udca9", "\udcc3\udca9")

    assert decode_words(smuggled) == "Café"


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("café".encode("latin-1"), "utf-8", "café"),
        ("café".encode("latin-1"), "us-ascii", "café"),
        ("café".encode(), "us-ascii", "café"),
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
        (b"\x80 euro", "no-such-charset", "€ euro"),
    ],
)
def test_decode_bytes_repairs_wrong_charsets(data, charset, expected):
    assert decode_bytes(data, charset) == expected


def test_addresses_with_encoded_names():
    pairs = parse_addresses('=?utf-8?q?Ana_D=C3=ADaz?= <ana@example.com>, "Bo, Jr." <bo@example.org>')

    assert pairs == [("Ana Díaz", "ana@example.com"), ("Bo, Jr.", "bo@example.org")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 01 Dec 2026 10:00:00 +0100", datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)),
        ("1 Dec 2026 10:00:00 GMT", datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)),
        ("yesterday at noon", None),
        ("", None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_message_ids():
    assert parse_message_ids("<a@x> <b@y>\r\n <c@z>") == ["a@x", "b@y", "c@z"]
    assert parse_message_ids("bare@id") == ["bare@id"]
    assert parse_message_ids("") == []


@given(st.text())
def test_decode_words_never_raises(text):
    assert isinstance(decode_words(text), str)
