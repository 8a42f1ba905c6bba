"""``kill -9`` at many points of ``run`` and ``accept``, then ``doctor --fix``.

Each case kills the real process after a different delay, so it lands in a
different step (worktree creation, snapshot, executor, post-run, ref
transaction, file update). Whatever step it hit, after ``doctor --fix`` the
repository must be consistent, the executor's work must not be lost, and the
ticket must be able to go on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import WO_GIT, git, open_ticket, script, wo

DELAYS = [0.05, 0.25, 0.45, 0.65, 0.9, 1.3]


def _kill_after(args: list[str], cwd: Path, delay: float) -> None:
    proc = subprocess.Popen([*WO_GIT, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _consistent(repo: Path) -> None:
    assert wo(repo, "doctor", "--fix").code == 0
    assert wo(repo, "doctor").out.strip() == "all well"
    assert git(repo, "fsck", "--no-progress", "--no-dangling", check=False) == ""
    assert not list((repo / ".git" / "wo" / "runs").glob("*.json"))


@pytest.mark.parametrize("delay", DELAYS)
def test_kill_9_during_run(repo: Path, tmp_path: Path, delay: float) -> None:
    open_ticket(repo, "k")
    exe = script(tmp_path, 'echo work > work.txt\nsleep 0.3\nprintf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    _kill_after(["run", "1", "--", exe], repo, delay)
    time.sleep(0.5)  # let an orphaned executor finish or be found running
    _consistent(repo)
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["state"] in ("open", "reported")
    if show["state"] == "reported":
        assert show["status"] in ("COMPLETED", "NO_REPORT")
        if show["status"] == "COMPLETED":
            assert git(repo, "show", "wo/0001-k:work.txt") == "work\n"
    else:
        # never started, or killed before the executor ran: it can run now
        r = wo(repo, "run", "1", "--", exe)
        assert r.code == 0, r.err
        assert git(repo, "show", "wo/0001-k:work.txt") == "work\n"
    assert git(repo, "log", "-1", "--format=%s", "main") == "initial\n"


@pytest.mark.parametrize("delay", DELAYS)
def test_kill_9_during_accept(repo: Path, tmp_path: Path, delay: float) -> None:
    open_ticket(repo, "a")
    exe = script(tmp_path, 'echo merged > merged.txt\nprintf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    assert wo(repo, "run", "1", "--", exe).code == 0
    _kill_after(["accept", "1"], repo, delay)
    _consistent(repo)
    assert git(repo, "status", "--porcelain") == ""
    state = wo(repo, "show", "1", "--json").json()["state"]  # type: ignore[index]
    if state == "reported":
        assert not (repo / "merged.txt").exists()
        r = wo(repo, "accept", "1")
        assert r.code == 0, r.err
    else:
        assert state == "accepted"
    assert (repo / "merged.txt").read_text() == "merged\n"
    assert git(repo, "show", "main:merged.txt") == "merged\n"
    assert git(repo, "status", "--porcelain") == ""
