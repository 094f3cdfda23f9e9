"""JWZ threading: links from References and In-Reply-To, loops, broken ids and the subject fallback."""

from __future__ import annotations

import itertools
import random

import pytest

from desktop.mail.threads import (
    SUBJECT_WINDOW_SECONDS,
    build_threads,
    clean_id,
    is_groupable_subject,
    normalize_subject,
)

DAY = 24 * 3600.0
START = 1_790_000_000.0


def msg(key, message_id="", in_reply_to="", references=(), subject="Budget for the autumn fair", day=0.0):
    return (key, message_id, in_reply_to, tuple(references), subject, START + day * DAY if day is not None else None)


def groups(items) -> list[set[int]]:
    """Return the threads as sets of keys, sorted by their smallest key."""
    return sorted((set(thread.keys()) for thread in build_threads(items)), key=min)


def depths(items) -> dict[int, int]:
    return {item.key: depth for thread in build_threads(items) for depth, item in thread.walk()}


CONVERSATION = [
    msg(1, "a@x", day=0),
    msg(2, "b@x", "a@x", ["a@x"], "Re: Budget for the autumn fair", day=1),
    msg(3, "c@x", "b@x", ["a@x", "b@x"], "Re: Budget for the autumn fair", day=2),
    msg(4, "d@x", "a@x", ["a@x"], "Re: Budget for the autumn fair", day=3),
    msg(5, "e@x", subject="Train tickets to Lyon", day=1),
]


def test_replies_form_tree() -> None:
    assert groups(CONVERSATION) == [{1, 2, 3, 4}, {5}]
    assert depths(CONVERSATION) == {1: 0, 2: 1, 3: 2, 4: 1, 5: 0}


def test_walk_lists_parents_first() -> None:
    thread = build_threads(CONVERSATION)[0]

    assert thread.keys() == [1, 2, 3, 4]


@pytest.mark.parametrize("seed", range(5))
def test_arrival_order_changes_nothing(seed: int) -> None:
    shuffled = list(CONVERSATION)
    random.Random(seed).shuffle(shuffled)

    assert groups(shuffled) == groups(CONVERSATION)
    assert depths(shuffled) == depths(CONVERSATION)


def test_reply_before_parent_joins_later() -> None:
    # The reply is dated before its parent (a wrong clock), and the parent is missing at first.
    reply = msg(2, "b@x", "a@x", ["a@x"], "Re: Budget for the autumn fair", day=-1)
    assert groups([reply]) == [{2}]

    parent = msg(1, "a@x", day=0)
    assert groups([reply, parent]) == [{1, 2}]
    assert depths([reply, parent]) == {1: 0, 2: 1}


def test_missing_parent_keeps_siblings_together() -> None:
    # Both reply to a message that is not stored, and its empty container ties them together.
    items = [
        msg(1, "b@x", "gone@x", ["gone@x"], "Re: Budget", day=1),
        msg(2, "c@x", "gone@x", ["gone@x"], "Re: Budget", day=2),
        msg(3, "d@x", "c@x", ["gone@x", "c@x"], "Re: Budget", day=3),
    ]

    threads = build_threads(items)

    assert len(threads) == 1
    assert threads[0].root.items == []
    assert threads[0].root.message_id == "gone@x"
    assert depths(items) == {1: 0, 2: 0, 3: 1}


def test_missing_middle_message_is_pruned() -> None:
    items = [msg(1, "a@x", day=0), msg(3, "c@x", "b@x", ["a@x", "b@x"], "Re: x", day=2)]

    assert groups(items) == [{1, 3}]
    # The missing b@x is dropped and its reply moves up to the root's children.
    assert depths(items) == {1: 0, 3: 1}


def test_single_missing_root_is_lifted() -> None:
    items = [msg(1, "b@x", "gone@x", ["gone@x"], "Re: x", day=1)]

    threads = build_threads(items)

    assert [thread.root.items[0].key for thread in threads] == [1]


def test_in_reply_to_alone_links() -> None:
    items = [msg(1, "a@x", day=0), msg(2, "b@x", "<a@x>", (), "Re: Budget for the autumn fair", day=1)]

    assert groups(items) == [{1, 2}]
    assert depths(items)[2] == 1


