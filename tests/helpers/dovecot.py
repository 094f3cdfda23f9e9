"""A private Dovecot IMAP server on 127.0.0.1 for tests and benchmarks.

Each DovecotServer runs the packaged ``dovecot`` binary with a configuration file of
its own, so /etc/dovecot and any system service stay untouched. Configuration,
sockets, state, log, passwd-files and mail all live under one root folder.

Run as root, Dovecot rejects mail access as root, so each mail user gets a numeric
uid and gid from 60001 up that needs no system account. Run as any other user,
Dovecot cannot switch uids, so every process and every mail user runs as that user.

This module does not import pytest, because the benchmarks in bench/ use it too.
"""

from __future__ import annotations

import atexit
import grp
import itertools
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from types import TracebackType

from imapclient.imap_utf7 import encode as encode_modified_utf7

logger = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install dovecot-imapd"
"""The command that installs the dovecot binary on Debian and Ubuntu."""

FIRST_MAIL_UID = 60001
LAST_MAIL_UID = 60999
"""The uid and gid range given to mail users when the server runs as root."""

MAILDIR_FLAGS = "DFPRST"
"""Maildir flag letters: Draft, Flagged, Passed (forwarded), Replied, Seen, Trashed."""

_SPECIAL_USE_FOLDERS = (
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)

# Dovecot's default auth_username_chars. A leading dot is rejected as well, because
# the name becomes a folder name under the server root.
_USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]*")

# Paths go unquoted into dovecot.conf, the passwd-files (":"-separated) and the
# passwd-file args (space-separated, with %-variables expanded), so these would break them.
_UNSAFE_PATH_CHARACTERS = frozenset(' \t\r\n"\\%:#')

_PORT_ATTEMPTS = 3
_POLL_INTERVAL_SECONDS = 0.05
_STOP_GRACE_SECONDS = 10.0
_KILL_WAIT_SECONDS = 5.0
_LEFTOVER_GRACE_SECONDS = 2.0
_LOG_TAIL_MAX_BYTES = 256 * 1024

_CONFIG_TEMPLATE = Template(
    """\
# Configuration of one private test server, written by tests/helpers/dovecot.py.
instance_name = $instance_name
base_dir = $base_dir
state_dir = $state_dir
log_path = $log_path
info_log_path = $log_path
debug_log_path = $log_path

listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login$oauth2_mechanisms
auth_verbose = yes
# Reply to a failed login within 0.5 s, the interval of Dovecot's check, instead of after 2 s.
auth_failure_delay = 0

$process_accounts
first_valid_uid = $first_uid
last_valid_uid = $last_uid
first_valid_gid = $first_gid
last_valid_gid = $last_gid

# One passwd-file per user: the auth process opens a new user's file at the first
# login. A single shared file would be re-read only when the auth process last
# checked it in an earlier second, so a user added right after a login would stay
# unknown for up to 1 s.
passdb {
  driver = passwd-file
  args = $passwd_dir/%u$passwd_mechanisms
}
$oauth2_passdb
userdb {
  driver = passwd-file
  args = $passwd_dir/%u
}

mail_location = maildir:~/Maildir$mail_layout
# Test mail never needs to survive a power loss, and fsync slows every write.
mail_fsync = never

protocol imap {
  # The default of 10 is easy to reach with parallel connections of one test user.
  mail_max_userip_connections = 100
}

service imap-login {
$chroot_line  inet_listener imap {
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}

service anvil {
$chroot_line  # Mode 0 creates no socket. The auth process then turns off its per-IP
  # penalty, which would otherwise delay every login from 127.0.0.1 by 2 to 15 s
  # after one failed login. A stale socket from an earlier run would make the auth
  # process retry for 5 s, so start() empties base_dir first.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

$namespace
"""
)


class DovecotError(RuntimeError):
    """Dovecot could not be prepared, started or stopped.

    The message names the step that failed, the fix, and ends with Dovecot's log tail.
    """


