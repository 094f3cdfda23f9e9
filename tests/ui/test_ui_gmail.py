"""The window's search over a Gmail account shows each message once, not again from All Mail."""

from __future__ import annotations

import io

from PySide6.QtCore import Qt

from desktop.cli import main
from desktop.paths import default_profile
from desktop.ui.main_window import MainWindow
from tests.helpers.gmail_server import FakeGmail
from tests.sync.test_gmail import PASSWORD, USER, make_message


def test_search_shows_gmail_message_once(qtbot, monkeypatch, capsys) -> None:
    with FakeGmail(USER, PASSWORD, labels=("Work",)) as gmail:
        gmail.deliver(make_message("Budget review", "quarterly numbers", 1), labels=("\\Inbox", "Work"))
        gmail.deliver(make_message("Old budget", "archived numbers", 2), labels=())
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert main(["account", "add", "gm", "--imap-host", "127.0.0.1", "--imap-port", str(gmail.port),
                     "--security", "none", "--user", USER, "--password-stdin"]) == 0
        assert main(["sync"]) == 0
    capsys.readouterr()
    window = MainWindow(default_profile())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)

    window.search_field.setFocus()
    qtbot.keyClicks(window.search_field, "numbers")
    with qtbot.waitSignal(window.search_finished, timeout=10_000) as blocker:
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)

    # "Budget review" is in INBOX, Work and All Mail; "Old budget" only in All Mail.
    shown = [window.message_model.message(number) for number in range(window.message_model.rowCount())]
    assert sorted((row.subject, row.folder) for row in shown) == [
        ("Budget review", "INBOX"), ("Budget review", "Work"), ("Old budget", "[Gmail]/All Mail"),
    ]
    assert blocker.args == [3]