def test_in_reply_to_extends_truncated_references() -> None:
    items = [
        msg(1, "a@x", day=0),
        msg(2, "b@x", "a@x", ["a@x"], "Re: x", day=1),
        msg(3, "c@x", "b@x", ["a@x"], "Re: x", day=2),
    ]

    assert depths(items) == {1: 0, 2: 1, 3: 2}


def test_loop_in_references_is_refused() -> None:
    # a claims b as parent and b claims a: the later link would close a loop.
    items = [
        msg(1, "a@x", "", ["b@x"], "Re: x", day=0),
        msg(2, "b@x", "", ["a@x"], "Re: x", day=1),
    ]

    threads = build_threads(items)

    assert groups(items) == [{1, 2}]
    assert len(threads) == 1
    assert sorted(depths(items).values()) == [0, 1]


def test_references_naming_itself_is_ignored() -> None:
    items = [msg(1, "a@x", "a@x", ["a@x"], "Re: x", day=0), msg(2, "b@x", "a@x", ["a@x"], "Re: x", day=1)]

    assert groups(items) == [{1, 2}]
    assert depths(items) == {1: 0, 2: 1}


def test_long_loop_chain_terminates() -> None:
    # Each message names the next as its parent, and the last names the first.
    count = 50
    items = [
        msg(index, f"m{index}@x", "", [f"m{(index + 1) % count}@x"], "Re: ring", day=index / 100)
        for index in range(count)
    ]

    threads = build_threads(items)

    assert sum(len(thread.keys()) for thread in threads) == count
    assert len(threads) == 1


def test_deep_chain_beyond_recursion_limit() -> None:
    count = 3000
    items = [msg(0, "m0@x", day=0)] + [
        msg(index, f"m{index}@x", f"m{index - 1}@x", [f"m{index - 1}@x"], "Re: x", day=index / 1000)
        for index in range(1, count)
    ]

    threads = build_threads(items)

    assert len(threads) == 1
    assert max(depth for depth, _ in threads[0].walk()) == count - 1


def test_broken_message_ids() -> None:
    items = [
        msg(1, "", subject="No id at all", day=0),
        msg(2, "<>", subject="Empty brackets", day=0),
        msg(3, "has space@x", subject="Space in id", day=0),
        msg(4, "ok@x", "", ["bad id", "<>", "ok@x"], "Re: Space in id", day=1),
    ]

    assert groups(items) == [{1}, {2}, {3}, {4}]


def test_clean_id_rules() -> None:
    assert clean_id("<a@x>") == "a@x"
    assert clean_id("  a@x ") == "a@x"
    assert clean_id("<>") == ""
    assert clean_id("a b@x") == ""
    assert clean_id("a<b@x") == ""


def test_copies_share_a_thread() -> None:
    # The same message in INBOX and Archive (two rows) with a reply in Sent.
    items = [
        msg(1, "a@x", day=0),
        msg(2, "a@x", day=0),
        msg(3, "b@x", "a@x", ["a@x"], "Re: Budget for the autumn fair", day=1),
    ]

    threads = build_threads(items)

    assert len(threads) == 1
    assert [item.key for item in threads[0].root.items] == [1, 2]
    assert depths(items) == {1: 0, 2: 0, 3: 1}


def test_reused_message_id_keeps_apart() -> None:
    # A broken generator gave two unrelated messages the same id.
    items = [
        msg(1, "same@x", subject="Dinner on Friday evening", day=0),
        msg(2, "same@x", subject="Server maintenance window", day=1),
        msg(3, "r@x", "same@x", ["same@x"], "Re: Dinner on Friday evening", day=2),
    ]

    assert groups(items) == [{1, 3}, {2}]


