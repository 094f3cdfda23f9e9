"""The ``rules`` benchmark: 50 rules over a 10,000-message INBOX, Sluice against imapfilter.

One private Dovecot serves two fresh copies of the same generated INBOX per
repeat, one for each side. The same 50 rules (sender, domain, subject and
List-Id tests that move, flag, mark read or add a keyword) are written as a
Sluice rule file and as an imapfilter Lua configuration, from one table.

    .venv/bin/python -m bench.rules_bench [--size N] [--repeat K] [--seed S] [--keep]

Each side talks to Dovecot through its own counting proxy on 127.0.0.1, so the
IMAP commands each client sends are counted from its own bytes. Timed, each as
a whole process:

1. ``sluice rules apply --dry-run``: the plan only, nothing changes.
2. ``sluice rules apply``: the plan applied to the local store and journal,
   the journal sent to the server (moves and flag changes, no folder sync),
   then the search index updated. Two moments inside it are read from the
   profile's log: when the store has the result (the bulk action is
   recorded) and when the server has it (the journal is sent).
3. ``sluice sync``: the next sync, which should find nothing left to send.
4. ``imapfilter -c CONFIG``: one pass of the same rules on the server.

Not timed: writing the Maildirs, a warm-up read of every message (so Dovecot's
index exists before either side runs), and Sluice's first sync into its store.
Afterwards the benchmark compares, folder by folder, the message counts and the
counts of \\Seen, \\Flagged and each keyword on the two copies.
"""

from __future__ import annotations

import argparse
import datetime
import imaplib
import logging
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bench.mailbox import PASSWORD, ServerMailbox, list_folders, spread_over_folders, warm_server  # noqa: E402
from bench.measure import BenchError, ChildRun, run_child  # noqa: E402
from bench.report import machine, print_machine, print_table, record  # noqa: E402

log = logging.getLogger(__name__)

ACCOUNT = "bench"
KEYWORDS = ("$lists", "$work", "$bills", "$people", "$travel", "$ci")

