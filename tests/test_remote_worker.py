"""``wo-git worker``: many worker processes, each in its own clone, one bare remote.

Claims are compare-and-swap pushes over ``file://``; a worker killed with
``kill -9`` loses its claim when the lease expires and exactly one other
worker takes the ticket over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from remotes import clone, git_daemon, make_origin, remote_refs

from conftest import WO_GIT, git, wo
from wo_git.remote.worker import renew_interval
from wo_git.runs.supervise import GRACE_SECONDS, POLL_SECONDS


def open_many(root: Path, n: int) -> None:
    """Open ``n`` tickets in one process (the core API) and push them: faster than n CLI runs."""
    code = textwrap.dedent(f"""
        from wo_git import tickets
        from wo_git.config import Config
        from wo_git.git import Repo
        repo = Repo(".")
        for i in range({n}):
            tickets.open_ticket(repo, Config(), tickets.OpenRequest(slug=f"t{{i}}", title=f"T{{i}}", task="x"))
    """)
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
    git(root, "push", "-q", "origin", "refs/wo/*:refs/wo/*", "refs/heads/wo/*:refs/heads/wo/*")


def executor(tmp_path: Path, ran: Path, body: str = "", name: str = "exec.sh") -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" f'echo "$WO_TICKET $$ $(date +%s.%N)" >> {ran}\n' + body
                    + 'printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    path.chmod(0o755)
    return str(path)


def start_worker(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*WO_GIT, "worker", "--json", *args], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=dict(os.environ))


def reports_per_ticket(origin: Path) -> dict[str, int]:
    out = {}
    for name in remote_refs(origin, "refs/wo/tickets/"):
        events = git(origin, "log", "--first-parent", "--format=%(trailers:key=Wo-Event,valueonly)", name).split()
        out[name.rsplit("/", 1)[1]] = events.count("report")
    return out


def test_fifty_tickets_four_workers_each_run_exactly_once(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    open_many(a, 50)
    ran = tmp_path / "ran.log"
    exe = executor(tmp_path, ran)
    clones = [clone(origin.as_uri(), tmp_path / f"w{i}") for i in range(4)]
    procs = [start_worker(c, "--once", "--poll", "0.5", "--max-parallel", str(1 + i % 2), "--", exe)
             for i, c in enumerate(clones)]
    stats = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
        stats.append(json.loads(out))
    counts = reports_per_ticket(origin)
    assert len(counts) == 50 and set(counts.values()) == {1}, counts  # none lost, none twice
    runs_ = [int(line.split()[0]) for line in ran.read_text().splitlines()]
    assert sorted(runs_) == list(range(1, 51))  # each executor started once
    published = sorted(t for s in stats for t in s["published"])
    assert published == list(range(1, 51))
    assert not remote_refs(origin, "refs/wo/claims/")  # every claim released with its report
    # the architect's clone sees every report after a fetch
    r = wo(a, "fetch")
    assert r.code == 0, r.err
    states = {t["state"] for t in wo(a, "list", "--json").json()}  # type: ignore[union-attr,index]
    assert states == {"reported"}


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_kill_9_then_exactly_one_worker_takes_over_after_the_lease(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    open_many(a, 1)
    ran = tmp_path / "ran.log"
    pidfile = tmp_path / "slow.pid"
    slow = executor(tmp_path, ran, f"echo $$ > {pidfile}\nsleep 600\n", "slow.sh")
    fast = executor(tmp_path, ran, "echo done > done.txt\n", "fast.sh")
    dead = start_worker(clone(origin.as_uri(), tmp_path / "dead"), "--lease", "3", "--", slow)
    _wait_for(pidfile)
    claim = remote_refs(origin, "refs/wo/claims/")["refs/wo/claims/0001"]
    os.killpg(dead.pid, signal.SIGKILL)  # the machine is gone: worker and run child
    os.kill(int(pidfile.read_text()), signal.SIGKILL)  # and the executor with it
    dead.communicate()
    clones = [clone(origin.as_uri(), tmp_path / f"w{i}") for i in range(3)]
    procs = [start_worker(c, "--once", "--lease", "3", "--poll", "0.3", "--", fast) for c in clones]
    stats = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        stats.append(json.loads(out))
    assert sum(len(s["published"]) for s in stats) == 1  # exactly one took it over
    assert sum(len(s["claimed"]) for s in stats) == 1
    assert reports_per_ticket(origin) == {"0001": 1}
    log = git(origin, "show", "-s", "--format=%B", "refs/wo/tickets/0001")
    assert "Wo-Event: report" in log and "Wo-Status: COMPLETED" in log
    assert git(origin, "show", "refs/heads/wo/0001-t0:done.txt") == "done\n"
    # the old claim's lease had run out before anyone else ran the ticket
    expires = float(git(origin, "show", "-s", "--format=%(trailers:key=Wo-Lease-Expires,valueonly)", claim))
    started = [float(line.split()[2]) for line in ran.read_text().splitlines()]
    assert len(started) == 2  # the dead worker's run, then the takeover's
    assert started[1] >= expires
    assert not remote_refs(origin, "refs/wo/claims/")


LEASE = 3.0
"""``--lease`` of the workers in the takeover tests, seconds"""
PUSH_ROUND_TRIP = 10.0
"""allowance for one CAS push over ``file://`` (a new git process, the remote's ref locks) on a loaded CI box"""


