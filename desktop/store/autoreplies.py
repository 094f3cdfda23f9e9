"""The memory of sent auto-replies, a part of ``Store``: one row per account, rule and sender.

Owned by the auto-reply code; see ``desktop.rules.autoreply``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class AutoRepliesMixin:
    """The auto-reply methods of ``Store``; they use its connection."""