# One rule: the header it tests ("from", "subject" or "list-id"), the text the
# header must contain (case-insensitive), and its actions in order: ("move",
# FOLDER), ("flag",), ("read",) or ("label", KEYWORD). A rule that moves has
# stop = true, so in both tools no later rule acts on a message that left INBOX.
RULES: tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...] = (
    ("from", "jonah.harlow@example.com", (("flag",), ("label", "$people"))),
    ("from", "noah.brennan@example.com", (("label", "$people"),)),
    ("from", "priya.thornton@mailbox.test", (("label", "$people"),)),
    ("from", "gavin.quinlan@example.com", (("flag",),)),
    ("from", "li.wei@jade-trading.example", (("label", "$work"),)),
    ("from", "olga.morozova@volga-soft.example", (("label", "$work"),)),
    ("from", "soren.ostergaard@fjordline.example", (("label", "$travel"),)),
    ("from", "misaki.suzuki@sakura-systems.example", (("label", "$work"),)),
    ("subject", "security", (("flag",),)),
    ("subject", "contract", (("label", "$work"),)),
    ("subject", "budget", (("label", "$work"),)),
    ("subject", "offsite", (("label", "$travel"),)),
    ("subject", "travel", (("label", "$travel"),)),
    ("subject", "hiring", (("label", "$work"), ("flag",))),
    ("subject", "agenda", (("read",),)),
    ("subject", "invoice", (("label", "$bills"), ("read",), ("move", "Receipts"))),
    ("subject", "receipt", (("label", "$bills"), ("move", "Receipts"))),
    ("from", "billing@harborhosting.example.net", (("label", "$bills"), ("move", "Bills"))),
    ("from", "rechnung@bergmann-buero.example", (("label", "$bills"), ("move", "Bills"))),
    ("from", "ship-confirm@cedarbooks.example", (("read",), ("move", "Shopping"))),
    ("from", "deals@mail.brightwater.example", (("read",), ("move", "Shopping"))),
    ("list-id", "python-dev.lists.example.org", (("label", "$lists"), ("move", "Lists/python-dev"))),
    ("list-id", "city-cycling.lists.example.org", (("label", "$lists"), ("move", "Lists/cycling"))),
    ("list-id", "book-club.lists.example.org", (("label", "$lists"), ("move", "Lists/book-club"))),
    ("list-id", "harbor.web.forge.example.com", (("label", "$ci"), ("move", "Forge/harbor-web"))),
    ("list-id", "harbor.api.forge.example.com", (("label", "$ci"), ("move", "Forge/harbor-api"))),
    ("list-id", "atlas.engine.forge.example.com", (("label", "$ci"), ("move", "Forge/atlas"))),
    ("list-id", "release-scripts.forge.example.com", (("label", "$ci"), ("move", "Forge/tools"))),
    ("list-id", "newsletter.devpulse.example.net", (("read",), ("move", "Newsletters"))),
    ("list-id", "newsletter.news.northwind.example", (("move", "Newsletters"),)),
    ("list-id", "newsletter.ledger.example.org", (("read",), ("move", "Newsletters"))),
    ("list-id", "newsletter.fjordline.example", (("move", "Newsletters"),)),
    ("list-id", "newsletter.kestrelconf.example", (("move", "Newsletters"),)),
    ("from", "calendar-noreply@calendar.example.com", (("read",), ("move", "Calendar"))),
    ("from", "comments-noreply@docs.example.com", (("move", "Docs"),)),
    ("from", "noreply@cloud.example.net", (("read",), ("move", "Notifications"))),
    ("from", "no-reply@accounts.example.com", (("move", "Notifications"),)),
    ("from", "info@kestrelconf.example", (("move", "Events"),)),
    ("subject", "weekly:", (("read",),)),
    ("subject", "reminder:", (("flag",),)),
    ("subject", "failed:", (("label", "$ci"),)),
    ("subject", "shipped", (("move", "Shopping"),)),
    ("subject", "conference", (("label", "$travel"), ("move", "Events"))),
    ("subject", "performance regression", (("flag",), ("move", "Forge/regressions"))),
    ("from", "you@example.com", (("read",), ("move", "Sent by me"))),
    ("from", "freemail.example.net", (("label", "$people"),)),
    ("from", "corp.example.net", (("label", "$work"),)),
    ("from", "northwind.example", (("label", "$work"),)),
    ("subject", "customer", (("label", "$work"),)),
    ("subject", "question", (("flag",),)),
)

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?$")
_TAGGED = re.compile(rb"^([A-Za-z0-9.]+) ([A-Za-z]+)(?: ([A-Za-z]+))?")
# Log lines of ``rules apply`` that mark when the store and when the server have the result.
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
STORE_DONE = re.compile(r" desktop\.store\.rules \[[^]]*\] Finished bulk action \d+")
SERVER_DONE = re.compile(r" desktop\.rules\.commands \[[^]]*\] Sent \d+ change\(s\) of account ")
# Commands that change the server; the sync after a ``rules apply`` that sent its changes should need none.
CHANGING_COMMANDS = ("UID MOVE", "UID COPY", "UID STORE", "STORE", "UID EXPUNGE", "EXPUNGE", "APPEND", "MOVE", "COPY")


# The two rule formats


def rule_file_text() -> str:
    """Return RULES as a Sluice rule file."""
    blocks = []
    for number, (header, text, actions) in enumerate(RULES, start=1):
        items = ", ".join(_toml_action(action) for action in actions)
        stop = "\nstop = true" if any(action[0] == "move" for action in actions) else ""
        blocks.append(
            f'[[rule]]\nname = "Rule {number:02d}"\n'
            f'if = [{{ header = "{header}", contains = "{text}" }}]\n'
            f"actions = [{items}]{stop}\n"
        )
    return "\n".join(blocks)


def _toml_action(action: tuple[str, ...]) -> str:
    kind = action[0]
    if kind == "move":
        return f'{{ move = "{action[1]}" }}'
    if kind == "label":
        return f'{{ label = "{action[1]}" }}'
    if kind == "flag":
        return "{ flag = true }"
    return '{ mark = "read" }'