def test_subject_fallback_joins_reply_without_references() -> None:
    items = [
        msg(1, "a@x", subject="[python-dev] Release schedule for 3.14", day=0),
        msg(2, "b@x", subject="Re: [python-dev] Release schedule for 3.14", day=2),
        msg(3, "c@x", subject="AW: Release  schedule FOR 3.14", day=3),
        msg(4, "d@x", subject="SV: Re[2]: [python-dev] release schedule for 3.14", day=4),
    ]

    assert groups(items) == [{1, 2, 3, 4}]
    assert depths(items) == {1: 0, 2: 1, 3: 1, 4: 1}


def test_subject_fallback_needs_reply_prefix() -> None:
    # Two reports with the same subject are separate conversations.
    items = [msg(1, "a@x", subject="Weekly status of the build farm", day=0),
             msg(2, "b@x", subject="Weekly status of the build farm", day=1)]

    assert groups(items) == [{1}, {2}]


def test_subject_fallback_time_window() -> None:
    late = SUBJECT_WINDOW_SECONDS / DAY + 1
    items = [msg(1, "a@x", subject="Offsite planning for March", day=0),
             msg(2, "b@x", subject="Re: Offsite planning for March", day=late)]

    assert groups(items) == [{1}, {2}]


def test_subject_fallback_chains_within_window() -> None:
    step = SUBJECT_WINDOW_SECONDS / DAY - 1
    items = [msg(index, f"m{index}@x", subject=("Re: " if index else "") + "Offsite planning for March",
                 day=index * step) for index in range(3)]

    assert groups(items) == [{0, 1, 2}]


@pytest.mark.parametrize("subject", ["", "Re:", "Hello", "Re: hello", "Re: Quick question", "Fwd: FYI", "Re: Invoice"])
def test_subject_fallback_skips_generic(subject: str) -> None:
    original = subject.split(": ")[-1] if ": " in subject else subject
    items = [msg(1, "a@x", subject=original, day=0), msg(2, "b@x", subject=subject, day=1)]

    assert groups(items) == [{1}, {2}]


def test_subject_fallback_skips_messages_with_references() -> None:
    # b has References (to a missing message), so it is not grouped by subject.
    items = [msg(1, "a@x", subject="Budget for the autumn fair", day=0),
             msg(2, "b@x", "gone@x", ["gone@x"], "Re: Budget for the autumn fair", day=1)]

    assert groups(items) == [{1}, {2}]


def test_subject_fallback_skips_undated() -> None:
    items = [msg(1, "a@x", day=0), msg(2, "b@x", subject="Re: Budget for the autumn fair", day=None)]

    assert groups(items) == [{1}, {2}]


def test_normalize_subject() -> None:
    assert normalize_subject("Re: Fwd: [list] Hello  World") == ("hello world", True)
    assert normalize_subject("[list] Re: Hello") == ("hello", True)
    assert normalize_subject("Re[3]: x y") == ("x y", True)
    assert normalize_subject("Report: numbers") == ("report: numbers", False)
    assert normalize_subject("Plain") == ("plain", False)
    assert is_groupable_subject("release schedule")
    assert not is_groupable_subject("hello")
    assert not is_groupable_subject("quick question")
    assert not is_groupable_subject("")


def test_every_message_in_exactly_one_thread() -> None:
    rng = random.Random(7)
    items = []
    ids = [f"m{index}@x" for index in range(400)]
    for index in range(400):
        references = rng.sample(ids, rng.randint(0, 4))
        items.append(msg(index, rng.choice(ids + [""]), rng.choice(ids + [""]), references,
                         rng.choice(["Re: Budget for the autumn fair", "Hello", "Plans for the offsite"]),
                         day=rng.choice([None, rng.random() * 30])))

    keys = [key for thread in build_threads(items) for key in thread.keys()]

    assert sorted(keys) == list(range(400))
    assert len(set(keys)) == len(keys)


def test_random_order_same_groups() -> None:
    rng = random.Random(11)
    ids = [f"m{index}@x" for index in range(200)]
    items = [msg(index, ids[index], "", rng.sample(ids[:index], min(index, rng.randint(0, 3))), "Re: x y z",
                 day=rng.random() * 10) for index in range(200)]
    expected = groups(items)

    for _ in itertools.repeat(None, 5):
        rng.shuffle(items)
        assert groups(items) == expected
