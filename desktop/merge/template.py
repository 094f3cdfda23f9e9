"""Merge templates: header lines with Jinja2, a blank line, then a Markdown or HTML body.

A template is read and compiled once; ``TemplateFile.render_*`` then fill it
with one row's values. Jinja2 runs in its sandbox with undefined names as
errors. Values from the data are inserted as text and never run as template
code, and they are put into a body only after its Markdown is converted, so
a value cannot add markup or links (see ``_BodyRenderer``).
"""

from __future__ import annotations

import difflib
import logging
import re
import secrets
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import markdown
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from desktop.merge.errors import MergeError, RowError
from desktop.merge.filters import FILTERS, FilterError

log = logging.getLogger(__name__)

# Headers a template may not set, with the reason shown to the user.
FORBIDDEN_HEADERS = {
    "message-id": "the sender gives each message its own Message-ID",
    "date": "the sender dates each message when it goes out",
    "mime-version": "it is set from the body",
    "content-type": "it is set from the body (Markdown, or HTML when the file name ends in .html)",
    "content-transfer-encoding": "it is set from the body",
    "list-unsubscribe": "it is added to every message; set the https address with Merge-Unsubscribe-URL",
    "list-unsubscribe-post": "it is added when Merge-Unsubscribe-URL is set",
}
SINGLE_HEADERS = ("from", "to", "cc", "bcc", "reply-to", "subject", "sender")
ADDRESS_HEADERS = ("from", "to", "cc", "bcc", "reply-to", "sender")
# Lines that configure the merge. They are read like headers and never appear in the messages.
SETTINGS = {
    "merge-name": "a name for the merge, used in the unsubscribe subject (default: the template's file name)",
    "merge-attach": "a file name or glob pattern of an attachment, relative to the template's folder (repeatable)",
    "merge-attach-column": "the data column that lists attachment files (default: a column named attachments)",
    "merge-unsubscribe-url": "an https address that unsubscribes the recipient with one click (RFC 8058)",
    "merge-unsubscribe-mailto": "the address that unsubscribe mail goes to (default: the From address)",
}
REPEATABLE_SETTINGS = ("merge-attach",)
_HEADER_LINE = re.compile(r"^([!-9;-~]+):[ \t]*(.*)$")
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")
_MARKDOWN_EXTENSIONS = ["extra", "sane_lists"]
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


@dataclass
class HeaderLine:
    """One header or setting line of a template.

    Attributes:
        name: The header name as written.
        source: The Jinja2 source of its value.
        line: The line in the template file where it starts.
    """

    name: str
    source: str
    line: int
    compiled: jinja2.Template | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return self.name.lower()