def imapfilter_config(port: int, user: str) -> str:
    """Return RULES as an imapfilter configuration for ``user`` on 127.0.0.1:``port``."""
    lines = [
        "options.info = false",
        "options.timeout = 600",
        "options.starttls = false",
        f"local account = IMAP {{ server = '127.0.0.1', port = {port}, username = '{user}', password = '{PASSWORD}' }}",
        "local inbox = account.INBOX",
        "local found",
    ]
    for header, text, actions in RULES:
        lines.append(f"found = {_lua_search(header, text)}")
        # Flags before the move, so the moved message carries them, as in Sluice.
        for action in actions:
            lines.append(_lua_action(action))
    return "\n".join(lines) + "\n"


def _lua_search(header: str, text: str) -> str:
    if header == "from":
        return f"inbox:contain_from('{text}')"
    if header == "subject":
        return f"inbox:contain_subject('{text}')"
    return f"inbox:contain_field('List-Id', '{text}')"


def _lua_action(action: tuple[str, ...]) -> str:
    kind = action[0]
    if kind == "move":
        return f"found:move_messages(account['{action[1]}'])"
    if kind == "label":
        return f"found:add_flags({{ '{action[1]}' }})"
    if kind == "flag":
        return "found:mark_flagged()"
    return "found:mark_seen()"


def target_folders() -> list[str]:
    """Return the folders the rules move into, in first-use order."""
    folders: list[str] = []
    for _, _, actions in RULES:
        for action in actions:
            if action[0] == "move" and action[1] not in folders:
                folders.append(action[1])
    return folders


# Counting IMAP commands


def count_commands(client_bytes: bytes) -> Counter[str]:
    """Count the tagged commands in the bytes an IMAP client sent, e.g. {"UID MOVE": 12}.

    Literals (``{N}`` at a line end) are skipped, so message text is never
    taken for a command. Continuation lines such as IDLE's DONE are not counted.
    """
    commands: Counter[str] = Counter()
    position = 0
    while position < len(client_bytes):
        end = client_bytes.find(b"\n", position)
        if end < 0:
            end = len(client_bytes)
        line = client_bytes[position:end].rstrip(b"\r")
        position = end + 1
        match = _TAGGED.match(line)
        if match and match.group(1).upper() != b"DONE":
            name = match.group(2).upper().decode("ascii")
            if name == "UID" and match.group(3):
                name += " " + match.group(3).upper().decode("ascii")
            commands[name] += 1
        literal = _LITERAL.search(line)
        if literal:
            position += int(literal.group(1))
    return commands


# Server state


def folder_state(host: str, port: int, user: str) -> dict[str, tuple[int, ...]]:
    """Return, per folder, the message count and the counts of \\Seen, \\Flagged and each keyword."""
    client = imaplib.IMAP4(host, port, timeout=600)
    state: dict[str, tuple[int, ...]] = {}
    try:
        client.login(user, PASSWORD)
        for name in list_folders(client):
            typ, data = client.select(f'"{name}"', readonly=True)
            if typ != "OK":
                raise BenchError(f"SELECT {name} failed while reading the result: {data!r}")
            counts = [int(data[0])]
            for criterion in ("SEEN", "FLAGGED", *(f"KEYWORD {keyword}" for keyword in KEYWORDS)):
                typ, data = client.search(None, criterion)
                counts.append(len(data[0].split()) if typ == "OK" and data[0] else 0)
            state[name] = tuple(counts)
    finally:
        client.logout()
    return state


def create_folders(host: str, port: int, user: str, folders: list[str]) -> None:
    client = imaplib.IMAP4(host, port, timeout=60)
    try:
        client.login(user, PASSWORD)
        for name in folders:
            typ, data = client.create(f'"{name}"')
            if typ != "OK":
                raise BenchError(f"CREATE {name} failed for {user}: {data!r}")
    finally:
        client.logout()


# One repeat


