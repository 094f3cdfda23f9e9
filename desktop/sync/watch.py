"""Watching accounts for new mail after a full sync.

IDLE (RFC 2177) reports changes of the selected folder only, so each watched
folder has a connection of its own, used by one thread, because an
IMAPClient is not thread-safe. INBOX is always watched, the folders in
``Account.watch_folders`` as well. Each connection waits with IDLE, or polls
with NOOP where the server lacks IDLE, and a change syncs that folder over
the same connection. The INBOX connection also syncs every folder at a fixed
interval and after each reconnect, and sends the user's pending local actions
(flag changes, moves, deletes) within about a second of their journaling. A
lost connection is opened again with exponential backoff. Like
``sync_profile``, ``watch_profile`` is a generator that yields SyncProgress
in the caller's thread, where the single index writer runs, and it stops when
its CancelToken is cancelled.
"""

from __future__ import annotations

import logging
import queue
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from desktop.config import Account, load_config
from desktop.paths import Profile
from desktop.snooze import wake_due
from desktop.store import FolderRow, Store
from desktop.sync.actions import replay_account
from desktop.sync.connection import connect
from desktop.sync.engine import list_remote_folders
from desktop.sync.errors import SyncError
from desktop.sync.retry import Backoff
from desktop.sync.service import (
    CancelToken,
    IndexRequest,
    SyncProgress,
    account_rules,
    index_changes,
    load_sync_rules,
    logout,
    run_account_workers,
    run_rules,
    sync_bodies,
    sync_folders,
    sync_one_folder,
    thread_new_mail,
)
from desktop.text import pluralize, sentence

log = logging.getLogger(__name__)

# Failures that the same attempt repeats: a rejected login or a password or token command that fails.
_NO_RETRY_CAUSES = frozenset({"auth", "credentials"})

WATCHED_FOLDER = "INBOX"
# RFC 2177 section 3: servers may end an IDLE after 30 minutes, so clients
# should re-issue it at least every 29 minutes.
IDLE_RENEW_SECONDS = 25 * 60.0
# Length of one idle_check() wait, and so the time a cancel takes to be noticed.
IDLE_CHECK_SECONDS = 1.0
POLL_SECONDS = 60.0
FULL_SYNC_MINUTES = 15.0
# At most this many new messages are listed one by one per arrival.
ARRIVALS_LISTED = 20
# Untagged responses that mean the watched folder changed (RFC 3501 section 7.3 and 7.4).
_CHANGE_RESPONSES = frozenset({b"EXISTS", b"EXPUNGE", b"FETCH"})
# Seconds between checks of the merged queue of an account's folder watchers, and so the time a stop takes to be seen there.
_QUEUE_POLL_SECONDS = 0.5
_JOIN_SECONDS = 10.0


@dataclass
class WatchOptions:
    """Settings of a watch run.

    Attributes:
        full_sync_seconds: Seconds between syncs of every folder.
        poll_seconds: Seconds between NOOP polls where IDLE is not used.
        use_idle: Use IDLE where the server offers it; False always polls.
        max_seconds: Stop after this many seconds; None runs until cancelled.
        backoff: Makes the reconnect delays of one account.
        ssl_context: TLS settings for the connections; None uses the system's.
    """

    full_sync_seconds: float = FULL_SYNC_MINUTES * 60
    poll_seconds: float = POLL_SECONDS
    use_idle: bool = True
    max_seconds: float | None = None
    backoff: Callable[[], Backoff] = Backoff
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.full_sync_seconds <= 0:
            raise ValueError(f"invalid full sync interval {self.full_sync_seconds / 60:g} minutes; use a positive number")
        if self.poll_seconds <= 0:
            raise ValueError(f"invalid poll interval {self.poll_seconds:g} s; use a positive number of seconds")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"invalid maximum run time {self.max_seconds:g} s; use a positive number of seconds")


