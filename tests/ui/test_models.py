"""Every item model of the window passes Qt's model tester, also while its content changes.

Each case attaches the tester first and then changes the model through its
public API: new ids, conversations expanded and collapsed, selections, flag
changes, new mail and rebuilt trees. So the tester checks every signal the
model sends as well as the final state. Each case runs with Qt's C++
``QAbstractItemModelTester`` and with pytest-qt's Python port, which checks
some things differently. The lane tabs (a ``QTabBar``) and the cheat sheet (a
``QTextBrowser``) have no item model.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QAbstractItemModel, Qt

from desktop.demo import import_messages
from desktop.index import SearchIndex
from desktop.mail.parse import parse_summary
from desktop.mailgen import generate
from desktop.paths import Profile
from desktop.rules.engine import plan_rules
from desktop.rules.loader import load_rules
from desktop.store import FLAGGED, SEEN, NewMessage, Store
from desktop.ui.account_state import OFFLINE, WATCHING, AccountState
from desktop.ui.folder_tree import FOLDER_IDS_ROLE, FolderTreeModel
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import MARKERS, SENDER, MessageListModel
from desktop.ui.rule_preview import COUNT, RulePreviewModel
from tests.ui.fixtures_ui import (
    OFFSCREEN_NOISE,
    copy_profile,
    discard_rule_edits,
    index_profile,
    local_profile,
    open_main_window,
)
from tests.ui.test_keys import press

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, "This plugin does not support raise()")

ACCOUNT = "models"
MESSAGE_COUNT = 400
SEED = 4

RULES = """\
# Rules whose preview has a row with matches and a row without.

[[rule]]
name = "Unread to a lane"
when = 'is:unread'
actions = [{ lane = "todo" }]

[[rule]]
name = "Attachments first"
when = 'has:attachment'
actions = [{ priority = 3 }]

[[rule]]
name = "Matches nothing"
when = 'from:nobody@example.invalid'
actions = [{ mark = "read" }]
"""

# A rule file with an unknown key on line 6, so the editor lists a problem.
BROKEN_RULES = """\
# Broken on purpose.

[[rule]]
name = "Typo"
when = 'is:unread'
actionz = [{ mark = "read" }]
"""


@pytest.fixture(scope="module")
def generated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build once a profile with a generated mailbox: conversations, lists, attachments, indexed."""
    home = tmp_path_factory.mktemp("models") / "profile"
    profile = local_profile(home, ACCOUNT)
    (profile.rules_dir / "10-models.toml").write_text(RULES, encoding="utf-8")
    with Store(profile.store_file) as store:
        import_messages(store, ACCOUNT, generate(MESSAGE_COUNT, seed=SEED))
        index_profile(profile, store)
    return home


@pytest.fixture
def profile(generated_home: Path, tmp_path: Path) -> Profile:
    return copy_profile(generated_home, tmp_path / "profile")


@pytest.fixture
def store(profile: Profile):
    with Store(profile.store_file) as opened:
        yield opened


@pytest.fixture
def window(qtbot, profile: Profile) -> MainWindow:
    return open_main_window(qtbot, profile, before_close=discard_rule_edits)


Check = Callable[[QAbstractItemModel], None]


@pytest.fixture(params=["qt", "python"])
def check(request: pytest.FixtureRequest, qapp, qtmodeltester) -> Check:
    """Attach Qt's C++ model tester or pytest-qt's Python one to a model; both follow its later changes."""
    force_py = request.param == "python"

    def attach(model: QAbstractItemModel) -> None:
        qtmodeltester.check(model, force_py=force_py)

    return attach


def _inbox_ids(store: Store) -> list[int]:
    return store.message_ids([store.folder_by_name(ACCOUNT, "INBOX").id])


def _reply_to(store: Store, message_id: int, uid: int) -> bytes:
    """Return the bytes of a new unread reply to a stored message, threaded by In-Reply-To and References."""
    parent = store.message(message_id)
    references = " ".join([*parent.references, parent.message_id])
    lines = [
        "From: Late Reply <late@example.org>",
        f"Subject: Re: {parent.subject}",
        "Date: Thu, 31 Dec 2026 12:00:00 +0000",
        f"Message-ID: <late-{uid}@example.org>",
        f"In-Reply-To: {parent.message_id}",
        f"References: {references}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\nA late reply.\r\n").encode()


