"""``wait`` and ``accept`` for tickets that live on a remote and run elsewhere.

**wait.** A ticket that is open here and not running here is being (or will
be) run by a worker on another machine. Instead of the run lock, wait asks
the remote for the records' current values with one ``git ls-remote
REMOTE refs/wo/tickets/NNNN...`` per round (no objects move), sleeping
between rounds with exponential backoff (0.25 s growing by half up to
:data:`MAX_BACKOFF`); when a record moved, one ``fetch`` brings it in and the
ticket's state is read again. No model is in the loop: the architect's
``wo-git wait`` process does all of it. Tickets running here are waited on
by :func:`wo_git.tickets.packet.wait_for` unchanged.

**accept.** From any clone: fetch, check this clone's record equals the
remote's, accept locally (:func:`wo_git.tickets.verdict.accept`: guard, merge,
refs), then push the base, the verdict on the record and the branch's
deletion in one ``--atomic`` push with a lease on each (the values just
fetched). If the remote moved in between, the push is refused and the
local accept is undone ref by ref (compare-and-swap) and file by file in
the base's checked-out worktree: nothing has changed, exit 6.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from wo_git import runs, tickets
from wo_git.errors import BadState, InvalidInput, StaleRef
from wo_git.git import Repo
from wo_git.remote import sync, transport
from wo_git.remote.transport import RemoteUnreachable, Update
from wo_git.runs.run import ticket_config
from wo_git.tickets import packet
from wo_git.tickets.verdict import AcceptResult
from wo_git.tickets.verdict import accept as local_accept

MAX_BACKOFF = 15.0
"""seconds: the longest pause between two ``ls-remote`` rounds"""

_DONE = ("reported", "accepted", "rejected")


def wait_for(
    repo: Repo,
    ids: Sequence[int | str],
    timeout: float | None = None,
    any_: bool = False,
    remote: str | None = None,
    on_progress: Callable[[packet.WaitProgress], None] | None = None,
    progress_every: float = 10.0,
) -> packet.WaitResult:
    """:func:`wo_git.tickets.packet.wait_for`, plus tickets run elsewhere when ``remote`` is given.

    Same result and errors; raises :class:`~wo_git.errors.BadState` for a
    ticket the remote does not have (``wo-git push`` it first) and
    :class:`~wo_git.remote.transport.RemoteUnreachable`.
    """
    if remote is None:
        return packet.wait_for(repo, ids, timeout, any_, on_progress, progress_every)
    if not ids:
        raise InvalidInput("name at least one ticket: wo-git wait ID...")
    order: list[int] = []
    for t in ids:
        tid = tickets.parse_id(t)
        if tid not in order:
            order.append(tid)
    far = [t for t in order if tickets.load(repo, t).state == "open" and not runs.is_running(repo, t)]
    if not far:
        return packet.wait_for(repo, ids, timeout, any_, on_progress, progress_every)
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    delay = 0.25
    known: dict[str, str | None] = {}
    names = [tickets.record_ref(t) for t in far]
    first = True
    while True:
        seen = transport.ls_remote(repo, remote, *names)
        missing = [n for n in names if n not in seen]
        if missing and first:
            label = missing[0].rsplit("/", 1)[1]
            raise BadState(f"ticket {label} is not on {remote}: `wo-git push {remote}` it, or `wo-git run` it here")
        if first or any(seen.get(n) != known.get(n) for n in names):
            sync.fetch(repo, remote)
            known = dict(seen)
        first = False
        states = {t: tickets.load(repo, t).state for t in order}
        done = [t for t in order if states[t] in _DONE]
        if done and (any_ or len(done) == len(order)):
            break
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        if on_progress is not None:
            for t in order:
                if t not in done:
                    on_progress(packet.WaitProgress(t, now - start, None, None))
        pause = delay if deadline is None else min(delay, max(0.0, deadline - now))
        time.sleep(pause)
        delay = min(delay * 1.5, MAX_BACKOFF)
    reported = []
    for t in done:
        tk = tickets.load(repo, t)
        cfg = ticket_config(repo, tk)
        reported.append(packet.build(repo, cfg, tickets.load(repo, t, cfg)))
    pending = [tickets.load(repo, t) for t in order if t not in done]
    finished = bool(done) and (any_ or len(done) == len(order))
    return packet.WaitResult(reported, pending, timed_out=not finished)


def accept(repo: Repo, ticket: int | str, *, remote: str | None, force: bool = False, squash: bool = False,
           message: str | None = None) -> AcceptResult:
    """:func:`wo_git.tickets.verdict.accept`, published to ``remote`` atomically when one is given.

    Raises what the local accept raises, :class:`~wo_git.errors.BadState`
    when this clone's ticket or base is not the remote's (fetch, push or
    pull first), and :class:`~wo_git.errors.StaleRef` (exit 6) when the
    remote moved between the fetch and the push: the local accept is undone
    then, so nothing has changed anywhere.
    """
    if remote is None:
        return local_accept(repo, ticket, force=force, squash=squash, message=message)
    sync.fetch(repo, remote)
    tk = tickets.load(repo, ticket)
    rec_remote = repo.ref_target(sync.tracking_record(remote, tk.id))
    if rec_remote is None:
        raise BadState(f"ticket {tk.label} is not on {remote}: `wo-git push {remote}` first, or accept it "
                       "without a remote")
    if rec_remote != tk.tip:
        raise BadState(f"ticket {tk.label} here is not {remote}'s (`wo-git push {remote}` what is new here, "
                       "then accept again); nothing was changed")
    base_ref = f"refs/heads/{tk.base}"
    base_local = repo.ref_target(base_ref)
    base_remote = repo.ref_target(sync.tracking_branch(remote, tk.base))
    if base_local is not None and base_remote is not None and not repo.is_ancestor(base_remote, base_local):
        raise BadState(f"{tk.base} is behind {remote}'s {tk.base}: `git pull {remote} {tk.base}` first; "
                       "nothing was changed")
    branch_remote = repo.ref_target(sync.tracking_branch(remote, tk.branch))
    branch_local = tk.branch_tip
    result = local_accept(repo, tk.id, force=force, squash=squash, message=message)
    updates = [Update(base_ref, result.merge, base_remote), Update(tk.record, result.verdict, rec_remote)]
    if branch_remote is not None:
        updates.append(Update(tk.branch_ref, None, branch_remote))
    try:
        pushed = transport.push(repo, remote, updates)
    except RemoteUnreachable:
        _undo(repo, tk, result, base_local, branch_local)
        raise
    if not pushed.ok:
        _undo(repo, tk, result, base_local, branch_local)
        raise StaleRef(f"{remote} moved while accepting {tk.label} ({pushed.first_reason()}); nothing was "
                       f"changed here or there: `wo-git accept {tk.id}` again")
    transport.fetch(repo, remote, sync.refspecs(remote))
    return result


def _undo(repo: Repo, tk: tickets.Ticket, result: AcceptResult, base_before: str | None,
          branch_before: str | None) -> None:
    """Put the refs and checked-out base files back to where they were before the local accept."""
    updates: list[tuple[str, str | None, str | None]] = [
        (f"refs/heads/{result.base}", base_before, result.merge),
        (tk.record, tk.tip, result.verdict),
    ]
    if branch_before is not None:
        updates.append((tk.branch_ref, branch_before, repo.ref_target(tk.branch_ref)))
    repo.update_refs(updates, f"wo-git: accept {tk.label} undone (the remote moved)")
    for wt in result.updated_worktrees:
        if base_before is not None:
            repo.two_way_checkout(Path(wt), result.merge, base_before)
