"""``wo-git worker``: take tickets from a remote, run them here, publish the reports.

One worker is one process in its own clone. Its loop:

1. ``fetch`` the remote (:func:`wo_git.remote.sync.fetch`): records,
   branches and claims, integrated into the clone;
2. pick a ready ticket: state ``open`` here and on the remote (the record in
   sync), no claim or an expired one;
3. claim it (:func:`wo_git.remote.claims.acquire`, a compare-and-swap push);
4. run it as ``wo-git run ID`` in a child process, in a local worktree,
   renewing the lease every third of its length while it runs;
5. publish in one ``--atomic`` push with a lease on each ref: the ticket
   branch and record (at the values read when claiming), the round's
   original commits (create-only), and the claim's deletion (at this
   worker's last claim commit). If any lease fails, nothing is published.

A renewal that is rejected means another worker took the claim over after
the lease expired (this worker was too slow or cut off): the executor is
stopped (the run's abort file), the local record and branch are put back,
and nothing is published. A worker killed with ``kill -9`` simply stops
renewing; its claim expires and the next worker that fetches takes it
over with a CAS on the expired claim, so exactly one does.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wo_git import runs, tickets
from wo_git.errors import WoGitError
from wo_git.git import Repo, clean_git_env
from wo_git.remote import claims, sync, transport
from wo_git.remote.claims import Claim
from wo_git.remote.transport import RemoteUnreachable, Update
from wo_git.runs import worktrees
from wo_git.runs.run import ticket_config
from wo_git.types import CommitId

RENEWALS_PER_LEASE = 3
"""a claim's lease is renewed every ``lease / RENEWALS_PER_LEASE`` seconds"""


def renew_interval(lease: float) -> float:
    """Seconds between two renewals of a claim held for ``lease`` seconds.

    It also bounds how late a worker notices that its claim was taken over:
    one interval plus one push round trip (the rejected renewal), after which
    the executor's supervisor stops it within its poll interval and grace
    (:data:`wo_git.runs.supervise.POLL_SECONDS`, :data:`wo_git.runs.supervise.GRACE_SECONDS`).
    """
    return lease / RENEWALS_PER_LEASE


@dataclass
class WorkerOptions:
    """What ``wo-git worker`` was asked for. Times are seconds."""

    remote: str
    executor: str | None = None
    argv: list[str] = field(default_factory=list)
    max_parallel: int = 1
    once: bool = False
    """exit when the remote has no open ticket left that this worker could run"""
    lease: float = 60.0
    """how long a claim holds without renewal; renewed every :func:`renew_interval` (``lease / 3``)"""
    poll: float = 2.0
    """longest pause between fetches while idle (it backs off up to this)"""
    timeout: float | None = None
    worker_id: str | None = None


@dataclass
class WorkerStats:
    """What a worker did, by ticket id."""

    worker: str
    claimed: list[int] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    claim_latency: list[float] = field(default_factory=list)
    """seconds from the fetch that found a ticket to its claim being on the remote"""

    def to_json(self) -> dict[str, object]:
        """The stable ``--json`` shape."""
        return {"worker": self.worker, "claimed": self.claimed, "published": self.published, "lost": self.lost,
                "failed": self.failed, "claim_latency": self.claim_latency}


@dataclass
class _Active:
    tid: int
    claim: Claim
    proc: subprocess.Popen[bytes]
    record_before: CommitId
    branch_ref: str
    branch_before: CommitId
    renewed: float
    lost: bool = False


def _ready(repo: Repo, remote: str, exclude: set[int]) -> tuple[list[int], list[int]]:
    """``(claimable, open)``: ticket ids open here and on the remote, and those with no live claim."""
    now = time.time()
    ready, open_ = [], []
    for tid in sync.remote_ids(repo, remote):
        if tid in exclude:
            continue
        rv = repo.ref_target(sync.tracking_record(remote, tid))
        try:
            tk = tickets.load(repo, tid)
        except WoGitError:
            continue
        if tk.state != "open" or tk.tip != rv or tk.branch_tip is None:
            continue
        open_.append(tid)
        _oid, claim = claims.fetched_claim(repo, remote, tid)
        if _oid is None or claim is None or claim.expired(now):
            ready.append(tid)
    return ready, open_


def work(repo: Repo, opts: WorkerOptions, say: Callable[[str], None] = lambda s: None) -> WorkerStats:
    """Run the worker loop (see the module doc) until interrupted, or with ``once`` until no work is left.

    Raises :class:`~wo_git.errors.InvalidInput` for an unknown remote and
    :class:`~wo_git.remote.transport.HostRefused` when the host refuses
    claim refs.
    """
    transport.check_remote(repo, opts.remote)
    worker = opts.worker_id or claims.new_worker_id()
    stats = WorkerStats(worker)
    active: dict[int, _Active] = {}
    skip: set[int] = set()
    pause = 0.05
    log_dir = runs.logs_dir(repo)
    try:
        while True:
            for tid, a in list(active.items()):
                if a.proc.poll() is not None:
                    _finish(repo, opts, a, stats, skip, say)
                    del active[tid]
            _renew(repo, opts, worker, active, say)
            started = False
            if len(active) < opts.max_parallel:
                t_fetch = time.monotonic()
                try:
                    sync.fetch(repo, opts.remote)
                except RemoteUnreachable as err:
                    say(f"{err}; retrying")
                    time.sleep(min(opts.poll, 5.0))
                    continue
                ready, open_ = _ready(repo, opts.remote, skip | set(active))
                head = ready[: 4 * opts.max_parallel]
                random.shuffle(head)  # fewer lost races between workers that fetched the same state
                for tid in head + ready[len(head):]:
                    if len(active) >= opts.max_parallel:
                        break
                    got = _start(repo, opts, worker, tid, log_dir, say)
                    if got is not None:
                        active[tid] = got
                        stats.claimed.append(tid)
                        stats.claim_latency.append(time.monotonic() - t_fetch)
                        started = True
                if opts.once and not active and not started and not open_:
                    return stats
            if started:
                pause = 0.05
            elif active:
                time.sleep(0.1)
            else:
                time.sleep(pause)
                pause = min(pause * 2, opts.poll)
    finally:
        for a in active.values():  # interrupted: stop the runs, publish nothing, let the claims go
            a.lost = True
            runs.abort_path(repo, a.tid).write_text("worker stopping")
        for a in active.values():
            try:
                a.proc.wait(60)
            except subprocess.TimeoutExpired:
                a.proc.kill()
            _restore(repo, a)
            try:
                claims.release(repo, opts.remote, a.claim)
            except WoGitError:
                pass


