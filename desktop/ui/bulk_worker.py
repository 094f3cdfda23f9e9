"""Store changes of many messages on a worker thread, one after the other.

Large bulk changes and every undo take the same path:

1. The window changes the view at once from the rows it lists: rows leave
   the list (callers of ``BulkSender.change_in_background`` remove them
   themselves, and search results keep moved rows) or show their new flags
   (``show_flags``).
2. ``StoreQueue.change`` runs the store change on a worker with a store
   connection of its own. The bulk record (``begin_bulk``/``finish_bulk``),
   the change and its journal are one transaction, so a crash leaves all
   or nothing of them.
3. ``changed`` reports the committed bulk action; the window's
   ``BulkSender`` then sends the journal to the server in the background.

The queue runs one job at a time, in the order they were asked for. So an
archive pressed while another archive writes follows it, and an undo
pressed then undoes the archive that was still being written, not the one
before it. While a job runs or waits, small changes go through the queue
too (``is_busy``), because a write on the window's thread would wait for
the worker's write lock and hold the window.

A change is a ``StoreChange``: ``MoveChange``, ``DeleteChange``,
``FlagChange`` (also for labels, which are keywords) or ``CopyChange``, or a
subclass with its own ``apply`` (and ``apply_recorded``, when its store call
writes the bulk record itself). The window uses the first three for
archive, delete, star and read/unread of ``BACKGROUND_MIN_MESSAGES`` (in
``desktop.ui.bulk_progress``) messages or more;
``desktop.ui.bulk_commands`` uses them for move, copy and labels, and a
subclass for spam reports.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop.paths import Profile
from desktop.store import MessageRow, Store, StoreError
from desktop.sync.service import CancelToken
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreChange:
    """A change of the store that a worker applies to a list of messages.

    Subclasses override ``touches`` to leave out messages the change would
    not alter, and ``apply`` to make the change through ``Store`` calls that
    journal it for the server. Both run on the worker.
    """

    def touches(self, row: MessageRow) -> bool:
        """Return whether the change alters ``row``; the others are left out of the bulk record."""
        return True

    def apply(self, store: Store, rows: list[MessageRow]) -> tuple[dict[str, int], list[int]]:
        """Change ``rows``; return the counts for the bulk record and the ids of new rows (copies)."""
        raise NotImplementedError

    def apply_recorded(self, store: Store, rows: list[MessageRow], kind: str, text: str) -> tuple[int, dict[str, int]]:
        """Change ``rows`` as one bulk action that undo reverses; return its id and the counts.

        A subclass whose store call records its own bulk action overrides this.
        """
        bulk_id = store.begin_bulk(kind, text, rows)
        counts, created = self.apply(store, rows)
        store.finish_bulk(bulk_id, counts, created)
        return bulk_id, counts


@dataclass(frozen=True)
class MoveChange(StoreChange):
    """Move each message to the folder of its account in ``targets`` ({account: folder id})."""

    targets: dict[str, int]
    count_name: str = "moved"

    def touches(self, row: MessageRow) -> bool:
        return self.targets.get(row.account) != row.folder_id

    def apply(self, store: Store, rows: list[MessageRow]) -> tuple[dict[str, int], list[int]]:
        by_target: dict[int, list[int]] = {}
        for row in rows:
            by_target.setdefault(self.targets[row.account], []).append(row.id)
        moved = sum(store.move_messages(ids, target) for target, ids in by_target.items())
        return {self.count_name: moved}, []


@dataclass(frozen=True)
class CopyChange(StoreChange):
    """Copy each message into the folder of its account in ``targets`` ({account: folder id})."""

    targets: dict[str, int]

    def touches(self, row: MessageRow) -> bool:
        return self.targets.get(row.account) != row.folder_id

    def apply(self, store: Store, rows: list[MessageRow]) -> tuple[dict[str, int], list[int]]:
        created: list[int] = []
        for account, folder in self.targets.items():
            created += store.copy_messages([row.id for row in rows if row.account == account], folder)
        return {"copied": len(created)}, created


@dataclass(frozen=True)
class DeleteChange(StoreChange):
    """Delete messages: to the account's Trash, or for good when they are in Trash or it has none."""

    def apply(self, store: Store, rows: list[MessageRow]) -> tuple[dict[str, int], list[int]]:
        before = {row.id: row.folder_id for row in rows}
        store.delete_messages(list(before))
        places = store.message_places(list(before))
        to_trash = sum(1 for message in before if message in places)
        return {"to_trash": to_trash, "deleted": len(before) - to_trash}, []


