"""SmtpSender with an account that has no SMTP server: both entry points reject it before any connection."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from desktop.config import Account
from desktop.send import SendError, SmtpSender
from desktop.send.smtp import KIND_CONFIG


def _imap_only_account() -> Account:
    account = Account(name="reader", imap_host="127.0.0.1", user="ana", security="none")
    account.validate()
    return account


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ana <ana@example.com>"
    message["To"] = "bob@example.org"
    message["Subject"] = "Greetings"
    message.set_content("Hello Bob.")
    return message


def test_send_without_smtp_host_raises() -> None:
    with SmtpSender() as sender, pytest.raises(SendError) as raised:
        sender.send(_imap_only_account(), _message())

    assert raised.value.kind == KIND_CONFIG
    assert raised.value.account == "reader"
    assert "has no SMTP server" in str(raised.value)
    assert "Set smtp_host" in str(raised.value)


def test_open_connection_without_smtp_host_raises() -> None:
    with SmtpSender() as sender:
        future = sender.run_coroutine(sender.open_connection(_imap_only_account()))
        with pytest.raises(SendError) as raised:
            future.result(timeout=10)

    assert raised.value.kind == KIND_CONFIG
    assert raised.value.account == "reader"
    assert "has no SMTP server" in str(raised.value)
    assert "Set smtp_host" in str(raised.value)
