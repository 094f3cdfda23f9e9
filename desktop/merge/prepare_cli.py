"""``sluice merge check`` and ``preview`` look at a merge before anything is sent; ``suppress`` edits the suppression list."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from datetime import datetime
from pathlib import Path

from desktop.config import is_plain_address

from desktop.merge.check import Problem, grouped_lines, scan_rows
from desktop.merge.errors import MergeError, RowError
from desktop.merge.render import Merge, open_merge
from desktop.merge.suppress import SuppressionList, read_address_file

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^A-Za-z0-9@._+-]+")
# Max invalid addresses printed by ``merge suppress``, because a wrong file (such as a CSV) would list every line.
MAX_SHOWN_PROBLEMS = 100


def run(args: argparse.Namespace, profile) -> int:
    """Run ``merge check``, ``merge preview`` or ``merge suppress``; return the exit status."""
    if args.merge_command == "suppress":
        return _suppress(args, profile)
    try:
        merge = open_merge(args.template, args.data, profile=profile)
    except MergeError as error:
        print(f"sluice: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.merge_command == "check":
        return _check(merge)
    if args.out is not None:
        return _write_all(merge, args.out, args.row)
    return _show(merge, args.row)


def _check(merge: Merge) -> int:
    report = merge.check()
    for line in report.lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILED


def _show(merge: Merge, row: int | None) -> int:
    if not merge.rows:
        print(f"sluice: {merge.table.path} has no data rows; add one recipient per line below the header.",
              file=sys.stderr)
        return EXIT_FAILED
    number = row if row is not None else merge.rows.first().number
    try:
        rendered = merge.render(number)
    except RowError as error:
        print(f"sluice: {error.describe()}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Row {number} to {', '.join(rendered.to)}; Message-ID and Date are added when it is sent.", file=sys.stderr)
    sys.stdout.write(rendered.raw.decode("ascii").replace("\r\n", "\n"))
    return EXIT_OK


def _write_all(merge: Merge, folder: Path, row: int | None) -> int:
    """Write one .eml file per row (or only ``row``) into ``folder``; report the rows that cannot be rendered."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"sluice: cannot create {folder}: {error.strerror}; choose another --out folder.", file=sys.stderr)
        return EXIT_FAILED

    if row is not None:
        try:
            merge.row(row)
        except RowError as error:
            print(f"sluice: {error.describe()}", file=sys.stderr)
            return EXIT_FAILED

    written = 0
    errors: list[Problem] = []
    skipped: list[Problem] = []
    # The same scan as 'check' (earlier rows are read for repeated addresses), so both agree on the errors.
    for number, prepared, problem in scan_rows(merge, last=row):
        if row is not None and number != row:
            continue
        if problem is not None:
            (errors if problem.is_error else skipped).append(problem)
            continue
        name = f"{number:05d}-{_UNSAFE_FILE_CHARACTERS.sub('_', prepared.recipients[0])[:80]}.eml"
        (folder / name).write_bytes(merge.build(prepared))
        written += 1

    for line in grouped_lines(errors):
        print(f"error: {line}")
    for line in grouped_lines(skipped):
        print(f"skipped: {line}")
    failed = len({problem.row for problem in errors})
    print(f"Wrote {written} messages to {folder}; {len(skipped)} suppressed rows skipped; {failed} rows with errors.")
    log.info("Wrote %d previews of merge %r to %s", written, merge.name, folder)
    return EXIT_FAILED if failed else EXIT_OK


def _suppress(args: argparse.Namespace, profile) -> int:
    suppression = SuppressionList(profile)
    if args.suppress_action == "list":
        for entry in suppression.entries():
            added = datetime.fromtimestamp(entry.added).strftime("%Y-%m-%d %H:%M")
            print(f"{entry.address}\t{added}\t{entry.reason}")
        return EXIT_OK
    try:
        listed = read_address_file(args.file) if args.file else None
    except OSError as error:
        print(f"sluice: cannot read {args.file}: {error.strerror}; give a text file with one address a line.",
              file=sys.stderr)
        return EXIT_FAILED
    addresses = list(args.addresses) + (listed.addresses if listed else [])
    problems = [f"{address!r} is not an address" for address in args.addresses if not is_plain_address(address.strip())]
    if listed:
        problems += [f"{args.file}, line {number}: {text!r} is not an address" for number, text in listed.bad_lines]
    if problems:
        _print_address_problems(problems, args.suppress_action)
        return EXIT_FAILED
    if not addresses:
        print(f"sluice: give the addresses to {args.suppress_action}, or --file with one address a line.", file=sys.stderr)
        return EXIT_FAILED
    if args.suppress_action == "add":
        changed = sum(suppression.add(address, args.reason) for address in addresses)
        print(f"Added {_addresses(changed)} to the suppression list; {len(addresses) - changed} already on it.")
    else:
        changed = sum(suppression.remove(address) for address in addresses)
        print(f"Removed {_addresses(changed)} from the suppression list; {len(addresses) - changed} not on it.")
    return EXIT_OK


def _print_address_problems(problems: list[str], action: str) -> None:
    """Print each invalid address (at most MAX_SHOWN_PROBLEMS), then that nothing was changed."""
    for problem in problems[:MAX_SHOWN_PROBLEMS]:
        print(f"sluice: {problem}.", file=sys.stderr)
    if len(problems) > MAX_SHOWN_PROBLEMS:
        print(f"sluice: ... and {len(problems) - MAX_SHOWN_PROBLEMS} more invalid addresses.", file=sys.stderr)
    print(f"sluice: Nothing was changed, so no address was {'added' if action == 'add' else 'removed'}. Write each "
          "address as name@example.com (start a line with # to leave it out), then run the command again.",
          file=sys.stderr)


def _addresses(count: int) -> str:
    return "1 address" if count == 1 else f"{count} addresses"
