"""``sluice rules apply``, ``rules explain`` and their refusals, run through the CLI against a real Dovecot."""

from __future__ import annotations

import re
import socket

import pytest

from desktop.paths import default_profile
from desktop.store import Store
from tests.rules.engine_mailbox import (
    EXAMPLE_RULES,
    add_account,
    journal_and_bulk_counts,
    run,
    seed,
    server_state,
    store_state,
    stored,
    sync,
    where,
)

pytestmark = pytest.mark.dovecot

SAMPLE_LINE = re.compile(r"^    \d{4}-\d\d-\d\d \d\d:\d\d  .{28}  \S")


@pytest.fixture
def mailbox(imap_user, dovecot_server, direct_client, capsys):
    add_account(dovecot_server.host, dovecot_server.port, imap_user)
    seed(direct_client)
    sync(capsys)
    return direct_client


def rule_section(out: str, name: str) -> list[str]:
    """Return the lines the dry run printed for one rule, its header line first."""
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"Rule '{name}':")))
    end = next((index for index in range(start + 1, len(lines)) if not lines[index].startswith(" ")), len(lines))
    return lines[start:end]


def test_dry_run_changes_nothing(mailbox, capsys):
    server_before = server_state(mailbox)
    store_before = store_state()
    counts_before = journal_and_bulk_counts()

    code, out, err = run(capsys, "rules", "apply", "--dry-run", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err

    receipts = rule_section(out, "Receipts")
    assert receipts[0] == "Rule 'Receipts': 2 messages"
    assert receipts[1] == "  actions: move to Receipts, mark read, stop"
    assert len(receipts) == 4 and all(SAMPLE_LINE.match(line) for line in receipts[2:])
    assert any("Invoice 1001 for your order" in line and "Shop" in line for line in receipts[2:])
    assert rule_section(out, "Boss is VIP")[:2] == ["Rule 'Boss is VIP': 1 message",
                                                     "  actions: lane vip, flag, priority +50"]
    assert rule_section(out, "Holiday reply")[0] == "Rule 'Holiday reply': 0 messages"
    assert "Total: 7 of 9 messages matched by 8 rules." in out
    assert "Dry run: nothing was changed." in out

    sync(capsys)
    assert server_state(mailbox) == server_before
    assert store_state() == store_before
    assert journal_and_bulk_counts() == counts_before


def test_dry_run_sample_is_capped_at_five(mailbox, tmp_path, capsys):
    rules = tmp_path / "all.toml"
    rules.write_text('[[rule]]\nname = "Everything"\nactions = [{ label = "$x" }]\n', encoding="utf-8")
    code, out, _err = run(capsys, "rules", "apply", "--dry-run", "--rules", str(rules))
    assert code == 0
    section = rule_section(out, "Everything")
    assert section[0] == "Rule 'Everything': 9 messages"
    assert sum(1 for line in section if SAMPLE_LINE.match(line)) == 5
    assert section[-1] == "    ... and 4 more"


def test_apply_prints_counts_and_undo_hint(mailbox, capsys):
    code, out, err = run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err
    match = re.search(r"Changed 7 messages: (.*) \(bulk action (\d+)\)\.", out)
    assert match, out
    assert "moved 3" in match.group(1)
    assert "archived 1" in match.group(1)
    assert "Undo with: sluice undo" in out
    with Store(default_profile().store_file) as store:
        assert store.bulk_history()[0].id == int(match.group(2))


def test_apply_rejects_rule_file_problems(mailbox, tmp_path, capsys):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-good.toml").write_text('[[rule]]\nname = "Good"\nwhen = \'from:boss@example.com\'\n'
                                        'actions = [{ flag = true }]\n', encoding="utf-8")
    (rules / "20-bad.toml").write_text('[[rule]]\nname = "Bad"\nactions = [{ moove = "Receipts" }]\n', encoding="utf-8")
    store_before = store_state()
    for extra in ([], ["--dry-run"]):
        code, out, err = run(capsys, "rules", "apply", "--rules", str(rules), *extra)
        assert code == 1
        assert f"{rules / '20-bad.toml'}:3: rule 'Bad': Unknown action 'moove'" in err
        assert "no rule was run" in err
        assert "Rule 'Good'" not in out
    assert store_state() == store_before
    assert journal_and_bulk_counts()[1] == 0


