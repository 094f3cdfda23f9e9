"""A small IMAP server on 127.0.0.1 that behaves like Gmail's, for tests.

Gmail cannot run locally, and Dovecot has none of Gmail's extensions, so the
tests of X-GM-EXT-1 run against this server. It models what the sync depends
on: one message can carry several labels, every label is a folder with UIDs
of its own, "[Gmail]/All Mail" contains every message, and each message has one
X-GM-MSGID in all folders. FETCH X-GM-MSGID and X-GM-LABELS, and STORE
+X-GM-LABELS / -X-GM-LABELS, work as Gmail documents them; like Gmail,
FETCH X-GM-LABELS leaves out the label of the selected folder. Everything else is
the plain IMAP4rev1 subset imapclient uses for a sync: LOGIN, CAPABILITY,
LIST, SELECT, EXAMINE, UID SEARCH ALL, UID FETCH, UID STORE, NOOP, IDLE,
LOGOUT. It keeps everything in memory and is not a general IMAP server.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import logging
import re
import socketserver
import threading
import time
from dataclasses import dataclass, field
from email.message import Message

logger = logging.getLogger(__name__)

ALL_MAIL = "[Gmail]/All Mail"
SENT = "[Gmail]/Sent Mail"
TRASH = "[Gmail]/Trash"
# Folder name -> (special use, the label a message carries to be in it).
_SYSTEM_FOLDERS = {
    "INBOX": ("", "\\Inbox"),
    SENT: ("\\Sent", "\\Sent"),
    TRASH: ("\\Trash", "\\Trash"),
}
CAPABILITIES = "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS ENABLE MOVE SPECIAL-USE"
_TOKEN = re.compile(rb'\(|\)|"(?:[^"\\]|\\.)*"|\{\d+\+?\}|[^\s()"]+(?:\[[^\]]*\](?:<[\d.]+>)?)?')


@dataclass
class GmailMessage:
    msgid: int
    raw: bytes
    labels: set[str]
    flags: set[str]
    internal_date: float


@dataclass
class _Folder:
    name: str
    uidvalidity: int
    next_uid: int = 1
    uids: dict[int, int] = field(default_factory=dict)  # uid -> msgid


class FakeGmail:
    """The server's state and its listening socket; use as a context manager."""

    def __init__(self, user: str, password: str, labels: tuple[str, ...] = ()) -> None:
        self.user = user
        self.password = password
        self.lock = threading.RLock()
        self.messages: dict[int, GmailMessage] = {}
        self.folders: dict[str, _Folder] = {}
        self.commands: list[str] = []
        self.body_fetches: dict[int, int] = {}  # X-GM-MSGID -> how many times its whole body was sent
        self._msgids = itertools.count(1_600_000_000_000_000_001)
        self._validity = itertools.count(int(time.time()))
        for name in ("INBOX", ALL_MAIL, SENT, TRASH, *labels):
            self.folders[name] = _Folder(name, next(self._validity))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.gmail = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gmail", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def __enter__(self) -> FakeGmail:
        self._thread.start()
        logger.info("Fake Gmail listening on 127.0.0.1:%d", self.port)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- what a test does on the server side ----------------------------

    def deliver(self, raw: bytes, labels: tuple[str, ...] = ("\\Inbox",), flags: tuple[str, ...] = ()) -> int:
        """Add a message with ``labels`` and return its X-GM-MSGID."""
        with self.lock:
            msgid = next(self._msgids)
            self.messages[msgid] = GmailMessage(msgid, raw, set(), set(flags), time.time())
            self._place(msgid, ALL_MAIL)
            self.set_labels(msgid, set(labels))
            return msgid

    def set_labels(self, msgid: int, labels: set[str]) -> None:
        """Give a message exactly ``labels``; a label's folder gains or loses the message."""
        with self.lock:
            message = self.messages[msgid]
            message.labels = set(labels)
            for label in labels:
                # Like Gmail, a new user label gets a folder of its own.
                if not label.startswith("\\") and label not in self.folders:
                    self.folders[label] = _Folder(label, next(self._validity))
            for folder in self.folders.values():
                if folder.name == ALL_MAIL:
                    continue
                inside = msgid in folder.uids.values()
                wanted = self._label_of(folder.name) in message.labels
                if wanted and not inside:
                    self._place(msgid, folder.name)
                elif inside and not wanted:
                    folder.uids = {uid: value for uid, value in folder.uids.items() if value != msgid}

    def labels_of(self, msgid: int) -> set[str]:
        with self.lock:
            return set(self.messages[msgid].labels)

    def bodies_sent(self) -> int:
        """Return how many whole message bodies (BODY[] or RFC822) FETCH responses carried, over all commands."""
        with self.lock:
            return sum(self.body_fetches.values())

    def fetch_count(self, item: str) -> int:
        """Return how many UID FETCH commands asked for ``item`` (such as ``BODY.PEEK[]``)."""
        with self.lock:
            return sum(1 for line in self.commands if " FETCH " in line.upper() and item.upper() in line.upper())

    # --- internals --------------------------------------------------------

    def _label_of(self, folder: str) -> str:
        return _SYSTEM_FOLDERS.get(folder, ("", folder))[1]

    def _place(self, msgid: int, folder_name: str) -> None:
        folder = self.folders.setdefault(folder_name, _Folder(folder_name, next(self._validity)))
        folder.uids[folder.next_uid] = msgid
        folder.next_uid += 1


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    gmail: FakeGmail


