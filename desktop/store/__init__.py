"""The local SQLite store, the truth about accounts, folders and messages."""

from desktop.store.db import (
    FLAGGED,
    SEEN,
    AccountRow,
    FolderRow,
    MessageRow,
    NewMessage,
    Store,
    StoreError,
)

__all__ = ["FLAGGED", "SEEN", "AccountRow", "FolderRow", "MessageRow", "NewMessage", "Store", "StoreError"]
