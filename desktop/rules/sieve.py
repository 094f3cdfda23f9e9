"""Write rules as a Sieve script (RFC 5228), so the mail server can sort while the desktop is off.

``export_sieve`` is pure: it turns a RuleSet into the script text and the list of
rules, or parts of rules, that Sieve cannot express, each with its reason. A rule
whose condition contains anything Sieve cannot test is left out whole, never
exported with a weaker condition. Actions that only the desktop can carry out
(priority, lane) are dropped from an exported rule and listed.

A script declares in ``require`` only the extensions it uses: fileinto, copy,
imap4flags (RFC 5232), vacation (RFC 5230), regex (draft-murchison-sieve-regex, POSIX
extended syntax) and body (RFC 5173). An auto-reply's start and end days need date
(RFC 5260) and relational (RFC 5231), and its default "Re: " subject needs variables
(RFC 5229). Dovecot's Pigeonhole implements all of them.

Within one rule the flag and label actions are written before fileinto, so a
message filed by the rule carries them, as it does after the desktop runs the rule.
Sieve's flag list persists across rules, as the desktop's flag changes do.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from desktop.config import Account
from desktop.index.query import (
    And,
    DateRange,
    Exact,
    HasAttachment,
    HasFlag,
    MatchAll,
    Not,
    Or,
    RelativeDate,
    Text,
)
from desktop.paths import Profile
from desktop.rules.model import (
    AddressTest,
    AgeTest,
    AllOf,
    AnyOf,
    Archive,
    AttachmentTest,
    AutoReply,
    BodyTest,
    Condition,
    Copy,
    Delete,
    Flag,
    FlagTest,
    HeaderTest,
    Label,
    Lane,
    ListTerm,
    Mark,
    Move,
    NotOf,
    Priority,
    Rule,
    RuleSet,
    SizeTest,
    TextMatch,
    When,
)
from desktop.rules.sieve_patterns import (
    Unexpressible,
    check_ascii_case,
    check_sieve_text,
    escape_ere,
    glob_to_sieve,
    python_regex_to_posix,
)
from desktop.text import pluralize

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1

# The order of the require list; only the extensions a script uses are declared.
EXTENSIONS = ("fileinto", "copy", "imap4flags", "regex", "body", "date", "relational", "variables", "vacation")

DEFAULT_TRASH = "Trash"
DEFAULT_ARCHIVE = "Archive"

# A word boundary of the search index, written in POSIX extended regex syntax. The
# index splits text at every character that is not a letter or digit.
_BOUNDARY_BEFORE = "(^|[^[:alnum:]])"
_BOUNDARY_AFTER = "($|[^[:alnum:]])"
_WORD_GAP = "[^[:alnum:]]+"

@dataclass(frozen=True)
class Omission:
    """A rule, or a part of one, that is not in the exported script.

    Attributes:
        rule: The rule's name.
        location: Where the rule is written, e.g. "10-receipts.toml:4".
        reason: What Sieve cannot express, in plain English.
        whole: True when the whole rule is left out; False when the rule is
            exported without the part named in ``reason``.
    """

    rule: str
    location: str
    reason: str
    whole: bool

    def __str__(self) -> str:
        what = "Left out" if self.whole else "Exported in part"
        return f"{self.location}: rule '{self.rule}': {what}: {self.reason}"


@dataclass(frozen=True)
class SieveExport:
    """The result of an export: the script, the names of the rules in it, and what was left out."""

    script: str
    exported: tuple[str, ...]
    omissions: tuple[Omission, ...]


@dataclass(frozen=True)
class ExportTarget:
    """Facts about the accounts the script is for.

    Attributes:
        account: The account the script is written for, or None when unknown.
            Rules scoped to other accounts are left out when it is set.
        addresses: Account name to the user's own addresses (account address
            first, then aliases), given to vacation's ``:addresses``.
        trash: Account name to its Trash folder (special use \\Trash).
        archive: Account name to its Archive folder (special use \\Archive).
    """

    account: str | None = None
    addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    trash: dict[str, str] = field(default_factory=dict)
    archive: dict[str, str] = field(default_factory=dict)


# Scripts


class _ScriptWriter:
    """Build the Sieve text of rules and the set of extensions they need."""

    def __init__(self, target: ExportTarget, *, variables: bool) -> None:
        self.target = target
        self.variables = variables
        self.required: set[str] = set()
        self.dollar_used = False

    # Strings

    def string(self, text: str) -> str:
        """Quote ``text`` as a Sieve string: quoted on one line, ``text:`` with dot-stuffing for several."""
        check_sieve_text(text)
        if self.variables and "${" in text:
            # With the variables extension every "${" starts a variable. Expansion runs once,
            # so "${dollar}{" becomes a literal "${" when the variable dollar contains "$".
            text = text.replace("${", "${dollar}{")
            self.dollar_used = True
        if "\n" in text or "\r" in text:
            return self._multiline(text)
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    @staticmethod
    def _multiline(text: str) -> str:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines[-1] == "":
            lines.pop()
        stuffed = ["." + line if line.startswith(".") else line for line in lines]
        return "text:\n" + "".join(line + "\n" for line in stuffed) + ".\n"

    def string_list(self, values: Sequence[str]) -> str:
        if len(values) == 1:
            return self.string(values[0])
        return "[" + ", ".join(self.string(value) for value in values) + "]"

    # Comparisons

    def comparison(self, match: TextMatch) -> tuple[str, str]:
        """Return the tagged arguments (match type, comparator) and the quoted key for ``match``."""
        check_ascii_case(match.value, match.case_sensitive)
        comparator = "i;octet" if match.case_sensitive else "i;ascii-casemap"
        if match.operator == "is":
            match_type, key = ":is", match.value
        elif match.operator == "contains":
            match_type, key = ":contains", match.value
        elif match.operator == "matches":
            match_type, key = glob_to_sieve(match.value)
        elif match.operator == "regex":
            match_type, key = ":regex", python_regex_to_posix(match.value)
        else:
            raise Unexpressible(f"the export does not know the text operator {match.operator!r}")
        if match_type == ":regex":
            self.required.add("regex")
        return f'{match_type} :comparator "{comparator}"', self.string(key)

    # Conditions

    def condition(self, condition: Condition) -> str:
        """Return the Sieve test for a rule condition, or raise Unexpressible."""
        if isinstance(condition, AllOf):
            return self._combined("allof", [self.condition(part) for part in condition.conditions])
        if isinstance(condition, AnyOf):
            return self._combined("anyof", [self.condition(part) for part in condition.conditions])
        if isinstance(condition, NotOf):
            return "not " + self.condition(condition.condition)
        if isinstance(condition, When):
            return self.query(condition.query, condition.text)
        if isinstance(condition, HeaderTest):
            tags, key = self.comparison(condition.match)
            return f"header {tags} {self.string_list(_header_names(condition.header))} {key}"
        if isinstance(condition, AddressTest):
            return self._address(condition)
        if isinstance(condition, BodyTest):
            self.required.add("body")
            tags, key = self.comparison(condition.match)
            return f"body :text {tags} {key}"
        if isinstance(condition, SizeTest):
            return _size(condition)
        return self._unsupported_test(condition)

    def _address(self, test: AddressTest) -> str:
        part = {"address": ":all", "local": ":localpart", "domain": ":domain"}.get(test.part)
        if part is None:
            raise Unexpressible(f"the export does not know the address part {test.part!r}")
        tags, key = self.comparison(test.match)
        return f"address {part} {tags} {self.string_list(_header_names(test.header))} {key}"

    @staticmethod
    def _unsupported_test(condition: object) -> str:
        if isinstance(condition, AgeTest):
            word = "older_than" if condition.older else "newer_than"
            raise Unexpressible(f"Sieve cannot test a message's age ({word} = {condition.age.days}d)")
        if isinstance(condition, FlagTest):
            raise Unexpressible(
                f"Sieve cannot test whether a message is read or flagged ({condition.flag} = "
                f"{str(condition.value).lower()}); its hasflag sees only the flags the script set"
            )
        if isinstance(condition, AttachmentTest):
            raise Unexpressible(
                "Sieve has no reliable attachment test (has_attachment or attachment name): senders mark "
                "attachments in several ways, and the mime extension sees only some of them"
            )
        raise Unexpressible(f"the export does not know the condition {type(condition).__name__}")

    @staticmethod
    def _combined(keyword: str, tests: list[str]) -> str:
        if len(tests) == 1:
            return tests[0]
        return f"{keyword}(" + ", ".join(tests) + ")"

    # Queries of the search language

    def query(self, node: object, text: str) -> str:
        """Return the Sieve test for a ``when`` query tree, or raise Unexpressible naming the term."""
        if isinstance(node, MatchAll):
            return "true"
        if isinstance(node, And):
            return self._combined("allof", [self.query(part, text) for part in node.operands])
        if isinstance(node, Or):
            return self._combined("anyof", [self.query(part, text) for part in node.operands])
        if isinstance(node, Not):
            return "not " + self.query(node.operand, text)
        if isinstance(node, ListTerm):
            return self._list_term(node)
        if isinstance(node, Text):
            return self._text_term(node)
        raise Unexpressible(_unsupported_term(node, text))

    def _list_term(self, term: ListTerm) -> str:
        """Match the glob against the id as Sluice stores it: inside the angle brackets, else the whole value.

        ``List-Id: DevPulse <newsletter.devpulse.example.net>`` has the id
        ``newsletter.devpulse.example.net`` (RFC 2919), so ``list:newsletter.*``
        becomes ``"*<newsletter.*>*"`` on a value with brackets, and the plain
        glob on a value without any.
        """
        if term.pattern == "*":
            return 'exists "list-id"'
        check_ascii_case(term.pattern, case_sensitive=False)
        match_type, key = glob_to_sieve(term.pattern)
        if match_type == ":regex":
            self.required.add("regex")
            inner = key.removeprefix("^").removesuffix("$")
            bracketed = f"<{inner}>"
        else:
            bracketed = f"*<{key}>*"
        comparator = ':comparator "i;ascii-casemap" "list-id"'
        with_brackets = f"header {match_type} {comparator} {self.string(bracketed)}"
        bare = f'allof (not header :contains "list-id" "<", header {match_type} {comparator} {self.string(key)})'
        return f"anyof ({with_brackets}, {bare})"

    def _text_term(self, term: Text) -> str:
        written = f"{term.field}:{term.text}" if term.field else term.text
        if term.field not in (None, "from", "to", "cc", "subject", "body"):
            raise Unexpressible(f"Sieve cannot test attachment names ('{written}' in when)")
        if term.field is None and not term.phrase:
            raise Unexpressible(
                f"a word without a field also searches attachment names, which Sieve cannot test ('{written}' "
                f"in when); write subject:{term.text} or body:{term.text} if that is what you mean"
            )
        if not term.text.isascii():
            raise Unexpressible(
                f"Sieve cannot match text outside ASCII as the search index does ('{written}' in when)"
            )
        if term.field in ("from", "to", "cc"):
            address = self._address_term(term)
            if address is not None:
                return address

        regex = self._word_regex(term, written)
        if term.field == "body":
            return self._body_regex(regex)
        if term.field is None:
            # A quoted phrase without a field searches the subject and the body.
            return f"anyof({self._header_regex(['subject'], regex)}, {self._body_regex(regex)})"
        return self._header_regex(_header_names(_TERM_HEADERS.get(term.field, term.field)), regex)

    def _address_term(self, term: Text) -> str | None:
        """Test a whole address or a domain as the index does, or return None for other words."""
        from desktop.index.whoosh_engine import _is_host_name

        value = term.text.strip().lower()
        headers = self.string_list(_header_names(_TERM_HEADERS[term.field]))
        if re.fullmatch(r"[^\s@]+@[^\s@]+", value):
            return f'address :all :is :comparator "i;ascii-casemap" {headers} {self.string(value)}'
        if _is_host_name(value):
            # NOTE: the index also finds a host name written in a display name; this finds it only in addresses.
            exact = f'address :domain :is :comparator "i;ascii-casemap" {headers} {self.string(value)}'
            sub = f'address :domain :matches :comparator "i;ascii-casemap" {headers} {self.string("*." + value)}'
            return f"anyof({exact}, {sub})"
        return None

    def _word_regex(self, term: Text, written: str) -> str:
        from desktop.index.whoosh_engine import query_terms

        words = [part.text for part in query_terms(term.text)]
        if not words:
            raise Unexpressible(f"the term has no letters or digits to search for ('{written}' in when)")
        # NOTE: letters outside ASCII next to a word count as a boundary here, but not in the index.
        return _BOUNDARY_BEFORE + _WORD_GAP.join("".join(map(escape_ere, word)) for word in words) + _BOUNDARY_AFTER

    def _header_regex(self, headers: list[str], regex: str) -> str:
        self.required.add("regex")
        return f'header :regex :comparator "i;ascii-casemap" {self.string_list(headers)} {self.string(regex)}'

    def _body_regex(self, regex: str) -> str:
        self.required.update(("regex", "body"))
        return f'body :text :regex :comparator "i;ascii-casemap" {self.string(regex)}'

    # Actions

    def actions(self, rule: Rule) -> tuple[list[str], list[str]]:
        """Return the Sieve commands for the rule's actions and the reasons for the ones left out."""
        flag_commands: list[str] = []
        other_commands: list[str] = []
        missing: list[str] = []
        for action in rule.actions:
            if isinstance(action, (Flag, Mark, Label)):
                flag_commands.append(self._flag_command(action))
            elif isinstance(action, (Move, Copy, Delete, Archive)):
                other_commands.append(self._fileinto(rule, action, missing))
            elif isinstance(action, AutoReply):
                other_commands.extend(self._vacation(rule, action, missing))
            elif isinstance(action, Priority):
                missing.append(f"priority {action.points:+d} is desktop-only")
            elif isinstance(action, Lane):
                missing.append(f"lane '{action.name}' is desktop-only")
            else:
                missing.append(f"the action {type(action).__name__} is unknown to the export")
        if rule.stop:
            other_commands.append("stop;")
        return flag_commands + other_commands, missing

    def _flag_command(self, action: Flag | Mark | Label) -> str:
        self.required.add("imap4flags")
        if isinstance(action, Flag):
            flag, add = "\\Flagged", action.value
        elif isinstance(action, Mark):
            flag, add = "\\Seen", action.read
        else:
            flag, add = action.keyword, action.add
        return f"{'addflag' if add else 'removeflag'} {self.string(flag)};"

    def _fileinto(self, rule: Rule, action: Move | Copy | Delete | Archive, missing: list[str]) -> str:
        self.required.add("fileinto")
        if isinstance(action, (Move, Copy)):
            folder = action.folder
        elif isinstance(action, Delete):
            folder = self._special_folder(rule, self.target.trash, DEFAULT_TRASH, "Trash", missing)
        else:
            folder = self._special_folder(rule, self.target.archive, DEFAULT_ARCHIVE, "Archive", missing)
        if isinstance(action, Copy):
            self.required.add("copy")
            return f"fileinto :copy {self.string(folder)};"
        return f"fileinto {self.string(folder)};"

    def _special_folder(self, rule: Rule, known: dict[str, str], default: str, role: str, missing: list[str]) -> str:
        names = sorted({known[account] for account in self._accounts(rule) if account in known})
        if len(names) == 1:
            return names[0]
        if not names:
            missing.append(
                f"no {role} folder is known for its accounts (sync them first), so the script files into '{default}'"
            )
            return default
        missing.append(f"its accounts name the {role} folder differently ({', '.join(names)}); the script uses '{names[0]}'")
        return names[0]

    def _accounts(self, rule: Rule) -> list[str]:
        if rule.scope.accounts:
            return list(rule.scope.accounts)
        if self.target.account is not None:
            return [self.target.account]
        return sorted(set(self.target.trash) | set(self.target.archive) | set(self.target.addresses))

    def _vacation(self, rule: Rule, reply: AutoReply, missing: list[str]) -> list[str]:
        if any(marker in reply.body for marker in ("{{", "{%", "{#")):
            missing.append("the auto-reply body has template placeholders, which Sieve's vacation would send as written")
            return []
        self.required.add("vacation")
        arguments = [f":days {reply.days}"]
        commands: list[str] = []
        if reply.subject:
            arguments.append(f":subject {self.string(reply.subject)}")
        else:
            self.required.add("variables")
            commands.append('set "reply_subject" "Re: ";')
            commands.append('if header :matches "subject" "*" { set "reply_subject" "Re: ${1}"; }')
            arguments.append(':subject "${reply_subject}"')
        addresses = self._own_addresses(rule)
        if addresses:
            arguments.append(f":addresses {self.string_list(addresses)}")
        body = self.string(reply.body)
        # A text: string ends with its "." line, so the semicolon follows on a line of its own.
        command = f"vacation {' '.join(arguments)} {body};"
        window = self._date_window(reply)
        if window:
            command = f"if {window} {{\n{_indent(command)}\n}}"
        return commands + [command]

    def _own_addresses(self, rule: Rule) -> list[str]:
        addresses: list[str] = []
        for account in self._accounts(rule):
            for address in self.target.addresses.get(account, ()):
                if address.lower() not in (known.lower() for known in addresses):
                    addresses.append(address)
        return addresses

    def _date_window(self, reply: AutoReply) -> str:
        tests = []
        if reply.start is not None:
            tests.append(f'currentdate :value "ge" "date" "{reply.start.isoformat()}"')
        if reply.end is not None:
            tests.append(f'currentdate :value "le" "date" "{reply.end.isoformat()}"')
        if tests:
            self.required.update(("date", "relational"))
        return self._combined("allof", tests) if tests else ""


