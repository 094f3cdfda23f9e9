"""Bringing the full-text index up to date with the store.

The store queues the id of every message added, changed, moved or deleted;
this module drains that queue into the index. Only an ``add`` parses the
message; ``flags`` and ``place`` (a move) rewrite the index's side table. It is the index's only writer, so
running it after each sync (or ``sluice index rebuild``) keeps the two in
step, and a crash at any point only leaves work in the queue for next time.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from desktop.index import IndexDocument, SearchIndex
from desktop.index.worker_pool import ParseItem, StagedBatch, WorkerPool, stage_items
from desktop.mail.headers import format_address
from desktop.mail.parse import parse_message
from desktop.store import MessageRow, Store

log = logging.getLogger(__name__)

BATCH = 1000

# From this many queued messages to parse on, worker processes parse and index them.
# Below it, starting the workers costs more than they save. The value is an estimate.
PARALLEL_BACKLOG = 2000

# Each worker batch becomes one index segment. Whoosh's default merge policy rewrites
# the smaller segments when there are many of them for their size. After 50,000
# messages in batches of 1,000, the merge at the end of the update rewrote about
# 19,000 documents (26 s on 2 busy cores), and the first commit of the next update
# about 17,000 more (31 s). So a large backlog is cut into about BATCHES_PER_WORKER
# batches per worker, of at most MAX_WORKER_BATCH messages. The policy leaves 19
# segments of 5,000 and a small new one alone, so up to 95,000 messages need no merge.
# A worker with a batch of 5,000 peaked at about 240 MB, against 80 MB at 1,000.
MAX_WORKER_BATCH = 5000
BATCHES_PER_WORKER = 3


@dataclass
class IndexProgress:
    """How far the index update has come."""

    done: int
    total: int


def document_for(row: MessageRow, raw: bytes | None) -> IndexDocument:
    """Build the index document of a stored message."""
    body = ""
    cc = ""
    attachments: list[str] = []
    if raw is not None:
        parsed = parse_message(raw)
        body = parsed.body_text
        cc = ", ".join(format_address(name, address) for name, address in parsed.summary.cc)
        attachments = [part.filename for part in parsed.attachments if part.filename]
    return IndexDocument(
        message_id=row.id,
        account=row.account,
        folder=row.folder,
        sender=f"{row.from_name} <{row.from_addr}>" if row.from_name else row.from_addr,
        recipients=row.recipients,
        subject=row.subject,
        body=body,
        attachments=attachments,
        date=row.date,
        flags=sorted(row.flags),
        size=row.size,
        list_id=row.list_id,
        cc=cc,
    )


def update_index(
    store: Store,
    index: SearchIndex,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    workers: int | None = None,
) -> Iterator[IndexProgress]:
    """Apply the store's queued changes to the index, yielding progress per batch.

    Queue entries are removed only after the index commit that covers them, so a
    crash or a cancellation at any point leaves the rest queued.

    Args:
        store: The store whose index queue is drained.
        index: The index to update.
        cancelled: Called between batches; the update stops when it returns True.
        workers: Worker processes that parse messages and write index segments when
            at least PARALLEL_BACKLOG messages wait to be parsed. None starts one per core,
            0 does all the work in this thread.
    """
    if index.needs_fill:
        # A missing or outdated index was created empty, maybe by another process that
        # only searched, so fill it from the store. The queue is in the store, so once
        # every message is queued, a crash loses nothing.
        if store.message_count() and store.index_backlog() < store.message_count():
            log.info("The index is new; queueing every stored message")
            store.queue_all_for_index()
        index.mark_filled()
    total = store.index_backlog()
    if not total:
        return
    started = time.monotonic()
    # Only "add" entries parse messages; moves and flag changes only touch the side table.
    to_parse = sum(1 for _message_id, op, _seq in store.index_batch(total) if op == "add")
    log.info("Updating the index with %d queued change(s), %d to parse", total, to_parse)
    yield IndexProgress(0, total)
    if to_parse < PARALLEL_BACKLOG or workers == 0:
        done = yield from _update_in_process(store, index, total, cancelled)
    else:
        done = yield from _update_with_workers(store, index, total, cancelled, workers)
    log.info("Index updated: %d change(s) in %.1f s", done, time.monotonic() - started)


def _update_in_process(
    store: Store, index: SearchIndex, total: int, cancelled: Callable[[], bool]
) -> Iterator[IndexProgress]:
    done = 0
    while not cancelled():
        entries = store.index_batch(BATCH)
        if not entries:
            break
        batch = _read_batch(store, entries)
        _apply_changes(index, batch)
        _add_documents(index, _parse_in_process(batch.add_items))
        store.index_done(entries)
        done += len(entries)
        yield IndexProgress(min(done, total), max(total, done))
    return done


def _remove_abandoned_runs(staging_dir: Path) -> None:
    """Delete the staged segments of updates whose process is gone (killed mid-update)."""
    for folder in staging_dir.glob("update-*"):
        parts = folder.name.split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
        if pid is not None and _process_alive(pid):
            continue
        log.info("Removing staged index segments left by an interrupted update: %s", folder)
        shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_batch_size(total: int, workers: int) -> int:
    """Return how many queue entries each worker batch takes for a backlog of ``total``."""
    return max(BATCH, min(MAX_WORKER_BATCH, total // (max(1, workers) * BATCHES_PER_WORKER)))


def _update_with_workers(
    store: Store, index: SearchIndex, total: int, cancelled: Callable[[], bool], workers: int | None
) -> Iterator[IndexProgress]:
    index.staging_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_runs(index.staging_dir)
    run_dir = Path(tempfile.mkdtemp(prefix=f"update-{os.getpid()}-", dir=index.staging_dir))
    try:
        with WorkerPool(workers) as pool:
            size = worker_batch_size(total, pool.workers)
            log.info("Indexing in batches of %d message(s) with %d worker(s)", size, pool.workers)
            done = yield from _pipeline(store, index, total, cancelled, pool, run_dir, size)
        # The run's commits merge no segments, because in Whoosh a merge rewrites the
        # merged documents in this thread while the workers wait. One merge at the end
        # keeps the number of segments bounded, since many segments slow search. With
        # the batch sizes above it finds nothing to merge up to MAX_WORKER_BATCH * 19.
        index.merge_segments()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return done


def _pipeline(
    store: Store,
    index: SearchIndex,
    total: int,
    cancelled: Callable[[], bool],
    pool: WorkerPool,
    run_dir: Path,
    size: int,
) -> Iterator[IndexProgress]:
    """Commit batch after batch in queue order while the workers prepare the next ones."""
    done = 0
    pending: deque[tuple[_Batch, Future[StagedBatch] | None]] = deque()
    claimed: set[tuple[int, int]] = set()
    try:
        while not cancelled():
            while len(pending) < pool.workers + 1:
                batch = _read_batch(store, _next_entries(store, claimed, size))
                if not batch.entries:
                    break
                claimed.update((message_id, seq) for message_id, _op, seq in batch.entries)
                future = pool.submit(stage_items, run_dir, batch.add_items) if batch.add_items else None
                pending.append((batch, future))
            if not pending:
                break
            batch, future = pending.popleft()
            _apply_changes(index, batch)
            _add_staged(index, batch, future)
            store.index_done(batch.entries)
            claimed.difference_update((message_id, seq) for message_id, _op, seq in batch.entries)
            done += len(batch.entries)
            yield IndexProgress(min(done, total), max(total, done))
    finally:
        for _batch, future in pending:
            if future is not None:
                future.cancel()
    return done


def _next_entries(store: Store, claimed: set[tuple[int, int]], size: int) -> list[tuple[int, str, int]]:
    """Return the next ``size`` queue entries that are not already being worked on."""
    # The claimed entries are the oldest in the queue, so they come first here.
    entries = store.index_batch(size + len(claimed))
    return [entry for entry in entries if (entry[0], entry[2]) not in claimed][:size]


@dataclass
class _Batch:
    """One batch of queue entries with what the store holds for them."""

    entries: list[tuple[int, str, int]]
    add_items: list[ParseItem]
    flag_rows: list[MessageRow]
    place_rows: list[MessageRow]
    delete_ids: list[int]


def _read_batch(store: Store, entries: list[tuple[int, str, int]]) -> _Batch:
    add_ids = [message_id for message_id, op, _seq in entries if op == "add"]
    flag_ids = [message_id for message_id, op, _seq in entries if op == "flags"]
    place_ids = [message_id for message_id, op, _seq in entries if op == "place"]
    rows = store.messages(add_ids)
    flag_rows = store.messages(flag_ids)
    place_rows = store.messages(place_ids)
    found = {row.id for row in rows} | {row.id for row in flag_rows} | {row.id for row in place_rows}
    # A message deleted after it was queued is removed from the index.
    delete_ids = [message_id for message_id, op, _seq in entries if op == "delete" or message_id not in found]
    add_items = [(row, store.raw(row.id)) for row in rows]
    return _Batch(entries, add_items, flag_rows, place_rows, delete_ids)


def _parse_one(row: MessageRow, raw: bytes | None) -> IndexDocument:
    try:
        return document_for(row, raw)
    except Exception:  # noqa: BLE001 - one unreadable message must not stop the index; it stays listed and logged
        log.exception("Could not build the index document of message %d; indexing its headers only", row.id)
        return document_for(row, None)


def _parse_in_process(items: list[ParseItem]) -> list[IndexDocument]:
    return [_parse_one(row, raw) for row, raw in items]


def _apply_changes(index: SearchIndex, batch: _Batch) -> None:
    # The store merges a "flags" entry into a later "place" entry of the same
    # message, so a place change writes the flags too.
    if batch.place_rows:
        index.update_places((row.id, row.account, row.folder) for row in batch.place_rows)
    flag_rows = batch.flag_rows + batch.place_rows
    if flag_rows:
        index.update_flags((row.id, sorted(row.flags)) for row in flag_rows)
    if batch.delete_ids:
        index.delete(batch.delete_ids)


def _add_documents(index: SearchIndex, documents: list[IndexDocument]) -> None:
    if documents:
        index.add(documents)


def _add_staged(index: SearchIndex, batch: _Batch, future: Future[StagedBatch] | None) -> None:
    """Add what a worker made of ``batch``, and parse in-process what it could not."""
    if future is None:
        _add_documents(index, _parse_in_process(batch.add_items))
        return
    try:
        staged = future.result()
    except Exception:  # noqa: BLE001 - a dead or failing worker must not lose the batch
        log.exception(
            "An index worker failed on the batch of messages %d to %d; indexing it in-process",
            batch.entries[0][0],
            batch.entries[-1][0],
        )
        _add_documents(index, _parse_in_process(batch.add_items))
        return
    if staged.segment is not None:
        index.add_staged(staged.segment, merge=False)
    retry = [batch.add_items[position] for position in staged.failed]
    for row, _raw in retry:
        log.warning("An index worker could not parse message %d; parsing it in-process", row.id)
    _add_documents(index, _parse_in_process(retry))


def catch_up(store: Store, index_dir: Path) -> None:
    """Open the index at ``index_dir`` and apply every queued change to it."""
    index = SearchIndex(index_dir)
    try:
        for _step in update_index(store, index):
            pass
    finally:
        index.close()


def rebuild_index(store: Store, index: SearchIndex, *, cancelled: Callable[[], bool] = lambda: False) -> Iterator[IndexProgress]:
    """Empty the index and build it again from the store."""
    log.info("Rebuilding the index from the store")
    index.clear()
    store.queue_all_for_index()
    yield from update_index(store, index, cancelled=cancelled)
