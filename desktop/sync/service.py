"""Syncing a whole profile: every account, every folder, then the index.

``sync_profile`` is a generator, so the command line can print its progress
and the window can run it on a worker thread and show it. Both stop it
through a CancelToken. Each account is synced on a worker thread of its own,
with its own IMAP connection and store connection, because both belong to
one thread each. The workers send their progress through a queue. The
generator drains that queue in the caller's thread, where the single index
writer runs once the workers are done.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from desktop.config import Account, Config, load_config
from desktop.index.state import index_needs_fill
from desktop.paths import Profile
from desktop.snooze import wake_due
from desktop.store import Store
from desktop.sync.actions import replay_account
from desktop.sync.bodies import fetch_missing_bodies
from desktop.sync.connection import DEFAULT_TIMEOUT, classify_error, connect
from desktop.sync.engine import FolderProgress, FolderResult, FolderUnavailable, sync_folder
from desktop.sync.errors import SyncError, SyncFailures
from desktop.sync.list_status import list_folders_with_status, unchanged_since_sync
from desktop.text import pluralize

if TYPE_CHECKING:
    from desktop.index import SearchIndex
    from desktop.rules.model import RuleSet
    from desktop.sync.rules import NewMailRules

log = logging.getLogger(__name__)

# A worker notices a cancel between batches, but a connect in progress can take
# up to the connection timeout. So the generator waits that long for each worker.
WORKER_JOIN_SECONDS = DEFAULT_TIMEOUT + 5.0
_QUEUE_POLL_SECONDS = 0.5


class CancelToken:
    """A thread-safe flag that asks a running sync to stop soon.

    A token made with ``child()`` is cancelled with its parent, and can also be
    cancelled alone, which stops the workers of one run without touching the
    caller's token.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._children: list[CancelToken] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            child.cancel()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Block until the token is cancelled or ``seconds`` pass; return whether it was cancelled."""
        return self._event.wait(seconds)

    def child(self) -> CancelToken:
        """Return a new token that this token's ``cancel()`` also cancels."""
        token = CancelToken()
        with self._lock:
            self._children.append(token)
        # A cancel that ran before the append did not see the new child.
        if self.cancelled:
            token.cancel()
        return token


@dataclass
class SyncProgress:
    """One step of a profile sync.

    Attributes:
        phase: ``connect``, ``folders``, ``flags``, ``fetch`` (headers),
            ``folder-done``, ``rules`` (a rule acted on new mail),
            ``bodies``, ``index``, ``account-done``, ``warning`` (a
            problem that did not stop the sync, such as an invalid rule
            file), ``cancelled`` or ``error``. The watch
            loop in ``desktop.sync.watch`` adds ``watching`` and ``retry``.
        done, total: Messages (or index entries) done of the total, when known.
        text: A one-line description for a status bar or a terminal.
    """

    account: str
    folder: str
    phase: str
    done: int
    total: int
    text: str


@dataclass(frozen=True)
class IndexRequest:
    """Sent by an account worker after it stored changes that the index must follow."""

    account: str


@dataclass(frozen=True)
class _WorkerFinished:
    account: str


@dataclass(frozen=True)
class _WorkerCrashed:
    account: str
    error: BaseException


AccountWork = Callable[[Account, CancelToken], Iterator[object]]
"""The job of one account worker: yields SyncProgress or IndexRequest items and may raise SyncError."""


