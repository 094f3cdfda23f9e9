"""A loopback TCP proxy that puts network faults between Sluice and a real server.

``FaultProxy`` listens on 127.0.0.1 on a free port and forwards each connection to
an upstream port, such as a test Dovecot's. Its mode can be switched while
connections run:

- ``pass_through()``: forward everything.
- ``cut_after(count)``: forward ``count`` more bytes from the server, then close
  that connection on both sides. It cuts once and then passes through again.
- ``stall(seconds, after=count)``: after ``count`` more bytes from the server,
  forward nothing in either direction for ``seconds``, then pass through again.
- ``refuse(reset=...)``: accept each new connection and close it at once, with a
  FIN or, with ``reset=True``, a TCP RST.

Bytes are counted from the moment the mode is set, over all connections. Each
connection keeps what the server sent and what the client sent (up to
``TRANSCRIPT_LIMIT`` bytes each), so a test can check where a cut fell with
``open_literal`` or count the commands a client sent.

This module does not import pytest, so that scripts can use it too.
"""

from __future__ import annotations

import logging
import re
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

log = logging.getLogger(__name__)

TRANSCRIPT_LIMIT = 64 * 1024 * 1024
"""Bytes kept per direction and connection; later bytes are forwarded but not kept."""

MAX_CONNECTIONS = 32
"""Connections open at once; the proxy closes any further one at once."""

_CHUNK = 64 * 1024
_POLL_SECONDS = 0.05
_SEND_TIMEOUT_SECONDS = 10.0
_JOIN_SECONDS = 5.0
_LITERAL_AT_LINE_END = re.compile(rb"\{(\d+)\+?\}$")


@dataclass
class Connection:
    """One proxied connection and what passed through it.

    Attributes:
        number: 1 for the first connection the proxy accepted, and so on.
        from_server: Bytes the server sent that were forwarded to the client.
        from_client: Bytes the client sent that were forwarded to the server.
        cut: Whether the proxy cut this connection.
    """

    number: int
    from_server: bytearray = field(default_factory=bytearray)
    from_client: bytearray = field(default_factory=bytearray)
    cut: bool = False


