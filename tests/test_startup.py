"""Start-up: each command imports only what it uses (issue 12), and --help still lists every command."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from conftest import wo

PROBE = """
import sys
from wo_git.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("pygit2", "pydantic", "yaml", "pre_commit", "wo_git.git", "wo_git.tickets")
               if m in sys.modules and type(sys.modules[m]).__name__ != "_LazyModule")  # not yet run
print("LOADED", ",".join(heavy), file=sys.stderr)
"""


def loaded(cwd: Path, *args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED")][-1]
    return {m for m in line.split(" ", 1)[1].split(",") if m}


def test_version_and_help_import_no_core_library(repo: Path) -> None:
    assert loaded(repo, "--version") == set()
    assert loaded(repo, "--help") == set()
    assert loaded(repo, "plan", "--help") == set()
    assert "wo_git.tickets" in loaded(repo, "list")


def test_version_is_the_installed_distributions(repo: Path) -> None:
    assert wo(repo, "--version").out.strip() == f"wo-git, version {importlib.metadata.version('wo-git')}"


def test_help_lists_every_command_with_its_short_help(repo: Path) -> None:
    from wo_git.cli import cli

    out = wo(repo, "--help").out
    names = sorted(cli.commands)
    assert {"open", "run", "wait", "list", "show", "accept", "reject", "guard", "doctor", "plan"} <= set(names)
    for name in names:
        short = cli.commands[name].get_short_help_str(limit=45)
        assert any(line.split()[:1] == [name] and short[:20] in line for line in out.splitlines()), name
    init_help = wo(repo, "init", "--help").out
    assert "wo-git-guard" in init_help and "repos:" in init_help
