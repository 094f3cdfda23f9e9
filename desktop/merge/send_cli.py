"""``sluice merge send | status | resume``: send a merge from the command line and report on it."""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import signal
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from desktop.config import ConfigError, load_config
from desktop.merge import journal as jn
from desktop.merge.errors import MergeError
from desktop.merge.rate import Rate, RateError, parse_rate
from desktop.merge.report import duration_text, summary_lines, write_report
from desktop.text import pluralize, sentence
from desktop.merge.sender import MergeSend, Progress, SendOptions, options_from_dict

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Without a terminal (a cron job, a pipe to tee) a progress line is printed at once when the state, the note or
# the wait for a retry changes. Otherwise a line follows at most every LOG_INTERVAL seconds while the counts move:
# enough to read the rate and where a send stopped, and an hour of sending adds at most 120 lines. While nothing
# moves (a pause, a rate limit), the line is repeated every LOG_IDLE_INTERVAL seconds to show the send is alive.
LOG_INTERVAL = 30.0
LOG_IDLE_INTERVAL = 300.0
# Seconds to wait for the IMAP server when Sent copies are appended right after a send.
APPEND_TIMEOUT = 30.0
# Addresses looked up in the journal per query when looking for recipients who already got a template.
_LOOKUP_BATCH = 500


def run(args: argparse.Namespace, profile) -> int:
    command = args.merge_command
    try:
        if command == "status":
            return status_command(args, profile)
        if command == "resume":
            return resume_command(args, profile)
        return send_command(args, profile)
    except (jn.JournalError, ConfigError, RateError, ValueError) as error:
        print(f"sluice merge {command}: {error}", file=sys.stderr)
        return EXIT_FAILED


# --- send ---------------------------------------------------------------------------


def send_command(args: argparse.Namespace, profile) -> int:
    """Start a merge (or continue it with --resume), or send test messages with --test-to."""
    from desktop.merge.render import open_merge

    config = load_config(profile.config_file)
    account = config.account(args.account)
    options = _options(args)
    try:
        merge = open_merge(args.template, args.data, profile=profile)
    except MergeError as error:
        print(f"sluice merge send: {error}", file=sys.stderr)
        return EXIT_FAILED
    errors = _check_before_send(merge, skip_errors=getattr(args, "skip_errors", False),
                                test_count=options.test_count if options.test_to else 0)
    if errors is None:
        return EXIT_FAILED
    profile.ensure()
    with jn.Journal(jn.journal_path(profile.data_dir)) as journal, ExitStack() as locks:
        if options.test_to:
            record = _create(journal, merge, args, account.name, options, kind=jn.KIND_TEST)
            verb = "goes" if record.total == 1 else "go"
            print(f"Test send {record.id}: the first {pluralize(record.total, 'message')} {verb} to {options.test_to}, "
                  "marked [TEST].")
            skip_error_rows(journal, record.id, merge, errors)
            # The sender passes over rows the journal has as done, so N rows with k left out send N - k messages.
            options.test_count -= len(errors)
            code = _send(profile, journal, record, account, merge, options, copies=False)
            return EXIT_FAILED if errors else code
        # Held until the send ends, so that no other send of these files reaches an address after the look-up of
        # earlier sends below.
        template_lock = locks.enter_context(jn.TemplateLock(journal.path, merge.merge_key))
        earlier = journal.merges_with_key(merge.merge_key)
        if earlier and not (args.resume or args.new):
            print(_already_sent_text(journal, earlier[0]), file=sys.stderr)
            return EXIT_FAILED
        overlap = None if earlier or args.new else find_already_sent(journal, merge, Path(args.template))
        if overlap and not args.resume:
            print(f"sluice merge send: {overlap.describe()} Nothing was sent now. Send only to the addresses that "
                  "have not got it yet with --resume, or send to everyone again with --new.", file=sys.stderr)
            return EXIT_FAILED
        if args.resume and earlier:
            record = earlier[0]
            options = _options(args, options_from_dict(record.options))
            print(f"Resuming merge {record.id} ({record.total} recipients).")
            _print_skipped_elsewhere(skip_sent_elsewhere(journal, merge, Path(args.template), record))
        elif args.resume and not overlap:
            print("sluice merge send: This template was not sent to any address of this data before, so there is "
                  "nothing to resume. Run the command without --resume.", file=sys.stderr)
            return EXIT_FAILED
        elif overlap:
            record = record_rest(journal, merge, Path(args.template), Path(args.data), account.name, options, overlap)
            print(f"Merge {record.id}: {pluralize(record.total, 'recipient')} from {args.data.name} "
                  f"via account {account.name}.")
            left_out = len({problem.row for problem in errors} - set(overlap.rows))
            rest = f"sending the other {record.total - len(overlap.rows) - left_out}"
            if left_out:
                verb = "is" if left_out == 1 else "are"
                rest += f" ({pluralize(left_out, 'more row')} with errors {verb} left out)"
            print(f"Leaving out the {pluralize(len(overlap.rows), 'row')} whose address already got this template; "
                  f"{rest}.")
        else:
            record = _create(journal, merge, args, account.name, options, kind=jn.KIND_SEND)
            print(f"Merge {record.id}: {pluralize(record.total, 'recipient')} from {args.data.name} "
                  f"via account {account.name}.")
        template_lock.set_merge_id(record.id)
        if getattr(args, "retry_unknown", False):
            _requeue(journal, record.id)
        if getattr(args, "retry_failed", False):
            _requeue_failed(journal, record, profile)
        if errors:
            # Said only now, once it is sure that something is sent.
            print(f"Leaving out {pluralize(len(errors), 'row')} with errors (--skip-errors).")
        skip_error_rows(journal, record.id, merge, errors)
        code = _send(profile, journal, record, account, merge, options, copies=options.sent_copies)
        return EXIT_FAILED if errors else code


