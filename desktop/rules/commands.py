"""The commands ``sluice rules apply``, ``sluice rules explain`` and ``sluice undo``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.config import load_config
from desktop.paths import Profile
from desktop.text import pluralize

if TYPE_CHECKING:
    from desktop.index import SearchIndex
    from desktop.rules.engine import Plan
    from desktop.rules.model import Rule, RuleSet
    from desktop.store import MessageRow, Store

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Recorded as the outcome of each auto-reply that ``rules apply`` leaves out, and shown by ``rules explain``.
REPLIES_OFF_REASON = "'rules apply' sends no auto-replies to existing mail without --send-auto-replies"

# Seconds to wait for the server when a run sends its changes; an unreachable server leaves them queued.
SEND_TIMEOUT = 15.0


def apply_command(args: argparse.Namespace, profile: Profile) -> int:
    """Run the rules on mail in the store, or with ``--dry-run`` only print what they would do."""
    from desktop.index import QueryError
    from desktop.rules.engine import apply_plan, plan_rules
    from desktop.rules.loader import folder_key
    from desktop.store import Store

    config = load_config(profile.config_file)
    if args.account:
        config.account(args.account)
    ruleset = _load(args.rules, profile)
    if ruleset is None:
        return EXIT_FAILED
    if not ruleset.rules:
        return EXIT_OK
    if not profile.store_file.exists():
        print("sluice: No mail in the store yet. Run 'sluice sync' first.", file=sys.stderr)
        return EXIT_FAILED
    with Store(profile.store_file) as store, ExitStack() as stack:
        folders = store.folders(args.account, with_counts=False)
        if args.folder and not any(folder_key(row.name) == folder_key(args.folder) for row in folders):
            where = f"account '{args.account}'" if args.account else "any account"
            print(f"sluice: Folder '{args.folder}' not found in {where}. Check the name with 'sluice folders'.", file=sys.stderr)
            return EXIT_FAILED
        index = stack.enter_context(_open_index(store, profile))
        try:
            plan = plan_rules(store, ruleset, account=args.account, folder=args.folder, query=args.query, index=index)
        except QueryError as error:
            print(f"sluice: --query: {error}", file=sys.stderr)
            return EXIT_USAGE
        _print_plan(plan, ruleset)
        _print_reply_plan(plan, args)
        if not args.folder:
            for warning in _missing_scope_folders(ruleset, [(row.account, row.name) for row in folders]):
                print(f"sluice: {warning}", file=sys.stderr)
        for problem in plan.problems:
            print(f"sluice: {problem}", file=sys.stderr)
        if args.dry_run:
            print("Dry run: nothing was changed. Run the same command without --dry-run to apply.")
            return EXIT_FAILED if plan.problems else EXIT_OK
        if plan.problems:
            print(f"sluice: Nothing was applied, because of the {pluralize(len(plan.problems), 'problem')} above. "
                  "Fix them and run the command again.", file=sys.stderr)
            return EXIT_FAILED
        replier = _auto_replier(store, config, plan, stack) if args.send_auto_replies else None
        result = apply_plan(store, plan, description=_description(args), trigger="apply", auto_reply=replier,
                            replies_off_reason=REPLIES_OFF_REASON)
        sending = _send_changes(store, config, args.no_send, only=args.account) if result.bulk_id is not None else []
        _update_index(store, index)
    for line in result.skipped:
        print(f"Skipped: {line}")
    for line in result.replies:
        print(f"Auto-reply: {line}")
    if result.replies_off:
        print(f"Skipped {pluralize(result.replies_off, 'auto-reply', 'auto-replies')}: "
              "'rules apply' sends none to existing mail. "
              "Add --send-auto-replies to send them.")
    if result.bulk_id is None:
        print("Nothing changed.")
        return EXIT_OK
    print(f"Changed {pluralize(result.changed, 'message')}: {_counts_text(result.counts)} (bulk action {result.bulk_id}).")
    _print_sending(sending)
    print("Undo with: sluice undo")
    return EXIT_OK


def explain_command(args: argparse.Namespace, profile: Profile) -> int:
    """Print which rules matched a message in recorded runs, and what the current rules would do now."""
    from desktop.rules.engine import describe_action
    from desktop.rules.match import Matcher
    from desktop.store import Store
    from desktop.store.rules import normalize_message_id

    if not profile.store_file.exists():
        print("sluice: No mail in the store yet. Run 'sluice sync' first.", file=sys.stderr)
        return EXIT_FAILED
    with Store(profile.store_file) as store:
        rows = _find_message(store, args.message)
        if not rows:
            print(f"sluice: No message {args.message!r} in the store. Give its Message-ID header or its number "
                  "from 'sluice search'.", file=sys.stderr)
            return EXIT_FAILED
        header = rows[0].message_id
        hits = store.rule_hits_for(header) if header else store.rule_hits_of_message(rows[0].id)
        print(f"Message-ID: <{normalize_message_id(header)}>" if header else "Message-ID: (none)")
        for row in rows:
            print(f"  {_row_line(row)}  [{row.account}/{row.folder}, number {row.id}]")
        print()
        print("Recorded rule runs:")
        if not hits:
            print("  No rule has acted on this message in a recorded run.")
        for hit in hits:
            run = f"run {hit.bulk_id}" if hit.bulk_id is not None else "no change"
            if hit.bulk_id is not None and _undone(store, hit.bulk_id):
                run += ", undone"
            print(f"  {hit.created:%Y-%m-%d %H:%M:%S} UTC  rule '{hit.rule}' ({run})")
            print(f"    decided by: {hit.decided_by}")
            print(f"    did: {', '.join(hit.actions) or 'nothing'}")
        ruleset = _load(args.rules, profile)
        if ruleset is None:
            return EXIT_FAILED
        print()
        print("What the current rules would do now:")
        index = _open_index_quietly(profile)
        try:
            matcher = Matcher(store, index=index)
            matcher.prepare(ruleset.rules, rows)
            for row in rows:
                if len(rows) > 1:
                    print(f"  In {row.account}/{row.folder}:")
                _explain_row(matcher, ruleset, row, describe_action)
        finally:
            if index is not None:
                index.close()
    return EXIT_OK


def undo_command(args: argparse.Namespace, profile: Profile) -> int:
    """Undo the newest bulk action, or with ``--list`` print the recent ones."""
    from desktop.store import Store

    if not profile.store_file.exists():
        print("Nothing to undo.")
        return EXIT_OK
    with Store(profile.store_file) as store:
        if args.list:
            return _print_history(store)
        result = store.undo_last()
        if result is None:
            print("Nothing to undo.")
            return EXIT_OK
        sending = _send_changes(store, load_config(profile.config_file), args.no_send)
        _catch_up_index(store, profile)
    record = result.bulk
    print(f"Undid bulk action {record.id} ({record.description}, {record.created:%Y-%m-%d %H:%M} UTC).")
    print(f"Restored {pluralize(result.restored, 'message')}: {result.moved_back} moved back, "
          f"{result.flags_restored} with their flags set back; removed {pluralize(result.copies_removed, 'copy', 'copies')}.")
    if result.skipped:
        print(f"Left {len(result.skipped)} alone:")
        for line in result.skipped:
            print(f"  {line}")
    _print_sending(sending)
    print("An undo cannot itself be undone.")
    return EXIT_OK


# --- sending the changes to the server ------------------------------------------


@dataclass
class Sending:
    """The outcome of sending one account's journaled server changes after a run."""

    account: str
    pending: int
    sent: bool = False
    reason: str = ""  # why they could not be sent, empty with --no-send
    rejected: list[str] = field(default_factory=list)  # errors of the changes the server rejected


