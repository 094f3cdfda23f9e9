"""Gmail's message ids and labels, a part of ``Store``.

A Gmail message shows in the folder of each of its labels and in All Mail,
stored as one row per folder, all with the same ``gm_msgid``. Labels belong
to the message, so they are kept equal on all its rows, and a body fetched
for one row is copied to the others. ``labels`` contains a JSON list, or ''
for none (see ``labels_text``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

ALL_MAIL_USE = "\\All"
_CHUNK = 500  # ids per statement, well inside SQLite's limit on bound parameters
_SAME_ACCOUNT = "folder_id IN (SELECT id FROM folders WHERE account_id = ?)"


def parse_labels(value: str) -> list[str]:
    """Return the labels of a ``labels`` column value."""
    return list(json.loads(value)) if value else []


def check_label(label: str) -> None:
    """Raise ValueError unless ``label`` can be sent as a Gmail label."""
    if label and label.strip() == label and not any(char in label for char in "\r\n\0"):
        return
    raise ValueError(f"Label {label!r} cannot be stored on Gmail: use a non-empty name without line breaks "
                     "or leading and trailing spaces, or a system label such as \\Inbox, \\Starred or \\Important.")


def _labels_text(labels: Iterable[str]) -> str:
    from desktop.store.db import labels_text  # db.py imports this module, so the import waits until it is used

    return labels_text(labels)


class GmailMixin:
    """The Gmail methods of ``Store``; they use its connection, index queue and journal."""

    # --- sync side --------------------------------------------------------

    def local_labels(self, folder_id: int) -> dict[int, list[str]]:
        """Return {uid: labels} of the folder's messages that have a Gmail message id."""
        rows = self._db.execute("SELECT uid, labels FROM messages WHERE folder_id = ? AND gm_msgid IS NOT NULL", (folder_id,))
        return {uid: parse_labels(value) for uid, value in rows}

    def update_labels(self, folder_id: int, labels_by_uid: Mapping[int, Iterable[str]]) -> int:
        """Set labels read from the server, on the row of each UID and every other row of the same message.

        Returns how many rows changed.
        """
        changed = 0
        with self.transaction() as db:
            for uid, labels in labels_by_uid.items():
                value = _labels_text(labels)
                row = db.execute(
                    """SELECT m.gm_msgid, f.account_id FROM messages m JOIN folders f ON f.id = m.folder_id
                       WHERE m.folder_id = ? AND m.uid = ?""",
                    (folder_id, uid),
                ).fetchone()
                if row is None or row[0] is None:
                    continue
                changed += db.execute(
                    f"UPDATE messages SET labels = ? WHERE gm_msgid = ? AND labels != ? AND {_SAME_ACCOUNT}",
                    (value, row[0], value, row[1]),
                ).rowcount
        return changed

    def gm_msgids(self, ids: Sequence[int]) -> dict[int, int]:
        """Return {message id: X-GM-MSGID} of those of ``ids`` that have one."""
        found: dict[int, int] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = tuple(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(
                f"SELECT id, gm_msgid FROM messages WHERE id IN ({marks}) AND gm_msgid IS NOT NULL", chunk
            ).fetchall())
        return found

    def store_bodies_with_twins(self, bodies: Mapping[int, bytes]) -> list[int]:
        """Store fetched bodies and copy each to the other rows of the same Gmail message, in one transaction.

        Returns the ids of every row that got a body.
        """
        with self.transaction():
            stored = self.store_bodies(bodies)
            stored += self.copy_twin_bodies(from_ids=stored)
        return stored

    def copy_twin_bodies(self, account_id: int | None = None, *, from_ids: Sequence[int] | None = None) -> list[int]:
        """Give rows without a body the body of another row of the same account and X-GM-MSGID, in one transaction.

        Args:
            account_id: Fill every row of this account that a twin can fill.
            from_ids: Or copy only from these rows to their twins.

        Returns the ids of the rows that got a body; the index re-reads them
        through ``store_bodies``.
        """
        if from_ids is None and account_id is None:
            raise ValueError("Name an account_id or the from_ids to copy bodies from.")
        with self.transaction():
            copies = self._twin_copies(account_id, from_ids)
            stored = self.store_bodies(copies) if copies else []
        if stored:
            log.info("Copied the body of %d row(s) from the same Gmail message in another folder", len(stored))
        return stored

    def copy_body_from_twin(self, message_id: int) -> bytes | None:
        """Store and return the body of another row of the same Gmail message, or None when no row has one."""
        row = self._db.execute(
            """SELECT r2.raw FROM messages m JOIN folders f ON f.id = m.folder_id
               JOIN messages m2 ON m2.gm_msgid = m.gm_msgid AND m2.id != m.id
               JOIN folders f2 ON f2.id = m2.folder_id AND f2.account_id = f.account_id
               JOIN raw_messages r2 ON r2.message_id = m2.id
               WHERE m.id = ? AND m.gm_msgid IS NOT NULL LIMIT 1""",
            (message_id,),
        ).fetchone()
        if row is None:
            return None
        raw = bytes(row[0])
        self.store_bodies({message_id: raw})
        log.info("Copied the body of message %d from the same Gmail message in another folder", message_id)
        return raw

    def _twin_copies(self, account_id: int | None, from_ids: Sequence[int] | None) -> dict[int, bytes]:
        query = """SELECT m.id, r2.raw FROM messages m JOIN folders f ON f.id = m.folder_id
                   LEFT JOIN raw_messages r ON r.message_id = m.id
                   JOIN messages m2 ON m2.gm_msgid = m.gm_msgid AND m2.id != m.id
                   JOIN folders f2 ON f2.id = m2.folder_id AND f2.account_id = f.account_id
                   JOIN raw_messages r2 ON r2.message_id = m2.id
                   WHERE m.gm_msgid IS NOT NULL AND r.message_id IS NULL"""
        copies: dict[int, bytes] = {}
        if from_ids is None:
            for message_id, raw in self._db.execute(query + " AND f.account_id = ?", (account_id,)):
                copies.setdefault(message_id, bytes(raw))
            return copies
        for start in range(0, len(from_ids), _CHUNK):
            chunk = tuple(from_ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for message_id, raw in self._db.execute(query + f" AND m2.id IN ({marks})", chunk):
                copies.setdefault(message_id, bytes(raw))
        return copies

    # --- reading side -----------------------------------------------------

    def labels(self, message_id: int) -> list[str]:
        """Return the Gmail labels of a message, or [] when it has none or is not a Gmail message."""
        row = self._db.execute("SELECT labels FROM messages WHERE id = ?", (message_id,)).fetchone()
        return parse_labels(row[0]) if row else []

    def without_all_mail_twins(self, ids: Sequence[int]) -> list[int]:
        """Return ``ids`` in their order without the All Mail rows of messages that another row of ``ids`` shows.

        Gmail lists every message in All Mail (special use ``\\All``) too, so a
        search across folders would show each match twice. A message found
        only in All Mail (an archived one) keeps its row.
        """
        rows = self._gmail_rows(ids)
        shown_elsewhere = {(account, msgid) for account, msgid, use in rows.values() if msgid is not None and use != ALL_MAIL_USE}
        visible_ids = []
        for message_id in ids:
            account, msgid, use = rows.get(message_id, (None, None, ""))
            if use == ALL_MAIL_USE and msgid is not None and (account, msgid) in shown_elsewhere:
                continue
            visible_ids.append(message_id)
        return visible_ids

    def _gmail_rows(self, ids: Sequence[int]) -> dict[int, tuple[int, int | None, str]]:
        found: dict[int, tuple[int, int | None, str]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = tuple(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"""SELECT m.id, f.account_id, m.gm_msgid, f.special_use FROM messages m JOIN folders f ON f.id = m.folder_id
                    WHERE m.id IN ({marks})""",
                chunk,
            )
            found.update((row[0], (row[1], row[2], row[3])) for row in rows)
        return found

    # --- local changes ----------------------------------------------------

    def change_labels(self, ids: Sequence[int], *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> int:
        """Change the labels of Gmail messages at once and journal the change; return how many messages changed.

        Every row of the same message (its other folders, All Mail) takes
        the new labels. One ``labels`` action per folder records the UIDs,
        and replay sends STORE +X-GM-LABELS / -X-GM-LABELS there. The folder
        of an added label gains the message, and the folder of a removed one
        loses it, on the next sync.

        Raises:
            ValueError: when a label is invalid or a message has no Gmail message id.
        """
        add_set, remove_set = set(add), set(remove)
        for label in add_set | remove_set:
            check_label(label)
        rows = self._label_rows(ids)
        plain = [message_id for message_id, row in rows.items() if row[3] is None]
        if plain:
            raise ValueError(f"Messages {sorted(plain)} have no Gmail labels: their server does not list X-GM-EXT-1; "
                             "use flags or folders instead.")
        changed: set[tuple[int, int]] = set()
        with self.transaction() as db:
            by_folder: dict[int, list[int]] = {}
            for folder_id, uid, account_id, msgid, value in rows.values():
                current = set(parse_labels(value))
                labels = (current | add_set) - remove_set
                if labels == current or (account_id, msgid) in changed:
                    continue
                changed.add((account_id, msgid))
                db.execute(f"UPDATE messages SET labels = ? WHERE gm_msgid = ? AND {_SAME_ACCOUNT}",
                           (_labels_text(labels), msgid, account_id))
                by_folder.setdefault(folder_id, []).append(uid)
            for folder_id, uids in by_folder.items():
                self._journal_labels(folder_id, uids, add_set, remove_set)
        log.info("Changed the labels of %d Gmail message(s): +%s -%s", len(changed), sorted(add_set), sorted(remove_set))
        return len(changed)

    def _label_rows(self, ids: Sequence[int]) -> dict[int, tuple]:
        found: dict[int, tuple] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = tuple(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"""SELECT m.id, m.folder_id, m.uid, f.account_id, m.gm_msgid, m.labels
                    FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.id IN ({marks})""",
                chunk,
            )
            found.update((row[0], row[1:]) for row in rows)
        return found

    def _journal_labels(self, folder_id: int, uids: list[int], add: set[str], remove: set[str]) -> None:
        folder = self._folder_info(folder_id)
        if folder.kind != "imap":
            return
        payload = {"uids": sorted(uids), "add": sorted(add), "remove": sorted(remove)}
        self._insert_action(self._next_action_id(), folder, "labels", payload)
