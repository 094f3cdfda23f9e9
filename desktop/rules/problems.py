"""Problems found in rule files, reported all at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuleProblem:
    """One problem in a rule file.

    Attributes:
        path: The rule file.
        line: 1-based line the problem is on.
        rule: Name of the rule it is in, or None outside any rule or before the
            rule's name is known.
        message: What is wrong and what to write instead.
    """

    path: Path
    line: int
    rule: str | None
    message: str

    def __str__(self) -> str:
        where = f"rule '{self.rule}': " if self.rule else ""
        return f"{self.path}:{self.line}: {where}{self.message}"


class RuleFileError(ValueError):
    """One or more rule files are invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[RuleProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def closest(word: str, choices: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def unknown_key_message(key: str, known: Iterable[str], what: str) -> str:
    """Build the message for an unknown key, with a suggestion and the known keys."""
    known = list(known)
    return f"Unknown {what} '{key}'.{closest(key, known)} Known {what}s: {', '.join(known)}."
