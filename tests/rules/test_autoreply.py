"""Auto-replies against a real Dovecot and a real aiosmtpd: who gets a reply, what it carries, and no loops."""

from __future__ import annotations

import base64
import io
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.config import load_config, save_config
from desktop.paths import Profile, profile_at
from desktop.rules.autoreply import AutoReplier
from desktop.rules.loader import collect_rules
from desktop.rules.model import AutoReply, Rule
from desktop.send import SmtpSender
from desktop.store import Store
from tests.helpers.smtp_server import Received, SmtpServer

pytestmark = pytest.mark.dovecot

NOW = datetime(2026, 12, 21, 12, 0, tzinfo=timezone.utc)
DOMAIN = "sluice.test"

AWAY_RULE = '''
[[rule]]
name = "Away"
actions = [{ auto_reply = { days = 7, start = 2026-12-20, end = 2027-01-04, body = """
Hello {{ sender_name }},

I am away until January 5. Your message "{{ subject }}" of {{ date }} to {{ account_address }} waits for me.
""" } }]
'''

_message_numbers = itertools.count(1)


@dataclass
class Mailbox:
    """One profile with one account on Dovecot that sends through the test SMTP server."""

    profile: Profile
    user: str
    password: str
    address: str
    alias: str
    imap_host: str
    imap_port: int

    @property
    def rule_files(self) -> Path:
        """Rule files run by these tests, apart from the profile's rules folder, which a sync would run too."""
        return self.profile.config_dir.parent / f"{self.profile.config_dir.name}-rules"

    def client(self) -> IMAPClient:
        client = IMAPClient(self.imap_host, port=self.imap_port, ssl=False)
        client.login(self.user, self.password)
        return client

    def deliver(self, message: EmailMessage | bytes) -> None:
        data = message if isinstance(message, bytes) else message.as_bytes()
        client = self.client()
        try:
            client.append("INBOX", data)
        finally:
            client.logout()

    def sync(self) -> None:
        assert main(["--home", str(self.profile.config_dir), "sync"]) == 0

    def inbox(self, store: Store) -> list:
        folder = store.folder_by_name("work", "INBOX")
        assert folder is not None, "INBOX is not in the store; did the sync run?"
        return sorted(store.messages(store.message_ids([folder.id])), key=lambda row: row.uid)


def add_mailbox(home: Path, user, dovecot_server, smtp: SmtpServer, monkeypatch, capsys) -> Mailbox:
    address = f"{user.name}@{DOMAIN}"
    alias = f"{user.name}.alias@{DOMAIN}"
    monkeypatch.setattr("sys.stdin", io.StringIO(user.password + "\n"))
    code = main([
        "--home", str(home), "account", "add", "work", "--imap-host", dovecot_server.host,
        "--imap-port", str(dovecot_server.port), "--security", "none", "--user", user.name, "--password-stdin",
        "--smtp-host", smtp.host, "--smtp-port", str(smtp.port), "--smtp-security", "none",
        "--address", address, "--alias", alias,
    ])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return Mailbox(profile_at(home), user.name, user.password, address, alias, dovecot_server.host, dovecot_server.port)


