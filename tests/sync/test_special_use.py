"""Special-use roles: the server's marks win, names fill the gaps."""

from __future__ import annotations

import pytest

from desktop.sync.special_use import RemoteFolder, assign_roles, guess_role


@pytest.mark.parametrize(
    ("name", "delimiter", "role"),
    [
        ("Sent", "/", "\\Sent"),
        ("Sent Items", "/", "\\Sent"),
        ("INBOX.Sent", ".", "\\Sent"),
        ("Gesendete Objekte", "/", "\\Sent"),
        ("Entwürfe", "/", "\\Drafts"),
        ("Deleted Items", "/", "\\Trash"),
        ("Spam", ".", "\\Junk"),
        ("Archive", "/", "\\Archive"),
        ("Projects/Sent", "/", ""),
        ("INBOX", "/", ""),
        ("Sentinel", "/", ""),
    ],
)
def test_guess_role(name, delimiter, role):
    assert guess_role(name, delimiter) == role


def test_server_marks_win_over_names():
    folders = [
        RemoteFolder("INBOX", "/", "", True),
        RemoteFolder("Sent", "/", "", True),
        RemoteFolder("Sent Mail", "/", "\\Sent", True),
        RemoteFolder("Trash", "/", "", True),
        RemoteFolder("Bin", "/", "", True),
    ]

    roles = {folder.name: folder.special_use for folder in assign_roles(folders)}

    assert roles == {"INBOX": "", "Sent": "", "Sent Mail": "\\Sent", "Trash": "\\Trash", "Bin": ""}


def test_unselectable_folder_gets_no_role():
    folders = [RemoteFolder("Junk", "/", "", False), RemoteFolder("Spam", "/", "", True)]

    roles = [folder.special_use for folder in assign_roles(folders)]

    assert roles == ["", "\\Junk"]
