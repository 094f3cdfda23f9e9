"""Running a merge send from the window: the core ``MergeSend`` on a worker thread, controlled from the GUI.

``MergeSendRunner`` records the merge in the journal (or continues an earlier
one), runs ``MergeSend.run`` through a ``BackgroundJob`` and forwards each
``Progress`` as a signal. Pause, resume and cancel go straight to the
``MergeSend``, whose controls are thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop.merge import journal as jn
from desktop.merge.check import Problem
from desktop.merge.errors import MergeError
from desktop.merge.report import summary_lines, write_report
from desktop.merge.send_cli import AlreadySent, record_rest, skip_sent_elsewhere
from desktop.merge.send_cli import skip_error_rows, split_failed
from desktop.merge.sender import MergeSend, Progress, SendOptions
from desktop.merge.suppress import SuppressionList
from desktop.text import pluralize
from desktop.ui.workers import BackgroundJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendRequest:
    """What to send: the template and data files, the account and how.

    ``merge_key`` is the key of the merge the user checked. The send opens the
    files again on its own thread and stops when their key differs, because
    then the files changed after the check. ``resume_id`` names a journal
    merge to continue, and "" records a new one. ``retry_unknown`` lists rows
    of that merge in state ``unknown`` to queue and send again, and
    ``retry_failed`` rows in state ``failed``, of which hard bounces whose
    address is still suppressed stay failed. ``rest`` records
    a new merge that skips the rows an earlier merge of the template reached.
    ``left_out`` holds one error of each row with check errors that the send
    leaves out, as ``merge send --skip-errors`` does. In a test send these are
    only the rows among the first ``test_count``.
    """

    merge_key: str
    template: Path
    data: Path
    account: object
    options: SendOptions
    resume_id: str = ""
    retry_unknown: tuple[int, ...] = ()
    retry_failed: tuple[int, ...] = ()
    rest: AlreadySent | None = None
    left_out: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class SendResult:
    """The end of a send: the merge id, the last progress, the report file and the summary lines."""

    merge_id: str
    progress: Progress | None
    report: Path
    summary: list[str]


def open_sent_copier(profile, account):
    """Return ``(SentCopier, "")`` for a send from ``account`` that keeps Sent copies, or ``(None, reason)``.

    It decides as ``merge send`` does: the account's ``sent_copy`` setting first, then whether the store contains
    the account's Sent folder. The reason is a sentence for the user.
    """
    from desktop.compose.sending import wants_sent_copy
    from desktop.merge.send_cli import SentCopier
    from desktop.store import Store

    profile.ensure()
    with Store(profile.store_file) as store:
        wanted = wants_sent_copy(account, store)
    if not wanted:
        server = " and its server files sent mail itself" if account.sent_copy == "auto" else ""
        return None, (f"Account {account.name!r} has sent_copy = {account.sent_copy!r} in config.toml{server}, so no "
                      "Sent copies are kept.")
    copier = SentCopier(profile, account)
    if copier.folder_id is None:
        copier.close()
        return None, copier.reason
    return copier, ""


def sent_copies_reason(profile, account) -> str:
    """Return why a send from ``account`` keeps no Sent copies, or "" when it keeps them."""
    copier, reason = open_sent_copier(profile, account)
    if copier is not None:
        copier.close()
    return reason


def earlier_merge(profile, merge_key: str) -> jn.MergeRecord | None:
    """Return the latest real (not test) send of the same template, data and attachments, if any."""
    path = jn.journal_path(profile.data_dir)
    if not path.exists():
        return None
    with jn.Journal(path) as journal:
        found = journal.merges_with_key(merge_key)
    return found[0] if found else None


class MergeSendRunner(QObject):
    """One merge send in the background.

    Signals:
        started(str): the journal's merge id, once the merge is recorded.
        progressed(object): a ``Progress`` from the core sender.
        finished(object): a ``SendResult``; emitted last, also after a failure.
        failed(str): the send could not run; the text is for the user.
    """

    started = Signal(str)
    progressed = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, profile, request: SendRequest, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._profile = profile
        self._request = request
        self._send: MergeSend | None = None
        self._pause_requested = False
        self._merge_id = ""
        self._last: Progress | None = None
        self._result: SendResult | None = None
        self._job = BackgroundJob(self._steps, expected_errors=(jn.JournalError, MergeError, ValueError, OSError),
                                  name="merge-send", parent=self)
        self._job.progressed.connect(self._on_job_progressed)
        self._job.failed.connect(self.failed)
        self._job.finished.connect(self._on_job_finished)

    @property
    def request(self) -> SendRequest:
        return self._request

    def start(self) -> None:
        self._job.start()

    def is_running(self) -> bool:
        return self._job.is_running()

    def wait(self, milliseconds: int) -> bool:
        return self._job.wait(milliseconds)

    def pause(self) -> None:
        self._pause_requested = True
        if self._send is not None:
            self._send.pause()

    def resume(self) -> None:
        self._pause_requested = False
        if self._send is not None:
            self._send.resume()

    def cancel(self) -> None:
        """Stop after the messages in flight; the rest stay queued in the journal for a resume."""
        self._job.cancel()
        if self._send is not None:
            self._send.cancel()

    # --- the worker thread ----------------------------------------------------------

    def _steps(self, token) -> Iterator[object]:
        from desktop.merge.render import open_merge

        request = self._request
        merge = open_merge(request.template, request.data, profile=self._profile)
        if merge.merge_key != request.merge_key:
            raise MergeError(f"{request.template} or {request.data} changed after the check; check the merge again "
                             "before sending.")
        self._profile.ensure()
        journal_file = jn.journal_path(self._profile.data_dir)
        if request.options.test_to:
            record = self._record(journal_file, merge)
            yield from self._send_steps(token, journal_file, record, merge)
            return
        # Held until the send ends, so that no other send of these files reaches an address after the look-up of
        # other merges' sends in _record.
        with jn.TemplateLock(journal_file, merge.merge_key, request.resume_id) as template_lock:
            record = self._record(journal_file, merge)
            template_lock.set_merge_id(record.id)
            yield from self._send_steps(token, journal_file, record, merge)

    def _send_steps(self, token, journal_file: Path, record: jn.MergeRecord, merge) -> Iterator[object]:
        from desktop.send.smtp import SmtpSender

        request = self._request
        # A large send renders in a process of its own, so that rendering does not hold the interpreter lock
        # that the window's thread needs.
        options = replace(self._leave_out_errors(journal_file, record, merge), render_process=None)
        yield ("started", record.id)
        with ExitStack() as stack:
            copier, copies_line = self._copier(record) if request.options.sent_copies else (None, "")
            if copier is not None:
                stack.callback(copier.close)
            smtp = stack.enter_context(SmtpSender())
            send = MergeSend(account=request.account, merge=merge, journal_file=journal_file,
                             merge_id=record.id, options=options, smtp=smtp,
                             suppression=SuppressionList(self._profile),
                             store_copies=copier.keep if copier is not None else None)
            self._send = send
            if self._pause_requested:
                send.pause()
            if token.cancelled:
                send.cancel()
            for progress in send.run():
                if token.cancelled:
                    send.cancel()
                yield progress
            if copier is not None:
                copies_line = copier.append_now()
        with jn.Journal(journal_file) as journal:
            report = write_report(journal, record.id, merge)
            summary = summary_lines(journal, record.id)
        if request.left_out:
            summary.insert(1, f"Left out {pluralize(len(request.left_out), 'row')} with errors found by the "
                              "check; the report lists each with its error.")
        if copies_line:
            summary.append(copies_line)
        yield ("report", report, summary)

    def _leave_out_errors(self, journal_file: Path, record: jn.MergeRecord, merge) -> SendOptions:
        """Record the rows of ``request.left_out`` as skipped, with their error; return the options to send with.

        The sender passes over rows the journal has as done, so a test send of the first N rows that leaves out
        k of them sends N - k messages: the test count shrinks by k.
        """
        left_out = self._request.left_out
        options = self._request.options
        if not left_out:
            return options
        with jn.Journal(journal_file) as journal:
            skip_error_rows(journal, record.id, merge, list(left_out))
        log.info("Merge %s: left out %d row(s) with check errors", record.id, len(left_out))
        if options.test_to:
            return replace(options, test_count=options.test_count - len(left_out))
        return options

    def _copier(self, record: jn.MergeRecord):
        """Return ``(copier, "")`` for a real send that keeps Sent copies, else ``(None, reason)``.

        A test send keeps no copies and gives no reason, because it never keeps them.
        """
        if record.kind != jn.KIND_SEND:
            return None, ""
        copier, reason = open_sent_copier(self._profile, self._request.account)
        if copier is None:
            log.warning("Merge %s keeps no Sent copies: %s", record.id, reason)
            return None, reason
        return copier, ""

    def _record(self, journal_file: Path, merge) -> jn.MergeRecord:
        request = self._request
        with jn.Journal(journal_file) as journal:
            if request.resume_id:
                return self._resumed(journal, merge)
            options = request.options
            if request.rest is not None:
                record = record_rest(journal, merge, request.template, request.data, request.account.name, options,
                                     request.rest)
                log.info("Merge %s recorded from the window: %d rows, %d already sent before", record.id,
                         record.total, len(request.rest.rows))
                return record
            kind = jn.KIND_TEST if options.test_to else jn.KIND_SEND
            rows = len(merge.rows)
            total = min(rows, options.test_count) if kind == jn.KIND_TEST else rows
            record = journal.create_merge(
                kind=kind, merge_key=merge.merge_key, template=str(Path(request.template).resolve()),
                data=str(Path(request.data).resolve()), account=request.account.name, options=options.as_dict(),
                total=total,
            )
        log.info("Merge %s recorded from the window: %s, %d rows", record.id, kind, total)
        return record

    def _resumed(self, journal: jn.Journal, merge) -> jn.MergeRecord:
        """Return the merge to continue, after queueing the rows of unknown outcome and failed rows to retry."""
        request = self._request
        record = journal.merge(request.resume_id)
        if record.merge_key != merge.merge_key:
            raise MergeError(f"The template {record.template} or the data {record.data} changed since merge "
                             f"{record.id} started, so its rows no longer match. Restore the files, or send the new "
                             "version with Send, which offers to leave out the addresses that already got it.")
        if request.retry_unknown:
            # The lock keeps another process from sending the merge while its rows change state.
            with jn.MergeLock(journal.path, record.id):
                journal.recover(record.id)
                count = journal.requeue_unknown(record.id, request.retry_unknown)
            log.info("Merge %s: requeued %d of %d row(s) of unknown outcome from the window", record.id, count,
                     len(request.retry_unknown))
        if request.retry_failed:
            self._requeue_failed(journal, record.id)
        if record.kind == jn.KIND_SEND:
            skip_sent_elsewhere(journal, merge, Path(record.template), record)
        log.info("Merge %s resumed from the window", record.id)
        return record

    def _requeue_failed(self, journal: jn.Journal, merge_id: str) -> None:
        """Queue the failed rows of ``request.retry_failed`` again, as ``merge resume --retry-failed`` does.

        ``split_failed`` decides again under the lock, so a hard bounce whose address went onto the suppression
        list after the user chose the rows stays failed.
        """
        requested = set(self._request.retry_failed)
        with jn.MergeLock(journal.path, merge_id):
            retry, bounced = split_failed(journal, merge_id, SuppressionList(self._profile))
            count = journal.requeue_failed(merge_id, [row.row for row in retry if row.row in requested])
        still_bounced = [row.row for row in bounced if row.row in requested]
        log.info("Merge %s: requeued %d of %d failed row(s) from the window, and %d stay failed as suppressed hard "
                 "bounces", merge_id, count, len(requested), len(still_bounced))

    # --- the GUI thread --------------------------------------------------------------

    @Slot(object)
    def _on_job_progressed(self, step: object) -> None:
        if isinstance(step, Progress):
            self._last = step
            self.progressed.emit(step)
        elif step[0] == "started":
            self._merge_id = step[1]
            self.started.emit(step[1])
        elif step[0] == "report":
            self._result = SendResult(self._merge_id, self._last, step[1], step[2])

    @Slot()
    def _on_job_finished(self) -> None:
        self.finished.emit(self._result or SendResult(self._merge_id, self._last, Path(), []))
