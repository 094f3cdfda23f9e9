"""The ``bulk`` benchmark: "select all matching", then archive, delete, mark read and star 20,000 messages, each undone.

    .venv/bin/python -m bench.bulk_bench [--size N] [--repeat K] [--seed S] [--keep] [--store-in-window]

A private Dovecot gets N messages from ``desktop.mailgen``, all in INBOX, and a
headers-only profile (``offline = false``) syncs them through a counting
proxy on 127.0.0.1 (not timed). The window then opens offscreen, searches
``in:inbox``, selects every match (``* a``) and runs each cycle K times. A
cycle is four commands, each followed by undo (``z``): archive (``e``), delete
(``#``, to Trash), mark read (``Shift+i``) and star (``s``). Each of the eight
steps is timed from the command

1. until the window has repainted the list (rows gone, back, or with their
   new flags), which is checked before the time counts;
2. until the store has the change: the worker's transaction with the bulk
   record and the journal has committed;
3. until the server has it: the background send has ended.

The confirmation box for large moves is accepted at once, so no wait for a
user is timed. The IMAP commands of each step are counted from the bytes the
client sent through the proxy, and the server's folders and flags are checked
with a separate connection after each step.
"""

from __future__ import annotations

import argparse
import imaplib
import logging
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bench.mailbox import dovecot_mailbox, warm_server  # noqa: E402
from bench.measure import BenchError  # noqa: E402
from bench.report import machine, print_machine, print_table, record  # noqa: E402
from bench.rules_bench import count_commands  # noqa: E402

log = logging.getLogger(__name__)

ACCOUNT = "bench"
QUERY = "in:inbox"
WAIT_SECONDS = 600.0


# The commands of a cycle, each undone right after it: (name, command, what the list shows afterwards).
COMMANDS = (
    ("archive", "archive", "empty"),
    ("delete", "delete", "empty"),
    ("mark read", "mark-read", "read"),
    ("star", "toggle-star", "starred"),
)


