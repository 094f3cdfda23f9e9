"""Several accounts synced in parallel, and the watch loop (IDLE, NOOP polling, reconnect, watched folders, local actions) against a real Dovecot."""

from __future__ import annotations

import io
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from desktop.cli import main
from desktop.index import SearchIndex
from desktop.paths import default_profile
from desktop.store import Store
from desktop.sync import service
from desktop.sync.retry import Backoff
from desktop.sync.service import CancelToken, SyncProgress, sync_profile
from desktop.sync.watch import WatchOptions, watch_profile

pytestmark = pytest.mark.dovecot

PASSWORD = "secret-test-password"


def make_message(subject: str, body: str = "text") -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Díaz <ana@example.com>"
    message["To"] = "you@example.com"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    message.set_content(body)
    return message.as_bytes()


def new_user(dovecot_server):
    return dovecot_server.add_user(f"par{uuid.uuid4().hex[:10]}", PASSWORD)


def add_account(name: str, user_name: str, port: int, monkeypatch, password: str = PASSWORD) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code = main([
        "account", "add", name, "--imap-host", "127.0.0.1", "--imap-port", str(port),
        "--security", "none", "--user", user_name, "--password-stdin",
    ])
    assert code == 0


def append(dovecot_server, user, *subjects: str, folder: str = "INBOX") -> None:
    client = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    try:
        client.login(user.name, user.password)
        for subject in subjects:
            client.append(folder, make_message(subject))
    finally:
        client.logout()


def stored_subjects(account: str, folder: str = "INBOX") -> list[str]:
    with Store(default_profile().store_file) as store:
        row = store.folder_by_name(account, folder)
        if row is None:
            return []
        return sorted(message.subject for message in store.messages(store.message_ids([row.id])))


