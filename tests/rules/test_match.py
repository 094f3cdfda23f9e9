"""The rule matcher: each structured test, the list: term, verdict reasons, missing bodies and broken mail.

Rules are written as TOML and loaded with the real loader; messages are stored
in a real store, some as headers only.
"""

from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.mail.parse import parse_summary
from desktop.rules.loader import collect_rules
from desktop.rules.match import Matcher, Verdict, compile_text_match, describe_query
from desktop.rules.model import Rule, TextMatch
from desktop.rules.when import parse_when
from desktop.store import MessageRow, NewMessage, Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REPOSITORY = Path(__file__).resolve().parents[2]
CORPUS = REPOSITORY / "tests" / "corpus"

NEWSLETTER = (
    "From: =?utf-8?q?Caf=C3=A9_News?= <news@shop.example.com>\r\n"
    "To: Alex Morgan <you@example.com>, team@example.org\r\n"
    "Cc: Boss <boss@corp.example.net>\r\n"
    "Reply-To: replies@shop.example.com\r\n"
    "Sender: bounce-77@mailer.example.com\r\n"
    "Subject: Your weekly INVOICE digest\r\n"
    "Date: Sun, 01 Nov 2026 12:00:00 +0000\r\n"
    "List-Id: Shop News <news.shop.example.com>\r\n"
    "List-Unsubscribe: <mailto:leave@shop.example.com>\r\n"
    "X-Mailer: Outlook 16.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Order <b>#4411</b> is on its way.</p><p>Click to unsubscribe.</p>\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=\"Rechnung M\xc3\xa4rz.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"Rechnung M\xc3\xa4rz.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--b--\r\n"
)

PERSONAL = (
    "From: Ana Diaz <ana@family.example.org>\r\n"
    "To: you@example.com\r\n"
    "Subject: Lunch on Sunday?\r\n"
    "Date: Mon, 30 Nov 2026 08:00:00 +0000\r\n"
    "\r\n"
    "Shall we meet at noon? Order #12 is mine.\r\n"
)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as opened:
        yield opened


class Mailbox:
    """Stores messages in a real store and returns their rows."""

    def __init__(self, store: Store) -> None:
        self.store = store
        account = store.ensure_account("work")
        self.folder = store.upsert_folder(account, "INBOX")
        self.uid = 0

    def add(self, text: str | bytes, *, flags: tuple[str, ...] = (), body: bool = True, size: int | None = None) -> MessageRow:
        raw = text if isinstance(text, bytes) else text.encode("latin-1")
        self.uid += 1
        new = NewMessage(uid=self.uid, flags=list(flags), size=size if size is not None else len(raw),
                         raw=raw if body else None, summary=parse_summary(raw))
        (message_id,) = self.store.insert_messages(self.folder, [new])
        row = self.store.message(message_id)
        assert row is not None
        return row


@pytest.fixture
def mailbox(store: Store) -> Mailbox:
    return Mailbox(store)


def load_rule(tmp_path: Path, body: str) -> Rule:
    """Load one rule named "T" from TOML lines (when, if) with the real loader."""
    path = tmp_path / "rules.toml"
    path.write_text(f'[[rule]]\nname = "T"\n{textwrap.dedent(body).strip()}\nactions = [{{ flag = true }}]\n',
                    encoding="utf-8")
    ruleset, problems = collect_rules(path)
    assert problems == []
    return ruleset.rule("T")


def check(store: Store, tmp_path: Path, body: str, row: MessageRow, now: datetime = NOW) -> Verdict:
    return Matcher(store, now=now).check(load_rule(tmp_path, body), row)


def matched(store: Store, tmp_path: Path, body: str, row: MessageRow) -> bool:
    verdict = check(store, tmp_path, body, row)
    assert not verdict.needs_body
    return verdict.matched


