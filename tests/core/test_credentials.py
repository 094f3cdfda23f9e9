"""Passwords: keyring, password command, and the error on a machine without a keyring."""

from __future__ import annotations

import io

import keyring
import keyring.backends.fail
import pytest

from desktop.cli import main
from desktop.config import Account
from desktop.credentials import CredentialError, get_oauth2_token, get_password, store_password
from desktop.paths import default_profile


def test_keyring_round_trip(memory_keyring):
    store_password("work", "s3cret")

    assert get_password(Account(name="work", imap_host="h", user="u")) == "s3cret"
    assert memory_keyring.passwords[("sluice", "work")] == "s3cret"


def test_password_command_first_line():
    account = Account(name="work", imap_host="h", user="u", password_command="printf 'from-command\\nsecond'")

    assert get_password(account) == "from-command"


def test_failing_password_command_is_explained():
    account = Account(name="work", imap_host="h", user="u", password_command="echo locked >&2; exit 3")

    with pytest.raises(CredentialError, match="exit code 3: locked"):
        get_password(account)


def test_missing_keyring_names_the_way_out():
    keyring.set_keyring(keyring.backends.fail.Keyring())

    with pytest.raises(CredentialError) as raised:
        store_password("work", "pw")

    assert "--password-command" in str(raised.value)
    assert "No usable system keyring" in str(raised.value)


def test_account_add_keeps_password_out_of_config(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("very-secret-value\n"))

    code = main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana@example.com", "--password-stdin"])

    assert code == 0
    profile = default_profile()
    assert "very-secret-value" not in profile.config_file.read_text(encoding="utf-8")
    assert keyring.get_password("sluice", "work") == "very-secret-value"
    log_text = profile.log_file.read_text(encoding="utf-8") if profile.log_file.exists() else ""
    assert "very-secret-value" not in log_text


def test_account_add_without_keyring_fails_clearly(monkeypatch, capsys):
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))

    code = main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana", "--password-stdin"])

    assert code == 1
    assert "--password-command" in capsys.readouterr().err
    assert "work" not in default_profile().config_file.read_text(encoding="utf-8") if default_profile().config_file.exists() else True


def test_account_list_and_remove(monkeypatch, capsys, memory_keyring):
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana", "--password-stdin"]) == 0
    assert main(["account", "add", "cmd", "--imap-host", "imap.example.org", "--security", "starttls", "--user", "bo",
                 "--password-command", "echo pw"]) == 0
    capsys.readouterr()

    assert main(["account", "list"]) == 0
    listing = capsys.readouterr().out
    assert "work\timap ana@imap.example.com:993 tls\tkeyring" in listing
    assert "cmd\timap bo@imap.example.org:143 starttls\tpassword command" in listing

    assert main(["account", "remove", "work"]) == 0
    assert ("sluice", "work") not in memory_keyring.passwords
    assert main(["account", "remove", "work"]) == 1
    assert "No account named 'work'" in capsys.readouterr().err


def test_token_command_first_line():
    account = Account(name="work", imap_host="h", user="u", oauth2_token_command="printf 'ya29.token\\nrefresh'")

    assert get_oauth2_token(account) == "ya29.token"


def test_token_command_printing_nothing_is_explained():
    account = Account(name="work", imap_host="h", user="u", oauth2_token_command="true")

    with pytest.raises(CredentialError, match="OAuth 2.0 token command of account 'work' printed nothing"):
        get_oauth2_token(account)


def test_failing_token_command_names_command():
    account = Account(name="work", imap_host="h", user="u", oauth2_token_command="echo expired >&2; echo more >&2; exit 4")

    with pytest.raises(CredentialError) as raised:
        get_oauth2_token(account)

    assert "('echo expired >&2; echo more >&2; exit 4') failed with exit code 4: expired" in str(raised.value)
