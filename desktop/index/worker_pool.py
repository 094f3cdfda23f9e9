"""Worker processes that parse messages and write index segments for a large update.

A large index update spends about a fifth of its time parsing messages and the rest
in Whoosh: analysing text and writing segments. In one thread that uses one core.
Here worker processes each take a batch of stored messages, parse them and write
them as a new Whoosh segment outside the index (``write_staged_segment``). The
caller then adds each finished segment to the index with one commit, while the
workers already work on the next batches.

The workers are started with ``forkserver`` (or ``spawn`` where that is missing),
never ``fork``: forking a process that runs other threads (the window runs sync on
a worker thread) can copy a lock that another thread holds, and the child then
hangs on it. The workers open neither the store nor the index. They receive the
message row and its raw bytes. With ``forkserver`` and ``spawn``, each worker
imports the main module of the program again, so a script that updates the index
needs the ``if __name__ == "__main__":`` guard; without it the workers fail and the
caller parses in-process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.index.query import IndexDocument
from desktop.index.whoosh_engine import StagedSegment, write_staged_segment
from desktop.store import MessageRow

log = logging.getLogger(__name__)

# One message to index: the stored row and its raw bytes (None when only headers are stored).
ParseItem = tuple[MessageRow, bytes | None]


@dataclass
class StagedBatch:
    """What a worker made of one batch.

    Attributes:
        segment: The segment with every document the worker could build, or None
            when it built none.
        failed: Positions in the batch of the messages whose parsing raised. The
            caller parses them again in-process, which logs the error.
    """

    segment: StagedSegment | None
    failed: list[int]


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def default_workers() -> int:
    """Return the worker count: one per core, because the calling thread mostly waits."""
    return max(1, os.cpu_count() or 1)


def parse_items(items: list[ParseItem]) -> list[IndexDocument | None]:
    """Build the index documents of ``items``, None where parsing raised."""
    from desktop.index.builder import document_for

    documents: list[IndexDocument | None] = []
    for row, raw in items:
        try:
            documents.append(document_for(row, raw))
        except Exception:  # noqa: BLE001 - the caller parses this message again in-process and logs the error
            documents.append(None)
    return documents


def stage_items(staging_dir: Path, items: list[ParseItem]) -> StagedBatch:
    """Parse ``items`` and write them as one staged segment; runs in a worker process."""
    documents = parse_items(items)
    failed = [position for position, document in enumerate(documents) if document is None]
    built = [document for document in documents if document is not None]
    segment = write_staged_segment(staging_dir, built) if built else None
    return StagedBatch(segment, failed)


class WorkerPool:
    """Worker processes, started safely in a threaded program, that run index jobs.

    Attributes:
        workers: The number of worker processes.
        broken: True once a worker died. The pool then accepts no more jobs.
    """

    def __init__(self, workers: int | None = None) -> None:
        """Start the pool with ``workers`` processes, ``default_workers()`` when None."""
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        self.broken = False
        context = multiprocessing.get_context(_start_method())
        self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        log.info("Started %d index worker(s) with the %s start method", self.workers, context.get_start_method())

    def submit(self, task: Callable[..., Any], *args: Any) -> Future[Any] | None:
        """Run ``task(*args)`` in a worker, or return None when the pool no longer works.

        ``task`` must be importable by its qualified name, because the workers are
        fresh interpreters. After a worker died, every later call returns None.
        """
        if self.broken:
            return None
        try:
            return self._executor.submit(task, *args)
        except BrokenProcessPool:
            self.broken = True
            log.warning("The index workers stopped; indexing the remaining messages in-process")
            return None

    def close(self) -> None:
        """Stop the workers, dropping jobs that have not started."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        log.info("Stopped the index workers")

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self.close()
