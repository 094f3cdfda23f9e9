"""Recipient data: CSV in the shapes spreadsheets write, and XLSX workbooks.

Every value is read as text, whatever the source, so a CSV file and the same
table saved as XLSX give the same rows. Row numbers count the records after
the header, starting at 1, blank records included, so row N is line N + 1 of
a simple CSV file and row N + 1 of the spreadsheet.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import csv
import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Iterator

from desktop.merge.errors import MergeError, RowError

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
_SNIFF_RECORDS = 50
_SNIFF_CHARS = 64 * 1024
_HEAD_BYTES = 4096
_BLOCK_BYTES = 64 * 1024
# Every _MARK_EVERY records the first read notes where a record starts, so ``DataTable.row`` need not read from
# the top. Every _STAT_EVERY records a pass checks that the file did not change: after each record, because a
# record read after an edit in place must not be sent (a check costs about 2 µs, a message's rendering 120 µs).
_MARK_EVERY = 1000
_STAT_EVERY = 1
# Line ends as ``open(newline="")`` splits lines: CRLF, LF or a lone CR.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Normalised column names (lowercase, without spaces, '-', '_' and '.') taken as the address column, best first.
ADDRESS_COLUMN_NAMES = ("email", "emailaddress", "mail", "mailaddress", "address", "recipient", "to")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# The first bytes of files that are not text data, with what they are, for the message that names them.
_BINARY_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a RIFF file (image, sound or video)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls or .doc)"),
)


class Row(dict):
    """One recipient's values by column name, all text.

    Attributes:
        number: The 1-based row number (1 is the first record after the header).
        line: The line (CSV) or sheet row (XLSX) where the record starts.
    """

    def __init__(self, values: dict[str, str], number: int, line: int) -> None:
        super().__init__(values)
        self.number = number
        self.line = line


@dataclass
class DataTable:
    """The recipient data of one file, read row by row whenever the rows are needed.

    Opening the file reads it once from start to end: it finds the format, the
    columns, the rows whose shape is wrong and the number of rows, and hashes
    the bytes. The rows themselves are not kept: iterating ``rows`` reads the
    file again, so memory stays the same however long the file is. Every pass
    first checks that the file still has the size and time it had when it was
    opened, and raises MergeError if it changed.

    Attributes:
        path: The data file.
        columns: Column names in file order.
        rows: The non-blank rows in file order; iterable any number of times,
            with ``len``. ``row(number)`` finds one row.
        source: How the file was read, for the user: the format and, for
            CSV, the encoding and delimiter found.
        problems: Rows whose shape is wrong (more fields than columns, or a
            quoted field that joined lines meant as records), by row number.
        joined_rows: The numbers of the rows whose quoted field joined lines
            meant as records, so that the rows after them are not line N + 1.
        digest: SHA-256 of the file's bytes, as hex.
        size: The file's size in bytes.
    """

    path: Path
    columns: list[str]
    source: str
    problems: dict[int, RowError] = field(default_factory=dict)
    delimiter: str = ""
    header_fields: int = 0
    digest: str = ""
    size: int = 0
    rows: Rows = field(init=False)

    def __post_init__(self) -> None:
        self.rows = Rows(self)
        self._reader: _Reader | None = None
        self._stamp: tuple[int, int] | None = None
        self._count = 0
        self._last = 0
        self._marks: list[tuple[int, int, object]] = []
        self._blanks: list[int] = []
        self.joined_rows: list[int] = []

    def row(self, number: int) -> Row | None:
        """Return the non-blank row ``number``, or None when the file has no such row."""
        if number < 1 or number > self._last:
            return None
        start = None
        for mark in self._marks:
            if mark[0] > number:
                break
            start = mark
        for row in self._read(start):
            if row.number >= number:
                return row if row.number == number else None
        return None

    def hash_into(self, digest) -> None:  # noqa: ANN001 - a hashlib object
        """Feed the file's bytes to ``digest`` block by block; raise MergeError if the file changed since opening."""
        self._check_unchanged()
        with self.path.open("rb") as handle:
            while block := handle.read(_BLOCK_BYTES):
                digest.update(block)
        self._check_unchanged()

    @property
    def last_number(self) -> int:
        """The number of the last non-blank row (0 when there is none)."""
        return self._last

    def _read(self, start: tuple[int, int, object] | None = None) -> Iterator[Row]:
        """Yield the non-blank rows from the start, or from a mark taken by ``_open``."""
        self._check_unchanged()
        for count, (number, line, fields) in enumerate(self._reader.records(start), start=1):
            if count % _STAT_EVERY == 0:
                self._check_unchanged()
            if any(value.strip() for value in fields):
                values = {name: fields[index] if index < len(fields) else "" for index, name in enumerate(self.columns)}
                yield Row(values, number, line)

    def _open(self, reader: _Reader) -> None:
        """Read the whole file once: count the rows, note the wrong ones and the marks that ``row`` starts from."""
        self._reader = reader
        self._stamp = _stamp(self.path)
        previous: tuple[int, int, list[str]] | None = None
        for number, line, fields, mark in reader.scan():
            # Only a record that spans lines can have joined lines, and that shows when the next record starts.
            if previous is not None and line > previous[1] + 1:
                self._note_joined(*previous)
            previous = None
            if mark is not None:
                self._marks.append(mark)
            if not any(value.strip() for value in fields):
                self._blanks.append(number)
                continue
            self._count += 1
            self._last = number
            previous = (number, line, fields)
            problem = self._shape_problem(number, fields)
            if problem is not None:
                self.problems[number] = problem
        if previous is not None:
            self._note_joined(*previous)
        while self._blanks and self._blanks[-1] > self._last:
            self._blanks.pop()

    def _note_joined(self, number: int, line: int, fields: list[str]) -> None:
        problem = self._joined_problem(number, line, fields)
        if problem is not None:
            self.joined_rows.append(number)
            self.problems[number] = problem

    def _joined_problem(self, number: int, line: int, fields: list[str]) -> RowError | None:
        """Return an error for a CSV record whose quoted field ran over lines that look like further records.

        A quote at the start of a field makes everything up to the next quote part of that field, line breaks
        included. A stray quote thus joins the following lines into one record without any parse error.
        """
        if not self.delimiter:
            return None
        joined = "".join(fields)
        if "\n" not in joined and "\r" not in joined:
            return None
        if not any(self._swallows_records(value, len(fields)) for value in fields):
            return None
        # A field left open at the end of the file ends in the last line break, which starts no further line.
        lines = self._physical_lines(line, line + sum(len(_LINE_BREAK.findall(value)) for value in fields))
        last = line + len(lines) - 1
        quote = _spanning_quote(lines, line, self.delimiter)
        if quote is None:
            return None
        opened, closed = quote
        fix = 'if the quote does not belong there, remove it, or double it ("") to keep it as a character.'
        if closed is None:
            message = (f"the quote that starts a field on line {opened} is never closed, so lines {line} to {last} "
                       f"(the end of the file) were read as one record; {fix}")
        else:
            message = (f"the quote that starts a field on line {opened} closes only on line {closed}, so lines {line} "
                       f"to {last} were read as one record; {fix} Messages about later rows name their line.")
        return RowError(number, None, message, kind="data")

    def _swallows_records(self, value: str, count: int) -> bool:
        """Tell whether a field with line breaks contains lines that look like records of their own.

        Legitimate multi-line values (a postal address) pass. A field is suspect when one of its lines splits at the
        delimiter into at least as many parts as the header has columns, two of them non-empty. It is suspect too
        when it contains the delimiter and its record has another number of fields than the header.
        """
        if "\n" not in value and "\r" not in value:
            return False
        width = len(self.columns)
        for piece in _LINE_BREAK.split(value):
            parts = piece.split(self.delimiter)
            if len(parts) >= width and sum(1 for part in parts if part.strip()) >= 2:
                return True
        return self.delimiter in value and not width <= count <= max(width, self.header_fields)

    def _physical_lines(self, first: int, last: int) -> list[str]:
        """Return the text of file lines ``first`` to ``last`` (fewer at the end of the file), starting at a mark."""
        start_line, position = 1, None
        for _, mark_line, mark_position in self._marks:
            if mark_line > first:
                break
            start_line, position = mark_line, mark_position
        lines = []
        with self.path.open(encoding=self._reader.encoding, newline="") as handle:
            if position is not None:
                handle.seek(position)
            for number in range(start_line, last + 1):
                text = handle.readline()
                if not text:
                    break
                if number >= first:
                    lines.append(text)
        return lines

    def _shape_problem(self, number: int, fields: list[str]) -> RowError | None:
        width = len(self.columns)
        extra = [value for value in fields[width:] if value.strip()]
        # In a CSV file even empty extra fields show an unquoted delimiter, unless the header ends in the delimiter too.
        # Spreadsheets often give rows trailing empty cells, so only non-empty extra cells count there.
        if not extra and not (self.delimiter and len(fields) > max(width, self.header_fields)):
            return None
        if self.delimiter:
            fix = f"put quotes around a value that contains a {_DELIMITER_NAMES[self.delimiter]}."
        else:
            fix = "name the extra columns in the header row, or clear those cells."
        return RowError(number, None, f"has {len(fields)} fields but the header names {width} columns: {fix}", kind="data")

    def changed(self) -> bool:
        """Tell whether the file is gone or has another size or modification time than when it was opened."""
        try:
            return _stamp(self.path) != self._stamp
        except OSError:
            return True

    def _check_unchanged(self) -> None:
        try:
            now = _stamp(self.path)
        except OSError as error:
            raise MergeError(f"{self.path}: cannot be read any more ({error.strerror}); put the file back, "
                             "then open the merge again.") from error
        if now != self._stamp:
            raise MergeError(f"{self.path}: the file changed after the merge was opened, so its rows may no longer "
                             "be the ones checked; open the merge again (check it) before sending.")


