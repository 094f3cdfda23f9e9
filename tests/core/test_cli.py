"""The command line: profile choice, search term handling, password changes and error output."""

from __future__ import annotations

import io
import socket
from datetime import UTC, datetime

import keyring
import pytest

from desktop.cli import _separate_search_terms, main
from desktop.config import load_config
from desktop.paths import default_profile


@pytest.fixture
def demo_home(tmp_path):
    home = tmp_path / "demo-home"
    assert main(["--home", str(home), "--demo", "folders"]) == 0
    # The demo keeps its own profile inside the named home.
    return home / "demo"


def test_demo_leaves_named_profile_alone(tmp_path, capsys):
    home = tmp_path / "mine"
    home.mkdir()
    (home / "config.toml").write_text('[accounts.work]\nimap_host = "127.0.0.1"\nuser = "me"\n', encoding="utf-8")

    assert main(["--home", str(home), "--demo", "folders"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "account", "list"]) == 0

    listed = capsys.readouterr().out
    assert "work" in listed
    assert "demo" not in listed
    assert not (home / "store.sqlite3").exists()


def test_home_that_is_a_file_is_explained(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("x")

    assert main(["--home", str(target), "account", "list"]) == 1

    assert f"--home {target} is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["search", "-from:news", "budget"], ["search", "--", "-from:news", "budget"]),
        (["search", "--limit", "5", "-x", "--json"], ["search", "--limit", "5", "--json", "--", "-x"]),
        (["--home", "h", "search", "--account=w", "a"], ["--home", "h", "search", "--account=w", "--", "a"]),
        (["search", "--", "-x"], ["search", "--", "-x"]),
        (["folders"], ["folders"]),
    ],
)
def test_search_terms_separated_from_options(argv, expected):
    assert _separate_search_terms(argv) == expected


def test_negated_term_searches(demo_home, capsys):
    capsys.readouterr()
    assert main(["--home", str(demo_home), "search", "--limit", "0", "budget"]) == 0
    with_budget = len(capsys.readouterr().out.splitlines())

    assert main(["--home", str(demo_home), "search", "--limit", "0", "budget", "-from:cedar"]) == 0

    without_cedar = len(capsys.readouterr().out.splitlines())
    assert 0 < without_cedar <= with_budget


def test_limit_note_names_total(demo_home, capsys):
    capsys.readouterr()

    assert main(["--home", str(demo_home), "search", "--limit", "2", "budget"]) == 0

    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "Showing the newest 2 of" in captured.err
    assert "--limit 0" in captured.err


def test_options_after_command(demo_home, capsys):
    capsys.readouterr()

    assert main(["search", "budget", "--home", str(demo_home), "--limit", "1"]) == 0

    assert len(capsys.readouterr().out.splitlines()) == 1


def test_account_password_replaces_keyring_entry(monkeypatch, capsys, memory_keyring):
    monkeypatch.setattr("sys.stdin", io.StringIO("old\n"))
    assert main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("new\n"))

    assert main(["account", "password", "work", "--password-stdin"]) == 0

    assert keyring.get_password("sluice", "work") == "new"
    assert main(["account", "password", "work", "--password-command", "echo pw"]) == 0
    assert load_config(default_profile().config_file).accounts["work"].password_command == "echo pw"
    assert ("sluice", "work") not in memory_keyring.passwords


def test_account_add_with_token_command(capsys, memory_keyring):
    assert main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana@example.com",
                 "--oauth2-token-command", "oauth-helper work"]) == 0

    account = load_config(default_profile().config_file).accounts["work"]
    assert account.oauth2_token_command == "oauth-helper work"
    assert account.password_command == ""
    assert memory_keyring.passwords == {}


def test_token_command_excludes_password_options(capsys):
    with pytest.raises(SystemExit):
        main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana",
              "--oauth2-token-command", "oauth-helper", "--password-command", "echo pw"])

    assert "not allowed with argument" in capsys.readouterr().err


