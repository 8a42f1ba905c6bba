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

_EMPTY_TREE = {
    40: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    64: "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}
_PLAIN_MODES = frozenset({MODE_BLOB, MODE_EXEC, MODE_LINK})


@dataclass(frozen=True)
class BlobBatch:
    """Blobs read in one pass (:meth:`PlumbingReader.read_blobs`).

    ``data`` is git's ``cat-file --batch`` output for every blob not over the
    size limit; ``spans`` maps each of those oids to ``(offset, size)`` in
    ``data``; ``sizes`` has the size of every requested oid. Each blob is
    followed by ``\\n`` and the next object's header (hex oid, ``blob``,
    digits).
    """

    data: bytes
    spans: Mapping[str, tuple[int, int]]
    sizes: Mapping[str, int]

    def blob(self, oid: str) -> bytes:
        """One blob's bytes (a copy); ``KeyError`` if it was not read."""
        start, size = self.spans[oid]
        return self.data[start : start + size]


class PlumbingReader:
    """Read-only access to a repository's objects through git's plumbing, without pygit2.

    It answers the part of :class:`Repo` that ``wo-git guard --range`` reads
    (``common_dir``, :meth:`resolve_commit`, :meth:`head_branch`,
    :meth:`branch_exists`, :meth:`read_path`, :meth:`rev_list`,
    :meth:`commit_info`, :meth:`changes`, :meth:`read_blob`,
    :meth:`blob_size`, :meth:`entry`) with the same results, and reads many
    objects with one git process (:meth:`lookup`, :meth:`read_commits`,
    :meth:`read_changes`, :meth:`read_blobs`). Like :class:`Repo` it works
    on the main repository (the common git directory) from any worktree, so
    ``HEAD`` is the main worktree's. Where git's plumbing and libgit2 could
    disagree it asks its :class:`Repo` (whose libgit2 handle, and pygit2,
    load on that first question): changes that add and delete paths (rename detection could pair
    them), type changes, gitlinks, walks with merges (libgit2's topological
    order), commits with an ``encoding`` header or text that is not UTF-8,
    and tree entries (symlink chains).

    Raises :class:`NotARepo` when ``path`` is not in a git repository.
    """

    def __init__(self, path: str | Path = ".") -> None:
        self._repo = Repo(path)  # finds the repository; libgit2 stays unopened until asked
        self.common_dir = self._repo.common_dir
        self._names: dict[str, tuple[str, str, int] | None] = {}
        self._commits: dict[str, CommitInfo] = {}
        self._changes: dict[tuple[str | None, str], list[Change]] = {}
        self._plain: dict[tuple[str | None, str], PlainDiff | None] = {}  # None: ask libgit2
        self._batches: list[BlobBatch] = []  # the latest two read
        self._ahead: _ReadAhead | None = None

    def _full(self) -> Repo:
        """The :class:`Repo` (libgit2), for what plumbing output cannot settle exactly."""
        return self._repo

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        """:func:`run_git` on the common directory, through files rather than pipes: git
        writes each blob with its own ``write(2)``, and a pipe wakes the reader for each."""
        return self._git_split(args, [input or b""])[0]

    def _git_split(self, args: Sequence[str], inputs: Sequence[bytes]) -> list[bytes]:
        """The output of one ``git ARGS`` per input, all running at once (``cat-file
        --batch`` over two halves of 10,000 blobs takes half the time on two idle cores)."""
        cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
               f"--git-dir={self.common_dir}", *args]
        import io

        files: list[io.BufferedRandom] = []
        running: list[tuple[io.BufferedRandom, subprocess.Popen[bytes]]] = []
        try:
            for data in inputs:
                stdin, stdout = open(_scratch_fd(), "w+b"), open(_scratch_fd(), "w+b")
                files += [stdin, stdout]
                stdin.write(data)
                stdin.seek(0)
                running.append((stdout, subprocess.Popen(cmd, cwd=self.common_dir, env=clean_git_env(),
                                                         stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)))
            out = []
            for stdout, proc in running:
                _, err = proc.communicate()
                if proc.returncode != 0:
                    msg = err.decode(errors="replace").strip() or f"exit {proc.returncode}"
                    raise WoGitError(f"git {' '.join(args)} failed: {msg}")
                stdout.seek(0)
                out.append(stdout.read())
            return out
        finally:
            for _, proc in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for file in files:
                file.close()

    # ---- names ------------------------------------------------------------------

    def lookup(self, *names: str) -> list[tuple[str, str, int] | None]:
        """``(oid, type, size)`` of each object name (``main``, ``A^{commit}``, ``REV:path``, an oid),
        ``None`` where git resolves nothing. Answers are kept: ask for every name a
        command will need at once, and it costs one ``git cat-file --batch-check``."""
        ask = [n for n in dict.fromkeys(names) if n not in self._names]
        for name in [n for n in ask if "\n" in n or n != n.strip() or not n]:
            self._names[name] = None
            ask.remove(name)
        if ask:
            out = self._git("cat-file", "--batch-check", "--buffer",
                            input="".join(n + "\n" for n in ask).encode()).decode("utf-8", "replace")
            for name, line in zip(ask, out.split("\n"), strict=False):
                fields = line.split(" ")
                ok = len(fields) == 3 and len(fields[0]) in _EMPTY_TREE and fields[2].isdigit()
                self._names[name] = (fields[0], fields[1], int(fields[2])) if ok else None
        return [self._names.get(n) for n in names]

    def resolve_commit(self, rev: str) -> CommitId:
        """:meth:`Repo.resolve_commit`: a revision peeled to a commit id; :class:`InvalidInput` if none."""
        found = self.lookup(f"{rev}^{{commit}}")[0]
        if found is None or found[1] != "commit":
            raise InvalidInput(f"no commit named {rev!r} in this repository")
        return CommitId(found[0])

    def head_branch(self) -> str | None:
        """:meth:`Repo.head_branch`: the main worktree's branch, ``None`` if detached or unborn."""
        try:
            head = (self.common_dir / "HEAD").read_text(errors="surrogateescape").strip()
        except OSError:
            return None
        return head[len("ref: refs/heads/") :] if head.startswith("ref: refs/heads/") else None

    def branch_exists(self, branch: str) -> bool:
        """Whether ``refs/heads/BRANCH`` exists."""
        return self.lookup(f"refs/heads/{branch}")[0] is not None

    def read_path(self, commit: str, path: str) -> bytes | None:
        """:meth:`Repo.read_path`: the blob at ``path`` in ``commit``'s tree, ``None`` if absent or not a file."""
        found = self.lookup(f"{commit}^{{commit}}:{path}")[0]
        if found is None or found[1] != "blob":
            return None
        return self.read_blob(found[0])

    # ---- commits ------------------------------------------------------------------

    def rev_list(self, tip: str, stop: str | None, *also: str) -> list[CommitId]:
        """:meth:`Repo.rev_list`: ``stop..tip``, oldest first (libgit2's order when merges are in it)."""
        hide = [f"^{h}" for h in (stop, *also) if h]
        out = self._git("rev-list", "--parents", "--topo-order", "--reverse", tip, *hide, "--")
        rows = [line.split(" ") for line in out.decode().split("\n") if line]
        if any(len(row) > 2 for row in rows):
            # with merges several orders are topological: take the one libgit2 picks
            return self._full().rev_list(tip, stop, *also)
        return [CommitId(row[0]) for row in rows]

    def commit_info(self, oid: str) -> CommitInfo:
        """:meth:`Repo.commit_info`; :class:`InvalidInput` if ``oid`` is not a commit."""
        if oid not in self._commits:
            self.read_commits([oid])
        return self._commits[oid]

    def read_commits(self, oids: Sequence[str]) -> None:
        """Read many commits (for :meth:`commit_info`) with one ``git cat-file --batch``."""
        ask = [o for o in dict.fromkeys(oids) if o not in self._commits]
        if not ask:
            return
        out = self._git("cat-file", "--batch", input="".join(o + "\n" for o in ask).encode())
        pos = 0
        for oid in ask:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].decode("utf-8", "replace").split(" ")
            size = int(header[2]) if len(header) == 3 and header[2].isdigit() else -1
            raw = out[nl + 1 : nl + 1 + size] if size >= 0 else b""
            pos = nl + 1 + (size + 1 if size >= 0 else 0)
            info = _parse_commit(header[0], raw) if header[1:2] == ["commit"] else None
            # a missing object or another type: Repo raises what it always raised
            self._commits[oid] = info or self._full().commit_info(oid)

    # ---- diffs ----------------------------------------------------------------------

    def changes(self, old: str | None, new: str) -> list[Change]:
        """:meth:`Repo.changes` between two commits (``old`` ``None``: the empty tree)."""
        pair = (old, new)
        if pair not in self._changes:
            if pair not in self._plain:
                self.read_changes([pair])
            plain = self._plain[pair]
            self._changes[pair] = plain.changes() if plain is not None else self._full().changes(old, new)
        return self._changes[pair]

    def read_changes(self, pairs: Sequence[tuple[str | None, str]]) -> None:
        """Diff many ``(old, new)`` commit pairs (for :meth:`changes`) with one ``git diff-tree --stdin``.

        A pair whose diff adds and deletes paths (a rename libgit2 could pair
        up), changes a type, or touches a gitlink is diffed by
        :meth:`Repo.changes` instead, so every answer is libgit2's.
        """
        ask = [p for p in dict.fromkeys(pairs) if p not in self._plain and p not in self._changes]
        if not ask:
            return
        self.read_commits([c for p in ask for c in p if c])
        trees: dict[tuple[str, str], list[tuple[str | None, str]]] = {}
        for old, new in ask:
            new_tree = self._commits[new].tree
            old_tree = self._commits[old].tree if old else _EMPTY_TREE[len(new_tree)]
            trees.setdefault((old_tree, new_tree), []).append((old, new))
        out = self._git("diff-tree", "--stdin", "-r", "-z", "--raw", "--no-renames", "--no-abbrev",
                        "--ignore-submodules=none", input="".join(f"{a} {b}\n" for a, b in trees).encode())
        # per pair an "OLD NEW\n" line, then ":MODE MODE OID OID STATUS\0PATH\0" per changed path
        # (one path each: no renames), so entries sit at even tokens, each pair's line
        # glued to the front of its first entry (or of the next pair's, if it has none)
        tokens = out.split(b"\x00")
        metas, paths = tokens[0::2], tokens[1::2]
        cuts = [i for i, meta in enumerate(metas) if not meta.startswith(b":")]
        found: dict[tuple[str, str], PlainDiff | None] = {}
        for n, i in enumerate(cuts):
            *lines, metas[i] = metas[i].split(b"\n")
            key = ("", "")
            for line in lines:
                a, _, b = line.decode().partition(" ")
                key = (a, b)
                found[key] = PlainDiff.parse([], [])
            end = cuts[n + 1] if n + 1 < len(cuts) else len(metas)
            if lines and metas[i]:
                found[key] = PlainDiff.parse(metas[i:end], paths[i:end])
        for key, commit_pairs in trees.items():
            plain = found.get(key)
            for old, new in commit_pairs:
                self._plain[(old, new)] = plain

    def plain_diff(self, old: str | None, new: str) -> PlainDiff | None:
        """The pair's entries as git gave them (:meth:`read_changes` first), or ``None``
        where they come from libgit2 (:meth:`changes` has them)."""
        if (old, new) not in self._plain:
            self.read_changes([(old, new)])
        return self._plain[(old, new)]

    def new_blobs(self, pairs: Sequence[tuple[str | None, str]]) -> list[str]:
        """The blobs at the paths whose content :meth:`read_changes` pairs change, new side
        (for :meth:`prefetch`); none for pairs left to libgit2."""
        out: dict[str, None] = {}
        for pair in pairs:
            plain = self._plain.get(pair)
            if plain is not None:
                out.update(dict.fromkeys(plain.new_blobs()))
        return list(out)

    # ---- blobs ----------------------------------------------------------------------

    def prefetch(self, oids: Sequence[str], max_size: int) -> None:
        """Start :meth:`read_blobs` of ``oids`` on a thread (its first batch), so git reads
        while the caller works; the next :meth:`read_blobs` with the same ``max_size``
        gives what it read first (and raises what reading raised), then the rest."""
        ahead = self._ahead
        if oids and not (ahead is not None and ahead.max_size == max_size and ahead.oids.issuperset(oids)):
            self._ahead = _ReadAhead(self._read_blobs(oids, max_size), set(oids), max_size)

    def read_blobs(self, oids: Sequence[str], max_size: int, max_batch: int = 64 << 20) -> Iterator[BlobBatch]:
        """Read many blobs, one ``git cat-file --batch`` per batch of at most ``max_batch``
        bytes (or one blob), leaving out blobs over ``max_size`` bytes: their sizes are
        still given. :class:`InvalidInput` if an oid is not a blob. :meth:`read_blob` and
        :meth:`blob_size` answer from the latest batches."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.max_size == max_size:
            # what it read (extra blobs are harmless), then whatever it was not asked for
            missing = [oid for oid in oids if oid not in ahead.oids]
            taken = ahead.take()

            def both() -> Iterator[BlobBatch]:
                yield from taken
                if missing:
                    yield from self._read_blobs(missing, max_size, max_batch)

            return both()
        if ahead is not None:
            ahead.take()  # waits for the thread: nothing reads concurrently below
        return self._read_blobs(oids, max_size, max_batch)

    def _read_blobs(self, oids: Sequence[str], max_size: int, max_batch: int = 64 << 20) -> Iterator[BlobBatch]:
        ask = list(dict.fromkeys(oids))
        sizes = self._sizes(ask)
        chunk: list[str] = []
        total = 0
        for oid in ask:
            if chunk and total + sizes[oid] > max_batch:
                yield self._keep(self._cat(chunk, sizes, max_size))
                chunk, total = [], 0
            chunk.append(oid)
            total += sizes[oid] if sizes[oid] <= max_size else 0
        if chunk:
            yield self._keep(self._cat(chunk, sizes, max_size))

    def _keep(self, batch: BlobBatch) -> BlobBatch:
        self._batches = [*self._batches[-1:], batch]
        return batch

    def _sizes(self, oids: Sequence[str]) -> dict[str, int]:
        if len(oids) > 100 and not any(n in self._names for n in oids):
            shares = _shares(len(oids), 2000)
            out = b"".join(self._git_split(["cat-file", "--batch-check", "--buffer"],
                                           ["".join(o + "\n" for o in part).encode()
                                            for part in _split(oids, shares)])).split()
            # all found and all blobs: "OID blob SIZE" each; anything else is sorted out below
            if len(out) == 3 * len(oids) and set(out[1::3]) == {b"blob"} and \
                    b" ".join(out[0::3]).decode().split(" ") == list(oids):
                return dict(zip(oids, map(int, out[2::3]), strict=True))
        sizes: dict[str, int] = {}
        for oid, found in zip(oids, self.lookup(*oids), strict=True):
            if found is None or found[1] != "blob":
                raise InvalidInput(f"{oid} is not a blob")
            sizes[oid] = found[2]
        return sizes

    def _cat(self, ask: Sequence[str], sizes: Mapping[str, int], max_size: int) -> BlobBatch:
        read = [o for o in ask if sizes[o] <= max_size]
        # one git per core, each on a contiguous share: their outputs join in order
        parts = _split(read, _shares(len(read), 500))
        data = b"".join(self._git_split(["cat-file", "--batch"],
                                        ["".join(o + "\n" for o in part).encode() for part in parts])) if read else b""
        # "OID blob SIZE\n" CONTENT "\n" per blob, so the sizes say where everything is: check
        # that each id sits where its header must start and that nothing follows the last
        from itertools import accumulate

        size = [sizes[o] for o in read]
        head = [len(o) + 7 + len(str(n)) for o, n in zip(read, size, strict=True)]
        starts = list(accumulate((h + n + 1 for h, n in zip(head, size, strict=True)), initial=0))
        ids = b"".join(data[p : p + len(o)] for p, o in zip(starts, read, strict=False))
        if starts[-1] != len(data) or ids != "".join(read).encode():  # (every oid is a blob: _sizes)
            raise WoGitError("git cat-file --batch gave unexpected output")
        spans = dict(zip(read, zip((p + h for p, h in zip(starts, head, strict=False)), size, strict=True),
                         strict=True))
        return BlobBatch(data, spans, {o: sizes[o] for o in ask})

    def read_blob(self, oid: str) -> bytes:
        """:meth:`Repo.read_blob`."""
        for batch in self._batches:
            if oid in batch.spans:
                return batch.blob(oid)
        return self._cat([oid], self._sizes([oid]), 1 << 62).blob(oid)

    def blob_size(self, oid: str) -> int:
        """:meth:`Repo.blob_size`."""
        for batch in self._batches:
            if oid in batch.sizes:
                return batch.sizes[oid]
        found = self.lookup(oid)[0]
        if found is None:
            raise InvalidInput(f"no object {oid}")
        return found[2]

    def entry(self, tree_ish: str, path: str) -> tuple[int, str] | None:
        """:meth:`Repo.entry` (asked of libgit2: only symlink chains need it)."""
        return self._full().entry(tree_ish, path)


class _ReadAhead:
    """The first batch of a blob read, taken on a thread (:meth:`PlumbingReader.prefetch`)."""

    def __init__(self, batches: Iterator[BlobBatch], oids: set[str], max_size: int) -> None:
        import threading  # loaded already: subprocess imports it

        self.oids, self.max_size = oids, max_size
        self._batches = batches
        self._first: list[BlobBatch] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wo-git read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._first = [batch for _, batch in zip(range(1), self._batches, strict=False)]
        except BaseException as err:  # raised again by take(), in the caller's thread
            self._error = err

    def take(self) -> Iterator[BlobBatch]:
        """Wait for the thread (raising what it raised); then every batch: the one it
        read, and the rest, read as they are asked for."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        first, rest = self._first, self._batches

        def batches() -> Iterator[BlobBatch]:
            yield from first
            yield from rest

        return batches()


