"""Tests for the mailbox generator, its writers and the bundled demo mailbox."""

from __future__ import annotations

import collections
import email
import email.policy
import email.utils
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from desktop import mailgen
from desktop.mailgen import GeneratedMessage

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_PATH = REPO_ROOT / "resources" / "demo" / mailgen.DEMO_FILE_NAME
CORPUS_DIR = REPO_ROOT / "tests" / "corpus"

SAMPLE_COUNT = 3000
SAMPLE_SEED = 11
LIST_FOLDERS = {"Lists/python-dev", "Lists/book-club", "Lists/city-cycling"}
KNOWN_FOLDERS = {"INBOX", "Sent", "Archive", *LIST_FOLDERS}
# example.com/.net/.org with subdomains and the .example and .test TLDs (RFC 2606, RFC 6761).
EXAMPLE_DOMAIN = re.compile(r"(?:[a-z0-9-]+\.)*(?:example\.(?:com|net|org)|[a-z0-9-]+\.(?:example|test))")


@pytest.fixture(scope="module")
def sample() -> list[GeneratedMessage]:
    return list(mailgen.generate(SAMPLE_COUNT, SAMPLE_SEED))


@pytest.fixture(scope="module")
def parsed(sample: list[GeneratedMessage]) -> list[EmailMessage]:
    return [email.message_from_bytes(m.raw, policy=email.policy.default) for m in sample]


def _digest(messages: list[GeneratedMessage]) -> str:
    digest = hashlib.sha256()
    for message in messages:
        digest.update(f"{message.folder}|{' '.join(message.flags)}|{message.date.isoformat()}|".encode())
        digest.update(message.raw)
    return digest.hexdigest()


# -- determinism -------------------------------------------------------------


def test_generate_same_arguments_same_bytes() -> None:
    first = list(mailgen.generate(400, 5))
    second = list(mailgen.generate(400, 5))

    assert first == second
    assert [m.raw for m in first] == [m.raw for m in second]


def test_generate_different_seed_differs() -> None:
    assert _digest(list(mailgen.generate(50, 1))) != _digest(list(mailgen.generate(50, 2)))


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_generate_ignores_hash_seed_and_locale(hash_seed: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "LC_ALL": "C", "TZ": "Asia/Tokyo"}
    command = [sys.executable, "-m", "desktop.mailgen", "--count", "300", "--seed", "9", "--mbox", "cli.mbox"]
    subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, check=True)

    mailgen.write_mbox(mailgen.generate(300, 9), tmp_path / "local.mbox")

    assert (tmp_path / "cli.mbox").read_bytes() == (tmp_path / "local.mbox").read_bytes()


