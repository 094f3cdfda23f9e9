"""A mixed mailbox on the test Dovecot for the rule engine tests, and ways to read its state.

The corpus has one or more messages for each example rule file in ``rules/``
and some that no rule matches. A test adds the account through the CLI, puts
the corpus on the server with a separate IMAP connection (another client),
syncs it into the profile, and later reads the server back the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.paths import default_profile
from desktop.store import Store

ACCOUNT = "test"
EXAMPLE_RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime.now(timezone.utc)

# Message-ID (without <>) -> how the message is built. Each is named after what the example rules should do.
CORPUS: dict[str, dict] = {
    "invoice@shop.example": {"subject": "Invoice 1001 for your order", "sender": "Shop <billing@shop.example>"},
    "receipt@shop.example": {"subject": "Your receipt", "sender": "Shop <billing@shop.example>", "flags": ["\\Flagged"]},
    "budget@example.com": {"subject": "Budget for next year", "sender": "The Boss <boss@example.com>"},
    "family@family.example.org": {"subject": "Sunday lunch", "sender": "Mum <mum@family.example.org>"},
    "python@lists.example": {"subject": "[Python-ideas] A new operator", "sender": "Guido <guido@python.example>",
                             "headers": {"List-Id": "Python ideas <python-ideas.python.org>"}},
    "announce@lists.example": {"subject": "Release announce 2.0", "sender": "Project <news@project.example>",
                               "headers": {"List-Id": "Project news <news.project.example>"}},
    "old-news@lists.example": {"subject": "Weekly digest", "sender": "Digest <digest@news.example>",
                               "headers": {"List-Id": "Digest <digest.news.example>"}, "age_days": 90},
    "plain@example.com": {"subject": "Lunch tomorrow?", "sender": "Bea <bea@example.com>"},
    "plain2@example.com": {"subject": "Photos from the trip", "sender": "Carl <carl@example.com>", "flags": ["\\Seen"]},
}

SERVER_FOLDERS = ("Receipts", "Lists/python")


def build_message(message_id: str, *, subject: str, sender: str, headers: dict[str, str] | None = None,
                  age_days: float = 1, body: str | None = None, **_ignored) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(NOW - timedelta(days=age_days))
    message["Message-ID"] = f"<{message_id}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body or f"This is {subject}.\n")
    return message.as_bytes()


def add_account(host: str, port: int, user, *extra: str) -> None:
    code = main([
        "account", "add", ACCOUNT, "--imap-host", host, "--imap-port", str(port), "--security", "none",
        "--user", user.name, "--password-command", f"printf %s {user.password}", *extra,
    ])
    assert code == 0


def seed(server: IMAPClient, corpus: dict[str, dict] = CORPUS, folders=SERVER_FOLDERS) -> None:
    """Create the folders the rules need and append the corpus to INBOX, as another mail client would."""
    for folder in folders:
        if not server.folder_exists(folder):
            server.create_folder(folder)
    for message_id, spec in corpus.items():
        server.append("INBOX", build_message(message_id, **spec), flags=spec.get("flags", ()))


def sync(capsys: pytest.CaptureFixture) -> str:
    code = main(["sync", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out + captured.err


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def server_state(server: IMAPClient) -> dict[str, dict[str, frozenset[str]]]:
    """Return {folder: {Message-ID: flags}} of every folder, read on the server."""
    state: dict[str, dict[str, frozenset[str]]] = {}
    for flags, _delimiter, name in server.list_folders():
        if any(flag.lower() in (b"\\noselect", b"\\nonexistent") for flag in flags):
            continue
        folder = name if isinstance(name, str) else name.decode()
        server.select_folder(folder, readonly=True)
        uids = server.search("ALL")
        found = server.fetch(uids, [b"FLAGS", b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
        state[folder] = {
            _message_id(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]):
                frozenset(flag.decode() for flag in data[b"FLAGS"] if flag.decode() != "\\Recent")
            for data in found.values()
        }
    return state


def _message_id(header: bytes) -> str:
    return header.decode().split(":", 1)[1].strip().strip("<>") if b":" in header else ""


def where(state: dict[str, dict[str, frozenset[str]]], message_id: str) -> list[tuple[str, frozenset[str]]]:
    """Return the (folder, flags) of every copy of a message in a server state."""
    return [(folder, messages[message_id]) for folder, messages in state.items() if message_id in messages]


def store_state() -> list[tuple]:
    """Return every stored message as (Message-ID, folder, flags, priority, lane), sorted."""
    with Store(default_profile().store_file) as store:
        rows = store.messages(store.all_message_ids())
    return sorted((row.message_id, row.folder, tuple(sorted(row.flags)), row.priority, row.lane) for row in rows)


def stored(message_id: str) -> list:
    with Store(default_profile().store_file) as store:
        return store.messages(store.message_ids_by_header(message_id))


def journal_and_bulk_counts() -> tuple[int, int, int]:
    with Store(default_profile().store_file) as store:
        db = store._db
        return (db.execute("SELECT COUNT(*) FROM actions").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM bulk_actions").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM rule_hits").fetchone()[0])
