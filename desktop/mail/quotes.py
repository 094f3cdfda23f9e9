"""Finding quoted text in replies, so the reader can fold it.

Mail clients quote in two ways. Plain text quotes with ``>`` at the start of
each line, under an attribution line ("On Tue, ... Ana wrote:"); Outlook
instead puts the whole earlier message under a divider and a block of
From/Sent/To/Subject lines. HTML quotes are marked by the client:

* Gmail: ``<div class="gmail_quote">`` around the attribution and a
  ``<blockquote class="gmail_quote">``.
* Thunderbird: ``<div class="moz-cite-prefix">`` (the attribution), then
  ``<blockquote type="cite">``.
* Apple Mail: ``<blockquote type="cite">`` with the attribution inside.
* Yahoo: ``<div class="yahoo_quoted">``.
* Outlook: ``<div id="divRplyFwdMsg">`` (Outlook on the web, often after an
  ``<hr>``), ``<div class="OutlookMessageHeader">`` (older versions), or a
  ``<div>`` with a solid top border whose first text is "From:" (the desktop
  application). The quoted message follows that header block to the end.

Only a quote that ends the message is folded, as webmail does. A quote
with the reply's own text below it is part of an inline reply and stays in view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

# "On <date>, <name> wrote:" in the languages mail clients most often write it.
# German and Dutch put the name after the verb ("schrieb Ana Lima:"), so text may follow it.
_ATTRIBUTION_END = re.compile(
    r"\b(wrote|writes|schrieb|a écrit|escribió|ha scritto|schreef|escreveu|skrev|kirjoitti|napisał)\b[^:]*:\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(r"^\s*(On|Am|Le|El|Il|Op|Em|Den|W dniu)\b", re.IGNORECASE)
_OUTLOOK_DIVIDERS = re.compile(r"^\s*(-{3,}\s*Original Message\s*-{3,}|_{10,})\s*$", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^\s*\*?(From|Von|De|Da|Van|Från|Fra)\s*\*?\s*:", re.IGNORECASE)
_SECOND_HEADER_LINE = re.compile(r"^\s*\*?(Sent|Date|Gesendet|Datum|Envoyé|Enviado|Inviato|To|An|À|Para|Subject)\s*\*?\s*:",
                                 re.IGNORECASE)
# A forwarded message is the content itself, so it is never folded.
_FORWARDED = re.compile(r"(Forwarded message|Forwarded Message|Begin forwarded message|Weitergeleitete Nachricht|Message transféré)",
                        re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_QUOTE_PREFIX = re.compile(r"^[ \t]?>")
_SIGNATURE_SEPARATOR = "-- "

_CONTAINER_CLASSES = ("gmail_quote", "yahoo_quoted")
# Thunderbird's attribution sits in a div of its own, just above the blockquote it introduces.
_PREFIX_CLASSES = ("moz-cite-prefix",)
_DIVIDER_CLASSES = ("outlookmessageheader",)
_DIVIDER_IDS = ("divrplyfwdmsg", "appendonsend")
_BORDER_TOP = re.compile(r"border-top\s*:\s*solid", re.IGNORECASE)
_ORIGINAL_MESSAGE = re.compile(r"-{3,}\s*Original Message\s*-{3,}", re.IGNORECASE)
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_BLOCK_TAGS = {"div", "p", "table", "blockquote", "section", "article", "center"}
_INVISIBLE_TEXT = re.compile(r"^[\s\u00a0\u200b\ufeff]*$")


@dataclass(frozen=True)
class Fold:
    """A message body cut where its trailing quote starts.

    Attributes:
        head: The text or markup before the quote (the whole body when
            nothing is quoted).
        quoted: The quote with its attribution, up to the end; '' when
            there is none. ``head + quoted`` is the original body.
        quoted_lines: Lines of quoted plain text, or 0 for HTML.
    """

    head: str
    quoted: str = ""
    quoted_lines: int = 0

    @property
    def has_quote(self) -> bool:
        return bool(self.quoted)


# --- plain text -------------------------------------------------------------------


def is_quote_line(line: str) -> bool:
    """Return whether ``line`` is quoted with ``>`` (one leading space or tab is allowed)."""
    return bool(_QUOTE_PREFIX.match(line))


def quote_depth(line: str) -> int:
    """Return how many ``>`` levels quote ``line`` ("> > a" and ">>a" are both 2)."""
    depth = 0
    for char in line.lstrip(" \t"):
        if char == ">":
            depth += 1
        elif char not in " \t":
            break
    return depth


def fold_plain(text: str) -> Fold:
    """Cut ``text`` where its trailing quote starts, with the attribution line above it.

    The trailing quote is either an Outlook header block (a divider or a
    From: line followed by Sent/Date/To/Subject lines) and everything after
    it, or a run of ``>`` lines followed only by blank lines or a signature.
    """
    lines = text.splitlines(keepends=True)
    start = _outlook_header_start(lines)
    if start is None:
        start = _trailing_quote_start(lines)
    if start is None or any(_FORWARDED.search(line) for line in lines[max(0, start - 2) : start + 3]):
        return Fold(head=text)
    head = "".join(lines[:start])
    quoted = "".join(lines[start:])
    return Fold(head=head, quoted=quoted, quoted_lines=len(lines) - start)


def _outlook_header_start(lines: list[str]) -> int | None:
    for number, line in enumerate(lines):
        if _OUTLOOK_DIVIDERS.match(line):
            following = [item for item in lines[number + 1 : number + 4] if item.strip()]
            if following and _HEADER_LINE.match(following[0]):
                return number
            if re.search(r"Original Message", line, re.IGNORECASE):
                return number
        elif _HEADER_LINE.match(line) and _has_header_block_below(lines, number):
            return number
    return None


def _has_header_block_below(lines: list[str], number: int) -> bool:
    """Tell whether lines after ``number`` hold two more header lines (Sent/Date, To, Subject)."""
    below = lines[number + 1 : number + 5]
    return sum(1 for line in below if _SECOND_HEADER_LINE.match(line)) >= 2


def _trailing_quote_start(lines: list[str]) -> int | None:
    end = _content_end(lines)
    if end == 0 or not is_quote_line(lines[end - 1]):
        return None
    start = end - 1
    while start > 0 and (is_quote_line(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    while not lines[start].strip():
        start += 1
    return _attribution_start(lines, start)


def _content_end(lines: list[str]) -> int:
    """Return the index after the last line that belongs to the body, before blank lines and a signature."""
    end = len(lines)
    for number in range(len(lines) - 1, -1, -1):
        if lines[number].rstrip("\r\n") == _SIGNATURE_SEPARATOR:
            end = number
            break
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    return end


def _attribution_start(lines: list[str], quote_start: int) -> int:
    """Move ``quote_start`` up over the attribution line(s) and one blank line, if there are any."""
    above = quote_start - 1
    if above >= 0 and not lines[above].strip():
        above -= 1
    if above < 0 or not _ATTRIBUTION_END.search(lines[above].rstrip()):
        return quote_start
    # Gmail wraps a long attribution: "On Tue, ... Ana Lima <" / "ana@example.org> wrote:".
    if not _ATTRIBUTION_START.match(lines[above]) and above > 0 and _ATTRIBUTION_START.match(lines[above - 1]):
        return above - 1
    return above


# --- HTML -------------------------------------------------------------------------


@dataclass
class _Element:
    tag: str
    start: int
    marker: str = ""


class _QuoteFinder(HTMLParser):
    """Records where quote containers and Outlook header blocks start and end, as character offsets."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_offsets = _line_offsets(markup)
        self._stack: list[_Element] = []
        self._last_hr: tuple[int, int] | None = None
        self._border_candidate: int | None = None
        self.containers: list[tuple[int, int, str]] = []
        self.divider: int | None = None
        self.text_positions: list[int] = []

    def _position(self) -> int:
        line, column = self.getpos()
        return self._line_offsets[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._position()
        values = {name: (value or "") for name, value in attrs}
        if tag == "hr":
            self._last_hr = (start, start + len(self.get_starttag_text() or ""))
        if tag in _VOID_TAGS:
            return
        marker = self._marker(tag, values)
        if marker == "divider" and self.divider is None:
            self.divider = self._with_hr_before(start)
        if tag == "div" and _BORDER_TOP.search(values.get("style", "")):
            self._border_candidate = start
        self._stack.append(_Element(tag, start, marker if marker != "divider" else ""))

    def _marker(self, tag: str, values: dict[str, str]) -> str:
        classes = values.get("class", "").lower().split()
        if any(name in classes for name in _CONTAINER_CLASSES):
            return "container"
        if any(name in classes for name in _PREFIX_CLASSES):
            return "prefix"
        if tag == "blockquote" and values.get("type", "").lower() == "cite":
            return "container"
        if any(name in classes for name in _DIVIDER_CLASSES) or values.get("id", "").lower() in _DIVIDER_IDS:
            return "divider"
        return ""

    def _with_hr_before(self, start: int) -> int:
        # Outlook on the web draws an <hr> just above its header block; it belongs to the quote.
        if self._last_hr is not None and self._last_hr[1] >= start - 40 and not self._text_since(self._last_hr[1]):
            return self._last_hr[0]
        return start

    def _text_since(self, offset: int) -> bool:
        return bool(self.text_positions) and self.text_positions[-1] >= offset

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "hr":
            start = self._position()
            self._last_hr = (start, start + len(self.get_starttag_text() or ""))

    def handle_endtag(self, tag: str) -> None:
        end = self._position()
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth].tag == tag:
                element = self._stack[depth]
                del self._stack[depth:]
                if element.marker:
                    close = self.rawdata.find(">", end)
                    self.containers.append((element.start, close + 1 if close >= 0 else end, element.marker))
                return

    def handle_data(self, data: str) -> None:
        if _INVISIBLE_TEXT.match(data):
            return
        position = self._position()
        self.text_positions.append(position)
        if self.divider is not None:
            return
        if self._border_candidate is not None:
            if _HEADER_LINE.match(data):
                self.divider = self._border_candidate
            self._border_candidate = None
        if _ORIGINAL_MESSAGE.search(data):
            self.divider = self._innermost_block_start(position)

    def close_open_elements(self, end: int) -> None:
        """Record the quote containers that the markup never closes as ending at ``end``."""
        for element in self._stack:
            if element.marker:
                self.containers.append((element.start, end, element.marker))
        self._stack.clear()

    def _innermost_block_start(self, fallback: int) -> int:
        for element in reversed(self._stack):
            if element.tag in _BLOCK_TAGS:
                return element.start
        return fallback


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for match in re.finditer("\n", text):
        offsets.append(match.end())
    return offsets