def test_generate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="count"):
        mailgen.generate(-1)
    with pytest.raises(ValueError, match="days"):
        mailgen.generate(10, days=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        mailgen.generate(10, start=datetime(2026, 1, 1))


def test_generate_zero_yields_nothing() -> None:
    assert list(mailgen.generate(0)) == []


# -- structure ---------------------------------------------------------------


def test_generate_yields_exact_count(sample: list[GeneratedMessage]) -> None:
    assert len(sample) == SAMPLE_COUNT


def test_folders_are_known_and_inbox_largest(sample: list[GeneratedMessage]) -> None:
    counts = collections.Counter(m.folder for m in sample)

    assert set(counts) == KNOWN_FOLDERS
    assert counts.most_common(1)[0][0] == "INBOX"
    assert counts["INBOX"] > 0.3 * SAMPLE_COUNT
    for folder in ("Sent", "Archive", *LIST_FOLDERS):
        assert counts[folder] >= 0.01 * SAMPLE_COUNT, folder


def test_dates_sorted_and_within_period(sample: list[GeneratedMessage]) -> None:
    earliest = mailgen.DEFAULT_START - timedelta(days=mailgen.DEFAULT_DAYS)
    dates = [m.date for m in sample]

    assert all(d.tzinfo is not None for d in dates)
    assert dates == sorted(dates)
    assert earliest <= dates[0]
    assert dates[-1] <= mailgen.DEFAULT_START
    assert dates[-1] > mailgen.DEFAULT_START - timedelta(days=3)


def test_custom_start_and_days() -> None:
    start = datetime(2020, 6, 1, 12, 0, tzinfo=timezone.utc)
    dates = [m.date for m in mailgen.generate(200, 3, start=start, days=30)]

    assert min(dates) >= start - timedelta(days=30)
    assert max(dates) <= start


def test_dates_favor_working_hours(sample: list[GeneratedMessage]) -> None:
    local_hours = [m.date.astimezone(timezone(timedelta(hours=1))).hour for m in sample]
    weekdays = [m.date.astimezone(timezone(timedelta(hours=1))).weekday() for m in sample]

    assert sum(8 <= h < 18 for h in local_hours) > 0.6 * len(sample)
    assert sum(d >= 5 for d in weekdays) < 0.2 * len(sample)


def test_raw_uses_crlf_and_short_lines(sample: list[GeneratedMessage]) -> None:
    for message in sample:
        assert re.search(rb"\r(?!\n)|(?<!\r)\n", message.raw) is None
        assert message.raw.endswith(b"\r\n")
        assert max(len(line) for line in message.raw.split(b"\r\n")) <= 998


def test_messages_parse_without_defects(sample: list[GeneratedMessage], parsed: list[EmailMessage]) -> None:
    for message, msg in zip(sample, parsed):
        for part in msg.walk():
            assert part.defects == [], (message.date, part.get_content_type(), part.defects)
            if part.get_content_maintype() == "text":
                assert isinstance(part.get_content(), str)
        for name in ("From", "To", "Subject", "Date", "Message-ID"):
            header = msg[name]
            assert header is not None, name
            assert not header.defects, (name, str(header), header.defects)
        assert msg["Date"].datetime == message.date


def test_addresses_use_example_domains(parsed: list[EmailMessage]) -> None:
    for msg in parsed:
        for name in ("From", "To", "Cc"):
            for _, addr in email.utils.getaddresses(msg.get_all(name, [])):
                domain = addr.rsplit("@", 1)[1]
                assert EXAMPLE_DOMAIN.fullmatch(domain), addr


def test_message_ids_unique(parsed: list[EmailMessage]) -> None:
    ids = [msg["Message-ID"] for msg in parsed]

    assert len(ids) == len(set(ids))


def test_threads_link_to_earlier_messages(parsed: list[EmailMessage]) -> None:
    seen: set[str] = set()
    replies = 0
    for msg in parsed:
        parent = msg["In-Reply-To"]
        if parent is not None:
            replies += 1
            assert parent in seen, parent
            references = str(msg["References"]).split()
            assert references[-1] == parent
            assert all(ref in seen for ref in references)
            assert re.match(r"(Re|AW): |\[[\w-]+\] Re: |Re: \[", str(msg["Subject"]))
        seen.add(msg["Message-ID"])

    assert replies > 0.2 * len(parsed)


def test_threads_have_several_participants(parsed: list[EmailMessage]) -> None:
    by_root: dict[str, set[str]] = collections.defaultdict(set)
    for msg in parsed:
        references = str(msg["References"] or "").split()
        root = references[0] if references else msg["Message-ID"]
        by_root[root].add(email.utils.parseaddr(str(msg["From"]))[1])

    sizes = [len(senders) for senders in by_root.values()]
    assert max(sizes) >= 4
    assert sum(size >= 3 for size in sizes) >= 10


def test_replies_quote_previous_message(parsed: list[EmailMessage]) -> None:
    quoting = 0
    for msg in parsed:
        if msg["In-Reply-To"] is None:
            continue
        text = msg.get_body(preferencelist=("plain",)).get_content()
        if re.search(r"^On .+ wrote:\r?\n> ", text, re.MULTILINE):
            quoting += 1

    assert quoting > 0.9 * sum(msg["In-Reply-To"] is not None for msg in parsed)


def test_sent_mail_comes_from_user(sample: list[GeneratedMessage], parsed: list[EmailMessage]) -> None:
    for message, msg in zip(sample, parsed):
        sender = email.utils.parseaddr(str(msg["From"]))
        if message.folder == "Sent":
            assert sender == (mailgen.USER_NAME, mailgen.USER_ADDR)
            assert message.flags == ("\\Seen",)
        else:
            assert sender[1] != mailgen.USER_ADDR


def test_flags_follow_age(sample: list[GeneratedMessage]) -> None:
    allowed = {"\\Seen", "\\Answered", "\\Flagged"}
    old = [m for m in sample if m.date < mailgen.DEFAULT_START - timedelta(days=60)]
    recent = [m for m in sample if m.date > mailgen.DEFAULT_START - timedelta(days=14)]

    assert all(set(m.flags) <= allowed for m in sample)
    assert sum("\\Seen" in m.flags for m in old) > 0.9 * len(old)
    assert sum("\\Seen" not in m.flags for m in recent) > 0.1 * len(recent)
    assert sum("\\Flagged" in m.flags for m in sample) > 0.01 * len(sample)
    assert sum("\\Answered" in m.flags for m in sample) > 0.03 * len(sample)


def test_answered_messages_have_sent_reply(sample: list[GeneratedMessage], parsed: list[EmailMessage]) -> None:
    answered = {msg["Message-ID"] for m, msg in zip(sample, parsed) if "\\Answered" in m.flags}
    replied = {msg["In-Reply-To"] for m, msg in zip(sample, parsed) if m.folder == "Sent"}

    assert answered
    assert answered <= replied


def test_answered_messages_are_seen(sample: list[GeneratedMessage]) -> None:
    assert all("\\Seen" in m.flags for m in sample if "\\Answered" in m.flags)


# -- realism -------------------------------------------------------------------


def test_newsletters_have_list_headers_and_alternatives(parsed: list[EmailMessage]) -> None:
    newsletters = [msg for msg in parsed if msg["List-Unsubscribe"] and "newsletter." in str(msg["List-Id"])]

    assert len(newsletters) > 0.05 * len(parsed)
    for msg in newsletters:
        assert msg["Precedence"] == "list"
        assert msg.get_content_type() == "multipart/alternative"
        types = [part.get_content_type() for part in msg.iter_parts()]
        assert types == ["text/plain", "text/html"]


def test_mailing_list_posts_carry_list_id(sample: list[GeneratedMessage], parsed: list[EmailMessage]) -> None:
    for message, msg in zip(sample, parsed):
        if message.folder in LIST_FOLDERS:
            list_name = message.folder.split("/", 1)[1]
            assert str(msg["List-Id"]).endswith(f"<{list_name}.lists.example.org>")
            assert msg["Precedence"] == "list"


def test_attachments_include_pdf_png_and_rfc2231_names(
    sample: list[GeneratedMessage], parsed: list[EmailMessage]
) -> None:
    names = []
    for msg in parsed:
        for part in msg.iter_attachments():
            names.append(part.get_filename())
            data = part.get_content()
            if part.get_content_type() == "application/pdf":
                assert data.startswith(b"%PDF-1.4")
                assert data.rstrip().endswith(b"%%EOF")
            if part.get_content_type() == "image/png":
                assert data.startswith(b"\x89PNG\r\n\x1a\n")

    assert any(name.endswith(".pdf") for name in names)
    assert any(name.endswith(".png") for name in names)
    assert "Übersicht März.pdf" in names
    assert any(b"filename*0*=UTF-8''" in m.raw for m in sample)
    assert any(b"filename*=UTF-8''" in m.raw for m in sample)


NON_ASCII_SCRIPTS = {
    "German": re.compile(r"[äöüßÄÖÜ]"),
    "French": re.compile(r"[éèêàçÉ]"),
    "Japanese": re.compile(r"[\u3040-\u30ff]"),  # hiragana and katakana
    "Chinese": re.compile(r"^(?:Re: )?[\u4e00-\u9fff]+$"),  # ideographs without kana
    "Russian": re.compile(r"[\u0400-\u04ff]"),
    "emoji": re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]"),
}


