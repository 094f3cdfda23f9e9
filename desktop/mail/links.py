"""Links in HTML mail: their real targets, and the ones whose text shows another address.

Phishing mail shows one address as the link text and points the link
elsewhere: ``<a href="https://login.example.net">https://bank.example.com</a>``.
A link is *deceptive* when its visible text looks like a URL, a domain or an
e-mail address and the target differs. It differs when it has another host
(a sub-domain of the shown host is fine), another kind of scheme (a web
address that opens a mail window), or another mail address.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

# Visible text that reads as a web address: an optional scheme, a host with a
# dot and a letter-only top-level label, then anything.
_SHOWN_URL = re.compile(
    r"^\s*(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?:www\.)?(?P<host>(?:[\w-]+\.)+[^\W\d_]{2,63})\.?(?::\d+)?(?:[/?#]\S*)?\s*$",
    re.IGNORECASE,
)
_SHOWN_ADDRESS = re.compile(r"^\s*(?:mailto:)?(?P<address>[^@\s<>]+@(?P<host>(?:[\w-]+\.)+[^\W\d_]{2,63}))\s*$", re.IGNORECASE)
_WEB_SCHEMES = {"http", "https"}
WARNING_COLOR = "#b3261e"


@dataclass(frozen=True)
class Link:
    """One ``<a href>`` of a message.

    Attributes:
        href: The target as written in the markup.
        text: The visible text, with runs of whitespace made single spaces.
        deceptive: Whether the text shows another address than the target.
    """

    href: str
    text: str
    deceptive: bool

    @property
    def target_host(self) -> str:
        return host_of(self.href)


def host_of(url: str) -> str:
    """Return the lower-case ASCII (punycode) host of ``url``, or '' when it has none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return ascii_host(host)


def ascii_host(host: str) -> str:
    """Return ``host`` in lower case, with international labels in their ``xn--`` form."""
    host = host.strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def display_target(url: str) -> str:
    """Return ``url`` as the status bar should show it: the real host in ASCII, the rest decoded.

    A host written with look-alike letters from another script shows in its
    ``xn--`` form, so it cannot pass for a familiar name.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.hostname:
        return unquote(url)
    netloc = ascii_host(parts.hostname)
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    rest = unquote(parts.path)
    if parts.query:
        rest += f"?{parts.query}"
    if parts.fragment:
        rest += f"#{parts.fragment}"
    return f"{parts.scheme}://{netloc}{rest}"


def is_deceptive(href: str, text: str) -> bool:
    """Return whether the visible ``text`` of a link shows another address than ``href``."""
    href = href.strip()
    scheme = urlsplit(href).scheme.lower() if href else ""
    address = _SHOWN_ADDRESS.match(text)
    if address:
        if scheme != "mailto":
            return True
        target = unquote(href[len("mailto:") :].split("?", 1)[0]).strip().lower()
        return target != address.group("address").lower()
    shown = _SHOWN_URL.match(text)
    if not shown:
        return False
    shown_scheme = (shown.group("scheme") or "").lower()
    if scheme not in _WEB_SCHEMES or (shown_scheme and shown_scheme not in _WEB_SCHEMES):
        return True
    shown_host = ascii_host(shown.group("host"))
    target_host = host_of(href)
    return not _same_site(shown_host, target_host)


def _same_site(shown: str, target: str) -> bool:
    """Return whether ``target`` is ``shown`` or one of its sub-domains, ignoring a leading ``www.``."""
    shown = shown.removeprefix("www.")
    target = target.removeprefix("www.")
    return target == shown or target.endswith("." + shown)


class _LinkFinder(HTMLParser):
    """Collects the links of a document, with the offset just past each ``</a>``."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_offsets = [0] + [match.end() for match in re.finditer("\n", markup)]
        self._href: str | None = None
        self._text: list[str] = []
        self.found: list[tuple[Link, int]] = []

    def _position(self) -> int:
        line, column = self.getpos()
        return self._line_offsets[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        self._finish(self._position())
        href = dict(attrs).get("href")
        if href:
            self._href = href
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            end = self.rawdata.find(">", self._position())
            self._finish(end + 1 if end >= 0 else self._position())

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def _finish(self, end: int) -> None:
        if self._href is None:
            return
        text = " ".join("".join(self._text).split())
        self.found.append((Link(self._href, text, is_deceptive(self._href, text)), end))
        self._href = None

    def finish_document(self, end: int) -> None:
        self._finish(end)


def _find(markup: str) -> list[tuple[Link, int]]:
    finder = _LinkFinder(markup)
    try:
        finder.feed(markup)
        finder.close()
    except (AssertionError, ValueError):
        # HTMLParser raises on a few malformed declarations; the links found so far are kept.
        pass
    finder.finish_document(len(markup))
    return finder.found


def find_links(markup: str) -> list[Link]:
    """Return the links of ``markup`` in document order."""
    return [link for link, _end in _find(markup)]


def mark_deceptive_links(markup: str, marker: Callable[[Link], str]) -> tuple[str, list[Link]]:
    """Insert ``marker(link)`` (HTML) right after each deceptive link of ``markup``.

    Returns the marked markup and every link found, deceptive or not.
    """
    found = _find(markup)
    pieces: list[str] = []
    position = 0
    for link, end in found:
        if not link.deceptive:
            continue
        pieces.append(markup[position:end])
        pieces.append(marker(link))
        position = end
    pieces.append(markup[position:])
    return "".join(pieces), [link for link, _end in found]


def warning_marker(label: str) -> str:
    """Return the HTML that follows a deceptive link: ``label`` (plain text) as a red warning."""
    return f'&nbsp;<span style="color: {WARNING_COLOR}; font-weight: bold;">[&#9888;&nbsp;{html.escape(label)}]</span>'