class Rows:
    """The rows of a DataTable: iterating reads the file again; ``len`` is the number of non-blank rows."""

    def __init__(self, table: DataTable) -> None:
        self._table = table

    def __iter__(self) -> Iterator[Row]:
        return self._table._read()

    def __len__(self) -> int:
        return self._table._count

    def __bool__(self) -> bool:
        return self._table._count > 0

    def first(self) -> Row | None:
        """Return the first non-blank row, or None when there is none."""
        return next(iter(self), None)

    @property
    def numbers(self) -> RowNumbers:
        """The numbers of the non-blank rows, known without reading the file again."""
        return RowNumbers(self._table._last, self._table._blanks)


class RowNumbers:
    """The numbers of the non-blank rows: 1 to ``last`` without the blank ones; memory grows only with blanks."""

    def __init__(self, last: int = 0, blanks: list[int] | None = None) -> None:
        self.last = last
        self._blanks = blanks or []

    def __len__(self) -> int:
        return self.last - len(self._blanks)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and 1 <= number <= self.last and not self._is_blank(number)

    def __getitem__(self, index: int) -> int:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        number = index + 1
        for blank in self._blanks:
            if blank > number:
                break
            number += 1
        return number

    def step(self, number: int, direction: int) -> int | None:
        """Return the next row number after ``number`` (``direction`` 1) or before it (-1), or None at the end."""
        candidate = number + direction
        if direction < 0:
            candidate = min(candidate, self.last)
        else:
            candidate = max(candidate, 1)
        while 1 <= candidate <= self.last:
            if not self._is_blank(candidate):
                return candidate
            candidate += direction
        return None

    def _is_blank(self, number: int) -> bool:
        index = bisect.bisect_left(self._blanks, number)
        return index < len(self._blanks) and self._blanks[index] == number