class TemplateFile:
    """A parsed and compiled merge template.

    Rendering is not thread-safe (the Markdown converter is shared between rows): render from one thread.

    Attributes:
        path: The template file.
        headers: Header lines that go into each message, in file order.
        settings: ``Merge-*`` lines by lowercase name (``merge-attach`` may repeat).
        is_html: Whether the body is HTML (file name ends in ``.html``) rather than Markdown.
        body_line: The file line where the body starts.
        variables: Names the template reads from the row context.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_html = path.suffix.lower() in (".html", ".htm")
        self.source_bytes = _read_bytes(path)
        lines = _decode(self.source_bytes, path).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        header_lines, self.body_line = _split_header(lines, path)
        self.headers: list[HeaderLine] = []
        self.settings: dict[str, list[HeaderLine]] = {}
        for header in header_lines:
            self._add(header)
        self._check_required()
        self.body_source = "\n".join(lines[self.body_line - 1:])
        self._compile()

    def _add(self, header: HeaderLine) -> None:
        key = header.key
        if key.startswith("merge-"):
            if key not in SETTINGS:
                raise MergeError(self._where(header.line, f"unknown setting {header.name!r}{_suggest(key, SETTINGS)}; "
                                                         f"known settings are {', '.join(_title(name) for name in SETTINGS)}."))
            if key in self.settings and key not in REPEATABLE_SETTINGS:
                raise MergeError(self._where(header.line, f"{header.name} is given twice; keep one."))
            self.settings.setdefault(key, []).append(header)
            return
        if key in FORBIDDEN_HEADERS:
            raise MergeError(self._where(header.line, f"remove the {header.name} header: {FORBIDDEN_HEADERS[key]}."))
        if key in SINGLE_HEADERS and any(existing.key == key for existing in self.headers):
            raise MergeError(self._where(header.line, f"{header.name} is given twice; write all addresses in one "
                                                     f"{header.name} line, separated by commas."))
        self.headers.append(header)

    def _check_required(self) -> None:
        names = {header.key for header in self.headers}
        if "from" not in names:
            raise MergeError(self._where(1, "the From header is missing; add a line such as 'From: Ana <ana@example.com>'."))
        if "subject" not in names:
            raise MergeError(self._where(1, "the Subject header is missing; add a line such as 'Subject: Hello {{ name }}'."))

    def _compile(self) -> None:
        self.text_env = _environment(autoescape=False)
        for header in self.headers + [line for lines in self.settings.values() for line in lines]:
            header.compiled = self._compile_source(self.text_env, header.source, header.line)
        self._body = _BodyRenderer(self.body_source, self.is_html)
        self._body.compiled = self._compile_source(self._body.env, self.body_source, self.body_line)
        # The direct path renders each part with the values in place; it serves bodies that capture output.
        self._direct_text = self._compile_source(self.text_env, self.body_source, self.body_line)
        if self.is_html:
            direct_env = _environment(autoescape=True)
        else:
            # Autoescape makes captured blocks and macro output Markup, so their values are not escaped twice.
            direct_env = _environment(autoescape=True, finalize=_escape_for_markdown)
            self._markdown = markdown.Markdown(extensions=_MARKDOWN_EXTENSIONS, output_format="html")
        self._direct_marked_up = self._compile_source(direct_env, self.body_source, self.body_line)
        self.variables = self._variables()

    def _compile_source(self, env: SandboxedEnvironment, source: str, first_line: int) -> jinja2.Template:
        try:
            code = env.compile(source, filename=_filename(first_line))
        except jinja2.TemplateSyntaxError as error:
            line = first_line + (error.lineno or 1) - 1
            raise MergeError(self._where(line, f"template syntax error: {error.message.rstrip('.')}.")) from error
        return env.template_class.from_code(env, code, env.make_globals(None))

    def _variables(self) -> set[str]:
        from jinja2 import meta

        found: set[str] = set()
        for source in [header.source for header in self.headers] + [self.body_source]:
            found |= meta.find_undeclared_variables(self.text_env.parse(source))
        return found

    def _where(self, line: int, message: str) -> str:
        return f"{self.path}:{line}: {message}"

    def header(self, key: str) -> HeaderLine | None:
        """Return the header line called ``key`` (lowercase), or None."""
        return next((header for header in self.headers if header.key == key), None)

    def setting(self, key: str) -> HeaderLine | None:
        """Return the first ``Merge-*`` line called ``key`` (lowercase), or None."""
        lines = self.settings.get(key)
        return lines[0] if lines else None

    def render_line(self, header: HeaderLine, context: dict, row: int) -> str:
        """Render one header or setting line for ``row``; raise RowError on a template error or a line break."""
        value = self._render(header.compiled, context, row, header.name)
        bad = next((character for character in value if character in "\r\n\0"), None)
        if bad is not None:
            column = _column_with(context, bad, value)
            if column is None:
                where = f"template line {header.line}" if header.line else "the template"
                raise RowError(row, None,
                               f"{where}: the template's {header.name} line makes a {_character_name(bad)}, which "
                               f"a header cannot hold; remove it from the {header.name} line of the template.",
                               kind="header")
            raise RowError(row, column,
                           f"the value of column {column!r} contains a {_character_name(bad)} and would go into the "
                           f"{header.name} header; remove it from the data, or use the value in the body only.",
                           kind="header")
        return value.strip()

    def render_body(self, context: dict, row: int) -> tuple[str, str]:
        """Return the plain-text and the HTML body for ``row``."""
        if not self._body.captures:
            self._body.values.clear()
            skeleton = self._render(self._body.compiled, context, row, "body")
            text, html = self._body.fill(skeleton)
            if not self._body.leaked(text, html):
                return text, html
            log.debug("Body tokens were changed by a filter; rendering row %d directly", row)
        return self._render_direct(context, row)

    def _render_direct(self, context: dict, row: int) -> tuple[str, str]:
        """Render the body with its values in place and convert it for every row (slower, no tokens)."""
        if self.is_html:
            html = self._render(self._direct_marked_up, context, row, "body")
            return html_to_text(html), html
        text = self._render(self._direct_text, context, row, "body")
        marked_up = self._render(self._direct_marked_up, context, row, "body")
        return text, markdown_to_html(marked_up, self._markdown)

    def _render(self, compiled: jinja2.Template, context: dict, row: int, part: str) -> str:
        try:
            return compiled.render(context)
        except jinja2.UndefinedError as error:
            name = _undefined_name(error)
            raise RowError(row, name, f"{_template_place(error, part)}: {_undefined_message(name, context)}",
                           kind="template") from error
        except jinja2.exceptions.SecurityError as error:
            raise RowError(row, None, f"{_template_place(error, part)}: not allowed in a template ({error}).",
                           kind="template") from error
        except FilterError as error:
            # A filter gets only the value, so the column is found by comparing values.
            column = _column_of_value(context, error.value)
            raise RowError(row, column, f"{_template_place(error, part)}: {error}", kind="template") from error
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
            raise RowError(row, None, f"{_template_place(error, part)}: {type(error).__name__}: {error}",
                           kind="template") from error


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MergeError(f"{path}: template file not found; give the path of a template file.") from None
    except IsADirectoryError:
        raise MergeError(f"{path}: is a folder; give the path of a template file.") from None
    except OSError as error:
        raise MergeError(f"{path}: cannot read the template: {error.strerror}.") from error


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise MergeError(f"{path}:{line}: the template is not UTF-8 text; save it as UTF-8.") from error


def _split_header(lines: list[str], path: Path) -> tuple[list[HeaderLine], int]:
    """Return the header lines (continuations unfolded) and the line number where the body starts."""
    headers: list[HeaderLine] = []
    # A file ending in a line break splits into a last empty string that is not a blank line.
    for index, text in enumerate(lines[:-1] if lines and lines[-1] == "" else lines):
        number = index + 1
        if not text.strip():
            if not headers:
                raise MergeError(f"{path}:{number}: the template must start with header lines such as "
                                 "'Subject: ...', then a blank line, then the body.")
            return headers, number + 1
        if text[0] in " \t" and headers:
            headers[-1].source += " " + text.strip()
            continue
        match = _HEADER_LINE.match(text)
        if not match:
            raise MergeError(f"{path}:{number}: {text[:60]!r} is not a header line; write 'Name: value', and leave "
                             "a blank line between the headers and the body.")
        headers.append(HeaderLine(match.group(1), match.group(2).rstrip(), number))
    raise MergeError(f"{path}: no blank line after the headers; leave one empty line between the headers and the body.")


def _environment(*, autoescape: bool = False, finalize=None) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=autoescape, finalize=finalize,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


class _BodyRenderer:
    """Render a body once per row and convert it to HTML (or text) once per distinct shape.

    Every ``{{ expression }}`` is written into the rendered body as a token (letters and digits, which
    Markdown and HTML leave alone) while its value is kept aside. The rendered body with tokens, its
    skeleton, depends only on the template's literal text and on which ``if`` branches and how many loop
    turns a row takes, so most rows share a few skeletons. Each skeleton is converted once
    (Markdown to HTML, or HTML to text) and the values are put in afterwards: unchanged into the text,
    HTML-escaped into the HTML (values marked safe in the template go in as they are). So a value is never
    read as Markdown or HTML, and converting costs little per row.
    """

    _CACHE_SIZE = 256
    # Output captured by these tags can reach a filter with the tokens inside it (`{{ badge(x) | upper }}`).
    # Such bodies take the direct path, and ``leaked`` catches any other changed token.
    _CAPTURING_TAG = re.compile(r"\{%-?\s*(?:macro|call|filter|set\s+[\w,\s]+-?%\})")

    def __init__(self, source: str, is_html: bool) -> None:
        self.is_html = is_html
        self.captures = bool(self._CAPTURING_TAG.search(source))
        self.prefix = _unused_prefix(source)
        self.token = re.compile(re.escape(self.prefix) + r"(\d+)z")
        self.values: list[str] = []
        self.env = _environment(finalize=self._record)
        self.compiled: jinja2.Template | None = None
        self._converted: OrderedDict[str, str] = OrderedDict()
        self._markdown = None if is_html else markdown.Markdown(extensions=_MARKDOWN_EXTENSIONS, output_format="html")

    @property
    def _record(self):
        values, prefix = self.values, self.prefix

        # pass_context makes Jinja2 call this at render time, also for constant expressions, so the tokens are
        # numbered in output order.
        @jinja2.pass_context
        def record(_context, value: object) -> str:
            # str() here, inside the render, so an undefined name raises where the template reports it.
            values.append(value if isinstance(value, Markup) else str(value))
            return f"{prefix}{len(values) - 1}z"

        return record

    def leaked(self, text: str, html: str) -> bool:
        """Tell whether a token survived filling in any letter case, so a filter changed it."""
        return self.prefix in text.lower() or self.prefix in html.lower()

    def fill(self, skeleton: str) -> tuple[str, str]:
        """Return the text and the HTML for a rendered ``skeleton`` and the values recorded while rendering it."""
        converted = self._convert(skeleton)
        if self.is_html:
            return self._put(converted, _plain_value), self._put(skeleton, _html_value)
        return self._put(skeleton, _plain_value), self._put(converted, _html_value)

    def _convert(self, skeleton: str) -> str:
        converted = self._converted.get(skeleton)
        if converted is None:
            converted = html_to_text(skeleton) if self.is_html else markdown_to_html(skeleton, self._markdown)
            self._converted[skeleton] = converted
            if len(self._converted) > self._CACHE_SIZE:
                self._converted.popitem(last=False)
        else:
            self._converted.move_to_end(skeleton)
        return converted

    def _put(self, text: str, show, depth: int = 0) -> str:
        """Replace each token in ``text`` with its value as ``show`` writes it."""
        def value(match: re.Match[str]) -> str:
            written = show(self.values[int(match.group(1))])
            # A macro's output contains the tokens of its own expressions.
            return self._put(written, show, depth + 1) if depth < 8 and self.prefix in written else written

        return self.token.sub(value, text)


def _escape_for_markdown(value: object) -> object:
    """Escape an inserted value so Markdown shows it as text: no HTML, emphasis, links or headings from data."""
    if isinstance(value, Markup):
        return value
    return Markup(_MARKDOWN_SPECIALS.sub(r"\\\1", html_escape(str(value), quote=False)))


def _plain_value(value: str) -> str:
    return str(value)


def _html_value(value: str) -> str:
    return str(value) if isinstance(value, Markup) else html_escape(value)


def _unused_prefix(source: str) -> str:
    """Return a token prefix of lowercase letters that does not occur in ``source``."""
    while True:
        prefix = "mrg" + "".join(secrets.choice("bcdfghjklmnpqrstvwxy") for _ in range(8))
        if prefix not in source:
            return prefix


def _filename(first_line: int) -> str:
    return f"<merge template from line {first_line}>"


def _template_place(error: BaseException, part: str) -> str:
    """Return 'template line N' for the innermost template frame of ``error``, or the part's name."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        match = re.match(r"<merge template from line (\d+)>", frame.filename or "")
        if match and frame.lineno:
            return f"template line {int(match.group(1)) + frame.lineno - 1}"
    return f"template {part}"


