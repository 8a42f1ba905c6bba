"""Ref, config and hook snapshots around a run.

A linked worktree shares refs, the repository config and the hooks folder
with every other worktree (GUARD.md): from its worktree an executor can move
``main``, set ``core.hooksPath`` or ``core.fsmonitor``, or plant a hook. So
before each run wo-git records every ref (except the ticket's own branch,
which the executor may commit on), the config files, ``info/`` and
``hooks/``, and after the run compares and puts back what changed.

The record is kept twice: in the memory of the wo-git process that runs the
executor (the copy that counts: an executor can write anything on disk,
``<git-common-dir>/wo/snapshots/`` included), and on disk under
``<git-common-dir>/wo/snapshots/NNNN/`` so ``doctor`` can restore after a
``kill -9``. When both exist and the disk copy no longer matches, that is
itself reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from wo_git.errors import StaleRef
from wo_git.git import Repo, clean_git_env
from wo_git.guard.check import Violation

WATCHED_FILES = ("config", "config.worktree", "HEAD", "commondir", "shallow", "objects/info/alternates",
                 "objects/info/http-alternates")
WATCHED_DIRS = ("hooks", "info")
WORKTREE_FILES = ("config.worktree", "gitdir", "commondir", "locked", "info")
"""watched in every linked worktree's git dir (``worktrees/NAME/...``): what redirects git there"""
IGNORED_REFS = ("refs/stash",)
RULE_REF = "ref changed behind wo-git's back"


@dataclass(frozen=True)
class _Entry:
    """One watched file system entry: ``kind`` is ``file``, ``link`` or ``dir``."""

    kind: str
    data: bytes = b""
    executable: bool = False


Tree = dict[str, _Entry]  # watched name ("hooks/pre-commit") -> entry

_MEMORY: dict[str, tuple[dict[str, str], set[str], Tree, str]] = {}


def _ignored(name: str, own: set[str]) -> bool:
    return name in own or name in IGNORED_REFS


def _watched(repo: Repo, known: Tree | None = None) -> list[tuple[Path, str]]:
    """Every watched path and its name: the common dir's files, and each linked worktree's
    redirecting files. With ``known`` (a snapshot), only the worktrees it has that still
    exist: wo-git adds and removes other tickets' worktrees while a run goes on."""
    out = [(repo.common_dir / f, f) for f in WATCHED_FILES + WATCHED_DIRS]
    base = repo.common_dir / "worktrees"
    names = {d.name for d in base.iterdir() if d.is_dir() and not d.is_symlink()} if base.is_dir() else set()
    if known is not None:
        names &= {k.split("/")[1] for k in known if k.startswith("worktrees/") and k.count("/") >= 2}
    for name in sorted(names):
        out += [(base / name / f, f"worktrees/{name}/{f}") for f in WORKTREE_FILES]
    return out


def _scan(live: Path, name: str, out: Tree) -> None:
    """Read ``live`` (recursively for folders) into ``out`` under ``name``."""
    try:
        st = live.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        out[name] = _Entry("link", os.readlink(live).encode("utf-8", "surrogateescape"))
    elif stat.S_ISDIR(st.st_mode):
        out[name] = _Entry("dir")
        for child in sorted(live.iterdir()):
            _scan(child, f"{name}/{child.name}", out)
    elif stat.S_ISREG(st.st_mode):
        out[name] = _Entry("file", live.read_bytes(), bool(st.st_mode & 0o111))
    else:
        out[name] = _Entry("other")


def _scan_all(repo: Repo) -> Tree:
    out: Tree = {}
    for live, name in _watched(repo):
        _scan(live, name, out)
    return out


def _digest(refs: dict[str, str], own: set[str], files: Tree) -> str:
    h = hashlib.sha256(json.dumps({"refs": refs, "own": sorted(own)}, sort_keys=True).encode())
    for name in sorted(files):
        e = files[name]
        h.update(f"\0{name}\0{e.kind}\0{int(e.executable)}\0".encode())
        h.update(e.data)
    return h.hexdigest()


