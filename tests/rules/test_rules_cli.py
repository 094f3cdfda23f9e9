"""`sluice rules check`: exit codes and output."""

from __future__ import annotations

import pytest

from desktop.cli import main
from desktop.paths import default_profile

GOOD = '[[rule]]\nname = "Receipts"\nwhen = "subject:invoice"\nactions = [{ move = "Receipts" }]\n'
BAD = '[[rule]]\nname = "Receipts"\nactions = [{ lane = "VIP" }]\n'


def test_check_default_folder_ok(capsys):
    rules_dir = default_profile().ensure().rules_dir
    (rules_dir / "a.toml").write_text(GOOD, encoding="utf-8")
    (rules_dir / "b.toml").write_text(GOOD.replace("Receipts", "Bills"), encoding="utf-8")

    code = main(["rules", "check"])

    output = capsys.readouterr()
    assert code == 0
    assert output.out.strip() == "OK: 2 rules in 2 files"
    assert output.err == ""


def test_check_problems_exit_one(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD, encoding="utf-8")

    code = main(["rules", "check", str(bad)])

    output = capsys.readouterr()
    assert code == 1
    assert output.out == ""
    lines = output.err.splitlines()
    assert lines[0].startswith(f"{bad}:3: rule 'Receipts': Invalid lane name 'VIP'.")
    assert lines[-1] == "1 problem found."


def test_check_missing_file(tmp_path, capsys):
    code = main(["rules", "check", str(tmp_path / "nope.toml")])

    assert code == 1
    assert "nope.toml not found" in capsys.readouterr().err


def test_check_empty_folder(capsys):
    code = main(["rules", "check"])

    output = capsys.readouterr()
    assert code == 0
    assert "No rule files in" in output.out
    assert output.out.strip().endswith("OK: 0 rules in 0 files")


def test_check_unknown_folder_with_store(tmp_path, capsys):
    from desktop.store import Store

    profile = default_profile().ensure()
    with Store(profile.store_file) as store:
        account_id = store.ensure_account("work")
        store.upsert_folder(account_id, "INBOX")
        store.upsert_folder(account_id, "Receipts")
    rules = tmp_path / "rules.toml"
    rules.write_text(GOOD.replace('move = "Receipts"', 'move = "Reciepts"'), encoding="utf-8")

    code = main(["rules", "check", str(rules)])

    assert code == 1
    assert f"{rules}:4: rule 'Receipts': Folder 'Reciepts' not found in account 'work'. Did you mean 'Receipts'?" in capsys.readouterr().err
    rules.write_text(GOOD, encoding="utf-8")
    assert main(["rules", "check", str(rules)]) == 0


def test_check_help_mentions_docs(capsys):
    with pytest.raises(SystemExit):
        main(["rules", "check", "--help"])

    assert "profile's rules folder" in capsys.readouterr().out


def test_check_folders_with_other_problems(tmp_path, capsys):
    from desktop.store import Store

    profile = default_profile().ensure()
    with Store(profile.store_file) as store:
        account_id = store.ensure_account("work")
        store.upsert_folder(account_id, "INBOX")
        store.upsert_folder(account_id, "Receipts")
    (tmp_path / "a.toml").write_text(GOOD.replace('move = "Receipts"', 'move = "Reciepts"'), encoding="utf-8")
    mixed = GOOD.replace('"Receipts"', '"Bills"') + "\n" + BAD.replace('"Receipts"', '"Lanes"')
    (tmp_path / "b.toml").write_text(mixed, encoding="utf-8")

    code = main(["rules", "check", str(tmp_path)])

    lines = capsys.readouterr().err.splitlines()
    assert code == 1
    assert lines[0].startswith(f"{tmp_path / 'a.toml'}:4: rule 'Receipts': Folder 'Reciepts' not found")
    assert lines[1].startswith(f"{tmp_path / 'b.toml'}:4: rule 'Bills': Folder 'Bills' not found")
    assert lines[2].startswith(f"{tmp_path / 'b.toml'}:8: rule 'Lanes': Invalid lane name 'VIP'.")
    assert lines[3] == "3 problems found."


def test_check_inbox_in_any_case(tmp_path, capsys):
    from desktop.store import Store

    profile = default_profile().ensure()
    with Store(profile.store_file) as store:
        account_id = store.ensure_account("work")
        store.upsert_folder(account_id, "INBOX")
        store.upsert_folder(account_id, "Receipts")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "Back"\nactions = [{ move = "inbox" }]\nscope = { folders = ["Receipts"] }\n\n'
                     '[[rule]]\nname = "Mark"\nactions = [{ mark = "read" }]\nscope = { folders = ["Inbox"] }\n',
                     encoding="utf-8")

    code = main(["rules", "check", str(rules)])

    output = capsys.readouterr()
    assert code == 0, output.err
    assert output.out.strip() == "OK: 2 rules in 1 file"
    rules.write_text(rules.read_text(encoding="utf-8").replace('"Receipts"', '"receipts"'), encoding="utf-8")
    assert main(["rules", "check", str(rules)]) == 1
    assert "Folder 'receipts' not found in account 'work'" in capsys.readouterr().err


def test_apply_warns_missing_scope_folder(tmp_path, capsys):
    from desktop.store import Store

    profile = default_profile().ensure()
    with Store(profile.store_file) as store:
        account_id = store.ensure_account("work")
        store.upsert_folder(account_id, "INBOX")
    rules = tmp_path / "rules.toml"
    rules.write_text(GOOD.replace('move = "Receipts"', 'flag = true') + 'scope = { folders = ["INBOX", "Suport"] }\n',
                     encoding="utf-8")

    code = main(["rules", "apply", "--dry-run", "--rules", str(rules)])

    err = capsys.readouterr().err
    assert code == 0
    assert "rule 'Receipts': account 'work' has no folder 'Suport'" in err
    assert "'INBOX'" not in err