def _spanning_quote(lines: list[str], first: int, delimiter: str) -> tuple[int, int | None] | None:
    """Find the first quoted field that runs over more than one of ``lines`` (file lines from ``first`` on).

    Return the line where its quote opens and the line where it closes (None when it never closes), or None when no
    quoted field spans lines. The rules are those of ``csv.reader`` with its default dialect options: a quote opens
    a field only as its first character, and a doubled quote inside a quoted field is a quote character.
    """
    state, opened, quote_line = "start", 0, 0
    for number, text in enumerate(lines, start=first):
        for character in text:
            if state == "quote":
                if character == '"':
                    state = "quoted"
                    continue
                if quote_line != opened:
                    return opened, quote_line
                state = "start"
            if state == "start":
                if character == '"':
                    state, opened = "quoted", number
                elif character not in (delimiter, "\r", "\n"):
                    state = "plain"
            elif state == "plain":
                if character in (delimiter, "\r", "\n"):
                    state = "start"
            elif character == '"':
                state, quote_line = "quote", number
    if state == "quoted":
        return opened, None
    if state == "quote" and quote_line != opened:
        return opened, quote_line
    return None


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def read_data(path: Path) -> DataTable:
    """Open a CSV or XLSX file of recipients, or raise MergeError naming the file and the fix.

    The file is read once here (see DataTable); its rows are read again each time they are iterated.
    """
    path = Path(path)
    if path.is_dir():
        raise MergeError(f"{path}: is a folder; give the path of a .csv or .xlsx file.")
    if not path.is_file():
        raise MergeError(f"{path}: data file not found; give the path of a .csv or .xlsx file.")
    if path.suffix.lower() == ".xls":
        raise MergeError(f"{path}: old Excel .xls files cannot be read; save the sheet as .xlsx or .csv.")
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
    is_zip = head.startswith(b"PK\x03\x04")
    if is_zip and _is_other_zip(path):
        raise MergeError(f"{path}: is a zip archive, not a CSV or XLSX file; give the recipient list as .csv or .xlsx.")
    if not is_zip:
        _not_binary(head, path)
    if path.suffix.lower() in XLSX_SUFFIXES or is_zip:
        table = _open_xlsx(path)
    else:
        table = _open_csv(path, head)
    if not table.rows:
        header = "header line" if table.delimiter else "header row"
        raise MergeError(f"{path}: has a {header} but no rows; add recipients below the header.")
    log.info("Read %d rows, %d columns from %s (%s)", len(table.rows), len(table.columns), path, table.source)
    return table