# The headers a search field reads: to: covers To and Cc, as in the search box.
_TERM_HEADERS = {"from": "from", "to": "recipient", "cc": "cc"}


def _header_names(header: str) -> list[str]:
    return ["to", "cc"] if header == "recipient" else [header]


def _size(test: SizeTest) -> str:
    if test.above is not None:
        return f"size :over {test.above}"
    if test.below is not None:
        return f"size :under {test.below}"
    raise Unexpressible("the size test has neither size_above nor size_below")


def _unsupported_term(node: object, text: str) -> str:
    where = f"in when '{text}'"
    if isinstance(node, RelativeDate):
        word = "older_than" if node.older else "newer_than"
        return f"Sieve cannot test a message's age ({word}:{node.age.days}d {where})"
    if isinstance(node, DateRange):
        return f"the export does not translate dates (before: or after: {where})"
    if isinstance(node, HasFlag):
        return f"Sieve cannot test a message's flags or labels ('{node.flag}' {where})"
    if isinstance(node, HasAttachment):
        return f"Sieve has no reliable attachment test (has:attachment {where})"
    if isinstance(node, Exact):
        return f"Sieve runs at delivery, before the message has an account or folder ({node.field}: {where})"
    return f"the export does not know the term {type(node).__name__} ({where})"


