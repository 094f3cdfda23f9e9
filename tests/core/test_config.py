"""The TOML config: accounts round-trip, and each invalid value is named with its fix."""

from __future__ import annotations

import stat

import pytest

from desktop.config import Account, Config, ConfigError, load_config, save_config


def test_accounts_round_trip(tmp_path):
    path = tmp_path / "config.toml"
    config = Config(accounts={"work": Account(name="work", imap_host="imap.example.com", user="ana@example.com", address="ana@example.com")})

    save_config(config, path)
    loaded = load_config(path)

    assert loaded.accounts["work"] == config.accounts["work"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sync_settings_round_trip_and_defaults(tmp_path):
    path = tmp_path / "config.toml"
    account = Account(name="work", imap_host="h", user="u", offline=False, offline_size_limit_kb=0,
                      watch_folders=["Lists/dev", "Entwürfe"], oauth2_token_command="token-tool work")
    save_config(Config(accounts={"work": account}), path)

    assert load_config(path).accounts["work"] == account
    default = load_config_text(tmp_path, '[accounts.home]\nimap_host = "h"\nuser = "u"\n').accounts["home"]
    assert (default.offline, default.offline_size_limit_kb, default.watch_folders) == (True, 10240, [])


def load_config_text(tmp_path, text: str) -> Config:
    path = tmp_path / "other.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_missing_file_is_empty(tmp_path):
    assert load_config(tmp_path / "absent.toml").accounts == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("accounts = [", "invalid TOML"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\nsecurity = "ssl"\n', "security 'ssl' is invalid"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\nimap_port = 70000\n', "imap_port 70000 is invalid"),
        ('[accounts.work]\nuser = "u"\n', "imap_host is missing"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\npasword = "x"\n', "unknown settings pasword"),
        ('[accounts."bad name"]\nimap_host = "h"\nuser = "u"\n', "Account name 'bad name' is invalid"),
        ("accounts = 5\n", "'accounts' must be a table"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\nimap_port = "abc"\n', "imap_port = 'abc' is invalid; it must be a number"),
        ('[accounts.work]\nimap_host = 5\nuser = "u"\n', "imap_host = 5 is invalid; it must be a quoted string"),
        ('[accounts.work]\nimap_host = "h"\nuser = ["a"]\n', "user = ['a'] is invalid"),
        ('foo = 1\n', "unknown settings foo"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\noffline = "no"\n', "offline = 'no' is invalid; it must be true or false"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\noffline_size_limit_kb = true\n', "it must be a number"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\noffline_size_limit_kb = -1\n', "use 0 for no limit"),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\nwatch_folders = "Lists"\n', 'must be a list of quoted strings, as in ["Lists"]'),
        ('[accounts.work]\nimap_host = "h"\nuser = "u"\nwatch_folders = ["Lists", 3]\n', "watch_folders = ['Lists', 3] is invalid"),
    ],
)
def test_invalid_config_is_explained(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert expected in str(raised.value)
    assert str(path) in str(raised.value)


def test_unknown_account_lists_known_ones():
    config = Config(accounts={"home": Account(name="home", kind="local")})

    with pytest.raises(ConfigError, match="Known accounts: home"):
        config.account("work")


def test_smtp_user_and_aliases_round_trip(tmp_path):
    path = tmp_path / "config.toml"
    account = Account(name="work", imap_host="h", user="ana", smtp_host="smtp.example.com", smtp_port=587,
                      smtp_user="ana-smtp", address="ana@example.com", aliases=["ana@example.org", "a.diaz@example.com"])
    save_config(Config(accounts={"work": account}), path)

    loaded = load_config(path).accounts["work"]

    assert loaded == account
    assert loaded.smtp_login == "ana-smtp"
    assert loaded.own_addresses() == ["ana@example.com", "ana@example.org", "a.diaz@example.com"]


def test_smtp_login_defaults_to_imap_user():
    account = Account(name="work", imap_host="h", user="ana", smtp_host="smtp.example.com", smtp_security="tls")

    assert account.smtp_login == "ana"
    assert account.smtp_port_or_default == 465


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"aliases": ["Ana <ana@example.org>"]}, "alias 'Ana <ana@example.org>' is invalid; write a bare address"),
        ({"aliases": ["ana at example.org"]}, "alias 'ana at example.org' is invalid"),
        ({"aliases": ["ana@example.org", "ANA@example.org"]}, "alias 'ANA@example.org' is listed twice"),
        ({"aliases": ["ana@example.com"]}, "equals the account address"),
        ({"address": "<ana@example.com>"}, "address '<ana@example.com>' is invalid"),
        ({"address": "ana@example..com"}, "address 'ana@example..com' is invalid"),
        ({"smtp_user": "ana smtp"}, "smtp_user 'ana smtp' is invalid; a login name has no spaces"),
    ],
)
def test_invalid_smtp_settings_are_explained(changes, expected):
    values = {"name": "work", "imap_host": "h", "user": "ana", "address": "ana@example.com"}
    values.update(changes)

    with pytest.raises(ConfigError) as raised:
        Account(**values).validate()

    assert expected in str(raised.value)
    assert "'work'" in str(raised.value)


def test_aliases_must_be_strings_in_file(tmp_path):
    with pytest.raises(ConfigError, match=r"aliases = \['a@example.com', 3\] is invalid"):
        load_config_text(tmp_path, '[accounts.work]\nimap_host = "h"\nuser = "u"\naliases = ["a@example.com", 3]\n')
