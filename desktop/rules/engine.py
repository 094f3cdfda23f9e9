"""Running rules: plan what they do to which messages, then apply the plan as one undoable bulk action.

``plan_rules`` reads the store and changes nothing, so a dry run, the
window's preview and a real run share it. ``apply_plan`` makes the changes
locally at once, in one transaction, and journals them for the server, where
the next sync sends them in batches (``desktop.sync.actions``).

How the actions of several rules combine on one message (docs/rules.md,
"How a run combines actions"):

- Rules see each message as it was before the run, and run in order. A rule
  with ``stop`` ends the run for each message it matched.
- Flags, marks and labels merge; when two actions set and clear the same
  flag, the later one wins.
- Priority points of all matching rules add up, and the sum becomes the
  message's score, so running the same rules again gives the same score.
- The first lane wins; later lanes are reported as skipped.
- The first move, delete or archive wins; later ones are reported as skipped.
- Copies are made in addition, before the move.
- A rule whose target folder is missing (or whose account has no Archive or
  Trash folder) does nothing to the message. The plan lists the problem for
  each account the rule looks at, also when the rule matched no message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from desktop.rules.loader import folder_key
from desktop.rules.model import (
    Action,
    Archive,
    AutoReply,
    Copy,
    Delete,
    Flag,
    Label,
    Lane,
    Mark,
    Move,
    Priority,
    Rule,
    RuleSet,
)
from desktop.store.flags import FLAGGED, SEEN

if TYPE_CHECKING:
    from desktop.index import SearchIndex
    from desktop.rules.match import Verdict
    from desktop.store import FolderRow, MessageRow, Store

log = logging.getLogger(__name__)

SAMPLE_SIZE = 5

AutoReplyCallable = Callable[[Rule, AutoReply, "MessageRow"], str]


@dataclass
class RuleReport:
    """One rule's part of a plan: the count of messages it matched, a few of them, and its auto-reply candidates.

    ``replies`` counts the matched messages the rule's ``auto_reply`` would
    reply to. The reply's own checks (lists, automatic senders, the rate limit)
    run only when it is sent, so fewer replies may go out.
    """

    rule: Rule
    count: int = 0
    sample: list[MessageRow] = field(default_factory=list)
    replies: int = 0


@dataclass
class Effect:
    """The change a run makes to one message, with the actions of every matching rule combined.

    Attributes:
        add: Flags and keywords to add.
        remove: Flags and keywords to remove.
        destination: ("move" | "archive" | "delete", folder id, rule name), or None.
        copies: (folder id, rule name) per copy.
        priority: The new priority score (the sum of the points), or None to keep it.
        lane: The new lane, or None to keep it.
        replies: Auto-replies to send, with their rules.
        done: Per rule name, the actions as done, for ``rules explain``.
        skipped: One line per action that was not done because another rule
            moved the message or set its lane first, with the reason.
        blocked: Rules that did nothing to the message because a target
            folder is missing; the plan's problems name the folder.
    """

    add: set[str] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)
    destination: tuple[str, int, str] | None = None
    copies: list[tuple[int, str]] = field(default_factory=list)
    priority: int | None = None
    lane: str | None = None
    replies: list[tuple[Rule, AutoReply]] = field(default_factory=list)
    done: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The outcome of ``plan_rules``: matches, combined effects and problems, with nothing changed yet.

    Attributes:
        reports: One per rule, in rule order, also for rules that matched nothing.
        steps: Message id to the rules that matched it, in order, with their verdicts and actions.
        waiting_for_body: Messages whose rules need a body that is not downloaded yet;
            they have no steps and no effect in this plan.
        problems: Plain-English problems, e.g. a missing target folder, each with its fix.
        rows: The messages of ``steps`` as they were when planned.
        effects: Message id to the combined effect of its steps.
    """

    reports: list[RuleReport] = field(default_factory=list)
    steps: dict[int, list[tuple[Rule, Verdict, tuple[Action, ...]]]] = field(default_factory=dict)
    waiting_for_body: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows: dict[int, MessageRow] = field(default_factory=dict)
    effects: dict[int, Effect] = field(default_factory=dict)
    examined: int = 0

    @property
    def matched(self) -> int:
        """The number of messages that at least one rule matched."""
        return len(self.steps)

    @property
    def replies(self) -> int:
        """The number of auto-replies the plan's rules would try to send, one per rule and message."""
        return sum(len(effect.replies) for effect in self.effects.values())