def skip_error_rows(journal: jn.Journal, merge_id: str, merge, errors: list) -> None:
    """Record the rows with errors as skipped, with the error, so the send leaves them out."""
    for problem in errors:
        cell = merge.row(problem.row).get(merge.address_column or "", "")
        reason = f"column {problem.column!r}: {problem.message}" if problem.column else problem.message
        journal.mark_skipped(merge_id, problem.row, f"{problem.row}:{cell.lower()}", cell, reason)


def _check_before_send(merge, *, skip_errors: bool, test_count: int = 0) -> list | None:
    """Check every row as ``merge check`` does; return the error problems, one per row, or None to stop the send.

    With errors the send stops unless ``skip_errors`` is set, and then the rows with errors are left out. A test
    send (``test_count`` above 0) looks only at its first ``test_count`` rows: errors in later rows do not stop
    it, and its rows with errors are left out unless every one of them has errors.
    """
    report = merge.check()
    if test_count:
        return _check_test_rows(merge, report, test_count)
    if report.errors and not skip_errors:
        for line in report.lines():
            print(line, file=sys.stderr)
        print("sluice merge send: Nothing was sent. Fix the errors above, or pass --skip-errors to send only the "
              "rows without errors.", file=sys.stderr)
        return None
    first_of_row = {}
    for problem in report.errors:
        first_of_row.setdefault(problem.row, problem)
    return list(first_of_row.values())


def _check_test_rows(merge, report, test_count: int) -> list | None:
    """Return one error of each of the first ``test_count`` rows that has errors, or None when all of them have."""
    from desktop.merge.check import grouped_lines

    numbers = merge.rows.numbers
    tested = {numbers[index] for index in range(min(test_count, len(numbers)))}
    first_of_row = {}
    for problem in report.errors:
        if problem.row in tested:
            first_of_row.setdefault(problem.row, problem)
    if first_of_row and len(first_of_row) == len(tested):
        for line in grouped_lines(first_of_row.values()):
            print(f"error: {line}", file=sys.stderr)
        print(f"sluice merge send: Nothing was sent. Each of the first {pluralize(len(tested), 'row')} has errors; "
              "fix them, or raise --test-count to include rows without errors.", file=sys.stderr)
        return None
    if first_of_row:
        reason = "it has errors" if len(first_of_row) == 1 else "they have errors"
        print(f"Leaving out {len(first_of_row)} of the first {pluralize(len(tested), 'row')}, because {reason}.")
    return list(first_of_row.values())