@dataclass
class Repeat:
    """The figures of one repeat."""

    dry_run: ChildRun
    apply: ChildRun
    store_seconds: float  # from the start of ``rules apply`` until the store has the result
    server_seconds: float  # from the start of ``rules apply`` until the server has it
    sync: ChildRun
    imapfilter: ChildRun
    sluice_commands: Counter[str]  # sent by ``rules apply``
    sync_commands: Counter[str]  # sent by the sync after it
    imapfilter_commands: Counter[str]
    sluice_state: dict[str, tuple[int, ...]] = field(default_factory=dict)
    imapfilter_state: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _write_profile(home: Path, port: int, user: str) -> None:
    from desktop.config import Account, load_config, save_config
    from desktop.paths import profile_at

    profile = profile_at(home).ensure()
    config = load_config(profile.config_file)
    config.accounts[ACCOUNT] = Account(
        name=ACCOUNT, kind="imap", imap_host="127.0.0.1", imap_port=port, security="none", user=user,
        password_command=f"printf %s {shlex.quote(PASSWORD)}",
    )
    save_config(config, profile.config_file)


def _sluice(home: Path, *arguments: str, log_dir: Path) -> ChildRun:
    run = run_child([sys.executable, "-m", "desktop", "--home", str(home), *arguments], cwd=REPOSITORY, log_dir=log_dir)
    if run.returncode != 0:
        raise BenchError(f"sluice {' '.join(arguments)} exited with {run.returncode}: {run.stderr.strip()[-2000:]}")
    return run


def _new_bytes(proxy, first_connection: int, last_connection: int | None = None) -> bytes:
    return b"".join(bytes(connection.from_client) for connection in proxy.connections[first_connection:last_connection])


def _log_moment(log_file: Path, pattern: re.Pattern[str], after: float) -> float:
    """Return the seconds from ``after`` (a time.time() value) to the first line of ``log_file`` matching ``pattern`` logged since."""
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        stamp = _LOG_TIME.match(line)
        if not stamp or not pattern.search(line):
            continue
        # The log writes local time with milliseconds.
        moment = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if moment >= after - 0.001:
            return moment - after
    raise BenchError(f"No line matching {pattern.pattern!r} in {log_file} after the timed run started.")


def _mailbox(server, user, count: int) -> ServerMailbox:
    return ServerMailbox(server.host, server.port, user.name, PASSWORD, Path(user.maildir), count, 0.0, Path(server.log_path))


def _prepare_user(server, name: str, messages: list, folders: list[str]):
    from bench.mailbox import _chown_tree
    from desktop import mailgen

    user = server.add_user(name, PASSWORD)
    written = mailgen.write_maildir(messages, Path(user.maildir))
    if written != len(messages):
        raise BenchError(f"mailgen wrote {written} messages for {name}, expected {len(messages)}.")
    _chown_tree(Path(user.maildir), user.uid, user.gid)
    create_folders(server.host, server.port, name, folders)
    read, seconds = warm_server(_mailbox(server, user, written))
    log.info("Warmed %s: read %d messages in %.1f s", name, read, seconds)
    return user


def run_repeat(work: Path, server, messages: list, number: int) -> Repeat:
    from desktop.paths import profile_at
    from tests.helpers.proxy import FaultProxy

    folders = target_folders()
    log_dir = work / "logs"
    sluice_user = _prepare_user(server, f"sluice{number}", messages, folders)
    filter_user = _prepare_user(server, f"filter{number}", messages, folders)
    rules = work / "rules.toml"

    with FaultProxy(server.host, server.port) as sluice_proxy, FaultProxy(server.host, server.port) as filter_proxy:
        home = work / f"sluice-{number}"
        _write_profile(home, sluice_proxy.port, sluice_user.name)
        _sluice(home, "sync", "--quiet", log_dir=log_dir)

        dry_run = _sluice(home, "rules", "apply", "--rules", str(rules), "--dry-run", log_dir=log_dir)
        first = len(sluice_proxy.connections)
        started = time.time()
        apply = _sluice(home, "rules", "apply", "--rules", str(rules), log_dir=log_dir)
        if "Sent the changes to the server" not in apply.stdout:
            raise BenchError(f"sluice rules apply did not send its changes:\n{apply.stdout[-2000:]}\n{apply.stderr[-2000:]}")
        log_file = profile_at(home).log_file
        store_seconds = _log_moment(log_file, STORE_DONE, started)
        server_seconds = _log_moment(log_file, SERVER_DONE, started)
        second = len(sluice_proxy.connections)
        sluice_commands = count_commands(_new_bytes(sluice_proxy, first, second))
        sync = _sluice(home, "sync", "--quiet", log_dir=log_dir)
        sync_commands = count_commands(_new_bytes(sluice_proxy, second))

        config = work / f"imapfilter-{number}.lua"
        config.write_text(imapfilter_config(filter_proxy.port, filter_user.name), encoding="utf-8")
        environment = dict(os.environ, HOME=str(work / f"imapfilter-home-{number}"))
        Path(environment["HOME"]).mkdir(exist_ok=True)
        imapfilter = run_child(["imapfilter", "-c", str(config)], env=environment, log_dir=log_dir)
        if imapfilter.returncode != 0:
            raise BenchError(f"imapfilter exited with {imapfilter.returncode}: {imapfilter.stderr.strip()[-2000:]}")
        filter_commands = count_commands(_new_bytes(filter_proxy, 0))

    return Repeat(
        dry_run=dry_run, apply=apply, store_seconds=store_seconds, server_seconds=server_seconds, sync=sync,
        imapfilter=imapfilter, sluice_commands=sluice_commands, sync_commands=sync_commands,
        imapfilter_commands=filter_commands,
        sluice_state=folder_state(server.host, server.port, sluice_user.name),
        imapfilter_state=folder_state(server.host, server.port, filter_user.name),
    )