@dataclass(frozen=True)
class DovecotUser:
    """A mail account on a DovecotServer.

    Attributes:
        name: IMAP login name.
        password: IMAP password, a throwaway test value.
        home: the user's home folder.
        maildir: root of the user's Maildir, which is the INBOX.
        uid: numeric uid that owns home and maildir, and that Dovecot's mail process runs as.
        gid: numeric gid that owns home and maildir.
    """

    name: str
    password: str = field(repr=False)
    home: Path
    maildir: Path
    uid: int
    gid: int


def find_dovecot() -> str | None:
    """Return the path of the dovecot binary, or None when it is not installed.

    PATH is searched first, then the sbin folders, which a non-root PATH often lacks.
    """
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class DovecotServer:
    """A private Dovecot IMAP server on 127.0.0.1, kept in a root folder it owns.

    Use it as a context manager, or call start() and stop(). Users can be added
    before or after start(). Logins use plain-text passwords without TLS.

    Attributes:
        root: folder that contains everything the server writes.
        host: address the server listens on, always "127.0.0.1".
        port: IMAP port, picked by start(), or 0 before the first start().
        special_use: whether Sent, Drafts, Trash, Junk and Archive exist with
            their RFC 6154 special-use attributes.
        config_path: generated dovecot.conf.
        log_path: Dovecot's log file, for errors and info lines alike.
        passwd_dir: folder with one passwd-file per user, named after the user,
            that serves as passdb and userdb.
    """

    def __init__(
        self,
        root: Path,
        *,
        special_use: bool = True,
        separator: str = "/",
        index_layout: bool = False,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        """Prepare a server in root, which must be missing or empty.

        Args:
            root: folder for everything the server writes.
            special_use: create Sent, Drafts, Trash, Junk and Archive with their
                special-use attributes.
            separator: the hierarchy delimiter of the inbox namespace, "/" or ".".
            index_layout: keep folder names in Dovecot's index (``LAYOUT=index``)
                instead of Maildir++ directory names, so that a name may contain
                "/" on a server whose delimiter is ".". write_maildir_message()
                then works for INBOX only.
            oauth2_introspection_url: when set, the server also accepts OAUTHBEARER
                and XOAUTH2 logins and checks each token by POSTing ``token=...``
                to this URL (RFC 7662 token introspection). The reply must be a JSON
                object with ``"active": true`` and ``"username"`` equal to the login
                name. Password logins keep working.

        Raises:
            ValueError: root is not empty, or its path contains a character that
                Dovecot's configuration or passwd-files cannot take.
        """
        self.root = Path(root).resolve()
        _check_root_path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        if any(self.root.iterdir()):
            raise ValueError(
                f"server root {self.root} is not empty. Pass a new or empty folder, "
                "because the server writes its configuration, sockets and mail there."
            )

        if separator not in ("/", "."):
            raise ValueError(f"separator {separator!r} is invalid; use '/' or '.'.")
        if oauth2_introspection_url is not None and any(c in oauth2_introspection_url for c in ' \t\r\n"#'):
            raise ValueError(f"oauth2_introspection_url {oauth2_introspection_url!r} contains a space, quote or '#'.")
        self.special_use = special_use
        self.separator = separator
        self.index_layout = index_layout
        self.oauth2_introspection_url = oauth2_introspection_url
        self.oauth2_config_path = self.root / "oauth2.conf"
        self.host = "127.0.0.1"
        self.port = 0
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.passwd_dir = self.root / "passwd"
        self._base_dir = self.root / "run"
        self._state_dir = self.root / "state"
        self._home_root = self.root / "home"
        self._startup_output_path = self.root / "dovecot-start.out"
        self._instance_name = f"sluice-test-{uuid.uuid4().hex[:12]}"
        self._as_root = os.geteuid() == 0
        self._users: dict[str, DovecotUser] = {}
        self._pid: int | None = None
        self._pgid: int | None = None

        self._home_root.mkdir(mode=0o711)
        self._state_dir.mkdir(mode=0o750)
        self.passwd_dir.mkdir(mode=0o700)

    @property
    def pid(self) -> int | None:
        """Dovecot master process id while the server runs, else None."""
        return self._pid

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 15.0) -> None:
        """Write the configuration, start Dovecot and wait for its "* OK" greeting.

        Args:
            timeout: seconds to wait for the whole startup.

        Raises:
            DovecotError: the binary or its system accounts are missing, Dovecot
                rejected the configuration, or no greeting came within timeout.
        """
        if self._pid is not None:
            raise DovecotError(
                f"Dovecot in {self.root} is already running with master pid {self._pid}.\n"
                "Fix: call stop() before start()"
            )
        binary = find_dovecot()
        if binary is None:
            raise DovecotError(
                "dovecot binary not found in PATH, /usr/sbin or /usr/local/sbin.\n"
                f"Fix: install it with: {INSTALL_HINT}"
            )

        began = time.monotonic()
        deadline = began + timeout
        self._check_system_accounts()
        if self._as_root:
            self._make_root_searchable()
        self._share_with_auth_process(self.passwd_dir)

        try:
            self._launch_on_free_port(binary, deadline)
            pid = self._wait_until_ready(deadline, timeout)
        except DovecotError:
            # A master may run even though startup failed, for example after a timeout.
            self.stop()
            raise

        self._pid = pid
        self._pgid = _own_process_group(pid)
        atexit.register(self.stop)
        logger.info(
            "Started Dovecot on %s:%d (master pid %d, root %s) in %.2f s",
            self.host,
            self.port,
            pid,
            self.root,
            time.monotonic() - began,
        )

    def stop(self) -> None:
        """Stop Dovecot by the master pid in base_dir/master.pid.

        Sends SIGTERM and waits up to 10 s, then sends SIGKILL to the master's
        process group. Processes that outlive the master, such as the imap process
        of a client still logged in, get SIGTERM and after 2 s SIGKILL. Returns once
        no process of the server is left, which takes about 1.1 s because the
        Dovecot 2.3 master sleeps 1 s during a clean shutdown. Calling it again,
        or before start(), does nothing.

        Raises:
            DovecotError: a Dovecot process survived SIGKILL.
        """
        pid = self._pid or _read_pid(self._base_dir / "master.pid")
        pgid = self._pgid
        self._pid = None
        self._pgid = None
        atexit.unregister(self.stop)
        if pid is None or not self._is_own_master(pid):
            return
        if pgid is None:
            pgid = _own_process_group(pid)

        _send_signal(pid, signal.SIGTERM)
        if not _wait_until_exited(pid, _STOP_GRACE_SECONDS):
            logger.warning(
                "Dovecot master %d ignored SIGTERM for %.0f s, so sending SIGKILL",
                pid,
                _STOP_GRACE_SECONDS,
            )
            _kill_group_or_process(pid, pgid)
            if not _wait_until_exited(pid, _KILL_WAIT_SECONDS):
                raise self._error("stopping", f"master pid {pid} survived SIGKILL", f"end it with: kill -9 {pid}")
        if pgid is not None:
            self._end_leftover_processes(pgid)
        logger.info("Stopped Dovecot on %s:%d (master pid %d)", self.host, self.port, pid)

    def add_user(self, name: str, password: str) -> DovecotUser:
        """Create a mail account with an empty Maildir, usable at once, also while the server runs.

        Raises:
            ValueError: the name is invalid or taken, or the password is empty or
                contains ":" or a line break.
        """
        _validate_username(name)
        if name in self._users:
            raise ValueError(f"user {name!r} already exists on the server in {self.root}. Pick another name.")
        _validate_password(password)

        uid, gid = self._next_ids(name)
        home = self._home_root / name
        user = DovecotUser(name=name, password=password, home=home, maildir=home / "Maildir", uid=uid, gid=gid)
        self._create_home(user)
        self._write_passwd_file(user)
        self._users[name] = user
        logger.debug("Added mail user %s with uid %d", name, uid)
        return user

    def maildir(self, user: str) -> Path:
        """Return the Maildir root of user.

        Raises:
            KeyError: no user of that name was added.
        """
        try:
            return self._users[user].maildir
        except KeyError:
            raise KeyError(f"no user {user!r} on the server in {self.root}. Add it with add_user() first.") from None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of Dovecot's log, or "" before Dovecot wrote any."""
        if lines <= 0:
            return ""
        try:
            with self.log_path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(size - _LOG_TAIL_MAX_BYTES, 0))
                data = log.read()
        except FileNotFoundError:
            return ""
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    def _end_leftover_processes(self, pgid: int) -> None:
        """End the processes of the server's group that outlived the master.

        Dovecot 2.3.19 leaves the imap process of a client that is still logged in
        running after the master exits, together with the log and stats processes.
        The group id cannot belong to anyone else while such a process is alive.
        """
        if not _group_alive(pgid):
            return
        logger.debug("Ending Dovecot processes %s left after the master exited", _live_group_members(pgid))
        _signal_group(pgid, signal.SIGTERM)
        if _wait_until_group_exited(pgid, _LEFTOVER_GRACE_SECONDS):
            return
        _signal_group(pgid, signal.SIGKILL)
        if not _wait_until_group_exited(pgid, _KILL_WAIT_SECONDS):
            raise self._error(
                "stopping",
                f"processes of group {pgid} survived SIGKILL after the master exited",
                f"list them with: ps -o pid,args -g {pgid}",
            )

    # Startup steps

    def _check_system_accounts(self) -> None:
        if not self._as_root:
            self._current_account_names()
            return
        for account in ("dovenull", "dovecot"):
            try:
                pwd.getpwnam(account)
            except KeyError:
                raise DovecotError(
                    f"Dovecot's system user {account!r} is missing.\n"
                    "Fix: reinstall the package that creates it: apt-get install --reinstall dovecot-core"
                ) from None
        _dovecot_gid()

    def _make_root_searchable(self) -> None:
        """Add o+x to root and its parents where it is missing.

        The auth process (user dovecot) reads the passwd-file and each mail process
        runs as its user's uid, so neither gets through a folder closed to other
        users, such as pytest's 0700 temp folders. Folders owned by someone else
        are left alone and reported instead.
        """
        euid = os.geteuid()
        for directory in (self.root, *self.root.parents):
            status = directory.stat()
            if status.st_mode & stat.S_IXOTH:
                continue
            if status.st_uid != euid:
                raise DovecotError(
                    f"Dovecot cannot reach {self.root}: folder {directory} (mode "
                    f"{stat.S_IMODE(status.st_mode):04o}, owner uid {status.st_uid}) lacks search (x) "
                    "permission for other users, and Dovecot's auth and mail processes run as other users.\n"
                    f"Fix: chmod o+x {directory}, or put the server root under a folder that "
                    "other users can search, such as the system temp folder"
                )
            os.chmod(directory, stat.S_IMODE(status.st_mode) | stat.S_IXOTH)
            logger.info("Added o+x to %s so that Dovecot's auth and mail processes reach %s", directory, self.root)

    def _launch_on_free_port(self, binary: str, deadline: float) -> None:
        # Another process can take the free port between the probe and Dovecot's bind.
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.port = _pick_free_port(self.host)
            if self._launch(binary, deadline):
                return
            logger.debug("Port %d was taken before Dovecot bound it (attempt %d)", self.port, attempt)
        raise self._error(
            "binding the IMAP port",
            f"{_PORT_ATTEMPTS} free ports in a row were taken before Dovecot could bind them",
            "retry later, because some other process keeps taking ports on 127.0.0.1",
        )

    def _launch(self, binary: str, deadline: float) -> bool:
        """Run ``dovecot -c CONF``, which forks the master into the background.

        Returns:
            False if the port was already in use, True once the master was forked.
        """
        self.config_path.write_text(self._render_config(), encoding="utf-8")
        self._reset_base_dir()
        command = [binary, "-c", str(self.config_path)]
        remaining = max(deadline - time.monotonic(), 1.0)

        # Output goes to a file, not a pipe, because the forked master keeps the pipe
        # open and subprocess.run() would wait for it until the timeout.
        with self._startup_output_path.open("w+b") as output:
            try:
                result = subprocess.run(
                    command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, timeout=remaining, check=False
                )
            except subprocess.TimeoutExpired:
                raise self._error(
                    "starting", f"{' '.join(command)} did not return within {remaining:.1f} s", "read the log lines below"
                ) from None
            output.seek(0)
            message = output.read().decode("utf-8", "replace").strip()

        if result.returncode == 0:
            return True
        if "Address already in use" in message:
            return False
        raise self._error(
            "starting",
            f"{' '.join(command)} exited with status {result.returncode}: {message}",
            f"correct the setting that the output names, and check the result with: doveconf -n -c {self.config_path}",
        )

    def _reset_base_dir(self) -> None:
        """Empty base_dir, after stopping a master of this root that stop() missed."""
        pid = _read_pid(self._base_dir / "master.pid")
        if pid is not None and self._is_own_master(pid):
            logger.warning("Stopping an earlier Dovecot master %d of %s before starting again", pid, self.root)
            self._pid = pid
            self.stop()
        shutil.rmtree(self._base_dir, ignore_errors=True)
        self._base_dir.mkdir(mode=0o755)

    def _wait_until_ready(self, deadline: float, timeout: float) -> int:
        """Return the master pid once the IMAP port sends its "* OK" greeting."""
        pid_file = self._base_dir / "master.pid"
        while True:
            pid = _read_pid(pid_file)
            if pid is not None and not _process_running(pid):
                raise self._error("starting", f"master pid {pid} exited during startup", "read the log lines below")
            if pid is not None and self._greeting_received():
                return pid
            if time.monotonic() >= deadline:
                raise self._error(
                    "waiting for the IMAP greeting",
                    f'no "* OK" greeting from {self.host}:{self.port} within {timeout:g} s',
                    "read the log lines below, and on a slow machine pass a larger timeout to start()",
                )
            time.sleep(_POLL_INTERVAL_SECONDS)

    def _greeting_received(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as connection:
                greeting = _receive_line(connection)
        except OSError:
            return False
        if greeting.startswith(b"* OK"):
            return True
        raise self._error(
            "waiting for the IMAP greeting",
            f"{self.host}:{self.port} greeted with {greeting[:200]!r} instead of '* OK'",
            "read the log lines below",
        )

    # Configuration and accounts

    def _render_config(self) -> str:
        if self._as_root:
            process_accounts = "default_login_user = dovenull\ndefault_internal_user = dovecot"
            first_uid, last_uid = FIRST_MAIL_UID, LAST_MAIL_UID
            first_gid, last_gid = FIRST_MAIL_UID, LAST_MAIL_UID
            chroot_line = ""
        else:
            user_name, group_name = self._current_account_names()
            process_accounts = (
                f"default_login_user = {user_name}\n"
                f"default_internal_user = {user_name}\n"
                f"default_internal_group = {group_name}"
            )
            first_uid = last_uid = os.getuid()
            first_gid = last_gid = os.getgid()
            # The login and anvil services chroot() by default, which only root may do.
            chroot_line = "  chroot =\n"
        return _CONFIG_TEMPLATE.substitute(
            instance_name=self._instance_name,
            base_dir=self._base_dir,
            state_dir=self._state_dir,
            log_path=self.log_path,
            process_accounts=process_accounts,
            first_uid=first_uid,
            last_uid=last_uid,
            first_gid=first_gid,
            last_gid=last_gid,
            passwd_dir=self.passwd_dir,
            port=self.port,
            chroot_line=chroot_line,
            namespace=self._render_namespace(),
            mail_layout=":LAYOUT=index" if self.index_layout else "",
            **self._render_oauth2(),
        )

    def _render_oauth2(self) -> dict[str, str]:
        """Return the OAuth 2.0 parts of dovecot.conf, empty without an introspection URL, and write oauth2.conf."""
        if self.oauth2_introspection_url is None:
            return {"oauth2_mechanisms": "", "passwd_mechanisms": "", "oauth2_passdb": ""}
        self.oauth2_config_path.write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.oauth2_introspection_url}\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
            # Dovecot then checks every login with the introspection server, so a token it stops accepting fails at once.
            "force_introspection = yes\n",
            encoding="utf-8",
        )
        self._share_with_auth_process(self.oauth2_config_path)
        return {
            "oauth2_mechanisms": " oauthbearer xoauth2",
            # The passwd-file would otherwise also be asked to check a token as a password.
            "passwd_mechanisms": "\n  mechanisms = plain login",
            "oauth2_passdb": (
                "passdb {\n  driver = oauth2\n  mechanisms = oauthbearer xoauth2\n"
                f"  args = {self.oauth2_config_path}\n}}"
            ),
        }

    def _render_namespace(self) -> str:
        lines = ["namespace inbox {", "  inbox = yes", f"  separator = {self.separator}"]
        if self.special_use:
            for name, attribute in _SPECIAL_USE_FOLDERS:
                lines += [f"  mailbox {name} {{", f"    special_use = {attribute}", "    auto = subscribe", "  }"]
        lines.append("}")
        return "\n".join(lines)

    def _current_account_names(self) -> tuple[str, str]:
        """Return the user and group names of this process for a non-root Dovecot."""
        uid, gid = os.getuid(), os.getgid()
        try:
            return pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
        except KeyError:
            raise DovecotError(
                f"Dovecot cannot run as uid {uid} (gid {gid}): the uid or gid has no entry in the "
                "system's passwd or group database, and Dovecot needs names for default_login_user, "
                "default_internal_user and default_internal_group.\n"
                "Fix: run the tests as root, or as a user and group that have system accounts"
            ) from None

    def _next_ids(self, name: str) -> tuple[int, int]:
        if not self._as_root:
            return os.getuid(), os.getgid()
        uid = FIRST_MAIL_UID + len(self._users)
        if uid > LAST_MAIL_UID:
            raise ValueError(
                f"cannot add user {name!r}, because a server has at most {LAST_MAIL_UID - FIRST_MAIL_UID + 1} users"
            )
        return uid, uid

    def _create_home(self, user: DovecotUser) -> None:
        for directory in (user.home, user.maildir, user.maildir / "cur", user.maildir / "new", user.maildir / "tmp"):
            directory.mkdir(mode=0o700)
            _chown_if_root(directory, user.uid, user.gid)

    def _write_passwd_file(self, user: DovecotUser) -> None:
        """Write the user's passwd-file in one rename, so Dovecot never reads half of it."""
        line = f"{user.name}:{{PLAIN}}{user.password}:{user.uid}:{user.gid}::{user.home}::\n"
        staging = self.passwd_dir / f"{user.name}.new"
        staging.write_text(line, encoding="utf-8")
        self._share_with_auth_process(staging)
        os.replace(staging, self.passwd_dir / user.name)

    def _share_with_auth_process(self, path: Path) -> None:
        """Give the auth process read access to path.

        As root, Dovecot runs the auth process as user dovecot, which reads through the dovecot group.
        """
        mode = 0o700 if path.is_dir() else 0o600
        if self._as_root:
            os.chown(path, 0, _dovecot_gid())
            mode |= 0o050 if path.is_dir() else 0o040
        os.chmod(path, mode)

    # Process control

    def _is_own_master(self, pid: int) -> bool:
        """Return whether pid is a running Dovecot master started with this config file."""
        if not _process_running(pid):
            return False
        if not Path("/proc/self").exists():
            return True
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return os.fsencode(self.config_path) in arguments

    def _error(self, step: str, detail: str, fix: str) -> DovecotError:
        tail = self.log_tail() or "(the log is empty)"
        return DovecotError(
            f"Dovecot failed while {step}: {detail}\nFix: {fix}\nLast lines of {self.log_path}:\n{tail}"
        )


