"""The profile's configuration file: accounts and settings, kept as TOML.

Passwords never appear here. An account names where its password comes
from: the system keyring (the default) or a command run at connect time.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tomli_w

log = logging.getLogger(__name__)

SECURITY_CHOICES = ("tls", "starttls", "none")
KINDS = ("imap", "local")
DEFAULT_PORTS = {"tls": 993, "starttls": 143, "none": 143}
DEFAULT_SMTP_PORTS = {"tls": 465, "starttls": 587, "none": 25}
TOP_LEVEL_KEYS = {"accounts", "compose"}
SENT_COPY_CHOICES = ("auto", "always", "never")
FORWARD_CHOICES = ("inline", "attachment")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ConfigError(ValueError):
    """The configuration file or a value given for it is invalid."""


@dataclass
class Account:
    """One mail account.

    Attributes:
        name: Short unique name used on the command line and in the window.
        kind: ``imap`` for a server account, ``local`` for a store-only
            account such as the demo mailbox.
        imap_host, imap_port, security: How to reach the IMAP server;
            security is ``tls`` (implicit TLS), ``starttls`` or ``none``.
        user: Login name.
        password_command: Shell command whose first output line is the
            password; when empty the password comes from the keyring.
        smtp_host, smtp_port, smtp_security: The outgoing server, if any;
            ``smtp_port`` 0 means the default port of ``smtp_security``.
        smtp_user: SMTP login name; empty means the IMAP ``user``. When it
            differs from ``user`` the SMTP password has a keyring entry of
            its own (see ``desktop.send.credentials``).
        address: The user's own address for this account.
        aliases: Further addresses of the user that arrive in this account,
            e.g. an old address that forwards here. Auto-replies reply only
            to mail sent to ``address`` or one of these.
        oauth2_token_command: Shell command whose first output line is an
            OAuth 2.0 access token. When it is set, Sluice logs in with
            OAUTHBEARER or XOAUTH2 instead of a password.
        offline: Keep a full copy of every message (bodies too), fetched
            in the background after the headers; when false, a body is
            fetched when the message is opened.
        offline_size_limit_kb: Messages larger than this are not fetched
            in the background even when ``offline`` is on, only when opened;
            0 means no limit.
        watch_folders: Folders watched for new mail besides INBOX (IMAP IDLE,
            or NOOP polling where the server has no IDLE).
        signature: Text added below new messages, replies and forwards,
            after a ``-- `` line; "" for none.
        sent_copy: Whether a sent message is appended to the Sent folder:
            ``auto`` (yes, unless the server files it itself, as Gmail does),
            ``always`` or ``never``.
    """

    name: str
    kind: str = "imap"
    imap_host: str = ""
    imap_port: int = 993
    security: str = "tls"
    user: str = ""
    password_command: str = ""
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_security: str = "starttls"
    smtp_user: str = ""
    address: str = ""
    aliases: list[str] = field(default_factory=list)
    oauth2_token_command: str = ""
    offline: bool = True
    offline_size_limit_kb: int = 10240
    watch_folders: list[str] = field(default_factory=list)
    signature: str = ""
    sent_copy: str = "auto"

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid field and its fix."""
        validate_account_name(self.name)
        if self.kind not in KINDS:
            raise ConfigError(
                f"Account {self.name!r}: kind {self.kind!r} is invalid; use one of {', '.join(KINDS)}."
            )
        if self.kind == "local":
            return
        if not self.imap_host:
            raise ConfigError(f"Account {self.name!r}: imap_host is missing; set it to the IMAP server's name.")
        if self.security not in SECURITY_CHOICES:
            raise ConfigError(
                f"Account {self.name!r}: security {self.security!r} is invalid; use one of {', '.join(SECURITY_CHOICES)}."
            )
        if self.smtp_security not in SECURITY_CHOICES:
            raise ConfigError(
                f"Account {self.name!r}: smtp_security {self.smtp_security!r} is invalid; "
                f"use one of {', '.join(SECURITY_CHOICES)}."
            )
        for label, port in (("imap_port", self.imap_port), ("smtp_port", self.smtp_port)):
            if not 0 <= port <= 65535 or (label == "imap_port" and port == 0):
                raise ConfigError(f"Account {self.name!r}: {label} {port} is invalid; use a port from 1 to 65535.")
        if not self.user:
            raise ConfigError(f"Account {self.name!r}: user is missing; set it to the login name.")
        self._validate_smtp()
        if self.sent_copy not in SENT_COPY_CHOICES:
            raise ConfigError(
                f"Account {self.name!r}: sent_copy {self.sent_copy!r} is invalid; use one of {', '.join(SENT_COPY_CHOICES)}."
            )
        if self.offline_size_limit_kb < 0:
            raise ConfigError(
                f"Account {self.name!r}: offline_size_limit_kb {self.offline_size_limit_kb} is invalid; "
                "use 0 for no limit or a size in kilobytes."
            )


    def _validate_smtp(self) -> None:
        if self.smtp_user != self.smtp_user.strip() or any(character.isspace() for character in self.smtp_user):
            raise ConfigError(
                f"Account {self.name!r}: smtp_user {self.smtp_user!r} is invalid; a login name has no spaces or line breaks."
            )
        if self.address and not is_plain_address(self.address):
            raise ConfigError(
                f"Account {self.name!r}: address {self.address!r} is invalid; write a bare address such as ana@example.com, "
                "without a display name or angle brackets."
            )
        seen = {self.address.lower()} if self.address else set()
        for alias in self.aliases:
            if not is_plain_address(alias):
                raise ConfigError(
                    f"Account {self.name!r}: alias {alias!r} is invalid; write a bare address such as ana@example.org, "
                    "without a display name or angle brackets."
                )
            if alias.lower() in seen:
                raise ConfigError(
                    f"Account {self.name!r}: alias {alias!r} is listed twice or equals the account address; remove the repeat."
                )
            seen.add(alias.lower())

    @property
    def smtp_login(self) -> str:
        """The SMTP login name: ``smtp_user``, or the IMAP ``user`` when it is empty."""
        return self.smtp_user or self.user

    @property
    def smtp_port_or_default(self) -> int:
        """``smtp_port``, or the usual port of ``smtp_security`` when it is 0."""
        return self.smtp_port or DEFAULT_SMTP_PORTS.get(self.smtp_security, 587)

    def own_addresses(self) -> list[str]:
        """Return the account address and the aliases, lowercased, in that order."""
        addresses = [self.address] if self.address else []
        return [address.lower() for address in addresses + list(self.aliases)]