def _store_reply(store: Store, message_id: int) -> int:
    inbox = store.folder_by_name(ACCOUNT, "INBOX").id
    uid = store.next_local_uid(inbox)
    raw = _reply_to(store, message_id, uid)
    new = NewMessage(uid=uid, flags=[], size=len(raw), raw=raw, summary=parse_summary(raw))
    return store.insert_messages(inbox, [new])[0]


# --- the message list ---------------------------------------------------------------------------


def test_flat_message_list(check: Check, store: Store) -> None:
    model = MessageListModel(store)
    check(model)
    ids = _inbox_ids(store)

    model.set_ids(ids)
    model.set_selected(ids[:10])
    model.toggle_row_selected(3)
    model.set_rows_selected(range(20, 30), True)
    store.change_flags(ids[:50], add=[FLAGGED], remove=[SEEN])
    model.reload_messages(ids[:50])
    new_id = _store_reply(store, ids[0])
    model.set_ids(_inbox_ids(store))

    assert model.rowCount() == len(ids) + 1
    assert model.row_of(new_id) is not None
    assert model.selection_count() == 9 + 10
    toggled = model.index(model.row_of(ids[3]), MARKERS)
    assert model.data(toggled, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked

    model.set_ids([])
    assert model.rowCount() == 0
    assert model.selection_count() == 0


def test_search_list_with_folder_column(check: Check, store: Store) -> None:
    model = MessageListModel(store)
    check(model)
    ids = store.all_message_ids()

    model.set_ids(ids)
    model.set_conversations(True)
    model.set_conversations(False)

    assert model.rowCount() == len(ids)
    folders = {model.data(model.index(row, model.columnCount() - 1)) for row in range(model.rowCount())}
    assert len(folders) > 2


def test_conversation_list_expanded(check: Check, store: Store) -> None:
    model = MessageListModel(store)
    model.set_ids(_inbox_ids(store))
    check(model)

    model.set_conversations(True)
    expandable = [row for row in range(model.rowCount()) if model.is_expandable(row)]
    assert len(expandable) >= 5
    # From the bottom up, so the rows above keep their numbers while rows are inserted below them.
    for row in reversed(expandable):
        assert model.set_expanded(row, True)
    expanded_rows = model.rowCount()
    heads = [row for row in range(model.rowCount()) if model.is_expanded(row)]
    assert len(heads) == len(expandable)
    model.set_expanded(heads[1], False)
    assert model.rowCount() < expanded_rows

    head = heads[0]
    members = model.row_message_ids(head)
    model.toggle_row_selected(head)
    model.toggle_row_selected(head + 1)
    store.change_flags(members, add=[SEEN])
    model.reload_messages(members)

    assert model.selection_count() == len(members) - 1
    assert not model.is_row_selected(head)


def test_conversation_list_new_mail(check: Check, store: Store) -> None:
    model = MessageListModel(store)
    model.set_ids(_inbox_ids(store))
    model.set_conversations(True)
    check(model)
    head = next(row for row in range(model.rowCount()) if model.is_expandable(row))
    members = model.row_message_ids(head)
    thread_id = store.thread_ids(members)[members[0]]
    model.set_expanded(head, True)

    new_id = _store_reply(store, members[0])
    model.set_ids(_inbox_ids(store))

    new_head = model.conversation_row(model.row_of(new_id))
    assert new_head is not None
    assert model.is_expanded(new_head)
    assert store.thread_ids([new_id])[new_id] == thread_id
    assert new_id in model.row_message_ids(new_head)
    assert model.data(model.index(new_head, SENDER)).endswith(f"({len(members) + 1})")

    model.set_conversations(False)
    assert model.rowCount() == len(_inbox_ids(store))


def test_empty_message_list(check: Check, store: Store) -> None:
    model = MessageListModel(store)
    check(model)

    model.set_conversations(True)
    model.set_ids([])
    model.set_selected([1, 2, 3])

    assert model.rowCount() == 0
    assert model.selection_count() == 0


def test_window_message_list(check: Check, qtbot, window: MainWindow) -> None:
    check(window.message_model)
    view = window.message_view
    view.setFocus()

    window.message_view.conversations_action.trigger()
    view.selectRow(0)
    for keys in ("j", "j", "x", "Shift+j"):
        press(qtbot, view, keys)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Left)
    for keys in ("s", "* a", "* n"):
        press(qtbot, view, keys)
    window.message_view.conversations_action.trigger()

    assert not window.message_model.conversations()
    assert window.message_model.selection_count() == 0


# --- the folder tree ----------------------------------------------------------------------------


