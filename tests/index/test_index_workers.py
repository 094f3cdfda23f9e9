"""Tests of the index update with worker processes, against the in-process update."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from desktop import mailgen
from desktop.demo import import_messages
from desktop.index import SearchIndex
from desktop.index import builder
from desktop.index.builder import document_for, update_index
from desktop.index.worker_pool import WorkerPool, parse_items
from desktop.mailgen import GeneratedMessage
from desktop.store import Store
from whoosh.writing import MERGE_SMALL

import index_worker_faults

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GENERATED = 300
QUERIES = [
    "budget",
    '"security review"',
    "from:notifications@forge.example.com",
    "subject:invoice",
    "is:unread",
    "has:attachment",
    "after:2025-03-01 before:2025-04-01",
    "kestrel OR tidewater",
    "budget -meeting",
    "report.pdf",
]


def corpus_messages() -> list[GeneratedMessage]:
    files = sorted(CORPUS.glob("*.eml"))
    date = mailgen.DEFAULT_START
    return [GeneratedMessage("INBOX", (), date, path.read_bytes()) for path in files]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with generated messages and the malformed corpus, every message queued."""
    with Store(tmp_path / "store.sqlite3") as opened:
        import_messages(opened, "work", mailgen.generate(GENERATED, seed=3))
        import_messages(opened, "corpus", corpus_messages())
        yield opened


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use batches of 50 and the workers from 100 queued changes on, so a few hundred messages run in parallel."""
    monkeypatch.setattr(builder, "BATCH", 50)
    monkeypatch.setattr(builder, "PARALLEL_BACKLOG", 100)


def build(store: Store, path: Path, workers: int) -> SearchIndex:
    index = SearchIndex(path)
    for _step in update_index(store, index, workers=workers):
        pass
    return index


def all_items(store: Store) -> list[tuple]:
    rows = store.messages(store.all_message_ids())
    return [(row, store.raw(row.id)) for row in rows]


def test_worker_documents_equal_in_process(store: Store) -> None:
    items = all_items(store)
    assert len(items) == GENERATED + len(corpus_messages())

    with WorkerPool(1) as pool:
        from_worker = pool.submit(parse_items, items).result(timeout=120)

    assert from_worker == [document_for(row, raw) for row, raw in items]


def test_parallel_index_matches_in_process(store: Store, tmp_path: Path, small_batches: None) -> None:
    expected = build(store, tmp_path / "serial", workers=0)
    store.queue_all_for_index()
    actual = build(store, tmp_path / "parallel", workers=2)

    assert actual.doc_count() == expected.doc_count() == store.message_count()
    for query in QUERIES:
        assert actual.search(query, limit=None) == expected.search(query, limit=None), query
    assert store.index_backlog() == 0
    assert not any(actual.staging_dir.iterdir())


def test_parallel_update_replaces_and_deletes(store: Store, tmp_path: Path, small_batches: None) -> None:
    index = build(store, tmp_path / "index", workers=2)
    store.queue_all_for_index()
    for _step in update_index(store, index, workers=2):
        pass

    assert index.doc_count() == store.message_count()
    assert index.search("farewell", limit=None) == build(store, tmp_path / "serial", workers=0).search("farewell", limit=None)


def test_cancel_leaves_rest_queued(store: Store, tmp_path: Path, small_batches: None) -> None:
    total = store.message_count()
    index = SearchIndex(tmp_path / "index")
    steps = 0

    def cancelled() -> bool:
        return steps >= 2

    for step in update_index(store, index, cancelled=cancelled, workers=2):
        steps += 1
        last = step

    size = builder.worker_batch_size(total, 2)
    assert last.done == size
    assert index.doc_count() == size
    assert store.index_backlog() == total - size
    assert not any(index.staging_dir.iterdir())

    for _step in update_index(store, index, workers=2):
        pass
    assert index.doc_count() == total
    assert store.index_backlog() == 0


def test_worker_crash_falls_back(
    store: Store, tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(builder, "stage_items", index_worker_faults.exit_worker)

    with caplog.at_level(logging.WARNING, logger="desktop.index"):
        index = build(store, tmp_path / "index", workers=1)

    assert index.doc_count() == store.message_count()
    assert store.index_backlog() == 0
    assert "An index worker failed on the batch of messages" in caplog.text
    assert "indexing the remaining messages in-process" in caplog.text


def test_unparseable_message_parsed_in_process(
    store: Store, tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(builder, "stage_items", index_worker_faults.fail_first_message)

    with caplog.at_level(logging.WARNING, logger="desktop.index"):
        index = build(store, tmp_path / "index", workers=1)

    expected = build(store_with_queue(store), tmp_path / "serial", workers=0)
    assert index.doc_count() == store.message_count()
    for query in QUERIES:
        assert index.search(query, limit=None) == expected.search(query, limit=None), query
    assert "An index worker could not parse message 1; parsing it in-process" in caplog.text


def store_with_queue(store: Store) -> Store:
    store.queue_all_for_index()
    return store


def test_parse_items_marks_failures(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    items = all_items(store)[:3]
    real = builder.document_for

    def failing(row, raw):
        if row.id == items[1][0].id:
            raise ValueError("unreadable")
        return real(row, raw)

    monkeypatch.setattr(builder, "document_for", failing)

    documents = parse_items(items)

    assert documents[1] is None
    assert documents[0] == real(*items[0])
    assert documents[2] == real(*items[2])


def test_small_backlog_starts_no_workers(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker pool was started for a small backlog")

    monkeypatch.setattr(builder, "WorkerPool", no_pool)
    assert store.index_backlog() < builder.PARALLEL_BACKLOG

    index = build(store, tmp_path / "index", workers=2)

    assert index.doc_count() == store.message_count()


def test_parallel_update_on_worker_thread(store: Store, tmp_path: Path, small_batches: None) -> None:
    """The window runs the update on a worker thread while its GUI thread goes on."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            # A Store belongs to the thread that opened it, so this thread opens its own.
            with Store(tmp_path / "store.sqlite3") as own_store, SearchIndex(tmp_path / "index") as index:
                for _step in update_index(own_store, index, workers=2):
                    pass
                outcome["documents"] = index.doc_count()
        except Exception as error:  # noqa: BLE001 - reported to the test thread below
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)

    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["documents"] == GENERATED + len(corpus_messages())



