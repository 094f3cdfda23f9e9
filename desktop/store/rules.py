"""Rule results, priority, lanes and undoable bulk actions, a part of ``Store``.

Owned by the rule engine; see ``desktop.rules.engine``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class RulesMixin:
    """The rule and bulk-action methods of ``Store``; they use its connection."""
