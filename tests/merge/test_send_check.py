"""Checks before sending: ``merge send`` stops on errors unless --skip-errors and exits 1 on failed rows, message
punctuation, ``merge status`` columns, and the times ``sluice send --at`` accepts."""

from __future__ import annotations

import io
import time
from datetime import datetime

import pytest

from desktop.compose.cli import parse_time

from desktop.merge import journal as jn
from desktop.paths import default_profile
from desktop.text import sentence
from tests.merge.send_helpers import (
    send,
    ACCOUNT,
    ScriptedServer,
    add_smtp_account,
    address,
    received_counts,
    run,
    write_merge,
)


# aiosmtpd warns when a server requires AUTH without TLS, which the login failure test needs on loopback.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def break_address(data, number: int) -> str:
    """Replace the address of data row ``number`` with an invalid one; return the original file text."""
    text = data.read_text(encoding="utf-8")
    data.write_text(text.replace(address(number), f"user{number}.example.org"), encoding="utf-8")
    return text


def latest_send() -> tuple[jn.MergeRecord, dict[int, tuple[str, str]]]:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        record = next(record for record in journal.merges() if record.kind == jn.KIND_SEND)
        rows = {row.row: (row.state, row.reply) for row in journal.recipients(record.id)}
    return record, rows


def test_template_typo_stops_send(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    template.write_text(template.read_text(encoding="utf-8").replace("your code is {{ code }}",
                                                                      "your code is {{ cdoe }}"), encoding="utf-8")
    check_code, check_out, _ = run(capsys, "merge", "check", str(template), str(data))

    code, out, err = send(capsys, template, data)

    assert check_code == 1
    assert code == 1
    assert len(server.received) == 0
    error_lines = [line for line in check_out.splitlines() if line.startswith("error: ")]
    assert error_lines
    for line in error_lines:
        assert line in err
    assert "cdoe" in err
    assert "--skip-errors" in err
    assert "Nothing was sent" in err
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert journal.merges() == []


def test_refused_skip_errors_send_is_silent(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    break_address(data, 2)
    assert send(capsys, template, data, "--skip-errors")[0] == 1

    code, out, err = send(capsys, template, data, "--skip-errors")

    assert code == 1
    assert "Nothing was sent now" in err
    assert "Leaving out" not in out
    assert len(server.received) == 2


def test_skip_errors_sends_good_rows(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    break_address(data, 2)

    code, out, err = send(capsys, template, data, "--skip-errors")

    assert code == 1
    assert received_counts(server) == {address(1): 1, address(3): 1}
    assert "Leaving out 1 row with errors (--skip-errors)." in out
    record, rows = latest_send()
    assert rows[1][0] == jn.SENT
    assert rows[3][0] == jn.SENT
    assert rows[2][0] == jn.SKIPPED
    assert rows[2][1] != ""
    assert record.state == jn.FINISHED


def test_duplicate_row_skipped_with_flag(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    data.write_text(data.read_text(encoding="utf-8").replace(address(3), address(1)), encoding="utf-8")

    without_flag = send(capsys, template, data)
    code, _, err = send(capsys, template, data, "--skip-errors")

    assert without_flag[0] == 1
    assert "also in row 1" in without_flag[2]
    assert code == 1
    assert received_counts(server) == {address(1): 1, address(2): 1}


def test_failed_row_exits_nonzero(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    server.script(address(2), "rcpt", ["550 5.1.1 No such user"])

    code, out, _ = send(capsys, template, data)

    assert code == 1
    assert "1 failed" in out
    assert received_counts(server) == {address(1): 1, address(3): 1}


def test_clean_merge_exits_zero(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)

    code, out, err = send(capsys, template, data)

    assert code == 0, err
    assert "about 0 s left" not in out
    assert received_counts(server) == {address(1): 1, address(2): 1, address(3): 1}


def test_fixed_row_resume_sends_it(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    original = break_address(data, 2)
    assert send(capsys, template, data, "--skip-errors")[0] == 1
    first, _ = latest_send()
    data.write_text(original, encoding="utf-8")

    stopped = send(capsys, template, data)
    resumed = send(capsys, template, data, "--resume")

    assert stopped[0] == 1
    assert f"2 of the 3 rows go to addresses that already got this template in merge {first.id}" in stopped[2]
    assert resumed[0] == 0, resumed[2]
    assert received_counts(server) == {address(1): 1, address(2): 1, address(3): 1}


def test_login_failure_note_one_period(tmp_path, capsys):
    with ScriptedServer(user="ana", password="right-password") as server:
        add_smtp_account(server, password_command="echo wrong-password")
        template, data = write_merge(tmp_path / "m", 2)

        code, out, _ = send(capsys, template, data)

    assert code == 1
    stopped = next(line for line in out.splitlines() if line.startswith("Stopped: "))
    assert "rejected the login" in stopped
    assert ".." not in stopped
    assert "instead with 'sluice account password work'. 2 rows are not sent yet. Continue with: sluice merge resume" in stopped


def test_syntax_error_one_period(tmp_path, capsys):
    template, data = write_merge(tmp_path / "m", 2)
    template.write_text(template.read_text(encoding="utf-8") + "{% if code %}open block\n", encoding="utf-8")

    code, out, err = run(capsys, "merge", "check", str(template), str(data))

    assert code == 1
    assert "template syntax error" in err + out
    assert "'if'." in err + out
    assert "'if'.." not in err + out


@pytest.mark.parametrize(("text", "expected"), [
    ("rejected", "rejected."),
    ("rejected.", "rejected."),
    ("stop now!", "stop now!"),
    ("why?", "why?"),
    ("trailing space. ", "trailing space."),
])
def test_sentence_adds_one_period(text, expected):
    assert sentence(text) == expected


def test_status_columns_align(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 2)
    assert send(capsys, template, data)[0] == 0

    code, out, _ = run(capsys, "merge", "status")

    assert code == 0
    header, line = out.splitlines()[:2]
    assert header.index("ACCOUNT") == line.index(f" {ACCOUNT} ") + 1
    assert header.index("TEMPLATE") == line.index("results.md")


@pytest.mark.parametrize("text", ["2026-12-24 09:00", "2026-12-24T09:00", "2026-12-24T09:00:00", " 2026-12-24 09:00 "])
def test_at_accepts_iso_forms(text):
    assert parse_time(text) == datetime(2026, 12, 24, 9, 0).timestamp()


@pytest.mark.parametrize("text", ["2026-12-24", "24.12.2026 09:00", "tomorrow", ""])
def test_at_rejects_other_forms(text):
    with pytest.raises(ValueError, match="YYYY-MM-DD HH:MM"):
        parse_time(text)


def test_at_past_time_rejected(tmp_path, server, capsys, monkeypatch):
    add_smtp_account(server)
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n"))

    code, out, err = run(capsys, "send", "--account", ACCOUNT, "--to", address(1), "--subject", "Hi",
                         "--at", "2020-01-01T09:00")

    assert code == 1
    assert "'2020-01-01T09:00' is in the past" in err
    assert "leave out --at" in err
    assert len(server.received) == 0


def test_at_future_iso_time_queued(tmp_path, server, capsys, monkeypatch):
    add_smtp_account(server)
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n"))
    later = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 7200))

    code, out, err = run(capsys, "send", "--account", ACCOUNT, "--to", address(1), "--subject", "Hi", "--at", later)

    assert code == 0, err
    assert "Queued as outbox entry" in out
    assert len(server.received) == 0


def test_send_ignores_errors_after_tested(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 5)
    break_address(data, 4)

    code, out, err = send(capsys, template, data, "--test-to", "me@example.com", "--test-count", "2")

    assert code == 0, err
    assert received_counts(server) == {"me@example.com": 2}
    assert "Leaving out" not in out


def test_send_test_leaves_out_error_rows(tmp_path, server, capsys):
    from tests.merge.send_helpers import parsed

    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 4)
    break_address(data, 2)

    code, out, err = send(capsys, template, data, "--test-to", "me@example.com", "--test-count", "3")

    assert code == 1
    assert "Leaving out 1 of the first 3 rows, because it has errors." in out
    assert received_counts(server) == {"me@example.com": 2}
    subjects = sorted(str(parsed(item.data)["Subject"]) for item in server.received)
    assert subjects == ["[TEST] Your results, User 1", "[TEST] Your results, User 3"]
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        record = journal.merges()[0]
        rows = {row.row: row.state for row in journal.recipients(record.id)}
    assert record.kind == jn.KIND_TEST
    assert rows == {1: jn.SENT, 2: jn.SKIPPED, 3: jn.SENT}


def test_send_test_stops_when_all_tested_rows_fail(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 4)
    break_address(data, 1)
    break_address(data, 2)

    code, _, err = send(capsys, template, data, "--test-to", "me@example.com", "--test-count", "2")

    assert code == 1
    assert "Each of the first 2 rows has errors" in err
    assert "--test-count" in err
    assert len(server.received) == 0