def write_maildir_message(
    maildir: Path,
    folder: str,
    raw: bytes,
    flags: str = "",
    when: float | None = None,
) -> Path:
    """Write one message file straight into a folder's cur/ directory.

    This skips IMAP, so it builds large mailboxes faster than APPEND. Dovecot picks
    the file up at the next SELECT or STATUS of the folder, also while it runs. New
    folder directories and the file get the uid and gid that own maildir.

    Args:
        maildir: the user's Maildir root, as returned by DovecotServer.maildir().
        folder: IMAP folder name with "/" between levels. "INBOX" is the Maildir
            root. Other folders are Maildir++ ".Name" directories (".Parent.Child",
            non-ASCII names in modified UTF-7) and are created when missing.
        raw: the whole message, written unchanged.
        flags: Maildir flag letters from MAILDIR_FLAGS, such as "S" for \\Seen.
        when: received time (IMAP INTERNALDATE) as a Unix timestamp, or None for now.

    Returns:
        Path of the new message file.

    Raises:
        FileNotFoundError: maildir does not exist.
        ValueError: folder or flags are invalid.
    """
    if not maildir.is_dir():
        raise FileNotFoundError(f"Maildir {maildir} not found. Create its user with DovecotServer.add_user() first.")
    flag_letters = _normalize_flags(flags)
    folder_dir = _folder_directory(maildir, folder)
    owner = maildir.stat()
    _create_folder(maildir, folder_dir, owner.st_uid, owner.st_gid)

    timestamp = time.time() if when is None else when
    unique_name = _unique_message_name(timestamp, len(raw))
    staging = folder_dir / "tmp" / unique_name
    target = folder_dir / "cur" / f"{unique_name}:2,{flag_letters}"

    # Write under tmp/ and rename into cur/, as the Maildir format requires, so a
    # running Dovecot never reads a half-written message.
    staging.write_bytes(raw)
    _chown_if_root(staging, owner.st_uid, owner.st_gid)
    os.utime(staging, (timestamp, timestamp))
    os.rename(staging, target)
    return target