# Header tests


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ('{ header = "from", contains = "café news" }', True),
        ('{ header = "from", is = "Café News <news@shop.example.com>" }', True),
        ('{ header = "from", is = "news@shop.example.com" }', False),
        ('{ header = "subject", is = "your weekly invoice digest" }', True),
        ('{ header = "subject", is = "your weekly invoice digest", case_sensitive = true }', False),
        ('{ header = "subject", contains = "INVOICE", case_sensitive = true }', True),
        ('{ header = "subject", matches = "your * digest" }', True),
        ('{ header = "subject", matches = "weekly*" }', False),
        ('{ header = "subject", regex = "week(ly)? invoice" }', True),
        ('{ header = "subject", regex = "^invoice" }', False),
        ('{ header = "to", contains = "team@example.org" }', True),
        ('{ header = "to", contains = "boss@" }', False),
        ('{ header = "cc", contains = "boss@" }', True),
        ('{ header = "recipient", contains = "boss@" }', True),
        ('{ header = "recipient", contains = "team@example.org" }', True),
        ('{ header = "list-id", is = "news.shop.example.com" }', True),
        ('{ header = "list-id", matches = "*.example.com" }', True),
        ('{ header = "x-mailer", matches = "outlook*" }', True),
        ('{ header = "X-Mailer", regex = "16\\\\.0$" }', True),
        ('{ header = "list-unsubscribe", matches = "*" }', True),
        ('{ header = "x-spam-flag", matches = "*" }', False),
    ],
)
def test_header_tests(store, mailbox, tmp_path, test, expected):
    row = mailbox.add(NEWSLETTER)

    assert matched(store, tmp_path, f"if = [{test}]", row) is expected


def test_missing_list_id_matches_no_glob(store, mailbox, tmp_path):
    row = mailbox.add(PERSONAL)

    assert not matched(store, tmp_path, 'if = [{ header = "list-id", matches = "*" }]', row)
    assert matched(store, tmp_path, 'if = [{ not = { header = "list-id", matches = "*" } }]', row)


# Address tests


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ('{ address = "from", is = "NEWS@shop.example.com" }', True),
        ('{ address = "from", contains = "café" }', False),
        ('{ address = "from", part = "local", is = "news" }', True),
        ('{ address = "from", part = "domain", is = "shop.example.com" }', True),
        ('{ address = "from", part = "domain", is = "example.com" }', False),
        ('{ address = "from", part = "domain", matches = "*.example.com" }', True),
        ('{ address = "to", is = "team@example.org" }', True),
        ('{ address = "to", is = "boss@corp.example.net" }', False),
        ('{ address = "cc", part = "domain", is = "corp.example.net" }', True),
        ('{ address = "recipient", is = "boss@corp.example.net" }', True),
        ('{ address = "recipient", part = "local", is = "you" }', True),
        ('{ address = "recipient", part = "local", is = "alex" }', False),
        ('{ address = "reply-to", part = "local", is = "replies" }', True),
        ('{ address = "sender", part = "local", regex = "^bounce-\\\\d+$" }', True),
    ],
)
def test_address_tests(store, mailbox, tmp_path, test, expected):
    row = mailbox.add(NEWSLETTER)

    assert matched(store, tmp_path, f"if = [{test}]", row) is expected


def test_address_without_header_does_not_match(store, mailbox, tmp_path):
    row = mailbox.add(PERSONAL)

    assert not matched(store, tmp_path, 'if = [{ address = "cc", matches = "*" }]', row)
    assert not matched(store, tmp_path, 'if = [{ address = "reply-to", matches = "*" }]', row)


# Body and attachments


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ('{ in = "body", contains = "UNSUBSCRIBE" }', True),
        ("{ in = \"body\", regex = 'order #\\d+' }", True),
        ('{ in = "body", contains = "<b>" }', False),
        ('{ in = "attachment", matches = "*.pdf" }', True),
        ('{ in = "attachment", is = "rechnung märz.pdf" }', True),
        ('{ in = "attachment", matches = "*.xlsx" }', False),
        ("{ has_attachment = true }", True),
        ("{ has_attachment = false }", False),
    ],
)
def test_body_and_attachments(store, mailbox, tmp_path, test, expected):
    row = mailbox.add(NEWSLETTER)

    assert matched(store, tmp_path, f"if = [{test}]", row) is expected


