"""Shared pieces of the compose tests: an account on the test Dovecot and aiosmtpd, sync, and readers."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from desktop.cli import main
from desktop.compose.outbox import Outbox, outbox_path
from desktop.compose.sending import OutboxSender
from desktop.config import Account, Config, load_config, save_config
from desktop.paths import default_profile
from desktop.send.smtp import SmtpSender
from desktop.store import Store

ACCOUNT = "work"
ADDRESS = "ana@example.com"
ALIAS = "ana.old@example.net"


def add_account(smtp_server, imap_user=None, dovecot_server=None, **changes: object) -> Account:
    """Write a config with account 'work': IMAP on the test Dovecot (when given) and SMTP on ``smtp_server``."""
    values: dict = {
        "name": ACCOUNT, "imap_host": "127.0.0.1", "user": "ana", "security": "none",
        "smtp_host": smtp_server.host if smtp_server else "", "smtp_port": smtp_server.port if smtp_server else 0,
        "smtp_security": "none", "address": ADDRESS, "aliases": [ALIAS],
    }
    if imap_user is not None:
        values.update(imap_port=dovecot_server.port, user=imap_user.name,
                      password_command=f"printf %s {imap_user.password}")
    values.update(changes)
    account = Account(**values)
    account.validate()
    profile = default_profile().ensure()
    config = load_config(profile.config_file)
    config.accounts[ACCOUNT] = account
    save_config(config, profile.config_file)
    return account


def config() -> Config:
    return load_config(default_profile().config_file)


def sync(capsys) -> None:
    code = main(["sync", "--quiet"])
    assert code == 0, capsys.readouterr().err


def open_outbox() -> Outbox:
    return Outbox(outbox_path(default_profile().ensure().data_dir))


def open_store() -> Store:
    return Store(default_profile().store_file)


def sender_for(outbox: Outbox, smtp: SmtpSender, *, push: bool = True) -> OutboxSender:
    return OutboxSender(outbox, config(), smtp, open_store, push=push)


def parsed(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def folder_messages(client, folder: str) -> list[EmailMessage]:
    """Return the messages of ``folder`` as the server holds them, read over a separate connection."""
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    fetched = client.fetch(uids, ["RFC822"]) if uids else {}
    return [parsed(fetched[uid][b"RFC822"]) for uid in sorted(fetched)]
