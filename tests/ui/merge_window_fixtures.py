"""Fixtures of the merge window tests: a real SMTP server on 127.0.0.1 and a merge window sending to it."""

from __future__ import annotations

import pytest

from desktop.paths import default_profile
from desktop.ui.merge_window import MergeWindow
from tests.helpers.smtp_server import SmtpServer
from tests.merge.send_helpers import add_smtp_account


@pytest.fixture
def server():
    with SmtpServer() as instance:
        yield instance


@pytest.fixture
def window(qtbot, server):
    """A merge window whose account sends to ``server``, with Sent copies off; a running send is stopped after."""
    add_smtp_account(server)
    composer = MergeWindow(default_profile())
    qtbot.addWidget(composer)
    composer.send_panel.copies_box.setChecked(False)
    yield composer
    if composer.runner is not None and composer.runner.is_running():
        composer.runner.cancel()
        composer.runner.wait(20000)
