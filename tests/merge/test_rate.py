"""Rate limits of a merge send: parsing, presets, spacing, hour and day windows, slowing down."""

from __future__ import annotations

import asyncio
import time

import pytest

from desktop.merge import journal as jn
from desktop.merge.rate import PRESETS, Rate, RateError, RateLimiter, parse_rate


@pytest.mark.parametrize(("text", "expected"), [
    ("30/min", Rate(per_minute=30)),
    ("2/s", Rate(per_minute=120)),
    ("500/h", Rate(per_hour=500)),
    ("2000/day", Rate(per_day=2000)),
    ("20/min, 400/h, 1000/d", Rate(per_minute=20, per_hour=400, per_day=1000)),
    ("office365", PRESETS["office365"]),
    ("gmail,10/min", Rate(per_minute=10, per_day=PRESETS["gmail"].per_day)),
])
def test_parse_rate_forms(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["30", "0/min", "-3/min", "30/week", "hotmail"])
def test_parse_rate_rejects_with_forms(text):
    with pytest.raises(RateError) as caught:
        parse_rate(text)

    message = str(caught.value)
    assert repr(text.strip()) in message
    assert "30/min" in message
    assert "office365" in message


def test_parse_rate_keeps_pauses():
    base = Rate(pause_every=50, pause_seconds=30, jitter=0.2)

    rate = parse_rate("10/min", base)

    assert (rate.per_minute, rate.pause_every, rate.pause_seconds, rate.jitter) == (10, 50, 30, 0.2)


def test_presets_have_daily_limits():
    assert all(preset.per_day > 0 and preset.per_minute > 0 for preset in PRESETS.values())


def acquire_times(limiter: RateLimiter, count: int) -> list[float]:
    async def run() -> list[float]:
        moments = []
        for _ in range(count):
            await limiter.acquire()
            moments.append(time.monotonic())
        return moments

    return asyncio.run(run())


def test_per_minute_spaces_messages():
    moments = acquire_times(RateLimiter(Rate(per_minute=1200)), 5)

    gaps = [later - earlier for earlier, later in zip(moments, moments[1:])]
    assert all(gap >= 0.045 for gap in gaps), gaps


def test_no_limit_does_not_wait():
    limiter = RateLimiter(Rate())

    moments = acquire_times(limiter, 50)

    assert limiter.interval == 0
    assert moments[-1] - moments[0] < 1.0


def test_hour_window_counts_earlier_sends():
    earlier = [(time.time() - 120, 1), (time.time() - 60, 1)]
    limiter = RateLimiter(Rate(per_hour=3), earlier)

    async def run() -> str:
        await limiter.acquire()
        try:
            await asyncio.wait_for(limiter.acquire(), 0.3)
        except asyncio.TimeoutError:
            return "held"
        return "sent"

    assert asyncio.run(run()) == "held"


def test_old_sends_leave_window():
    limiter = RateLimiter(Rate(per_hour=2), [(time.time() - 4000, 1), (time.time() - 3700, 1)])

    moments = acquire_times(limiter, 2)

    assert moments[1] - moments[0] < 0.5


def test_day_window_counts_earlier_minutes():
    limiter = RateLimiter(Rate(per_day=500), [(time.time() - 7200, 300), (time.time() - 30, 200)])

    async def run() -> str:
        try:
            await asyncio.wait_for(limiter.acquire(), 0.3)
        except asyncio.TimeoutError:
            return "held"
        return "sent"

    assert asyncio.run(run()) == "held"


def test_windows_keep_buckets_not_times():
    limiter = RateLimiter(Rate(per_hour=100_000, per_day=100_000))

    acquire_times(limiter, 5000)

    # 5,000 messages within a few seconds share one bucket per window.
    assert [len(window.buckets) for window in limiter._windows] == [1, 1]
    assert [window.total for window in limiter._windows] == [5000, 5000]


def test_journal_sent_counts_per_minute(tmp_path):
    with jn.Journal(tmp_path / jn.JOURNAL_NAME) as journal:
        record = journal.create_merge(kind=jn.KIND_SEND, merge_key="k", template="/t.md", data="/d.csv",
                                      account="work", options={}, total=30)
        journal.claim(record.id, [(row, f"{row}:k", f"u{row}@example.org", f"<{row}@x>", "date")
                                  for row in range(1, 31)])
        journal.mark_done_many(record.id, [(row, jn.SENT, "250 OK") for row in range(1, 31)])

        counts = journal.sent_counts("work", time.time() - 3600)
        other = journal.sent_counts("other", 0)

    assert sum(count for _, count in counts) == 30
    assert 1 <= len(counts) <= 2  # the 30 rows may straddle a minute
    assert all(end % 60 == 0 and end > time.time() - 60 for end, _ in counts)
    assert other == []


def test_pause_every_holds():
    moments = acquire_times(RateLimiter(Rate(pause_every=2, pause_seconds=0.2)), 3)

    assert moments[1] - moments[0] < 0.1
    assert moments[2] - moments[1] >= 0.18


def test_jitter_varies_spacing():
    limiter = RateLimiter(Rate(per_minute=600, jitter=0.5), seed=7)

    moments = acquire_times(limiter, 6)

    gaps = [round(later - earlier, 3) for earlier, later in zip(moments, moments[1:])]
    assert all(0.045 <= gap <= 0.2 for gap in gaps), gaps
    assert len(set(gaps)) > 1


def test_slow_down_halves_rate():
    limiter = RateLimiter(Rate(per_minute=60))

    assert limiter.slow_down(observed_per_minute=60, hold_seconds=0) == pytest.approx(2.0)
    assert limiter.slow_down(observed_per_minute=30, hold_seconds=0) == pytest.approx(4.0)
    assert limiter.slowdowns == 2


def test_slow_down_without_limit_uses_observed_rate():
    limiter = RateLimiter(Rate())

    interval = limiter.slow_down(observed_per_minute=600, hold_seconds=0)

    assert interval == pytest.approx(0.2)


def test_slow_down_holds_every_acquire():
    limiter = RateLimiter(Rate())
    limiter.slow_down(observed_per_minute=6000, hold_seconds=0.25)

    started = time.monotonic()
    acquire_times(limiter, 1)

    assert time.monotonic() - started >= 0.2


def test_describe_lists_limits():
    rate = Rate(per_minute=20, per_day=450, pause_every=50, pause_seconds=30, jitter=0.25)

    assert rate.describe() == "20/min, 450/day, a pause of 30 s every 50 messages, jitter 25%"
    assert Rate().describe() == "no limit"
