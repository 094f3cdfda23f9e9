"""The English catalogue of plural forms: every string with a count has its forms, and the window shows them.

The window's strings write counts as "%n message(s)". Only the catalogue in resources/translations turns that
into "1 message" and "2 messages". So these tests fail when a string with a count has no finished entry there.
They also fail when the compiled .qm differs from the .ts, or when an entry is left over from a string that is gone.
After changing such a string, run ``.venv/bin/python -m desktop.ui.update_translations`` and read its drafts.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import ast
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTranslator

from desktop.paths import Profile
from desktop.ui.app import install_translations
from desktop.ui.folder_tree import NAME_ROLE
from desktop.ui.main_window import MainWindow
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, SampleMessage, build_profile, open_main_window

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

REPOSITORY = Path(__file__).resolve().parents[2]
UI_SOURCE = REPOSITORY / "desktop" / "ui"
CATALOGUE = REPOSITORY / "resources" / "translations" / "sluice_en.ts"
COUNT = re.compile(r"%L?n")
REFRESH = "run .venv/bin/python -m desktop.ui.update_translations and read the drafts it lists"


@dataclass(frozen=True)
class CountString:
    """A string with a count in the window's source, and where Qt looks up its translation."""

    path: str
    line: int
    context: str | None
    source: str
    comment: str

    @property
    def key(self) -> tuple[str | None, str, str]:
        return (self.context, self.source, self.comment)


@dataclass(frozen=True)
class CatalogueEntry:
    forms: tuple[str, ...]
    numerus: bool
    finished: bool