def _indent(text: str) -> str:
    # Lines of a text: string are content, so they keep their place.
    lines = text.split("\n")
    result = []
    inside_text = False
    for line in lines:
        result.append(line if inside_text or not line else "    " + line)
        if line.endswith("text:"):
            inside_text = True
        elif inside_text and line == ".":
            inside_text = False
    return "\n".join(result)


def _location(rule: Rule) -> str:
    return f"{rule.path or '?'}:{rule.line}"


def _comment(text: str) -> str:
    return " ".join(text.split())


def _scope_problem(rule: Rule, target: ExportTarget) -> str | None:
    """Return why the rule's scope keeps it out of the script, or None."""
    if "INBOX" not in (folder.upper() for folder in rule.scope.folders):
        return (
            f"its scope is the {_named('folder', rule.scope.folders)}; a Sieve script runs only on new mail "
            f"as it is delivered to INBOX"
        )
    if target.account is not None and rule.scope.accounts and target.account not in rule.scope.accounts:
        return f"it applies only to {_named('account', rule.scope.accounts)}, not to '{target.account}'"
    return None


def _scope_notes(rule: Rule, target: ExportTarget) -> list[str]:
    notes = []
    others = [folder for folder in rule.scope.folders if folder.upper() != "INBOX"]
    if others:
        verb = "is" if len(others) == 1 else "are"
        notes.append(f"Sieve sorts only mail arriving in INBOX, so its {_named('folder', others)} {verb} not covered")
    if target.account is None and rule.scope.accounts:
        notes.append(
            f"it applies only to {_named('account', rule.scope.accounts)}; install the script only on their servers"
        )
    return notes


