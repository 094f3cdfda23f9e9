"""The ``small-bulk`` benchmark: how long bulk changes of a few hundred messages hold the window's thread.

    .venv/bin/python -m bench.small_bulk_bench [--size N] [--repeat K] [--commands NAMES] [--keep]

Bulk changes of fewer than ``BACKGROUND_MIN_MESSAGES`` messages write the
store on the window's thread, and larger ones on the store queue's worker
(``desktop.ui.bulk_worker``). The report names the path each command took. This benchmark builds a
profile whose IMAP account has N header-only messages (default 1,999) in
INBOX, a third of them unread, and empty Projects, Junk, Archive, Trash
and Snoozed folders. It opens the window offscreen and selects every
message of INBOX. Each cycle then runs the chosen commands in turn, each
followed by undo, which runs on a worker. The commands are archive, delete
(to Trash), move to Projects, star, mark read (which changes the unread
third), snooze, copy to Projects, the label ``project-x`` and a spam report.

Each command is timed from the call of its handler until it returns, which
is how long the window's thread cannot paint or take a key. For snooze the
time covers the read of the selected rows, which the key that opens the
picker does, and the choice of a wake time, which is a second key. After
the handler, the event loop runs until the worker has committed and the
send has ended. The longest ``processEvents`` call in that time is the
"Longest turn after" column, and it includes the list read again after the
worker commits. Confirmation boxes are accepted at once. The account's server port on
127.0.0.1 is closed, so the background sends fail at once and are not part
of the times.
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
from collections.abc import Callable
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
COMMANDS = ("archive", "delete", "move", "star", "read", "snooze", "copy", "label", "spam")
# The empty folders and their special use. Projects is the target of move and copy.
FOLDERS = (("Projects", ""), ("Junk", "\\Junk"), ("Archive", "\\Archive"), ("Trash", "\\Trash"),
           ("Snoozed", ""))


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
        for name, role in FOLDERS:
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


def _process_events(app) -> float:
    """Run the pending events once and return how many seconds that took."""
    started = time.perf_counter()
    app.processEvents()
    return time.perf_counter() - started


def _wait(app, condition, what: str) -> float:
    """Run the event loop until ``condition()`` is true and return the seconds of the longest ``processEvents`` call."""
    deadline = time.monotonic() + WAIT_SECONDS
    longest = 0.0
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Timed out after {WAIT_SECONDS:.0f} s waiting for {what}")
        longest = max(longest, _process_events(app))
        time.sleep(0.005)
    return longest


def _undo(app, window) -> None:
    undone: list[object] = []
    window.bulk_sender.store_queue.undone.connect(undone.append)
    window.run_command("undo")
    _wait(app, lambda: undone and not window.bulk_sender.store_queue.is_busy(), "the undo")
    window.bulk_sender.store_queue.undone.disconnect(undone.append)


def command_table(window, ids: list[int]) -> dict[str, Callable[[], object]]:
    """Return {command name: a call that runs it on the selected ``ids`` as its key or picker would}."""
    wake_at = datetime.now(timezone.utc) + timedelta(days=3)
    return {
        "archive": lambda: window.run_command("archive"),
        "delete": lambda: window.run_command("delete"),
        "move": lambda: window.bulk_commands.move_to(ids, "Projects"),
        "star": lambda: window.run_command("toggle-star"),
        "read": lambda: window.run_command("mark-read"),
        # The picker reads the selected rows when it opens, so this times that key and the choice of a wake time.
        "snooze": lambda: window.snooze_commands.snooze(window._store.messages(ids), wake_at),
        "copy": lambda: window.bulk_commands.copy_to(ids, "Projects"),
        "label": lambda: window.bulk_commands.change_labels(ids, [LABEL], []),
        "spam": window.bulk_commands.report_spam,
    }


def run_cycle(app, window, ids: list[int], names: list[str]) -> dict[str, tuple[float, bool, float]]:
    """Run the commands ``names`` on ``ids``, each undone.

    Returns, for each command, the seconds its handler held the thread, whether the store change went to the
    worker, and the seconds of the longest ``processEvents`` call until the worker and the send were done. That
    call includes the list read again after the worker commits.
    """
    commands = command_table(window, ids)
    timings: dict[str, tuple[float, bool, float]] = {}
    queue = window.bulk_sender.store_queue
    for name in names:
        window.message_model.set_selected(ids)
        app.processEvents()
        bulk_before = _last_bulk_id(window)
        started = time.perf_counter()
        commands[name]()
        seconds, on_worker = time.perf_counter() - started, queue.is_busy()
        after = _wait(app, lambda: not queue.is_busy() and not window.bulk_sender.is_sending(),
                      f"the {name} change on the worker and its send")
        timings[name] = (seconds, on_worker, max(after, _process_events(app)))
        if _last_bulk_id(window) == bulk_before:
            raise RuntimeError(f"The {name} command recorded no bulk action, so it changed nothing")
        _undo(app, window)
    return timings


def _last_bulk_id(window) -> int | None:
    history = window._store.bulk_history(limit=1)
    return history[0].id if history else None


def _parse_commands(parser: argparse.ArgumentParser, text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in COMMANDS]
    if unknown or not names:
        parser.error(f"--commands {text!r}: unknown or missing command names {unknown}; "
                     f"choose from {','.join(COMMANDS)}")
    return names


def measure(size: int, repeat: int, names: list[str], keep: bool) -> list[dict[str, tuple[float, bool, float]]]:
    """Open the window on a new profile of ``size`` messages and run ``repeat`` cycles of ``names``."""
    from PySide6.QtWidgets import QApplication

    from desktop.ui import bulk_commands, main_window

    work = Path(tempfile.mkdtemp(prefix="sluice-small-bulk-"))
    app = QApplication.instance() or QApplication([])
    # The confirmation boxes of moves over 500 messages and of spam reports wait for a user, so the benchmark
    # accepts them at once.
    bulk_commands.confirm_move = lambda _parent, _text, _count: True
    main_window.confirm_move = lambda _parent, _text, _count: True
    try:
        profile = build_profile(work / "profile", size)
        window = main_window.MainWindow(profile)
        window.resize(1200, 800)
        window.show()
        app.processEvents()
        ids = window.message_model.ids()
        if len(ids) != size:
            raise RuntimeError(f"The window lists {len(ids)} messages, expected {size}")
        cycles = [run_cycle(app, window, ids, names) for _ in range(repeat)]
        window.close()
    finally:
        if keep:
            print(f"Kept the work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return cycles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1999, help="messages in INBOX (default 1,999)")
    parser.add_argument("--repeat", type=int, default=5, help="cycles of the commands (default 5)")
    parser.add_argument("--commands", default=",".join(COMMANDS),
                        help=f"comma-separated commands to run in each cycle (default all: {','.join(COMMANDS)})")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    args = parser.parse_args(argv)
    names = _parse_commands(parser, args.commands)

    if args.size < 1:
        parser.error(f"--size {args.size} is invalid; use 1 or more messages")
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat} is invalid; use 1 or more cycles")
    cycles = measure(args.size, args.repeat, names, args.keep)

    info = machine()
    print_machine(info)
    rows = []
    results: dict[str, object] = {}
    for name in names:
        times = [cycle[name][0] for cycle in cycles]
        afterwards = [cycle[name][2] for cycle in cycles]
        path = "worker" if all(cycle[name][1] for cycle in cycles) else "window thread"
        rows.append([name, path, f"{statistics.median(times) * 1000:.0f} ms", f"{max(times) * 1000:.0f} ms",
                     f"{max(afterwards) * 1000:.0f} ms"])
        results[name] = {"seconds": times, "path": path, "longest_turn_after_seconds": afterwards}
    print_table(f"Window thread held by {args.size:,} messages, {args.repeat} cycles",
                ["Command", "Store written on", "Median", "Slowest", "Longest turn after"], rows)
    record("small-bulk", {"size": args.size, "repeat": args.repeat, "commands": names}, results, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