def resume_command(args: argparse.Namespace, profile) -> int:
    """Continue a merge by id with the template, data and options it was started with."""
    from desktop.merge.render import open_merge

    with jn.Journal(jn.journal_path(profile.data_dir)) as journal, ExitStack() as locks:
        record = journal.merge(args.merge_id)
        config = load_config(profile.config_file)
        account = config.account(record.account)
        try:
            merge = open_merge(Path(record.template), Path(record.data), profile=profile)
        except MergeError as error:
            print(f"sluice merge resume: {error}", file=sys.stderr)
            return EXIT_FAILED
        if merge.merge_key != record.merge_key:
            print(
                f"sluice merge resume: The template {record.template} or the data {record.data} changed since merge "
                f"{record.id} started, so its rows no longer match. Restore the files and resume, or send the new "
                f"version only to the addresses that have not got this template: {_rest_command(record)}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        options = _options(args, options_from_dict(record.options))
        if record.kind == jn.KIND_SEND:
            # Held until the send ends, so that no other send of these files reaches an address after the look-up
            # of other merges' sends below.
            locks.enter_context(jn.TemplateLock(journal.path, record.merge_key, record.id))
        if args.retry_unknown:
            _requeue(journal, record.id)
        if args.retry_failed:
            _requeue_failed(journal, record, profile)
        print(f"Resuming merge {record.id} ({record.total} recipients).")
        if record.kind == jn.KIND_SEND:
            _print_skipped_elsewhere(skip_sent_elsewhere(journal, merge, Path(record.template), record))
        copies = options.sent_copies and record.kind == jn.KIND_SEND
        return _send(profile, journal, record, account, merge, options, copies=copies)


def _print_skipped_elsewhere(count: int) -> None:
    if count:
        print(f"Leaving out {pluralize(count, 'row')} whose address got this template in another merge since.")


def _rest_command(record: jn.MergeRecord) -> str:
    """Return the command that sends a merge's template and data to the addresses that have not got it yet."""
    return (f"sluice merge send {shlex.quote(record.template)} {shlex.quote(record.data)} "
            f"--account {shlex.quote(record.account)} --resume")


def _options(args: argparse.Namespace, base: SendOptions | None = None) -> SendOptions:
    options = base or SendOptions()
    rate = options.rate
    if getattr(args, "rate", None):
        rate = parse_rate(args.rate, Rate(pause_every=rate.pause_every, pause_seconds=rate.pause_seconds,
                                          jitter=rate.jitter))
    if getattr(args, "pause", None):
        every, seconds = _parse_pause(args.pause)
        rate = Rate(rate.per_minute, rate.per_hour, rate.per_day, every, seconds, rate.jitter)
    if getattr(args, "jitter", None) is not None:
        if not 0 <= args.jitter <= 1:
            raise ValueError(f"--jitter {args.jitter} is invalid; use a fraction from 0 to 1, such as 0.3.")
        rate = Rate(rate.per_minute, rate.per_hour, rate.per_day, rate.pause_every, rate.pause_seconds, args.jitter)
    options.rate = rate
    if getattr(args, "connections", None):
        options.connections = args.connections
    if getattr(args, "test_to", None):
        options.test_to = args.test_to
        options.test_count = args.test_count
    if getattr(args, "no_sent_copy", False):
        options.sent_copies = False
    options.validate()
    return options


def _parse_pause(text: str) -> tuple[int, float]:
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+(?:\.\d+)?)\s*", text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"--pause {text!r} is invalid; write MESSAGES:SECONDS, such as 50:30 for a 30 s pause "
                         "after every 50 messages.")
    return int(match.group(1)), float(match.group(2))


def _create(journal: jn.Journal, merge, args, account: str, options: SendOptions, *, kind: str) -> jn.MergeRecord:
    total = min(len(merge), options.test_count) if kind == jn.KIND_TEST else len(merge)
    return journal.create_merge(
        kind=kind, merge_key=merge.merge_key, template=str(Path(args.template).resolve()),
        data=str(Path(args.data).resolve()), account=account, options=options.as_dict(), total=total,
    )


@dataclass(frozen=True)
class AlreadySent:
    """Rows of a new merge whose address already got the same template in an earlier merge.

    Attributes:
        rows: Row number to (row key, address, id of the earlier merge that sent to it).
        merges: The earlier merges involved, newest first.
        total: Rows of the new merge.
    """

    rows: dict[int, tuple[str, str, str]]
    merges: list[jn.MergeRecord]
    total: int

    def describe(self) -> str:
        """Return a sentence with how many recipients already got the template, in which merges and when."""
        counts = Counter(merge_id for _, _, merge_id in self.rows.values())
        involved = [record for record in self.merges if counts[record.id]]
        parts = []
        for record in involved:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
            share = f", {counts[record.id]} of them" if len(involved) > 1 else ""
            parts.append(f"merge {record.id} (started {started}{share})")
        where = ", ".join(parts)
        return f"{len(self.rows)} of the {self.total} rows go to addresses that already got this template in {where}."

    def skip_in(self, journal: jn.Journal, merge_id: str) -> None:
        """Record the rows as skipped in the new merge ``merge_id``, so the send leaves them out."""
        for number, (key, address, earlier_id) in sorted(self.rows.items()):
            journal.mark_skipped(merge_id, number, key, address, f"already sent in merge {earlier_id}")
        log.info("Merge %s: skipped %d row(s) already sent from the same template", merge_id, len(self.rows))


