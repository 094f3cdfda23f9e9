"""Starting the window through ``desktop.ui.app``."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys
import textwrap
from pathlib import Path

from desktop.ui.app import create_application, load_style_sheet
from tests.ui.fixtures_ui import build_profile

REPOSITORY = Path(__file__).resolve().parents[2]

# run() owns the event loop. Once a QApplication.exec() had returned inside
# the pytest process, the windows of later tests were no longer activated,
# so run() is tested in a process of its own.
_RUN_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.paths import profile_at
    from desktop.ui.main_window import MainWindow
    from desktop.ui.app import create_application, run

    app = create_application(["sluice"])

    def report() -> None:
        windows = [widget for widget in QApplication.topLevelWidgets() if isinstance(widget, MainWindow)]
        print("app", app.applicationName())
        print("styled", bool(app.styleSheet()))
        print("windows", len(windows))
        print("rows", windows[0].message_model.rowCount())
        windows[0].close()

    QTimer.singleShot(100, report)
    sys.exit(run(profile_at(Path(sys.argv[1]))))
""")


def test_create_application_reuses_instance(qapp) -> None:
    assert create_application() is qapp


def test_style_sheet_is_bundled() -> None:
    style = load_style_sheet()

    assert "QTableView#messageList" in style
    assert 'QLineEdit#searchField[invalid="true"]' in style


def test_run_shows_window_and_returns_exit_code(tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPOSITORY)}

    result = subprocess.run(
        [sys.executable, "-c", _RUN_SCRIPT, str(profile.config_dir)],
        capture_output=True, text=True, timeout=60, env=environment, check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "app Sluice" in lines
    assert "styled True" in lines
    assert "windows 1" in lines
    assert "rows 5" in lines
