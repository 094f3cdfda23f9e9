"""A data file edited while a merge is open or sending stops the send, and nothing is sent twice after it."""

from __future__ import annotations

import threading
import time

from desktop.merge.render import open_merge
from desktop.paths import default_profile
from tests.merge.send_helpers import add_smtp_account, address, received_counts
from tests.merge.test_send import send_all, smtp, start  # noqa: F401 - smtp is a fixture


def reopen(merge):
    return open_merge(merge.template.path, merge.table.path, profile=default_profile())


def test_changed_before_send_sends_nothing(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 20)
    data = merge.table.path
    original = data.read_bytes()
    data.write_bytes(original.replace(b"C0005", b"X0005"))

    _, progress = send_all(account, merge, journal_file, merge_id, smtp)

    final = progress[-1]
    assert final.state == "stopped"
    assert "changed after the merge was opened" in final.note
    assert str(data) in final.note
    assert server.received == []
    assert final.remaining == 20

    data.write_bytes(original)
    again = reopen(merge)
    assert again.merge_key == merge.merge_key
    send_all(account, again, journal_file, merge_id, smtp)
    assert received_counts(server) == {address(number): 1 for number in range(1, 21)}


def test_changed_during_send_stops_and_resumes_once(tmp_path, server, smtp):
    account = add_smtp_account(server)
    count = 1300  # the file is checked again every 1,000 rows
    merge, journal_file, merge_id = start(tmp_path, count)
    data = merge.table.path
    original = data.read_bytes()
    outcome = {}
    sending = threading.Thread(target=lambda: outcome.update(
        progress=send_all(account, merge, journal_file, merge_id, smtp, connections=1)[1]))
    sending.start()
    deadline = time.monotonic() + 30
    while len(server.received) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    data.write_bytes(original.replace(b"C1200", b"X1200"))
    sending.join(timeout=120)
    assert not sending.is_alive()

    final = outcome["progress"][-1]
    assert final.state == "stopped"
    assert "changed after the merge was opened" in final.note
    assert 5 <= final.sent < count
    assert final.sent == len(server.received)

    data.write_bytes(original)
    send_all(account, reopen(merge), journal_file, merge_id, smtp, connections=4)
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}
