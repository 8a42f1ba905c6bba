"""Ctrl-C exits 130 once the work is safe (issue 7, item 8).

Real SIGINTs to the real CLI. A process interrupted before wo-git's own
code runs (Python still importing) dies by SIGINT, which a shell reports as
130 too; the test accepts either form and checks what matters: nothing is
half-done.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from conftest import REPORT_OK, WO_GIT, git, open_ticket, script, wo

INTERRUPTED = (130, -signal.SIGINT)


def _crash(err: str) -> str:
    m = re.search(r"traceback in (\S+)", err)
    return Path(m.group(1)).read_text() if m else ""


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PWD=str(cwd))
    return subprocess.Popen([*WO_GIT, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_during_a_foreground_run_commits_the_work_and_exits_130(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "fg")
    started = tmp_path / "started"
    exe = script(tmp_path, f"echo halfway > half.txt\ntouch {started}\nsleep 300\n")
    proc = _start(repo, "run", "1", "--", exe)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "committed" in err and "wo-git show 1" in err
    assert "stopped by: interrupted" in out  # the packet was printed
    assert git(repo, "show", "wo/0001-fg:half.txt") == "halfway\n"  # the executor's work is committed
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict)
    assert show["state"] == "reported" and show["stopped_by"] == "interrupted"
    assert wo(repo, "doctor").out.strip() == "all well"  # no run left half-finished


def test_ctrl_c_during_open_creates_all_or_nothing(repo: Path) -> None:
    for n, delay in enumerate((0.2, 0.6, 1.0, 1.5, 2.5)):
        proc = _start(repo, "open", f"t{n}", "--title", "T", "--task", "Do it.")
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, *INTERRUPTED), err
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/wo/tickets/").split()
    records = {r.rsplit("/", 1)[-1] for r in refs}
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/wo/").split()
    assert {b.split("/")[1][:4] for b in branches} == records  # every record has its branch, and no more
    assert wo(repo, "doctor").out.strip() == "all well"


def test_ctrl_c_during_accept_finishes_or_rolls_back(repo: Path, tmp_path: Path) -> None:
    delays = (0.3, 0.9, 1.6, 2.6)
    for n in range(1, len(delays) + 1):
        open_ticket(repo, f"a{n}")
        exe = script(tmp_path, f"echo 'ticket {n}' > f{n}.txt\n" + REPORT_OK, f"e{n}.sh")
        assert wo(repo, "run", str(n), "--", exe).code == 0
    for n, delay in enumerate(delays, start=1):
        before = git(repo, "rev-parse", "main").strip()
        proc = _start(repo, "accept", str(n))
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=90)
        assert proc.returncode in (0, *INTERRUPTED), err + _crash(err)
        after = git(repo, "rev-parse", "main").strip()
        state = wo(repo, "show", str(n), "--json").json()["state"]  # type: ignore[index]
        wt = repo.parent / f"{repo.name}.wo" / f"{n:04d}-a{n}"
        if after == before:  # rolled back: nothing of the accept is left
            assert state == "reported" and proc.returncode != 0
            assert not (repo / f"f{n}.txt").exists() and wt.is_dir()
            assert git(repo, "rev-parse", f"wo/{n:04d}-a{n}").strip()
        else:  # finished: merged, files in place, worktree gone
            assert state == "accepted"
            assert (repo / f"f{n}.txt").read_text() == f"ticket {n}\n" and not wt.exists()
        assert git(repo, "status", "--porcelain") == ""  # the checkout matches main either way
        assert not list((repo / ".git" / "wo" / "accepts").glob("*.json"))
    assert wo(repo, "doctor").out.strip() == "all well"
