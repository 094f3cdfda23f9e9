"""The `sluice merge` command line: check, preview, suppress, send, status and resume."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMANDS = ("merge",)
TEMPLATE_HELP = "the message template: header lines, a blank line, then a Markdown (or .html) body"
DATA_HELP = "the recipients: a .csv file (any delimiter and encoding) or an .xlsx workbook"


def add_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    merge = commands.add_parser(
        "merge", parents=[common],
        help="check, preview and send a personalised batch from a template and recipient data (see docs/merge.md)",
    )
    actions = merge.add_subparsers(dest="merge_command", metavar="ACTION", required=True)

    check = actions.add_parser("check", parents=[common],
                               help="report every problem of a merge before anything is sent")
    check.add_argument("template", type=Path, metavar="TEMPLATE", help=TEMPLATE_HELP)
    check.add_argument("data", type=Path, metavar="DATA", help=DATA_HELP)

    preview = actions.add_parser("preview", parents=[common],
                                 help="show one rendered message, or write every message as .eml files")
    preview.add_argument("template", type=Path, metavar="TEMPLATE", help=TEMPLATE_HELP)
    preview.add_argument("data", type=Path, metavar="DATA", help=DATA_HELP)
    preview.add_argument("--row", type=int, metavar="N", help="the data row to show (1 is the first recipient)")
    preview.add_argument("--out", type=Path, metavar="DIR", help="write one .eml file per recipient into DIR")

    suppress = actions.add_parser("suppress", parents=[common],
                                  help="list, add or remove addresses that no merge sends to (unsubscribed, bounced)")
    suppress.add_argument("suppress_action", choices=("list", "add", "remove"), metavar="list|add|remove")
    suppress.add_argument("addresses", nargs="*", metavar="ADDRESS")
    suppress.add_argument("--file", type=Path, metavar="FILE", help="also take the addresses in FILE, one a line")
    suppress.add_argument("--reason", default="unsubscribed",
                          help="why the addresses are added, shown by list (default: unsubscribed)")

    send = actions.add_parser("send", parents=[common], help="send the merge through an account's SMTP server")
    send.add_argument("template", type=Path, metavar="TEMPLATE", help=TEMPLATE_HELP)
    send.add_argument("data", type=Path, metavar="DATA", help=DATA_HELP)
    send.add_argument("--account", required=True, metavar="NAME",
                      help="the account to send from (see 'sluice account list')")
    send.add_argument("--test-to", metavar="ADDRESS",
                      help="send the first messages to ADDRESS only, marked as tests")
    send.add_argument("--test-count", type=int, default=3, metavar="N",
                      help="with --test-to: how many of the first messages to send (default 3)")
    _add_send_options(send)
    again = send.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the earlier send of this template and data")
    again.add_argument("--new", action="store_true", help="send this template and data again as a new merge")
    send.add_argument("--retry-unknown", action="store_true",
                      help="with --resume: send the rows of unknown outcome again (they may arrive twice)")
    send.add_argument("--retry-failed", action="store_true",
                      help="with --resume: send the failed rows again, except addresses that do not exist")
    send.add_argument("--skip-errors", action="store_true",
                      help="send only the rows without errors when 'merge check' finds errors (default: send nothing)")

    status = actions.add_parser("status", parents=[common], help="list merges, or show one merge's recipients")
    status.add_argument("merge_id", nargs="?", metavar="MERGE-ID")

    resume = actions.add_parser("resume", parents=[common], help="continue an interrupted merge")
    resume.add_argument("merge_id", metavar="MERGE-ID")
    _add_send_options(resume, resume=True)
    resume.add_argument("--retry-unknown", action="store_true",
                        help="send the rows of unknown outcome again (they may arrive twice)")
    resume.add_argument("--retry-failed", action="store_true",
                        help="send the failed rows again, except those whose address does not exist (a hard bounce "
                        "that put it on the suppression list)")


def _add_send_options(parser: argparse.ArgumentParser, *, resume: bool = False) -> None:
    """Add the rate, connection and copy options; for ``resume`` their defaults are the values the merge recorded."""
    if resume:
        recorded = "default: as the merge recorded it"
        defaults = dict.fromkeys(("rate", "connections", "pause", "jitter", "copy"), recorded)
    else:
        defaults = {"rate": "default: no limit; with --resume, as the merge recorded it",
                    "connections": "default 4; with --resume, as the merge recorded it",
                    "pause": "default: no pauses; with --resume, as the merge recorded it",
                    "jitter": "default 0; with --resume, as the merge recorded it",
                    "copy": "default: keep copies as the account's sent_copy setting says; with --resume, as the "
                            "merge recorded it"}
    parser.add_argument("--rate", metavar="N/min",
                        help="at most N messages per minute (N/min), hour (N/h) or day (N/day), comma-separated, or "
                        f"a provider preset: gmail, google-workspace, office365, yahoo ({defaults['rate']})")
    parser.add_argument("--connections", type=int, metavar="N",
                        help=f"SMTP connections in parallel, each sending many messages ({defaults['connections']})")
    parser.add_argument("--pause", metavar="N:SECONDS",
                        help=f"pause SECONDS after every N messages ({defaults['pause']})")
    parser.add_argument("--jitter", type=float, metavar="FRACTION",
                        help="vary the spacing and pauses at random by up to this fraction, e.g. 0.3 "
                        f"({defaults['jitter']})")
    parser.add_argument("--no-sent-copy", action="store_true",
                        help=f"keep no copy of the sent messages in the account's Sent folder ({defaults['copy']})")


def run(args: argparse.Namespace, profile) -> int:
    if args.merge_command in ("check", "preview", "suppress"):
        from desktop.merge import prepare_cli

        return prepare_cli.run(args, profile)
    from desktop.merge import send_cli

    return send_cli.run(args, profile)
