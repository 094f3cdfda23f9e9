"""``Store.undo_last`` after a bulk archive: messages changed since are left alone with a reason, the rest return.

A store with one IMAP account and no server: the journal only records the
changes, which is all undo reads and writes here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from desktop.mail.parse import Summary
from desktop.store import FLAGGED, Store
from desktop.store.db import NewMessage

COUNT = 40


def _archived_store(path: Path) -> tuple[Store, dict[str, int], list[int]]:
    """Return a store whose INBOX of ``COUNT`` messages was archived as one bulk action, its folders and ids."""
    store = Store(path)
    account = store.ensure_account("work")
    folders = {
        "INBOX": store.upsert_folder(account, "INBOX"),
        "Archive": store.upsert_folder(account, "Archive", special_use="\\Archive"),
        "Later": store.upsert_folder(account, "Later"),
        "Old": store.upsert_folder(account, "Old"),
    }
    moment = datetime(2026, 12, 1, tzinfo=timezone.utc)
    messages = [
        NewMessage(uid=number + 1, flags=(), size=100, raw=None,
                   summary=Summary(subject=f"Note {number}", from_addr="a@example.org", date=moment,
                                   message_id=f"note-{number}@example.org"))
        for number in range(COUNT)
    ]
    store.insert_messages(folders["INBOX"], messages[: COUNT - 2])
    # Two messages start in a folder that is deleted after the archive.
    store.insert_messages(folders["Old"], messages[COUNT - 2 :])
    ids = store.message_ids([folders["INBOX"], folders["Old"]])
    rows = store.messages(ids)
    with store.transaction():
        bulk_id = store.begin_bulk("archive", "Archived 40 messages", rows)
        store.finish_bulk(bulk_id, {"archived": store.move_messages(ids, folders["Archive"])})
    return store, folders, ids


def test_undo_skips_changed_messages(tmp_path: Path) -> None:
    store, folders, ids = _archived_store(tmp_path / "store.sqlite")
    by_subject = {row.subject: row.id for row in store.messages(ids)}
    with store:
        store.move_messages([by_subject["Note 0"]], folders["Later"])
        store.change_flags([by_subject["Note 1"]], add=[FLAGGED])
        store.delete_folder(folders["Old"])
        # Deleted for good: Archive is no Trash, and the account has none.
        store.delete_messages([by_subject["Note 2"]])

        result = store.undo_last()

        assert result is not None
        assert result.restored == COUNT - 5
        assert result.moved_back == COUNT - 5
        assert len(result.skipped) == 5
        skipped = "\n".join(result.skipped)
        assert "(Note 0): moved to Later since the run, so it was left there" in skipped
        assert "(Note 1): its flags changed since the run" in skipped
        assert f"message {by_subject['Note 2']}: no longer where the run left it" in skipped
        assert "(Note 38): its old folder no longer exists, so it stays in Archive" in skipped
        assert "(Note 39): its old folder no longer exists, so it stays in Archive" in skipped
        inbox = {row.subject for row in store.messages(store.message_ids([folders["INBOX"]]))}
        assert inbox == {f"Note {number}" for number in range(3, COUNT - 2)}
        assert store.bulk_history(1)[0].undone is not None


def test_undo_preview_lists_recorded_state(tmp_path: Path) -> None:
    store, folders, ids = _archived_store(tmp_path / "store.sqlite")
    with store:
        preview = store.undo_preview()

        assert preview is not None
        bulk_id, before = preview
        assert bulk_id == store.bulk_history(1)[0].id
        assert set(before) == set(ids)
        places = {folder for folder, _flags, _date in before.values()}
        assert places == {folders["INBOX"], folders["Old"]}
        assert all(flags == frozenset() for _folder, flags, _date in before.values())
        assert store.undo_last() is not None
        assert store.undo_preview() is None
