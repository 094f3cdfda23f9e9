"""Grouping messages into conversations with Jamie Zawinski's threading algorithm.

The input is one tuple per stored message: (key, Message-ID, In-Reply-To,
References, subject, date). ``key`` is the caller's id for the message (the
store's row id), References is a sequence of ids without angle brackets, and
date is seconds since the epoch or None. ``build_threads`` returns the
conversations, each a tree of containers. The algorithm follows the
description at https://www.jwz.org/doc/threading.html, with these choices:

* Messages are processed in date order, then by key. JWZ lets the first
  References header that names a link win, so a fixed order makes the result
  independent of the order in which mail arrived. The store relies on that
  when it threads new mail incrementally.
* A message's parent is the last id of its References. In-Reply-To is used
  when References is missing, and is appended when References does not end
  with it (some clients send a truncated References).
* A link that would make a loop is refused, as is a message that names
  itself. A message whose own References names a parent replaces a parent
  guessed from another message's References.
* Rows with the same Message-ID and the same normalised subject are copies of
  one message (the same mail in two folders, or a Gmail label) and share a
  container. A second message that reuses a Message-ID with another subject
  is kept apart, as JWZ does, so a broken generator of ids cannot merge
  unrelated mail.
* Subject grouping is a cautious fallback, used only for roots that carry no
  References or In-Reply-To at all. Such a root joins the newest group with
  the same normalised subject when its subject has a reply or forward prefix
  and it is dated at most ``SUBJECT_WINDOW_SECONDS`` after that group's
  latest root. Subjects that are empty, shorter than two words or in
  ``GENERIC_SUBJECTS`` never group, and neither do undated messages.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

log = logging.getLogger(__name__)

SUBJECT_WINDOW_SECONDS = 14 * 24 * 3600

# Normalised subjects that many unrelated conversations share.
GENERIC_SUBJECTS = frozenset({
    "hello", "hi", "hey", "hallo", "hello there", "hi there", "question", "a question", "quick question",
    "test", "testing", "thanks", "thank you", "thanks!", "thank you!", "fyi", "info", "update", "updates",
    "meeting", "lunch", "reminder", "follow up", "follow-up", "important", "urgent", "no subject",
    "(no subject)", "untitled", "invoice", "your invoice", "your order", "order confirmation", "newsletter",
    "good morning", "hello!", "hi!", "help", "request", "documents", "photos", "pictures",
})

# Reply and forward prefixes in several languages (Re, Fwd, German AW/WG, Scandinavian SV/VS, Dutch Antw,
# Italian R/Rif, Polish Odp, French TR, Spanish RV), optionally counted as in "Re[2]:" or "Re^2:".
_PREFIX = re.compile(
    r"^(?:re|fwd?|aw|wg|sv|vs|antw|r|rif|odp|tr|rv)(?:\[\d+\]|\^\d+)?\s*:\s*", re.IGNORECASE
)
# A mailing list tag such as "[python-dev]" in front of the subject or after a prefix.
_LIST_TAG = re.compile(r"^\[[^\[\]]{1,64}\]\s*")
_SPACES = re.compile(r"\s+")
_VALID_ID = re.compile(r"[^\s<>]+")


class ThreadInput(NamedTuple):
    """One message: the header fields that threading reads, and the caller's key."""

    key: int
    message_id: str
    in_reply_to: str
    references: Sequence[str]
    subject: str
    date: float | None


class Container:
    """A node of the thread tree: a message (with its copies) or a missing one that others refer to.

    Attributes:
        message_id: The Message-ID of this node, or "" for a message without one.
        items: The inputs of the message and its copies, or [] for a missing message.
        parent: The parent node, or None for a root.
        children: The child nodes, oldest first once ``build_threads`` returns.
        subject_candidate: Whether subject grouping considered this node, as a
            root without references and with a distinctive subject.
    """

    __slots__ = ("message_id", "items", "parent", "children", "subject_candidate")

    def __init__(self, message_id: str = "") -> None:
        self.message_id = message_id
        self.items: list[ThreadInput] = []
        self.parent: Container | None = None
        self.children: list[Container] = []
        self.subject_candidate = False

    def add_child(self, child: Container) -> None:
        child.parent = self
        self.children.append(child)

    def remove_child(self, child: Container) -> None:
        self.children.remove(child)
        child.parent = None

    def has_ancestor(self, node: Container) -> bool:
        """Return whether ``node`` is this container or one of its ancestors."""
        current: Container | None = self
        while current is not None:
            if current is node:
                return True
            current = current.parent
        return False

    def first_date(self) -> float:
        dates = [item.date for item in self.items if item.date is not None]
        return min(dates) if dates else float("inf")


