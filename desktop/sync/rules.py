"""Running the rules on new mail during a sync.

The folder sync stores new messages of the folders an active rule's scope
covers with the ``rules_pending`` mark, which hides them from the message
list. Once every folder of the account has its headers,
``run_rules_on_new_mail`` plans the rules for all of the account's marked
messages and downloads the bodies those rules need over the sync's
connection. Then it applies the plan and clears the marks in one store
transaction. A crash before that transaction leaves the marks, so the next
sync runs the rules again. The moves and flag changes the rules journaled are sent to the
server right away, in the same sync.

The first sync of a folder marks nothing: everything in it is new to the
store then, and ``sluice rules apply`` is the way to sort existing mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imapclient import IMAPClient

from desktop.config import Account, Config
from desktop.rules.model import AutoReply, Rule, RuleSet
from desktop.store import Store
from desktop.sync.actions import replay_account
from desktop.sync.bodies import _batches, _fetch_batch, _Selection
from desktop.text import pluralize

if TYPE_CHECKING:
    from desktop.rules.engine import ApplyResult, Plan

log = logging.getLogger(__name__)

AutoReplyCall = Callable[..., str]
"""Sends or skips one auto-reply: called with (rule, action, message row), returns the outcome text."""


@dataclass
class NewMailRules:
    """The rules a sync runs on new mail, and the auto-reply sender they use.

    Attributes:
        ruleset: The active rules (see ``desktop.rules.active``).
        auto_reply: Called for each auto-reply action, or None to send none.
    """

    ruleset: RuleSet
    auto_reply: AutoReplyCall | None = field(default=None, repr=False)

    def covers(self, account: str, folder: str) -> bool:
        """Return whether any rule's scope includes ``folder`` of ``account``."""
        return any(rule_covers(rule, account, folder) for rule in self.ruleset.rules)


def rule_covers(rule: Rule, account: str, folder: str) -> bool:
    """Return whether the rule's scope includes the folder; INBOX matches in any case (RFC 3501 section 5.1)."""
    if rule.scope.accounts and account not in rule.scope.accounts:
        return False
    if folder.upper() == "INBOX":
        return any(name.upper() == "INBOX" for name in rule.scope.folders)
    return folder in rule.scope.folders


@dataclass
class RulesOutcome:
    """The result of one rule run on an account's new mail.

    Attributes:
        seen: Messages the rules looked at; each lost its pending mark.
        acted: (rule name, message count) for each rule that matched new mail, in rule order.
        bulk_id: The journaled bulk action that ``sluice undo`` reverses, or None when nothing changed.
        problems: Problems the engine reported, such as a missing archive folder.
        sent: Pending actions sent to the server after the run.
    """

    seen: int = 0
    acted: list[tuple[str, int]] = field(default_factory=list)
    bulk_id: int | None = None
    problems: list[str] = field(default_factory=list)
    sent: int = 0


def run_rules_on_new_mail(client: IMAPClient, account: Account, store: Store, rules: NewMailRules,
                          *, send: bool = True) -> RulesOutcome:
    """Run the rules on the account's messages that carry the pending mark, and clear the marks.

    Args:
        client: The sync's connection, used for bodies the rules need and,
            with ``send``, for the actions the rules journaled.
        account: The account whose marked messages are handled.
        store: The store connection of the calling thread.
        rules: The active rules.
        send: Send the journaled actions now. The watch passes False on
            connections that do not send actions; the INBOX connection
            sends them within about a second.

    Raises:
        OSError, IMAPClientError: the connection failed while fetching a
            body or sending actions. Marks not cleared yet stay.
    """
    outcome = RulesOutcome()
    account_id = store.account_id(account.name)
    if account_id is None:
        return outcome
    pending = store.rules_pending_ids(account_id)
    if not pending:
        return outcome
    outcome.seen = len(pending)
    if not rules.ruleset.rules:
        # The rules that covered these messages were removed since they were stored.
        store.clear_rules_pending(pending)
        return outcome

    plan = _plan_with_bodies(client, account, store, rules.ruleset, pending)
    outcome.problems = list(plan.problems)
    for problem in plan.problems:
        log.warning("Rules on new mail of account %s: %s", account.name, problem)
    result = _apply_and_clear(client, account, store, rules, plan, pending)
    outcome.bulk_id = result.bulk_id
    outcome.acted = [(report.rule.name, report.count) for report in plan.reports if report.count]
    log.info("Rules ran on %d new message(s) of account %s: %s", len(pending), account.name,
             ", ".join(f"{name} {count}" for name, count in outcome.acted) or "no match")
    if send and result.bulk_id is not None:
        outcome.sent = replay_account(client, store, account_id)
    return outcome


