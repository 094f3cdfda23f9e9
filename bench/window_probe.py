"""Open Sluice's main window on a profile, report when the INBOX list is on screen, and quit.

Run as ``python bench/window_probe.py HOME`` with QT_QPA_PLATFORM=offscreen.
It starts the window as ``desktop.ui.app.run`` does, with the same
QApplication set-up, MainWindow, size and show. Instead of entering the event
loop for the user, it waits until the window is exposed and has painted
once, then prints one JSON line and exits. Its times are seconds since
``time.perf_counter`` was first read at the top of this file. The parent
times the whole process, which adds the interpreter's own start-up.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402 - the clock starts before any other import
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))


def main(home: Path) -> int:
    from PySide6.QtTest import QTest

    from desktop.paths import profile_at
    from desktop.ui.app import create_application
    from desktop.ui.main_window import MainWindow

    marks = {"imports": time.perf_counter() - STARTED}
    app = create_application([sys.argv[0]])
    marks["application"] = time.perf_counter() - STARTED
    window = MainWindow(profile_at(home))
    marks["window_built"] = time.perf_counter() - STARTED
    window.resize(1400, 900)
    window.show()
    if not QTest.qWaitForWindowExposed(window, 10_000):
        print(json.dumps({"error": "the window was not exposed within 10 s"}))
        return 1
    app.processEvents()
    # grab() renders the whole window now, so the visible rows of the message
    # list have been read from the store and drawn when the clock stops.
    window.grab()
    marks["shown"] = time.perf_counter() - STARTED

    current = window.folder_view.currentIndex()
    report = {
        "marks": marks,
        "folder": current.data() if current.isValid() else None,
        "rows": window.message_model.rowCount(),
        "page_loads": window.message_model.page_loads,
    }
    print(json.dumps(report), flush=True)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