def _send_changes(store: Store, config, no_send: bool, *, only: str | None = None) -> list[Sending]:
    """Send each IMAP account's pending journal to its server now, unless ``no_send``, and return the outcome per account.

    Only the journal is sent (connect, replay, log out), without a folder sync.
    When the server cannot be reached the actions stay pending, and the next
    ``sluice sync`` sends them, so nothing is lost. With ``only``, just that account's journal is sent.
    """
    from imapclient.exceptions import IMAPClientError

    from desktop.sync.actions import replay_account
    from desktop.sync.connection import classify_error, connect
    from desktop.sync.errors import SyncError
    from desktop.sync.service import logout

    outcomes: list[Sending] = []
    for row in store.accounts():
        if only is not None and row.name != only:
            continue
        pending = [action[0] for action in store.pending_actions(row.id)]
        account = config.accounts.get(row.name)
        if not pending or row.kind != "imap" or (account is not None and account.kind != "imap"):
            continue
        outcome = Sending(row.name, len(pending))
        outcomes.append(outcome)
        if no_send:
            continue
        if account is None:
            outcome.reason = f"account '{row.name}' is not in the configuration; add it with 'sluice account add'"
            continue
        started = time.monotonic()
        try:
            client = connect(account, timeout=SEND_TIMEOUT)
        except SyncError as error:
            log.warning("Not sending %d change(s) of account %s now: %s", len(pending), row.name, error)
            outcome.reason = str(error)
            continue
        try:
            replay_account(client, store, row.id)
        except (OSError, IMAPClientError) as error:
            failure = classify_error(account, error, after="What was not sent stays queued.")
            log.warning("Sending the changes of account %s stopped: %s", row.name, failure)
            outcome.reason = str(failure)
            continue
        finally:
            logout(client, account)
        outcome.sent = True
        outcome.rejected = store.action_errors(pending)
        log.info("Sent %d change(s) of account %s in %.2f s", len(pending), row.name, time.monotonic() - started)
    return outcomes


