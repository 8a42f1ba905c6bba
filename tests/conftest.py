"""Shared fixtures: hermetic git, real repositories, the real CLI.

Every test runs with a private HOME, no system git config, fixed identities
and ``GIT_EDITOR=false`` (git-revise's ``hermetic_seal``), so a developer's
own git setup cannot change a result.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

WO_GIT = [sys.executable, "-m", "wo_git"]


@pytest.fixture(autouse=True, scope="session")
def _codex_homes() -> Iterator[None]:
    """Remove the agent tests' Codex homes (kept outside /tmp, see modelserver) at the end."""
    yield
    from modelserver import remove_codex_homes

    remove_codex_homes()


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    for k in list(os.environ):
        if k.startswith("GIT_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path_factory.getbasetemp() / "pre-commit-cache"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("GIT_EDITOR", "false")
    # executor scripts leave markers in the test's own folder: writable in the sandbox (the
    # repository inside it stays read-only; tests/test_sandbox.py runs without this)
    monkeypatch.setenv("WO_SANDBOX_WRITABLE", str(tmp_path))
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = user@example.com\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
        "[protocol \"file\"]\n\tallow = always\n"
    )
    yield


def git(cwd: Path | str, *args: str, check: bool = True, input: str | None = None) -> str:
    """Run real git; return stdout (text)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


@dataclass
class Result:
    """A finished wo-git process."""

    code: int
    out: str
    err: str

    def json(self) -> object:
        import json

        return json.loads(self.out)


def wo(cwd: Path | str, *args: str, input: str | None = None, env: dict[str, str] | None = None,
       timeout: float = 120) -> Result:
    """Run the real ``wo-git`` CLI (``python -m wo_git``) in ``cwd``, started as a shell starts it.

    A shell exports ``PWD`` (the directory the user typed the command in) to
    every program it starts, and the executors inherit it: so ``PWD`` is
    ``cwd`` here unless ``env`` sets it. ``HOME`` is the private home of
    :func:`hermetic`, whose ``.gitconfig`` holds a git identity.
    """
    full_env = dict(os.environ)
    full_env["PWD"] = os.path.abspath(cwd)
    full_env.update(env or {})
    proc = subprocess.run(
        [*WO_GIT, *args], cwd=cwd, capture_output=True, text=True, input=input if input is not None else "",
        env=full_env, timeout=timeout, check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh repository on ``main`` with a small Python project committed."""
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def hello():\n    return 'hi'\n")
    (root / "README.md").write_text("# proj\n")
    (root / ".gitignore").write_text("*.pyc\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def script(tmp_path: Path, body: str, name: str = "exec.sh") -> str:
    """Write an executable shell script (the executor) and return its path."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\nset -e\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


REPORT_OK = 'printf "# W02 - Report\\n- Status: COMPLETED\\n- Files: x\\n" > "$WO_REPORT_FILE"\n'


def open_ticket(root: Path, slug: str = "task", *extra: str) -> dict[str, object]:
    """Open a ticket through the CLI; returns the ``--json`` object."""
    r = wo(root, "open", slug, "--title", f"Do {slug}", "--task", "Do the thing.", "--json", *extra)
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    return data
