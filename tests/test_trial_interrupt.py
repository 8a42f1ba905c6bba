"""Found trying the product as a user: Ctrl-C on a foreground `wo-git run`.

A terminal sends SIGINT to the whole foreground process group. The work so
far must be committed (a NO_REPORT packet) and the exit code must be 130
(README, Exit codes), not 5 (an executor failure a harness would retry).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import WO_GIT, git, open_ticket, script, wo


def test_ctrl_c_on_a_foreground_run_exits_130_with_the_work_committed(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "slow", "--scope", "src/**")
    started = tmp_path / "started"
    exe = script(tmp_path, f"""
        echo "x = 1" >> src/app.py
        touch {started}
        sleep 60
        """)
    env = dict(os.environ, PWD=str(repo))
    proc = subprocess.Popen([*WO_GIT, "run", "1", "--", exe], cwd=repo, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.exists()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "wo-git show 1" in err
    assert "Traceback" not in err
    # the work so far is committed on the ticket branch
    assert "x = 1" in git(repo, "show", "wo/0001-slow:src/app.py")
    shown = wo(repo, "show", "1", "--json").json()
    assert isinstance(shown, dict) and shown["state"] == "reported"
