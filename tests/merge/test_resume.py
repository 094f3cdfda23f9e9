"""``sluice merge send | status | resume`` through the command line, against aiosmtpd and a real Dovecot."""

from __future__ import annotations

import csv
import shlex

import pytest

from desktop.merge import journal as jn
from desktop.paths import default_profile
from tests.merge.send_helpers import (
    send,
    ACCOUNT,
    add_dovecot_account,
    add_smtp_account,
    address,
    parsed,
    received_counts,
    run,
    write_merge,
)


def only_merge() -> jn.MergeRecord:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        records = [record for record in journal.merges() if record.kind == jn.KIND_SEND]
    assert len(records) == 1
    return records[0]


def test_send_prints_id_and_summary(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 5)
    server.script(address(4), "rcpt", ["550 5.1.1 No such user"])

    code, out, err = send(capsys, template, data, "--connections", "2")

    record = only_merge()
    assert code == 1, err  # row 4 failed
    assert out.startswith(f"Merge {record.id}: 5 recipients from people.csv via account work.")
    assert f"Merge {record.id}: 4 sent, 1 failed, 0 unknown, 0 skipped, 0 remaining of 5." in out
    assert f"  row 4 {address(4)}: 550 5.1.1 No such user" in out
    report = jn.journal_path(default_profile().data_dir).with_name(f"merge-{record.id}-report.csv")
    assert f"Report: {report}" in out
    with report.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["row"], row["address"], row["state"]) for row in rows] == [
        (str(number), address(number), "failed" if number == 4 else "sent") for number in range(1, 6)
    ]
    sent_ids = {str(parsed(item.data)["Message-ID"]) for item in server.received}
    assert {row["message_id"] for row in rows if row["state"] == "sent"} == sent_ids
    assert rows[3]["reply"] == "550 5.1.1 No such user"