def _undefined_name(error: jinja2.UndefinedError) -> str | None:
    match = _UNDEFINED_NAME.search(str(error.message or ""))
    return (match.group(1) or match.group(2)) if match else None


def _undefined_message(name: str | None, context: dict) -> str:
    if name is None:
        return "a name in the template is undefined; check the spelling of variables and columns."
    columns = list(context.get("row", {}))
    hint = _suggest(name, columns + [key for key in context if key != "row"])
    listed = ", ".join(repr(column) for column in columns) or "none"
    return f"{name!r} is not a column of the data or a template variable{hint}; the columns are {listed}."


def _suggest(name: str, choices) -> str:
    """Return ' (did you mean 'X'?)' for the choice closest to ``name``, or an empty string."""
    choices = [str(choice) for choice in choices]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close:
        close = [choice for choice in choices if choice.lower() == name.lower()][:1]
    if not close:
        return ""
    best = _title(close[0]) if close[0].startswith("merge-") else close[0]
    return f" (did you mean {best!r}?)"


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-")).replace("Url", "URL")


def _column_with(context: dict, character: str, rendered: str) -> str | None:
    """Return the column whose value brought ``character`` into ``rendered``, or None."""
    found = [(column, str(value)) for column, value in context.get("row", {}).items() if character in str(value)]
    for column, value in found:
        if value in rendered:
            return column
    return found[0][0] if found else None


