"""Rendering merge rows into messages, read back with the email package."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from desktop.merge.errors import MergeError, RowError, SuppressedError
from desktop.merge.render import open_merge
from desktop.merge.suppress import SuppressionList
from tests.merge.merge_samples import COLUMNS, ROWS, TEMPLATE, merge_in, profile_in, write_merge


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)


def body(message: EmailMessage, subtype: str) -> str:
    """Return the text of the message's text/``subtype`` part with LF line ends."""
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


def test_rendered_headers_parse_back(tmp_path):
    rendered = merge_in(tmp_path).render(1)
    message = parse(rendered.raw)
    assert message["From"].addresses[0].display_name == "Ana Pérez"
    assert message["From"].addresses[0].addr_spec == "ana@example.com"
    assert message["To"].addresses[0].display_name == "López, María"
    assert message["To"].addresses[0].addr_spec == "maria@example.org"
    assert message["Subject"] == "Your invoice 17, María"
    assert message["Message-ID"] is None
    assert message["Date"] is None
    assert rendered.to == ["maria@example.org"]
    assert rendered.sender == "ana@example.com"
    assert rendered.key == "1:maria@example.org"


def test_rendered_parts_and_attachment(tmp_path):
    message = parse(merge_in(tmp_path).render(1).raw)
    assert message.get_content_type() == "multipart/mixed"
    plain = body(message, "plain")
    html = body(message, "html")
    assert "Hello **María**," in plain
    assert "your total is 1,234.50, due 24 December 2026." in plain
    assert "Thank you for being with us" in plain
    assert "<strong>María</strong>" in html
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == ["17.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == b"%PDF-1.4 invoice 17"


def test_condition_false_leaves_text_out(tmp_path):
    plain = body(parse(merge_in(tmp_path).render(2).raw), "plain")
    assert "Thank you for being with us" not in plain
    assert "3.50, due 2 January 2027" in plain


def test_message_property_matches_raw(tmp_path):
    rendered = merge_in(tmp_path).render(2)
    assert rendered.message["Subject"] == "Your invoice 18, Bob"
    assert rendered.message is rendered.message
    with_ids = rendered.as_bytes(message_id="<1@example.com>", date="Sat, 05 Dec 2026 10:00:00 +0000")
    reparsed = parse(with_ids)
    assert reparsed["Message-ID"] == "<1@example.com>"
    assert reparsed["Subject"] == "Your invoice 18, Bob"


def test_non_ascii_attachment_name_uses_rfc2231(tmp_path):
    template = TEMPLATE.replace("Merge-Attach: invoices/{{ id }}.pdf", "Merge-Attach: Rechnung für {{ id }}.pdf")
    template_path, data_path = write_merge(tmp_path, template)
    (tmp_path / "Rechnung für 17.pdf").write_bytes(b"pdf")
    rendered = open_merge(template_path, data_path, profile=None).render(1)
    assert b"filename*=utf-8''Rechnung%20f%C3%BCr%2017.pdf" in rendered.raw
    [attachment] = parse(rendered.raw).iter_attachments()
    assert attachment.get_filename() == "Rechnung für 17.pdf"


def test_raw_is_seven_bit_with_crlf(tmp_path):
    raw = merge_in(tmp_path).render(1).raw
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_header_line_break_rejected(tmp_path):
    rows = [["Eve\r\nBcc: victim@example.com", "eve@example.org", "17", "1", "2026-01-01", "no"], ROWS[1]]
    merge = merge_in(tmp_path, rows=rows)
    with pytest.raises(RowError) as caught:
        merge.render(1)
    assert caught.value.row == 1
    assert caught.value.column == "name"
    assert "line break" in caught.value.message
    assert merge.render(2).to == ["bob@example.net"]


def test_subject_line_break_rejected(tmp_path):
    template = TEMPLATE.replace("Subject: Your invoice {{ id }}, {{ name | first_name }}", "Subject: About {{ vip }}")
    rows = [["two\nlines", "Eve", "eve@example.org", "17", "1", "2026-01-01", "yes\nX-Injected: 1"]]
    merge = merge_in(tmp_path, template, ["notes"] + COLUMNS, rows)
    with pytest.raises(RowError) as caught:
        merge.render(1)
    assert caught.value.column == "vip"
    assert "Subject header" in caught.value.message


def test_data_value_is_not_template_code(tmp_path):
    rows = [["{{ 7 * 7 }} {% raw %}", "maria@example.org", "17", "1", "2026-01-01", "no"]]
    rendered = merge_in(tmp_path, rows=rows).render(1)
    message = parse(rendered.raw)
    assert message["To"].addresses[0].display_name == "{{ 7 * 7 }} {% raw %}"
    assert "49" not in message["Subject"]


def test_value_cannot_add_markup_to_html(tmp_path):
    template = TEMPLATE.replace("Hello **{{ name | first_name }}**,", "Dear {{ name }},")
    rows = [["<script>x</script> [click](https://evil.example) **bold**", "m@example.org", "17", "1", "2026-01-01", "no"]]
    message = parse(merge_in(tmp_path, template, rows=rows).render(1).raw)
    html = body(message, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<a " not in html
    assert "<strong>" not in html
    assert "[click](https://evil.example) **bold**" in body(message, "plain")


@pytest.mark.parametrize("expression", [
    "{{ name.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ row.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
])
def test_sandbox_blocks_attribute_tricks(tmp_path, expression):
    template = TEMPLATE.replace("{{ unsubscribe }}", expression)
    merge = merge_in(tmp_path, template)
    with pytest.raises(RowError) as caught:
        merge.render(1)
    assert caught.value.kind == "template"
    assert "template line 13" in caught.value.message


def test_undefined_variable_names_row_and_name(tmp_path):
    template = TEMPLATE.replace("{{ unsubscribe }}", "Regards, {{ nmae }}")
    with pytest.raises(RowError) as caught:
        merge_in(tmp_path, template).render(2)
    assert caught.value.row == 2
    assert caught.value.column == "nmae"
    assert "template line 13" in caught.value.message
    assert "did you mean 'name'" in caught.value.message


def test_column_with_space_reached_through_row(tmp_path):
    template = TEMPLATE.replace("{{ unsubscribe }}", "Member since {{ row['Member since'] }}")
    rows = [row + ["2019"] for row in ROWS]
    plain = parse(merge_in(tmp_path, template, COLUMNS + ["Member since"], rows).render(1).raw)
    assert "Member since 2019" in body(plain, "plain")


def test_missing_attachment_is_row_error(tmp_path):
    merge = merge_in(tmp_path, invoices=("17",))
    assert merge.render(1).attachments[0].filename == "17.pdf"
    with pytest.raises(RowError) as caught:
        merge.render(2)
    assert caught.value.kind == "attachment"
    assert "invoices/18.pdf" in caught.value.message


def test_attachment_outside_template_folder_rejected(tmp_path):
    (tmp_path / "secret.txt").write_text("key")
    template = TEMPLATE.replace("Merge-Attach: invoices/{{ id }}.pdf", "Merge-Attach: ../secret.txt")
    merge = merge_in(tmp_path / "merge", template)
    with pytest.raises(RowError) as caught:
        merge.render(1)
    assert "outside the template's folder" in caught.value.message


def test_attachment_column_with_glob(tmp_path):
    template = TEMPLATE.replace("Merge-Attach: invoices/{{ id }}.pdf\n", "")
    rows = [ROWS[0] + ["invoices/1*.pdf; notes.txt"], ROWS[1] + [""]]
    template_path, data_path = write_merge(tmp_path, template, COLUMNS + ["Attachments"], rows)
    (tmp_path / "notes.txt").write_text("notes")
    merge = open_merge(template_path, data_path, profile=None)
    assert merge.attach_column == "Attachments"
    names = [part.get_filename() for part in parse(merge.render(1).raw).iter_attachments()]
    assert names == ["17.pdf", "18.pdf", "notes.txt"]
    assert merge.render(2).attachments == []


def test_bcc_in_envelope_not_in_message(tmp_path):
    template = TEMPLATE.replace("Subject:", "Cc: office@example.com\nBcc: archive@example.com\nSubject:")
    rendered = merge_in(tmp_path, template).render(1)
    assert rendered.to == ["maria@example.org", "office@example.com", "archive@example.com"]
    message = parse(rendered.raw)
    assert message["Bcc"] is None
    assert message["Cc"] == "office@example.com"


def test_to_detected_from_email_column(tmp_path):
    template = TEMPLATE.replace("To: {{ name }} <{{ email }}>\n", "")
    rendered = merge_in(tmp_path, template).render(1)
    assert rendered.to == ["maria@example.org"]
    assert parse(rendered.raw)["To"].addresses[0].display_name == "López, María"


@pytest.mark.parametrize("address", ["", "maria", "maria@", "maria@example..org", "mar ia@example.org"])
def test_invalid_address_is_row_error(tmp_path, address):
    rows = [["María", address, "17", "1", "2026-01-01", "no"]]
    with pytest.raises(RowError) as caught:
        merge_in(tmp_path, rows=rows).render(1)
    assert caught.value.kind == "address"
    assert caught.value.column == "email"


def test_international_domain_converted(tmp_path):
    rows = [["Jörg", "joerg@bücher.example", "17", "1", "2026-01-01", "no"]]
    rendered = merge_in(tmp_path, rows=rows).render(1)
    assert rendered.to == ["joerg@xn--bcher-kva.example"]


def test_unsubscribe_mailto_by_default(tmp_path):
    rendered = merge_in(tmp_path).render(1)
    message = parse(rendered.raw)
    assert message["List-Unsubscribe"] == "<mailto:ana@example.com?subject=unsubscribe%20invite>"
    assert message["List-Unsubscribe-Post"] is None
    plain = body(message, "plain")
    assert 'send a message to ana@example.com with the subject "unsubscribe invite"' in plain


def test_unsubscribe_url_adds_one_click(tmp_path):
    template = TEMPLATE.replace("Merge-Attach:", "Merge-Unsubscribe-URL: https://lists.example.com/u?e={{ email | urlencode }}\n"
                                "Merge-Name: Winter invoices\nMerge-Attach:")
    message = parse(merge_in(tmp_path, template).render(1).raw)
    assert message["List-Unsubscribe"] == (
        "<https://lists.example.com/u?e=maria%40example.org>, "
        "<mailto:ana@example.com?subject=unsubscribe%20Winter%20invoices>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Merge-Name" not in message
    assert "Merge-Unsubscribe-URL" not in message
    assert "open https://lists.example.com/u?e=maria%40example.org" in body(message, "plain")


def test_unsubscribe_url_must_be_https(tmp_path):
    template = TEMPLATE.replace("Merge-Attach:", "Merge-Unsubscribe-URL: http://lists.example.com/u\nMerge-Attach:")
    with pytest.raises(RowError) as caught:
        merge_in(tmp_path, template).render(1)
    assert "https" in caught.value.message


def test_suppressed_recipient_skipped(tmp_path):
    template_path, data_path = write_merge(tmp_path)
    profile = profile_in(tmp_path)
    SuppressionList(profile).add("Maria@Example.org", "unsubscribed")
    merge = open_merge(template_path, data_path, profile=profile)
    with pytest.raises(SuppressedError) as caught:
        merge.render(1)
    assert caught.value.addresses == ["maria@example.org"]
    assert merge.render(2).to == ["bob@example.net"]


def test_merge_key_stable_and_sensitive(tmp_path):
    first = merge_in(tmp_path).merge_key
    template_path, data_path = tmp_path / "invite.md", tmp_path / "people.csv"
    assert open_merge(template_path, data_path, profile=None).merge_key == first
    (tmp_path / "invoices" / "18.pdf").write_bytes(b"changed")
    assert open_merge(template_path, data_path, profile=None).merge_key != first


def test_html_template_gets_text_alternative(tmp_path):
    template = (
        "From: ana@example.com\nTo: {{ email }}\nSubject: News\n\n"
        "<html><body><h1>Hi {{ name }}</h1><p>Read <a href=\"https://example.com/news\">the news</a>.</p>"
        "<ul><li>One</li><li>Two</li></ul></body></html>\n"
    )
    rows = [["Tom & Jerry", "tom@example.org", "17", "1", "2026-01-01", "no"]]
    message = parse(merge_in(tmp_path, template, rows=rows, template_name="news.html").render(1).raw)
    html = body(message, "html")
    plain = body(message, "plain")
    assert "<h1>Hi Tom &amp; Jerry</h1>" in html
    assert "Hi Tom & Jerry" in plain
    assert "the news <https://example.com/news>" in plain
    assert "- One\n- Two" in plain


def test_unknown_row_number(tmp_path):
    with pytest.raises(RowError) as caught:
        merge_in(tmp_path).render(9)
    assert "rows 1 to 2" in caught.value.message


@pytest.mark.parametrize(("change", "expected"), [
    (("From: Ana Pérez <ana@example.com>\n", ""), "From header is missing"),
    (("Subject:", "Message-ID: <x@y>\nSubject:"), "remove the Message-ID header"),
    (("Merge-Attach:", "Merge-Atach:"), "did you mean 'Merge-Attach'"),
    (("{{ unsubscribe }}", "{% if %}"), "invite.md:13: template syntax error"),
    (("\nHello", "Hello"), "not a header line"),
])
def test_template_errors_name_file_and_line(tmp_path, change, expected):
    template_path, data_path = write_merge(tmp_path, TEMPLATE.replace(*change))
    with pytest.raises(MergeError) as caught:
        open_merge(template_path, data_path, profile=None)
    assert expected in str(caught.value)


def test_value_never_becomes_markdown_structure(tmp_path):
    template = TEMPLATE.replace("{{ unsubscribe }}", "{{ vip }}\n\nCode: `{{ name }}`")
    rows = [["a_b*c*", "m@example.org", "17", "1", "2026-01-01", "1. # not a heading"]]
    message = parse(merge_in(tmp_path, template, rows=rows).render(1).raw)
    html = body(message, "html")
    assert "<ol>" not in html
    assert "<h1>" not in html
    assert "<p>1. # not a heading</p>" in html
    assert "<code>a_b*c*</code>" in html
    assert "Code: `a_b*c*`" in body(message, "plain")


def test_safe_and_macro_values(tmp_path):
    template = TEMPLATE.replace(
        "{{ unsubscribe }}",
        "{% macro badge(text) %}[{{ text }}]{% endmacro %}{{ badge(name) }} {{ '<em>kept</em>' | safe }}",
    )
    rows = [["<Ana>", "m@example.org", "17", "1", "2026-01-01", "no"]]
    html = body(parse(merge_in(tmp_path, template, rows=rows).render(1).raw), "html")
    assert "[&lt;Ana&gt;]" in html
    assert "<em>kept</em>" in html


def test_rows_sharing_a_shape_keep_their_own_values(tmp_path):
    rows = [[f"Person {index}", f"p{index}@example.org", "17", str(index), "2026-01-01", "yes" if index % 2 else "no"]
            for index in range(1, 41)]
    merge = merge_in(tmp_path, rows=rows)
    for index in range(1, 41):
        message = parse(merge.render(index).raw)
        html = body(message, "html")
        plain = body(message, "plain")
        assert "<strong>Person</strong>" in html
        assert f"your total is {index}.00," in plain
        assert f"your total is {index}.00," in html
        assert ("Thank you for being with us" in html) == bool(index % 2)


def test_captured_block_with_filter(tmp_path):
    template = TEMPLATE.replace("{{ unsubscribe }}", "{% set greeting %}hi {{ name }}!{% endset %}{{ greeting | upper }}")
    rows = [["Ana_Bell", "m@example.org", "17", "1", "2026-01-01", "no"]]
    message = parse(merge_in(tmp_path, template, rows=rows).render(1).raw)
    assert "HI ANA_BELL!" in body(message, "plain")
    assert "HI ANA_BELL!" in body(message, "html")


def test_value_in_markdown_link(tmp_path):
    template = TEMPLATE.replace("Merge-Attach:", "Merge-Unsubscribe-URL: https://example.com/u?a={{ email | urlencode }}&b=1\n"
                                "Merge-Attach:").replace("{{ unsubscribe }}", "[Leave the list]({{ unsubscribe_url }})")
    html = body(parse(merge_in(tmp_path, template).render(1).raw), "html")
    assert '<a href="https://example.com/u?a=maria%40example.org&amp;b=1">Leave the list</a>' in html


def test_merge_key_follows_data(tmp_path):
    first = merge_in(tmp_path).merge_key
    changed = [ROWS[0], ROWS[1][:3] + ["4.5"] + ROWS[1][4:]]
    assert merge_in(tmp_path, rows=changed).merge_key != first
    assert merge_in(tmp_path).merge_key == first
