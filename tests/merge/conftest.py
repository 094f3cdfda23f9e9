"""Fixtures of the merge tests."""

from __future__ import annotations

import pytest

from tests.merge.send_helpers import ScriptedServer


@pytest.fixture
def server():
    """A scripted SMTP server on 127.0.0.1 for one test."""
    with ScriptedServer() as instance:
        yield instance
