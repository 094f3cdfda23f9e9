"""The senders whose remote content (images, styles, fonts) the reader loads without asking.

Remote content is blocked by default, because loading a remote image reports
to the sender when and where a message was opened. The allow list is ``remote-allow.toml`` in
the profile's config folder::

    # Load remote content of mail from these senders without asking.
    addresses = ["news@example.org"]
    domains = ["example.com"]    # also allows its sub-domains, as mail.example.com

An entry is a bare address or domain, matched without regard to case. The
file is read on every check, so edits in a text editor apply to the next
message shown.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

log = logging.getLogger(__name__)

FILE_NAME = "remote-allow.toml"
_KEYS = ("addresses", "domains")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_LOCAL_PART = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}$")
_HEADER = "# Load remote content (images, styles) of mail from these senders without asking.\n"


class RemoteContentError(ValueError):
    """The allow list file, or a value given to add or remove, is invalid."""


def normalize_domain(value: str) -> str:
    """Return ``value`` as a lower-case ASCII domain, or raise RemoteContentError naming it."""
    domain = value.strip().rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    if not _DOMAIN.match(domain):
        raise RemoteContentError(f"{value!r} is not a valid domain; write it as example.com, without '@' or a scheme.")
    return domain


def normalize_address(value: str) -> str:
    """Return ``value`` as a lower-case address, or raise RemoteContentError naming it."""
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if not at or not _LOCAL_PART.match(local):
        raise RemoteContentError(f"{value!r} is not a valid mail address; write it as name@example.com, without a display name.")
    try:
        return f"{local.lower()}@{normalize_domain(domain)}"
    except RemoteContentError:
        raise RemoteContentError(f"{value!r} is not a valid mail address; its domain {domain!r} is invalid.") from None


@dataclass
class RemoteAllowList:
    """The allowed sender addresses and domains, as stored in ``path``."""

    path: Path
    addresses: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)

    def allows(self, address: str) -> bool:
        """Return whether remote content of mail from ``address`` may load without asking."""
        try:
            address = normalize_address(address)
        except RemoteContentError:
            return False
        if address in self.addresses:
            return True
        domain = address.rpartition("@")[2]
        return any(domain == allowed or domain.endswith("." + allowed) for allowed in self.domains)

    def add_address(self, value: str) -> bool:
        """Allow the sender ``value``; return False when it was allowed already."""
        return _add(self.addresses, normalize_address(value))

    def add_domain(self, value: str) -> bool:
        """Allow every sender of the domain ``value``; return False when it was allowed already."""
        return _add(self.domains, normalize_domain(value))

    def remove_address(self, value: str) -> None:
        """Stop allowing the sender ``value``; raise RemoteContentError when it is not listed."""
        _remove(self.addresses, normalize_address(value), "address", self.path)

    def remove_domain(self, value: str) -> None:
        """Stop allowing the domain ``value``; raise RemoteContentError when it is not listed."""
        _remove(self.domains, normalize_domain(value), "domain", self.path)

    def save(self) -> None:
        """Write the list atomically, readable by the owner only."""
        text = _HEADER + tomli_w.dumps({"addresses": self.addresses, "domains": self.domains})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, self.path)
        log.info("Saved the remote content allow list: %d address(es), %d domain(s)", len(self.addresses), len(self.domains))


def _add(entries: list[str], value: str) -> bool:
    if value in entries:
        return False
    entries.append(value)
    entries.sort()
    return True


def _remove(entries: list[str], value: str, kind: str, path: Path) -> None:
    if value not in entries:
        listed = ", ".join(entries) or "none"
        raise RemoteContentError(f"The {kind} {value} is not in {path}; the listed {kind}s are: {listed}.")
    entries.remove(value)


def allow_list_path(config_dir: Path) -> Path:
    """Return the path of the allow list in the profile's config folder."""
    return config_dir / FILE_NAME


def load_allow_list(path: Path) -> RemoteAllowList:
    """Read the allow list at ``path``; a missing file is an empty list.

    Raises RemoteContentError naming the file, the key or entry at fault
    and the fix. Nothing of a file with an error is used.
    """
    if not path.exists():
        return RemoteAllowList(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RemoteContentError(f"{path}: invalid TOML ({error}). Fix the line or delete the file to start afresh.") from error
    except UnicodeDecodeError as error:
        raise RemoteContentError(f"{path}: not UTF-8 text ({error}). Save the file as UTF-8.") from error
    except OSError as error:
        raise RemoteContentError(f"{path}: could not be read ({error}).") from error
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        keys = "key" if len(unknown) == 1 else "keys"
        raise RemoteContentError(f"{path}: unknown {keys} {', '.join(unknown)}; the file may contain addresses and domains.")
    allow_list = RemoteAllowList(path=path)
    for key, normalize, target in (("addresses", normalize_address, allow_list.addresses),
                                   ("domains", normalize_domain, allow_list.domains)):
        values = data.get(key, [])
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise RemoteContentError(f'{path}: {key} must be a list of quoted strings, as in {key} = ["{_EXAMPLES[key]}"].')
        for value in values:
            try:
                _add(target, normalize(value))
            except RemoteContentError as error:
                raise RemoteContentError(f"{path}: in {key}: {error}") from None
    return allow_list


_EXAMPLES = {"addresses": "news@example.org", "domains": "example.com"}
