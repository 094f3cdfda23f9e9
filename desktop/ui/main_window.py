"""Sluice's main window: folders, the message list, the reader, search and sync.

The window is the controller of its panes. It reads the store on the GUI
thread only for quick local lookups (a folder's ids, a page of rows, one
message). Sync, the watch for new mail, folder commands and search run as
core generators on worker threads through ``BackgroundJob``. The folder tree
shows each account's state from their progress steps. One account failing
leaves the others and the stored mail usable.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import partial

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QLocale, QModelIndex, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QLabel,
    QVBoxLayout,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QTreeView,
    QWidget,
)

from desktop.commands import COMMANDS, COMMANDS_BY_NAME, MENUS
from desktop.config import ConfigError, load_config
from desktop.index import QueryError, SearchIndex
from desktop.keymap import KeyProblem, display_text, load_keymap, user_keys_file
from desktop.paths import Profile
from desktop.store import FLAGGED, SEEN, MessageRow, Store, StoreError
from desktop.store.rules import UndoResult
from desktop.sync.service import CancelToken, SyncProgress
from desktop.sync.watch import WatchOptions
from desktop.ui.account_state import next_state, stopped_state
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES, BulkSender
from desktop.ui.bulk_worker import DeleteChange, FlagChange, MoveChange, StoreChange, show_flag_sets, show_flags
from desktop.ui.bulk_commands import BulkCommands
from desktop.ui.folder_commands import FolderCommands
from desktop.ui.folder_tree import (
    ACCOUNT_ROLE,
    FOLDER_IDS_ROLE,
    FOLDER_ROW_ROLE,
    NODE_KEY_ROLE,
    FolderTreeDelegate,
    FolderTreeModel,
)
from desktop.ui.icons import app_icon
from desktop.ui.cheatsheet import CheatSheet
from desktop.ui.compose_commands import ComposeCommands
from desktop.ui.compose_service import CLOSE_GRACE_SECONDS, CloseOutcome
from desktop.ui.keys import COMMAND_KEYS_FIRST_PROPERTY, MODE_PROPERTY, KeyDispatcher, qt_key_sequence, translated
from desktop.ui.lanes import LaneTabs
from desktop.ui.message_list import FOLDER, SUBJECT, MessageListModel, MessageListView
from desktop.ui.palette import CommandPalette, PaletteItem, stored_keywords
from desktop.ui.reader import ReaderPane
from desktop.ui.rule_commands import RuleCommands
from desktop.ui.rules_control import RunTarget
from desktop.ui.saved_searches import SavedSearchViews
from desktop.ui.selection import SelectionCommands, confirm_delete_for_good, confirm_move
from desktop.ui.snooze import SnoozeCommands
from desktop.ui.status import LogView, StatusPanel
from desktop.ui.sync_control import SyncController, WatchController
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

# How long closing the window waits for a running job to notice its cancel.
CLOSE_WAIT_MS = 10_000
# New mail often comes as a burst of steps (folder done, arrivals); one list refresh follows the last.
REFRESH_DELAY_MS = 250
# Steps after which the store contains changed mail that the list and counts must show.
_REFRESH_PHASES = {"folder-done", "arrived", "account-done", "watching"}


def _search_steps(profile: Profile, serial: int, query: str, cancel: CancelToken) -> Iterator[tuple[int, list[int]]]:
    index = SearchIndex(profile.index_dir)
    try:
        # Every match: the list model reads rows lazily, so a long result costs only the ids.
        ids = index.search(query, limit=None)
    finally:
        index.close()
    # This runs on a worker thread, which needs a store connection of its own.
    with Store(profile.store_file) as store:
        yield serial, store.without_all_mail_twins(ids)


class MainWindow(QMainWindow):
    """The main window over one profile.

    Attributes:
        actions_by_name: An action for each command of
            ``desktop.commands.COMMANDS``, by its name. Keys, menus and the
            palette all run a command through its action.
        keymap: The key bindings in force: the defaults with the profile's
            ``keys.toml`` over them.
        key_problems: The problems found in the key files, also shown in
            the status bar and the log.

    Signals:
        search_finished(int): a search result is on show; the number of matches.
        search_failed(str): a search failed; the message shown to the user.
        sync_finished(bool): a sync ended; True when every account synced.
        folders_refreshed(): the folder tree and the list show the store's
            latest mail, after a sync, new mail or a folder command.
    """

    search_finished = Signal(int)
    search_failed = Signal(str)
    sync_finished = Signal(bool)
    folders_refreshed = Signal()

    def __init__(self, profile: Profile, parent: QWidget | None = None, *, watch: bool = False,
                 watch_options: WatchOptions | None = None) -> None:
        """Open the window on ``profile``.

        Args:
            profile: The profile whose store, index and accounts to show.
            parent: The parent widget, if any.
            watch: Sync the IMAP accounts now and then watch them for new mail
                until the window closes; a manual sync also starts the watch.
            watch_options: Settings of the watch; the defaults suit a user.
        """
        super().__init__(parent)
        self._profile = profile
        self._store = Store(profile.store_file)
        self._account_names, self._config_error = self._read_accounts()
        self._tree_signature: tuple = ()
        self._watch_enabled = watch and bool(self._imap_accounts)
        self._watch_options = watch_options
        self._sync_after_watch = False
        self._folder_ids: list[int] = []
        self._search_active = False
        self._search_serial = 0
        self._closed = False
        self._jobs = JobSet(self)
        self._remote_allowed: set[int] = set()
        self._mark_read_on_show = True
        self._show_selection_count = True
        # The id of the bulk action whose undo made its restored messages current before the undo committed.
        self._restored_shown_for: int | None = None
        self._rebuilding_tree = False
        self._restoring_view = False
        self.actions_by_name: dict[str, QAction] = {}

        self.setWindowTitle(self.tr("Sluice"))
        self.setWindowIcon(app_icon())
        self._init_widgets()
        self._init_layout()
        self._init_actions()
        self._init_menus()
        self._connect_signals()
        self._load_folders()
        self._show_key_problems(self.key_problems)
        self.saved_searches.show_problems()
        self.rule_commands.start()
        # Snoozes that fell due while the window was closed come back now.
        self.snooze_commands.start()
        # Messages that waited in the outbox over a restart go out now.
        self.compose_commands.start()
        if self._watch_enabled:
            self.watch_controller.start()
        # Changes queued before a restart go to the server now, with progress when there are many.
        self.bulk_sender.request()

    # --- construction -------------------------------------------------------

    def _read_accounts(self) -> tuple[list[str], str]:
        self._imap_accounts: list[str] = []
        try:
            config = load_config(self._profile.config_file)
        except ConfigError as error:
            log.error("Could not read the configuration: %s", error)
            return [], str(error)
        self._imap_accounts = sorted(name for name, account in config.accounts.items() if account.kind == "imap")
        return sorted(config.accounts), ""

    def _init_widgets(self) -> None:
        self.folder_model = FolderTreeModel(self)
        self.folder_view = QTreeView(objectName="folderTree")
        self.folder_view.setModel(self.folder_model)
        self.folder_view.setHeaderHidden(True)
        self.folder_view.setUniformRowHeights(True)
        self.folder_view.setItemDelegate(FolderTreeDelegate(self.folder_view))

        self.message_model = MessageListModel(self._store, self)
        self.message_view = MessageListView()
        self.message_view.setModel(self.message_model)
        self.lane_tabs = LaneTabs()
        self._sort_by_priority = False

        # With the profile, the reader fetches the body of a message stored with headers only.
        self.reader = ReaderPane(profile=self._profile)
        self.search_field = QLineEdit(objectName="searchField")
        self.search_field.setPlaceholderText(self.tr("Search mail  ( / )"))
        self.search_field.setClearButtonEnabled(True)
        self.search_field.setMinimumWidth(320)

        self.status_panel = StatusPanel()
        self.log_view = LogView()
        self.sync_controller = SyncController(self._profile, self.status_panel, self.log_view, self._jobs, self)
        self.watch_controller = WatchController(self._profile, self.log_view, self._jobs, self._watch_options, self)
        self.bulk_sender = BulkSender(self._profile, self._store, self._jobs, self.sync_controller, self.watch_controller,
                                      self.status_panel, self.log_view, self)
        self.folder_commands = FolderCommands(self._profile, self.folder_view, self._jobs, self)
        self.saved_searches = SavedSearchViews(self._profile, self._store, self.folder_view, self.folder_model,
                                               self.folder_commands, self._jobs, self.status_panel, self.log_view,
                                               self.search_field.text, self)
        self.selection_commands = SelectionCommands(self.message_model, self.message_view, self._store,
                                                    self._move_to_row, self)
        self.merge_window = None
        self.rule_commands = RuleCommands(self._profile, self._store, self._jobs, self.status_panel, self.log_view,
                                          target=self.current_target, selected_message=self.selected_message, parent=self)
        self.snooze_commands = SnoozeCommands(self._profile, self._store, self._jobs, self._selected_rows, self)
        self.bulk_commands = BulkCommands(self, self._profile, self._store)
        self.compose_commands = ComposeCommands(self._profile, lambda: self.keymap, self._current_message_id,
                                                self.status_panel, self.log_view, self)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_DELAY_MS)
        self.empty_state = QLabel(objectName="emptyState")
        self.empty_state.setWordWrap(True)
        self.empty_state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _init_layout(self) -> None:
        list_pane = QWidget(objectName="listPane")
        list_layout = QVBoxLayout(list_pane)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.setSpacing(0)
        list_layout.addWidget(self.lane_tabs)
        list_layout.addWidget(self.message_view)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(list_pane)
        right.addWidget(self.reader)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        self.splitter.addWidget(self.folder_view)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([230, 1000])
        right.setSizes([330, 470])

        self.pages = QStackedWidget()
        self.pages.addWidget(self.splitter)
        self.pages.addWidget(self.empty_state)
        self.setCentralWidget(self.pages)

        self.statusBar().addWidget(self.status_panel, 1)
        self.statusBar().addPermanentWidget(self.bulk_sender.widget)
        self.statusBar().addPermanentWidget(self.compose_commands.undo_bar)
        self.log_dock = QDockWidget(self.tr("Log"), self, objectName="logDock")
        self.log_dock.setWidget(self.log_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.log_dock.hide()

    def _init_actions(self) -> None:
        self.keymap, self.key_problems = load_keymap(user_keys_file(self._profile.config_dir))
        handlers = self._command_handlers()
        folder_actions = {action.objectName(): action
                          for action in [*self.folder_commands.actions(), *self.saved_searches.actions()]}
        for command in COMMANDS:
            action = folder_actions.get(command.name)
            if action is None:
                action = QAction(translated(command.text), self, objectName=command.name)
                action.triggered.connect(handlers.get(command.name, partial(self._show_unavailable, command.name)))
            action.setStatusTip(translated(command.description))
            self._show_keys_in_menus(action, command.name)
            self.actions_by_name[command.name] = action
        self.actions_by_name["sort-by-priority"].setCheckable(True)
        self.key_dispatcher = KeyDispatcher(self, self.keymap)
        self.palette = CommandPalette(self)
        self.cheat_sheet = CheatSheet(self.keymap, self)
        # The reader pane has keys of its own; the message list takes Enter, Tab and the arrows for commands.
        self.reader.setProperty(MODE_PROPERTY, "reader")
        self.message_view.setProperty(COMMAND_KEYS_FIRST_PROPERTY, True)

    def _show_keys_in_menus(self, action: QAction, name: str) -> None:
        """Give the action its keys as shortcuts that only menus show; the key dispatcher runs the commands.

        A widget shortcut of an action that lives only in menus never fires
        while the window has the focus, so a key cannot run a command twice.
        """
        keys = self.keymap.keys_of("list", name) or self.keymap.keys_of("reader", name)
        action.setShortcuts([qt_key_sequence(key.split()) for key in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)

    def _command_handlers(self) -> dict:
        """Return the handler of each available command; the others show that they are not available yet."""
        return {
            "next-message": self._on_next_message_triggered,
            "previous-message": self._on_previous_message_triggered,
            "open-message": self._on_open_message_triggered,
            "back": self._on_back_triggered,
            "next-lane": self._on_next_lane_triggered,
            "previous-lane": self._on_previous_lane_triggered,
            "go-inbox": partial(self._go_to_folder, "inbox"),
            "go-sent": partial(self._go_to_folder, "\\Sent"),
            "go-drafts": partial(self._go_to_folder, "\\Drafts"),
            "go-archive": partial(self._go_to_folder, "\\Archive"),
            "go-starred": self._on_go_starred_triggered,
            "go-folder": self._on_go_folder_triggered,
            "go-saved-search": partial(self._open_palette, ("saved",)),
            "toggle-select": self.selection_commands.toggle_current,
            "select-next": partial(self.selection_commands.extend, 1),
            "select-previous": partial(self.selection_commands.extend, -1),
            "select-all": self.selection_commands.select_all,
            "select-none": self.selection_commands.select_none,
            "select-read": partial(self.selection_commands.select_by_seen, True),
            "select-unread": partial(self.selection_commands.select_by_seen, False),
            "archive": self._on_archive_triggered,
            "delete": self._on_delete_triggered,
            "toggle-star": self._on_toggle_star_triggered,
            "mark-read": partial(self._set_flag_on_selection, SEEN, True),
            "mark-unread": partial(self._set_flag_on_selection, SEEN, False),
            "move": self.bulk_commands.move,
            "copy": self.bulk_commands.copy,
            "label": self.bulk_commands.label,
            "report-spam": self.bulk_commands.report_spam,
            "apply-rule": self.bulk_commands.apply_rule,
            "snooze": self._on_snooze_triggered,
            "show-snoozed": self._on_show_snoozed_triggered,
            "more-actions": self._on_more_actions_triggered,
            "compose": partial(self.compose_commands.open, "compose"),
            "reply": partial(self.compose_commands.open, "reply"),
            "reply-all": partial(self.compose_commands.open, "reply-all"),
            "forward": partial(self.compose_commands.open, "forward"),
            "show-outbox": self.compose_commands.show_outbox,
            "undo": self._on_undo_triggered,
            "toggle-html": self.reader.toggle_format,
            "toggle-quoted-text": self.reader.toggle_quoted_text,
            "show-original": self.reader.show_original,
            "focus-search": self._on_focus_search_triggered,
            "leave-search": self._on_leave_search_triggered,
            "sort-by-priority": self._on_sort_by_priority_triggered,
            "sync": self._on_sync_triggered,
            "new-merge": self._on_new_merge_triggered,
            "edit-rules": self._on_edit_rules_triggered,
            "apply-rules": self._on_apply_rules_triggered,
            "command-palette": self._on_command_palette_triggered,
            "cheat-sheet": self._on_cheat_sheet_triggered,
            "quit": self.close,
        }

    def _init_menus(self) -> None:
        titles = {
            "mail": self.tr("&Mail"), "edit": self.tr("&Edit"), "message": self.tr("M&essage"), "go": self.tr("&Go"),
            "folder": self.tr("&Folder"), "view": self.tr("&View"), "rules": self.tr("&Rules"), "help": self.tr("&Help"),
        }
        menus: dict[str, QMenu] = {}
        for menu_id in MENUS:
            menus[menu_id] = self.menuBar().addMenu(titles[menu_id])
            menus[menu_id].setToolTipsVisible(True)
            group = None
            for command in (item for item in COMMANDS if item.menu == menu_id):
                if group is not None and command.group != group:
                    menus[menu_id].addSeparator()
                group = command.group
                menus[menu_id].addAction(self.actions_by_name[command.name])
        menus["view"].addAction(self.message_view.conversations_action)
        menus["view"].addSeparator()
        menus["view"].addAction(self.log_dock.toggleViewAction())

        toolbar = QToolBar(self.tr("Main"), objectName="mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.actions_by_name["sync"])
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.search_field)
        self.addToolBar(toolbar)

        # The search field's own keys, not commands: Escape there leaves the search.
        leave = QAction(self.search_field, shortcut=QKeySequence(Qt.Key.Key_Escape))
        leave.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        leave.triggered.connect(self._on_leave_search_triggered)
        self.search_field.addAction(leave)

    def _connect_signals(self) -> None:
        self.folder_view.selectionModel().currentChanged.connect(self._on_folder_view_current_changed)
        selection = self.message_view.selectionModel()
        selection.currentRowChanged.connect(self._on_message_view_current_changed)
        selection.selectionChanged.connect(self._on_message_view_selection_changed)
        self.message_model.selection_changed.connect(self._on_message_model_selection_changed)
        self.search_field.returnPressed.connect(self._on_search_field_return_pressed)
        self.lane_tabs.lane_changed.connect(self._on_lane_tabs_lane_changed)
        self.rule_commands.store_changed.connect(self._on_rule_commands_store_changed)
        self.bulk_sender.follow_rules(self.rule_commands.controller)
        # Connected after the rule commands and the sender, whose slots list the restored messages again first.
        self.rule_commands.controller.undone.connect(self._on_rules_undone)
        self.bulk_sender.store_changed.connect(self._on_rule_commands_store_changed)
        self.bulk_sender.rows_restored.connect(self._on_bulk_sender_rows_restored)
        self.bulk_sender.move_failed.connect(self._on_bulk_sender_move_failed)
        # An undo runs on the store queue behind any running change, and reports as an undo of a rule run does.
        self.bulk_sender.store_queue.undone.connect(self.rule_commands.controller.undone)
        self.bulk_sender.store_queue.failed.connect(self._on_store_queue_failed)
        self.rule_commands.controller.busy_changed.connect(self._on_rules_busy_changed)
        self.reader.remote_content_allowed.connect(self._on_reader_remote_content_allowed)
        self.reader.link_hovered.connect(self._on_reader_link_hovered)
        self.reader.status_message.connect(self._on_reader_status_message)
        self.sync_controller.sync_started.connect(self._on_sync_controller_sync_started)
        self.sync_controller.sync_finished.connect(self._on_sync_controller_sync_finished)
        self.sync_controller.progressed.connect(self._on_sync_controller_progressed)
        self.watch_controller.progressed.connect(self._on_watch_controller_progressed)
        self.watch_controller.stopped.connect(self._on_watch_controller_stopped)
        self.folder_commands.folder_started.connect(self._on_folder_commands_folder_started)
        self.folder_commands.folder_changed.connect(self._on_folder_commands_folder_changed)
        self.folder_commands.folder_failed.connect(self._on_folder_commands_folder_failed)
        self._refresh_timer.timeout.connect(self._on_refresh_timer_timeout)
        self.key_dispatcher.command_triggered.connect(self._on_key_dispatcher_command_triggered)
        self.key_dispatcher.sequence_unmatched.connect(self._on_key_dispatcher_sequence_unmatched)
        self.palette.item_chosen.connect(self._on_palette_item_chosen)
        self.snooze_commands.store_changed.connect(self._on_snooze_commands_store_changed)
        self.snooze_commands.failed.connect(self._report_error)
        self.snooze_commands.snoozed_list.message_chosen.connect(self._on_snoozed_list_message_chosen)
        self.saved_searches.results_changed.connect(self._on_saved_searches_results_changed)

    # --- folders ----------------------------------------------------------------

    def _load_folders(self) -> None:
        folders = self._store.folders()
        self.folder_model.set_folders(folders, self._account_names)
        self._tree_signature = (tuple(self._account_names), frozenset((row.id, row.account, row.name) for row in folders))
        if not folders and not self._account_names:
            self._show_empty_state()
            return
        self.pages.setCurrentWidget(self.splitter)
        self.folder_view.expandAll()
        self._select_first_folder()
        if self._config_error:
            self.status_panel.show_message(self._config_error, error=True)
        elif not folders and self._watch_enabled:
            self.status_panel.show_check_started(self.tr("Checking for mail…"))
        elif not folders:
            self.status_panel.show_message(self.tr("No mail stored yet. Press Ctrl+R to sync."))

    def _select_first_folder(self) -> None:
        """Select the first folder of the first account that has folders, else the first account."""
        accounts = [self.folder_model.index(row, 0) for row in range(self.folder_model.rowCount())]
        with_folders = [account for account in accounts if self.folder_model.rowCount(account)]
        if with_folders:
            self.folder_view.setCurrentIndex(self.folder_model.index(0, 0, with_folders[0]))
        elif accounts:
            self.folder_view.setCurrentIndex(accounts[0])
        # The cursor starts on the first row, so j, k and the reader work at once. Opening the window is no
        # sign that the user read that message, so it stays unread.
        if self.message_model.rowCount():
            self._show_row_unmarked(0)
        # The keys act on the list from the start: the folder tree would take letters for its type-ahead search.
        self.message_view.setFocus(Qt.FocusReason.OtherFocusReason)

    def _show_empty_state(self) -> None:
        if self._config_error:
            text = self.tr("<h2>The configuration could not be read</h2><p>%1</p>")
            self.empty_state.setText(text.replace("%1", _escape(self._config_error)))
        else:
            self.empty_state.setText(self.tr(
                "<h2>No accounts yet</h2>"
                "<p>Add an IMAP account from a terminal:</p>"
                "<p><code>sluice account add work --imap-host imap.example.org --user you@example.org</code></p>"
                "<p>Or try Sluice on a sample mailbox:</p>"
                "<p><code>sluice --demo</code></p>"
            ))
        self.pages.setCurrentWidget(self.empty_state)
        self.actions_by_name["sync"].setEnabled(False)
        self.search_field.setEnabled(False)

    def _refresh_folders(self, select_key: object = None) -> None:
        """Show new counts, and rebuild the tree when folders came or went.

        Args:
            select_key: The node key to make current after a rebuild; the
                current node's when None.
        """
        folders = self._store.folders()
        # Accounts added and folders renamed by another program (the command line) change the tree too.
        account_names, _error = self._read_accounts()
        signature = (tuple(account_names), frozenset((row.id, row.account, row.name) for row in folders))
        if signature == self._tree_signature and select_key is None:
            self.folder_model.update_counts(folders)
            self.folder_commands.update_actions()
            return
        self._account_names = account_names
        self._tree_signature = signature
        first_folders = not self.folder_model.folder_ids()
        current_key = select_key or self.folder_view.currentIndex().data(NODE_KEY_ROLE)
        self._rebuilding_tree = True
        try:
            self.folder_model.set_folders(folders, self._account_names)
            self.folder_view.expandAll()
            index = self._find_folder_node(current_key)
            if index.isValid():
                self.folder_view.setCurrentIndex(index)
        finally:
            self._rebuilding_tree = False
        if folders and self.pages.currentWidget() is self.empty_state:
            self.pages.setCurrentWidget(self.splitter)
        # The first folders of a new profile: show INBOX, as after opening a stored profile.
        if first_folders or not self.folder_view.currentIndex().isValid():
            self._select_first_folder()
        self.folder_commands.update_actions()

    def _find_folder_node(self, key: object) -> QModelIndex:
        if key is None:
            return QModelIndex()
        return self.folder_model.index_of_key(key)

    @Slot(QModelIndex, QModelIndex)
    def _on_folder_view_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._rebuilding_tree:
            return
        self._folder_ids = list(current.data(FOLDER_IDS_ROLE) or []) if current.isValid() else []
        self._clear_search_field()
        # Another folder opens on "All"; its lanes may differ from the last folder's.
        self.lane_tabs.set_counts({})
        self._show_folder()
        self.folder_commands.update_actions()

    def _show_folder(self) -> None:
        self._search_active = False
        ids = self._folder_message_ids()
        self.message_model.set_selected(())
        self.message_model.set_ids(ids)
        # The unified inbox and saved searches list mail of several accounts, so each row shows its place.
        self.message_view.setColumnHidden(FOLDER, not self.saved_searches.spans_accounts())
        self.reader.clear()
        self.status_panel.show_message(self.tr("%n message(s)", "", len(ids)))

    def _folder_message_ids(self) -> list[int]:
        """Update the lane tabs for the folder on show and return the ids of the current tab, in order."""
        return self.saved_searches.message_ids(self._folder_ids, self.lane_tabs, by_priority=self._sort_by_priority)

    @Slot()
    def _on_saved_searches_results_changed(self) -> None:
        if not self._closed and not self._search_active:
            self._show_ids_keeping_view(self._folder_message_ids())

    # --- lanes and order --------------------------------------------------------

    @Slot(object)
    def _on_lane_tabs_lane_changed(self, _lane: str | None) -> None:
        if not self._search_active:
            self._show_folder()

    @Slot()
    def _on_next_lane_triggered(self) -> None:
        self.lane_tabs.cycle(1)

    @Slot()
    def _on_previous_lane_triggered(self) -> None:
        self.lane_tabs.cycle(-1)

    @Slot(bool)
    def _on_sort_by_priority_triggered(self, checked: bool) -> None:
        self._sort_by_priority = checked
        if not self._search_active:
            self._show_ids_keeping_view(self._folder_message_ids())

    # --- messages ---------------------------------------------------------------

    @Slot(QModelIndex, QModelIndex)
    def _on_message_view_current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_current_message()

    @Slot(QItemSelection, QItemSelection)
    def _on_message_view_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_current_message()

    @Slot(int)
    def _on_message_model_selection_changed(self, count: int) -> None:
        if not self._show_selection_count:
            return
        if count:
            self.status_panel.show_message(self.tr("%Ln selected", "", count))
        else:
            self.status_panel.show_message(self.tr("Selection cleared"))

    def _current_selected_row(self) -> int | None:
        # Focusing the list makes its first row current without selecting
        # it; only a selected current row counts as the user's choice.
        current = self.message_view.currentIndex()
        if not current.isValid() or not self.message_view.selectionModel().isRowSelected(current.row()):
            return None
        return current.row()

    def _show_current_message(self) -> None:
        if self._restoring_view:
            return
        row_number = self._current_selected_row()
        row = self.message_model.message(row_number) if row_number is not None else None
        if row is None:
            self.reader.clear()
            return
        if row.id == self.reader.requested_message_id():
            return
        # The reader parses the message on a worker thread and shows it when ready.
        self.reader.open_message(row, self._store.raw(row.id), remote_allowed=row.id in self._remote_allowed)
        if self._mark_read_on_show and not row.seen:
            self._change_flags([row.id], add=[SEEN])

    def _show_row_unmarked(self, row: int) -> None:
        """Make ``row`` current and show it in the reader without marking it read.

        The window calls this where the user did not pick the message: at start and after an undo.
        """
        self._mark_read_on_show = False
        try:
            self._move_to_row(row)
        finally:
            self._mark_read_on_show = True

    def _selected_ids(self) -> list[int]:
        """Return the messages a bulk action acts on: the selection set, else the highlighted rows."""
        if self.message_model.selection_count():
            return self.message_model.selected_ids()
        return self._highlighted_ids()

    def _highlighted_ids(self) -> list[int]:
        """Return the messages of the rows highlighted in the list (Qt's row selection), in list order."""
        rows = sorted(index.row() for index in self.message_view.selectionModel().selectedRows())
        # A conversation row stands for all its messages in this list, so an action covers the whole thread.
        ids = [message_id for row in rows for message_id in self.message_model.row_message_ids(row)]
        return list(dict.fromkeys(ids))

    def _change_flags(self, ids: list[int], *, add: Sequence[str] = (), remove: Sequence[str] = (),
                      undo_text: str = "") -> int:
        """Change the flags of ``ids`` in the store and the view; return how many messages changed.

        With ``undo_text`` the change is recorded as a bulk action, so undo can reverse it.
        """
        if self.bulk_sender.store_queue.is_busy() or len(ids) >= BACKGROUND_MIN_MESSAGES:
            show_flags(self.message_model, ids, add, remove)
            change = FlagChange(frozenset(add), frozenset(remove))
            self.bulk_sender.change_in_background("flags", undo_text, ids, change, record=bool(undo_text))
            return len(ids)
        try:
            if undo_text:
                changed = self._change_flags_undoably(ids, add, remove, undo_text)
            else:
                changed = self._store.change_flags(ids, add=add, remove=remove)
        except (StoreError, ValueError) as error:
            self._report_error(self.tr("Could not change flags: %1").replace("%1", str(error)))
            return 0
        log.debug("Changed flags of %d of %d message(s)", changed, len(ids))
        self.message_model.reload_messages(ids)
        self.folder_model.update_counts(self._store.folders())
        return changed

    def _change_flags_undoably(self, ids: list[int], add: Sequence[str], remove: Sequence[str], text: str) -> int:
        rows = [row for row in self._store.messages(ids)
                if not set(add) <= row.flags or set(remove) & row.flags]
        if not rows:
            return 0
        with self._store.transaction():
            bulk_id = self._store.begin_bulk("flags", text, rows)
            changed = self._store.change_flags([row.id for row in rows], add=add, remove=remove)
            self._store.finish_bulk(bulk_id, {"changed": changed})
        return changed

    def _toggle_flag(self, flag: str) -> None:
        ids = self._selected_ids()
        if not ids:
            self.status_panel.show_message(self.tr("No message selected."))
            return
        # The current message decides the direction, as in other mail clients:
        # if it has the flag, every selected message loses it.
        current_id = self.message_model.message_id(self.message_view.currentIndex().row())
        reference_id = current_id if current_id in ids else ids[0]
        reference_row = self.message_model.row_of(reference_id)
        reference = self.message_model.message(reference_row) if reference_row is not None else None
        self._set_flag(ids, flag, reference is None or flag not in reference.flags)

    def _set_flag(self, ids: list[int], flag: str, on: bool) -> None:
        texts = {
            (FLAGGED, True): self.tr("Starred %Ln message(s)", "", len(ids)),
            (FLAGGED, False): self.tr("Unstarred %Ln message(s)", "", len(ids)),
            (SEEN, True): self.tr("Marked %Ln message(s) read", "", len(ids)),
            (SEEN, False): self.tr("Marked %Ln message(s) unread", "", len(ids)),
        }
        text = texts[(flag, on)]
        changed = self._change_flags(ids, add=[flag] if on else [], remove=[] if on else [flag], undo_text=text)
        if changed:
            self.status_panel.show_message(self._with_undo_hint(text))
            if not self.bulk_sender.store_queue.is_busy():
                self.bulk_sender.request("flags")

    def _move_current(self, step: int) -> None:
        count = self.message_model.rowCount()
        if not count:
            return
        current = self.message_view.currentIndex()
        if self._current_selected_row() is not None:
            self._move_to_row(max(0, min(count - 1, current.row() + step)))
        else:
            self._move_to_row(current.row() if current.isValid() else 0)

    def _show_ids_keeping_view(self, ids: list[int]) -> None:
        """Show ``ids`` keeping the selection, the message on show and the scroll position.

        The message at the top of the view stays at the top, so mail that
        arrives above it does not move what the user reads. A view scrolled
        to the very top stays there, so the new mail shows. The reader keeps
        its message, unless that message is gone.
        """
        selected = self._highlighted_ids()
        current_id = self.message_model.message_id(self.message_view.currentIndex().row())
        bar = self.message_view.verticalScrollBar()
        top_id = None if bar.value() == 0 else self.message_model.message_id(self.message_view.rowAt(0))
        self._restoring_view = True
        try:
            self.message_model.set_ids(ids)
            self._select_ids(selected, current_id)
            top_row = self.message_model.row_of(top_id) if top_id is not None else None
            if top_row is not None:
                self.message_view.scrollTo(self.message_model.index(top_row, SUBJECT), QAbstractItemView.ScrollHint.PositionAtTop)
            else:
                bar.setValue(0)
        finally:
            self._restoring_view = False
        shown_id = self.reader.message_id()
        if shown_id is not None and self.message_model.row_of(shown_id) is None:
            self._show_current_message()

    def _select_ids(self, ids: list[int], current_id: int | None) -> None:
        selection = QItemSelection()
        last_column = self.message_model.columnCount() - 1
        for message_id in ids:
            row = self.message_model.row_of(message_id)
            if row is not None:
                selection.select(self.message_model.index(row, 0), self.message_model.index(row, last_column))
        model = self.message_view.selectionModel()
        current_row = self.message_model.row_of(current_id) if current_id is not None else None
        if current_row is not None:
            model.setCurrentIndex(self.message_model.index(current_row, SUBJECT), QItemSelectionModel.SelectionFlag.NoUpdate)
        model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _message_after_change(self, changed: Iterable[int]) -> int | None:
        """Return the message the cursor moves to when ``changed`` are archived, deleted or moved, or None.

        The cursor moves on only when the current row's messages are all in ``changed``: to the first row
        below that is not, else to the nearest one above. In a search the moved messages stay listed, so
        the cursor moves past them there too.
        """
        current = self.message_view.currentIndex()
        if not current.isValid():
            return None
        changed_set = set(changed)
        if not changed_set.issuperset(self.message_model.row_message_ids(current.row())):
            return None
        return self.message_model.message_outside(current.row(), changed_set)

    def _move_to_message(self, message_id: int | None) -> None:
        """Make the row of ``message_id`` current and show it. None, or a message not listed, changes nothing."""
        row = self.message_model.row_of(message_id) if message_id is not None else None
        if row is not None:
            self._move_to_row(row)

    def _move_to_row(self, row: int) -> None:
        index = self.message_model.index(row, SUBJECT)
        self.message_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.message_view.scrollTo(index)

    @Slot()
    def _on_next_message_triggered(self) -> None:
        self._move_current(1)

    @Slot()
    def _on_previous_message_triggered(self) -> None:
        self._move_current(-1)

    @Slot()
    def _on_open_message_triggered(self) -> None:
        if self._current_selected_row() is None:
            self._move_current(0)
        row = self.message_model.message(self.message_view.currentIndex().row())
        if row is None:
            return
        if not row.seen:
            self._change_flags([row.id], add=[SEEN])
        self.reader.browser.setFocus()

    @Slot()
    def _on_toggle_star_triggered(self) -> None:
        self._toggle_flag(FLAGGED)

    def _set_flag_on_selection(self, flag: str, on: bool, _checked: bool = False) -> None:
        ids = self._selected_ids()
        if not ids:
            self.status_panel.show_message(self.tr("No message selected."))
            return
        self._set_flag(ids, flag, on)

    @Slot(int)
    def _on_reader_remote_content_allowed(self, message_id: int) -> None:
        self._remote_allowed.add(message_id)

    @Slot(str)
    def _on_reader_link_hovered(self, text: str) -> None:
        # A temporary status bar message covers the status panel until the mouse leaves the link.
        if text:
            self.statusBar().showMessage(text)
        else:
            self.statusBar().clearMessage()

    @Slot(str, bool)
    def _on_reader_status_message(self, text: str, error: bool) -> None:
        self.status_panel.show_message(text, error=error)

    # --- search -----------------------------------------------------------------

    @Slot()
    def _on_focus_search_triggered(self) -> None:
        self.search_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_field.selectAll()

    @Slot()
    def _on_search_field_return_pressed(self) -> None:
        query = self.search_field.text().strip()
        if not query:
            self._leave_search()
            return
        self._search_serial += 1
        job = BackgroundJob(
            partial(_search_steps, self._profile, self._search_serial, query),
            expected_errors=(QueryError,),
            name="search",
        )
        job.progressed.connect(self._on_search_job_progressed)
        job.failed.connect(partial(self._on_search_job_failed, self._search_serial))
        self._jobs.start(job)
        self.status_panel.show_message(self.tr("Searching…"))

    @Slot(object)
    def _on_search_job_progressed(self, result: tuple[int, list[int]]) -> None:
        serial, ids = result
        if self._closed or serial != self._search_serial:
            return
        self._set_search_invalid(False)
        self._search_active = True
        self.lane_tabs.set_counts({})
        self.message_model.set_selected(())
        self.message_model.set_ids(ids)
        # Results come from every folder, so each row shows its account and folder.
        self.message_view.setColumnHidden(FOLDER, False)
        self.reader.clear()
        self.status_panel.show_message(self.tr("%n message(s) found", "", len(ids)))
        self.search_finished.emit(len(ids))

    def _on_search_job_failed(self, serial: int, message: str) -> None:
        if serial != self._search_serial:
            return
        self._set_search_invalid(True)
        self.status_panel.show_message(self.tr("Invalid search: %1").replace("%1", message), error=True)
        self.search_failed.emit(message)

    @Slot()
    def _on_leave_search_triggered(self) -> None:
        self._leave_search()

    def _leave_search(self) -> None:
        self._search_serial += 1
        self._clear_search_field()
        if self._search_active:
            self._show_folder()
        self.message_view.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _clear_search_field(self) -> None:
        self.search_field.clear()
        self._set_search_invalid(False)

    def _set_search_invalid(self, invalid: bool) -> None:
        self.search_field.setProperty("invalid", invalid)
        self.search_field.style().unpolish(self.search_field)
        self.search_field.style().polish(self.search_field)

    # --- sync -------------------------------------------------------------------

    def is_syncing(self) -> bool:
        return self.sync_controller.is_running()

    def is_watching(self) -> bool:
        return self.watch_controller.is_running()

    @Slot()
    def _on_sync_triggered(self) -> None:
        if self.bulk_sender.run_when_idle(self._on_sync_triggered):
            # Both would send the same journal, so the sync follows once the changes are sent.
            self.status_panel.show_message(self.tr("The sync starts once the changes are sent to the server."))
            return
        if self.watch_controller.is_running():
            # The watch syncs the same folders over its own connections, so it
            # stops first. The manual sync starts once its thread has ended.
            self._sync_after_watch = True
            self.status_panel.show_message(self.tr("Stopping the watch for new mail to sync…"))
            self.actions_by_name["sync"].setEnabled(False)
            self.watch_controller.stop()
            return
        self.sync_controller.start()

    @Slot()
    def _on_sync_controller_sync_started(self) -> None:
        self.actions_by_name["sync"].setEnabled(False)

    @Slot(bool)
    def _on_sync_controller_sync_finished(self, succeeded: bool) -> None:
        if self._closed:
            return
        self.actions_by_name["sync"].setEnabled(True)
        self._refresh_after_sync()
        self.sync_finished.emit(succeeded)
        if self._watch_enabled:
            self.watch_controller.start()

    def _refresh_after_sync(self, select_key: object = None) -> None:
        self._refresh_timer.stop()
        self._refresh_folders(select_key)
        self.saved_searches.refresh()
        if self._search_active:
            self._show_ids_keeping_view(self.message_model.ids())
        else:
            self._folder_ids = list(self.folder_view.currentIndex().data(FOLDER_IDS_ROLE) or [])
            self._show_ids_keeping_view(self._folder_message_ids())
        self.folders_refreshed.emit()

    @Slot(object)
    def _on_sync_controller_progressed(self, step: SyncProgress) -> None:
        self._show_account_step(step)

    @Slot(object)
    def _on_watch_controller_progressed(self, step: SyncProgress) -> None:
        if self._closed:
            return
        self._show_account_step(step)
        if step.phase in ("watching", "retry", "error"):
            self.status_panel.show_check_outcome(step.phase, step.text,
                                                 self.tr("%n message(s)", "", self.message_model.rowCount()))
        if step.phase in ("arrived", "warning"):
            self.status_panel.show_message(step.text)
        if step.phase in _REFRESH_PHASES:
            self._refresh_timer.start()

    @Slot()
    def _on_watch_controller_stopped(self) -> None:
        if self._closed:
            return
        for account in self.folder_model.accounts():
            state = stopped_state(self.folder_model.account_state(account), self.tr("Not watching for new mail"))
            if state is not None:
                self.folder_model.set_account_state(account, state)
        if self._sync_after_watch:
            self._sync_after_watch = False
            self.sync_controller.start()

    @Slot()
    def _on_refresh_timer_timeout(self) -> None:
        if not self._closed:
            self._refresh_after_sync()

    def _show_account_step(self, step: SyncProgress) -> None:
        """Show on the account's node the state that ``step`` reports."""
        accounts = [step.account] if step.account else []
        if not accounts and step.phase == "cancelled":
            accounts = self.folder_model.accounts()
        for account in accounts:
            state = next_state(self.folder_model.account_state(account), step)
            if state is not None:
                self.folder_model.set_account_state(account, state)

    # --- rules ------------------------------------------------------------------------

    def current_target(self) -> RunTarget | None:
        """Return the folder or account selected in the tree, as rules see it; None for other nodes."""
        index = self.folder_view.currentIndex()
        if not index.isValid():
            return None
        row = index.data(FOLDER_ROW_ROLE)
        account = index.data(ACCOUNT_ROLE)
        if row is not None:
            return RunTarget(row.account, row.name, self.tr("%1 of %2").replace("%1", row.name).replace("%2", row.account))
        if account and index.data(NODE_KEY_ROLE) == ("account", account):
            return RunTarget(account, None, self.tr("account %1").replace("%1", account))
        return None

    def _current_message_id(self) -> int | None:
        row = self.selected_message()
        return row.id if row is not None else None

    def selected_message(self) -> MessageRow | None:
        """Return the message the user selected in the list, or None."""
        row = self._current_selected_row()
        return self.message_model.message(row) if row is not None else None

    @Slot()
    def _on_new_merge_triggered(self) -> None:
        from desktop.ui.merge_window import MergeWindow

        if self.merge_window is None:
            self.merge_window = MergeWindow(self._profile, self)
        self.merge_window.show()
        self.merge_window.raise_()
        self.merge_window.activateWindow()

    @Slot()
    def _on_edit_rules_triggered(self) -> None:
        self.rule_commands.edit_rules()

    @Slot()
    def _on_apply_rules_triggered(self) -> None:
        self.rule_commands.apply_rules()

    @Slot()
    def _on_undo_triggered(self) -> None:
        # While a sent message waits out its delay, undo takes it back first.
        if self.compose_commands.undo_send():
            return
        if self.rule_commands.controller.is_busy():
            self.rule_commands.undo()
            return
        if not self.bulk_sender.store_queue.is_busy():
            # With changes still queued, the bulk action to undo is not stored yet, so the list follows the commit.
            self._show_undo_at_once()
        self.bulk_sender.store_queue.undo()
        self.status_panel.show_message(self.tr("Undoing…"))

    def _lists_whole_folders(self) -> bool:
        """Return whether the list shows every message of ``_folder_ids`` by date: no saved search, lane or priority order."""
        return (bool(self._folder_ids) and self.saved_searches.current_search() is None
                and self.lane_tabs.current_lane() is None and not self._sort_by_priority)

    def _show_undo_at_once(self) -> None:
        """Show the list as the undo will leave it, from the undo record, while the undo runs on a worker."""
        preview = self._store.undo_preview()
        if preview is None:
            return
        bulk_id, before = preview
        restore = self.bulk_sender.restore_value(bulk_id)
        if self._search_active:
            if restore is not None and restore[0] == self._search_serial:
                self._show_ids_keeping_view(restore[1])
        elif self._lists_whole_folders():
            shown = set(self._folder_ids)
            listed = self.message_model.ids()
            dates = self._store.message_dates(listed)
            dates.update((message, date) for message, (folder, _flags, date) in before.items() if folder in shown)
            leaving = {message for message, (folder, _flags, _date) in before.items() if folder not in shown}
            ids = [message for message in dates if message not in leaving]
            ids.sort(key=lambda message: (dates[message] or 0.0, message), reverse=True)
            if ids != listed:
                # Listing the same ids again would drop the cached rows that show_flag_sets changes.
                self._show_ids_keeping_view(ids)
        show_flag_sets(self.message_model, {message: flags for message, (_folder, flags, _date) in before.items()})
        places = self._store.message_places(list(before))
        returning = [message for message, (folder, _flags, _date) in before.items()
                     if message in places and places[message][1] != folder]
        if self._show_restored(returning):
            self._restored_shown_for = bulk_id

    @Slot(object)
    def _on_rules_undone(self, result: UndoResult | None) -> None:
        """Make the messages the undo moved back current, unless ``_show_undo_at_once`` did so before the commit."""
        if self._closed or result is None or result.bulk.id == self._restored_shown_for:
            return
        self._show_restored(result.moved_back_ids)

    def _show_restored(self, ids: Collection[int]) -> bool:
        """Make the first listed row of ``ids`` current and show it. Return False when none of them is listed.

        Messages of several rows also become the selection again, because the change took them out of it.
        The status bar keeps the undo's message. The message shown is not marked read, because undo puts
        back the flags it had, and a flag change before the undo commits would make the undo skip it.
        """
        rows = sorted({row for row in map(self.message_model.row_of, ids) if row is not None})
        if not rows:
            return False
        if len(rows) > 1:
            self._show_selection_count = False
            try:
                self.message_model.set_selected(ids)
            finally:
                self._show_selection_count = True
        self._show_row_unmarked(rows[0])
        return True

    @Slot()
    def _on_rule_commands_store_changed(self) -> None:
        if not self._closed:
            self._refresh_after_sync()

    @Slot(bool)
    def _on_rules_busy_changed(self, busy: bool) -> None:
        self.actions_by_name["apply-rules"].setEnabled(not busy)
        self.actions_by_name["undo"].setEnabled(not busy)

    # --- folder commands ----------------------------------------------------------

    @Slot(str)
    def _on_folder_commands_folder_started(self, message: str) -> None:
        self.status_panel.show_message(message)
        self.log_view.add_line(message)

    @Slot(str, str)
    def _on_folder_commands_folder_changed(self, account: str, name: str) -> None:
        if self._closed:
            return
        row = self._store.folder_by_name(account, name) if name else None
        self._refresh_after_sync(("folder", row.id) if row else ("account", account))
        text = self.tr("Folder %1 is ready").replace("%1", name) if name else self.tr("Folder deleted")
        self.status_panel.show_message(text)
        self.log_view.add_line(text)

    @Slot(str)
    def _on_folder_commands_folder_failed(self, message: str) -> None:
        if not self._closed:
            self._report_error(message)

    def _report_error(self, text: str) -> None:
        log.error("%s", text)
        self.status_panel.show_message(text, error=True)
        self.log_view.add_line(text)

    # --- commands and keys --------------------------------------------------------

    def run_command(self, name: str) -> None:
        """Run a command of ``desktop.commands`` by name, as its key, menu entry or the palette does."""
        action = self.actions_by_name[name]
        if not action.isEnabled():
            self.status_panel.show_message(
                self.tr("%1 is not possible right now.").replace("%1", translated(COMMANDS_BY_NAME[name].text)))
            return
        action.trigger()

    def _show_unavailable(self, name: str, _checked: bool = False) -> None:
        title = translated(COMMANDS_BY_NAME[name].text).rstrip("…")
        self.status_panel.show_message(self.tr("%1 is not available yet.").replace("%1", title))

    def _with_undo_hint(self, text: str) -> str:
        keys = self.keymap.keys_of("list", "undo")
        return self.tr("%1 — %2 to undo").replace("%1", text).replace("%2", display_text(keys[0])) if keys else text

    def _show_key_problems(self, problems: Sequence[KeyProblem]) -> None:
        if not problems:
            return
        lines = [str(problem) for problem in problems]
        for line in lines:
            self.log_view.add_line(line)
        summary = self.tr("%n problem(s) in the key bindings; the default keys stay in force for those lines:",
                          "", len(lines))
        self.status_panel.show_message("\n".join([f"{summary} {lines[0]}", *lines[1:]]), error=True)

    @Slot(str)
    def _on_key_dispatcher_command_triggered(self, name: str) -> None:
        self.run_command(name)

    @Slot(str)
    def _on_key_dispatcher_sequence_unmatched(self, keys: str) -> None:
        self.status_panel.show_message(self.tr("No command is bound to %1.").replace("%1", keys))

    @Slot()
    def _on_back_triggered(self) -> None:
        focus = self.focusWidget()
        if focus is not None and (focus is self.reader or self.reader.isAncestorOf(focus)):
            self.message_view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        elif self._search_active:
            self._leave_search()
        else:
            self.message_view.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _current_account(self) -> str | None:
        index = self.folder_view.currentIndex()
        row = index.data(FOLDER_ROW_ROLE) if index.isValid() else None
        if row is not None:
            return row.account
        account = index.data(ACCOUNT_ROLE) if index.isValid() else None
        if account:
            return account
        message = self.selected_message()
        if message is not None:
            return message.account
        return self._account_names[0] if self._account_names else None

    def _go_to_folder(self, role: str, _checked: bool = False) -> None:
        """Show the current account's INBOX (``role`` "inbox") or its folder with that special use."""
        account = self._current_account()
        folders = [row for row in self._store.folders(account) if row.selectable] if account else []
        if role == "inbox":
            matches = [row for row in folders if row.name.upper() == "INBOX"]
        else:
            matches = [row for row in folders if row.special_use == role]
        if not matches:
            names = {"inbox": "INBOX", "\\Sent": self.tr("Sent"), "\\Drafts": self.tr("Drafts"),
                     "\\Archive": self.tr("Archive")}
            self.status_panel.show_message(
                self.tr("Account %1 has no %2 folder.").replace("%1", account or "?").replace("%2", names[role]),
                error=True)
            return
        self._open_folder(matches[0].id)

    def _open_folder(self, folder_id: int) -> None:
        index = self.folder_model.index_of_key(("folder", folder_id))
        if index.isValid():
            self.folder_view.setCurrentIndex(index)
            self.message_view.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _search_for(self, query: str) -> None:
        self.search_field.setText(query)
        self._on_search_field_return_pressed()
        self.message_view.setFocus(Qt.FocusReason.ShortcutFocusReason)

    @Slot()
    def _on_go_starred_triggered(self) -> None:
        self._search_for("is:flagged")

    @Slot()
    def _on_go_folder_triggered(self) -> None:
        self._open_palette(kinds=("folder", "label"))

    # --- archive and delete ----------------------------------------------------------

    def _folders_with_role(self, role: str) -> dict[str, int]:
        """Return {account: id of its first selectable folder with special use ``role``}."""
        found: dict[str, int] = {}
        for row in sorted(self._store.folders(with_counts=False), key=lambda folder: folder.id):
            if row.special_use == role and row.selectable:
                found.setdefault(row.account, row.id)
        return found

    def _selected_rows(self) -> list[MessageRow]:
        ids = self._selected_ids()
        if not ids:
            self.status_panel.show_message(self.tr("No message selected."))
        return self._store.messages(ids) if ids else []

    @Slot()
    def _on_archive_triggered(self) -> None:
        ids = self._selected_ids()
        if not ids:
            self.status_panel.show_message(self.tr("No message selected."))
            return
        # Account and folder only, because reading whole rows of tens of thousands would hold the window.
        places = self._store.message_places(ids)
        archives = self._folders_with_role("\\Archive")
        missing = sorted({account for account, _folder in places.values() if account not in archives})
        if missing:
            self._report_error(self.tr(
                "Account %1 has no Archive folder. Create a folder named Archive (or mark one as \\Archive on the "
                "server) and sync, then archive again.").replace("%1", ", ".join(missing)))
            return
        moving = [message for message, (account, folder) in places.items() if folder != archives[account]]
        if not moving:
            self.status_panel.show_message(self.tr("The selected messages are in the Archive folder already."))
            return
        if not confirm_move(self, self.tr("Archive %Ln message(s)?", "", len(moving)), len(moving)):
            self.status_panel.show_message(self.tr("Archive cancelled; no message changed."))
            return
        text = self.tr("Archived %Ln message(s)", "", len(moving))
        if self._in_background(len(moving)):
            self._leave_list_in_background("archive", text, moving, MoveChange(archives, "archived"))
            return
        rows = self._store.messages(moving)
        self._change_messages("archive", text, rows, lambda: self._move_to_role_folders(rows, archives))

    def _in_background(self, count: int) -> bool:
        """Return whether a change of ``count`` messages goes to the store queue's worker.

        Large changes do, and so does every change while the queue works, because a write here would
        wait for the worker's write lock and hold the window.
        """
        return count >= BACKGROUND_MIN_MESSAGES or self.bulk_sender.store_queue.is_busy()

    def _leave_list_in_background(self, kind: str, text: str, ids: list[int], change: StoreChange, *,
                                  undoable: bool = True, deleted_for_good: Collection[int] = ()) -> None:
        """Take ``ids`` out of the list at once and let ``BulkSender`` change them in the store and on the server.

        The cursor moves past ``ids`` as after a change on the window's thread. Search results keep the
        moved messages, as there, and lose only ``deleted_for_good``. They show the new
        folder once the change has committed and the list is read again.
        """
        next_id = self._message_after_change(ids)
        leaving = set(deleted_for_good) if self._search_active else set(ids)
        listed = self.message_model.ids()
        # An undo lists the search results again as they were before the change.
        restore = (self._search_serial, listed) if self._search_active else None
        self.message_model.set_selected(())
        remaining = [message for message in listed if message not in leaving]
        if len(remaining) < len(listed):
            self._show_ids_keeping_view(remaining)
        self.bulk_sender.change_in_background(kind, text, ids, change, restore=restore)
        # Moved after the change was queued, so marking the next message read follows the change in the queue.
        self._move_to_message(next_id)
        self.status_panel.show_message(self._with_undo_hint(text) if undoable else text)

    @Slot(object)
    def _on_bulk_sender_rows_restored(self, restore: tuple[int, list[int]]) -> None:
        serial, ids = restore
        if not self._closed and self._search_active and serial == self._search_serial:
            self._show_ids_keeping_view(ids)

    @Slot(str)
    def _on_bulk_sender_move_failed(self, message: str) -> None:
        self._report_error(self.tr("Could not change the messages: %1").replace("%1", message))

    def _on_store_queue_failed(self, kind: str, message: str) -> None:
        if kind == "undo" and not self._closed:
            self.rule_commands.controller.failed.emit(kind, message)

    def _move_to_role_folders(self, rows: list[MessageRow], targets: dict[str, int]) -> dict[str, int]:
        by_account: dict[str, list[int]] = {}
        for row in rows:
            by_account.setdefault(row.account, []).append(row.id)
        moved = sum(self._store.move_messages(ids, targets[account]) for account, ids in by_account.items())
        return {"archived": moved}

    @Slot()
    def _on_delete_triggered(self) -> None:
        ids = self._selected_ids()
        if ids and self._in_background(len(ids)):
            self._delete_in_background(ids)
            return
        rows = self._selected_rows()
        if not rows:
            return
        trash = self._folders_with_role("\\Trash")
        for_good = [row for row in rows if trash.get(row.account) in (None, row.folder_id)]
        if not self._confirm_delete(len(rows), len(for_good)):
            self.status_panel.show_message(self.tr("Delete cancelled; no message changed."))
            return
        if for_good:
            # Messages deleted for good cannot come back, so the status message says so and offers no undo.
            text = self.tr("Deleted %Ln message(s) for good", "", len(for_good))
            if len(for_good) < len(rows):
                text = self.tr("%1; moved %Ln to Trash", "", len(rows) - len(for_good)).replace("%1", text)
        else:
            text = self.tr("Moved %Ln message(s) to Trash", "", len(rows))

        def delete() -> dict[str, int]:
            self._store.delete_messages([row.id for row in rows])
            return {"to_trash": len(rows) - len(for_good), "deleted": len(for_good)}

        self._change_messages("delete", text, rows, delete, undoable=not for_good)

    def _delete_in_background(self, ids: list[int]) -> None:
        """Delete ``ids`` as ``_on_delete_triggered`` does, reading only their places here and changing the store on a worker."""
        places = self._store.message_places(ids)
        trash = self._folders_with_role("\\Trash")
        deleted_for_good = [message for message, (account, folder) in places.items()
                            if trash.get(account) in (None, folder)]
        for_good = len(deleted_for_good)
        if not self._confirm_delete(len(places), for_good):
            self.status_panel.show_message(self.tr("Delete cancelled; no message changed."))
            return
        if for_good:
            text = self.tr("Deleted %Ln message(s) for good", "", for_good)
            if for_good < len(places):
                text = self.tr("%1; moved %Ln to Trash", "", len(places) - for_good).replace("%1", text)
        else:
            text = self.tr("Moved %Ln message(s) to Trash", "", len(places))
        self._leave_list_in_background("delete", text, list(places), DeleteChange(), undoable=not for_good,
                                       deleted_for_good=deleted_for_good)

    def _confirm_delete(self, count: int, for_good: int) -> bool:
        """Ask before a delete of ``count`` messages, ``for_good`` of them for good; return whether to go on.

        A delete for good always asks, with Cancel as the default. A move to Trash asks only above the size
        that ``confirm_move`` asks for.
        """
        if for_good:
            question = self.tr("Delete %Ln message(s) for good?", "", for_good)
            return confirm_delete_for_good(self, question, for_good, count - for_good)
        return confirm_move(self, self.tr("Delete %Ln message(s)?", "", count), count)

    def _change_messages(self, kind: str, text: str, rows: list[MessageRow], change, *, undoable: bool = True) -> None:
        """Run ``change`` (a store change of ``rows``) as one bulk action, then show the list as ``_leave_selection`` does."""
        next_id = self._message_after_change(row.id for row in rows)
        try:
            with self._store.transaction():
                bulk_id = self._store.begin_bulk(kind, text, rows)
                counts = change()
                self._store.finish_bulk(bulk_id, counts)
        except (StoreError, ValueError) as error:
            self._report_error(self.tr("Could not change the messages: %1").replace("%1", str(error)))
            return
        log.info("%s: %d message(s), bulk action %d", kind, len(rows), bulk_id)
        self._leave_selection([row.id for row in rows], next_id)
        self.bulk_sender.request(kind)
        self.status_panel.show_message(self._with_undo_hint(text) if undoable else text)

    def _leave_selection(self, changed: list[int], next_id: int | None) -> None:
        """Show the list after ``changed`` were moved by a change on this thread, and move the cursor to ``next_id``.

        Search results keep the moved messages with their new folder and lose those deleted for good, as
        ``_leave_list_in_background`` leaves them. The selection is cleared, as the moved messages leave it.
        """
        self.message_model.set_selected(())
        if self._search_active:
            stored = self._store.message_places(changed)
            deleted_for_good = {message for message in changed if message not in stored}
            if deleted_for_good:
                self._show_ids_keeping_view([message for message in self.message_model.ids()
                                             if message not in deleted_for_good])
        self._refresh_after_sync()
        self._move_to_message(next_id)

    # --- snooze ------------------------------------------------------------------------

    @Slot()
    def _on_snooze_triggered(self) -> None:
        self.key_dispatcher.cancel()
        self.snooze_commands.open_picker()

    @Slot()
    def _on_show_snoozed_triggered(self) -> None:
        self.key_dispatcher.cancel()
        self.snooze_commands.show_list()

    @Slot(str, bool)
    def _on_snooze_commands_store_changed(self, text: str, undoable: bool) -> None:
        if self._closed:
            return
        if undoable:
            # A snooze moves the messages to Snoozed, so the cursor moves past them as after an archive.
            snoozed = self.snooze_commands.last_snoozed
            self._leave_selection(snoozed, self._message_after_change(snoozed))
        else:
            self._refresh_after_sync()
        self.status_panel.show_message(self._with_undo_hint(text) if undoable else text)
        self.log_view.add_line(text)
        self.bulk_sender.request("changes")

    @Slot(int, int)
    def _on_snoozed_list_message_chosen(self, folder_id: int, message: int) -> None:
        self._open_folder(folder_id)
        row = self.message_model.row_of(message)
        if row is not None:
            self._move_to_row(row)

    # --- more actions, palette and cheat sheet ------------------------------------------

    @Slot()
    def _on_more_actions_triggered(self) -> None:
        menu = QMenu(self, objectName="moreActionsMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for command in COMMANDS:
            if command.selection and command.name != "more-actions":
                menu.addAction(self.actions_by_name[command.name])
        rect = self.message_view.visualRect(self.message_view.currentIndex())
        point = rect.bottomLeft() if rect.isValid() else self.message_view.rect().topLeft()
        self.more_menu = menu
        menu.popup(self.message_view.viewport().mapToGlobal(point))

    def palette_items(self) -> list[PaletteItem]:
        """Return the palette's rows: every command, then every folder, every label and every saved search."""
        items = []
        for command in COMMANDS:
            title = translated(command.text)
            keys = ", ".join(display_text(key) for key in
                             self.keymap.keys_of("list", command.name) or self.keymap.keys_of("reader", command.name))
            detail = translated(command.description)
            if not command.available:
                detail = self.tr("Not available yet. %1").replace("%1", detail)
            items.append(PaletteItem("command", title, detail, keys, command.name, f"{title} {command.name}"))
        for row in self._store.folders(with_counts=False):
            if row.selectable:
                detail = self.tr("Folder of %1").replace("%1", row.account)
                items.append(PaletteItem("folder", row.name, detail, "", row.id, f"{row.name} {row.account}"))
        for keyword in stored_keywords(self._profile.store_file):
            items.append(PaletteItem("label", keyword, self.tr("Label"), "", keyword, keyword))
        return items + self.saved_searches.palette_items()

    def _open_palette(self, kinds: Sequence[str] = ("command", "folder", "label", "saved"), _checked: bool = False) -> None:
        self.key_dispatcher.cancel()
        self.palette.show_items(self.palette_items(), kinds=kinds)

    @Slot()
    def _on_command_palette_triggered(self) -> None:
        self._open_palette()

    @Slot(object)
    def _on_palette_item_chosen(self, item: PaletteItem) -> None:
        if item.kind == "command":
            self.run_command(str(item.target))
        elif item.kind == "folder":
            self._open_folder(int(item.target))
        elif item.kind == "saved":
            if self.saved_searches.open(str(item.target)):
                self.message_view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            label = str(item.target)
            self._search_for(f'label:"{label}"' if any(char in label for char in ' "()') else f"label:{label}")

    @Slot()
    def _on_cheat_sheet_triggered(self) -> None:
        if self.cheat_sheet.isVisible():
            self.cheat_sheet.raise_()
            self.cheat_sheet.activateWindow()
            return
        self.cheat_sheet.set_keymap(self.keymap)
        self.cheat_sheet.show()

    # --- closing ----------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's method name
        # The rule editor asks about unsaved changes, and Cancel there keeps both windows open.
        editor = self.rule_commands.editor
        if editor is not None and editor.isVisible() and not editor.close():
            event.ignore()
            return
        # A merge that is sending asks first; its answer keeps both windows open until the send stopped.
        if self.merge_window is not None and self.merge_window.isVisible() and not self.merge_window.close():
            event.ignore()
            return
        self._closed = True
        self._refresh_timer.stop()
        self.status_panel.stop_countdown()
        self.snooze_commands.stop()
        self._report_kept_drafts(self.compose_commands.stop())
        self.bulk_sender.shutdown()
        self.key_dispatcher.detach()
        self.cheat_sheet.close()
        self._jobs.cancel_all(CLOSE_WAIT_MS)
        self.reader.cancel_downloads(CLOSE_WAIT_MS)
        self._store.close()
        super().closeEvent(event)

    def _report_kept_drafts(self, outcome: CloseOutcome) -> None:
        """Tell the user which drafts and messages closing kept on this computer because the server did not respond."""
        if not outcome.timed_out or not (outcome.drafts or outcome.sends):
            return
        seconds = self._locale_number(CLOSE_GRACE_SECONDS)
        parts = [self.tr("The mail server did not respond within %1 seconds.").replace("%1", seconds)]
        if outcome.drafts:
            parts.append(self.tr("%Ln draft(s) were kept on this computer, in the Drafts folder. The next sync saves "
                                 "them on the server.", "", outcome.drafts))
        if outcome.sends:
            parts.append(self.tr("%Ln message(s) wait in the outbox and are sent when Sluice opens again.", "",
                                 outcome.sends))
        text = " ".join(parts)
        log.warning("Closed without the server: %d draft(s) and %d message(s) kept locally", outcome.drafts,
                    outcome.sends)
        box = QMessageBox(QMessageBox.Icon.Information, self.tr("Drafts kept on this computer"), text,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("keptDraftsBox")
        box.exec()
        box.deleteLater()

    @staticmethod
    def _locale_number(value: float) -> str:
        return QLocale().toString(value, "g", 3)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