def _named(noun: str, names: Sequence[str]) -> str:
    """Return "folder Work" or "folders Work, Lists": the noun in the form the number of names needs, then the names."""
    return f"{noun if len(names) == 1 else noun + 's'} {', '.join(names)}"


def _needs_variables(rules: Iterable[Rule]) -> bool:
    return any(isinstance(action, AutoReply) and not action.subject for rule in rules for action in rule.actions)


def export_sieve(ruleset: RuleSet, target: ExportTarget | None = None) -> SieveExport:
    """Translate the rules Sieve can express into a script and list the rest with reasons.

    Rules keep their order. A rule whose scope or condition Sieve cannot express is
    left out whole. So is a rule with only desktop-only actions, unless it stops
    later rules.
    """
    target = target or ExportTarget()
    writer = _ScriptWriter(target, variables=_needs_variables(ruleset.rules))
    blocks: list[str] = []
    exported: list[str] = []
    omissions: list[Omission] = []
    for rule in ruleset.rules:
        block, rule_omissions = _rule_block(writer, rule, target)
        omissions.extend(rule_omissions)
        if block is not None:
            blocks.append(block)
            exported.append(rule.name)

    script = _script_header(ruleset, writer) + "\n".join(blocks)
    logger.debug("Exported %d of %d rule(s) to Sieve", len(exported), len(ruleset.rules))
    return SieveExport(script, tuple(exported), tuple(omissions))


