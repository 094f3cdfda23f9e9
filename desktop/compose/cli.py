"""The ``sluice send`` and ``sluice outbox`` command line.

``sluice send`` reads the body from standard input, builds the message and
sends it through the outbox: at once, or at ``--at`` (send later, sent by
``sluice outbox send`` or the open window when the time comes). A message
that fails stays in the outbox with its error; ``sluice outbox`` lists,
cancels, retries and sends the waiting entries.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

COMMANDS = ("send", "outbox")

EXIT_OK = 0
EXIT_FAILED = 1


def add_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    send = commands.add_parser(
        "send", parents=[common],
        help="send one message, body from standard input (see docs/compose.md)",
        description="Send one message through the outbox. The body is read from standard input.",
    )
    send.add_argument("--account", required=True, metavar="NAME", help="the sending account")
    send.add_argument("--from", dest="from_address", metavar="ADDRESS",
                      help="send from this address of the account (its address or an alias; default: its address)")
    send.add_argument("--to", action="append", default=[], metavar="ADDRESS",
                      help="a recipient; repeat it or separate addresses with commas")
    send.add_argument("--cc", action="append", default=[], metavar="ADDRESS", help="a Cc recipient; may repeat")
    send.add_argument("--bcc", action="append", default=[], metavar="ADDRESS", help="a Bcc recipient; may repeat")
    send.add_argument("--subject", required=True, metavar="TEXT")
    send.add_argument("--attach", action="append", default=[], type=Path, metavar="FILE",
                      help="attach FILE; may repeat")
    send.add_argument("--markdown", action="store_true",
                      help="the body is Markdown: send it as HTML with the text as plain-text alternative")
    send.add_argument("--no-signature", action="store_true", help="leave out the account's signature")
    send.add_argument("--at", metavar="TIME",
                      help="send later, at 'YYYY-MM-DD HH:MM' (or YYYY-MM-DDTHH:MM) local time; the message "
                      "waits in the outbox. A time more than a minute in the past is rejected")
    send.add_argument("--remind-days", type=float, metavar="DAYS",
                      help="bring the message back to INBOX if no reply came within DAYS days")

    outbox = commands.add_parser("outbox", parents=[common], help="list, cancel, retry or send the outbox's messages")
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    actions.add_parser("list", parents=[common], help="list the messages waiting or failed (the default)")
    cancel = actions.add_parser("cancel", parents=[common], help="take a waiting or failed message out; nothing is sent")
    cancel.add_argument("entry_id", type=int, metavar="ID")
    retry = actions.add_parser("retry", parents=[common], help="send a failed or unknown message again now")
    retry.add_argument("entry_id", type=int, metavar="ID")
    actions.add_parser("send", parents=[common], help="send every message whose time has come")


def run(args: argparse.Namespace, profile) -> int:
    from desktop.compose.build import BuildError
    from desktop.compose.outbox import OutboxError
    from desktop.config import ConfigError

    try:
        if args.command == "send":
            return _send(args, profile)
        return _outbox(args, profile)
    except (BuildError, OutboxError, ConfigError) as error:
        print(f"sluice {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED


# Seconds an --at time may lie in the past and still send at once: the minute the user typed may have just begun.
PAST_GRACE_SECONDS = 60.0


def parse_time(text: str) -> float:
    """Return the epoch seconds of an ISO 8601 date and time; raise ValueError naming the format.

    Both 'YYYY-MM-DD HH:MM' and 'YYYY-MM-DDTHH:MM' are accepted, with optional seconds and UTC offset. A time
    without an offset is local time. A date without a time is rejected.
    """
    cleaned = text.strip()
    try:
        if len(cleaned) <= len("YYYY-MM-DD"):
            raise ValueError(cleaned)
        return datetime.fromisoformat(cleaned).timestamp()
    except ValueError:
        raise ValueError(f"Time {text!r} is invalid; write it as YYYY-MM-DD HH:MM, e.g. 2026-12-24 09:00.") from None


def check_future(text: str, send_at: float, now: float) -> None:
    """Raise ValueError when ``send_at`` is more than PAST_GRACE_SECONDS before ``now``."""
    if send_at < now - PAST_GRACE_SECONDS:
        raise ValueError(f"--at {text!r} is in the past, so nothing was queued. Give a later time, or leave out --at "
                         "to send now.")


def _send(args: argparse.Namespace, profile) -> int:
    from desktop.compose.build import Draft, parse_address_list
    from desktop.compose.outbox import Outbox, outbox_path
    from desktop.compose.sending import queue_draft
    from desktop.config import load_config

    config = load_config(profile.config_file)
    account = config.account(args.account)
    if sys.stdin.isatty():
        print("sluice send: reading the body from the terminal; end it with Ctrl+D.", file=sys.stderr)
    body = sys.stdin.read()
    try:
        send_at = parse_time(args.at) if args.at else None
        if send_at is not None:
            check_future(args.at, send_at, time.time())
    except ValueError as error:
        print(f"sluice send: {error}", file=sys.stderr)
        return EXIT_FAILED
    draft = Draft(
        account=account.name, from_address=(args.from_address or account.address).lower(),
        to=[entry for value in args.to for entry in parse_address_list(value)],
        cc=[entry for value in args.cc for entry in parse_address_list(value, "cc")],
        bcc=[entry for value in args.bcc for entry in parse_address_list(value, "bcc")],
        subject=args.subject, body=body, format="markdown" if args.markdown else "plain",
        attachments=list(args.attach), signature=not args.no_signature,
    )
    with Outbox(outbox_path(profile.data_dir)) as outbox:
        entry = queue_draft(outbox, draft, account, undo_seconds=0, send_at=send_at, remind_days=args.remind_days)
        if send_at is not None and send_at > time.time():
            print(f"Queued as outbox entry {entry.id} for {_local(send_at)}; 'sluice outbox send' or the open window "
                  "sends it when the time comes.")
            return EXIT_OK
        return _report(_sender_pass(outbox, config, profile, {entry.id}))


def _sender_pass(outbox, config, profile, entry_ids: set[int] | None):
    from desktop.compose.sending import OutboxSender
    from desktop.send.smtp import SmtpSender
    from desktop.store import Store

    with SmtpSender() as smtp:
        sender = OutboxSender(outbox, config, smtp, lambda: Store(profile.store_file))
        return sender.send_due(entry_ids=entry_ids)


def _report(outcomes) -> int:
    status = EXIT_OK
    for outcome in outcomes:
        if outcome.sent:
            print(f"Sent outbox entry {outcome.entry_id}: {outcome.text}")
            continue
        status = EXIT_FAILED
        print(f"Outbox entry {outcome.entry_id} was not sent and stays in the outbox: {outcome.text}", file=sys.stderr)
        print(f"Retry it with 'sluice outbox retry {outcome.entry_id}' or take it out with "
              f"'sluice outbox cancel {outcome.entry_id}'.", file=sys.stderr)
    return status


def _outbox(args: argparse.Namespace, profile) -> int:
    from desktop.compose.outbox import Outbox, outbox_path
    from desktop.config import load_config

    command = args.outbox_command or "list"
    with Outbox(outbox_path(profile.data_dir)) as outbox:
        if command == "list":
            return _list(outbox)
        if command == "cancel":
            if outbox.cancel(args.entry_id):
                print(f"Took outbox entry {args.entry_id} out; it will not be sent.")
                return EXIT_OK
            print(f"sluice outbox cancel: entry {args.entry_id} does not exist or is being sent or sent; "
                  "'sluice outbox list' shows the entries.", file=sys.stderr)
            return EXIT_FAILED
        config = load_config(profile.config_file)
        if command == "retry":
            outbox.retry(args.entry_id)
            return _report(_sender_pass(outbox, config, profile, {args.entry_id}))
        outcomes = _sender_pass(outbox, config, profile, None)
        if not outcomes:
            print("No message is due.")
        return _report(outcomes)


def _list(outbox) -> int:
    entries = outbox.entries()
    if not entries:
        print("The outbox is empty.")
        return EXIT_OK
    print(f"{'ID':>5}  {'STATE':<8} {'SEND AT':<16}  {'ACCOUNT':<12} {'TO':<30} SUBJECT")
    for entry in entries:
        recipients = ", ".join(entry.recipients)
        print(f"{entry.id:>5}  {entry.state:<8} {_local(entry.send_at):<16}  {entry.account:<12} "
              f"{recipients[:30]:<30} {entry.subject or '(no subject)'}")
        if entry.error:
            retry = f" Next try at {_local(entry.retry_at)}." if entry.retry_at else ""
            print(f"       {entry.error}{retry}")
    return EXIT_OK


def _local(moment: float) -> str:
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M")
