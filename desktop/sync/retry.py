"""Exponential backoff with jitter for reconnecting to a server.

Delays double from ``base`` up to ``cap`` (1 s, 2 s, 4 s ... 5 minutes by
default). Each delay is spread at random over ±20 %, so clients that lost the
same server at the same moment do not all come back at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable

BASE_SECONDS = 1.0
CAP_SECONDS = 300.0
JITTER = 0.2


class Backoff:
    """Delays for successive retries of one operation.

    Attributes:
        attempts: Retries asked for since the last ``reset()``.
    """

    def __init__(self, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS, jitter: float = JITTER,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"invalid backoff: base {base} s and cap {cap} s; base must be positive and at most cap")
        if not 0 <= jitter < 1:
            raise ValueError(f"invalid backoff jitter {jitter}; use a fraction from 0 up to, not including, 1")
        self._base = base
        self._cap = cap
        self._jitter = jitter
        self._uniform = uniform
        self.attempts = 0

    def next_delay(self) -> float:
        """Return the seconds to wait before the next retry, and count the retry."""
        nominal = min(self._cap, self._base * 2 ** min(self.attempts, 64))
        self.attempts += 1
        spread = nominal * self._jitter
        return min(self._cap, max(0.0, nominal + self._uniform(-spread, spread)))

    def reset(self) -> None:
        """Start again from the base delay, after the operation succeeded."""
        self.attempts = 0