def _subjects_by_script(subjects: list[str]) -> dict[str, int]:
    return {
        script: sum(bool(pattern.search(subject)) for subject in subjects)
        for script, pattern in NON_ASCII_SCRIPTS.items()
    }


def test_subjects_cover_scripts(parsed: list[EmailMessage]) -> None:
    counts = _subjects_by_script([str(msg["Subject"]) for msg in parsed])

    for script, count in counts.items():
        assert count > 0, script


def test_headers_are_ascii_with_encoded_words(sample: list[GeneratedMessage]) -> None:
    encoded = 0
    for message in sample:
        header_block = message.raw.split(b"\r\n\r\n", 1)[0]
        assert header_block.isascii()
        encoded += b"=?UTF-8?" in header_block

    assert encoded > 0.05 * len(sample)


def test_services_send_from_noreply_addresses(parsed: list[EmailMessage]) -> None:
    senders = collections.Counter(email.utils.parseaddr(str(msg["From"]))[1] for msg in parsed)

    assert any("noreply" in addr or "no-reply" in addr for addr in senders)
    assert any(addr.startswith("notifications@") for addr in senders)
    assert any(str(msg["Subject"]).startswith("Invoice INV-") for msg in parsed)
    assert any("receipt" in str(msg["Subject"]).lower() for msg in parsed)