def take(repo: Repo, dest: Path, own_refs: set[str], worktree_gitdir: Path | None = None) -> Path:
    """Record refs, config, ``info/`` and ``hooks/`` (in memory and in ``dest``); returns ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "files").mkdir(parents=True)
    refs = {k: v for k, v in repo.list_refs("refs/").items() if not _ignored(k, own_refs)}
    files = _scan_all(repo)
    (dest / "refs.json").write_text(
        json.dumps({"refs": refs, "own": sorted(own_refs), "taken": time.time()}, indent=1)
    )
    for name, e in files.items():
        _write(dest / "files" / name, e)
    (dest / "present.json").write_text(json.dumps(sorted(files)))
    _MEMORY[str(dest.resolve())] = (refs, set(own_refs), files, _digest(refs, set(own_refs), files))
    return dest


def _load_disk(snap: Path) -> tuple[dict[str, str], set[str], Tree]:
    data = json.loads((snap / "refs.json").read_text())
    files: Tree = {}
    base = snap / "files"
    present = json.loads((snap / "present.json").read_text())
    for name in present:
        _scan(base / name, name, files)
    # entries listed but missing on disk are ignored: the listing says what existed
    return dict(data["refs"]), set(data["own"]), files


def compare_and_restore(repo: Repo, snap: Path, worktree_gitdir: Path | None = None) -> list[Violation]:
    """Put back every ref, config file and hook that changed since :func:`take`.

    Returns one violation per difference found (category ``control``,
    ``where`` = ``refs`` / ``config`` / ``hooks``), naming what changed (the
    config keys, the ref's old and new target). Refs are restored with
    compare-and-swap from the value just read. The in-memory record is used
    when this process took the snapshot; the disk copy otherwise (``doctor``).
    """
    found: list[Violation] = []
    memory = _MEMORY.pop(str(snap.resolve()), None)
    if memory is not None:
        before, own, files, digest = memory
        try:
            disk = _load_disk(snap)
            if _digest(*disk) != digest:
                found.append(Violation(str(snap.relative_to(repo.common_dir)) if snap.is_relative_to(repo.common_dir)
                                       else str(snap), "control", "snapshot changed behind wo-git's back",
                                       "snapshot", "restored from wo-git's own copy"))
        except (OSError, ValueError, KeyError):
            found.append(Violation(str(snap), "control", "snapshot changed behind wo-git's back", "snapshot",
                                   "the disk copy is unreadable; restored from wo-git's own copy"))
    elif not (snap / "refs.json").is_file():
        return []  # no snapshot to compare with (never taken, or already restored)
    else:
        before, own, files = _load_disk(snap)
    found += _restore_refs(repo, before, own, _taken(snap))
    found += _restore_files(repo, files)
    return found


def _taken(snap: Path) -> float:
    """When the snapshot was taken (unix s); 0 if unknown."""
    try:
        return float(json.loads((snap / "refs.json").read_text()).get("taken", 0))
    except (OSError, ValueError, TypeError):
        return 0.0


def _restore_refs(repo: Repo, before: dict[str, str], own: set[str], since: float) -> list[Violation]:
    now = {k: v for k, v in repo.list_refs("refs/").items() if not _ignored(k, own)}
    # moves wo-git itself made meanwhile (another ticket's run, open, accept) are not the
    # executor's: wo-git journals every ref it moves (Repo.update_refs)
    by_wo_git = repo.journal_since(since - 1.0) if since else set()
    found: list[Violation] = []
    for name in sorted(set(before) | set(now)):
        old, new = before.get(name), now.get(name)
        if old == new or (name, repo.ref_target(name)) in by_wo_git:
            continue
        if old is None:
            what = f"created -> {(new or '')[:10]}"
        elif new is None:
            what = f"deleted (was {old[:10]})"
        else:
            what = f"moved {old[:10]} -> {new[:10]}"
        restored = _put_ref(repo, name, old, new)
        found.append(Violation(name, "control", RULE_REF, "refs",
                               what + ("; restored" if restored else "; COULD NOT BE RESTORED")))
    return found


def _put_ref(repo: Repo, name: str, old: str | None, new: str | None) -> bool:
    """Set ``name`` back to ``old`` (``None``: delete it), symbolic or not; whether it worked."""
    root = repo.common_dir
    if new is not None and new.startswith("ref: ") or old is not None and old.startswith("ref: "):
        # symbolic refs, or a ref turned into one: plumbing with --no-deref
        args: list[str]
        if old is None:
            args = ["update-ref", "--no-deref", "-d", name]
        elif old.startswith("ref: "):
            args = ["symbolic-ref", name, old[len("ref: "):]]
        else:
            if new is not None:
                _git(root, "update-ref", "--no-deref", "-d", name)
            args = ["update-ref", "--no-deref", name, old]
        return _git(root, *args)
    try:
        repo.update_refs([(name, old, repo.ref_target(name))], "wo-git: restore after run")
        return True
    except StaleRef:
        return False


def _git(common_dir: Path, *args: str) -> bool:
    proc = subprocess.run(
        ["git", "--git-dir", str(common_dir), "-c", "core.hooksPath=/dev/null", *args],
        env=clean_git_env(), capture_output=True, check=False,
    )
    return proc.returncode == 0


def _restore_files(repo: Repo, files: Tree) -> list[Violation]:
    found: list[Violation] = []
    for live, name in _watched(repo, files):
        now: Tree = {}
        _scan(live, name, now)
        was = {k: v for k, v in files.items() if k == name or k.startswith(name + "/")}
        if now == was:
            continue
        changed = sorted(k for k in set(now) | set(was) if now.get(k) != was.get(k) and
                         not (now.get(k, _Entry("x")).kind == "dir" and was.get(k, _Entry("y")).kind == "dir"))
        where = "hooks" if name == "hooks" else "worktrees" if name.startswith("worktrees/") else "config"
        for key in changed or [name]:
            found.append(Violation(key, "control", f"{where} changed behind wo-git's back", where,
                                   _describe(now.get(key), was.get(key), key) + "; restored"))
        _remove(live)
        for key in sorted(was):
            _write(_live_path(live, name, key), was[key])
    return found


def _live_path(live: Path, name: str, key: str) -> Path:
    return live if key == name else live / key[len(name) + 1:]


def _remove(live: Path) -> None:
    if live.is_symlink() or live.is_file():
        live.unlink()
    elif live.is_dir():
        shutil.rmtree(live)
    elif os.path.lexists(live):
        live.unlink()


def _write(path: Path, e: _Entry) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if e.kind == "dir":
        path.mkdir(exist_ok=True)
    elif e.kind == "link":
        os.symlink(e.data.decode("utf-8", "surrogateescape"), path)
    elif e.kind == "file":
        path.write_bytes(e.data)
        path.chmod(0o755 if e.executable else 0o644)


def _describe(now: _Entry | None, was: _Entry | None, name: str) -> str:
    """What changed in one watched entry; for config files, which keys."""
    if was is None:
        what = "created"
    elif now is None:
        what = "deleted"
    elif now.kind != was.kind:
        what = f"{was.kind} -> {now.kind}"
    else:
        what = "changed"
    base = name.rsplit("/", 1)[-1]
    if base in ("config", "config.worktree") and (now is None or now.kind == "file") and (
        was is None or was.kind == "file"
    ):
        keys = _config_diff(was.data if was else b"", now.data if now else b"")
        if keys:
            return f"{what}: " + ", ".join(keys)
    return what


def _config_diff(old: bytes, new: bytes) -> list[str]:
    """``key = value`` settings added, changed or removed between two config files."""
    a, b = _config_items(old), _config_items(new)
    out = []
    for item in sorted(set(b) - set(a)):
        out.append(f"{item[0]} = {item[1]!r} set")
    for item in sorted(set(a) - set(b)):
        out.append(f"{item[0]} = {item[1]!r} removed")
    return out[:20]


def _config_items(data: bytes) -> set[tuple[str, str]]:
    if not data:
        return set()
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".config") as f:
        f.write(data)
        f.flush()
        proc = subprocess.run(["git", "config", "--file", f.name, "--no-includes", "--list", "-z"],
                              env=clean_git_env(), capture_output=True, check=False)
    if proc.returncode != 0:
        return {("(unparsable config)", hashlib.sha256(data).hexdigest()[:12])}
    items = set()
    for rec in proc.stdout.decode("utf-8", "replace").split("\0"):
        if rec:
            key, _, value = rec.partition("\n")
            items.add((key, value))
    return items