def make_mail(
    sender: str, to: str, subject: str, *, body: str = "Hello.", extra: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(NOW - timedelta(hours=1))
    message["Message-ID"] = f"<m{next(_message_numbers)}@example.org>"
    for name, value in (extra or {}).items():
        message[name] = value
    message.set_content(body)
    return message


def write_rules(folder: Path, text: str) -> Rule:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "50-away.toml"
    path.write_text(text, encoding="utf-8")
    ruleset, problems = collect_rules([path])
    assert problems == []
    return ruleset.rules[0]


def reply_action(rule: Rule) -> AutoReply:
    [action] = [action for action in rule.actions if isinstance(action, AutoReply)]
    return action


def run_replies(box: Mailbox, rule: Rule, *, now: datetime = NOW, only_new: set[int] | None = None) -> dict[str, str]:
    """Run the auto-reply of ``rule`` over the INBOX; return each message's outcome by subject."""
    outcomes = {}
    config = load_config(box.profile.config_file)
    with Store(box.profile.store_file) as store, SmtpSender() as sender:
        with AutoReplier(store, config, sender, now=now) as replier:
            for row in box.inbox(store):
                if only_new is not None:
                    if row.id in only_new:
                        continue
                    only_new.add(row.id)
                outcomes[row.subject] = replier(rule, reply_action(rule), row)
    return outcomes


@pytest.fixture
def box(tmp_path, imap_user, dovecot_server, smtp_server, monkeypatch, capsys) -> Mailbox:
    return add_mailbox(tmp_path / "profile", imap_user, dovecot_server, smtp_server, monkeypatch, capsys)


@pytest.fixture
def away(box) -> Rule:
    return write_rules(box.rule_files, AWAY_RULE)


def test_replies_only_to_personal_mail(box, away, smtp_server):
    me = box.address
    mails = [
        make_mail("Ana Díaz <ana@example.com>", me, "Re: Re: Budget"),
        make_mail("bob@example.com", f"Team <team@example.com>, {box.alias}", "Alias in To"),
        make_mail("carol@example.com", me, "Says no", extra={"Auto-Submitted": "no"}),
        make_mail("Dan <dan@example.com>", me, "Reply elsewhere", extra={"Reply-To": "Dan Home <dan@home.example>"}),
        make_mail("list@example.com", me, "List post", extra={"List-Id": "<dev.example.com>"}),
        make_mail("news@example.com", me, "Unsubscribe", extra={"List-Unsubscribe": "<mailto:u@example.com>"}),
        make_mail("shop@example.com", me, "Bulk offer", extra={"Precedence": "bulk"}),
        make_mail("alerts@example.com", me, "Junk", extra={"Precedence": "junk"}),
        make_mail("robot@example.com", me, "Generated", extra={"Auto-Submitted": "auto-generated"}),
        make_mail("other@example.com", me, "Auto reply", extra={"Auto-Submitted": "auto-replied"}),
        make_mail("No-Reply@shop.example", me, "From noreply"),
        make_mail("noreply@shop.example", me, "From noreply 2"),
        make_mail("do-not-reply@shop.example", me, "From do-not-reply"),
        make_mail("MAILER-DAEMON@mx.example", me, "Bounce"),
        make_mail("postmaster@example.net", me, "Postmaster"),
        make_mail("owner-dev@lists.example", me, "List owner"),
        make_mail("dev-request@lists.example", me, "List request"),
        make_mail("dev-bounces@lists.example", me, "List bounces"),
        make_mail("erin@example.com", "someone-else@example.com", "Not to me"),
        make_mail("frank@example.com", me, "Empty return path", extra={"Return-Path": "<>"}),
        make_mail(me, me, "Note to self"),
    ]
    for mail in mails:
        box.deliver(mail)
    box.sync()

    outcomes = run_replies(box, away)

    received = smtp_server.received
    assert sorted(item.rcpt_tos[0] for item in received) == [
        "ana@example.com", "bob@example.com", "carol@example.com", "dan@home.example",
    ]
    assert all(item.mail_from == "" for item in received), "replies go out with the null sender <>"
    assert outcomes["Re: Re: Budget"] == "sent to ana@example.com"
    assert outcomes["List post"] == "not sent: List-Id header (mailing list mail)"
    assert outcomes["Unsubscribe"] == "not sent: List-Unsubscribe header (mailing list mail)"
    assert outcomes["Bulk offer"] == "not sent: Precedence: bulk"
    assert outcomes["Junk"] == "not sent: Precedence: junk"
    assert outcomes["Generated"] == "not sent: Auto-Submitted: auto-generated"
    assert outcomes["Auto reply"] == "not sent: Auto-Submitted: auto-replied"
    for subject in ("From noreply", "From noreply 2", "From do-not-reply", "Bounce", "Postmaster",
                    "List owner", "List request", "List bounces"):
        assert "looks automatic" in outcomes[subject], subject
    assert outcomes["Not to me"].startswith("not sent: none of the account's addresses")
    assert outcomes["Empty return path"] == "not sent: the Return-Path is empty (<>), as on bounces and other automatic mail"
    assert outcomes["Note to self"] == f"not sent: the sender {me} is this account's own address"


def test_reply_headers_and_body(box, away, smtp_server):
    box.deliver(make_mail("Ana Díaz <ana@example.com>", box.address, "Re: Re: Budget",
                          extra={"References": "<first@example.org>"}))
    box.sync()

    run_replies(box, away)

    [received] = smtp_server.received
    reply = received.message
    assert reply["From"] == box.address
    assert reply["To"] == "Ana Díaz <ana@example.com>"
    assert reply["Subject"] == "Re: Budget"
    assert reply["Auto-Submitted"] == "auto-replied"
    original_id = f"m{next(_message_numbers) - 1}@example.org"
    assert reply["In-Reply-To"] == f"<{original_id}>"
    assert reply["References"] == f"<first@example.org> <{original_id}>"
    assert reply["Message-ID"].endswith(f"@{DOMAIN}>")
    assert reply["Date"] is not None
    body = reply.get_content().replace("\r\n", "\n")
    assert body.startswith("Hello Ana Díaz,\n\nI am away until January 5.")
    assert f'"Re: Re: Budget" of ' in body
    assert f"to {box.address} waits" in body


def test_rule_subject_used(box, smtp_server):
    rule = write_rules(box.rule_files, AWAY_RULE.replace("days = 7,", 'days = 7, subject = "Away until January 5",'))
    box.deliver(make_mail("ana@example.com", box.address, "Budget"))
    box.sync()

    run_replies(box, rule)

    assert smtp_server.received[0].message["Subject"] == "Away until January 5"


def test_repeat_sender_limited_across_restarts(box, away, smtp_server):
    box.deliver(make_mail("Ana <ana@example.com>", box.address, "First"))
    box.sync()
    seen: set[int] = set()
    assert run_replies(box, away, only_new=seen) == {"First": "sent to ana@example.com"}
    box.deliver(make_mail("ANA@example.com", box.address, "Second"))
    box.sync()

    # run_replies opens a new Store and AutoReplier each time, as a restart would.
    second = run_replies(box, away, now=NOW + timedelta(days=6, hours=23), only_new=seen)

    assert second["Second"].startswith("not sent: already replied to ana@example.com on ")
    assert second["Second"].endswith("(at most once every 7 days)")
    box.deliver(make_mail("ana@example.com", box.address, "Third"))
    box.sync()
    assert run_replies(box, away, now=NOW + timedelta(days=7), only_new=seen) == {"Third": "sent to ana@example.com"}
    assert [item.rcpt_tos for item in smtp_server.received] == [("ana@example.com",), ("ana@example.com",)]


def test_text_change_resets_limit(box, away, smtp_server):
    box.deliver(make_mail("ana@example.com", box.address, "First"))
    box.sync()
    seen: set[int] = set()
    assert run_replies(box, away, only_new=seen) == {"First": "sent to ana@example.com"}
    box.deliver(make_mail("ana@example.com", box.address, "Second"))
    box.sync()

    changed = write_rules(box.rule_files, AWAY_RULE.replace("January 5", "January 12"))
    outcomes = run_replies(box, changed, only_new=seen)

    assert outcomes == {"Second": "sent to ana@example.com"}
    assert len(smtp_server.received) == 2
    assert "January 12" in smtp_server.received[1].message.get_content()
    with Store(box.profile.store_file) as store:
        [record] = store.auto_replies("work")
    assert (record.rule, record.sender) == ("Away", "ana@example.com")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 12, 19, 12, tzinfo=timezone.utc), "not sent: the rule replies from 2026-12-20 on (today is 2026-12-19)"),
        (datetime(2026, 12, 20, 12, tzinfo=timezone.utc), "sent to ana@example.com"),
        (datetime(2027, 1, 4, 12, tzinfo=timezone.utc), "sent to ana@example.com"),
        (datetime(2027, 1, 5, 12, tzinfo=timezone.utc), "not sent: the rule replied until 2027-01-04 (today is 2027-01-05)"),
    ],
)
def test_date_window(box, away, smtp_server, now, expected):
    box.deliver(make_mail("ana@example.com", box.address, "Budget"))
    box.sync()

    outcomes = run_replies(box, away, now=now)

    assert outcomes == {"Budget": expected}
    assert len(smtp_server.received) == (1 if expected.startswith("sent") else 0)


