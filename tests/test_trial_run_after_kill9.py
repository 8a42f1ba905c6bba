"""Found trying the product as a user: `wo-git run` after a detached run's supervisor got kill -9.

The executor of the killed run goes on writing in the worktree; a new
`run` started a second executor over it and took a new snapshot over the
one `doctor --fix` restores from, and `doctor` then said "all well" with
the first executor still running. `run` must refuse with one line naming
`wo-git doctor --fix`, which then stops that executor and commits its work.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo


def test_run_refuses_over_a_killed_supervisors_round_and_doctor_fix_finishes_it(
        repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "k9", "--scope", "src/**")
    started = tmp_path / "started"
    slow = script(tmp_path, f"""
        echo "first = 1" >> src/app.py
        touch {started}
        sleep 120
        """, name="slow.sh")
    r = wo(repo, "run", "1", "--detach", "--json", "--", slow)
    assert r.code == 0, r.err
    pid = r.json()["pid"]  # type: ignore[index]
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.exists()
    os.kill(pid, signal.SIGKILL)  # the supervisor only; its executor's group lives on
    time.sleep(0.5)
    tip = git(repo, "rev-parse", "wo/0001-k9").strip()

    other = script(tmp_path, 'echo "second = 2" >> src/app.py\n' + REPORT_OK, name="other.sh")
    r = wo(repo, "run", "1", "--", other)
    assert r.code == 1, r.out + r.err
    assert "wo-git doctor --fix" in r.err and "still running" in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert git(repo, "rev-parse", "wo/0001-k9").strip() == tip  # nothing committed, nothing run

    r = wo(repo, "doctor", "--fix")
    assert r.code == 0 and "unfinished-run" in r.out, r.out + r.err
    shown = wo(repo, "show", "1", "--json").json()
    assert isinstance(shown, dict) and shown["state"] == "reported" and shown["status"] == "NO_REPORT"
    app = git(repo, "show", "wo/0001-k9:src/app.py")
    assert "first = 1" in app and "second = 2" not in app  # the killed round's work, kept
    assert wo(repo, "revise", "1", "--task", "Finish it.").code == 0
    assert wo(repo, "run", "1", "--", other).code == 0