# Module helpers

_message_counter = itertools.count(1)
_HOSTNAME = socket.gethostname().replace("/", "\\057").replace(":", "\\072")


def _check_root_path(root: Path) -> None:
    unsafe = sorted(set(str(root)) & _UNSAFE_PATH_CHARACTERS)
    if unsafe:
        raise ValueError(
            f"server root {str(root)!r} contains {''.join(unsafe)!r}, which Dovecot's configuration or "
            "passwd-files cannot take. Choose a path without spaces, quotes, backslashes, '%', ':' or '#'."
        )


def _validate_username(name: str) -> None:
    if not _USERNAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"invalid user name {name!r}. Use letters, digits and . _ @ - (Dovecot's default "
            "auth_username_chars), not starting with '.'."
        )


def _validate_password(password: str) -> None:
    if not password:
        raise ValueError("password must not be empty. Pass a throwaway test password.")
    if any(character in password for character in ":\r\n\0"):
        raise ValueError(
            "password must not contain ':', a line break or NUL, because it is stored in a passwd-file. "
            "Pick another test password."
        )


def _dovecot_gid() -> int:
    """Return the gid of the dovecot group, which Dovecot's auth process runs in."""
    try:
        return grp.getgrnam("dovecot").gr_gid
    except KeyError:
        raise DovecotError(
            "the system group 'dovecot' is missing.\n"
            "Fix: reinstall the package that creates it: apt-get install --reinstall dovecot-core"
        ) from None