_ADDRESS_PATTERN = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def is_plain_address(value: str) -> bool:
    """Return whether ``value`` is a bare address (local@domain) without display name, brackets or spaces."""
    return bool(_ADDRESS_PATTERN.match(value)) and ".." not in value.split("@", 1)[1]


_FIELD_TYPES = {
    "kind": str, "imap_host": str, "imap_port": int, "security": str, "user": str, "password_command": str,
    "smtp_host": str, "smtp_port": int, "smtp_security": str, "smtp_user": str, "address": str, "aliases": list,
    "oauth2_token_command": str, "offline": bool, "offline_size_limit_kb": int, "watch_folders": list,
    "signature": str, "sent_copy": str,
}
_TYPE_NAMES = {int: "a number", str: "a quoted string", bool: "true or false", list: 'a list of quoted strings, as in ["Lists"]'}


@dataclass
class ComposeSettings:
    """The ``[compose]`` table: how messages are written and sent.

    Attributes:
        undo_seconds: Seconds a sent message waits in the outbox, so that
            it can still be taken back; 0 sends at once.
        forward_as: ``inline`` quotes the forwarded message in the body and
            keeps its attachments; ``attachment`` attaches it whole as
            message/rfc822.
        format: The body format of new messages, ``plain`` or ``markdown``.
    """

    undo_seconds: int = 10
    forward_as: str = "inline"
    format: str = "plain"

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid setting and its fix."""
        if not 0 <= self.undo_seconds <= 600:
            raise ConfigError(f"[compose] undo_seconds = {self.undo_seconds} is invalid; use 0 to 600 seconds.")
        if self.forward_as not in FORWARD_CHOICES:
            raise ConfigError(
                f"[compose] forward_as = {self.forward_as!r} is invalid; use one of {', '.join(FORWARD_CHOICES)}."
            )
        if self.format not in ("plain", "markdown"):
            raise ConfigError(f"[compose] format = {self.format!r} is invalid; use plain or markdown.")


@dataclass
class Config:
    """The whole configuration file."""

    accounts: dict[str, Account] = field(default_factory=dict)
    path: Path | None = None
    compose: ComposeSettings = field(default_factory=ComposeSettings)

    def account(self, name: str) -> Account:
        """Return the account called ``name`` or raise ConfigError listing the known ones."""
        try:
            return self.accounts[name]
        except KeyError:
            known = ", ".join(sorted(self.accounts)) or "none yet; add one with 'sluice account add'"
            raise ConfigError(f"No account named {name!r}. Known accounts: {known}.") from None

    def selected(self, name: str | None) -> list[Account]:
        """Return the account called ``name``, or every account when ``name`` is None."""
        if name is None:
            return list(self.accounts.values())
        return [self.account(name)]


def validate_account_name(name: str) -> None:
    """Raise ConfigError unless ``name`` is usable as an account name."""
    if not _NAME_PATTERN.match(name):
        raise ConfigError(
            f"Account name {name!r} is invalid; use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )


def load_config(path: Path) -> Config:
    """Read the configuration file at ``path``; a missing file is an empty config."""
    if not path.exists():
        return Config(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML ({error}). Fix the file or move it away to start afresh.") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error}). Save the file as UTF-8.") from error

    unknown_sections = set(data) - TOP_LEVEL_KEYS
    if unknown_sections:
        raise ConfigError(
            f"{path}: unknown settings {', '.join(sorted(unknown_sections))}; "
            f"the file may contain {', '.join(sorted(TOP_LEVEL_KEYS))}."
        )
    tables = data.get("accounts", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'accounts' must be a table, as in [accounts.work].")
    accounts: dict[str, Account] = {}
    for name, values in tables.items():
        account = _account_from_table(path, name, values)
        try:
            account.validate()
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from error
        accounts[name] = account
    return Config(accounts=accounts, path=path, compose=_compose_from_table(path, data.get("compose", {})))


def _compose_from_table(path: Path, values: object) -> ComposeSettings:
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: 'compose' must be a table, as in [compose].")
    types = {"undo_seconds": int, "forward_as": str, "format": str}
    unknown = set(values) - set(types)
    if unknown:
        raise ConfigError(f"{path}: [compose] has unknown settings {', '.join(sorted(unknown))}; "
                          f"known settings are {', '.join(sorted(types))}.")
    for key, value in values.items():
        if not isinstance(value, types[key]) or isinstance(value, bool):
            raise ConfigError(f"{path}: [compose] {key} = {value!r} is invalid; it must be {_TYPE_NAMES[types[key]]}.")
    settings = ComposeSettings(**values)
    try:
        settings.validate()
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    return settings


def _account_from_table(path: Path, name: str, values: object) -> Account:
    """Build an Account from its TOML table, naming any unknown key or wrong type."""
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [accounts.{name}] must be a table of settings.")
    fields = {key: spec for key, spec in Account.__dataclass_fields__.items() if key != "name"}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(
            f"{path}: account {name!r} has unknown settings {', '.join(sorted(unknown))}; "
            f"known settings are {', '.join(sorted(fields))}."
        )
    for key, value in values.items():
        wanted = _FIELD_TYPES[key]
        # TOML booleans are ints in Python, so a boolean is refused where a number belongs.
        wrong = not isinstance(value, wanted) or (isinstance(value, bool) and wanted is not bool)
        if wanted is list and not wrong:
            wrong = not all(isinstance(item, str) and item for item in value)
        if wrong:
            raise ConfigError(f"{path}: account {name!r}: {key} = {value!r} is invalid; it must be {_TYPE_NAMES[wanted]}.")
    return Account(name=name, **values)


def save_config(config: Config, path: Path | None = None) -> None:
    """Write ``config`` atomically, readable by the owner only."""
    target = path or config.path
    if target is None:
        raise ValueError("save_config needs a path")
    accounts = {}
    for name, account in config.accounts.items():
        defaults = Account(name=name)
        values = {
            key: value for key, value in asdict(account).items()
            if key != "name" and value not in ("", None, []) and value != getattr(defaults, key)
        }
        accounts[name] = values
    document: dict = {"accounts": accounts}
    compose = {key: value for key, value in asdict(config.compose).items() if value != getattr(ComposeSettings(), key)}
    if compose:
        document["compose"] = compose
    text = tomli_w.dumps(document)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, target)
    log.debug("Saved config with %d account(s) to %s", len(accounts), target)
