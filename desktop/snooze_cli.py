"""The `sluice snooze` command line: list, wake and add snoozed messages."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from desktop.text import pluralize

COMMANDS = ("snooze",)

PRESETS = ("later-today", "tomorrow", "weekend", "next-week")


def add_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    snooze = commands.add_parser(
        "snooze", parents=[common],
        help="list snoozed messages, wake the due ones, or snooze a message (see docs/snooze.md)",
    )
    actions = snooze.add_subparsers(dest="snooze_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="list snoozed messages with their wake time")
    listing.add_argument("--account", metavar="NAME", help="list only this account's snoozed messages")

    wake = actions.add_parser("wake", parents=[common],
                              help="move the due snoozed messages back now; the next sync sends the moves")
    wake.add_argument("--account", metavar="NAME", help="wake only this account's snoozed messages")
    wake.add_argument("--all", action="store_true", help="wake every snoozed message, due or not")

    add = actions.add_parser("add", parents=[common], help="snooze the messages with a Message-ID until a time")
    add.add_argument("message_id", metavar="MESSAGE-ID", help="the Message-ID header, with or without <>")
    add.add_argument("--until", required=True, metavar="TIME",
                     help="'YYYY-MM-DD HH:MM' in local time, or one of: " + ", ".join(PRESETS))
    add.add_argument("--account", metavar="NAME", help="only the account's messages with that Message-ID")


def run(args: argparse.Namespace, profile) -> int:
    if args.snooze_command == "list":
        return _list(args, profile)
    if args.snooze_command == "wake":
        return _wake(args, profile)
    return _add(args, profile)


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _list(args: argparse.Namespace, profile) -> int:
    from desktop.store import Store

    with Store(profile.store_file) as store:
        entries = store.snoozes(args.account)
        present = {entry.id: row for entry, row in store.snoozed_messages(args.account)}
    if not entries:
        print("No snoozed messages.")
        return 0
    for entry in entries:
        row = present.get(entry.id)
        subject = (row.subject or "(no subject)") if row else "(no longer in the Snoozed folder; dropped when due)"
        print(f"{_local(entry.wake_at)}\t{entry.account}\t{entry.return_folder}\t{subject}")
    return 0


def _wake(args: argparse.Namespace, profile) -> int:
    from desktop.store import Store

    with Store(profile.store_file) as store:
        entry_ids = [entry.id for entry in store.snoozes(args.account)] if args.all else None
        result = store.wake_snoozes(account=args.account, entry_ids=entry_ids)
    for text in result.dropped:
        print(text)
    print(f"Woke {pluralize(len(result.woken), 'snoozed message')}; 'sluice sync' sends the moves to the server.")
    return 0


def _add(args: argparse.Namespace, profile) -> int:
    from desktop.snooze import SnoozeError, ensure_snooze_folders, snooze_choices
    from desktop.store import Store
    from desktop.store.rules import normalize_message_id

    presets = {choice.name: choice.wake_at for choice in snooze_choices()}
    wake_at = presets.get(args.until) or _parse_time(args.until, sorted(presets))
    if wake_at is None:
        return 2
    with Store(profile.store_file) as store:
        ids = store.message_ids_by_header(normalize_message_id(args.message_id))
        rows = [row for row in store.messages(ids) if args.account in (None, row.account)]
    if not rows:
        print(f"sluice: no stored message has Message-ID {args.message_id!r}"
              f"{' in account ' + repr(args.account) if args.account else ''}; run 'sluice sync' or check the id.",
              file=sys.stderr)
        return 1
    try:
        folders = ensure_snooze_folders(profile, {row.account for row in rows})
        with Store(profile.store_file) as store:
            result = store.snooze_messages([row.id for row in rows], wake_at, folders,
                                           f"Snoozed {pluralize(len(rows), 'message')} until {_local(wake_at)}")
    except (SnoozeError, ValueError) as error:
        print(f"sluice: {error}", file=sys.stderr)
        return 1
    print(f"Snoozed {pluralize(result.snoozed, 'message')} until {_local(wake_at)}"
          f"{f', rescheduled {result.rescheduled}' if result.rescheduled else ''}; "
          "'sluice sync' sends the change to the server, and 'sluice undo' reverses it.")
    return 0


def _parse_time(text: str, presets: list[str]) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").astimezone()
    except ValueError:
        print(f"sluice: invalid time {text!r}; use 'YYYY-MM-DD HH:MM' in local time or one of: {', '.join(presets)}",
              file=sys.stderr)
        return None