def _plan_with_bodies(client: IMAPClient, account: Account, store: Store, ruleset: RuleSet, pending: list[int]) -> Plan:
    """Plan the rules for ``pending``; fetch the bodies the plan waits for and plan again."""
    from desktop.rules.engine import plan_rules

    plan = plan_rules(store, ruleset, message_ids=pending)
    if not plan.waiting_for_body:
        return plan
    fetched = fetch_bodies(client, store, plan.waiting_for_body)
    log.info("Fetched %d of %d body(ies) that rules of account %s need", fetched, len(plan.waiting_for_body), account.name)
    plan = plan_rules(store, ruleset, message_ids=pending)
    if plan.waiting_for_body:
        # Their marks are cleared all the same: the server no longer has these messages, or renumbered the folder.
        log.warning("Rules of account %s skipped %d new message(s) whose body could not be fetched: ids %s",
                    account.name, len(plan.waiting_for_body), plan.waiting_for_body[:20])
    return plan


def _apply_and_clear(client: IMAPClient, account: Account, store: Store, rules: NewMailRules, plan: Plan,
                     pending: list[int]) -> ApplyResult:
    """Apply the plan as one bulk action and clear the marks of every pending message, matched or not."""
    from desktop.rules.engine import apply_plan

    description = f"Rules on {pluralize(len(pending), 'new message')} of {account.name}"
    replying = [message for message, effect in plan.effects.items() if effect.replies]
    if not replying:
        with store.transaction():
            result = apply_plan(store, plan, description=description, trigger="sync", auto_reply=rules.auto_reply)
            store.clear_rules_pending(pending)
        return result
    if rules.auto_reply is not None:
        # The auto-reply reads the message's headers; fetched here, it needs no connection of its own.
        fetch_bodies(client, store, [message for message in replying if store.raw(message) is None])
    # apply_plan sends auto-replies after its own transaction, because holding the store's write lock while
    # SMTP servers respond would block the window. So here the marks are cleared in a second transaction.
    # NOTE: a crash between the two runs the rules on these messages again at the next sync. Flags,
    # priority, lane and auto-replies (rate-limited per sender) come out the same; copies are made twice.
    result = apply_plan(store, plan, description=description, trigger="sync", auto_reply=rules.auto_reply)
    store.clear_rules_pending(pending)
    return result


def fetch_bodies(client: IMAPClient, store: Store, message_ids: Sequence[int]) -> int:
    """Fetch and store the bodies of ``message_ids`` over ``client``; return how many were stored.

    Unlike the body phase this ignores the account's ``offline`` settings,
    because a rule cannot decide without the body.
    """
    missing = [location for location in (store.body_location(message_id) for message_id in message_ids)
               if location is not None]
    selection = _Selection(client)
    stored = 0
    for batch in _batches(missing):
        stored += len(store.store_bodies_with_twins(_fetch_batch(selection, batch)))
    return stored


def needs_auto_reply(ruleset: RuleSet) -> bool:
    """Return whether any rule has an auto-reply action."""
    return any(isinstance(action, AutoReply) for rule in ruleset.rules for action in rule.actions)


@contextmanager
def auto_replier(store: Store, config: Config, ruleset: RuleSet) -> Iterator[AutoReplyCall | None]:
    """Yield the auto-reply sender for ``store``'s thread, or None when no rule replies.

    The SMTP sender runs a thread of its own, so it starts only when a rule
    has an auto-reply action and stops when the block ends.
    """
    if not needs_auto_reply(ruleset):
        yield None
        return
    from desktop.rules.autoreply import AutoReplier
    from desktop.send.smtp import SmtpSender

    with SmtpSender() as sender, AutoReplier(store, config, sender) as replier:
        yield replier
