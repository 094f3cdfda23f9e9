"""Template files and the name, date and number filters."""

from __future__ import annotations

from datetime import date

import pytest

from desktop.merge import filters
from desktop.merge.errors import MergeError, RowError
from desktop.merge.render import open_merge
from desktop.merge.template import TemplateFile, html_to_text
from tests.merge.merge_samples import TEMPLATE, merge_in, write_merge


@pytest.mark.parametrize(("value", "first", "last"), [
    ("Ana María López", "Ana", "López"),
    ("López, Ana María", "Ana", "López"),
    ("  ana   lópez ", "Ana", "López"),
    ("JEAN-PIERRE DUPONT", "Jean-Pierre", "Dupont"),
    ("", "", ""),
])
def test_first_and_last_name(value, first, last):
    assert filters.first_name(value) == first
    assert filters.last_name(value) == last


@pytest.mark.parametrize(("value", "expected"), [
    ("anne-marie o'NEIL", "Anne-Marie O'Neil"),
    ("ludwig VAN beethoven", "Ludwig van Beethoven"),
    ("McDonald", "McDonald"),
    ("ÉMILE zola", "Émile Zola"),
])
def test_name_case(value, expected):
    assert filters.name_case(value) == expected


@pytest.mark.parametrize(("value", "style", "lang", "expected"), [
    ("2026-12-05", "long", "en", "5 December 2026"),
    ("2026-12-05", "long", "de", "5. Dezember 2026"),
    ("05.12.2026", "medium", "fr", "5 déc 2026"),
    ("2026-03-01 10:00", "iso", "en", "2026-03-01"),
    (date(2026, 7, 4), "us", "en", "07/04/2026"),
    ("2026-12-05", "%A %-d %B", "es", "sábado 5 diciembre"),
])
def test_date_filter(value, style, lang, expected):
    assert filters.format_date(value, style, lang) == expected


@pytest.mark.parametrize("value", ["05/12/2026", "tomorrow", "2026-02-30"])
def test_date_filter_rejects(value):
    with pytest.raises(filters.FilterError) as caught:
        filters.format_date(value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(("value", "decimals", "lang", "expected"), [
    ("1234.5", 2, "en", "1,234.50"),
    ("1.234,5", 2, "de", "1.234,50"),
    ("1,234.567", 1, "en", "1,234.6"),
    ("3,5", 2, "en", "3.50"),
    ("1,234", 0, "en", "1,234"),
    ("-0.004", 2, "en", "0.00"),
    (2.5, 0, "en", "3"),
    ("-1234567", 0, "fr", "-1\u202f234\u202f567"),
])
def test_number_filter(value, decimals, lang, expected):
    assert filters.format_number(value, decimals, lang) == expected


@pytest.mark.parametrize("value", ["abc", "", "nan", True])
def test_number_filter_rejects(value):
    with pytest.raises(filters.FilterError):
        filters.format_number(value)


def test_filter_error_is_row_error(tmp_path):
    rows = [["Ana", "ana@example.org", "17", "lots", "2026-01-01", "no"]]
    with pytest.raises(RowError) as caught:
        merge_in(tmp_path, rows=rows).render(1)
    assert caught.value.row == 1
    assert "'lots' is not a number" in caught.value.message
    assert "template line 8" in caught.value.message


def test_unknown_language(tmp_path):
    with pytest.raises(filters.FilterError, match="use one of de, en, es, fr"):
        filters.format_date("2026-01-01", lang="xx")


def test_loop_over_split_values(tmp_path):
    template = TEMPLATE.replace("{{ unsubscribe }}", "{% for item in row['Courses'].split(';') %}\n- {{ item | trim }}\n{% endfor %}")
    rows = [["Ana", "ana@example.org", "17", "1", "2026-01-01", "no", "Maths; Art"]]
    template_path, data_path = write_merge(tmp_path, template, ["name", "email", "id", "total", "due", "vip", "Courses"], rows)
    rendered = open_merge(template_path, data_path, profile=None).render(1)
    html = rendered.message.get_body(("html",)).get_content()
    assert "<li>Maths</li>" in html
    assert "<li>Art</li>" in html


def test_template_with_crlf_bom_and_folded_header(tmp_path):
    text = "\ufeffFrom: ana@example.com\r\nTo: {{ email }}\r\nSubject: A long subject\r\n  that continues\r\n\r\nHi\r\n"
    path = tmp_path / "t.md"
    path.write_text(text, encoding="utf-8", newline="")
    template = TemplateFile(path)
    assert template.header("subject").source == "A long subject that continues"
    assert template.body_line == 6


def test_template_not_utf8(tmp_path):
    path = tmp_path / "t.md"
    path.write_bytes("From: a@example.com\nSubject: Grüße\n\nx\n".encode("latin-1"))
    with pytest.raises(MergeError, match=r"t.md:2: the template is not UTF-8"):
        TemplateFile(path)


def test_template_without_blank_line(tmp_path):
    path = tmp_path / "t.md"
    path.write_text("From: a@example.com\nSubject: x\n", encoding="utf-8")
    with pytest.raises(MergeError, match="no blank line after the headers"):
        TemplateFile(path)


def test_attach_column_must_exist(tmp_path):
    template = TEMPLATE.replace("Merge-Attach:", "Merge-Attach-Column: Files\nMerge-Attach:")
    template_path, data_path = write_merge(tmp_path, template)
    with pytest.raises(MergeError, match="Merge-Attach-Column names 'Files'"):
        open_merge(template_path, data_path, profile=None)


def test_no_to_and_no_address_column(tmp_path):
    template = TEMPLATE.replace("To: {{ name }} <{{ email }}>\n", "")
    template_path, data_path = write_merge(tmp_path, template, ["name", "mobile", "id", "total", "due", "vip"])
    with pytest.raises(MergeError, match="has no To header"):
        open_merge(template_path, data_path, profile=None)


def test_html_to_text_keeps_structure():
    text = html_to_text("<p>Hello<br>world</p><style>p{}</style><p><a href='mailto:a@b.c'>a@b.c</a> and "
                        "<a href='https://x.example'>site</a></p><ol><li>one</li></ol>")
    assert text == "Hello\nworld\n\na@b.c and site <https://x.example>\n\n- one\n"
