"""The merge composer's files: the last merge of a profile, and changes to the template and data on disk.

``load_last_merge`` and ``save_last_merge`` keep the template, data file and
account of the last checked merge in a small JSON file in the profile's data
folder, as the main window keeps its recent move targets, so the window can
reopen them. ``MergeFileWatch`` reports when the checked files change on disk.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Signal, Slot

log = logging.getLogger(__name__)

LAST_MERGE_FILE = "last-merge.json"


@dataclass(frozen=True)
class LastMerge:
    """The files and account of the last merge checked in the window. A path is None when it was never set."""

    template: Path | None
    data: Path | None
    account: str = ""


def load_last_merge(data_dir: Path) -> LastMerge | None:
    """Return the last merge stored in ``data_dir``, or None when there is none or the file cannot be read."""
    path = data_dir / LAST_MERGE_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("Could not read the last merge in %s: %s", path, error)
        return None
    if not isinstance(values, dict):
        log.warning("Could not read the last merge in %s: expected a JSON object", path)
        return None
    template, data, account = values.get("template"), values.get("data"), values.get("account")
    return LastMerge(Path(template) if isinstance(template, str) and template else None,
                     Path(data) if isinstance(data, str) and data else None,
                     account if isinstance(account, str) else "")


def save_last_merge(data_dir: Path, last: LastMerge) -> None:
    """Store ``last`` in ``data_dir``. A failure is only logged, because the merge itself does not depend on it."""
    path = data_dir / LAST_MERGE_FILE
    values = {"template": str(last.template.resolve()) if last.template else "",
              "data": str(last.data.resolve()) if last.data else "", "account": last.account}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")
    except OSError as error:
        log.warning("Could not save the last merge in %s: %s", path, error)


def _signature(path: Path) -> tuple[int, int] | None:
    """Return the modification time in nanoseconds and the size of ``path``, or None when it is missing."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


class MergeFileWatch(QObject):
    """Watches the template and data file of the last check and reports when either changes on disk.

    ``watch`` records each file's modification time and size. A change
    notification that leaves both as recorded is ignored, so a file written
    by the window just before its check does not count as a change.

    Signals:
        file_changed(str): a watched file changed, was replaced or was removed since ``watch``; the path.
    """

    file_changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._watcher = QFileSystemWatcher(self)
        self._signatures: dict[str, tuple[int, int] | None] = {}
        self._watcher.fileChanged.connect(self._on_watcher_file_changed)

    def watch(self, paths: list[Path]) -> None:
        """Watch ``paths`` from now on, in place of the files watched before."""
        if self._watcher.files():
            self._watcher.removePaths(self._watcher.files())
        self._signatures = {str(path): _signature(path) for path in paths}
        for path in paths:
            if not self._watcher.addPath(str(path)):
                log.debug("Merge composer: %s cannot be watched for changes", path)

    def changed_files(self) -> list[Path]:
        """Return the watched files whose modification time or size differ from those recorded by ``watch``."""
        return [Path(name) for name, signature in self._signatures.items() if _signature(Path(name)) != signature]

    @Slot(str)
    def _on_watcher_file_changed(self, name: str) -> None:
        if name not in self._signatures:
            return
        if name not in self._watcher.files() and Path(name).exists():
            # Editors that save by writing a new file and renaming it over the old one end the watch, so it is renewed.
            self._watcher.addPath(name)
        if _signature(Path(name)) == self._signatures[name]:
            return
        log.info("Merge composer: %s changed on disk after the check", name)
        self.file_changed.emit(name)
