"""Refresh the English catalogue of plural forms from the window's source and compile it.

Run from the checkout, after adding or changing a ``tr()`` string with ``%n`` or ``%Ln``:

    .venv/bin/python -m desktop.ui.update_translations

It extracts the strings of ``desktop/ui`` with ``pyside6-lupdate``, keeps those with a count, and writes them to
``resources/translations/sluice_en.ts``. The forms already in the file are kept. A new string gets draft forms
("%n message(s)" becomes "%n message" and "%n messages") marked ``type="unfinished"``, which the catalogue test
rejects until someone has read them and removed the mark. Then ``pyside6-lrelease`` compiles the file to
``sluice_en.qm``, which the window loads at start.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPOSITORY / "desktop" / "ui"
CATALOGUE = REPOSITORY / "resources" / "translations" / "sluice_en.ts"
COUNT_PATTERN = re.compile(r"%L?n")


@dataclass
class Entry:
    """One string with a count: where Qt looks it up, and its singular and plural form.

    Attributes:
        context: The class name for ``self.tr``, or the first argument of ``QCoreApplication.translate``.
        source: The string as the code passes it.
        comment: The disambiguation argument, empty for none.
        forms: The singular form, then the plural form.
        finished: False while the forms are unreviewed drafts.
    """

    context: str
    source: str
    comment: str
    forms: tuple[str, str]
    finished: bool

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.context, self.source, self.comment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    lupdate, lrelease = _tool("pyside6-lupdate"), _tool("pyside6-lrelease")
    if lupdate is None or lrelease is None:
        print("pyside6-lupdate or pyside6-lrelease not found next to this Python or on PATH. "
              "Install PySide6 into .venv (./dev.sh test does) and run the script with .venv/bin/python.",
              file=sys.stderr)
        return 1

    extracted = _extract(lupdate)
    existing = {entry.key: entry for entry in read_catalogue(CATALOGUE)} if CATALOGUE.exists() else {}
    entries = [existing.get(entry.key, entry) for entry in extracted]
    write_catalogue(CATALOGUE, entries)
    subprocess.run([lrelease, "-silent", str(CATALOGUE), "-qm", str(CATALOGUE.with_suffix(".qm"))], check=True)

    in_source = {entry.key for entry in extracted}
    for entry in entries:
        if not entry.finished:
            print(f"draft: {entry.context}: {entry.source!r} -> {entry.forms[0]!r} / {entry.forms[1]!r}")
    for key in sorted(set(existing) - in_source):
        print(f"removed (no longer in the source): {key[0]}: {key[1]!r}")
    drafts = sum(1 for entry in entries if not entry.finished)
    print(f"Wrote {CATALOGUE.relative_to(REPOSITORY)} and its .qm: {len(entries)} strings, {drafts} drafts.")
    if drafts:
        print("Read each draft above in the .ts file, correct the forms where the verb or pronoun must change too, "
              "remove type=\"unfinished\", and run this script again.")
    return 0


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _extract(lupdate: str) -> list[Entry]:
    """Return the strings with a count in the window's source, with draft forms."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "extracted.ts"
        subprocess.run([lupdate, "-silent", "-extensions", "py", "-locations", "none", "-target-language", "en",
                        str(SOURCE_DIR), "-ts", str(target)], check=True)
        extracted = read_catalogue(target)
    # NOTE: pyside6-lupdate 6.11 marks self.tr(text, "", n) as numerus but not
    # QCoreApplication.translate(context, text, "", n), so the count in the text decides.
    return [Entry(entry.context, entry.source, entry.comment, draft_forms(entry.source), finished=False)
            for entry in extracted if COUNT_PATTERN.search(entry.source)]


def draft_forms(source: str) -> tuple[str, str]:
    """Return the singular and plural draft of ``source``: "reply(ies)" is "reply" or "replies", "row(s)" "row" or "rows"."""
    singular = source.replace("(ies)", "").replace("(es)", "").replace("(s)", "")
    plural = re.sub(r"y\(ies\)", "ies", source).replace("(es)", "es").replace("(s)", "s")
    return singular, plural


def read_catalogue(path: Path) -> list[Entry]:
    """Read the messages of a Qt .ts file, in file order."""
    entries = []
    for context in ET.parse(path).getroot().iter("context"):
        name = context.findtext("name", "")
        for message in context.iter("message"):
            translation = message.find("translation")
            forms = [form.text or "" for form in translation.iter("numerusform")] if translation is not None else []
            finished = translation is not None and translation.get("type") is None
            entries.append(Entry(name, message.findtext("source", ""), message.findtext("comment", ""),
                                 (forms + ["", ""])[0:2] if forms else ("", ""), finished))
    return entries


def write_catalogue(path: Path, entries: list[Entry]) -> None:
    """Write ``entries`` as an English .ts file with two numerus forms each, grouped by context."""
    root = ET.Element("TS", version="2.1", language="en")
    contexts: dict[str, ET.Element] = {}
    for entry in sorted(entries, key=lambda item: item.context):
        context = contexts.get(entry.context)
        if context is None:
            context = contexts[entry.context] = ET.SubElement(root, "context")
            ET.SubElement(context, "name").text = entry.context
        message = ET.SubElement(context, "message", numerus="yes")
        ET.SubElement(message, "source").text = entry.source
        if entry.comment:
            ET.SubElement(message, "comment").text = entry.comment
        translation = ET.SubElement(message, "translation", {} if entry.finished else {"type": "unfinished"})
        for form in entry.forms:
            ET.SubElement(translation, "numerusform").text = form
    ET.indent(root, space="    ")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ET.tostring(root, encoding="unicode")
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n{text}\n', encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