class Thread:
    """One conversation: a tree under ``root``, whose root may be a missing message.

    Attributes:
        root: The top container.
    """

    __slots__ = ("root",)

    def __init__(self, root: Container) -> None:
        self.root = root

    def containers(self) -> Iterator[Container]:
        """Yield every node of the tree, parents before their replies."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def walk(self) -> Iterator[tuple[int, ThreadInput]]:
        """Yield (depth, message) in tree order, parents before their replies."""
        stack: list[tuple[Container, int]] = [(self.root, 0)]
        while stack:
            node, depth = stack.pop()
            for item in node.items:
                yield depth, item
            child_depth = depth + 1 if node.items else depth
            stack.extend((child, child_depth) for child in reversed(node.children))

    def keys(self) -> list[int]:
        """Return the keys of every message in the thread, in tree order."""
        return [item.key for _, item in self.walk()]


def normalize_subject(subject: str) -> tuple[str, bool]:
    """Return the subject without reply prefixes and list tags, case-folded, and whether a prefix was there."""
    text = subject.strip()
    replied = False
    while True:
        tag = _LIST_TAG.match(text)
        if tag:
            text = text[tag.end():]
            continue
        prefix = _PREFIX.match(text)
        if prefix is None:
            break
        text = text[prefix.end():]
        replied = True
    return _SPACES.sub(" ", text).strip().casefold(), replied


def is_groupable_subject(normalized: str) -> bool:
    """Return whether a normalised subject is distinctive enough to group messages without references."""
    if normalized in GENERIC_SUBJECTS:
        return False
    return len(normalized.split(" ")) >= 2


def clean_id(value: str) -> str:
    """Return a Message-ID without angle brackets, or "" for an empty or malformed one."""
    text = value.strip().strip("<>").strip()
    return text if _VALID_ID.fullmatch(text) else ""


def parent_ids(item: ThreadInput, clean: Callable[[str], str] = clean_id) -> list[str]:
    """Return the ids of a message's ancestors, oldest first, without its own id or repeats."""
    own = clean(item.message_id)
    seen = {own}
    ids: list[str] = []
    for value in item.references:
        reference = clean(value)
        if reference and reference not in seen:
            seen.add(reference)
            ids.append(reference)
    reply_to = clean(item.in_reply_to)
    if reply_to and reply_to not in seen:
        ids.append(reply_to)
    return ids


def build_threads(items: Iterable[Sequence]) -> list[Thread]:
    """Group messages into threads; return them oldest first by their first message.

    Args:
        items: (key, Message-ID, In-Reply-To, References, subject, date)
            tuples with unique keys.
    """
    # The tree's parent links make reference cycles, which would set off many full
    # collections of the whole heap while it grows; nothing here needs them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        ordered = sorted((item if type(item) is ThreadInput else ThreadInput(*item) for item in items), key=_order)
        builder = _Builder()
        for item in ordered:
            builder.add(item)
        roots = _group_by_subject(_prune(builder.roots()))
        for root in roots:
            _sort_children(root)
        roots.sort(key=_subtree_first_date)
        return [Thread(root) for root in roots]
    finally:
        if collecting:
            gc.enable()


def _order(item: ThreadInput) -> tuple[bool, float, int]:
    return (item.date is None, item.date or 0.0, item.key)


class _CleanIds(dict):
    """``clean_id`` with a memory: the same ids recur in many References headers."""

    def __missing__(self, value: str) -> str:
        cleaned = clean_id(value)
        self[value] = cleaned
        return cleaned


