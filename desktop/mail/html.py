"""Sanitising HTML mail and turning it into text.

nh3 (the Ammonia sanitiser) keeps a safe subset of tags and attributes; no
script, no event handler, no form survives. Remote resources are kept in
the markup so the reader can decide whether to load them; the reader blocks
them by default.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del", "div", "dl",
    "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q",
    "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul",
}
_COMMON_ATTRIBUTES = {"align", "valign", "width", "height", "bgcolor", "color", "style", "title", "dir", "lang"}
_ALLOWED_ATTRIBUTES = {
    "*": _COMMON_ATTRIBUTES,
    "a": {"href", "name"},
    "img": {"src", "alt", "border"},
    "font": {"face", "size", "color"},
    "table": {"border", "cellpadding", "cellspacing"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap"},
}
_REMOTE_URL = re.compile(r"""(?:src|background)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
_CSS_REMOTE = re.compile(r"url\(\s*['\"]?\s*(?:https?:)?//", re.IGNORECASE)


def sanitize_html(markup: str) -> str:
    """Return ``markup`` with everything unsafe removed."""
    return nh3.clean(
        markup,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer",
        strip_comments=True,
        # These tags' text is not content; without this nh3 keeps it as body text.
        clean_content_tags={"script", "style", "title", "head"},
    )


def has_remote_content(markup: str) -> bool:
    """Tell whether ``markup`` would load anything from the network."""
    return bool(_REMOTE_URL.search(markup) or _CSS_REMOTE.search(markup))


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Return the readable text of an HTML document, without scripts or styles."""
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except Exception:  # noqa: BLE001 - HTMLParser may fail on hostile markup; fall back to stripping tags
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    text = "".join(extractor.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()
