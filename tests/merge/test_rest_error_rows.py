"""A rest-only send counts a row that repeats an earlier row's address as an error, not as already reached."""

from __future__ import annotations

from desktop.merge import journal as jn
from desktop.paths import default_profile
from tests.merge.send_helpers import add_smtp_account, address, received_counts, send, write_merge


def write_rows(data, numbers: list[int]) -> None:
    """Write a CSV whose rows go to ``address(number)`` for each number, repeats included."""
    lines = ["name,email,code,attachment"]
    lines += [f"User {number},{address(number)},C{index:04d}," for index, number in enumerate(numbers, 1)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")


def first_sent_to_user1(tmp_path, server, capsys):
    """Send the template to user 1 only, then write data whose row 3 repeats row 1's address."""
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 1)
    code, _, err = send(capsys, template, data)
    assert code == 0, err
    write_rows(data, [1, 2, 1, 4])
    return template, data


def send_merges() -> list[jn.MergeRecord]:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        return [record for record in journal.merges() if record.kind == jn.KIND_SEND]


def test_refusal_counts_repeat_as_error(tmp_path, server, capsys):
    template, data = first_sent_to_user1(tmp_path, server, capsys)
    first = send_merges()[0]

    code, _, err = send(capsys, template, data, "--skip-errors")

    assert code == 1
    assert f"1 of the 4 rows go to addresses that already got this template in merge {first.id}" in err
    assert "Nothing was sent now" in err
    assert received_counts(server) == {address(1): 1}


def test_rest_send_leaves_repeat_out_as_error(tmp_path, server, capsys):
    template, data = first_sent_to_user1(tmp_path, server, capsys)
    first = send_merges()[0]

    code, out, _ = send(capsys, template, data, "--skip-errors", "--resume")

    # The row with an error makes the exit status 1, as every send with --skip-errors that leaves rows out.
    assert code == 1
    assert ("Leaving out the 1 row whose address already got this template; sending the other 2 "
            "(1 more row with errors is left out).") in out
    assert received_counts(server) == {address(1): 1, address(2): 1, address(4): 1}
    rest = send_merges()[0]
    assert rest.id != first.id
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        rows = {row.row: row for row in journal.recipients(rest.id)}
    assert rows[1].state == jn.SKIPPED
    assert rows[1].reply == f"already sent in merge {first.id}"
    assert rows[3].state == jn.SKIPPED
    assert "is also in row 1" in rows[3].reply
    assert (rows[2].state, rows[4].state) == (jn.SENT, jn.SENT)
