"""The lazy message list model, on small folders and on one of 100,000 messages."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.paths import Profile, profile_at
from desktop.store import Store
from desktop.ui.main_window import MainWindow
from desktop.ui.message_list import DATE, PAGE_SIZE, SENDER, SIZE, SUBJECT, MessageListModel
from tests.ui.fixtures_ui import OFFSCREEN_NOISE, build_profile, fill_large_folder

LARGE_COUNT = 100_000


class CountingStore(Store):
    """A store that counts the rows that ``messages()`` returns."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.message_calls = 0
        self.rows_fetched = 0

    def messages(self, ids):
        rows = super().messages(ids)
        self.message_calls += 1
        self.rows_fetched += len(rows)
        return rows


@pytest.fixture(scope="module")
def large_profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    profile = profile_at(tmp_path_factory.mktemp("large") / "profile")
    fill_large_folder(profile, LARGE_COUNT)
    return profile


@pytest.fixture
def counting_store(large_profile: Profile):
    store = CountingStore(large_profile.store_file)
    yield store
    store.close()


def test_large_model_reads_one_page_for_last_row(counting_store: CountingStore) -> None:
    folder = counting_store.folders()[0]
    ids = counting_store.message_ids([folder.id])
    model = MessageListModel(counting_store)

    started = time.perf_counter()
    model.set_ids(ids)
    last = model.index(LARGE_COUNT - 1, SUBJECT)
    subject = model.data(last)
    elapsed = time.perf_counter() - started

    assert model.rowCount() == LARGE_COUNT
    assert subject == "Message number 0"
    assert counting_store.message_calls == 1
    assert counting_store.rows_fetched <= PAGE_SIZE
    assert model.page_loads == 1
    # Generous bound for a shared machine; loading all rows takes far longer.
    assert elapsed < 1.0


def test_large_model_caches_pages(counting_store: CountingStore) -> None:
    model = MessageListModel(counting_store)
    model.set_ids(counting_store.message_ids([counting_store.folders()[0].id]))

    for row in range(PAGE_SIZE):
        model.data(model.index(row, SENDER))

    assert counting_store.message_calls == 1
    model.data(model.index(PAGE_SIZE, SENDER))
    assert counting_store.message_calls == 2


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_large_folder_opens_in_window_without_loading_all(qtbot, large_profile: Profile) -> None:
    started = time.perf_counter()
    window = MainWindow(large_profile)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    elapsed = time.perf_counter() - started

    assert window.message_model.rowCount() == LARGE_COUNT
    # Only the pages behind the visible rows are read: one or two, not 500.
    assert window.message_model.page_loads <= 2
    assert elapsed < 5.0

    window.message_view.scrollToBottom()
    window.message_view.selectRow(LARGE_COUNT - 1)
    qtbot.waitUntil(lambda: window.reader.message_id() == window.message_model.message_id(LARGE_COUNT - 1), timeout=5000)
    assert window.reader.subject_label.text() == "Message number 0"
    assert window.message_model.page_loads <= 4


def test_model_columns_show_row_fields(qtmodeltester, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    with Store(profile.store_file) as store:
        inbox = store.folder_by_name("local-test", "INBOX")
        model = MessageListModel(store)
        model.set_ids(store.message_ids([inbox.id]))
        qtmodeltester.check(model)

        last = model.rowCount() - 1
        assert model.data(model.index(last, SENDER)) == "Ana Lima"
        assert model.data(model.index(last, SUBJECT)) == "Quarterly budget review"
        assert model.data(model.index(last, DATE))
        assert model.data(model.index(last, SIZE))
        assert model.data(model.index(last, SUBJECT), Qt.ItemDataRole.FontRole).bold()
        assert model.data(model.index(last, 0), Qt.ItemDataRole.DecorationRole) is not None
        assert model.headerData(SUBJECT, Qt.Orientation.Horizontal) == "Subject"


def test_model_reload_repaints_changed_row(qtbot, tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    with Store(profile.store_file) as store:
        model = MessageListModel(store)
        model.set_ids(store.message_ids([store.folder_by_name("local-test", "INBOX").id]))
        message_id = model.message_id(0)
        assert not model.message(0).seen

        store.change_flags([message_id], add=["\\Seen"])
        with qtbot.waitSignal(model.dataChanged, timeout=1000) as blocker:
            model.reload_messages([message_id])

        assert blocker.args[0].row() == 0
        assert model.message(0).seen


def test_model_skips_ids_missing_from_store(tmp_path: Path) -> None:
    profile = build_profile(tmp_path / "profile")
    with Store(profile.store_file) as store:
        model = MessageListModel(store)
        model.set_ids([999_999, *store.message_ids([store.folder_by_name("local-test", "INBOX").id])])

        assert model.data(model.index(0, SUBJECT)) is None
        assert model.data(model.index(1, SUBJECT))
