"""The architect's side of remote work: ``wait`` for a ticket a worker runs, ``accept`` from any clone."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from remotes import clone, make_origin, remote_refs
from test_remote_worker import executor, open_many, start_worker

from conftest import git, wo


def test_wait_for_a_ticket_run_elsewhere_then_accept_from_another_clone(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    r = wo(a, "open", "far", "--title", "Far", "--task", "x", "--json")
    assert r.code == 0, r.err
    exe = executor(tmp_path, tmp_path / "ran.log", "sleep 2\necho far > far.txt\n")
    w = start_worker(clone(origin.as_uri(), tmp_path / "w"), "--once", "--poll", "0.3", "--", exe)
    t0 = time.monotonic()
    r = wo(a, "wait", "1", "--json", timeout=300)
    waited = time.monotonic() - t0
    assert r.code == 0, r.err
    packets = r.json()
    assert isinstance(packets, list) and packets[0]["status"] == "COMPLETED"
    assert waited >= 2  # it really waited for the worker's run
    out, err = w.communicate(timeout=120)
    assert json.loads(out)["published"] == [1], err
    assert git(a, "show", "wo/0001-far:far.txt") == "far\n"  # wait fetched the work
    # accept from a third clone that never saw the ticket
    c = clone(origin.as_uri(), tmp_path / "c")
    r = wo(c, "accept", "1", "--json")
    assert r.code == 0, r.err
    merge = r.json()["merge"]  # type: ignore[index]
    refs = remote_refs(origin)
    assert refs["refs/heads/main"] == merge
    assert "refs/heads/wo/0001-far" not in refs
    assert "Wo-Event: accept" in git(origin, "show", "-s", "--format=%B", "refs/wo/tickets/0001")
    assert git(origin, "show", "main:far.txt") == "far\n"
    # the architect's clone learns it with a fetch; its ticket branch goes too
    assert wo(a, "fetch").code == 0
    assert wo(a, "show", "1", "--json").json()["state"] == "accepted"  # type: ignore[index]
    assert git(a, "branch", "--list", "wo/0001-far") == ""


def test_wait_times_out_on_an_unclaimed_ticket(tmp_path: Path) -> None:
    _origin, a = make_origin(tmp_path)
    assert wo(a, "open", "idle", "--title", "Idle", "--task", "x").code == 0
    r = wo(a, "wait", "1", "--timeout", "2")
    assert r.code == 7, r.err
    assert "still running: 1" in r.out


def test_accept_refuses_and_changes_nothing_when_the_remote_moves_under_it(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    open_many(a, 1)
    exe = executor(tmp_path, tmp_path / "ran.log", "echo x > x.txt\n")
    w = start_worker(clone(origin.as_uri(), tmp_path / "w"), "--once", "--", exe)
    w.communicate(timeout=300)
    assert wo(a, "fetch").code == 0
    # someone else's push lands on main between this accept's fetch and its push
    git(a, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    other = git(a, "rev-parse", "HEAD").strip()
    git(a, "push", "-q", "origin", f"{other}:refs/heads/side")
    git(a, "reset", "-q", "--hard", "HEAD~1")
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f'[ -e "{tmp_path}/moved" ] && exit 0\n'
        f'touch "{tmp_path}/moved"\n'
        "env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/heads/side\n")
    hook.chmod(0o755)
    before_local = git(a, "for-each-ref", "--format=%(refname) %(objectname)")
    before_files = git(a, "ls-files", "-s")
    before_remote = remote_refs(origin)
    r = wo(a, "accept", "1")
    assert r.code == 6, r.out + r.err
    assert len(r.err.strip().splitlines()) == 1 and "origin moved while accepting 0001" in r.err
    after_remote = remote_refs(origin)
    assert after_remote["refs/heads/main"] == other  # only the other push landed
    assert after_remote["refs/wo/tickets/0001"] == before_remote["refs/wo/tickets/0001"]
    assert after_remote["refs/heads/wo/0001-t0"] == before_remote["refs/heads/wo/0001-t0"]
    local = git(a, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", "refs/wo/tickets/")
    assert set(local.splitlines()) <= set(before_local.splitlines())
    assert "refs/heads/wo/0001-t0" in local
    assert git(a, "ls-files", "-s") == before_files
    assert git(a, "status", "--porcelain") == ""
    # once this clone has caught up, the accept goes through
    hook.unlink()
    subprocess.run(["git", "pull", "-q", "--ff-only", "origin", "main"], cwd=a, check=True)
    r = wo(a, "accept", "1")
    assert r.code == 0, r.err
    assert "Wo-Event: accept" in git(origin, "show", "-s", "--format=%B", "refs/wo/tickets/0001")
