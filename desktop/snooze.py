"""Snooze: a message leaves the inbox and comes back at a chosen time.

The store part (``desktop.store.snooze``) moves messages to the account's
Snoozed folder with the keyword ``$Snoozed`` and wakes them. This module
adds the parts that need more than the store. It computes the times the
picker offers and creates the Snoozed folder on the server when an account
has none. Its ``wake_due`` runs before sync and each watch cycle.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from imapclient.exceptions import IMAPClientError

from desktop.config import Account, ConfigError, load_config
from desktop.paths import Profile
from desktop.store import Store, StoreError
from desktop.store.snooze import (
    SNOOZED_FOLDER,
    SNOOZED_KEYWORD,
    SNOOZED_SPECIAL_USE,
    SnoozeEntry,
    SnoozeResult,
    WakeResult,
)
from desktop.text import sentence

log = logging.getLogger(__name__)

__all__ = [
    "SNOOZED_FOLDER", "SNOOZED_KEYWORD", "SnoozeChoice", "SnoozeEntry", "SnoozeError", "SnoozeResult", "WakeResult",
    "ensure_snooze_folders", "snooze_choices", "wake_due",
]

# The hour of "tomorrow morning", "this weekend" and "next week", in local time.
MORNING_HOUR = 8
# "Later today" is at least this many hours ahead, rounded up to a full hour.
LATER_TODAY_HOURS = 3
SATURDAY = 5
MONDAY = 0


class SnoozeError(Exception):
    """Snoozing is not possible; the message names the account and the fix."""


@dataclass(frozen=True)
class SnoozeChoice:
    """One time the snooze picker offers.

    Attributes:
        name: ``later-today``, ``tomorrow``, ``weekend`` or ``next-week``.
        wake_at: The wake time, in local time with its offset.
        next_weekend: For ``weekend``, whether it is the weekend after the
            current one (the picker then shows "Next weekend").
    """

    name: str
    wake_at: datetime
    next_weekend: bool = False


def snooze_choices(now: datetime | None = None) -> list[SnoozeChoice]:
    """Return the preset wake times for ``now`` (local time when None).

    "Later today" is left out once it would fall on the next day. The
    weekend is the coming Saturday morning, and next week the coming Monday
    morning, both after today.
    """
    moment = (now or datetime.now()).astimezone()
    morning = moment.replace(hour=MORNING_HOUR, minute=0, second=0, microsecond=0)
    choices = []
    later = (moment + timedelta(hours=LATER_TODAY_HOURS)).replace(minute=0, second=0, microsecond=0)
    if later < moment + timedelta(hours=LATER_TODAY_HOURS):
        later += timedelta(hours=1)
    if later.date() == moment.date():
        choices.append(SnoozeChoice("later-today", later))
    choices.append(SnoozeChoice("tomorrow", _days_later(morning, 1)))
    days_to_saturday = (SATURDAY - moment.weekday()) % 7 or 7
    choices.append(SnoozeChoice("weekend", _days_later(morning, days_to_saturday),
                                next_weekend=moment.weekday() >= SATURDAY))
    days_to_monday = (MONDAY - moment.weekday()) % 7 or 7
    choices.append(SnoozeChoice("next-week", _days_later(morning, days_to_monday)))
    return choices


def _days_later(moment: datetime, days: int) -> datetime:
    """Return the same wall-clock time ``days`` later, with the offset in force then (summer time may change)."""
    naive = moment.replace(tzinfo=None) + timedelta(days=days)
    return naive.astimezone()


def ensure_snooze_folders(profile: Profile, accounts: Iterable[str]) -> dict[str, int]:
    """Return {account: id of its Snoozed folder}, creating the folder where an account has none.

    For an IMAP account the folder is created on the server first (CREATE,
    then SUBSCRIBE so other clients list it), or taken from the server's
    list when it exists there but was not synced yet. A local account gets
    it in the store only. This connects to the server, so the window runs it
    on a worker thread.

    Raises:
        SnoozeError: when the account is unknown or the server cannot be reached or rejects CREATE.
    """
    found: dict[str, int] = {}
    with Store(profile.store_file) as store:
        kinds = {row.name: row.kind for row in store.accounts()}
        for name in sorted(set(accounts)):
            row = store.snooze_folder(name)
            if row is not None:
                found[name] = row.id
            elif name not in kinds:
                raise SnoozeError(f"Account {name!r} is not in the store; sync it first.")
            elif kinds[name] != "imap":
                found[name] = store.upsert_folder(store.ensure_account(name, kinds[name]), SNOOZED_FOLDER)
                log.info("Created folder %s of local account %s", SNOOZED_FOLDER, name)
            else:
                found[name] = _server_snooze_folder(store, _config_account(profile, name))
    return found


def _config_account(profile: Profile, name: str) -> Account:
    try:
        return load_config(profile.config_file).account(name)
    except ConfigError as error:
        raise SnoozeError(f"Cannot create the Snoozed folder of account {name!r}: {error}") from error


def _server_snooze_folder(store: Store, account: Account) -> int:
    # Imported here, so that the window and the command line load the sync code only when a folder is missing.
    from desktop.sync.connection import classify_error, connect
    from desktop.sync.engine import list_remote_folders
    from desktop.sync.errors import SyncError
    from desktop.sync.service import logout

    try:
        client = connect(account)
    except SyncError as error:
        raise SnoozeError(f"Cannot create the Snoozed folder: {error}") from error
    try:
        remote = [folder for folder in list_remote_folders(client) if folder.selectable]
        existing = ([folder for folder in remote if folder.special_use == SNOOZED_SPECIAL_USE]
                    or [folder for folder in remote if folder.name.casefold() == SNOOZED_FOLDER.casefold()])
        if existing:
            folder = existing[0]
            name, delimiter, special_use = folder.name, folder.delimiter, folder.special_use
        else:
            name, special_use = SNOOZED_FOLDER, ""
            delimiter = remote[0].delimiter if remote else "/"
            _create_on_server(client, account, name)
    except (OSError, IMAPClientError) as error:
        problem = classify_error(account, error, after="Snooze again once the server can be reached.")
        raise SnoozeError(str(problem)) from error
    finally:
        logout(client, account)
    return store.upsert_folder(store.ensure_account(account.name, "imap"), name, delimiter=delimiter,
                               special_use=special_use)


def _create_on_server(client, account: Account, name: str) -> None:
    log.info("Creating folder %s of account %s for snoozed mail", name, account.name)
    try:
        client.create_folder(name)
    except IMAPClientError as error:
        log.warning("Server of account %s rejected CREATE %s: %s", account.name, name, error)
        raise SnoozeError(f"The server of account {account.name!r} rejected creating folder {name!r}: {sentence(error)} "
                          f"Create a folder named {name} in another mail program and snooze again.") from error
    try:
        client.subscribe_folder(name)
    except IMAPClientError as error:
        # Unsubscribed folders still work; some clients just do not list them.
        log.warning("Server of account %s rejected SUBSCRIBE %s: %s", account.name, name, error)


def wake_due(store: Store, *, account: str | None = None) -> WakeResult:
    """Wake the due snoozes (of one account, or all) before a sync or a watch cycle sends the journal.

    A store error is logged and an empty result returned, because a failed
    wake must not stop the sync; the next cycle tries again.
    """
    try:
        return store.wake_snoozes(account=account)
    except (sqlite3.Error, StoreError) as error:
        log.error("Waking snoozed messages%s failed: %s", f" of account {account}" if account else "", error)
        return WakeResult()
