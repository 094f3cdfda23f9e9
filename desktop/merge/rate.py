"""Rate limits of a merge send: per minute, per hour and per day, presets, pauses with jitter, slowing down.

``RateLimiter`` runs on the sender's asyncio loop. Every worker awaits
``acquire()`` before a message. The per-minute limit spaces messages evenly
(60/N seconds apart), and the hour and day limits count the messages sent in
a sliding window, in buckets of up to a minute, so memory does not grow with
the number of messages. Those windows are seeded with the account's earlier
sends from the journal, counted per minute, so a resumed merge keeps within
them. ``slow_down()``
halves the rate after a provider's "too many messages" reply and makes every
worker wait for a while.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
# Messages booked within this many seconds share one bucket of the hour and day windows.
_BUCKET_SECONDS = MINUTE


class RateError(ValueError):
    """A rate given by the user is invalid."""


@dataclass(frozen=True)
class Rate:
    """Limits on how fast a merge sends. 0 means no limit.

    Attributes:
        per_minute, per_hour, per_day: Maximum messages in any such window.
        pause_every: After this many messages, pause ``pause_seconds``.
        pause_seconds: Length of those pauses.
        jitter: Fraction (0 to 1) by which each spacing and pause varies at random.
    """

    per_minute: float = 0
    per_hour: int = 0
    per_day: int = 0
    pause_every: int = 0
    pause_seconds: float = 0.0
    jitter: float = 0.0

    def describe(self) -> str:
        parts = [f"{_number(value)}/{unit}" for value, unit in
                 ((self.per_minute, "min"), (self.per_hour, "h"), (self.per_day, "day")) if value]
        if self.pause_every:
            parts.append(f"a pause of {_number(self.pause_seconds)} s every {self.pause_every} messages")
        if self.jitter:
            parts.append(f"jitter {self.jitter:.0%}")
        return ", ".join(parts) if parts else "no limit"


# Published sending limits of common providers for a single mailbox sending over SMTP. Providers change these
# without notice and apply lower ones to new or suspicious accounts, so the presets stay a little below them.
# Sources (December 2026):
#   gmail, google-workspace: Google's "Gmail sending limits" (support.google.com/mail/answer/22839) and
#     "Gmail sending limits in Google Workspace" (support.google.com/a/answer/166852): 500 recipients per day
#     for a personal account, 2,000 messages per day for Workspace, both over a rolling 24 hours.
#   office365: Microsoft's "Exchange Online limits", sending limits (learn.microsoft.com/office365/
#     servicedescriptions/exchange-online-service-description/exchange-online-limits): 30 messages per minute
#     and 10,000 recipients per day.
#   yahoo: Yahoo Business Mail "SMTP sending limits" (help.yahoo.com, SLN17518): 500 messages per day.
# NOTE: outlook.com (personal) and Fastmail publish limits per plan that we could not confirm; use --rate there.
PRESETS: dict[str, Rate] = {
    "gmail": Rate(per_minute=20, per_day=450),
    "google-workspace": Rate(per_minute=30, per_day=1900),
    "office365": Rate(per_minute=25, per_day=9500),
    "yahoo": Rate(per_minute=20, per_day=450),
}

_RATE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": MINUTE, "min": MINUTE, "minute": MINUTE,
                 "h": HOUR, "hour": HOUR, "d": DAY, "day": DAY}


def parse_rate(text: str, base: Rate | None = None) -> Rate:
    """Parse ``N/min``, ``N/h``, ``N/day`` or a preset name into a Rate; several may be joined with commas.

    ``base`` supplies the limits that ``text`` does not set. Raises RateError
    naming the value and the accepted forms.
    """
    rate = base or Rate()
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        if part.lower() in PRESETS:
            preset = PRESETS[part.lower()]
            rate = Rate(preset.per_minute, preset.per_hour, preset.per_day, rate.pause_every, rate.pause_seconds,
                        rate.jitter)
            continue
        match = _RATE_PATTERN.match(part)
        if not match or float(match.group(1)) <= 0:
            presets = ", ".join(sorted(PRESETS))
            raise RateError(
                f"Rate {part!r} is invalid; write a positive number of messages per unit, such as 30/min, 500/h or "
                f"2000/day, or a provider preset: {presets}."
            )
        count, seconds = float(match.group(1)), _UNIT_SECONDS[match.group(2).lower()]
        if seconds <= MINUTE:
            rate = _replace(rate, per_minute=count * MINUTE / seconds)
        elif seconds == HOUR:
            rate = _replace(rate, per_hour=int(count))
        else:
            rate = _replace(rate, per_day=int(count))
    return rate


def _replace(rate: Rate, **changes: float) -> Rate:
    values = {**rate.__dict__, **changes}
    return Rate(**values)


def _number(value: float) -> str:
    return f"{value:g}"


class RateLimiter:
    """Spaces the messages of all connections of one send. Runs on one asyncio loop.

    The hour and day windows keep [first, last, count] buckets of messages
    booked within ``_BUCKET_SECONDS`` of each other. A bucket counts as sent
    at its last message, so it leaves a window up to a minute later than its
    first message would: the limits are kept, at worst a little late.

    Args:
        rate: The limits.
        earlier: (Unix time, count) pairs of messages the account sent before, for the hour and day windows; the
            messages of a pair count as sent at its time (``Journal.sent_counts`` gives the end of each minute).
        seed: Seeds the random numbers of the jitter, so that tests can repeat a run.
    """

    def __init__(self, rate: Rate, earlier: Iterable[tuple[float, int]] | None = None, *,
                 seed: int | None = None) -> None:
        self.rate = rate
        self._random = random.Random(seed)
        self._interval = MINUTE / rate.per_minute if rate.per_minute else 0.0
        self._next_slot = 0.0
        self._held_until = 0.0
        self._since_pause = 0
        self._lock = asyncio.Lock()
        self._windows = [_Window(seconds, limit) for seconds, limit in
                         ((HOUR, rate.per_hour), (DAY, rate.per_day)) if limit]
        offset = time.monotonic() - time.time()
        for moment, count in sorted(earlier or ()):
            for window in self._windows:
                window.add(moment + offset, count, new_bucket=True)
        self.slowdowns = 0
        # While ``acquire`` waits more than a minute for the hour or day window: the Unix time it waits for, and
        # which limit ("hourly" or "daily"). Read by other threads for the progress shown.
        self.waiting_until = 0.0
        self.waiting_for = ""

    @property
    def interval(self) -> float:
        """Seconds between two messages now; 0 when no per-minute limit applies."""
        return self._interval

    async def acquire(self) -> float:
        """Wait until the next message may go; return the seconds waited."""
        started = time.monotonic()
        async with self._lock:
            while True:
                delay = self._delay(time.monotonic())
                if delay <= 0:
                    break
                if delay > MINUTE:
                    self.waiting_for = self._long_wait_name(time.monotonic())
                    self.waiting_until = time.time() + delay
                await asyncio.sleep(delay)
            self.waiting_until, self.waiting_for = 0.0, ""
            now = time.monotonic()
            self._book(now)
        return time.monotonic() - started

    def _delay(self, now: float) -> float:
        delay = max(self._next_slot - now, self._held_until - now)
        for window in self._windows:
            delay = max(delay, window.delay(now))
        return delay

    def long_run_per_second(self) -> float:
        """Return the messages per second the limits allow over a long send (0 when nothing limits it)."""
        limits = [limit / seconds for limit, seconds in
                  ((self.rate.per_hour, HOUR), (self.rate.per_day, DAY)) if limit]
        if self._interval:
            limits.append(1 / self._interval)
        return min(limits) if limits else 0.0

    def _long_wait_name(self, now: float) -> str:
        longest = max(self._windows, key=lambda window: window.delay(now), default=None)
        if longest is None or longest.delay(now) <= MINUTE:
            return "pause"
        return "daily" if longest.seconds == DAY else "hourly"

    def _book(self, now: float) -> None:
        for window in self._windows:
            window.add(now, 1)
        if self._interval:
            self._next_slot = now + self._vary(self._interval)
        self._since_pause += 1
        if self.rate.pause_every and self._since_pause >= self.rate.pause_every:
            self._since_pause = 0
            self._held_until = max(self._held_until, now + self._vary(self.rate.pause_seconds))

    def _vary(self, seconds: float) -> float:
        if not self.rate.jitter:
            return seconds
        return seconds * (1 + self._random.uniform(-self.rate.jitter, self.rate.jitter))

    def slow_down(self, observed_per_minute: float, hold_seconds: float) -> float:
        """Halve the rate after a "too many messages" reply and hold every worker back; return the new interval.

        Without a per-minute limit the new rate is half of ``observed_per_minute``
        (the rate the server just refused), at least one message per minute.
        """
        self.slowdowns += 1
        if self._interval:
            self._interval *= 2
        else:
            self._interval = MINUTE / max(observed_per_minute / 2, 1.0)
        self._interval = min(self._interval, MINUTE)
        self._held_until = max(self._held_until, time.monotonic() + hold_seconds)
        log.warning("The server asked to send more slowly: now %.1f messages per minute after a pause of %.0f s",
                    MINUTE / self._interval, hold_seconds)
        return self._interval


class _Window:
    """The messages of a sliding window (an hour or a day) as [first, last, count] buckets, monotonic times."""

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds = seconds
        self.limit = limit
        self.total = 0
        self.buckets: collections.deque[list] = collections.deque()

    def add(self, moment: float, count: int, *, new_bucket: bool = False) -> None:
        last = self.buckets[-1] if self.buckets else None
        if last is not None and not new_bucket and moment - last[0] < _BUCKET_SECONDS:
            last[1] = max(last[1], moment)
            last[2] += count
        else:
            self.buckets.append([moment, moment, count])
        self.total += count

    def delay(self, now: float) -> float:
        """Return the seconds until one more message fits in the window (0 when it fits now)."""
        while self.buckets and self.buckets[0][1] <= now - self.seconds:
            self.total -= self.buckets.popleft()[2]
        if self.total < self.limit:
            return 0.0
        # The oldest buckets leave first; wait until enough of them left for one more message.
        left = self.total
        for _, last, count in self.buckets:
            left -= count
            if left < self.limit:
                return last + self.seconds - now
        return self.seconds
