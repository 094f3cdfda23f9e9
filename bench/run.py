"""Run one of Sluice's benchmarks and record its figures.

Usage: ``python bench/run.py NAME [--size N] [--repeat K]``. Each benchmark
prints its result tables (Markdown) and appends one JSON line to
bench/out/results.jsonl. See bench/README.md for what each one measures.
"""

from __future__ import annotations

import argparse
import compileall
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bench.measure import BenchError  # noqa: E402 - the repository root must be on sys.path first
from bench.report import machine, print_machine, record  # noqa: E402

log = logging.getLogger("bench.run")

BENCHMARKS = ("sync", "resync", "search", "window")
DEFAULT_SIZES = {"sync": 10_000, "resync": 50_000, "search": 10_000, "window": 100_000}
DEFAULT_REPEATS = {"sync": 3, "resync": 3, "search": 20, "window": 5}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=BENCHMARKS, help="which benchmark to run")
    parser.add_argument("--size", type=int, metavar="N",
                        help=f"number of generated messages (defaults: {', '.join(f'{name} {size:,}' for name, size in DEFAULT_SIZES.items())})")
    parser.add_argument("--repeat", type=int, metavar="K",
                        help=f"repeats per measurement; medians are reported (defaults: {', '.join(f'{name} {count}' for name, count in DEFAULT_REPEATS.items())})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message generator (default 1)")
    parser.add_argument("--workdir", metavar="DIR",
                        help="create the work folder inside DIR (default: the system's temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (mailboxes, profiles, databases) and print its path")
    parser.add_argument("--profile", metavar="DIR",
                        help="search and window: use this existing Sluice profile (e.g. kept with --keep) instead of building one")
    parser.add_argument("--no-peers", action="store_true", help="search: skip the notmuch side")
    parser.add_argument("--folders", type=int, default=20, metavar="N",
                        help="resync: spread the messages over N folders (default 20)")
    parser.add_argument("--peer-timeout", type=float, default=1200.0, metavar="SECONDS",
                        help="sync: stop offlineimap3 after this many seconds and report how far it got (default 1200)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details of the harness")
    return parser


def _compile_package() -> None:
    """Compile Sluice to bytecode, as an installed wheel is, so no run pays for compiling its sources.

    A PYTHONDONTWRITEBYTECODE setting in the caller's environment would make
    every ``sluice`` process compile about 50 modules again (some 60 ms). No user
    of an installed copy pays that, so the benchmark's children run without it.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if not compileall.compile_dir(REPOSITORY / "desktop", quiet=1):
        raise SystemExit("bench: compiling the desktop package to bytecode failed; see the errors above.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    size = args.size or DEFAULT_SIZES[args.benchmark]
    repeat = args.repeat or DEFAULT_REPEATS[args.benchmark]
    if size < 1 or repeat < 1:
        print(f"bench: --size {size} and --repeat {repeat} must both be at least 1.", file=sys.stderr)
        return 2

    _compile_package()
    info = machine()
    print_machine(info)
    print(f"Benchmark {args.benchmark}: {size:,} messages, {repeat} repeat(s), seed {args.seed}")
    # A fresh folder name for every run: reusing a folder right after deleting
    # thousands of files in it makes file creation much slower on this kind of disk.
    work = Path(tempfile.mkdtemp(prefix=f"sluice-bench-{args.benchmark}-{time.strftime('%Y%m%d-%H%M%S')}-", dir=args.workdir))
    started = time.perf_counter()
    try:
        parameters, results = _run(args, work, size, repeat)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        print(f"bench: the work folder {work} is kept for inspection.", file=sys.stderr)
        return 1
    print(f"\nBenchmark {args.benchmark} took {time.perf_counter() - started:.0f} s in all")
    record(args.benchmark, parameters, results, info)
    if args.keep:
        print(f"Kept the work folder {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _run(args: argparse.Namespace, work: Path, size: int, repeat: int) -> tuple[dict[str, object], dict[str, object]]:
    profile = Path(args.profile).resolve() if args.profile else None
    if args.benchmark == "sync":
        from bench import sync_bench

        return sync_bench.run(work, size, repeat, args.seed, peer_timeout=args.peer_timeout)
    if args.benchmark == "resync":
        from bench import resync_bench

        return resync_bench.run(work, size, repeat, args.seed, folders=args.folders)
    if args.benchmark == "search":
        from bench import search_bench

        return search_bench.run(work, size, repeat, args.seed, profile=profile, peers=not args.no_peers)
    from bench import window_bench

    return window_bench.run(work, size, repeat, args.seed, profile=profile)


if __name__ == "__main__":
    sys.exit(main())
