"""Creating, renaming and deleting folders, on the server and in the store.

For an IMAP account the server acts first (CREATE, RENAME, DELETE from RFC 3501
section 6.3) and the store follows only when the server agreed. A ``local``
account has only the store. imapclient encodes folder names in modified UTF-7
(RFC 3501 section 5.1.3) itself, so names here are plain str.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from desktop.config import Account, load_config
from desktop.paths import Profile
from desktop.store import Store, StoreError
from desktop.sync.connection import classify_error, connect
from desktop.sync.engine import list_remote_folders
from desktop.sync.service import logout

log = logging.getLogger(__name__)

INBOX = "INBOX"
LOCAL_DELIMITER = "/"


class FolderError(Exception):
    """A folder operation was rejected; the message names the account, the folder and the fix."""


@dataclass(frozen=True)
class _Folders:
    """The folders an account has now: names with their hierarchy delimiter."""

    names: set[str]
    delimiter: str
    roles: dict[str, str] = field(default_factory=dict)  # name -> special use, such as "\\Sent"

    def find(self, name: str) -> str | None:
        """Return the stored spelling of ``name``; INBOX matches in any case (RFC 3501 section 5.1)."""
        if name.upper() == INBOX:
            return next((known for known in self.names if known.upper() == INBOX), None)
        return name if name in self.names else None

    def children(self, name: str) -> list[str]:
        prefix = name + self.delimiter
        return sorted(known for known in self.names if known.startswith(prefix))


def create_folder(profile: Profile, account_name: str, name: str) -> None:
    """Create folder ``name`` in the account; a delimiter in the name makes it a sub-folder."""
    account = _account(profile, account_name)
    with _open(profile, account) as (folders, client, store):
        _check_name(account, name, folders.delimiter)
        if folders.find(name) is not None:
            raise FolderError(f"Folder {name!r} exists already in account {account.name!r}; choose another name.")
        if client is not None:
            _server_command(account, name, "create", lambda: client.create_folder(name))
        store.upsert_folder(store.ensure_account(account.name, account.kind), name, delimiter=folders.delimiter)
    log.info("Created folder %s in account %s", name, account.name)


def rename_folder(profile: Profile, account_name: str, old: str, new: str) -> int:
    """Rename folder ``old`` with its sub-folders to ``new``; return how many local messages moved along."""
    account = _account(profile, account_name)
    with _open(profile, account) as (folders, client, store):
        found = _existing(account, folders, old, "rename")
        _check_name(account, new, folders.delimiter)
        if new.upper() == INBOX or folders.find(new) is not None:
            raise FolderError(f"Cannot rename folder {old!r} of account {account.name!r} to {new!r}: "
                              f"{new!r} exists already; choose another name.")
        if new.startswith(found + folders.delimiter):
            raise FolderError(f"Cannot rename folder {old!r} of account {account.name!r} to {new!r}, "
                              "because that is inside the folder itself; choose a name outside it.")
        if client is not None:
            _server_command(account, found, "rename", lambda: client.rename_folder(found, new))
        moved = _rename_in_store(store, account, found, new)
    log.info("Renamed folder %s of account %s to %s (%d local message(s))", found, account.name, new, moved)
    return moved


def delete_folder(profile: Profile, account_name: str, name: str) -> int:
    """Delete folder ``name`` with its mail; return how many local messages went with it."""
    account = _account(profile, account_name)
    with _open(profile, account) as (folders, client, store):
        found = _existing(account, folders, name, "delete")
        children = folders.children(found)
        if children:
            raise FolderError(f"Cannot delete folder {found!r} of account {account.name!r}, because it has "
                              f"sub-folders ({', '.join(children)}); delete or move them first.")
        if client is not None:
            _server_command(account, found, "delete", lambda: client.delete_folder(found))
        row = store.folder_by_name(account.name, found)
        removed = store.delete_folder(row.id) if row else 0
    log.info("Deleted folder %s of account %s and %d local message(s)", found, account.name, removed)
    return removed


def local_message_count(profile: Profile, account_name: str, name: str) -> int:
    """Return how many messages of folder ``name`` the store contains (0 when the store has no such folder)."""
    with Store(profile.store_file) as store:
        row = store.folder_by_name(account_name, name)
        return row.total if row else 0


def _account(profile: Profile, account_name: str) -> Account:
    return load_config(profile.config_file).account(account_name)


@contextmanager
def _open(profile: Profile, account: Account) -> Iterator[tuple[_Folders, IMAPClient | None, Store]]:
    """Open the store and, for an IMAP account, a connection; yield the account's current folders."""
    with Store(profile.store_file) as store:
        if account.kind == "local":
            rows = store.folders(account.name, with_counts=False)
            delimiter = rows[0].delimiter if rows else LOCAL_DELIMITER
            yield _Folders({row.name for row in rows}, delimiter, {row.name: row.special_use for row in rows if row.special_use}), None, store
            return
        client = connect(account)
        try:
            yield _remote_folders(account, client), client, store
        except IMAPClientAbortError as error:
            raise classify_error(account, error, after="The folder may or may not have changed; run 'sluice sync' to see.") from error
        except OSError as error:
            raise classify_error(account, error, after="The folder may or may not have changed; run 'sluice sync' to see.") from error
        finally:
            logout(client, account)