class _Builder:
    """Step one of the algorithm: containers by Message-ID, linked by References."""

    def __init__(self) -> None:
        self.by_id: dict[str, Container] = {}
        self.without_id: list[Container] = []
        self.clean = _CleanIds().__getitem__

    def add(self, item: ThreadInput) -> None:
        container = self._container_for(item)
        if container is None:
            return
        ancestors = parent_ids(item, self.clean)
        self._link_chain(ancestors)
        parent = self.by_id[ancestors[-1]] if ancestors else None
        self._set_parent(container, parent)

    def _container_for(self, item: ThreadInput) -> Container | None:
        """Return the message's container, or None when it is a copy of a message seen already."""
        message_id = self.clean(item.message_id)
        if not message_id:
            container = Container()
            self.without_id.append(container)
            container.items.append(item)
            return container
        container = self.by_id.get(message_id)
        if container is None:
            container = Container(message_id)
            self.by_id[message_id] = container
        elif container.items:
            if normalize_subject(container.items[0].subject)[0] == normalize_subject(item.subject)[0]:
                container.items.append(item)
                return None
            log.debug("Message %d reuses Message-ID %s with another subject, so it gets a thread node of its own", item.key, message_id)
            container = Container()
            self.without_id.append(container)
        container.items.append(item)
        return container

    def _link_chain(self, ancestors: list[str]) -> None:
        previous: Container | None = None
        for message_id in ancestors:
            container = self.by_id.get(message_id)
            if container is None:
                container = Container(message_id)
                self.by_id[message_id] = container
            # An earlier link stays, and a link that would make a loop is refused.
            if previous is not None and container.parent is None and not previous.has_ancestor(container):
                previous.add_child(container)
            previous = container

    def _set_parent(self, container: Container, parent: Container | None) -> None:
        if container.parent is not None:
            container.parent.remove_child(container)
        if parent is not None and not parent.has_ancestor(container):
            parent.add_child(container)

    def roots(self) -> list[Container]:
        containers = list(self.by_id.values()) + self.without_id
        return [container for container in containers if container.parent is None]


def _prune(roots: list[Container]) -> list[Container]:
    """Drop missing messages without replies and lift the replies of the others (step four).

    A missing root with several replies stays, because it is what ties them
    together. The walk uses an explicit stack, because a thread can be deeper
    than Python's recursion limit.
    """
    remaining: list[Container] = []
    for root in roots:
        _prune_below(root)
        if root.items or len(root.children) > 1:
            remaining.append(root)
        elif root.children:
            child = root.children[0]
            child.parent = None
            remaining.append(child)
    return remaining


def _prune_below(root: Container) -> None:
    if not root.children:
        return
    # Post-order: each node's children are pruned before the node itself.
    order: list[Container] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    for node in reversed(order):
        children: list[Container] = []
        for child in node.children:
            if child.items:
                children.append(child)
                continue
            for grandchild in child.children:
                grandchild.parent = node
                children.append(grandchild)
        node.children = children


def _group_by_subject(roots: list[Container]) -> list[Container]:
    """Join roots without references that share a distinctive subject (step five, restricted)."""
    candidates: list[tuple[float, int, Container, str, bool]] = []
    normalized: dict[str, tuple[str, bool]] = {}
    for root in roots:
        candidate = _subject_candidate(root, normalized)
        if candidate is not None:
            root.subject_candidate = True
            candidates.append((candidate[0], root.items[0].key, root, candidate[1], candidate[2]))
    # Date, then key: the same order in every run, whichever other roots exist.
    candidates.sort(key=lambda entry: (entry[0], entry[1]))

    groups: dict[str, tuple[Container, float]] = {}
    joined: set[int] = set()
    for date, _key, root, subject, replied in candidates:
        group = groups.get(subject)
        if replied and group is not None and date - group[1] <= SUBJECT_WINDOW_SECONDS:
            group[0].add_child(root)
            groups[subject] = (group[0], date)
            joined.add(id(root))
        else:
            groups[subject] = (root, date)
    return [root for root in roots if id(root) not in joined]


def _subject_candidate(root: Container, normalized: dict[str, tuple[str, bool]]) -> tuple[float, str, bool] | None:
    """Return (date, normalised subject, has a reply prefix) of a root that may group by subject."""
    if not root.items:
        return None
    item = root.items[0]
    if item.date is None or item.in_reply_to.strip():
        return None
    if item.references and any(reference.strip() for reference in item.references):
        return None
    found = normalized.get(item.subject)
    if found is None:
        found = normalized[item.subject] = normalize_subject(item.subject)
    subject, replied = found
    if not is_groupable_subject(subject):
        return None
    return item.date, subject, replied


def _sort_children(root: Container) -> None:
    if not root.children:
        return
    stack = [root]
    while stack:
        node = stack.pop()
        node.children.sort(key=_subtree_first_date)
        stack.extend(node.children)


def _subtree_first_date(node: Container) -> float:
    # A missing message sorts by its first reply, so a thread keeps its place after pruning.
    if node.items:
        return node.first_date()
    return min((_subtree_first_date(child) for child in node.children), default=float("inf"))
