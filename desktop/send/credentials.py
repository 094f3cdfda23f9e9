"""The SMTP login secret of an account.

When the SMTP login name equals the IMAP user (the usual case, and the
default when ``smtp_user`` is empty), SMTP uses the IMAP secret: the same
keyring entry, password command or OAuth 2.0 token command. A different
SMTP login name gets a keyring entry of its own, named ``NAME/smtp`` under
the ``sluice`` service. Account names cannot contain ``/``, so this entry
never collides with an account's entry.
"""

from __future__ import annotations

import logging

from desktop.config import Account
from desktop.credentials import (
    KEYRING_SERVICE,
    CredentialError,
    _keyring,
    get_oauth2_token,
    get_password,
    store_password,
)
from desktop.text import sentence

log = logging.getLogger(__name__)


def smtp_keyring_entry(account_name: str) -> str:
    """Return the keyring user name of an account's separate SMTP password."""
    return f"{account_name}/smtp"


def uses_imap_secret(account: Account) -> bool:
    """Return whether SMTP logs in with the IMAP secret, which is so when the login names are equal."""
    return account.smtp_login == account.user


def store_smtp_password(account_name: str, password: str) -> None:
    """Save the separate SMTP password of ``account_name`` in the keyring."""
    store_password(smtp_keyring_entry(account_name), password)


def delete_smtp_password(account_name: str) -> bool:
    """Remove the separate SMTP password entry; return False when there was none."""
    keyring = _keyring()
    try:
        keyring.delete_password(KEYRING_SERVICE, smtp_keyring_entry(account_name))
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as error:
        log.warning("Could not remove the SMTP keyring entry of account %s: %s", account_name, error)
        return False
    return True


def smtp_secret(account: Account) -> tuple[str, bool]:
    """Return the SMTP secret of ``account`` and whether it is an OAuth 2.0 token.

    Raises:
        CredentialError: the keyring has no entry or the command failed; the
            message names the account and the fix.
    """
    if uses_imap_secret(account):
        if account.oauth2_token_command:
            return get_oauth2_token(account), True
        return get_password(account), False
    keyring = _keyring()
    entry = smtp_keyring_entry(account.name)
    try:
        password = keyring.get_password(KEYRING_SERVICE, entry)
    except keyring.errors.KeyringError as error:
        raise CredentialError(
            f"Reading the SMTP password of account {account.name!r} (keyring entry {entry!r}) failed: {sentence(error)} "
            "Start a Secret Service such as GNOME Keyring or KWallet."
        ) from error
    if password is None:
        raise CredentialError(
            f"The keyring has no SMTP password for account {account.name!r} (SMTP user {account.smtp_login!r}, "
            f"keyring entry {entry!r}). Store it with: keyring set {KEYRING_SERVICE} {entry}"
        )
    return password, False
