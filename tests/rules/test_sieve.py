"""`sluice rules export-sieve`: the script does in Dovecot's Pigeonhole what the rules describe.

Scripts are compiled with `sievec` and run on the messages in sieve_messages/ with
`sieve-test`, which prints the actions a delivery would take without delivering.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.paths import default_profile
from desktop.rules.loader import load_rules
from desktop.rules.sieve import ExportTarget, SieveExport, export_sieve

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLES = REPOSITORY / "rules"
MESSAGES = Path(__file__).with_name("sieve_messages")

# A uid and gid without a system account for Pigeonhole's tools when the tests run
# as root, which the tools refuse to run as.
TOOL_UID = 60990

ME = "me@example.org"


@dataclass
class Outcome:
    """What `sieve-test` reports for one message.

    Attributes:
        stored: Folder to the flags the stored copy gets, lowercased; the
            implicit keep is reported as INBOX.
        kept: True when the implicit keep stores the message.
        vacation: The reply's subject for each vacation message sent.
    """

    stored: dict[str, frozenset[str]] = field(default_factory=dict)
    kept: bool = False
    vacation: list[str] = field(default_factory=list)


class Pigeonhole:
    """Runs `sievec` and `sieve-test` with a private configuration in a folder of their own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sievec = shutil.which("sievec")
        self.sieve_test = shutil.which("sieve-test")
        uid = TOOL_UID if os.geteuid() == 0 else os.getuid()
        gid = TOOL_UID if os.geteuid() == 0 else os.getgid()
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            os.chown(root, uid, gid)
        self.config = root / "dovecot.conf"
        self.config.write_text(
            f"mail_uid = {uid}\nmail_gid = {gid}\nfirst_valid_uid = {uid}\nfirst_valid_gid = {gid}\n"
            f"mail_home = {root}/home\nmail_location = maildir:{root}/home/Maildir\n",
            encoding="utf-8",
        )
        self._scripts = 0

    def write_script(self, text: str) -> Path:
        self._scripts += 1
        path = self.root / f"script{self._scripts}.sieve"
        path.write_text(text, encoding="utf-8")
        return path

    def compile(self, text: str) -> subprocess.CompletedProcess[str]:
        script = self.write_script(text)
        return subprocess.run(
            [self.sievec, "-c", str(self.config), str(script), str(script.with_suffix(".svbin"))],
            capture_output=True, text=True, timeout=30, check=False,
        )

    def output(self, script: Path, message: Path, *, execute: bool = False) -> str:
        """Return what `sieve-test` prints for a delivery of ``message`` to ME.

        With ``execute`` the actions run: the message is stored in the private
        Maildir, a vacation reply is printed in full or its discarding logged.
        """
        copy = self.root / message.name
        shutil.copyfile(message, copy)
        options = ["-e"] if execute else []
        result = subprocess.run(
            [self.sieve_test, *options, "-c", str(self.config), "-r", ME, "-a", ME, str(script), str(copy)],
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert result.returncode == 0, f"sieve-test failed on {message.name}:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def run(self, script: Path, message: Path) -> Outcome:
        return parse_outcome(self.output(script, message))


def parse_outcome(output: str) -> Outcome:
    """Read the "Performed actions" and "Implicit keep" sections of `sieve-test` output."""
    outcome = Outcome()
    section = ""
    folder = None
    for line in output.splitlines():
        if line.startswith("Performed actions:"):
            section = "performed"
        elif line.startswith("Implicit keep:"):
            section = "keep"
        elif match := re.match(r"\s*\* store message in folder: (.*)$", line):
            folder = match.group(1)
            outcome.stored[folder] = frozenset()
            if section == "keep":
                outcome.kept = True
        elif (match := re.match(r"\s*\+ add IMAP flags: (.*)$", line)) and folder is not None:
            outcome.stored[folder] = frozenset(match.group(1).lower().split())
        elif match := re.match(r"\s*=> subject\s*: (.*)$", line):
            outcome.vacation.append(match.group(1))
    return outcome


@pytest.fixture(scope="module")
def pigeonhole():
    if shutil.which("sieve-test") is None or shutil.which("sievec") is None:
        pytest.skip("Pigeonhole's sieve-test and sievec are missing; install them with: apt-get install dovecot-sieve")
    # Outside pytest's temporary tree, whose folders are closed to the tools' uid.
    root = Path(tempfile.mkdtemp(prefix="sluice-sieve-"))
    yield Pigeonhole(root)
    shutil.rmtree(root, ignore_errors=True)


def export(tmp_path: Path, text: str, target: ExportTarget | None = None) -> SieveExport:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return export_sieve(load_rules(path), target)


def left_out(result: SieveExport) -> dict[str, str]:
    return {omission.rule: omission.reason for omission in result.omissions if omission.whole}


def write_message(directory: Path, name: str, headers: dict[str, str], body: str = "Hello.\n") -> Path:
    lines = [f"{key}: {value}" for key, value in headers.items()]
    lines += ["Date: Thu, 03 Dec 2026 09:00:00 +0000", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    path = directory / name
    path.write_text("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n"), encoding="utf-8")
    return path


# The example rule files


def test_examples_compile_each_and_all(pigeonhole):
    paths = sorted(EXAMPLES.glob("*.toml")) + [EXAMPLES]
    for path in paths:
        result = export_sieve(load_rules(path))
        compiled = pigeonhole.compile(result.script)
        assert compiled.returncode == 0, f"{path.name}:\n{result.script}\n{compiled.stdout}{compiled.stderr}"


def test_examples_left_out_with_reasons():
    result = export_sieve(load_rules(EXAMPLES))

    assert result.exported == ("Receipts", "Boss is VIP", "Python lists", "Holiday reply")
    reasons = left_out(result)
    assert set(reasons) == {"Family", "Announcements only", "Old newsletters", "Big unread newsletters"}
    assert "no action Sieve can run" in reasons["Family"]
    assert "read or flagged" in reasons["Announcements only"]
    assert "age (older_than:30d" in reasons["Old newsletters"]
    assert "age (older_than = 7d)" in reasons["Big unread newsletters"]
    parts = [omission.reason for omission in result.omissions if omission.rule == "Boss is VIP"]
    assert parts == ["lane 'vip' is desktop-only", "priority +50 is desktop-only"]


def test_examples_sort_messages(pigeonhole):
    script = pigeonhole.write_script(export_sieve(load_rules(EXAMPLES)).script)
    holiday = date(2026, 12, 20) <= date.today() <= date(2027, 1, 4)
    reply = ["Away until January 5"] if holiday else []

    receipt = pigeonhole.run(script, MESSAGES / "receipt.eml")
    assert receipt.stored == {"Receipts": {"\\seen"}}
    assert receipt.vacation == []

    confirmation = pigeonhole.run(script, MESSAGES / "order-confirmation.eml")
    assert confirmation.stored == {"Receipts": {"\\seen"}}

    plural = pigeonhole.run(script, MESSAGES / "invoices-plural.eml")
    assert plural.stored == {"INBOX": frozenset()}
    assert plural.vacation == reply

    boss = pigeonhole.run(script, MESSAGES / "boss.eml")
    assert boss.stored == {"INBOX": {"\\flagged"}}
    assert boss.vacation == reply

    python = pigeonhole.run(script, MESSAGES / "python-list.eml")
    assert python.stored == {"Lists/python": {"$lists"}}
    assert python.vacation == []

    other = pigeonhole.run(script, MESSAGES / "other-list.eml")
    assert other.stored == {"INBOX": frozenset()}
    assert other.vacation == []

    family = pigeonhole.run(script, MESSAGES / "family.eml")
    assert family.stored == {"INBOX": frozenset()}
    assert family.vacation == reply


# Conditions


HEADER_RULES = '''
[[rule]]
name = "Subject is"
if = [{ header = "subject", is = "weekly report" }]
actions = [{ label = "is" }]

[[rule]]
name = "Subject case"
if = [{ header = "subject", contains = "URGENT", case_sensitive = true }]
actions = [{ label = "case" }]

[[rule]]
name = "Mailer glob"
if = [{ header = "x-mailer", matches = "Mutt/2.?*" }]
actions = [{ label = "glob" }]

[[rule]]
name = "Bracket glob"
if = [{ header = "subject", matches = "ticket [0-9]*" }]
actions = [{ label = "bracket" }]

[[rule]]
name = "Order regex"
if = [{ header = "subject", regex = 'order #\\d{3,}' }]
actions = [{ label = "regex" }]

[[rule]]
name = "Any recipient"
if = [{ header = "recipient", contains = "team@" }]
actions = [{ label = "recipient" }]

[[rule]]
name = "Billing local part"
if = [{ address = "to", part = "local", matches = "billing*" }]
actions = [{ label = "local" }]

[[rule]]
name = "Partner domain"
if = [{ address = "from", part = "domain", is = "partner.example.com" }]
actions = [{ label = "domain" }]

[[rule]]
name = "Big"
if = [{ size_above = "2KB" }]
actions = [{ label = "big" }]

[[rule]]
name = "Small"
if = [{ size_below = "2KB" }]
actions = [{ label = "small" }]

[[rule]]
name = "Deadline in body"
if = [{ in = "body", contains = "deadline" }]
actions = [{ label = "body" }]

[[rule]]
name = "Either but not"
if = [{ any = [{ header = "subject", contains = "alpha" }, { header = "subject", contains = "beta" }] },
      { not = { header = "subject", contains = "gamma" } }]
actions = [{ label = "combined" }]
'''


def labels(outcome: Outcome) -> set[str]:
    assert list(outcome.stored) == ["INBOX"], outcome
    return set(outcome.stored["INBOX"])


def test_header_tests_match(tmp_path, pigeonhole):
    result = export(tmp_path, HEADER_RULES)
    assert left_out(result) == {}
    assert pigeonhole.compile(result.script).returncode == 0
    script = pigeonhole.write_script(result.script)

    def run(name: str, headers: dict[str, str], body: str = "Hello.\n") -> set[str]:
        base = {"From": "Ana <ana@example.net>", "To": ME, "Message-ID": f"<{name}@example.net>"}
        return labels(pigeonhole.run(script, write_message(tmp_path, name, base | headers, body)))

    assert run("is.eml", {"Subject": "Weekly Report"}) == {"is", "small"}
    assert run("is-longer.eml", {"Subject": "weekly report 3"}) == {"small"}
    assert run("case.eml", {"Subject": "URGENT: call"}) == {"case", "small"}
    assert run("case-lower.eml", {"Subject": "urgent: call"}) == {"small"}
    assert run("glob.eml", {"Subject": "x", "X-Mailer": "mutt/2.2.9"}) == {"glob", "small"}
    assert run("glob-no.eml", {"Subject": "x", "X-Mailer": "Mutt/1.5"}) == {"small"}
    assert run("bracket.eml", {"Subject": "Ticket 42 opened"}) == {"bracket", "small"}
    assert run("bracket-no.eml", {"Subject": "Ticket x42"}) == {"small"}
    assert run("regex.eml", {"Subject": "Re: Order #1234 shipped"}) == {"regex", "small"}
    assert run("regex-short.eml", {"Subject": "Order #12"}) == {"small"}
    assert run("recipient.eml", {"Subject": "x", "Cc": "team@example.com"}) == {"recipient", "small"}
    assert run("local.eml", {"Subject": "x", "To": "Billing-EU@example.org"}) == {"local", "small"}
    assert run("domain.eml", {"Subject": "x", "From": "a@Partner.Example.com"}) == {"domain", "small"}
    assert run("subdomain.eml", {"Subject": "x", "From": "a@eu.partner.example.com"}) == {"small"}
    assert run("big.eml", {"Subject": "x"}, "line of text\n" * 300) == {"big"}
    assert run("body.eml", {"Subject": "x"}, "The deadline is Friday.\n") == {"body", "small"}
    assert run("alpha.eml", {"Subject": "alpha test"}) == {"combined", "small"}
    assert run("alpha-gamma.eml", {"Subject": "alpha gamma"}) == {"small"}


WHEN_RULES = '''
[[rule]]
name = "From address"
when = 'from:ana@example.net'
actions = [{ label = "address" }]

[[rule]]
name = "From domain"
when = 'from:example.com'
actions = [{ label = "fromdomain" }]

[[rule]]
name = "To word"
when = 'to:support'
actions = [{ label = "to" }]

[[rule]]
name = "Cc address"
when = 'cc:audit@example.org'
actions = [{ label = "cc" }]

[[rule]]
name = "Subject words"
when = '(subject:report OR subject:"status update") -subject:draft'
actions = [{ label = "subject" }]

[[rule]]
name = "Hyphenated"
when = 'subject:python-dev'
actions = [{ label = "hyphen" }]

[[rule]]
name = "Quoted phrase"
when = '"release notes"'
actions = [{ label = "phrase" }]

[[rule]]
name = "Some list"
when = 'list:*example.com*'
actions = [{ label = "list" }]
'''


def test_when_queries_match(tmp_path, pigeonhole):
    result = export(tmp_path, WHEN_RULES)
    assert left_out(result) == {}
    script = pigeonhole.write_script(result.script)

    def run(name: str, headers: dict[str, str], body: str = "Hello.\n") -> set[str]:
        base = {"From": "Bo <bo@example.org>", "To": ME, "Subject": "x", "Message-ID": f"<{name}@example.net>"}
        return labels(pigeonhole.run(script, write_message(tmp_path, name, base | headers, body)))

    assert run("address.eml", {"From": "Ana <ANA@example.net>"}) == {"address"}
    assert run("address-other.eml", {"From": "Ana <ana@example.network>"}) == set()
    assert run("domain.eml", {"From": "x@mail.example.com"}) == {"fromdomain"}
    assert run("domain-no.eml", {"From": "x@example.community"}) == set()
    assert run("to.eml", {"Cc": "Support <support@example.org>"}) == {"to"}
    assert run("to-part.eml", {"To": "supporters@example.org"}) == set()
    assert run("cc.eml", {"Cc": "Audit <Audit@example.org>"}) == {"cc"}
    assert run("cc-in-to.eml", {"To": "audit@example.org"}) == set()
    assert run("report.eml", {"Subject": "Monthly report"}) == {"subject"}
    assert run("reports.eml", {"Subject": "Monthly reports"}) == set()
    assert run("status.eml", {"Subject": "Status: update for Monday"}) == {"subject"}
    assert run("draft.eml", {"Subject": "Draft report"}) == set()
    assert run("hyphen.eml", {"Subject": "[Python-Dev] news"}) == {"hyphen"}
    assert run("phrase-body.eml", {}, "Read the release notes.\n") == {"phrase"}
    assert run("phrase-subject.eml", {"Subject": "Release notes 2.0"}) == {"phrase"}
    assert run("list.eml", {"List-Id": "<news.lists.example.com>"}) == {"list"}
    assert run("list-other.eml", {"List-Id": "<dev.example.org>"}) == set()


LIST_RULES = '''
[[rule]]
name = "Newsletter"
when = 'list:newsletter.*'
actions = [{ label = "newsletter" }]

[[rule]]
name = "One letter"
when = 'list:dev?.example.org'
actions = [{ label = "dev" }]
'''


@pytest.mark.parametrize(
    ("list_id", "expected"),
    [
        ("DevPulse <newsletter.devpulse.example.net>", {"newsletter"}),
        ("<NewsLetter.devpulse.example.net>", {"newsletter"}),
        ("newsletter.devpulse.example.net", {"newsletter"}),
        ("Newsletter fans <fans.example.net>", set()),
        ("<old.newsletter.example.net>", set()),
        ("Developers <dev1.example.org>", {"dev"}),
        ("dev2.example.org", {"dev"}),
        ("Dev1.example.org team <team.example.org>", set()),
    ],
)
def test_list_pattern_matches_id_in_brackets(tmp_path, pigeonhole, list_id, expected):
    """The script matches the id inside the angle brackets, as Sluice does (store column list_id)."""
    from desktop.mail.parse import parse_summary
    from desktop.rules.match import _list_check

    result = export(tmp_path, LIST_RULES)
    assert left_out(result) == {}
    script = pigeonhole.write_script(result.script)
    headers = {"From": "bo@example.org", "To": ME, "Subject": "x", "Message-ID": "<l@example.net>", "List-Id": list_id}
    message = write_message(tmp_path, "list.eml", headers)

    assert labels(pigeonhole.run(script, message)) == expected
    stored_id = parse_summary(message.read_bytes()).list_id
    desktop = {label for pattern, label in (("newsletter.*", "newsletter"), ("dev?.example.org", "dev"))
               if _list_check(pattern)(_Facts(stored_id))}
    assert desktop == expected, "Sluice itself decides the same way"


REGEXES = [
    r"order #\d{3,}", r"^re:\s+", r"[^a-z ]x", r"a.c", r"(foo|bar)+baz", r"\$\d+\.\d\d", r"[\d.-]+z",
    r"a{,2}b", r"colou?r", r"\[ticket\]", r"x*?y$", r"[]a]{2}", r"[a\-]{3}", r"\S+@\S+",
    r"[a\-z]{3}", r"[-a]{2}c", r"^[\^x]+$", r"[\]\\]", r"[^\d ]\d",
]
GLOBS = ["mutt/2.?*", "ticket [0-9]*", "[!a]bc", "a\\b*", "*[*]*", "[]x]*", "*.pdf", "*a*c*", "a*??", "x*?y"]
SUBJECTS = [
    "Order #1234", "order #12", "Re:  hello", "re:x", "1x", "ax", "abc", "a-c", "foobarbaz", "baz", "$10.99",
    "$10.9", "1.2-3z", "aab", "aaab", "b", "Color", "colour", "[Ticket] 7", "ticket 7", "xxy", "y", "]a",
    "a-a", "ana@example.net", "mutt/2.1", "Mutt/2.", "ticket 9x", "bbc", "a\\bc", "star*", "]x", "file.PDF",
    "ab", "xy", "xay", "cab", "a-z", "b-c", "-ac", "^x^", "x]", "back\\slash", "v2",
]


def test_regex_and_glob_agree_with_python(tmp_path, pigeonhole):
    import fnmatch

    rules = [("regex", pattern) for pattern in REGEXES] + [("matches", glob) for glob in GLOBS]
    text = ""
    for number, (operator, value) in enumerate(rules):
        quoted = value.replace("'", "")
        text += f'[[rule]]\nname = "R{number}"\nif = [{{ header = "subject", {operator} = \'{quoted}\' }}]\n'
        text += f'actions = [{{ label = "r{number}" }}]\n\n'
    result = export(tmp_path, text)
    assert left_out(result) == {}
    script = pigeonhole.write_script(result.script)

    for index, subject in enumerate(SUBJECTS):
        expected = set()
        for number, (operator, value) in enumerate(rules):
            if operator == "regex" and re.search(value, subject, re.IGNORECASE):
                expected.add(f"r{number}")
            if operator == "matches" and fnmatch.fnmatchcase(subject.casefold(), value.casefold()):
                expected.add(f"r{number}")
        headers = {"From": "a@example.net", "To": ME, "Subject": subject}
        found = labels(pigeonhole.run(script, write_message(tmp_path, f"m{index}.eml", headers)))
        assert found == expected, f"subject {subject!r}"


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("when = 'older_than:30d'", "Sieve cannot test a message's age (older_than:30d"),
        ("when = 'newer_than:2w'", "Sieve cannot test a message's age (newer_than:14d"),
        ("when = 'is:unread'", "Sieve cannot test a message's flags or labels ('\\seen'"),
        ("when = 'label:$work'", "Sieve cannot test a message's flags or labels ('$work'"),
        ("when = 'has:attachment'", "Sieve has no reliable attachment test (has:attachment"),
        ("when = 'attachment:pdf'", "Sieve cannot test attachment names ('attachment:pdf'"),
        ("when = 'invoice'", "a word without a field also searches attachment names"),
        ("when = 'folder:INBOX'", "before the message has an account or folder"),
        ("when = 'after:2026-01-01'", "the export does not translate dates"),
        ("when = 'subject:Grüße'", "outside ASCII"),
        ("if = [{ older_than = \"7d\" }]", "Sieve cannot test a message's age (older_than = 7d)"),
        ("if = [{ unread = true }]", "read or flagged (unread = true)"),
        ("if = [{ has_attachment = true }]", "no reliable attachment test"),
        ("if = [{ in = \"attachment\", matches = \"*.pdf\" }]", "no reliable attachment test"),
        ("if = [{ header = \"subject\", regex = '\\binvoice\\b' }]", "have no '\\b'"),
        ("if = [{ header = \"subject\", regex = '(?i)invoice' }]", "no '(?...)' groups"),
        ("if = [{ header = \"subject\", regex = '(a)\\1' }]", "have no '\\1'"),
        ("if = [{ header = \"subject\", contains = \"Über\" }]", "Sieve ignores case only for A to Z"),
        ("if = [{ any = [{ header = \"subject\", is = \"a\" }, { unread = true }] }]", "read or flagged"),
        ("if = [{ not = { flagged = true } }]", "read or flagged (flagged = true)"),
    ],
)
def test_condition_left_out(tmp_path, condition, reason):
    text = f'[[rule]]\nname = "R"\n{condition}\nactions = [{{ move = "Elsewhere" }}]\n\n'
    text += '[[rule]]\nname = "Kept"\nif = [{ header = "subject", is = "x" }]\nactions = [{ flag = true }]\n'

    result = export(tmp_path, text)

    assert result.exported == ("Kept",)
    assert reason in left_out(result)["R"]
    assert "Elsewhere" not in result.script


