"""Sending the action journal to the server.

Pending actions of an account are sent in the order the user made them, and
each is marked done only after the server replied OK. Each one is safe to
send again after a crash between the server's OK and that mark:

- flags: setting a flag that is set already changes nothing.
- labels: adding a Gmail label a message has, or removing one it lacks,
  changes nothing either.
- move: a source UID the server no longer has, whose Message-ID is in the
  target folder, counts as moved. With MOVE and UIDPLUS the first attempt
  sends UID MOVE at once and reads from its COPYUID which UIDs the server
  had. The action is marked as sent first, so a later attempt searches for
  the UIDs that are left before it moves them. Without MOVE the COPY fallback marks the
  action as sent first, and a later attempt copies only the messages whose
  Message-ID is not in the target yet.
- copy: marked as sent before UID COPY, so a later attempt copies only the
  messages whose Message-ID is not in the target yet.
- append: the action is marked as sent before APPEND, and a later attempt
  looks for the Message-ID in the folder before it appends again.
- delete: STORE \\Deleted and UID EXPUNGE of missing UIDs do nothing.

Long UID lists go out as ranges (``4:9,12``) in commands of at most about
8,000 bytes, below the 8,192 that RFC 7162 section 4 recommends for command
lines, so moving 10,000 messages takes a few commands, not 10,000.

Conflicts lose no mail: a message another client deleted is dropped with the
reason in the action's error; a message whose target folder is gone stays
where the server has it; an action for a renumbered folder is dropped.

The store journals a change of many messages as several actions of at most
``MESSAGES_PER_ACTION`` messages each. Replay sends and settles one action
at a time, so ``send_journal`` can report progress per action and stop
between two actions when it is cancelled. A crash loses at most the local
record of the action in flight, which the checks above settle next time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from desktop.config import load_config
from desktop.mail.headers import parse_message_ids
from desktop.paths import Profile
from desktop.store import FolderRow, Store
from desktop.store.journal import action_size
from desktop.sync import gmail
from desktop.sync.errors import SyncError, SyncFailures
from desktop.sync.responses import quiet_protocol_log, response_flags, text

if TYPE_CHECKING:
    from desktop.sync.service import CancelToken

log = logging.getLogger(__name__)

# A test hook for crash tests. With SLUICE_DEBUG_PAUSE_AFTER_BATCHES=N, replay pauses for
# an hour after the server accepted the commands of the Nth action of this process and
# before the store records them, the worst moment for a crash. Unset in normal use.
PAUSE_VARIABLE = "SLUICE_DEBUG_PAUSE_AFTER_BATCHES"
_PAUSE_SECONDS = 3600.0
_batches_sent = 0

_FETCH_BATCH = 1000  # UIDs per FETCH; imapclient's fetch() needs a list of ints, not ranges
# Up to this many messages are looked up in a folder with one UID SEARCH HEADER Message-ID each.
# More are found by reading the folder's Message-ID headers from the top (``_scan_message_ids``).
_SEARCHES_MAX = 20

Action = tuple[int, int, "int | None", str, dict]

# The maximum bytes of UID set text per command. Dovecot accepts lines up to 64 KB, and
# RFC 7162 section 4 recommends that clients keep command lines to about 8,192 bytes.
MAX_UID_SET_BYTES = 8000


class _Session:
    """The connection with the folder selected on it, so that consecutive actions of a folder select it once."""

    def __init__(self, client: IMAPClient, store: Store, selected: str | None = None, uidvalidity: int | None = None) -> None:
        self.client = client
        self.store = store
        self.selected = selected
        self.uidvalidity = uidvalidity
        self._folders: dict[int, FolderRow | None] = {}

    def folder(self, folder_id: int) -> FolderRow | None:
        """Return the stored folder, read once per replay: replay changes messages, never the folder list."""
        if folder_id not in self._folders:
            self._folders[folder_id] = self.store.folder(folder_id)
        return self._folders[folder_id]

    def select(self, name: str) -> int | None:
        """Select folder ``name`` read-write unless it is selected already; return its UIDVALIDITY."""
        if self.selected != name:
            info = self.client.select_folder(name, readonly=False)
            self.selected = name
            self.uidvalidity = int(info.get(b"UIDVALIDITY", 0)) or None
        return self.uidvalidity

    def has(self, capability: str) -> bool:
        return self.client.has_capability(capability)


@dataclass(frozen=True)
class SendProgress:
    """One step of ``send_journal``.

    Attributes:
        account: The account whose actions are being sent.
        done: Messages whose actions the server has, of ``total``.
        total: Messages named by all the actions this run covers.
        phase: ``sending`` after each action, ``cancelled`` when the run
            stopped early, ``sent`` once everything is sent.
    """

    account: str
    done: int
    total: int
    phase: str


def replay_account(client: IMAPClient, store: Store, account_id: int) -> int:
    """Send every pending action of the account in journal order; return how many were pending.

    Called after the folder list is stored and before any folder is synced,
    so that the server state the sync reads already includes local changes,
    and every placeholder UID is replaced before the engine compares UIDs.
    Raises IMAPClientAbortError or OSError when the connection drops; the
    actions not yet done stay pending.
    """
    return _replay(_Session(client, store), account_id)


def replay_steps(client: IMAPClient, store: Store, account_id: int, *, cancel: CancelToken | None = None,
                 through: int | None = None) -> Iterator[int]:
    """Send the account's pending actions up to id ``through`` in journal order, yielding each one's message count.

    Stops before the next action once ``cancel`` is cancelled; the actions
    not sent stay pending. Raises as ``replay_account`` does.
    """
    return _replay_steps(_Session(client, store), account_id, cancel, through)


def send_journal(profile: Profile, cancel: CancelToken, *, through: int | None = None) -> Iterator[SendProgress]:
    """Send the pending actions up to id ``through`` (all when None) of every IMAP account, without a folder sync.

    Each account gets a connection of its own, one after the other. A step
    follows every action, so a caller can show "6,000 of 20,000". A cancel
    stops the run between two actions and leaves the rest pending, for
    ``Store.withdraw_actions`` or the next sync.

    Raises:
        SyncError: one account could not be reached or its connection
            dropped; what was not sent stays pending.
        SyncFailures: several accounts failed that way.
    """
    config = load_config(profile.config_file)
    with Store(profile.store_file) as store:
        work = _accounts_to_send(store, through)
        total = sum(size for _row, size in work)
        done = 0
        failures: list[SyncError] = []
        for row, size in work:
            account = config.accounts.get(row.name)
            if account is None:
                failures.append(SyncError(row.name, "config", f"Account {row.name!r} has changes to send but is not in the "
                                          "configuration; add it again with 'sluice account add'."))
                continue
            try:
                for count in _send_account(account, store, row.id, cancel, through):
                    done += count
                    yield SendProgress(row.name, done, total, "sending")
            except SyncError as error:
                failures.append(error)
                continue
            if cancel.cancelled:
                yield SendProgress(row.name, done, total, "cancelled")
                return
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise SyncFailures(failures)
    yield SendProgress("", done, total, "sent")


def _accounts_to_send(store: Store, through: int | None) -> list[tuple]:
    """Return (account row, messages named by its pending actions up to ``through``) of each IMAP account with any."""
    work = []
    for row in store.accounts():
        if row.kind != "imap":
            continue
        pending = [action for action in store.pending_actions(row.id) if through is None or action[0] <= through]
        if pending:
            work.append((row, sum(action_size(action[3], action[4]) for action in pending)))
    return work


def _send_account(account, store: Store, account_id: int, cancel: CancelToken, through: int | None) -> Iterator[int]:
    """Connect, replay the account's pending actions up to ``through``, and log out; yield each action's size."""
    from desktop.sync.connection import classify_error, connect
    from desktop.sync.service import logout

    started = time.monotonic()
    client = connect(account)
    try:
        yield from replay_steps(client, store, account_id, cancel=cancel, through=through)
    except (OSError, IMAPClientError) as error:
        failure = classify_error(account, error, after="What was not sent stays queued for the next sync.")
        log.warning("Sending the actions of account %s stopped: %s", account.name, failure)
        raise failure from error
    finally:
        logout(client, account)
    log.info("Sent the pending actions of account %s in %.2f s", account.name, time.monotonic() - started)


def replay_actions(client: IMAPClient, store: Store, folder_id: int, uidvalidity: int | None) -> None:
    """Send pending actions before the engine syncs this folder, which is selected already.

    Usually ``replay_account`` sent everything before. An action journaled
    since then that runs in this folder or moves messages into it is sent
    now, together with every action of the account before it, and this
    folder is selected again afterwards.
    """
    folder = store.folder(folder_id)
    if folder is None:
        return
    pending = store.pending_actions(folder.account_id)
    if not any(_touches(action, folder_id) for action in pending):
        return
    session = _Session(client, store, folder.name, uidvalidity)
    _replay(session, folder.account_id)
    session.select(folder.name)


def _touches(action: Action, folder_id: int) -> bool:
    _action_id, action_folder, _validity, kind, payload = action
    return action_folder == folder_id or (kind in ("move", "copy") and payload["target"] == folder_id)


def _replay(session: _Session, account_id: int) -> int:
    count = sum(1 for _size in _replay_steps(session, account_id, None, None))
    if count:
        log.info("Sent %d pending action(s) of account %d", count, account_id)
    return count


def _replay_steps(session: _Session, account_id: int, cancel: CancelToken | None, through: int | None) -> Iterator[int]:
    store = session.store
    pending = [action for action in store.pending_actions(account_id) if through is None or action[0] <= through]
    with quiet_protocol_log(session.client):
        for action_id, _folder, _validity, kind, payload in pending:
            if cancel is not None and cancel.cancelled:
                log.info("Stopped sending the actions of account %d before action %d: cancelled", account_id, action_id)
                return
            # Read again: settling an earlier action may have rewritten this one's placeholder UIDs.
            action = store.pending_action(action_id)
            if action is not None:
                _replay_one(session, action)
            yield action_size(kind, payload)


def _pause_for_crash_test() -> None:
    """Count a batch the server accepted, and pause when ``PAUSE_VARIABLE`` names this batch."""
    global _batches_sent
    _batches_sent += 1
    wanted = os.environ.get(PAUSE_VARIABLE, "")
    if wanted.isdigit() and int(wanted) == _batches_sent:
        log.warning("Pausing replay after batch %d for a crash test (%s is set)", _batches_sent, PAUSE_VARIABLE)
        time.sleep(_PAUSE_SECONDS)


def _replay_one(session: _Session, action: Action) -> None:
    action_id, folder_id, action_validity, kind, payload = action
    store = session.store
    folder = session.folder(folder_id)
    if folder is None or not folder.selectable:
        store.finish_action(action_id, error=f"folder id {folder_id} is gone, so the change was not sent")
        log.warning("Dropped action %d: folder %d is gone", action_id, folder_id)
        return
    if kind == "append":
        _append(session, action_id, folder, payload)
        return
    uidvalidity = session.select(folder.name)
    if action_validity is not None and action_validity != uidvalidity:
        _drop_renumbered(session, action_id, folder, kind, payload)
        return
    if kind == "flags":
        _send_flags(session, action_id, folder, payload)
    elif kind == "labels":
        _send_labels(session, action_id, folder, payload)
    elif kind == "move":
        _move(session, action_id, folder, payload)
    elif kind == "copy":
        _copy(session, action_id, folder, payload)
    elif kind == "delete":
        _delete(session, action_id, folder, payload)
    else:
        store.finish_action(action_id, error=f"unknown action kind {kind!r}; a newer Sluice wrote it")
        log.error("Dropped action %d of unknown kind %r", action_id, kind)


def _drop_renumbered(session: _Session, action_id: int, folder: FolderRow, kind: str, payload: dict) -> None:
    # The UIDs name other messages now. The sync fetches the renumbered folder
    # again, so a moved message is back in its source folder after it.
    with session.store.transaction():
        if kind in ("move", "copy"):
            pairs = payload["moves" if kind == "move" else "copies"]
            session.store.resolve_placeholders(payload["target"], [(placeholder, None) for _uid, placeholder, _id in pairs])
        session.store.finish_action(action_id, error="the folder was renumbered (UIDVALIDITY changed) before the change was sent")
    log.warning("Dropped action %d: UIDVALIDITY of folder %s (id %d) changed", action_id, folder.name, folder.id)


# --- flags --------------------------------------------------------------------


def _send_flags(session: _Session, action_id: int, folder: FolderRow, payload: dict) -> None:
    client = session.client
    _send_store(session, action_id, folder, payload, "flag", client.add_flags, client.remove_flags,
                lambda uids: _take_server_flags(client, session.store, folder.id, uids))


def _send_store(session: _Session, action_id: int, folder: FolderRow, payload: dict, kind: str,
                add: Callable[..., object], remove: Callable[..., object], take_server: Callable[[list[int]], None]) -> None:
    """Send one STORE action (flags or Gmail labels) and mark it done, or failed when the server rejects it."""
    uids = [uid for uid in payload["uids"] if uid > 0]
    if not uids:
        session.store.finish_action(action_id)
        return
    try:
        for uid_set in uid_sets(uids):
            if payload["add"]:
                add(uid_set, payload["add"], silent=True)
            if payload["remove"]:
                remove(uid_set, payload["remove"], silent=True)
        _pause_for_crash_test()
    except IMAPClientAbortError:
        # The connection is gone: the action stays pending, and STORE is
        # idempotent, so sending it again in the next sync is safe.
        raise
    except IMAPClientError as error:
        # The server rejected it (NO or BAD). Sent again in a later sync, it
        # would land after the changes journaled after it and undo them.
        session.store.finish_action(action_id, error=f"the server rejected the {kind} change: {error}")
        log.warning("The server rejected action %d (a %s change) of folder %s, so it was dropped: %s",
                    action_id, kind, folder.name, error)
        take_server(uids)
        return
    session.store.finish_action(action_id)
    log.debug("Sent %s action %d (%d message(s)) to folder %s", kind, action_id, len(uids), folder.name)


def _take_server_flags(client: IMAPClient, store: Store, folder_id: int, uids: list[int]) -> None:
    """Store the server's flags of ``uids``.

    Messages of a rejected change still show it locally, and a CONDSTORE flag
    fetch would not list them, because the server never changed them.
    """
    flags: dict[int, list] = {}
    for start in range(0, len(uids), _FETCH_BATCH):
        response = client.fetch(uids[start : start + _FETCH_BATCH], [b"FLAGS"])
        flags.update({uid: response_flags(data.get(b"FLAGS", ())) for uid, data in response.items()})
    store.update_flags(folder_id, flags)


# --- Gmail labels -------------------------------------------------------------


def _send_labels(session: _Session, action_id: int, folder: FolderRow, payload: dict) -> None:
    """Send STORE +X-GM-LABELS / -X-GM-LABELS; imapclient encodes the labels in modified UTF-7."""
    client = session.client
    _send_store(session, action_id, folder, payload, "label", client.add_gmail_labels, client.remove_gmail_labels,
                lambda uids: gmail.read_server_labels(client, session.store, folder.id, uids))


# --- move ---------------------------------------------------------------------


def _move(session: _Session, action_id: int, source: FolderRow, payload: dict) -> None:
    store = session.store
    target = session.folder(payload["target"])
    moves = [move for move in payload["moves"] if move[0] > 0]
    if target is None:
        # The sync removed the local target folder, with the moved rows, when
        # the server no longer listed it. The source UIDs are no longer in the
        # store, so the sync of the source folder fetches them again.
        store.finish_action(action_id, error=f"the target folder {payload['target_name']} was deleted on the server; "
                                              "the messages stay in the source folder")
        log.warning("Action %d: target folder %s is gone; UIDs %s stay in %s",
                    action_id, payload["target_name"], [move[0] for move in moves], source.name)
        return
    if _can_move_unchecked(session, payload):
        _move_unchecked(session, action_id, source, target, moves, payload)
        return
    present = _present(session.client, [move[0] for move in moves])
    to_move = [move for move in moves if move[0] in present]
    missing = [move for move in moves if move[0] not in present]
    try:
        new_uids = _move_on_server(session, action_id, source, target, to_move, payload)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as error:
        _restore_rejected_move(session, action_id, source, target, to_move, error)
        return
    _settle_move(session, action_id, source, target, to_move, missing, new_uids)


def _can_move_unchecked(session: _Session, payload: dict) -> bool:
    """Return whether UID MOVE may be sent without first searching for the source UIDs the server still has.

    With MOVE and UIDPLUS the COPYUID code of the response lists every source
    UID that moved (RFC 6851 section 4.3), so the others are the missing ones.
    A second attempt after a dropped connection takes the checked path, so
    that it does not send a MOVE for messages the first attempt moved already.
    """
    return not payload.get("sent") and session.has("MOVE") and session.has("UIDPLUS")


def _move_unchecked(session: _Session, action_id: int, source: FolderRow, target: FolderRow,
                    moves: list[list], payload: dict) -> None:
    """Send UID MOVE for every source UID and read from COPYUID which ones the server had."""
    if not moves:
        _settle_move(session, action_id, source, target, [], [], {})
        return
    payload["sent"] = True
    session.store.set_action_payload(action_id, payload)
    try:
        new_uids = _move_on_server(session, action_id, source, target, moves, payload)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as error:
        # As on the checked path, a rejected MOVE is taken to have moved nothing.
        # The messages that the source folder still has go back there locally.
        present = _present(session.client, [move[0] for move in moves])
        _restore_rejected_move(session, action_id, source, target, [move for move in moves if move[0] in present], error)
        return
    moved = [move for move in moves if move[0] in new_uids]
    missing = [move for move in moves if move[0] not in new_uids]
    _settle_move(session, action_id, source, target, moved, missing, new_uids)


def _move_on_server(session: _Session, action_id: int, source: FolderRow, target: FolderRow,
                    moves: list[list], payload: dict) -> dict[int, int]:
    """Move the messages with UID MOVE, or COPY, STORE and EXPUNGE; return {source UID: target UID} where known."""
    if not moves:
        return {}
    uids = [move[0] for move in moves]
    if session.has("MOVE"):
        # RFC 6851 section 4.3: the server sends COPYUID in an untagged OK before the expunges.
        moved: dict[int, int] = {}
        for uid_set in uid_sets(uids):
            moved.update(_with_copyuid(session, partial(session.client.move, uid_set, target.name)))
        _pause_for_crash_test()
        return moved
    known: dict[int, int] = {}
    if payload.get("sent"):
        known = _find_copies(session, target, moves)
        session.select(source.name)
    else:
        payload["sent"] = True
        session.store.set_action_payload(action_id, payload)
    to_copy = [uid for uid in uids if uid not in known]
    for uid_set in uid_sets(to_copy):
        known.update(_with_copyuid(session, partial(session.client.copy, uid_set, target.name)))
    _expunge(session, uids, source)
    _pause_for_crash_test()
    return known


def _expunge(session: _Session, uids: list[int], folder: FolderRow) -> None:
    """Mark ``uids`` \\Deleted and expunge exactly those, where the server has UIDPLUS."""
    for uid_set in uid_sets(uids):
        session.client.add_flags(uid_set, [b"\\Deleted"], silent=True)
    if session.has("UIDPLUS"):
        for uid_set in uid_sets(uids):
            session.client.uid_expunge(uid_set)
    else:
        # A plain EXPUNGE would also remove messages that another client marked \Deleted.
        log.info("Server of folder %s lacks UIDPLUS; removed messages stay there marked \\Deleted", folder.name)


def _with_copyuid(session: _Session, command) -> dict[int, int]:
    """Run a COPY or MOVE and return {source UID: target UID} from its COPYUID response code (RFC 4315 section 3).

    imapclient 4.1 returns only the tagged response text of ``copy()`` and
    nothing of the untagged OK that carries COPYUID after ``move()``. imaplib
    files every bracketed response code under its name in
    ``untagged_responses``, whether tagged or not, so the entry is cleared
    before the command and read after it.
    """
    untagged = session.client._imap.untagged_responses
    untagged.pop("COPYUID", None)
    command()
    codes = untagged.pop("COPYUID", [])
    mapping: dict[int, int] = {}
    for code in codes:
        parts = text(code).split()
        if len(parts) >= 3:
            mapping.update(zip(parse_uid_set(parts[1]), parse_uid_set(parts[2])))
    return mapping


def uid_sets(uids: Sequence[int], limit: int = MAX_UID_SET_BYTES) -> list[list[str]]:
    """Return ``uids`` as UID sets for successive commands: runs become ranges, each set at most ``limit`` bytes.

    Each set is a list of strings such as ``["4:9", "12"]``, which imapclient's
    move(), copy(), add_flags() and uid_expunge() join with commas. Its fetch()
    turns the set back into ints and fails on a range, so FETCH gets plain
    lists of UIDs, and ``_present`` passes the joined text to UID SEARCH.
    """
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        parts.append(str(ordered[start]) if end == start else f"{ordered[start]}:{ordered[end]}")
        start = end + 1
    sets: list[list[str]] = []
    size = 0
    for part in parts:
        if not sets or size + len(part) + 1 > limit:
            sets.append([])
            size = 0
        sets[-1].append(part)
        size += len(part) + 1
    return sets


def _present(client: IMAPClient, uids: Sequence[int]) -> set[int]:
    """Return which of ``uids`` the selected folder has, with one UID SEARCH per UID set."""
    wanted = set(uids)
    found: set[int] = set()
    for uid_set in uid_sets(uids):
        found.update(uid for uid in client.search(["UID", ",".join(uid_set)]) if uid in wanted)
    return found


def parse_uid_set(value: str) -> list[int]:
    """Expand a UID set such as ``4,7:9`` into [4, 7, 8, 9], keeping its order (RFC 4315 section 3)."""
    uids: list[int] = []
    for part in value.split(","):
        first, _, last = part.partition(":")
        start, end = int(first), int(last or first)
        step = 1 if end >= start else -1
        uids.extend(range(start, end + step, step))
    return uids


def _find_copies(session: _Session, folder: FolderRow, moves: Sequence[list]) -> dict[int, int]:
    """Return {source UID: UID in folder} for moves whose Message-ID the folder has; selects ``folder``."""
    session.select(folder.name)
    if len(moves) > _SEARCHES_MAX:
        return _scan_message_ids(session.client, {message_id: source_uid for source_uid, _placeholder, message_id in moves
                                                  if message_id})
    found = {}
    for source_uid, _placeholder, message_id in moves:
        uid = _find_message_id(session, message_id)
        if uid is not None:
            found[source_uid] = uid
    return found


def _scan_message_ids(client: IMAPClient, wanted: dict[str, int]) -> dict[int, int]:
    """Return {source UID: highest UID of the selected folder with that Message-ID} for ``wanted`` {Message-ID: source UID}.

    Reads the Message-ID headers from the highest UID down and stops once
    every wanted one is found. A message moved or copied into the folder
    gets a UID above all earlier ones (RFC 3501 section 2.3.1.1), so the
    messages of an action settled after a crash are near the top. This takes
    a few FETCH commands where one UID SEARCH per message would take seconds.
    """
    found: dict[int, int] = {}
    uids = sorted(client.search(["ALL"]), reverse=True)
    for start in range(0, len(uids), _FETCH_BATCH):
        chunk = uids[start : start + _FETCH_BATCH]
        response = client.fetch(chunk, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        for uid in chunk:
            header = response.get(uid, {}).get(b"BODY[HEADER.FIELDS (MESSAGE-ID)]", b"")
            source_uid = wanted.get(_header_message_id(header))
            if source_uid is not None and source_uid not in found:
                found[source_uid] = uid
        if len(found) == len(set(wanted.values())):
            break
    return found


def _header_message_id(header: bytes) -> str:
    """Return the Message-ID of a ``Message-ID:`` header block as the store keeps it, parsed as the sync parses it."""
    _name, _colon, value = text(header).partition(":")
    ids = parse_message_ids(" ".join(value.split()))
    return ids[0] if ids else ""


def _find_message_id(session: _Session, message_id: str) -> int | None:
    """Return the highest UID of the selected folder whose Message-ID is ``message_id``, or None."""
    if not message_id:
        return None
    uids = session.client.search(["HEADER", "Message-ID", message_id])
    return max(uids) if uids else None


def _settle_move(session: _Session, action_id: int, source: FolderRow, target: FolderRow,
                 moved: list[list], missing: list[list], new_uids: dict[int, int]) -> None:
    unknown = [move for move in moved if move[0] not in new_uids]
    # A source UID that is gone either moved in an earlier attempt (its Message-ID is in the target)
    # or was deleted by another client.
    found = _find_copies(session, target, unknown + missing) if unknown or missing else {}
    deleted = [move[0] for move in missing if move[0] not in found]
    error = ""
    if deleted:
        error = f"UIDs {deleted} of folder {source.name} were deleted on the server by another client"
        log.warning("Action %d: %s; dropped them", action_id, error)
    with session.store.transaction():
        session.store.resolve_placeholders(target.id, [
            (placeholder, new_uids.get(source_uid) or found.get(source_uid))
            for source_uid, placeholder, _message_id in moved + missing
        ])
        session.store.finish_action(action_id, error=error)
    log.debug("Moved %d message(s) of %s to %s (action %d)", len(moved), source.name, target.name, action_id)


def _restore_rejected_move(session: _Session, action_id: int, source: FolderRow, target: FolderRow,
                           moves: list[list], error: IMAPClientError) -> None:
    """Put the messages back into the source folder locally, where the server still has them."""
    gone = not session.client.folder_exists(target.name)
    reason = (f"the target folder {target.name} was deleted on the server" if gone
              else f"the server rejected the move to {target.name}: {error}")
    with session.store.transaction():
        for source_uid, placeholder, _message_id in moves:
            session.store.restore_moved(source.id, source_uid, target.id, placeholder)
        session.store.finish_action(action_id, error=f"{reason}; the messages stay in {source.name}")
    log.warning("Action %d: %s; UIDs %s stay in %s", action_id, reason, [move[0] for move in moves], source.name)


# --- copy ---------------------------------------------------------------------


def _copy(session: _Session, action_id: int, source: FolderRow, payload: dict) -> None:
    """Send UID COPY and give each new row its server UID from COPYUID, or from its Message-ID in the target."""
    store = session.store
    target = session.folder(payload["target"])
    copies = [copy for copy in payload["copies"] if copy[0] > 0]
    if target is None:
        # The target folder is gone locally, and the new rows with it.
        store.finish_action(action_id, error=f"the target folder {payload['target_name']} was deleted on the server, "
                                              "so nothing was copied")
        log.warning("Action %d: target folder %s is gone; nothing copied", action_id, payload["target_name"])
        return
    present = _present(session.client, [copy[0] for copy in copies])
    to_copy = [copy for copy in copies if copy[0] in present]
    missing = [copy for copy in copies if copy[0] not in present]
    known: dict[int, int] = {}
    if payload.get("sent"):
        known = _find_copies(session, target, to_copy)
        session.select(source.name)
    else:
        payload["sent"] = True
        store.set_action_payload(action_id, payload)
    try:
        for uid_set in uid_sets([copy[0] for copy in to_copy if copy[0] not in known]):
            known.update(_with_copyuid(session, partial(session.client.copy, uid_set, target.name)))
    except IMAPClientAbortError:
        raise
    except IMAPClientError as error:
        with store.transaction():
            store.resolve_placeholders(target.id, [(placeholder, None) for _uid, placeholder, _id in copies])
            store.finish_action(action_id, error=f"the server rejected the copy to {target.name}: {error}")
        log.warning("Action %d: the server rejected the copy of %d message(s) to %s: %s",
                    action_id, len(to_copy), target.name, error)
        return
    unknown = [copy for copy in to_copy if copy[0] not in known]
    found = _find_copies(session, target, unknown) if unknown else {}
    error = ""
    if missing:
        error = f"UIDs {[copy[0] for copy in missing]} of folder {source.name} were deleted on the server by another client"
        log.warning("Action %d: %s; their copies were dropped", action_id, error)
    with store.transaction():
        # Without a UID the new row is dropped, and the sync of the target fetches the copy.
        store.resolve_placeholders(target.id, [
            (placeholder, known.get(source_uid) or found.get(source_uid)) for source_uid, placeholder, _message_id in copies
        ])
        store.finish_action(action_id, error=error)
    log.debug("Copied %d message(s) of %s to %s (action %d)", len(to_copy), source.name, target.name, action_id)


# --- delete -------------------------------------------------------------------


def _delete(session: _Session, action_id: int, folder: FolderRow, payload: dict) -> None:
    uids = [uid for uid in payload["uids"] if uid > 0]
    if uids:
        _expunge(session, uids, folder)
    session.store.finish_action(action_id)
    log.debug("Deleted %d message(s) of %s for good (action %d)", len(uids), folder.name, action_id)


# --- append -------------------------------------------------------------------


def _append(session: _Session, action_id: int, folder: FolderRow, payload: dict) -> None:
    store = session.store
    placeholder = payload["placeholder"]
    raw = store.raw(payload["message"])
    if raw is None:
        # Deleted for good before it reached the server: nothing to send.
        with store.transaction():
            store.resolve_placeholder(folder.id, placeholder, None)
            store.finish_action(action_id)
        return
    uid = None
    if payload["sent"]:
        session.select(folder.name)
        uid = _find_message_id(session, payload["message_id"])
    if uid is None:
        payload["sent"] = True
        store.set_action_payload(action_id, payload)
        response = session.client.append(folder.name, raw, flags=payload["flags"])
        uid = _appended_uid(response)
    if uid is None:
        session.select(folder.name)
        uid = _find_message_id(session, payload["message_id"])
    with store.transaction():
        # Without a UID the row is dropped and the next sync fetches the message.
        store.resolve_placeholder(folder.id, placeholder, uid)
        store.finish_action(action_id)
    log.debug("Appended message %d to %s as UID %s (action %d)", payload["message"], folder.name, uid, action_id)


def _appended_uid(response: bytes | str) -> int | None:
    """Return the UID from an APPEND response's APPENDUID code (RFC 4315 section 3), or None."""
    words = text(response).replace("[", " ").replace("]", " ").split()
    for index, word in enumerate(words[:-2]):
        if word.upper() == "APPENDUID" and words[index + 2].isdigit():
            return int(words[index + 2])
    return None
