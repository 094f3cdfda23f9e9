"""The state of each account, derived from the sync and watch progress steps.

The sync service and the watch loop report SyncProgress steps per account.
``next_state`` turns each step into the state the folder tree shows next to
the account's name: connecting, syncing with a count, connected, watching,
offline or error, each with the step's text as the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication

from desktop.sync.service import SyncProgress

CONNECTING = "connecting"
SYNCING = "syncing"
CONNECTED = "connected"
WATCHING = "watching"
OFFLINE = "offline"
ERROR = "error"
STOPPED = "stopped"

_CONTEXT = "AccountState"
_SYNC_PHASES = {"folders", "flags", "fetch", "folder-done", "arrived"}
# States that mean the account could not be reached or used. A cancel keeps them.
_FAILED = {OFFLINE, ERROR}


@dataclass(frozen=True)
class AccountState:
    """The state of one account.

    Attributes:
        kind: One of the module's state names, such as ``watching``.
        done, total: Messages done of the total while syncing, when known.
        reason: The latest step's text, shown as the tooltip. For ``offline``
            and ``error`` it names the cause and the fix.
        watched: Whether the account is in its watch loop, where a sync of
            new mail ends in ``watching`` again rather than ``connected``.
    """

    kind: str
    done: int = 0
    total: int = 0
    reason: str = ""
    watched: bool = False

    def label(self) -> str:
        """Return the short, translated text shown next to the account's name."""
        translate = QCoreApplication.translate
        if self.kind == SYNCING and self.total > 0:
            return translate(_CONTEXT, "syncing %1/%2").replace("%1", str(self.done)).replace("%2", str(self.total))
        labels = {
            CONNECTING: translate(_CONTEXT, "connecting…"),
            SYNCING: translate(_CONTEXT, "syncing…"),
            CONNECTED: translate(_CONTEXT, "connected"),
            WATCHING: translate(_CONTEXT, "idle (watching)"),
            OFFLINE: translate(_CONTEXT, "offline"),
            ERROR: translate(_CONTEXT, "error"),
            STOPPED: translate(_CONTEXT, "not watching"),
        }
        return labels.get(self.kind, self.kind)

    def failed(self) -> bool:
        return self.kind in _FAILED


def next_state(previous: AccountState | None, step: SyncProgress) -> AccountState | None:
    """Return the account's state after ``step``, or None when the step does not change it.

    Steps of the whole profile (the index, a cancel without an account) name
    no account; the caller applies ``stopped_state`` to each account for those.
    """
    phase = step.phase
    watched = previous is not None and previous.watched
    if phase == "connect":
        # A reconnect attempt does not hide why the account is unreachable.
        # The state changes once the attempt succeeds or fails again.
        if previous is not None and previous.failed():
            return None
        return AccountState(CONNECTING, reason=step.text)
    if phase in {"flags", "fetch"}:
        return AccountState(SYNCING, step.done, step.total, step.text, watched)
    if phase in _SYNC_PHASES:
        # While watching, a finished folder or a listed arrival means the watch waits again.
        if watched and phase in {"folder-done", "arrived"}:
            return AccountState(WATCHING, reason=step.text, watched=True)
        return AccountState(SYNCING, reason=step.text, watched=watched)
    if phase == "account-done":
        return AccountState(WATCHING if watched else CONNECTED, reason=step.text, watched=watched)
    if phase == "watching":
        return AccountState(WATCHING, reason=step.text, watched=True)
    if phase == "retry":
        return AccountState(OFFLINE, reason=step.text)
    if phase == "error":
        return AccountState(ERROR, reason=step.text)
    if phase == "cancelled":
        return stopped_state(previous, step.text)
    return None


def stopped_state(previous: AccountState | None, text: str) -> AccountState | None:
    """Return the state after a run stopped: a failure stays, anything else is no longer watched."""
    if previous is None or previous.failed():
        return previous
    if previous.kind == CONNECTED:
        return previous
    return AccountState(STOPPED, reason=text)
