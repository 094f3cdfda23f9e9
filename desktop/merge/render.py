"""Open a merge (template plus recipient data) and render each row into a complete message.

``open_merge`` reads and checks both files once. ``Merge.render(row)`` then
returns the message for one recipient. It is complete except ``Message-ID``
and ``Date``, because the sender sets those as each message goes out.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import keyword
import logging
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path

import jinja2
from jinja2 import meta

from desktop.config import is_plain_address
from desktop.merge import attachments as attach
from desktop.merge import mime
from desktop.merge.data import DataTable, Row, detect_address_column, read_data
from desktop.merge.errors import MergeError, RowError, SuppressedError
from desktop.merge.suppress import SuppressionList
from desktop.merge.template import ADDRESS_HEADERS, HeaderLine, TemplateFile
from desktop.merge.unsubscribe import ONE_CLICK, Unsubscribe, check_url, for_merge

log = logging.getLogger(__name__)

# Names every template can use besides the columns; a column with one of these names is reachable as row["name"].
RESERVED_NAMES = ("row", "row_number", "merge_name", "unsubscribe", "unsubscribe_url", "unsubscribe_mailto")
NAME_COLUMNS = ("name", "fullname", "full name", "display name")
RECIPIENT_HEADERS = ("to", "cc", "bcc")
# A header of the simple form 'Display name <address>', rendered in two parts so a name may contain commas.
_NAME_ADDR = re.compile(r'^\s*(?:"(?P<quoted>[^"]*)"|(?P<plain>[^<>"]*?))\s*<(?P<address>[^<>]*)>\s*$')
_KEY_VERSION = b"sluice-merge-key-1\n"
# Joins the header lines of one batch render; a value that contains it makes the batch fall back to single lines.
_SEPARATOR = "\x1e"


class _Context(dict):
    """A row's template variables, with the header values already rendered for it (``rendered``)."""

    rendered: dict[tuple[int, str], str]

    def __init__(self, values: dict) -> None:
        super().__init__(values)
        self.rendered = {}


class _Batch:
    """Several header lines rendered as one Jinja2 template, which costs far less than one render per line.

    A failure of any kind, or a value containing the separator or a line break, makes ``render`` return
    nothing, so each line is then rendered alone and a problem is reported for the exact line.
    """

    def __init__(self, template: TemplateFile, parts: list[HeaderLine]) -> None:
        self.parts = parts
        self.compiled = None
        if len(parts) > 1:
            try:
                self.compiled = template.text_env.from_string(_SEPARATOR.join(part.source for part in parts))
            except Exception:  # noqa: BLE001 - the lines compile alone; the joined form is only a shortcut
                log.debug("Header lines do not compile as one template; rendering them one by one")

    def render(self, context: dict) -> dict[tuple[int, str], str]:
        if self.compiled is None:
            return {}
        try:
            values = self.compiled.render(context).split(_SEPARATOR)
        except Exception:  # noqa: BLE001 - rendered again line by line, which reports the error precisely
            return {}
        if len(values) != len(self.parts) or any(character in value for value in values for character in "\r\n\0"):
            return {}
        return {(part.line, part.source): value.strip() for part, value in zip(self.parts, values)}


@dataclass
class RenderedMessage:
    """One recipient's message, ready to send.

    Attributes:
        row: The data row it was made from (1-based).
        key: Stable within the merge: the row number and the first To address.
        to: The envelope recipients (To, Cc and Bcc addresses), without repeats.
        sender: The envelope sender (the From address).
        raw: The message in wire format (CRLF line ends), without ``Message-ID``, ``Date`` and Bcc.
        attachments: The files attached, in order.
    """

    row: int
    key: str
    to: list[str]
    sender: str
    raw: bytes
    attachments: list[attach.Attachment] = field(default_factory=list)

    @cached_property
    def message(self) -> EmailMessage:
        """The message as an ``EmailMessage`` (default policy), parsed from ``raw`` when first read.

        Each read returns the same object, so changes made to it (such as setting Message-ID) stay.
        """
        return email.message_from_bytes(self.raw, _class=EmailMessage, policy=email.policy.default)

    def as_bytes(self, message_id: str | None = None, date: str | None = None) -> bytes:
        """Return the wire format with ``Message-ID`` and ``Date`` put first; much faster than serialising ``message``."""
        extra = b""
        if message_id:
            extra += _header_bytes("Message-ID", message_id)
        if date:
            extra += _header_bytes("Date", date)
        return extra + self.raw


