"""The executor's sandbox (bubblewrap), through the real ``wo-git run`` in real worktrees.

Each executor script tries an attack class on the repository around its
worktree. Under the sandbox (the default) the attempt itself fails and the
round completes with nothing outside the worktree changed; without it
(``--no-sandbox``) the post-run hook catches the change after the fact,
reports it and puts it back.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import REPORT_OK, git, open_ticket, script, wo

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """No extra writable folder (conftest grants the test folder to other tests' scripts)."""
    monkeypatch.delenv("WO_SANDBOX_WRITABLE", raising=False)


def _common(repo: Path) -> Path:
    return repo / ".git"


def _trailers(repo: Path, rev: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in git(repo, "log", "-1", "--format=%(trailers:only,unfold)", rev).splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


def _violations(repo: Path, tid: str) -> list[str]:
    shown = wo(repo, "show", tid, "--json").json()
    assert isinstance(shown, dict)
    return [str(v) for v in shown["violations"]]  # type: ignore[union-attr]


# every way out of the worktree an executor script can try; each line may fail
ESCAPES = """\
set +e
echo work > work.txt
git add work.txt
git commit -qm "executor's own commit"
C="$(git rev-parse --git-common-dir)"
H="$(git rev-parse HEAD)"
git update-ref refs/heads/main "$H"
echo "$H" > "$C/refs/heads/main"
echo pwned > "$WO_REPO/README.md"
echo "gitdir: /nowhere" > "$OTHER/.git"
printf '[core]\\n\\thooksPath = /tmp/evil\\n' > "$C/worktrees/other/config.worktree"
echo /nowhere > "$C/worktrees/other/gitdir"
echo /tmp/evil-objects > "$C/objects/info/alternates"
echo "$H" > "$C/shallow"
echo "$H" > "$C/info/grafts"
echo "$H refs/heads/main" >> "$C/packed-refs"
echo '{"t": 9999999999, "ref": "refs/heads/main", "new": "'"$H"'"}' >> "$C/wo/ref-journal.jsonl"
printf '[core]\\n\\thooksPath = /tmp/evil\\n' >> "$HOME/.gitconfig"
echo evil > "$EVIL"
setsid sh -c 'sleep 3; echo late > late.txt; git update-ref refs/heads/main HEAD' </dev/null >/dev/null 2>&1 &
echo done
"""


@pytest.fixture
def other(repo: Path) -> Path:
    """A second linked worktree (``other``) the executor must not reach."""
    path = repo.parent / "other"
    git(repo, "worktree", "add", "-q", "-b", "other", str(path))
    return path


def _state(repo: Path, other: Path) -> dict[str, object]:
    c = _common(repo)
    return {
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/main", "refs/heads/other"),
        "readme": (repo / "README.md").read_bytes(),
        "other .git": (other / ".git").read_bytes(),
        "other gitdir": (c / "worktrees" / "other" / "gitdir").read_bytes(),
        "other config.worktree": (c / "worktrees" / "other" / "config.worktree").exists(),
        "alternates": (c / "objects" / "info" / "alternates").exists(),
        "shallow": (c / "shallow").exists(),
        "grafts": (c / "info" / "grafts").exists(),
        "packed-refs": (c / "packed-refs").read_bytes() if (c / "packed-refs").exists() else b"",
        "gitconfig": (Path(os.environ["HOME"]) / ".gitconfig").read_bytes(),
    }


def test_sandboxed_executor_cannot_reach_past_its_worktree(repo: Path, other: Path, tmp_path: Path) -> None:
    before = _state(repo, other)
    opened = open_ticket(repo, "box")
    tid, branch = str(opened["id"]), str(opened["branch"])
    evil = Path(f"/tmp/wo-sandbox-evil-{os.getpid()}-{tmp_path.name}")
    exe = script(tmp_path, f'OTHER="{other}"\nEVIL="{evil}"\n' + ESCAPES + REPORT_OK)
    r = wo(repo, "run", tid, "--", exe)
    assert r.code == 0, (r.out, r.err)
    assert "WITHOUT a sandbox" not in r.err
    assert _violations(repo, tid) == []
    assert _trailers(repo, branch)["Wo-Sandbox"] == "bwrap"
    assert "- Sandbox: bwrap" in git(repo, "show", f"{branch}:{opened['report_file']}")
    # nothing outside the worktree changed: every attempt failed inside the sandbox
    assert _state(repo, other) == before
    assert "9999999999" not in (_common(repo) / "wo" / "ref-journal.jsonl").read_text()
    assert not evil.exists()
    log = Path(str(wo(repo, "show", tid, "--json").json()["log"])).read_text()  # type: ignore[index]
    assert "Read-only file system" in log and "done" in log
    # the work and the executor's own commit are kept: squashed, and reachable from refs/wo/rounds
    assert git(repo, "show", f"{branch}:work.txt") == "work\n"
    assert git(repo, "log", "-1", "--format=%s", "refs/wo/rounds/0001-r1") == "executor's own commit\n"
    assert git(repo, "merge-base", "--is-ancestor", str(opened["commit"]), "refs/wo/rounds/0001-r1") == ""
    # the setsid daemon died with the round: it never wrote late.txt
    time.sleep(4)
    wt = repo.parent / "proj.wo" / "0001-box"
    assert not (wt / "late.txt").exists()
    assert _state(repo, other) == before
    assert wo(repo, "doctor").out.strip() == "all well"
    assert wo(repo, "accept", tid).code == 0
    assert git(repo, "show", "main:work.txt") == "work\n"


def test_without_the_sandbox_the_same_attempts_are_caught_and_put_back(
    repo: Path, other: Path, tmp_path: Path
) -> None:
    before = _state(repo, other)
    opened = open_ticket(repo, "nobox")
    tid, branch = str(opened["id"]), str(opened["branch"])
    # a forged ref-journal line and ~/.gitconfig are out of the post-run check's reach (README, Limits)
    body = f'OTHER="{other}"\nEVIL="{tmp_path}/evil"\n' + "".join(ln for ln in ESCAPES.splitlines(keepends=True)
                                          if "ref-journal" not in ln and ".gitconfig" not in ln)
    r = wo(repo, "run", tid, "--no-sandbox", "--", script(tmp_path, body + REPORT_OK))
    assert r.code == 3, (r.out, r.err)
    found = " | ".join(_violations(repo, tid))
    for what in ("refs/heads/main", "worktrees/other/config.worktree", "worktrees/other/gitdir",
                 "objects/info/alternates", "shallow", "info/grafts"):
        assert what in found, (what, found)
    assert _trailers(repo, branch)["Wo-Sandbox"] == "none"
    after = _state(repo, other)
    # the repository's files are put back; the other worktree's .git file and the main
    # checkout's files are outside the git dir: the Limits name them
    for key in ("refs", "other gitdir", "other config.worktree", "alternates", "shallow", "grafts"):
        assert after[key] == before[key], key
    # the refused round's commits stay local, outside refs/wo/*
    assert git(repo, "for-each-ref", "refs/wo/rounds/") == ""
    assert "executor's own commit\n" in git(repo, "log", "--format=%s", "refs/wo-local/rounds/0001-r1")
    # the setsid daemon still had the run's WO_* environment: ended when the round ended
    time.sleep(4)
    assert not (repo.parent / "proj.wo" / "0001-nobox" / "late.txt").exists()
    assert git(repo, "for-each-ref", "--format=%(objectname)", "refs/heads/main") == before["refs"].split()[1] + "\n"  # type: ignore[union-attr]
    assert wo(repo, "doctor", "--fix").code == 0


def test_destroyed_worktree_is_reported_and_doctor_repairs(repo: Path, tmp_path: Path) -> None:
    opened = open_ticket(repo, "wreck")
    tid = str(opened["id"])
    exe = script(tmp_path, "rm -rf .git\ngit init -q\necho x > f.txt\n" + REPORT_OK)
    r = wo(repo, "run", tid, "--no-sandbox", "--", exe)
    assert r.code == 3, (r.out, r.err)
    assert any(v.startswith(".git: control / ") for v in _violations(repo, tid))
    d = wo(repo, "doctor", "--fix")
    assert d.code == 0, d.err
    assert wo(repo, "doctor").out.strip() == "all well"
    wt = repo.parent / "proj.wo" / f"{int(tid):04d}-wreck"
    assert git(wt, "symbolic-ref", "HEAD").strip() == f"refs/heads/{opened['branch']}"
    assert (wt / ".git-from-executor").is_dir() and (wt / "f.txt").exists()  # nothing lost


def test_own_git_file_pointed_elsewhere_inside_the_sandbox_is_put_back(repo: Path, tmp_path: Path) -> None:
    opened = open_ticket(repo, "redirect")
    tid = str(opened["id"])
    fake = tmp_path / "fake"
    git(tmp_path, "init", "-q", str(fake))
    exe = script(tmp_path, f'echo work > w.txt\necho "gitdir: {fake}/.git" > .git\n' + REPORT_OK)
    r = wo(repo, "run", tid, "--", exe)
    assert r.code == 3, (r.out, r.err)
    assert any(v.startswith(".git: control / ") and "pointed elsewhere" in v for v in _violations(repo, tid))
    wt = repo.parent / "proj.wo" / f"{int(tid):04d}-redirect"
    assert git(wt, "rev-parse", "--git-common-dir").strip() == str(_common(repo))
    assert (wt / "w.txt").read_text() == "work\n"
    assert git(fake, "log", "--all", "--oneline", check=False) == ""
    assert wo(repo, "doctor", "--fix").code == 0


def test_checks_the_executor_edited_run_inside_the_sandbox(repo: Path, tmp_path: Path) -> None:
    (repo / "check.sh").write_text("exit 0\n")
    (repo / ".wo-git.toml").write_text('checks = ["sh check.sh"]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "checks")
    main = git(repo, "rev-parse", "main").strip()
    opened = open_ticket(repo, "chk")
    tid = str(opened["id"])
    exe = script(tmp_path, 'cat > check.sh <<EOF\ngit update-ref refs/heads/main HEAD\n'
                 'echo pwned > "$WO_REPO/README.md"\nexit 0\nEOF\n' + REPORT_OK)
    r = wo(repo, "run", tid, "--", exe)
    assert git(repo, "rev-parse", "main").strip() == main
    assert (repo / "README.md").read_text() == "# proj\n"
    assert r.code in (0, 5), (r.out, r.err)
    assert "sh check.sh" in git(repo, "show", f"{opened['branch']}:{opened['report_file']}")


def test_without_bubblewrap_the_run_goes_on_with_one_warning(repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    opened = open_ticket(repo, "nobwrap")
    tid, branch = str(opened["id"]), str(opened["branch"])
    r = wo(repo, "run", tid, "--", script(tmp_path, "echo x > x.txt\n" + REPORT_OK), env={"PATH": str(bin_dir)})
    assert r.code == 0, (r.out, r.err)
    warnings = [ln for ln in r.err.splitlines() if "WITHOUT a sandbox" in ln]
    assert len(warnings) == 1 and "bwrap" in warnings[0], r.err
    assert _trailers(repo, branch)["Wo-Sandbox"] == "none"


def test_sandbox_none_in_the_config(repo: Path, tmp_path: Path) -> None:
    (repo / ".wo-git.toml").write_text('sandbox = "none"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "no sandbox")
    opened = open_ticket(repo, "cfg")
    r = wo(repo, "run", str(opened["id"]), "--", script(tmp_path, "echo x > x.txt\n" + REPORT_OK))
    assert r.code == 0, (r.out, r.err)
    assert "WITHOUT" not in r.err
    assert _trailers(repo, str(opened["branch"]))["Wo-Sandbox"] == "none"


def test_kill_9_of_a_sandboxed_run_ends_the_executor_and_doctor_keeps_its_work(repo: Path, tmp_path: Path) -> None:
    import json
    import signal
    import subprocess

    from tests.conftest import WO_GIT

    opened = open_ticket(repo, "crash")
    wt = repo.parent / "proj.wo" / "0001-crash"
    exe = script(tmp_path, "echo precious > precious.txt\ngit add precious.txt\n"
                 "git commit -qm 'half done'\necho started > started.txt\nsleep 300\n")
    proc = subprocess.Popen([*WO_GIT, "run", "1", "--", exe], cwd=repo, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    record = repo / ".git" / "wo" / "runs" / "0001.json"
    deadline = time.monotonic() + 60
    while not ((wt / "started.txt").exists() and record.exists() and json.loads(record.read_text()).get("pgid")):
        assert time.monotonic() < deadline, "the executor never started"
        time.sleep(0.1)
    pgid = int(json.loads(record.read_text())["pgid"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # --die-with-parent: the sandbox and everything in it die with wo-git, at once
    deadline = time.monotonic() + 10
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the sandboxed executor outlived wo-git"
        time.sleep(0.1)
    d = wo(repo, "doctor", "--fix")
    assert d.code == 0 and "fixed: unfinished-run" in d.out, (d.out, d.err)
    assert wo(repo, "doctor").out.strip() == "all well"
    branch = str(opened["branch"])
    assert git(repo, "show", f"{branch}:precious.txt") == "precious\n"
    assert git(repo, "log", "-1", "--format=%s", "refs/wo/rounds/0001-r1") == "half done\n"
    assert _trailers(repo, branch)["Wo-Sandbox"] == "bwrap"
    assert not (repo / ".git" / "wo" / "sandbox" / "0001").exists()


# ------------------------------------------------------------------ races and stale locks


def test_a_lock_left_by_a_killed_process_is_removed_by_doctor(repo: Path, tmp_path: Path) -> None:
    opened = open_ticket(repo, "locked")
    tid = str(opened["id"])
    assert wo(repo, "run", tid, "--", script(tmp_path, "echo x > x.txt\n" + REPORT_OK)).code == 0
    # what a process killed while holding main's ref lock and the index lock leaves
    stale = [_common(repo) / "refs" / "heads" / "main.lock", _common(repo) / "index.lock"]
    for lock in stale:
        lock.write_text("")
        os.utime(lock, (time.time() - 60, time.time() - 60))
    a = wo(repo, "accept", tid)
    assert a.code == 6 and len(a.err.strip().splitlines()) == 1 and "Another git" not in a.err, a.err
    d = wo(repo, "doctor", "--fix")
    assert d.code == 0 and d.out.count("stale-lock") == 2, (d.out, d.err)
    assert not any(lock.exists() for lock in stale)
    a = wo(repo, "accept", tid)
    assert a.code == 0, a.err
    assert git(repo, "show", "main:x.txt") == "x\n"


def test_a_lock_a_live_process_holds_is_left_alone(repo: Path) -> None:
    lock = _common(repo) / "refs" / "heads" / "main.lock"
    with open(lock, "w"):
        os.utime(lock, (time.time() - 60, time.time() - 60))
        d = wo(repo, "doctor", "--fix")
        assert "stale-lock" not in d.out and lock.exists()
    lock.unlink()


def test_two_accepts_into_one_base_at_once(repo: Path, tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import WO_GIT

    for slug in ("left", "right"):
        opened = open_ticket(repo, slug)
        assert wo(repo, "run", str(opened["id"]), "--", script(tmp_path, f"echo {slug} > {slug}.txt\n"
                                                               + REPORT_OK, f"{slug}.sh")).code == 0
    procs = [subprocess.Popen([*WO_GIT, "accept", t], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for t in ("1", "2")]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes in ([0, 0], [0, 6]), results
    for code, err in results:
        if code == 6:
            assert len(err.strip().splitlines()) == 1 and "index.lock" not in err, err
    for t in ("1", "2"):
        if wo(repo, "show", t, "--json").json()["state"] != "accepted":  # type: ignore[index]
            r = wo(repo, "accept", t)
            assert r.code == 0, r.err
    assert git(repo, "show", "main:left.txt") == "left\n" and git(repo, "show", "main:right.txt") == "right\n"
    assert git(repo, "status", "--porcelain") == ""
    assert wo(repo, "doctor").out.strip() == "all well"


def test_run_twice_on_one_ticket_at_once(repo: Path, tmp_path: Path) -> None:
    opened = open_ticket(repo, "twice")
    tid = str(opened["id"])
    release = tmp_path / "release"
    exe = script(tmp_path, f"while [ ! -e {release} ]; do sleep 0.1; done\necho one > one.txt\n" + REPORT_OK)
    assert wo(repo, "run", tid, "--detach", "--", exe).code == 0
    before = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    r = wo(repo, "run", tid, "--", exe)
    assert r.code == 1 and "already running" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == before
    release.touch()
    assert wo(repo, "wait", tid).code == 0
    assert git(repo, "show", f"{opened['branch']}:one.txt") == "one\n"
