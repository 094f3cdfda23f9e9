"""Every malformed message of tests/corpus parses to the subject, sender and attachment names a careful client shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.mail.parse import parse_message, parse_summary

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_summary_of_corpus_message(name):
    summary = parse_summary((CORPUS / name).read_bytes())

    assert summary.subject == (EXPECTED[name]["subject"] or "")
    assert summary.from_addr == (EXPECTED[name]["from_addr"] or "")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_full_parse_of_corpus_message(name):
    parsed = parse_message((CORPUS / name).read_bytes())

    assert parsed.summary.subject == (EXPECTED[name]["subject"] or "")
    wanted = EXPECTED[name]["attachments"]
    if wanted is not None:
        assert [part.filename for part in parsed.attachments if not part.inline] == wanted


def test_html_only_message_gives_text_without_script():
    parsed = parse_message((CORPUS / "html-only-script-remote-image.eml").read_bytes())

    assert parsed.html
    assert "statement" in parsed.body_text.lower()
    assert "<script" not in parsed.body_text.lower()