def _start(repo: Repo, opts: WorkerOptions, worker: str, tid: int, log_dir: Path,
           say: Callable[[str], None]) -> _Active | None:
    tk = tickets.load(repo, tid)
    seen, _claim = claims.fetched_claim(repo, opts.remote, tid)
    assert tk.branch_tip is not None
    try:
        claim = claims.acquire(repo, opts.remote, tk, worker, opts.lease, seen)
    except RemoteUnreachable as err:
        say(f"{tk.label}: {err}")
        return None
    if claim is None:
        return None
    say(f"{tk.label}: claimed (lease {opts.lease:g} s" + (", taken over from an expired claim)" if seen else ")"))
    args = [sys.executable, "-m", "wo_git", "run", str(tid), "--json"]
    if opts.executor:
        args += ["--executor", opts.executor]
    if opts.timeout is not None:
        args += ["--timeout", str(opts.timeout)]
    if opts.argv:
        args += ["--", *opts.argv]
    with open(log_dir / f"worker-{tk.label}.log", "ab") as out:
        proc = subprocess.Popen(args, cwd=repo.require_root(), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=clean_git_env())
    return _Active(tid, claim, proc, tk.tip, tk.branch_ref, tk.branch_tip, time.monotonic())


def _renew(repo: Repo, opts: WorkerOptions, worker: str, active: dict[int, _Active],
           say: Callable[[str], None]) -> None:
    now = time.monotonic()
    for a in active.values():
        if a.lost or now - a.renewed < renew_interval(opts.lease):
            continue
        try:
            new = claims.renew(repo, opts.remote, a.claim, worker, opts.lease)
        except RemoteUnreachable as err:
            say(f"{a.tid:04d}: cannot renew the lease ({err}); retrying")
            continue
        if new is None:
            a.lost = True
            runs.abort_path(repo, a.tid).write_text("claim taken over")
            say(f"{a.tid:04d}: the claim was taken over by another worker; stopping the executor")
        else:
            a.claim, a.renewed = new, now


def _restore(repo: Repo, a: _Active) -> None:
    """Put the local record and branch back to where the run began (the run is not published)."""
    record = tickets.record_ref(a.tid)
    updates: list[tuple[str, str | None, str | None]] = []
    for name, before in ((record, a.record_before), (a.branch_ref, a.branch_before)):
        now = repo.ref_target(name)
        if now != before:
            updates.append((name, before, now))
    if updates:
        repo.update_refs(updates, "wo-git worker: run not published")
    runs.clear_record(repo, a.tid)


def _finish(repo: Repo, opts: WorkerOptions, a: _Active, stats: WorkerStats, skip: set[int],
            say: Callable[[str], None]) -> None:
    label = f"{a.tid:04d}"
    tk = tickets.load(repo, a.tid)
    try:
        if a.lost:
            _restore(repo, a)
            stats.lost.append(a.tid)
            return
        if tk.tip == a.record_before or tk.branch_tip is None:
            say(f"{label}: the run committed no report (exit {a.proc.returncode}); released, skipped from now on")
            _restore(repo, a)
            claims.release(repo, opts.remote, a.claim)
            skip.add(a.tid)
            stats.failed.append(a.tid)
            return
        updates = [
            Update(tk.branch_ref, tk.branch_tip, a.branch_before),
            Update(tk.record, tk.tip, a.record_before),
        ]
        for name, oid in repo.list_refs(f"{sync.ROUNDS_PREFIX}{tk.label}-").items():
            tracked = repo.ref_target(f"{sync.track_prefix(opts.remote)}rounds/{name[len(sync.ROUNDS_PREFIX):]}")
            if tracked != oid and not oid.startswith("ref:"):
                updates.append(Update(name, oid, tracked))
        updates.append(Update(sync.claim_ref(a.tid), None, a.claim.commit))
        result = transport.push(repo, opts.remote, updates)
        if result.ok:
            stats.published.append(a.tid)
            say(f"{label}: published {tk.status} ({tk.tip[:10]})")
            return
        say(f"{label}: not published ({result.first_reason()}): the claim or the ticket moved on the remote")
        _restore(repo, a)
        stats.lost.append(a.tid)
        claims.release(repo, opts.remote, a.claim)
    except RemoteUnreachable as err:
        say(f"{label}: {err}; the report stays here (`wo-git push {opts.remote}` later)")
        stats.failed.append(a.tid)
        skip.add(a.tid)
    finally:
        cfg = ticket_config(repo, tk)
        worktrees.remove(repo, cfg, tk)
