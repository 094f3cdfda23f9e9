"""Link targets and deceptive link text."""

from __future__ import annotations

import pytest

from desktop.mail.links import display_target, find_links, host_of, is_deceptive, mark_deceptive_links


@pytest.mark.parametrize(
    ("href", "text"),
    [
        ("https://login.example.net/session", "https://bank.example.com/login"),
        ("https://login.example.net/session", "bank.example.com"),
        ("http://bank.example.com.evil.example/", "www.bank.example.com"),
        ("https://xn--bnk-sna.example/", "bank.example"),
        ("mailto:billing@evil.example", "https://bank.example.com"),
        ("https://bank.example.com", "support@bank.example.com"),
        ("mailto:thief@evil.example", "support@bank.example.com"),
        ("javascript:void(0)", "example.com"),
        ("https://example.org", "ftp://example.org/files"),
    ],
)
def test_link_text_showing_other_target_is_deceptive(href: str, text: str) -> None:
    assert is_deceptive(href, text)


@pytest.mark.parametrize(
    ("href", "text"),
    [
        ("https://example.com/a?utm=1", "example.com"),
        ("https://www.example.com/", "https://example.com"),
        ("https://mail.example.com/inbox", "example.com"),
        ("https://EXAMPLE.com/path", "Example.COM/path"),
        ("https://login.example.net", "Sign in to your account"),
        ("https://login.example.net", "Click here"),
        ("mailto:Support@Example.com?subject=Hi", "support@example.com"),
        ("https://example.com", "version 1.2"),
        ("https://example.com", ""),
    ],
)
def test_link_text_matching_target_is_honest(href: str, text: str) -> None:
    assert not is_deceptive(href, text)


def test_find_links_reads_text_and_targets() -> None:
    markup = (
        '<p>Pay at <a href="https://pay.example.net/x">https://bank.example.com</a> '
        'or read <a href="https://example.org/terms"><b>our</b>\n terms</a>.<a name="anchor">no href</a></p>'
    )

    links = find_links(markup)

    assert [link.href for link in links] == ["https://pay.example.net/x", "https://example.org/terms"]
    assert links[1].text == "our terms"
    assert links[0].deceptive
    assert not links[1].deceptive
    assert links[0].target_host == "pay.example.net"


def test_mark_deceptive_links_inserts_after_link() -> None:
    markup = '<a href="https://evil.example/">bank.example.com</a> and <a href="https://ok.example/">ok.example</a>'

    marked, links = mark_deceptive_links(markup, lambda link: f"<span>[{link.target_host}]</span>")

    assert marked == (
        '<a href="https://evil.example/">bank.example.com</a><span>[evil.example]</span>'
        ' and <a href="https://ok.example/">ok.example</a>'
    )
    assert len(links) == 2


def test_mark_deceptive_links_handles_unclosed_link() -> None:
    markup = '<p><a href="https://evil.example/">bank.example.com'

    marked, links = mark_deceptive_links(markup, lambda _link: "!")

    assert links[0].deceptive
    assert marked.endswith("bank.example.com!")


def test_display_target_shows_punycode_host() -> None:
    assert display_target("https://bаnk.example/a%20b") == "https://xn--bnk-6cd.example/a b"
    assert display_target("https://Example.org:8443/x?y=1#z") == "https://example.org:8443/x?y=1#z"
    assert display_target("mailto:ana@example.org") == "mailto:ana@example.org"


def test_host_of_invalid_url_is_empty() -> None:
    assert host_of("http://[::1") == ""
    assert host_of("not a url") == ""