def _remote_folders(account: Account, client: IMAPClient) -> _Folders:
    remote = list_remote_folders(client)
    delimiters = {folder.delimiter for folder in remote}
    delimiter = delimiters.pop() if len(delimiters) == 1 else LOCAL_DELIMITER
    log.debug("Account %s has %d folder(s) with delimiter %r", account.name, len(remote), delimiter)
    roles = {folder.name: folder.special_use for folder in remote if folder.special_use}
    return _Folders({folder.name for folder in remote}, delimiter, roles)


def _check_name(account: Account, name: str, delimiter: str) -> None:
    if not name.strip():
        raise FolderError(f"The folder name for account {account.name!r} is empty; give a name such as 'Projects'.")
    if name.startswith(delimiter) or name.endswith(delimiter) or delimiter * 2 in name:
        raise FolderError(
            f"Folder name {name!r} for account {account.name!r} is invalid: it starts or ends with the hierarchy "
            f"delimiter {delimiter!r} or has two in a row. Use {delimiter!r} only between levels, as in 'Projects{delimiter}2026'."
        )


def _existing(account: Account, folders: _Folders, name: str, verb: str) -> str:
    """Return the folder's stored name, or raise FolderError for an empty name, INBOX or a missing folder."""
    if not name.strip():
        raise FolderError(f"The folder name for account {account.name!r} is empty; give the folder to {verb}.")
    if name.upper() == INBOX:
        raise FolderError(f"INBOX of account {account.name!r} cannot be {verb}d; choose another folder.")
    found = folders.find(name)
    if found is None:
        raise FolderError(f"Folder {name!r} not found in account {account.name!r}; "
                          f"'sluice folders --account {account.name}' lists the folders (after 'sluice sync').")
    role = folders.roles.get(found)
    if role:
        # The server and other mail programs file sent mail, drafts and deleted mail by these roles (RFC 6154).
        raise FolderError(f"Folder {found!r} of account {account.name!r} is its {role.lstrip(chr(92))} folder, "
                          f"so Sluice does not {verb} it; choose another folder.")
    return found


def _server_command(account: Account, name: str, verb: str, command: Callable[[], object]) -> None:
    """Run one folder command; a NO or BAD response becomes a FolderError with the server's text."""
    log.info("Sending %s for folder %s of account %s", verb.upper(), name, account.name)
    try:
        command()
    except IMAPClientAbortError:
        raise
    except IMAPClientError as error:
        log.warning("Server rejected %s of folder %s in account %s: %s", verb.upper(), name, account.name, error)
        raise FolderError(f"The server of account {account.name!r} rejected {verb.upper()} of folder {name!r}: "
                          f"{str(error).rstrip('.')}. Check the name and try again.") from error


def _rename_in_store(store: Store, account: Account, old: str, new: str) -> int:
    row = store.folder_by_name(account.name, old)
    if row is None:
        # Not synced yet: the next sync fetches the folder under its new name.
        return 0
    try:
        return store.rename_folder(row.id, new)
    except StoreError as error:
        log.warning("Renaming folder %s of account %s to %s in the store failed: %s", old, account.name, new, error)
        raise FolderError(f"Folder {old!r} of account {account.name!r} was renamed to {new!r} on the server, but "
                          f"the store could not follow: {error} Run 'sluice sync' to bring it up to date.") from error