# Whole run


def run(work: Path, size: int, repeat: int, seed: int) -> tuple[dict[str, object], dict[str, object]]:
    from bench.mailbox import _import_dovecot_helper
    from desktop import mailgen

    if shutil.which("imapfilter") is None:
        raise BenchError("imapfilter is not installed; install it with: apt-get install imapfilter")
    (work / "rules.toml").write_text(rule_file_text(), encoding="utf-8")
    messages = list(spread_over_folders(mailgen.generate(size, seed=seed), 1))

    dovecot = _import_dovecot_helper()
    server = dovecot.DovecotServer(work / "dovecot")
    server.start()
    repeats = []
    try:
        for number in range(1, repeat + 1):
            repeats.append(run_repeat(work, server, messages, number))
            print(f"Repeat {number} of {repeat} done")
    finally:
        server.stop()
    parameters = {"size": size, "repeat": repeat, "seed": seed, "rules": len(RULES)}
    return parameters, summarise(repeats)


def summarise(repeats: list[Repeat]) -> dict[str, object]:
    def median(pick) -> float:
        return statistics.median(pick(item) for item in repeats)

    last = repeats[-1]
    apply_seconds = median(lambda item: item.apply.seconds)
    imapfilter_seconds = median(lambda item: item.imapfilter.seconds)
    same = all(item.sluice_state == item.imapfilter_state for item in repeats)
    return {
        "dry_run_seconds": median(lambda item: item.dry_run.seconds),
        "store_seconds": median(lambda item: item.store_seconds),
        "server_seconds": median(lambda item: item.server_seconds),
        "apply_seconds": apply_seconds,
        "sync_seconds": median(lambda item: item.sync.seconds),
        "apply_and_sync_seconds": median(lambda item: item.apply.seconds + item.sync.seconds),
        "imapfilter_seconds": imapfilter_seconds,
        "ratio_apply_to_imapfilter": apply_seconds / imapfilter_seconds,
        "ratio_server_to_imapfilter": median(lambda item: item.server_seconds) / imapfilter_seconds,
        "sync_changes_sent": max(sum(item.sync_commands[name] for name in CHANGING_COMMANDS) for item in repeats),
        "dry_run_peak_rss_mb": median(lambda item: item.dry_run.max_rss_mb),
        "apply_peak_rss_mb": median(lambda item: item.apply.max_rss_mb),
        "imapfilter_peak_rss_mb": median(lambda item: item.imapfilter.max_rss_mb),
        "sluice_commands": dict(last.sluice_commands),
        "sync_commands": dict(last.sync_commands),
        "imapfilter_commands": dict(last.imapfilter_commands),
        "same_server_state": same,
        "sluice_state": {name: list(counts) for name, counts in last.sluice_state.items()},
        "imapfilter_state": {name: list(counts) for name, counts in last.imapfilter_state.items()},
    }


