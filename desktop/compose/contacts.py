"""Address completion from the addresses seen in the store.

``ContactIndex.load`` reads the store once: the recipients of every message
in the Sent folders (addresses the user wrote to) and the senders of all
other messages (addresses the user received from). ``complete`` then
searches in memory. Contacts rank by how many messages the user sent to
them, then by how many came from them, then by address. The user's own
addresses are left out.

A query matches the start of the address, of its domain, of the display
name or of any word in it, ignoring case and accents (``jo`` finds
``Jörg``, ``ana d`` finds ``Ana Díaz``).
"""

from __future__ import annotations

import bisect
import email.utils
import heapq
import logging
import time
import unicodedata
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Contact:
    """One address seen in the store.

    Attributes:
        address: The address, lowercased.
        name: The display name last seen with it ("" when none).
        sent: Messages the user sent to it.
        received: Messages received from it.
    """

    address: str
    name: str = ""
    sent: int = 0
    received: int = 0

    @property
    def display(self) -> str:
        """The entry for an address field: ``Name <address>`` or the bare address."""
        from desktop.compose.build import format_entry

        return format_entry(self.name, self.address)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


class ContactIndex:
    """Ranked contacts held in memory; build with ``load``."""

    def __init__(self, contacts: list[Contact]) -> None:
        self.contacts = sorted(contacts, key=lambda item: (-item.sent, -item.received, item.address))
        # Every search key with the contact's rank, sorted, so a prefix is one bisect away.
        pairs = sorted((key, rank) for rank, contact in enumerate(self.contacts) for key in self._search_keys(contact))
        self._keys = [key for key, _ in pairs]
        self._ranks = [rank for _, rank in pairs]

    @staticmethod
    def _search_keys(contact: Contact) -> tuple[str, ...]:
        local, _, domain = contact.address.partition("@")
        name = " ".join(_fold(contact.name).replace(",", " ").replace('"', " ").split())
        words = name.split()
        # The whole name is a key too, so "ana d" finds "Ana Díaz".
        return (contact.address, domain, name, *words[1:])

    @classmethod
    def load(cls, store, own_addresses: set[str] | frozenset[str] = frozenset()) -> ContactIndex:
        """Read the contacts of every account in ``store``, leaving out ``own_addresses`` (lowercased)."""
        started = time.perf_counter()
        found: dict[str, Contact] = {}
        db = store._db
        sent_folders = [row[0] for row in db.execute("SELECT id FROM folders WHERE special_use = '\\Sent'")]
        marks = ",".join("?" * len(sent_folders))
        if sent_folders:
            for (recipients,) in db.execute(f"SELECT recipients FROM messages WHERE folder_id IN ({marks})", sent_folders):
                for name, address in email.utils.getaddresses([recipients]):
                    contact = _contact(found, address, name)
                    if contact is not None:
                        contact.sent += 1
        others = f"WHERE folder_id NOT IN ({marks})" if sent_folders else ""
        rows = db.execute(
            f"SELECT lower(from_addr), max(from_name), count(*) FROM messages {others} GROUP BY lower(from_addr)",
            sent_folders,
        )
        for address, name, count in rows:
            contact = _contact(found, address, name or "")
            if contact is not None:
                contact.received += count
        for address in own_addresses:
            found.pop(address.lower(), None)
        index = cls(list(found.values()))
        log.info("Loaded %d contacts in %.0f ms", len(index.contacts), (time.perf_counter() - started) * 1000)
        return index

    def complete(self, query: str, limit: int = 10) -> list[Contact]:
        """Return up to ``limit`` contacts matching ``query``, best ranked first; "" matches every contact."""
        folded = _fold(query.strip())
        if not folded:
            return self.contacts[:limit]
        start = bisect.bisect_left(self._keys, folded)
        # "\U0010ffff" sorts after every character, so the end is the first key without the prefix.
        end = bisect.bisect_left(self._keys, folded + "\U0010ffff", lo=start)
        ranks = heapq.nsmallest(limit, set(self._ranks[start:end]))
        return [self.contacts[rank] for rank in ranks]


def _contact(found: dict[str, Contact], address: str, name: str) -> Contact | None:
    key = (address or "").strip().lower()
    if "@" not in key:
        return None
    contact = found.get(key)
    if contact is None:
        contact = found[key] = Contact(key)
    if name and not contact.name:
        contact.name = name.strip()
    return contact
