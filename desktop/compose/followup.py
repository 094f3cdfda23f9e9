"""Follow-up reminders: "remind me if no reply in N days" on a sent message.

A reminder is kept in the outbox file with the sent message's Message-ID
and a due time. ``check_due`` looks at each due reminder:

- a reply has arrived when the store contains a message of the account whose
  In-Reply-To or References names the sent message and whose sender is not
  one of the user's addresses; the reminder is then closed as ``replied``;
- otherwise the thread comes back: the sent message's copy is copied into
  INBOX (through the store's journal, so the server gets it at the next
  sync), flagged and given the keyword ``$FollowUp``. The copy, not a move,
  keeps the Sent folder complete; the flag and keyword make the message
  easy to find (``is:flagged``) and say why it is there.

Reminders of a sent message that has no copy in the store (no Sent copy
kept) are closed as ``missing`` with a log line, since there is nothing to
bring back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from desktop.compose.outbox import Outbox
from desktop.config import Config

log = logging.getLogger(__name__)

KEYWORD = "$FollowUp"
WAITING = "waiting"
REPLIED = "replied"
RETURNED = "returned"
MISSING = "missing"


@dataclass(frozen=True)
class Reminder:
    """One follow-up reminder.

    Attributes:
        id: The reminder's number.
        account: The account that sent the message.
        message_id: The sent message's Message-ID.
        subject: Its subject, for lists.
        due_at: When to check for a reply (seconds since the epoch).
        state: ``waiting``, ``replied``, ``returned`` or ``missing``.
    """

    id: int
    account: str
    message_id: str
    subject: str
    due_at: float
    state: str


class Reminders:
    """The reminders in the outbox file."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def add(self, account: str, message_id: str, subject: str, *, due_at: float) -> int:
        """Add a reminder for a sent message; return its id."""
        with self.outbox.transaction() as db:
            cursor = db.execute("INSERT INTO reminders (account, message_id, subject, due_at, created) VALUES (?, ?, ?, ?, ?)",
                                (account, message_id, subject, due_at, time.time()))
            reminder_id = int(cursor.lastrowid)
        log.info("Follow-up reminder %d for %s of account %s is due at %s", reminder_id, message_id, account,
                 time.strftime("%Y-%m-%d %H:%M", time.localtime(due_at)))
        return reminder_id

    def reminders(self, state: str | None = WAITING) -> list[Reminder]:
        """Return reminders in ``state`` (all when None), soonest first."""
        sql = "SELECT id, account, message_id, subject, due_at, state FROM reminders"
        params: tuple = ()
        if state is not None:
            sql += " WHERE state = ?"
            params = (state,)
        return [Reminder(*row) for row in self.outbox.query(sql + " ORDER BY due_at, id", params)]

    def cancel(self, reminder_id: int) -> bool:
        """Remove a reminder; return whether it existed."""
        with self.outbox.transaction() as db:
            return db.execute("DELETE FROM reminders WHERE id = ?", (reminder_id,)).rowcount == 1

    def check_due(self, store, config: Config, now: float | None = None) -> list[tuple[Reminder, str]]:
        """Close or act on every due reminder; return each with its new state."""
        moment = time.time() if now is None else now
        done = []
        for reminder in self.reminders(WAITING):
            if reminder.due_at > moment:
                continue
            state = self._settle(store, config, reminder)
            with self.outbox.transaction() as db:
                db.execute("UPDATE reminders SET state = ?, done_at = ? WHERE id = ?", (state, time.time(), reminder.id))
            log.info("Follow-up reminder %d for %s: %s", reminder.id, reminder.message_id, state)
            done.append((reminder, state))
        return done

    def _settle(self, store, config: Config, reminder: Reminder) -> str:
        account = config.accounts.get(reminder.account)
        own = set(account.own_addresses()) if account is not None else set()
        if has_reply(store, reminder.account, reminder.message_id, own):
            return REPLIED
        sent = _sent_copy(store, reminder.account, reminder.message_id)
        inbox = store.folder_by_name(reminder.account, "INBOX")
        if sent is None or inbox is None:
            log.warning("Follow-up reminder %d: no stored copy of %s or no INBOX in account %s, so nothing comes back",
                        reminder.id, reminder.message_id, reminder.account)
            return MISSING
        row = store.message(sent)
        copies = store.copy_messages([sent], inbox.id) if row is not None and row.folder_id != inbox.id else [sent]
        store.change_flags(copies or [sent], add=("\\Flagged", KEYWORD), remove=("\\Seen",))
        return RETURNED


def has_reply(store, account: str, message_id: str, own_addresses: set[str]) -> bool:
    """Return whether the store contains a message of ``account`` replying to ``message_id`` from someone else."""
    return any(sender.lower() not in own_addresses for sender in store.reply_senders(account, message_id))


def _sent_copy(store, account: str, message_id: str) -> int | None:
    """Return the row of the sent message, preferring its copy in a Sent folder."""
    ids = store.ids_by_message_id(account, message_id)
    if not ids:
        return None
    sent = {folder.id for folder in store.folders(account, with_counts=False) if folder.special_use == "\\Sent"}
    in_sent = [row.id for row in store.messages(ids) if row.folder_id in sent]
    return in_sent[0] if in_sent else ids[0]