def test_case_sensitive_non_ascii_exported(tmp_path, pigeonhole):
    result = export(tmp_path, '[[rule]]\nname = "R"\nif = [{ header = "subject", contains = "Grüße", '
                              'case_sensitive = true }]\nactions = [{ move = "Greetings" }]\n')
    script = pigeonhole.write_script(result.script)

    message = write_message(tmp_path, "m.eml", {"From": "a@example.net", "To": ME,
                                                "Subject": "=?utf-8?q?Viele_Gr=C3=BC=C3=9Fe?="})
    assert pigeonhole.run(script, message).stored == {"Greetings": frozenset()}


# Actions


ACTION_RULES = '''
[[rule]]
name = "Tag first"
if = [{ header = "subject", contains = "project" }]
actions = [{ label = "$project" }, { unlabel = "$old" }, { priority = 5 }]

[[rule]]
name = "Copy and move"
if = [{ header = "subject", contains = "report" }]
actions = [{ copy = "Archive/2026" }, { move = 'Odd "quoted" \\ name' }, { mark = "read" }, { flag = true }]
stop = true

[[rule]]
name = "Unwanted"
if = [{ header = "subject", contains = "spam" }]
actions = [{ delete = true }]

[[rule]]
name = "Old stuff"
if = [{ header = "subject", contains = "old" }]
actions = [{ archive = true }, { mark = "unread" }]

[[rule]]
name = "Only stops"
if = [{ header = "subject", contains = "quiet" }]
actions = [{ lane = "other" }]
stop = true

[[rule]]
name = "Catch all"
actions = [{ label = "$seen-by-sieve" }]
'''


