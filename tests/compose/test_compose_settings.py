"""The compose settings in config.toml: the [compose] table and the signature and sent_copy of accounts."""

from __future__ import annotations

import pytest

from desktop.config import Account, ComposeSettings, Config, ConfigError, load_config, save_config


def test_compose_defaults_when_missing(tmp_path):
    config = load_config(tmp_path / "config.toml")

    assert config.compose == ComposeSettings(undo_seconds=10, forward_as="inline", format="plain")


def test_compose_settings_round_trip(tmp_path):
    path = tmp_path / "config.toml"
    account = Account(name="work", imap_host="imap.example.org", user="ana", address="ana@example.org",
                      signature="Ana\nExample Ltd", sent_copy="never")
    save_config(Config(accounts={"work": account}, compose=ComposeSettings(undo_seconds=0, forward_as="attachment",
                                                                           format="markdown")), path)

    loaded = load_config(path)

    assert loaded.compose == ComposeSettings(undo_seconds=0, forward_as="attachment", format="markdown")
    assert loaded.accounts["work"].signature == "Ana\nExample Ltd"
    assert loaded.accounts["work"].sent_copy == "never"


@pytest.mark.parametrize("text, expected", [
    ("[compose]\nundo_seconds = 900\n", "undo_seconds = 900 is invalid"),
    ("[compose]\nundo_seconds = true\n", "it must be a number"),
    ("[compose]\nforward_as = \"eml\"\n", "forward_as = 'eml' is invalid"),
    ("[compose]\nformat = \"rtf\"\n", "format = 'rtf' is invalid"),
    ("[compose]\nundo = 5\n", "unknown settings undo"),
    ("compose = 5\n", "'compose' must be a table"),
    ("[accounts.work]\nimap_host = \"h\"\nuser = \"u\"\nsent_copy = \"sometimes\"\n", "sent_copy 'sometimes' is invalid"),
])
def test_compose_settings_invalid_named(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