class _Handler(socketserver.StreamRequestHandler):
    """One client connection: reads tagged commands and sends their responses."""

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.gmail = self.server.gmail
        self.selected: _Folder | None = None
        self.authenticated = False

    def handle(self) -> None:
        self._send(b"* OK [CAPABILITY " + CAPABILITIES.encode() + b"] Gimap ready")
        while True:
            line = self._read_command()
            if line is None:
                return
            tag, _, rest = line.partition(b" ")
            command, _, arguments = rest.partition(b" ")
            name = command.decode("ascii", "replace").upper()
            if name == "UID":
                command, _, arguments = arguments.partition(b" ")
                name = "UID " + command.decode("ascii", "replace").upper()
            with self.gmail.lock:
                self.gmail.commands.append(f"{name} {arguments[:200].decode('utf-8', 'replace')}")
            try:
                keep_going = self._dispatch(tag, name, arguments)
            except (ValueError, KeyError, IndexError) as error:
                self._send(tag + b" BAD " + str(error).encode("utf-8", "replace"))
                keep_going = True
            if not keep_going:
                return

    def _read_command(self) -> bytes | None:
        """Read one command line, with its literals inlined as ``{n}`` markers replaced by quoted data."""
        parts = []
        while True:
            line = self.rfile.readline()
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            literal = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not literal:
                parts.append(line)
                return b"".join(parts)
            if not literal.group(2):
                self._send(b"+ go ahead")
            data = self.rfile.read(int(literal.group(1)))
            parts.append(line[: literal.start()] + _quote(data))

    def _send(self, data: bytes) -> None:
        self.wfile.write(data + b"\r\n")
        self.wfile.flush()

    def _dispatch(self, tag: bytes, name: str, arguments: bytes) -> bool:
        if name == "CAPABILITY":
            self._send(b"* CAPABILITY " + CAPABILITIES.encode())
        elif name == "LOGOUT":
            self._send(b"* BYE LOGOUT Requested")
            self._send(tag + b" OK 73 good day (Success)")
            return False
        elif name == "LOGIN":
            user, password = (_unquote(token) for token in _tokens(arguments)[:2])
            if (user, password) != (self.gmail.user.encode(), self.gmail.password.encode()):
                self._send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
                return True
            self.authenticated = True
            self._send(tag + b" OK [CAPABILITY " + CAPABILITIES.encode() + b"] " + user + b" authenticated (Success)")
            return True
        elif not self.authenticated:
            self._send(tag + b" BAD Command not allowed before login")
            return True
        elif name in ("NOOP", "ENABLE", "ID", "CHECK"):
            if name == "ID":
                self._send(b'* ID ("name" "GImap")')
        elif name in ("LIST", "XLIST"):
            self._list()
        elif name in ("SELECT", "EXAMINE"):
            return self._select(tag, _unquote(_tokens(arguments)[0]).decode("utf-8"), name)
        elif name in ("UNSELECT", "CLOSE"):
            self.selected = None
        elif name == "IDLE":
            self._idle()
        elif name.startswith("UID ") and self.selected is None:
            self._send(tag + b" BAD No mailbox selected")
            return True
        elif name == "UID SEARCH":
            with self.gmail.lock:
                uids = sorted(self._folder().uids)
            self._send(b"* SEARCH" + b"".join(b" %d" % uid for uid in uids))
        elif name == "UID FETCH":
            self._fetch(arguments)
        elif name == "UID STORE":
            self._store(arguments)
        else:
            self._send(tag + b" BAD Unknown command " + name.encode())
            return True
        self._send(tag + b" OK Success")
        return True

    def _folder(self) -> _Folder:
        assert self.selected is not None
        return self.gmail.folders[self.selected.name]

    def _list(self) -> None:
        self._send(b'* LIST (\\HasChildren \\Noselect) "/" "[Gmail]"')
        with self.gmail.lock:
            names = list(self.gmail.folders)
        for name in names:
            special = _SYSTEM_FOLDERS.get(name, ("", ""))[0] or ("\\All" if name == ALL_MAIL else "")
            flags = "\\HasNoChildren" + (f" {special}" if special else "")
            self._send(f'* LIST ({flags}) "/" "{name}"'.encode())

    def _select(self, tag: bytes, name: str, command: str) -> bool:
        with self.gmail.lock:
            folder = self.gmail.folders.get(name)
            if folder is None:
                self._send(tag + b" NO [NONEXISTENT] Unknown Mailbox: " + name.encode() + b" (Failure)")
                return True
            self.selected = folder
            self._send(b"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)")
            self._send(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen \\*)] Flags permitted.")
            self._send(b"* OK [UIDVALIDITY %d] UIDs valid." % folder.uidvalidity)
            self._send(b"* %d EXISTS" % len(folder.uids))
            self._send(b"* 0 RECENT")
            self._send(b"* OK [UIDNEXT %d] Predicted next UID." % folder.next_uid)
        mode = b"READ-ONLY" if command == "EXAMINE" else b"READ-WRITE"
        self._send(tag + b" OK [" + mode + b"] " + name.encode() + b" selected. (Success)")
        return True

    def _idle(self) -> None:
        self._send(b"+ idling")
        while True:
            line = self.rfile.readline()
            if not line or line.strip().upper() == b"DONE":
                return

    def _uids(self, sequence: bytes) -> list[int]:
        with self.gmail.lock:
            present = sorted(self._folder().uids)
        highest = present[-1] if present else 0
        wanted: set[int] = set()
        for part in sequence.split(b","):
            first, _, last = part.partition(b":")
            low = highest if first == b"*" else int(first)
            if not last:
                high = low
            elif last == b"*":
                high = highest
            else:
                high = int(last)
            wanted.update(uid for uid in present if min(low, high) <= uid <= max(low, high))
        return sorted(wanted)

    def _fetch(self, arguments: bytes) -> None:
        sequence, _, items = arguments.partition(b" ")
        names = [token.decode().upper() for token in _tokens(items) if token not in (b"(", b")")]
        with self.gmail.lock:
            folder = self._folder()
            position = {uid: number for number, uid in enumerate(sorted(folder.uids), start=1)}
            rows = [(uid, self.gmail.messages[folder.uids[uid]]) for uid in self._uids(sequence)]
        hidden = self.gmail._label_of(folder.name) if folder.name != ALL_MAIL else None
        for uid, message in rows:
            parts = [b"UID %d" % uid]
            for item in names:
                parts.append(_fetch_item(item, message, hidden))
                if item in ("BODY[]", "BODY.PEEK[]", "RFC822"):
                    with self.gmail.lock:
                        self.gmail.body_fetches[message.msgid] = self.gmail.body_fetches.get(message.msgid, 0) + 1
            self._send(b"* %d FETCH (" % position[uid] + b" ".join(part for part in parts if part) + b")")

    def _store(self, arguments: bytes) -> None:
        sequence, _, rest = arguments.partition(b" ")
        operation, _, values = rest.partition(b" ")
        operation_name = operation.decode().upper()
        silent = operation_name.endswith(".SILENT")
        operation_name = operation_name.removesuffix(".SILENT")
        given = {_unquote(token).decode("utf-8") for token in _tokens(values) if token not in (b"(", b")")}
        with self.gmail.lock:
            folder = self._folder()
            uids = self._uids(sequence)
            for uid in uids:
                message = self.gmail.messages[folder.uids[uid]]
                if operation_name.endswith("X-GM-LABELS"):
                    labels = _apply(operation_name, message.labels, given)
                    self.gmail.set_labels(message.msgid, labels)
                else:
                    message.flags = _apply(operation_name, message.flags, given)
            position = {uid: number for number, uid in enumerate(sorted(folder.uids), start=1)}
            rows = [(uid, self.gmail.messages[folder.uids[uid]]) for uid in uids if uid in folder.uids]
        if silent:
            return
        item = "X-GM-LABELS" if operation_name.endswith("X-GM-LABELS") else "FLAGS"
        for uid, message in rows:
            hidden = self.gmail._label_of(folder.name) if folder.name != ALL_MAIL else None
            self._send(b"* %d FETCH (UID %d %s)" % (position[uid], uid, _fetch_item(item, message, hidden)))