def test_folder_tree(check: Check, store: Store) -> None:
    model = FolderTreeModel()
    check(model)

    model.set_folders(store.folders(), [ACCOUNT, "offline"])
    model.set_account_state(ACCOUNT, AccountState(WATCHING, watched=True))
    model.set_account_state("offline", AccountState(OFFLINE, reason="offline: connection refused"))
    nested = store.upsert_folder(store.account_id(ACCOUNT), "Projects/2026/Q1", delimiter="/")
    model.set_folders(store.folders(), [ACCOUNT, "offline"])
    store.change_flags(_inbox_ids(store)[:5], remove=[SEEN])
    model.update_counts(store.folders())

    node = model.index_of_key(("folder", nested))
    assert node.isValid()
    assert node.data(FOLDER_IDS_ROLE) == [nested]
    assert node.parent().parent().isValid()
    assert model.rowCount() == 2


def test_window_folder_tree(check: Check, qtbot, window: MainWindow) -> None:
    check(window.folder_model)
    window.message_view.setFocus()

    press(qtbot, window.message_view, "g a")

    assert window.message_model.message(0).folder == "Archive"


# --- rules ---------------------------------------------------------------------------------------


def test_rule_preview(check: Check, profile: Profile, store: Store) -> None:
    model = RulePreviewModel()
    check(model)
    index = SearchIndex(profile.index_dir)
    try:
        plan = plan_rules(store, load_rules([profile.rules_dir]), account=ACCOUNT, folder="INBOX", index=index)
    finally:
        index.close()

    model.set_plan(plan)
    assert model.rowCount() == 3
    counts = [model.index(row, COUNT).data() for row in range(3)]
    model.set_plan(None)
    assert model.rowCount() == 0
    model.set_plan(plan)

    assert counts[0] > 0
    assert counts[2] == 0


def _open_editor(qtbot, window: MainWindow):
    editor = window.rule_commands.edit_rules()
    qtbot.waitExposed(editor)
    return editor


def test_rule_editor_problem_list(check: Check, qtbot, window: MainWindow) -> None:
    editor = _open_editor(qtbot, window)
    check(editor.problem_list.model())

    editor.text_edit.setPlainText(BROKEN_RULES)
    problems = editor.check_now()
    assert problems
    assert editor.problem_list.count() == len(problems)

    editor.text_edit.setPlainText(RULES)
    assert editor.check_now() == []


def test_rule_editor_file_list(check: Check, qtbot, window: MainWindow) -> None:
    editor = _open_editor(qtbot, window)
    check(editor.file_box.model())

    created = editor.create_file("20-more.toml")

    assert created is not None
    assert editor.file_box.count() == 2


def test_rule_editor_preview(check: Check, qtbot, window: MainWindow) -> None:
    editor = _open_editor(qtbot, window)
    check(editor.preview.preview_model)

    with qtbot.waitSignal(window.rule_commands.controller.plan_ready, timeout=10_000):
        assert editor.test_on_folder()

    assert editor.preview.preview_model.rowCount() == 3


# --- palette and reader ----------------------------------------------------------------------------


def test_palette_results(check: Check, qtbot, window: MainWindow) -> None:
    check(window.palette.results.model())
    window.message_view.setFocus()

    press(qtbot, window.message_view, "Ctrl+k")
    qtbot.waitUntil(window.palette.isVisible, timeout=2000)
    all_rows = window.palette.results.topLevelItemCount()
    qtbot.keyClicks(window.palette.field, "arch")
    narrowed = window.palette.results.topLevelItemCount()
    qtbot.keyClicks(window.palette.field, "zzzz")
    empty = window.palette.results.topLevelItemCount()
    window.palette.reject()

    assert all_rows > narrowed > 0
    assert empty == 0


def test_reader_attachment_list(check: Check, qtbot, window: MainWindow, store: Store) -> None:
    check(window.reader.attachments.model())
    ids = store.all_message_ids()
    with_attachments = [row.id for row in store.messages(ids) if row.has_attachment and row.folder == "INBOX"]
    assert len(with_attachments) >= 2

    for message_id in with_attachments[:2]:
        window.message_view.setFocus()
        window.message_view.selectRow(window.message_model.row_of(message_id))
        qtbot.waitUntil(lambda message_id=message_id: window.reader.message_id() == message_id, timeout=2000)
        assert window.reader.attachments.count() >= 1
    window.message_view.selectRow(window.message_model.row_of(_inbox_ids(store)[0]))
