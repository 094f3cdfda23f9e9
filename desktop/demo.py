"""The demo profile: a bundled mailbox in a local account, no server needed.

The mailbox in ``resources/demo/demo.mbox`` is made by ``desktop.mailgen``
(deterministic, so the file in the repository can always be made again).
Importing it gives a ``local`` account, which keeps every change in the
store only, so each feature can be tried on it without sending anything.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from desktop.config import Account, load_config, save_config
from desktop.index.builder import catch_up
from desktop.mailgen import GeneratedMessage, read_demo_mbox
from desktop.mail.parse import parse_summary
from desktop.paths import Profile, demo_profile, resource_path
from desktop.store import NewMessage, Store

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "demo"
DEMO_ADDRESS = "you@example.com"
_SPECIAL_USE_BY_NAME = {"Sent": "\\Sent", "Archive": "\\Archive", "Drafts": "\\Drafts", "Trash": "\\Trash"}


def prepare_demo(profile: Profile | None = None) -> Profile:
    """Import the demo mailbox into ``profile`` (default: the demo profile) unless it is there, and return the profile."""
    profile = (profile or demo_profile()).ensure()
    config = load_config(profile.config_file)
    if DEMO_ACCOUNT not in config.accounts:
        config.accounts[DEMO_ACCOUNT] = Account(name=DEMO_ACCOUNT, kind="local", address=DEMO_ADDRESS)
        save_config(config, profile.config_file)
    with Store(profile.store_file) as store:
        if not store.folders(DEMO_ACCOUNT, with_counts=False):
            count = import_messages(store, DEMO_ACCOUNT, read_demo_mbox(resource_path("demo", "demo.mbox")))
            log.info("Imported %d demo message(s) into %s", count, profile.store_file)
        catch_up(store, profile.index_dir)
    return profile


def import_messages(store: Store, account: str, messages: Iterable[GeneratedMessage]) -> int:
    """Store messages in a local account, creating its folders; return the count."""
    account_id = store.ensure_account(account, "local")
    by_folder: dict[str, list[GeneratedMessage]] = defaultdict(list)
    for message in messages:
        by_folder[message.folder].append(message)
    total = 0
    for name, folder_messages in sorted(by_folder.items()):
        folder_id = store.upsert_folder(account_id, name, special_use=_SPECIAL_USE_BY_NAME.get(name, ""))
        uid = store.next_local_uid(folder_id)
        batch = []
        for offset, message in enumerate(sorted(folder_messages, key=lambda item: item.date)):
            batch.append(NewMessage(
                uid=uid + offset,
                flags=list(message.flags),
                size=len(message.raw),
                raw=message.raw,
                summary=parse_summary(message.raw),
                internal_date=message.date,
            ))
        total += len(store.insert_messages(folder_id, batch))
    return total
