"""Move, copy, label, report spam and apply one rule, on the selected messages.

``BulkCommands`` runs these commands for the main window. Each one changes
the store at once as one bulk action that undo reverses, refreshes the
list, and lets the window's ``BulkSender`` send the journal to the server
in the background. Moves above ``MOVE_CONFIRM_THRESHOLD`` messages ask
first. Changes of ``BACKGROUND_MIN_MESSAGES`` messages or more, and every
change asked for while the store queue works, change the list at once and
the store on a worker, as archive does. The bulk record, the change and its
journal are then one transaction there.

A selection of several accounts moves or copies per account, into the
folder of the chosen name in each. When an account has no such folder,
nothing changes and the message names it. Labels are IMAP keywords, on
Gmail accounts too, where they are not Gmail labels.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QMainWindow, QWidget

from desktop.index import SearchIndex
from desktop.paths import Profile
from desktop.rules.model import Rule, RuleSet, Scope
from desktop.store import MessageRow, Store, StoreError
from desktop.sync.service import CancelToken
from desktop.ui.bulk_progress import BACKGROUND_MIN_MESSAGES
from desktop.ui.bulk_worker import CopyChange, FlagChange, MoveChange, StoreChange, show_flags
from desktop.ui.palette import stored_keywords
from desktop.ui.pickers import Choice, LabelPicker, ListPicker
from desktop.ui.rule_preview import ApplyRulesDialog, describe_actions
from desktop.ui.rules_control import RulesController, RunTarget
from desktop.ui.selection import confirm_move
from desktop.ui.workers import BackgroundJob, JobSet

log = logging.getLogger(__name__)

JUNK = "$Junk"
NOT_JUNK = "$NotJunk"
# Folder names offered first in the move and copy pickers, most recent first.
RECENT_TARGETS_FILE = "recent-targets.json"
MAX_RECENT_TARGETS = 8


def rule_for_selection(rule: Rule, folder_names: Sequence[str]) -> Rule:
    """Return ``rule`` with its scope widened to every account and the given folders.

    The user picked the messages, so the rule's conditions decide, not the
    folders and accounts it is scoped to.
    """
    return dataclasses.replace(rule, scope=Scope(accounts=(), folders=tuple(dict.fromkeys(folder_names))))


@dataclass(frozen=True)
class SpamChange(StoreChange):
    """Report spam: messages outside their account's Junk get ``$Junk`` and go there; those in Junk go to INBOX.

    ``junk`` and ``inboxes`` map account names to folder ids. The flags
    change first, so the moves carry them, as undo does it too.
    """

    junk: dict[str, int]
    inboxes: dict[str, int]

    def apply(self, store: Store, rows: list[MessageRow]) -> tuple[dict[str, int], list[int]]:
        to_junk = [row for row in rows if self.junk.get(row.account) != row.folder_id]
        not_spam = [row for row in rows if self.junk.get(row.account) == row.folder_id]
        store.change_flags([row.id for row in to_junk], add=[JUNK], remove=[NOT_JUNK])
        store.change_flags([row.id for row in not_spam], add=[NOT_JUNK], remove=[JUNK])
        moved = 0
        for targets, group in ((self.junk, to_junk), (self.inboxes, not_spam)):
            for account, folder in targets.items():
                moved += store.move_messages([row.id for row in group if row.account == account], folder)
        return {"moved": moved}, []


def _plan_selection_steps(profile: Profile, rule: Rule, ids: list[int], folder_names: list[str],
                          _cancel: CancelToken) -> Iterator[object]:
    from desktop.rules.engine import plan_rules

    ruleset = RuleSet((rule_for_selection(rule, folder_names),))
    with Store(profile.store_file) as store:
        index = SearchIndex(profile.index_dir)
        try:
            yield plan_rules(store, ruleset, message_ids=ids, index=index)
        finally:
            index.close()


class SelectionRulesDialog(ApplyRulesDialog):
    """The apply preview of one rule on the selected messages, whose Apply runs it like any rule run."""

    _serial_source = 0

    def __init__(self, controller: RulesController, target: RunTarget, profile: Profile, jobs: JobSet,
                 ids: list[int], folder_names: list[str], parent: QWidget | None = None) -> None:
        super().__init__(controller, target, parent)
        self.setObjectName("selectionRulesDialog")
        self._profile = profile
        self._jobs = jobs
        self._ids = ids
        self._folder_names = folder_names

    def start(self, ruleset: RuleSet) -> None:
        """Plan the single rule of ``ruleset`` on the selected messages in the background."""
        self._plan = None
        self.apply_button.setEnabled(False)
        self.preview.show_planning(self._target)
        # Below zero, so the controller's own preview serials never match this dialog's.
        SelectionRulesDialog._serial_source -= 1
        self._serial = SelectionRulesDialog._serial_source
        job = BackgroundJob(partial(_plan_selection_steps, self._profile, ruleset.rules[0], self._ids,
                                    self._folder_names), name="rule-preview-selection")
        job.progressed.connect(partial(self._on_controller_plan_ready, self._serial))
        job.failed.connect(partial(self._on_controller_plan_failed, self._serial))
        self._jobs.start(job)


class BulkCommands(QObject):
    """The handlers of move, copy, label, report-spam and apply-rule.

    It works through the main window's helpers: the selected ids, the list
    refresh, the status bar with its undo hint, and the bulk sender.

    Attributes:
        folder_picker: The picker of move and copy targets.
        rule_picker: The picker of the rule for apply-rule.
        label_picker: The label picker.
        rules_dialog: The last apply preview of a rule on the selection, or None.
    """

    def __init__(self, window: QMainWindow, profile: Profile, store: Store) -> None:
        super().__init__(window)
        self._window = window
        self._profile = profile
        self._store = store
        self.folder_picker = ListPicker(window)
        self.folder_picker.setObjectName("folderPicker")
        self.rule_picker = ListPicker(window)
        self.rule_picker.setObjectName("rulePicker")
        self.label_picker = LabelPicker(window)
        self.rules_dialog: SelectionRulesDialog | None = None
        self._pending: tuple[str, list[int]] | None = None
        self.folder_picker.chosen.connect(self._on_folder_picker_chosen)
        self.rule_picker.chosen.connect(self._on_rule_picker_chosen)
        self.label_picker.labels_chosen.connect(self._on_label_picker_labels_chosen)

    # --- move and copy ----------------------------------------------------------------

    def move(self) -> None:
        self._open_folder_picker("move", self.tr("Move to…"))

    def copy(self) -> None:
        self._open_folder_picker("copy", self.tr("Copy to…"))

    def _open_folder_picker(self, kind: str, title: str) -> None:
        ids = self._selected_ids()
        if not ids:
            return
        accounts = sorted({account for account, _folder in self._store.message_places(ids).values()})
        names: dict[str, list[str]] = {}
        for account in accounts:
            for row in self._store.folders(account, with_counts=False):
                if row.selectable:
                    names.setdefault(row.name, []).append(account)
        recent = [name for name in self.recent_targets() if name in names]
        ordered = recent + sorted((name for name in names if name not in recent), key=str.casefold)
        choices = [Choice(name, self._folder_detail(name, names[name], accounts, name in recent)) for name in ordered]
        self._pending = (kind, ids)
        self._window.key_dispatcher.cancel()
        self.folder_picker.show_choices(title, choices, placeholder=self.tr("Type a folder name"))

    def _folder_detail(self, name: str, owners: list[str], accounts: list[str], recent: bool) -> str:
        parts = [self.tr("recent")] if recent else []
        if len(accounts) > 1 and len(owners) < len(accounts):
            parts.append(self.tr("only in %1").replace("%1", ", ".join(owners)))
        return ", ".join(parts)

    @Slot(str)
    def _on_folder_picker_chosen(self, name: str) -> None:
        if self._pending is None:
            return
        kind, ids = self._pending
        self._pending = None
        if kind == "move":
            self.move_to(ids, name)
        else:
            self.copy_to(ids, name)

    def _targets(self, ids: Sequence[int], name: str) -> tuple[dict[int, tuple[str, int]], dict[str, int]] | None:
        """Return the places of ``ids`` and {account: id of its folder ``name``}, or None after reporting a gap."""
        places = self._store.message_places(ids)
        targets: dict[str, int] = {}
        missing = []
        for account in sorted({account for account, _folder in places.values()}):
            row = self._store.folder_by_name(account, name)
            if row is None or not row.selectable:
                missing.append(account)
            else:
                targets[account] = row.id
        if missing:
            self._window._report_error(self.tr(
                "Folder %1 does not exist in account %2, so nothing changed. Create it there (Folder > New folder…), "
                "or select only messages of accounts that have it.").replace("%1", name)
                .replace("%2", ", ".join(missing)))
            return None
        return places, targets

    def move_to(self, ids: Sequence[int], name: str) -> bool:
        """Move ``ids`` to the folder ``name`` of each one's account; return whether anything moved."""
        found = self._targets(ids, name)
        if found is None:
            return False
        places, targets = found
        moving = [message for message, (account, folder) in places.items() if folder != targets[account]]
        if not moving:
            text = self.tr("The selected messages are in %1 already.").replace("%1", name)
            self._window.status_panel.show_message(text)
            return False
        if not confirm_move(self._window, self.tr("Move %Ln message(s) to %1?", "", len(moving)).replace("%1", name),
                            len(moving)):
            self._window.status_panel.show_message(self.tr("Move cancelled; no message changed."))
            return False
        self.remember_target(name)
        text = self.tr("Moved %Ln message(s) to %1", "", len(moving)).replace("%1", name)
        if self._in_background(len(moving)):
            self._leave_list_in_background("move", text, moving, MoveChange(targets))
            return True
        rows = self._store.messages(moving)

        def change() -> tuple[dict[str, int], list[int]]:
            moved = sum(self._store.move_messages([row.id for row in rows if row.account == account], folder)
                        for account, folder in targets.items())
            return {"moved": moved}, []

        return self._run_bulk("move", text, rows, change)

    def _leave_list_in_background(self, kind: str, text: str, ids: list[int], change: StoreChange) -> None:
        """Take ``ids`` out of the list at once, as the window's archive does, and change them on a worker."""
        self._window._leave_list_in_background(kind, text, ids, change)
        self._window.log_view.add_line(text)

    def copy_to(self, ids: Sequence[int], name: str) -> bool:
        """Copy ``ids`` into the folder ``name`` of each one's account; return whether anything was copied."""
        found = self._targets(ids, name)
        if found is None:
            return False
        places, targets = found
        copying = [message for message, (account, folder) in places.items() if folder != targets[account]]
        if not copying:
            text = self.tr("The selected messages are in %1 already.").replace("%1", name)
            self._window.status_panel.show_message(text)
            return False
        self.remember_target(name)
        text = self.tr("Copied %Ln message(s) to %1", "", len(copying)).replace("%1", name)
        if self._in_background(len(copying)):
            # The originals stay where they are, so the list keeps its rows. The copies show after the commit.
            self._window.bulk_sender.change_in_background("copy", text, copying, CopyChange(targets))
            self._finish_in_background(text)
            return True
        rows = self._store.messages(copying)

        def change() -> tuple[dict[str, int], list[int]]:
            created: list[int] = []
            for account, folder in targets.items():
                created += self._store.copy_messages([row.id for row in rows if row.account == account], folder)
            return {"copied": len(created)}, created

        # The originals stay where they are, so the list keeps its rows.
        return self._run_bulk("copy", text, rows, change)

    def recent_targets(self) -> list[str]:
        """Return the folder names picked last for moves and copies, most recent first."""
        path = self._profile.data_dir / RECENT_TARGETS_FILE
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as error:
            log.warning("Could not read the recent move targets in %s: %s", path, error)
            return []
        return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []

    def remember_target(self, name: str) -> None:
        names = [name, *(other for other in self.recent_targets() if other != name)][:MAX_RECENT_TARGETS]
        path = self._profile.data_dir / RECENT_TARGETS_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
        except OSError as error:
            log.warning("Could not save the recent move targets in %s: %s", path, error)

    # --- labels -----------------------------------------------------------------------

    def label(self) -> None:
        ids = self._selected_ids()
        if not ids:
            return
        rows = self._store.messages(ids)
        counts: dict[str, int] = {}
        for row in rows:
            for flag in row.flags:
                if not flag.startswith("\\") and flag not in (JUNK, NOT_JUNK):
                    counts[flag] = counts.get(flag, 0) + 1
        states = {name: Qt.CheckState.Unchecked for name in stored_keywords(self._profile.store_file)}
        for name, count in counts.items():
            states[name] = Qt.CheckState.Checked if count == len(rows) else Qt.CheckState.PartiallyChecked
        self._pending = ("label", ids)
        self._window.key_dispatcher.cancel()
        self.label_picker.show_labels(states)

    @Slot(list, list)
    def _on_label_picker_labels_chosen(self, add: list, remove: list) -> None:
        if self._pending is None:
            return
        _kind, ids = self._pending
        self._pending = None
        self.change_labels(ids, add, remove)

    def change_labels(self, ids: Sequence[int], add: Sequence[str], remove: Sequence[str]) -> bool:
        """Add and remove labels on ``ids`` as one undoable bulk action; return whether any message changed.

        A large selection, or any while the store queue works, shows the new
        labels at once and changes the store on a worker. Its status message
        then counts the selected messages, as the worker leaves out those
        that have the labels already.
        """
        parts = [f"+{name}" for name in add] + [f"−{name}" for name in remove]
        if self._in_background(len(ids)):
            text = self.tr("Changed the labels of %Ln message(s) (%1)", "", len(ids)).replace("%1", ", ".join(parts))
            show_flags(self._window.message_model, ids, add, remove)
            self._window.bulk_sender.change_in_background("label", text, list(ids),
                                                          FlagChange(frozenset(add), frozenset(remove), "flags"))
            self._finish_in_background(text)
            return True
        rows = [row for row in self._store.messages(ids) if not set(add) <= row.flags or set(remove) & row.flags]
        if not rows:
            self._window.status_panel.show_message(self.tr("The labels are as chosen already; nothing changed."))
            return False
        text = self.tr("Changed the labels of %Ln message(s) (%1)", "", len(rows)).replace("%1", ", ".join(parts))

        def change() -> tuple[dict[str, int], list[int]]:
            return {"flags": self._store.change_flags([row.id for row in rows], add=add, remove=remove)}, []

        return self._run_bulk("label", text, rows, change)

    # --- spam ---------------------------------------------------------------------------

    def report_spam(self) -> bool:
        """Move the selection to each account's Junk folder as spam; in Junk, back to INBOX as not spam."""
        ids = self._selected_ids()
        if not ids:
            return False
        places = self._store.message_places(ids)
        junk = self._window._folders_with_role("\\Junk")
        to_junk = [message for message, (account, folder) in places.items() if junk.get(account) != folder]
        not_spam = [message for message, (account, folder) in places.items() if junk.get(account) == folder]
        missing = sorted({places[message][0] for message in to_junk if places[message][0] not in junk})
        if missing:
            self._window._report_error(self.tr(
                "Account %1 has no Junk folder, so nothing changed. Create a folder named Junk on the server (or mark "
                "one as \\Junk there) and sync, then report the messages again.").replace("%1", ", ".join(missing)))
            return False
        inboxes = self._inboxes({places[message][0] for message in not_spam})
        if inboxes is None:
            return False
        total = len(to_junk) + len(not_spam)
        if not confirm_move(self._window, self.tr("Move %Ln message(s) out of their folder?", "", total), total):
            self._window.status_panel.show_message(self.tr("Cancelled; no message changed."))
            return False
        text = (self.tr("Reported %Ln message(s) as spam", "", len(to_junk)) if to_junk
                else self.tr("Marked %Ln message(s) as not spam and moved them to INBOX", "", len(not_spam)))
        if to_junk and not_spam:
            text = self.tr("%1; %Ln back to INBOX as not spam", "", len(not_spam)).replace("%1", text)
        if self._in_background(total):
            self._leave_list_in_background("spam", text, [*to_junk, *not_spam], SpamChange(junk, inboxes))
            return True
        rows = self._store.messages([*to_junk, *not_spam])

        def change() -> tuple[dict[str, int], list[int]]:
            # Flags first, so the moves carry them, as undo does it too.
            self._store.change_flags(to_junk, add=[JUNK], remove=[NOT_JUNK])
            self._store.change_flags(not_spam, add=[NOT_JUNK], remove=[JUNK])
            moved = 0
            for account, folder in junk.items():
                moved += self._store.move_messages([message for message in to_junk if places[message][0] == account],
                                                   folder)
            for account, folder in inboxes.items():
                moved += self._store.move_messages([message for message in not_spam if places[message][0] == account],
                                                   folder)
            return {"moved": moved}, []

        return self._run_bulk("spam", text, rows, change)

    def _inboxes(self, accounts: set[str]) -> dict[str, int] | None:
        inboxes: dict[str, int] = {}
        for account in sorted(accounts):
            row = next((row for row in self._store.folders(account, with_counts=False) if row.name.upper() == "INBOX"),
                       None)
            if row is None:
                self._window._report_error(self.tr("Account %1 has no INBOX in the store; sync it, then try again.")
                                           .replace("%1", account))
                return None
            inboxes[account] = row.id
        return inboxes

    # --- one rule on the selection ---------------------------------------------------------

    def apply_rule(self) -> None:
        ids = self._selected_ids()
        if not ids:
            return
        controller = self._window.rule_commands.controller
        rules = controller.ruleset().rules
        if not rules:
            self._window.status_panel.show_message(self.tr("No active rules. Write rules with Rules > Edit rules…"),
                                                   error=True)
            return
        self._pending = ("rule", ids)
        self._window.key_dispatcher.cancel()
        choices = [Choice(rule.name, describe_actions(rule)) for rule in rules]
        self.rule_picker.show_choices(self.tr("Apply rule to the selection…"), choices,
                                      placeholder=self.tr("Type a rule name"))

    @Slot(str)
    def _on_rule_picker_chosen(self, name: str) -> None:
        if self._pending is None:
            return
        _kind, ids = self._pending
        self._pending = None
        self.preview_rule(ids, name)

    def preview_rule(self, ids: Sequence[int], name: str) -> SelectionRulesDialog | None:
        """Open the apply preview of the active rule ``name`` on ``ids``; Apply there runs it."""
        controller = self._window.rule_commands.controller
        rule = next((rule for rule in controller.ruleset().rules if rule.name == name), None)
        if rule is None:
            self._window._report_error(self.tr("Rule %1 is no longer active; pick another.").replace("%1", name))
            return None
        if controller.is_busy():
            self._window.status_panel.show_message(
                self.tr("A rule run or undo is still running; try again when it ends."))
            return None
        folder_ids = {folder for _account, folder in self._store.message_places(ids).values()}
        folder_names = sorted({row.name for row in self._store.folders(with_counts=False) if row.id in folder_ids})
        target = RunTarget(None, None, self.tr("%Ln selected message(s)", "", len(ids)))
        if self.rules_dialog is not None:
            self.rules_dialog.deleteLater()
        self.rules_dialog = SelectionRulesDialog(controller, target, self._profile, self._window._jobs, list(ids),
                                                 folder_names, self._window)
        self.rules_dialog.setWindowTitle(self.tr("Apply rule %1 to %2").replace("%1", name)
                                         .replace("%2", target.description))
        self.rules_dialog.start(RuleSet((rule,)))
        self.rules_dialog.show()
        return self.rules_dialog

    # --- shared steps ----------------------------------------------------------------------

    def _selected_ids(self) -> list[int]:
        ids = self._window._selected_ids()
        if not ids:
            self._window.status_panel.show_message(self.tr("No message selected."))
        return ids

    def _in_background(self, count: int) -> bool:
        """Return whether a change of ``count`` messages goes to the store queue's worker, as the window decides it."""
        return count >= BACKGROUND_MIN_MESSAGES or self._window.bulk_sender.store_queue.is_busy()

    def _finish_in_background(self, text: str) -> None:
        """Show ``text`` with the undo hint for a change that keeps the list's rows and runs on a worker."""
        self._window.status_panel.show_message(self._window._with_undo_hint(text))
        self._window.log_view.add_line(text)

    def _run_bulk(self, kind: str, text: str, rows: list[MessageRow],
                  change: Callable[[], tuple[dict[str, int], list[int]]]) -> bool:
        """Run ``change`` as one undoable bulk action over ``rows``, then refresh the list and send the journal.

        This runs on the window's thread, so callers send large changes, and all while the store queue
        works, to ``BulkSender.change_in_background`` instead.
        """
        window = self._window
        # Move and spam report take the messages out of their folder, so the cursor moves past them.
        moved = kind in ("move", "spam")
        next_id = window._message_after_change(row.id for row in rows) if moved else None
        try:
            with self._store.transaction():
                bulk_id = self._store.begin_bulk(kind, text, rows)
                counts, created = change()
                self._store.finish_bulk(bulk_id, counts, created)
        except (StoreError, ValueError) as error:
            window._report_error(self.tr("Could not change the messages: %1").replace("%1", str(error)))
            return False
        log.info("%s: %d message(s), bulk action %d, %s", kind, len(rows), bulk_id, counts)
        if moved:
            window._leave_selection([row.id for row in rows], next_id)
        else:
            window._refresh_after_sync()
        window.bulk_sender.request(kind)
        window.status_panel.show_message(window._with_undo_hint(text))
        window.log_view.add_line(text)
        return True
