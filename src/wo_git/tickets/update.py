"""``wo-git update``: merge the ticket's base into the ticket branch (GitHub's "Update branch").

When ``accept`` conflicts, the way through is to bring the base into the
ticket first. ``update`` merges the base tip into the ticket branch as
wo-git's own commit (``Wo-Role: system``, ``Wo-Event: update``, two
parents: the ticket tip, then the base tip), moving the record and branch
by compare-and-swap and bringing an existing worktree along. The guard
trusts that merge because it is on the record, which only wo-git moves:
what it takes from the base is not blamed on the executor.

When the merge conflicts, the conflicted state goes to the executor as a
correction round: a system-written work order (``Wo-Merging: <base tip>``)
naming the conflicted files, and the worktree left as ``git merge
--no-commit`` leaves it (conflict markers, ``MERGE_HEAD``). The round's
report commit is then the merge (the base tip its second parent), once the
guard passes and no conflict markers remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wo_git import tickets
from wo_git.errors import BadState, InvalidInput, WoGitError
from wo_git.git import Repo, format_message, run_git
from wo_git.runs import worktrees
from wo_git.runs.run import ticket_config
from wo_git.types import CommitId


@dataclass
class UpdateResult:
    """What ``update`` did.

    ``outcome`` is ``up-to-date`` (the base was already merged), ``merged``
    (``commit`` is the merge) or ``conflict`` (``commit`` is the work order of
    ``round``, ``conflicts`` the conflicted paths); ``merged`` is the base tip
    brought in; ``worktree`` the worktree moved along, if any.
    """

    ticket: int
    base: str
    outcome: str
    merged: CommitId
    commit: CommitId | None
    round: int
    conflicts: list[str] = field(default_factory=list)
    worktree: str | None = None

    def to_json(self) -> dict[str, object]:
        """The stable ``--json`` shape."""
        return {"id": self.ticket, "base": self.base, "outcome": self.outcome, "merged": self.merged,
                "commit": self.commit, "round": self.round, "conflicts": self.conflicts,
                "worktree": self.worktree}


def conflict_task(base: str, merged: str, conflicts: list[str]) -> str:
    """The task of the correction order a conflicting update writes."""
    files = "\n".join(f"- `{p}`" for p in conflicts)
    return (
        f"Merge `{base}` into this ticket's branch. wo-git has begun the merge of `{base}` "
        f"(commit {merged[:12]}) in your worktree, as `git merge --no-commit` leaves it, and it "
        f"conflicts in:\n\n{files}\n\n"
        "Resolve every conflict: edit each file above so that it keeps the intent of both sides "
        f"(this ticket's work and `{base}`'s changes), and remove every conflict marker "
        "(`<<<<<<<`, `=======`, `>>>>>>>`). The base's other changes are already in the worktree "
        "(staged): keep them. Change nothing else. Leave the result uncommitted, or `git add` and "
        "`git commit` it (the merge commit); wo-git records the merge with your report. Do not run "
        "`git merge --abort`, reset or rebase."
    )


def update(repo: Repo, ticket: int | str) -> UpdateResult:
    """Merge the ticket's base into its branch; see the module docstring.

    Raises :class:`BadState` (running, closed, a merge already waiting to
    be resolved, a conflicting merge before the round has run, or worktree
    changes the merge would overwrite), :class:`InvalidInput` (no base
    branch), :class:`~wo_git.errors.StaleRef`. On any of them nothing changed.
    """
    tk = tickets.load(repo, ticket)
    cfg = ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    if tk.state == "running":
        raise BadState(f"ticket {tk.label} is running; `wo-git wait {tk.id}` (or `wo-git abort {tk.id}`), "
                       f"then `wo-git update {tk.id}`")
    if tk.state in ("accepted", "rejected"):
        raise BadState(f"ticket {tk.label} is {tk.state}; there is nothing to update")
    if tk.branch_tip is None:
        raise BadState(f"ticket {tk.label} has no branch {tk.branch}; run `wo-git doctor --fix`")
    if tk.merging is not None:
        raise BadState(f"ticket {tk.label} is already merging {tk.base} in round {tk.round}: "
                       f"`wo-git run {tk.id}` to have the executor resolve it")
    base_tip = repo.ref_target(f"refs/heads/{tk.base}")
    if base_tip is None:
        raise InvalidInput(f"base branch {tk.base!r} no longer exists; recreate it to update {tk.label}")
    tip = tk.branch_tip
    path = worktrees.worktree_path(repo, cfg, tk)
    exists = (path / ".git").exists()
    if repo.is_ancestor(base_tip, tip):
        return UpdateResult(tk.id, tk.base, "up-to-date", base_tip, None, tk.round)
    merged_tree, conflicts = repo.merge_tree(tip, base_tip)
    if merged_tree is not None:
        return _merge_clean(repo, tk, merged_tree, base_tip, path if exists else None)
    if tk.state == "open":
        raise BadState(f"ticket {tk.label}'s round {tk.round} has not run yet and merging {tk.base} conflicts "
                       f"in {', '.join(conflicts)}: `wo-git run {tk.id}` first, then `wo-git update {tk.id}`")
    if exists:
        worktrees.reset_mailbox(cfg, tk, path)
        dirty = _dirty(path)
        if dirty:
            raise BadState(
                f"ticket {tk.label}'s worktree has uncommitted changes ({', '.join(dirty[:10])}) and merging "
                f"{tk.base} conflicts; nothing was changed. `wo-git revise {tk.id}` to have them finished "
                f"or removed, or `wo-git reject {tk.id}`"
            )
    criteria = tickets.next_criteria(repo, cfg, tk)
    commit = tickets.commit_order(
        repo, cfg, tk, task=conflict_task(tk.base, base_tip, conflicts), criteria=criteria, role="system",
        extra={"merging": base_tip, "conflicts": conflicts},
        trailers={"Wo-Merging": base_tip, "Wo-Base": tk.base},
    )
    tk = tickets.load(repo, tk.id, cfg)
    wt = worktrees.ensure(repo, cfg, tk)  # begins the merge in the worktree (resume_merge)
    return UpdateResult(tk.id, tk.base, "conflict", base_tip, commit, tk.round, conflicts, str(wt))


def _dirty(path: Path) -> list[str]:
    out = run_git("status", "--porcelain", "-z", "--untracked-files=all", cwd=path, check=False).stdout
    return [f[3:] for f in out.decode("utf-8", errors="surrogateescape").split("\0") if len(f) > 3]


def _merge_clean(
    repo: Repo, tk: tickets.Ticket, tree: str, base_tip: CommitId, wt: Path | None
) -> UpdateResult:
    """Commit the clean merge, move an existing worktree along, then the refs (compare-and-swap)."""
    assert tk.branch_tip is not None
    message = format_message(
        f"wo {tk.label} update: merge {tk.base} into {tk.branch}", "",
        {"Wo-Ticket": tk.label, "Wo-Round": tk.round, "Wo-Role": "system", "Wo-Event": "update",
         "Wo-Base": tk.base, "Wo-Merged": base_tip},
    )
    oid = repo.write_commit([tk.branch_tip, base_tip], message, tree=tree)
    moved = None
    index_tree = ""
    if wt is not None:
        worktrees.reset_mailbox(ticket_config(repo, tk), tk, wt)
        index_tree = run_git("write-tree", cwd=wt, check=False).stdout.decode().strip() or tk.branch_tip
        try:
            repo.two_way_checkout(wt, index_tree, oid)
        except WoGitError as err:
            raise BadState(f"ticket {tk.label}'s worktree {wt} has local changes the merge of {tk.base} "
                           f"would overwrite ({err}); nothing was changed") from None
        moved = wt
    try:
        repo.update_refs([(tk.record, oid, tk.tip), (tk.branch_ref, oid, tk.branch_tip)],
                         f"wo-git: update {tk.label}")
    except BaseException:
        if moved is not None:
            repo.two_way_checkout(moved, oid, index_tree)
        raise
    return UpdateResult(tk.id, tk.base, "merged", base_tip, oid, tk.round,
                        worktree=str(moved) if moved else None)