def test_plain_body_without_attachments(store, mailbox, tmp_path):
    row = mailbox.add(PERSONAL)

    assert matched(store, tmp_path, "if = [{ in = \"body\", regex = 'order #\\d+' }]", row)
    assert matched(store, tmp_path, "if = [{ has_attachment = false }]", row)
    assert not matched(store, tmp_path, 'if = [{ in = "attachment", matches = "*" }]', row)


# Size, age and flags


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ('{ size_above = "10KB" }', True),
        ('{ size_above = "11KB" }', False),
        ('{ size_below = "11KB" }', True),
        ('{ size_below = "10KB" }', False),
        ("{ size_above = 10240 }", True),
        ("{ size_above = 10241 }", False),
    ],
)
def test_size(store, mailbox, tmp_path, test, expected):
    row = mailbox.add(PERSONAL, size=10 * 1024 + 1)

    assert matched(store, tmp_path, f"if = [{test}]", row) is expected


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ('{ older_than = "29d" }', True),
        ('{ older_than = "30d" }', False),
        ('{ older_than = "1m" }', False),
        ('{ newer_than = "30d" }', True),
        ('{ newer_than = "29d" }', False),
        ('{ newer_than = "4w" }', False),
        ('{ newer_than = "5w" }', True),
    ],
)
def test_age_counts_from_now(store, mailbox, tmp_path, test, expected):
    """The newsletter is dated 2026-11-01 12:00, exactly 30 days before NOW, which counts as newer."""
    row = mailbox.add(NEWSLETTER)

    assert matched(store, tmp_path, f"if = [{test}]", row) is expected


def test_age_of_undated_message_matches_neither(store, mailbox, tmp_path):
    row = mailbox.add(PERSONAL.replace("Date: Mon, 30 Nov 2026 08:00:00 +0000\r\n", ""))

    assert row.date is None
    assert not matched(store, tmp_path, 'if = [{ older_than = "1d" }]', row)
    assert not matched(store, tmp_path, 'if = [{ newer_than = "1000y" }]', row)


@pytest.mark.parametrize(
    ("flags", "test", "expected"),
    [
        ((), "{ unread = true }", True),
        (("\\Seen",), "{ unread = true }", False),
        (("\\Seen",), "{ unread = false }", True),
        (("\\Flagged",), "{ flagged = true }", True),
        ((), "{ flagged = true }", False),
        ((), "{ flagged = false }", True),
    ],
)
def test_flags(store, mailbox, tmp_path, flags, test, expected):
    row = mailbox.add(PERSONAL, flags=flags)

    assert matched(store, tmp_path, f"if = [{test}]", row) is expected


def test_newer_row_is_read_again(store, mailbox, tmp_path):
    row = mailbox.add(PERSONAL)
    rule = load_rule(tmp_path, "if = [{ unread = true }]")
    matcher = Matcher(store, now=NOW)

    before = matcher.check(rule, row)
    mailbox.store.update_flags(mailbox.folder, {row.uid: ["\\Seen"]})
    after = matcher.check(rule, store.message(row.id))

    assert before.matched
    assert not after.matched


# Combinations


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ("{ all = [{ unread = true }, { has_attachment = true }] }", True),
        ("{ all = [{ unread = true }, { flagged = true }] }", False),
        ("{ any = [{ flagged = true }, { has_attachment = true }] }", True),
        ("{ any = [{ flagged = true }, { has_attachment = false }] }", False),
        ("{ not = { flagged = true } }", True),
        ("{ not = { any = [{ flagged = true }, { unread = true }] } }", False),
        ('{ all = [{ not = { unread = false } }, { any = [{ size_above = "1GB" }, { header = "subject", contains = "digest" }] }] }', True),
    ],
)
def test_all_any_not(store, mailbox, tmp_path, test, expected):
    row = mailbox.add(NEWSLETTER)

    assert matched(store, tmp_path, f"if = [{test}]", row) is expected