def find_already_sent(journal: jn.Journal, merge, template: Path, *, exclude: str | None = None,
                      since: float | None = None) -> AlreadySent | None:
    """Find the rows of ``merge`` whose address got this template in an earlier merge, or None if there are none.

    ``exclude`` names a merge that does not count (the one being resumed, whose own rows its journal tracks).
    With ``since`` (Unix time) only messages whose send started at or after it count.

    An earlier merge counts when its template has the same resolved path, or when the file at its recorded path
    has the same content as ``template`` now. Sent and unknown rows count (see ``Journal.sent_to``), failed
    ones do not. Rows that the check reports as errors or as suppressed never count, so a row that repeats an
    earlier row's address counts as an error even when that address got the template before.
    """
    from desktop.merge.check import scan_rows

    resolved = str(template.resolve())
    source = merge.template.source_bytes
    related = [record for record in journal.merges()
               if record.kind == jn.KIND_SEND and record.id != exclude
               and (record.template == resolved or _same_file(record.template, source))]
    if not related:
        return None
    merge_ids = [record.id for record in related]
    rows: dict[int, tuple[str, str, str]] = {}
    batch: list[tuple[int, str]] = []
    for number, prepared, problem in scan_rows(merge):
        if problem is not None:
            continue
        batch.append((number, prepared.primary))
        if len(batch) == _LOOKUP_BATCH:
            _match_sent(journal, merge_ids, batch, rows, since)
            batch = []
    _match_sent(journal, merge_ids, batch, rows, since)
    if not rows:
        return None
    return AlreadySent(rows, related, len(merge))


def skip_sent_elsewhere(journal: jn.Journal, merge, template: Path, record: jn.MergeRecord) -> int:
    """Before ``record`` is resumed, skip its rows whose address another send of this template reached meanwhile.

    Without this, resuming a merge after a second merge of the same template (a rest-only send of a changed data
    file, say) sent those addresses the message again. Only messages whose send started after ``record`` was
    created count: an address that an earlier merge reached before then is what a deliberate second send
    (``--new``) is for. Rows the merge already finished keep their state; only queued rows are skipped. Return
    how many rows were skipped.
    """
    overlap = find_already_sent(journal, merge, template, exclude=record.id, since=record.created)
    if overlap is None:
        return 0
    before = journal.counts(record.id)[jn.SKIPPED]
    overlap.skip_in(journal, record.id)
    skipped = journal.counts(record.id)[jn.SKIPPED] - before
    if skipped:
        log.info("Merge %s: skipped %d row(s) that another merge of the same template sent", record.id, skipped)
    return skipped


def _match_sent(journal: jn.Journal, merge_ids: list[str], batch: list[tuple[int, str]],
                rows: dict[int, tuple[str, str, str]], since: float | None = None) -> None:
    """Add to ``rows`` the rows of ``batch`` (row number, address) whose address one of ``merge_ids`` sent to.

    With ``since`` only sends started at or after that Unix time count.
    """
    sent = journal.sent_to(merge_ids, (address for _, address in batch), since=since)
    for number, primary in batch:
        merge_id = sent.get(primary.lower())
        if merge_id is not None:
            rows[number] = (f"{number}:{primary.lower()}", primary, merge_id)


def record_rest(journal: jn.Journal, merge, template: Path, data: Path, account: str, options: SendOptions,
                overlap: AlreadySent) -> jn.MergeRecord:
    """Record a new send of ``merge`` whose rows in ``overlap`` are skipped as already sent; return it.

    Sending that merge (by its id) then reaches only the addresses the earlier merges did not.
    """
    record = journal.create_merge(
        kind=jn.KIND_SEND, merge_key=merge.merge_key, template=str(template.resolve()), data=str(data.resolve()),
        account=account, options=options.as_dict(), total=len(merge),
    )
    overlap.skip_in(journal, record.id)
    return record


def _same_file(path: str, source: bytes) -> bool:
    try:
        return Path(path).read_bytes() == source
    except OSError:
        return False


def _already_sent_text(journal: jn.Journal, record: jn.MergeRecord) -> str:
    counts = journal.counts(record.id)
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
    state = jn.shown_state(journal.path, record)
    sent_before = (f"sluice merge send: This template and data were sent before as merge {record.id} ({created}, "
                   f"{state}: {counts[jn.SENT]} of {record.total} sent). Nothing was sent now.")
    if state == jn.FINISHED:
        return f"{sent_before} That merge is finished; to send every message again as a new merge, add --new."
    return f"{sent_before} Continue that merge with --resume, or send every message again as a new merge with --new."


def _requeue(journal: jn.Journal, merge_id: str) -> None:
    journal.recover(merge_id)
    count = journal.requeue_unknown(merge_id)
    sent_again = "it is sent again now" if count == 1 else "they are sent again now"
    print(f"Requeued {pluralize(count, 'row')} of unknown outcome; {sent_again}.")