def _rule_block(writer: _ScriptWriter, rule: Rule, target: ExportTarget) -> tuple[str | None, list[Omission]]:
    location = _location(rule)
    stop_note = "; it has stop = true, so later rules in the script may act on mail it would have stopped"
    reason = _scope_problem(rule, target)
    required_before = set(writer.required)
    if reason is None:
        try:
            test = "true" if rule.condition is None else writer.condition(rule.condition)
        except Unexpressible as problem:
            reason = str(problem)
    if reason is not None:
        writer.required = required_before
        return None, [Omission(rule.name, location, reason + (stop_note if rule.stop else ""), whole=True)]

    commands, missing = writer.actions(rule)
    if not commands:
        writer.required = required_before
        return None, [Omission(rule.name, location, "it has no action Sieve can run: " + "; ".join(missing), whole=True)]

    notes = missing + _scope_notes(rule, target)
    omissions = [Omission(rule.name, location, note, whole=False) for note in notes]
    body = "\n".join(_indent(command) for command in commands)
    source = f"{rule.path.name}:{rule.line}" if rule.path is not None else location
    block = f"# Rule '{_comment(rule.name)}' ({source})\nif {test} {{\n{body}\n}}\n"
    return block, omissions


def _script_header(ruleset: RuleSet, writer: _ScriptWriter) -> str:
    files = ", ".join(path.name for path in ruleset.files) or "no rule files"
    lines = [
        "# Sieve script written by 'sluice rules export-sieve'",
        f"# from: {_comment(files)}",
        "# Rules that Sieve cannot express are not in this script; the export lists them.",
    ]
    extensions = [name for name in EXTENSIONS if name in writer.required]
    if extensions:
        lines.append("require [" + ", ".join(f'"{name}"' for name in extensions) + "];")
    if writer.dollar_used:
        lines.append('set "dollar" "$";')
    return "\n".join(lines) + "\n\n"


