"""The peers Sluice is measured against: mbsync (isync), offlineimap3 and notmuch.

Each gets a private configuration file inside the benchmark's work folder,
so the user's own ~/.mbsyncrc, ~/.offlineimaprc and ~/.notmuch-config are
never read.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import BenchError, ChildRun, run_child

log = logging.getLogger(__name__)

# Files mbsync keeps next to the mail; notmuch would warn about each one.
_MBSYNC_STATE_FILES = (".mbsyncstate", ".mbsyncstate.journal", ".mbsyncstate.new", ".mbsyncstate.lock", ".uidvalidity")


def require(program: str, package: str) -> str:
    """Return the path of ``program`` or raise BenchError naming the Debian package."""
    path = shutil.which(program)
    if path is None:
        raise BenchError(f"{program} is not installed; install the Debian package {package} (apt-get install {package}).")
    return path


@dataclass
class Mbsync:
    """One mbsync channel from an IMAP account to a local Maildir.

    Attributes:
        config: The private mbsyncrc.
        maildir: The local Maildir root the channel fills.
    """

    config: Path
    maildir: Path

    @classmethod
    def write(cls, folder: Path, *, host: str, port: int, user: str, password: str, fsync: bool = True) -> Mbsync:
        """Write an mbsyncrc under ``folder`` that pulls every folder of the account into ``folder/mail``."""
        folder.mkdir(parents=True, exist_ok=True)
        maildir = folder / "mail"
        maildir.mkdir()
        config = folder / "mbsyncrc"
        # isync 1.4 names the TLS setting SSLType; 1.5 renamed it TLSType.
        tls_keyword = "TLSType" if _mbsync_version() >= (1, 5) else "SSLType"
        config.write_text(
            f"FSync {'yes' if fsync else 'no'}\n\n"
            "IMAPAccount bench\n"
            f"Host {host}\nPort {port}\nUser {user}\nPass {password}\n"
            f"AuthMechs LOGIN\n{tls_keyword} None\n\n"
            "IMAPStore bench-far\nAccount bench\n\n"
            f"MaildirStore bench-near\nPath {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n\n"
            "Channel bench\nFar :bench-far:\nNear :bench-near:\nPatterns *\nCreate Near\nSyncState *\n",
            encoding="utf-8",
        )
        config.chmod(0o600)
        return cls(config=config, maildir=maildir)

    def sync(self, log_dir: Path) -> ChildRun:
        """Run ``mbsync --all`` once."""
        return run_child([require("mbsync", "isync"), "--config", str(self.config), "--all"], log_dir=log_dir)


def _mbsync_version() -> tuple[int, ...]:
    import subprocess

    output = subprocess.run(["mbsync", "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)\.(\d+)", output)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@dataclass
class Offlineimap:
    """One offlineimap3 account from an IMAP server to a local Maildir.

    Attributes:
        config: The private offlineimaprc.
        maildir: The local Maildir root the account fills.
    """

    config: Path
    maildir: Path

    @classmethod
    def write(cls, folder: Path, *, host: str, port: int, user: str, password: str, fsync: bool = True) -> Offlineimap:
        """Write an offlineimaprc under ``folder`` that pulls every folder of the account into ``folder/mail``.

        The settings not written here keep offlineimap3's defaults, among them
        ``maxconnections = 1`` and the SQLite status backend. ``fsync`` is its
        ``[general] fsync`` setting, on by default as in offlineimap3 itself.
        """
        folder.mkdir(parents=True, exist_ok=True)
        maildir = folder / "mail"
        maildir.mkdir()
        metadata = folder / "metadata"
        config = folder / "offlineimaprc"
        config.write_text(
            "[general]\n"
            f"accounts = bench\nmetadata = {metadata}\nfsync = {'true' if fsync else 'false'}\n\n"
            "[Account bench]\nlocalrepository = bench-local\nremoterepository = bench-remote\n\n"
            f"[Repository bench-local]\ntype = Maildir\nlocalfolders = {maildir}\n\n"
            "[Repository bench-remote]\ntype = IMAP\n"
            f"remotehost = {host}\nremoteport = {port}\nremoteuser = {user}\nremotepass = {password}\n"
            "ssl = no\nstarttls = no\n",
            encoding="utf-8",
        )
        config.chmod(0o600)
        return cls(config=config, maildir=maildir)

    def sync(self, log_dir: Path, *, timeout: float) -> ChildRun:
        """Run ``offlineimap -o -u quiet`` once; a run still going at ``timeout`` seconds is stopped and marked."""
        argv = [require("offlineimap", "offlineimap3"), "-c", str(self.config), "-o", "-u", "quiet"]
        return run_child(argv, log_dir=log_dir, timeout=timeout, allow_timeout=True)


@dataclass
class Notmuch:
    """A notmuch database on one Maildir, with its own config file.

    Attributes:
        config: The private notmuch config file.
        maildir: The Maildir root; the database is in its .notmuch folder.
        extra_env: Environment variables set for every notmuch run, such as TZ.
    """

    config: Path
    maildir: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def write(cls, folder: Path, maildir: Path) -> Notmuch:
        """Write a notmuch config under ``folder`` whose database sits in ``maildir/.notmuch``."""
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "notmuch-config"
        config.write_text(
            "[database]\n"
            f"path={maildir}\n\n"
            "[user]\nname=Bench User\nprimary_email=bench@example.com\n\n"
            "[new]\ntags=unread;inbox;\n"
            f"ignore={';'.join(_MBSYNC_STATE_FILES)};\n\n"
            "[search]\nexclude_tags=\n\n"
            "[maildir]\nsynchronize_flags=true\n",
            encoding="utf-8",
        )
        return cls(config=config, maildir=maildir)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env, "NOTMUCH_CONFIG": str(self.config)}

    def new(self, log_dir: Path) -> ChildRun:
        """Run ``notmuch new`` (indexes every file not yet in the database)."""
        return run_child([require("notmuch", "notmuch"), "new", "--quiet"], env=self.env, log_dir=log_dir, timeout=3600)

    def count(self, log_dir: Path, query: str = "*") -> int:
        run = run_child([require("notmuch", "notmuch"), "count", "--output=messages", query], env=self.env, log_dir=log_dir)
        try:
            return int(run.stdout.strip())
        except ValueError:
            raise BenchError(f"notmuch count printed {run.stdout.strip()!r}, expected a number.") from None


def count_maildir_messages(root: Path) -> int:
    """Count the message files in every cur/ and new/ folder under ``root``."""
    total = 0
    for directory, _subdirs, files in os.walk(root):
        if Path(directory).name in ("cur", "new"):
            total += len(files)
    return total
