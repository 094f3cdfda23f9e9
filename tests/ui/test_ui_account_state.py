"""The account state that each sync or watch step leads to, and how the folder tree shows it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

from PySide6.QtCore import Qt

from desktop.sync.service import SyncProgress
from desktop.ui.account_state import (
    CONNECTED,
    CONNECTING,
    ERROR,
    OFFLINE,
    STOPPED,
    SYNCING,
    WATCHING,
    AccountState,
    next_state,
    stopped_state,
)
from desktop.ui.folder_tree import NAME_ROLE
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import ACCOUNT, add_unreachable_account, build_profile

SYNC_TIMEOUT_MS = 60_000


def _step(phase: str, done: int = 0, total: int = 0, text: str = "") -> SyncProgress:
    return SyncProgress("work", "INBOX", phase, done, total, text or f"work: {phase}")


def _run(phases: list[SyncProgress], start: AccountState | None = None) -> list[str]:
    state = start
    kinds = []
    for step in phases:
        state = next_state(state, step) or state
        kinds.append(state.kind if state else "")
    return kinds


def test_sync_then_watch_sequence() -> None:
    steps = [_step("connect"), _step("folders"), _step("fetch", 3, 10), _step("folder-done"), _step("account-done"), _step("watching")]

    assert _run(steps) == [CONNECTING, SYNCING, SYNCING, SYNCING, CONNECTED, WATCHING]


def test_new_mail_returns_to_watching() -> None:
    watching = AccountState(WATCHING, watched=True)

    kinds = _run([_step("fetch", 0, 1), _step("folder-done"), _step("arrived")], watching)

    assert kinds == [SYNCING, WATCHING, WATCHING]


def test_periodic_full_sync_ends_watching() -> None:
    watching = AccountState(WATCHING, watched=True)

    assert _run([_step("folders"), _step("account-done")], watching) == [SYNCING, WATCHING]


def test_syncing_label_counts() -> None:
    state = next_state(None, _step("fetch", 3, 10))

    assert state is not None
    assert state.label() == "syncing 3/10"


def test_retry_is_offline_with_reason() -> None:
    state = next_state(AccountState(WATCHING, watched=True), _step("retry", text="work: refused. Retrying in 2 s."))

    assert state is not None
    assert state.kind == OFFLINE
    assert "refused" in state.reason
    assert not state.watched


def test_reconnect_keeps_offline_reason() -> None:
    offline = AccountState(OFFLINE, reason="work: refused")

    assert next_state(offline, _step("connect")) is None


def test_sync_error_is_error() -> None:
    state = next_state(None, _step("error", text="work: login failed"))

    assert state is not None
    assert state.kind == ERROR
    assert state.label() == "error"


def test_stop_keeps_failures() -> None:
    offline = AccountState(OFFLINE, reason="work: refused")
    watching = AccountState(WATCHING, watched=True)

    assert stopped_state(offline, "stopped") is offline
    assert stopped_state(watching, "stopped").kind == STOPPED
    assert stopped_state(None, "stopped") is None


def test_window_shows_failed_account_error(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    port = add_unreachable_account(profile, "offline")
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.show()
    # An account without stored folders still gets its node, so its state has a place.
    assert set(window.folder_model.accounts()) == {ACCOUNT, "offline"}

    with qtbot.waitSignal(window.sync_finished, timeout=SYNC_TIMEOUT_MS):
        window.actions_by_name["sync"].trigger()

    state = window.folder_model.account_state("offline")
    assert state is not None
    assert state.kind == ERROR
    tooltip = window.folder_model.account_index("offline").data(Qt.ItemDataRole.ToolTipRole)
    assert f"127.0.0.1:{port}" in tooltip
    assert "refused" in tooltip
    assert window.folder_model.account_state(ACCOUNT) is None
    assert not window.is_watching()
    window.message_view.selectRow(0)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(0), timeout=2000)


def test_context_menu_offers_folder_commands(qtbot, tmp_path: Path) -> None:
    window = MainWindow(build_profile(tmp_path / "profile"))
    qtbot.addWidget(window)
    window.show()
    account = window.folder_model.account_index(ACCOUNT)
    rows = {window.folder_model.index(row, 0, account).data(NAME_ROLE): row for row in range(window.folder_model.rowCount(account))}
    shown: list[list[tuple[str, bool, str]]] = []

    for name in ("Archive", "INBOX"):
        point = window.folder_view.visualRect(window.folder_model.index(rows[name], 0, account)).center()
        menu = window.folder_commands.context_menu_at(point)
        assert menu is not None
        shown.append([(action.objectName(), action.isEnabled(), action.toolTip()) for action in menu.actions()])

    archive, inbox = shown
    assert [entry[0] for entry in archive] == ["new-folder", "rename-folder", "delete-folder"]
    assert [entry[1] for entry in archive] == [True, True, True]
    assert [entry[1] for entry in inbox] == [True, False, False]
    assert "special folder" in inbox[1][2]
    assert window.folder_view.currentIndex().data(NAME_ROLE) == "INBOX"