def test_senders_follow_zipf_like_spread(parsed: list[EmailMessage]) -> None:
    counts = collections.Counter(
        email.utils.parseaddr(str(msg["From"]))[1] for msg in parsed if msg["In-Reply-To"] is None
    )
    ordered = [count for _, count in counts.most_common()]

    assert ordered[0] > 10 * statistics.median(ordered)
    assert sum(count == 1 for count in ordered) > 0.3 * len(ordered)


def test_sizes_mostly_between_2_and_20_kb(sample: list[GeneratedMessage]) -> None:
    sizes = [len(m.raw) for m in sample]

    assert sum(2_000 <= size <= 20_000 for size in sizes) > 0.6 * len(sizes)
    assert any(size > 100_000 for size in sizes)


def test_bodies_contain_searchable_words(parsed: list[EmailMessage]) -> None:
    text = " ".join(msg.get_body(preferencelist=("plain",)).get_content().lower() for msg in parsed[:800])

    for word in ("budget", "invoice", "meeting", "release", "conference"):
        assert word in text, word
    assert "lorem" not in text


# -- writers -------------------------------------------------------------------


def test_write_maildir_layout(tmp_path: Path) -> None:
    messages = list(mailgen.generate(300, 4))

    written = mailgen.write_maildir(messages, tmp_path)

    assert written == len(messages)
    for sub in ("cur", "new", "tmp"):
        assert (tmp_path / sub).is_dir()
        assert (tmp_path / ".Lists.python-dev" / sub).is_dir()
    assert (tmp_path / ".Lists.python-dev" / "maildirfolder").exists()
    files = sorted(tmp_path.glob("**/cur/*"))
    assert len(files) == len(messages)
    by_raw = {path.read_bytes(): path for path in files}
    for message in messages:
        path = by_raw[message.raw]
        subfolder = "." + message.folder.replace("/", ".")
        expected_dir = tmp_path if message.folder == "INBOX" else tmp_path / subfolder
        assert path.parent == expected_dir / "cur"
        info = path.name.rsplit(":2,", 1)[1]
        letters = {"\\Seen": "S", "\\Flagged": "F", "\\Answered": "R"}
        assert info == "".join(sorted(letters[flag] for flag in message.flags))
        assert int(path.stat().st_mtime) == int(message.date.timestamp())


def test_write_maildir_rejects_dotted_folder(tmp_path: Path) -> None:
    message = GeneratedMessage("Lists/v1.0", (), mailgen.DEFAULT_START, b"Subject: x\r\n\r\nbody\r\n")

    with pytest.raises(ValueError, match="Lists/v1.0"):
        mailgen.write_maildir([message], tmp_path)


def test_mbox_round_trip(tmp_path: Path) -> None:
    messages = list(mailgen.generate(500, 8))
    path = tmp_path / "out.mbox"

    assert mailgen.write_mbox(messages, path) == len(messages)
    restored = list(mailgen.read_demo_mbox(path))

    assert restored == messages
    assert [m.raw for m in restored] == [m.raw for m in messages]
    assert [m.date.utcoffset() for m in restored] == [m.date.utcoffset() for m in messages]


