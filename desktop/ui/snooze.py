"""Snooze in the window: the time picker, the list of snoozed messages and the wake timer.

``SnoozeCommands`` is the controller. It snoozes the selected messages at
the time the picker returns, creating an account's Snoozed folder first on
a worker thread when the store has none (that needs the server). A
single-shot timer wakes due messages at the earliest wake time, and at
least every ``MAX_TIMER_MS``, so snoozes made from the command line and a
clock that jumped after a sleep are noticed too. The window refreshes its
list when ``store_changed`` arrives. A snooze of ``BACKGROUND_MIN_MESSAGES``
messages or more, or any while the window's store queue works, takes the
rows out of the list at once (search results keep them) and changes the
store on that queue's worker.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from PySide6.QtCore import QDateTime, QEvent, QLocale, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.paths import Profile
from desktop.snooze import SnoozeChoice, SnoozeError, ensure_snooze_folders, snooze_choices
from desktop.store import MessageRow, Store, StoreError
from desktop.sync.service import CancelToken
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.bulk_worker import ChangeDone, StoreChange
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

# The wake timer fires at least this often, in milliseconds.
MAX_TIMER_MS = 60_000
NAME_ROLE = Qt.ItemDataRole.UserRole
TIME_ROLE = Qt.ItemDataRole.UserRole + 1
# The picker's letter keys, by choice name; "custom" opens the date and time field.
CHOICE_KEYS = {"later-today": "l", "tomorrow": "t", "weekend": "w", "next-week": "n", "custom": "d"}


@dataclass(frozen=True)
class SnoozeChange(StoreChange):
    """Snooze messages until ``wake_at`` into the Snoozed folder of each one's account ({account: folder id}).

    ``Store.snooze_messages`` always writes its own bulk record.
    ``apply_recorded`` returns that record's id, so the queue's ``ChangeDone``
    names it and an undo in a search can list the messages again.
    """

    wake_at: datetime
    folders: dict[str, int]
    text: str

    def apply(self, store: Store, rows: list[MessageRow]) -> tuple[dict[str, int], list[int]]:
        result = store.snooze_messages([row.id for row in rows], self.wake_at, self.folders, self.text)
        return {"snoozed": result.snoozed, "rescheduled": result.rescheduled}, []

    def apply_recorded(self, store: Store, rows: list[MessageRow], kind: str, text: str) -> tuple[int, dict[str, int]]:
        result = store.snooze_messages([row.id for row in rows], self.wake_at, self.folders, text)
        assert result.bulk_id is not None  # rows is never empty here, and snooze_messages records each run
        return result.bulk_id, {"snoozed": result.snoozed, "rescheduled": result.rescheduled}


def format_wake(moment: datetime, now: datetime | None = None) -> str:
    """Return a wake time as the locale's short weekday, day, month name and time: ``Sun 6 Dec, 08:00``.

    The year is added when it is not the year of ``now`` (default: the current time). The locale's own short
    date format is not used because some locales, such as C (``LANG=C.UTF-8``), write it as bare numbers.
    """
    locale = QLocale()
    local = QDateTime.fromSecsSinceEpoch(int(moment.timestamp()))
    current_year = (now or datetime.now()).year
    date_part = "ddd d MMM" if local.date().year() == current_year else "ddd d MMM yyyy"
    return locale.toString(local, f"{date_part}, {locale.timeFormat(QLocale.FormatType.ShortFormat)}")


class SnoozePicker(QDialog):
    """A small keyboard-driven dialog that picks a wake time.

    The list offers the presets of ``desktop.snooze.snooze_choices`` and
    "Pick date and time…". A letter (shown in brackets) picks a row at once,
    the arrows and Enter work too, and Escape closes without snoozing.

    Signals:
        time_chosen(object): the chosen wake time, an aware ``datetime``.
    """

    time_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="snoozePicker")
        self.setWindowTitle(self.tr("Snooze until…"))
        self.choices = QListWidget(objectName="snoozeChoices")
        self.choices.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.choices.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.date_time = QDateTimeEdit(objectName="snoozeDateTime")
        self.date_time.setCalendarPopup(True)
        self.error = QLabel(objectName="snoozeError")
        self.error.setStyleSheet("color: palette(highlight);")
        self._init_layout()
        self.choices.installEventFilter(self)
        self.choices.itemActivated.connect(self._on_choices_item_activated)

    def _init_layout(self) -> None:
        custom = QWidget()
        custom_layout = QVBoxLayout(custom)
        custom_layout.addWidget(QLabel(self.tr("Wake at:")))
        custom_layout.addWidget(self.date_time)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_custom_accepted)
        buttons.rejected.connect(self.reject)
        custom_layout.addWidget(buttons)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.choices)
        self.pages.addWidget(custom)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addWidget(self.error)

    def show_choices(self, now: datetime | None = None) -> None:
        """Fill the list with the presets for ``now`` (the current time when None) and show the dialog."""
        self.choices.clear()
        self.error.clear()
        for choice in snooze_choices(now):
            self._add_row(choice.name, self._choice_title(choice), choice.wake_at)
        self._add_row("custom", self.tr("Pick date and time…"), None)
        self.choices.setCurrentRow(0)
        # As large as its rows, so the picker stays small and shows every row whole.
        frame = 2 * self.choices.frameWidth()
        self.choices.setFixedHeight(self.choices.sizeHintForRow(0) * self.choices.count() + frame)
        self.choices.setMinimumWidth(self.choices.sizeHintForColumn(0) + frame)
        self.pages.setCurrentIndex(0)
        self.show()
        self.activateWindow()
        self.choices.setFocus(Qt.FocusReason.PopupFocusReason)

    def _choice_title(self, choice: SnoozeChoice) -> str:
        titles = {
            "later-today": self.tr("Later today"),
            "tomorrow": self.tr("Tomorrow morning"),
            "weekend": self.tr("Next weekend") if choice.next_weekend else self.tr("This weekend"),
            "next-week": self.tr("Next week"),
        }
        return titles[choice.name]

    def _add_row(self, name: str, title: str, wake_at: datetime | None) -> None:
        text = f"[{CHOICE_KEYS[name]}]  {title}"
        if wake_at is not None:
            text += f"  —  {format_wake(wake_at)}"
        item = QListWidgetItem(text)
        item.setData(NAME_ROLE, name)
        item.setData(TIME_ROLE, wake_at)
        self.choices.addItem(item)

    def choose(self, name: str) -> bool:
        """Pick the row named ``name``, as its letter does; return False when the list has no such row."""
        for row in range(self.choices.count()):
            item = self.choices.item(row)
            if item.data(NAME_ROLE) == name:
                self._on_choices_item_activated(item)
                return True
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        if watched is self.choices and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            names = {key: name for name, key in CHOICE_KEYS.items()}
            name = names.get(event.text().lower()) if event.modifiers() in (
                Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier) else None
            if name is not None:
                # A letter whose row is missing (later today, late in the evening) does nothing.
                self.choose(name)
                return True
        return super().eventFilter(watched, event)

    @Slot(QListWidgetItem)
    def _on_choices_item_activated(self, item: QListWidgetItem) -> None:
        if item.data(NAME_ROLE) == "custom":
            self.date_time.setDateTime(QDateTime.currentDateTime().addSecs(3600))
            self.pages.setCurrentIndex(1)
            self.date_time.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        self._finish(item.data(TIME_ROLE))

    @Slot()
    def _on_custom_accepted(self) -> None:
        chosen = datetime.fromtimestamp(self.date_time.dateTime().toSecsSinceEpoch()).astimezone()
        if chosen.timestamp() <= time.time():
            self.error.setText(self.tr("That time has passed; choose a time in the future."))
            return
        self._finish(chosen)

    def _finish(self, wake_at: datetime) -> None:
        self.accept()
        self.time_chosen.emit(wake_at)

    def done(self, result: int) -> None:
        super().done(result)
        _reactivate_parent(self)


def _reactivate_parent(dialog: QDialog) -> None:
    """Give the keyboard back to the window that opened the dialog, so its keys work at once."""
    parent = dialog.parentWidget()
    if parent is not None:
        parent.activateWindow()


class SnoozedList(QDialog):
    """The snoozed messages with their wake times, the earliest first.

    Enter shows the message in its Snoozed folder; w wakes the selected ones now.

    Signals:
        message_chosen(int, int): the Snoozed folder's id and the message's id.
        wake_requested(object): the ids of the snooze entries to wake now, a list.
    """

    message_chosen = Signal(int, int)
    wake_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="snoozedList")
        self.setWindowTitle(self.tr("Snoozed messages"))
        self.resize(720, 360)
        self.tree = QTreeWidget(objectName="snoozedTree")
        self.tree.setHeaderLabels([self.tr("Wakes"), self.tr("Subject"), self.tr("From"), self.tr("Account"),
                                   self.tr("Returns to")])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.installEventFilter(self)
        self.tree.itemActivated.connect(self._on_tree_item_activated)
        hint = QLabel(self.tr("Enter: show the message · w: wake now · Escape: close"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(hint)

    def show_entries(self, store: Store) -> None:
        """List the snoozes whose messages are in a Snoozed folder now, and show the dialog."""
        self.tree.clear()
        for entry, row in store.snoozed_messages():
            item = QTreeWidgetItem([format_wake(entry.wake_at), row.subject or self.tr("(no subject)"), row.sender,
                                    entry.account, entry.return_folder])
            item.setData(0, NAME_ROLE, (entry.id, row.folder_id, row.id))
            self.tree.addTopLevelItem(item)
        for column in range(self.tree.columnCount()):
            self.tree.resizeColumnToContents(column)
        if self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self.show()
        self.activateWindow()
        self.tree.setFocus(Qt.FocusReason.PopupFocusReason)

    def done(self, result: int) -> None:
        super().done(result)
        _reactivate_parent(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's method name
        if watched is self.tree and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.text().lower() == "w" and event.modifiers() == Qt.KeyboardModifier.NoModifier:
                entries = [item.data(0, NAME_ROLE)[0] for item in self.tree.selectedItems()]
                if entries:
                    self.wake_requested.emit(entries)
                return True
        return super().eventFilter(watched, event)

    @Slot(QTreeWidgetItem, int)
    def _on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        _entry, folder_id, message = item.data(0, NAME_ROLE)
        self.accept()
        self.message_chosen.emit(folder_id, message)


def _folder_steps(profile: Profile, accounts: list[str], _cancel: CancelToken) -> Iterator[dict[str, int]]:
    # CREATE cannot be stopped halfway, so the job ignores the token.
    yield ensure_snooze_folders(profile, accounts)


class SnoozeCommands(QObject):
    """Snoozing the selection, listing snoozed messages and waking them on time.

    Attributes:
        last_snoozed: The messages of the last snooze made on the window's thread, for the window's cursor.

    Signals:
        store_changed(str, bool): messages were snoozed or woken; a status
            text, and whether undo can reverse it (True for a snooze).
        failed(str): snoozing failed; the message for the user.
    """

    store_changed = Signal(str, bool)
    failed = Signal(str)

    def __init__(self, profile: Profile, store: Store, jobs: JobSet, selected_rows: Callable[[], list[MessageRow]],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self._profile = profile
        self._store = store
        self._jobs = jobs
        self._selected_rows = selected_rows
        self._pending: list[MessageRow] = []
        self._stopped = False
        self.last_snoozed: list[int] = []
        self.picker = SnoozePicker(parent)
        self.snoozed_list = SnoozedList(parent)
        self.timer = QTimer(self, singleShot=True, objectName="snoozeTimer")
        self.timer.timeout.connect(self._on_timer_timeout)
        self.picker.time_chosen.connect(self._on_picker_time_chosen)
        self.snoozed_list.wake_requested.connect(self._on_snoozed_list_wake_requested)
        # The window's BulkSender runs large snoozes on its store queue. Without a sender, every snooze runs here.
        self._sender = getattr(parent, "bulk_sender", None)
        if self._sender is not None:
            self._sender.store_queue.changed.connect(self._on_store_queue_changed)

    def start(self) -> None:
        """Wake what fell due while the window was closed, then arm the timer."""
        self.wake_due()

    def stop(self) -> None:
        self._stopped = True
        self.timer.stop()
        self.picker.close()
        self.snoozed_list.close()

    # --- snoozing -----------------------------------------------------------------

    def open_picker(self) -> None:
        """Show the picker for the selected messages; with none selected, ``selected_rows`` reports it."""
        rows = self._selected_rows()
        if not rows:
            return
        self._pending = rows
        self.picker.show_choices()

    @Slot(object)
    def _on_picker_time_chosen(self, wake_at: datetime) -> None:
        rows, self._pending = self._pending, []
        if rows:
            self.snooze(rows, wake_at)

    def snooze(self, rows: Sequence[MessageRow], wake_at: datetime) -> None:
        """Snooze ``rows`` until ``wake_at``; an account without a Snoozed folder gets one first, on a worker."""
        accounts = sorted({row.account for row in rows})
        folders = {account: folder.id for account in accounts if (folder := self._store.snooze_folder(account))}
        missing = [account for account in accounts if account not in folders]
        if not missing:
            self._snooze_now(list(rows), wake_at, folders)
            return
        log.info("Creating the Snoozed folder of account(s) %s before snoozing", ", ".join(missing))
        job = BackgroundJob(partial(_folder_steps, self._profile, missing), expected_errors=(SnoozeError, StoreError),
                            name="snooze-folder")
        job.progressed.connect(partial(self._on_folder_job_progressed, list(rows), wake_at, folders))
        job.failed.connect(self._on_folder_job_failed)
        self._jobs.start(job)

    def _on_folder_job_progressed(self, rows: list[MessageRow], wake_at: datetime, folders: dict[str, int],
                                  created: dict[str, int]) -> None:
        if not self._stopped:
            self._snooze_now(rows, wake_at, {**folders, **created})

    @Slot(str)
    def _on_folder_job_failed(self, message: str) -> None:
        log.warning("Could not create a Snoozed folder: %s", message)
        self.failed.emit(self.tr("Could not snooze: %1").replace("%1", message))

    def _snooze_now(self, rows: list[MessageRow], wake_at: datetime, folders: dict[str, int]) -> None:
        text = self.tr("Snoozed %Ln message(s) until %1", "", len(rows)).replace("%1", format_wake(wake_at))
        if self._sender is not None and (len(rows) >= BACKGROUND_MIN_MESSAGES or self._sender.store_queue.is_busy()):
            self._snooze_in_background(rows, wake_at, folders, text)
            return
        try:
            self._store.snooze_messages([row.id for row in rows], wake_at, folders, text)
        except (StoreError, ValueError) as error:
            self.failed.emit(self.tr("Could not snooze: %1").replace("%1", str(error)))
            return
        self.last_snoozed = [row.id for row in rows]
        self.store_changed.emit(text, True)
        self._arm_timer()

    def _snooze_in_background(self, rows: list[MessageRow], wake_at: datetime, folders: dict[str, int],
                              text: str) -> None:
        """Take ``rows`` out of the window's list at once and let its store queue snooze them on a worker.

        Search results keep the rows, as after a large archive.
        """
        window = self.parent()
        ids = [row.id for row in rows]
        window._leave_list_in_background("snooze", text, ids, SnoozeChange(wake_at, folders, text))
        window.log_view.add_line(text)

    @Slot(object)
    def _on_store_queue_changed(self, done: ChangeDone) -> None:
        if done.kind == "snooze" and not self._stopped:
            self._arm_timer()

    # --- the list -------------------------------------------------------------------

    def show_list(self) -> None:
        self.snoozed_list.show_entries(self._store)

    @Slot(object)
    def _on_snoozed_list_wake_requested(self, entry_ids: list[int]) -> None:
        self._wake(entry_ids)
        self.snoozed_list.show_entries(self._store)

    # --- waking -----------------------------------------------------------------------

    def wake_due(self) -> None:
        """Wake the due snoozes now and arm the timer for the next one."""
        self._wake(None)

    def _wake(self, entry_ids: list[int] | None) -> None:
        if self._stopped:
            return
        try:
            result = self._store.wake_snoozes(entry_ids=entry_ids)
        except (StoreError, sqlite3.Error) as error:
            log.error("Waking snoozed messages failed: %s", error)
            result = None
        if result is not None and (result.woken or result.dropped):
            text = self.tr("%Ln snoozed message(s) came back", "", len(result.woken))
            self.store_changed.emit(text, False)
        self._arm_timer()

    def _arm_timer(self) -> None:
        wake_at = self._store.next_wake()
        if wake_at is None:
            interval = MAX_TIMER_MS
        else:
            # A few milliseconds late, so the wake time has passed when the timer fires.
            interval = int(min(MAX_TIMER_MS, max(0.0, (wake_at.timestamp() - time.time()) * 1000) + 10))
        self.timer.start(interval)

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.wake_due()
