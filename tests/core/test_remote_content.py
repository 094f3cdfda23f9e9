"""The remote content allow list: matching senders, adding and removing entries, and file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.remote_content import RemoteContentError, allow_list_path, load_allow_list


def test_missing_file_allows_nobody(tmp_path: Path) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")

    assert not allow_list.allows("news@example.org")
    assert allow_list.addresses == []


def test_added_entries_survive_reload(tmp_path: Path) -> None:
    path = allow_list_path(tmp_path)
    allow_list = load_allow_list(path)

    assert allow_list.add_address("News@Example.ORG")
    assert allow_list.add_domain("shop.example.com")
    assert not allow_list.add_address("news@example.org")
    allow_list.save()
    reloaded = load_allow_list(path)

    assert reloaded.addresses == ["news@example.org"]
    assert reloaded.domains == ["shop.example.com"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_domain_allows_its_subdomains_only(tmp_path: Path) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")
    allow_list.add_domain("example.com")

    assert allow_list.allows("a@example.com")
    assert allow_list.allows("a@mail.example.com")
    assert not allow_list.allows("a@badexample.com")
    assert not allow_list.allows("a@example.com.evil.example")
    assert not allow_list.allows("not an address")


def test_address_allows_that_sender_only(tmp_path: Path) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")
    allow_list.add_address("news@example.org")

    assert allow_list.allows("NEWS@example.org")
    assert not allow_list.allows("other@example.org")


def test_remove_entries(tmp_path: Path) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")
    allow_list.add_address("news@example.org")
    allow_list.add_domain("example.com")

    allow_list.remove_address("news@example.org")
    allow_list.remove_domain("EXAMPLE.com")

    assert allow_list.addresses == []
    assert allow_list.domains == []


def test_remove_unknown_entry_names_listed_ones(tmp_path: Path) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")
    allow_list.add_address("news@example.org")

    with pytest.raises(RemoteContentError) as raised:
        allow_list.remove_address("ana@example.org")

    assert "ana@example.org is not in" in str(raised.value)
    assert "news@example.org" in str(raised.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana <ana@example.org>", "not a valid mail address"),
        ("example.org", "not a valid mail address"),
        ("ana@", "not a valid mail address"),
        ("ana@exa mple.org", "domain 'exa mple.org' is invalid"),
    ],
)
def test_invalid_address_is_rejected(tmp_path: Path, value: str, expected: str) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")

    with pytest.raises(RemoteContentError) as raised:
        allow_list.add_address(value)

    assert expected in str(raised.value)
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize("value", ["https://example.com", "@example.com", "localhost", "-bad.example", "a..b"])
def test_invalid_domain_is_rejected(tmp_path: Path, value: str) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")

    with pytest.raises(RemoteContentError) as raised:
        allow_list.add_domain(value)

    assert "not a valid domain" in str(raised.value)


def test_international_domain_is_stored_as_punycode(tmp_path: Path) -> None:
    allow_list = load_allow_list(tmp_path / "remote-allow.toml")

    allow_list.add_domain("bücher.example")

    assert allow_list.domains == ["xn--bcher-kva.example"]
    assert allow_list.allows("shop@bücher.example")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('addresses = ["news@example.org"\n', "invalid TOML"),
        ('adresses = ["news@example.org"]\n', "unknown key adresses;"),
        ('addresses = "news@example.org"\n', 'addresses must be a list of quoted strings, as in addresses = ["news@example.org"]'),
        ("domains = [1]\n", "domains must be a list of quoted strings"),
        ('addresses = ["Ana <ana@example.org>"]\n', "in addresses: 'Ana <ana@example.org>' is not a valid mail address"),
        ('domains = ["https://example.com"]\n', "in domains: 'https://example.com' is not a valid domain"),
    ],
)
def test_file_errors_name_file_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "remote-allow.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(RemoteContentError) as raised:
        load_allow_list(path)

    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_file_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "remote-allow.toml"
    path.write_bytes(b'domains = ["caf\xe9.example"]\n')

    with pytest.raises(RemoteContentError) as raised:
        load_allow_list(path)

    assert "not UTF-8" in str(raised.value)


def test_hand_written_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "remote-allow.toml"
    path.write_text('# mine\naddresses = ["News@Example.org"]\ndomains = ["example.com."]\n', encoding="utf-8")

    allow_list = load_allow_list(path)

    assert allow_list.addresses == ["news@example.org"]
    assert allow_list.domains == ["example.com"]
