"""``doctor`` after ``kill -9``, missing branches, orphaned worktrees; ``init``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from conftest import WO_GIT, git, open_ticket, script, wo


def _wait_for(pred, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_kill_9_of_run_then_doctor_recovers_the_work(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "crash")
    marker = tmp_path / "started"
    exe = script(tmp_path, f"""
        echo precious > precious.txt
        echo "$$" > {marker}
        sleep 300
        """)
    proc = subprocess.Popen([*WO_GIT, "run", "1", "--no-sandbox", "--", exe], cwd=repo, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_for(marker.exists)
    executor_pid = int(marker.read_text())
    record = repo / ".git" / "wo" / "runs" / "0001.json"
    _wait_for(lambda: record.exists() and json.loads(record.read_text()).get("pgid"))
    assert wo(repo, "show", "1", "--json").json()["state"] == "running"  # type: ignore[index]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the executor outlived wo-git; the ticket is stuck without a report
    os.kill(executor_pid, 0)
    assert wo(repo, "show", "1", "--json").json()["state"] == "open"  # type: ignore[index]
    r = wo(repo, "wait", "1")
    assert r.code == 1 and "doctor --fix" in r.err
    listed = wo(repo, "list")
    assert "0001  open" in listed.out and "[run died unreported: wo-git doctor --fix]" in listed.out
    assert wo(repo, "list", "--json").json()[0]["needs_doctor"] is True  # type: ignore[index]
    r = wo(repo, "doctor", "--json")
    found = r.json()
    assert isinstance(found, list) and [f["kind"] for f in found] == ["unfinished-run"]
    assert not found[0]["fixed"]
    r = wo(repo, "doctor", "--fix")
    assert r.code == 0 and "fixed: unfinished-run" in r.out
    _wait_for(lambda: not _alive(executor_pid))
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict)
    assert show["state"] == "reported" and show["status"] == "NO_REPORT" and show["stopped_by"] == "crash"
    assert git(repo, "show", "wo/0001-crash:precious.txt") == "precious\n"
    assert not record.exists()
    assert wo(repo, "doctor").out.strip() == "all well"
    assert "doctor" not in wo(repo, "list").out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive for our purposes
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False


def test_doctor_restores_missing_branch_and_removes_orphans(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "lost")
    git(repo, "branch", "-D", "wo/0001-lost")
    r = wo(repo, "run", "1", "--", "true")
    assert r.code == 1 and "doctor --fix" in r.err
    assert "missing-branch" in wo(repo, "doctor").out
    assert "fixed: missing-branch" in wo(repo, "doctor", "--fix").out
    assert git(repo, "rev-parse", "wo/0001-lost") == git(repo, "rev-parse", "refs/wo/tickets/0001")
    # a worktree whose ticket was closed behind wo-git's back
    open_ticket(repo, "orphan")
    exe = script(tmp_path, 'printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    assert wo(repo, "run", "2", "--", exe).code == 0
    wt = repo.parent / "proj.wo" / "0002-orphan"
    (wt / "extra.txt").write_text("late work\n")
    git(repo, "worktree", "lock", str(wt))
    assert wo(repo, "reject", "2", "--reason", "x").code == 0
    assert git(repo, "show", "refs/wo-local/leftovers/0002:extra.txt") == "late work\n"
    assert "all well" in wo(repo, "doctor", "--fix").out or not wt.exists()


def test_init_writes_files_without_clobbering(repo: Path) -> None:
    (repo / "AGENTS.md").write_text("# Mine\n\nKeep this.\n")
    (repo / ".pre-commit-config.yaml").write_text(
        "# my hooks\nrepos:\n  - repo: local\n    hooks:\n      - id: mine\n        name: mine\n"
        "        entry: 'true'\n        language: system\n")
    r = wo(repo, "init")
    assert r.code == 0, r.err
    assert "commit these files" in r.out
    agents = (repo / "AGENTS.md").read_text()
    assert agents.startswith("# Mine\n\nKeep this.") and "Rules for executors" in agents
    cfg = (repo / ".pre-commit-config.yaml").read_text()
    assert cfg.startswith("# my hooks")
    ids = [h["id"] for r_ in yaml.safe_load(cfg)["repos"] for h in r_["hooks"]]
    assert ids == ["mine", "wo-git-guard"]
    assert (repo / ".wo-git.toml").exists()
    assert "wo-git run" in (repo / ".claude" / "skills" / "wo-git" / "SKILL.md").read_text()
    assert "pre-commit" in (repo / ".git" / "hooks" / "pre-commit").read_text()
    # a second init changes nothing
    written = [repo / "AGENTS.md", repo / ".pre-commit-config.yaml", repo / ".wo-git.toml"]
    snapshot = {p: p.read_bytes() for p in written}
    assert wo(repo, "init").code == 0
    assert all(p.read_bytes() == b for p, b in snapshot.items())
    assert git(repo, "status", "--porcelain", "--untracked-files=no").strip().splitlines() == [
        "M .pre-commit-config.yaml"] or "AGENTS.md" in git(repo, "status", "--porcelain")


def test_bad_config_is_a_clear_error(repo: Path) -> None:
    (repo / ".wo-git.toml").write_text("max_parallel = 'many'\n")
    git(repo, "add", ".wo-git.toml")
    git(repo, "commit", "-qm", "bad config")
    r = wo(repo, "open", "x", "--title", "T", "--task", "t")
    assert r.code == 1 and ".wo-git.toml on main: max_parallel" in r.err
    (repo / ".wo-git.toml").write_text("[[[\n")
    git(repo, "commit", "-qam", "worse config")
    r = wo(repo, "open", "x", "--title", "T", "--task", "t")
    assert r.code == 1 and "not valid TOML" in r.err


def test_doctor_finishes_an_accept_killed_between_files_and_refs(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "acc")
    exe = script(tmp_path, 'echo merged > merged.txt\nprintf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    assert wo(repo, "run", "1", "--", exe).code == 0
    old = git(repo, "rev-parse", "main").strip()
    tip = git(repo, "rev-parse", "wo/0001-acc").strip()
    # simulate the crash window: the checked-out files moved to the merge, the ref did not
    intent = repo / ".git" / "wo" / "accepts" / "0001.json"
    intent.parent.mkdir(parents=True, exist_ok=True)
    intent.write_text(json.dumps({"base_ref": "refs/heads/main", "old": old, "new": tip, "worktrees": [str(repo)]}))
    git(repo, "read-tree", "-m", "-u", old, tip)
    assert (repo / "merged.txt").exists()
    r = wo(repo, "doctor", "--fix")
    assert "fixed: unfinished-accept" in r.out and "put" in r.out
    assert not (repo / "merged.txt").exists() and git(repo, "status", "--porcelain") == ""
    # and the other way: the ref moved, the files did not
    intent.write_text(json.dumps({"base_ref": "refs/heads/main", "old": old, "new": tip, "worktrees": [str(repo)]}))
    git(repo, "update-ref", "refs/heads/main", tip, old)
    assert "moved" in wo(repo, "doctor", "--fix").out
    assert (repo / "merged.txt").read_text() == "merged\n" and git(repo, "status", "--porcelain") == ""
    assert not intent.exists()
