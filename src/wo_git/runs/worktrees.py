"""Ticket worktrees: where they go, creating, reusing and removing them.

A ticket's worktree sits outside the main working tree, by default beside
the repository (``../<repo>.wo/0007-contact-form``). It holds tracked files
only, so untracked secrets (``.env``) never reach the executor unless the
config's ``copy_files`` lists them.

In a submodule, a relative ``worktree_dir`` is resolved against the
outermost superproject's working tree instead, and ``{repo}`` is the
superproject's name and the submodule's path joined with ``-``
(``super/libs/core`` gives ``../super-libs-core.wo``): ticket worktrees
never land inside a superproject's working tree, where they would show up
as untracked files of the superproject.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from wo_git.config import Config
from wo_git.errors import BadState, WoGitError
from wo_git.git import Repo, run_git
from wo_git.tickets import Ticket


@functools.lru_cache(maxsize=16)
def superproject_roots(root: Path) -> tuple[Path, ...]:
    """The working trees of the superprojects ``root`` is a submodule of, innermost first.

    From ``git rev-parse --show-superproject-working-tree``; empty for a
    repository that is no submodule.
    """
    out: list[Path] = []
    here = root
    while True:
        proc = run_git("rev-parse", "--show-superproject-working-tree", cwd=here, check=False)
        found = proc.stdout.decode().strip()
        if proc.returncode != 0 or not found:
            return tuple(out)
        here = Path(found).resolve()
        if here in out or here == root:
            return tuple(out)
        out.append(here)


def worktree_path(repo: Repo, cfg: Config, tk: Ticket) -> Path:
    """Absolute path of the ticket's worktree (it may not exist yet).

    ``worktree_dir`` with ``{repo}`` expanded, relative to the main working
    tree, or to the outermost superproject's in a submodule (module
    docstring).
    """
    root = repo.require_root()
    name, anchor = root.name, root
    supers = superproject_roots(root)
    if supers:
        anchor = supers[-1]
        try:
            inner = root.relative_to(anchor).as_posix()
        except ValueError:
            inner = root.name
        name = "-".join([anchor.name, *inner.split("/")])
    base = Path(cfg.worktree_dir.replace("{repo}", name))
    if not base.is_absolute():
        base = anchor / base
    return (base / tk.name).resolve()


def checked_out_branch(path: Path) -> str | None:
    """The branch checked out in the worktree holding ``path`` (main or linked), or ``None`` if detached."""
    proc = run_git("symbolic-ref", "-q", "--short", "HEAD", cwd=path, check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip() or None


def ensure(repo: Repo, cfg: Config, tk: Ticket) -> Path:
    """Create the ticket's worktree on its branch, or reuse the existing one.

    Raises :class:`BadState` if the path holds something that is not this
    ticket's worktree (never overwritten) or the branch is missing.
    """
    path = worktree_path(repo, cfg, tk)
    root = repo.require_root()
    for outer in [root, *superproject_roots(root)]:
        if path == outer or outer in path.parents:
            where = "the main working tree" if outer == root else f"the superproject's working tree {outer}"
            raise BadState(f"worktree_dir puts {path} inside {where}; set worktree_dir outside it "
                           "(in .wo-git.toml on the base branch)")
    if tk.branch_tip is None:
        raise BadState(f"ticket {tk.label} has no branch {tk.branch}; run `wo-git doctor --fix`")
    if (path / ".git").exists():
        head = run_git("symbolic-ref", "-q", "HEAD", cwd=path, check=False).stdout.decode().strip()
        if head != tk.branch_ref:
            # the executor switched branches: put the worktree back on its ticket
            run_git("checkout", "-q", "--ignore-other-worktrees", tk.branch, cwd=path, check=False)
        reset_mailbox(cfg, tk, path, merging=False)
        gitdir = gitdir_of(path)
        if gitdir is None or not (gitdir / "MERGE_HEAD").exists():
            # wo-git moved the branch (a correction order) under the worktree: bring the files
            # from the index's tree to the tip, keeping local changes (a two-way merge)
            index_tree = run_git("write-tree", cwd=path).stdout.decode().strip()
            if index_tree != repo.tree_of(tk.branch_tip):
                try:
                    repo.two_way_checkout(path, index_tree, tk.branch_tip)
                except WoGitError as err:
                    raise BadState(f"cannot bring {path} up to {tk.branch}: {err}") from None
        resume_merge(tk, path)
        reset_mailbox(cfg, tk, path)
        return path
    if path.exists() and any(path.iterdir()):
        raise BadState(f"{path} exists and is not ticket {tk.label}'s worktree; move it away")
    if path.exists():
        path.rmdir()
    repo.add_worktree(path, tk.branch)
    for rel in cfg.copy_files:
        src = root / rel
        if src.is_file():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, path / rel)
    resume_merge(tk, path)
    return path


def reset_mailbox(cfg: Config, tk: Ticket, path: Path, tip: str | None = None, merging: bool = True) -> None:
    """Bring the worktree's mailbox folder (files and index) back to the branch's.

    The mailbox is wo-git's: the executor may only write its own round's
    report there, which does not exist yet when a round starts. A copy left
    from an earlier round (the report of a GUARD_REJECTED round as the
    executor wrote it, a stray file, an edited work order) would otherwise be
    blamed on the next round, and a review committed since would be missing.
    Only paths under ``cfg.mailbox`` change; the executor's other
    uncommitted work is untouched. ``tip`` defaults to the branch tip. In a
    round that merges the base (``tk.merging``, unless ``merging`` is false)
    the other tickets' folders are the base's, as the merge brings them.
    """
    tip = tip or tk.branch_tip
    if tip is None:
        return
    box = cfg.mailbox.strip("/")
    spec = f":(top,literal){box}"
    run_git("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", spec, cwd=path, env=_ENV, check=False)
    run_git("clean", "-f", "-f", "-d", "-x", "-q", "--", spec, cwd=path, env=_ENV, check=False)
    if tk.merging and merging:
        # a round that merges the base: the other tickets' folders as the base has them
        run_git("checkout", "-q", tk.merging, "--", spec, cwd=path, env=_ENV, check=False)
        spec = f":(top,literal){tk.folder(cfg)}"
    run_git("checkout", "-q", tip, "--", spec, cwd=path, env=_ENV, check=False)


# no global config: the executor can write ~/.gitconfig (a filter driver would run in wo-git)
_ENV = {"GIT_CONFIG_GLOBAL": os.devnull}
MERGE_STATE = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "AUTO_MERGE")


def start_merge(path: Path, commit: str, message: str) -> list[str]:
    """Begin merging ``commit`` in the worktree as ``git merge --no-ff --no-commit`` does.

    Cleanly merged files are staged, conflicted ones hold conflict markers,
    and ``MERGE_HEAD`` is set, so ``git status`` explains the state and a
    ``git commit`` there makes the merge commit. Returns the conflicted
    paths (``git diff --diff-filter=U``).
    """
    # nothing is committed, but git asks for an identity before merging
    env = dict(_ENV, GIT_COMMITTER_NAME="wo-git", GIT_COMMITTER_EMAIL="wo-git@localhost",
               GIT_AUTHOR_NAME="wo-git", GIT_AUTHOR_EMAIL="wo-git@localhost")
    proc = run_git("-c", "rerere.enabled=false", "-c", "merge.autoStash=false", "merge", "--no-ff", "--no-commit",
                   "-q", "-m", message, commit, cwd=path, env=env, check=False)
    gitdir = gitdir_of(path)
    if gitdir is None or not (gitdir / "MERGE_HEAD").exists():
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise BadState(f"could not begin the merge of {commit[:10]} in {path}: {msg[-1] if msg else 'no merge'}; "
                       "`wo-git run` tries again")
    out = run_git("diff", "--name-only", "--diff-filter=U", "-z", cwd=path, env=_ENV, check=False)
    return [p for p in out.stdout.decode("utf-8", errors="surrogateescape").split("\0") if p]


def resume_merge(tk: Ticket, path: Path) -> None:
    """At a round's start, put back the merge a round is resolving if the worktree lost it.

    Clean worktree: the merge is begun again (:func:`start_merge`). Local
    changes (an earlier attempt's partial resolution): only ``MERGE_HEAD``
    is written, so a commit there is still the merge.
    """
    gitdir = gitdir_of(path)
    if tk.merging is None or gitdir is None or (gitdir / "MERGE_HEAD").exists():
        return
    dirty = run_git("status", "--porcelain", "--untracked-files=all", cwd=path, env=_ENV, check=False).stdout
    if dirty.strip():
        (gitdir / "MERGE_HEAD").write_text(tk.merging + "\n")
        (gitdir / "MERGE_MSG").write_text(f"Merge {tk.base} into {tk.branch}\n")
    else:
        start_merge(path, tk.merging, f"Merge {tk.base} into {tk.branch}")


def end_merge(path: Path) -> None:
    """Forget a merge in progress in the worktree (its result is committed by wo-git)."""
    gitdir = gitdir_of(path)
    for name in MERGE_STATE if gitdir is not None else ():
        (gitdir / name).unlink(missing_ok=True)  # type: ignore[operator]


def gitdir_of(path: Path) -> Path | None:
    """The worktree's private git dir (``<common>/worktrees/NAME``), or ``None``."""
    dotgit = path / ".git"
    if not dotgit.is_file():
        return None
    text = dotgit.read_text().strip()
    if text.startswith("gitdir: "):
        return Path(text[len("gitdir: ") :]).resolve()
    return None


def remove(repo: Repo, cfg: Config, tk: Ticket) -> bool:
    """Remove the ticket's worktree if present; ``True`` if one was removed."""
    path = worktree_path(repo, cfg, tk)
    listed = {Path(w.path).resolve() for w in repo.worktrees()}
    if path in listed or path.exists():
        repo.remove_worktree(str(path))
        return True
    return False