def watch_profile(profile: Profile, *, account: str | None = None, cancel: CancelToken | None = None,
                  options: WatchOptions | None = None) -> Iterator[SyncProgress]:
    """Sync the profile's IMAP accounts (or one of them), then watch them until cancelled.

    Connection failures never end the run: each account retries on its own.

    Raises:
        ConfigError: when ``account`` is unknown or the config is invalid.
    """
    token = cancel or CancelToken()
    settings = options or WatchOptions()
    accounts = [entry for entry in load_config(profile.config_file).selected(account) if entry.kind == "imap"]

    def work(entry: Account, stop: CancelToken) -> Iterator[object]:
        yield from watch_account(profile, entry, stop, settings)

    timer = _start_deadline(settings.max_seconds, token)
    log.info("Watching %d account(s)", len(accounts))
    try:
        # Opening the store here first runs any schema migration once, before the workers open theirs.
        with Store(profile.store_file) as store:
            # Imported here, so that a plain `sluice sync` with nothing to index never loads Whoosh.
            from desktop.index import SearchIndex

            index = SearchIndex(profile.index_dir)
            try:
                for item in run_account_workers(accounts, work, token):
                    if isinstance(item, IndexRequest):
                        yield from index_changes(store, index, token)
                    elif isinstance(item, SyncProgress):
                        yield item
            finally:
                index.close()
    finally:
        if timer is not None:
            timer.cancel()
    log.info("Stopped watching")
    yield SyncProgress(account or "", "", "cancelled", 0, 0, "Stopped watching; what was fetched is kept.")


def watched_folders(account: Account) -> list[str]:
    """Return the folders to watch: INBOX first, then ``watch_folders`` without repeats."""
    names = [WATCHED_FOLDER]
    for name in account.watch_folders:
        if name.upper() != WATCHED_FOLDER and name not in names:
            names.append(name)
    return names


def watch_account(profile: Profile, account: Account, token: CancelToken, options: WatchOptions) -> Iterator[object]:
    """Watch each of the account's folders on a thread of its own and yield what they send, in this thread.

    Each thread opens its own Store and connection. A folder watcher that
    crashes stops the others, and its exception is raised here.
    """
    stop = token.child()
    items: queue.Queue[object] = queue.Queue()
    sync_lock = threading.Lock()
    threads = []
    for folder in watched_folders(account):
        primary = folder == WATCHED_FOLDER
        thread = threading.Thread(target=_run_folder_watcher, name=f"sluice-watch-{account.name}-{folder}", daemon=True,
                                  args=(profile, account, folder, primary, sync_lock, stop, options, items))
        threads.append(thread)
        thread.start()
    running = len(threads)
    try:
        while running:
            try:
                item = items.get(timeout=_QUEUE_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, _WatcherEnded):
                running -= 1
                if item.error is not None:
                    raise item.error
            else:
                yield item
    finally:
        stop.cancel()
        for thread in threads:
            thread.join(_JOIN_SECONDS)
            if thread.is_alive():
                log.warning("Watcher thread %s did not stop within %.0f s; leaving it to finish alone", thread.name, _JOIN_SECONDS)


@dataclass(frozen=True)
class _WatcherEnded:
    folder: str
    error: BaseException | None = None


def _run_folder_watcher(profile: Profile, account: Account, folder: str, primary: bool, sync_lock: threading.Lock,
                        token: CancelToken, options: WatchOptions, items: queue.Queue) -> None:
    log.debug("Watcher of %s in account %s started", folder, account.name)
    ended = _WatcherEnded(folder)
    try:
        with Store(profile.store_file) as store:
            watcher = AccountWatcher(account, store, token, options, folder=folder, primary=primary, sync_lock=sync_lock,
                                     profile=profile)
            for item in watcher.run():
                items.put(item)
    except Exception as error:  # noqa: BLE001 - handed to the account's thread, which raises it
        log.exception("Watcher of %s in account %s crashed", folder, account.name)
        ended = _WatcherEnded(folder, error)
    finally:
        items.put(ended)
        log.debug("Watcher of %s in account %s stopped", folder, account.name)


def _start_deadline(seconds: float | None, token: CancelToken) -> threading.Timer | None:
    if seconds is None:
        return None
    timer = threading.Timer(seconds, token.cancel)
    timer.daemon = True
    timer.start()
    return timer


@contextmanager
def stop_on_signals(token: CancelToken) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``token.cancel()`` inside the block.

    Python lets only the main thread set signal handlers; elsewhere the block
    runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(number: int, _frame: object) -> None:
        log.info("Received %s; stopping", signal.Signals(number).name)
        token.cancel()

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class FolderMissing(SyncError):
    """A watched folder does not exist on the server; retrying cannot help until the user fixes the setting."""


