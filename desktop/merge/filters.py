"""Jinja2 filters for merge templates: names, dates and numbers.

They do not depend on the process locale, so a merge renders the same on every
machine. Dates and numbers take a ``lang`` argument for the few languages
listed in ``MONTHS`` and ``NUMBER_STYLES``; English is the default.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, ROUND_HALF_UP

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
}
WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
# The named date formats: "long" and "medium" differ by language.
DATE_FORMATS = {
    "iso": {"*": "%Y-%m-%d"},
    "long": {"en": "%-d %B %Y", "de": "%-d. %B %Y", "fr": "%-d %B %Y", "es": "%-d de %B de %Y"},
    "medium": {"en": "%-d %b %Y", "de": "%-d. %b %Y", "fr": "%-d %b %Y", "es": "%-d %b %Y"},
    "short": {"en": "%d/%m/%Y", "de": "%d.%m.%Y", "fr": "%d/%m/%Y", "es": "%d/%m/%Y"},
    "us": {"*": "%m/%d/%Y"},
}
# Thousands separator and decimal point by language.
NUMBER_STYLES = {"en": (",", "."), "de": (".", ","), "fr": ("\u202f", ","), "es": (".", ",")}
_DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), ("d", "m", "y")),
)
_CAMEL_NAME = re.compile(r"^[A-Z][a-z]+[A-Z][a-z]+")
_NAME_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "la", "le", "dos", "das", "y", "e"}


class FilterError(ValueError):
    """A filter got a value it cannot read; the message names the value and what it expects.

    Attributes:
        value: The value the filter could not read, so that the caller can name the data column it came from.
            None when the problem is an argument of the filter instead.
    """

    def __init__(self, message: str, value: object = None) -> None:
        super().__init__(message)
        self.value = value


def first_name(value: object) -> str:
    """Return the first given name: ``"Ana María López"`` and ``"López, Ana María"`` give ``"Ana"``."""
    text = _clean_name(value)
    if "," in text:
        text = text.split(",", 1)[1].strip()
    parts = text.split()
    return name_case(parts[0]) if parts else ""


def last_name(value: object) -> str:
    """Return the family name: ``"Ana María López"`` and ``"López, Ana María"`` give ``"López"``."""
    text = _clean_name(value)
    if "," in text:
        return name_case(text.split(",", 1)[0].strip())
    parts = text.split()
    return name_case(parts[-1]) if parts else ""


def name_case(value: object) -> str:
    """Capitalise a name the way names are written: ``"anne-marie o'NEIL van der berg"`` gives ``"Anne-Marie O'Neil van der Berg"``.

    Names written like ``"McDonald"`` or ``"DiCaprio"`` (a capital after lowercase letters) are kept as they are.
    """
    text = _clean_name(value)
    words = []
    for index, word in enumerate(text.split(" ")):
        if _CAMEL_NAME.match(word):
            words.append(word)
        elif index > 0 and word.lower() in _NAME_PARTICLES:
            words.append(word.lower())
        else:
            words.append(re.sub(r"[^\W\d_]+", _capitalise_part, word))
    return " ".join(words)


def _capitalise_part(match: re.Match[str]) -> str:
    return match.group(0)[:1].upper() + match.group(0)[1:].lower()


def _clean_name(value: object) -> str:
    return " ".join(str(value if value is not None else "").split())


def to_date(value: object) -> date:
    """Read a date from a date, a datetime, or text in ISO (``2026-12-05``) or dotted (``05.12.2026``) form.

    Slash forms such as ``05/12/2026`` are rejected because the order of day and month is ambiguous.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for pattern, order in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            parts = dict(zip(order, (int(group) for group in match.groups()[:3])))
            try:
                return date(parts["y"], parts["m"], parts["d"])
            except ValueError:
                break
    raise FilterError(f"{text!r} is not a date the date filter reads. It reads YYYY-MM-DD (2026-12-05, a time may "
                      "follow) and DD.MM.YYYY (05.12.2026). Dates with slashes are rejected because the order of day "
                      "and month is ambiguous. Write the dates in one of those forms in the data.", value)


def format_date(value: object, style: str = "long", lang: str = "en") -> str:
    """Format a date: ``style`` is iso, long, medium, short, us, or a strftime pattern; ``lang`` is en, de, fr or es."""
    day = to_date(value)
    language = _language(lang, MONTHS)
    formats = DATE_FORMATS.get(style)
    pattern = (formats.get(language) or formats["*"]) if formats else style
    months, weekdays = MONTHS[language], WEEKDAYS[language]
    replacements = {
        "%-d": str(day.day), "%d": f"{day.day:02d}", "%-m": str(day.month), "%m": f"{day.month:02d}",
        "%Y": f"{day.year:04d}", "%y": f"{day.year % 100:02d}", "%B": months[day.month - 1],
        "%b": months[day.month - 1][:3], "%A": weekdays[day.weekday()], "%a": weekdays[day.weekday()][:3], "%%": "%",
    }
    return re.sub(r"%-?[a-zA-Z%]", lambda match: replacements.get(match.group(0), match.group(0)), pattern)


def to_number(value: object) -> Decimal:
    """Read a number from a number or text: ``1234.5``, ``1,234.50``, ``1.234,50`` and ``1234,5`` are all understood.

    In text with both ``.`` and ``,`` the last one is the decimal point. A lone ``,`` is a thousands
    separator only when exactly three digits follow it; otherwise it is a decimal comma.
    """
    if isinstance(value, bool):
        raise FilterError(f"{value!r} is not a number.", value)
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value).strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace("'", "")
    if "," in text and "." in text:
        thousands = "," if text.rfind(".") > text.rfind(",") else "."
        text = text.replace(thousands, "").replace(",", ".")
    elif text.count(",") == 1 and not re.search(r",\d{3}$", text):
        text = text.replace(",", ".")
    elif "," in text:
        text = text.replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise FilterError(f"{str(value)!r} is not a number; write it with digits, such as 1234.50.", value) from None
    if not number.is_finite():
        raise FilterError(f"{str(value)!r} is not a finite number.", value)
    return number


def format_number(value: object, decimals: int = 0, lang: str = "en") -> str:
    """Format a number with thousands separators and ``decimals`` places, rounding halves up: 1234.5 gives 1,234.50 with 2."""
    number = to_number(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    thousands, point = NUMBER_STYLES[_language(lang, NUMBER_STYLES)]
    text = f"{abs(number):,.{decimals}f}".replace(",", "\0").replace(".", point).replace("\0", thousands)
    return f"-{text}" if number < 0 else text


def _language(lang: str, table: dict) -> str:
    code = str(lang).lower().split("-")[0].split("_")[0]
    if code not in table:
        raise FilterError(f"language {lang!r} is not supported; use one of {', '.join(sorted(table))}.")
    return code


FILTERS = {
    "first_name": first_name,
    "last_name": last_name,
    "name_case": name_case,
    "date": format_date,
    "number": format_number,
}