def wait_for(condition, seconds: float) -> bool:
    """Poll ``condition`` every 50 ms for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def closed_port() -> int:
    """A loopback port that nothing listens on: bound once for a free number, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to the test Dovecot whose open connections can be cut, as by a network failure."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, name="test-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                downstream, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target_port))
            with self._lock:
                self._sockets += [downstream, upstream]
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for side in (source, sink):
            try:
                side.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Close every open connection; new connections still work."""
        with self._lock:
            doomed, self._sockets = self._sockets, []
        for connection in doomed:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
        self.cut()


class WatchRun:
    """Runs watch_profile on a thread, collecting its steps, until stop()."""

    def __init__(self, options: WatchOptions, account: str | None = None) -> None:
        self.token = CancelToken()
        self.steps: list[SyncProgress] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(options, account), name="test-watch", daemon=True)

    def _run(self, options: WatchOptions, account: str | None) -> None:
        try:
            for step in watch_profile(default_profile(), account=account, cancel=self.token, options=options):
                self.steps.append(step)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def start(self) -> WatchRun:
        self._thread.start()
        return self

    def phases(self, phase: str) -> list[SyncProgress]:
        return [step for step in list(self.steps) if step.phase == phase]

    def stop(self, seconds: float = 5.0) -> bool:
        """Cancel and return whether the loop ended within ``seconds``."""
        self.token.cancel()
        self._thread.join(seconds)
        return not self._thread.is_alive()


@pytest.fixture
def watch_runs() -> Iterator[list[WatchRun]]:
    """Stops every watch loop a test started, also when the test fails."""
    runs: list[WatchRun] = []
    yield runs
    for run in runs:
        run.stop(10)


# --- several accounts in one run --------------------------------------------


def test_two_accounts_sync_in_one_run(dovecot_server, monkeypatch, capsys):
    first, second = new_user(dovecot_server), new_user(dovecot_server)
    add_account("first", first.name, dovecot_server.port, monkeypatch)
    add_account("second", second.name, dovecot_server.port, monkeypatch)
    append(dovecot_server, first, "Alpha one", "Alpha two", "Alpha three")
    append(dovecot_server, second, "Beta one", "Beta two")
    append(dovecot_server, second, "Beta archived", folder="Archive")

    assert main(["sync"]) == 0
    assert main(["sync"]) == 0

    assert stored_subjects("first") == ["Alpha one", "Alpha three", "Alpha two"]
    assert stored_subjects("second") == ["Beta one", "Beta two"]
    assert stored_subjects("second", "Archive") == ["Beta archived"]
    with Store(default_profile().store_file) as store:
        assert store.message_count() == 6
    output = capsys.readouterr().out
    assert "first: synced" in output
    assert "second: synced" in output


def test_bad_password_fails_only_its_account(dovecot_server, monkeypatch, capsys):
    users = [new_user(dovecot_server) for _ in range(3)]
    add_account("one", users[0].name, dovecot_server.port, monkeypatch)
    add_account("bad", users[1].name, dovecot_server.port, monkeypatch, password="wrong-password")
    add_account("three", users[2].name, dovecot_server.port, monkeypatch)
    for number, user in enumerate(users):
        append(dovecot_server, user, f"Mail for user {number}")
    capsys.readouterr()

    assert main(["sync"]) == 1

    assert stored_subjects("one") == ["Mail for user 0"]
    assert stored_subjects("bad") == []
    assert stored_subjects("three") == ["Mail for user 2"]
    errors = capsys.readouterr().err
    assert "failed for account 'bad'" in errors
    assert "'one'" not in errors
    assert "'three'" not in errors


def test_accounts_run_in_parallel(dovecot_server, monkeypatch):
    """Every worker waits at a barrier after login; run one after another, the barrier would break."""
    names = ["a", "b", "c"]
    for name in names:
        user = new_user(dovecot_server)
        add_account(name, user.name, dovecot_server.port, monkeypatch)
        append(dovecot_server, user, f"Hello {name}")
    barrier = threading.Barrier(len(names), timeout=10)
    connected_in: dict[str, str] = {}
    real_connect = service.connect

    def connect_and_wait(account, **kwargs):
        client = real_connect(account, **kwargs)
        connected_in[account.name] = threading.current_thread().name
        barrier.wait()
        return client

    monkeypatch.setattr(service, "connect", connect_and_wait)

    steps = list(sync_profile(default_profile()))

    assert connected_in == {name: f"sluice-sync-{name}" for name in names}
    assert {step.account for step in steps if step.phase == "account-done"} == set(names)
    assert [stored_subjects(name) for name in names] == [["Hello a"], ["Hello b"], ["Hello c"]]


def test_cancel_stops_all_workers(dovecot_server, monkeypatch):
    for name in ("a", "b"):
        user = new_user(dovecot_server)
        add_account(name, user.name, dovecot_server.port, monkeypatch)
        append(dovecot_server, user, *[f"{name} {number}" for number in range(5)])
    token = CancelToken()

    steps = []
    for step in sync_profile(default_profile(), cancel=token):
        steps.append(step)
        if step.phase == "connect":
            token.cancel()

    assert steps[-1].phase == "cancelled"
    assert not [step for step in steps if step.phase == "account-done"]
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("sluice-sync-")]


# --- watching -----------------------------------------------------------------


@pytest.mark.parametrize("use_idle", [True, False], ids=["idle", "noop"])
def test_watch_stores_new_mail(dovecot_server, monkeypatch, watch_runs, use_idle):
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch)
    append(dovecot_server, user, "Before the watch")
    run = WatchRun(WatchOptions(use_idle=use_idle, poll_seconds=1.0)).start()
    watch_runs.append(run)
    assert wait_for(lambda: run.phases("watching"), 10), run.steps

    append(dovecot_server, user, "Pushed while watching")

    assert wait_for(lambda: "Pushed while watching" in stored_subjects("work"), 5)
    # The arrival is reported after the index took the new mail; stopping earlier may leave it to the next run.
    assert wait_for(lambda: run.phases("arrived"), 5), run.steps
    assert run.stop()
    assert run.error is None
    assert stored_subjects("work") == ["Before the watch", "Pushed while watching"]
    assert ("IDLE" if use_idle else "NOOP every 1 s") in run.phases("watching")[0].text
    assert any("Pushed while watching" in step.text for step in run.phases("arrived"))
    assert run.steps[-1].phase == "cancelled"
    with Store(default_profile().store_file) as store:
        assert store.missing_body_count("work") == 0
    index = SearchIndex(default_profile().index_dir)
    try:
        assert len(index.search("subject:pushed", limit=None)) == 1
    finally:
        index.close()


def test_watch_sees_expunge(dovecot_server, monkeypatch, watch_runs):
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch)
    append(dovecot_server, user, "Keep", "Delete me")
    run = WatchRun(WatchOptions()).start()
    watch_runs.append(run)
    assert wait_for(lambda: run.phases("watching"), 10), run.steps

    client = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    client.login(user.name, user.password)
    client.select_folder("INBOX")
    client.delete_messages(client.search(["SUBJECT", "Delete me"]))
    client.expunge()
    client.logout()

    assert wait_for(lambda: stored_subjects("work") == ["Keep"], 5)
    assert run.stop()


def test_watch_backs_off_when_server_is_down(monkeypatch, watch_runs, caplog):
    add_account("down", "nobody", closed_port(), monkeypatch)
    caplog.set_level(logging.WARNING, logger="desktop.sync.watch")
    run = WatchRun(WatchOptions(backoff=lambda: Backoff(base=0.2, cap=5.0))).start()
    watch_runs.append(run)

    time.sleep(2.5)
    stopped_at = time.monotonic()
    assert run.stop(2)
    assert time.monotonic() - stopped_at < 2

    retries = run.phases("retry")
    # Nominal delays 0.2, 0.4, 0.8, 1.6 s: four or five attempts fit in 2.5 s, a tight loop would make hundreds.
    assert 3 <= len(retries) <= 6
    assert all("refused the connection" in step.text for step in retries)
    retry_records = [record for record in caplog.records if record.getMessage().startswith("Connection of account down failed")]
    delays = [record.args[-1] for record in retry_records]
    assert len(delays) == len(retries)
    assert delays == sorted(delays)
    assert delays[-1] > 2 * delays[0]


def test_watch_stops_after_rejected_login(dovecot_server, monkeypatch, watch_runs):
    """A wrong password fails the same way each time, and repeated failed logins can lock an account."""
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch, password="not-the-password")
    run = WatchRun(WatchOptions(backoff=lambda: Backoff(base=0.2, cap=5.0))).start()
    watch_runs.append(run)

    assert wait_for(lambda: run.phases("error"), 10), run.steps
    time.sleep(1.5)

    assert run.phases("retry") == []
    (error,) = run.phases("error")
    assert "Not retried; sync again once it is fixed." in error.text
    assert "sluice account password work" in error.text
    assert len(run.phases("connect")) == 1
    assert run.stop(2)


def test_watch_reconnects_after_connection_loss(dovecot_server, monkeypatch, watch_runs):
    user = new_user(dovecot_server)
    proxy = CuttableProxy(dovecot_server.port)
    try:
        add_account("work", user.name, proxy.port, monkeypatch)
        run = WatchRun(WatchOptions(backoff=lambda: Backoff(base=0.2, cap=5.0))).start()
        watch_runs.append(run)
        assert wait_for(lambda: run.phases("watching"), 10), run.steps

        proxy.cut()
        append(dovecot_server, user, "Sent while the connection was down")

        assert wait_for(lambda: "Sent while the connection was down" in stored_subjects("work"), 10), run.steps
        assert len(run.phases("retry")) >= 1
        assert "connection of account 'work' failed" in run.phases("retry")[0].text
        assert wait_for(lambda: len(run.phases("watching")) == 2, 5), run.steps

        append(dovecot_server, user, "Sent after the reconnect")
        assert wait_for(lambda: "Sent after the reconnect" in stored_subjects("work"), 5)
        assert run.stop()
        assert run.error is None
    finally:
        proxy.close()


def test_watch_command_ends_after_max_seconds(dovecot_server, monkeypatch, capsys):
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch)
    append(dovecot_server, user, "Waiting already")
    capsys.readouterr()

    started = time.monotonic()
    code = main(["sync", "--watch", "--max-seconds", "2"])
    elapsed = time.monotonic() - started

    assert code == 0
    assert 2 <= elapsed < 8
    output = capsys.readouterr().out
    assert "work: waiting for new mail in INBOX (IDLE)" in output
    assert "Stopped watching" in output
    assert stored_subjects("work") == ["Waiting already"]


def test_watch_command_stops_on_sigterm(dovecot_server, tmp_path):
    user = new_user(dovecot_server)
    repository = Path(__file__).resolve().parent.parent.parent
    command = [sys.executable, "-m", "desktop"]
    added = subprocess.run(
        [*command, "account", "add", "work", "--imap-host", "127.0.0.1", "--imap-port", str(dovecot_server.port),
         "--security", "none", "--user", user.name, "--password-command", f"echo {PASSWORD}"],
        cwd=repository, capture_output=True, text=True, timeout=30,
    )
    assert added.returncode == 0, added.stderr
    output_path = tmp_path / "watch.out"

    with output_path.open("w") as output:
        # --max-seconds only bounds the run if SIGTERM is ignored.
        watcher = subprocess.Popen([*command, "sync", "--watch", "--max-seconds", "60"], cwd=repository,
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            assert wait_for(lambda: "waiting for new mail" in output_path.read_text(), 20), output_path.read_text()
            append(dovecot_server, user, "Arrived under a real process")
            assert wait_for(lambda: "new from" in output_path.read_text(), 5), output_path.read_text()
            watcher.send_signal(signal.SIGTERM)
            code = watcher.wait(timeout=10)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()

    text = output_path.read_text()
    assert code == 0, text
    assert "work/INBOX: new from Ana Díaz: Arrived under a real process" in text
    assert "Stopped watching" in text


@pytest.mark.parametrize("option", [["--interval", "0"], ["--poll-seconds", "-1"], ["--max-seconds", "0"]])
def test_watch_command_rejects_bad_numbers(dovecot_server, monkeypatch, capsys, option):
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch)

    assert main(["sync", "--watch", *option]) == 2
    assert "use a positive number" in capsys.readouterr().err


# --- backoff -------------------------------------------------------------------


def test_backoff_doubles_up_to_cap():
    backoff = Backoff(uniform=lambda low, high: 0.0)

    delays = [backoff.next_delay() for _ in range(12)]

    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_jitter_stays_in_bounds():
    highest = Backoff(uniform=lambda low, high: high)
    lowest = Backoff(uniform=lambda low, high: low)

    assert [highest.next_delay() for _ in range(3)] == pytest.approx([1.2, 2.4, 4.8])
    assert [lowest.next_delay() for _ in range(3)] == pytest.approx([0.8, 1.6, 3.2])
    for _ in range(20):
        assert highest.next_delay() <= 300


# --- watched folders besides INBOX and local actions while watching -------------


def set_watch_folders(account: str, folders: list[str]) -> None:
    from desktop.config import load_config, save_config

    config = load_config(default_profile().config_file)
    config.account(account).watch_folders = folders
    save_config(config)


def server_flags(dovecot_server, user, subject: str) -> set[bytes]:
    client = IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False)
    try:
        client.login(user.name, user.password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["SUBJECT", subject])
        return set(client.get_flags(uids)[uids[0]]) if uids else set()
    finally:
        client.logout()


def test_watched_folder_besides_inbox(dovecot_server, monkeypatch, watch_runs):
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch)
    append(dovecot_server, user, "Old list mail", folder="Archive")
    set_watch_folders("work", ["Archive"])
    run = WatchRun(WatchOptions()).start()
    watch_runs.append(run)
    assert wait_for(lambda: {step.folder for step in run.phases("watching")} == {"INBOX", "Archive"}, 10), run.steps

    append(dovecot_server, user, "Pushed to the archive", folder="Archive")

    assert wait_for(lambda: "Pushed to the archive" in stored_subjects("work", "Archive"), 5), run.steps
    arrived = "work/Archive: new from Ana Díaz: Pushed to the archive"
    assert wait_for(lambda: any(step.text == arrived for step in run.phases("arrived")), 5), run.steps
    append(dovecot_server, user, "Still watching INBOX")
    assert wait_for(lambda: "Still watching INBOX" in stored_subjects("work"), 5), run.steps
    assert run.stop()
    assert run.error is None
    assert stored_subjects("work", "Archive") == ["Old list mail", "Pushed to the archive"]


@pytest.mark.parametrize("use_idle", [True, False], ids=["idle", "noop"])
def test_local_flag_change_sent_while_watching(dovecot_server, monkeypatch, watch_runs, use_idle):
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch)
    append(dovecot_server, user, "Flag me")
    # A poll interval far beyond the 5 s limit shows the action is not waiting for the next poll.
    run = WatchRun(WatchOptions(use_idle=use_idle, poll_seconds=600)).start()
    watch_runs.append(run)
    assert wait_for(lambda: run.phases("watching"), 10), run.steps
    assert b"\\Flagged" not in server_flags(dovecot_server, user, "Flag me")

    with Store(default_profile().store_file) as store:
        inbox = store.folder_by_name("work", "INBOX")
        assert store.change_flags(store.message_ids([inbox.id]), add=["\\Flagged"]) == 1

    assert wait_for(lambda: b"\\Flagged" in server_flags(dovecot_server, user, "Flag me"), 5), run.steps
    with Store(default_profile().store_file) as store:
        assert store.pending_actions(store.ensure_account("work")) == []
    assert run.stop()
    assert run.error is None


def test_unknown_watched_folder_is_explained(dovecot_server, monkeypatch, watch_runs):
    user = new_user(dovecot_server)
    add_account("work", user.name, dovecot_server.port, monkeypatch)
    set_watch_folders("work", ["Lists/missing", "Archive"])
    run = WatchRun(WatchOptions()).start()
    watch_runs.append(run)

    assert wait_for(lambda: run.phases("warning"), 10), run.steps
    error = run.phases("warning")[0].text
    assert "The watched folder 'Lists/missing' does not exist on the server of account 'work'" in error
    assert "its folders are: Archive, Drafts, INBOX, Junk, Sent, Trash" in error
    assert wait_for(lambda: {step.folder for step in run.phases("watching")} == {"INBOX", "Archive"}, 10), run.steps
    append(dovecot_server, user, "Arrived despite the bad setting")
    assert wait_for(lambda: "Arrived despite the bad setting" in stored_subjects("work"), 5), run.steps
    assert run.phases("retry") == []
    assert len(run.phases("warning")) == 1
    assert run.stop()
    assert run.error is None
