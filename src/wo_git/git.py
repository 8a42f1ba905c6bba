"""The git layer: the only module that imports pygit2.

Everything wo-git reads or writes in git goes through :class:`Repo`: objects
are written in memory (no user index or working tree is touched for
bookkeeping), and every ref update is compare-and-swap, stating the old value
it expects (the habit of git-revise). The few jobs libgit2 does not do well
(checking out a worktree with git's own safety rules, reading a worktree's
state through its index) shell out through :func:`run_git`, with a clean
environment: no inherited ``GIT_*`` variables, no system or global config, no
replace objects, hooks off.

pygit2 errors are translated here into :mod:`wo_git.errors` with actionable
text; no other module matches on libgit2 messages.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wo_git import lazy
from wo_git.errors import InvalidInput, NotARepo, StaleRef, WoGitError
from wo_git.types import MODE_BLOB, MODE_EXEC, MODE_GITLINK, MODE_LINK, Change, CommitId

ZERO = "0" * 40
_STATUS = {
    "ADDED": "A",
    "DELETED": "D",
    "MODIFIED": "M",
    "RENAMED": "R",
    "TYPECHANGE": "T",
    "COPIED": "A",
}

if TYPE_CHECKING:
    import pygit2
else:
    # imported with the first Repo (~50 ms): `list` and `show` answer from caches without it
    pygit2 = lazy.module("pygit2")
_configured = False


def _libgit2() -> None:
    """Configure libgit2 once, before the first repository is opened."""
    global _configured
    if not _configured:
        for level in (
            pygit2.enums.ConfigLevel.SYSTEM,
            pygit2.enums.ConfigLevel.XDG,
            pygit2.enums.ConfigLevel.PROGRAMDATA,
        ):
            # wo-git's own object reads must not depend on system-wide git config
            pygit2.settings.search_path[level] = ""
        _configured = True


def clean_git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git subprocesses: ``os.environ`` without ``GIT_*``.

    Hooks inherit ``GIT_DIR``/``GIT_INDEX_FILE`` and friends, which would point
    a nested git at the wrong repository (pre-commit's ``no_git_env`` does the
    same). System config, replace objects and terminal prompts are turned off.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if os.environ.get("WO_SANDBOX") == "bwrap":
        # inside wo-git's sandbox the repository's objects are read-only: keep the private store
        env.update({k: os.environ[k] for k in SANDBOX_GIT_ENV if k in os.environ})
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    if extra:
        env.update(extra)
    return env


SANDBOX_GIT_ENV = ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES")

TRUSTED_CONFIG = (
    "core.hooksPath=/dev/null", "core.fsmonitor=", "core.untrackedCache=false", "core.excludesFile=/dev/null",
    "core.autocrlf=false", "core.safecrlf=false", "core.sshCommand=", "diff.external=",
    "core.attributesFile=/dev/null",
)
"""``-c`` settings of :func:`trusted_git`: hooks, fsmonitor and planted filters' triggers off"""


def trusted_git(
    git_dir: str | Path,
    work_tree: str | Path | None,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run git on a repository or worktree named by wo-git's own records; never raises for its exit.

    ``--git-dir`` and ``--work-tree`` are given explicitly (a worktree's
    ``.git`` file, which an executor can rewrite, is never read), with no
    system or global config, hooks and fsmonitor off, no attributes file and
    no replace objects (:data:`TRUSTED_CONFIG`). Filters named in the
    repository config cannot be planted there during a sandboxed run, and
    the snapshot restores that config before wo-git's own steps run.
    """
    cmd = ["git", f"--git-dir={git_dir}"]
    if work_tree is not None:
        cmd.append(f"--work-tree={work_tree}")
    for c in TRUSTED_CONFIG:
        cmd += ["-c", c]
    full = clean_git_env({"GIT_CONFIG_GLOBAL": os.devnull, **(env or {})})
    for k in SANDBOX_GIT_ENV:
        if k not in (env or {}):
            full.pop(k, None)
    return subprocess.run(cmd + list(args), cwd=str(work_tree or git_dir), env=full, input=input,
                          capture_output=True, check=False)


def run_git(
    *args: str,
    cwd: str | Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -c core.hooksPath=/dev/null ARGS`` in ``cwd``; bytes out.

    Raises :class:`WoGitError` naming the command and git's message when
    ``check`` and git exits non-zero.
    """
    cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args]
    proc = subprocess.run(
        cmd, cwd=cwd, env=clean_git_env(env), input=input, capture_output=True, check=False
    )
    if check and proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
        raise WoGitError(f"git {' '.join(args)} failed: {msg}")
    return proc


