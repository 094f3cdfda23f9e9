"""Worker tasks that fail on purpose, for the index worker tests.

They live in their own module because the worker processes import a task by its
qualified name.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop.index.worker_pool import ParseItem, StagedBatch, stage_items


def exit_worker(staging_dir: Path, items: list[ParseItem]) -> StagedBatch:
    """End the worker process at once, as a crash would."""
    os._exit(3)


def fail_first_message(staging_dir: Path, items: list[ParseItem]) -> StagedBatch:
    """Stage every message but the first, and report the first as unparseable."""
    staged = stage_items(staging_dir, items[1:])
    return StagedBatch(staged.segment, [0])
