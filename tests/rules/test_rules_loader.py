"""Loading and validating rule files: the model built, and each problem with its line."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from desktop.index.query import Or, RelativeDate, Text
from desktop.rules.loader import check_folders, collect_rules, load_rules
from desktop.rules.locate import locate
from desktop.rules.model import (
    AddressTest,
    AgeTest,
    AllOf,
    AnyOf,
    Archive,
    AttachmentTest,
    AutoReply,
    BodyTest,
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
    Scope,
    SizeTest,
    TextMatch,
    When,
)
from desktop.rules.problems import RuleFileError

REPOSITORY = Path(__file__).resolve().parents[2]

ISSUE_EXAMPLE = """\
[[rule]]
name = "Receipts"
when = 'subject:invoice OR subject:receipt'      # the search language
actions = [{ move = "Receipts" }, { mark = "read" }]
stop = true

[[rule]]
name = "Boss is VIP"
when = 'from:boss@example.com'
actions = [{ lane = "vip" }, { flag = true }]

[[rule]]
name = "Old newsletters"
when = 'list:* older_than:30d'
actions = [{ archive = true }]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        load_rules([path])
    return [str(problem) for problem in caught.value.problems]


def test_issue_example_loads(tmp_path):
    path = write(tmp_path, "rules.toml", ISSUE_EXAMPLE)

    ruleset = load_rules([path])

    receipts, boss, old = ruleset.rules
    assert receipts.name == "Receipts"
    assert receipts.condition == When(
        "subject:invoice OR subject:receipt",
        Or((Text("invoice", field="subject"), Text("receipt", field="subject"))),
    )
    assert receipts.actions == (Move("Receipts"), Mark(read=True))
    assert receipts.stop is True
    assert receipts.scope == Scope(accounts=(), folders=("INBOX",))
    assert receipts.line == 1
    assert boss.actions == (Lane("vip"), Flag(True))
    assert boss.stop is False
    assert boss.line == 7
    assert old.condition.query.operands == (ListTerm("*"), RelativeDate(timedelta(days=30), older=True))
    assert old.actions == (Archive(),)
    assert old.line == 12
    assert ruleset.files == (path,)


def test_structured_conditions_load(tmp_path):
    path = write(tmp_path, "rules.toml", """\
        [[rule]]
        name = "All kinds"
        if = [
          { header = "Subject", contains = "Invoice", case_sensitive = true },
          { address = "from", part = "domain", matches = "*.example.com" },
          { in = "body", regex = 'order #\\d+' },
          { in = "attachment", matches = "*.pdf" },
          { has_attachment = false },
          { size_above = "1.5 MB" },
          { size_below = 2048 },
          { newer_than = "2w" },
          { any = [{ unread = true }, { flagged = false }] },
          { not = { header = "list-id", matches = "*" } },
        ]
        actions = [{ label = "$bills" }, { unlabel = "$todo" }, { priority = -5 }, { stop = true }]
        """)

    rule = load_rules([path]).rule("All kinds")

    assert rule.condition == AllOf((
        HeaderTest("subject", TextMatch("contains", "Invoice", case_sensitive=True)),
        AddressTest("from", "domain", TextMatch("matches", "*.example.com")),
        BodyTest(TextMatch("regex", r"order #\d+")),
        AttachmentTest(TextMatch("matches", "*.pdf")),
        AttachmentTest(present=False),
        SizeTest(above=1572864),
        SizeTest(below=2048),
        AgeTest(timedelta(days=14), older=False),
        AnyOf((FlagTest("unread", True), FlagTest("flagged", False))),
        NotOf(HeaderTest("list-id", TextMatch("matches", "*"))),
    ))
    assert rule.actions == (Label("$bills"), Label("$todo", add=False), Priority(-5))
    assert rule.stop is True


def test_when_and_if_combine(tmp_path):
    path = write(tmp_path, "rules.toml", """\
        [[rule]]
        name = "Both"
        when = "is:unread"
        if = [{ older_than = 3 }]
        actions = [{ flag = true }]
        """)

    condition = load_rules([path]).rule("Both").condition

    assert isinstance(condition, AllOf)
    assert isinstance(condition.conditions[0], When)
    assert condition.conditions[1] == AgeTest(timedelta(days=3), older=True)


def test_auto_reply_and_scope_load(tmp_path):
    path = write(tmp_path, "rules.toml", '''\
        [[rule]]
        name = "Away"
        actions = [{ auto_reply = { body = "Back on Monday.", days = 3, start = 2026-12-20, end = 2027-01-04 } }]

        [rule.scope]
        accounts = ["work"]
        folders = ["INBOX", "Support"]
        ''')

    rule = load_rules([path]).rule("Away")

    assert rule.actions == (AutoReply("Back on Monday.", days=3, start=date(2026, 12, 20), end=date(2027, 1, 4)),)
    assert rule.scope == Scope(("work",), ("INBOX", "Support"))
    assert rule.condition is None


