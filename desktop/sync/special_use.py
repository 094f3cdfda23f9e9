"""Finding the Sent, Drafts, Trash, Junk and Archive folders of an account.

Servers with SPECIAL-USE (RFC 6154) mark these folders in LIST; many older
servers do not, and clients have long agreed on names instead. The server's
marks win; a name is used only for a role that no folder carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

ROLES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")

# Common folder names, in lower case, as Thunderbird, Outlook, Apple Mail and
# webmail services create them in English, German, French and Spanish.
_NAMES = {
    "\\Sent": ("sent", "sent items", "sent messages", "sent mail", "gesendet", "gesendete objekte",
               "gesendete elemente", "envoyés", "messages envoyés", "enviados", "elementos enviados"),
    "\\Drafts": ("drafts", "draft", "entwürfe", "brouillons", "borradores"),
    "\\Trash": ("trash", "deleted items", "deleted messages", "bin", "papierkorb", "gelöschte elemente",
                "corbeille", "papelera"),
    "\\Junk": ("junk", "spam", "junk e-mail", "junk email", "bulk mail", "unerwünscht", "indésirables",
               "correo no deseado"),
    "\\Archive": ("archive", "archives", "archiv", "archivo"),
}


class RemoteFolder(NamedTuple):
    """A folder as LIST reports it; a tuple, so callers can unpack it."""

    name: str
    delimiter: str
    special_use: str
    selectable: bool


def guess_role(name: str, delimiter: str) -> str:
    """Return the role that ``name`` suggests, or '' when it suggests none.

    Only top-level folders and direct children of INBOX count, because a
    folder called "Sent" deep in a project tree is rarely the account's.
    """
    parts = name.split(delimiter) if delimiter else [name]
    if len(parts) == 2 and parts[0].upper() == "INBOX":
        parts = parts[1:]
    if len(parts) != 1:
        return ""
    leaf = parts[0].strip().lower()
    return next((role for role, names in _NAMES.items() if leaf in names), "")


def assign_roles(folders: Sequence[RemoteFolder]) -> list[RemoteFolder]:
    """Return ``folders`` with a role guessed by name for each role no folder carries.

    When several folders suggest one role, the first in LIST order gets it,
    so the result is the same on every sync.
    """
    taken = {folder.special_use for folder in folders if folder.special_use}
    result = []
    for folder in folders:
        if folder.special_use or not folder.selectable:
            result.append(folder)
            continue
        role = guess_role(folder.name, folder.delimiter)
        if role and role not in taken:
            taken.add(role)
            folder = RemoteFolder(folder.name, folder.delimiter, role, folder.selectable)
        result.append(folder)
    return result