def test_failed_send_is_not_recorded(box, away, smtp_server):
    box.deliver(make_mail("ana@example.com", box.address, "Budget"))
    box.sync()
    smtp_server.reply_to_recipient("ana@example.com", "451 4.3.0 Try again later")

    failed = run_replies(box, away)

    assert failed["Budget"].startswith("not sent: The SMTP server 127.0.0.1:")
    assert "451 4.3.0 Try again later" in failed["Budget"]
    with Store(box.profile.store_file) as store:
        assert store.auto_replies() == []
    smtp_server.reply_to_recipient("ana@example.com", "")
    assert run_replies(box, away) == {"Budget": "sent to ana@example.com"}
    assert len(smtp_server.received) == 1


def test_null_sender_rejected_uses_address(box, away, smtp_server):
    smtp_server.reply_to_sender("", "553 5.7.1 Null sender not accepted from users")
    box.deliver(make_mail("ana@example.com", box.address, "Budget"))
    box.sync()

    assert run_replies(box, away) == {"Budget": "sent to ana@example.com"}

    [received] = smtp_server.received
    assert received.mail_from == box.address


def test_encoded_line_break_cannot_add_header(box, away, smtp_server):
    hostile = base64.b64encode("Hi\r\nBcc: victim@example.org".encode()).decode()
    name = base64.b64encode(b"Eve\r\nBcc: victim2@example.org").decode()
    raw = (
        f"From: =?utf-8?b?{name}?= <eve@example.com>\r\n"
        f"To: {box.address}\r\nSubject: =?utf-8?b?{hostile}?=\r\nMessage-ID: <evil@example.com>\r\n"
        f"Date: {format_datetime(NOW)}\r\n\r\nBody\r\n"
    ).encode()
    box.deliver(raw)
    box.sync()

    run_replies(box, away)

    [received] = smtp_server.received
    assert received.rcpt_tos == ("eve@example.com",)
    header_lines = received.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert not [line for line in header_lines if line.lower().startswith(b"bcc")]
    reply = received.message
    assert reply["Bcc"] is None
    assert reply["Subject"] == "Re: Hi Bcc: victim@example.org"
    assert reply["To"].addresses[0].addr_spec == "eve@example.com"