def _shares(count: int, least: int) -> int:
    """Into how many git processes to split ``count`` objects: one per core (at most
    four), each with at least ``least`` objects (a process costs ~2 ms to start)."""
    return max(1, min(os.cpu_count() or 1, 4, count // least))


def _split(items: Sequence[str], shares: int) -> list[Sequence[str]]:
    """``items`` in ``shares`` contiguous parts, in order."""
    cut = [len(items) * i // shares for i in range(shares + 1)]
    return [items[cut[i] : cut[i + 1]] for i in range(shares)]


def _scratch_fd() -> int:
    """A descriptor of an unnamed read-write file, for a subprocess's input or output:
    in memory where the system offers it (``memfd_create``; git writes 10,000 blobs
    about 20% faster there than into a file on disk), else an unlinked temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("wo-git", os.MFD_CLOEXEC)
        except OSError:
            pass
    import tempfile

    fd, name = tempfile.mkstemp(prefix="wo-git-")
    os.unlink(name)
    return fd


def _parse_commit(oid: str, raw: bytes) -> CommitInfo | None:
    """A commit object read as libgit2 reads it, or ``None`` where only libgit2 can say
    (an ``encoding`` header, text that is not UTF-8, a NUL byte, an odd signature line)."""
    if b"\x00" in raw:
        return None
    head, sep, body = raw.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
        message = body.lstrip(b"\n").decode("utf-8") if sep else ""  # libgit2 drops leading newlines
    except UnicodeDecodeError:
        return None
    tree, author, when = "", "", 0
    parents: list[CommitId] = []
    for line in text.split("\n"):
        key, _, value = line.partition(" ")
        if key == "tree":
            tree = value
        elif key == "parent":
            parents.append(CommitId(value))
        elif key in ("author", "committer"):
            lt, gt = value.find(" <"), value.rfind("> ")
            stamp = value[gt + 2 :].split(" ")
            if lt < 0 or gt < lt or len(stamp) != 2 or not stamp[0].isdigit():
                return None
            if key == "author":
                author = f"{value[:lt]} <{value[lt + 2 : gt]}>"
            else:
                when = int(stamp[0])
        elif key == "encoding":
            return None
    if not tree or not author:
        return None
    return CommitInfo(id=CommitId(oid), parents=tuple(parents), tree=tree, message=message,
                      trailers=parse_trailers(message), time=when, author=author)


_MODE = {b"000000": 0, b"100644": MODE_BLOB, b"100755": MODE_EXEC, b"120000": MODE_LINK}


class PlainDiff:
    """One pair's ``git diff-tree --raw`` entries, kept as git's bytes until asked for;
    only built where libgit2 reports the same deltas (:meth:`parse`). Entries are
    additions, deletions (never both) and modifications, one path each: read them
    as :class:`Change`s (:meth:`changes`, :meth:`change`) or by column
    (:meth:`paths`, :meth:`changed_blobs`, :meth:`links`), in git's path order."""

    __slots__ = ("_status", "_paths", "_old_modes", "_new_modes", "_old_oids", "_new_oids", "_decoded",
                 "_changed")

    def __init__(self, fields: list[bytes], paths: list[bytes]) -> None:
        self._old_modes, self._new_modes = fields[0::5], fields[1::5]
        self._old_oids, self._new_oids, self._status = fields[2::5], fields[3::5], fields[4::5]
        self._paths = paths
        self._decoded: list[str] | None = None
        self._changed: list[str | None] | None = None

    @classmethod
    def parse(cls, metas: list[bytes], paths: list[bytes]) -> PlainDiff | None:
        """Entries ``:MODE MODE OID OID STATUS`` and their paths, or ``None`` where
        libgit2's deltas could differ: additions together with deletions (rename
        detection could pair them), type changes, gitlinks, anything unexpected."""
        fields = b" ".join(m[1:] for m in metas).split(b" ") if metas else []
        if len(fields) != 5 * len(metas) or len(paths) != len(metas):
            return None
        diff = cls(fields, paths)
        status = set(diff._status)
        if not status <= {b"M", b"A", b"D"} or {b"A", b"D"} <= status:
            return None
        if not (set(diff._old_modes) | set(diff._new_modes)) <= _MODE.keys():
            return None
        if b"120000" in diff._old_modes or b"120000" in diff._new_modes:
            # a modified entry must stay a symlink or stay a file (git says T otherwise; be sure)
            rows = zip(diff._old_modes, diff._new_modes, diff._status, strict=True)
            if any(s == b"M" and (o == b"120000") != (n == b"120000") for o, n, s in rows):
                return None
        return diff

    def new_blobs(self) -> list[str]:
        """New-side blob ids where the content changed (not deletions, not mode-only changes)."""
        return [oid for oid in self.changed_blobs() if oid is not None]

    def __len__(self) -> int:
        return len(self._paths)

    def paths(self) -> list[str]:
        """Each entry's path (decoded as :func:`os.fsdecode` decodes)."""
        if self._decoded is None:
            import sys

            if not self._paths:
                self._decoded = []
            elif sys.getfilesystemencoding() == "utf-8":  # os.fsdecode, for all paths at once
                self._decoded = b"\x00".join(self._paths).decode("utf-8", "surrogateescape").split("\x00")
            else:
                self._decoded = [os.fsdecode(p) for p in self._paths]
        return self._decoded

    def changed_blobs(self) -> list[str | None]:
        """Each entry's new blob id where its content changed (added or modified; not a
        deletion or a mode-only change), else ``None``."""
        if self._changed is None:
            rows = zip(self._status, self._old_oids, self._new_oids, strict=True)
            self._changed = [n.decode() if s != b"D" and n != o else None for s, o, n in rows]
        return self._changed

    def links(self) -> list[bool]:
        """Whether each entry's new side is a symlink."""
        return [m == b"120000" for m in self._new_modes]

    def change(self, i: int) -> Change:
        """Entry ``i`` as a :class:`Change`."""
        status, path = self._status[i], self.paths()[i]
        om, nm = _MODE[self._old_modes[i]], _MODE[self._new_modes[i]]
        oo, no = self._old_oids[i].decode(), self._new_oids[i].decode()
        if status == b"M":
            return Change("M", path, path, om, nm, oo, no)
        if status == b"A":
            return Change("A", None, path, None, nm, None, no)
        return Change("D", path, None, om, None, oo, None)

    def changes(self) -> list[Change]:
        """The entries as :class:`Change`s, as :meth:`Repo.changes` gives them."""
        if not self._paths:
            return []
        paths = self.paths()
        old_oids = b" ".join(self._old_oids).decode().split(" ")
        new_oids = b" ".join(self._new_oids).decode().split(" ")
        out: list[Change] = []
        rows = zip(self._status, paths, self._old_modes, self._new_modes, old_oids, new_oids, strict=True)
        for status, path, om, nm, oo, no in rows:
            if status == b"M":
                out.append(Change("M", path, path, _MODE[om], _MODE[nm], oo, no))
            elif status == b"A":
                out.append(Change("A", None, path, None, _MODE[nm], None, no))
            else:
                out.append(Change("D", path, None, _MODE[om], None, oo, None))
        return out
