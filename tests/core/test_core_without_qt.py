"""The core imports no Qt: every module outside desktop.ui loads in a fresh interpreter without PySide6."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import desktop


def test_core_modules_do_not_load_qt():
    modules = [
        info.name
        for info in pkgutil.walk_packages(desktop.__path__, prefix="desktop.")
        if not info.name.startswith(("desktop.ui", "desktop.resources")) and info.name != "desktop.__main__"
    ]
    assert "desktop.store.db" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(name for name in sys.modules if name.startswith('PySide6'))\n"
        "print(','.join(loaded))\n"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == ""