def split_failed(journal: jn.Journal, merge_id: str,
                 suppression) -> tuple[list[jn.RecipientRecord], list[jn.RecipientRecord]]:
    """Return the failed rows of a merge as (rows to send again, hard bounces that stay failed).

    A failed row was rejected by the server, so sending it again reaches nobody twice. A hard bounce ("user
    unknown" and the like, see ``classify_reply``) stays failed while its address is on ``suppression``, the
    profile's ``SuppressionList``, where the bounce put it.
    """
    suppressed = suppression.addresses()
    retry: list[jn.RecipientRecord] = []
    bounced: list[jn.RecipientRecord] = []
    for row in journal.recipients(merge_id, [jn.FAILED]):
        if _is_hard_bounce(row.reply) and row.address.lower() in suppressed:
            bounced.append(row)
        else:
            retry.append(row)
    return retry, bounced


def _is_hard_bounce(reply: str) -> bool:
    """Return whether a recorded reply such as "550 5.1.1 No such user" is a hard bounce: the address does not exist."""
    from desktop.merge.sender import OUTCOME_BOUNCE, classify_reply

    match = re.match(r"(\d{3})[ -](.*)", reply, re.DOTALL)
    return match is not None and classify_reply(int(match.group(1)), match.group(2)) == OUTCOME_BOUNCE


def _requeue_failed(journal: jn.Journal, record: jn.MergeRecord, profile) -> None:
    """Queue the failed rows of ``record`` again for ``--retry-failed``, except hard bounces, and print how many."""
    from desktop.merge.check import describe_rows
    from desktop.merge.suppress import SuppressionList

    # The lock keeps another process from sending the merge while its rows change state.
    with jn.MergeLock(journal.path, record.id):
        retry, bounced = split_failed(journal, record.id, SuppressionList(profile))
        count = journal.requeue_failed(record.id, [row.row for row in retry])
    if count:
        sent_again = "it is sent again now" if count == 1 else "they are sent again now"
        print(f"Requeued {pluralize(count, 'failed row')}; {sent_again}.")
    else:
        print("No failed row can be sent again.")
    if bounced:
        verb = "stays" if len(bounced) == 1 else "stay"
        addresses = sorted({row.address for row in bounced})
        named = addresses[0] if len(addresses) == 1 else "ADDRESS"
        print(f"{pluralize(len(bounced), 'failed row')} ({describe_rows([row.row for row in bounced])}) {verb} "
              "failed, because the server replied that the address does not exist and the address is on the "
              "suppression list. To send to such an address anyway, take it off the list with: "
              f"sluice merge suppress remove {named}")


def _print_retry_failed(journal: jn.Journal, record: jn.MergeRecord, profile) -> None:
    """Name the command that sends the failed rows of ``record`` again, when any of them may be retried."""
    from desktop.merge.suppress import SuppressionList

    retry, _ = split_failed(journal, record.id, SuppressionList(profile))
    if not retry:
        return
    rows = "The 1 failed row was" if len(retry) == 1 else f"The {len(retry)} failed rows were"
    print(f"{rows} rejected by the server, so sending again reaches nobody twice. Once the cause is fixed (a "
          f"full mailbox, a server that was down), send again with: sluice merge resume {record.id} --retry-failed")