def test_headers_fetched_when_body_not_stored(box, away, smtp_server):
    config = load_config(box.profile.config_file)
    config.accounts["work"].offline = False
    save_config(config, box.profile.config_file)
    box.deliver(make_mail("ana@example.com", box.address, "Personal"))
    box.deliver(make_mail("list@example.com", box.address, "Listed", extra={"List-Id": "<dev.example.com>"}))
    box.sync()
    with Store(box.profile.store_file) as store:
        assert [store.raw(row.id) for row in box.inbox(store)] == [None, None]

    outcomes = run_replies(box, away)

    assert outcomes == {"Personal": "sent to ana@example.com", "Listed": "not sent: List-Id header (mailing list mail)"}
    client = box.client()
    try:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
    finally:
        client.logout()
    assert all(b"\\Seen" not in value for value in flags.values()), "the header fetch must not mark mail read"


def test_account_without_smtp_sends_nothing(box, away, smtp_server):
    config = load_config(box.profile.config_file)
    config.accounts["work"].smtp_host = ""
    save_config(config, box.profile.config_file)
    box.deliver(make_mail("ana@example.com", box.address, "Budget"))
    box.sync()

    outcomes = run_replies(box, away)

    assert outcomes["Budget"].startswith("not sent: account 'work' has no SMTP server")
    assert smtp_server.received == []


def test_rules_check_reports_template_error(tmp_path, capsys):
    path = tmp_path / "away.toml"
    path.write_text(
        '[[rule]]\nname = "Away"\nactions = [\n  { auto_reply = { body = "Hi {{ sender_nam }}" } },\n]\n',
        encoding="utf-8",
    )

    assert main(["rules", "check", str(path)]) == 1

    error = capsys.readouterr().err
    assert f"{path}:4: rule 'Away':" in error
    assert "'sender_nam' is undefined. Did you mean 'sender_name'?" in error


def test_rules_check_rejects_unsafe_template(tmp_path, capsys):
    path = tmp_path / "away.toml"
    path.write_text(
        '[[rule]]\nname = "Away"\nactions = [{ auto_reply = { body = "{{ subject.__class__.__mro__ }}" } }]\n',
        encoding="utf-8",
    )

    assert main(["rules", "check", str(path)]) == 1

    assert "unsafe" in capsys.readouterr().err