def _normalize_flags(flags: str) -> str:
    unknown = sorted(set(flags) - set(MAILDIR_FLAGS))
    if unknown:
        raise ValueError(
            f"invalid Maildir flags {''.join(unknown)!r} in {flags!r}. Use letters from {MAILDIR_FLAGS!r}, "
            "which mean draft, flagged, passed, replied, seen and trashed."
        )
    # The Maildir format requires flags in ASCII order.
    return "".join(sorted(set(flags)))


def _folder_directory(maildir: Path, folder: str) -> Path:
    """Return the Maildir++ directory of an IMAP folder name with "/" separators."""
    if folder.upper() == "INBOX":
        return maildir
    levels = folder.split("/")
    for level in levels:
        # Maildir++ joins levels with ".", so a dot inside a level would add a level.
        if not level or "." in level:
            raise ValueError(
                f"invalid folder name {folder!r}. Use non-empty levels separated by '/', without '.'."
            )
    encoded = [encode_modified_utf7(level).decode("ascii") for level in levels]
    return maildir / ("." + ".".join(encoded))


def _create_folder(maildir: Path, folder_dir: Path, uid: int, gid: int) -> None:
    if (folder_dir / "cur").is_dir():
        return
    for directory in (folder_dir, folder_dir / "cur", folder_dir / "new", folder_dir / "tmp"):
        directory.mkdir(mode=0o700, exist_ok=True)
        _chown_if_root(directory, uid, gid)
    if folder_dir != maildir:
        # Dovecot and other Maildir++ readers mark each subfolder with this empty file.
        marker = folder_dir / "maildirfolder"
        marker.touch()
        _chown_if_root(marker, uid, gid)


