"""The ``merge`` benchmark: sending a personalised batch through local aiosmtpd sinks.

    .venv/bin/python -m bench.merge_bench [--count N] [--repeat K] [--connections 1,4,16] [--delay-ms MS]
        [--parts render,journal,probe,send,smtplib,memory] [--sinks plain,slow] [--keep]

A template that makes messages of about 10 KB and a CSV of N recipients
(default 10,000) are written into a temporary folder. Two aiosmtpd sinks run as
their own processes on 127.0.0.1, so their CPU time is measured apart from
the sender's: one replies at once, the other waits ``--delay-ms`` (default 20)
before each reply, as a remote relay does. Each measurement below is its own
child process, timed from the first message to the last, with its CPU time and
peak RSS (``ru_maxrss``):

1. render: ``Merge.prepare`` for every row (Jinja2, address and attachment
   checks: the rendering alone), then ``Merge.render`` plus
   ``RenderedMessage.as_bytes`` for every row (full message building).
2. minimal client (``probe``): a client that sends one prepared message over
   and over (MAIL, RCPT, DATA, the data, each reply awaited), with 16
   connections, so the sink's own CPU is the limit (the sink limit, under the
   same machine load as the other runs). Into the plain sink it also runs
   with each count of ``--connections``: it is the fastest that any client
   waiting for each reply can send over that many connections.
3. merge send: ``MergeSend`` with 1, 4 and 16 connections into each sink, a
   fresh journal each time (durable ``sending`` records, the default), the
   messages rendered on the sending loop as the command line does. Into the
   plain sink, 4 and 16 connections also run with the messages rendered in a
   render process (what a send from the window does from
   ``RENDER_PROCESS_MIN_ROWS`` rows), and 4 connections once with every
   message rendered before the clock starts, to show what rendering costs.
4. merge send without durable journal writes (``SendOptions.durable=False``),
   4 connections, plain sink, to show what the disk syncs cost.
5. smtplib: a plain loop rendering each message and sending it with
   ``smtplib.SMTP.sendmail`` over one connection.
6. journal alone: ``mark_sending`` and ``mark_done`` for N rows, durable and
   not, and ``claim`` plus ``mark_done_many`` in groups of 16, durable.

Memory: the 4-connection send into the plain sink also runs with N/10 and N/2
rows, so the three peak RSS values show whether memory grows with the batch.
``--parts`` and ``--sinks`` select measurements, so that a long benchmark can
run in pieces. Each run prints Markdown tables and appends a JSON line to
``bench/out/results.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bench.measure import median  # noqa: E402 - the repository root must be on the path first
from bench.report import print_table, record  # noqa: E402

SENDER = "bench@example.com"

_PARAGRAPH = (
    "The quarterly review covers the projects of your team, the budget lines that changed since the last "
    "meeting, and the dates that matter for the next planning round. Please read the notes before the call, "
    "mark the points you want to raise, and bring the figures of your own department where they differ. "
)


# --- inputs --------------------------------------------------------------------------


def write_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    """Write the template (messages of about 10 KB) and a CSV of ``count`` recipients."""
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs = "\n\n".join(f"{number}. {_PARAGRAPH * 2}" for number in range(1, 9))
    template = folder / "review.md"
    template.write_text(
        f"From: Bench <{SENDER}>\nTo: {{{{ name }}}} <{{{{ email }}}}>\nSubject: Review for {{{{ name }}}}, "
        f"{{{{ team }}}}\n\nDear {{{{ name }}}},\n\nyour team **{{{{ team }}}}** has {{{{ points }}}} open points.\n\n"
        f"{paragraphs}\n\nRegards,\nBench\n",
        encoding="utf-8",
    )
    data = folder / "people.csv"
    with data.open("w", encoding="utf-8") as handle:
        handle.write("name,email,team,points\n")
        for number in range(1, count + 1):
            handle.write(f"Person {number},person{number}@example.org,Team {number % 37},{number % 11}\n")
    return template, data


# --- the sink --------------------------------------------------------------------------


def run_sink(port: int, delay_ms: float) -> None:
    """Run an aiosmtpd sink until SIGTERM; it counts messages and optionally waits before each reply."""
    from aiosmtpd.controller import Controller

    class Sink:
        count = 0

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            Sink.count += 1
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print("READY", flush=True)
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    while not stopped:
        time.sleep(0.1)
    controller.stop()
    print(json.dumps({"received": Sink.count}), flush=True)


class SinkProcess:
    """A sink in its own process, with its CPU time read from /proc."""

    def __init__(self, delay_ms: float) -> None:
        from tests.helpers.smtp_server import free_port

        self.port = free_port()
        self.delay_ms = delay_ms
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.merge_bench", "--sink", str(self.port), "--delay-ms", str(delay_ms)],
            cwd=REPOSITORY, stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"The SMTP sink did not start: {line!r}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=60)
        return json.loads(output.strip().splitlines()[-1])["received"]


# --- measurements in a child process ---------------------------------------------------------


def _usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def measure_render(template: Path, data: Path) -> dict[str, float]:
    from desktop.merge.render import open_merge

    merge = open_merge(template, data, profile=None)
    merge.render(1)  # compiles the template and renders the body's shape once, as a send's first row does
    started, cpu = time.perf_counter(), _usage()["cpu"]
    for row in merge.rows:
        merge.prepare(row)
    render_seconds, render_cpu = time.perf_counter() - started, _usage()["cpu"] - cpu
    started, cpu = time.perf_counter(), _usage()["cpu"]
    size = 0
    for row in merge.rows:
        size += len(merge.render(row).as_bytes("<bench@example.com>", "Sat, 05 Dec 2026 09:00:00 +0000"))
    seconds = time.perf_counter() - started
    return {"messages": len(merge), "render_seconds": render_seconds, "render_cpu": render_cpu, "seconds": seconds,
            "cpu": _usage()["cpu"] - cpu, "mean_kb": size / len(merge) / 1024, "peak_rss_mb": _usage()["peak_rss_mb"]}


def measure_sink_limit(template: Path, data: Path, port: int, count: int, connections: int) -> dict:
    """Send ``count`` copies of one prepared message over ``connections`` minimal clients; return the rate."""
    from desktop.merge.render import open_merge

    merge = open_merge(template, data, profile=None)
    message = merge.render(1).as_bytes("<bench@example.com>", "Sat, 05 Dec 2026 09:00:00 +0000")
    payload = message.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    commands = [f"MAIL FROM:<{SENDER}>\r\n".encode(), b"RCPT TO:<person1@example.org>\r\n", b"DATA\r\n", payload]
    left = [count]

    async def reply(reader: asyncio.StreamReader) -> bytes:
        while True:
            line = await reader.readline()
            if line[3:4] != b"-":
                return line

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reply(reader)
        writer.write(b"EHLO bench\r\n")
        await reply(reader)
        while left[0] > 0:
            left[0] -= 1
            for command in commands:
                writer.write(command)
                answer = await reply(reader)
                if answer[:1] not in (b"2", b"3"):
                    raise RuntimeError(f"The sink rejected a command of the sink limit probe: {answer!r}")
        writer.write(b"QUIT\r\n")
        await reply(reader)
        writer.close()

    async def run() -> None:
        await asyncio.gather(*(client() for _ in range(connections)))

    started, cpu = time.perf_counter(), _usage()["cpu"]
    asyncio.run(run())
    return {"messages": count, "seconds": time.perf_counter() - started, "cpu": _usage()["cpu"] - cpu,
            "peak_rss_mb": _usage()["peak_rss_mb"]}


def measure_send(template: Path, data: Path, port: int, connections: int, durable: bool, home: Path,
                 prerendered: bool = False, render_process: bool | None = False) -> dict:
    """Send the merge with ``MergeSend``; with ``prerendered``, every message is rendered before the clock starts.

    ``render_process`` is ``SendOptions.render_process``: False renders on the sending loop (the command line),
    True in a render process (the window, for large merges).
    """
    from desktop.config import Account
    from desktop.merge import journal as jn
    from desktop.merge.render import open_merge
    from desktop.merge.sender import MergeSend, SendOptions
    from desktop.paths import profile_at
    from desktop.send.smtp import SmtpSender

    profile = profile_at(home).ensure()
    merge = open_merge(template, data, profile=profile)
    account = Account(name="bench", imap_host="127.0.0.1", user="bench", security="none", smtp_host="127.0.0.1",
                      smtp_port=port, smtp_security="none", address=SENDER)
    journal_file = jn.journal_path(profile.data_dir)
    with jn.Journal(journal_file) as journal:
        record_id = journal.create_merge(kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template),
                                         data=str(data), account="bench", options={}, total=len(merge)).id
    options = SendOptions(connections=connections, durable=durable, sent_copies=False, timeout=60,
                          render_process=render_process)
    with SmtpSender() as smtp:
        send = MergeSend(account=account, merge=merge, journal_file=journal_file, merge_id=record_id,
                         options=options, smtp=smtp)
        if prerendered:
            # An experiment, not a way to send: it shows how fast the send is when rendering costs nothing.
            from desktop.merge.sender import _Renderer

            renderer = _Renderer(merge, account.address, "")
            messages = [renderer.outgoing(row) for row in merge.rows]
            send._loop_items = lambda journal: iter(messages)
        started, cpu = time.perf_counter(), _usage()["cpu"]
        final = None
        for final in send.run():
            pass
        seconds = time.perf_counter() - started
    return {"messages": final.sent, "failed": final.failed + final.unknown, "not_sent": final.total - final.sent,
            "seconds": seconds, "cpu": _usage()["cpu"] - cpu, "peak_rss_mb": _usage()["peak_rss_mb"],
            "state": final.state}


def measure_smtplib(template: Path, data: Path, port: int) -> dict:
    import email.utils

    from desktop.merge.render import open_merge
    from desktop.merge.sender import wire_bytes

    merge = open_merge(template, data, profile=None)
    started, cpu = time.perf_counter(), _usage()["cpu"]
    with smtplib.SMTP("127.0.0.1", port) as client:
        for row in merge.rows:
            rendered = merge.render(row)
            message_id = email.utils.make_msgid(domain="example.com")
            date = email.utils.format_datetime(email.utils.localtime())
            client.sendmail(SENDER, rendered.to, wire_bytes(rendered, message_id, date))
    seconds = time.perf_counter() - started
    return {"messages": len(merge), "seconds": seconds, "cpu": _usage()["cpu"] - cpu,
            "peak_rss_mb": _usage()["peak_rss_mb"]}


def measure_journal(count: int, durable: bool, home: Path) -> dict:
    from desktop.merge import journal as jn

    home.mkdir(parents=True, exist_ok=True)
    with jn.Journal(home / jn.JOURNAL_NAME) as journal:
        merge_id = journal.create_merge(kind=jn.KIND_SEND, merge_key="bench", template="t", data="d", account="bench",
                                        options={}, total=count).id
        started = time.perf_counter()
        for row in range(1, count + 1):
            journal.mark_sending(merge_id, row, f"{row}:key", f"person{row}@example.org", f"<{row}@bench>", "date",
                                 durable=durable)
            journal.mark_done(merge_id, row, jn.SENT, "250 OK")
        seconds = time.perf_counter() - started
    return {"messages": count, "seconds": seconds, "us_per_message": seconds / count * 1e6}


def measure_claims(count: int, home: Path, group: int = 16) -> dict:
    """Time the journal as the sender uses it: ``claim`` and ``mark_done_many`` for groups of rows, durable."""
    from desktop.merge import journal as jn

    home.mkdir(parents=True, exist_ok=True)
    with jn.Journal(home / jn.JOURNAL_NAME) as journal:
        merge_id = journal.create_merge(kind=jn.KIND_SEND, merge_key="bench", template="t", data="d", account="bench",
                                        options={}, total=count).id
        started = time.perf_counter()
        for first in range(1, count + 1, group):
            rows = range(first, min(first + group, count + 1))
            journal.claim(merge_id, [(row, f"{row}:key", f"person{row}@example.org", f"<{row}@bench>", "date")
                                     for row in rows])
            journal.mark_done_many(merge_id, [(row, jn.SENT, "250 OK") for row in rows])
        seconds = time.perf_counter() - started
    return {"messages": count, "seconds": seconds, "us_per_message": seconds / count * 1e6}


def run_child(arguments: list[str]) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    completed = subprocess.run([sys.executable, "-m", "bench.merge_bench", "--child", *arguments], cwd=REPOSITORY,
                               capture_output=True, text=True, timeout=3600)
    if completed.returncode != 0:
        raise RuntimeError(f"measurement {arguments} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def child(arguments: list[str]) -> None:
    kind, *rest = arguments
    if kind == "render":
        result = measure_render(Path(rest[0]), Path(rest[1]))
    elif kind == "send":
        result = measure_send(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]), rest[4] != "fast",
                              Path(rest[5]), prerendered=rest[4] == "prerendered",
                              render_process=rest[4] == "process")
    elif kind == "smtplib":
        result = measure_smtplib(Path(rest[0]), Path(rest[1]), int(rest[2]))
    elif kind == "sink-limit":
        result = measure_sink_limit(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]), int(rest[4]))
    elif kind == "claims":
        result = measure_claims(int(rest[0]), Path(rest[1]))
    else:
        result = measure_journal(int(rest[0]), rest[1] == "durable", Path(rest[2]))
    print(json.dumps(result))


# --- the benchmark -----------------------------------------------------------------------------


def _sink_run(sink: SinkProcess, arguments: list[str]) -> dict:
    before = sink.cpu_seconds()
    result = run_child(arguments)
    result["sink_cpu"] = sink.cpu_seconds() - before
    return result


def _rate(results: list[dict]) -> float:
    return median([result["messages"] / result["seconds"] for result in results])


def _med(results: list[dict], key: str) -> float:
    return median([result[key] for result in results])


PARTS = ("render", "journal", "probe", "send", "smtplib", "memory")
SINKS = ("plain", "slow")


def _choices(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    chosen = [value.strip() for value in text.split(",") if value.strip()]
    unknown = [value for value in chosen if value not in allowed]
    if unknown or not chosen:
        raise SystemExit(f"{option} {text!r} is invalid; give one or more of {', '.join(allowed)}, "
                         "separated by commas.")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000, help="recipients (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (default 3); medians are shown")
    parser.add_argument("--connections", default="1,4,16", help="connection counts to measure (default 1,4,16)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="reply delay of the slow sink (default 20)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"measurements to run, separated by commas (default all: {','.join(PARTS)})")
    parser.add_argument("--sinks", default=",".join(SINKS),
                        help="sinks for the probe, send and smtplib parts: plain, slow or both (default both)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink, args.delay_ms)
        return 0
    if args.child:
        child(args.child)
        return 0
    args.parts = _choices(args.parts, PARTS, "--parts")
    args.sinks = _choices(args.sinks, SINKS, "--sinks")
    from bench.report import machine

    work = Path(tempfile.mkdtemp(prefix="sluice-merge-bench-"))
    try:
        results = measure_all(args, work)
    finally:
        if args.keep:
            print(f"Work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    info = machine()
    print(f"\nMachine: {info['cpus']} x {info['cpu']}, {info['memory_gib']} GiB, Debian {info['debian']}, "
          f"Python {info['python']}, Sluice {info['sluice_commit']}, load average {os.getloadavg()[0]:.2f} at the end")
    record("merge", {"count": args.count, "repeat": args.repeat, "connections": args.connections,
                     "delay_ms": args.delay_ms, "parts": args.parts, "sinks": args.sinks}, results, info)
    return 0


def measure_all(args: argparse.Namespace, work: Path) -> dict:
    template, data = write_inputs(work / "inputs", args.count)
    connections = [int(value) for value in args.connections.split(",")]
    homes = (work / f"home-{number}" for number in range(1, 10_000))
    results: dict = {"render": [], "probe": {}, "send": {}, "smtplib": {}, "journal": {}, "memory": {}}

    if "render" in args.parts:
        results["render"] = [run_child(["render", str(template), str(data)]) for _ in range(args.repeat)]
    if "journal" in args.parts:
        results["journal"] = measure_journals(args, homes)

    sinks = {}
    try:
        if "plain" in args.sinks:
            sinks["plain"] = SinkProcess(0)
        if "slow" in args.sinks:
            sinks[f"{args.delay_ms:g} ms"] = SinkProcess(args.delay_ms)
        for sink_name, sink in sinks.items():
            measure_sink(args, results, sink_name, sink, (template, data), connections, homes)
        if "memory" in args.parts and "plain" in sinks:
            results["memory"] = measure_memory(args, work, sinks["plain"], homes)
    finally:
        results["received_by_sinks"] = {name: sink.stop() for name, sink in sinks.items()}
    print_results(args, results)
    return results


def measure_journals(args: argparse.Namespace, homes: Iterator[Path]) -> dict:
    results = {}
    for count_name, journal_mode in (("durable", "durable"), ("not durable", "fast")):
        results[f"mark_sending + mark_done, {count_name}"] = [
            run_child(["journal", str(args.count), journal_mode, str(next(homes))]) for _ in range(args.repeat)
        ]
    results["claim + mark_done_many, groups of 16, durable"] = [
        run_child(["claims", str(args.count), str(next(homes))]) for _ in range(args.repeat)
    ]
    return results


def measure_sink(args: argparse.Namespace, results: dict, sink_name: str, sink: SinkProcess,
                 inputs: tuple[Path, Path], connections: list[int], homes: Iterator[Path]) -> None:
    """Run the probe, send and smtplib parts against one sink."""
    template, data = inputs
    if "probe" in args.parts:
        # Into the slow sink, N connections of the probe send about N / (delay + round trips) messages a second,
        # so only the sink limit is measured there.
        probe_counts = sorted({*connections, 16}) if sink_name == "plain" else [16]
        for count in probe_counts:
            results["probe"][f"{sink_name}, {count} connections"] = [
                _sink_run(sink, ["sink-limit", str(template), str(data), str(sink.port), str(args.count), str(count)])
                for _ in range(args.repeat)
            ]
    if "send" in args.parts:
        for count in connections:
            results["send"][f"{sink_name}, {count} connections"] = [
                _sink_run(sink, ["send", str(template), str(data), str(sink.port), str(count), "durable",
                                 str(next(homes))])
                for _ in range(args.repeat)
            ]
        if sink_name == "plain":
            results["send"]["plain, 4 connections, journal not durable"] = [
                _sink_run(sink, ["send", str(template), str(data), str(sink.port), "4", "fast", str(next(homes))])
                for _ in range(args.repeat)
            ]
            for count in (4, 16):
                results["send"][f"plain, {count} connections, rendered in a render process"] = [
                    _sink_run(sink, ["send", str(template), str(data), str(sink.port), str(count), "process",
                                     str(next(homes))])
                    for _ in range(args.repeat)
                ]
            results["send"]["plain, 4 connections, rendered before the send"] = [
                _sink_run(sink, ["send", str(template), str(data), str(sink.port), "4", "prerendered",
                                 str(next(homes))])
                for _ in range(args.repeat)
            ]
    if "smtplib" in args.parts:
        results["smtplib"][sink_name] = [
            _sink_run(sink, ["smtplib", str(template), str(data), str(sink.port)]) for _ in range(args.repeat)
        ]


def measure_memory(args: argparse.Namespace, work: Path, plain: SinkProcess, homes: Iterator[Path]) -> dict:
    """Send N/10 and N/2 rows with 4 connections into the plain sink, once each, for their peak RSS."""
    results = {}
    for size in sorted({max(args.count // 10, 1), max(args.count // 2, 1)} - {args.count}):
        template, data = write_inputs(work / f"inputs-{size}", size)
        results[size] = [_sink_run(plain, ["send", str(template), str(data), str(plain.port), "4", "durable",
                                           str(next(homes))])]
    return results


def _sink_limit(results: dict, sink_name: str) -> float | None:
    runs = results["probe"].get(f"{sink_name}, 16 connections")
    return _rate(runs) if runs else None


def _sink_rows(results: dict) -> list[list]:
    rows = []
    for name, runs in results["probe"].items():
        sink_cpu = _med(runs, "sink_cpu")
        rows.append([f"minimal client, {name}", _rate(runs), _med(runs, "cpu"), sink_cpu,
                     sink_cpu / _med(runs, "messages") * 1000, _med(runs, "peak_rss_mb"), 0])
    for name, runs in results["send"].items():
        sink_cpu = _med(runs, "sink_cpu")
        rows.append([f"merge send, {name}", _rate(runs), _med(runs, "cpu"), sink_cpu,
                     sink_cpu / _med(runs, "messages") * 1000, _med(runs, "peak_rss_mb"),
                     sum(run["not_sent"] for run in runs)])
    for name, runs in results["smtplib"].items():
        sink_cpu = _med(runs, "sink_cpu")
        rows.append([f"smtplib loop, {name}", _rate(runs), _med(runs, "cpu"), sink_cpu,
                     sink_cpu / _med(runs, "messages") * 1000, _med(runs, "peak_rss_mb"), 0])
    return rows


def _ratio_rows(results: dict) -> list[list]:
    rows = []
    for key, runs in results["send"].items():
        sink_name, _, rest = key.partition(", ")
        rate = _rate(runs)
        probe = results["probe"].get(f"{sink_name}, {rest}")
        loop = results["smtplib"].get(sink_name)
        limit = _sink_limit(results, sink_name)
        rows.append([f"merge send, {key}", rate, rate / _rate(probe) if probe else "",
                     rate / limit if limit else "", rate / _rate(loop) if loop else ""])
    return rows


def print_results(args: argparse.Namespace, results: dict) -> None:
    render = results["render"]
    if render:
        print_table(
            f"Rendering and building {args.count:,} messages (no sending)",
            ["step", "messages/s", "CPU s", "mean size KB", "peak RSS MB"],
            [["rendering alone (Merge.prepare)", median([run["messages"] / run["render_seconds"] for run in render]),
              _med(render, "render_cpu"), "", ""],
             ["full building (Merge.render + as_bytes)", _rate(render), _med(render, "cpu"),
              _med(render, "mean_kb"), _med(render, "peak_rss_mb")]],
        )
    rows = _sink_rows(results)
    if rows:
        print_table(
            f"Sending {args.count:,} messages to local aiosmtpd sinks (medians of {args.repeat})",
            ["run", "messages/s", "sender CPU s", "sink CPU s", "sink ms/message", "peak RSS MB", "not sent"],
            rows,
        )
    ratios = _ratio_rows(results)
    if ratios:
        print_table("Merge send against the minimal client with as many connections, the sink limit (minimal "
                    "client, 16 connections) and the smtplib loop, all into the same sink",
                    ["run", "messages/s", "share of the minimal client", "share of the sink limit",
                     "times the smtplib loop"], ratios)
    journal = results["journal"]
    if journal:
        print_table(
            f"Journal writes alone for {args.count:,} messages",
            ["calls", "µs/message", "messages/s"],
            [[name, _med(runs, "us_per_message"), _rate(runs)] for name, runs in journal.items()],
        )
    memory = [[size, runs[0]["messages"], runs[0]["peak_rss_mb"]] for size, runs in results["memory"].items()]
    if memory and "plain, 4 connections" in results["send"]:
        large = results["send"]["plain, 4 connections"]
        memory.append([args.count, _med(large, "messages"), _med(large, "peak_rss_mb")])
    if memory:
        print_table("Peak RSS of a send with 4 connections (plain sink) by batch size",
                    ["recipients", "sent", "peak RSS MB"], memory)


if __name__ == "__main__":
    sys.exit(main())