def test_actions_run_in_pigeonhole(tmp_path, pigeonhole):
    target = ExportTarget(account="work", trash={"work": "Deleted Items"}, archive={"work": "Archive"})
    result = export(tmp_path, ACTION_RULES, target)
    assert result.exported == ("Tag first", "Copy and move", "Unwanted", "Old stuff", "Only stops", "Catch all")
    assert [omission.reason for omission in result.omissions] == ["priority +5 is desktop-only", "lane 'other' is desktop-only"]
    script = pigeonhole.write_script(result.script)

    def run(subject: str):
        headers = {"From": "a@example.net", "To": ME, "Subject": subject, "Message-ID": "<a@example.net>"}
        return pigeonhole.run(script, write_message(tmp_path, "m.eml", headers)).stored

    # The rule's flag actions come before its fileinto commands, so the copy carries them too.
    assert run("project report") == {
        "Archive/2026": {"$project", "\\seen", "\\flagged"},
        'Odd "quoted" \\ name': {"$project", "\\seen", "\\flagged"},
    }
    # Flags that a later rule adds reach the implicit keep but not a copy filed before.
    assert run("spam offer") == {"Deleted Items": frozenset()}
    assert run("old news") == {"Archive": frozenset()}
    assert run("quiet please") == {"INBOX": frozenset()}
    assert run("anything") == {"INBOX": {"$seen-by-sieve"}}