def test_mbox_quotes_from_lines(tmp_path: Path) -> None:
    body = b"From here on\r\n>From quoted once\r\n>>From twice\r\nFrom\r\n"
    raw = b"From: a@example.com\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\nSubject: x\r\n\r\n" + body
    date = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    message = GeneratedMessage("INBOX", ("\\Seen", "\\Flagged"), date, raw)
    path = tmp_path / "quoted.mbox"

    mailgen.write_mbox([message, message], path)
    content = path.read_bytes()

    assert content.count(b"\n>From here on\n") == 2
    assert b"\n>>From quoted once\n" in content
    assert b"\n>>>From twice\n" in content
    assert b"X-Sluice-Flags: \\Seen \\Flagged\n" in content
    assert list(mailgen.read_demo_mbox(path)) == [message, message]


def test_mbox_reads_with_stdlib(tmp_path: Path) -> None:
    import mailbox

    messages = list(mailgen.generate(50, 2))
    path = tmp_path / "std.mbox"
    mailgen.write_mbox(messages, path)

    entries = list(mailbox.mbox(str(path)))

    assert len(entries) == len(messages)
    assert entries[0]["X-Sluice-Folder"] == messages[0].folder


def test_write_mbox_rejects_bare_line_feed(tmp_path: Path) -> None:
    message = GeneratedMessage("INBOX", (), mailgen.DEFAULT_START, b"Subject: x\r\n\r\nbad\nline\r\n")

    with pytest.raises(ValueError, match="bare CR or LF"):
        mailgen.write_mbox([message], tmp_path / "bad.mbox")


def test_read_demo_mbox_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "not.mbox"
    path.write_bytes(b"Subject: hello\n\nbody\n")

    with pytest.raises(ValueError, match="not an mbox file"):
        list(mailgen.read_demo_mbox(path))


def test_read_demo_mbox_requires_sluice_headers(tmp_path: Path) -> None:
    path = tmp_path / "plain.mbox"
    path.write_bytes(b"From a@example.com Mon Nov  2 10:00:00 2026\nSubject: hello\n\nbody\n\n")

    with pytest.raises(ValueError, match="X-Sluice-Folder"):
        list(mailgen.read_demo_mbox(path))


def test_main_writes_maildir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = mailgen.main(["--count", "40", "--seed", "3", "--maildir", str(tmp_path / "box")])

    assert status == 0
    assert len(list((tmp_path / "box").glob("**/cur/*"))) == 40
    assert "Wrote 40 messages" in capsys.readouterr().out


def test_main_writes_demo(tmp_path: Path) -> None:
    assert mailgen.main(["--count", "30", "--demo-out", str(tmp_path)]) == 0

    restored = list(mailgen.read_demo_mbox(tmp_path / mailgen.DEMO_FILE_NAME))
    assert restored == mailgen.demo_messages(30)


# -- demo mailbox -------------------------------------------------------------


def test_demo_file_matches_generator() -> None:
    restored = list(mailgen.read_demo_mbox(DEMO_PATH))

    hint = "regenerate with: python -m desktop.mailgen --demo-out resources/demo"
    assert restored == mailgen.demo_messages(), hint


def test_demo_file_size_and_dates() -> None:
    restored = list(mailgen.read_demo_mbox(DEMO_PATH))

    assert DEMO_PATH.stat().st_size < 4 * 1024 * 1024
    assert 300 <= len(restored) <= 500
    newest = max(m.date for m in restored)
    assert newest.astimezone(timezone.utc).date().isoformat() == "2026-11-30"


def test_demo_has_welcome_message() -> None:
    restored = list(mailgen.read_demo_mbox(DEMO_PATH))
    welcome = [m for m in restored if b"From: Sluice <welcome@sluice.example>" in m.raw]

    assert len(welcome) == 1
    msg = email.message_from_bytes(welcome[0].raw, policy=email.policy.default)
    assert "This is the Sluice demo mailbox; nothing here is sent anywhere" in msg.get_content()
    assert welcome[0].date == max(m.date for m in restored)