# The command


def export_command(args: argparse.Namespace, profile: Profile) -> int:
    """Run ``sluice rules export-sieve``: write the script and list what was left out on stderr.

    Rule files are checked as ``sluice rules check`` does, folder names
    included, so a script never files mail into a folder that does not exist.
    """
    from desktop.rules.loader import check_files, store_folders

    path = args.rules or profile.rules_dir
    if not path.exists():
        print(f"sluice: rule file or folder {path} not found. Give an existing one with --rules.", file=sys.stderr)
        return EXIT_FAILED
    ruleset, problems = check_files([path], store_folders(profile.store_file))
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{pluralize(len(problems), 'problem')} found; fix them ('sluice rules check') and export again.",
              file=sys.stderr)
        return EXIT_FAILED

    result = export_sieve(ruleset, export_target(profile))
    if args.output is None:
        sys.stdout.write(result.script)
    else:
        try:
            args.output.write_text(result.script, encoding="utf-8")
        except OSError as error:
            print(f"sluice: cannot write {args.output}: {error.strerror}. Choose another --output.", file=sys.stderr)
            return EXIT_FAILED
        print(f"Wrote {pluralize(len(result.exported), 'rule')} to {args.output}.")

    for omission in result.omissions:
        print(omission, file=sys.stderr)
    left_out = sum(1 for omission in result.omissions if omission.whole)
    print(f"Exported {len(result.exported)} of {pluralize(len(ruleset.rules), 'rule')}; {left_out} left out.",
          file=sys.stderr)
    logger.info("Exported %d of %d rule(s) to Sieve, %d left out", len(result.exported), len(ruleset.rules), left_out)
    return EXIT_OK


def export_target(profile: Profile) -> ExportTarget:
    """Read the accounts' addresses from the config and their Trash and Archive folders from the store.

    With exactly one account configured, the script is for that account.
    """
    from desktop.config import load_config

    config = load_config(profile.config_file)
    addresses = {name: tuple(_own_addresses(account)) for name, account in config.accounts.items()}
    trash: dict[str, str] = {}
    archive: dict[str, str] = {}
    if profile.store_file.exists():
        from desktop.store import Store

        with Store(profile.store_file) as store:
            for folder in store.folders(with_counts=False):
                if folder.special_use == "\\Trash":
                    trash.setdefault(folder.account, folder.name)
                elif folder.special_use == "\\Archive":
                    archive.setdefault(folder.account, folder.name)
    account = next(iter(config.accounts)) if len(config.accounts) == 1 else None
    return ExportTarget(account=account, addresses=addresses, trash=trash, archive=archive)


def _own_addresses(account: Account) -> list[str]:
    return ([account.address] if account.address else []) + list(account.aliases)