def test_unknown_trash_noted(tmp_path):
    result = export(tmp_path, '[[rule]]\nname = "D"\nif = [{ size_above = "5MB" }]\nactions = [{ delete = true }]\n')

    assert 'fileinto "Trash";' in result.script
    assert [omission.whole for omission in result.omissions] == [False]
    assert "no Trash folder is known" in result.omissions[0].reason


def test_stop_rule_left_out_warns(tmp_path):
    result = export(tmp_path, '[[rule]]\nname = "S"\nwhen = "is:unread"\nactions = [{ flag = true }]\nstop = true\n')

    assert "it has stop = true, so later rules in the script may act on mail it would have stopped" in left_out(result)["S"]


def test_scope_folders_and_accounts(tmp_path):
    text = (
        '[[rule]]\nname = "Lists only"\nscope = { folders = ["Lists"] }\nactions = [{ flag = true }]\n\n'
        '[[rule]]\nname = "Home"\nscope = { accounts = ["home"] }\nactions = [{ flag = true }]\n\n'
        '[[rule]]\nname = "Both"\nscope = { folders = ["INBOX", "Lists"] }\nactions = [{ flag = true }]\n'
    )

    result = export(tmp_path, text, ExportTarget(account="work"))

    assert result.exported == ("Both",)
    reasons = left_out(result)
    assert "a Sieve script runs only on new mail as it is delivered to INBOX" in reasons["Lists only"]
    assert "applies only to account home, not to 'work'" in reasons["Home"]
    parts = [omission.reason for omission in result.omissions if not omission.whole]
    assert parts == ["Sieve sorts only mail arriving in INBOX, so its folder Lists is not covered"]


