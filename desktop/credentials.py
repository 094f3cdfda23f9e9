"""Passwords from the system keyring or from a user command, and OAuth 2.0 access tokens from a command.

Passwords and tokens are never written to the config file, the store or a log. The
keyring service name is ``sluice``, with the account name as the user name,
so other tools (``secret-tool``, ``keyring get``) can find the entry.
"""

from __future__ import annotations

import importlib
import logging
import subprocess
from types import ModuleType

from desktop.config import Account

log = logging.getLogger(__name__)

KEYRING_SERVICE = "sluice"
PASSWORD_COMMAND_TIMEOUT = 60.0
TOKEN_COMMAND_TIMEOUT = 60.0


class CredentialError(RuntimeError):
    """A password could not be stored or obtained."""


def _keyring() -> ModuleType:
    """Import keyring on first use; it costs about 40 ms, which commands without passwords skip."""
    module = importlib.import_module("keyring")
    importlib.import_module("keyring.errors")
    return module


def _keyring_missing_message(account: str, action: str) -> str:
    return (
        f"No usable system keyring was found, so the password of account {account!r} cannot be {action}. "
        "Start a Secret Service such as GNOME Keyring or KWallet, or use --password-command CMD, where CMD prints "
        "the password (for example 'pass show mail/work'): add it to the 'sluice account add' command, or, for an "
        f"account that exists already, run 'sluice account password {account} --password-command CMD'."
    )


def store_password(account: str, password: str) -> None:
    """Save ``password`` for ``account`` in the system keyring."""
    keyring = _keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, account, password)
    except keyring.errors.NoKeyringError as error:
        raise CredentialError(_keyring_missing_message(account, "stored")) from error
    except keyring.errors.KeyringError as error:
        raise CredentialError(f"The keyring rejected the password for account {account!r}: {error}") from error
    log.info("Stored the password of account %s in the keyring", account)


def delete_password(account: str) -> bool:
    """Remove ``account``'s keyring entry; return False when there was none."""
    keyring = _keyring()
    try:
        keyring.delete_password(KEYRING_SERVICE, account)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as error:
        log.warning("Could not remove the keyring entry of account %s: %s", account, error)
        return False
    return True


def get_password(account: Account) -> str:
    """Return the password of ``account`` from its command or the keyring."""
    if account.password_command:
        return _run_password_command(account)
    keyring = _keyring()
    try:
        password = keyring.get_password(KEYRING_SERVICE, account.name)
    except keyring.errors.NoKeyringError as error:
        raise CredentialError(_keyring_missing_message(account.name, "read")) from error
    except keyring.errors.KeyringError as error:
        raise CredentialError(f"Reading the password of account {account.name!r} from the keyring failed: {error}") from error
    if password is None:
        raise CredentialError(
            f"The keyring has no password for account {account.name!r}. Store it with "
            f"'sluice account password {account.name}', or use --password-command."
        )
    return password


def get_oauth2_token(account: Account) -> str:
    """Return an OAuth 2.0 access token for ``account`` from its ``oauth2_token_command``.

    Raises:
        CredentialError: the account has no token command, or the command
            failed, timed out or printed nothing.
    """
    if not account.oauth2_token_command:
        raise CredentialError(
            f"Account {account.name!r} has no OAuth 2.0 token command; set one with "
            "'sluice account add ... --oauth2-token-command CMD'."
        )
    label = "OAuth 2.0 token command"
    token = _run_secret_command(account, account.oauth2_token_command, label, TOKEN_COMMAND_TIMEOUT).strip()
    if not token:
        raise CredentialError(f"The {label} of account {account.name!r} printed only blanks; it must print an access token.")
    return token


def _run_password_command(account: Account) -> str:
    return _run_secret_command(account, account.password_command, "password command", PASSWORD_COMMAND_TIMEOUT)


def _run_secret_command(account: Account, command: str, label: str, timeout: float) -> str:
    """Run ``command`` in a shell and return its first output line.

    The secret goes to stdout only, so stderr can be quoted in the error.
    """
    log.debug("Running the %s of account %s", label, account.name)
    try:
        result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise CredentialError(
            f"The {label} of account {account.name!r} did not finish within "
            f"{timeout:.0f} s; check that it does not wait for input."
        ) from error
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[:1] or ["no error output"]
        log.warning("The %s of account %s failed with exit code %d", label, account.name, result.returncode)
        raise CredentialError(
            f"The {label} of account {account.name!r} ({command!r}) failed with exit code {result.returncode}: {detail[0]}"
        )
    lines = result.stdout.splitlines()
    if not lines or not lines[0]:
        raise CredentialError(f"The {label} of account {account.name!r} printed nothing on its first line; "
                              "it must print the secret there.")
    return lines[0]
