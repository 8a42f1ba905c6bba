"""Found trying the product as a user: `accept` typed in the ticket's own worktree.

The shell is left in a removed directory: accept must say so and name where
to go, and the next wo-git command typed there must be one line, not a crash.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import REPORT_OK, WO_GIT, open_ticket, script, wo


def test_accept_inside_the_ticket_worktree_says_where_to_go_and_the_next_command_is_one_line(
        repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "here", "--scope", "src/**")
    exe = script(tmp_path, 'echo "x = 1" >> src/app.py\n' + REPORT_OK)
    r = wo(repo, "run", "1", "--", exe)
    assert r.code == 0, r.err
    wt = repo.parent / "proj.wo" / "0001-here"
    assert wt.is_dir()
    # the shell stays in the worktree across both commands
    env = dict(os.environ, PWD=str(wt))
    proc = subprocess.run(["sh", "-c", '"$@"; echo "EXIT=$?"; "$@" 2>&1 >/dev/null; exit 0', "sh",
                           *WO_GIT, "accept", "1"], cwd=wt, env=env, capture_output=True, text=True, timeout=120)
    assert "accepted 0001" in proc.stdout and "EXIT=0" in proc.stdout, proc.stderr
    assert not wt.exists()
    assert f"cd {repo}" in proc.stderr and "removed" in proc.stderr
    gone = tmp_path / "gone"
    gone.mkdir()
    # a shell whose directory was removed under it types the next command
    proc = subprocess.run(["sh", "-c", 'cd "$1" && rm -rf "$1" && shift && exec "$@"', "sh", str(gone),
                           *WO_GIT, "list"], env=dict(os.environ, PWD=str(gone)), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "no longer exists" in proc.stderr and "Traceback" not in proc.stderr and "bug" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