def print_results(results: dict[str, object], size: int, repeat: int) -> None:
    print_table(
        f"{len(RULES)} rules over {size:,} INBOX messages, medians of {repeat} runs (seconds, whole processes)",
        ["Step", "Seconds", "Peak RSS (MiB)"],
        [
            ["Sluice dry run (`rules apply --dry-run`)", results["dry_run_seconds"], results["dry_run_peak_rss_mb"]],
            ["`rules apply` start to store done", results["store_seconds"], float("nan")],
            ["`rules apply` start to server done", results["server_seconds"], float("nan")],
            ["Sluice apply (`rules apply`, whole process)", results["apply_seconds"], results["apply_peak_rss_mb"]],
            ["Sluice sync after it", results["sync_seconds"], float("nan")],
            ["Sluice apply + sync", results["apply_and_sync_seconds"], float("nan")],
            ["imapfilter, one pass", results["imapfilter_seconds"], results["imapfilter_peak_rss_mb"]],
            ["Ratio Sluice apply / imapfilter", results["ratio_apply_to_imapfilter"], float("nan")],
            ["Ratio Sluice server done / imapfilter", results["ratio_server_to_imapfilter"], float("nan")],
        ],
    )
    sluice, sync, imapfilter = results["sluice_commands"], results["sync_commands"], results["imapfilter_commands"]
    names = sorted(set(sluice) | set(sync) | set(imapfilter))
    rows = [[name, sluice.get(name, 0), sync.get(name, 0), imapfilter.get(name, 0)] for name in names]
    rows.append(["All", sum(sluice.values()), sum(sync.values()), sum(imapfilter.values())])
    print_table("IMAP commands sent (last run)", ["Command", "Sluice apply", "Sluice sync after", "imapfilter"], rows)
    print(f"Changing commands in the sync after apply (most of any run): {results['sync_changes_sent']}")
    _print_state(results)


def _print_state(results: dict[str, object]) -> None:
    sluice, imapfilter = results["sluice_state"], results["imapfilter_state"]
    header = ["Folder", "Side", "Messages", "Seen", "Flagged", *KEYWORDS]
    rows = []
    for name in sorted(set(sluice) | set(imapfilter)):
        if sluice.get(name) == imapfilter.get(name):
            rows.append([name, "both", *sluice[name]])
            continue
        rows.append([name, "Sluice", *sluice.get(name, [0] * (len(header) - 2))])
        rows.append([name, "imapfilter", *imapfilter.get(name, [0] * (len(header) - 2))])
    verdict = "the same on both copies" if results["same_server_state"] else "DIFFERENT between the copies"
    print_table(f"Server state after the runs (last run): {verdict}", header, rows)


def _imapfilter_version() -> str:
    from bench.report import _command_output

    words = _command_output(["imapfilter", "-V"]).split()
    return words[1] if len(words) > 1 else "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, metavar="N", help="INBOX messages (default 10,000)")
    parser.add_argument("--repeat", type=int, default=3, metavar="K", help="repeats; medians are reported (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message generator (default 1)")
    parser.add_argument("--workdir", metavar="DIR", help="create the work folder inside DIR (default: the system's temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details of the harness")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.size < 1 or args.repeat < 1:
        print(f"bench: --size {args.size} and --repeat {args.repeat} must both be at least 1.", file=sys.stderr)
        return 2

    from bench.run import _compile_package

    # As in bench/run.py: the children run from bytecode, as an installed copy does.
    _compile_package()
    info = machine()
    info["imapfilter"] = _imapfilter_version()
    print_machine(info)
    print(f"imapfilter {info['imapfilter']}")
    # A fresh folder name for every run: creating files right after deleting thousands
    # in the same place is much slower on an ext4 disk without a journal.
    work = Path(tempfile.mkdtemp(prefix=f"sluice-bench-rules-{time.strftime('%Y%m%d-%H%M%S')}-", dir=args.workdir))
    try:
        parameters, results = run(work, args.size, args.repeat, args.seed)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        print(f"bench: the work folder {work} is kept for inspection.", file=sys.stderr)
        return 1
    print_results(results, args.size, args.repeat)
    record("rules", parameters, results, info)
    if args.keep:
        print(f"Kept the work folder {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if results["same_server_state"] else 1


if __name__ == "__main__":
    sys.exit(main())
