"""SmtpSender against a real aiosmtpd on 127.0.0.1: plain, AUTH, TLS, and each kind of failure."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from email.message import EmailMessage

import pytest

from desktop.config import Account
from desktop.credentials import store_password
from desktop.send import SendError, SmtpSender
from desktop.send.credentials import store_smtp_password
from tests.helpers.smtp_server import SmtpServer, free_port, make_certificate

# aiosmtpd warns when a server requires AUTH without TLS, which the plain-text login tests need on loopback.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

PASSWORD = "smtp-test-secret-4711"


def account_for(server: SmtpServer, **changes: object) -> Account:
    values: dict = {
        "name": "work", "imap_host": "127.0.0.1", "user": "ana", "security": "none",
        "smtp_host": server.host, "smtp_port": server.port, "smtp_security": "none", "address": "ana@example.com",
    }
    values.update(changes)
    account = Account(**values)
    account.validate()
    return account


def make_message(to: str = "bob@example.org", *, body: str = "Hello Bob.") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ana <ana@example.com>"
    message["To"] = to
    message["Subject"] = "Greetings"
    message.set_content(body)
    return message


@pytest.fixture
def sender():
    with SmtpSender() as instance:
        yield instance


@pytest.fixture
def certificate(tmp_path):
    pair = make_certificate(tmp_path)
    if pair is None:
        pytest.skip("openssl is not installed; install it with: apt-get install openssl")
    return pair


def test_send_plain_delivers_message(smtp_server, sender):
    result = sender.send(account_for(smtp_server), make_message())

    received = smtp_server.received
    assert len(received) == 1
    assert received[0].mail_from == "ana@example.com"
    assert received[0].rcpt_tos == ("bob@example.org",)
    assert received[0].message["Subject"] == "Greetings"
    assert "Hello Bob." in received[0].message.get_content()
    assert result.accepted == ("bob@example.org",)
    assert result.refused == {}
    assert result.response == "Message accepted for delivery"


def test_bcc_is_recipient_not_header(smtp_server, sender):
    message = make_message()
    message["Bcc"] = "carol@example.net"

    sender.send(account_for(smtp_server), message)

    received = smtp_server.received[0]
    assert received.rcpt_tos == ("bob@example.org", "carol@example.net")
    assert b"carol@example.net" not in received.data
    assert "Bcc" in message, "the caller's message must stay unchanged"


def test_null_sender_is_sent(smtp_server, sender):
    sender.send(account_for(smtp_server), make_message(), sender="")

    assert smtp_server.received[0].mail_from == ""


def test_submit_returns_future_from_other_thread(smtp_server, sender):
    futures = [sender.submit(account_for(smtp_server), make_message(f"user{n}@example.org")) for n in range(5)]

    results = [future.result(timeout=30) for future in futures]

    assert sorted(result.accepted[0] for result in results) == [f"user{n}@example.org" for n in range(5)]
    assert len(smtp_server.received) == 5


def test_auth_with_keyring_password(sender, memory_keyring):
    store_password("work", PASSWORD)
    with SmtpServer(user="ana", password=PASSWORD) as server:
        sender.send(account_for(server), make_message())

        assert server.logins == [("ana", True)]
        assert server.received[0].login == "ana"


def test_auth_with_separate_smtp_user(sender):
    store_password("work", "imap-only-password")
    store_smtp_password("work", PASSWORD)
    with SmtpServer(user="ana-smtp", password=PASSWORD) as server:
        sender.send(account_for(server, smtp_user="ana-smtp"), make_message())

        assert server.logins == [("ana-smtp", True)]
        assert len(server.received) == 1


def test_auth_with_password_command(sender):
    with SmtpServer(user="ana", password=PASSWORD) as server:
        account = account_for(server, password_command=f"echo {PASSWORD}")

        sender.send(account, make_message())

        assert server.logins == [("ana", True)]


def test_auth_failure_is_classified(sender):
    store_password("work", "wrong-password")
    with SmtpServer(user="ana", password=PASSWORD) as server:
        with pytest.raises(SendError) as caught:
            sender.send(account_for(server), make_message())

        error = caught.value
        assert error.kind == "auth_failed"
        assert error.code == 535
        assert not error.temporary
        assert f"127.0.0.1:{server.port}" in str(error)
        assert "535" in str(error)
        assert "Check smtp_user" in str(error)
        assert "store the right password with 'sluice account password work'" in str(error)
        assert server.received == []


def test_missing_smtp_password_names_keyring_entry(sender):
    store_password("work", PASSWORD)
    with SmtpServer(user="other", password=PASSWORD) as server:
        with pytest.raises(SendError) as caught:
            sender.send(account_for(server, smtp_user="other"), make_message())

        assert caught.value.kind == "credentials"
        assert "work/smtp" in str(caught.value)
        assert "keyring set sluice work/smtp" in str(caught.value)


def test_password_never_logged(sender, caplog):
    store_password("work", PASSWORD)
    caplog.set_level(logging.DEBUG)
    with SmtpServer(user="ana", password=PASSWORD) as server:
        sender.send(account_for(server), make_message())

    assert caplog.records, "the send must log something"
    assert PASSWORD not in caplog.text


def test_recipient_rejected_permanent(smtp_server, sender):
    smtp_server.reply_to_recipient("nobody@example.org", "550 5.1.1 No such user here")

    with pytest.raises(SendError) as caught:
        sender.send(account_for(smtp_server), make_message("nobody@example.org"))

    assert caught.value.kind == "recipient_rejected"
    assert caught.value.code == 550
    assert not caught.value.temporary
    assert "nobody@example.org: 550 5.1.1 No such user here" in str(caught.value)
    assert smtp_server.received == []


def test_recipient_temporary_failure(smtp_server, sender):
    smtp_server.reply_to_recipient("busy@example.org", "452 4.2.2 Mailbox full, try later")

    with pytest.raises(SendError) as caught:
        sender.send(account_for(smtp_server), make_message("busy@example.org"))

    assert caught.value.kind == "temporary"
    assert caught.value.code == 452
    assert caught.value.temporary
    assert "Try again later" in str(caught.value)


def test_relay_denied_is_classified(smtp_server, sender):
    smtp_server.reply_to_recipient("far@elsewhere.test", "554 5.7.1 Relay access denied")

    with pytest.raises(SendError) as caught:
        sender.send(account_for(smtp_server), make_message("far@elsewhere.test"))

    assert caught.value.kind == "relay_denied"
    assert caught.value.code == 554
    assert "submission server" in str(caught.value)


def test_partial_refusal_reports_refused(smtp_server, sender):
    smtp_server.reply_to_recipient("nobody@example.org", "550 5.1.1 No such user here")
    message = make_message("bob@example.org, nobody@example.org")

    result = sender.send(account_for(smtp_server), message)

    assert result.accepted == ("bob@example.org",)
    assert result.refused == {"nobody@example.org": "550 5.1.1 No such user here"}
    assert smtp_server.received[0].rcpt_tos == ("bob@example.org",)


def test_sender_refused_is_classified(smtp_server, sender):
    smtp_server.reply_to_sender("ana@example.com", "553 5.7.1 Sender address not owned by user")

    with pytest.raises(SendError) as caught:
        sender.send(account_for(smtp_server), make_message())

    assert caught.value.kind == "sender_rejected"
    assert caught.value.code == 553
    assert "ana@example.com" in str(caught.value)


def test_too_large_names_server_limit(sender):
    with SmtpServer(size_limit=2000) as server:
        with pytest.raises(SendError) as caught:
            sender.send(account_for(server), make_message(body="x" * 5000))

        assert caught.value.kind == "too_large"
        assert "SIZE 2000" in str(caught.value)
        assert server.received == []


def test_connection_refused_is_classified(sender):
    port = free_port()
    account = Account(name="work", imap_host="127.0.0.1", user="ana", smtp_host="127.0.0.1", smtp_port=port,
                      smtp_security="none", address="ana@example.com")

    with pytest.raises(SendError) as caught:
        sender.send(account, make_message(), timeout=5)

    assert caught.value.kind == "connection_refused"
    assert caught.value.temporary
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_timeout_is_classified(sender):
    """A listener that accepts but never greets makes the connect step time out."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        account = Account(name="work", imap_host="127.0.0.1", user="ana", smtp_host="127.0.0.1", smtp_port=port,
                          smtp_security="none", address="ana@example.com")

        with pytest.raises(SendError) as caught:
            sender.send(account, make_message(), timeout=1)

    assert caught.value.kind == "timeout"
    assert caught.value.temporary