class _CountStringFinder(ast.NodeVisitor):
    """Find the strings with a count and the context that ``self.tr`` or ``QCoreApplication.translate`` gives them."""

    def __init__(self, path: str, module: ast.Module) -> None:
        self.path = path
        self.found: list[CountString] = []
        self.handled: set[int] = set()
        self._classes: list[str] = []
        self._constants = {
            target.id: statement.value.value
            for statement in module.body if isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
            for target in statement.targets if isinstance(target, ast.Name)
        }

    def visit_ClassDef(self, node: ast.ClassDef) -> None:  # noqa: N802 - the name ast.NodeVisitor calls
        self._classes.append(node.name)
        self.generic_visit(node)
        self._classes.pop()

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802 - the name ast.NodeVisitor calls
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "tr":
            self._add(node, self._classes[-1] if self._classes else None, node.args[0:1], node.args[1:2])
        elif name.endswith("translate") and len(node.args) >= 2:
            self._add(node, self._text(node.args[0]), node.args[1:2], node.args[2:3])
        self.generic_visit(node)

    def _add(self, node: ast.Call, context: str | None, source: list[ast.expr], comment: list[ast.expr]) -> None:
        if not source or not isinstance(source[0], ast.Constant) or not isinstance(source[0].value, str):
            return
        if not COUNT.search(source[0].value):
            return
        self.handled.add(id(source[0]))
        comment_text = self._text(comment[0]) if comment else ""
        self.found.append(CountString(self.path, node.lineno, context, source[0].value, comment_text or ""))

    def _text(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self._constants.get(node.id)
        return None


def _scan_source() -> tuple[list[CountString], list[str]]:
    """Return the strings with a count, and where such a string is not passed to ``tr`` or ``translate``."""
    found, stray = [], []
    for path in sorted(UI_SOURCE.glob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        finder = _CountStringFinder(path.name, module)
        finder.visit(module)
        found += finder.found
        docstrings = {id(node.value) for node in ast.walk(module) if isinstance(node, ast.Expr)}
        for node in ast.walk(module):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and COUNT.search(node.value)
                    and id(node) not in finder.handled and id(node) not in docstrings):
                stray.append(f"{path.name}:{node.lineno}: {node.value!r}")
    return found, stray


def _read_catalogue() -> dict[tuple[str, str, str], CatalogueEntry]:
    entries = {}
    for context in ET.parse(CATALOGUE).getroot().iter("context"):
        for message in context.iter("message"):
            translation = message.find("translation")
            key = (context.findtext("name", ""), message.findtext("source", ""), message.findtext("comment", ""))
            entries[key] = CatalogueEntry(
                forms=tuple(form.text or "" for form in translation.iter("numerusform")),
                numerus=message.get("numerus") == "yes",
                finished=translation.get("type") is None,
            )
    return entries


COUNT_STRINGS, STRAY_STRINGS = _scan_source()


@pytest.fixture(scope="module")
def catalogue() -> dict[tuple[str, str, str], CatalogueEntry]:
    return _read_catalogue()


@pytest.fixture(scope="module")
def compiled() -> QTranslator:
    translator = QTranslator()
    assert translator.load(str(CATALOGUE.with_suffix(".qm"))), f"{CATALOGUE.with_suffix('.qm')} is missing; {REFRESH}"
    return translator


def test_source_has_count_strings() -> None:
    # A scan that finds nothing would let every other test here pass.
    assert len(COUNT_STRINGS) >= 50
    assert any(string.source == "%n message(s)" and string.context == "MainWindow" for string in COUNT_STRINGS)
    assert any(string.context == "Selection" for string in COUNT_STRINGS)


def test_count_strings_go_through_tr() -> None:
    assert STRAY_STRINGS == [], "strings with %n that Qt cannot translate: pass them to self.tr() or " \
                                "QCoreApplication.translate() with a literal context"


@pytest.mark.parametrize("string", COUNT_STRINGS, ids=lambda string: f"{string.path}:{string.line}")
def test_count_string_has_plural_forms(string: CountString, catalogue, compiled: QTranslator) -> None:
    assert string.context is not None, f"{string.path}:{string.line}: no class around self.tr"
    entry = catalogue.get(string.key)

    assert entry is not None, f"{string.path}:{string.line}: {string.source!r} is not in the catalogue; {REFRESH}"
    assert entry.numerus, f"{string.source!r} has no plural forms in the catalogue; {REFRESH}"
    assert entry.finished, f"{string.source!r} has draft forms {entry.forms}; read them, then remove type=\"unfinished\""
    assert len(entry.forms) == 2
    assert all(entry.forms), f"{string.source!r} has an empty form"
    assert not any("(s)" in form or "(ies)" in form for form in entry.forms), entry.forms
    comment = string.comment or None
    assert compiled.translate(string.context, string.source, comment, 1) == entry.forms[0], f"the .qm is stale; {REFRESH}"
    assert compiled.translate(string.context, string.source, comment, 2) == entry.forms[1], f"the .qm is stale; {REFRESH}"


def test_catalogue_has_no_stale_entries(catalogue) -> None:
    in_source = {string.key for string in COUNT_STRINGS}

    assert sorted(set(catalogue) - in_source) == [], f"entries of strings that are gone; {REFRESH}"


def test_translated_classes_have_no_subclasses() -> None:
    # PySide6 6.11 looks self.tr() up under the class of the object, not of the method, so a
    # subclass would show "1 message(s)" again.
    contexts = {string.context for string in COUNT_STRINGS}
    subclasses = []
    for path in sorted((REPOSITORY / "desktop").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(base, "id", getattr(base, "attr", "")) for base in node.bases}
                subclasses += [f"{path.name}: {node.name}({base})" for base in sorted(bases & contexts)]

    assert subclasses == []


# --- the window with the catalogue installed ---------------------------------------------------------------


@pytest.fixture
def translated(qapp) -> Iterator[list[QTranslator]]:
    installed = install_translations(qapp)
    yield installed
    for translator in installed:
        qapp.removeTranslator(translator)


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    samples = [
        SampleMessage("Budget", "Ana Lima <ana@example.org>", "Numbers attached."),
        SampleMessage("Lunch", "Ben Okafor <ben@example.org>", "Friday?"),
        SampleMessage("Old notes", "Cara <cara@example.org>", "From the kickoff.", folder="Archive"),
    ]
    return build_profile(tmp_path / "profile", samples)


def _folder_index(window: MainWindow, name: str):
    account_index = window.folder_model.account_index(ACCOUNT)
    for row in range(window.folder_model.rowCount(account_index)):
        index = window.folder_model.index(row, 0, account_index)
        if index.data(NAME_ROLE) == name:
            return index
    raise AssertionError(f"folder {name!r} is not in the tree")


def test_window_shows_singular_and_plural(qtbot, translated, profile: Profile) -> None:
    assert translated, "no catalogue was installed"
    window = open_main_window(qtbot, profile)

    window.folder_view.setCurrentIndex(_folder_index(window, "Archive"))
    qtbot.waitUntil(lambda: window.message_model.rowCount() == 1, timeout=5000)
    assert window.status_panel.message() == "1 message"

    window.folder_view.setCurrentIndex(_folder_index(window, "INBOX"))
    qtbot.waitUntil(lambda: window.message_model.rowCount() == 2, timeout=5000)
    assert window.status_panel.message() == "2 messages"

    assert _folder_index(window, "Archive").data(Qt.ItemDataRole.ToolTipRole) == "1 message"
    assert _folder_index(window, "INBOX").data(Qt.ItemDataRole.ToolTipRole) == "2 messages"
