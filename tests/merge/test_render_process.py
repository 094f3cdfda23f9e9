"""Rendering a merge's messages in a separate process: the same messages, each once, and a clean stop."""

from __future__ import annotations

import multiprocessing
import threading

from desktop.merge import journal as jn
from desktop.merge.rate import Rate
from desktop.merge.sender import RENDER_PROCESS_MIN_ROWS, MergeSend, SendOptions
from tests.merge.send_helpers import add_smtp_account, address, message_shape, parsed, received_counts
from tests.merge.test_send import FAST, send_all, smtp, start  # noqa: F401 - smtp is a fixture


def shapes(received) -> dict[str, list]:
    return {item.rcpt_tos[0]: message_shape(parsed(item.data)) for item in received}


def test_process_matches_loop_rendering(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path / "loop", 12)
    send_all(account, merge, journal_file, merge_id, smtp, render_process=False)
    by_loop = shapes(server.received)
    first = len(server.received)
    merge, journal_file, merge_id = start(tmp_path / "process", 12)
    with jn.Journal(journal_file) as journal:
        merge_id = journal.create_merge(kind=jn.KIND_SEND, merge_key="second", template=str(merge.template.path),
                                        data=str(merge.table.path), account="work", options={}, total=12).id

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, render_process=True)

    assert progress[-1].state == jn.FINISHED
    assert received_counts(server) == {address(number): 2 for number in range(1, 13)}
    by_process = server.received[first:]
    assert shapes(by_process) == by_loop
    with jn.Journal(journal_file) as journal:
        ids = {row.message_id for row in journal.recipients(merge_id)}
    assert ids == {str(parsed(item.data)["Message-ID"]) for item in by_process}


def test_large_merge_chosen_by_size_uses_process(tmp_path, server, smtp, caplog):
    account = add_smtp_account(server)
    count = RENDER_PROCESS_MIN_ROWS + 50
    merge, journal_file, merge_id = start(tmp_path, count)

    with caplog.at_level("INFO", logger="desktop.merge.sender"):
        _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=4, render_process=None)

    assert "rendering in a separate process" in caplog.text
    assert progress[-1].state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}


def test_large_merge_renders_on_loop_by_default(tmp_path, server, smtp, caplog):
    account = add_smtp_account(server)
    count = RENDER_PROCESS_MIN_ROWS + 50
    merge, journal_file, merge_id = start(tmp_path, count)

    with caplog.at_level("INFO", logger="desktop.merge.sender"):
        _, progress = send_all(account, merge, journal_file, merge_id, smtp, connections=4)

    assert "rendering in a separate process" not in caplog.text
    assert progress[-1].state == jn.FINISHED
    assert received_counts(server) == {address(number): 1 for number in range(1, count + 1)}


def test_changed_data_stops_the_process(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 12)
    data = merge.table.path
    data.write_bytes(data.read_bytes().replace(b"C0005", b"X0005"))

    _, progress = send_all(account, merge, journal_file, merge_id, smtp, render_process=True)

    assert progress[-1].state == jn.STOPPED
    assert "changed after the merge was opened" in progress[-1].note
    assert server.received == []


def test_cancel_ends_the_process(tmp_path, server, smtp):
    account = add_smtp_account(server)
    merge, journal_file, merge_id = start(tmp_path, 400)
    options = SendOptions(**{**FAST, "render_process": True, "connections": 1, "rate": Rate(per_minute=600)})
    send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=merge_id, options=options,
                     smtp=smtp)
    outcome = {}
    sending = threading.Thread(target=lambda: outcome.update(progress=list(send.run())))
    sending.start()
    server.wait_for(2, timeout=30)
    assert any(child.name.startswith("merge-render-") for child in multiprocessing.active_children())

    send.cancel()
    sending.join(timeout=30)

    assert not sending.is_alive()
    assert not any(child.name.startswith("merge-render-") for child in multiprocessing.active_children())
    final = outcome["progress"][-1]
    assert final.state == jn.STOPPED
    assert 2 <= final.sent < 400
    assert received_counts(server) == {address(number): 1 for number in range(1, final.sent + 1)}