@dataclass(frozen=True)
class FlagChange(StoreChange):
    """Add and remove flags or keywords (labels)."""

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    count_name: str = "changed"

    def touches(self, row: MessageRow) -> bool:
        return not self.add <= row.flags or bool(self.remove & row.flags)

    def apply(self, store: Store, rows: list[MessageRow]) -> tuple[dict[str, int], list[int]]:
        changed = store.change_flags([row.id for row in rows], add=self.add, remove=self.remove)
        return {self.count_name: changed}, []


@dataclass(frozen=True)
class ChangeDone:
    """A committed store change.

    Attributes:
        kind: The kind given to ``StoreQueue.change`` ("archive", "delete", "flags", ...).
        text: The description of the bulk action.
        bulk_id: The bulk action undo reverses, or None when the change was not recorded.
        counts: What the change did, by kind.
        messages: Messages the change touched.
        token: The value given to ``StoreQueue.change``, for the caller to match.
    """

    kind: str
    text: str
    bulk_id: int | None
    counts: dict[str, int]
    messages: int
    token: object = None


def change_steps(profile: Profile, kind: str, text: str, ids: Sequence[int], change: StoreChange, record: bool,
                 token: object, _cancel: CancelToken) -> Iterator[ChangeDone]:
    """Apply ``change`` to ``ids`` in one transaction, with a bulk record when ``record``; yield a ``ChangeDone``.

    Runs on a worker with a store connection of its own. A store change is
    one transaction, so it has no point to stop at halfway and ignores the
    cancel token.
    """
    with Store(profile.store_file) as store:
        rows = [row for row in store.messages(list(ids)) if change.touches(row)]
        bulk_id = None
        counts: dict[str, int] = {}
        with store.transaction():
            if record and rows:
                bulk_id, counts = change.apply_recorded(store, rows, kind, text)
            elif rows:
                counts, _created = change.apply(store, rows)
    log.info("%s: %d message(s) changed on a worker, bulk action %s, %s", kind, len(rows), bulk_id, counts)
    yield ChangeDone(kind, text, bulk_id, counts, len(rows), token)


def undo_steps(profile: Profile, _cancel: CancelToken) -> Iterator[object]:
    """Undo the newest bulk action on a worker; yield the ``UndoResult``, or None when there was none."""
    with Store(profile.store_file) as store:
        yield store.undo_last()


