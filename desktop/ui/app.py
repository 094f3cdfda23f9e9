"""Starting the window: the QApplication, translations, style and icon."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.paths import Profile, resource_path
from desktop.store import StoreError
from desktop.ui.icons import app_icon
from desktop.ui.main_window import MainWindow

log = logging.getLogger(__name__)

# The catalogue of the source language, with the singular and plural forms of every string with a count.
ENGLISH_CATALOGUE = "sluice_en"


def run(profile: Profile, argv: list[str] | None = None) -> int:
    """Open the main window on ``profile`` and run the event loop; return the exit code."""
    app = create_application(argv)
    try:
        # As other mail clients do, the window checks for mail on opening and then watches for more.
        window = MainWindow(profile, watch=True)
    except StoreError as error:
        log.error("Could not open the store: %s", error)
        QMessageBox.critical(None, QCoreApplication.translate("App", "Sluice"), str(error))
        return 1
    window.resize(1400, 900)
    window.show()
    # Keys act on the message list. Without a focused widget they would do
    # nothing until the first click, as in a profile with no mail yet.
    window.message_view.setFocus()
    return app.exec()


def create_application(argv: list[str] | None = None) -> QApplication:
    """Return the running QApplication, creating and setting it up on first use."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Sluice")
    app.setApplicationDisplayName("Sluice")
    app.setOrganizationName("Sluice")
    app.setWindowIcon(app_icon())
    install_translations(app)
    app.setStyleSheet(load_style_sheet())
    return app


def load_style_sheet() -> str:
    """Return Sluice's style sheet, or an empty one when the file is missing."""
    path = resource_path("styles", "sluice.qss")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        log.warning("Style sheet %s not loaded: %s", path, error)
        return ""


def install_translations(app: QCoreApplication) -> list[QTranslator]:
    """Install Qt's catalogue and Sluice's for the user's language; return the translators installed.

    Qt's own strings (standard buttons, context menus) come from Qt's catalogue, and Sluice's from
    resources/translations. Without a catalogue for the user's language, Sluice's English one is installed,
    because the source strings write counts as "%n message(s)" and only a catalogue gives "1 message".
    """
    locale = QLocale()
    installed = []
    qt_translator = QTranslator(app)
    if qt_translator.load(locale, "qtbase", "_", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt_translator)
        installed.append(qt_translator)
    folder = str(resource_path("translations"))
    sluice_translator = QTranslator(app)
    if sluice_translator.load(locale, "sluice", "_", folder) or sluice_translator.load(ENGLISH_CATALOGUE, folder):
        app.installTranslator(sluice_translator)
        installed.append(sluice_translator)
    else:
        log.warning("Catalogue %s.qm not found in %s, so counts show as \"1 message(s)\". Reinstall Sluice, or "
                    "in a checkout run python -m desktop.ui.update_translations", ENGLISH_CATALOGUE, folder)
    return installed