def _header_bytes(name: str, value: str) -> bytes:
    if any(character in value for character in "\r\n") or not value.isascii():
        raise ValueError(f"{name} {value!r} must be one line of ASCII text.")
    return f"{name}: {value}\r\n".encode("ascii")


@dataclass
class PreparedRow:
    """Everything of one row's message except the MIME structure, which ``Merge.build`` makes."""

    row: int
    headers: list[tuple[str, object]]
    recipients: list[str]
    primary: str
    sender: str
    text: str
    html: str
    attachments: list[attach.Attachment]
    unsubscribe: Unsubscribe


def open_merge(template: Path, data: Path, *, profile) -> Merge:
    """Read and check a template and its data file; raise MergeError naming the file, place and fix.

    ``profile`` gives the suppression list; None uses none (for previews without a profile).
    """
    template_file = TemplateFile(Path(template))
    table = read_data(Path(data))
    suppressed = SuppressionList(profile).addresses() if profile is not None else set()
    merge = Merge(template_file, table, suppressed)
    log.info("Opened merge %r: %d rows from %s", merge.name, len(merge), table.path)
    return merge


class Merge:
    """A template with its recipient data.

    Attributes:
        template: The parsed template.
        table: The recipient data.
        rows: The non-blank data rows, read from the file each time they are iterated (see DataTable); each
            is a dict with ``number`` and ``line`` attributes.
        name: The merge's name (``Merge-Name``, or the template's file name without extension).
        address_column: The data column with the recipients' addresses, if one could be named.
        attach_column: The data column that lists attachment files, or None.
        suppressed: Lowercased addresses on the suppression list when the merge was opened.
    """

    def __init__(self, template: TemplateFile, table: DataTable, suppressed: set[str] | None = None) -> None:
        self.template = template
        self.table = table
        self.rows = table.rows
        self.suppressed = {address.lower() for address in suppressed or ()}
        self.base = template.path.parent
        self.name = self._static_setting("merge-name") or template.path.stem
        self.to_line = self._to_line()
        self.address_column = self._address_column()
        self.attach_column = self._attach_column()
        self._cache = attach.ContentCache()
        self._splits: dict[tuple[int, str], tuple[HeaderLine, HeaderLine] | None] = {}
        self._resolved: dict[str, attach.Resolution] = {}
        sender_lines = [self.template.header("from")] + [
            line for key in ("merge-unsubscribe-url", "merge-unsubscribe-mailto") for line in self.template.settings.get(key, [])
        ]
        other_lines = [self.to_line] + [line for line in self.template.headers if line.key not in ("from", "to")]
        self._sender_batch = _Batch(template, self._batch_parts(sender_lines))
        self._header_batch = _Batch(template, self._batch_parts(other_lines + self.template.settings.get("merge-attach", [])))

    def __len__(self) -> int:
        return len(self.rows)

    def _static_setting(self, key: str) -> str:
        line = self.template.setting(key)
        return line.source.strip() if line else ""

    def _to_line(self) -> HeaderLine:
        """Return the template's To line, or one made from the address column when the template has none."""
        existing = self.template.header("to")
        if existing is not None:
            return existing
        column = detect_address_column(self.table.columns)
        if column is None:
            raise MergeError(
                f"{self.template.path}: the template has no To header and {self.table.path} has no column named "
                f"email, e-mail, mail or address; add a line such as 'To: {{{{ row[\"{self.table.columns[0]}\"] }}}}' "
                "to the template."
            )
        source = f'{{{{ row[{column!r}] }}}}'
        names = {re.sub(r"\s+", " ", name.lower().strip()): name for name in self.table.columns}
        name_column = next((names[candidate] for candidate in NAME_COLUMNS if candidate in names), None)
        if name_column:
            source = f'{{{{ row[{name_column!r}] }}}} <{source}>'
        line = HeaderLine("To", source, 0)
        line.compiled = self.template.text_env.from_string(source)
        return line

    def _address_column(self) -> str | None:
        """Return the column the To line takes its address from, for naming it in problems."""
        source = self.to_line.source
        used = meta.find_undeclared_variables(self.template.text_env.parse(source))
        named = [column for column in self.table.columns
                 if column in used or f"'{column}'" in source or f'"{column}"' in source]
        return detect_address_column(named) or (named[-1] if named else None) or detect_address_column(self.table.columns)

    def _attach_column(self) -> str | None:
        chosen = self._static_setting("merge-attach-column")
        if chosen:
            if chosen not in self.table.columns:
                raise MergeError(
                    f"{self.template.path}: Merge-Attach-Column names {chosen!r}, which is not a column of "
                    f"{self.table.path}; the columns are {', '.join(repr(column) for column in self.table.columns)}."
                )
            return chosen
        lowered = {column.lower(): column for column in self.table.columns}
        return next((lowered[name] for name in attach.COLUMN_NAMES if name in lowered), None)

    def row(self, number: int) -> Row:
        """Return data row ``number``, or raise RowError when the data has no such row."""
        found = self.table.row(number)
        if found is None:
            last = self.table.last_number
            raise RowError(number, None, f"there is no row {number}; the data has rows 1 to {last}.", kind="data")
        return found

    def context(self, row: Row) -> dict:
        """Return the template variables of ``row``: its columns by name, and ``row`` with every column."""
        values = {name: value for name, value in row.items() if name.isidentifier() and not keyword.iskeyword(name)}
        values.update(row=dict(row), row_number=row.number, merge_name=self.name)
        return _Context(values)

    def render(self, row: int | Row) -> RenderedMessage:
        """Render one row (a Row, or its number) into a message; raise RowError (SuppressedError when suppressed)."""
        prepared = self.prepare(row)
        return RenderedMessage(
            row=prepared.row,
            key=f"{prepared.row}:{prepared.primary.lower()}",
            to=prepared.recipients,
            sender=prepared.sender,
            raw=self.build(prepared),
            attachments=prepared.attachments,
        )

    def prepare(self, row: int | Row) -> PreparedRow:
        """Render and check everything of one row (a Row, or its number) except the MIME structure.

        Give the Row when you have it: finding a row by its number reads the data file up to that row.
        """
        if not isinstance(row, Row):
            row = self.row(row)
        row_number = row.number
        problem = self.table.problems.get(row_number)
        if problem is not None:
            raise problem
        context = self.context(row)
        context.rendered = self._sender_batch.render(context)
        sender_address, from_value = self._from(context, row_number)
        unsubscribe = self._unsubscribe(context, row_number, sender_address)
        context.update(unsubscribe=unsubscribe.text(), unsubscribe_url=unsubscribe.url,
                       unsubscribe_mailto=unsubscribe.mailto)
        context.rendered = self._header_batch.render(context)
        headers, recipients = self._headers(context, row_number, from_value)
        primary = recipients[0]
        blocked = [address for address in recipients if address.lower() in self.suppressed]
        if blocked:
            raise SuppressedError(row_number, self.address_column, blocked)
        found = self._attachments(context, row_number)
        text, html = self.template.render_body(context, row_number)
        return PreparedRow(row_number, headers, recipients, primary, sender_address, text, html, found, unsubscribe)

    def _from(self, context: dict, row: int) -> tuple[str, list[Address]]:
        line = self.template.header("from")
        addresses = self._addresses(line, context, row)
        if len(addresses) != 1:
            raise RowError(row, "From", "the From header must hold exactly one address.", kind="address")
        return addresses[0].addr_spec, addresses

    def _unsubscribe(self, context: dict, row: int, sender: str) -> Unsubscribe:
        url = ""
        url_line = self.template.setting("merge-unsubscribe-url")
        if url_line is not None:
            url = self._line(url_line, context, row)
            problem = check_url(url) if url else None
            if problem:
                raise RowError(row, None, f"Merge-Unsubscribe-URL (template line {url_line.line}): {problem}",
                               kind="template")
        address = sender
        mailto_line = self.template.setting("merge-unsubscribe-mailto")
        if mailto_line is not None:
            found = self._addresses(mailto_line, context, row)
            if len(found) != 1:
                raise RowError(row, None, "Merge-Unsubscribe-Mailto must hold exactly one address.", kind="template")
            address = found[0].addr_spec
        return for_merge(address, self.name, url)

    def _headers(self, context: dict, row: int, from_value: list[Address]) -> tuple[list[tuple[str, object]], list[str]]:
        """Render the header lines; return them (without Bcc) and the envelope recipients."""
        headers: list[tuple[str, object]] = [("From", from_value)]
        recipients: list[str] = []
        lines = [line for line in self.template.headers if line.key not in ("from", "to")]
        for line in [self.to_line] + lines:
            if line.key in ADDRESS_HEADERS:
                value = self._addresses(line, context, row)
                if line.key in RECIPIENT_HEADERS:
                    recipients += [address.addr_spec for address in value if address.addr_spec not in recipients]
            else:
                value = self._line(line, context, row)
            if value and line.key != "bcc":
                headers.append((line.name, value))
        if not recipients:
            raise RowError(row, self.address_column, "the address is empty; fill in the address or remove the row.",
                           kind="address")
        return headers, recipients

    def _addresses(self, line: HeaderLine, context: dict, row: int) -> list[Address]:
        """Render an address header line and return its addresses, each checked."""
        split = self._split(line)
        if split is not None:
            return self._name_addr(line, split, context, row)
        rendered = self._line(line, context, row)
        if not rendered:
            return []
        try:
            header = email.policy.default.header_factory(line.name, rendered)
            found = list(header.addresses)
        except Exception as error:  # noqa: BLE001 - the stdlib address parser raises IndexError and others on bad input
            raise RowError(row, self._column_for(line), f"{line.name} {rendered!r} is not a valid address list "
                           f"({error}); separate addresses with commas.", kind="address") from error
        return [self._checked(address.display_name, address.addr_spec, line, row) for address in found]

    def _name_addr(self, line: HeaderLine, split: tuple[HeaderLine, HeaderLine], context: dict,
                   row: int) -> list[Address]:
        """Render 'Name <address>' in two parts, so any character in the name is fine."""
        name = self._line(split[0], context, row)
        address = self._line(split[1], context, row)
        if not address:
            return []
        return [self._checked(name, address, line, row)]

    def _split(self, line: HeaderLine) -> tuple[HeaderLine, HeaderLine] | None:
        """Return the name and address parts of a 'Name <address>' line, compiled, or None for other lines."""
        key = (line.line, line.source)
        if key in self._splits:
            return self._splits[key]
        match = _NAME_ADDR.match(line.source) if line.key in ADDRESS_HEADERS else None
        split = None
        if match and "," not in match.group("address"):
            name_source = match.group("quoted") if match.group("quoted") is not None else match.group("plain")
            try:
                split = (self._part(line, name_source), self._part(line, match.group("address")))
            except jinja2.TemplateSyntaxError:
                # The '<' belonged to a Jinja2 expression; the line is then read as a whole.
                split = None
        self._splits[key] = split
        return split

    def _part(self, line: HeaderLine, source: str) -> HeaderLine:
        """Return a compiled line for part of ``line`` (the name or the address of 'Name <address>')."""
        part = HeaderLine(line.name, source, line.line)
        part.compiled = self.template.text_env.from_string(source)
        return part

    def _line(self, line: HeaderLine, context: dict, row: int) -> str:
        """Return the rendered value of ``line`` for this row, from the batch render when it has it."""
        rendered = getattr(context, "rendered", {}).get((line.line, line.source))
        return rendered if rendered is not None else self.template.render_line(line, context, row)

    def _batch_parts(self, lines: list[HeaderLine]) -> list[HeaderLine]:
        """Return the units that rendering ``lines`` needs: 'Name <address>' lines as two parts."""
        parts = []
        for line in lines:
            split = self._split(line)
            parts += list(split) if split is not None else [line]
        return parts

    def _checked(self, name: str, address: str, line: HeaderLine, row: int) -> Address:
        address = address.strip()
        plain = _ascii_domain(address)
        if plain is None or not is_plain_address(plain):
            written = address or "(empty)"
            raise RowError(row, self._column_for(line),
                           f"{written!r} in {line.name} is not a valid address; write it as name@example.com.",
                           kind="address")
        username, domain = plain.rsplit("@", 1)
        return Address(display_name=" ".join(name.split()), username=username, domain=domain)

    def _column_for(self, line: HeaderLine) -> str | None:
        return self.address_column if line.key == "to" else line.name

    def _attachments(self, context: dict, row: int) -> list[attach.Attachment]:
        patterns = self._attachment_patterns(context, row)
        if not patterns:
            return []
        resolution = self._resolve(patterns)
        if resolution.missing:
            listed = "; ".join(resolution.missing)
            raise RowError(row, self.attach_column, f"attachment not found: {listed} (looked in {self.base}).",
                           kind="attachment")
        return resolution.found

    def _resolve(self, patterns: list[str]) -> attach.Resolution:
        """Resolve attachment patterns, remembering each pattern's result: the files are checked once per merge."""
        found: list[attach.Attachment] = []
        missing: list[str] = []
        for pattern in patterns:
            known = self._resolved.get(pattern)
            if known is None:
                known = self._resolved[pattern] = attach.resolve([pattern], self.base)
            found += [item for item in known.found if item not in found]
            missing += known.missing
        return attach.Resolution(found, missing)

    def _attachment_patterns(self, context: dict, row: int) -> list[str]:
        patterns = [self._line(line, context, row) for line in self.template.settings.get("merge-attach", [])]
        if self.attach_column:
            patterns += attach.split_names(context["row"].get(self.attach_column, ""))
        return [pattern for pattern in patterns if pattern]

    def build(self, prepared: PreparedRow) -> bytes:
        """Make the message in wire format: text and HTML alternatives, then the attachments."""
        lines = []
        for name, value in prepared.headers:
            if isinstance(value, list):
                lines.append(mime.address_header(name, value))
            else:
                lines.append(mime.unstructured_header(name, value))
        lines.append(mime.fold("List-Unsubscribe", prepared.unsubscribe.header().split(", "), separator=", "))
        if prepared.unsubscribe.url:
            lines.append(f"List-Unsubscribe-Post: {ONE_CLICK}\r\n")
        lines.append("MIME-Version: 1.0\r\n")
        content = mime.multipart("alternative", [mime.text_part(prepared.text, "plain"), mime.text_part(prepared.html, "html")])
        if prepared.attachments:
            parts = [content] + [self._attachment_part(item) for item in prepared.attachments]
            content = mime.multipart("mixed", parts)
        headers, body = content
        return ("".join(lines) + headers + "\r\n" + body).encode("ascii")

    def _attachment_part(self, item: attach.Attachment) -> tuple[str, str]:
        encoded = self._cache.read(item.path, mime.encode_attachment)
        return mime.attachment_part(item.filename, item.content_type, encoded)

    def check(self):
        """Check every row and return a CheckReport (see ``desktop.merge.check``)."""
        from desktop.merge.check import check_merge

        return check_merge(self)

    @cached_property
    def merge_key(self) -> str:
        """A hash of the template, the data and every attachment file: the same inputs give the same key."""
        digest = hashlib.sha256(_KEY_VERSION)
        source = self.template.source_bytes
        digest.update(len(source).to_bytes(8, "big"))
        digest.update(source)
        digest.update(self.table.size.to_bytes(8, "big"))
        self.table.hash_into(digest)
        for path in sorted(self._all_attachment_files()):
            digest.update(str(path.relative_to(self.base.resolve())).encode() + b"\0")
            digest.update(attach.file_digest(path).encode())
        return digest.hexdigest()[:32]

    def _all_attachment_files(self) -> set[Path]:
        files: set[Path] = set()
        for row in self.rows:
            try:
                patterns = self._attachment_patterns(self.context(row), row.number)
            except RowError:
                continue
            files.update(item.path for item in self._resolve(patterns).found)
        return files


def _ascii_domain(address: str) -> str | None:
    """Return ``address`` with an internationalised domain in its ASCII (IDNA) form, or None if it cannot be."""
    if "@" not in address:
        return None
    local, domain = address.rsplit("@", 1)
    if not local.isascii():
        return None
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None
