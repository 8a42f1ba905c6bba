"""``wo-git guard``: the guard on demand and as the pre-commit hook.

``--staged`` (and ``--hook``, what the pre-commit framework runs) checks the
index of the current worktree against its HEAD; ``--range A..B`` every
commit in the range; ``--ticket ID`` everything a ticket would merge. The
policy is the committed one: the ticket's base branch in a ticket worktree,
else the current branch's committed ``.wo-git.toml`` (defaults if none).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from wo_git.errors import InvalidInput
from wo_git.git import Repo, run_git
from wo_git.plumbing import PlumbingReader

if TYPE_CHECKING:
    from wo_git import tickets
    from wo_git.guard.check import Violation

# ``--range`` needs none of the ticket and run machinery (nor pydantic, unless a config is
# committed), and starts git reading blobs before it imports the guard itself: modules are
# imported inside the functions that use them.

CONFIG_FILE = ".wo-git.toml"  # wo_git.config.CONFIG_FILE, without importing pydantic


def _ticket_of_worktree(repo: Repo, cwd: Path) -> tickets.Ticket | None:
    from wo_git import tickets

    head = run_git("symbolic-ref", "-q", "HEAD", cwd=cwd, check=False).stdout.decode().strip()
    m = re.fullmatch(r"refs/heads/wo/(\d{4,})-[a-z0-9._-]+", head)
    number = m.group(1) if m else None
    if number is None and os.environ.get("WO_SANDBOX") == "bwrap" and os.environ.get("WO_TICKET", "").isdigit():
        # inside wo-git's sandbox HEAD is a private detached copy: the run names its ticket
        number = os.environ["WO_TICKET"]
    if number is None:
        return None
    try:
        return tickets.load(repo, int(number))
    except Exception:  # a branch named like a ticket without a record: plain policy
        return None


def staged(repo: Repo, cwd: Path, hook: bool = False) -> list[Violation]:
    """Violations in the index of the worktree at ``cwd`` against its HEAD.

    Inside a git hook the index being committed is ``$GIT_INDEX_FILE`` (a
    temporary one for ``git commit -a`` or ``git commit PATH``), which is
    read here although other ``GIT_*`` variables are dropped.

    As the pre-commit hook (``hook``) outside a ticket's worktree only the
    secrets category counts: people edit CI, deploy and control files on
    their own branches (``wo-git init``'s files among them), and the hook is
    there to stop executors and leaked secrets, not them.
    """
    from wo_git import tickets
    from wo_git.config import Config, load_config
    from wo_git.guard.check import MailboxRule, check_changes, check_tree
    from wo_git.guard.policy import Policy
    from wo_git.runs.postrun import policy_for
    from wo_git.runs.run import ticket_config

    index = os.environ.get("GIT_INDEX_FILE")
    env = {"GIT_INDEX_FILE": str(cwd / index)} if index else None
    tree = run_git("write-tree", cwd=cwd, env=env).stdout.decode().strip()
    head = run_git("rev-parse", "-q", "--verify", "HEAD", cwd=cwd, check=False).stdout.decode().strip()
    tk = _ticket_of_worktree(repo, cwd)
    if tk is not None:
        cfg = ticket_config(repo, tk)
        tk = tickets.load(repo, tk.id, cfg)
        policy = policy_for(repo, cfg, tk)
        box: MailboxRule | None = MailboxRule(cfg.mailbox, frozenset({tk.report_path(cfg)}))
    else:
        branch = repo.head_branch()
        cfg = load_config(repo, branch) if branch and repo.branch_exists(branch) else Config()
        policy, box = Policy.build(cfg.guard, mailbox=cfg.mailbox), None
    if tk is not None and tk.merging and head:
        # the round merges the base (wo-git's record says which commit): what comes from it is not blamed
        found = check_tree(repo, policy, tree, [head, tk.merging], "index", box, own=tk.folder(cfg))
    else:
        found = check_changes(repo, policy, repo.changes(head or None, tree), "index", box, tree=tree)
    if hook and tk is None:
        found = [v for v in found if v.category == "secrets"]
    return found


def commit_range(path: str | Path, spec: str) -> list[Violation]:
    """Violations in every commit of ``A..B`` (``A`` empty: from the root; ``B`` empty:
    ``HEAD``), for the repository at ``path``, under the policy committed on the main
    worktree's branch (defaults if none is committed).

    Reads git through :class:`~wo_git.plumbing.PlumbingReader`: a handful of git
    processes for the whole range, with :class:`~wo_git.git.Repo`'s answers.
    Raises :class:`InvalidInput` for a spec without ``..`` or a name that is
    not a commit, :class:`~wo_git.errors.NotARepo` outside a repository,
    :class:`~wo_git.errors.InvalidConfig` for a committed config that does
    not validate.
    """
    if ".." not in spec:
        raise InvalidInput(f"--range needs A..B, got {spec!r}")
    reader = PlumbingReader(path)
    try:
        return _commit_range(reader, spec)
    finally:
        reader.close()


def _commit_range(reader: PlumbingReader, spec: str) -> list[Violation]:
    a, b = spec.split("..", 1)
    b = b or "HEAD"
    branch = reader.head_branch()
    # one `git cat-file --batch-check` answers every name asked below
    names = [f"{b}^{{commit}}"] + ([f"{a}^{{commit}}"] if a else [])
    if branch:
        names += [f"refs/heads/{branch}", f"{branch}^{{commit}}", f"{branch}^{{commit}}:{CONFIG_FILE}"]
    reader.lookup(*names)
    start = reader.resolve_commit(a) if a else None
    end = reader.resolve_commit(b)
    if branch and reader.branch_exists(branch):
        reader.resolve_commit(branch)  # raises as load_config does if the branch is no commit
        data = reader.read_path(branch, CONFIG_FILE)  # at that commit (one batch-check answered both)
    else:
        data = None
    # git reads the range's blobs from here on, while the commits are listed, diffed and planned
    reader.export_range(end, start)
    commits = reader.rev_list(end, start)
    reader.read_commits([*commits, *([start] if start else [])])  # the first commit's parent, usually
    reader.read_changes([(parent, oid) for oid in commits for parent in reader.commit_info(oid).parents or (None,)])
    from wo_git.guard.check import check_commits
    from wo_git.guard.policy import DEFAULT_MAILBOX, Policy

    if data is not None:
        import tomllib

        try:
            if not tomllib.loads(data.decode("utf-8", errors="replace")):
                data = None  # nothing but comments (init's file): Config() as validated, no pydantic
        except tomllib.TOMLDecodeError:
            pass  # parse_config says what is wrong
    if data is None:
        # wo_git.config.load_config's answer without a committed file: Config()'s defaults
        policy = Policy.build(None, mailbox=DEFAULT_MAILBOX)
    else:
        from wo_git.config import parse_config

        cfg = parse_config(data.decode("utf-8", errors="replace"), f"{CONFIG_FILE} on {branch}")
        policy = Policy.build(cfg.guard, mailbox=cfg.mailbox)
    return check_commits(reader, policy, commits, None)


def ticket(repo: Repo, ticket_id: str) -> list[Violation]:
    """Violations ``accept`` would refuse for a ticket."""
    from wo_git import tickets
    from wo_git.runs.run import ticket_config
    from wo_git.tickets.verdict import guard_ticket

    tk = tickets.load(repo, ticket_id)
    cfg = ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    base_tip = repo.ref_target(f"refs/heads/{tk.base}")
    if base_tip is None:
        raise InvalidInput(f"base branch {tk.base!r} does not exist")
    return guard_ticket(repo, cfg, tk, base_tip, tk.branch_tip or tk.tip)
