"""Errors and their stable exit codes.

Every user-facing failure is a :class:`WoGitError` subclass; the CLI prints its
message on one line to stderr and exits with the class's ``exit_code``.
The codes are a public contract (README, "Exit codes"):

====  ==================================================
0     success
1     domain error (unknown ticket, bad state, bad input)
2     usage error (click's own)
3     guard rejection
4     merge conflict
5     executor failure (could not start, failed, timed out)
6     stale ref: someone else moved a ref first (retry)
7     timed out, still running: wait again (``wait --timeout``)
130   interrupted
====  ==================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_GUARD = 3
EXIT_CONFLICT = 4
EXIT_EXECUTOR = 5
EXIT_STALE = 6
EXIT_TIMEOUT = 7
EXIT_INTERRUPTED = 130


class WoGitError(Exception):
    """A failure the user can act on; ``str(err)`` says what and what to do."""

    exit_code = EXIT_ERROR


class NotARepo(WoGitError):
    """The current directory is not inside a git repository."""


class TicketNotFound(WoGitError):
    """No ticket record ``refs/wo/tickets/NNNN`` exists for the id."""


class InvalidInput(WoGitError):
    """A slug, id, base, or option value is not acceptable."""


class InvalidConfig(WoGitError):
    """``.wo-git.toml`` does not parse or does not validate."""


class BadState(WoGitError):
    """The ticket is not in a state that allows the command."""


class StaleRef(WoGitError):
    """A compare-and-swap ref update lost: the ref moved since it was read."""

    exit_code = EXIT_STALE


class GuardRejected(WoGitError):
    """The guard found protected changes; the message lists each violation."""

    exit_code = EXIT_GUARD


class MergeConflict(WoGitError):
    """Merging the ticket into its base conflicts; nothing was changed."""

    exit_code = EXIT_CONFLICT


class ExecutorFailed(WoGitError):
    """The executor could not be started or its run failed."""

    exit_code = EXIT_EXECUTOR


MEANINGS = {
    EXIT_OK: "success",
    EXIT_ERROR: "error",
    EXIT_USAGE: "usage error",
    EXIT_GUARD: "guard rejection",
    EXIT_CONFLICT: "merge conflict",
    EXIT_EXECUTOR: "executor failure",
    EXIT_STALE: "stale ref, retry",
    EXIT_TIMEOUT: "timed out, still running: wait again",
    EXIT_INTERRUPTED: "interrupted",
}


def meaning(code: int) -> str:
    """The README's short meaning of an exit code (``"guard rejection"`` for 3)."""
    return MEANINGS.get(code, "internal error")