def _apply(operation: str, current: set[str], given: set[str]) -> set[str]:
    if operation.startswith("+"):
        return current | given
    if operation.startswith("-"):
        return current - given
    return set(given)


def _fetch_item(item: str, message: GmailMessage, hidden_label: str | None = None) -> bytes:
    if item == "FLAGS":
        return b"FLAGS (" + " ".join(sorted(message.flags)).encode() + b")"
    if item == "UID":
        return b""
    if item == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % len(message.raw)
    if item == "INTERNALDATE":
        stamp = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(message.internal_date))
        return b'INTERNALDATE "' + stamp.encode() + b'"'
    if item == "X-GM-MSGID":
        return b"X-GM-MSGID %d" % message.msgid
    if item == "X-GM-THRID":
        return b"X-GM-THRID %d" % message.msgid
    if item == "X-GM-LABELS":
        shown = sorted(label for label in message.labels if label != hidden_label)
        return b"X-GM-LABELS (" + b" ".join(_quote(label.encode()) for label in shown) + b")"
    if item == "BODYSTRUCTURE":
        parsed = email.message_from_bytes(message.raw, policy=email.policy.compat32)
        return b"BODYSTRUCTURE " + _structure(parsed)
    section = re.fullmatch(r"(?:BODY\.PEEK|BODY|RFC822)(\[[^\]]*\])?", item)
    if section:
        data = _section(message.raw, (section.group(1) or "[]")[1:-1])
        return b"BODY[" + (section.group(1) or "[]")[1:-1].encode() + b"] {%d}\r\n" % len(data) + data
    raise ValueError(f"unsupported FETCH item {item}")


