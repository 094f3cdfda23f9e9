"""Suppressed rows show their address in the send summary and in the report CSV."""

from __future__ import annotations

import csv

from desktop.merge.suppress import SuppressionList
from desktop.paths import default_profile
from tests.merge.send_helpers import add_smtp_account, address, received_counts, send, write_merge


def report_rows(out: str) -> dict[str, dict[str, str]]:
    """Read the report CSV whose path the send printed; return its rows by row number."""
    path = next(line.removeprefix("Report: ") for line in out.splitlines() if line.startswith("Report: "))
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return {row["row"]: row for row in csv.DictReader(handle)}


def test_suppressed_rows_show_address(tmp_path, server, capsys):
    add_smtp_account(server)
    suppression = SuppressionList(default_profile().ensure())
    suppression.add(address(3), "unsubscribed")
    suppression.add(address(5), "bounced")
    template, data = write_merge(tmp_path / "m", 6)

    code, out, err = send(capsys, template, data)

    assert code == 0, err
    assert sorted(received_counts(server)) == [address(1), address(2), address(4), address(6)]
    assert (f"  row 3 {address(3)}: column 'email': {address(3)} is on the suppression list (unsubscribed or "
            "bounced); the row is skipped.") in out.splitlines()
    assert f"  row 5 {address(5)}: column 'email': {address(5)} is on the suppression list" in out
    assert " -:" not in out
    rows = report_rows(out)
    assert rows["3"]["address"] == address(3)
    assert rows["3"]["state"] == "skipped"
    assert rows["5"]["address"] == address(5)
    assert rows["1"]["address"] == address(1)


def test_suppressed_cc_rows_show_addresses(tmp_path, server, capsys):
    add_smtp_account(server)
    suppression = SuppressionList(default_profile().ensure())
    suppression.add(address(2), "unsubscribed")
    suppression.add("boss@example.org", "unsubscribed")
    template, data = write_merge(tmp_path / "m", 3)
    template.write_text(template.read_text(encoding="utf-8").replace("Subject:", "Cc: boss@example.org\nSubject:"),
                        encoding="utf-8")

    code, out, err = send(capsys, template, data)

    assert code == 0, err
    assert received_counts(server) == {}
    assert f"  row 2 {address(2)}, boss@example.org: column 'email': {address(2)}, boss@example.org are on" in out
    # The report names the row's own address; the reason names the suppressed ones.
    rows = report_rows(out)
    assert rows["1"]["address"] == address(1)
    assert "boss@example.org is on the suppression list" in rows["1"]["reply"]
