"""The SQLite schema of the local store, with numbered migrations.

Each entry of MIGRATIONS moves the store from version N to N+1 and runs in
one transaction; ``PRAGMA user_version`` records the version reached.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # Version 1: accounts, folders, messages, raw bytes, the action journal
    # and the queue of index updates.
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL DEFAULT 'imap'
    );
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        delimiter TEXT NOT NULL DEFAULT '/',
        special_use TEXT NOT NULL DEFAULT '',
        selectable INTEGER NOT NULL DEFAULT 1,
        uidvalidity INTEGER,
        uidnext INTEGER,
        highestmodseq INTEGER,
        last_sync REAL,
        UNIQUE (account_id, name)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        uid INTEGER NOT NULL,
        flags TEXT NOT NULL DEFAULT '',
        seen INTEGER NOT NULL DEFAULT 0,
        flagged INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL DEFAULT 0,
        date REAL,
        internal_date REAL,
        from_name TEXT NOT NULL DEFAULT '',
        from_addr TEXT NOT NULL DEFAULT '',
        recipients TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '',
        in_reply_to TEXT NOT NULL DEFAULT '',
        refs TEXT NOT NULL DEFAULT '',
        thread_key TEXT NOT NULL DEFAULT '',
        list_id TEXT NOT NULL DEFAULT '',
        has_attachment INTEGER NOT NULL DEFAULT 0,
        defects TEXT NOT NULL DEFAULT '',
        UNIQUE (folder_id, uid)
    );
    CREATE INDEX messages_by_folder_date ON messages (folder_id, date DESC);
    CREATE INDEX messages_by_thread ON messages (thread_key);
    CREATE INDEX messages_by_folder_seen ON messages (folder_id, seen);
    CREATE INDEX messages_by_message_id ON messages (message_id);
    CREATE TABLE raw_messages (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        raw BLOB NOT NULL
    );
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        uidvalidity INTEGER,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX actions_pending ON actions (account_id, state, id);
    CREATE TABLE index_queue (
        message_id INTEGER PRIMARY KEY,
        op TEXT NOT NULL,
        seq INTEGER NOT NULL
    );
    """,
    # Version 2: Gmail's message id and labels (X-GM-EXT-1). One Gmail message
    # shows in the folder of each of its labels and in All Mail, with the same
    # X-GM-MSGID, so its body is fetched once and copied to the other rows.
    """
    ALTER TABLE messages ADD COLUMN gm_msgid INTEGER;
    ALTER TABLE messages ADD COLUMN labels TEXT NOT NULL DEFAULT '';
    CREATE INDEX messages_by_gm_msgid ON messages (gm_msgid) WHERE gm_msgid IS NOT NULL;
    """,
    # Version 3: an index of the ids in raw_messages. Finding the messages
    # without a body probes raw_messages once per message. The table's own
    # b-tree carries the first kilobytes of every body, so at 50,000 messages
    # those probes took 80 ms of every sync, and through this index 13 ms.
    """
    CREATE INDEX raw_messages_ids ON raw_messages (message_id);
    """,
    # Version 4: rules. A message's priority score and lane; ``rules_pending``
    # marks messages that sync inserted and the rules have not seen yet (the
    # window hides them until then, and a crash leaves the mark for the next
    # sync). Every rule run and bulk action is recorded with the state each
    # message had before it, so undo works after a restart. Auto-replies are
    # remembered per rule and sender for the rate limit.
    """
    ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN lane TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN rules_pending INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX messages_rules_pending ON messages (folder_id) WHERE rules_pending = 1;
    CREATE INDEX messages_by_folder_lane ON messages (folder_id, lane);
    CREATE TABLE bulk_actions (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        description TEXT NOT NULL,
        created REAL NOT NULL,
        finished REAL,
        undone REAL,
        summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE bulk_items (
        bulk_id INTEGER NOT NULL REFERENCES bulk_actions(id) ON DELETE CASCADE,
        message INTEGER NOT NULL,
        folder_id INTEGER NOT NULL,
        flags TEXT NOT NULL,
        priority INTEGER NOT NULL,
        lane TEXT NOT NULL,
        PRIMARY KEY (bulk_id, message)
    );
    CREATE TABLE rule_hits (
        id INTEGER PRIMARY KEY,
        bulk_id INTEGER REFERENCES bulk_actions(id) ON DELETE SET NULL,
        message INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        rule TEXT NOT NULL,
        decided_by TEXT NOT NULL,
        actions TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX rule_hits_by_message_id ON rule_hits (message_id);
    CREATE TABLE auto_replies (
        account TEXT NOT NULL,
        rule TEXT NOT NULL,
        sender TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        sent REAL NOT NULL,
        reply_message_id TEXT NOT NULL,
        PRIMARY KEY (account, rule, sender)
    );
    """,
    # Version 5: conversations. ``thread_id`` is the conversation a message
    # belongs to (NULL: not threaded yet), set by ``Store.update_threads``.
    # ``thread_keys`` maps every Message-ID a thread's messages name (their
    # own, In-Reply-To, References) and the subjects they may be grouped by
    # to the thread, so new mail finds the threads it joins without reading
    # the whole account. The older ``thread_key`` column is the parser's
    # guess at a root id and stays as it was.
    """
    ALTER TABLE messages ADD COLUMN thread_id INTEGER;
    CREATE INDEX messages_by_thread_id ON messages (thread_id);
    CREATE TABLE threads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE
    );
    CREATE TABLE thread_keys (
        account_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        thread_id INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        PRIMARY KEY (account_id, key, thread_id)
    ) WITHOUT ROWID;
    CREATE INDEX thread_keys_by_thread ON thread_keys (thread_id);
    """,
    # Version 6: snoozed messages. A snoozed message sits in the account's
    # Snoozed folder with the keyword $Snoozed; this table keeps when it
    # wakes and the folder it returns to. ``message`` is the row id at the
    # time of the snooze and ``message_id`` the Message-ID header, because a
    # row that sync drops and fetches again comes back with a new id. The
    # return folder's name is kept too, for when its row is gone.
    """
    CREATE TABLE snoozes (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        message INTEGER NOT NULL UNIQUE,
        message_id TEXT NOT NULL,
        snooze_folder_id INTEGER NOT NULL,
        return_folder_id INTEGER REFERENCES folders(id) ON DELETE SET NULL,
        return_folder TEXT NOT NULL,
        wake_at REAL NOT NULL,
        created REAL NOT NULL,
        bulk_id INTEGER
    );
    CREATE INDEX snoozes_by_wake ON snoozes (wake_at);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
