"""desktop.text.pluralize: a count with the noun in singular or plural."""

from __future__ import annotations

import pytest

from desktop.text import pluralize


@pytest.mark.parametrize(("number", "singular", "plural", "expected"), [
    (1, "message", None, "1 message"),
    (0, "message", None, "0 messages"),
    (2, "message", None, "2 messages"),
    (20000, "message", None, "20000 messages"),
    (1, "copy", "copies", "1 copy"),
    (1, "reply", "replies", "1 reply"),
    (3, "reply", "replies", "3 replies"),
    (2, "address", "addresses", "2 addresses"),
])
def test_pluralize(number, singular, plural, expected):
    assert pluralize(number, singular, plural) == expected
