"""The ``rules match`` benchmark: 50 rules checked against every INBOX message, as a dry run does.

Generated messages (``desktop.mailgen``) are stored whole in the INBOX of a
temporary store, and a search index is built from it; neither step is timed.
Each timed run then reads the INBOX rows from the store and checks every rule
against every row with a fresh ``Matcher``. It runs once with the index and once
without, and the run without parses every message whose body a rule needs.

    .venv/bin/python -m bench.rules_match [--size N] [--seed S] [--repeat K]

The rules are varied on purpose: search-language conditions on fields, words
that search the body, phrases, list: terms, dates and flags, structured header,
address, size, age and flag tests, and a few tests of headers that only the raw
message has.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.report import print_table

log = logging.getLogger(__name__)

# The search-language rules. Words come from the generator's vocabulary.
WHEN_RULES = (
    "subject:invoice OR subject:receipt",
    "from:forge.example.com",
    "from:cedarbooks.example",
    "list:*python-dev*",
    "list:* older_than:30d",
    "list:*forge.example.com* is:read",
    'subject:"security alert"',
    "from:calendar-noreply@calendar.example.com",
    "budget is:unread",
    '"customer survey"',
    "newsletter -is:flagged",
    "to:team",
    "has:attachment older_than:1y",
    "is:unread newer_than:7d",
    "from:devpulse.example.net OR from:ledger.example.org",
    "folder:INBOX is:flagged",
    "kestrel OR tidewater",
    "label:$work",
    "subject:shipped",
    "conference approval -from:you@example.com",
)

# Structured tests, one rule each, as TOML inline tables.
IF_RULES = (
    '{ header = "from", contains = "noreply" }',
    "{ header = \"subject\", regex = '^\\[[a-z-]+/[a-z-]+\\]' }",
    '{ address = "from", part = "domain", is = "example.com" }',
    '{ address = "from", part = "local", matches = "*-noreply" }',
    '{ header = "list-id", matches = "*.lists.example.org" }',
    '{ header = "x-mailer", matches = "*" }',
    '{ address = "to", is = "you@example.com" }',
    '{ header = "recipient", contains = "team" }',
    '{ size_above = "1MB" }',
    '{ size_below = "2KB" }',
    '{ older_than = "365d" }',
    '{ newer_than = "14d" }',
    "{ unread = true }",
    "{ flagged = true }",
    "{ any = [{ unread = true }, { flagged = true }] }",
    '{ not = { header = "list-id", matches = "*" } }',
    '{ all = [{ has_attachment = true }, { address = "from", part = "domain", matches = "*.example.net" }] }',
    '{ header = "precedence", is = "bulk" }',
    '{ address = "reply-to", part = "domain", matches = "*.example" }',
    '{ header = "auto-submitted", matches = "auto-*" }',
)

# Rules with both a query and structured tests.
MIXED_RULES = (
    ("list:*", '{ header = "subject", contains = "announce" }'),
    ("older_than:30d", "{ unread = true }"),
    ("from:example.com", '{ not = { address = "from", part = "local", matches = "no*reply*" } }'),
    ("subject:meeting", '{ header = "recipient", contains = "you@example.com" }'),
    ("has:attachment", '{ size_above = "100KB" }'),
    ("is:read", '{ header = "list-id", contains = "cycling" }'),
    ("-list:*", '{ address = "from", part = "domain", matches = "*.example.com" }'),
    ("budget OR invoice", '{ newer_than = "90d" }'),
    ("from:forge.example.com", "{ header = \"subject\", regex = '\\(PR #\\d+\\)' }"),
    ("is:unread", '{ any = [{ header = "subject", contains = "urgent" }, { flagged = true }] }'),
)


def rule_file_text() -> str:
    """Return the 50 rules as one rule file."""
    blocks = []
    for number, query in enumerate(WHEN_RULES, start=1):
        blocks.append(f"[[rule]]\nname = \"when {number}\"\nwhen = '{query}'\nactions = [{{ flag = true }}]\n")
    for number, test in enumerate(IF_RULES, start=1):
        blocks.append(f"[[rule]]\nname = \"if {number}\"\nif = [{test}]\nactions = [{{ flag = true }}]\n")
    for number, (query, test) in enumerate(MIXED_RULES, start=1):
        blocks.append(
            f"[[rule]]\nname = \"mixed {number}\"\nwhen = '{query}'\nif = [{test}]\nactions = [{{ flag = true }}]\n"
        )
    return "\n".join(blocks)


def build_store(work: Path, size: int, seed: int):
    """Store ``size`` generated messages whole in one INBOX and index them; return the store and index."""
    from desktop import mailgen
    from desktop.index import SearchIndex
    from desktop.index.builder import update_index
    from desktop.mail.parse import parse_summary
    from desktop.store import NewMessage, Store

    store = Store(work / "store.sqlite3")
    inbox = store.upsert_folder(store.ensure_account("bench"), "INBOX")
    batch = []
    for uid, message in enumerate(mailgen.generate(size, seed=seed), start=1):
        flags = list(message.flags) + (["$work"] if uid % 9 == 0 else [])
        batch.append(NewMessage(uid=uid, flags=flags, size=len(message.raw), raw=message.raw,
                                summary=parse_summary(message.raw)))
        if len(batch) == 1000:
            store.insert_messages(inbox, batch)
            batch = []
    store.insert_messages(inbox, batch)
    index = SearchIndex(work / "index")
    for _progress in update_index(store, index, workers=0):
        pass
    return store, index, inbox


def run_once(store, index, inbox: int, rules, now) -> dict[str, float]:
    """Read the INBOX rows and check every rule against every row; return the timings."""
    from desktop.rules.match import Matcher

    started = time.perf_counter()
    rows = store.messages(store.message_ids([inbox]))
    loaded = time.perf_counter()
    matcher = Matcher(store, index=index, now=now)
    matcher.prepare(rules, rows)
    prepared = time.perf_counter()
    matches = 0
    needs_body = 0
    for rule in rules:
        for row in rows:
            verdict = matcher.check(rule, row)
            matches += verdict.matched
            needs_body += verdict.needs_body
    finished = time.perf_counter()
    return {
        "messages": len(rows),
        "load_s": loaded - started,
        "prepare_s": prepared - loaded,
        "check_s": finished - prepared,
        "total_s": finished - started,
        "matches": matches,
        "needs_body": needs_body,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="INBOX messages to generate (default 10,000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message generator (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per mode; the median is shown (default 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the temporary store and index")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from desktop.rules.loader import collect_rules

    work = Path(tempfile.mkdtemp(prefix="rules-match-", dir=args.workdir))
    try:
        (work / "rules.toml").write_text(rule_file_text(), encoding="utf-8")
        ruleset, problems = collect_rules(work / "rules.toml")
        if problems:
            print("\n".join(str(problem) for problem in problems), file=sys.stderr)
            return 1

        started = time.perf_counter()
        store, index, inbox = build_store(work, args.size, args.seed)
        print(f"Stored and indexed {args.size:,} messages in {time.perf_counter() - started:.1f} s")
        from desktop.mailgen import DEFAULT_START

        now = DEFAULT_START + timedelta(days=1)
        table = []
        for mode, used_index in (("with index", index), ("without index", None)):
            runs = [run_once(store, used_index, inbox, ruleset.rules, now) for _ in range(args.repeat)]
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            checks = len(ruleset.rules) * median["messages"]
            table.append([
                mode, len(ruleset.rules), int(median["messages"]), int(checks), median["load_s"], median["prepare_s"],
                median["check_s"], median["total_s"], int(checks / median["total_s"]), int(median["matches"]),
            ])
        index.close()
        store.close()
        print_table(
            f"{len(ruleset.rules)} rules over {args.size:,} INBOX messages, median of {args.repeat} run(s)",
            ["mode", "rules", "messages", "checks", "load rows s", "prepare s", "check s", "total s", "checks/s",
             "matches"],
            table,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