def _send(profile, journal: jn.Journal, record: jn.MergeRecord, account, merge, options: SendOptions, *,
          copies: bool) -> int:
    from desktop.merge.suppress import SuppressionList
    from desktop.send.smtp import SmtpSender

    if not account.smtp_host:
        print(f"sluice merge: Account {account.name!r} has no SMTP server; set smtp_host in config.toml.", file=sys.stderr)
        return EXIT_FAILED
    if copies:
        copies = _account_wants_copies(profile, account)
    with ExitStack() as stack:
        copier = SentCopier(profile, account) if copies else None
        if copier is not None:
            stack.callback(copier.close)
        if copier is not None and copier.folder_id is None:
            print(copier.reason)
            copier = None
        smtp = stack.enter_context(SmtpSender())
        send = MergeSend(
            account=account, merge=merge, journal_file=journal.path, merge_id=record.id, options=options,
            smtp=smtp, suppression=SuppressionList(profile), store_copies=copier.keep if copier else None,
        )
        if copier is not None:
            _copy_missing(copier, journal, record.id, merge)
        limits = options.rate.describe()
        limits = "no rate limit" if limits == "no limit" else f"rate {limits}"
        _print(f"Sending over {pluralize(options.connections, 'connection')}, {limits}. "
               "Ctrl+C stops after the messages in flight.")
        final = _run_with_signals(send)
        if copier is not None:
            # Rows that the send's recovery settled as sent from the wire log of a killed run get their copy now.
            _copy_missing(copier, journal, record.id, merge)
            print(copier.append_now())
    report = write_report(journal, record.id, merge)
    for line in summary_lines(journal, record.id):
        print(line)
    failed = journal.counts(record.id)[jn.FAILED]
    unknown = journal.recipients(record.id, [jn.UNKNOWN])
    if len(unknown) == 1:
        print("The 1 row of unknown outcome may have reached its recipient and is not resent. "
              f"Check with the recipient, then send it with: sluice merge resume {record.id} --retry-unknown")
    elif unknown:
        print(f"The {len(unknown)} rows of unknown outcome may have reached their recipients and are not resent. "
              f"Check with the recipients, then send them with: sluice merge resume {record.id} --retry-unknown")
    _print_retry_failed(journal, record, profile)
    if final is not None and final.state != jn.FINISHED:
        stopped = _stop_text(final.note, final.remaining)
        if merge.table.changed():
            print(f"{stopped} Put the data file back as it was and continue with "
                  f"'sluice merge resume {record.id}', or send the changed file only to the addresses that have "
                  f"not got this template: {_rest_command(record)}")
        else:
            print(f"{stopped} Continue with: sluice merge resume {record.id}")
    print(f"Report: {report}")
    finished = final is not None and final.state == jn.FINISHED
    return EXIT_OK if finished and not failed else EXIT_FAILED


def _stop_text(note: str, remaining: int) -> str:
    """Return why a send stopped and how many rows it has not sent, as one or two sentences.

    A note that names who stopped the send (``stopped by the user (Ctrl+C)``) starts the text, so that it does
    not read "Stopped: stopped by ...".
    """
    reason = note[:1].upper() + note[1:] if note.startswith("stopped ") else f"Stopped: {note}"
    if not remaining or note.endswith("not sent"):
        return sentence(reason)
    if ";" in note or note.endswith((".", "!", "?")):
        verb = "is" if remaining == 1 else "are"
        return f"{sentence(reason)} {pluralize(remaining, 'row')} {verb} not sent yet."
    return f"{reason}; {pluralize(remaining, 'row')} not sent yet."


def _copy_missing(copier: SentCopier, journal: jn.Journal, merge_id: str, merge) -> None:
    """Store the Sent copies an interrupted run missed; a data file changed since opening leaves them for later."""
    try:
        copier.copy_missing(journal, merge_id, merge)
    except MergeError as error:
        log.warning("Merge %s: the missing Sent copies were not made: %s", merge_id, error)
        print(f"The Sent copies of earlier runs were not made: {sentence(error)} They are made at the next resume.")


def _account_wants_copies(profile, account) -> bool:
    """Apply the account's sent_copy setting: never, always, or auto (not where the server files sent mail)."""
    from desktop.compose.sending import wants_sent_copy
    from desktop.store import Store

    with Store(profile.store_file) as store:
        wanted = wants_sent_copy(account, store)
    if not wanted:
        print(f"No Sent copies: account {account.name!r} has sent_copy = {account.sent_copy!r}"
              + (" and its server files sent mail itself." if account.sent_copy == "auto" else "."))
    return wanted


