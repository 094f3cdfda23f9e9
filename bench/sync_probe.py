"""Run ``sluice sync`` and record when each phase of the sync first and last appeared.

Usage: ``python bench/sync_probe.py TIMES_FILE -- SLUICE_ARGS...``. The
command line runs exactly as ``python -m desktop SLUICE_ARGS`` would, but
``desktop.sync.service.sync_profile`` is wrapped so that the wall-clock time
(``time.time()``) of every progress step is noted. At the end the first and
last time of each phase go to TIMES_FILE as one JSON object, together with
the time the list became usable (``list_ready``, see ``list_ready_time``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

# Phases that start only once every message's headers are in the store. A sync
# that fetches headers first reports "bodies" while it downloads the bodies. A
# sync that fetches whole messages reaches "index" only after its fetch phase.
LIST_READY_PHASES = ("bodies", "index")


class PhaseClock:
    """The first and last wall-clock time of each progress phase seen."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def note(self, phase: str) -> None:
        now = time.time()
        self.first.setdefault(phase, now)
        self.last[phase] = now

    def list_ready_time(self) -> float | None:
        """Return when the message list became usable: the first "bodies" or "index" step, whichever came first."""
        times = [self.first[phase] for phase in LIST_READY_PHASES if phase in self.first]
        return min(times) if times else None

    def as_dict(self) -> dict[str, object]:
        return {"first": self.first, "last": self.last, "list_ready": self.list_ready_time(), "end": time.time()}


def timed(generator_function, clock: PhaseClock):
    """Wrap a progress generator function so that every step it yields is noted in ``clock``."""
    def wrapper(*args, **kwargs) -> Iterator:
        for step in generator_function(*args, **kwargs):
            clock.note(step.phase)
            yield step
    return wrapper


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python bench/sync_probe.py TIMES_FILE -- SLUICE_ARGS...", file=sys.stderr)
        return 2
    times_file = Path(argv[0])
    from desktop import cli
    from desktop.sync import service

    clock = PhaseClock()
    # The command line imports sync_profile from the module when the sync command runs, so it gets the wrapper.
    service.sync_profile = timed(service.sync_profile, clock)
    try:
        return cli.main(argv[2:])
    finally:
        times_file.write_text(json.dumps(clock.as_dict()), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
