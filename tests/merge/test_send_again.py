"""Sending a template again after its data changed: stop, --resume (only the new addresses) or --new (everyone)."""

from __future__ import annotations

import shutil

from PySide6.QtWidgets import QMessageBox

from desktop.merge import journal as jn
from desktop.paths import default_profile
from tests.merge.send_helpers import (
    send,
    ACCOUNT,
    add_smtp_account,
    address,
    received_counts,
    run,
    write_merge,
)


def drop_row(data, number: int) -> None:
    """Remove data row ``number`` (1 is the first recipient) from a CSV file."""
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    del lines[number]
    data.write_text("".join(lines), encoding="utf-8")


def send_merges() -> list[jn.MergeRecord]:
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        return [record for record in journal.merges() if record.kind == jn.KIND_SEND]


def first_send_without_row_two(tmp_path, server, capsys):
    """Send rows 1 and 3 only, then restore row 2 in the data, as a user who fixed a row would."""
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 3)
    full = data.read_text(encoding="utf-8")
    drop_row(data, 2)
    code, _, err = send(capsys, template, data)
    assert code == 0, err
    assert received_counts(server) == {address(1): 1, address(3): 1}
    data.write_text(full, encoding="utf-8")
    return template, data


def test_changed_data_stops_without_flag(tmp_path, server, capsys):
    template, data = first_send_without_row_two(tmp_path, server, capsys)
    first = send_merges()[0]

    code, out, err = send(capsys, template, data)

    assert code == 1
    assert f"2 of the 3 rows go to addresses that already got this template in merge {first.id} (started " in err
    assert "Nothing was sent now" in err
    assert "--resume" in err
    assert "--new" in err
    assert len(server.received) == 2
    assert len(send_merges()) == 1


def test_resume_sends_only_fixed_row(tmp_path, server, capsys):
    template, data = first_send_without_row_two(tmp_path, server, capsys)
    first = send_merges()[0]

    code, out, err = send(capsys, template, data, "--resume")

    assert code == 0, err
    assert received_counts(server) == {address(1): 1, address(2): 1, address(3): 1}
    second = send_merges()[0]
    assert second.id != first.id
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        rows = {row.row: (row.state, row.reply) for row in journal.recipients(second.id)}
    assert rows[1] == (jn.SKIPPED, f"already sent in merge {first.id}")
    assert rows[3] == (jn.SKIPPED, f"already sent in merge {first.id}")
    assert rows[2][0] == jn.SENT


def test_new_sends_everyone_again(tmp_path, server, capsys):
    template, data = first_send_without_row_two(tmp_path, server, capsys)

    code, _, err = send(capsys, template, data, "--new")

    assert code == 0, err
    assert received_counts(server) == {address(1): 2, address(2): 1, address(3): 2}


def test_copied_template_content_counts(tmp_path, server, capsys):
    template, data = first_send_without_row_two(tmp_path, server, capsys)
    copy = tmp_path / "other" / "copy.md"
    copy.parent.mkdir()
    shutil.copyfile(template, copy)
    shutil.copyfile(data, copy.parent / "people.csv")

    code, _, err = send(capsys, copy, copy.parent / "people.csv")

    assert code == 1
    assert "2 of the 3 rows go to addresses that already got this template" in err
    assert len(server.received) == 2


def test_other_template_is_not_blocked(tmp_path, server, capsys):
    template, data = first_send_without_row_two(tmp_path, server, capsys)
    template.write_text(template.read_text(encoding="utf-8").replace("Your results", "New results"),
                        encoding="utf-8")
    moved = template.with_name("news.md")
    template.rename(moved)

    code, _, err = send(capsys, moved, data)

    assert code == 0, err
    assert received_counts(server) == {address(1): 2, address(2): 1, address(3): 2}


def test_resume_with_nothing_earlier_stops(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 2)

    code, _, err = send(capsys, template, data, "--resume")

    assert code == 1
    assert "nothing to resume" in err
    assert len(server.received) == 0


def test_unknown_row_not_resent(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_merge(tmp_path / "m", 4)
    full = data.read_text(encoding="utf-8")
    drop_row(data, 4)
    server.drop_after_data(address(2))
    send(capsys, template, data, "--connections", "1")
    first = send_merges()[0]
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        assert journal.recipient(first.id, 2).state == jn.UNKNOWN
    data.write_text(full, encoding="utf-8")

    code, _, err = send(capsys, template, data, "--resume")

    assert code == 0, err
    assert received_counts(server) == {address(1): 1, address(2): 1, address(3): 1, address(4): 1}


def open_window(qtbot, template, data):
    """Open the merge window on the files and wait for its check."""
    from desktop.ui.merge_window import MergeWindow

    window = MergeWindow(default_profile())
    qtbot.addWidget(window)
    window.send_panel.copies_box.setChecked(False)
    with qtbot.waitSignal(window.merge_checked, timeout=10000):
        window.open_files(template, data)
    return window


def click_in_offer(qtbot, window, label: str):
    # The window looks for earlier sends on a worker thread and asks when it has found them.
    qtbot.waitUntil(lambda: window.resume_box is not None, timeout=10000)
    box = window.resume_box
    assert isinstance(box, QMessageBox)
    button = next(button for button in box.buttons() if button.text() == label)
    with qtbot.waitSignal(window.send_finished, timeout=30000) as blocker:
        button.click()
    return blocker.args[0]


def test_window_sends_rest_only(qtbot, tmp_path, server, capsys):
    template, data = first_send_without_row_two(tmp_path, server, capsys)
    first = send_merges()[0]
    window = open_window(qtbot, template, data)

    window.send_panel.send_button.click()
    qtbot.waitUntil(lambda: window.resume_box is not None, timeout=10000)

    assert len(server.received) == 2
    assert f"2 of the 3 rows go to addresses that already got this template in merge {first.id}" in window.resume_box.text()
    result = click_in_offer(qtbot, window, "Send to the rest only")
    assert result.progress.state == jn.FINISHED
    assert received_counts(server) == {address(1): 1, address(2): 1, address(3): 1}
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        rows = {row.row: row.state for row in journal.recipients(result.merge_id)}
    assert rows == {1: jn.SKIPPED, 2: jn.SENT, 3: jn.SKIPPED}


def test_window_sends_everyone_again(qtbot, tmp_path, server, capsys):
    template, data = first_send_without_row_two(tmp_path, server, capsys)
    window = open_window(qtbot, template, data)

    window.send_panel.send_button.click()
    result = click_in_offer(qtbot, window, "Send to everyone again")

    assert result.progress.state == jn.FINISHED
    assert received_counts(server) == {address(1): 2, address(2): 1, address(3): 2}
