"""Sync from the window, and the worker that runs core generators off the GUI thread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.paths import Profile, profile_at
from desktop.store import Store
from desktop.sync.service import CancelToken
from desktop.ui.main_window import MainWindow
from desktop.ui.workers import BackgroundJob
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, add_unreachable_account, build_profile, fill_large_folder

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

SYNC_TIMEOUT_MS = 60_000


def _show(qtbot, profile: Profile) -> MainWindow:
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=2000)
    return window


def test_unreachable_server_shows_error(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    port = add_unreachable_account(profile)
    window = _show(qtbot, profile)
    window.message_view.setFocus()

    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window.message_view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        assert window.is_syncing()

    assert blocker.args == [False]
    status = window.status_panel.message()
    assert status.startswith("Sync failed")
    assert f"127.0.0.1:{port}" in status
    assert "refused" in status
    assert window.status_panel.message_label.property("error") is True
    assert f"127.0.0.1:{port}" in window.log_view.toPlainText()
    assert window.status_panel.progress_bar.isHidden()
    assert window.status_panel.cancel_button.isHidden()
    assert window.actions_by_name["sync"].isEnabled()
    assert not window.is_syncing()

    qtbot.keyClick(window.message_view, Qt.Key.Key_J)
    assert window.message_view.currentIndex().row() == 1
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(1), timeout=2000)


def test_sync_action_runs_again_after_failure(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    add_unreachable_account(profile)
    window = _show(qtbot, profile)

    for _attempt in range(2):
        with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS) as blocker:
            window.actions_by_name["sync"].trigger()
        assert blocker.args == [False]

    assert window.log_view.toPlainText().count("Sync started") == 2


def test_local_profile_sync_succeeds_and_refreshes(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    window = _show(qtbot, profile)
    rows_before = window.message_model.rowCount()

    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS) as blocker:
        window.actions_by_name["sync"].trigger()

    assert blocker.args == [True]
    assert window.status_panel.message().startswith("Synced at")
    assert window.message_model.rowCount() == rows_before


def test_sync_keeps_message_on_show(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    window = _show(qtbot, profile)
    window.message_view.selectRow(2)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(2), timeout=2000)
    shown_id = window.reader.message_id()

    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS):
        window.actions_by_name["sync"].trigger()

    assert window.reader.message_id() == shown_id
    assert window.message_view.currentIndex().row() == 2


def test_cancel_button_stops_sync(qtbot, tmp_path: Path) -> None:
    # 20,000 unindexed messages keep the index step of a sync busy for
    # many batches, so there is time to press Cancel.
    profile = profile_at(tmp_path / "profile")
    fill_large_folder(profile, 20_000)
    window = _show(qtbot, profile)

    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS):
        window.actions_by_name["sync"].trigger()
        qtbot.waitUntil(lambda: window.status_panel.message().startswith("Indexing"), timeout=SYNC_TIMEOUT_MS)
        assert window.status_panel.cancel_button.isVisible()
        qtbot.mouseClick(window.status_panel.cancel_button, Qt.MouseButton.LeftButton)

    assert "Sync cancelled" in window.log_view.toPlainText()
    assert window.status_panel.cancel_button.isHidden()
    with Store(profile.store_file) as store:
        assert store.index_backlog() > 0


def test_job_reports_each_step_in_order(qtbot) -> None:
    seen_threads: list[int] = []

    def steps(cancel: CancelToken) -> Iterator[int]:
        for number in range(5):
            seen_threads.append(threading.get_ident())
            yield number

    job = BackgroundJob(steps)
    values: list[int] = []
    job.progressed.connect(values.append)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()

    assert values == [0, 1, 2, 3, 4]
    assert set(seen_threads) != {threading.get_ident()}
    assert not job.is_running()


def test_job_reports_expected_error_text(qtbot) -> None:
    def steps(cancel: CancelToken) -> Iterator[int]:
        yield 1
        raise ValueError("Query 'x' is invalid; remove the colon.")

    job = BackgroundJob(steps, expected_errors=(ValueError,))
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker, qtbot.waitSignal(job.finished, timeout=5000):
        job.start()

    assert blocker.args == ["Query 'x' is invalid; remove the colon."]


def test_job_reports_unexpected_error(qtbot, caplog: pytest.LogCaptureFixture) -> None:
    def steps(cancel: CancelToken) -> Iterator[int]:
        raise KeyError("surprise")
        yield 0

    job = BackgroundJob(steps, name="surprising")
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker, qtbot.waitSignal(job.finished, timeout=5000):
        job.start()

    assert blocker.args[0].startswith("Unexpected error")
    assert "surprise" in blocker.args[0]
    assert "Background job surprising failed" in caplog.text


def test_job_cancel_reaches_generator(qtbot) -> None:
    started = threading.Event()

    def steps(cancel: CancelToken) -> Iterator[int]:
        started.set()
        for number in range(1_000_000):
            if cancel.cancelled:
                return
            if number % 1000 == 0:
                yield number
            threading.Event().wait(0.001)

    job = BackgroundJob(steps)
    values: list[int] = []
    job.progressed.connect(values.append)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.start()
        assert started.wait(5)
        job.cancel()

    assert len(values) < 1000
