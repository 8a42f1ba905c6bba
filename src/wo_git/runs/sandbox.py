"""The executor's sandbox: bubblewrap around every executor and configured check.

On Linux with bubblewrap (the Debian package ``bubblewrap``; Codex CLI's
``codex-rs/linux-sandbox`` and Claude Code's ``sandbox-runtime`` use the
same tool) an executor runs as::

    bwrap --die-with-parent --unshare-pid --ro-bind / / --dev /dev --proc /proc
          --tmpfs /tmp [--ro-bind P P ...] [--bind P P ...] --chdir WORKTREE -- ARGV

so that, inside it:

- the whole file system is read-only, ``/tmp`` is a private empty tmpfs
  (paths under ``/tmp`` the run names, such as ``HOME``, the repository and
  ``PATH`` folders, are shown again read-only);
- the ticket's worktree is writable, and so are the profile's ``state_dirs``
  (the agent CLI's own folders, e.g. ``~/.codex``), ``~/.cache`` and the
  paths in ``$WO_SANDBOX_WRITABLE``; anything deeper that must stay
  read-only (the repository, when it lies inside one of them) is bound
  read-only again above it;
- the repository's git directory is read-only: objects, refs, config,
  hooks, the other worktrees and wo-git's run data (``<common>/wo/``);
- the worktree's own git directory (``<common>/worktrees/NAME``) is
  replaced by a private copy in ``<common>/wo/sandbox/NNNN/gitdir`` whose
  ``HEAD`` is detached at the round's start, and ``<common>/objects`` by a
  private writable object store whose ``info/alternates`` names the real
  objects (bound read-only beside it): ``git status``, ``diff``, ``add``
  and even ``commit`` work (the commit moves only the private ``HEAD``),
  while no ref, config file or hook of the repository can change.
  :func:`collect` copies the commits the executor made into the repository
  (``git pack-objects`` | ``git index-pack``, which recomputes every object
  id) and returns the private ``HEAD`` for the post-run hook to squash;
- the network is the host's (the agent must reach its model);
- a new PID namespace: when the executor's main process exits, or wo-git
  dies (``--die-with-parent``), the kernel kills everything left inside, so
  no process (a ``setsid`` daemon included) outlives the round.

``--new-session`` is not used: the supervisor already starts bwrap in its own
session without a controlling terminal (so ``TIOCSTI`` has no terminal to
write to), and keeping one process group lets a timeout's ``SIGTERM`` reach
the agent itself for a graceful stop before the namespace is killed.

Where bubblewrap is missing or cannot create namespaces (containers without
user namespaces, non-Linux machines), :func:`choose` says so in one line and
the run goes on unsandboxed (``Wo-Sandbox: none``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wo_git.git import Repo

KINDS = ("bwrap", "none")
COMMON_STATE_DIRS = ("~/.cache",)
"""writable for every profile: XDG caches (pre-commit's, node's compile cache)"""
PROBE_TIMEOUT = 10.0
WRITABLE_ENV = "WO_SANDBOX_WRITABLE"
"""environment variable: more writable paths (``os.pathsep``-separated) for every sandboxed run"""


@dataclass
class Sandbox:
    """How one run is contained: ``kind`` is ``bwrap`` or ``none``.

    ``warning`` is the one line to show when ``bwrap`` was asked for but
    cannot be used; ``scratch`` the run's private folder
    (``<common>/wo/sandbox/NNNN``: ``gitdir/``, ``objects/``, and ``run/`` for
    the prompt file and what the agent writes beside it).
    """

    kind: str
    warning: str | None = None
    scratch: Path | None = None
    worktree: Path | None = None
    admin_dir: Path | None = None
    common_dir: Path | None = None
    ro: list[Path] = field(default_factory=list)
    rw: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether commands are wrapped in bwrap."""
        return self.kind == "bwrap"

    def wrap(self, argv: Sequence[str], extra_rw: Iterable[str | Path] = ()) -> list[str]:
        """``argv`` wrapped in bwrap (unchanged when not active).

        ``extra_rw``: more writable paths (a profile's ``state_dirs``,
        created if missing). Raises nothing; a bad path is skipped.
        """
        if not self.active:
            return list(argv)
        assert self.worktree is not None
        rw = [*self.rw, *(_expand(p) for p in extra_rw if "$" not in os.path.expandvars(str(p)))]
        for p in rw:
            _ensure(p)
        ro = list(self.ro)
        if argv and os.path.isabs(argv[0]):
            ro.append(Path(argv[0]).parent)
        # absolute paths the command names (`-- python /tmp/x/do.py`): readable as outside the sandbox
        named = [Path(a) if os.path.isdir(a) else Path(a).parent for a in argv[1:] if os.path.isabs(a)]
        ro += [p for p in named if _under_tmp(p) and not any(w == p or w in p.parents for w in rw)]
        out = ["bwrap", "--die-with-parent", "--unshare-pid",
               "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        mounts: dict[Path, str] = {}
        for p in ro:
            # elsewhere the read-only root already shows it; under /tmp (a fresh tmpfs) or under
            # a writable path it must be bound again
            if p.exists() and (_under_tmp(p) or any(w in p.parents for w in rw)):
                mounts.setdefault(p, "--ro-bind")
        for p in rw:
            if p.exists():
                mounts[p] = "--bind"
        for p in sorted(mounts, key=lambda q: len(q.parts)):
            out += [mounts[p], str(p), str(p)]
        if self.scratch is not None and self.admin_dir is not None:
            out += ["--bind", str(self.scratch / "gitdir"), str(self.admin_dir)]
        if self.scratch is not None and self.common_dir is not None:
            # the repository's objects, read-only, as the alternate of a private writable store
            # mounted in their place: no GIT_OBJECT_DIRECTORY, so a repository the agent
            # creates or clones inside the worktree keeps its own objects
            out += ["--ro-bind", str(self.common_dir / "objects"), str(self.scratch / "real-objects"),
                    "--bind", str(self.scratch / "objects"), str(self.common_dir / "objects")]
        out += ["--chdir", str(self.worktree), "--", *argv]
        return out

    def wrap_program(self, argv: Sequence[str], env: Mapping[str, str],
                     extra_rw: Iterable[str | Path] = ()) -> list[str]:
        """Like :meth:`wrap`, with ``argv[0]`` looked up on ``env``'s ``PATH`` first.

        A program that cannot be found or run is returned unwrapped, so the
        supervisor reports it exactly as in an unsandboxed run.
        """
        if not self.active or not argv:
            return list(argv)
        exe = shutil.which(argv[0], path=env.get("PATH"))
        if exe is None or not _loadable(exe):
            return list(argv)
        return self.wrap([os.path.abspath(exe), *argv[1:]], extra_rw)

    def environ(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` plus what git inside the sandbox needs (private objects, ``WO_SANDBOX``)."""
        out = dict(env)
        out["WO_SANDBOX"] = self.kind
        out.update(self.env)
        return out


def _loadable(exe: str) -> bool:
    """Whether execve can start ``exe`` (``#!`` or ELF): bwrap's execvp would run anything
    else through ``/bin/sh``, where an unsandboxed run refuses it (ENOEXEC)."""
    try:
        with open(exe, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head.startswith(b"#!") or head == b"\x7fELF"


def _expand(p: str | Path) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(str(p)))).absolute()


def _under_tmp(p: Path) -> bool:
    return p == Path("/tmp") or Path("/tmp") in p.parents


def _ensure(p: Path) -> None:
    """Create a state path so it can be bound: a folder, or a file when its name has a dot-suffix."""
    if p.exists():
        return
    try:
        if p.suffix and not p.name.startswith(".") or p.name.endswith(".json"):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
        else:
            p.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass


@functools.lru_cache(maxsize=1)
def probe() -> str | None:
    """Why bubblewrap cannot sandbox here (one line), or ``None`` when it can.

    Runs ``bwrap --unshare-pid --ro-bind / / ... true`` once per process:
    bwrap missing from ``PATH``, a non-Linux system, or a kernel or container
    that refuses user or PID namespaces all end up here.
    """
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        proc = subprocess.run(
            [exe, "--die-with-parent", "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev",
             "--proc", "/proc", "--tmpfs", "/tmp", "true"],
            capture_output=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap cannot start: {err}"
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot create a sandbox here: {msg[-1] if msg else f'exit {proc.returncode}'}"
    return None


def choose(requested: str, label: str) -> Sandbox:
    """The sandbox for a run: ``requested`` is the config's ``sandbox`` (or ``none`` for ``--no-sandbox``).

    ``bwrap`` falls back to ``none`` with a one-line ``warning`` when
    :func:`probe` finds bubblewrap unusable.
    """
    if requested != "bwrap":
        return Sandbox("none")
    why = probe()
    if why is not None:
        return Sandbox("none", warning=f"wo-git: {label}: running WITHOUT a sandbox: {why}")
    return Sandbox("bwrap")


def scratch_dir(repo: Repo, label: str) -> Path:
    """``<common>/wo/sandbox/<label>``: the run's private git dir and objects."""
    return repo.wo_dir / "sandbox" / label


def admin_dir(repo: Repo, worktree: Path) -> Path | None:
    """The worktree's git directory (``<common>/worktrees/NAME``) found from git's own records.

    Read from ``<common>/worktrees/*/gitdir`` (which names ``WORKTREE/.git``),
    never from the worktree's ``.git`` file, which the executor can rewrite.
    """
    target = (worktree / ".git").absolute()
    base = repo.common_dir / "worktrees"
    if not base.is_dir():
        return None
    for d in sorted(base.iterdir()):
        try:
            named = Path((d / "gitdir").read_text().strip())
        except OSError:
            continue
        if named == target or (named.is_absolute() and named.resolve() == target.resolve()):
            return d
    return None


def prepare(sb: Sandbox, repo: Repo, label: str, worktree: Path, start: str, fresh: bool = True) -> Sandbox:
    """Make the run's scratch folder and the mount lists; returns ``sb`` (unchanged when not active).

    ``fresh=False`` keeps an existing scratch folder (``doctor`` finishing a
    run whose supervisor died). Raises :class:`OSError` if the scratch
    folder cannot be written.
    """
    if not sb.active:
        return sb
    admin = admin_dir(repo, worktree)
    scratch = scratch_dir(repo, label)
    gitdir, objects = scratch / "gitdir", scratch / "objects"
    if fresh or not gitdir.is_dir():
        if scratch.exists():
            shutil.rmtree(scratch)
        (objects / "pack").mkdir(parents=True)
        (objects / "info").mkdir()
        gitdir.mkdir()
        (scratch / "run").mkdir()
        (scratch / "real-objects").mkdir()
        (objects / "info" / "alternates").write_text(f"{scratch / 'real-objects'}\n")
        if admin is not None:
            for name in ("commondir", "gitdir", "index", "MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "AUTO_MERGE"):
                if (admin / name).is_file():
                    shutil.copyfile(admin / name, gitdir / name)
        (gitdir / "HEAD").write_text(start + "\n")
    sb.scratch, sb.worktree, sb.admin_dir, sb.common_dir = scratch, worktree, admin, repo.common_dir
    home = os.environ.get("HOME")
    sb.ro = [repo.common_dir] + ([repo.root] if repo.root else []) + ([Path(home)] if home else [])
    sb.ro += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if os.path.isabs(p)]
    # the Python running wo-git, whole (a venv's lib/, not only its bin/) and wo-git's own code (an
    # editable install's source tree): the guard hook inside the sandbox runs them from under /tmp too
    sb.ro += [Path(sys.executable).parent, Path(sys.prefix), Path(sys.base_prefix),
              Path(__file__).resolve().parents[1]]
    sb.rw = [worktree, scratch / "run"] + [_expand(p) for p in COMMON_STATE_DIRS]
    for var in ("XDG_CACHE_HOME",):
        if os.environ.get(var):
            sb.rw.append(_expand(os.environ[var]))
    # the user's own additions for this machine (a shared build cache, say): never from the
    # committed config, which an executor's earlier round could have proposed
    sb.rw += [_expand(p) for p in os.environ.get(WRITABLE_ENV, "").split(os.pathsep) if p.strip()]
    return sb


def private_head(scratch: Path) -> str | None:
    """The private ``HEAD`` the executor left: a commit id, ``ref: NAME``, or ``None``."""
    try:
        text = (scratch / "gitdir" / "HEAD").read_text().strip()
    except OSError:
        return None
    return text or None


def collect(repo: Repo, scratch: Path, start: str) -> tuple[str | None, str | None]:
    """Bring the executor's own commits into the repository: ``(head, problem)``.

    ``head`` is the commit the private ``HEAD`` names (``None`` if the
    executor made no commit or it cannot be read); the objects reachable from
    it and not from ``start`` are packed from the private object directory
    and indexed into the repository by ``git index-pack``, which computes each
    object's id from its content (a forged object cannot pass as another).
    ``problem`` says what went wrong, in one line.
    """
    from wo_git.git import trusted_git

    text = private_head(scratch)
    if text is None:
        return None, None
    if text.startswith("ref: "):
        target = repo.ref_target(text[len("ref: "):])
        return (target if target and target != start else None), None
    head = text
    if head == start or len(head) not in (40, 64) or any(c not in "0123456789abcdef" for c in head):
        return None, (None if head == start else f"the private HEAD is not a commit id: {head[:60]!r}")
    if repo.ref_target(head) is None and not _has(repo, head):
        # the executor could rewrite its store's own alternates: read only the store itself
        (scratch / "objects" / "info" / "alternates").unlink(missing_ok=True)
        alt = {"GIT_ALTERNATE_OBJECT_DIRECTORIES": str(scratch / "objects")}
        pack = trusted_git(repo.common_dir, None, "pack-objects", "--stdout", "--revs",
                           input=f"{head}\n^{start}\n".encode(), env=alt)
        if pack.returncode != 0:
            return None, "the executor's commits cannot be read: " + pack.stderr.decode(errors="replace")[:200]
        idx = trusted_git(repo.common_dir, None, "index-pack", "--stdin", input=pack.stdout)
        if idx.returncode != 0 or not _has(repo, head):
            return None, "the executor's commits cannot be indexed: " + idx.stderr.decode(errors="replace")[:200]
    return head, None


def _has(repo: Repo, oid: str) -> bool:
    from wo_git.git import trusted_git

    return trusted_git(repo.common_dir, None, "cat-file", "-e", f"{oid}^{{commit}}").returncode == 0


def leftovers(repo_root: Path, ticket: int) -> list[int]:
    """Pids of live processes started for ``ticket``'s runs (``WO_REPO`` and ``WO_TICKET`` in
    their environment, read from ``/proc/PID/environ``): what an unsandboxed executor left
    running, even after ``setsid``. A process that cleared its environment is not found."""
    want = {f"WO_REPO={repo_root}".encode(), f"WO_TICKET={ticket}".encode()}
    out = []
    me = os.getpid()
    for d in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            env = set((d / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if want <= env:
            out.append(int(d.name))
    return out


def kill_leftovers(repo_root: Path, ticket: int) -> list[int]:
    """SIGKILL every process :func:`leftovers` finds; returns their pids."""
    import signal

    pids = leftovers(repo_root, ticket)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return pids


def cleanup(scratch: Path | None) -> None:
    """Remove a run's scratch folder (its objects are in the repository by then)."""
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