def _print_sending(outcomes: list[Sending]) -> None:
    for outcome in outcomes:
        if outcome.sent:
            print(f"Sent the changes to the server of account '{outcome.account}'.")
            for error in outcome.rejected:
                print(f"sluice: account '{outcome.account}': the server rejected a change: {error}", file=sys.stderr)
            continue
        if outcome.reason:
            print(f"sluice: Could not send the changes of account '{outcome.account}' now: {outcome.reason}",
                  file=sys.stderr)
        print(f"The changes of account '{outcome.account}' are queued; they go to the server at the next 'sluice sync'.")


# --- helpers -------------------------------------------------------------------


def _missing_scope_folders(ruleset: RuleSet, folders: list[tuple[str, str]]) -> list[str]:
    """Return a warning for each scope folder missing from an account in the rule's scope (the rule checks no mail there)."""
    from desktop.rules.loader import folder_key, known_folders

    known = known_folders(folders)
    warnings = []
    for rule in ruleset.rules:
        for account in rule.scope.accounts or tuple(known):
            for folder in rule.scope.folders:
                if account in known and folder_key(folder) not in known[account]:
                    warnings.append(f"rule '{rule.name}': account '{account}' has no folder '{folder}', so the rule "
                                    "looked at no mail there. Fix the scope, or check the name with 'sluice folders'.")
    return warnings


def _load(path: Path | None, profile: Profile) -> RuleSet | None:
    """Load the rules; print every problem and return None when there are any."""
    from desktop.rules.loader import collect_rules

    paths = [path] if path is not None else [profile.rules_dir]
    if not paths[0].exists():
        print(f"sluice: Rule file or folder {paths[0]} not found. Give an existing file or folder.", file=sys.stderr)
        return None
    ruleset, problems = collect_rules(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"sluice: {pluralize(len(problems), 'problem')} in the rule files, so no rule was run. "
              "Fix them ('sluice rules check' lists them) and run the command again.", file=sys.stderr)
        return None
    if not ruleset.rules:
        print(f"No rules in {paths[0]}, so there is nothing to run. Put rule files (*.toml) in "
              f"{profile.rules_dir} or give one with --rules PATH; docs/rules.md describes the format.")
    return ruleset


def _undone(store: Store, bulk_id: int) -> bool:
    record = store.bulk_record(bulk_id)
    return record is not None and record.undone is not None


class _open_index:
    """Open the search index caught up with the store, as a context manager."""

    def __init__(self, store: Store, profile: Profile) -> None:
        self.store, self.profile = store, profile
        self.index: SearchIndex | None = None

    def __enter__(self) -> SearchIndex:
        from desktop.index import SearchIndex

        self.index = SearchIndex(self.profile.index_dir)
        _update_index(self.store, self.index)
        return self.index

    def __exit__(self, *exc_info: object) -> None:
        if self.index is not None:
            self.index.close()


def _update_index(store: Store, index: SearchIndex) -> None:
    """Apply the store's queued changes to the index, so searches see them."""
    from desktop.index.builder import update_index

    if store.index_backlog():
        for _step in update_index(store, index):
            pass


def _open_index_quietly(profile: Profile) -> SearchIndex | None:
    from desktop.index import SearchIndex

    try:
        return SearchIndex(profile.index_dir)
    except Exception as error:  # explain still works from the store alone
        log.warning("Cannot open the index %s for explain: %s", profile.index_dir, error)
        return None


def _catch_up_index(store: Store, profile: Profile) -> None:
    from desktop.index.builder import catch_up

    catch_up(store, profile.index_dir)


def _auto_replier(store: Store, config, plan: Plan, stack: ExitStack):
    """Return the auto-reply sender when the plan has auto-replies and replies can be sent, else None."""
    if not any(effect.replies for effect in plan.effects.values()):
        return None
    try:
        from desktop.rules.autoreply import AutoReplier
        from desktop.send.smtp import SmtpSender
    except ImportError:
        log.warning("Auto-replies are not available in this build; none is sent")
        return None
    sender = stack.enter_context(SmtpSender())
    return stack.enter_context(AutoReplier(store, config, sender))


def _description(args: argparse.Namespace) -> str:
    parts = ["rules apply"]
    for option in ("account", "folder", "query"):
        value = getattr(args, option)
        if value:
            parts.append(f"--{option} {value!r}")
    if args.rules:
        parts.append(f"--rules {args.rules.name}")
    return " ".join(parts)


