"""The List-Unsubscribe headers (RFC 2369, RFC 8058) and the unsubscribe line for templates.

Every merged message carries a mailto address (the From address unless the
template sets ``Merge-Unsubscribe-Mailto``). When the template sets
``Merge-Unsubscribe-URL`` the https address is added too, with
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` so mail programs can
unsubscribe without opening a page. RFC 8058 also requires a DKIM signature
covering both headers; that is the sending server's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

ONE_CLICK = "List-Unsubscribe=One-Click"
_URL_FORBIDDEN = re.compile(r"[\s<>,\"]")


@dataclass(frozen=True)
class Unsubscribe:
    """The unsubscribe details of one merge.

    Attributes:
        address: Where unsubscribe mail goes.
        subject: The subject of that mail, naming the merge.
        url: The https URL for one-click unsubscribe, or an empty string.
    """

    address: str
    subject: str
    url: str = ""

    @property
    def mailto(self) -> str:
        """The ``mailto:`` URI (RFC 6068) with the subject."""
        return _mailto(self.address, self.subject)

    def header(self) -> str:
        """Return the List-Unsubscribe value: the https URL first when there is one, then the mailto URI."""
        return ", ".join(f"<{uri}>" for uri in (self.url, self.mailto) if uri)

    def text(self) -> str:
        """Return the line a template shows with ``{{ unsubscribe }}``."""
        if self.url:
            return f"To unsubscribe, open {self.url}"
        return f'To unsubscribe, send a message to {self.address} with the subject "{self.subject}".'


@lru_cache(maxsize=64)
def _mailto(address: str, subject: str) -> str:
    # Cached: every row of a merge usually has the same address and subject, and quoting them costs 10 µs a row.
    return f"mailto:{quote(address, safe='@!$()*+,;=._~-')}?subject={quote(subject, safe='')}"


def for_merge(address: str, merge_name: str, url: str = "") -> Unsubscribe:
    """Return the unsubscribe details of a merge called ``merge_name``."""
    return Unsubscribe(address, f"unsubscribe {merge_name}".strip(), url)


def check_url(url: str) -> str | None:
    """Return why ``url`` cannot be a one-click unsubscribe URL, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        return f"{url!r} is not an https URL; RFC 8058 one-click unsubscribe needs https://."
    if not parts.hostname:
        return f"{url!r} has no host name; write a full address such as https://example.com/unsubscribe?id=..."
    if _URL_FORBIDDEN.search(url):
        return f"{url!r} contains spaces, quotes, commas or angle brackets; encode values with the urlencode filter."
    return None
