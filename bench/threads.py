"""The ``threads`` benchmark: JWZ threading of a generated mailbox, in memory and in the store.

    .venv/bin/python bench/threads.py [--size N] [--repeat K] [--seed S] [--batch B]

``desktop.mailgen`` writes N messages (100,000 by default) and their header
blocks are parsed as sync parses them. Not timed: generating and parsing.
Timed:

1. ``build_threads`` over all N messages, K times (median and best).
2. ``Store.update_threads`` on a fresh store that contains all but the newest
   1 % of the messages: the first threading of an account, as after an
   upgrade or a first sync.
3. ``Store.update_threads`` after each batch of B of the held-back newest
   messages is stored: threading new mail as it arrives.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bench.report import machine, print_machine, print_table, record  # noqa: E402
from desktop.demo import import_messages  # noqa: E402
from desktop.mail.parse import parse_summary  # noqa: E402
from desktop.mail.threads import build_threads  # noqa: E402
from desktop.mailgen import generate  # noqa: E402
from desktop.store import Store  # noqa: E402


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="messages to generate (default 100,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of build_threads (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated mailbox (default 1)")
    parser.add_argument("--batch", type=int, default=50, help="messages per batch of new mail (default 50)")
    args = parser.parse_args()
    if args.size < 100 or args.repeat < 1 or args.batch < 1:
        parser.error("--size must be at least 100, and --repeat and --batch at least 1")
    return args


def _time_memory(items: list[tuple], repeat: int) -> tuple[list[float], int]:
    times: list[float] = []
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = len(build_threads(items))
        times.append(time.perf_counter() - started)
    return times, count


def _time_store(messages: list, batch: int, workdir: Path) -> dict[str, object]:
    messages = sorted(messages, key=lambda message: message.date)
    held_back = max(batch, len(messages) // 100)
    with Store(workdir / "store.sqlite3") as store:
        import_messages(store, "bench", messages[:-held_back])
        started = time.perf_counter()
        first = store.update_threads()
        first_seconds = time.perf_counter() - started

        batch_times: list[float] = []
        newest = messages[-held_back:]
        for start in range(0, len(newest), batch):
            import_messages(store, "bench", newest[start : start + batch])
            started = time.perf_counter()
            store.update_threads()
            batch_times.append(time.perf_counter() - started)
        threads = store._db.execute("SELECT COUNT(DISTINCT thread_id) FROM messages").fetchone()[0]
    return {
        "first_messages": first,
        "first_seconds": first_seconds,
        "batches": len(batch_times),
        "batch_median_seconds": statistics.median(batch_times),
        "batch_max_seconds": max(batch_times),
        "store_threads": threads,
    }


def main() -> int:
    args = _parse_args()
    info = machine()
    print_machine(info)

    started = time.perf_counter()
    messages = list(generate(args.size, seed=args.seed))
    summaries = [parse_summary(message.raw) for message in messages]
    print(f"Generated and parsed {args.size:,} messages in {time.perf_counter() - started:.1f} s")
    items = [
        (key, summary.message_id, summary.in_reply_to, summary.references, summary.subject,
         summary.date.timestamp() if summary.date else None)
        for key, summary in enumerate(summaries)
    ]

    times, thread_count = _time_memory(items, args.repeat)
    print_table(f"build_threads, {args.size:,} messages, {args.repeat} runs", ["threads", "median s", "best s"],
                [[thread_count, statistics.median(times), min(times)]])

    with tempfile.TemporaryDirectory(prefix="sluice-threads-") as workdir:
        store_results = _time_store(messages, args.batch, Path(workdir))
    print_table(
        "Store.update_threads",
        ["first run: messages", "first run s", f"batches of {args.batch}", "batch median s", "batch max s", "threads"],
        [[store_results["first_messages"], store_results["first_seconds"], store_results["batches"],
          store_results["batch_median_seconds"], store_results["batch_max_seconds"], store_results["store_threads"]]],
    )

    results = {"memory_median_seconds": statistics.median(times), "memory_best_seconds": min(times),
               "threads": thread_count, **store_results}
    record("threads", {"size": args.size, "repeat": args.repeat, "seed": args.seed, "batch": args.batch}, results, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