@dataclass
class ApplyResult:
    """The outcome of ``apply_plan``.

    Attributes:
        bulk_id: The bulk action to undo, or None when nothing changed.
        counts: Messages per kind of change: "flags", "moved", "archived",
            "deleted", "copied", "priority", "lane", "replies".
        changed: Messages that changed in any way.
        skipped: Actions not done, with the reason.
        replies: The outcome of each auto-reply that was tried.
        replies_off: Auto-replies not tried, because the run sends none.
    """

    bulk_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    skipped: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    replies_off: int = 0


def describe_action(action: Action) -> str:
    """Return an action in a few words, e.g. "move to Receipts"."""
    if isinstance(action, Move):
        return f"move to {action.folder}"
    if isinstance(action, Copy):
        return f"copy to {action.folder}"
    if isinstance(action, Flag):
        return "flag" if action.value else "unflag"
    if isinstance(action, Mark):
        return "mark read" if action.read else "mark unread"
    if isinstance(action, Label):
        return f"{'label' if action.add else 'unlabel'} {action.keyword}"
    if isinstance(action, Delete):
        return "delete (to Trash)"
    if isinstance(action, Archive):
        return "archive"
    if isinstance(action, Priority):
        return f"priority {action.points:+d}"
    if isinstance(action, Lane):
        return f"lane {action.name}"
    if isinstance(action, AutoReply):
        return "auto-reply"
    return type(action).__name__.lower()


# --- planning -----------------------------------------------------------------


def plan_rules(
    store: Store,
    ruleset: RuleSet,
    *,
    account: str | None = None,
    folder: str | None = None,
    query: str | None = None,
    message_ids: Sequence[int] | None = None,
    index: SearchIndex | None = None,
    now: datetime | None = None,
) -> Plan:
    """Match the rules against the messages and combine their actions, without changing anything.

    Args:
        store: The store to read.
        ruleset: The rules, in the order they run.
        account: Only messages of this account.
        folder: Only messages of this folder, instead of each rule's scope folders.
        query: Only messages matching this search (needs ``index``).
        message_ids: Only these messages (the sync passes the new ones), which
            may be marked ``rules_pending``.
        index: The search index, for ``query`` and for the matcher's body tests.
        now: The moment ages count from; the current time when None.

    Raises:
        ValueError: ``query`` without ``index``.
        desktop.index.QueryError: ``query`` is not valid.
    """
    from desktop.rules.match import Matcher

    started = time.perf_counter()
    plan = Plan(reports=[RuleReport(rule) for rule in ruleset.rules])
    folders = store.folders(account, with_counts=False)
    rule_folders = {rule.name: _scope_folders(rule, folders, folder) for rule in ruleset.rules}
    wanted = set().union(*rule_folders.values()) if rule_folders else set()
    rows = _candidate_rows(store, wanted, account=account, query=query, message_ids=message_ids, index=index, now=now)
    plan.examined = len(rows)
    resolver = _Resolver(folders, plan)
    resolver.check_targets(ruleset.rules, rule_folders)
    if not rows:
        return plan
    matcher = Matcher(store, index=index, now=now)
    matcher.prepare(ruleset.rules, rows)
    reports = {report.rule.name: report for report in plan.reports}
    for row in rows:
        steps = _match_row(matcher, ruleset.rules, rule_folders, row)
        if steps is None:
            plan.waiting_for_body.append(row.id)
            continue
        if not steps:
            continue
        plan.steps[row.id] = steps
        plan.rows[row.id] = row
        for rule, _verdict, _actions in steps:
            report = reports[rule.name]
            report.count += 1
            if len(report.sample) < SAMPLE_SIZE:
                report.sample.append(row)
    resolver.resolve_all()
    log.info("Planned %d rule(s) over %d message(s): %d matched, %d wait for a body, %d problem(s), in %.3f s",
             len(ruleset.rules), len(rows), len(plan.steps), len(plan.waiting_for_body), len(plan.problems),
             time.perf_counter() - started)
    return plan