def test_apply_uses_the_profiles_rules_folder_by_default(mailbox, capsys):
    profile = default_profile()
    (profile.rules_dir / "vip.toml").write_text(
        '[[rule]]\nname = "Boss"\nwhen = \'from:boss@example.com\'\nactions = [{ lane = "vip" }]\n', encoding="utf-8")
    code, out, _err = run(capsys, "rules", "apply")
    assert code == 0
    assert "Rule 'Boss': 1 message" in out.splitlines()
    (boss,) = stored("budget@example.com")
    assert boss.lane == "vip"


def test_bad_query_and_unknown_folder_are_reported(mailbox, capsys):
    code, _out, err = run(capsys, "rules", "apply", "--dry-run", "--rules", str(EXAMPLE_RULES), "--query", "from:(")
    assert code == 2
    assert "--query" in err
    code, _out, err = run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES), "--folder", "Recipts")
    assert code == 1
    assert "Folder 'Recipts' not found in any account" in err


def test_explain_shows_hits_and_current_rules(mailbox, capsys):
    assert run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))[0] == 0

    code, out, err = run(capsys, "rules", "explain", "<invoice@shop.example>", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err
    assert "Message-ID: <invoice@shop.example>" in out
    assert "[test/Receipts," in out
    recorded = out.split("Recorded rule runs:")[1].split("What the current rules would do now:")[0]
    assert "rule 'Receipts' (run 1)" in recorded
    assert "decided by: " in recorded
    assert "invoice" in recorded.split("decided by: ")[1].splitlines()[0].lower()
    assert "did: move to Receipts, mark read" in recorded
    now = out.split("What the current rules would do now:")[1]
    assert "No rule looks at test/Receipts" in now

    (boss,) = stored("budget@example.com")
    code, out, _err = run(capsys, "rules", "explain", str(boss.id), "--rules", str(EXAMPLE_RULES))
    assert code == 0
    now = out.split("What the current rules would do now:")[1]
    assert "rule 'Boss is VIP': matches (" in now
    assert "would lane vip, flag, priority +50" in now
    assert "rule 'Receipts': does not match (" in now
    assert "did: lane vip, flag, priority +50" in out


def test_explain_of_an_unknown_message(mailbox, capsys):
    code, _out, err = run(capsys, "rules", "explain", "<nobody@nowhere.example>", "--rules", str(EXAMPLE_RULES))
    assert code == 1
    assert "No message '<nobody@nowhere.example>' in the store" in err
    code, out, _err = run(capsys, "rules", "explain", "plain@example.com", "--rules", str(EXAMPLE_RULES))
    assert code == 0
    assert "No rule has acted on this message in a recorded run." in out


def test_apply_sends_auto_replies(imap_user, dovecot_server, direct_client, smtp_server, tmp_path, capsys):
    add_account(dovecot_server.host, dovecot_server.port, imap_user, "--smtp-host", smtp_server.host,
                "--smtp-port", str(smtp_server.port), "--smtp-security", "none", "--address", "you@example.com")
    seed(direct_client)
    sync(capsys)
    rules = tmp_path / "away.toml"
    rules.write_text(
        '[[rule]]\nname = "Away"\nif = [{ not = { header = "list-id", matches = "*" } }]\n'
        'actions = [{ auto_reply = { body = "I am away this week." } }]\n', encoding="utf-8")

    code, out, _err = run(capsys, "rules", "apply", "--dry-run", "--rules", str(rules))
    assert code == 0
    assert "Rule 'Away': 6 messages" in out
    assert "Auto-replies: 6 left out; 'rules apply' sends none to existing mail." in out
    code, out, _err = run(capsys, "rules", "apply", "--dry-run", "--send-auto-replies", "--rules", str(rules))
    assert code == 0
    assert "Auto-replies: up to 6 would be sent." in out
    assert smtp_server.received == []

    code, out, err = run(capsys, "rules", "apply", "--rules", str(rules))
    assert code == 0, err
    assert "Skipped 6 auto-replies: 'rules apply' sends none to existing mail." in out
    assert "Auto-reply:" not in out
    assert smtp_server.received == [], "no reply without --send-auto-replies"

    code, out, err = run(capsys, "rules", "apply", "--send-auto-replies", "--rules", str(rules))
    assert code == 0, err
    assert "Skipped" not in out
    assert "Nothing changed." in out, "an auto-reply changes no message, so there is nothing to undo"
    received = smtp_server.wait_for(5)
    recipients = sorted(address for message in received for address in message.rcpt_tos)
    assert recipients == ["bea@example.com", "billing@shop.example", "boss@example.com", "carl@example.com",
                          "mum@family.example.org"], "one reply per sender, and none to the second shop message"
    assert all(message.message["Auto-Submitted"] == "auto-replied" for message in received)

    assert run(capsys, "rules", "apply", "--send-auto-replies", "--rules", str(rules))[0] == 0
    assert len(smtp_server.received) == 5, "a second run answers nobody again within 'days'"

    code, out, _err = run(capsys, "rules", "explain", "budget@example.com", "--rules", str(rules))
    recorded = out.split("Recorded rule runs:")[1].split("What the current rules would do now:")[0]
    assert recorded.count("rule 'Away' (no change)") == 3
    assert "auto-reply not sent: 'rules apply' sends no auto-replies to existing mail" in recorded
    assert "auto-reply sent" in recorded
    assert "boss@example.com" in recorded


MISSING_TARGET = """\
[[rule]]
name = "Receipts"
when = '{query}'
actions = [{{ move = "Recipts" }}, {{ mark = "read" }}]
"""


def test_missing_target_names_the_folder(mailbox, tmp_path, capsys):
    rules = tmp_path / "typo.toml"
    rules.write_text(MISSING_TARGET.format(query="subject:invoice OR subject:receipt"), encoding="utf-8")
    store_before = store_state()

    code, out, err = run(capsys, "rules", "apply", "--dry-run", "--rules", str(rules))

    assert code == 1
    assert "Total: 2 of 9 messages matched by 1 rule; 2 messages left unchanged by a rule whose target " \
           "folder is missing (see below)." in out
    assert "earlier rule moved" not in out
    assert "rule 'Receipts': folder 'Recipts' not found in account 'test'" in err
    code, out, err = run(capsys, "rules", "apply", "--rules", str(rules))
    assert code == 1
    assert "folder 'Recipts' not found in account 'test'" in err
    assert store_state() == store_before


def test_missing_target_reported_without_matches(mailbox, tmp_path, capsys):
    rules = tmp_path / "typo.toml"
    rules.write_text(MISSING_TARGET.format(query="subject:xylophone"), encoding="utf-8")

    for extra in (["--dry-run"], []):
        code, out, err = run(capsys, "rules", "apply", "--rules", str(rules), *extra)
        assert code == 1, out
        assert "Rule 'Receipts': 0 messages" in out
        assert "rule 'Receipts': folder 'Recipts' not found in account 'test'" in err
    assert journal_and_bulk_counts()[1] == 0


def test_no_rule_files_says_where_to_put_them(mailbox, capsys):
    code, out, err = run(capsys, "rules", "apply", "--dry-run")

    assert code == 0, err
    rules_dir = default_profile().rules_dir
    assert f"No rules in {rules_dir}, so there is nothing to run. Put rule files (*.toml) in {rules_dir}" in out
    assert "Run the same command" not in out
    assert "Total:" not in out


def test_explain_marks_undone_runs(mailbox, capsys):
    assert run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))[0] == 0
    assert run(capsys, "rules", "explain", "budget@example.com", "--rules", str(EXAMPLE_RULES))[1].count("(run 1)") == 1
    assert run(capsys, "undo")[0] == 0

    code, out, err = run(capsys, "rules", "explain", "budget@example.com", "--rules", str(EXAMPLE_RULES))

    assert code == 0, err
    recorded = out.split("Recorded rule runs:")[1].split("What the current rules would do now:")[0]
    assert "rule 'Boss is VIP' (run 1, undone)" in recorded
    assert "(run 1)" not in recorded


