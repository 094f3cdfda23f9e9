"""Headers first, bodies after: the two sync phases, the offline settings and bodies fetched on demand, against Dovecot."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.config import load_config, save_config
from desktop.index import SearchIndex
from desktop.paths import default_profile
from desktop.store import Store
from desktop.sync import bodies as sync_bodies
from desktop.sync.bodies import fetch_body
from desktop.sync.engine import structure_has_attachment
from desktop.sync.service import sync_profile
from tests.helpers.mailbox_state import profile_problems
from tests.helpers.proxy import FaultProxy

pytestmark = pytest.mark.dovecot

ACCOUNT = "test"


def make_message(number: int, body: str, *, day: int | None = None, attachment: bool = False) -> bytes:
    message = EmailMessage()
    message["From"] = f"Sender {number} <sender{number}@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = f"Message {number}"
    message["Date"] = f"Tue, {day or number:02d} Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<m{number}@example.com>"
    message.set_content(body)
    if attachment:
        message.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="report.pdf")
    return message.as_bytes()


def add_account(host: str, port: int, user, capsys, **settings: object) -> None:
    code = main([
        "account", "add", ACCOUNT, "--imap-host", host, "--imap-port", str(port), "--security", "none",
        "--user", user.name, "--password-command", f"printf %s {user.password}",
    ])
    assert code == 0
    capsys.readouterr()
    if settings:
        profile = default_profile()
        config = load_config(profile.config_file)
        for name, value in settings.items():
            setattr(config.accounts[ACCOUNT], name, value)
        save_config(config, profile.config_file)


@pytest.fixture
def server(imap_user, direct_client) -> IMAPClient:
    return direct_client


def search(query: str) -> list[int]:
    index = SearchIndex(default_profile().index_dir)
    try:
        return index.search(query, limit=None)
    finally:
        index.close()


def inbox_rows(store: Store):
    folder = store.folder_by_name(ACCOUNT, "INBOX")
    assert folder is not None, "INBOX not in the store"
    return store.messages(store.message_ids([folder.id]))


def test_header_phase_then_body_phase(server, imap_user, dovecot_server, capsys, monkeypatch):
    for number in range(1, 6):
        server.append("INBOX", make_message(number, f"Body of message {number} mentions zanzibar{number}."))
    add_account(dovecot_server.host, dovecot_server.port, imap_user, capsys)
    store_file = default_profile().store_file
    seen_before_bodies = []
    body_phase = sync_bodies.fetch_missing_bodies

    def look_then_fetch(client, account, store, **options):
        # Runs in the account's worker thread, between the two phases.
        with Store(store_file) as reader:
            rows = inbox_rows(reader)
            seen_before_bodies.extend((row.subject, row.from_addr, row.date.day, reader.raw(row.id)) for row in rows)
        yield from body_phase(client, account, store, **options)

    monkeypatch.setattr("desktop.sync.service.fetch_missing_bodies", look_then_fetch)
    phases = [step.phase for step in sync_profile(default_profile())]

    assert sorted(seen_before_bodies) == [(f"Message {n}", f"sender{n}@example.com", n, None) for n in range(1, 6)]
    assert "bodies" in phases
    with Store(store_file) as store:
        assert store.missing_body_count(ACCOUNT) == 0
        assert len(inbox_rows(store)) == 5
        assert all(store.raw(row.id) for row in inbox_rows(store))
    assert len(search("zanzibar3")) == 1


def test_offline_false_fetches_on_demand(server, imap_user, dovecot_server, capsys):
    original = make_message(1, "Only fetched when opened: quokka.")
    server.append("INBOX", original)
    server.append("INBOX", make_message(2, "Second."))
    add_account(dovecot_server.host, dovecot_server.port, imap_user, capsys, offline=False)

    assert main(["sync"]) == 0

    profile = default_profile()
    with Store(profile.store_file) as store:
        assert store.missing_body_count(ACCOUNT) == 2
        first = next(row for row in inbox_rows(store) if row.subject == "Message 1")
    assert search("subject:message") != []
    assert search("quokka") == []

    raw = fetch_body(profile, first.id)

    assert raw.replace(b"\r\n", b"\n") == original.replace(b"\r\n", b"\n")
    with Store(profile.store_file) as store:
        assert store.raw(first.id) == raw
        assert store.missing_body_count(ACCOUNT) == 1
        assert store.message_count() == 2
    assert main(["sync"]) == 0
    assert len(search("quokka")) == 1


def test_size_limit_leaves_large_bodies(server, imap_user, dovecot_server, capsys):
    server.append("INBOX", make_message(1, "small"))
    server.append("INBOX", make_message(2, "large " + "x" * 4000))
    add_account(dovecot_server.host, dovecot_server.port, imap_user, capsys, offline_size_limit_kb=2)

    assert main(["sync"]) == 0

    with Store(default_profile().store_file) as store:
        by_subject = {row.subject: row for row in inbox_rows(store)}
        assert by_subject["Message 2"].size > 2048
        assert store.raw(by_subject["Message 1"].id) is not None
        assert store.raw(by_subject["Message 2"].id) is None


def test_bodies_fetched_newest_first(server, imap_user, dovecot_server, capsys, monkeypatch):
    # Appended in an order unlike their dates, so UID order is not date order.
    for number, day in ((1, 5), (2, 1), (3, 9), (4, 3), (5, 7), (6, 2), (7, 8)):
        server.append("INBOX", make_message(number, "text", day=day))
    add_account(dovecot_server.host, dovecot_server.port, imap_user, capsys)
    monkeypatch.setattr(sync_bodies, "BODY_BATCH", 2)
    batches: list[list[int]] = []
    original_fetch = IMAPClient.fetch

    def fetch(client, messages, data, modifiers=None):
        if [bytes(item) if isinstance(item, bytes) else item.encode() for item in data] == [b"BODY.PEEK[]"]:
            batches.append(list(messages))
        return original_fetch(client, messages, data, modifiers)

    monkeypatch.setattr(IMAPClient, "fetch", fetch)

    assert main(["sync"]) == 0

    server.select_folder("INBOX", readonly=True)
    days = {uid: data[b"ENVELOPE"].date.day for uid, data in server.fetch(server.search("ALL"), [b"ENVELOPE"]).items()}
    assert [sorted((days[uid] for uid in batch), reverse=True) for batch in batches] == [[9, 8], [7, 5], [3, 2], [1]]


def test_cut_during_body_phase_then_sync_completes(server, imap_user, dovecot_server, capsys, monkeypatch):
    for number in range(1, 21):
        server.append("INBOX", make_message(number, f"Long body {number}\n" + "words and more words\n" * 2500))
    monkeypatch.setattr(sync_bodies, "BODY_BATCH", 4)
    with FaultProxy(dovecot_server.host, dovecot_server.port) as proxy:
        add_account(proxy.host, proxy.port, imap_user, capsys)
        # Each body is about 52 KB and the header phase far less than 100 KB, so the cut falls in the body phase.
        proxy.cut_after(400 * 1024)

        assert main(["sync", "--quiet"]) == 1
        with Store(default_profile().store_file) as store:
            assert store.message_count() == 20
            assert 0 < 20 - store.missing_body_count(ACCOUNT) < 20

        proxy.pass_through()
        assert main(["sync", "--quiet"]) == 0

    problems = profile_problems(default_profile(), ACCOUNT, dovecot_server.host, dovecot_server.port,
                                imap_user.name, imap_user.password)
    assert problems == []


def test_stop_between_phases_next_sync_completes(server, imap_user, dovecot_server, capsys, monkeypatch):
    for number in range(1, 4):
        server.append("INBOX", make_message(number, f"text {number}"))
    add_account(dovecot_server.host, dovecot_server.port, imap_user, capsys)

    def die(*_args, **_kwargs):
        raise OSError("connection lost before the body phase")
        yield

    with monkeypatch.context() as patch:
        patch.setattr("desktop.sync.service.fetch_missing_bodies", die)
        assert main(["sync", "--quiet"]) == 1
    with Store(default_profile().store_file) as store:
        assert store.message_count() == 3
        assert store.missing_body_count(ACCOUNT) == 3

    assert main(["sync", "--quiet"]) == 0

    problems = profile_problems(default_profile(), ACCOUNT, dovecot_server.host, dovecot_server.port,
                                imap_user.name, imap_user.password)
    assert problems == []


def test_attachment_mark_from_bodystructure(server, imap_user, dovecot_server, capsys):
    server.append("INBOX", make_message(1, "See the report.", attachment=True))
    server.append("INBOX", make_message(2, "No attachment, though the word attachment appears."))
    add_account(dovecot_server.host, dovecot_server.port, imap_user, capsys, offline=False)

    assert main(["sync"]) == 0

    with Store(default_profile().store_file) as store:
        marks = {row.subject: row.has_attachment for row in inbox_rows(store)}
    assert marks == {"Message 1": True, "Message 2": False}


def test_structure_walk_finds_dispositions():
    attached = ((b"text", b"plain", (b"charset", b"utf-8"), None, None, b"7bit", 10, 1, None, None, None, None),
                (b"application", b"pdf", None, None, None, b"base64", 20, None, (b"attachment", (b"filename", b"a.pdf")),
                 None, None), b"mixed")
    named_inline = ((b"image", b"png", None, None, None, b"base64", 20, None, (b"inline", (b"filename", b"p.png")), None, None),)
    plain = (b"text", b"plain", (b"charset", b"utf-8"), None, None, b"7bit", 10, 1, None, None, None, None)

    assert structure_has_attachment(attached)
    assert structure_has_attachment(named_inline)
    assert not structure_has_attachment(plain)
