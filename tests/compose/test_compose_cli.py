"""`sluice send` and `sluice outbox` against aiosmtpd."""

from __future__ import annotations

import io

import pytest

from desktop.cli import main
from tests.compose.compose_helpers import ADDRESS, add_account, open_outbox
from tests.helpers.smtp_server import free_port


def run(capsys, monkeypatch, body: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(body))
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_send_delivers_with_attachment(smtp_server, capsys, monkeypatch, tmp_path):
    add_account(smtp_server, signature="Ana")
    attachment = tmp_path / "notes é.txt"
    attachment.write_text("notes\n", encoding="utf-8")

    code, out, err = run(capsys, monkeypatch, "Hello from the shell.\n", "send", "--account", "work",
                         "--to", "bob@example.org, Carol <carol@example.org>", "--cc", "dan@example.org",
                         "--bcc", "erin@example.org", "--subject", "Überblick", "--attach", str(attachment))

    assert code == 0, err
    assert "Sent outbox entry 1" in out
    (received,) = smtp_server.received
    assert sorted(received.rcpt_tos) == ["bob@example.org", "carol@example.org", "dan@example.org", "erin@example.org"]
    message = received.message
    assert message["Subject"] == "Überblick"
    assert message["Bcc"] is None
    assert message["From"].addresses[0].addr_spec == ADDRESS
    text = message.get_body(("plain",)).get_content()
    assert "Hello from the shell." in text
    assert "-- \nAna" in text.replace("\r\n", "\n")
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "notes é.txt"


def test_send_failure_stays_in_outbox(smtp_server, capsys, monkeypatch):
    add_account(smtp_server, smtp_port=free_port())

    code, _, err = run(capsys, monkeypatch, "body\n", "send", "--account", "work", "--to", "bob@example.org",
                       "--subject", "Refused")
    listed_code, listing, _ = run(capsys, monkeypatch, "", "outbox", "list")

    assert code == 1
    assert "stays in the outbox" in err
    assert "refused the connection" in err
    assert "sluice outbox retry 1" in err
    assert listed_code == 0
    assert "failed" in listing
    assert "Refused" in listing
    assert "Next try at" in listing


def test_send_later_then_cancel(smtp_server, capsys, monkeypatch):
    add_account(smtp_server)

    code, out, err = run(capsys, monkeypatch, "later\n", "send", "--account", "work", "--to", "bob@example.org",
                         "--subject", "Later", "--at", "2099-01-01 09:00")
    cancel_code, cancelled, _ = run(capsys, monkeypatch, "", "outbox", "cancel", "1")
    send_code, sent_out, _ = run(capsys, monkeypatch, "", "outbox", "send")

    assert code == 0, err
    assert "Queued as outbox entry 1 for 2099-01-01 09:00" in out
    assert cancel_code == 0
    assert "will not be sent" in cancelled
    assert send_code == 0
    assert "No message is due." in sent_out
    assert smtp_server.received == []
    with open_outbox() as outbox:
        assert outbox.entries() == []


@pytest.mark.parametrize("args, message", [
    (("--at", "tomorrow"), "YYYY-MM-DD HH:MM"),
    (("--to", "not an address"), "'not an address'"),
    (("--subject", "a\nb"), "line break"),
    (("--account", "nope"), "No account named 'nope'"),
])
def test_send_bad_input_named(smtp_server, capsys, monkeypatch, args, message):
    add_account(smtp_server)
    base = {"--account": "work", "--to": "bob@example.org", "--subject": "S"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    flat = [item for pair in base.items() for item in pair]

    code, _, err = run(capsys, monkeypatch, "body\n", "send", *flat)

    assert code == 1
    assert message in err
    assert smtp_server.received == []


def test_outbox_cancel_unknown_entry(smtp_server, capsys, monkeypatch):
    add_account(smtp_server)

    code, _, err = run(capsys, monkeypatch, "", "outbox", "cancel", "42")

    assert code == 1
    assert "entry 42" in err