def fold_html(markup: str) -> Fold:
    """Cut ``markup`` where its trailing quote starts; both parts are raw, unsanitised HTML.

    Sanitise each part on its own afterwards. The sanitiser closes the tags
    that the cut leaves open in the head and drops the stray end tags of
    the quote.
    """
    finder = _QuoteFinder(markup)
    try:
        finder.feed(markup)
        finder.close()
        finder.close_open_elements(len(markup))
    except (AssertionError, ValueError):
        # HTMLParser raises on a few malformed declarations; such a message is shown unfolded.
        return Fold(head=markup)
    start = _trailing_container_start(finder)
    if finder.divider is not None and (start is None or finder.divider < start):
        start = finder.divider
    if start is None or _FORWARDED.search(_TAG.sub(" ", markup[start : start + 2000])):
        return Fold(head=markup)
    return Fold(head=markup[:start], quoted=markup[start:])


def _trailing_container_start(finder: _QuoteFinder) -> int | None:
    """Return the start of the first quote container after which the message has no text of its own."""
    last_text = finder.text_positions[-1] if finder.text_positions else -1
    containers = sorted(finder.containers)
    for number, (start, end, marker) in enumerate(containers):
        if marker == "prefix" or last_text >= end:
            continue
        # Quote blocks right above this one with no text between belong to it: Thunderbird's
        # attribution div, or Apple Mail's attribution in a blockquote of its own.
        while number > 0:
            previous_start, previous_end, _previous_marker = containers[number - 1]
            if previous_end > start or any(previous_end <= position < start for position in finder.text_positions):
                break
            start = previous_start
            number -= 1
        return start
    return None
