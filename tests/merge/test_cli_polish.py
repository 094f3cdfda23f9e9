"""The merge command line as a new user meets it: status of a killed send, summaries, reports, help and suppress files.

Sends go to a real aiosmtpd on 127.0.0.1; the killed sender is a real second process holding the merge lock.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.merge import journal as jn
from desktop.merge.suppress import SuppressionList
from desktop.paths import default_profile
from tests.merge.send_helpers import add_smtp_account, address, received_counts, run, send, write_merge

REPO = Path(__file__).resolve().parents[2]
# A stand-in for a sending process: it takes the merge lock as MergeSend.run does, then waits to be killed.
HOLD_LOCK = """
import sys, time
from pathlib import Path
from desktop.merge.journal import MergeLock
lock = MergeLock(Path(sys.argv[1]), sys.argv[2])
lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


def journal_file() -> Path:
    return jn.journal_path(default_profile().data_dir)


def send_merges() -> list[jn.MergeRecord]:
    with jn.Journal(journal_file()) as journal:
        return [record for record in journal.merges() if record.kind == jn.KIND_SEND]


def status_state(listing: str, merge_id: str) -> str:
    line = next(text for text in listing.splitlines() if text.startswith(merge_id))
    return line.split()[2]


def report_rows(out: str) -> list[dict[str, str]]:
    path = Path(out.rsplit("Report: ", 1)[1].strip())
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# --- status of a merge whose process is gone ----------------------------------------------------


def test_status_running_then_interrupted(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    send(capsys, template, data)
    [record] = send_merges()
    # What a killed send leaves behind: the journal still has state running.
    with jn.Journal(journal_file()) as journal:
        journal.set_state(record.id, jn.RUNNING)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(journal_file()), record.id], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, listing, _ = run(capsys, "merge", "status")
        assert code == 0
        assert status_state(listing, record.id) == "running"
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()

    code, listing, _ = run(capsys, "merge", "status")
    assert code == 0
    assert status_state(listing, record.id) == "interrupted"
    assert "Continue it with: sluice merge resume MERGE-ID" in listing

    code, shown, _ = run(capsys, "merge", "status", record.id)
    assert code == 0
    assert f"Merge {record.id} (send), interrupted" in shown
    assert f"Continue with: sluice merge resume {record.id}" in shown

    code, _, err = send(capsys, template, data)
    assert code == 1
    assert "interrupted: 3 of 3 sent" in err


def test_status_finished_merge_unchanged(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 2)
    send(capsys, template, data)
    [record] = send_merges()

    code, listing, _ = run(capsys, "merge", "status")

    assert code == 0
    assert status_state(listing, record.id) == "finished"
    assert "interrupted" not in listing


# --- the summary at the end of a send -----------------------------------------------------------


def test_summary_shows_error_before_already_sent(tmp_path, server, capsys):
    add_smtp_account(server)
    folder = tmp_path / "m"
    template, first_data = write_merge(folder, 70)
    assert send(capsys, template, first_data)[0] == 0
    [first] = send_merges()
    lines = ["name,email,code,attachment"]
    lines += [f"User {number},{address(number)},C{number},{'files/missing.txt' if number == 72 else ''}"
              for number in range(1, 76)]
    data = folder / "more-people.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, out, err = send(capsys, template, data, "--resume", "--skip-errors")

    assert code == 1, err
    summary = [line for line in out.split("Skipped:", 1)[1].splitlines() if line.startswith("  ")]
    assert summary[0].startswith("  row 72 ")
    assert "missing.txt" in summary[0]
    assert summary[1] == f"  rows 1-70: already sent in merge {first.id}"
    assert not any("more" in line for line in summary)
    assert received_counts(server)[address(73)] == 1


def test_summary_groups_identical_failures(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 6)
    for number in (2, 3, 5):
        server.script(address(number), "rcpt", ["554 5.7.1 Rejected by policy"])

    code, out, _ = send(capsys, template, data)

    assert code == 1
    failed = out.split("Failed:", 1)[1].splitlines()[1]
    assert failed == ("  rows 2-3, 5 (user2@example.org, user3@example.org, user5@example.org): "
                      "554 5.7.1 Rejected by policy")


def test_summary_names_first_failed_addresses(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 9)
    for number in range(1, 9):
        server.script(address(number), "rcpt", ["554 5.7.1 Rejected by policy"])

    code, out, _ = send(capsys, template, data)

    assert code == 1
    failed = out.split("Failed:", 1)[1].splitlines()[1]
    named = ", ".join(address(number) for number in range(1, 6))
    assert failed == f"  rows 1-8 ({named} and 3 more): 554 5.7.1 Rejected by policy"


