"""The rule set that runs on new mail, kept valid while the user edits the files.

``active_rules`` loads the profile's rules folder. When every file loads
without problems, a copy of the files goes to the profile's data folder
(``rules-last-valid``). When any file has a problem, the rules of that copy
stay active, so a typo saved halfway through an edit neither stops sorting
nor runs half a rule set. The copy is replaced as a whole: the new files go
to a fresh folder that is then renamed into place, so a crash leaves either
the old copy or the new one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.paths import Profile

if TYPE_CHECKING:
    from desktop.rules.model import RuleSet
    from desktop.rules.problems import RuleProblem

log = logging.getLogger(__name__)

SNAPSHOT_FOLDER = "rules-last-valid"
# The suffix of rule files, as desktop.rules.loader reads them; repeated here to keep this module light.
_RULE_FILE_SUFFIX = ".toml"
_RETIRED_SUFFIX = ".old"
_NEW_SUFFIX = ".new"

# The watch loads rules on several threads; one snapshot update at a time.
_snapshot_lock = threading.Lock()


def rules_in_use(profile: Profile) -> bool:
    """Return whether the profile has rule files or a copy of earlier ones, without loading any.

    The rule modules import Whoosh through the search language, so a sync
    of a profile without rules checks this first and skips that import.
    """
    folder = profile.rules_dir
    has_files = folder.is_dir() and any(path.is_file() for path in folder.glob(f"*{_RULE_FILE_SUFFIX}"))
    return has_files or _readable_snapshot(profile) is not None


def active_rules(profile: Profile) -> tuple[RuleSet, list[RuleProblem]]:
    """Load the rules that run on new mail, and the problems of the rule files.

    Returns:
        Without problems: the rules of the profile's rules folder (none when
        the folder is missing or empty). With problems: the last rule set
        that loaded without problems, or no rules when there never was one,
        together with every problem found.
    """
    from desktop.rules.loader import collect_rules, rule_files
    from desktop.rules.model import RuleSet

    folder = profile.rules_dir
    if not folder.is_dir() or not rule_files(folder):
        _save_snapshot(profile, [])
        return RuleSet(), []
    ruleset, problems = collect_rules(folder)
    if not problems:
        _save_snapshot(profile, list(ruleset.files))
        return ruleset, []
    previous = load_snapshot(profile)
    if previous is None:
        log.warning("Rule files in %s have %d problem(s) and no earlier valid rules exist; no rules run", folder, len(problems))
        return RuleSet(), problems
    log.warning("Rule files in %s have %d problem(s); the %d rule(s) that last loaded without problems stay active",
                folder, len(problems), len(previous.rules))
    return previous, problems


def snapshot_dir(profile: Profile) -> Path:
    """Return the folder that contains the copy of the last rule files that loaded without problems."""
    return profile.data_dir / SNAPSHOT_FOLDER


def load_snapshot(profile: Profile) -> RuleSet | None:
    """Load the copy of the last valid rule files; None when there is none or it does not load cleanly.

    The rules carry the paths of the originals in the rules folder, so that
    messages and ``rules explain`` name the file the user edits.
    """
    from desktop.rules.loader import collect_rules

    with _snapshot_lock:
        folder = _readable_snapshot(profile)
        if folder is None:
            return None
        ruleset, problems = collect_rules(folder)
    if problems:
        # A newer program may reject what an older one accepted; then nothing from the copy runs.
        log.warning("The copy of the last valid rules in %s has %d problem(s) now, so it is not used: %s",
                    folder, len(problems), problems[0])
        return None
    return _with_original_paths(ruleset, profile.rules_dir)


def _readable_snapshot(profile: Profile) -> Path | None:
    current = snapshot_dir(profile)
    if current.is_dir():
        return current
    # A crash between the two renames of _save_snapshot leaves only the retired copy.
    retired = current.with_name(current.name + _RETIRED_SUFFIX)
    return retired if retired.is_dir() else None


def _with_original_paths(ruleset: RuleSet, rules_dir: Path) -> RuleSet:
    from desktop.rules.model import Rule, RuleSet

    def original(path: Path | None) -> Path | None:
        return rules_dir / path.name if path is not None else None

    rules: tuple[Rule, ...] = tuple(dataclasses.replace(rule, path=original(rule.path)) for rule in ruleset.rules)
    return RuleSet(rules, tuple(rules_dir / path.name for path in ruleset.files))


def _save_snapshot(profile: Profile, files: list[Path]) -> None:
    """Make the snapshot folder contain exactly ``files``, unless it does already.

    No files (an empty or missing rules folder) removes the snapshot, since
    an empty rule set needs no copy.
    """
    try:
        files_content = {path.name: path.read_bytes() for path in files}
    except OSError as error:
        log.warning("Cannot read the rule files to keep a copy of them: %s", error)
        return
    with _snapshot_lock:
        current = snapshot_dir(profile)
        if _snapshot_content(_readable_snapshot(profile)) == (files_content or None):
            return
        try:
            _replace_snapshot(current, files_content)
        except OSError as error:
            # The rules still run; only the fallback for a later broken edit is older than it should be.
            log.error("Cannot save a copy of the valid rule files in %s: %s", current, error)
            return
    log.info("Saved a copy of %d valid rule file(s) in %s", len(files_content), current)


def _snapshot_content(folder: Path | None) -> dict[str, bytes] | None:
    if folder is None:
        return None
    return {path.name: path.read_bytes() for path in sorted(folder.glob(f"*{_RULE_FILE_SUFFIX}")) if path.is_file()}


def _replace_snapshot(current: Path, files: dict[str, bytes]) -> None:
    fresh = current.with_name(current.name + _NEW_SUFFIX)
    retired = current.with_name(current.name + _RETIRED_SUFFIX)
    # A leftover new folder is never the valid copy; a retired one is, while the current one is missing.
    shutil.rmtree(fresh, ignore_errors=True)
    if current.is_dir():
        shutil.rmtree(retired, ignore_errors=True)
    if not files:
        shutil.rmtree(current, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
        return
    fresh.mkdir(parents=True, mode=0o700)
    for name, content in files.items():
        (fresh / name).write_bytes(content)
    if current.is_dir():
        os.rename(current, retired)
    os.rename(fresh, current)
    shutil.rmtree(retired, ignore_errors=True)