def _column_of_value(context: dict, value: object) -> str | None:
    """Return the first column whose value is ``value`` (compared as stripped text), or None."""
    if value is None:
        return None
    text = str(value).strip()
    return next((column for column, cell in context.get("row", {}).items() if str(cell).strip() == text), None)


def _character_name(character: str) -> str:
    return {"\r": "line break (CR)", "\n": "line break (LF)", "\0": "NUL character"}[character]


def markdown_to_html(text: str, converter: markdown.Markdown | None = None) -> str:
    """Convert a Markdown body to a small HTML document, with ``converter`` if given (reset before use)."""
    converter = converter or markdown.Markdown(extensions=_MARKDOWN_EXTENSIONS, output_format="html")
    body = converter.reset().convert(text)
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{body}\n</body></html>\n'


class _TextMaker(HTMLParser):
    """Turn HTML into readable plain text, keeping link addresses and list bullets."""

    _BLOCKS = {"p", "div", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "section",
               "article", "header", "footer", "pre"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._links: list[str | None] = []
        self._link_start: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a":
            self._links.append(dict(attrs).get("href"))
            self._link_start.append(len(self.parts))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            text = "".join(self.parts[self._link_start.pop():]).strip()
            if href and not href.startswith("#") and href != text and href.removeprefix("mailto:") != text:
                self.parts.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Return the plain-text alternative of an HTML body: paragraphs, list bullets and link addresses kept."""
    maker = _TextMaker()
    maker.feed(markup)
    maker.close()
    text = "".join(maker.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
