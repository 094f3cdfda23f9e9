"""Saved searches and the unified inbox in the window.

``SavedSearchViews`` keeps the profile's saved searches (``desktop.views``)
in the folder tree and runs them on a worker thread. It gives the window the
message ids of the node on show. For a saved search those are its matches,
and for a folder the messages of its current lane tab, where the search
lanes are tabs too.

A saved search runs again after every sync, bulk action, rule run and undo
(the window calls ``refresh``), so its list and lane counts follow the store.
Marking a message read or starring it repaints the row but runs nothing, so
a message that stops matching stays listed until the next run, as in other
mail clients.

Save Search (from the search field), Edit Saved Search (name, query and
lane, with Delete in the dialog) and Go to Unified Inbox are commands of the
registry. The folder tree's context menu offers them on saved search nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.index import SearchIndex
from desktop.paths import Profile
from desktop.store import Store, StoreError
from desktop.sync.service import CancelToken
from desktop.ui.folder_commands import FolderCommands, run_tree_menu
from desktop.ui.folder_tree import (
    NODE_KEY_ROLE,
    SAVED_SEARCH_ROLE,
    SAVED_SEARCHES_KEY,
    UNIFIED_INBOX_KEY,
    FolderTreeModel,
    saved_search_key,
)
from desktop.ui.lanes import LaneTabs
from desktop.ui.palette import PaletteItem
from desktop.ui.status import LogView, StatusPanel
from desktop.ui.workers import BackgroundJob, JobSet
from desktop.views import (
    SavedSearch,
    SavedSearchError,
    lane_counts,
    lane_ids,
    load_searches,
    make_search,
    run_saved_searches,
    save_searches,
    search_lane,
    searches_file,
    with_search,
    without_search,
)

log = logging.getLogger(__name__)

_EXPECTED_ERRORS = (StoreError, TimeoutError, OSError)


def _search_steps(profile: Profile, serial: int, searches: Sequence[SavedSearch],
                  cancel: CancelToken) -> Iterator[tuple[int, dict[str, list[int] | str]]]:
    # A worker thread needs store and index connections of its own.
    with Store(profile.store_file) as store:
        index = SearchIndex(profile.index_dir)
        try:
            results = run_saved_searches(store, index, searches, cancelled=lambda: cancel.cancelled)
        finally:
            index.close()
    if not cancel.cancelled:
        yield serial, results


class SavedSearchDialog(QDialog):
    """A dialog for a saved search's name, query and lane mark, which checks them before it closes.

    Attributes:
        search: The checked search after the user accepted, else None.

    Signals:
        delete_requested(): the user pressed Delete (only offered when editing).
    """

    delete_requested = Signal()

    def __init__(self, parent: QWidget, title: str, search: SavedSearch, others: Sequence[SavedSearch], *,
                 deletable: bool) -> None:
        super().__init__(parent)
        self.setObjectName("savedSearchDialog")
        self.setWindowTitle(title)
        self.search: SavedSearch | None = None
        self._others = list(others)
        self.name_field = QLineEdit(search.name, objectName="savedSearchName")
        self.query_field = QLineEdit(search.query, objectName="savedSearchQuery")
        self.query_field.setMinimumWidth(380)
        self.lane_box = QCheckBox(self.tr("Show as a lane of the split inbox"), objectName="savedSearchLane")
        self.lane_box.setChecked(search.lane)
        self.error_label = QLabel(objectName="savedSearchError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.delete_button: QPushButton | None = None
        if deletable:
            self.delete_button = self.buttons.addButton(self.tr("Delete…"), QDialogButtonBox.ButtonRole.DestructiveRole)
            self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.tr("&Name:"), self.name_field)
        form.addRow(self.tr("&Query:"), self.query_field)
        form.addRow("", self.lane_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        (self.query_field if search.name else self.name_field).setFocus()

    def accept(self) -> None:
        try:
            self.search = make_search(self.name_field.text(), self.query_field.text(), self.lane_box.isChecked(),
                                      others=self._others)
        except SavedSearchError as error:
            self.error_label.setText(str(error))
            self.error_label.show()
            return
        super().accept()

    @Slot()
    def _on_delete_button_clicked(self) -> None:
        self.delete_requested.emit()


class SavedSearchViews(QObject):
    """The saved searches and the unified inbox of one window.

    Attributes:
        save_action, edit_action, unified_action: The actions of the
            ``save-search``, ``edit-saved-search`` and ``go-unified-inbox``
            commands.
        delete_action: Deletes the current saved search after asking; in the
            tree's context menu.
        problems: The problems found in the searches file when the window opened.
        dialog: The saved search dialog while it is open, else None.
        confirm_box: The question before a delete while it is open, else None.

    Signals:
        results_changed(): a run of the saved searches finished; the list on
            show and the lane counts may have changed.
    """

    results_changed = Signal()

    def __init__(self, profile: Profile, store: Store, tree: QTreeView, model: FolderTreeModel,
                 folder_commands: FolderCommands, jobs: JobSet, status_panel: StatusPanel, log_view: LogView,
                 current_query: Callable[[], str], parent: QWidget) -> None:
        super().__init__(parent)
        self._profile = profile
        self._store = store
        self._tree = tree
        self._model = model
        self._folder_commands = folder_commands
        self._jobs = jobs
        self._status = status_panel
        self._log_view = log_view
        self._current_query = current_query
        self._window = parent
        self._path = searches_file(profile.config_dir)
        self._results: dict[str, list[int] | str] = {}
        self._lane_matches: dict[str, frozenset[int]] = {}
        self._serial = 0
        self._running: BackgroundJob | None = None
        self._run_again = False
        self._announce = ""
        self.dialog: SavedSearchDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self._init_actions()
        self._init_context_menu()
        self._tree.selectionModel().currentChanged.connect(self._on_tree_current_changed)
        self._load()

    def _init_actions(self) -> None:
        self.save_action = QAction(self.tr("&Save Search…"), self, objectName="save-search")
        self.edit_action = QAction(self.tr("&Edit Saved Search…"), self, objectName="edit-saved-search")
        self.unified_action = QAction(self.tr("Go to &Unified Inbox"), self, objectName="go-unified-inbox")
        self.delete_action = QAction(self.tr("&Delete Saved Search…"), self, objectName="delete-saved-search")
        self.save_action.triggered.connect(self._on_save_action_triggered)
        self.edit_action.triggered.connect(self._on_edit_action_triggered)
        self.unified_action.triggered.connect(self._on_unified_action_triggered)
        self.delete_action.triggered.connect(self._on_delete_action_triggered)

    def _init_context_menu(self) -> None:
        # The folder commands own the tree's context menu. This menu replaces theirs on saved search nodes and
        # hands every other node to them, so the tree keeps one handler.
        self._tree.customContextMenuRequested.disconnect()
        self._tree.customContextMenuRequested.connect(self._on_tree_context_menu_requested)

    def actions(self) -> list[QAction]:
        """Return the actions of the registry's commands, for the window to bind keys and menus to."""
        return [self.save_action, self.edit_action, self.unified_action]

    # --- the list on show ---------------------------------------------------------------------

    def current_search(self) -> SavedSearch | None:
        """Return the saved search of the tree's current node, or None on other nodes."""
        index = self._tree.currentIndex()
        return index.data(SAVED_SEARCH_ROLE) if index.isValid() else None

    def spans_accounts(self) -> bool:
        """Return whether the node on show lists mail of several accounts (unified inbox, saved search)."""
        index = self._tree.currentIndex()
        return index.isValid() and (index.data(NODE_KEY_ROLE) == UNIFIED_INBOX_KEY
                                    or index.data(SAVED_SEARCH_ROLE) is not None)

    def message_ids(self, folder_ids: Sequence[int], lane_tabs: LaneTabs, *, by_priority: bool) -> list[int]:
        """Update the lane tabs for the node on show and return the ids to list, in order.

        A saved search lists its latest matches, and nothing until its first
        run ends. A folder lists its messages in the current lane tab. In an
        INBOX or the unified inbox, the saved searches marked as lanes add
        their tabs to the rule lanes.
        """
        search = self.current_search()
        if search is not None:
            lane_tabs.set_counts({})
            result = self._results.get(search.name)
            return list(result) if isinstance(result, list) else []
        matches = self._lane_matches if self._all_inboxes(folder_ids) else {}
        counts, total = lane_counts(self._store, folder_ids, matches)
        tooltips = {search_lane(item.name): self.tr("Saved search: %1").replace("%1", item.query)
                    for item in self._model.saved_searches() if item.lane}
        lane_tabs.set_counts(counts, total, tooltips)
        return lane_ids(self._store, folder_ids, lane_tabs.current_lane(), matches, by_priority=by_priority)

    def _all_inboxes(self, folder_ids: Sequence[int]) -> bool:
        inboxes = set(self._model.inbox_ids())
        return bool(folder_ids) and inboxes.issuperset(folder_ids)

    def palette_items(self) -> list[PaletteItem]:
        """Return a palette row per saved search."""
        return [PaletteItem("saved", search.name, search.query, "", search.name, f"{search.name} {search.query}")
                for search in self._model.saved_searches()]

    def open(self, name: str) -> bool:
        """Make the saved search ``name`` the tree's current node; return False when there is none."""
        return self._select(saved_search_key(name))

    def results(self, name: str) -> list[int] | str | None:
        """Return the latest matches of the saved search ``name``, its error text, or None before its first run."""
        return self._results.get(name)

    def is_running(self) -> bool:
        return self._running is not None

    # --- running the searches -------------------------------------------------------------------

    def refresh(self) -> None:
        """Run every saved search again on a worker; a call during a run starts one more run after it."""
        searches = self._model.saved_searches()
        if not searches:
            self._results, self._lane_matches = {}, {}
            return
        if self._running is not None:
            self._run_again = True
            return
        self._serial += 1
        job = BackgroundJob(partial(_search_steps, self._profile, self._serial, searches),
                            expected_errors=_EXPECTED_ERRORS, name="saved-searches")
        job.progressed.connect(self._on_job_progressed)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(partial(self._on_job_finished, job))
        self._running = job
        log.debug("Running %d saved search(es), run %d", len(searches), self._serial)
        self._jobs.start(job)

    @Slot(object)
    def _on_job_progressed(self, step: tuple[int, dict[str, list[int] | str]]) -> None:
        serial, results = step
        if serial != self._serial:
            return
        self._results = results
        lanes = {search.name for search in self._model.saved_searches() if search.lane}
        self._lane_matches = {name: frozenset(ids) for name, ids in results.items()
                              if name in lanes and isinstance(ids, list)}
        self.results_changed.emit()
        self._announce_current()

    @Slot(str)
    def _on_job_failed(self, message: str) -> None:
        text = self.tr("Could not run the saved searches: %1").replace("%1", message)
        log.error("%s", text)
        self._status.show_message(text, error=True)
        self._log_view.add_line(text)

    def _on_job_finished(self, job: BackgroundJob) -> None:
        if job is self._running:
            self._running = None
        if self._run_again:
            self._run_again = False
            self.refresh()

    def _announce_current(self) -> None:
        """Show the match count of a saved search opened before its first results arrived."""
        search = self.current_search()
        if search is None or search.name != self._announce:
            return
        self._announce = ""
        result = self._results.get(search.name)
        if isinstance(result, str):
            self._show_error(self.tr("Saved search %1: %2").replace("%1", search.name).replace("%2", result))
        elif result is not None:
            self._status.show_message(self.tr("%n message(s) match the saved search", "", len(result)))

    # --- reading and changing the file -------------------------------------------------------------

    def _load(self) -> None:
        """Read the searches file into the tree and start a run; ``show_problems`` reports what was wrong."""
        searches, self.problems = load_searches(self._path)
        self._model.set_saved_searches(searches)
        self._expand_section()
        self.refresh()

    def show_problems(self) -> None:
        """Show the problems found in the searches file at start in the status bar and the log."""
        if not self.problems:
            return
        for problem in self.problems:
            self._log_view.add_line(str(problem))
        summary = self.tr("%n problem(s) in the saved searches; the searches on those lines are left out:",
                          "", len(self.problems))
        self._status.show_message(f"{summary} {self.problems[0]}", error=True)

    def _fresh_searches(self) -> list[SavedSearch] | None:
        """Read the file again before a change, so edits made outside the window are kept; None when it has problems."""
        searches, problems = load_searches(self._path)
        if problems:
            self._show_error(self.tr("The saved searches were not changed, because %1 has a problem; fix it first: %2")
                             .replace("%1", str(self._path)).replace("%2", str(problems[0])))
            return None
        return searches

    def _store_searches(self, searches: list[SavedSearch], select: str | None) -> bool:
        try:
            save_searches(self._path, searches)
        except SavedSearchError as error:
            self._show_error(str(error))
            return False
        self._model.set_saved_searches(searches)
        self._expand_section()
        if select is not None:
            self.open(select)
        self.refresh()
        return True

    def _expand_section(self) -> None:
        section = self._model.index_of_key(SAVED_SEARCHES_KEY)
        if section.isValid():
            self._tree.expand(section)

    def _show_error(self, text: str) -> None:
        log.error("%s", text)
        self._status.show_message(text, error=True)
        self._log_view.add_line(text)

    def _select(self, key: object) -> bool:
        index = self._model.index_of_key(key)
        if not index.isValid():
            return False
        self._tree.setCurrentIndex(index)
        return True

    # --- commands ------------------------------------------------------------------------------------

    @Slot()
    def _on_save_action_triggered(self) -> None:
        searches = self._fresh_searches()
        if searches is None:
            return
        query = self._current_query().strip()
        self._open_dialog(self.tr("Save Search"), SavedSearch("", query), searches, None)

    @Slot()
    def _on_edit_action_triggered(self) -> None:
        search = self.current_search()
        if search is None:
            self._status.show_message(self.tr("Choose a saved search in the folder tree first."))
            return
        searches = self._fresh_searches()
        if searches is None:
            return
        others = [item for item in searches if item.name.casefold() != search.name.casefold()]
        self._open_dialog(self.tr("Edit Saved Search"), search, others, search.name)

    def _open_dialog(self, title: str, search: SavedSearch, others: list[SavedSearch], replacing: str | None) -> None:
        if self.dialog is not None:
            self.dialog.close()
        dialog = SavedSearchDialog(self._window, title, search, others, deletable=replacing is not None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(partial(self._on_dialog_accepted, dialog, replacing))
        dialog.delete_requested.connect(partial(self._on_dialog_delete_requested, dialog, replacing))
        dialog.destroyed.connect(self._on_dialog_destroyed)
        self.dialog = dialog
        dialog.open()

    def _on_dialog_accepted(self, dialog: SavedSearchDialog, replacing: str | None) -> None:
        search = dialog.search
        searches = self._fresh_searches()
        if search is None or searches is None:
            return
        try:
            changed = with_search(searches, search, replacing=replacing)
        except SavedSearchError as error:
            self._show_error(str(error))
            return
        if self._store_searches(changed, select=search.name):
            done = self.tr("Saved search %1 saved") if replacing is None else self.tr("Saved search %1 changed")
            self._status.show_message(done.replace("%1", search.name))
            log.info("Saved search %r %s", search.name, "added" if replacing is None else f"replaces {replacing!r}")

    def _on_dialog_delete_requested(self, dialog: SavedSearchDialog, name: str | None) -> None:
        dialog.reject()
        if name is not None:
            self._confirm_delete(name)

    @Slot()
    def _on_dialog_destroyed(self) -> None:
        self.dialog = None

    @Slot()
    def _on_delete_action_triggered(self) -> None:
        search = self.current_search()
        if search is None:
            self._status.show_message(self.tr("Choose a saved search in the folder tree first."))
            return
        self._confirm_delete(search.name)

    def _confirm_delete(self, name: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Delete Saved Search"),
                          self.tr("Delete the saved search %1? Its messages stay where they are.").replace("%1", name),
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self._window)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(partial(self._on_confirm_box_finished, box, name))
        self.confirm_box = box
        box.open()

    def _on_confirm_box_finished(self, box: QMessageBox, name: str, _result: int) -> None:
        self.confirm_box = None
        if box.standardButton(box.clickedButton()) != QMessageBox.StandardButton.Yes:
            return
        searches = self._fresh_searches()
        if searches is None:
            return
        try:
            remaining = without_search(searches, name)
        except SavedSearchError as error:
            self._show_error(str(error))
            return
        if self._store_searches(remaining, select=None):
            self._status.show_message(self.tr("Saved search %1 deleted").replace("%1", name))
            log.info("Saved search %r deleted", name)

    @Slot()
    def _on_unified_action_triggered(self) -> None:
        if not self._select(UNIFIED_INBOX_KEY):
            self._status.show_message(self.tr("The unified inbox shows when two or more accounts have an INBOX."))

    # --- tree ----------------------------------------------------------------------------------------

    @Slot(QModelIndex, QModelIndex)
    def _on_tree_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        search = current.data(SAVED_SEARCH_ROLE) if current.isValid() else None
        self.edit_action.setEnabled(search is not None)
        self.delete_action.setEnabled(search is not None)
        self._announce = search.name if search is not None and search.name not in self._results else ""
        if search is not None and search.name not in self._results and self._running is None:
            self.refresh()

    def context_menu_at(self, point: QPoint) -> QMenu | None:
        """Make the node at ``point`` (viewport coordinates) current and return its menu, or None off the nodes."""
        index = self._tree.indexAt(point)
        if not index.isValid():
            return None
        key = index.data(NODE_KEY_ROLE) or ("",)
        if key[0] not in ("saved", SAVED_SEARCHES_KEY[0]):
            return self._folder_commands.context_menu_at(point)
        self._tree.setCurrentIndex(index)
        menu = QMenu(self._tree)
        menu.addAction(self.edit_action)
        menu.addAction(self.delete_action)
        menu.addSeparator()
        menu.addAction(self.save_action)
        return menu

    @Slot(QPoint)
    def _on_tree_context_menu_requested(self, point: QPoint) -> None:
        run_tree_menu(self._tree, self.context_menu_at(point), point)
