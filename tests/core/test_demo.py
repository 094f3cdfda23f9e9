"""The demo profile: the bundled mailbox imports once into a local account and is searchable."""

from __future__ import annotations

from desktop.cli import main
from desktop.demo import DEMO_ACCOUNT, prepare_demo
from desktop.index import SearchIndex
from desktop.mailgen import read_demo_mbox
from desktop.paths import profile_at, resource_path
from desktop.store import Store


def test_demo_imports_every_message_once(tmp_path):
    expected = sum(1 for _message in read_demo_mbox(resource_path("demo", "demo.mbox")))
    profile = profile_at(tmp_path / "demo")

    prepare_demo(profile)
    prepare_demo(profile)

    with Store(profile.store_file) as store:
        assert store.message_count() == expected
        assert {folder.account for folder in store.folders()} == {DEMO_ACCOUNT}
        assert store.accounts()[0].kind == "local"
    index = SearchIndex(profile.index_dir)
    try:
        assert index.doc_count() == expected
        assert len(index.search('subject:"Sluice demo mailbox"')) == 1
    finally:
        index.close()


def test_demo_flag_change_stays_local(tmp_path):
    profile = prepare_demo(profile_at(tmp_path / "demo"))

    with Store(profile.store_file) as store:
        inbox = store.folder_by_name(DEMO_ACCOUNT, "INBOX")
        first = store.message_ids([inbox.id])[0]
        assert store.change_flags([first], add=["\\Flagged"]) == 1
        assert store.pending_actions(inbox.account_id) == []


def test_demo_command_lists_folders(tmp_path, capsys):
    assert main(["--home", str(tmp_path / "profile"), "--demo", "folders"]) == 0

    out = capsys.readouterr().out
    assert "INBOX" in out
    assert "Sent" in out
