"""Logging set-up: a log file in the profile, warnings on the terminal.

Every handler gets a filter that hides credentials in protocol traces
(IMAP LOGIN and AUTHENTICATE, SMTP AUTH), so a debug log can be shared.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

# Protocol commands are matched in capitals, as imapclient, imaplib and
# smtplib send them, so that sentences such as "Login to host failed" stay readable.
_SECRETS = [
    # IMAP: "tag LOGIN user password" and "tag AUTHENTICATE MECH initial-response".
    re.compile(r"(\bLOGIN\s+)(\S+\s+)?\S+"),
    re.compile(r"(\bAUTHENTICATE\s+\S+\s+)\S+"),
    # SMTP: "AUTH PLAIN xxx" / "AUTH LOGIN xxx".
    re.compile(r"(\bAUTH\s+(?:PLAIN|LOGIN|XOAUTH2|OAUTHBEARER|CRAM-MD5)\s+)\S+"),
]


def redact(text: str) -> str:
    """Return ``text`` with credentials in protocol lines replaced by ``****``."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda match: match.group(1) + "****", text)
    return text


class RedactingFilter(logging.Filter):
    """Replace credentials in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def setup_logging(log_file: Path | None, *, verbose: bool = False) -> None:
    """Log to ``log_file`` (debug with ``verbose``, else info); to stderr only with ``verbose``.

    Without ``verbose`` the terminal shows what the commands print for the
    user, each failure once, and the log file keeps the details.
    """
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    redactor = RedactingFilter()
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console.addFilter(redactor)
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        handler.addFilter(redactor)
        root.addHandler(handler)
    # imapclient's protocol trace is very verbose; it shows only with -v.
    logging.getLogger("imapclient").setLevel(logging.DEBUG if verbose else logging.WARNING)
