"""Rate limits of a merge send: parsing, presets, spacing, hour and day windows, slowing down."""

from __future__ import annotations

import asyncio
import time

import pytest

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
    earlier = [time.time() - 120, time.time() - 60]
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
    limiter = RateLimiter(Rate(per_hour=2), [time.time() - 4000, time.time() - 3700])

    moments = acquire_times(limiter, 2)

    assert moments[1] - moments[0] < 0.5


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
