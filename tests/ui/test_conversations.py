"""Conversation view of the message list: one row per thread, expanding, and the View menu toggle."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from desktop.demo import import_messages
from desktop.mail.parse import parse_summary
from desktop.mailgen import generate
from desktop.store import SEEN, NewMessage, Store
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import DATE, SENDER, SUBJECT, MessageListModel
from tests.ui.fixtures_ui import ACCOUNT, OFFSCREEN_NOISE, build_profile, index_profile

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def mail(uid: int, message_id: str, subject: str, sender: str, *, references: str = "", hours: int = 0,
         seen: bool = True) -> NewMessage:
    lines = [
        f"From: {sender}",
        f"Subject: {subject}",
        f"Date: {(START + timedelta(hours=hours)).strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <{message_id}>",
    ]
    if references:
        lines.append("References: " + " ".join(f"<{value}>" for value in references.split()))
        lines.append(f"In-Reply-To: <{references.split()[-1]}>")
    raw = ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode()
    return NewMessage(uid=uid, flags=[SEEN] if seen else [], size=len(raw), raw=raw, summary=parse_summary(raw))


# Three conversations: a five-message thread with a branch, a lone message, and a pair.
MESSAGES = [
    mail(1, "a@x", "Budget for the autumn fair", "Ana Lima <ana@example.org>", hours=0),
    mail(2, "b@x", "Re: Budget for the autumn fair", "Ben Okafor <ben@example.org>", references="a@x", hours=1),
    mail(3, "c@x", "Re: Budget for the autumn fair", "Ana Lima <ana@example.org>", references="a@x b@x", hours=2,
         seen=False),
    mail(4, "d@x", "Re: Budget for the autumn fair", "Cara Diaz <cara@example.org>", references="a@x", hours=5),
    mail(5, "e@x", "Re: Budget for the autumn fair", "Dan Wu <dan@example.org>", references="a@x d@x", hours=6),
    mail(6, "f@x", "Train tickets to Lyon", "Eve Roy <eve@example.org>", hours=3),
    mail(7, "g@x", "Offsite agenda", "Ben Okafor <ben@example.org>", hours=4),
    mail(8, "h@x", "Re: Offsite agenda", "Ana Lima <ana@example.org>", references="g@x", hours=7),
]


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite3") as opened:
        inbox = opened.upsert_folder(opened.ensure_account("work", "local"), "INBOX")
        opened.insert_messages(inbox, MESSAGES)
        yield opened


@pytest.fixture
def model(store: Store, qtmodeltester) -> MessageListModel:
    model = MessageListModel(store)
    model.set_ids(store.message_ids([store.folders()[0].id]))
    model.set_conversations(True)
    qtmodeltester.check(model)
    return model


def text(model: MessageListModel, row: int, column: int) -> str:
    return model.data(model.index(row, column))


def is_bold(model: MessageListModel, row: int) -> bool:
    font = model.data(model.index(row, SUBJECT), Qt.ItemDataRole.FontRole)
    return isinstance(font, QFont) and font.bold()


def test_one_row_per_thread(model: MessageListModel) -> None:
    assert model.rowCount() == 3
    assert len(model.ids()) == 8
    # Newest first: the offsite pair (7 h), then the budget thread (6 h), then Lyon (3 h).
    assert [text(model, row, SUBJECT) for row in range(3)] == [
        "▸ Offsite agenda", "▸ Budget for the autumn fair", "Train tickets to Lyon",
    ]


def test_thread_row_summarises_messages(model: MessageListModel, store: Store) -> None:
    assert text(model, 1, SENDER) == "Ana Lima, Ben Okafor, Cara Diaz, … (5)"
    assert text(model, 0, SENDER) == "Ben Okafor, Ana Lima (2)"
    assert text(model, 2, SENDER) == "Eve Roy"
    newest = store.message(model.message_id(1))
    assert newest.subject == "Re: Budget for the autumn fair"
    assert text(model, 1, DATE) == model._format_date(START + timedelta(hours=6))
    assert model.data(model.index(1, SENDER), Qt.ItemDataRole.ToolTipRole) == "Ana Lima, Ben Okafor, Cara Diaz, Dan Wu"


def test_unread_message_makes_thread_bold(model: MessageListModel, store: Store) -> None:
    assert is_bold(model, 1)
    assert not is_bold(model, 0)

    ids = model.row_message_ids(1)
    store.change_flags(ids, add=[SEEN])
    model.reload_messages(ids)

    assert not is_bold(model, 1)


def test_row_message_ids_cover_thread(model: MessageListModel, store: Store) -> None:
    ids = model.row_message_ids(1)

    assert len(ids) == 5
    assert store.thread_message_ids(store.folders()[0].id, ids[0]) == ids
    assert model.row_message_ids(2) == [model.message_id(2)]


def test_expand_shows_thread_order(model: MessageListModel, store: Store) -> None:
    assert model.set_expanded(1, True)

    assert model.rowCount() == 8
    subjects = [text(model, row, SUBJECT) for row in range(1, 7)]
    assert subjects[0] == "▾ Budget for the autumn fair"
    senders = [text(model, row, SENDER) for row in range(2, 7)]
    assert senders == ["Ana Lima", "Ben Okafor", "Ana Lima", "Cara Diaz", "Dan Wu"]
    # Depth shows as indentation: a, then b under a, c under b, d under a, e under d.
    indents = [len(subject) - len(subject.lstrip(" ")) for subject in subjects[1:]]
    assert indents == [4, 8, 12, 8, 12]
    assert model.row_of(model.message_id(4)) == 4
    assert model.conversation_row(5) == 1


def test_collapse_restores_rows(model: MessageListModel) -> None:
    model.set_expanded(1, True)

    assert model.set_expanded(1, False)
    assert model.rowCount() == 3
    assert not model.set_expanded(2, True)
    assert model.rowCount() == 3


def test_expanded_thread_survives_refresh(model: MessageListModel, store: Store) -> None:
    model.set_expanded(0, True)
    inbox = store.folders()[0].id
    store.insert_messages(inbox, [mail(9, "i@x", "Re: Offsite agenda", "Dan Wu <dan@example.org>",
                                       references="g@x h@x", hours=8, seen=False)])

    model.set_ids(store.message_ids([inbox]))

    assert model.rowCount() == 3 + 3
    assert text(model, 0, SENDER) == "Ben Okafor, Ana Lima, Dan Wu (3)"
    assert model.is_expanded(0)


def test_parent_arriving_later_merges_rows(model: MessageListModel, store: Store) -> None:
    inbox = store.folders()[0].id
    store.insert_messages(inbox, [mail(10, "k@x", "Re: Plans for May", "Dan Wu <dan@example.org>",
                                       references="j@x", hours=9)])
    model.set_ids(store.message_ids([inbox]))
    assert model.rowCount() == 4

    store.insert_messages(inbox, [mail(11, "j@x", "Plans for May", "Eve Roy <eve@example.org>", hours=8)])
    model.set_ids(store.message_ids([inbox]))

    assert model.rowCount() == 4
    assert text(model, 0, SENDER) == "Eve Roy, Dan Wu (2)"


def test_flat_mode_unchanged(model: MessageListModel) -> None:
    model.set_conversations(False)

    assert model.rowCount() == 8
    assert text(model, 0, SUBJECT) == "Re: Offsite agenda"
    assert model.row_message_ids(0) == [model.message_id(0)]


def test_model_on_generated_mailbox(tmp_path: Path, qtmodeltester) -> None:
    with Store(tmp_path / "store.sqlite3") as store:
        import_messages(store, "demo", generate(600, seed=4))
        inbox = store.folder_by_name("demo", "INBOX")
        ids = store.message_ids([inbox.id])
        model = MessageListModel(store)
        model.set_ids(ids)
        model.set_conversations(True)
        qtmodeltester.check(model)

        expandable = [row for row in range(model.rowCount()) if model.is_expandable(row)]
        assert expandable
        assert model.rowCount() < len(ids)
        assert sum(len(model.row_message_ids(row)) for row in range(model.rowCount())) == len(ids)
        for row in reversed(expandable[:20]):
            model.set_expanded(row, True)
        qtmodeltester.check(model)
        # Each message shows once: on its own row when expanded, else within its conversation's row.
        shown = [message_id for row in range(model.rowCount()) if not model.is_expanded(row)
                 for message_id in model.row_message_ids(row)]
        assert sorted(shown) == sorted(ids)


@pytest.fixture
def window(qtbot, tmp_path: Path):
    profile = build_profile(tmp_path / "profile", samples=[])
    with Store(profile.store_file) as store:
        inbox = store.upsert_folder(store.ensure_account(ACCOUNT, "local"), "INBOX")
        store.insert_messages(inbox, MESSAGES)
        index_profile(profile, store)
    window = MainWindow(profile)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_view_menu_toggles_conversations(window: MainWindow, qtbot) -> None:
    view_menu = next(action.menu() for action in window.menuBar().actions() if action.text() == window.tr("&View"))
    toggle = next(action for action in view_menu.actions() if action.objectName() == "conversations")
    assert window.message_model.rowCount() == 8

    toggle.trigger()

    assert toggle.isChecked()
    assert window.message_model.rowCount() == 3

    view = window.message_view
    view.setFocus()
    view.selectRow(1)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert window.message_model.rowCount() == 8
    view.selectRow(4)
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert window.message_model.rowCount() == 3
    assert view.currentIndex().row() == 1

    toggle.trigger()
    assert window.message_model.rowCount() == 8


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_star_on_thread_row_flags_thread(window: MainWindow, qtbot) -> None:
    view_menu = next(action.menu() for action in window.menuBar().actions() if action.text() == window.tr("&View"))
    next(action for action in view_menu.actions() if action.objectName() == "conversations").trigger()
    model = window.message_model
    row = next(row for row in range(model.rowCount()) if len(model.row_message_ids(row)) > 1)
    thread = model.row_message_ids(row)
    view = window.message_view
    view.setFocus()
    view.selectRow(row)

    qtbot.keyClick(view, Qt.Key.Key_S)

    with Store(window._profile.store_file) as store:
        flagged = {message.id for message in store.messages(thread) if "\\Flagged" in message.flags}
    assert flagged == set(thread)