def _executor_groups(script: Path) -> set[int]:
    """Process groups (host pgids) of the processes running ``script`` as an executor.

    Looked up by command line: under bubblewrap (``--unshare-pid``) the ``$$``
    the script sees is a pid in its own PID namespace, meaningless outside.
    The worker and ``wo-git run`` name the script too and are left out.
    """
    ps = subprocess.run(["ps", "-ww", "-eo", "pgid=,args="], capture_output=True, text=True, check=True).stdout
    return {int(line.split(None, 1)[0]) for line in ps.splitlines()
            if str(script) in line and " -m wo_git " not in line}


def _group_alive(pgids: set[int]) -> set[int]:
    ps = subprocess.run(["ps", "-eo", "pgid="], capture_output=True, text=True, check=True).stdout
    return pgids & {int(x) for x in ps.split()}


def test_a_worker_whose_claim_was_taken_publishes_nothing(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    open_many(a, 1)
    ran = tmp_path / "ran.log"
    pidfile = tmp_path / "slow.pid"
    # it runs far past the deadline below: only a stop can end it in time
    slow = executor(tmp_path, ran, f"echo $$ > {pidfile}\necho slow > slow.txt\nsleep 600\n", "slow.sh")
    fast = executor(tmp_path, ran, "echo fast > fast.txt\n", "fast.sh")
    stalled = start_worker(clone(origin.as_uri(), tmp_path / "stalled"), "--lease", f"{LEASE:g}", "--", slow)
    groups: set[int] = set()
    try:
        _wait_for(pidfile)
        groups = _executor_groups(Path(slow))
        assert groups, "the slow executor is not found by its command line"
        os.kill(stalled.pid, signal.SIGSTOP)  # the worker stalls (its executor goes on): no renewals
        try:
            other = start_worker(clone(origin.as_uri(), tmp_path / "other"), "--once", "--lease", f"{LEASE:g}",
                                 "--", fast)
            out, err = other.communicate(timeout=300)
            assert other.returncode == 0, err
            assert json.loads(out)["published"] == [1]
            assert _group_alive(groups), "the stalled worker's executor ended before its worker woke"
        finally:
            os.kill(stalled.pid, signal.SIGCONT)
        # the stalled worker wakes, finds its claim taken, stops its executor and publishes nothing. By
        # design: its renewal is overdue, so it pushes one at once (at most one renew interval in any
        # case), the push is rejected (one round trip), and the run's supervisor sees the abort within
        # its poll interval and ends the group (SIGTERM, SIGKILL after the grace)
        bound = renew_interval(LEASE) + PUSH_ROUND_TRIP + POLL_SECONDS + GRACE_SECONDS
        woke = time.monotonic()
        while _group_alive(groups):
            assert time.monotonic() - woke < bound, f"the executor of the lost claim was not stopped in {bound:g} s"
            time.sleep(0.1)
    finally:
        os.killpg(stalled.pid, signal.SIGCONT)
        os.killpg(stalled.pid, signal.SIGINT)
        _out, err = stalled.communicate(timeout=120)
        for pgid in _group_alive(groups):  # a failed test leaves no executor behind
            os.killpg(pgid, signal.SIGKILL)
    assert "taken over" in err
    assert reports_per_ticket(origin) == {"0001": 1}
    assert git(origin, "show", "refs/heads/wo/0001-t0:fast.txt") == "fast\n"
    assert git(origin, "ls-tree", "--name-only", "refs/heads/wo/0001-t0", "slow.txt") == ""


def test_workers_over_git_daemon(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    open_many(a, 6)
    ran = tmp_path / "ran.log"
    exe = executor(tmp_path, ran)
    with git_daemon(tmp_path) as base_url:
        url = f"{base_url}/{origin.name}"
        procs = [start_worker(clone(url, tmp_path / f"d{i}"), "--once", "--poll", "0.3", "--", exe) for i in range(2)]
        stats = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            assert p.returncode == 0, err
            stats.append(json.loads(out))
    assert sorted(t for s in stats for t in s["published"]) == list(range(1, 7))
    assert reports_per_ticket(origin) == {f"{i:04d}": 1 for i in range(1, 7)}
    assert sorted(int(line.split()[0]) for line in ran.read_text().splitlines()) == list(range(1, 7))


def test_push_leaves_a_ticket_a_worker_holds_alone(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    assert wo(a, "open", "held", "--title", "Held", "--task", "x").code == 0
    ran = tmp_path / "ran.log"
    pidfile = tmp_path / "slow.pid"
    slow = executor(tmp_path, ran, f"echo $$ > {pidfile}\nsleep 30\n", "slow.sh")
    w = start_worker(clone(origin.as_uri(), tmp_path / "w"), "--", slow)
    try:
        _wait_for(pidfile)
        assert wo(a, "fetch").code == 0
        assert "[claimed on origin by " in wo(a, "list").out  # the architect sees who runs it
        local = executor(tmp_path, ran, "", "local.sh")
        assert wo(a, "run", "1", "--", local).code == 0  # the architect also ran it here
        before = remote_refs(origin)["refs/wo/tickets/0001"]
        r = wo(a, "push")
        assert "holds it" in r.out and "not pushed" in r.out, r.out + r.err
        assert remote_refs(origin)["refs/wo/tickets/0001"] == before
    finally:
        os.killpg(w.pid, signal.SIGINT)
        w.communicate(timeout=120)