# Auto-reply


REPLY_RULES = '''
[[rule]]
name = "Reply"
if = [{ not = { header = "list-id", matches = "*" } }]
actions = [
  { auto_reply = { days = 3, body = """
Hello,
.
..two dots and a ${variable} that must stay as written.
""" } },
]
'''


def test_vacation_default_subject_and_body(tmp_path, pigeonhole):
    target = ExportTarget(account="work", addresses={"work": (ME, "old@example.org")})
    result = export(tmp_path, REPLY_RULES, target)
    assert ':addresses ["me@example.org", "old@example.org"]' in result.script
    assert pigeonhole.compile(result.script).returncode == 0
    script = pigeonhole.write_script(result.script)

    headers = {"Return-Path": "<ana@example.net>", "From": "ana@example.net", "To": "old@example.org",
               "Subject": "Lunch?", "Message-ID": "<lunch@example.net>"}
    message = write_message(tmp_path, "lunch.eml", headers)
    planned = pigeonhole.output(script, message)
    assert parse_outcome(planned).vacation == ["Re: Lunch?"]
    assert "seconds : 259200" in planned

    sent = pigeonhole.output(script, message, execute=True)
    assert "\nSubject: Re: Lunch?\n" in sent
    assert "\nTo: <ana@example.net>\n" in sent
    assert "\nAuto-Submitted: auto-replied" in sent
    assert "\n\nHello,\n.\n..two dots and a ${variable} that must stay as written.\n" in sent

    not_to_me = write_message(tmp_path, "other.eml", headers | {"To": "someone@example.net"})
    discarded = pigeonhole.output(script, not_to_me, execute=True)
    assert "discarding vacation response" in discarded
    assert "Subject: Re: Lunch?" not in discarded
    listed = write_message(tmp_path, "list.eml", headers | {"List-Id": "<x.example.net>"})
    assert pigeonhole.run(script, listed).vacation == []


