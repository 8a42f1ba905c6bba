"""``wo-git doctor``: find and repair what an interrupted wo-git left behind.

A ``kill -9`` can stop wo-git between any two steps. Every step is ordered
so that what is left is one of these, which doctor finds and (with ``--fix``)
repairs:

- a run record whose lock nobody holds: the supervisor died before its
  post-run hook finished. Fix: end the executor's process group if it is
  still alive, put back refs/config/hooks from the run's snapshot, and run
  the post-run hook, so the executor's work is committed and reported.
- a ticket record without its branch (open killed between the two refs, or
  a branch deleted by hand) while the ticket is not closed: recreate the
  branch at the record.
- a git lock file (``refs/heads/main.lock``, ``index.lock``, ...) no live
  process has open: a process killed while holding it. Fix: remove it.
- a worktree of a closed or unknown ticket, or one git lists as prunable:
  save uncommitted work to ``refs/wo-local/leftovers/NNNN``, then remove it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from wo_git import runs, tickets
from wo_git.errors import WoGitError
from wo_git.executors.opencode_server import abort_session
from wo_git.git import Repo
from wo_git.remote import sync as remote_sync
from wo_git.runs import sandbox, worktrees
from wo_git.runs.postrun import RunFacts, finish_run
from wo_git.runs.run import ticket_config
from wo_git.runs.supervise import kill_group
from wo_git.tickets.verdict import _save_leftovers, pending_accepts, repair_accept


@dataclass
class Finding:
    """One problem: what kind, which ticket, what was (or would be) done."""

    kind: str
    ticket: int | None
    detail: str
    fixed: bool = False

    def to_json(self) -> dict[str, object]:
        """The stable ``--json`` shape."""
        return {"kind": self.kind, "ticket": self.ticket, "detail": self.detail, "fixed": self.fixed}


def diagnose(repo: Repo, fix: bool) -> list[Finding]:
    """Every problem found; with ``fix``, each is repaired and marked ``fixed``."""
    out: list[Finding] = []
    out += _stale_locks(repo, fix)
    out += _unfinished_accepts(repo, fix)
    out += _stale_runs(repo, fix)
    out += _missing_branches(repo, fix)
    out += _orphan_worktrees(repo, fix)
    return out


def _stale_runs(repo: Repo, fix: bool) -> list[Finding]:
    out = []
    for rec_file in sorted(runs.runs_dir(repo).glob("*.json")):
        tid = int(rec_file.stem) if rec_file.stem.isdigit() else None
        if tid is None or runs.is_running(repo, tid):
            continue
        rec = runs.read_record(repo, tid)
        if rec is None:
            out.append(Finding("unreadable-run-record", tid, f"{rec_file} cannot be read", fixed=fix))
            if fix:
                rec_file.unlink(missing_ok=True)
            continue
        alive = rec.pgid is not None and runs.pid_alive(-rec.pgid)
        f = Finding("unfinished-run", tid,
                    f"round {rec.round} of {tid:04d} never reported (supervisor {rec.pid} is gone"
                    + (f"; executor group {rec.pgid} still running" if alive else "") + ")")
        out.append(f)
        if not fix:
            continue
        with runs.hold_run_lock(repo, tid):
            if alive and rec.pgid:
                kill_group(rec.pgid)
            if repo.root is not None:
                # killed before its process group was recorded, or escaped it with setsid
                sandbox.kill_leftovers(repo.root, tid)
            if rec.server_url and rec.server_session:
                try:  # the server goes on with the session unless told to stop
                    abort_session(rec.server_url, rec.server_session, rec.worktree)
                    f.detail += f"; aborted server session {rec.server_session}"
                except WoGitError as err:
                    f.detail += f"; could not abort server session {rec.server_session}: {err}"
            tk = tickets.load(repo, tid)
            cfg = ticket_config(repo, tk)
            tk = tickets.load(repo, tid, cfg)
            facts = RunFacts(
                exit_code=None, duration=0.0, executor=rec.executor, log=rec.log,
                round_start=rec.round_start, stopped_by="crash",
                reason="wo-git stopped before the run finished; recovered by doctor",
                output_bytes=Path(rec.log).stat().st_size if Path(rec.log).exists() else 0,
            )
            path = Path(rec.worktree)
            snap = Path(rec.snapshot) if rec.snapshot else None
            sb = None
            if rec.sandbox:
                # the executor's private HEAD and objects are still in the scratch folder
                facts.sandbox = "bwrap"
                sb = sandbox.prepare(sandbox.choose(cfg.sandbox, tk.label), repo, tk.label, path,
                                     rec.round_start, fresh=False)
                if not sb.active:
                    sb = sandbox.Sandbox("none", scratch=Path(rec.sandbox))
            if tk.state in ("open", "running") and tk.round == rec.round:
                finish_run(repo, cfg, tk, path, facts, snap, sb)
            runs.clear_record(repo, tid)
            if snap is not None:
                shutil.rmtree(snap, ignore_errors=True)
            sandbox.cleanup(Path(rec.sandbox) if rec.sandbox else None)
        f.fixed = True
    return out


STALE_LOCK_SECONDS = 2.0
"""a lock younger than this is left alone: its creator may not have it open in /proc yet"""
LOCK_PLACES = ("*.lock", "refs/**/*.lock", "logs/**/*.lock", "worktrees/*/*.lock", "worktrees/*/refs/**/*.lock")


def _open_paths() -> set[str]:
    """Every file some live process has open (``/proc/PID/fd``), as far as this user can see."""
    out: set[str] = set()
    for d in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in d.iterdir():
                try:
                    out.add(os.readlink(fd))
                except OSError:
                    continue
        except OSError:
            continue
    return out


def _stale_locks(repo: Repo, fix: bool) -> list[Finding]:
    """git's ``*.lock`` files in the git dir (refs, ``index``, ``HEAD``, ``config``,
    ``packed-refs``) that no live process has open: left by a process killed while it
    held them (git and libgit2 keep a lock file open until they commit or roll it back).
    Each blocks every later update of what it locks; fixing removes it."""
    found = sorted({p for pattern in LOCK_PLACES for p in repo.common_dir.glob(pattern) if p.is_file()})
    if not found:
        return []
    held = _open_paths()
    out = []
    for lock in found:
        if str(lock) in held or time.time() - lock.stat().st_mtime < STALE_LOCK_SECONDS:
            continue  # a live process holds it, or it is too fresh to tell
        f = Finding("stale-lock", None, f"{lock} is held by no process", fixed=fix)
        out.append(f)
        if fix:
            lock.unlink(missing_ok=True)
    return out


def _unfinished_accepts(repo: Repo, fix: bool) -> list[Finding]:
    out = []
    for intent in pending_accepts(repo):
        tid = int(intent.stem) if intent.stem.isdigit() else None
        f = Finding("unfinished-accept", tid, f"accept of {intent.stem} stopped midway")
        out.append(f)
        if fix:
            f.detail += ": " + repair_accept(repo, intent)
            f.fixed = True
    return out


def _missing_branches(repo: Repo, fix: bool) -> list[Finding]:
    out = []
    for tid in tickets.all_ids(repo):
        try:
            tk = tickets.load(repo, tid)
        except WoGitError as err:
            out.append(Finding("broken-record", tid, str(err)))
            continue
        if tk.state in ("accepted", "rejected") or tk.branch_tip is not None:
            continue
        there = remote_sync.remote_branch(repo, tk.branch)
        if there is not None and repo.is_ancestor(tk.tip, there[1]):
            # the branch lives on a remote only (fetched, never checked out here): take it from there
            f = Finding("remote-only-branch", tid, f"{tk.branch} lives only on {there[0]} "
                        f"({remote_sync.tracking_branch(there[0], tk.branch)} at {there[1][:10]})")
            out.append(f)
            if fix:
                f.fixed = repo.create_ref(tk.branch_ref, there[1], f"wo-git doctor: branch from {there[0]}")
            continue
        f = Finding("missing-branch", tid, f"{tk.branch} is missing; the record is at {tk.tip[:10]}")
        out.append(f)
        if fix:
            f.fixed = repo.create_ref(tk.branch_ref, tk.tip, "wo-git doctor: restore branch")
    return out


def _orphan_worktrees(repo: Repo, fix: bool) -> list[Finding]:
    out = []
    live: dict[str, tickets.Ticket] = {}
    for tid in tickets.all_ids(repo):
        try:
            known = tickets.load(repo, tid)
        except WoGitError:
            continue
        live[known.name] = known
    for wt in repo.worktrees():
        if wt.prunable:
            out.append(Finding("prunable-worktree", None, f"{wt.path} is gone; git still lists it", fixed=fix))
            continue
        tk = live.get(Path(wt.path).name)
        if tk is None or tk.state not in ("accepted", "rejected"):
            continue
        f = Finding("orphaned-worktree", tk.id, f"{wt.path} belongs to {tk.state} ticket {tk.label}")
        out.append(f)
        if fix:
            cfg = ticket_config(repo, tk)
            if worktrees.worktree_path(repo, cfg, tk) == Path(wt.path).resolve():
                _save_leftovers(repo, cfg, tk)
            repo.remove_worktree(wt.path)
            f.fixed = True
    if fix:
        repo.prune_worktrees()
    return out