def _counts_text(counts: dict[str, int]) -> str:
    names = {"flags": "flags changed", "moved": "moved", "archived": "archived", "deleted": "deleted (to Trash)",
             "copied": "copied", "priority": "priority set", "lane": "lane set", "replies": "auto-replies sent"}
    return ", ".join(f"{names.get(key, key)} {value}" for key, value in counts.items()) or "nothing"


def _row_line(row: MessageRow) -> str:
    from desktop.cli import _clip

    date = row.date.strftime("%Y-%m-%d %H:%M") if row.date else "(no date)       "
    return f"{date}  {_clip(row.sender, 28)}  {_clip(row.subject, 60).rstrip()}"


def _print_plan(plan: Plan, ruleset: RuleSet) -> None:
    from desktop.rules.engine import describe_action

    for report in plan.reports:
        rule = report.rule
        actions = [describe_action(action) for action in rule.actions] + (["stop"] if rule.stop else [])
        print(f"Rule '{rule.name}': {pluralize(report.count, 'message')}")
        print(f"  actions: {', '.join(actions)}")
        for row in report.sample:
            print(f"    {_row_line(row)}")
        if report.count > len(report.sample):
            print(f"    ... and {report.count - len(report.sample)} more")
    skipped = sum(len(effect.skipped) for effect in plan.effects.values())
    blocked = sum(1 for effect in plan.effects.values() if effect.blocked)
    total = (f"Total: {plan.matched} of {pluralize(plan.examined, 'message')} matched by "
             f"{pluralize(len(ruleset.rules), 'rule')}")
    if skipped:
        total += f"; {pluralize(skipped, 'action')} skipped where an earlier rule moved the message or set its lane"
    if blocked:
        total += f"; {pluralize(blocked, 'message')} left unchanged by a rule whose target folder is missing (see below)"
    print(total + ".")
    if plan.waiting_for_body:
        print(f"Left out {pluralize(len(plan.waiting_for_body), 'message')}: a rule needs the body, which is not "
              "downloaded yet. Run 'sluice sync' to fetch the bodies, then run the rules again.")


def _print_reply_plan(plan: Plan, args: argparse.Namespace) -> None:
    """Print how many auto-replies the run would try to send, or leaves out without --send-auto-replies."""
    if not plan.replies:
        return
    if args.send_auto_replies:
        print(f"Auto-replies: up to {plan.replies} would be sent. Mail from lists and automatic senders, and "
              "senders already answered within the rule's 'days', get none.")
    else:
        print(f"Auto-replies: {plan.replies} left out; 'rules apply' sends none to existing mail. "
              "Add --send-auto-replies to send them.")


def _print_history(store: Store) -> int:
    records = store.bulk_history()
    if not records:
        print("No bulk actions yet.")
        return EXIT_OK
    print(f"{'ID':>5}  {'WHEN (UTC)':<16}  {'MESSAGES':>8}  WHAT")
    undoable = next((record.id for record in records if record.undone is None), None)
    for record in records:
        if record.undone is not None:
            state = f"undone {record.undone:%Y-%m-%d %H:%M}"
        else:
            state = "next to undo" if record.id == undoable else "can be undone after the newer ones"
        print(f"{record.id:>5}  {record.created:%Y-%m-%d %H:%M}  {record.messages:>8}  {record.description}: "
              f"{_counts_text(record.counts)} ({state})")
    return EXIT_OK


def _find_message(store: Store, text: str) -> list[MessageRow]:
    text = text.strip()
    if text.isdigit():
        row = store.message(int(text))
        if row is not None:
            return [row]
    return store.messages(store.message_ids_by_header(text))


def _explain_row(matcher, ruleset: RuleSet, row: MessageRow, describe_action) -> None:
    from desktop.rules.engine import rule_sees

    looked = False
    stopped_by: Rule | None = None
    for rule in ruleset.rules:
        if not rule_sees(rule, row):
            continue
        looked = True
        if stopped_by is not None:
            print(f"  rule '{rule.name}': not reached, because rule '{stopped_by.name}' stops the run")
            continue
        verdict = matcher.check(rule, row)
        if verdict.needs_body:
            print(f"  rule '{rule.name}': cannot tell without the body, which is not downloaded yet ({verdict.decided_by})")
            return
        if verdict.matched:
            actions = ", ".join(describe_action(action) for action in rule.actions)
            print(f"  rule '{rule.name}': matches ({verdict.decided_by}); would {actions}")
            if rule.stop:
                stopped_by = rule
        else:
            print(f"  rule '{rule.name}': does not match ({verdict.decided_by})")
    if not looked:
        print(f"  No rule looks at {row.account}/{row.folder}: each rule's scope names other accounts or folders.")