@pytest.mark.parametrize(("start", "end", "active"), [
    ("2000-01-01", "2999-12-31", True),
    ("2999-01-01", "2999-12-31", False),
    ("2000-01-01", "2000-12-31", False),
])
def test_vacation_date_window(tmp_path, pigeonhole, start, end, active):
    text = (f'[[rule]]\nname = "Away"\nactions = [{{ auto_reply = {{ subject = "Away", start = {start}, '
            f'end = {end}, body = "Back soon." }} }}]\n')
    script = pigeonhole.write_script(export(tmp_path, text).script)

    headers = {"Return-Path": "<ana@example.net>", "From": "ana@example.net", "To": ME, "Subject": "Hi"}
    outcome = pigeonhole.run(script, write_message(tmp_path, "m.eml", headers))

    assert outcome.vacation == (["Away"] if active else [])


def test_template_reply_not_exported(tmp_path):
    text = '[[rule]]\nname = "T"\nactions = [{ auto_reply = { body = "Dear {{ sender_name }}" } }, { flag = true }]\n'

    result = export(tmp_path, text)

    assert "vacation" not in result.script
    assert result.exported == ("T",)
    assert "template placeholders" in result.omissions[0].reason


class _Facts:
    """The part of a message's facts that a list: check reads."""

    def __init__(self, list_id: str) -> None:
        self.row = type("Row", (), {"list_id": list_id})()


