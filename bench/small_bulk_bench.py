"""The ``small-bulk`` benchmark: how long copy, label and spam of 1,999 messages hold the window's thread.

    .venv/bin/python -m bench.small_bulk_bench [--size N] [--repeat K] [--keep]

Copies, label changes and spam reports of fewer than
``COPY_LABEL_SPAM_BACKGROUND_MIN`` messages write the store on the window's
thread, and larger ones on the store queue's worker. The report names the
path each command took. This benchmark builds a profile whose IMAP
account has N header-only messages (default 1,999) in INBOX and empty
Projects and Junk folders, opens the window offscreen and selects every
message of INBOX. Each cycle then runs copy to Projects, the label
``project-x`` and a spam report, each followed by undo, which runs on a
worker. Each command is timed from the call of its handler until it
returns, which is how long the window's thread cannot paint or take a key.
The confirmation box of the spam report is accepted at once. The account's
server port on 127.0.0.1 is closed, so the background sends fail at once
and are not part of the times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bench.report import machine, print_machine, print_table, record  # noqa: E402

ACCOUNT = "bench"
LABEL = "project-x"
WAIT_SECONDS = 120.0
START = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_profile(home: Path, size: int):
    """Create a profile with one IMAP account whose INBOX has ``size`` header-only messages."""
    from desktop.config import Account, Config, save_config
    from desktop.mail.parse import Summary
    from desktop.paths import profile_at
    from desktop.store import SEEN, NewMessage, Store

    profile = profile_at(home).ensure()
    account = Account(name=ACCOUNT, imap_host="127.0.0.1", imap_port=_closed_port(), security="none",
                      user="nobody", password_command="echo not-a-real-password")
    save_config(Config(accounts={ACCOUNT: account}), profile.config_file)
    with Store(profile.store_file) as store:
        account_id = store.ensure_account(ACCOUNT, "imap")
        inbox = store.upsert_folder(account_id, "INBOX", delimiter="/")
        for name, role in (("Projects", ""), ("Junk", "\\Junk")):
            store.upsert_folder(account_id, name, delimiter="/", special_use=role)
        for folder in store.folders(ACCOUNT, with_counts=False):
            store.set_uidvalidity(folder.id, 1)
        store.insert_messages(inbox, [
            NewMessage(uid=uid + 1, flags=[SEEN] if uid % 3 else [], size=2000 + uid, raw=None,
                       summary=Summary(subject=f"Message number {uid}", from_name=f"Sender {uid % 97}",
                                       from_addr=f"sender{uid % 97}@example.org", date=START + timedelta(minutes=uid),
                                       message_id=f"<small-bulk-{uid}@example.org>"))
            for uid in range(size)
        ])
    return profile


def _wait(app, condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Timed out after {WAIT_SECONDS:.0f} s waiting for {what}")
        app.processEvents()
        time.sleep(0.005)


def _undo(app, window) -> None:
    undone: list[object] = []
    window.bulk_sender.store_queue.undone.connect(undone.append)
    window.run_command("undo")
    _wait(app, lambda: undone and not window.bulk_sender.store_queue.is_busy(), "the undo")
    window.bulk_sender.store_queue.undone.disconnect(undone.append)


def run_cycle(app, window, ids: list[int]) -> dict[str, tuple[float, bool]]:
    """Run copy, label and spam on ``ids``, each undone.

    Returns, for each command, the seconds its handler held the thread and whether the store change went to the worker.
    """
    commands = {
        "copy": lambda: window.bulk_commands.copy_to(ids, "Projects"),
        "label": lambda: window.bulk_commands.change_labels(ids, [LABEL], []),
        "spam": window.bulk_commands.report_spam,
    }
    held: dict[str, tuple[float, bool]] = {}
    queue = window.bulk_sender.store_queue
    for name, command in commands.items():
        window.message_model.set_selected(ids)
        app.processEvents()
        started = time.perf_counter()
        changed = command()
        held[name] = (time.perf_counter() - started, queue.is_busy())
        if not changed:
            raise RuntimeError(f"The {name} command changed nothing")
        _wait(app, lambda: not queue.is_busy(), f"the {name} change on the worker")
        app.processEvents()
        _undo(app, window)
    return held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1999, help="messages in INBOX (default 1,999)")
    parser.add_argument("--repeat", type=int, default=5, help="cycles of copy, label and spam (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from desktop.ui import bulk_commands, main_window
    from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES

    if args.size >= BACKGROUND_MIN_MESSAGES:
        parser.error(f"--size {args.size} runs on the worker; use fewer than {BACKGROUND_MIN_MESSAGES} messages")
    work = Path(tempfile.mkdtemp(prefix="sluice-small-bulk-"))
    app = QApplication.instance() or QApplication([])
    # The spam report's confirmation box waits for a user, so the benchmark accepts it at once.
    bulk_commands.confirm_move = lambda _parent, _text, _count: True
    try:
        profile = build_profile(work / "profile", args.size)
        window = main_window.MainWindow(profile)
        window.resize(1200, 800)
        window.show()
        app.processEvents()
        ids = window.message_model.ids()
        if len(ids) != args.size:
            raise RuntimeError(f"The window lists {len(ids)} messages, expected {args.size}")
        cycles = [run_cycle(app, window, ids) for _ in range(args.repeat)]
        window.close()
    finally:
        if args.keep:
            print(f"Kept the work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    info = machine()
    print_machine(info)
    rows = []
    results: dict[str, object] = {}
    for name in ("copy", "label", "spam"):
        times = [cycle[name][0] for cycle in cycles]
        path = "worker" if all(cycle[name][1] for cycle in cycles) else "window thread"
        rows.append([name, path, f"{statistics.median(times) * 1000:.0f} ms", f"{max(times) * 1000:.0f} ms"])
        results[name] = {"seconds": times, "path": path}
    print_table(f"Window thread held by {args.size:,} messages, {args.repeat} cycles",
                ["Command", "Store written on", "Median", "Slowest"], rows)
    record("small-bulk", {"size": args.size, "repeat": args.repeat}, results, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