@dataclass(frozen=True)
class CommitInfo:
    """A commit as wo-git reads it: id, parent ids, tree id, message, trailers, time (unix s)."""

    id: CommitId
    parents: tuple[CommitId, ...]
    tree: str
    message: str
    trailers: Mapping[str, str]
    time: int
    author: str

    @property
    def subject(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class WorktreeInfo:
    """A linked worktree: git's name for it, its path, and whether git may prune it."""

    name: str
    path: str
    prunable: bool


def parse_trailers(message: str) -> dict[str, str]:
    """Trailers of a commit message, as ``git interpret-trailers --parse`` reads them.

    Only the last paragraph counts, and only when every line in it is a
    ``Key: value`` trailer. Keys keep their case; a repeated key keeps its
    last value.
    """
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    out: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(": ")
        if not sep or not key or " " in key:
            return {}
        out[key] = value.strip()
    return out


def format_message(subject: str, body: str, trailers: Mapping[str, str | int | None]) -> str:
    """A commit message: subject, optional body, then one trailer paragraph."""
    lines = [f"{k}: {v}" for k, v in trailers.items() if v is not None and str(v) != ""]
    parts = [subject.strip()]
    if body.strip():
        parts.append(body.strip())
    if lines:
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


class Repo:
    """One git repository, opened from any of its worktrees.

    ``root`` is the main working tree (``None`` for a bare repository) and
    ``common_dir`` the shared ``.git`` directory.
    """

    def __init__(self, path: str | Path = ".") -> None:
        # `git rev-parse` finds the repository (2 ms); libgit2 is opened on first use (:attr:`_repo`)
        try:
            proc = run_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=path, check=False)
        except OSError:
            proc = None
        if proc is None or proc.returncode != 0:
            raise NotARepo(
                f"{Path(path).resolve()} is not inside a git repository "
                "(run wo-git inside one, or `git init` first)"
            )
        self.common_dir = Path(proc.stdout.decode().strip()).resolve()

    @functools.cached_property
    def _repo(self) -> pygit2.Repository:
        """The libgit2 handle, opened (and pygit2 imported) on first use."""
        _libgit2()
        repo = pygit2.Repository(str(self.common_dir))
        private = os.environ.get("GIT_OBJECT_DIRECTORY") if os.environ.get("WO_SANDBOX") == "bwrap" else None
        if private and Path(private).is_dir():
            # inside wo-git's sandbox: what `git add` wrote is in the run's private object store
            repo.odb.add_disk_alternate(private)
        return repo

    @functools.cached_property
    def root(self) -> Path | None:
        """The main working tree, or ``None`` for a bare repository."""
        workdir = self._repo.workdir
        return Path(workdir).resolve() if workdir else None

    # ---- paths and config -------------------------------------------------

    @property
    def wo_dir(self) -> Path:
        """``<git-common-dir>/wo``: run-time data that is not history."""
        return self.common_dir / "wo"

    def require_root(self) -> Path:
        """The main working tree; raises for a bare repository."""
        if self.root is None:
            raise InvalidInput("this is a bare repository; wo-git needs a working tree")
        return self.root

    def config_get(self, key: str) -> str | None:
        """A value from the repository's git config (local and global levels)."""
        try:
            value = self._repo.config[key]
        except KeyError:
            return None
        return str(value)

    def signature(self, name: str | None = None, email: str | None = None) -> pygit2.Signature:
        """Author/committer: given name, else ``user.name``, else ``wo-git``."""
        name = name or self.config_get("user.name") or "wo-git"
        email = email or self.config_get("user.email") or "wo-git@localhost"
        return pygit2.Signature(name, email, int(time.time()), 0)

    # ---- refs -------------------------------------------------------------

    def ref_target(self, name: str) -> CommitId | None:
        """The commit a ref points at, peeled; ``None`` if it does not exist."""
        try:
            ref = self._repo.lookup_reference(name)
        except (KeyError, pygit2.InvalidSpecError):
            return None
        try:
            return CommitId(str(ref.peel(pygit2.Commit).id))
        except (pygit2.GitError, ValueError):
            return CommitId(str(ref.resolve().target))

    def refs_under(self, prefix: str) -> dict[str, str]:
        """``{ref name: commit id}`` for the direct (not symbolic) refs under ``prefix`` (ending in ``/``).

        ``git for-each-ref PREFIX`` reads only that part of the ref store and
        does not open libgit2, where :meth:`list_refs` visits every ref (a
        busy repository has a branch and a record per ticket). Raises
        :class:`WoGitError` if git fails.
        """
        out = run_git("for-each-ref", "--format=%(objectname) %(symref) %(refname)", prefix,
                      cwd=self.common_dir).stdout.decode()
        refs: dict[str, str] = {}
        for line in out.splitlines():
            oid, symref, name = line.split(" ", 2)
            if not symref:
                refs[name] = oid
        return refs

    def ref_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        """``{full ref name: object id, or None if absent}`` from one ``git cat-file --batch-check``.

        Each name is looked up on its own (a loose file, or a binary search of
        ``packed-refs``), so the cost does not grow with the number of refs,
        and libgit2 is not opened: this is how ``show`` checks its cache.
        Names must be full (``refs/...``). Raises :class:`WoGitError` if git fails.
        """
        if any(not n.startswith("refs/") or "\n" in n for n in names):
            raise ValueError(f"not full ref names: {names!r}")
        out = run_git("cat-file", "--batch-check=%(objectname)", cwd=self.common_dir,
                      input="".join(f"{n}\n" for n in names).encode()).stdout.decode().splitlines()
        return {n: (None if line.endswith(" missing") else line) for n, line in zip(names, out, strict=True)}

    def list_refs(self, prefix: str = "refs/") -> dict[str, str]:
        """Every ref under ``prefix`` with its raw target (oid, or ``ref: NAME`` if symbolic)."""
        out: dict[str, str] = {}
        for ref in self._repo.listall_reference_objects():
            if not ref.name.startswith(prefix):
                continue
            target = ref.target
            out[ref.name] = (
                f"ref: {target}" if isinstance(target, str) else str(target)
            )
        return out

    def resolve_commit(self, rev: str) -> CommitId:
        """A revision (branch, tag, oid, ``HEAD~2``) peeled to a commit id."""
        try:
            obj = self._repo.revparse_single(rev)
            return CommitId(str(obj.peel(pygit2.Commit).id))
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise InvalidInput(f"no commit named {rev!r} in this repository") from None

    def branch_exists(self, branch: str) -> bool:
        """Whether ``refs/heads/BRANCH`` exists."""
        return self.ref_target(f"refs/heads/{branch}") is not None

    def head_branch(self) -> str | None:
        """The branch checked out in the main worktree, or ``None`` if detached/unborn."""
        try:
            head = self._repo.lookup_reference("HEAD")
        except KeyError:
            return None
        target = head.target
        if isinstance(target, str) and target.startswith("refs/heads/"):
            return target[len("refs/heads/") :]
        return None

    def create_ref(self, name: str, target: str, message: str) -> bool:
        """Create ``name`` -> ``target`` only if absent; ``False`` if it exists or is being created.

        This is the atomic create-if-absent that ticket ids are allocated
        with: the absence is checked while holding the ref's lock (libgit2's
        own non-forced create checks before locking, which races).
        """
        try:
            self.update_refs([(name, target, None)], message)
        except StaleRef:
            return False
        return True

    def update_refs(self, updates: Sequence[tuple[str, str | None, str | None]], message: str) -> None:
        """Atomically move refs: each ``(name, new, expected_old)``.

        ``new`` ``None`` deletes the ref; ``expected_old`` ``None`` means the ref
        must not exist. Raises :class:`StaleRef` (and changes nothing) if any
        ref is not at its expected value or is locked by another process.
        """
        try:
            with self._repo.transaction() as txn:
                for name, _new, old in updates:
                    txn.lock_ref(name)
                    current = self.ref_target(name)
                    if current != old:
                        raise StaleRef(
                            f"{name} moved (expected {short(old)}, found {short(current)}); "
                            "someone else changed it: re-run the command"
                        )
                for name, new, _old in updates:
                    if new is None:
                        txn.remove(name)
                    else:
                        txn.set_target(name, pygit2.Oid(hex=new), message=message)
                self._journal(updates, message)
        except (pygit2.GitError, OSError) as err:
            raise StaleRef(f"could not update {updates[0][0]}: {err}; re-run the command") from None

    @property
    def journal_path(self) -> Path:
        """``<common>/wo/ref-journal.jsonl``: every ref move wo-git made, one JSON line each."""
        return self.wo_dir / "ref-journal.jsonl"

    def _journal(self, updates: Sequence[tuple[str, str | None, str | None]], message: str) -> None:
        # written while the refs are still locked, so a concurrent run's snapshot comparison
        # never sees a wo-git move without its journal line
        self.wo_dir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        lines = "".join(
            json.dumps({"t": now, "pid": os.getpid(), "ref": n, "old": o, "new": v, "msg": message}) + "\n"
            for n, v, o in updates
        )
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, lines.encode())
        finally:
            os.close(fd)

    def journal_since(self, since: float) -> set[tuple[str, str | None]]:
        """``(ref, new value)`` of every move wo-git journaled at or after ``since`` (unix s)."""
        out: set[tuple[str, str | None]] = set()
        try:
            with open(self.journal_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - (4 << 20)))  # the recent tail is enough
                for raw in f:
                    try:
                        row = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(row, dict) and row.get("t", 0) >= since:
                        out.add((row["ref"], row["new"]))
        except OSError:
            pass
        return out

    # ---- objects ----------------------------------------------------------

    def commit_info(self, oid: str) -> CommitInfo:
        """Read one commit; raises :class:`InvalidInput` if it is not a commit."""
        try:
            c = self._repo[oid]
        except (KeyError, ValueError):
            raise InvalidInput(f"no object {oid}") from None
        if not isinstance(c, pygit2.Commit):
            raise InvalidInput(f"{oid} is not a commit")
        # libgit2 honours neither replace refs nor grafts here: we want the real parents
        return CommitInfo(
            id=CommitId(str(c.id)),
            parents=tuple(CommitId(str(p)) for p in c.parent_ids),
            tree=str(c.tree_id),
            message=c.message,
            trailers=parse_trailers(c.message),
            time=c.commit_time,
            author=f"{c.author.name} <{c.author.email}>",
        )

    def first_parent_chain(self, tip: str, limit: int = 10_000) -> Iterator[CommitInfo]:
        """Commits from ``tip`` down its first parents, newest first."""
        oid: str | None = tip
        while oid and limit > 0:
            info = self.commit_info(oid)
            yield info
            oid = info.parents[0] if info.parents else None
            limit -= 1

    def rev_list(self, tip: str, stop: str | None, *also: str) -> list[CommitId]:
        """Commits reachable from ``tip`` and not from ``stop`` (nor ``also``), oldest first
        (``stop..tip``, ``git rev-list tip ^stop ^also...``)."""
        walker = self._repo.walk(pygit2.Oid(hex=tip), pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
        for hidden in (stop, *also):
            if hidden:
                walker.hide(pygit2.Oid(hex=hidden))
        return [CommitId(str(c.id)) for c in walker]

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from (or equal to) ``descendant``."""
        if ancestor == descendant:
            return True
        return bool(self._repo.descendant_of(pygit2.Oid(hex=descendant), pygit2.Oid(hex=ancestor)))

    def merge_base(self, a: str, b: str) -> CommitId | None:
        """The best common ancestor of two commits, or ``None``."""
        oid = self._repo.merge_base(pygit2.Oid(hex=a), pygit2.Oid(hex=b))
        return CommitId(str(oid)) if oid else None

    def read_blob(self, oid: str) -> bytes:
        """A blob's bytes."""
        blob = self._repo[oid]
        if not isinstance(blob, pygit2.Blob):
            raise InvalidInput(f"{oid} is not a blob")
        return bytes(blob.data)

    def blob_size(self, oid: str) -> int:
        """A blob's size in bytes, read from the object header (the content is not loaded)."""
        return int(self._repo.odb.read_header(pygit2.Oid(hex=oid))[1])

    def entry(self, tree_ish: str, path: str) -> tuple[int, str] | None:
        """``(mode, oid)`` of the entry at ``path`` in a commit's or tree's tree, or ``None``."""
        tree = self._repo[tree_ish].peel(pygit2.Tree)
        try:
            e = tree[path]
        except (KeyError, ValueError):
            return None
        return int(e.filemode), str(e.id)

    def read_path(self, commit: str, path: str) -> bytes | None:
        """The blob at ``path`` in ``commit``'s tree, or ``None`` if absent or not a file."""
        tree = self._repo[commit].peel(pygit2.Tree)
        try:
            entry = tree[path]
        except KeyError:
            return None
        if entry.type != pygit2.enums.ObjectType.BLOB:
            return None
        blob = self._repo[entry.id]
        assert isinstance(blob, pygit2.Blob)
        return bytes(blob.data)

    def write_commit(
        self,
        parents: Sequence[str],
        message: str,
        *,
        base_tree: str | None = None,
        files: Mapping[str, bytes | None] | None = None,
        tree: str | None = None,
        author: pygit2.Signature | None = None,
    ) -> CommitId:
        """Write a commit object (no ref moves; nothing on disk but the object).

        The tree is ``tree`` if given, else ``base_tree`` (default: the first
        parent's) with ``files`` applied: ``{path: bytes}`` writes a regular
        file, ``{path: None}`` deletes it.
        """
        if tree is None:
            idx = pygit2.Index()
            source = base_tree or (parents[0] if parents else None)
            if source:
                idx.read_tree(self._repo[source].peel(pygit2.Tree))
            for path, data in (files or {}).items():
                if data is None:
                    if path in idx:
                        idx.remove(path)
                else:
                    idx.add(pygit2.IndexEntry(path, self._repo.create_blob(data), pygit2.enums.FileMode.BLOB))
            tree = str(idx.write_tree(self._repo))
        sig = author or self.signature()
        committer = self.signature()
        oid = self._repo.create_commit(
            None, sig, committer, message, pygit2.Oid(hex=tree), [pygit2.Oid(hex=p) for p in parents]
        )
        return CommitId(str(oid))

    def tree_of(self, commit: str) -> str:
        """The tree id of a commit."""
        return str(self._repo[commit].peel(pygit2.Tree).id)

    # ---- diffs ------------------------------------------------------------

    def changes(self, old: str | None, new: str) -> list[Change]:
        """Every changed path from tree-ish ``old`` (``None``: empty tree) to ``new``.

        Renames are detected (``FIND_RENAMES``, never from user config); type
        changes are reported as ``T``; gitlinks appear with mode 160000.
        """
        new_tree = self._repo[new].peel(pygit2.Tree)
        flags = pygit2.enums.DiffOption.INCLUDE_TYPECHANGE | pygit2.enums.DiffOption.IGNORE_SUBMODULES
        if old is None:
            diff = new_tree.diff_to_tree(swap=True, flags=flags)
        else:
            old_tree = self._repo[old].peel(pygit2.Tree)
            diff = old_tree.diff_to_tree(new_tree, flags=flags)
        diff.find_similar(flags=pygit2.enums.DiffFind.FIND_RENAMES | pygit2.enums.DiffFind.FIND_FOR_UNTRACKED)
        out: list[Change] = []
        for d in diff.deltas:
            status = _STATUS.get(d.status.name, "M")
            old_present = status not in ("A",)
            new_present = status not in ("D",)
            if d.status.name == "COPIED":
                old_present = False
            out.append(
                Change(
                    status=status,
                    old_path=d.old_file.path if old_present else None,
                    new_path=d.new_file.path if new_present else None,
                    old_mode=int(d.old_file.mode) if old_present else None,
                    new_mode=int(d.new_file.mode) if new_present else None,
                    old_oid=str(d.old_file.id) if old_present else None,
                    new_oid=str(d.new_file.id) if new_present else None,
                )
            )
        return out

    def diff_text(self, old: str, new: str, paths: Sequence[str] = ()) -> str:
        """The unified diff (with rename headers, binary markers) from ``old`` to ``new``.

        Computed by git itself with a clean environment (no external diff or
        textconv); ``paths`` limits it.
        """
        root = self.require_root()
        args = ["diff", "--no-ext-diff", "--no-textconv", "--no-color", "-M", "--full-index", old, new]
        if paths:
            args += ["--", *paths]
        return run_git(*args, cwd=root).stdout.decode("utf-8", errors="replace")

    # ---- merges -----------------------------------------------------------

    def merge_tree(self, ours: str, theirs: str) -> tuple[str | None, list[str]]:
        """Merge two commits in memory: ``(tree_id, [])`` or ``(None, conflicting paths)``.

        Nothing on disk changes; the repository's index is not consulted.
        """
        idx = self._repo.merge_commits(pygit2.Oid(hex=ours), pygit2.Oid(hex=theirs))
        if idx.conflicts is not None:
            paths = sorted(
                {e.path for triple in idx.conflicts for e in triple if e is not None}
            )
            return None, paths
        return str(idx.write_tree(self._repo)), []

    # ---- worktrees --------------------------------------------------------

    def worktrees(self) -> list[WorktreeInfo]:
        """Linked worktrees known to git."""
        out = []
        for name in self._repo.list_worktrees():
            try:
                wt = self._repo.lookup_worktree(name)
            except (KeyError, pygit2.GitError):
                continue
            out.append(WorktreeInfo(name, str(wt.path), bool(wt.is_prunable)))
        return out

    def add_worktree(self, path: Path, branch: str) -> None:
        """Check out ``branch`` in a new linked worktree at ``path`` (via git itself).

        git (not libgit2) does this so the checkout honours the same rules as
        ``git worktree add`` (attributes, sparse settings, ``.git`` file format).
        The checkout happens at ``PATH.partial`` and is then moved into place,
        so a crash mid-checkout never leaves a half-filled worktree at ``path``
        (a leftover ``.partial`` is removed by the next attempt).
        """
        root = self.require_root()
        partial = path.with_name(path.name + ".partial")
        if partial.exists():
            self.remove_worktree(str(partial))
        self.prune_worktrees()
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git("worktree", "add", "--quiet", str(partial), branch, cwd=root)
        run_git("worktree", "move", str(partial), str(path), cwd=root)

    def remove_worktree(self, path: str) -> None:
        """Remove a linked worktree directory and git's record of it (forced)."""
        root = self.require_root()
        if Path(path).exists():
            run_git("worktree", "remove", "--force", "--force", path, cwd=root, check=False)
        if Path(path).exists():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        self.prune_worktrees()

    def prune_worktrees(self) -> None:
        """Forget worktrees whose directories are gone (``git worktree prune``)."""
        if self.root is not None:
            run_git("worktree", "prune", cwd=self.root, check=False)

    def checked_out_in(self, branch: str) -> list[str]:
        """Paths of every worktree (main included) that has ``branch`` checked out."""
        root = self.require_root()
        out = run_git("worktree", "list", "--porcelain", "-z", cwd=root).stdout.decode()
        paths: list[str] = []
        current = None
        for field in out.split("\0"):
            if field.startswith("worktree "):
                current = field[len("worktree ") :]
            elif field == f"branch refs/heads/{branch}" and current:
                paths.append(current)
        return paths

    def snapshot_worktree(self, worktree: Path, exclude: Sequence[str] = (), git_dir: Path | None = None) -> str:
        """The tree of a worktree's files as ``git add -A`` would stage them.

        Uses a private index (``GIT_INDEX_FILE``) seeded from the worktree's
        HEAD, so the worktree's own index is untouched. Honours ``.gitignore``
        from the base config, not the executor's ``core.excludesFile``.
        ``exclude``: gitignore lines of wo-git's own (an executor CLI's state,
        :func:`wo_git.executors.profiles.state_excludes`), given to git as
        ``core.excludesFile``: like any ignore rule they leave out untracked
        paths only, never a tracked file's change. ``git_dir``: the worktree's
        git directory from wo-git's records (then the worktree's ``.git`` file
        is never read; :func:`trusted_git`).
        """
        if git_dir is None:
            git_dir = Path(run_git("rev-parse", "--absolute-git-dir", cwd=worktree).stdout.decode().strip())
        tmp_index = Path(git_dir) / "wo-snapshot.index"
        excludes: Path | None = None
        # no global config either: the executor can write ~/.gitconfig, and a `filter.x.clean`
        # there (with a .gitattributes in the worktree) would run its command here, in wo-git
        env = {"GIT_INDEX_FILE": str(tmp_index)}

        def git(*args: str) -> str:
            proc = trusted_git(git_dir, worktree, *args, env=env)
            if proc.returncode != 0:
                msg = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
                raise WoGitError(f"git {' '.join(args)} failed: {msg}")
            return proc.stdout.decode().strip()

        try:
            tmp_index.unlink(missing_ok=True)
            excludes_file = os.devnull
            if exclude:
                # a fresh private file (mkstemp), not one in the git dir the executor can write
                import tempfile

                fd, name = tempfile.mkstemp(prefix="wo-exclude-")
                excludes = Path(name)
                with os.fdopen(fd, "w") as f:
                    f.write("".join(line + "\n" for line in exclude))
                excludes_file = name
            git("read-tree", "HEAD")
            git("-c", f"core.excludesFile={excludes_file}", "add", "-A", "--", ".")
            return git("write-tree")
        finally:
            tmp_index.unlink(missing_ok=True)
            if excludes is not None:
                excludes.unlink(missing_ok=True)

    def worktree_dirty_paths(self, worktree: Path) -> set[str]:
        """Paths with staged or unstaged changes to tracked files in a worktree."""
        out = run_git("status", "--porcelain=v1", "-z", "--untracked-files=no", cwd=worktree)
        paths: set[str] = set()
        fields = out.stdout.decode("utf-8", errors="surrogateescape").split("\0")
        i = 0
        while i < len(fields):
            f = fields[i]
            if len(f) > 3:
                paths.add(f[3:])
                if f[0] in "RC":
                    i += 1
                    if i < len(fields):
                        paths.add(fields[i])
            i += 1
        return paths

    def two_way_checkout(self, worktree: Path, old: str, new: str) -> None:
        """Move a worktree's index and files from commit ``old`` to ``new``.

        ``git read-tree -m -u old new``: the fast-forward update ``git merge``
        uses. It refuses, changing nothing, when local changes would be
        overwritten; raises :class:`WoGitError` with git's message, or
        :class:`StaleRef` (one line, exit 6) when another process holds the index lock.
        """
        proc = run_git("read-tree", "-m", "-u", old, new, cwd=worktree, check=False)
        if proc.returncode != 0:
            msg = proc.stderr.decode(errors="replace")
            if "index.lock" in msg:
                # another git process (a concurrent accept, the user's git) holds the index
                raise StaleRef(f"{worktree}'s index is locked by another git process: nothing was "
                               "changed; re-run the command (or `wo-git doctor --fix` if no git is running)")
            raise WoGitError(f"git read-tree -m -u {old} {new} failed: {msg.strip() or proc.returncode}")

    def free(self) -> None:
        """Release libgit2's file handles (if libgit2 was opened at all)."""
        if "_repo" in self.__dict__:
            self._repo.free()


def short(oid: str | None) -> str:
    """A 10-hex abbreviation, or ``(none)``."""
    return oid[:10] if oid else "(none)"


def mode_kind(mode: int | None) -> str:
    """A git mode as a word: ``file``, ``executable``, ``symlink``, ``submodule``, ``absent``."""
    return {
        MODE_BLOB: "file",
        MODE_EXEC: "executable",
        MODE_LINK: "symlink",
        MODE_GITLINK: "submodule",
        None: "absent",
    }.get(mode, f"mode {mode:o}" if mode is not None else "absent")


# ---- object reads through git's plumbing, without pygit2 ----------------------------------