def test_abandoned_staging_runs_removed(tmp_path):
    from desktop.index.builder import _remove_abandoned_runs

    staging = tmp_path / ".staging"
    dead = staging / "update-999999999-abc"
    live = staging / f"update-{os.getpid()}-def"
    unnamed = staging / "update-xyz"
    for folder in (dead, live, unnamed):
        (folder / "segment").mkdir(parents=True)

    _remove_abandoned_runs(staging)

    assert not dead.exists()
    assert live.exists()
    assert not unnamed.exists()


def test_large_backlog_larger_batches(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder, "BATCH", 20)
    monkeypatch.setattr(builder, "PARALLEL_BACKLOG", 100)
    monkeypatch.setattr(builder, "MAX_WORKER_BATCH", 40)
    total = store.message_count()
    index = SearchIndex(tmp_path / "index")

    steps = [step.done for step in update_index(store, index, workers=2)]

    sizes = [after - before for before, after in zip(steps, steps[1:])]
    assert sizes[:-1] == [40] * (len(sizes) - 1)
    assert 0 < sizes[-1] <= 40
    assert index.doc_count() == total


def test_batch_size_grows_with_backlog() -> None:
    assert builder.worker_batch_size(builder.PARALLEL_BACKLOG, 2) == builder.BATCH
    assert builder.worker_batch_size(12_000, 2) == 2_000
    assert builder.worker_batch_size(50_000, 2) == builder.MAX_WORKER_BATCH
    assert builder.worker_batch_size(50_000, 1) == builder.MAX_WORKER_BATCH
    assert builder.worker_batch_size(9_000, 0) == 3_000


class _Segment:
    """A stand-in for a Whoosh segment in the merge policy, which reads only its size."""

    def __init__(self, documents: int) -> None:
        self.documents = documents

    def doc_count_all(self) -> int:
        return self.documents


def _merges(segment_sizes: list[int]) -> bool:
    segments = [_Segment(size) for size in segment_sizes]
    # The policy returns the list it was given when it merges nothing. Merging
    # needs a real writer, so with None it raises AttributeError.
    try:
        return MERGE_SMALL(None, segments) is not segments
    except AttributeError:
        return True


def worker_segments(total: int, workers: int) -> list[int]:
    size = builder.worker_batch_size(total, workers)
    full, rest = divmod(total, size)
    return [size] * full + ([rest] if rest else [])


@pytest.mark.parametrize("total", [2_000, 10_000, 50_000, 95_000])
def test_worker_segments_not_merged(total: int) -> None:
    """Whoosh rewrites no segment of a large update, neither at its end nor at the next small commit."""
    segments = worker_segments(total, 2)

    assert not _merges(segments)
    assert not _merges(segments + [10])


def test_many_small_segments_merged() -> None:
    assert _merges([1_000] * 50)
    assert _merges([1_000] * 31 + [19_000, 10])



def test_failed_staged_commit_keeps_index(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after a segment was moved in but before the commit keeps the index as it was."""
    from desktop.index import whoosh_engine

    items = all_items(store)
    index = SearchIndex(tmp_path / "index")
    index.add(document_for(row, raw) for row, raw in items[:50])
    staged = whoosh_engine.write_staged_segment(index.staging_dir, [document_for(row, raw) for row, raw in items[50:]])

    def interrupted(self: object, segments: object) -> None:
        raise OSError("disk full while writing the table of contents")

    with monkeypatch.context() as patch:
        patch.setattr(whoosh_engine.SegmentWriter, "_commit_toc", interrupted)
        with pytest.raises(OSError, match="disk full"):
            index.add_staged(staged, merge=False)

    assert not staged.folder.exists()
    assert index.doc_count() == 50
    index.close()
    reopened = SearchIndex(tmp_path / "index")
    assert not reopened.is_new
    assert reopened.doc_count() == 50
    for _step in update_index(store, reopened, workers=0):
        pass
    assert reopened.doc_count() == store.message_count()
    expected = build(store_with_queue(store), tmp_path / "serial", workers=0)
    for query in QUERIES:
        assert reopened.search(query, limit=None) == expected.search(query, limit=None), query
