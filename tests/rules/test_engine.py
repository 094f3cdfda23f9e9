"""The rule engine against a real Dovecot: rules sort a mixed mailbox, and the server follows in batches.

The server's state is read back with a separate IMAP connection after the
next sync, so each test checks what another mail client would see.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.index import SearchIndex
from desktop.paths import default_profile
from desktop.rules.engine import apply_plan, plan_rules
from desktop.rules.loader import load_rules
from desktop.store import Store
from desktop.sync.actions import MAX_UID_SET_BYTES, uid_sets
from tests.helpers.dovecot import DovecotServer, write_maildir_message
from tests.helpers.proxy import FaultProxy
from tests.rules.engine_mailbox import (
    ACCOUNT,
    EXAMPLE_RULES,
    add_account,
    build_message,
    run,
    seed,
    server_state,
    stored,
    sync,
    where,
)

pytestmark = pytest.mark.dovecot


@pytest.fixture
def mailbox(imap_user, dovecot_server, direct_client, capsys):
    """The corpus on the server, synced into the profile; returns the direct connection."""
    add_account(dovecot_server.host, dovecot_server.port, imap_user)
    seed(direct_client)
    sync(capsys)
    return direct_client


def write_rules(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / "own-rules" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_example_rules_sort_server_mailbox(mailbox, capsys):
    code, out, err = run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))
    assert code == 0, err
    assert "Undo with: sluice undo" in out
    sync(capsys)

    state = server_state(mailbox)
    assert where(state, "invoice@shop.example") == [("Receipts", {"\\Seen"})]
    assert where(state, "receipt@shop.example") == [("Receipts", {"\\Seen", "\\Flagged"})]
    assert where(state, "budget@example.com") == [("INBOX", {"\\Flagged"})]
    assert where(state, "python@lists.example") == [("Lists/python", {"$lists"})]
    assert where(state, "announce@lists.example") == [("INBOX", {"$announce"})]
    assert where(state, "old-news@lists.example") == [("Archive", frozenset())]
    assert where(state, "family@family.example.org") == [("INBOX", frozenset())]
    assert where(state, "plain@example.com") == [("INBOX", frozenset())]
    assert where(state, "plain2@example.com") == [("INBOX", {"\\Seen"})]

    (boss,) = stored("budget@example.com")
    assert (boss.lane, boss.priority) == ("vip", 50)
    (family,) = stored("family@family.example.org")
    assert (family.lane, family.priority) == ("vip", 20)
    (announce,) = stored("announce@lists.example")
    assert (announce.lane, announce.priority) == ("", -10)
    (plain,) = stored("plain@example.com")
    assert (plain.lane, plain.priority) == ("", 0)


def test_second_apply_changes_nothing(mailbox, capsys):
    assert run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))[0] == 0
    code, out, _err = run(capsys, "rules", "apply", "--rules", str(EXAMPLE_RULES))
    assert code == 0
    assert "Nothing changed." in out
    (boss,) = stored("budget@example.com")
    assert boss.priority == 50, "points are summed per run, not added to the score of an earlier run"


def test_actions_of_rules_combine(mailbox, tmp_path, capsys):
    rules = write_rules(tmp_path, """
        [[rule]]
        name = "Shop to receipts"
        if = [{ address = "from", part = "domain", is = "shop.example" }]
        actions = [{ move = "Receipts" }, { label = "$shop" }, { lane = "team" }, { priority = 5 }, { mark = "read" }]

        [[rule]]
        name = "Invoices elsewhere"
        when = 'subject:invoice'
        actions = [{ archive = true }, { copy = "Lists/python" }, { lane = "vip" }, { priority = 7 }, { mark = "unread" }]
    """)
    with Store(default_profile().store_file) as store:
        plan = plan_rules(store, load_rules(rules))
        (invoice,) = store.messages(store.message_ids_by_header("invoice@shop.example"))
        effect = plan.effects[invoice.id]
        assert [rule.name for rule, _verdict, _actions in plan.steps[invoice.id]] == ["Shop to receipts", "Invoices elsewhere"]
        assert effect.destination[0] == "move"
        assert effect.priority == 12
        assert effect.lane == "team"
        assert effect.add == {"$shop"}
        assert effect.remove == {"\\Seen"}
        assert any("archive skipped" in line and "'Shop to receipts'" in line for line in effect.skipped)
        assert any("lane vip skipped" in line for line in effect.skipped)
        result = apply_plan(store, plan, description="combine test")
        assert result.counts["moved"] == 2
        assert result.counts["copied"] == 1
    sync(capsys)

    state = server_state(mailbox)
    assert sorted(where(state, "invoice@shop.example")) == [("Lists/python", {"$shop"}), ("Receipts", {"$shop"})]
    assert where(state, "receipt@shop.example") == [("Receipts", {"\\Seen", "\\Flagged", "$shop"})]
    assert where(state, "old-news@lists.example") == [("INBOX", frozenset())]
    copies = stored("invoice@shop.example")
    assert sorted(row.folder for row in copies) == ["Lists/python", "Receipts"]
    assert all(row.uid > 0 for row in copies), "the copy got its server UID from COPYUID"
    assert {(row.lane, row.priority) for row in copies} == {("team", 12)}


def test_stop_ends_run_for_message(mailbox, tmp_path):
    rules = write_rules(tmp_path, """
        [[rule]]
        name = "First"
        when = 'from:boss@example.com'
        actions = [{ flag = true }]
        stop = true

        [[rule]]
        name = "Everything"
        actions = [{ label = "$seen-by-all" }]
    """)
    with Store(default_profile().store_file) as store:
        plan = plan_rules(store, load_rules(rules))
    (boss,) = stored("budget@example.com")
    assert [rule.name for rule, _verdict, _actions in plan.steps[boss.id]] == ["First"]
    assert [report.count for report in plan.reports] == [1, plan.examined - 1]


def test_account_folder_query_narrow_messages(mailbox, tmp_path):
    rules = write_rules(tmp_path, """
        [[rule]]
        name = "All"
        actions = [{ label = "$all" }]

        [[rule]]
        name = "Only work"
        scope = { accounts = ["work"] }
        actions = [{ label = "$work" }]
    """)
    ruleset = load_rules(rules)
    profile = default_profile()
    with Store(profile.store_file) as store:
        everything = plan_rules(store, ruleset)
        assert everything.reports[0].count == 9
        assert everything.reports[1].count == 0
        index = SearchIndex(profile.index_dir)
        try:
            boss = plan_rules(store, ruleset, query="from:boss", index=index)
        finally:
            index.close()
        assert [row.message_id for row in boss.rows.values()] == ["budget@example.com"]
        assert plan_rules(store, ruleset, account="other").examined == 0
        assert plan_rules(store, ruleset, folder="Receipts").examined == 0
        store.move_messages([row.id for row in stored("plain@example.com")], store.folder_by_name(ACCOUNT, "Receipts").id)
        in_receipts = plan_rules(store, ruleset, folder="Receipts")
        assert [row.message_id for row in in_receipts.rows.values()] == ["plain@example.com"]
        with pytest.raises(ValueError, match="needs the search index"):
            plan_rules(store, ruleset, query="from:boss")


@pytest.fixture
def plain_server():
    """A Dovecot of its own without Sent, Trash, Archive or other special-use folders."""
    root = Path(tempfile.mkdtemp(prefix="sluice-dovecot-plain-"))
    with DovecotServer(root / "server", special_use=False) as server:
        yield server
    shutil.rmtree(root, ignore_errors=True)


def test_missing_archive_folder_rejects_apply(plain_server, tmp_path, capsys):
    user = plain_server.add_user("plain", "plain-test-password")
    add_account(plain_server.host, plain_server.port, user)
    direct_client = IMAPClient(plain_server.host, port=plain_server.port, ssl=False)
    direct_client.login(user.name, user.password)
    seed(direct_client)
    sync(capsys)
    rules = write_rules(tmp_path, """
        [[rule]]
        name = "Archive lists"
        when = 'list:*'
        actions = [{ archive = true }, { flag = true }]

        [[rule]]
        name = "Misspelt"
        when = 'from:boss@example.com'
        actions = [{ move = "Recipts" }]
    """)
    before = server_state(direct_client)
    code, out, err = run(capsys, "rules", "apply", "--rules", str(rules))
    assert code == 1
    assert "account 'test' has no Archive folder" in err
    assert "sluice folder create Archive --account test" in err
    assert "folder 'Recipts' not found in account 'test'" in err
    assert "Nothing was applied" in err
    sync(capsys)
    assert server_state(direct_client) == before
    with Store(default_profile().store_file) as store:
        plan = plan_rules(store, load_rules(rules))
        result = apply_plan(store, plan, description="partial")
    assert result.counts == {}, "a rule whose target is missing does nothing, not even its other actions"
    direct_client.logout()


def test_uid_sets_use_ranges_under_limit():
    assert uid_sets([5, 1, 2, 3, 9, 10, 12]) == [["1:3", "5", "9:10", "12"]]
    scattered = list(range(100_000, 160_000, 3))
    sets = uid_sets(scattered)
    assert len(sets) > 1
    assert all(len(",".join(uid_set)) <= MAX_UID_SET_BYTES for uid_set in sets)
    expanded = [int(part) for uid_set in sets for part in uid_set]
    assert expanded == scattered
    assert uid_sets([]) == []


def test_ten_thousand_moves_take_few_commands(imap_user, dovecot_server, direct_client, tmp_path, capsys):
    """12,000 INBOX messages, every sixth one kept: 10,000 move in a few UID MOVE commands."""
    with FaultProxy(dovecot_server.host, dovecot_server.port) as proxy:
        add_account(proxy.host, proxy.port, imap_user)
        direct_client.create_folder("Bulk")
        maildir = dovecot_server.maildir(imap_user.name)
        for number in range(12_000):
            subject = f"Keep {number}" if number % 6 == 0 else f"Sort {number}"
            write_maildir_message(maildir, "INBOX", build_message(f"m{number}@bulk.example", subject=subject,
                                                                  sender="Robot <robot@bulk.example>"))
        sync(capsys)
        rules = write_rules(tmp_path, """
            [[rule]]
            name = "Sort"
            when = 'subject:sort'
            actions = [{ move = "Bulk" }, { label = "$sorted" }]
        """)
        code, out, err = run(capsys, "rules", "apply", "--no-send", "--rules", str(rules))
        assert code == 0, err
        assert "Rule 'Sort': 10000 messages" in out
        sent_before = [len(connection.from_client) for connection in proxy.connections]
        sync(capsys)
        lines = [line for connection, start in zip(proxy.connections, sent_before + [0] * 100)
                 for line in bytes(connection.from_client)[start:].split(b"\r\n")]
    moves = [line for line in lines if re.match(rb"^\S+ UID MOVE ", line)]
    stores = [line for line in lines if re.match(rb"^\S+ UID STORE ", line)]
    assert 1 <= len(moves) <= 6, f"{len(moves)} UID MOVE commands"
    assert 1 <= len(stores) <= 6, f"{len(stores)} UID STORE commands"
    assert max(len(line) for line in moves + stores) < 8192
    direct_client.select_folder("Bulk", readonly=True)
    assert len(direct_client.search("ALL")) == 10_000
    assert len(direct_client.search(["KEYWORD", "$sorted"])) == 10_000
    direct_client.select_folder("INBOX", readonly=True)
    assert len(direct_client.search("ALL")) == 2_000