class StoreQueue(QObject):
    """Runs store changes on workers, one at a time, in the order they were asked for.

    Signals:
        changed(object): a change committed; its ``ChangeDone``.
        undone(object): an undo committed; the ``UndoResult``, or None when there was nothing to undo.
        failed(str, str): a job failed and changed nothing; its kind and the message for the user.
        idle(): the last queued job ended.
    """

    changed = Signal(object)
    undone = Signal(object)
    failed = Signal(str, str)
    idle = Signal()

    def __init__(self, profile: Profile, jobs: JobSet, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._profile = profile
        self._jobs = jobs
        self._waiting: deque[tuple[str, BackgroundJob]] = deque()
        self._running: BackgroundJob | None = None
        self._closed = False

    def is_busy(self) -> bool:
        """Return whether a job runs or waits; a store write on the window's thread would then wait for it."""
        return self._running is not None or bool(self._waiting)

    def change(self, kind: str, text: str, ids: Sequence[int], change: StoreChange, *, record: bool = True,
               token: object = None) -> None:
        """Queue ``change`` of ``ids``; ``changed`` reports it once it has committed.

        With ``record`` the change is one bulk action that undo reverses.
        ``token`` comes back in the ``ChangeDone``.
        """
        job = BackgroundJob(partial(change_steps, self._profile, kind, text, list(ids), change, record, token),
                            expected_errors=(StoreError, ValueError), name=f"bulk-{kind}")
        job.progressed.connect(self._on_job_changed)
        self._enqueue(kind, job)
        log.info("Queued %s of %d message(s) on a worker", kind, len(ids))

    def undo(self) -> None:
        """Queue an undo of the newest bulk action; ``undone`` reports it."""
        job = BackgroundJob(partial(undo_steps, self._profile), expected_errors=(StoreError, ValueError), name="undo")
        job.progressed.connect(self._on_job_undone)
        self._enqueue("undo", job)
        log.info("Queued an undo on a worker")

    def shutdown(self) -> None:
        """Drop the jobs that have not started; the running one is cancelled with the window's jobs."""
        self._closed = True
        if self._waiting:
            log.warning("Dropped %d queued store change(s) because the window closed", len(self._waiting))
        self._waiting.clear()

    def _enqueue(self, kind: str, job: BackgroundJob) -> None:
        job.failed.connect(partial(self._on_job_failed, kind))
        job.finished.connect(self._on_job_finished)
        self._waiting.append((kind, job))
        self._start_next()

    def _start_next(self) -> None:
        if self._running is not None or self._closed:
            return
        if not self._waiting:
            self.idle.emit()
            return
        _kind, self._running = self._waiting.popleft()
        # Started on the next turn of the event loop, so the window paints the list it has just changed
        # before the worker's Python code competes with it for the interpreter lock.
        QTimer.singleShot(0, partial(self._start_job, self._running))

    def _start_job(self, job: BackgroundJob) -> None:
        if not self._closed:
            self._jobs.start(job)

    @Slot(object)
    def _on_job_changed(self, done: ChangeDone) -> None:
        if not self._closed:
            self.changed.emit(done)

    @Slot(object)
    def _on_job_undone(self, result: object) -> None:
        if not self._closed:
            self.undone.emit(result)

    def _on_job_failed(self, kind: str, message: str) -> None:
        log.error("A store change on a worker (%s) failed and changed nothing: %s", kind, message)
        if not self._closed:
            self.failed.emit(kind, message)

    @Slot()
    def _on_job_finished(self) -> None:
        self._running = None
        self._start_next()


def show_flags(model: QObject, ids: Iterable[int], add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
    """Show ``ids`` with the flags changed in the list model at once, before the store has the change.

    The store change follows on a worker, and the list is read again once
    it has committed.
    """
    add_set, remove_set = frozenset(add), frozenset(remove)
    show_flag_sets(model, {message: None for message in ids}, add_set, remove_set)


def show_flag_sets(model: QObject, flags: dict[int, frozenset[str] | None], add: frozenset[str] = frozenset(),
                   remove: frozenset[str] = frozenset()) -> None:
    """Show each message of ``flags`` with its given flags (or its own, plus ``add``, minus ``remove``, for None)."""
    # NOTE: this writes into MessageListModel's page cache. A page read from the store before the
    # worker commits shows the old flags until the list is read again after the commit.
    changed: list[int] = []
    for page in model._pages.values():  # noqa: SLF001 - see the note above
        for message in page.keys() & flags.keys():
            row = page[message]
            given = flags[message]
            page[message] = dataclasses.replace(row, flags=given if given is not None else (row.flags | add) - remove)
            changed.append(message)
    model._summaries.clear()  # noqa: SLF001 - a conversation's summary shows its messages' flags
    rows = sorted(row for row in (model.row_of(message) for message in changed) if row is not None)
    if rows:
        model.dataChanged.emit(model.index(rows[0], 0), model.index(rows[-1], model.columnCount() - 1))