class AccountWatcher:
    """Keeps one folder of an account watched with IDLE or NOOP on a connection of its own, reconnecting on failure.

    The primary watcher (INBOX) also runs the full syncs and sends pending
    local actions, so that only one connection of the account does either.
    ``run()`` is a generator meant for the watcher's own thread. It yields
    SyncProgress and, after each change it stored, an IndexRequest.

    With a ``profile``, each sync loads the profile's rules again, so an
    edited rule file takes effect at the next new mail, and runs them on new
    mail as ``sync_profile`` does. The primary watcher reports rule file
    problems whenever they change.
    """

    def __init__(self, account: Account, store: Store, token: CancelToken, options: WatchOptions, *,
                 folder: str = WATCHED_FOLDER, primary: bool = True, sync_lock: threading.Lock | None = None,
                 profile: Profile | None = None) -> None:
        self._account = account
        self._store = store
        self._token = token
        self._options = options
        self._folder = folder
        self._primary = primary
        # Folder syncs of one account take turns, so two connections never store the same folder at once.
        self._sync_lock = sync_lock or threading.Lock()
        self._account_id = store.ensure_account(account.name, "imap")
        self._replayed_through = 0
        self._profile = profile
        self._reported_problems: list[str] = []

    def run(self) -> Iterator[object]:
        """Watch until the token is cancelled, or until the folder turns out not to exist."""
        backoff = self._options.backoff()
        name = self._account.name
        while not self._token.cancelled:
            try:
                yield from self._session(backoff)
            except FolderMissing as error:
                log.error("Not watching %s of account %s: %s", self._folder, name, error)
                # A warning, not an error: the account's other folders are still watched.
                yield SyncProgress(name, self._folder, "warning", 0, 0, f"{name}: {error}")
                return
            except SyncError as error:
                if error.cause in _NO_RETRY_CAUSES:
                    # Logging in again with the same secret fails again, and servers may lock an account after
                    # repeated failed logins, so the account waits for the user to fix it and sync.
                    log.error("Stopped watching account %s: %s", name, error)
                    yield SyncProgress(name, self._folder, "error", 0, 0,
                                       f"{name}: {sentence(error)} Not retried; sync again once it is fixed.")
                    return
                yield from self._wait_to_retry(backoff, error)
            except (OSError, IMAPClientError) as error:
                lost = SyncError(name, "network", f"The connection of account {name!r} failed: {sentence(error)}")
                yield from self._wait_to_retry(backoff, lost)

    def _session(self, backoff: Backoff) -> Iterator[object]:
        name = self._account.name
        yield SyncProgress(name, self._folder, "connect", 0, 0, f"{name}: connecting to {self._account.imap_host}")
        client = connect(self._account, ssl_context=self._options.ssl_context)
        try:
            if self._primary:
                yield from self._sync_all(client)
            else:
                yield from self._sync_watched(client, self._store_folder(client).id, describe=False)
            backoff.reset()
            yield from self._watch(client)
        except BaseException:
            # The connection may be broken, and a LOGOUT could wait for the socket timeout.
            _shutdown(client, name)
            raise
        logout(client, self._account)

    def _sync_all(self, client: IMAPClient) -> Iterator[object]:
        # sync_folders sends the pending actions; one journaled after this point is sent by the watch loop.
        wake_due(self._store, account=self._account.name)
        last = self._last_pending_id()
        with ExitStack() as stack:
            rules = yield from self._enter_rules(stack)
            with self._sync_lock:
                yield from sync_folders(client, self._account, self._store, self._token, rules=rules)
        self._replayed_through = max(self._replayed_through, last)
        yield IndexRequest(self._account.name)

    def _store_folder(self, client: IMAPClient) -> FolderRow:
        """Return the store's row of the watched folder, after checking the server has it.

        Raises:
            FolderMissing: the server lists no folder of that name.
        """
        remote = {folder.name: folder for folder in list_remote_folders(client)}
        found = remote.get(self._folder)
        if found is None or not found.selectable:
            listed = ", ".join(sorted(remote)) or "none"
            raise FolderMissing(
                self._account.name, "folder",
                f"The watched folder {self._folder!r} does not exist on the server of account {self._account.name!r} "
                f"(its folders are: {listed}). Correct watch_folders in the account's settings; the other folders are still watched.",
            )
        folder_id = self._store.upsert_folder(self._account_id, found.name, delimiter=found.delimiter,
                                              special_use=found.special_use, selectable=found.selectable)
        return self._store.folder(folder_id)

    def _watch(self, client: IMAPClient) -> Iterator[object]:
        name = self._account.name
        folder = self._store.folder_by_name(name, self._folder)
        if folder is None:
            raise SyncError(name, "protocol", f"The server of account {name!r} lists no {self._folder}; it cannot be watched.")
        idle = self._options.use_idle and b"IDLE" in client.capabilities()
        method = "IDLE" if idle else f"NOOP every {self._options.poll_seconds:g} s"
        log.info("Watching %s of account %s with %s", self._folder, name, method)
        yield SyncProgress(name, self._folder, "watching", 0, 0, f"{name}: waiting for new mail in {self._folder} ({method})")

        full_sync_at = time.monotonic() + self._options.full_sync_seconds
        while not self._token.cancelled:
            wait = self._wait_idle if idle else self._wait_poll
            changed = wait(client, folder.uidnext, self._wait_until(full_sync_at))
            if self._token.cancelled:
                return
            if self._primary:
                wake_due(self._store, account=name)
            if self._primary and self._has_new_actions():
                yield from self._replay(client)
            if changed:
                yield from self._sync_watched(client, folder.id)
            if self._primary and time.monotonic() >= full_sync_at:
                log.info("Periodic full sync of account %s", name)
                yield from self._sync_all(client)
                full_sync_at = time.monotonic() + self._options.full_sync_seconds
            folder = self._store.folder(folder.id) or folder

    def _wait_until(self, full_sync_at: float) -> float:
        """Return when the wait must end: at the next full sync, or earlier when a snooze of the account is due."""
        if not self._primary:
            return full_sync_at
        wake_at = self._store.next_wake(self._account.name)
        if wake_at is None:
            return full_sync_at
        # At least one IDLE slice, so a wake that keeps failing does not turn the loop into a busy one.
        return min(full_sync_at, time.monotonic() + max(IDLE_CHECK_SECONDS, wake_at.timestamp() - time.time()))

    def _last_pending_id(self) -> int:
        pending = self._store.pending_actions(self._account_id)
        return pending[-1][0] if pending else 0

    def _has_new_actions(self) -> bool:
        """Return whether an action was journaled since the last replay.

        Actions still pending after a replay wait for the next full sync, so
        an action that keeps failing is not sent again every second.
        """
        return self._primary and self._last_pending_id() > self._replayed_through

    def _replay(self, client: IMAPClient) -> Iterator[object]:
        last = self._last_pending_id()
        with self._sync_lock:
            count = replay_account(client, self._store, self._account_id)
        self._replayed_through = last
        log.info("Sent %d pending action(s) of account %s while watching", count, self._account.name)
        yield IndexRequest(self._account.name)

    def _select_watched(self, client: IMAPClient, stored_uidnext: int | None) -> bool:
        """Select the watched folder; return whether mail arrived since the last sync.

        Mail that arrives between a sync and the next IDLE or NOOP is not
        reported by them, so a UIDNEXT ahead of the stored one counts as new mail.
        """
        info = client.select_folder(self._folder, readonly=True)
        uidnext = int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None
        return uidnext is not None and stored_uidnext is not None and uidnext != stored_uidnext

    def _wait_idle(self, client: IMAPClient, stored_uidnext: int | None, until: float) -> bool:
        """Wait in IDLE until a change, ``until``, the IDLE renewal time, a new local action or a cancel."""
        if self._select_watched(client, stored_uidnext):
            return True
        # NOTE: a connection that drops without a FIN or RST (a sleeping laptop, a
        # NAT timeout) is only noticed at the next renewal, up to IDLE_RENEW_SECONDS later.
        renew_at = min(until, time.monotonic() + IDLE_RENEW_SECONDS)
        client.idle()
        changed = self._idle_slices(client, renew_at)
        # idle_done() raises when the server closed the connection during IDLE.
        _text, late = client.idle_done()
        return changed or _has_change(late)

    def _idle_slices(self, client: IMAPClient, renew_at: float) -> bool:
        while not self._token.cancelled and time.monotonic() < renew_at:
            started = time.monotonic()
            responses = client.idle_check(timeout=IDLE_CHECK_SECONDS)
            if _has_change(responses):
                return True
            if not responses and time.monotonic() - started < IDLE_CHECK_SECONDS / 2:
                # imapclient 4.1 returns an empty list at once when the server
                # closed the connection; ending IDLE then raises the error.
                log.debug("IDLE of account %s returned early with nothing; checking the connection", self._account.name)
                return False
            if self._has_new_actions():
                # Commands cannot be sent during IDLE, so the caller ends it (DONE) and replays.
                return False
        return False

    def _wait_poll(self, client: IMAPClient, stored_uidnext: int | None, until: float) -> bool:
        """Sleep until the next poll (or ``until``), then send NOOP and report whether it saw a change.

        The sleep ends early when a new local action is journaled.
        """
        if self._select_watched(client, stored_uidnext):
            return True
        poll_at = min(until, time.monotonic() + self._options.poll_seconds)
        while time.monotonic() < poll_at:
            if self._token.wait(min(IDLE_CHECK_SECONDS, max(0.0, poll_at - time.monotonic()))):
                return False
            if self._has_new_actions():
                return False
        _text, responses = client.noop()
        return _has_change(responses)

    def _sync_watched(self, client: IMAPClient, folder_id: int, *, describe: bool = True) -> Iterator[object]:
        before = set(self._store.message_ids([folder_id]))
        with ExitStack() as stack:
            rules = yield from self._enter_rules(stack)
            with self._sync_lock:
                yield from sync_one_folder(client, self._store, self._account, folder_id, self._folder, self._token, rules=rules)
                if rules is not None and not self._token.cancelled:
                    # Only the primary connection sends actions; it notices new ones within about a second.
                    yield from run_rules(client, self._account, self._store, rules, send=self._primary)
                thread_new_mail(self._account, self._store)
                # New mail gets its body now, not at the next full sync.
                yield from sync_bodies(client, self._account, self._store, self._token)
        arrived = [message_id for message_id in self._store.message_ids([folder_id]) if message_id not in before]
        yield IndexRequest(self._account.name)
        if describe:
            yield from self._describe_arrivals(arrived)

    def _enter_rules(self, stack: ExitStack) -> Iterator[SyncProgress]:
        """Load the current rules into ``stack`` and return them (a generator's return value); None without rules.

        Yields the rule file problems when the primary watcher has not
        reported the same ones before.
        """
        if self._profile is None:
            return None
        ruleset, problem_steps = load_sync_rules(self._profile)
        if ruleset is None:
            return None
        texts = [step.text for step in problem_steps]
        if self._primary and texts != self._reported_problems:
            if not texts:
                yield SyncProgress(self._account.name, self._folder, "rules", 0, 0,
                                   f"The rule files load without problems again; {pluralize(len(ruleset.rules), 'rule')} active.")
            self._reported_problems = texts
            for step in problem_steps:
                yield SyncProgress(self._account.name, self._folder, step.phase, 0, 0, step.text)
        config = load_config(self._profile.config_file)
        return stack.enter_context(account_rules(self._store, config, ruleset))

    def _describe_arrivals(self, message_ids: list[int]) -> Iterator[SyncProgress]:
        name = self._account.name
        where = f"{name}/{self._folder}"
        for row in self._store.messages(message_ids[:ARRIVALS_LISTED]):
            yield SyncProgress(name, self._folder, "arrived", 0, 0, f"{where}: new from {row.sender}: {row.subject}")
        if len(message_ids) > ARRIVALS_LISTED:
            yield SyncProgress(name, self._folder, "arrived", 0, 0, f"{where}: and {len(message_ids) - ARRIVALS_LISTED} more")

    def _wait_to_retry(self, backoff: Backoff, error: SyncError) -> Iterator[SyncProgress]:
        delay = backoff.next_delay()
        name = self._account.name
        log.warning("Connection of account %s failed (%s, attempt %d): %s Retrying in %.2f s",
                    name, error.cause, backoff.attempts, error, delay)
        yield SyncProgress(name, self._folder, "retry", backoff.attempts, 0,
                           f"{name}: {sentence(error)} Retrying in {delay:.0f} s.")
        self._token.wait(delay)




def _has_change(responses: list) -> bool:
    return any(len(response) > 1 and response[1] in _CHANGE_RESPONSES for response in responses)


def _shutdown(client: IMAPClient, account: str) -> None:
    try:
        client.shutdown()
    except OSError as error:
        log.debug("Closing the connection of account %s failed: %s", account, error)
