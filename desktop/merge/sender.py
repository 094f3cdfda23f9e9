"""Sending a merge: N SMTP connections on the sender's asyncio loop, throttled, retried, journaled.

``MergeSend`` is plain Python for the command line and the window alike.
``run()`` is a generator that yields ``Progress`` a few times a second in the
caller's thread. ``pause``, ``resume`` and ``cancel`` may be called from any
thread. Three threads take part:

- the loop thread of ``SmtpSender`` renders the data rows into bytes
  (Message-ID and Date set here) between the replies, a bounded number
  ahead, so the data is streamed, not held. It runs one worker per
  connection, and each worker keeps its connection open for many messages.
  For a large send from the window the rows are rendered in a separate
  process instead, and a fourth thread receives them (see
  ``SendOptions.render_process``). A claim task on the same
  loop commits the ``sending`` record of a group of rows before the workers
  take them (see ``_claimer``), and outcomes are written in groups after the
  replies;
- a journal thread writes them, so the disk syncs never block the loop;
- the caller's thread runs ``run()`` and stores the Sent copies in batches.

Outcomes by server reply (see ``classify_reply``):
- 2xx after DATA: sent.
- 4xx, or a connection dropped or timed out before the message data went
  out (also after DATA, before its 354 reply): retried with exponential
  backoff up to ``max_attempts``, then failed.
- a "too many messages" reply (421/450/451/452 with a 4.7.x code or a rate
  text, or 5.7.x with a rate text): the whole send slows down and the row is
  retried; it does not count as a failed attempt.
- a sending quota reply (e.g. 5.4.5 "daily sending quota exceeded"): the send
  stops and the row stays queued for ``resume``.
- a 5xx reply to MAIL FROM: the send stops, because the account is at fault,
  not the row; the row stays queued.
- other 5xx: failed with the reply; 5.1.1-style "user unknown" replies also
  add the address to the suppression list.
- the connection lost or timed out after the data was sent: unknown, not resent.

A connection that cannot be opened while others work is given up, because
servers limit connections per account; the others carry on.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import email.utils
import hashlib
import logging
import multiprocessing
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email import policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from desktop.config import Account
from desktop.merge import journal as jn
from desktop.merge.rate import Rate, RateLimiter
from desktop.send.smtp import (
    KIND_AUTH,
    KIND_CONFIG,
    KIND_CREDENTIALS,
    KIND_SENDER,
    KIND_TLS,
    SendError,
    SmtpSender,
    check_size,
    classify_error,
    close_connection,
)
from desktop.text import pluralize

log = logging.getLogger(__name__)

TEST_SUBJECT_MARK = "[TEST]"
# Maximum rows claimed for sending ahead of the connections (see MergeSend._claimer).
_MAX_LOOKAHEAD = 64
# The claimed rows cover the messages that go out in this many seconds at the current rate (or during three claim
# commits, when longer), because larger groups mean fewer disk syncs. After a kill, ``Journal.recover`` queues the
# rows claimed but not sent again, thanks to the wire log. Only after a restart of the machine do they read as unknown.
_CLAIM_AHEAD_SECONDS = 0.05
# The renderer takes free places for rendered messages in batches of this share of them, and hands the
# messages over to the loop thread every ``_HAND_OVER_EVERY``, so the two threads wake each other less often.
_RENDER_BATCH_SHARE = 4
_HAND_OVER_EVERY = 8
# Outcomes (sent, failed...) are written to the journal together, at most this many seconds after the first.
# A process killed in between leaves those rows in ``sending``, and ``Journal.recover`` takes their outcomes from
# the wire log. Only after a restart of the machine do they read as unknown.
_OUTCOME_DELAY = 0.01
# From this many unsent rows on, the messages are rendered in a separate process, so rendering no longer takes
# the interpreter lock from the replies or from the window's thread. On 2 cores it halved the sending process's
# CPU time, with no measurable gain in rate (docs/benchmarks.md, section 8). Starting the process takes about
# half a second, which a small merge does not win back.
RENDER_PROCESS_MIN_ROWS = 1000
# The render process sends the messages in batches of this many. A full pipe blocks it when the sending falls
# behind, so the process renders only a little ahead.
_PROCESS_BATCH = 8
TEST_HEADER = "X-Sluice-Merge-Test"

# Connection failures that no retry can fix: the send stops and waits for the user.
_FATAL_KINDS = {KIND_AUTH, KIND_CONFIG, KIND_CREDENTIALS, KIND_TLS, KIND_SENDER}

# Replies that ask the client to send more slowly, matched on 421/450/451/452 replies and on the 5.7.x replies
# that some providers use for rate limits. Examples: "421 4.7.0 Try again later, closing connection" and
# "450 4.7.28 ... unusual rate of unsolicited mail" (Gmail), "421 Too many messages" (many servers).
_RATE_CODES = {421, 450, 451, 452}
_RATE_TEXT = re.compile(
    r"\b4\.7\.\d+\b|too many (messages|mails|connections|recipients)|rate limit|rate of|throttl|slow down"
    r"|sending rate|try again later|temporarily deferred",
    re.IGNORECASE,
)
_RATE_TEXT_PERMANENT = re.compile(r"too many (messages|mails)|rate limit|sending rate|throttl", re.IGNORECASE)
# Replies that mean the account's sending quota is used up: 5.4.5 (Gmail: "Daily user sending quota exceeded"),
# Microsoft's SubmissionQuotaExceeded, and generic quota texts.
_QUOTA_TEXT = re.compile(
    r"\b5\.4\.5\b|sending quota|quota exceeded|submissionquotaexceeded|daily (user )?sending limit|limit exceeded",
    re.IGNORECASE,
)
# Hard bounces: the address does not exist (RFC 3463: X.1.1 bad destination mailbox, X.1.10 null MX).
_HARD_BOUNCE_CODES = {550, 551, 553}
_HARD_BOUNCE_TEXT = re.compile(
    r"\b5\.1\.(1|10)\b|user unknown|unknown user|no such user|no such (mailbox|recipient)|does not exist"
    r"|recipient not found|mailbox not found|address rejected",
    re.IGNORECASE,
)

OUTCOME_SENT = "sent"
OUTCOME_RETRY = "retry"
OUTCOME_SLOW = "slow"
OUTCOME_QUOTA = "quota"
OUTCOME_FAILED = "failed"
OUTCOME_BOUNCE = "bounce"
OUTCOME_STOP = "stop"


def classify_reply(code: int, text: str) -> str:
    """Return what a server reply means for a merge: one of the ``OUTCOME_*`` values."""
    if 200 <= code < 300:
        return OUTCOME_SENT
    if code in _RATE_CODES and _RATE_TEXT.search(text):
        return OUTCOME_SLOW
    if code >= 500 and _QUOTA_TEXT.search(text):
        return OUTCOME_QUOTA
    if code >= 500 and re.search(r"\b5\.7\.\d+\b", text) and _RATE_TEXT_PERMANENT.search(text):
        return OUTCOME_SLOW
    if 400 <= code < 500:
        return OUTCOME_RETRY
    if code in _HARD_BOUNCE_CODES and _HARD_BOUNCE_TEXT.search(text):
        return OUTCOME_BOUNCE
    return OUTCOME_FAILED


@dataclass
class SendOptions:
    """How a merge is sent.

    Attributes:
        connections: SMTP connections in parallel, each sending many messages.
        rate: Limits per minute, hour and day, and pauses.
        max_attempts: Tries per message for temporary failures before it is failed.
        backoff_seconds: Wait before the first retry; doubled for each further one (with ±20% jitter).
        backoff_max_seconds: Maximum wait between two tries.
        slow_hold_seconds: How long every connection waits after a "too many messages" reply.
        max_slowdowns: Consecutive "too many" replies without a success after which the send stops.
        timeout: Seconds allowed for each SMTP step.
        sent_copies: Store a copy of each sent message in the account's Sent folder.
        copy_batch: Sent copies are stored in batches of this many.
        test_to: For a test send: the address that receives every message instead of its recipient.
        test_count: For a test send: how many messages (the first rendered rows).
        durable: Sync the journal's "sending" record to disk before each message,
            so that even a power failure cannot make a message go out twice.
        render_process: Render the messages in a separate process (True), on the sending loop between its
            replies (False), or choose by size (None): a process from RENDER_PROCESS_MIN_ROWS unsent rows, not
            for test sends. The window chooses by size, so that rendering does not hold the interpreter lock
            that its own thread needs. The command line renders on the loop, which costs the least CPU time.
    """

    connections: int = 4
    rate: Rate = field(default_factory=Rate)
    max_attempts: int = 5
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 300.0
    slow_hold_seconds: float = 60.0
    max_slowdowns: int = 10
    timeout: float = 60.0
    sent_copies: bool = True
    copy_batch: int = 200
    test_to: str = ""
    test_count: int = 3
    durable: bool = True
    render_process: bool | None = False

    def validate(self) -> None:
        """Raise ValueError naming the first invalid option and its valid range."""
        if not 1 <= self.connections <= 64:
            raise ValueError(f"--connections {self.connections} is invalid; use 1 to 64.")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts {self.max_attempts} is invalid; use 1 or more.")
        if self.test_to and self.test_count < 1:
            raise ValueError(f"--test-count {self.test_count} is invalid; use 1 or more.")

    def as_dict(self) -> dict:
        rate = self.rate
        return {
            "connections": self.connections, "max_attempts": self.max_attempts, "sent_copies": self.sent_copies,
            "rate": {"per_minute": rate.per_minute, "per_hour": rate.per_hour, "per_day": rate.per_day,
                     "pause_every": rate.pause_every, "pause_seconds": rate.pause_seconds, "jitter": rate.jitter},
            "test_to": self.test_to, "test_count": self.test_count,
        }


@dataclass(frozen=True)
class Progress:
    """A snapshot of a send, yielded by ``MergeSend.run``.

    Attributes:
        state: ``running``, ``paused``, ``stopping``, ``finished`` or ``stopped``.
        remaining: Rows not sent, failed, unknown or skipped yet.
        per_minute: Messages sent in the last minute (or the rate so far when shorter).
        seconds_left: Estimate at the current rate; None before the first message.
        note: Why the send stopped, or the latest slow-down; "" otherwise.
        retry_waits: The rows waiting to be retried after a temporary failure, soonest first, each as (seconds
            until the next try, the server's reply).
    """

    merge_id: str
    total: int
    sent: int
    failed: int
    unknown: int
    skipped: int
    remaining: int
    per_minute: float
    seconds_left: float | None
    state: str
    note: str = ""
    retry_waits: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Outgoing:
    """One message ready for the wire, made by the renderer."""

    row: int
    key: str
    address: str
    sender: str
    message_id: str
    date: str
    payload: bytes  # the message as the DATA section (see _dot_stuffed), made here to spare the loop thread
    size: int = 0  # the message's size in bytes before dot-stuffing, for the server's SIZE limit
    skip_reason: str = ""
    copies_to: tuple[str, ...] = ()  # further envelope recipients: the message's other To, Cc and Bcc addresses

    @property
    def data(self) -> bytes:
        """The message as sent (CRLF line ends), taken back out of ``payload``.

        Only the payload crosses from a render process: the message once, not twice, over the pipe.
        """
        return _unstuffed(self.payload)


class MergeSend:
    """Sends the unsent rows of one merge; see the module docstring.

    Args:
        account: The sending account (its SMTP settings and address).
        merge: The opened merge (``desktop.merge.render.open_merge``): its
            ``rows`` (each with a ``number``) and ``render(number)``.
        journal_file: The profile's journal; the merge must be recorded in it.
        merge_id: The journal's id of this merge.
        options: How to send.
        smtp: The sender whose loop runs the connections.
        suppression: The profile's suppression list, which hard bounces are
            added to; None: none. Suppressed rows are skipped by ``render``.
        store_copies: Called in the caller's thread with ``[(row, message bytes)]``
            of sent messages to keep in the Sent folder; None: no copies.
    """

    def __init__(
        self,
        *,
        account: Account,
        merge,
        journal_file: Path,
        merge_id: str,
        options: SendOptions,
        smtp: SmtpSender,
        suppression=None,
        store_copies: Callable[[list[tuple[int, bytes]]], None] | None = None,
    ) -> None:
        options.validate()
        self.account = account
        self.merge = merge
        self.journal_file = Path(journal_file)
        self.merge_id = merge_id
        self.options = options
        self._smtp = smtp
        self._suppression = suppression
        self._store_copies = store_copies if options.sent_copies else None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._cancelled = threading.Event()
        self._paused = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resume_event: asyncio.Event | None = None
        self._note = ""
        self._stop_note = ""
        self._copies: list[tuple[int, bytes]] = []
        self._spec: _RenderSpec | None = None
        # [second of time.monotonic(), messages sent in it] for the last minute, for Progress.per_minute.
        self._sent_seconds: collections.deque[list[int]] = collections.deque()
        self._started = 0.0
        self._counts: dict[str, int] = {}
        self._total = 0
        self._state: _LoopState | None = None
        self._slots = _Slots(1, 1)
        self._credit = 0  # places the renderer has taken and not filled yet
        self._main_started = threading.Event()
        self._rendered: collections.deque[Outgoing] = collections.deque()
        self._hand_over_due = False
        self._wire_log: jn.WireLog | None = None

    # --- control from any thread ----------------------------------------------------

    def pause(self) -> None:
        """Stop starting new messages until ``resume``; messages in flight finish."""
        self._paused.set()
        self._call_in_loop(lambda: self._resume_event and self._resume_event.clear())
        log.info("Merge %s paused", self.merge_id)
        self._wake.set()

    def resume(self) -> None:
        """Continue after ``pause``."""
        self._paused.clear()
        self._call_in_loop(lambda: self._resume_event and self._resume_event.set())
        log.info("Merge %s resumed", self.merge_id)
        self._wake.set()

    def cancel(self, note: str = "cancelled by the user") -> None:
        """Stop the send: messages in flight finish and are journaled, the rest stay queued for resume."""
        if not self._cancelled.is_set():
            log.info("Merge %s: stopping (%s)", self.merge_id, note)
            self._stop_note = self._stop_note or note
        self._cancelled.set()
        self._call_in_loop(self._wake_workers)
        self._wake.set()

    def _wake_workers(self) -> None:
        if self._resume_event is not None:
            self._resume_event.set()
        if self._state is not None:
            if self._cancelled.is_set():
                self._state.stopping.set()
            self._end_if_idle(self._state)

    def _call_in_loop(self, callback: Callable[[], object]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback)

    # --- the caller's side -----------------------------------------------------------

    def run(self) -> Iterator[Progress]:
        """Send, yielding progress about four times a second and a final snapshot."""
        with jn.Journal(self.journal_file) as journal, jn.send_locks(journal, self.merge_id) as record:
            recovered = journal.recover(self.merge_id)
            if recovered:
                verb = "is" if len(recovered) == 1 else "are"
                self._note = f"{pluralize(len(recovered), 'row')} of unknown outcome from the last run {verb} not resent"
            self._total = record.total
            self._counts = journal.counts(self.merge_id)
            journal.set_state(self.merge_id, jn.RUNNING)
            earlier = journal.sent_counts(self.account.name, time.time() - 86400)
            yield from self._drive(journal, earlier)

    def _drive(self, journal: jn.Journal, earlier: list[tuple[float, int]]) -> Iterator[Progress]:
        self._started = time.monotonic()
        # Rendered messages not yet sent: enough for every connection plus the rows claimed ahead (see _claimer).
        capacity = 4 * self.options.connections + _MAX_LOOKAHEAD
        self._slots = _Slots(capacity, capacity // _RENDER_BATCH_SHARE)
        self._credit = 0
        self._spec = self._process_spec()
        self._main_started = threading.Event()
        self._loop = self._smtp_loop()
        future = self._smtp.run_coroutine(self._main(earlier))
        if not self._main_started.wait(30) and not future.done():
            future.cancel()
            raise RuntimeError("The SMTP sender loop did not start the merge in 30 s.")

        producer = None
        if self._spec is not None:
            producer = threading.Thread(target=self._produce, name="merge-render", daemon=True)
            producer.start()
        error: BaseException | None = None
        try:
            while not future.done():
                self._wake.wait(0.25)
                self._wake.clear()
                self._flush_copies(journal, final=False)
                yield self._snapshot(self._state_name())
        finally:
            error = self._wait_for_end(future)
            if producer is not None:
                producer.join(timeout=self.options.timeout)
            self._flush_copies(journal, final=True)

        if error is not None:
            log.error("Merge %s stopped by an unexpected error: %r", self.merge_id, error)
            self._stop_note = self._stop_note or f"unexpected error: {error!r}"
        yield self._finish(journal)

    def _state_name(self) -> str:
        if self._paused.is_set():
            return "paused"
        return "stopping" if self._cancelled.is_set() else "running"

    def _wait_for_end(self, future: concurrent.futures.Future) -> BaseException | None:
        """Wait for the workers to finish the messages in flight; return the error that ended them, if any."""
        if not future.done():
            # The caller stopped iterating (e.g. the window closed): finish what is in flight.
            self.cancel("the caller stopped the send")
        try:
            error = future.exception(timeout=self.options.timeout * 2 + 5)
        except (TimeoutError, concurrent.futures.TimeoutError, concurrent.futures.CancelledError) as problem:
            error = problem
        self._cancelled.set()
        return error

    def _smtp_loop(self) -> asyncio.AbstractEventLoop:
        return self._smtp.run_coroutine(_running_loop()).result()

    def _finish(self, journal: jn.Journal) -> Progress:
        counts = journal.counts(self.merge_id)
        self._counts = counts
        remaining = self._total - sum(counts[state] for state in jn.DONE_STATES)
        finished = remaining <= 0 and not self._stop_note
        note = "" if finished else (self._stop_note or f"{pluralize(remaining, 'row')} not sent")
        journal.set_state(self.merge_id, jn.FINISHED if finished else jn.STOPPED, note)
        if note:
            journal.add_event(self.merge_id, "stop", note)
        return self._snapshot(jn.FINISHED if finished else jn.STOPPED, note or self._note)

    def _snapshot(self, state: str, note: str | None = None) -> Progress:
        with self._lock:
            counts = dict(self._counts)
            now = time.monotonic()
            while self._sent_seconds and self._sent_seconds[0][0] < now - 60:
                self._sent_seconds.popleft()
            recent = sum(count for _, count in self._sent_seconds)
            note = self._note if note is None else note
            waits = sorted(self._state.retry_waits.values()) if self._state is not None else []
        elapsed = min(now - self._started, 60.0)
        per_minute = recent * 60.0 / elapsed if elapsed > 0.1 else 0.0
        remaining = max(self._total - sum(counts.get(name, 0) for name in jn.DONE_STATES), 0)
        state_now = self._state
        limiter = state_now.limiter if state_now is not None else None
        seconds_left = _time_left(remaining, per_minute, limiter)
        if limiter is not None and limiter.waiting_until > time.time() + 60 and state == "running":
            until = time.strftime("%Y-%m-%d %H:%M", time.localtime(limiter.waiting_until))
            waiting = (f"pausing until {until}" if limiter.waiting_for == "pause"
                       else f"waiting for the {limiter.waiting_for} limit until {until}")
            note = f"{waiting}; {note}" if note else waiting
        return Progress(
            merge_id=self.merge_id, total=self._total, sent=counts.get(jn.SENT, 0), failed=counts.get(jn.FAILED, 0),
            unknown=counts.get(jn.UNKNOWN, 0), skipped=counts.get(jn.SKIPPED, 0), remaining=remaining,
            per_minute=per_minute, seconds_left=seconds_left, state=state, note=note,
            retry_waits=tuple((max(at - now, 0.0), reply) for at, reply in waits),
        )

    def _flush_copies(self, journal: jn.Journal, *, final: bool) -> None:
        if self._store_copies is None:
            return
        with self._lock:
            if not self._copies or (not final and len(self._copies) < self.options.copy_batch):
                return
            batch, self._copies = self._copies, []
        try:
            self._store_copies(batch)
        except Exception as error:  # noqa: BLE001 - a failing copy must not stop the send; the rows stay uncopied
            log.warning("Merge %s: storing %d Sent copies failed: %s", self.merge_id, len(batch), error)
            self._note = f"Sent copies could not be stored ({error})"
            return
        journal.mark_copied(self.merge_id, [row for row, _ in batch])

    def _count(self, state: str, previous: str | None = None) -> None:
        with self._lock:
            self._counts[state] = self._counts.get(state, 0) + 1
            if previous:
                self._counts[previous] = self._counts.get(previous, 0) - 1
            if state == jn.SENT:
                second = int(time.monotonic())
                if self._sent_seconds and self._sent_seconds[-1][0] == second:
                    self._sent_seconds[-1][1] += 1
                else:
                    self._sent_seconds.append([second, 1])

    # --- rendering -------------------------------------------------------------------------

    def _produce(self) -> None:
        """Receive the messages of the render process and hand them to the loop (the thread of a process send)."""
        try:
            log.info("Merge %s: rendering in a separate process", self.merge_id)
            for item in _items_from_process(self._spec, self._cancelled):
                if self._cancelled.is_set() or not self._put(item):
                    break
        except Exception as error:  # noqa: BLE001 - reported as the reason the send stopped
            log.exception("Merge %s: reading the rows failed", self.merge_id)
            self.cancel(f"reading the data failed: {error}")
        finally:
            self._call_in_loop(self._source_finished)

    async def _produce_in_loop(self, state: _LoopState) -> None:
        """Render the messages on the loop thread, one between two turns of the loop.

        A typical message takes about a tenth of a millisecond, so a reply waits at most that long. With 16
        connections into a local server this sent 5 to 17% more messages a second than a render thread did,
        on less CPU time, because the interpreter lock no longer passes between two threads (docs/benchmarks.md,
        section 8).
        """
        try:
            with jn.Journal(self.journal_file) as journal:
                for item in self._loop_items(journal):
                    while not self._credit:
                        self._credit = self._slots.try_take()
                        if self._credit:
                            break
                        state.room.clear()
                        try:
                            await asyncio.wait_for(state.room.wait(), 0.2)
                        except asyncio.TimeoutError:
                            pass
                        if self._cancelled.is_set():
                            return
                    if self._cancelled.is_set():
                        return
                    self._credit -= 1
                    state.outstanding += 1
                    state.pending.append((item, True))
                    state.need.set()
                    await asyncio.sleep(0)
        except Exception as error:  # noqa: BLE001 - reported as the reason the send stopped
            log.exception("Merge %s: reading the rows failed", self.merge_id)
            self.cancel(f"reading the data failed: {error}")
        finally:
            self._source_finished()

    def _loop_items(self, journal: jn.Journal) -> Iterator[Outgoing]:
        """Yield the messages that the loop renders: each row's that ``journal`` does not have as done."""
        renderer = _Renderer(self.merge, self.account.address, self.options.test_to)
        return renderer.items(journal, self.merge_id, self.options.test_count if self.options.test_to else 0)

    def _process_spec(self) -> _RenderSpec | None:
        """Return what a render process needs, or None to render on the loop (see ``SendOptions.render_process``)."""
        choice = self.options.render_process
        remaining = self._total - sum(self._counts.get(state, 0) for state in jn.DONE_STATES)
        if choice is False or (choice is None and (self.options.test_to or remaining < RENDER_PROCESS_MIN_ROWS)):
            return None
        template, table = getattr(self.merge, "template", None), getattr(self.merge, "table", None)
        if template is None or table is None or not getattr(table, "digest", ""):
            return None
        return _RenderSpec(
            template=str(template.path), data=str(table.path), template_digest=_digest(template.source_bytes),
            data_digest=table.digest, suppressed=frozenset(self.merge.suppressed), sender=self.account.address,
            test_to=self.options.test_to, test_count=self.options.test_count if self.options.test_to else 0,
            journal_file=str(self.journal_file), merge_id=self.merge_id,
        )

    def _put(self, item: Outgoing) -> bool:
        """Hand ``item`` to the workers once a place is free; False when the send was cancelled."""
        if not self._credit:
            self._hand_over()  # the loop gets every message rendered so far before this thread waits
            self._credit = self._slots.take(self._cancelled)
        if self._cancelled.is_set() or not self._credit:
            return False
        self._credit -= 1
        self._rendered.append(item)
        if len(self._rendered) >= _HAND_OVER_EVERY:
            self._hand_over()
        return True

    def _hand_over(self) -> None:
        if self._rendered and not self._hand_over_due:
            # One wake-up of the loop carries every message rendered until it runs.
            self._hand_over_due = True
            self._call_in_loop(self._take_rendered)

    def _take_rendered(self) -> None:
        """Move the rendered messages to the loop thread; each counts as outstanding until its row is settled."""
        self._hand_over_due = False
        state = self._state
        while self._rendered:
            state.outstanding += 1
            state.pending.append((self._rendered.popleft(), True))
        state.need.set()

    # --- the loop thread -------------------------------------------------------------------

    async def _main(self, earlier: list[tuple[float, int]]) -> None:
        self._resume_event = asyncio.Event()
        if not self._paused.is_set():
            self._resume_event.set()
        self._wire_log = jn.WireLog(jn.wire_log_path(self.journal_file, self.merge_id))
        writer = _JournalWriter(self.journal_file, asyncio.get_running_loop())
        claimer: asyncio.Task | None = None
        renderer_task: asyncio.Task | None = None
        try:
            self._state = state = _LoopState(journal=writer, limiter=RateLimiter(self.options.rate, earlier))
            claimer = asyncio.create_task(self._claimer(state))
            if self._spec is None:
                renderer_task = asyncio.create_task(self._produce_in_loop(state))
            self._main_started.set()
            workers = [asyncio.create_task(self._worker(state, number))
                       for number in range(self.options.connections)]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                # One worker failed: stop the others before the journal closes under them.
                self._cancelled.set()
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
        finally:
            for task in (claimer, renderer_task):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if self._state is not None:
                self._write_outcomes(self._state)
            if self._state is not None and self._state.claimed:
                # Rows claimed ahead that no connection sent: back to queued, so resume sends them.
                rows = sorted(self._state.claimed)
                self._state.claimed.clear()
                writer.post("release", self.merge_id, rows)
                with self._lock:
                    self._counts[jn.SENDING] = self._counts.get(jn.SENDING, 0) - len(rows)
                    self._counts[jn.QUEUED] = self._counts.get(jn.QUEUED, 0) + len(rows)
            await asyncio.get_running_loop().run_in_executor(None, writer.close)
            # Every outcome and release is committed now, so the journal needs the log no more.
            self._wire_log.close(remove=True)

    def _source_finished(self) -> None:
        self._take_rendered()  # the last messages, rendered since the last hand-over
        self._state.source_done = True
        self._end_if_idle(self._state)

    def _end_if_idle(self, state: _LoopState) -> None:
        """Wake every worker with an end mark once nothing is left: the source is read and no row is pending."""
        if state.ended:
            return
        if (state.source_done and state.outstanding <= 0) or self._cancelled.is_set():
            state.ended = True
            for _ in range(self.options.connections):
                state.ready.put_nowait((None, 0))
            state.need.set()

    async def _claimer(self, state: _LoopState) -> None:
        """Claim rows for the workers: commit their ``sending`` records, many rows to one disk sync.

        A worker takes only rows whose ``sending`` record and Message-ID are
        committed, so the guarantee holds for every message before its MAIL
        FROM. Rows are claimed for the workers that wait, plus as many more as
        go out in ``_CLAIM_AHEAD_SECONDS`` (or during three commits, when
        longer) at the current rate, so that the disk sync does not hold the
        connections up. Under a ``--rate`` limit below 1,200 messages a minute
        no row is claimed ahead, because each row is claimed when the limiter
        lets it go.
        """
        try:
            await self._claim_rows(state)
        except Exception as error:  # noqa: BLE001 - without claims nothing can be sent: the send stops with the reason
            log.exception("Merge %s: claiming rows in the journal failed", self.merge_id)
            self.cancel(f"writing the send journal failed: {error}")

    async def _claim_rows(self, state: _LoopState) -> None:
        rate = 0.0  # messages taken by the workers per second, smoothed
        latency = 0.004  # seconds per claim commit, smoothed
        last_time, last_dispatched = time.monotonic(), 0
        while not state.ended:
            await state.need.wait()
            state.need.clear()
            lookahead = state.lookahead = min(_MAX_LOOKAHEAD, int(rate * max(latency * 3, _CLAIM_AHEAD_SECONDS)))
            want = state.waiting + lookahead - state.ready.qsize()
            if not state.waiting and want < max(lookahead // 2, 1):
                continue  # enough claimed for now: claims come in groups of at least half the lookahead
            batch: list[tuple[Outgoing, str]] = []
            while want > len(batch) and state.pending and not self._cancelled.is_set():
                item, first = state.pending.popleft()
                if first:
                    self._slots.release()
                    state.room.set()
                if item.skip_reason:
                    state.journal.post("mark_skipped", self.merge_id, item.row, item.key, item.address,
                                       item.skip_reason)
                    self._count(jn.SKIPPED)
                    self._finish_item(state)
                    continue
                if batch and state.limiter.interval:
                    # Under a per-minute limit each row is claimed as the limiter lets it go. Waiting for the
                    # next one first would claim this row an interval late, and both would go out together.
                    state.pending.appendleft((item, False))
                    break
                await state.limiter.acquire()
                batch.append(item)
            if not batch or self._cancelled.is_set():
                for item in reversed(batch):
                    state.pending.appendleft((item, False))
                continue
            self._write_outcomes(state)  # before the claim, so a retried row is queued again first
            started = time.monotonic()
            for item in batch:
                # Counted as claimed before the commit: if the send stops meanwhile, _main gives the rows back.
                state.claimed[item.row] = item
                self._count(jn.SENDING)
            claims = await state.journal.call(
                "claim", self.merge_id,
                [(item.row, item.key, item.address, item.message_id, item.date) for item in batch],
                durable=self.options.durable,
            )
            now = time.monotonic()
            latency = 0.7 * latency + 0.3 * (now - started)
            if now - last_time >= 0.05:
                rate = 0.5 * rate + 0.5 * (state.dispatched - last_dispatched) / (now - last_time)
                last_time, last_dispatched = now, state.dispatched
            for item in batch:
                attempt = claims.get(item.row)
                if attempt is None:
                    # Not queued any more (see Journal.claim), so it is never sent again.
                    del state.claimed[item.row]
                    with self._lock:
                        self._counts[jn.SENDING] = self._counts.get(jn.SENDING, 0) - 1
                    self._finish_item(state)
                    continue
                state.ready.put_nowait((item, attempt))
            state.need.set()

    async def _worker(self, state: _LoopState, number: int) -> None:
        client: aiosmtplib.SMTP | None = None
        watchdog = _Watchdog(asyncio.get_running_loop(), self.options.timeout)
        try:
            while not self._cancelled.is_set():
                await self._resume_event.wait()
                if state.ready.empty():
                    state.waiting += 1
                    state.need.set()
                    try:
                        item, attempt = await state.ready.get()
                    finally:
                        state.waiting -= 1
                else:
                    item, attempt = state.ready.get_nowait()
                if item is None or self._cancelled.is_set():
                    break
                state.dispatched += 1
                if state.ready.qsize() * 2 <= state.lookahead:
                    state.need.set()
                try:
                    client = await self._send_one(state, item, attempt, client, watchdog)
                except _WorkerRetired:
                    log.info("Merge %s: connection %d stops", self.merge_id, number + 1)
                    client = None  # already closed by _send_one
                    return
        finally:
            watchdog.stop()
            if client is not None:
                await self._drop(state, client)

    async def _keep_spacing(self, state: _LoopState) -> None:
        """Under a per-minute limit, keep the messages apart on the wire as well as when they are let go.

        The limiter spaces the rows when they are claimed, but a connection that is still opening delays its row.
        Without this wait, the first messages of a send went out together once the connections were open.
        """
        interval = state.limiter.interval
        if not interval:
            return
        now = time.monotonic()
        start = max(now, state.next_transmit)
        state.next_transmit = start + interval * (1 - self.options.rate.jitter)
        if start > now:
            await _wait_unless_stopping(state, start - now)

    def _finish_item(self, state: _LoopState) -> None:
        state.outstanding -= 1
        self._end_if_idle(state)

    def _retry_later(self, state: _LoopState, item: Outgoing, delay: float) -> None:
        if delay <= 0:
            self._requeue(state, item)
        else:
            asyncio.get_running_loop().call_later(delay, self._requeue, state, item)

    def _requeue(self, state: _LoopState, item: Outgoing) -> None:
        with self._lock:
            state.retry_waits.pop(item.row, None)
        state.pending.append((item, False))
        state.need.set()

    def _unclaim(self, state: _LoopState, item: Outgoing) -> None:
        """Give back a claimed row that was not sent: queued again in the journal, not counted as an attempt."""
        if state.claimed.pop(item.row, None) is not None:
            state.journal.post("release", self.merge_id, [item.row])
            self._count(jn.QUEUED, jn.SENDING)

    async def _send_one(
        self, state: _LoopState, item: Outgoing, attempt: int, client: aiosmtplib.SMTP | None, watchdog: _Watchdog,
    ) -> aiosmtplib.SMTP | None:
        if self._cancelled.is_set():
            self._unclaim(state, item)
            self._finish_item(state)
            return client
        if client is not None and not client.is_connected:
            await self._drop(state, client)
            client = None
        if client is None:
            try:
                client = await self._connect(state, item)
            except _WorkerRetired:
                self._unclaim(state, item)
                raise
            if client is None:
                self._unclaim(state, item)
                return None
        await self._keep_spacing(state)
        outcome, reply, delivered_unknown = await self._transmit(client, item, watchdog)
        if delivered_unknown or not client.is_connected:
            await self._drop(state, client)
            client = None
        state.claimed.pop(item.row, None)
        self._settle(state, item, outcome, reply, attempt, unknown=delivered_unknown)
        return client

    async def _connect(self, state: _LoopState, item: Outgoing) -> aiosmtplib.SMTP | None:
        """Open a connection for a worker; on failure requeue ``item`` and maybe stop the send."""
        try:
            client = await self._smtp.open_connection(self.account, self.options.timeout)
        except SendError as error:
            if error.temporary and error.kind not in _FATAL_KINDS and state.live_connections > 0:
                # Servers limit connections per account; the connections that are open carry on.
                log.warning("Merge %s: another SMTP connection failed (%s), so the send goes on with %d: %s",
                            self.merge_id, error.kind, state.live_connections, error)
                self._unclaim(state, item)
                self._retry_later(state, item, 0)
                raise _WorkerRetired from error
            now = time.monotonic()
            if error.temporary and error.kind not in _FATAL_KINDS and now < state.connect_retry_at:
                # Another connection failed a moment ago and its wait is running: connections that fail
                # together count as one try, and each waits for the same next try.
                await _wait_unless_stopping(state, state.connect_retry_at - now)
                self._unclaim(state, item)
                self._retry_later(state, item, 0)
                return None
            state.connect_failures += 1
            log.warning("Merge %s: connecting to the SMTP server failed (%s, try %d): %s",
                        self.merge_id, error.kind, state.connect_failures, error)
            if error.kind in _FATAL_KINDS or not error.temporary:
                self.cancel(str(error))
            elif state.connect_failures >= self.options.max_attempts:
                self.cancel(f"the SMTP server could not be reached {state.connect_failures} times: {error}")
            else:
                delay = self._backoff(state.connect_failures)
                state.connect_retry_at = time.monotonic() + delay
                with self._lock:
                    self._note = (f"the SMTP server could not be reached, try {state.connect_failures} of "
                                  f"{self.options.max_attempts}, next in {delay:.0f} s: {error}")
                await _wait_unless_stopping(state, delay)
            self._unclaim(state, item)
            self._retry_later(state, item, 0)
            return None
        if state.connect_failures:
            with self._lock:
                if self._note.startswith("the SMTP server could not be reached"):
                    self._note = ""
        state.connect_failures = 0
        state.live_connections += 1
        return client

    async def _drop(self, state: _LoopState, client: aiosmtplib.SMTP) -> None:
        """Close a worker's connection (QUIT when it is still open)."""
        state.live_connections -= 1
        await close_connection(client)

    async def _transmit(self, client: aiosmtplib.SMTP, item: Outgoing, watchdog: _Watchdog) -> tuple[str, str, bool]:
        """Send one message over an open connection; return (outcome, reply text, outcome unknown).

        The row's ``sending`` record is committed already (see ``_claimer``).
        """
        wire = _Wire(client, watchdog)
        try:
            check_size(client, self.account, item.size)
            await wire.mail(item.sender)
            await wire.rcpt(item.address)
            rejected = await self._further_recipients(wire, item)
            await wire.data_command()
        except SendError as error:
            await _reset(client)
            return OUTCOME_FAILED, str(error), False
        except aiosmtplib.SMTPSenderRefused as error:
            await _reset(client)
            reply = f"{error.code} {error.message}"
            outcome = classify_reply(error.code, error.message)
            # A sender rejected for good is the account's problem, not this row's: stop rather than fail every row.
            return (OUTCOME_STOP if outcome in (OUTCOME_FAILED, OUTCOME_BOUNCE) else outcome), reply, False
        except aiosmtplib.SMTPResponseException as error:
            await _reset(client)
            reply = f"{error.code} {error.message}"
            return classify_reply(error.code, error.message), reply, False
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
            # Nothing of the message was sent yet (not even after DATA's 354), so trying again is safe.
            client.close()
            return OUTCOME_RETRY, f"connection lost before the message was sent: {error}", False
        if not client.is_connected:
            # Closed after the 354 reply came (by the watchdog, say): nothing of the message went out.
            client.close()
            return OUTCOME_RETRY, "connection lost before the message was sent", False
        try:
            self._wire_log.data_going_out(item.row)
            response = await wire.content(item.payload)
        except aiosmtplib.SMTPResponseException as error:
            return classify_reply(error.code, error.message), f"{error.code} {error.message}", False
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
            # The server may have the whole message and accepted it before the connection went: unknown, not resent.
            client.close()
            mapped = classify_error(self.account, error)
            return OUTCOME_FAILED, f"no reply after the message data: {mapped}", True
        reply = f"{response.code} {response.message}"
        return OUTCOME_SENT, f"{reply}; rejected: {rejected}" if rejected else reply, False

    async def _further_recipients(self, wire: _Wire, item: Outgoing) -> str:
        """Send RCPT for the further addresses and return the rejected ones; a rejection does not stop the message."""
        rejected = []
        for address in item.copies_to:
            try:
                await wire.rcpt(address)
            except aiosmtplib.SMTPRecipientRefused as error:
                log.warning("Merge %s row %d: the server rejected the further recipient %s: %s %s",
                            self.merge_id, item.row, address, error.code, error.message)
                rejected.append(f"{address} ({error.code} {error.message})")
        return ", ".join(rejected)

    def _settle(self, state: _LoopState, item: Outgoing, outcome: str, reply: str, attempt: int, *,
                unknown: bool) -> None:
        journal = state.journal
        if unknown:
            self._record(state, item.row, jn.UNKNOWN, reply)
            log.warning("Merge %s row %d: outcome unknown (%s)", self.merge_id, item.row, reply)
            self._count(jn.UNKNOWN, jn.SENDING)
            self._finish_item(state)
            return
        if outcome == OUTCOME_SENT:
            self._record(state, item.row, jn.SENT, reply)
            state.slowdowns_in_row = 0
            self._count(jn.SENT, jn.SENDING)
            if self._store_copies is not None:
                with self._lock:
                    self._copies.append((item.row, item.data))
            self._finish_item(state)
            return
        if outcome == OUTCOME_SLOW:
            self._slow_down(state, item, reply)
            return
        if outcome in (OUTCOME_QUOTA, OUTCOME_STOP):
            self._record(state, item.row, jn.QUEUED, reply)
            self._count(jn.QUEUED, jn.SENDING)
            self._finish_item(state)
            if outcome == OUTCOME_QUOTA:
                self.cancel(f"the account's sending quota is used up ({reply}); resume the merge later")
            else:
                self.cancel(f"the SMTP server rejected the sender {item.sender} ({reply}); check the account's "
                            "address and SMTP login, then resume the merge")
            return
        if outcome == OUTCOME_RETRY and attempt - state.throttled.get(item.row, 0) < self.options.max_attempts:
            self._record(state, item.row, jn.QUEUED, reply)
            self._count(jn.QUEUED, jn.SENDING)
            delay = self._backoff(attempt)
            log.info("Merge %s row %d: temporary failure (%s); try %d in %.1f s",
                     self.merge_id, item.row, reply, attempt + 1, delay)
            with self._lock:
                state.retry_waits[item.row] = (time.monotonic() + delay, reply)
            self._retry_later(state, item, delay)
            return
        self._record(state, item.row, jn.FAILED, reply)
        self._count(jn.FAILED, jn.SENDING)
        log.warning("Merge %s row %d failed after %d attempt(s): %s", self.merge_id, item.row, attempt, reply)
        if outcome == OUTCOME_BOUNCE and self._suppression is not None and not self.options.test_to:
            self._suppression.add(item.address, f"hard bounce in merge {self.merge_id}: {reply}")
            log.info("Merge %s: added the hard-bounced address of row %d to the suppression list",
                     self.merge_id, item.row)
        self._finish_item(state)

    def _slow_down(self, state: _LoopState, item: Outgoing, reply: str) -> None:
        journal = state.journal
        self._record(state, item.row, jn.QUEUED, reply)
        # A throttled try is not held against the row's limit of attempts.
        state.throttled[item.row] = state.throttled.get(item.row, 0) + 1
        self._count(jn.QUEUED, jn.SENDING)
        state.slowdowns_in_row += 1
        interval = state.limiter.slow_down(self._snapshot("running").per_minute, self.options.slow_hold_seconds)
        self._note = f"the server asked to send more slowly ({reply}); now {60 / interval:.1f} messages per minute"
        journal.post("add_event", self.merge_id, "slow_down", f"row {item.row}: {reply}; interval {interval:.3f} s")
        if state.slowdowns_in_row >= self.options.max_slowdowns:
            self.cancel(f"the server asked {state.slowdowns_in_row} times in a row to send more slowly ({reply}); "
                        "resume the merge later or with a lower --rate")
        self._retry_later(state, item, 0)

    def _record(self, state: _LoopState, row: int, outcome: str, reply: str) -> None:
        """Queue a row's outcome for the journal; outcomes are written together, within ``_OUTCOME_DELAY``."""
        self._wire_log.outcome(row, outcome, reply)
        state.outcomes.append((row, outcome, reply))
        if len(state.outcomes) == 1:
            asyncio.get_running_loop().call_later(_OUTCOME_DELAY, self._write_outcomes, state)

    def _write_outcomes(self, state: _LoopState) -> None:
        if state.outcomes:
            outcomes, state.outcomes = state.outcomes, []
            state.journal.post("mark_done_many", self.merge_id, outcomes)

    def _backoff(self, attempt: int) -> float:
        delay = min(self.options.backoff_seconds * 2 ** (attempt - 1), self.options.backoff_max_seconds)
        return delay * random.uniform(0.8, 1.2)


# An address that can go into MAIL FROM or RCPT TO as it is: printable ASCII without spaces, brackets or controls.
_PLAIN_ADDRESS = re.compile(r"[!-;=?-~]*")
_DOMAIN_UNAVAILABLE = 421


class _Watchdog:
    """Times out the replies on one worker's connection with one timer a second instead of one timer per reply.

    Each command sets a deadline ``timeout`` seconds ahead. A check that runs
    every second (every quarter of ``timeout`` when that is shorter) closes
    the connection once the deadline has passed, so a reply times out between
    ``timeout`` and ``timeout`` plus that period. A timer per reply
    (``asyncio.timeout``) took about an eighth of the loop thread's CPU time.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.timeout = timeout
        self.expired = False
        self._loop = loop
        self._period = min(1.0, timeout / 4)
        self._client: aiosmtplib.SMTP | None = None
        self._deadline = 0.0
        self._due = loop.time() + self._period
        self._handle = loop.call_later(self._period, self._check)

    def arm(self, client: aiosmtplib.SMTP) -> None:
        self._client = client
        self._deadline = self._loop.time() + self.timeout
        self.expired = False

    def disarm(self) -> None:
        self._client = None

    def stop(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        late = now - self._due
        if late > self._period:
            # The loop was busy (rendering a slow row, say), so a reply that came meanwhile has not been read yet:
            # that time does not count against the server.
            self._deadline += late
        client = self._client
        if client is not None and now >= self._deadline:
            self.expired = True
            self._client = None
            client.close()
        self._due = now + self._period
        self._handle = self._loop.call_later(self._period, self._check)


class _Wire:
    """One message's SMTP commands on an open aiosmtplib connection, with less work per command.

    aiosmtplib's ``mail``, ``rcpt`` and ``data`` parse each address with the
    ``email`` package, run two regular expressions over the whole message and
    set up a timer per reply; at hundreds of messages a second that was the
    larger part of the sender's CPU time. This class writes the same commands
    through the connection's protocol and times the replies out with the
    worker's ``_Watchdog``; every step still has ``timeout`` seconds.
    Replies raise the exceptions aiosmtplib raises, so they are classified the
    same way. The data is sent in two steps (DATA, then the message after the
    354 reply), so a connection lost before the message went out is known to
    be safe to retry. An address that needs quoting goes through aiosmtplib.
    """

    def __init__(self, client: aiosmtplib.SMTP, watchdog: _Watchdog) -> None:
        self.client = client
        self.watchdog = watchdog

    async def _command(self, line: bytes) -> aiosmtplib.SMTPResponse:
        protocol = self.client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Server not connected")
        self.watchdog.arm(self.client)
        try:
            protocol.write(line)  # raises SMTPServerDisconnected when the connection is closed or closing
            response = await protocol.read_response(timeout=None)
        except aiosmtplib.SMTPServerDisconnected:
            # The reply may still come and would be taken for the next command's: the connection is given up.
            self.client.close()
            if self.watchdog.expired:
                raise TimeoutError(f"no reply from the SMTP server in {self.watchdog.timeout:g} s") from None
            raise
        finally:
            self.watchdog.disarm()
        if response.code == _DOMAIN_UNAVAILABLE:
            self.client.close()
        return response

    async def mail(self, sender: str) -> None:
        if not _PLAIN_ADDRESS.fullmatch(sender):
            await self.client.mail(sender)
            return
        response = await self._command(b"MAIL FROM:<" + sender.encode("ascii") + b">\r\n")
        if response.code != 250:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)

    async def rcpt(self, recipient: str) -> None:
        if not _PLAIN_ADDRESS.fullmatch(recipient) or not recipient:
            await self.client.rcpt(recipient)
            return
        response = await self._command(b"RCPT TO:<" + recipient.encode("ascii") + b">\r\n")
        if response.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)

    async def data_command(self) -> None:
        response = await self._command(b"DATA\r\n")
        if response.code != 354:
            raise aiosmtplib.SMTPDataError(response.code, response.message)

    async def content(self, payload: bytes) -> aiosmtplib.SMTPResponse:
        """Send the message after DATA's 354 reply. ``payload`` is the message as ``_dot_stuffed`` returns it."""
        response = await self._command(payload)
        if response.code != 250:
            raise aiosmtplib.SMTPDataError(response.code, response.message)
        return response


def _dot_stuffed(data: bytes, *, crlf: bool = False) -> bytes:
    """Return ``data`` as the DATA section: CRLF line ends, a dot doubled at each line start, ``.`` on a line to end.

    With ``crlf``, the caller knows every line of ``data`` ends in CRLF (as ``RenderedMessage.raw`` does), which
    spares three scans of the message.
    """
    if not crlf and (data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n")):
        data = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


def _unstuffed(payload: bytes) -> bytes:
    """Return the message of a DATA section made by ``_dot_stuffed``: the inverse of it, line ends as sent."""
    data = payload[:-3] if payload.endswith(b".\r\n") else payload
    if data.startswith(b".."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")


class _JournalWriter:
    """Writes the journal from a thread of its own, so that journal writes never block the event loop.

    Calls queued while a commit runs are committed together in the next
    transaction: with many connections, one disk sync covers the ``sending``
    records of several messages (group commit). ``call`` waits for the commit,
    ``post`` does not (its failure is logged). Calls run in the order given.
    """

    def __init__(self, journal_file: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._journal_file = journal_file
        self._thread = threading.Thread(target=self._run, name="merge-journal", daemon=True)
        self._thread.start()

    async def call(self, name: str, *args: object, **kwargs: object) -> object:
        future = self._loop.create_future()
        self._requests.put((name, args, kwargs, future))
        return await future

    def post(self, name: str, *args: object, **kwargs: object) -> None:
        self._requests.put((name, args, kwargs, None))

    def close(self) -> None:
        """Commit what is queued and stop the thread."""
        self._requests.put(None)
        self._thread.join()

    def _run(self) -> None:
        with jn.Journal(self._journal_file) as journal:
            while True:
                batch = [self._requests.get()]
                while batch[-1] is not None and len(batch) < 512:
                    try:
                        batch.append(self._requests.get_nowait())
                    except queue.Empty:
                        break
                requests = [request for request in batch if request is not None]
                if requests:
                    self._commit(journal, requests)
                if batch[-1] is None:
                    return

    def _commit(self, journal: jn.Journal, requests: list) -> None:
        durable = any(kwargs.get("durable") for _, _, kwargs, _ in requests)
        calls = [lambda opened, name=name, args=args, kwargs=kwargs: getattr(opened, name)(*args, **kwargs)
                 for name, args, kwargs, _ in requests]
        try:
            outcomes = journal.run_batch(calls, durable=durable)
        except Exception as error:  # noqa: BLE001 - the commit failed; every caller hears of it
            log.exception("Writing %d journal record(s) failed", len(requests))
            outcomes = [(False, error)] * len(requests)
        for (name, args, _, future), (ok, value) in zip(requests, outcomes):
            if future is not None:
                self._loop.call_soon_threadsafe(_settle_future, future, ok, value)
            elif not ok:
                log.error("Journal write %s for merge %s failed: %s", name, args[0] if args else "?", value)


def _settle_future(future: asyncio.Future, ok: bool, value: object) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class _Slots:
    """Places for rendered messages that are not claimed yet; the renderer takes them in batches.

    Args:
        capacity: Places in all.
        batch: The renderer waits until at least this many are free, so it wakes once per batch.
    """

    def __init__(self, capacity: int, batch: int) -> None:
        self._free = capacity
        self._batch = max(1, min(batch, capacity))
        self._freed = threading.Condition(threading.Lock())

    def take(self, cancelled: threading.Event) -> int:
        """Wait for a batch of free places and take every free one; return how many (0 once ``cancelled`` is set)."""
        with self._freed:
            while self._free < self._batch:
                if cancelled.is_set():
                    return 0
                self._freed.wait(0.2)
            taken, self._free = self._free, 0
        return taken

    def try_take(self) -> int:
        """Take every free place without waiting once a batch is free; return how many (0: wait for ``release``)."""
        with self._freed:
            if self._free < self._batch:
                return 0
            taken, self._free = self._free, 0
        return taken

    def release(self) -> None:
        """Free one place (called by the loop thread when a message leaves for the claim)."""
        with self._freed:
            self._free += 1
            if self._free == self._batch:
                self._freed.notify()


class _WorkerRetired(Exception):
    """A worker's connection could not be opened while other connections work; that worker stops."""


@dataclass
class _LoopState:
    """The state that the workers of one send share on the loop thread."""

    journal: _JournalWriter
    limiter: RateLimiter
    pending: collections.deque = field(default_factory=collections.deque)  # (message, first time) to claim
    ready: asyncio.Queue = field(default_factory=asyncio.Queue)  # (message, attempt): claimed, for the workers
    need: asyncio.Event = field(default_factory=asyncio.Event)  # wakes the claimer
    claimed: dict[int, Outgoing] = field(default_factory=dict)  # row: message claimed and not settled yet
    outcomes: list[tuple[int, str, str]] = field(default_factory=list)  # (row, state, reply) not written yet
    waiting: int = 0  # workers waiting for a claimed message
    lookahead: int = 0  # rows the claimer keeps claimed beyond the waiting workers
    dispatched: int = 0  # messages the workers have taken, for the claimer's rate
    ended: bool = False
    source_done: bool = False
    outstanding: int = 0
    connect_failures: int = 0
    live_connections: int = 0
    slowdowns_in_row: int = 0
    throttled: dict[int, int] = field(default_factory=dict)  # row: tries the server deferred to slow the send
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # set by cancel: waits before a retry end
    room: asyncio.Event = field(default_factory=asyncio.Event)  # set when a rendered message leaves for its claim
    next_transmit: float = 0.0  # monotonic time before which no message starts, under a per-minute limit
    connect_retry_at: float = 0.0  # monotonic time of the next try after connections failed
    # row: (monotonic time of its next try, the reply that deferred it), for rows waiting after a temporary failure
    retry_waits: dict[int, tuple[float, str]] = field(default_factory=dict)


def _time_left(remaining: int, per_minute: float, limiter: RateLimiter | None) -> float | None:
    """Estimate the seconds until ``remaining`` messages are sent at the rate measured, or slower where the limits
    of ``limiter`` allow fewer messages in the long run (a day limit of 450 sends 2,990 messages in 6.6 days).
    """
    per_second = per_minute / 60.0
    allowed = limiter.long_run_per_second() if limiter is not None else 0.0
    if allowed and (not per_second or allowed < per_second):
        per_second = allowed
    seconds = remaining / per_second if per_second > 0 else None
    if limiter is not None and seconds is not None:
        seconds = max(seconds, limiter.waiting_until - time.time())
    return seconds


async def _wait_unless_stopping(state: _LoopState, seconds: float) -> None:
    """Wait ``seconds``, or less when the send is cancelled meanwhile."""
    try:
        await asyncio.wait_for(state.stopping.wait(), seconds)
    except (TimeoutError, asyncio.TimeoutError):
        pass


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def _reset(client: aiosmtplib.SMTP) -> None:
    """Reset the transaction after a rejected MAIL or RCPT, so the connection can send the next message."""
    if not client.is_connected:
        return
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError) as error:
        log.debug("RSET failed, closing the connection: %s", error)
        client.close()


def _row_number(row) -> int:
    return int(getattr(row, "number", row))


class _Renderer:
    """Turns data rows into messages ready for the wire: on the sending loop, or in a render process.

    Args:
        merge: The opened merge.
        sender: The account's address, the envelope sender (the From address when empty).
        test_to: For a test send, the address that gets every message, marked as a test.
    """

    def __init__(self, merge, sender: str, test_to: str) -> None:  # noqa: ANN001 - desktop.merge.render.Merge
        self.merge = merge
        self.sender = sender
        self.test_to = test_to
        self._date_second = 0
        self._date_text = ""

    def items(self, journal: jn.Journal, merge_id: str, limit: int = 0) -> Iterator[Outgoing]:
        """Yield a message for each row the journal does not have as done, the first ``limit`` only if given.

        The rows are read from the data file as they are sent, and the journal is asked which of them are done a
        range at a time, so memory does not grow with the number of rows.
        """
        done = _DoneRows(journal, merge_id)
        produced = 0
        for row in self.merge.rows:
            if done.contains(_row_number(row)):
                continue
            if limit and produced >= limit:
                return
            produced += 1
            yield self.outgoing(row)

    def outgoing(self, row) -> Outgoing:  # noqa: ANN001 - a data Row, or a row number
        from desktop.merge.errors import RowError

        number = _row_number(row)
        try:
            rendered = self.merge.render(row)
        except RowError as error:
            # A suppressed recipient (SuppressedError) lands here too, with its own reason.
            return Outgoing(number, "", "", "", "", "", b"", skip_reason=error.describe())
        recipients = [str(address) for address in rendered.to]
        address, others = recipients[0], tuple(recipients[1:])
        envelope_sender = self.sender or rendered.sender
        domain = envelope_sender.rpartition("@")[2] or "localhost"
        message_id = email.utils.make_msgid(domain=domain)
        date = self._date_header()
        if self.test_to:
            message: EmailMessage = rendered.message
            _mark_as_test(message, address, number)
            address, others = self.test_to, ()
            data = serialize(message, message_id, date)
            payload = _dot_stuffed(data)
        else:
            data = wire_bytes(rendered, message_id, date)
            payload = _dot_stuffed(data, crlf=hasattr(rendered, "as_bytes"))
        return Outgoing(number, rendered.key, address, envelope_sender, message_id, date, payload,
                        size=len(data), copies_to=others)

    def _date_header(self) -> str:
        """Return the Date header value for now, formatted once per second because formatting takes about 10 µs."""
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date_text = email.utils.format_datetime(email.utils.localtime())
        return self._date_text


@dataclass(frozen=True)
class _RenderSpec:
    """Paths, digests and options that a render process needs to open the same merge and render its unsent rows."""

    template: str
    data: str
    template_digest: str
    data_digest: str
    suppressed: frozenset
    sender: str
    test_to: str
    test_count: int
    journal_file: str
    merge_id: str


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _items_from_process(spec: _RenderSpec, cancelled: threading.Event) -> Iterator[Outgoing]:
    """Start a render process for ``spec`` and yield the messages it sends, until it ends or ``cancelled`` is set."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_render_process_main, args=(spec, sender), name=f"merge-render-{spec.merge_id}",
                              daemon=True)
    process.start()
    sender.close()
    log.info("Merge %s: render process %s started", spec.merge_id, process.pid)
    try:
        while True:
            while not receiver.poll(0.2):
                if cancelled.is_set():
                    return
                if not process.is_alive() and not receiver.poll(0):
                    raise RuntimeError(f"the render process ended unexpectedly (exit code {process.exitcode})")
            try:
                kind, value = receiver.recv()
            except EOFError:
                raise RuntimeError(f"the render process ended unexpectedly (exit code {process.exitcode})") from None
            if kind == "items":
                yield from value
            elif kind == "end":
                return
            else:
                raise RuntimeError(value)
    finally:
        receiver.close()
        process.join(timeout=2)
        if process.is_alive():
            log.info("Merge %s: stopping render process %s", spec.merge_id, process.pid)
            process.terminate()
            process.join(timeout=5)


def _render_process_main(spec: _RenderSpec, connection) -> None:  # noqa: ANN001 - a multiprocessing Connection
    """Render the unsent rows of a merge in this process and send them over ``connection`` in batches."""
    from desktop.merge.errors import MergeError
    from desktop.merge.render import open_merge

    try:
        merge = open_merge(Path(spec.template), Path(spec.data), profile=None)
        if _digest(merge.template.source_bytes) != spec.template_digest or merge.table.digest != spec.data_digest:
            raise MergeError(f"{spec.template} or {spec.data} changed after the merge was opened; open the merge "
                             "again (check it) before sending.")
        merge.suppressed = set(spec.suppressed)
        renderer = _Renderer(merge, spec.sender, spec.test_to)
        batch: list[Outgoing] = []
        with jn.Journal(Path(spec.journal_file)) as journal:
            for item in renderer.items(journal, spec.merge_id, spec.test_count):
                batch.append(item)
                if len(batch) >= _PROCESS_BATCH:
                    connection.send(("items", batch))
                    batch = []
        connection.send(("items", batch))
        connection.send(("end", ""))
    except (BrokenPipeError, EOFError):
        return  # the send stopped and closed its end
    except Exception as error:  # noqa: BLE001 - sent to the sending process, which stops with it
        try:
            connection.send(("error", str(error) or repr(error)))
        except (BrokenPipeError, EOFError, OSError):
            pass
    finally:
        connection.close()


class _DoneRows:
    """Done rows of a merge, read from the journal one range of rows at a time as the rows go by in order."""

    SPAN = 1000

    def __init__(self, journal: jn.Journal, merge_id: str) -> None:
        self._journal = journal
        self._merge_id = merge_id
        self._first, self._last = 1, 0
        self._done: set[int] = set()

    def contains(self, number: int) -> bool:
        if not self._first <= number <= self._last:
            self._first, self._last = number, number + self.SPAN - 1
            self._done = self._journal.done_rows(self._merge_id, self._first, self._last)
        return number in self._done


def wire_bytes(rendered, message_id: str, date: str) -> bytes:
    """Return a rendered message as sent, with ``message_id`` and ``date`` set."""
    if hasattr(rendered, "as_bytes"):
        # The renderer keeps the wire format, so the two headers are put in front of it without a new serialisation.
        return rendered.as_bytes(message_id, date)
    return serialize(rendered.message, message_id, date)


def serialize(message: EmailMessage, message_id: str, date: str) -> bytes:
    """Serialise ``message`` for SMTP (CRLF, no Bcc) with ``message_id`` and ``date`` set."""
    for name, value in (("Message-ID", message_id), ("Date", date)):
        del message[name]
        message[name] = value
    del message["Bcc"]
    return message.as_bytes(policy=policy.SMTP)


def _mark_as_test(message: EmailMessage, address: str, number: int) -> None:
    subject = str(message.get("Subject", ""))
    del message["Subject"]
    message["Subject"] = f"{TEST_SUBJECT_MARK} {subject}".strip()
    del message[TEST_HEADER]
    message[TEST_HEADER] = f"row {number}, for {address}"


def options_from_dict(values: dict) -> SendOptions:
    """Rebuild SendOptions from ``SendOptions.as_dict()`` as stored in the journal."""
    rate = Rate(**values.get("rate", {}))
    base = SendOptions()
    return replace(base, connections=values.get("connections", base.connections), rate=rate,
                   max_attempts=values.get("max_attempts", base.max_attempts),
                   sent_copies=values.get("sent_copies", base.sent_copies),
                   test_to=values.get("test_to", ""), test_count=values.get("test_count", base.test_count))