def rule_sees(rule: Rule, row: MessageRow) -> bool:
    """Return whether the message is in the rule's scope (its accounts and folders); INBOX matches in any case."""
    names = {folder_key(name) for name in rule.scope.folders}
    return folder_key(row.folder) in names and (not rule.scope.accounts or row.account in rule.scope.accounts)


def _scope_folders(rule: Rule, folders: Sequence[FolderRow], folder: str | None) -> set[int]:
    names = {folder_key(name) for name in ((folder,) if folder is not None else rule.scope.folders)}
    return {
        row.id for row in folders
        if row.selectable and folder_key(row.name) in names
        and (not rule.scope.accounts or row.account in rule.scope.accounts)
    }


def _candidate_rows(store: Store, folder_ids: set[int], *, account: str | None, query: str | None,
                    message_ids: Sequence[int] | None, index: SearchIndex | None, now: datetime | None) -> list[MessageRow]:
    if not folder_ids:
        return []
    if message_ids is not None:
        rows = [row for row in store.messages(list(message_ids)) if row.folder_id in folder_ids]
    else:
        rows = store.messages(store.rule_candidate_ids(sorted(folder_ids)))
    if query is not None and query.strip():
        if index is None:
            raise ValueError(f"The query {query!r} needs the search index; open the profile's index and pass it.")
        found = set(index.search(query, limit=None, accounts=[account] if account else None, now=now))
        rows = [row for row in rows if row.id in found]
    return rows


def _match_row(matcher, rules: Sequence[Rule], rule_folders: dict[str, set[int]],
               row: MessageRow) -> list[tuple[Rule, Verdict, tuple[Action, ...]]] | None:
    """Return the matching rules of one message in order, or None when a rule needs its body first."""
    steps = []
    for rule in rules:
        if row.folder_id not in rule_folders[rule.name]:
            continue
        verdict = matcher.check(rule, row)
        if verdict.needs_body:
            # Later rules depend on this one (stop), so the message waits as a whole.
            return None
        if verdict.matched:
            steps.append((rule, verdict, rule.actions))
            if rule.stop:
                break
    return steps