def test_account_password_replaces_token_command(monkeypatch, capsys, memory_keyring):
    assert main(["account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana",
                 "--oauth2-token-command", "oauth-helper"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("new\n"))

    assert main(["account", "password", "work", "--password-stdin"]) == 0

    account = load_config(default_profile().config_file).accounts["work"]
    assert account.oauth2_token_command == ""
    assert keyring.get_password("sluice", "work") == "new"


def test_sync_failure_printed_once(monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main(["account", "add", "dead", "--imap-host", "127.0.0.1", "--imap-port", str(port),
                 "--security", "none", "--user", "nobody", "--password-stdin"]) == 0
    capsys.readouterr()

    assert main(["sync"]) == 1

    err = capsys.readouterr().err
    assert err.count("refused the connection") == 1
    assert "details are in" in err


def test_window_without_display_is_explained(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)

    assert main([]) == 1

    assert "No display found" in capsys.readouterr().err


def test_invalid_config_stops_folders_and_search(capsys):
    profile = default_profile().ensure()
    profile.config_file.write_text("accounts = [", encoding="utf-8")

    assert main(["folders"]) == 1
    assert main(["search", "x"]) == 1

    assert capsys.readouterr().err.count("invalid TOML") == 2


def test_search_piped_to_head_ends_quietly(tmp_path):
    """`sluice search ... | head` closes the pipe early; that must not print a traceback."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    environment = {**os.environ, "SLUICE_HOME": str(home)}
    command = f"{sys.executable} -m desktop --demo search --limit 0 budget | head -n 1"
    completed = subprocess.run(["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=120)

    assert completed.stdout.count("\n") == 1
    assert "Traceback" not in completed.stderr
    assert "BrokenPipeError" not in completed.stderr


def test_folders_columns_align_with_cjk(capsys):
    assert main(["--demo", "folder", "create", "受信箱/お知らせ"]) == 0
    capsys.readouterr()

    assert main(["--demo", "folders"]) == 0

    lines = capsys.readouterr().out.splitlines()
    cjk = next(line for line in lines if "受信箱" in line)
    plain = next(line for line in lines if " INBOX " in line)
    # Each CJK character takes two terminal cells, so it counts twice here.
    cells = len(cjk) + sum(1 for char in cjk if "\u3000" <= char <= "\u9fff")
    assert cells == len(plain)


def test_account_add_smtp_settings_and_list(monkeypatch, capsys, memory_keyring):
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main([
        "account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana@example.com", "--password-stdin",
        "--smtp-host", "smtp.example.com", "--alias", "ana@example.org", "--alias", "diaz@example.com",
    ]) == 0
    capsys.readouterr()

    account = load_config(default_profile().config_file).accounts["work"]
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == ("smtp.example.com", 587, "starttls")
    assert account.smtp_user == ""
    assert account.address == "ana@example.com"
    assert account.aliases == ["ana@example.org", "diaz@example.com"]
    assert memory_keyring.passwords == {("sluice", "work"): "pw"}

    assert main(["account", "list"]) == 0
    listing = capsys.readouterr().out
    assert "\tsmtp ana@example.com@smtp.example.com:587 starttls\tana@example.com, ana@example.org, diaz@example.com" in listing


def test_account_add_separate_smtp_password(monkeypatch, capsys, memory_keyring):
    monkeypatch.setattr("sys.stdin", io.StringIO("imap-pw\nsmtp-pw\n"))

    assert main([
        "account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana", "--password-stdin",
        "--smtp-host", "smtp.example.com", "--smtp-security", "tls", "--smtp-user", "ana@example.com",
        "--address", "ana@example.com",
    ]) == 0

    assert memory_keyring.passwords == {("sluice", "work"): "imap-pw", ("sluice", "work/smtp"): "smtp-pw"}
    account = load_config(default_profile().config_file).accounts["work"]
    assert (account.smtp_user, account.smtp_port) == ("ana@example.com", 465)
    assert "'work/smtp'" in capsys.readouterr().out


def test_account_remove_drops_smtp_state(monkeypatch, capsys, memory_keyring):
    from desktop.store import Store

    monkeypatch.setattr("sys.stdin", io.StringIO("imap-pw\nsmtp-pw\n"))
    assert main([
        "account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana", "--password-stdin",
        "--smtp-host", "smtp.example.com", "--smtp-user", "ana@example.com", "--address", "ana@example.com",
    ]) == 0
    profile = default_profile()
    with Store(profile.store_file) as store:
        store.ensure_account("work")
        store.record_auto_reply("work", "Holiday", "bob@example.com", text_hash="hash",
                                sent=datetime.now(UTC), reply_message_id="<r1@example.com>")
        assert len(store.auto_replies("work")) == 1

    assert main(["account", "remove", "work"]) == 0

    assert memory_keyring.passwords == {}
    with Store(profile.store_file) as store:
        assert store.auto_replies("work") == []


def test_account_add_missing_smtp_password_saves_nothing(monkeypatch, capsys, memory_keyring):
    monkeypatch.setattr("sys.stdin", io.StringIO("imap-pw\n"))

    assert main([
        "account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana", "--password-stdin",
        "--smtp-host", "smtp.example.com", "--smtp-user", "other",
    ]) == 1

    assert "The SMTP password for 'other' is empty" in capsys.readouterr().err
    assert memory_keyring.passwords == {}
    assert load_config(default_profile().config_file).accounts == {}


def test_account_add_invalid_alias_is_explained(capsys, memory_keyring):
    assert main([
        "account", "add", "work", "--imap-host", "imap.example.com", "--user", "ana", "--password-command", "echo pw",
        "--alias", "Ana <ana@example.org>",
    ]) == 1

    assert "alias 'Ana <ana@example.org>' is invalid" in capsys.readouterr().err
    assert load_config(default_profile().config_file).accounts == {}
