"""Where a profile keeps its config, store, index and rules.

A profile is one folder tree. By default it follows the platform's conventions
(platformdirs); ``SLUICE_HOME=DIR`` or ``--home DIR`` puts all of it under DIR,
so tests and power users can keep separate profiles side by side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "sluice"
HOME_ENV = "SLUICE_HOME"


@dataclass(frozen=True)
class Profile:
    """The folders of one profile.

    Attributes:
        config_dir: Holds ``config.toml``.
        data_dir: Holds the SQLite store and the index.
        rules_dir: Holds the user's rule files.
    """

    config_dir: Path
    data_dir: Path
    rules_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def store_file(self) -> Path:
        return self.data_dir / "store.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "sluice.log"

    def ensure(self) -> Profile:
        """Create the profile's folders, readable by the owner only."""
        for folder in (self.config_dir, self.data_dir, self.rules_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def profile_at(home: Path) -> Profile:
    """Return the profile kept entirely under ``home``."""
    home = home.expanduser().resolve()
    return Profile(config_dir=home, data_dir=home, rules_dir=home / "rules")


def default_profile(home: str | os.PathLike[str] | None = None) -> Profile:
    """Return the profile chosen by ``home``, ``SLUICE_HOME`` or the platform."""
    chosen = home or os.environ.get(HOME_ENV)
    if chosen:
        return profile_at(Path(chosen))
    config_dir = Path(platformdirs.user_config_dir(APP_NAME))
    return Profile(
        config_dir=config_dir,
        data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        rules_dir=config_dir / "rules",
    )


def demo_profile() -> Profile:
    """Return the profile that contains the demo mailbox, apart from real accounts."""
    return profile_at(Path(platformdirs.user_data_dir(APP_NAME)) / "demo")


def resource_path(*parts: str) -> Path:
    """Return the path of a file shipped in ``resources/``."""
    from importlib import resources  # imported here: it costs about 6 ms, which a plain sync does not need

    root = resources.files("desktop.resources")
    return Path(str(root.joinpath(*parts)))
