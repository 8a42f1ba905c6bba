"""Ref, config and hook snapshots around a run.

A linked worktree shares refs, the repository config and the hooks folder
with every other worktree (GUARD.md): from its worktree an executor can move
``main``, set ``core.hooksPath`` or ``core.fsmonitor``, or plant a hook. So
before each run wo-git copies every ref (except the ticket's own branch,
which the executor may commit on), the config files, ``info/`` and
``hooks/`` into ``<git-common-dir>/wo/snapshots/NNNN/``, and after the run
compares and puts back what changed. The copy is on disk, so ``doctor`` can
restore after a ``kill -9`` too.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from wo_git.errors import StaleRef
from wo_git.git import Repo
from wo_git.guard.check import Violation

WATCHED_FILES = ("config", "config.worktree", "HEAD")
WATCHED_DIRS = ("hooks", "info")
IGNORED_REFS = ("refs/stash",)


def _ignored(name: str, own: set[str]) -> bool:
    return name in own or name in IGNORED_REFS


def take(repo: Repo, dest: Path, own_refs: set[str], worktree_gitdir: Path | None = None) -> Path:
    """Copy refs, config, ``info/`` and ``hooks/`` into ``dest``; returns ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "files").mkdir(parents=True)
    refs = {k: v for k, v in repo.list_refs("refs/").items() if not _ignored(k, own_refs)}
    (dest / "refs.json").write_text(json.dumps({"refs": refs, "own": sorted(own_refs)}, indent=1))
    for src, name in _watched(repo, worktree_gitdir):
        target = dest / "files" / name
        if src.is_dir():
            shutil.copytree(src, target, symlinks=True)
        elif src.exists() or src.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target, follow_symlinks=False)
    (dest / "present.json").write_text(
        json.dumps(sorted(name for src, name in _watched(repo, worktree_gitdir) if src.exists() or src.is_symlink()))
    )
    return dest


def _watched(repo: Repo, worktree_gitdir: Path | None) -> list[tuple[Path, str]]:
    out = [(repo.common_dir / f, f) for f in WATCHED_FILES + WATCHED_DIRS]
    if worktree_gitdir is not None:
        out.append((worktree_gitdir / "config.worktree", "worktree/config.worktree"))
    return out


def compare_and_restore(repo: Repo, snap: Path, worktree_gitdir: Path | None = None) -> list[Violation]:
    """Put back every ref, config file and hook that changed since :func:`take`.

    Returns one violation per difference found (category ``control``,
    ``where`` = ``refs`` / ``config`` / ``hooks``). Refs are restored with
    compare-and-swap from the value just read.
    """
    data = json.loads((snap / "refs.json").read_text())
    before: dict[str, str] = data["refs"]
    own = set(data["own"])
    now = {k: v for k, v in repo.list_refs("refs/").items() if not _ignored(k, own)}
    found: list[Violation] = []
    updates: list[tuple[str, str | None, str | None]] = []
    for name in sorted(set(before) | set(now)):
        old, new = before.get(name), now.get(name)
        if old == new:
            continue
        what = "created" if old is None else "deleted" if new is None else f"moved {old[:10]} -> {new[:10]}"
        found.append(Violation(name, "control", "ref changed behind wo-git's back", "refs", what + "; restored"))
        if old is not None and old.startswith("ref: ") or new is not None and new.startswith("ref: "):
            continue  # symbolic refs: reported, not restored
        updates.append((name, old, repo.ref_target(name)))
    for name, target, current in updates:
        try:
            repo.update_refs([(name, target, current)], "wo-git: restore after run")
        except StaleRef:
            pass
    present = set(json.loads((snap / "present.json").read_text()))
    for src, name in _watched(repo, worktree_gitdir):
        copy = snap / "files" / name
        found += _restore(src, copy, name, name in present)
    return found


def _restore(live: Path, copy: Path, name: str, existed: bool) -> list[Violation]:
    where = "hooks" if name.startswith("hooks") else "config"
    if live.is_dir() and not live.is_symlink():
        out: list[Violation] = []
        names = {p.relative_to(live).as_posix() for p in live.rglob("*")}
        if copy.exists():
            names |= {p.relative_to(copy).as_posix() for p in copy.rglob("*")}
        for rel in sorted(names):
            a, b = live / rel, copy / rel
            if a.is_dir() or b.is_dir():
                continue
            if _same(a, b):
                continue
            out.append(Violation(f"{name}/{rel}", "control", f"{where} changed behind wo-git's back", where,
                                 "restored"))
            if b.exists() or b.is_symlink():
                a.parent.mkdir(parents=True, exist_ok=True)
                a.unlink(missing_ok=True)
                shutil.copy2(b, a, follow_symlinks=False)
            else:
                a.unlink(missing_ok=True)
        return out
    if existed and _same(live, copy):
        return []
    if not existed and not (live.exists() or live.is_symlink()):
        return []
    if existed:
        live.unlink(missing_ok=True)
        shutil.copy2(copy, live, follow_symlinks=False)
    else:
        if live.is_dir():
            shutil.rmtree(live)
        else:
            live.unlink(missing_ok=True)
    return [Violation(name, "control", f"{where} changed behind wo-git's back", where, "restored")]


def _same(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    if not a.exists() or not b.exists():
        return a.exists() == b.exists()
    return a.read_bytes() == b.read_bytes() and (a.stat().st_mode & 0o111) == (b.stat().st_mode & 0o111)
