"""The ref/config/hook snapshot: what it notices and how it puts things back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import git
from wo_git.git import Repo
from wo_git.guard import snapshot


@pytest.fixture
def snap(repo: Path, tmp_path: Path) -> tuple[Repo, Path]:
    git(repo, "branch", "other")
    git(repo, "tag", "v1")
    r = Repo(repo)
    dest = r.wo_dir / "snapshots" / "0001"
    snapshot.take(r, dest, {"refs/heads/wo/0001-x"})
    return r, dest


def _names(found: list[snapshot.Violation]) -> list[str]:
    return [v.path for v in found]


def test_nothing_changed_nothing_reported(snap: tuple[Repo, Path]) -> None:
    r, dest = snap
    assert snapshot.compare_and_restore(r, dest) == []


def test_own_branch_may_move(snap: tuple[Repo, Path], repo: Path) -> None:
    r, dest = snap
    git(repo, "branch", "wo/0001-x")
    assert snapshot.compare_and_restore(r, dest) == []


def test_config_change_names_the_keys_and_is_restored(snap: tuple[Repo, Path], repo: Path) -> None:
    r, dest = snap
    before = (repo / ".git" / "config").read_bytes()
    git(repo, "config", "core.fsmonitor", "touch /tmp/x")
    git(repo, "config", "filter.lfs.clean", "sh -c evil")
    found = snapshot.compare_and_restore(r, dest)
    text = " ".join(str(v) for v in found)
    assert "core.fsmonitor" in text and "filter.lfs.clean" in text and "control" in text
    assert (repo / ".git" / "config").read_bytes() == before


def test_disk_copy_tampered_memory_copy_wins(snap: tuple[Repo, Path], repo: Path) -> None:
    r, dest = snap
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    (dest / "files" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    main = git(repo, "rev-parse", "main").strip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "moved")
    found = snapshot.compare_and_restore(r, dest)
    assert any("snapshot changed" in v.rule for v in found)
    assert "hooks/pre-commit" in _names(found) and "refs/heads/main" in _names(found)
    assert not hook.exists()
    assert git(repo, "rev-parse", "main").strip() == main


def test_disk_copy_alone_restores_after_a_crash(snap: tuple[Repo, Path], repo: Path) -> None:
    r, dest = snap
    snapshot._MEMORY.clear()  # a new process: doctor after kill -9
    git(repo, "tag", "-d", "v1")
    git(repo, "branch", "-D", "other")
    (repo / ".git" / "hooks" / "post-checkout").write_text("#!/bin/sh\n")
    found = snapshot.compare_and_restore(r, dest)
    assert {"refs/tags/v1", "refs/heads/other", "hooks/post-checkout"} <= set(_names(found))
    assert git(repo, "rev-parse", "v1").strip() == git(repo, "rev-parse", "main").strip()
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()


def test_hooks_folder_replaced_by_a_symlink(snap: tuple[Repo, Path], repo: Path, tmp_path: Path) -> None:
    r, dest = snap
    hooks = repo / ".git" / "hooks"
    names = sorted(p.name for p in hooks.iterdir())
    evil = tmp_path / "evil-hooks"
    evil.mkdir()
    (evil / "pre-commit").write_text("#!/bin/sh\n")
    os.rename(hooks, tmp_path / "old-hooks")
    os.symlink(evil, hooks)
    found = snapshot.compare_and_restore(r, dest)
    assert found and all(v.category == "control" for v in found)
    assert hooks.is_dir() and not hooks.is_symlink()
    assert sorted(p.name for p in hooks.iterdir()) == names


def test_branch_turned_into_a_symbolic_ref(snap: tuple[Repo, Path], repo: Path) -> None:
    r, dest = snap
    main = git(repo, "rev-parse", "main").strip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "x")  # main moves (HEAD follows it)
    git(repo, "symbolic-ref", "refs/heads/other", "refs/heads/main")
    found = snapshot.compare_and_restore(r, dest)
    assert {"refs/heads/other", "refs/heads/main"} <= set(_names(found))
    assert git(repo, "symbolic-ref", "-q", "refs/heads/other", check=False) == ""
    assert git(repo, "rev-parse", "other").strip() == main


def test_no_snapshot_no_report(repo: Path, tmp_path: Path) -> None:
    assert snapshot.compare_and_restore(Repo(repo), tmp_path / "never-taken") == []
