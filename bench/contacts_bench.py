"""The ``contacts`` benchmark: loading address completion from a store of 100,000 messages, and queries.

    .venv/bin/python -m bench.contacts_bench [--size N] [--sent-share F] [--seed S]

The store gets one IMAP account with INBOX and a Sent folder (special use
``\\Sent``). ``--sent-share`` of the messages (5 % by default) sit in Sent
with one to three recipients each; the rest are received from about
``size / 20`` distinct senders with accented and plain names. Rows are
inserted with headers only, since completion reads no bodies.

Measured: ``ContactIndex.load`` (the SQL reads and the ranking), then the
median and worst time of ``complete`` for 200 prefixes, one to four
characters of the names and addresses of random contacts, so each query
has matches (short prefixes match many contacts, the slowest case).
Results are printed as Markdown and appended to bench/out/results.jsonl.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bench.measure import median  # noqa: E402 - the repository root must be on sys.path first
from bench.report import machine, print_table, record  # noqa: E402

FIRST = ["Ana", "Jörg", "Chloé", "Bob", "Søren", "María", "Li", "Olu", "Zoë", "Ivan", "Nadia", "Tomás"]
LAST = ["Díaz", "Müller", "Smith", "Ng", "Okafor", "Łukasz", "Rossi", "Dupont", "Kim", "Novák"]
DOMAINS = ["example.org", "example.com", "mail.example.net", "corp.example"]


def build_store(path: Path, size: int, sent_share: float, seed: int) -> float:
    """Fill a new store at ``path``; return the seconds it took."""
    from desktop.mail.parse import Summary
    from desktop.store import Store
    from desktop.store.db import NewMessage

    started = time.perf_counter()
    generator = random.Random(seed)
    people = [
        (f"{generator.choice(FIRST)} {generator.choice(LAST)}", f"user{number}@{generator.choice(DOMAINS)}")
        for number in range(max(size // 20, 10))
    ]
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with Store(path) as store:
        account = store.ensure_account("bench")
        inbox = store.upsert_folder(account, "INBOX")
        sent = store.upsert_folder(account, "Sent", special_use="\\Sent")
        inbox_rows, sent_rows = [], []
        for number in range(size):
            if generator.random() < sent_share:
                recipients = generator.sample(people, generator.randint(1, 3))
                summary = Summary(subject=f"Out {number}", from_name="Me", from_addr="me@example.org",
                                  to=recipients, date=moment, message_id=f"out{number}@example.org")
                sent_rows.append(NewMessage(uid=len(sent_rows) + 1, flags=(), size=1000, raw=None, summary=summary))
            else:
                name, address = generator.choice(people)
                summary = Summary(subject=f"In {number}", from_name=name, from_addr=address,
                                  to=[("Me", "me@example.org")], date=moment, message_id=f"in{number}@example.org")
                inbox_rows.append(NewMessage(uid=len(inbox_rows) + 1, flags=(), size=1000, raw=None, summary=summary))
        store.insert_messages(inbox, inbox_rows)
        store.insert_messages(sent, sent_rows)
    return time.perf_counter() - started


def measure(path: Path, seed: int) -> dict[str, float]:
    from desktop.compose.contacts import ContactIndex
    from desktop.store import Store

    with Store(path) as store:
        started = time.perf_counter()
        index = ContactIndex.load(store, {"me@example.org"})
        load_seconds = time.perf_counter() - started
    generator = random.Random(seed + 1)
    # Prefixes of real names and addresses, one to four characters long, so every query has matches.
    prefixes = []
    for _ in range(200):
        contact = generator.choice(index.contacts)
        word = generator.choice([contact.address, *contact.name.split()])
        prefixes.append(word[: generator.randint(1, 4)])
    prefixes += ["u", "user1", "mül", "ana d", "example.org"]
    timings = []
    for prefix in prefixes:
        started = time.perf_counter()
        index.complete(prefix, limit=10)
        timings.append((time.perf_counter() - started) * 1000)
    return {"contacts": len(index.contacts), "load_ms": load_seconds * 1000, "query_median_ms": median(timings),
            "query_max_ms": max(timings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="messages in the store (default 100000)")
    parser.add_argument("--sent-share", type=float, default=0.05, help="share of messages in Sent (default 0.05)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-contacts-bench-") as folder:
        path = Path(folder) / "store.sqlite3"
        build_seconds = build_store(path, args.size, args.sent_share, args.seed)
        results = measure(path, args.seed)
    results["build_s"] = build_seconds
    print_table(f"Address completion on {args.size} messages", ["contacts", "load (ms)", "query median (ms)",
                "query max (ms)"], [[results["contacts"], results["load_ms"], results["query_median_ms"],
                                     results["query_max_ms"]]])
    record("contacts", vars(args), results, machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
