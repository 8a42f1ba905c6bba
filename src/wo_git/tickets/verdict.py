"""``accept`` and ``reject``: the architect's verdicts that close a ticket.

``accept`` re-runs the guard over every commit between the base and the
ticket, merges in memory (``--no-ff`` by default, ``--squash`` on request),
updates the base's checked-out worktree the way ``git merge`` does (refusing,
with nothing changed, where local changes would be overwritten), and moves
the base, the record and the branch in one atomic ref transaction. A
conflict names the files and changes nothing.

Both verdicts remove the ticket's worktree and branch and keep
``refs/wo/tickets/NNNN``. Anything uncommitted in the worktree is first
saved as a commit on ``refs/wo-local/leftovers/NNNN`` so no executor work is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from wo_git import tickets
from wo_git.config import Config
from wo_git.errors import BadState, GuardRejected, InvalidInput, MergeConflict, StaleRef, WoGitError
from wo_git.executors.profiles import state_excludes, worktree_state_of
from wo_git.git import Repo, format_message, run_git
from wo_git.guard.check import Violation, check_commits, format_violations
from wo_git.guard.policy import normalize_path
from wo_git.hints import bad_state
from wo_git.interrupts import deferred
from wo_git.runs import worktrees
from wo_git.runs.postrun import policy_for
from wo_git.runs.run import ticket_config
from wo_git.tickets.review import review_path
from wo_git.types import CommitId


@dataclass
class AcceptResult:
    """What ``accept`` did: the new base tip, the verdict commit, files updated in worktrees."""

    ticket: int
    base: str
    merge: CommitId
    verdict: CommitId
    squash: bool
    forced: bool
    updated_worktrees: list[str]
    leftovers: str | None


def guard_ticket(repo: Repo, cfg: Config, tk: tickets.Ticket, base_tip: str, tip: str) -> list[Violation]:
    """The guard over every commit in ``base_tip..tip``.

    wo-git's own event commits (read from the record, which only wo-git
    moves) may write their mailbox file (the work file of an open or revise,
    the report of a report, the review of a review), whatever the work
    order's scope; everything else is checked in full.
    """
    exempt: dict[str, set[str]] = {}
    for ev in tk.events:
        if ev.event in ("open", "revise"):
            exempt[ev.commit.id] = {normalize_path(tk.work_path(cfg, ev.round))}
        elif ev.event == "report":
            exempt[ev.commit.id] = {normalize_path(tk.report_path(cfg, ev.round))}
        elif ev.event == "review":
            exempt[ev.commit.id] = {normalize_path(review_path(cfg, tk, ev.round))}
    # wo-git's own merges of the base (an update, or the report of a round that resolved one) are
    # trusted as merges: what they take as it is from the base is not the executor's. Trust comes
    # from the record, which only wo-git moves; a merge anywhere else is checked against each parent.
    sides: dict[str, list[str]] = {ev.commit.id: list(ev.commit.parents) for ev in tk.events
             if ev.event in ("update", "report") and len(ev.commit.parents) == 2}
    commits = repo.rev_list(tip, base_tip)
    return check_commits(repo, policy_for(repo, cfg, tk), commits, exempt=exempt, sides=sides,
                         own=tk.folder(cfg))


def _save_leftovers(repo: Repo, cfg: Config, tk: tickets.Ticket) -> str | None:
    """Commit whatever the worktree holds beyond its HEAD to ``refs/wo-local/leftovers/NNNN``."""
    path = worktrees.worktree_path(repo, cfg, tk)
    if not (path / ".git").exists():
        return None
    head = run_git("rev-parse", "-q", "--verify", "HEAD", cwd=path, check=False).stdout.decode().strip()
    if not head:
        return None
    # the mailbox is wo-git's (a stale report copy, a review committed since): never a leftover
    worktrees.reset_mailbox(cfg, tk, path, head)
    # each executor CLI's own state (aider's cache) is not work: left out, as the post-run hook does
    ran = {str(e.commit.trailers.get("Wo-Executor")) for e in tk.events if e.event == "report"}
    tree = repo.snapshot_worktree(path, exclude=state_excludes(worktree_state_of(cfg.executors, ran)))
    if tree == repo.tree_of(head):
        return None
    msg = format_message(f"wo {tk.label}: uncommitted work left in the worktree", "",
                         {"Wo-Ticket": tk.label, "Wo-Role": "system", "Wo-Event": "leftovers"})
    oid = repo.write_commit([head], msg, tree=tree)
    name = f"refs/wo-local/leftovers/{tk.label}"
    repo.update_refs([(name, oid, repo.ref_target(name))], "wo-git: keep leftovers")
    return name


def _closeable(tk: tickets.Ticket) -> None:
    if tk.state == "running":
        raise bad_state(tk, "it cannot be closed while it runs")
    if tk.state in ("accepted", "rejected"):
        raise bad_state(tk, f"already {tk.state}")


def accept(
    repo: Repo, ticket: int | str, *, force: bool = False, squash: bool = False, message: str | None = None
) -> AcceptResult:
    """Merge a reported ticket into its base; see the module docstring.

    Raises :class:`BadState` (not reported, not COMPLETED without ``force``,
    dirty base worktree), :class:`GuardRejected`, :class:`MergeConflict`,
    :class:`~wo_git.errors.StaleRef`. On any of them nothing has changed.
    """
    tk = tickets.load(repo, ticket)
    cfg = ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    _closeable(tk)
    if tk.state != "reported" and not force:
        raise bad_state(tk, f"no report for round {tk.round} yet, nothing to accept")
    if tk.status == "GUARD_REJECTED" and not force:
        # A guard refusal, whichever enforcement point saw it first: the same
        # exit code (3) as the guard's own re-check below, so scripts can tell.
        raise GuardRejected(f"ticket {tk.label}'s last report is GUARD_REJECTED: the guard refused round "
                            f"{tk.round}'s changes (`wo-git show {tk.id}` names them); not merged. "
                            f"`wo-git revise {tk.id}` or `wo-git reject {tk.id}`")
    if tk.status != "COMPLETED" and not force:
        raise bad_state(tk, f"the last report is {tk.status}, not COMPLETED")
    base_ref = f"refs/heads/{tk.base}"
    base_tip = repo.ref_target(base_ref)
    if base_tip is None:
        raise InvalidInput(f"base branch {tk.base!r} no longer exists; recreate it to accept {tk.label}")
    tip = tk.branch_tip or tk.tip
    found = guard_ticket(repo, cfg, tk, base_tip, tip)
    if found:
        raise GuardRejected(f"ticket {tk.label} touches protected paths; not merged:\n"
                            + format_violations(found))
    verdict_msg = format_message(
        f"wo {tk.label} accept: {tk.title}", "",
        {"Wo-Ticket": tk.label, "Wo-Round": tk.round, "Wo-Role": "architect", "Wo-Event": "accept",
         "Wo-Status": tk.status, "Wo-Forced": "yes" if force else None,
         "Wo-Merge": "squash" if squash else "no-ff"},
    )
    verdict = repo.write_commit([tip], verdict_msg, tree=repo.tree_of(tip))
    if repo.is_ancestor(base_tip, tip):
        merged_tree = repo.tree_of(tip)
    else:
        merged, conflicts = repo.merge_tree(base_tip, verdict)
        if merged is None:
            raise MergeConflict(
                f"ticket {tk.label} conflicts with {tk.base} in: {', '.join(conflicts)}; nothing was "
                f"changed. `wo-git update {tk.id}` merges {tk.base} into the ticket (a conflict there "
                f"becomes a correction round), then `wo-git accept {tk.id}`"
            )
        merged_tree = merged
    subject = message or f"Merge ticket {tk.label}: {tk.title}"
    merge_msg = format_message(
        subject, f"Branch {tk.branch} into {tk.base}." if not squash else f"Squashed from {tk.branch}.",
        {"Wo-Ticket": tk.label, "Wo-Role": "system", "Wo-Event": "merge"},
    )
    parents = [base_tip] if squash else [base_tip, verdict]
    merge = repo.write_commit(parents, merge_msg, tree=merged_tree)

    # the base's checked-out worktrees move like `git merge` moves them
    checked_out = repo.checked_out_in(tk.base)
    changed = {p for ch in repo.changes(base_tip, merge) for p in ch.paths}
    for wt in checked_out:
        dirty = repo.worktree_dirty_paths(Path(wt)) & changed
        if dirty:
            raise BadState(
                f"{wt} has local changes to {', '.join(sorted(dirty)[:10])} which accepting "
                f"{tk.label} would overwrite; commit or stash them first (nothing was changed)"
            )
    # files, refs and worktree move together: Ctrl-C waits for the end, or for the roll-back
    with deferred():
        moved: list[str] = []
        intent = _write_intent(repo, tk.id, base_ref, base_tip, merge, checked_out)
        try:
            for wt in checked_out:
                try:
                    repo.two_way_checkout(Path(wt), base_tip, merge)
                except StaleRef:
                    raise  # another git process holds the index: one line, exit 6
                except WoGitError as err:
                    raise BadState(f"cannot update {wt}: {err}; commit or stash local changes first "
                                   "(nothing was changed)") from None
                moved.append(wt)
            leftovers = _save_leftovers(repo, cfg, tk)
            updates: list[tuple[str, str | None, str | None]] = [
                (base_ref, merge, base_tip),
                (tk.record, verdict, tk.tip),
            ]
            if tk.branch_tip is not None:
                updates.append((tk.branch_ref, None, tk.branch_tip))
            repo.update_refs(updates, f"wo-git: accept {tk.label}")
        except BaseException:
            for wt in moved:  # put the files back: the refs did not move
                repo.two_way_checkout(Path(wt), merge, base_tip)
            intent.unlink(missing_ok=True)
            raise
        intent.unlink(missing_ok=True)
        worktrees.remove(repo, cfg, tk)
    return AcceptResult(tk.id, tk.base, merge, verdict, squash, force, moved, leftovers)


def _intent_path(repo: Repo, ticket: int) -> Path:
    d = repo.wo_dir / "accepts"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{ticket:04d}.json"


def _write_intent(
    repo: Repo, ticket: int, base_ref: str, old: str, new: str, worktrees_: list[str]
) -> Path:
    """Record what accept is about to do, so ``doctor`` can finish or undo it after a crash.

    Between moving a checked-out base's files and moving the base ref there is
    a window; a ``kill -9`` in it leaves files and ref disagreeing, which this
    record lets :func:`repair_accept` resolve either way.
    """
    path = _intent_path(repo, ticket)
    path.write_text(json.dumps({"base_ref": base_ref, "old": old, "new": new, "worktrees": worktrees_}))
    return path


def pending_accepts(repo: Repo) -> list[Path]:
    """Accept records left by an accept that did not finish."""
    d = repo.wo_dir / "accepts"
    return sorted(d.glob("*.json")) if d.is_dir() else []


def repair_accept(repo: Repo, intent: Path) -> str:
    """Bring each checked-out base worktree in line with where the base ref ended up.

    The ref moved (the accept committed): files still at the old tree go
    forward. The ref did not move: files already at the merge go back.
    Returns what was done.
    """
    data = json.loads(intent.read_text())
    at = repo.ref_target(data["base_ref"])
    old_tree, new_tree = repo.tree_of(data["old"]), repo.tree_of(data["new"])
    done = []
    for wt in data["worktrees"]:
        if not Path(wt).exists():
            continue
        index_tree = run_git("write-tree", cwd=wt, check=False).stdout.decode().strip()
        if at == data["new"] and index_tree == old_tree:
            repo.two_way_checkout(Path(wt), data["old"], data["new"])
            done.append(f"moved {wt} forward to the merge")
        elif at == data["old"] and index_tree == new_tree:
            repo.two_way_checkout(Path(wt), data["new"], data["old"])
            done.append(f"put {wt} back to {data['base_ref']}")
    intent.unlink(missing_ok=True)
    return "; ".join(done) or "nothing left to do"


def reject(repo: Repo, ticket: int | str, *, reason: str) -> tuple[CommitId, str | None]:
    """Close a ticket without merging: commit the verdict, remove worktree and branch.

    Returns the verdict commit and the leftovers ref if uncommitted work was
    saved. Raises :class:`BadState` if running or already closed.
    """
    if not reason.strip():
        raise InvalidInput("--reason must say why the ticket is rejected")
    tk = tickets.load(repo, ticket)
    cfg = ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    _closeable(tk)
    leftovers = _save_leftovers(repo, cfg, tk)
    tip = tk.branch_tip or tk.tip
    msg = format_message(f"wo {tk.label} reject: {tk.title}", reason.strip(),
                         {"Wo-Ticket": tk.label, "Wo-Round": tk.round, "Wo-Role": "architect",
                          "Wo-Event": "reject", "Wo-Status": tk.status})
    verdict = repo.write_commit([tip], msg, tree=repo.tree_of(tip))
    updates: list[tuple[str, str | None, str | None]] = [(tk.record, verdict, tk.tip)]
    if tk.branch_tip is not None:
        updates.append((tk.branch_ref, None, tk.branch_tip))
    with deferred():
        repo.update_refs(updates, f"wo-git: reject {tk.label}")
        worktrees.remove(repo, cfg, tk)
    return verdict, leftovers