def sync_profile(profile: Profile, *, account: str | None = None, cancel: CancelToken | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> Iterator[SyncProgress]:
    """Sync the profile's IMAP accounts (or one of them) in parallel, then update the index.

    Raises:
        SyncFailures: after the other accounts were synced, when any failed.
        ConfigError: when ``account`` is unknown or the config is invalid.
    """
    token = cancel or CancelToken()
    config = load_config(profile.config_file)
    accounts = [entry for entry in config.selected(account) if entry.kind == "imap"]
    failures: list[SyncError] = []
    ruleset, problem_steps = load_sync_rules(profile)

    def work(entry: Account, stop: CancelToken) -> Iterator[object]:
        with Store(profile.store_file) as store, account_rules(store, config, ruleset) as rules:
            yield from sync_account(entry, store, stop, ssl_context, rules=rules)

    yield from problem_steps
    # Opening the store here first runs any schema migration once, before the workers open theirs.
    with Store(profile.store_file) as store:
        # Snoozes that are due wake first, so their moves back go out with this sync's journal.
        wake_due(store, account=account)
        for item in run_account_workers(accounts, work, token):
            if isinstance(item, SyncError):
                failures.append(item)
                yield SyncProgress(item.account, "", "error", 0, 0, str(item))
            elif isinstance(item, SyncProgress):
                yield item
        # Whoosh is imported and the index opened only when there is work for it,
        # which keeps a resync with no changes short.
        if store.index_backlog() or index_needs_fill(profile.index_dir):
            from desktop.index import SearchIndex

            index = SearchIndex(profile.index_dir)
            try:
                yield from index_changes(store, index, token)
            finally:
                index.close()
    if token.cancelled:
        yield SyncProgress(account or "", "", "cancelled", 0, 0, "Sync cancelled; what was fetched is kept.")
    if failures:
        raise SyncFailures(failures)


def run_account_workers(accounts: Sequence[Account], work: AccountWork, cancel: CancelToken) -> Iterator[object]:
    """Run ``work`` for each account on a thread of its own and yield what the workers send, in this thread.

    A worker that raises SyncError yields that error as an item, and the others
    go on. Any other exception stops all workers and is raised here. Leaving
    the generator early (``close()``) stops the workers too.
    """
    if cancel.cancelled:
        return
    stop = cancel.child()
    items: queue.Queue[object] = queue.Queue()
    threads = [
        threading.Thread(target=_run_worker, args=(entry, work, stop, items), name=f"sluice-sync-{entry.name}", daemon=True)
        for entry in accounts
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            try:
                item = items.get(timeout=_QUEUE_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, _WorkerFinished):
                running -= 1
            elif isinstance(item, _WorkerCrashed):
                raise item.error
            else:
                yield item
    finally:
        stop.cancel()
        _join_workers(threads)


def _run_worker(account: Account, work: AccountWork, stop: CancelToken, items: queue.Queue) -> None:
    log.debug("Worker for account %s started", account.name)
    try:
        for item in work(account, stop):
            items.put(item)
    except SyncError as error:
        log.error("Sync of account %s failed (%s): %s", account.name, error.cause, error)
        items.put(error)
    except Exception as error:  # noqa: BLE001 - handed to the generator's thread, which raises it
        log.exception("Worker for account %s crashed", account.name)
        items.put(_WorkerCrashed(account.name, error))
    finally:
        items.put(_WorkerFinished(account.name))
        log.debug("Worker for account %s stopped", account.name)


def _join_workers(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WORKER_JOIN_SECONDS)
        if thread.is_alive():
            log.warning("Worker thread %s did not stop within %.0f s; leaving it to finish alone", thread.name, WORKER_JOIN_SECONDS)


def index_changes(store: Store, index: SearchIndex, token: CancelToken) -> Iterator[SyncProgress]:
    """Apply the store's queued changes to the index; call it from one thread only."""
    from desktop.index.builder import update_index

    for step in update_index(store, index, cancelled=lambda: token.cancelled):
        yield SyncProgress("", "", "index", step.done, step.total, f"Indexing {step.done}/{step.total}")


def load_sync_rules(profile: Profile) -> tuple[RuleSet | None, list[SyncProgress]]:
    """Load the rules that run on new mail; return them (None without rule files) and steps reporting their problems.

    Each problem is one ``warning`` step, ``FILE:LINE: message``, followed
    by a step saying which rules run instead. Problems are logged too.
    """
    from desktop.rules.active import active_rules, rules_in_use

    if not rules_in_use(profile):
        return None, []
    ruleset, problems = active_rules(profile)
    if not problems:
        return ruleset, []
    steps = [SyncProgress("", "", "warning", 0, 0, str(problem)) for problem in problems]
    if ruleset.rules:
        verb = "stays" if len(ruleset.rules) == 1 else "stay"
        fallback = (f"The rule files have {pluralize(len(problems), 'problem')}, so the previous "
                    f"{pluralize(len(ruleset.rules), 'rule')} {verb} active until they are fixed; "
                    "check them with 'sluice rules check'.")
    else:
        fallback = (f"The rule files have {pluralize(len(problems), 'problem')} and there are no earlier valid rules, "
                    "so no rules run on new mail until they are fixed; check them with 'sluice rules check'.")
    steps.append(SyncProgress("", "", "warning", 0, 0, fallback))
    return ruleset, steps


@contextmanager
def account_rules(store: Store, config: Config, ruleset: RuleSet | None) -> Iterator[NewMailRules | None]:
    """Yield the rules for one account worker, with an auto-reply sender bound to its store; None without rules."""
    if ruleset is None:
        yield None
        return
    from desktop.sync.rules import NewMailRules, auto_replier

    with auto_replier(store, config, ruleset) as auto_reply:
        yield NewMailRules(ruleset, auto_reply)


def sync_account(account: Account, store: Store, token: CancelToken, ssl_context: ssl.SSLContext | None,
                 *, rules: NewMailRules | None = None) -> Iterator[SyncProgress]:
    """Connect, sync every folder of ``account`` and log out; raise SyncError on failure."""
    yield SyncProgress(account.name, "", "connect", 0, 0, f"{account.name}: connecting to {account.imap_host}")
    client = connect(account, ssl_context=ssl_context)
    try:
        yield from sync_folders(client, account, store, token, rules=rules)
    except (OSError, IMAPClientError) as error:
        raise classify_error(account, error, after="The sync stopped; what was fetched is kept, so sync again to continue.") from error
    finally:
        logout(client, account)


def sync_folders(client: IMAPClient, account: Account, store: Store, token: CancelToken,
                 *, rules: NewMailRules | None = None) -> Iterator[SyncProgress]:
    """Sync every folder of ``account`` over an open connection.

    With ``rules``, new mail in their scope passes through them after every
    folder's headers are stored and before the bodies are fetched.
    """
    account_id = store.ensure_account(account.name, "imap")
    remote, statuses = list_folders_with_status(client, account.name)
    yield SyncProgress(account.name, "", "folders", 0, len(remote), f"{account.name}: {pluralize(len(remote), 'folder')}")
    _drop_vanished_folders(store, account.name, {name for name, *_ in remote})
    folder_ids = [
        store.upsert_folder(account_id, name, delimiter=delimiter, special_use=special_use, selectable=selectable)
        for name, delimiter, special_use, selectable in remote
    ]
    if replay_account(client, store, account_id):
        # The status was read before the local changes went out, so it no longer proves a folder unchanged.
        statuses = {}
    for folder_id, (name, _delimiter, _special_use, selectable) in zip(folder_ids, remote):
        if not selectable:
            continue
        if token.cancelled:
            return
        if unchanged_since_sync(store.folder(folder_id), statuses.get(name)):
            log.debug("Folder %s of account %s is unchanged since the last sync; not selected", name, account.name)
            yield SyncProgress(account.name, name, "folder-done", 0, 0, f"{account.name}/{name}: unchanged")
            continue
        try:
            yield from sync_one_folder(client, store, account, folder_id, name, token, rules=rules)
        except FolderUnavailable as error:
            log.warning("Skipped folder %s of account %s: %s", name, account.name, error.reason)
            yield SyncProgress(account.name, name, "folder-skipped", 0, 0,
                               f"{account.name}/{name}: skipped, {error} The next sync tries it again.")
    if token.cancelled:
        return
    if rules is not None:
        yield from run_rules(client, account, store, rules)
    thread_new_mail(account, store)
    # Every folder's headers are stored first, so the whole list is usable before any body arrives.
    yield from sync_bodies(client, account, store, token)
    yield SyncProgress(account.name, "", "account-done", 0, 0, f"{account.name}: synced")


def thread_new_mail(account: Account, store: Store) -> None:
    """Put the account's messages that have no conversation yet into one (after rules, so moved mail counts too)."""
    account_id = store.account_id(account.name)
    if account_id is None:
        return
    started = time.monotonic()
    count = store.update_threads(account_id)
    if count:
        log.info("Threaded %d message(s) of account %s in %.2f s", count, account.name, time.monotonic() - started)


def sync_bodies(client: IMAPClient, account: Account, store: Store, token: CancelToken) -> Iterator[SyncProgress]:
    """Fetch the account's missing bodies (phase ``bodies``), as its ``offline`` settings ask."""
    for step in fetch_missing_bodies(client, account, store, cancelled=lambda: token.cancelled):
        yield SyncProgress(account.name, "", "bodies", step.done, step.total, f"{account.name}: bodies {step.done}/{step.total}")


def run_rules(client: IMAPClient, account: Account, store: Store, rules: NewMailRules, *, send: bool = True) -> Iterator[SyncProgress]:
    """Run the rules on the account's new mail and describe what they did (phase ``rules``, problems as ``warning``)."""
    from desktop.sync.rules import run_rules_on_new_mail

    outcome = run_rules_on_new_mail(client, account, store, rules, send=send)
    for name, count in outcome.acted:
        yield SyncProgress(account.name, "", "rules", count, count,
                           f"{account.name}: rule '{name}' acted on {pluralize(count, 'new message')}")
    for problem in outcome.problems:
        yield SyncProgress(account.name, "", "warning", 0, 0, f"{account.name}: rules on new mail: {problem}")
    if outcome.bulk_id is not None:
        yield SyncProgress(account.name, "", "rules", 0, 0, f"{account.name}: to reverse what the rules did, run 'sluice undo'")


def sync_one_folder(client: IMAPClient, store: Store, account: Account, folder_id: int, name: str, token: CancelToken,
                    *, rules: NewMailRules | None = None) -> Iterator[SyncProgress]:
    """Sync one folder and describe each step; the last step has phase ``folder-done``.

    New messages are marked for ``rules`` when their scope covers the folder.
    """
    marking = rules is not None and rules.covers(account.name, name)
    for step in sync_folder(client, store, folder_id, name, cancelled=lambda: token.cancelled, mark_for_rules=marking):
        if isinstance(step, FolderProgress):
            verb = "fetching headers" if step.phase == "fetch" else "checking flags"
            yield SyncProgress(account.name, name, step.phase, step.done, step.total,
                               f"{account.name}/{name}: {verb} {step.done}/{step.total}")
        elif isinstance(step, FolderResult):
            text = (f"{account.name}/{name}: {step.fetched} new, {step.deleted} removed, "
                    f"{pluralize(step.flags_changed, 'flag change')}" + (" (renumbered on the server)" if step.reset else ""))
            yield SyncProgress(account.name, name, "folder-done", step.fetched, step.fetched, text)


def _drop_vanished_folders(store: Store, account: str, remote_names: set[str]) -> None:
    for folder in store.folders(account, with_counts=False):
        if folder.name not in remote_names:
            removed = store.delete_folder(folder.id)
            log.info("Folder %s of account %s is gone from the server; removed it and %d local message(s)", folder.name, account, removed)


def logout(client: IMAPClient, account: Account) -> None:
    """Log out, ignoring errors, because the connection may be gone already."""
    try:
        client.logout()
    except (OSError, IMAPClientError, socket.error) as error:
        log.debug("Logout of account %s failed: %s", account.name, error)