def _run_with_signals(send: MergeSend) -> Progress | None:
    """Run the send, printing progress; the first Ctrl+C or SIGTERM stops it cleanly, the second at once."""
    stops = 0

    def on_signal(number: int, frame) -> None:  # noqa: ANN001 - signal handler signature
        nonlocal stops
        stops += 1
        if stops > 1:
            raise KeyboardInterrupt
        print("\nStopping after the messages in flight (Ctrl+C again to stop at once; those become unknown).",
              file=sys.stderr)
        send.cancel("stopped by the user (Ctrl+C)" if number == signal.SIGINT else "stopped by SIGTERM")

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    final = None
    interactive = sys.stdout.isatty()
    progress_log = ProgressLog()
    try:
        for progress in send.run():
            final = progress
            if interactive:
                # "\x1b[K" clears the rest of the line, left over from a longer line before.
                print("\r" + _progress_text(progress) + "\x1b[K", end="", flush=True)
                continue
            line = progress_log.line(progress, time.monotonic())
            # The final snapshot (finished or stopped) is printed after the loop, as on a terminal.
            if line is not None and progress.state not in (jn.FINISHED, jn.STOPPED):
                print(line, flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if interactive:
        print()
    if final is not None:
        # The stop message after the summary gives the reason of a stopped send.
        print(_progress_text(replace(final, note="") if final.state == jn.STOPPED else final))
    return final


class ProgressLog:
    """Filter for the progress snapshots that get a line when the output is not a terminal (see ``LOG_INTERVAL``)."""

    def __init__(self, interval: float = LOG_INTERVAL, idle_interval: float = LOG_IDLE_INTERVAL) -> None:
        self.interval = interval
        self.idle_interval = idle_interval
        self._event: tuple | None = None
        self._counts: tuple | None = None
        self._printed_at: float | None = None

    def line(self, progress: Progress, now: float) -> str | None:
        """Return the line to print for ``progress`` at ``now`` (``time.monotonic()``), or None to print nothing."""
        event = (progress.state, progress.note, _only_retries_left(progress))
        counts = (progress.sent, progress.failed, progress.unknown, progress.skipped)
        since = None if self._printed_at is None else now - self._printed_at
        moved = counts != self._counts and (since is None or since >= self.interval)
        if event == self._event and not moved and since is not None and since < self.idle_interval:
            return None
        self._event, self._counts, self._printed_at = event, counts, now
        return _progress_text(progress)


def _only_retries_left(progress: Progress) -> bool:
    """Return whether every row left waits for a retry after a temporary failure."""
    return progress.remaining > 0 and len(progress.retry_waits) >= progress.remaining


def _progress_text(progress: Progress) -> str:
    text = (f"{progress.state}: {progress.sent} sent, {progress.failed} failed, {progress.remaining} remaining "
            f"of {progress.total}, {progress.per_minute:.0f}/min")
    if _only_retries_left(progress):
        text += f", {_retry_text(progress.retry_waits)}"
    elif progress.seconds_left is not None and progress.remaining > 0 and progress.state != jn.STOPPED:
        text += f", about {duration_text(progress.seconds_left)} left"
    return f"{text} ({progress.note})" if progress.note else text


def _retry_text(waits: tuple[tuple[float, str], ...]) -> str:
    """Return when the first of the rows in ``waits`` (soonest first) is retried, and why it waits."""
    seconds, reply = waits[0]
    if len(waits) == 1:
        return f"1 row waits to be retried in {duration_text(seconds)} ({reply})"
    return f"{len(waits)} rows wait to be retried, the first in {duration_text(seconds)} ({reply})"


def _print(text: str) -> None:
    print(text, flush=True)


# --- Sent copies -------------------------------------------------------------------------


class SentCopier:
    """Stores copies of sent messages in the account's Sent folder, then appends them on the server.

    Copies go through the store's journal (``append_message``), so a copy that
    cannot reach the server now is appended at the next ``sluice sync``.
    """

    def __init__(self, profile, account) -> None:
        from desktop.store import Store

        self.account = account
        self.store = Store(profile.store_file)
        self.folder_id = None
        self.reason = ""
        self.count = 0
        folders = [folder for folder in self.store.folders(account.name, with_counts=False)
                   if folder.special_use == "\\Sent"]
        if not folders:
            folders = [folder for folder in self.store.folders(account.name, with_counts=False)
                       if folder.name.lower() in ("sent", "sent items", "sent messages", "inbox.sent")]
        if folders:
            self.folder_id = folders[0].id
        else:
            self.reason = (f"No Sent folder of account {account.name!r} is in the store yet, so no copies are kept. "
                           f"Run 'sluice sync --account {account.name}' once before sending to keep them.")
            log.warning("Merge send: %s", self.reason)

    def close(self) -> None:
        self.store.close()

    def keep(self, batch: list[tuple[int, bytes]]) -> None:
        for _, data in batch:
            self.store.append_message(self.folder_id, data, flags=("\\Seen",))
        self.count += len(batch)

    def copy_missing(self, journal: jn.Journal, merge_id: str, merge) -> None:
        """Store the copies that an interrupted run did not store, re-rendered with their recorded Message-ID and Date."""
        missing = {row.row: row for row in journal.recipients(merge_id, [jn.SENT]) if not row.copied}
        if not missing:
            return
        from desktop.merge.errors import RowError
        from desktop.merge.sender import wire_bytes

        done = []
        for row in merge.rows:
            number = int(getattr(row, "number", row))
            record = missing.get(number)
            if record is None:
                continue
            try:
                rendered = merge.render(row)
            except RowError as error:
                log.warning("Merge %s: the Sent copy of row %d cannot be made again: %s", merge_id, number, error)
                continue
            data = wire_bytes(rendered, record.message_id, record.date)
            self.store.append_message(self.folder_id, data, flags=("\\Seen",))
            done.append(number)
        journal.mark_copied(merge_id, done)
        self.count += len(done)
        log.info("Merge %s: stored %d Sent copies missed by an earlier run", merge_id, len(done))

    def append_now(self) -> str:
        """Append the stored copies on the server now; return a line for the user."""
        if not self.count:
            return "No Sent copies to append."
        from imapclient.exceptions import IMAPClientError

        from desktop.sync.actions import replay_account
        from desktop.sync.connection import connect
        from desktop.sync.errors import SyncError
        from desktop.sync.service import logout

        account_row = next((row for row in self.store.accounts() if row.name == self.account.name), None)
        try:
            client = connect(self.account, timeout=APPEND_TIMEOUT)
        except SyncError as error:
            log.warning("Sent copies of account %s stay queued: %s", self.account.name, error)
            return f"Stored {self.count} Sent copies; they reach the server at the next 'sluice sync' ({error})."
        try:
            replay_account(client, self.store, account_row.id)
        except (OSError, IMAPClientError) as error:
            log.warning("Appending the Sent copies of account %s stopped: %s", self.account.name, error)
            return f"Stored {self.count} Sent copies; the rest reach the server at the next 'sluice sync' ({error})."
        finally:
            logout(client, self.account)
        return f"Appended {self.count} Sent copies to the server."


# --- status --------------------------------------------------------------------------------


def status_command(args: argparse.Namespace, profile) -> int:
    """List every merge, or show one merge's rows."""
    path = jn.journal_path(profile.data_dir)
    if not path.exists():
        print("No merges yet. Start one with: sluice merge send TEMPLATE DATA --account NAME")
        return EXIT_OK
    with jn.Journal(path) as journal:
        if args.merge_id:
            return _show_merge(journal, args.merge_id, profile)
        records = journal.merges()
        if not records:
            print("No merges yet. Start one with: sluice merge send TEMPLATE DATA --account NAME")
            return EXIT_OK
        width = max(len("ACCOUNT"), *(len(record.account) for record in records))
        print(f"{'ID':<14} {'KIND':<5} {'STATE':<11} {'CREATED':<16} {'SENT':>6} {'FAILED':>6} {'UNKNOWN':>7} "
              f"{'TOTAL':>6}  {'ACCOUNT':<{width}}  TEMPLATE")
        interrupted = False
        for record in records:
            counts = journal.counts(record.id)
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
            state = jn.shown_state(journal.path, record)
            interrupted = interrupted or state == jn.INTERRUPTED
            print(f"{record.id:<14} {record.kind:<5} {state:<11} {created:<16} {counts[jn.SENT]:>6} "
                  f"{counts[jn.FAILED]:>6} {counts[jn.UNKNOWN]:>7} {record.total:>6}  {record.account:<{width}}  "
                  f"{Path(record.template).name}")
        if interrupted:
            print(f"An {jn.INTERRUPTED} merge stopped before it finished because its process ended. "
                  "Continue it with: sluice merge resume MERGE-ID")
    return EXIT_OK


def _show_merge(journal: jn.Journal, merge_id: str, profile) -> int:
    record = journal.merge(merge_id)
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
    state = jn.shown_state(journal.path, record)
    if record.note.startswith(f"{state} "):
        print(f"Merge {record.id} ({record.kind}), {record.note}")  # "stopped by the user", not "stopped: stopped by"
    else:
        print(f"Merge {record.id} ({record.kind}), {state}{': ' + record.note if record.note else ''}")
    if state == jn.INTERRUPTED:
        print(f"  Its process ended before it finished. Continue with: sluice merge resume {record.id}")
    print(f"  created {created}, account {record.account}")
    print(f"  template {record.template}")
    print(f"  data {record.data}")
    for line in summary_lines(journal, merge_id):
        print(line)
    if record.kind == jn.KIND_SEND and state != jn.RUNNING:
        _print_retry_failed(journal, record, profile)
    rows = journal.recipients(merge_id)
    if rows:
        print(f"{'ROW':>5} {'STATE':<8} {'TRIES':>5}  ADDRESS / MESSAGE-ID / REPLY")
        for row in rows:
            print(f"{row.row:>5} {row.state:<8} {row.attempts:>5}  {row.address}  {row.message_id}  {row.reply}")
    print(f"Report: {write_report(journal, merge_id, _open_recorded(record, profile))}")
    return EXIT_OK


def _open_recorded(record: jn.MergeRecord, profile):
    """Open the template and data of ``record`` for its report; return None, saying why, when they changed."""
    from desktop.merge.render import open_merge

    try:
        merge = open_merge(Path(record.template), Path(record.data), profile=profile)
        if merge.merge_key == record.merge_key:
            return merge
        reason = "the template or the data changed since the merge started."
    except MergeError as error:
        reason = sentence(str(error))
    print(f"The report lists only the rows in the journal, because {reason}")
    return None