def test_account_without_smtp_host(sender):
    account = Account(name="work", imap_host="127.0.0.1", user="ana", address="ana@example.com")

    with pytest.raises(SendError) as caught:
        sender.send(account, make_message())

    assert caught.value.kind == "config"
    assert "smtp_host" in str(caught.value)


def test_starttls_with_trusted_certificate(certificate):
    cert, _key = certificate
    context = ssl.create_default_context(cafile=str(cert))
    store_password("work", PASSWORD)
    with SmtpServer(user="ana", password=PASSWORD, tls="starttls", certificate=certificate) as server:
        with SmtpSender(ssl_context=context) as sender:
            sender.send(account_for(server, smtp_security="starttls"), make_message())

        assert server.logins == [("ana", True)]
        assert len(server.received) == 1


def test_implicit_tls_with_trusted_certificate(certificate):
    cert, _key = certificate
    context = ssl.create_default_context(cafile=str(cert))
    with SmtpServer(tls="tls", certificate=certificate) as server:
        with SmtpSender(ssl_context=context) as sender:
            sender.send(account_for(server, smtp_security="tls"), make_message())

        assert len(server.received) == 1


def test_untrusted_certificate_is_rejected(certificate, sender):
    with SmtpServer(tls="starttls", certificate=certificate) as server:
        with pytest.raises(SendError) as caught:
            sender.send(account_for(server, smtp_security="starttls"), make_message())

        assert caught.value.kind == "tls"
        assert "certificate" in str(caught.value)
        assert server.received == []


def test_starttls_required_but_not_offered(smtp_server, sender):
    with pytest.raises(SendError) as caught:
        sender.send(account_for(smtp_server, smtp_security="starttls"), make_message())

    assert caught.value.kind == "tls"
    assert "STARTTLS" in str(caught.value)
    assert smtp_server.received == []


def test_send_after_close_raises(smtp_server):
    sender = SmtpSender()
    sender.send(account_for(smtp_server), make_message())
    sender.close()

    with pytest.raises(RuntimeError, match="closed"):
        sender.send(account_for(smtp_server), make_message())
    assert not any(thread.name == "smtp-sender" and thread.is_alive() for thread in threading.enumerate())
