"""Bringing the full-text index up to date with the store.

The store queues the id of every message added, changed or deleted; this
module drains that queue into the index. It is the index's only writer, so
running it after each sync (or ``sluice index rebuild``) keeps the two in
step, and a crash at any point only leaves work in the queue for next time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop.index import IndexDocument, SearchIndex
from desktop.mail.parse import parse_message
from desktop.store import MessageRow, Store

log = logging.getLogger(__name__)

BATCH = 1000


@dataclass
class IndexProgress:
    """How far the index update has come."""

    done: int
    total: int


def document_for(row: MessageRow, raw: bytes | None) -> IndexDocument:
    """Build the index document of a stored message."""
    body = ""
    attachments: list[str] = []
    if raw is not None:
        parsed = parse_message(raw)
        body = parsed.body_text
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
    )


def update_index(store: Store, index: SearchIndex, *, cancelled: Callable[[], bool] = lambda: False) -> Iterator[IndexProgress]:
    """Apply the store's queued changes to the index, yielding progress per batch."""
    if index.is_new and store.message_count() and store.index_backlog() < store.message_count():
        # A missing or outdated index was just created empty: fill it from the store.
        log.info("The index is new; queueing every stored message")
        store.queue_all_for_index()
    total = store.index_backlog()
    if not total:
        return
    done = 0
    started = time.monotonic()
    log.info("Updating the index with %d queued change(s)", total)
    yield IndexProgress(0, total)
    while not cancelled():
        entries = store.index_batch(BATCH)
        if not entries:
            break
        _apply(store, index, entries)
        store.index_done(entries)
        done += len(entries)
        yield IndexProgress(min(done, total), max(total, done))
    log.info("Index updated: %d change(s) in %.1f s", done, time.monotonic() - started)


def _apply(store: Store, index: SearchIndex, entries: list[tuple[int, str, int]]) -> None:
    add_ids = [message_id for message_id, op, _seq in entries if op == "add"]
    flag_ids = [message_id for message_id, op, _seq in entries if op == "flags"]
    rows = store.messages(add_ids)
    flag_rows = store.messages(flag_ids)
    found = {row.id for row in rows} | {row.id for row in flag_rows}
    # A message deleted after it was queued is removed from the index.
    delete_ids = [message_id for message_id, op, _seq in entries if op == "delete" or message_id not in found]
    if flag_rows:
        index.update_flags((row.id, sorted(row.flags)) for row in flag_rows)
    documents = []
    for row in rows:
        try:
            documents.append(document_for(row, store.raw(row.id)))
        except Exception:  # noqa: BLE001 - one unreadable message must not stop the index; it stays listed and logged
            log.exception("Could not build the index document of message %d; indexing its headers only", row.id)
            documents.append(document_for(row, None))
    if delete_ids:
        index.delete(delete_ids)
    if documents:
        index.add(documents)


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