def test_folder_files_load_in_name_order(tmp_path):
    write(tmp_path, "b.toml", '[[rule]]\nname = "B"\nactions = [{ flag = true }]\n')
    write(tmp_path, "a.toml", '[[rule]]\nname = "A1"\nactions = [{ flag = true }]\n[[rule]]\nname = "A2"\nactions = [{ flag = true }]\n')
    write(tmp_path, "notes.txt", "not a rule file")

    ruleset = load_rules(tmp_path)

    assert [rule.name for rule in ruleset.rules] == ["A1", "A2", "B"]
    assert [path.name for path in ruleset.files] == ["a.toml", "b.toml"]


def test_repository_examples_load():
    files = sorted((REPOSITORY / "rules").glob("*.toml"))
    assert len(files) >= 5

    ruleset = load_rules(files)

    assert len(ruleset.files) == len(files)
    assert len(ruleset.rules) >= len(files)


# Each case: the file text, then (line, expected text in the message).
ERROR_CASES = {
    "toml syntax": (
        '[[rule]]\nname = "A"\nwhen = = "a"\nactions = [{ flag = true }]\n',
        (3, "Invalid TOML at column 8: Invalid value."),
    ),
    "toml unclosed at end": (
        '[[rule]]\nname = "A"\nactions = [{ flag = true }\n',
        (3, "Invalid TOML at the end of the file: Unclosed array."),
    ),
    "unknown rule key": (
        '[[rule]]\nname = "A"\nacions = [{ flag = true }]\nactions = [{ flag = true }]\n',
        (3, "rule 'A': Unknown rule key 'acions'. Did you mean 'actions'? Known rule keys: name,"),
    ),
    "unknown top-level key": (
        'version = 1\n[[rule]]\nname = "A"\nactions = [{ flag = true }]\n',
        (1, "Unknown top-level key 'version'."),
    ),
    "missing name": (
        '[[rule]]\nwhen = "a"\nactions = [{ flag = true }]\n',
        (1, 'Rule without a name. Add name = "..."'),
    ),
    "missing actions": (
        '[[rule]]\nname = "A"\nwhen = "a"\n',
        (1, "rule 'A': 'actions' is missing."),
    ),
    "empty actions": (
        '[[rule]]\nname = "A"\n\nactions = []\n',
        (4, "rule 'A': 'actions' is []."),
    ),
    "wrong type of stop": (
        '[[rule]]\nname = "A"\nactions = [{ flag = true }]\nstop = "yes"\n',
        (4, "'stop' must be true or false, not 'yes'."),
    ),
    "bad when query": (
        '[[rule]]\nname = "A"\n\nwhen = "subject:(a b)"\nactions = [{ flag = true }]\n',
        (4, "Invalid 'when' query at character 9: Parentheses after 'subject:' are not supported."),
    ),
    "unknown field in when": (
        '[[rule]]\nname = "A"\nwhen = "form:ana"\nactions = [{ flag = true }]\n',
        (3, "Unknown field 'form'. Did you mean 'from'?"),
    ),
    "empty list term": (
        '[[rule]]\nname = "A"\nwhen = "list: x"\nactions = [{ flag = true }]\n',
        (3, "Missing value after 'list:'."),
    ),
    "bad regex": (
        '[[rule]]\nname = "A"\nactions = [{ flag = true }]\nif = [\n  { unread = true },\n  { header = "subject", regex = "(unclosed" },\n]\n',
        (6, "Invalid regex '(unclosed': missing ), unterminated subpattern at position 0."),
    ),
    "unknown action": (
        '[[rule]]\nname = "A"\nactions = [\n  { flag = true },\n  { moove = "X" },\n]\n',
        (5, "Unknown action 'moove'. Did you mean 'move'?"),
    ),
    "action with two keys": (
        '[[rule]]\nname = "A"\nactions = [{ move = "X", flag = true }]\n',
        (3, "An action is a table with exactly one key"),
    ),
    "invalid lane": (
        '[[rule]]\nname = "A"\nactions = [{ flag = true }, { lane = "Very Important" }]\n',
        (3, "Invalid lane name 'Very Important'."),
    ),
    "bad size": (
        '[[rule]]\nname = "A"\nif = [{ size_above = "10 megs" }]\nactions = [{ flag = true }]\n',
        (3, "Invalid size_above '10 megs'. Write a number of bytes or a number with B, KB, MB or GB"),
    ),
    "bad age": (
        '[[rule]]\nname = "A"\nif = [{ older_than = "30 days" }]\nactions = [{ flag = true }]\n',
        (3, "Invalid older_than '30 days'."),
    ),
    "auto reply without body": (
        '[[rule]]\nname = "A"\nactions = [{ auto_reply = { days = 3 } }]\n',
        (3, "'auto_reply' needs a body"),
    ),
    "auto reply window reversed": (
        '[[rule]]\nname = "A"\nactions = [{ auto_reply = { body = "x", start = 2027-01-04, end = 2026-12-20 } }]\n',
        (3, "is before 'start'"),
    ),
    "unknown condition": (
        '[[rule]]\nname = "A"\nif = [{ heder = "subject", is = "x" }]\nactions = [{ flag = true }]\n',
        (3, "Unknown condition 'heder'. Did you mean 'header'?"),
    ),
    "two condition kinds": (
        '[[rule]]\nname = "A"\nif = [{ unread = true, flagged = true }]\nactions = [{ flag = true }]\n',
        (3, "A condition has exactly one of"),
    ),
    "missing operator": (
        '[[rule]]\nname = "A"\nif = [{ header = "subject" }]\nactions = [{ flag = true }]\n',
        (3, "A 'header' condition needs exactly one of is, contains, matches, regex"),
    ),
    "unknown scope key": (
        '[[rule]]\nname = "A"\nactions = [{ flag = true }]\n[rule.scope]\nfolder = ["INBOX"]\n',
        (5, "Unknown scope key 'folder'. Did you mean 'folders'?"),
    ),
    "wrong scope type": (
        '[[rule]]\nname = "A"\nscope = "INBOX"\nactions = [{ flag = true }]\n',
        (3, "'scope' must be a table"),
    ),
    "rule as table": (
        '[rule]\nname = "A"\n',
        (1, "Write rules as [[rule]] tables"),
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES, ids=list(ERROR_CASES))
def test_problem_message_and_line(tmp_path, case):
    text, (line, expected) = ERROR_CASES[case]
    path = write(tmp_path, "bad.toml", text)

    problems = problems_of(path)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: "), problems[0]
    assert expected in problems[0]


def test_every_problem_is_reported(tmp_path):
    path = write(tmp_path, "bad.toml", """\
        [[rule]]
        name = "One"
        actions = [{ lane = "VIP" }]

        [[rule]]
        name = "Two"
        when = "from:"
        actions = [{ mark = "seen" }]
        """)

    problems = problems_of(path)

    assert [problem.split(": ")[0] for problem in problems] == [f"{path}:3", f"{path}:7", f"{path}:8"]


def test_bad_file_never_half_loads(tmp_path):
    good = write(tmp_path, "a.toml", '[[rule]]\nname = "Good"\nactions = [{ flag = true }]\n')
    write(tmp_path, "b.toml", '[[rule]]\nname = "Fine"\nactions = [{ flag = true }]\n[[rule]]\nname = "Bad"\nactions = [{ lane = "X" }]\n')

    ruleset, problems = collect_rules(tmp_path)

    assert [rule.name for rule in ruleset.rules] == ["Good"]
    assert len(problems) == 1
    with pytest.raises(RuleFileError):
        load_rules(tmp_path)
    assert load_rules([good]).rules[0].name == "Good"


def test_duplicate_name_across_files(tmp_path):
    write(tmp_path, "a.toml", '[[rule]]\nname = "Same"\nactions = [{ flag = true }]\n')
    second = write(tmp_path, "b.toml", '# comment\n\n[[rule]]\nname = "Same"\nactions = [{ flag = true }]\n')

    with pytest.raises(RuleFileError) as caught:
        load_rules(tmp_path)

    [problem] = caught.value.problems
    assert str(problem).startswith(f"{second}:3: rule 'Same': Duplicate rule name; it is also used at ")
    assert str(problem).endswith("a.toml:1. Give each rule its own name.")


def test_locate_lines_of_keys_and_items():
    text = '# top\n[[rule]]\nname = "A"  # x\nwhen = """\nmulti\n"""\nactions = [\n  { move = "X" },  # one\n\n  { mark = "read" },\n]\nstop = true\n[rule.scope]\nfolders = ["INBOX"]\n'

    [rule] = locate(text).rules

    assert rule.line == 2
    assert rule.keys == {"name": 3, "when": 4, "actions": 7, "stop": 12, "scope": 13, "scope.folders": 14}
    assert rule.items["actions"] == [8, 10]


def test_check_folders_reports_unknown(tmp_path):
    path = write(tmp_path, "rules.toml", '[[rule]]\nname = "Move"\nactions = [{ move = "Recipts" }]\n')
    ruleset = load_rules([path])

    problems = check_folders(ruleset, [("work", "INBOX"), ("work", "Receipts")])
    clean = check_folders(ruleset, [("work", "INBOX"), ("work", "Recipts")])

    assert [str(problem) for problem in problems] == [
        f"{path}:3: rule 'Move': Folder 'Recipts' not found in account 'work'. Did you mean 'Receipts'? "
        "Check the name with 'sluice folders'."
    ]
    assert clean == []


def test_check_folders_points_at_names(tmp_path):
    text = (
        '[[rule]]\nname = "Scoped"\nactions = [\n  { flag = true },\n  { copy = "Bills" },\n]\n\n'
        '[rule.scope]\naccounts = ["work", "home"]\nfolders = ["INBOX", "Lsts"]\n'
    )
    path = write(tmp_path, "rules.toml", text)

    problems = check_folders(load_rules([path]), [("work", "INBOX"), ("work", "Lists")])

    assert [(problem.line, problem.message.split(".")[0]) for problem in problems] == [
        (10, "Folder 'Lsts' not found in account 'work'"),
        (5, "Folder 'Bills' not found in account 'work'"),
        (9, "Account 'home' has no folders in the store"),
    ]