@dataclass
class Step:
    """The timings (seconds) and IMAP commands of one command or its undo."""

    view: float
    store: float
    server: float
    commands: Counter[str]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="messages in INBOX (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="cycles of the four commands and their undo (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of desktop.mailgen (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    parser.add_argument("--store-in-window", action="store_true",
                        help="change the store on the window's thread, as changes of fewer than "
                             "BACKGROUND_MIN_MESSAGES messages do, for comparison (undo always runs on a worker)")
    return parser.parse_args(argv)


def _wait_for(signal, seconds: float = WAIT_SECONDS) -> list:
    """Run the Qt event loop until ``signal`` fires; return its arguments."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    received: list[tuple] = []

    def on_signal(*args) -> None:
        received.append(args)
        loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    signal.disconnect(on_signal)
    if not received:
        raise BenchError(f"Waited {seconds:.0f} s for a signal that never came.")
    return list(received[0])


def _server_state(host: str, port: int, user: str, password: str) -> dict[str, int]:
    """Return the message counts of INBOX, Archive and Trash, and the unread and flagged counts of INBOX."""
    client = imaplib.IMAP4(host, port, timeout=120)
    try:
        client.login(user, password)
        counts = {}
        for name in ("INBOX", "Archive", "Trash"):
            typ, data = client.status(name, "(MESSAGES)")
            if typ != "OK":
                raise BenchError(f"STATUS {name} failed: {data!r}")
            counts[name] = int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )"))
        client.select("INBOX", readonly=True)
        for key, criterion in (("unseen", "UNSEEN"), ("flagged", "FLAGGED")):
            typ, data = client.search(None, criterion)
            if typ != "OK":
                raise BenchError(f"SEARCH {criterion} failed: {data!r}")
            counts[key] = len(data[0].split())
        return counts
    finally:
        client.logout()


def _new_commands(proxy, offsets: dict[int, int]) -> Counter[str]:
    sent = b""
    for connection in proxy.connections:
        sent += bytes(connection.from_client)[offsets.get(connection.number, 0):]
    return count_commands(sent)


def _offsets(proxy) -> dict[int, int]:
    return {connection.number: len(connection.from_client) for connection in proxy.connections}


def _write_profile(home: Path, port: int, user: str, password: str):
    from desktop.config import Account, Config, save_config
    from desktop.paths import profile_at

    profile = profile_at(home).ensure()
    account = Account(name=ACCOUNT, imap_host="127.0.0.1", imap_port=port, security="none", user=user,
                      password_command=f"printf %s {shlex.quote(password)}", offline=False)
    save_config(Config(accounts={ACCOUNT: account}), profile.config_file)
    return profile


def _first_sync(profile) -> float:
    from desktop.sync.service import sync_profile

    started = time.perf_counter()
    errors = [step.text for step in sync_profile(profile) if getattr(step, "phase", "") == "error"]
    if errors:
        raise BenchError(f"The first sync failed: {errors[0]}")
    return time.perf_counter() - started


def _open_window(profile, size: int, store_in_window: bool):
    from PySide6.QtWidgets import QApplication

    import desktop.ui.main_window as main_window

    # The confirmation box of large moves waits for a user, so the benchmark accepts it at once.
    main_window.confirm_move = lambda _parent, _text, _count: True
    if store_in_window:
        main_window.BACKGROUND_MIN_MESSAGES = size + 1
    window = main_window.MainWindow(profile)
    window.resize(1200, 800)
    window.show()
    QApplication.processEvents()
    window.search_field.setText(QUERY)
    window.search_field.returnPressed.emit()
    found = _wait_for(window.search_finished)
    if found != [size]:
        raise BenchError(f"The search {QUERY!r} found {found} messages, expected {size}.")
    window.selection_commands.select_all()
    if window.message_model.selection_count() != size:
        raise BenchError(f"Select all chose {window.message_model.selection_count()} messages, expected {size}.")
    return window


def _server(mailbox) -> dict[str, int]:
    return _server_state(mailbox.host, mailbox.port, mailbox.user, mailbox.password)


def _check_view(window, shows: str, size: int, name: str) -> None:
    """Raise unless the list shows what the command should have left: no rows, all rows, or the new flags."""
    model = window.message_model
    if shows == "empty" and model.rowCount() != 0:
        raise BenchError(f"After {name} the list still has {model.rowCount()} rows.")
    if shows == "all" and model.rowCount() != size:
        raise BenchError(f"After {name} the list has {model.rowCount()} rows, expected {size}.")
    top = model.message(0)
    if shows == "read" and (top is None or not top.seen):
        raise BenchError(f"After {name} the top row is not shown read.")
    if shows == "starred":
        # Star takes its direction from one message, so every row shows the same star afterwards.
        stars = {"\\Flagged" in row.flags for row in map(model.message, range(min(50, model.rowCount()))) if row}
        if len(stars) != 1:
            raise BenchError(f"After {name} the first rows do not all show the same star.")


def _step(window, proxy, command: str, shows: str, size: int, name: str) -> Step:
    """Run ``command`` and time it until the list is repainted, the store has it and the send ended."""
    offsets = _offsets(proxy)
    stored: list[float] = []
    record_store = lambda *_args: stored.append(time.perf_counter())  # noqa: E731 - records one moment
    queue = window.bulk_sender.store_queue
    queue.changed.connect(record_store)
    queue.undone.connect(record_store)
    started = time.perf_counter()
    window.run_command(command)
    window.repaint()
    view = time.perf_counter() - started
    _check_view(window, shows, size, name)
    outcome = _wait_for(window.bulk_sender.send_finished)[0]
    server = time.perf_counter() - started
    queue.changed.disconnect(record_store)
    queue.undone.disconnect(record_store)
    if outcome.error:
        raise BenchError(f"{name} was not sent: {outcome}")
    # Changed on the window's thread, the store has the change once the list is repainted.
    store = stored[0] - started if stored else view
    return Step(view, store, server, _new_commands(proxy, offsets))


def _cycle(window, proxy, mailbox, size: int, initial: dict[str, int]) -> dict[str, Step]:
    from PySide6.QtWidgets import QApplication

    steps: dict[str, Step] = {}
    expected_after = {
        "archive": lambda state: state["INBOX"] == 0 and state["Archive"] == size,
        "delete": lambda state: state["INBOX"] == 0 and state["Trash"] == size,
        "mark read": lambda state: state["unseen"] == 0,
        "star": lambda state: state["flagged"] in (0, size),
    }
    for name, command, shows in COMMANDS:
        window.selection_commands.select_all()
        steps[name] = _step(window, proxy, command, shows, size, name)
        state = _server(mailbox)
        if not expected_after[name](state):
            raise BenchError(f"After {name} the server has {state}.")
        QApplication.processEvents()
        undo_shows = "all" if shows == "empty" else "any"
        steps[f"undo {name}"] = _step(window, proxy, "undo", undo_shows, size, f"undo {name}")
        state = _server(mailbox)
        if state != initial:
            raise BenchError(f"After undo {name} the server has {state}, expected {initial}.")
        QApplication.processEvents()
    return steps


def _command_rows(cycle: dict[str, Step]) -> list[list[object]]:
    names = sorted({command for step in cycle.values() for command in step.commands})
    columns = list(cycle)
    rows: list[list[object]] = [[name, *(cycle[column].commands[name] for column in columns)] for name in names]
    rows.append(["All", *(sum(cycle[column].commands.values()) for column in columns)])
    return rows


def run(args: argparse.Namespace) -> dict[str, object]:
    from PySide6.QtWidgets import QApplication

    from tests.helpers.proxy import FaultProxy

    app = QApplication.instance() or QApplication(["bulk-bench"])
    work = Path(tempfile.mkdtemp(prefix="sluice-bulk-bench-"))
    try:
        with dovecot_mailbox(work, args.size, args.seed, folders=1) as mailbox, \
                FaultProxy(mailbox.host, mailbox.port) as proxy:
            warm_server(mailbox)
            profile = _write_profile(work / "profile", proxy.port, mailbox.user, mailbox.password)
            first_sync = _first_sync(profile)
            window = _open_window(profile, args.size, args.store_in_window)
            initial = _server(mailbox)
            if initial["INBOX"] != args.size:
                raise BenchError(f"The server has {initial} before the first cycle.")
            cycles = [_cycle(window, proxy, mailbox, args.size, initial) for _ in range(args.repeat)]
            window.close()
            app.processEvents()
    finally:
        if args.keep:
            print(f"Kept the work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return _report(args, cycles, first_sync)


def _report(args: argparse.Namespace, cycles: list[dict[str, Step]], first_sync: float) -> dict[str, object]:
    results: dict[str, object] = {"first_sync_s": first_sync}
    rows = []
    for name in cycles[0]:
        views = [cycle[name].view for cycle in cycles]
        key = name.replace(" ", "_")
        results[f"{key}_view_s"] = statistics.median(views)
        results[f"{key}_view_runs_s"] = views
        results[f"{key}_store_s"] = statistics.median(cycle[name].store for cycle in cycles)
        results[f"{key}_server_s"] = statistics.median(cycle[name].server for cycle in cycles)
        results[f"{key}_commands"] = dict(cycles[-1][name].commands)
        rows.append([name, results[f"{key}_view_s"], max(views), results[f"{key}_store_s"], results[f"{key}_server_s"]])
    results["load_average_after"] = os.getloadavg()[0]
    print_table(f"Bulk commands on {args.size:,} messages, median of {len(cycles)}",
                ["Step", "List repainted (s)", "Slowest run (s)", "Store has it (s)", "Server has it (s)"], rows)
    print_table("IMAP commands of the last cycle", ["Command", *cycles[-1]], _command_rows(cycles[-1]))
    print(f"\nFirst sync (headers only, not part of the figures): {first_sync:.1f} s")
    print(f"Load average (1 minute) right after the runs: {results['load_average_after']:.2f}")
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.size < 1 or args.repeat < 1:
        print("bulk_bench: --size and --repeat must be at least 1.", file=sys.stderr)
        return 2
    info = machine()
    print_machine(info)
    try:
        results = run(args)
    except BenchError as error:
        print(f"bulk_bench: {error}", file=sys.stderr)
        return 1
    parameters = {"size": args.size, "repeat": args.repeat, "seed": args.seed, "query": QUERY,
                  "store_in_window": args.store_in_window}
    record("bulk", parameters, results, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