def _unique_message_name(timestamp: float, size: int) -> str:
    """Return a Maildir file name: time, microseconds, pid, counter, host and size.

    Dovecot trusts the S=size field, so it must be the exact file size in bytes.
    """
    seconds = int(timestamp)
    microseconds = int((timestamp - seconds) * 1_000_000)
    return f"{seconds}.M{microseconds}P{os.getpid()}Q{next(_message_counter)}.{_HOSTNAME},S={size}"


def _chown_if_root(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.chown(path, uid, gid)


def _pick_free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _receive_line(connection: socket.socket, limit: int = 4096) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < limit:
        chunk = connection.recv(limit)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def _read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _process_running(pid: int) -> bool:
    """Return whether pid exists and has not exited. A zombie counts as exited."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _process_state(pid) != "Z"


def _process_state(pid: int) -> str | None:
    """Return the state letter from /proc/PID/stat, or None where /proc is missing."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name in parentheses may contain spaces, so split after its last ")".
    return stat_line.rpartition(")")[2].split()[0]


def _live_group_members(pgid: int) -> list[int]:
    """Return the pids in process group pgid that have not exited, read from /proc."""
    members: list[int] = []
    if not Path("/proc/self").exists():
        return members
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()
        except OSError:
            continue
        # After the command name come state, ppid and pgrp.
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _own_process_group(pid: int) -> int | None:
    """Return pid if it leads its own process group, as the forked Dovecot master does."""
    try:
        return pid if os.getpgid(pid) == pid else None
    except ProcessLookupError:
        return None


def _send_signal(pid: int, signal_number: signal.Signals) -> None:
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        pass


def _kill_group_or_process(pid: int, pgid: int | None) -> None:
    if pgid is None:
        _send_signal(pid, signal.SIGKILL)
    else:
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, signal_number: signal.Signals) -> None:
    try:
        os.killpg(pgid, signal_number)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    """Return whether process group pgid has a member that has not exited."""
    if Path("/proc/self").exists():
        return bool(_live_group_members(pgid))
    # Without /proc, signal 0 also reaches zombies, so a wait lasts until their parent reaps them.
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until_exited(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _process_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _wait_until_group_exited(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