class _Resolver:
    """Combine each message's steps into an ``Effect``, finding target folders by name and role."""

    def __init__(self, folders: Sequence[FolderRow], plan: Plan) -> None:
        self.plan = plan
        self.by_name = {(row.account, folder_key(row.name)): row for row in folders if row.selectable}
        self.account_of = {row.id: row.account for row in folders}
        self.by_role: dict[tuple[str, str], FolderRow] = {}
        for row in sorted(folders, key=lambda row: row.id):
            if row.special_use and row.selectable:
                self.by_role.setdefault((row.account, row.special_use), row)
        self.reported: set[str] = set()
        self.cache: dict[tuple[str, str], list[tuple] | None] = {}

    def problem(self, text: str) -> None:
        if text not in self.reported:
            self.reported.add(text)
            self.plan.problems.append(text)

    def resolve_all(self) -> None:
        reports = {report.rule.name: report for report in self.plan.reports}
        for message, steps in self.plan.steps.items():
            effect = self.resolve(self.plan.rows[message], steps)
            self.plan.effects[message] = effect
            for rule, _action in effect.replies:
                reports[rule.name].replies += 1

    def check_targets(self, rules: Sequence[Rule], rule_folders: dict[str, set[int]]) -> None:
        """Report missing target folders of every rule in each account it looks at, matched or not."""
        for rule in rules:
            for account in sorted({self.account_of[folder_id] for folder_id in rule_folders[rule.name]}):
                self.operations(rule, account)

    def target(self, rule: Rule, account: str, action: Action) -> FolderRow | None:
        """Return the folder an action sends a message of ``account`` to, or None after reporting the problem."""
        if isinstance(action, (Move, Copy)):
            found = self.by_name.get((account, folder_key(action.folder)))
            if found is None:
                verb = "move" if isinstance(action, Move) else "copy"
                self.problem(f"rule '{rule.name}': folder '{action.folder}' not found in account '{account}', so "
                             f"the rule does not {verb} messages there. Create it with 'sluice folder create "
                             f"{action.folder} --account {account}' or fix the folder name in the rule.")
            return found
        role, word = ("\\Archive", "Archive") if isinstance(action, Archive) else ("\\Trash", "Trash")
        found = self.by_role.get((account, role))
        if found is None:
            verb = "archive" if isinstance(action, Archive) else "delete"
            self.problem(f"rule '{rule.name}': account '{account}' has no {word} folder (none is marked {role} "
                         f"and none is named {word}), so the rule does not {verb} messages. Create one with 'sluice "
                         f"folder create {word} --account {account}' and run 'sluice sync', or use "
                         f"{{ move = \"FOLDER\" }} instead.")
        return found

    def operations(self, rule: Rule, account: str) -> list[tuple] | None:
        """Return the rule's actions for messages of ``account`` as (kind, value, text), or None when a target is missing.

        The result is cached per rule and account, because a plan resolves the
        same few combinations for thousands of messages.
        """
        key = (rule.name, account)
        if key in self.cache:
            return self.cache[key]
        operations: list[tuple] | None = []
        for action in rule.actions:
            text = describe_action(action)
            if isinstance(action, (Move, Copy, Archive, Delete)):
                folder = self.target(rule, account, action)
                if folder is None:
                    operations = None
                    break
                kind = "copy" if isinstance(action, Copy) else "destination"
                value = folder.id if kind == "copy" else (_destination_kind(action), folder.id)
                operations.append((kind, value, text))
            elif isinstance(action, (Flag, Mark, Label)):
                operations.append(("flag", _flag_change(action), text))
            elif isinstance(action, Priority):
                operations.append(("points", action.points, text))
            elif isinstance(action, Lane):
                operations.append(("lane", action.name, text))
            elif isinstance(action, AutoReply):
                operations.append(("reply", action, text))
        self.cache[key] = operations
        return operations

    def resolve(self, row: MessageRow, steps: Iterable[tuple[Rule, Verdict, tuple[Action, ...]]]) -> Effect:
        effect = Effect()
        points: int | None = None
        destination_rule = ""
        for rule, _verdict, _actions in steps:
            done = effect.done.setdefault(rule.name, [])
            operations = self.operations(rule, row.account)
            if operations is None:
                effect.blocked.append(rule.name)
                done.append("nothing done: a target folder is missing")
                continue
            for kind, value, text in operations:
                if kind == "flag":
                    flag, add = value
                    (effect.add if add else effect.remove).add(flag)
                    (effect.remove if add else effect.add).discard(flag)
                elif kind == "destination":
                    if effect.destination is not None:
                        effect.skipped.append(f"rule '{rule.name}': {text} skipped, because rule '{destination_rule}' "
                                              "moves the message already")
                        done.append(f"{text} (skipped: rule '{destination_rule}' moves it first)")
                        continue
                    effect.destination = (value[0], value[1], rule.name)
                    destination_rule = rule.name
                elif kind == "copy":
                    effect.copies.append((value, rule.name))
                elif kind == "points":
                    points = (points or 0) + value
                elif kind == "lane":
                    if effect.lane is not None and effect.lane != value:
                        effect.skipped.append(f"rule '{rule.name}': {text} skipped, because an earlier rule set lane "
                                              f"{effect.lane}")
                        done.append(f"{text} (skipped: lane {effect.lane} set first)")
                        continue
                    effect.lane = value
                elif kind == "reply":
                    effect.replies.append((rule, value))
                done.append(text)
        effect.priority = points
        if effect.destination is not None and effect.destination[1] == row.folder_id:
            effect.destination = None  # it is there already
        if effect.copies:
            final = effect.destination[1] if effect.destination else row.folder_id
            effect.copies = _unique_copies(effect.copies, row.folder_id, final)
        return effect


