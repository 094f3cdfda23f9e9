"""The ``bulk`` benchmark: "select all matching" and archive of 20,000 messages in the window, then undo.

    .venv/bin/python -m bench.bulk_bench [--size N] [--repeat K] [--seed S] [--keep]

A private Dovecot gets N messages from ``desktop.mailgen``, all in INBOX, and a
headers-only profile (``offline = false``) syncs them through a counting
proxy on 127.0.0.1 (not timed). The window then opens offscreen, searches
``in:inbox``, selects every match (``* a``) and runs each cycle K times:

1. archive: from the command until the window has repainted the list
   without the messages, and until the store has the move. The worker's
   transaction with the bulk record and the journal has then committed.
   Last, until the server has every message in Archive, which is when the
   background send ended;
2. undo: from the command until the list is shown again (the undo runs on a
   worker), and until the server has every message back in INBOX.

The confirmation box for large moves is accepted at once, so no wait for a
user is timed. The IMAP commands of each step are counted from the bytes the
client sent through the proxy, and the server's folders are checked with a
separate connection after each step.
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


@dataclass
class Cycle:
    """The timings (seconds) and commands of one archive and its undo."""

    archive_view: float
    archive_store: float
    archive_server: float
    archive_commands: Counter[str]
    undo_view: float
    undo_server: float
    undo_commands: Counter[str]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="messages in INBOX (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="archive and undo cycles (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of desktop.mailgen (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    parser.add_argument("--store-in-window", action="store_true",
                        help="change the store on the window's thread, as archives of fewer than "
                             "BACKGROUND_MIN_MESSAGES messages do, for comparison")
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


def _folder_counts(host: str, port: int, user: str, password: str) -> dict[str, int]:
    client = imaplib.IMAP4(host, port, timeout=120)
    try:
        client.login(user, password)
        counts = {}
        for name in ("INBOX", "Archive"):
            typ, data = client.status(name, "(MESSAGES)")
            if typ != "OK":
                raise BenchError(f"STATUS {name} failed: {data!r}")
            counts[name] = int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )"))
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


def _check_server(mailbox, expected: dict[str, int], step: str) -> None:
    counts = _folder_counts(mailbox.host, mailbox.port, mailbox.user, mailbox.password)
    if counts != expected:
        raise BenchError(f"After {step} the server has {counts}, expected {expected}.")


def _cycle(window, proxy, mailbox, size: int) -> Cycle:
    from PySide6.QtWidgets import QApplication

    offsets = _offsets(proxy)
    stored: list[float] = []
    record_store = lambda: stored.append(time.perf_counter())  # noqa: E731 - records one moment
    window.bulk_sender.store_changed.connect(record_store)
    started = time.perf_counter()
    window.run_command("archive")
    window.repaint()
    archive_view = time.perf_counter() - started
    outcome = _wait_for(window.bulk_sender.send_finished)[0]
    archive_server = time.perf_counter() - started
    window.bulk_sender.store_changed.disconnect(record_store)
    # Changed on the window's thread, the store has the move once the list is repainted.
    archive_store = stored[0] - started if stored else archive_view
    if outcome.error or outcome.done != size:
        raise BenchError(f"The archive was not sent: {outcome}")
    archive_commands = _new_commands(proxy, offsets)
    _check_server(mailbox, {"INBOX": 0, "Archive": size}, "the archive")
    QApplication.processEvents()

    offsets = _offsets(proxy)
    started = time.perf_counter()
    window.run_command("undo")
    _wait_for(window.folders_refreshed)
    window.repaint()
    undo_view = time.perf_counter() - started
    outcome = _wait_for(window.bulk_sender.send_finished)[0]
    undo_server = time.perf_counter() - started
    if outcome.error or outcome.done != size:
        raise BenchError(f"The undo was not sent: {outcome}")
    undo_commands = _new_commands(proxy, offsets)
    _check_server(mailbox, {"INBOX": size, "Archive": 0}, "the undo")
    # Select everything again for the next cycle, as "* a" does.
    window.selection_commands.select_all()
    return Cycle(archive_view, archive_store, archive_server, archive_commands, undo_view, undo_server, undo_commands)


def _command_rows(cycle: Cycle) -> list[list[object]]:
    names = sorted(set(cycle.archive_commands) | set(cycle.undo_commands))
    rows: list[list[object]] = [[name, cycle.archive_commands[name], cycle.undo_commands[name]] for name in names]
    rows.append(["All", sum(cycle.archive_commands.values()), sum(cycle.undo_commands.values())])
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
            cycles = [_cycle(window, proxy, mailbox, args.size) for _ in range(args.repeat)]
            window.close()
            app.processEvents()
    finally:
        if args.keep:
            print(f"Kept the work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return _report(args, cycles, first_sync)


def _report(args: argparse.Namespace, cycles: list[Cycle], first_sync: float) -> dict[str, object]:
    def median(values) -> float:
        return statistics.median(values)

    results = {
        "first_sync_s": first_sync,
        "archive_view_s": median(cycle.archive_view for cycle in cycles),
        "archive_store_s": median(cycle.archive_store for cycle in cycles),
        "archive_server_s": median(cycle.archive_server for cycle in cycles),
        "undo_view_s": median(cycle.undo_view for cycle in cycles),
        "undo_server_s": median(cycle.undo_server for cycle in cycles),
        "archive_view_runs_s": [cycle.archive_view for cycle in cycles],
        "archive_server_runs_s": [cycle.archive_server for cycle in cycles],
        "archive_commands": dict(cycles[-1].archive_commands),
        "load_average_after": os.getloadavg()[0],
        "undo_commands": dict(cycles[-1].undo_commands),
    }
    print_table(f"Bulk archive of {args.size:,} messages, median of {len(cycles)}", ["Step", "Seconds"], [
        ["Archive: until the list is repainted", results["archive_view_s"]],
        ["Archive: until the store has it", results["archive_store_s"]],
        ["Archive: until the server has it", results["archive_server_s"]],
        ["Undo: until the list is shown again", results["undo_view_s"]],
        ["Undo: until the server has it", results["undo_server_s"]],
    ])
    print_table("IMAP commands of the last cycle", ["Command", "Archive", "Undo"], _command_rows(cycles[-1]))
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