class FaultProxy:
    """A TCP proxy from 127.0.0.1:``port`` to ``upstream_host``:``upstream_port`` with switchable faults.

    Use it as a context manager, or call start() and stop(). Every method may be
    called from any thread.

    Attributes:
        host: The address the proxy listens on, always "127.0.0.1".
        port: The port the proxy listens on, picked by start().
        connections: Every connection accepted (not refused), oldest first.
        refused: How many connections refuse mode closed.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.connections: list[Connection] = []
        self.refused = 0
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._mode = "pass"
        self._budget = 0
        self._stall_seconds = 0.0
        self._stall_until = 0.0
        self._reset = False

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # --- modes ----------------------------------------------------------

    def pass_through(self) -> None:
        """Forward everything, ending any stall at once."""
        self._set_mode("pass")

    def cut_after(self, count: int) -> None:
        """Forward ``count`` more bytes from the server, then close that connection on both sides."""
        if count < 0:
            raise ValueError(f"count must be 0 or more, got {count}")
        self._set_mode("cut", budget=count)

    def stall(self, seconds: float, *, after: int = 0) -> None:
        """After ``after`` more bytes from the server, forward nothing for ``seconds``."""
        if seconds <= 0 or after < 0:
            raise ValueError(f"seconds must be above 0 and after 0 or more, got {seconds} and {after}")
        self._set_mode("stall", budget=after, stall_seconds=seconds)

    def refuse(self, *, reset: bool = False) -> None:
        """Close each new connection at once: with a FIN, or with a TCP RST when ``reset`` is True."""
        self._set_mode("refuse", reset=reset)

    def _set_mode(self, mode: str, *, budget: int = 0, stall_seconds: float = 0.0, reset: bool = False) -> None:
        with self._lock:
            self._mode = mode
            self._budget = budget
            self._stall_seconds = stall_seconds
            self._stall_until = 0.0
            self._reset = reset
        log.debug("Proxy on port %d: mode %s (budget %d bytes)", self.port, mode, budget)

    # --- lifecycle ------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen on a free port of 127.0.0.1 and serve connections in background threads."""
        if self._listener is not None:
            raise RuntimeError(f"The proxy on port {self.port} is already running; call stop() first.")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(16)
        listener.settimeout(_POLL_SECONDS)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept_loop, "proxy-accept")
        log.debug("Proxy listening on %s:%d, forwarding to %s:%d", self.host, self.port, *self._upstream)
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and wait for the threads to end. Calling it twice is allowed."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)
        for thread in self._threads:
            thread.join(_JOIN_SECONDS)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        if alive:
            raise RuntimeError(f"Proxy threads {alive} did not stop within {_JOIN_SECONDS} s.")

    def _spawn(self, target, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # --- accepting ------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        while not self._stopping.is_set() and listener is not None:
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._admit(client)

    def _admit(self, client: socket.socket) -> None:
        with self._lock:
            refuse, reset = self._mode == "refuse", self._reset
            full = len(self._sockets) >= 2 * MAX_CONNECTIONS
        if refuse or full:
            self._refuse(client, reset=reset)
            return
        try:
            upstream = socket.create_connection(self._upstream, timeout=_SEND_TIMEOUT_SECONDS)
        except OSError as error:
            log.warning("Proxy could not reach %s:%d: %s", *self._upstream, error)
            self._refuse(client, reset=True)
            return
        with self._lock:
            connection = Connection(number=len(self.connections) + 1)
            self.connections.append(connection)
            self._sockets.update((client, upstream))
        self._spawn(self._pump, f"proxy-connection-{connection.number}", connection, client, upstream)

    def _refuse(self, client: socket.socket, *, reset: bool) -> None:
        if reset:
            # Linger on with a zero timeout makes close() send RST instead of FIN.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        with self._lock:
            self.refused += 1

    # --- forwarding -----------------------------------------------------

    def _pump(self, connection: Connection, client: socket.socket, upstream: socket.socket) -> None:
        for sock in (client, upstream):
            sock.settimeout(_SEND_TIMEOUT_SECONDS)
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, "client")
        selector.register(upstream, selectors.EVENT_READ, "server")
        try:
            while not self._stopping.is_set():
                if self._stalled():
                    self._stopping.wait(_POLL_SECONDS)
                    continue
                if not self._forward_ready(selector, connection, client, upstream):
                    return
        except OSError as error:
            log.debug("Proxy connection %d ended: %s", connection.number, error)
        finally:
            selector.close()
            self._forget(client, upstream)

    def _forward_ready(self, selector: selectors.BaseSelector, connection: Connection,
                       client: socket.socket, upstream: socket.socket) -> bool:
        """Forward what is ready to read; return False when the connection is over."""
        for key, _events in selector.select(_POLL_SECONDS):
            data = key.fileobj.recv(_CHUNK)
            if not data:
                return False
            if key.data == "client":
                _keep(connection.from_client, data)
                upstream.sendall(data)
                continue
            allowed = self._take_budget(len(data))
            client.sendall(data[:allowed])
            _keep(connection.from_server, data[:allowed])
            if allowed < len(data) and self._fault_now(connection):
                return False
            if allowed < len(data):
                # A stall began inside this chunk: send the rest once it ends.
                self._wait_out_stall()
                client.sendall(data[allowed:])
                _keep(connection.from_server, data[allowed:])
        return True

    def _take_budget(self, size: int) -> int:
        """Return how many of ``size`` server bytes may pass before the pending fault."""
        with self._lock:
            if self._mode not in ("cut", "stall") or self._stall_until:
                return size
            if size < self._budget:
                self._budget -= size
                return size
            allowed, self._budget = self._budget, 0
            if self._mode == "stall":
                self._stall_until = time.monotonic() + self._stall_seconds
            return allowed

    def _fault_now(self, connection: Connection) -> bool:
        """Cut ``connection`` if the pending fault is a cut; return whether it was cut."""
        with self._lock:
            if self._mode != "cut":
                return False
            self._mode = "pass"
        connection.cut = True
        log.debug("Proxy cut connection %d after %d server bytes", connection.number, len(connection.from_server))
        return True

    def _stalled(self) -> bool:
        with self._lock:
            if not self._stall_until:
                return False
            if time.monotonic() < self._stall_until:
                return True
            self._mode, self._stall_until = "pass", 0.0
            return False

    def _wait_out_stall(self) -> None:
        while self._stalled() and not self._stopping.is_set():
            self._stopping.wait(_POLL_SECONDS)

    def _forget(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            _close(sock)
        with self._lock:
            self._sockets.difference_update(sockets)


def open_literal(server_bytes: bytes) -> int | None:
    """Return how many bytes of an IMAP literal are still missing at the end of ``server_bytes``.

    Returns None when the bytes end outside a literal, for example between two
    responses. A literal is announced by ``{N}`` at the end of a line (RFC 3501
    section 4.3) and its N bytes follow the CRLF.
    """
    position = 0
    while True:
        end = server_bytes.find(b"\r\n", position)
        if end < 0:
            return None
        match = _LITERAL_AT_LINE_END.search(server_bytes, position, end)
        position = end + 2
        if match is None:
            continue
        size = int(match.group(1))
        if position + size > len(server_bytes):
            return position + size - len(server_bytes)
        position += size


def _keep(transcript: bytearray, data: bytes) -> None:
    room = TRANSCRIPT_LIMIT - len(transcript)
    if room > 0:
        transcript += data[:room]


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # Not connected any more; close() below is all that is left to do.
    sock.close()