def test_demo_has_what_welcome_promises() -> None:
    restored = list(mailgen.read_demo_mbox(DEMO_PATH))
    parsed = [email.message_from_bytes(m.raw, policy=email.policy.default) for m in restored]
    text = " ".join(msg.get_body(preferencelist=("plain",)).get_content().lower() for msg in parsed)

    for word in ("budget", "invoice", "meeting", "release", "conference"):
        assert word in text, word
    assert {m.folder for m in restored} == KNOWN_FOLDERS
    counts = _subjects_by_script([str(msg["Subject"]) for msg in parsed])
    for script in ("German", "French", "Japanese", "Chinese", "Russian"):
        assert counts[script] > 0, script
    assert any(msg.get_content_type() == "multipart/mixed" and "Invoice" in str(msg["Subject"]) for msg in parsed)


# -- malformed corpus ----------------------------------------------------------


def test_corpus_expected_lists_every_file() -> None:
    expected = json.loads((CORPUS_DIR / "expected.json").read_text(encoding="utf-8"))
    files = {path.name for path in CORPUS_DIR.glob("*.eml")}

    assert len(files) >= 12
    assert set(expected) == files
    for name, entry in expected.items():
        assert set(entry) == {"subject", "from_addr", "attachments"}, name
        assert entry["subject"] is None or isinstance(entry["subject"], str), name
        assert entry["from_addr"] is None or isinstance(entry["from_addr"], str), name
        assert entry["attachments"] is None or all(isinstance(a, str) for a in entry["attachments"]), name


def _header_block(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _tnef_part(raw: bytes) -> bytes:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = next(p for p in msg.walk() if p.get_content_type() == "application/ms-tnef")
    return part.get_payload(decode=True)


# Each corpus file must keep the defect it is named for, because an editor or
# a line-end conversion that "repairs" a file makes the case useless.
CORPUS_DEFECTS = {
    "missing-closing-boundary.eml": lambda raw: b'boundary="b1-report"' in raw and b"--b1-report--" not in raw,
    "undeclared-boundary.eml": lambda raw: b"multipart/mixed\r\n" in raw and b"boundary=" not in raw,
    "unknown-charset.eml": lambda raw: raw.count(b"x-unknown") == 2,
    "utf8-declared-latin1-bytes.eml": lambda raw: b"charset=utf-8" in raw and not _is_utf8(raw),
    "us-ascii-declared-8bit-bytes.eml": lambda raw: b"charset=us-ascii" in raw and not raw.isascii(),
    "raw-utf8-headers.eml": lambda raw: not _header_block(raw).isascii() and b"=?" not in _header_block(raw),
    # The last encoded word has 11 base64 characters, one short of a multiple of 4.
    "encoded-words-split-bad-padding.eml": lambda raw: (
        re.search(rb"\?b\?[A-Za-z0-9+/]{11}\?=\r\n", raw) is not None
    ),
    "rfc2231-continuations.eml": lambda raw: b"filename*0*=" in raw and b"filename*1*=" in raw,
    "no-date-no-message-id.eml": lambda raw: re.search(rb"(?im)^(date|message-id):", raw) is None,
    "garbage-date.eml": lambda raw: b"\r\nDate: yesterday at noon\r\n" in raw,
    "header-line-without-colon.eml": lambda raw: any(
        b":" not in line for line in _header_block(raw).split(b"\r\n") if not line[:1].isspace()
    ),
    "headers-only.eml": lambda raw: b"\r\n\r\n" not in raw and raw.endswith(b"\r\n"),
    "lf-line-endings.eml": lambda raw: b"\r" not in raw and b"\n\n" in raw,
    "forwarded-message-rfc822.eml": lambda raw: b"Content-Type: message/rfc822" in raw,
    "long-header-line.eml": lambda raw: max(map(len, _header_block(raw).split(b"\r\n"))) > 998,
    "tnef-winmail-dat.eml": lambda raw: _tnef_part(raw).startswith(b"\x78\x9f\x3e\x22"),
    "html-only-script-remote-image.eml": lambda raw: (
        b"Content-Type: text/html" in raw and b"multipart" not in raw
        and b"<script>" in raw and b'<img src="https://' in raw
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS_DEFECTS))
def test_corpus_file_keeps_its_defect(name: str) -> None:
    raw = (CORPUS_DIR / name).read_bytes()

    assert CORPUS_DEFECTS[name](raw)


def test_corpus_defect_table_covers_every_file() -> None:
    assert set(CORPUS_DEFECTS) == {path.name for path in CORPUS_DIR.glob("*.eml")}