# --- the report of a stopped merge ---------------------------------------------------------------


def test_report_of_stopped_merge_lists_every_row(tmp_path, server, capsys):
    add_smtp_account(server)
    count = 300
    template, data = write_merge(tmp_path / "m", count)
    server.script(address(4), "data", ["550 5.4.5 Daily user sending quota exceeded"])

    code, out, _ = send(capsys, template, data, "--connections", "1")

    assert code == 1
    assert "Stopped:" in out
    rows = report_rows(out)
    assert [int(row["row"]) for row in rows] == list(range(1, count + 1))
    assert [row["address"] for row in rows] == [address(number) for number in range(1, count + 1)]
    assert [row["state"] for row in rows[:3]] == ["sent"] * 3
    assert {row["state"] for row in rows[3:]} == {"queued"}
    assert "quota" in rows[3]["reply"]


def test_status_report_lists_every_row(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 80)
    server.script(address(2), "data", ["550 5.4.5 Daily user sending quota exceeded"])
    send(capsys, template, data, "--connections", "1")
    [record] = send_merges()

    code, shown, _ = run(capsys, "merge", "status", record.id)

    assert code == 0
    rows = report_rows(shown)
    assert len(rows) == 80
    assert rows[-1]["state"] == "queued"
    assert rows[-1]["address"] == address(80)


def test_status_report_of_changed_data_says_so(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 40)
    server.script(address(2), "data", ["550 5.4.5 Daily user sending quota exceeded"])
    send(capsys, template, data, "--connections", "1")
    [record] = send_merges()
    with jn.Journal(journal_file()) as journal:
        journaled = len(journal.recipients(record.id))
    data.write_text(data.read_text(encoding="utf-8") + "User 41,user41@example.org,C41,\n", encoding="utf-8")

    code, shown, _ = run(capsys, "merge", "status", record.id)

    assert code == 0
    assert "The report lists only the rows in the journal, because the template or the data changed" in shown
    assert len(report_rows(shown)) == journaled


# --- help of resume ---------------------------------------------------------------------------------


def help_text(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main([*args, "--help"])
    assert stopped.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_resume_help_names_recorded_defaults(capsys):
    text = help_text(capsys, "merge", "resume")

    assert "no limit" not in text
    assert "(default 4)" not in text
    for option in ("--rate", "--connections", "--pause", "--jitter", "--no-sent-copy"):
        after = text.split(option, 2)[2]
        assert "default: as the merge recorded it" in after.split(" --", 1)[0], option


def test_send_help_names_resume_defaults(capsys):
    text = help_text(capsys, "merge", "send")

    assert "default: no limit; with --resume, as the merge recorded it" in text
    assert "default 4; with --resume, as the merge recorded it" in text


# --- suppress add --file ------------------------------------------------------------------------


def test_suppress_file_names_bad_lines(tmp_path, capsys):
    listed = tmp_path / "unsubscribed.txt"
    listed.write_text("# exported today\nana@example.com\nbob(at)example.com\n\nCarol <carol@example.com>\n"
                      "dan@example.com\n", encoding="utf-8")

    code, out, err = run(capsys, "merge", "suppress", "add", "--file", str(listed))

    assert code == 1
    assert f"{listed}, line 3: 'bob(at)example.com' is not an address" in err
    assert f"{listed}, line 5: 'Carol <carol@example.com>' is not an address" in err
    assert "line 2" not in err
    assert "Nothing was changed, so no address was added" in err
    assert out == ""
    assert SuppressionList(default_profile()).entries() == []


def test_suppress_file_adds_all_good_lines(tmp_path, capsys):
    listed = tmp_path / "unsubscribed.txt"
    listed.write_text("\ufeffana@example.com\n# a comment\n  Bob@Example.com  \n", encoding="utf-8")

    code, out, err = run(capsys, "merge", "suppress", "add", "cy@example.com", "--file", str(listed))

    assert code == 0, err
    assert "Added 3 addresses" in out
    assert SuppressionList(default_profile()).addresses() == {"ana@example.com", "bob@example.com", "cy@example.com"}


def test_suppress_bad_argument_named(tmp_path, capsys):
    code, _, err = run(capsys, "merge", "suppress", "remove", "nobody")

    assert code == 1
    assert "'nobody' is not an address" in err
    assert "no address was removed" in err

