"""A merge send whose SMTP login is rejected (535) names the command that stores the right password."""

from __future__ import annotations

import io

import pytest

from desktop.credentials import store_password
from desktop.merge import journal as jn
from desktop.paths import default_profile
from desktop.send.credentials import store_smtp_password
from tests.merge.send_helpers import (
    ACCOUNT,
    ScriptedServer,
    add_smtp_account,
    address,
    received_counts,
    run,
    send,
    write_merge,
)

# The test server offers AUTH without TLS, which aiosmtpd warns about; loopback only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

RIGHT = "right-password"


def stopped_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Stopped: "))


def only_merge_id() -> str:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        return journal.merges()[0].id


def test_keyring_login_names_password_command(tmp_path, capsys):
    with ScriptedServer(user="ana", password=RIGHT) as server:
        add_smtp_account(server)
        store_password(ACCOUNT, "wrong-password")
        template, data = write_merge(tmp_path / "m", 2)

        code, out, _ = send(capsys, template, data)

    assert code == 1
    stopped = stopped_line(out)
    assert f"rejected the login of account '{ACCOUNT}' as 'ana' (535" in stopped
    assert f"then store the right password with 'sluice account password {ACCOUNT}'. 2 rows" in stopped
    assert "keyring set" not in stopped


def test_password_command_login_offers_keyring(tmp_path, capsys):
    with ScriptedServer(user="ana", password=RIGHT) as server:
        add_smtp_account(server, password_command="echo wrong-password")
        template, data = write_merge(tmp_path / "m", 2)

        code, out, _ = send(capsys, template, data)

    assert code == 1
    stopped = stopped_line(out)
    assert "the password that password_command prints" in stopped
    assert f"in the keyring instead with 'sluice account password {ACCOUNT}'." in stopped


def test_smtp_user_login_names_keyring_entry(tmp_path, capsys):
    with ScriptedServer(user="ana-smtp", password=RIGHT) as server:
        add_smtp_account(server, smtp_user="ana-smtp")
        store_password(ACCOUNT, RIGHT)
        store_smtp_password(ACCOUNT, "wrong-password")
        template, data = write_merge(tmp_path / "m", 2)

        code, out, _ = send(capsys, template, data)

    assert code == 1
    stopped = stopped_line(out)
    assert "as 'ana-smtp' (535" in stopped
    assert f"store the right SMTP password with 'keyring set sluice {ACCOUNT}/smtp'." in stopped
    assert "sluice account password" not in stopped


def test_named_command_fixes_login(tmp_path, capsys, monkeypatch):
    with ScriptedServer(user="ana", password=RIGHT) as server:
        add_smtp_account(server)
        store_password(ACCOUNT, "wrong-password")
        template, data = write_merge(tmp_path / "m", 2)
        assert send(capsys, template, data)[0] == 1
        merge_id = only_merge_id()

        monkeypatch.setattr("sys.stdin", io.StringIO(f"{RIGHT}\n"))
        stored = run(capsys, "account", "password", ACCOUNT, "--password-stdin")
        resumed = run(capsys, "merge", "resume", merge_id, "--no-sent-copy")

        counts = received_counts(server)
    assert stored[0] == 0, stored[2]
    assert resumed[0] == 0, resumed[2]
    assert counts == {address(1): 1, address(2): 1}