# The command


def test_command_writes_file_and_lists(tmp_path, capsys, pigeonhole):
    from desktop.store import Store

    profile = default_profile().ensure()
    profile.config_file.write_text(
        '[accounts.work]\nimap_host = "127.0.0.1"\nuser = "me"\naddress = "me@example.org"\n'
        'aliases = ["me@old.example.org"]\n', encoding="utf-8",
    )
    with Store(profile.store_file) as store:
        account_id = store.ensure_account("work")
        store.upsert_folder(account_id, "INBOX")
        store.upsert_folder(account_id, "Papierkorb", special_use="\\Trash")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.toml").write_text(
        '[[rule]]\nname = "Junk"\nif = [{ header = "subject", contains = "win" }]\nactions = [{ delete = true }]\n\n'
        '[[rule]]\nname = "Old"\nwhen = "older_than:1y"\nactions = [{ delete = true }]\n\n'
        '[[rule]]\nname = "Away"\nactions = [{ auto_reply = { subject = "Away", body = "Back soon." } }]\n',
        encoding="utf-8",
    )
    output = tmp_path / "out.sieve"

    code = main(["rules", "export-sieve", "--rules", str(rules), "-o", str(output)])

    streams = capsys.readouterr()
    assert code == 0
    assert streams.out.strip() == f"Wrote 2 rules to {output}."
    assert f"{rules / 'a.toml'}:6: rule 'Old': Left out: Sieve cannot test a message's age" in streams.err
    assert streams.err.strip().endswith("Exported 2 of 3 rules; 1 left out.")
    script = output.read_text(encoding="utf-8")
    assert 'fileinto "Papierkorb";' in script
    assert ':addresses ["me@example.org", "me@old.example.org"]' in script
    assert pigeonhole.compile(script).returncode == 0


