"""Errors of the sync layer, each naming the account, the cause and the fix."""

from __future__ import annotations


class SyncError(RuntimeError):
    """Syncing one account failed. The message names the cause and what to do.

    Attributes:
        account: The account's name.
        cause: A short machine-readable cause: ``dns``, ``refused``, ``tls``,
            ``auth``, ``timeout``, ``credentials``, ``protocol``, ``network``
            or ``folder`` (a watched folder does not exist).
    """

    def __init__(self, account: str, cause: str, message: str) -> None:
        super().__init__(message)
        self.account = account
        self.cause = cause


class SyncFailures(RuntimeError):
    """Several accounts failed in one run; ``errors`` lists each one."""

    def __init__(self, errors: list[SyncError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors
