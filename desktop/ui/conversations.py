"""The row layout of the message list in conversation view.

The list shows one row per conversation: the messages of the list that share
a thread in the store. An expanded conversation shows its messages on the
rows below it, in thread order. ``ConversationLayout`` maps rows to
conversations and messages. It contains ids only, so grouping 100,000
messages costs one pass over them. The model reads rows from the store
lazily, as in the flat list.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from desktop.mail.threads import build_threads
from desktop.store import MessageRow

log = logging.getLogger(__name__)

HEAD = -1
"""The position of a conversation's own row, as ``ConversationLayout.entry`` returns it."""

MAX_PARTICIPANTS = 3


@dataclass
class Conversation:
    """The messages of one thread that the list shows.

    Attributes:
        thread_id: The store's thread id, or None for a message without one.
        member_ids: Message ids in the list's order, which is newest first
            unless the list is sorted otherwise. The first one is shown on the
            conversation's row and opened in the reader, also while expanded.
        expanded: Whether the messages are shown below the conversation's row.
        thread_ids: The same ids in thread order (parents before replies), as
            the rows below the conversation's row show them once expanded.
        depths: Depth of each message in the thread tree, once expanded.
    """

    thread_id: int | None
    member_ids: list[int]
    expanded: bool = False
    thread_ids: list[int] = field(default_factory=list)
    depths: dict[int, int] = field(default_factory=dict)

    @property
    def first_id(self) -> int:
        return self.member_ids[0]


@dataclass(frozen=True)
class ConversationSummary:
    """The fields of a conversation's row, computed from the stored rows of its messages."""

    count: int
    participants: list[str]
    subject: str
    newest: datetime | None
    unread: bool
    flagged: bool
    has_attachment: bool


class ConversationLayout:
    """Conversations in list order and the rows they take."""

    def __init__(self, ids: Sequence[int], thread_of: dict[int, int | None]) -> None:
        by_thread: dict[int, Conversation] = {}
        self.conversations: list[Conversation] = []
        for message_id in ids:
            thread_id = thread_of.get(message_id)
            conversation = by_thread.get(thread_id) if thread_id is not None else None
            if conversation is None:
                conversation = Conversation(thread_id, [])
                self.conversations.append(conversation)
                if thread_id is not None:
                    by_thread[thread_id] = conversation
            conversation.member_ids.append(message_id)
        # Each row is (conversation index, position among its members, or HEAD for its own row).
        self._rows: list[tuple[int, int]] = [(index, HEAD) for index in range(len(self.conversations))]
        self._row_of_id: dict[int, int] | None = None

    def row_count(self) -> int:
        return len(self._rows)

    def entry(self, row: int) -> tuple[Conversation, int] | None:
        """Return (conversation, position) shown at ``row``; position is HEAD for the conversation's row."""
        if not 0 <= row < len(self._rows):
            return None
        index, position = self._rows[row]
        return self.conversations[index], position

    def message_id(self, row: int) -> int | None:
        """Return the message a row stands for: its own, or for a conversation's row the first of its messages."""
        found = self.entry(row)
        if found is None:
            return None
        conversation, position = found
        return conversation.first_id if position == HEAD else conversation.thread_ids[position]

    def message_ids(self, row: int) -> list[int]:
        """Return every message a row stands for: all of a conversation's, or one."""
        found = self.entry(row)
        if found is None:
            return []
        conversation, position = found
        return list(conversation.member_ids) if position == HEAD else [conversation.thread_ids[position]]

    def row_of(self, message_id: int) -> int | None:
        """Return the row that shows a message: its own when expanded, else its conversation's."""
        if self._row_of_id is None:
            self._row_of_id = {}
            for row, (index, position) in enumerate(self._rows):
                conversation = self.conversations[index]
                if position != HEAD:
                    self._row_of_id[conversation.thread_ids[position]] = row
                elif not conversation.expanded:
                    for member in conversation.member_ids:
                        self._row_of_id[member] = row
        return self._row_of_id.get(message_id)

    def head_row(self, row: int) -> int | None:
        """Return the row of the conversation that ``row`` belongs to."""
        found = self.entry(row)
        if found is None:
            return None
        return row - found[1] - 1 if found[1] != HEAD else row

    def span(self, row: int) -> tuple[int, int] | None:
        """Return the first and last row of the conversation that ``row`` belongs to, with its shown messages."""
        head = self.head_row(row)
        if head is None:
            return None
        conversation = self.conversations[self._rows[head][0]]
        return head, head + (len(conversation.thread_ids) if conversation.expanded else 0)

    def expandable(self, row: int) -> bool:
        found = self.entry(row)
        return found is not None and found[1] == HEAD and len(found[0].member_ids) > 1

    def expand(self, row: int, order: list[int], depths: dict[int, int]) -> int:
        """Show a conversation's messages below its row in ``order``; return how many rows were added.

        ``member_ids`` keeps the list's order, so the conversation's row still
        opens its newest message (or the first by priority).
        """
        conversation, _position = self.entry(row)  # type: ignore[misc] - callers pass a head row
        index = self._rows[row][0]
        conversation.thread_ids = order
        conversation.depths = depths
        conversation.expanded = True
        self._rows[row + 1 : row + 1] = [(index, position) for position in range(len(order))]
        self._row_of_id = None
        return len(order)

    def collapse(self, row: int) -> int:
        """Hide a conversation's messages; return how many rows were removed."""
        conversation, _position = self.entry(row)  # type: ignore[misc] - callers pass a head row
        count = len(conversation.thread_ids)
        del self._rows[row + 1 : row + 1 + count]
        conversation.expanded = False
        conversation.thread_ids = []
        self._row_of_id = None
        return count


def thread_order(rows: Sequence[MessageRow]) -> tuple[list[int], dict[int, int]]:
    """Return the message ids in thread order (parents before replies) and each one's depth."""
    items = [
        (row.id, row.message_id, row.in_reply_to, row.references, row.subject,
         row.date.timestamp() if row.date else None)
        for row in rows
    ]
    order: list[int] = []
    depths: dict[int, int] = {}
    for thread in build_threads(items):
        for depth, item in thread.walk():
            order.append(item.key)
            depths[item.key] = depth
    return order, depths


def summarize(rows: Sequence[MessageRow]) -> ConversationSummary:
    """Return the summary of a conversation from its stored rows, in the list's order."""
    participants: list[str] = []
    for row in sorted(rows, key=lambda item: (item.date is None, item.date or datetime.min)):
        name = row.sender
        if name and name not in participants:
            participants.append(name)
    dated = [row for row in rows if row.date is not None]
    oldest = min(dated, key=lambda row: row.date) if dated else rows[-1]
    return ConversationSummary(
        count=len(rows),
        participants=participants,
        subject=oldest.subject,
        newest=max((row.date for row in dated), default=None),
        unread=any(not row.seen for row in rows),
        flagged=any(row.flagged for row in rows),
        has_attachment=any(row.has_attachment for row in rows),
    )