def test_command_stdout_and_errors(tmp_path, capsys):
    code = main(["rules", "export-sieve", "--rules", str(EXAMPLES / "10-receipts.toml")])
    streams = capsys.readouterr()
    assert code == 0
    assert streams.out.startswith("# Sieve script written by 'sluice rules export-sieve'")
    assert 'fileinto "Receipts";' in streams.out

    code = main(["rules", "export-sieve", "--rules", str(tmp_path / "missing.toml")])
    assert code == 1
    assert "missing.toml not found" in capsys.readouterr().err

    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "B"\nactions = [{ moove = "X" }]\n', encoding="utf-8")
    code = main(["rules", "export-sieve", "--rules", str(bad)])
    streams = capsys.readouterr()
    assert code == 1
    assert streams.out == ""
    assert "Unknown action 'moove'" in streams.err


def test_command_checks_folders(tmp_path, capsys):
    from desktop.store import Store

    profile = default_profile().ensure()
    profile.config_file.write_text('[accounts.work]\nimap_host = "127.0.0.1"\nuser = "me"\n', encoding="utf-8")
    with Store(profile.store_file) as store:
        account_id = store.ensure_account("work")
        store.upsert_folder(account_id, "INBOX")
        store.upsert_folder(account_id, "Receipts")
    rules = tmp_path / "typo.toml"
    rules.write_text('[[rule]]\nname = "Shop"\nwhen = "subject:invoice"\nactions = [{ move = "Recipts" }]\n',
                     encoding="utf-8")
    output = tmp_path / "out.sieve"

    code = main(["rules", "export-sieve", "--rules", str(rules), "-o", str(output)])

    streams = capsys.readouterr()
    assert code == 1
    assert f"{rules}:4: rule 'Shop': Folder 'Recipts' not found in account 'work'. Did you mean 'Receipts'?" in streams.err
    assert not output.exists()
    rules.write_text(rules.read_text(encoding="utf-8").replace("Recipts", "Receipts"), encoding="utf-8")
    assert main(["rules", "export-sieve", "--rules", str(rules), "-o", str(output)]) == 0
    assert 'fileinto "Receipts";' in output.read_text(encoding="utf-8")
