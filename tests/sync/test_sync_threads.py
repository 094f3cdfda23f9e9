"""Sync puts new mail into conversations, so the conversation view never has to thread on the GUI thread."""

from __future__ import annotations

import io
from email.message import EmailMessage

import pytest

from desktop.cli import main
from desktop.paths import default_profile
from desktop.store import Store

pytestmark = pytest.mark.dovecot


def make_message(subject: str, message_id: str, *, in_reply_to: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = "ana@example.com"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    message.set_content("text")
    return message.as_bytes()


def thread_ids() -> dict[str, int | None]:
    with Store(default_profile().store_file) as store:
        rows = store._db.execute("SELECT subject, thread_id FROM messages")
        return dict(rows.fetchall())


def test_sync_threads_new_mail(imap_user, dovecot_server, direct_client, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(imap_user.password + "\n"))
    assert main([
        "account", "add", "test", "--imap-host", dovecot_server.host, "--imap-port", str(dovecot_server.port),
        "--security", "none", "--user", imap_user.name, "--password-stdin",
    ]) == 0
    direct_client.append("INBOX", make_message("Budget plan", "root@example.com"))
    direct_client.append("INBOX", make_message("Lunch?", "other@example.com"))
    assert main(["sync"]) == 0

    first = thread_ids()
    assert None not in first.values()
    assert first["Budget plan"] != first["Lunch?"]

    # A reply arrives in a later sync and joins the thread of its parent.
    direct_client.append("INBOX", make_message("Re: Budget plan", "reply@example.com", in_reply_to="root@example.com"))
    assert main(["sync"]) == 0, capsys.readouterr().err

    second = thread_ids()
    assert second["Re: Budget plan"] == second["Budget plan"]
    assert second["Lunch?"] != second["Budget plan"]