def _destination_kind(action: Move | Archive | Delete) -> str:
    if isinstance(action, Move):
        return "move"
    if isinstance(action, Archive):
        return "archive"
    return "delete"


def _flag_change(action: Flag | Mark | Label) -> tuple[str, bool]:
    if isinstance(action, Flag):
        return FLAGGED, action.value
    if isinstance(action, Mark):
        return SEEN, action.read
    return action.keyword, action.add


def _unique_copies(copies: list[tuple[int, str]], source: int, final: int) -> list[tuple[int, str]]:
    """Drop copies into the folder the message is in or ends up in, and second copies into one folder."""
    seen = {source, final}
    result = []
    for folder_id, rule in copies:
        if folder_id not in seen:
            seen.add(folder_id)
            result.append((folder_id, rule))
    return result


# --- applying -----------------------------------------------------------------


def apply_plan(store: Store, plan: Plan, *, description: str, trigger: str = "apply",
               auto_reply: AutoReplyCallable | None = None,
               replies_off_reason: str = "auto-replies are off for this run") -> ApplyResult:
    """Make the plan's changes as one bulk action that ``store.undo_last()`` reverses.

    All changes happen in one store transaction. First the state of every
    message about to change is recorded. Then flags change (one
    ``change_flags`` per distinct set of changes), priority and lane are set,
    copies are made, and messages move (one ``move_messages`` per target
    folder, and delete moves to Trash). Last, the rule hits are recorded. The
    journal sends the server's part at the next sync.

    Auto-replies go out after the transaction through ``auto_reply``, so the
    store is not locked while an SMTP server responds. Without ``auto_reply``
    none is sent, and each rule hit records "not sent: " and
    ``replies_off_reason``. A message deleted since the plan was made is
    skipped.
    """
    started = time.perf_counter()
    result = ApplyResult()
    current = {row.id: row for row in store.messages(list(plan.steps))}
    for message in plan.steps:
        if message not in current:
            result.skipped.append(f"message {message}: deleted since the rules were planned")
    effects = {message: plan.effects[message] for message in plan.steps if message in current}
    touched = [current[message] for message, effect in effects.items() if _changes(effect, current[message])]
    hit_ids: dict[tuple[int, str], int] = {}
    with store.transaction():
        if touched:
            result.bulk_id = store.begin_bulk(f"rules-{trigger}", description, touched)
            created = _apply_changes(store, effects, current, result)
            store.finish_bulk(result.bulk_id, result.counts, created)
        hits = []
        for message, steps in plan.steps.items():
            if message not in current:
                continue
            effect = effects[message]
            for rule, verdict, _actions in steps:
                hits.append((result.bulk_id, message, current[message].message_id, rule.name, verdict.decided_by,
                             [text for text in effect.done.get(rule.name, []) if text != "auto-reply"]))
        ids = store.record_rule_hits(hits)
        hit_ids = {(hit[1], hit[3]): hit_id for hit, hit_id in zip(hits, ids)}
    for message, effect in effects.items():
        result.skipped.extend(f"message {message}: rule '{rule}' did nothing, because a target folder is missing"
                              for rule in effect.blocked)
        result.skipped.extend(effect.skipped)
    _send_replies(store, effects, current, hit_ids, auto_reply, replies_off_reason, result)
    result.changed = len(touched)
    log.info("Applied rules (%s): %d message(s) changed, bulk action %s, %s, in %.3f s",
             trigger, result.changed, result.bulk_id, result.counts, time.perf_counter() - started)
    return result


