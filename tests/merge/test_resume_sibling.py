"""Resuming a merge after another merge of the same template reached some of its addresses sends no address twice."""

from __future__ import annotations

from desktop.merge import journal as jn
from desktop.paths import default_profile
from tests.merge.send_helpers import add_smtp_account, address, received_counts, run, send, write_merge

QUOTA = "550 5.4.5 Daily user sending quota exceeded"


def send_merges() -> list[jn.MergeRecord]:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        return [record for record in journal.merges() if record.kind == jn.KIND_SEND]


def stopped_then_rest_sent(tmp_path, server, capsys):
    """Merge A stops after rows 1-2; a changed data file then goes out rest-only as merge B (rows 3-8)."""
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 8)
    server.script(address(3), "data", [QUOTA])
    assert send(capsys, template, data, "--connections", "1")[0] == 1
    first = send_merges()[0]
    original = data.read_text(encoding="utf-8")
    data.write_text(original.replace("C0008", "C0999"), encoding="utf-8")
    code, out, err = send(capsys, template, data, "--resume")
    assert code == 0, err
    assert "Leaving out the 2 rows whose address already got this template; sending the other 6." in out
    assert received_counts(server) == {address(number): 1 for number in range(1, 9)}
    data.write_text(original, encoding="utf-8")
    return template, data, first


def test_resume_skips_later_merge_addresses(tmp_path, server, capsys):
    _, _, first = stopped_then_rest_sent(tmp_path, server, capsys)

    code, out, err = run(capsys, "merge", "resume", first.id, "--no-sent-copy")

    assert code == 0, err
    assert "Leaving out 6 rows whose address got this template in another merge since." in out
    assert received_counts(server) == {address(number): 1 for number in range(1, 9)}
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        states = {row.row: row.state for row in journal.recipients(first.id)}
        later = [record for record in journal.merges() if record.id != first.id][0]
        reasons = {row.reply for row in journal.recipients(first.id) if row.state == jn.SKIPPED}
    assert states == {1: jn.SENT, 2: jn.SENT, **{number: jn.SKIPPED for number in range(3, 9)}}
    assert reasons == {f"already sent in merge {later.id}"}


def test_send_resume_skips_later_merge_addresses(tmp_path, server, capsys):
    template, data, _ = stopped_then_rest_sent(tmp_path, server, capsys)

    code, out, err = send(capsys, template, data, "--resume")

    assert code == 0, err
    assert "Leaving out 6 rows whose address got this template in another merge since." in out
    assert received_counts(server) == {address(number): 1 for number in range(1, 9)}


def test_new_still_sends_everyone(tmp_path, server, capsys):
    template, data, _ = stopped_then_rest_sent(tmp_path, server, capsys)

    code, _, err = send(capsys, template, data, "--new")

    assert code == 0, err
    assert received_counts(server) == {address(number): 2 for number in range(1, 9)}