def test_inbox_scope_in_any_case(mailbox, tmp_path, capsys):
    rules = tmp_path / "inbox.toml"
    rules.write_text('[[rule]]\nname = "Boss"\nwhen = \'from:boss@example.com\'\nactions = [{ flag = true }]\n'
                     'scope = { folders = ["inbox"] }\n\n'
                     '[[rule]]\nname = "Back"\nwhen = \'subject:invoice\'\nactions = [{ move = "Inbox" }]\n'
                     'scope = { folders = ["Receipts"] }\n', encoding="utf-8")
    assert run(capsys, "rules", "check", str(rules))[0] == 0

    code, out, err = run(capsys, "rules", "apply", "--rules", str(rules), "--folder", "inbox")

    assert code == 0, err
    assert "Rule 'Boss': 1 message" in out.splitlines()
    (boss,) = stored("budget@example.com")
    assert "\\Flagged" in boss.flags
    assert run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))[0] == 0
    code, out, err = run(capsys, "rules", "apply", "--rules", str(rules))
    assert code == 0, err
    (invoice,) = stored("invoice@shop.example")
    assert invoice.folder == "INBOX"


def closed_port() -> int:
    """A loopback port that nothing listens on: bound once for a free number, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def set_imap_port(old: int, new: int) -> None:
    config = default_profile().config_file
    text = config.read_text(encoding="utf-8")
    assert f"imap_port = {old}\n" in text
    config.write_text(text.replace(f"imap_port = {old}\n", f"imap_port = {new}\n"), encoding="utf-8")


def pending_actions() -> int:
    with Store(default_profile().store_file) as store:
        return sum(len(store.pending_actions(row.id)) for row in store.accounts())


def test_apply_sends_the_changes_without_a_sync(mailbox, capsys):
    server_before = server_state(mailbox)
    code, out, err = run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err
    assert "Sent the changes to the server of account 'test'." in out
    assert "queued" not in out
    assert pending_actions() == 0

    sent = server_state(mailbox)
    assert sent != server_before
    assert where(sent, "invoice@shop.example") == [("Receipts", {"\\Seen"})]
    assert where(sent, "budget@example.com") == [("INBOX", {"\\Flagged"})]
    # The store's view agrees with the server: a sync afterwards changes nothing on either side.
    store_after = store_state()
    sync(capsys)
    assert server_state(mailbox) == sent
    assert store_state() == store_after


def test_no_send_keeps_the_changes_queued_until_sync(mailbox, capsys):
    server_before = server_state(mailbox)
    store_before = store_state()
    code, out, err = run(capsys, "rules", "apply", "--no-send", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err
    assert "The changes of account 'test' are queued; they go to the server at the next 'sluice sync'." in out
    assert "Sent the changes" not in out
    assert err == ""
    assert store_state() != store_before
    assert pending_actions() > 0
    assert server_state(mailbox) == server_before

    sync(capsys)
    assert pending_actions() == 0
    assert where(server_state(mailbox), "invoice@shop.example") == [("Receipts", {"\\Seen"})]


def test_unreachable_server_leaves_the_changes_queued(mailbox, dovecot_server, capsys):
    server_before = server_state(mailbox)
    store_before = store_state()
    port = closed_port()
    set_imap_port(dovecot_server.port, port)

    code, out, err = run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err
    assert re.search(r"Changed 7 messages:", out)
    assert "The changes of account 'test' are queued; they go to the server at the next 'sluice sync'." in out
    assert "Could not send the changes of account 'test' now:" in err
    assert f"127.0.0.1:{port}" in err
    assert "refused" in err
    assert store_state() != store_before
    (invoice,) = stored("invoice@shop.example")
    assert invoice.folder == "Receipts"
    assert pending_actions() > 0
    assert server_state(mailbox) == server_before

    # Nothing was lost: once the server is reachable again, the next sync sends the queued changes.
    set_imap_port(port, dovecot_server.port)
    sync(capsys)
    assert pending_actions() == 0
    assert where(server_state(mailbox), "invoice@shop.example") == [("Receipts", {"\\Seen"})]