def _is_other_zip(path: Path) -> bool:
    """Tell whether ``path`` is a readable zip archive without an Excel workbook (``xl/workbook.xml``).

    A damaged archive gives False, so reading it as XLSX reports the damage.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return not any(name.startswith("xl/workbook") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        log.info("%s starts like a zip archive but cannot be opened as one: %s", path, error)
        return False


def _not_binary(head: bytes, path: Path) -> None:
    """Raise MergeError when the file starting with ``head`` is a known binary format."""
    for signature, kind in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise MergeError(f"{path}: is {kind}, not a CSV or XLSX file; give the recipient list as .csv or .xlsx.")


def detect_address_column(columns: list[str]) -> str | None:
    """Return the address column, found by its name (``email``, ``E-Mail``, ``address``...), or None."""
    normalised = {_normalise(name): name for name in reversed(columns)}
    for candidate in ADDRESS_COLUMN_NAMES:
        if candidate in normalised:
            return normalised[candidate]
    for name in columns:
        if "email" in _normalise(name):
            return name
    return None


def _normalise(name: str) -> str:
    return re.sub(r"[\s._-]+", "", name).lower()


def decode_text(raw: bytes, path: Path) -> tuple[str, str]:
    """Decode a text file as Excel and other programs write it; return the text and the encoding's name."""
    if raw.startswith(codecs.BOM_UTF8):
        return _decode(raw[len(codecs.BOM_UTF8):], "utf-8", path), "UTF-8 with byte order mark"
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return _decode(raw, "utf-32", path), "UTF-32 with byte order mark"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(raw, "utf-16", path), "UTF-16 with byte order mark"
    # Plain ASCII text in UTF-16 is valid UTF-8 too (with a NUL after every letter), so look for it first.
    guessed = _utf16_without_bom(raw)
    if guessed:
        return _decode(raw, guessed, path), f"{guessed.upper()} without byte order mark"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in raw:
        raise MergeError(f"{path}: contains NUL bytes and is not a text file; export the data as CSV or XLSX.")
    try:
        return raw.decode("cp1252"), "Windows-1252 (not valid UTF-8)"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "ISO-8859-1 (not valid UTF-8 or Windows-1252)"


def _decode(raw: bytes, encoding: str, path: Path) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise MergeError(
            f"{path}: invalid {encoding.upper()} at byte {error.start}; save the file again as UTF-8."
        ) from error