def test_same_merge_twice_stops(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    assert send(capsys, template, data)[0] == 0
    record = only_merge()

    code, out, err = send(capsys, template, data)

    assert code == 1
    assert f"sent before as merge {record.id}" in err
    # The merge is finished, so there is nothing to continue: only a deliberate second send is offered.
    assert "--resume" not in err
    assert "That merge is finished" in err
    assert "--new" in err
    assert "Nothing was sent now" in err
    assert len(server.received) == 3


def test_new_sends_again_as_second_merge(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    send(capsys, template, data)

    code, out, _ = send(capsys, template, data, "--new")

    assert code == 0
    assert received_counts(server) == {address(number): 2 for number in (1, 2, 3)}
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert len(journal.merges()) == 2


def test_resume_without_earlier_send_refused(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)

    code, _, err = send(capsys, template, data, "--resume")

    assert code == 1
    assert "nothing to resume" in err
    assert server.received == []


def test_quota_stop_then_resume_sends_rest_once(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 8)
    server.script(address(4), "data", ["550 5.4.5 Daily user sending quota exceeded"])

    code, out, _ = send(capsys, template, data, "--connections", "1")

    record = only_merge()
    assert code == 1
    assert "Stopped: the account's sending quota is used up" in out
    assert f"sluice merge resume {record.id}" in out
    assert received_counts(server) == {address(number): 1 for number in (1, 2, 3)}

    code, out, err = run(capsys, "merge", "resume", record.id, "--no-sent-copy")

    assert code == 0, err
    assert f"Resuming merge {record.id} (8 recipients)." in out
    assert received_counts(server) == {address(number): 1 for number in range(1, 9)}
    assert only_merge().state == "finished"


def test_send_resume_flag_continues(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 4)
    server.script(address(2), "data", ["550 5.4.5 Daily user sending quota exceeded"])
    send(capsys, template, data, "--connections", "1")

    code, out, _ = send(capsys, template, data, "--resume")

    assert code == 0
    assert received_counts(server) == {address(number): 1 for number in range(1, 5)}


def test_resume_refuses_changed_data(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 4)
    server.script(address(2), "data", ["550 5.4.5 Daily user sending quota exceeded"])
    send(capsys, template, data, "--connections", "1")
    record = only_merge()
    data.write_text(data.read_text(encoding="utf-8").replace("C0003", "C9999"), encoding="utf-8")

    code, _, err = run(capsys, "merge", "resume", record.id)

    assert code == 1
    assert "changed since merge" in err
    assert len(server.received) == 1
    # The advice sends the changed file only to the addresses the merge has not reached.
    advice = err.split("have not got this template: ", 1)[1].strip()
    assert advice.startswith("sluice merge send ")
    assert advice.endswith(" --resume")
    code, _, err = run(capsys, *shlex.split(advice)[1:], "--no-sent-copy")
    assert code == 0, err
    assert received_counts(server) == {address(number): 1 for number in range(1, 5)}


def test_status_lists_and_shows(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    server.script(address(3), "rcpt", ["554 5.7.1 Rejected by policy"])
    send(capsys, template, data)
    record = only_merge()

    code, listing, _ = run(capsys, "merge", "status")
    assert code == 0
    line = next(text for text in listing.splitlines() if text.startswith(record.id))
    assert line.split()[:3] == [record.id, "send", "finished"]
    assert line.split()[5:9] == ["2", "1", "0", "3"]

    code, shown, _ = run(capsys, "merge", "status", record.id)
    assert code == 0
    assert f"Merge {record.id} (send), finished" in shown
    assert f"    3 failed       1  {address(3)}" in shown
    assert "554 5.7.1 Rejected by policy" in shown


def test_status_unknown_id(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 1)
    send(capsys, template, data)

    code, _, err = run(capsys, "merge", "status", "20000101-1")

    assert code == 1
    assert "No merge with id '20000101-1'" in err


def test_test_to_then_real_send(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 5)

    code, out, _ = send(capsys, template, data, "--test-to", "me@example.com", "--test-count", "2")

    assert code == 0
    assert "the first 2 messages go to me@example.com, marked [TEST]" in out
    assert received_counts(server) == {"me@example.com": 2}

    code, out, err = send(capsys, template, data)

    assert code == 0, err
    assert received_counts(server) == {"me@example.com": 2, **{address(number): 1 for number in range(1, 6)}}


def test_bad_rate_is_named(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 2)

    code, _, err = send(capsys, template, data, "--rate", "fast")

    assert code == 1
    assert "Rate 'fast' is invalid" in err
    assert server.received == []


@pytest.mark.dovecot
def test_sent_copies_reach_dovecot(tmp_path, server, capsys, dovecot_server, imap_user, direct_client):
    code = add_dovecot_account(capsys, server, dovecot_server, imap_user)
    assert code == 0
    assert run(capsys, "sync", "--quiet")[0] == 0
    template, data = write_merge(tmp_path / "m", 6)
    server.script(address(5), "rcpt", ["550 5.1.1 No such user"])

    code, out, err = run(capsys, "merge", "send", str(template), str(data), "--account", ACCOUNT)

    assert code == 1, err  # row 5 failed
    assert "Appended 5 Sent copies to the server." in out
    direct_client.select_folder("Sent", readonly=True)
    uids = direct_client.search("ALL")
    fetched = direct_client.fetch(uids, [b"FLAGS", b"BODY.PEEK[]"])
    on_server = {str(parsed(item[b"BODY[]"])["Message-ID"]): item for item in fetched.values()}
    sent_ids = {str(parsed(item.data)["Message-ID"]) for item in server.received}
    assert set(on_server) == sent_ids
    assert len(on_server) == 5
    assert all(b"\\Seen" in item[b"FLAGS"] for item in on_server.values())
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        rows = journal.recipients(only_merge().id)
    assert [row.copied for row in rows] == [True, True, True, True, False, True]


@pytest.mark.dovecot
def test_account_setting_turns_off_sent_copies(tmp_path, server, capsys, dovecot_server, imap_user, direct_client):
    code = add_dovecot_account(capsys, server, dovecot_server, imap_user)
    assert code == 0
    config_file = default_profile().config_file
    config_file.write_text(config_file.read_text() + 'sent_copy = "never"\n')
    assert run(capsys, "sync", "--quiet")[0] == 0
    template, data = write_merge(tmp_path / "m", 3)

    code, out, err = run(capsys, "merge", "send", str(template), str(data), "--account", ACCOUNT)

    assert code == 0, err
    assert "No Sent copies: account" in out
    assert len(server.received) == 3
    direct_client.select_folder("Sent", readonly=True)
    assert direct_client.search("ALL") == []
