"""The loaded form of a rule file: frozen dataclasses, plain data only.

A ``RuleSet`` contains ``Rule`` objects in the order they run: files in name order,
rules in file order. A rule's condition is a tree of the condition classes below,
and its actions are a tuple of the action classes. Code that matches messages or
runs actions reads these classes and never the TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from desktop.index.query import Query

DEFAULT_FOLDERS = ("INBOX",)

# Conditions


@dataclass(frozen=True)
class ListTerm:
    """The rule-only ``list:`` term of a ``when`` query: the message has a List-Id header.

    Attributes:
        pattern: A glob matched against the List-Id value, case-insensitive;
            ``*`` matches any list.
    """

    pattern: str


@dataclass(frozen=True)
class When:
    """A condition written in the search language.

    Attributes:
        text: The query as written in the rule file.
        query: The parsed query tree. Leaves are the search language's classes
            from ``desktop.index.query`` or ``ListTerm``.
    """

    text: str
    query: Query | ListTerm | object


@dataclass(frozen=True)
class TextMatch:
    """A comparison of a text value.

    Attributes:
        operator: "is" (whole value), "contains", "matches" (a glob with ``*``, ``?``
            and ``[...]``) or "regex" (Python ``re`` syntax, searched anywhere).
        value: The string, glob or regular expression.
        case_sensitive: False by default: the comparison ignores case.
    """

    operator: str
    value: str
    case_sensitive: bool = False


@dataclass(frozen=True)
class HeaderTest:
    """A test on a decoded header value.

    Attributes:
        header: Lowercase header name, e.g. "subject", "list-id"; "recipient"
            stands for any of To and Cc.
        match: The comparison.
    """

    header: str
    match: TextMatch


@dataclass(frozen=True)
class AddressTest:
    """A test on the addresses of a header, without display names.

    Attributes:
        header: "from", "to", "cc", "reply-to", "sender" or "recipient" (To or Cc).
        part: "address" (the whole address), "local" (before the @) or "domain".
        match: The comparison; the test passes when any address in the header matches.
    """

    header: str
    part: str
    match: TextMatch


@dataclass(frozen=True)
class BodyTest:
    """A test on the plain-text body (text extracted from HTML when there is no plain part)."""

    match: TextMatch


@dataclass(frozen=True)
class AttachmentTest:
    """A test on attachments.

    Attributes:
        match: A test on the decoded file names (passes when any name matches),
            or None to test only whether there is an attachment.
        present: With ``match`` None, True means "has an attachment" and False
            "has none".
    """

    match: TextMatch | None = None
    present: bool = True


@dataclass(frozen=True)
class SizeTest:
    """The message size in bytes is above ``above`` or below ``below`` (whichever is set)."""

    above: int | None = None
    below: int | None = None


@dataclass(frozen=True)
class AgeTest:
    """The message is older (``older`` True) or newer than ``age``, measured from its date."""

    age: timedelta
    older: bool


@dataclass(frozen=True)
class FlagTest:
    """A flag test: ``flag`` is "unread" or "flagged"; ``value`` False tests the opposite."""

    flag: str
    value: bool = True


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class NotOf:
    condition: Condition


Condition = (
    When | HeaderTest | AddressTest | BodyTest | AttachmentTest | SizeTest | AgeTest | FlagTest
    | AllOf | AnyOf | NotOf
)

# Actions


@dataclass(frozen=True)
class Move:
    folder: str


@dataclass(frozen=True)
class Copy:
    folder: str


@dataclass(frozen=True)
class Flag:
    """Add (``value`` True) or remove the \\Flagged flag."""

    value: bool = True


@dataclass(frozen=True)
class Mark:
    """Mark the message read (``read`` True) or unread."""

    read: bool


@dataclass(frozen=True)
class Label:
    """Add (``add`` True) or remove an IMAP keyword, e.g. "$work"."""

    keyword: str
    add: bool = True


@dataclass(frozen=True)
class Delete:
    """Move the message to the account's trash."""


@dataclass(frozen=True)
class Archive:
    """Move the message to the account's archive folder."""


@dataclass(frozen=True)
class Priority:
    """Add ``points`` (negative lowers it) to the message's priority score."""

    points: int


@dataclass(frozen=True)
class Lane:
    """Put the message in the named lane of the window."""

    name: str


@dataclass(frozen=True)
class AutoReply:
    """An automatic reply to the sender, at most once per sender every ``days`` days.

    Attributes:
        body: The reply text, a template (placeholders are planned, not yet defined).
        days: Minimum days between two replies to the same sender.
        subject: The reply's subject; empty means "Re: " and the original subject.
        start: First day the rule replies, or None for no start.
        end: Last day the rule replies (inclusive), or None for no end.
    """

    body: str
    days: int = 7
    subject: str = ""
    start: date | None = None
    end: date | None = None


Action = Move | Copy | Flag | Mark | Label | Delete | Archive | Priority | Lane | AutoReply


@dataclass(frozen=True)
class Scope:
    """The accounts and folders a rule applies to.

    Attributes:
        accounts: Account names; empty means every account.
        folders: Folder names in each of those accounts; INBOX by default.
    """

    accounts: tuple[str, ...] = ()
    folders: tuple[str, ...] = DEFAULT_FOLDERS


@dataclass(frozen=True)
class Rule:
    """One rule.

    Attributes:
        name: Unique across all loaded files.
        condition: All of ``when`` and ``if`` combined, or None when the rule has
            neither and so matches every message in its scope.
        actions: Run in the order written.
        scope: Where the rule applies.
        stop: True when no later rule runs on a message this rule matched.
        path: The file the rule comes from.
        line: The line of its ``[[rule]]`` header.
    """

    name: str
    condition: Condition | None
    actions: tuple[Action, ...]
    scope: Scope = field(default_factory=Scope)
    stop: bool = False
    path: Path | None = None
    line: int = 0
    # (folder, line) for each scope folder and move or copy target, and the line of
    # the scope's accounts, so a folder check can point at the name it rejects.
    folder_lines: tuple[tuple[str, int], ...] = ()
    accounts_line: int = 0


@dataclass(frozen=True)
class RuleSet:
    """Rules in the order they run, and the files they come from."""

    rules: tuple[Rule, ...] = ()
    files: tuple[Path, ...] = ()

    def rule(self, name: str) -> Rule:
        """Return the rule named ``name``; raise KeyError when there is none."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)