def run_engine_round(box: Mailbox, rule_files: Path, seen: set[int]) -> list[str]:
    """Run the rule files over the INBOX messages not seen before, through the rule engine; return the reply outcomes."""
    from desktop.rules.engine import apply_plan, plan_rules

    ruleset, problems = collect_rules([rule_files])
    assert problems == []
    config = load_config(box.profile.config_file)
    with Store(box.profile.store_file) as store, SmtpSender() as sender:
        new_ids = [row.id for row in box.inbox(store) if row.id not in seen]
        seen.update(new_ids)
        if not new_ids:
            return []
        plan = plan_rules(store, ruleset, message_ids=new_ids, now=NOW)
        with AutoReplier(store, config, sender, now=NOW) as replier:
            result = apply_plan(store, plan, description="auto-reply round", auto_reply=replier)
    return [reply.split(": ", 1)[1] for reply in result.replies]


def test_two_profiles_do_not_loop(tmp_path, dovecot_server, monkeypatch, capsys):
    """Two profiles auto-reply to everything; a personal mail from one to the other gets one reply in total."""
    with SmtpServer() as smtp:
        boxes = []
        for label in ("left", "right"):
            user = dovecot_server.add_user(f"loop{label}{next(_message_numbers)}", "loop-test-password")
            boxes.append(add_mailbox(tmp_path / label, user, dovecot_server, smtp, monkeypatch, capsys))
        left, right = boxes
        by_address = {box.address: box for box in boxes}

        def deliver(item: Received) -> None:
            # What an MTA does on final delivery: record the envelope sender in Return-Path.
            stamped = f"Return-Path: <{item.mail_from}>\r\n".encode() + item.data
            for recipient in item.rcpt_tos:
                by_address[recipient].deliver(stamped)

        smtp.deliver_with(deliver)
        for box in boxes:
            write_rules(box.rule_files, AWAY_RULE)
        right.deliver(make_mail(f"Left <{left.address}>", right.address, "Lunch?"))
        seen: dict[str, set[int]] = {box.address: set() for box in boxes}
        outcomes: list[str] = []

        for _round in range(4):
            for box in boxes:
                box.sync()
                outcomes += run_engine_round(box, box.rule_files, seen[box.address])

        assert len(smtp.received) == 1
        assert smtp.received[0].rcpt_tos == (left.address,)
        assert outcomes == ["sent to " + left.address, "not sent: Auto-Submitted: auto-replied"]
        with Store(left.profile.store_file) as store:
            [reply] = left.inbox(store)
            assert reply.subject == "Re: Lunch?"
            assert store.auto_replies() == []
        with Store(right.profile.store_file) as store:
            assert [record.sender for record in store.auto_replies("work")] == [left.address]


def test_invalid_and_bot_senders_get_no_reply(box, away, smtp_server):
    me = box.address
    box.deliver(
        f"From: =?utf-8?B?broken\r\nTo: {me}\r\nSubject: Broken sender\r\nMessage-ID: <broken@example.org>\r\n"
        f"Date: {format_datetime(NOW - timedelta(hours=1))}\r\n\r\nHello.\r\n".encode()
    )
    for sender, subject in [("calendar-noreply@google.example", "Calendar"), ("something-noreply@x.example", "Suffix"),
                            ("no_reply@bank.example", "Underscore"), ("donotreply@bank.example", "Joined"),
                            ("notifications@github.example", "Notifications"), ("Ana <ana@example.com>", "Person")]:
        box.deliver(make_mail(sender, me, subject))
    box.sync()

    outcomes = run_replies(box, away)

    assert outcomes["Broken sender"] == "not sent: the sender address '=?utf-8?B?broken' is not a valid address"
    for subject in ("Calendar", "Suffix", "Underscore", "Joined", "Notifications"):
        assert "looks automatic" in outcomes[subject], subject
    assert outcomes["Person"] == "sent to ana@example.com"
    assert [item.rcpt_tos for item in smtp_server.received] == [("ana@example.com",)]


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_raw_8bit_subject_reply(box, away, smtp_server, charset):
    raw = (f"From: José <jose@example.com>\r\nTo: {box.address}\r\nSubject: Café à la carte\r\n"
           f"Message-ID: <eight@example.org>\r\nDate: {format_datetime(NOW - timedelta(hours=1))}\r\n\r\nHola.\r\n")
    box.deliver(raw.encode(charset))
    box.sync()

    outcomes = run_replies(box, away)

    assert outcomes == {"Café à la carte": "sent to jose@example.com"}
    [received] = smtp_server.received
    assert received.message["Subject"] == "Re: Café à la carte"
    assert received.message["To"] == "José <jose@example.com>"
    assert '"Café à la carte"' in received.message.get_content()