def test_when_and_if_must_both_match(store, mailbox, tmp_path):
    row = mailbox.add(NEWSLETTER)

    assert matched(store, tmp_path, "when = 'invoice'\nif = [{ unread = true }]", row)
    assert not matched(store, tmp_path, "when = 'invoice'\nif = [{ flagged = true }]", row)
    assert not matched(store, tmp_path, "when = 'lunch'\nif = [{ unread = true }]", row)


# The list: term


@pytest.mark.parametrize(
    ("query", "newsletter", "personal"),
    [
        ("list:*", True, False),
        ("list:*shop*", True, False),
        ("list:NEWS.SHOP.EXAMPLE.COM", True, False),
        ("list:news.shop.example.com", True, False),
        ("list:*python.org*", False, False),
        ("-list:*", False, True),
        ("list:* OR from:family.example.org", True, True),
        ('list:"news.shop.*"', True, False),
    ],
)
def test_list_term(store, mailbox, tmp_path, query, newsletter, personal):
    rows = [mailbox.add(NEWSLETTER), mailbox.add(PERSONAL)]

    results = [matched(store, tmp_path, f"when = '{query}'", row) for row in rows]

    assert results == [newsletter, personal]


# Reasons


def test_decided_by_names_the_part(store, mailbox, tmp_path):
    row = mailbox.add(NEWSLETTER)

    when_only = check(store, tmp_path, "when = 'subject:invoice'", row)
    missed_test = check(store, tmp_path, "when = 'invoice'\nif = [{ unread = true }, "
                                         '{ header = "subject", contains = "shop" }]', row)
    missed_term = check(store, tmp_path, "when = 'list:* older_than:60d'", row)
    both = check(store, tmp_path, "when = 'invoice'\nif = [{ has_attachment = true }]", row)

    assert when_only == Verdict(True, "when 'subject:invoice' matched")
    assert missed_test == Verdict(False, "if test 2 (header subject contains 'shop') did not match")
    assert missed_term == Verdict(False, "when 'list:* older_than:60d' did not match: no match for older_than:60d")
    assert both == Verdict(True, "when 'invoice' and if test 1 (has an attachment) matched")


def test_rule_without_condition_matches_all(store, mailbox, tmp_path):
    row = mailbox.add(PERSONAL)

    verdict = check(store, tmp_path, "", row)

    assert verdict.matched
    assert "no conditions" in verdict.decided_by


def test_describe_query_round_trips():
    text = 'subject:invoice (from:ana OR -is:read) -label:$work "two words" older_than:30d list:*python*'

    described = describe_query(parse_when(text))

    assert parse_when(described) == parse_when(text)


# Messages stored as headers only


def test_body_test_needs_body(store, mailbox, tmp_path):
    row = mailbox.add(PERSONAL, body=False)

    verdict = check(store, tmp_path, 'if = [{ in = "body", contains = "noon" }]', row)

    assert verdict == Verdict(
        False, "if test 1 (body contains 'noon') needs the full message, which is not downloaded yet", needs_body=True
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('if = [{ header = "x-mailer", matches = "*" }]', None),
        ('if = [{ address = "to", matches = "*" }]', None),
        ("when = 'noon'", None),
        ("when = 'lunch'", True),
        ("when = 'lunch -noon'", None),
        ("when = 'subject:lunch'", True),
        ("when = 'noon OR is:unread'", True),
        ("when = 'body:noon is:read'", False),
        ('if = [{ not = { in = "body", contains = "x" } }]', None),
        ('if = [{ any = [{ in = "body", contains = "x" }, { unread = true }] }]', True),
        ('if = [{ all = [{ in = "body", contains = "x" }, { flagged = true }] }]', False),
        ('if = [{ header = "from", contains = "ana" }, { address = "recipient", is = "you@example.com" }]', True),
        ('if = [{ header = "subject", contains = "lunch" }, { in = "attachment", matches = "*" }]', None),
    ],
)
def test_headers_only_message(store, mailbox, tmp_path, body, expected):
    """Store columns decide what they can; an outcome that depends on the body is unknown."""
    row = mailbox.add(PERSONAL, body=False)

    verdict = check(store, tmp_path, body, row)

    if expected is None:
        assert verdict.needs_body
        assert not verdict.matched
    else:
        assert not verdict.needs_body
        assert verdict.matched is expected