def _changes(effect: Effect, row: MessageRow) -> bool:
    """Return whether the effect changes anything stored about the message."""
    flags = (set(row.flags) | effect.add) - effect.remove
    return bool(
        flags != set(row.flags) or effect.destination is not None or effect.copies
        or (effect.priority is not None and effect.priority != row.priority)
        or (effect.lane is not None and effect.lane != row.lane)
    )


_DESTINATION_COUNTS = {"move": "moved", "archive": "archived", "delete": "deleted"}


def _apply_changes(store: Store, effects: dict[int, Effect], rows: dict[int, MessageRow], result: ApplyResult) -> list[int]:
    counts = result.counts

    flag_groups: dict[tuple[frozenset[str], frozenset[str]], list[int]] = {}
    copy_groups: dict[int, list[int]] = {}
    move_groups: dict[int, list[int]] = {}
    deletes: list[int] = []
    scores: dict[int, tuple[int | None, str | None]] = {}
    for message, effect in effects.items():
        row = rows[message]
        if effect.add or effect.remove:
            flag_groups.setdefault((frozenset(effect.add), frozenset(effect.remove)), []).append(message)
        for folder_id, _rule in effect.copies:
            copy_groups.setdefault(folder_id, []).append(message)
        if effect.destination is not None:
            kind, folder_id, _rule = effect.destination
            if kind == "delete":
                deletes.append(message)
            else:
                move_groups.setdefault(folder_id, []).append(message)
            counted = _DESTINATION_COUNTS[kind]
            counts[counted] = counts.get(counted, 0) + 1
        priority = effect.priority if effect.priority is not None and effect.priority != row.priority else None
        lane = effect.lane if effect.lane is not None and effect.lane != row.lane else None
        if priority is not None or lane is not None:
            scores[message] = (priority, lane)

    # Flags, priority and lane first, in the folder the server has the message in now: copies and moves carry them.
    flagged = sum(store.change_flags(ids, add=add, remove=remove) for (add, remove), ids in flag_groups.items())
    store.set_priority_lane(scores)
    created: list[int] = []
    for folder_id, ids in copy_groups.items():
        created += store.copy_messages(ids, folder_id)
    for folder_id, ids in move_groups.items():
        store.move_messages(ids, folder_id)
    if deletes:
        store.delete_messages(deletes)

    counts["flags"] = flagged
    counts["copied"] = len(created)
    counts["priority"] = sum(1 for priority, _lane in scores.values() if priority is not None)
    counts["lane"] = sum(1 for _priority, lane in scores.values() if lane is not None)
    for key in [key for key, value in counts.items() if not value]:
        del counts[key]
    return created


def _send_replies(store: Store, effects: dict[int, Effect], rows: dict[int, MessageRow], hit_ids: dict[tuple[int, str], int],
                  auto_reply: AutoReplyCallable | None, off_reason: str, result: ApplyResult) -> None:
    sent = 0
    for message, effect in effects.items():
        for rule, action in effect.replies:
            if auto_reply is None:
                outcome = f"not sent: {off_reason}"
                result.replies_off += 1
            else:
                try:
                    outcome = auto_reply(rule, action, rows[message])
                except Exception as error:  # a failed reply must not stop the others or lose the record
                    log.exception("Auto-reply of rule %r to message %d failed", rule.name, message)
                    outcome = f"failed: {error}"
                if outcome.startswith("sent"):
                    sent += 1
            if auto_reply is not None:
                result.replies.append(f"rule '{rule.name}', message {message}: {outcome}")
            hit = hit_ids.get((message, rule.name))
            if hit is not None:
                store.add_hit_action(hit, f"auto-reply {outcome}")
    if sent:
        result.counts["replies"] = sent
