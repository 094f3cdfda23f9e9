"""The fake Gmail server behaves like Gmail where the sync depends on it."""

from __future__ import annotations

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.helpers.gmail_server import ALL_MAIL, FakeGmail

RAW = (b"From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nSubject: Hello\r\nMessage-ID: <1@example.org>\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody text\r\n")


@pytest.fixture
def gmail():
    with FakeGmail("user@example.org", "app-password", labels=("Work",)) as server:
        yield server


@pytest.fixture
def client(gmail):
    connection = IMAPClient("127.0.0.1", port=gmail.port, ssl=False, timeout=5)
    connection.login("user@example.org", "app-password")
    yield connection
    connection.logout()


def test_one_message_in_several_folders_has_one_msgid(gmail, client):
    msgid = gmail.deliver(RAW, labels=("\\Inbox", "Work"))

    seen = {}
    for folder in ("INBOX", "Work", ALL_MAIL):
        client.select_folder(folder, readonly=True)
        ((uid, data),) = client.fetch(client.search("ALL"), ["X-GM-MSGID", "X-GM-LABELS", "BODY.PEEK[]"]).items()
        seen[folder] = (data[b"X-GM-MSGID"], set(data[b"X-GM-LABELS"]), data[b"BODY[]"])

    assert {value[0] for value in seen.values()} == {msgid}
    # Like Gmail, the label of the selected folder is left out.
    assert seen["Work"][1] == {b"\\Inbox"}
    assert seen["INBOX"][1] == {b"Work"}
    assert seen[ALL_MAIL][1] == {b"\\Inbox", b"Work"}
    assert seen[ALL_MAIL][2] == RAW
    assert gmail.bodies_sent() == 3


def test_label_store_moves_message_between_folders(gmail, client):
    msgid = gmail.deliver(RAW, labels=("\\Inbox",))
    client.select_folder("INBOX")

    client.add_gmail_labels([1], ["Later"])
    client.remove_gmail_labels([1], ["\\Inbox"])

    assert gmail.labels_of(msgid) == {"Later"}
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    assert client.select_folder("Later")[b"EXISTS"] == 1


def test_wrong_password_is_refused(gmail):
    connection = IMAPClient("127.0.0.1", port=gmail.port, ssl=False, timeout=5)
    with pytest.raises(LoginError, match="Invalid credentials"):
        connection.login("user@example.org", "wrong")