# Broken mail


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.eml")))
def test_broken_mail_never_raises(store, mailbox, tmp_path, name):
    row = mailbox.add((CORPUS / name).read_bytes())
    body = (
        "when = 'budget OR has:attachment OR older_than:1d OR list:*'\n"
        "if = [{ any = [{ header = \"x-anything\", matches = \"*\" }, { address = \"to\", part = \"domain\", "
        "matches = \"*\" }, { in = \"body\", contains = \"e\" }, { in = \"attachment\", matches = \"*\" }, "
        "{ header = \"subject\", regex = \".\" }] }]"
    )

    verdict = check(store, tmp_path, body, row)

    assert isinstance(verdict.matched, bool)
    assert not verdict.needs_body


def test_header_line_without_colon_keeps_later_headers(store, mailbox, tmp_path):
    row = mailbox.add((CORPUS / "header-line-without-colon.eml").read_bytes())

    assert matched(store, tmp_path, 'if = [{ header = "subject", matches = "?*" }]', row)
    assert matched(store, tmp_path, 'if = [{ address = "to", matches = "*@*" }]', row)


def test_unparsable_message_logs_and_counts_as_empty(store, mailbox, tmp_path, caplog, monkeypatch):
    row = mailbox.add(PERSONAL)

    def broken(_row, _raw):
        raise ValueError("parser gave up")

    monkeypatch.setattr("desktop.rules.facts.document_for", broken)
    with caplog.at_level(logging.DEBUG, logger="desktop.rules.facts"):
        verdict = check(store, tmp_path, 'if = [{ in = "body", contains = "noon" }]', row)

    assert verdict.matched is False
    assert not verdict.needs_body
    assert f"message {row.id}" in caplog.text
    assert "parser gave up" in caplog.text


# Example rule files


def test_example_rules_sort_sample_mail(store, mailbox):
    ruleset, problems = collect_rules(REPOSITORY / "rules")
    receipt = mailbox.add(
        "From: Shop <orders@shop.example.com>\r\nTo: you@example.com\r\nSubject: Your order confirmation\r\n"
        "Date: Mon, 30 Nov 2026 08:00:00 +0000\r\n\r\nThanks.\r\n"
    )
    boss = mailbox.add("From: Boss <boss@example.com>\r\nSubject: Plans\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n\r\nHi\r\n")
    newsletter = mailbox.add(NEWSLETTER)
    matcher = Matcher(store, now=NOW)
    rows = [receipt, boss, newsletter]
    matcher.prepare(ruleset.rules, rows)

    hits = {row.id: {rule.name for rule in ruleset.rules if matcher.check(rule, row).matched} for row in rows}

    assert problems == []
    assert "Receipts" in hits[receipt.id]
    assert "Boss is VIP" in hits[boss.id]
    assert "Boss is VIP" not in hits[receipt.id]
    assert "Old newsletters" not in hits[newsletter.id]  # dated exactly 30 days before NOW, so not older
    assert "Receipts" in hits[newsletter.id]  # "invoice" in the subject


def test_old_newsletter_is_archived_later(store, mailbox):
    ruleset, _problems = collect_rules(REPOSITORY / "rules")
    row = mailbox.add(NEWSLETTER)

    verdict = Matcher(store, now=NOW + timedelta(minutes=1)).check(ruleset.rule("Old newsletters"), row)

    assert verdict.matched


# Text comparisons


def test_invalid_regex_is_rejected():
    with pytest.raises(ValueError, match="Invalid regex '\\(x'"):
        compile_text_match(TextMatch("regex", "(x"))


def test_glob_classes_and_question_mark():
    glob = compile_text_match(TextMatch("matches", "inv-[0-9]?.pdf"))

    assert glob("INV-42.pdf")
    assert not glob("inv-x2.pdf")
    assert not glob("inv-4.pdf")
