"""desktop.text.sentence: a message from elsewhere followed by more text gets exactly one full stop."""

from __future__ import annotations

import pytest

from desktop.text import sentence


@pytest.mark.parametrize(("given", "expected"), [
    ("connection refused", "connection refused."),
    ("Mailbox already exists.", "Mailbox already exists."),
    ("Really?", "Really?"),
    ("Stop!  ", "Stop!"),
    (OSError(2, "No such file or directory"), "[Errno 2] No such file or directory."),
])
def test_sentence(given, expected):
    assert sentence(given) == expected