def _section(raw: bytes, section: str) -> bytes:
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = raw.partition(b"\n\n")
    if section == "":
        return raw
    if section == "HEADER":
        return head + separator
    if section == "TEXT":
        return body
    raise ValueError(f"unsupported BODY section {section}")


def _structure(part: Message) -> bytes:
    """Return a BODYSTRUCTURE (RFC 3501 section 7.4.2) for the part, without extension data."""
    if part.is_multipart():
        children = b"".join(_structure(child) for child in part.get_payload())
        return b"(" + children + b' "' + part.get_content_subtype().upper().encode() + b'")'
    payload = part.get_payload(decode=False)
    data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload or b"")
    parameters = b" ".join(_quote(key.encode()) + b" " + _quote(str(value).encode()) for key, value in part.get_params()[1:]) \
        if part.get_params() else b""
    fields = [
        _quote(part.get_content_maintype().upper().encode()),
        _quote(part.get_content_subtype().upper().encode()),
        b"(" + parameters + b")" if parameters else b"NIL",
        b"NIL",
        b"NIL",
        _quote((part.get("Content-Transfer-Encoding") or "7BIT").upper().encode()),
        b"%d" % len(data),
    ]
    if part.get_content_maintype() == "text":
        fields.append(b"%d" % data.count(b"\n"))
    return b"(" + b" ".join(fields) + b")"


def _tokens(text: bytes) -> list[bytes]:
    return _TOKEN.findall(text)


def _quote(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _unquote(token: bytes) -> bytes:
    if token.startswith(b'"') and token.endswith(b'"'):
        return re.sub(rb"\\(.)", rb"\1", token[1:-1])
    return token
