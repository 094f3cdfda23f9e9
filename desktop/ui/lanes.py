"""The split inbox: one tab per lane above the message list.

Rules put messages in lanes (``messages.lane``), and saved searches marked
``lane = true`` make lanes of their matches in the inbox (``desktop.views``).
When the folder on show has messages in at least one lane, ``LaneTabs`` shows
"All", then each rule lane and each search lane with its message count, then
"Other" for the messages in no lane. The window lists the messages of the
current tab.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QTabBar, QWidget

from desktop.store.lanes import ALL_LANES, NO_LANE
from desktop.views import search_of_lane

log = logging.getLogger(__name__)

# The tab data of "All". Lane names cannot contain NUL, so no lane has this name.
_ALL_TAB_DATA = "\0all"


class LaneTabs(QTabBar):
    """Tabs for the lanes of the folder on show, hidden while no message is in a lane.

    Signals:
        lane_changed(object): the user picked another tab; the lane name,
            ``NO_LANE`` ("") for "Other", or ``ALL_LANES`` (None) for "All".
    """

    lane_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("laneTabs")
        self.setDocumentMode(True)
        self.setExpanding(False)
        self.setDrawBase(False)
        self.setUsesScrollButtons(True)
        # The list keeps the keyboard focus, and Tab and Shift+Tab in the list switch tabs.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._updating = False
        self.currentChanged.connect(self._on_current_changed)
        self.hide()

    def set_counts(self, counts: dict[str, int], total: int | None = None,
                   tooltips: dict[str, str] | None = None) -> bool:
        """Show a tab per lane of ``counts`` (lane key to message count), in its order.

        The current lane stays current if it still has messages, else "All"
        becomes current. Without any lane the tabs hide and "All" is current.

        Args:
            counts: Message count per lane key: a rule lane's name, a saved
                search's ``desktop.views.search_lane`` key, or ``NO_LANE``.
            total: The count shown on "All"; the sum of ``counts`` when None,
                which is right only while no message is in two lanes.
            tooltips: Tooltip per lane key, such as a search lane's query.

        Returns:
            Whether the current lane changed.
        """
        previous = self.current_lane()
        lanes = [lane for lane in counts if lane != NO_LANE]
        self._updating = True
        try:
            while self.count():
                self.removeTab(0)
            if lanes:
                self._add_tab(self.tr("All"), _ALL_TAB_DATA, sum(counts.values()) if total is None else total)
                for lane in lanes:
                    index = self._add_tab(search_of_lane(lane) or lane, lane, counts[lane])
                    if tooltips and lane in tooltips:
                        self.setTabToolTip(index, tooltips[lane])
                self._add_tab(self.tr("Other"), NO_LANE, counts.get(NO_LANE, 0))
            self.setVisible(bool(lanes))
            self.setCurrentIndex(max(0, self._tab_of(previous)))
        finally:
            self._updating = False
        return self.current_lane() != previous

    def current_lane(self) -> str | None:
        """Return the lane of the current tab: a name, ``NO_LANE``, or ``ALL_LANES`` for "All" or no tabs."""
        data = self.tabData(self.currentIndex()) if self.count() else None
        return ALL_LANES if data in (None, _ALL_TAB_DATA) else data

    def lanes(self) -> list[str | None]:
        """Return the lane of each tab in order, ``ALL_LANES`` for "All"."""
        return [ALL_LANES if self.tabData(i) == _ALL_TAB_DATA else self.tabData(i) for i in range(self.count())]

    def select_lane(self, lane: str | None) -> bool:
        """Make the tab of ``lane`` current; return False when there is no such tab."""
        index = self._tab_of(lane)
        if index < 0:
            return False
        self.setCurrentIndex(index)
        return True

    def cycle(self, step: int) -> None:
        """Move ``step`` tabs on (negative: back), wrapping around at either end."""
        if self.count() < 2:
            return
        self.setCurrentIndex((self.currentIndex() + step) % self.count())

    def _add_tab(self, title: str, data: str, count: int) -> int:
        index = self.addTab(self.tr("%1 (%2)").replace("%1", title).replace("%2", str(count)))
        self.setTabData(index, data)
        return index

    def _tab_of(self, lane: str | None) -> int:
        data = _ALL_TAB_DATA if lane is ALL_LANES else lane
        for index in range(self.count()):
            if self.tabData(index) == data:
                return index
        return -1

    @Slot(int)
    def _on_current_changed(self, _index: int) -> None:
        if not self._updating:
            self.lane_changed.emit(self.current_lane())