def _utf16_without_bom(raw: bytes) -> str | None:
    """Guess UTF-16 without a byte order mark from NUL bytes in every other position (mostly ASCII text)."""
    sample = raw[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0) / len(sample[0::2])
    odd_nuls = sample[1::2].count(0) / len(sample[1::2])
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _open_csv(path: Path, head: bytes) -> DataTable:
    encoding, described, digest, size = _scan_encoding(path, head)
    with path.open(encoding=encoding, newline="") as handle:
        sample = handle.read(_SNIFF_CHARS)
    if len(sample) == _SNIFF_CHARS and "\n" in sample:
        sample = sample[:sample.rindex("\n") + 1]
    delimiter = sniff_delimiter(sample)
    reader = _CsvReader(path, encoding, delimiter)
    header = reader.header()
    if header is None:
        raise MergeError(f"{path}: the file is empty; put the column names in the first line and one recipient per line.")
    columns = _columns(header[1], path, f"line {header[0]}")
    table = DataTable(path, columns, f"CSV, {described}, {_DELIMITER_NAMES[delimiter]}-separated",
                      delimiter=delimiter, header_fields=len(header[1]), digest=digest, size=size)
    table._open(reader)
    return table


def _scan_encoding(path: Path, head: bytes) -> tuple[str, str, str, int]:
    """Read the file's bytes once; return the codec to open it with, its description, the SHA-256 and the size.

    The choice is the one ``decode_text`` makes on the whole file. Here the file is read in blocks and checked as
    it goes, so a long file is never in memory at once. Raise MergeError for bytes the encoding cannot decode and
    for NUL bytes in a file that is not UTF-16 or UTF-32.
    """
    boms = ((codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with byte order mark"),
            (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 with byte order mark"),
            (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 with byte order mark"),
            (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 with byte order mark"),
            (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 with byte order mark"))
    chosen = next(((codec, described) for bom, codec, described in boms if head.startswith(bom)), None)
    if chosen is None:
        guessed = _utf16_without_bom(head)
        if guessed:
            chosen = guessed, f"{guessed.upper()} without byte order mark"
    strict = chosen is not None
    codec, described = chosen or ("utf-8", "UTF-8")
    digest, size, failure, nul = _scan_bytes(path, codec)
    if failure is not None and strict:
        raise MergeError(f"{path}: invalid {codec.removesuffix('-sig').upper()} at byte {failure}; "
                         "save the file again as UTF-8.")
    if nul and not strict:
        raise MergeError(f"{path}: contains NUL bytes and is not a CSV or XLSX file; "
                         "give the recipient list as .csv or .xlsx.")
    if failure is None:
        return codec, described, digest, size
    if _scan_bytes(path, "cp1252")[2] is None:
        return "cp1252", "Windows-1252 (not valid UTF-8)", digest, size
    return "latin-1", "ISO-8859-1 (not valid UTF-8 or Windows-1252)", digest, size


def _scan_bytes(path: Path, codec: str) -> tuple[str, int, int | None, bool]:
    """Decode ``path`` block by block; return its SHA-256, its size, the offset of the first bad byte and NUL seen."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(codec)()
    offset, failure, nul = 0, None, False
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK_BYTES):
            digest.update(block)
            nul = nul or b"\x00" in block
            if failure is None:
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as error:
                    failure = offset - pending + error.start
            offset += len(block)
    if failure is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            failure = offset - len(error.object) + error.start
    return digest.hexdigest(), offset, failure, nul


class _Reader:
    """Reads the records of a data file: ``scan`` once from the start, ``records`` from the start or a mark."""

    def scan(self) -> Iterator[tuple[int, int, list[str], object]]:
        """Yield (row number, line, fields, mark or None) for every record after the header."""
        raise NotImplementedError

    def records(self, start: tuple[int, int, object] | None) -> Iterator[tuple[int, int, list[str]]]:
        """Yield (row number, line, fields) for every record after the header, or from the mark ``start``."""
        raise NotImplementedError


class _CsvReader(_Reader):
    """CSV records through ``csv.reader``; a mark is the text file's position where a record starts."""

    def __init__(self, path: Path, encoding: str, delimiter: str) -> None:
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter

    def header(self) -> tuple[int, list[str]] | None:
        for number, line, fields, _ in self._walk(None, marks=False, header=True):
            return line, fields
        return None

    def scan(self):
        return self._walk(None, marks=True, header=False)

    def records(self, start):
        for number, line, fields, _ in self._walk(start, marks=False, header=False):
            yield number, line, fields

    def _walk(self, start, *, marks: bool, header: bool):
        """Yield (number, line, fields, mark) for each record; the header is number 0, yielded only with ``header``.

        A mark, given every ``_MARK_EVERY`` records when ``marks`` is set, is (number, line, position) of the record
        after the one yielded: ``records`` can start there.
        """
        with self.path.open(encoding=self.encoding, newline="") as handle:
            number, first_line = 0, 1
            if start is not None:
                number, first_line, position = start
                handle.seek(position)
            reader = csv.reader(iter(handle.readline, ""), delimiter=self.delimiter)
            line = first_line
            try:
                for fields in reader:
                    following = first_line + reader.line_num
                    if number > 0 or header:
                        mark = None
                        if marks and number % _MARK_EVERY == 0:
                            mark = (number + 1, following, handle.tell())
                        yield number, line, fields, mark
                        if header:
                            return
                    number += 1
                    line = following
            except csv.Error as error:
                raise MergeError(f"{self.path}: line {first_line + reader.line_num - 1}: {error}; "
                                 "check the quotes in that record.") from error
            except UnicodeDecodeError as error:
                raise MergeError(f"{self.path}: cannot be decoded as {self.encoding} any more ({error.reason}); "
                                 "open the merge again.") from error


def sniff_delimiter(text: str) -> str:
    """Return the delimiter that splits the first records into the same number (more than one) of fields."""
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            sample = [record for _, record in zip(range(_SNIFF_RECORDS), reader) if record]
        except csv.Error:
            continue
        if not sample or len(sample[0]) < 2:
            continue
        consistent = sum(1 for record in sample if len(record) == len(sample[0]))
        score = (consistent, len(sample[0]))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _columns(header: list[str], path: Path, where: str) -> list[str]:
    names = [name.strip() for name in header]
    while names and not names[-1]:
        names.pop()
    seen: set[str] = set()
    for index, name in enumerate(names, start=1):
        if not name:
            raise MergeError(f"{path}: {where}: column {index} has no name; write a name in the header for it.")
        if name in seen:
            raise MergeError(f"{path}: {where}: column name {name!r} appears twice; rename one of them.")
        seen.add(name)
    if not names:
        raise MergeError(f"{path}: {where}: the header has no column names; the first line must name the columns.")
    return names


def _open_xlsx(path: Path) -> DataTable:
    reader = _XlsxReader(path)
    header_line, columns_row, title = reader.header()
    columns = _columns(columns_row, path, f"sheet {title!r}, row {header_line}")
    digest, size, _, _ = _scan_bytes(path, "latin-1")
    table = DataTable(path, columns, f"XLSX, first sheet {title!r}", digest=digest, size=size)
    table._open(reader)
    return table


class _XlsxReader(_Reader):
    """Rows of the first sheet through openpyxl's read-only mode, which reads the sheet's XML as it goes.

    A mark is the sheet row a record is on. openpyxl keeps the workbook's shared strings in memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header_line = 0

    def header(self) -> tuple[int, list[str], str]:
        with self._sheet() as (sheet_rows, title):
            for line, cells in enumerate(sheet_rows, start=1):
                fields = [cell_text(cell) for cell in cells]
                if any(value.strip() for value in fields):
                    self.header_line = line
                    return line, fields, title
        raise MergeError(f"{self.path}: the first sheet {title!r} is empty; put the column names in its first row.")

    def scan(self):
        for number, line, fields in self.records(None):
            yield number, line, fields, (number, line, line) if number % _MARK_EVERY == 0 else None

    def records(self, start):
        first = start[1] if start is not None else self.header_line + 1
        with self._sheet(first) as (sheet_rows, _):
            for line, cells in enumerate(sheet_rows, start=first):
                yield line - self.header_line, line, [cell_text(cell) for cell in cells]

    @contextlib.contextmanager
    def _sheet(self, first: int = 1):
        try:
            import openpyxl
        except ImportError as error:
            raise MergeError(
                f"{self.path}: reading .xlsx files needs openpyxl, which is not installed; install it with "
                "'pip install sluice-mail[xlsx]' (or 'pip install openpyxl'), or save the sheet as CSV."
            ) from error
        try:
            workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as error:  # noqa: BLE001 - openpyxl raises many types (zip, XML, key errors) for a broken file
            raise MergeError(f"{self.path}: not a readable XLSX workbook ({error}); save it again from the "
                             "spreadsheet program.") from error
        try:
            sheet = workbook.worksheets[0]
            yield sheet.iter_rows(min_row=first, values_only=True), sheet.title
        finally:
            workbook.close()


def cell_text(value: object) -> str:
    """Return a spreadsheet cell as the text that a CSV export of it contains."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)
