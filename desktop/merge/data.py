"""Recipient data: CSV in the shapes spreadsheets write, and XLSX workbooks.

Every value is read as text, whatever the source, so a CSV file and the same
table saved as XLSX give the same rows. Row numbers count the records after
the header, starting at 1, blank records included, so row N is line N + 1 of
a simple CSV file and row N + 1 of the spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from desktop.merge.errors import MergeError, RowError

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
_SNIFF_RECORDS = 50
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
    """The recipient data read from one file.

    Attributes:
        path: The data file.
        columns: Column names in file order.
        rows: The non-blank rows in file order.
        source: How the file was read, for the user: the format and, for
            CSV, the encoding and delimiter found.
        problems: Rows whose shape is wrong (more fields than columns), by
            row number.
    """

    path: Path
    columns: list[str]
    rows: list[Row]
    source: str
    problems: dict[int, RowError] = field(default_factory=dict)
    delimiter: str = ""
    header_fields: int = 0


def read_data(path: Path) -> DataTable:
    """Read a CSV or XLSX file of recipients, or raise MergeError naming the file and the fix."""
    if path.is_dir():
        raise MergeError(f"{path}: is a folder; give the path of a .csv or .xlsx file.")
    if not path.is_file():
        raise MergeError(f"{path}: data file not found; give the path of a .csv or .xlsx file.")
    if path.suffix.lower() == ".xls":
        raise MergeError(f"{path}: old Excel .xls files cannot be read; save the sheet as .xlsx or .csv.")
    raw = path.read_bytes()
    if raw.startswith(b"PK\x03\x04") and _is_other_zip(path):
        raise MergeError(f"{path}: is a zip archive, not a CSV or XLSX file; give the recipient list as .csv or .xlsx.")
    if not raw.startswith(b"PK\x03\x04"):
        _not_text(raw, path)
    if path.suffix.lower() in XLSX_SUFFIXES or raw.startswith(b"PK\x03\x04"):
        table = _read_xlsx(path)
    else:
        table = _read_csv(path, raw)
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


def _not_text(raw: bytes, path: Path) -> None:
    """Raise MergeError when ``raw`` is a known binary format, or contains NUL bytes and is not UTF-16 or UTF-32."""
    for signature, kind in _BINARY_SIGNATURES:
        if raw.startswith(signature):
            raise MergeError(f"{path}: is {kind}, not a CSV or XLSX file; give the recipient list as .csv or .xlsx.")
    boms = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
    if b"\x00" in raw and not raw.startswith(boms) and not _utf16_without_bom(raw):
        raise MergeError(f"{path}: contains NUL bytes and is not a CSV or XLSX file; "
                         "give the recipient list as .csv or .xlsx.")


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


def _read_csv(path: Path, raw: bytes) -> DataTable:
    text, encoding = decode_text(raw, path)
    delimiter = sniff_delimiter(text)
    records = _records(text, delimiter, path)
    header = next(records, None)
    if header is None:
        raise MergeError(f"{path}: the file is empty; put the column names in the first line and one recipient per line.")
    columns = _columns(header[1], path, f"line {header[0]}")
    table = DataTable(path, columns, [], f"CSV, {encoding}, {_DELIMITER_NAMES[delimiter]}-separated",
                      delimiter=delimiter, header_fields=len(header[1]))
    for number, (line, fields) in enumerate(records, start=1):
        _add_row(table, number, line, fields)
    return table


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


def _records(text: str, delimiter: str, path: Path):
    """Yield (first line, fields) for each record; quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    try:
        for record in reader:
            yield line, record
            line = reader.line_num + 1
    except csv.Error as error:
        raise MergeError(f"{path}: line {reader.line_num}: {error}; check the quotes in that record.") from error


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


def _add_row(table: DataTable, number: int, line: int, fields: list[str]) -> None:
    if not any(value.strip() for value in fields):
        return
    width = len(table.columns)
    extra = [value for value in fields[width:] if value.strip()]
    # In a CSV file even empty extra fields show an unquoted delimiter, unless the header ends in the delimiter too.
    # Spreadsheets often give rows trailing empty cells, so only non-empty extra cells count there.
    if extra or (table.delimiter and len(fields) > max(width, table.header_fields)):
        if table.delimiter:
            fix = f"put quotes around a value that contains a {_DELIMITER_NAMES[table.delimiter]}."
        else:
            fix = "name the extra columns in the header row, or clear those cells."
        table.problems[number] = RowError(
            number, None, f"has {len(fields)} fields but the header names {width} columns: {fix}", kind="data",
        )
    values = {name: fields[index] if index < len(fields) else "" for index, name in enumerate(table.columns)}
    table.rows.append(Row(values, number, line))


def _read_xlsx(path: Path) -> DataTable:
    try:
        import openpyxl
    except ImportError as error:
        raise MergeError(
            f"{path}: reading .xlsx files needs openpyxl, which is not installed; "
            "install it with 'pip install sluice-mail[xlsx]' (or 'pip install openpyxl'), or save the sheet as CSV."
        ) from error
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many types (zip, XML, key errors) for a broken file
        raise MergeError(f"{path}: not a readable XLSX workbook ({error}); save it again from the spreadsheet program.") from error
    try:
        sheet = workbook.worksheets[0]
        return _table_from_sheet(path, sheet.iter_rows(values_only=True), sheet.title)
    finally:
        workbook.close()


def _table_from_sheet(path: Path, sheet_rows, title: str) -> DataTable:
    header_line = 0
    table: DataTable | None = None
    for line, cells in enumerate(sheet_rows, start=1):
        fields = [cell_text(cell) for cell in cells]
        if table is None:
            if not any(value.strip() for value in fields):
                continue
            header_line = line
            columns = _columns(fields, path, f"sheet {title!r}, row {line}")
            table = DataTable(path, columns, [], f"XLSX, first sheet {title!r}")
            continue
        _add_row(table, line - header_line, line, fields)
    if table is None:
        raise MergeError(f"{path}: the first sheet {title!r} is empty; put the column names in its first row.")
    return table


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
