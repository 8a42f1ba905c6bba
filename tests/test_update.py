"""``wo-git update``: a conflict has a way through, and the base's files are never the executor's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPORT_OK, git, open_ticket, script, wo


def _wt(repo: Path, name: str) -> Path:
    return repo.parent / f"{repo.name}.wo" / name


def _commit_on_main(repo: Path, files: dict[str, str], message: str) -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def _events(repo: Path, tid: int) -> list[str]:
    data = wo(repo, "log", str(tid), "--json").json()
    assert isinstance(data, list)
    return [e["event"] for e in data]


def test_conflict_goes_to_the_executor_and_accept_is_then_clean(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "first", "--scope", "src/**", "--criteria", "hello() says hello")
    open_ticket(repo, "second", "--scope", "src/**", "--criteria", "hello() says hey")
    one = script(tmp_path, "sed -i \"s/'hi'/'hello'/\" src/app.py\n" + REPORT_OK, "one.sh")
    assert wo(repo, "run", "1", "--", one).code == 0
    assert wo(repo, "accept", "1").code == 0
    # the architect's own commit on main: a workflow (protected) and a file outside ticket 2's scope
    _commit_on_main(repo, {".github/workflows/ci.yml": "on: push\n", "docs/guide.md": "guide\n"}, "ci and docs")
    two = script(tmp_path, "sed -i \"s/'hi'/'hey'/\" src/app.py\necho 'B = 1' > src/b.py\n" + REPORT_OK, "two.sh")
    assert wo(repo, "run", "2", "--", two).code == 0

    refs = git(repo, "for-each-ref")
    r = wo(repo, "accept", "2")
    assert r.code == 4 and "src/app.py" in r.err and "`wo-git update 2`" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert git(repo, "for-each-ref") == refs

    main_tip = git(repo, "rev-parse", "main").strip()
    r = wo(repo, "update", "2", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    assert data["outcome"] == "conflict" and data["conflicts"] == ["src/app.py"] and data["round"] == 2
    assert data["merged"] == main_tip
    wt = _wt(repo, "0002-second")
    assert "<<<<<<<" in (wt / "src/app.py").read_text()
    assert (wt / ".github/workflows/ci.yml").exists()  # the base's other changes are in the worktree
    assert git(wt, "rev-parse", "-q", "--verify", "MERGE_HEAD").strip() == main_tip
    order = git(repo, "show", "wo/0002-second:work-orders/0002-second/w03-work.md")
    assert "`src/app.py`" in order and "Merge `main`" in order
    assert "> Do the thing." in order and "- [ ] hello() says hey" in order
    trailers = git(repo, "log", "-1", "--format=%(trailers)", "wo/0002-second")
    assert "Wo-Role: system" in trailers and f"Wo-Merging: {main_tip}" in trailers
    show = wo(repo, "show", "2", "--json").json()
    assert isinstance(show, dict) and show["state"] == "open" and show["round"] == 2
    r = wo(repo, "update", "2")
    assert r.code == 1 and "`wo-git run 2`" in r.err

    # the executor resolves the markers and commits the merge itself
    resolve = script(tmp_path, """
        grep -q '^<<<<<<<' src/app.py
        grep -q 'Merge `main`' "$WO_WORK_FILE"
        printf "def hello():\\n    return 'hey hello'\\n" > src/app.py
        git add -A && git commit -qm "resolve the merge"
        printf "# W04 - Report\\n- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """, "resolve.sh")
    r = wo(repo, "run", "2", "--", resolve)
    assert r.code == 0, r.out + r.err
    show = wo(repo, "show", "2", "--json").json()
    assert isinstance(show, dict) and show["status"] == "COMPLETED" and show["guard"] == "clean"
    parents = git(repo, "rev-list", "--parents", "-1", "wo/0002-second").split()
    assert parents[2:] == [main_tip]  # the report commit is the merge
    assert git(wt, "status", "--porcelain") == ""
    assert git(wt, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False) == ""

    assert wo(repo, "guard", "--ticket", "2").code == 0
    r = wo(repo, "accept", "2")
    assert r.code == 0, r.err
    assert git(repo, "show", "main:src/app.py") == "def hello():\n    return 'hey hello'\n"
    assert git(repo, "show", "main:src/b.py") == "B = 1\n"
    assert git(repo, "show", "main:.github/workflows/ci.yml") == "on: push\n"
    assert "w02-report.md" in git(repo, "ls-tree", "-r", "--name-only", "main", "work-orders/0001-first")
    assert _events(repo, 2) == ["open", "report", "revise", "report", "accept"]


def test_clean_update_brings_the_base_and_its_protected_files_are_not_blamed(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "feature", "--scope", "src/**")
    add = script(tmp_path, "echo 'N = 1' > src/new.py\n" + REPORT_OK, "add.sh")
    assert wo(repo, "run", "1", "--", add).code == 0
    # the base gets protected and out-of-scope files: the architect's commit, and a granted ticket
    _commit_on_main(repo, {".github/workflows/ci.yml": "on: push\n", "docs/guide.md": "guide\n"}, "ci and docs")
    open_ticket(repo, "lint", "--allow", ".github/workflows/**")
    lint = script(tmp_path, "echo 'on: pull_request' > .github/workflows/lint.yml\n" + REPORT_OK, "lint.sh")
    assert wo(repo, "run", "2", "--", lint).code == 0
    assert wo(repo, "accept", "2").code == 0
    wt = _wt(repo, "0001-feature")
    r = wo(repo, "update", "1", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict) and data["outcome"] == "merged" and data["worktree"] == str(wt)
    assert (wt / ".github/workflows/lint.yml").exists() and (wt / "docs/guide.md").exists()
    assert git(wt, "status", "--porcelain") == ""
    trailers = git(repo, "log", "-1", "--format=%(trailers)", "wo/0001-feature")
    assert "Wo-Event: update" in trailers and "Wo-Role: system" in trailers
    assert wo(repo, "show", "1", "--json").json()["status"] == "COMPLETED"  # type: ignore[index]
    r = wo(repo, "update", "1", "--json")
    assert r.code == 0 and r.json()["outcome"] == "up-to-date"  # type: ignore[index]
    assert wo(repo, "guard", "--ticket", "1").code == 0

    # a round after the update: the base's files in the worktree are not the executor's either
    assert wo(repo, "revise", "1", "--task", "Also N = 2.").code == 0
    more = script(tmp_path, "echo 'N = 2' > src/new.py\n" + REPORT_OK.replace("W02", "W04"), "more.sh")
    assert wo(repo, "run", "1", "--", more).code == 0

    # an "update" forged outside wo-git (not on the record) is checked against each parent
    evil = git(repo, "hash-object", "-w", "--stdin", input="on: push\njobs: {}\n").strip()
    env = dict(os.environ, GIT_INDEX_FILE=str(tmp_path / "forge.index"))
    subprocess.run(["git", "read-tree", "main"], cwd=repo, env=env, check=True)
    subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{evil},.github/workflows/evil.yml"],
                   cwd=repo, env=env, check=True)
    side_tree = subprocess.run(["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True,
                               text=True).stdout.strip()
    side = git(repo, "commit-tree", side_tree, "-p", "main", "-m", "side").strip()
    tip = git(repo, "rev-parse", "wo/0001-feature").strip()
    merged_tree = git(repo, "merge-tree", "--write-tree", tip, side).splitlines()[0]
    msg = "wo 0001 update: merge main\n\nWo-Ticket: 0001\nWo-Round: 2\nWo-Role: system\nWo-Event: update\n"
    forged = git(repo, "commit-tree", merged_tree, "-p", tip, "-p", side, "-m", msg).strip()
    git(repo, "update-ref", "refs/heads/wo/0001-feature", forged, tip)
    r = wo(repo, "guard", "--ticket", "1")
    assert r.code == 3 and "evil.yml" in r.err
    r = wo(repo, "accept", "1")
    assert r.code == 3 and "evil.yml" in r.err
    git(repo, "update-ref", "refs/heads/wo/0001-feature", tip, forged)
    assert wo(repo, "accept", "1").code == 0
    for path in ("src/new.py", ".github/workflows/lint.yml", ".github/workflows/ci.yml", "docs/guide.md"):
        assert git(repo, "cat-file", "-e", f"main:{path}", check=False) == ""
    assert "evil" not in git(repo, "ls-tree", "-r", "--name-only", "main")
    r = wo(repo, "update", "1")
    assert r.code == 1 and "accepted" in r.err


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_an_executor_merge_it_made_itself_is_checked_in_full(repo: Path, tmp_path: Path, mode: str) -> None:
    open_ticket(repo, "sneaky", "--scope", "src/**")
    # inside the default sandbox HEAD is a private detached copy and no branch can be made:
    # the side history is made on a detached HEAD and merged by its commit id
    exe = script(tmp_path, f"""
        test "$WO_SANDBOX" = {mode}
        git checkout -q --detach
        mkdir -p .github/workflows && echo 'on: push' > .github/workflows/evil.yml
        git add -A && git -c core.hooksPath=/dev/null commit -qm side
        side=$(git rev-parse HEAD)
        git checkout -q -
        echo 'x = 1' >> src/app.py && git add -A && git commit -qm work
        git merge -q --no-ff "$side" -m "wo update

Wo-Role: system
Wo-Event: update"
        """ + REPORT_OK)
    r = wo(repo, "run", "1", *(["--no-sandbox"] if mode == "none" else []), "--", exe)
    assert r.code == 3, r.out + r.err
    assert "evil.yml" in git(repo, "show", "wo/0001-sneaky:work-orders/0001-sneaky/w02-report.md")


def test_an_aborted_or_unresolved_merge_is_not_recorded_and_can_be_resumed(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "first")
    open_ticket(repo, "second")
    one = script(tmp_path, "sed -i \"s/'hi'/'one'/\" src/app.py\n" + REPORT_OK, "one.sh")
    assert wo(repo, "run", "1", "--", one).code == 0
    assert wo(repo, "accept", "1").code == 0
    go = tmp_path / "go"
    slow = script(tmp_path, f"sed -i \"s/'hi'/'two'/\" src/app.py\nwhile [ ! -e {go} ]; do sleep 0.2; done\n"
                  + REPORT_OK, "two.sh")
    assert wo(repo, "run", "2", "--detach", "--", slow).code == 0
    r = wo(repo, "update", "2")
    go.write_text("")
    assert r.code == 1 and "running" in r.err and "wo-git wait 2" in r.err
    assert wo(repo, "wait", "2").code == 0
    assert wo(repo, "update", "2").code == 0
    # round 2: the executor aborts the merge; nothing is recorded as the merge
    abort = script(tmp_path, "git merge --abort\n" + REPORT_OK.replace("W02", "W04"), "abort.sh")
    assert wo(repo, "run", "2", "--", abort).code == 5
    show = wo(repo, "show", "2", "--json").json()
    assert isinstance(show, dict) and show["status"] == "PARTIAL"
    tip = git(repo, "rev-list", "--parents", "-1", "wo/0002-second").split()
    assert len(tip) == 2
    assert "aborted or undone" in git(repo, "show", "wo/0002-second:work-orders/0002-second/w04-report.md")
    assert "Wo-Reason: merge-incomplete" in git(repo, "log", "-1", "--format=%(trailers)", "wo/0002-second")
    # round 3 (the architect's): the merge is begun again; markers left are not a merge either
    assert wo(repo, "revise", "2", "--task", "Resolve the merge this time.").code == 0
    wt = _wt(repo, "0002-second")
    lazy = script(tmp_path, "grep -q '^<<<<<<<' src/app.py\n" + REPORT_OK.replace("W02", "W06"), "lazy.sh")
    assert wo(repo, "run", "2", "--", lazy).code == 5
    assert "conflict markers remain in src/app.py" in git(
        repo, "show", "wo/0002-second:work-orders/0002-second/w06-report.md")
    assert "<<<<<<<" in (wt / "src/app.py").read_text()  # the changes stay in the worktree
    # round 4: resolved, left uncommitted: the report commit is the merge, accept is clean
    assert wo(repo, "revise", "2", "--task", "Remove the markers.").code == 0
    fix = script(tmp_path, """
        test "$(git rev-parse MERGE_HEAD)" = "$(git rev-parse main)"
        printf "def hello():\\n    return 'one two'\\n" > src/app.py
        """ + REPORT_OK.replace("W02", "W08"), "fix.sh")
    r = wo(repo, "run", "2", "--", fix)
    assert r.code == 0, r.out + r.err
    parents = git(repo, "rev-list", "--parents", "-1", "wo/0002-second").split()
    assert parents[2] == git(repo, "rev-parse", "main").strip()
    assert wo(repo, "accept", "2").code == 0
    assert git(repo, "show", "main:src/app.py") == "def hello():\n    return 'one two'\n"


def test_the_pre_commit_hook_accepts_the_executors_merge_commit(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    assert wo(repo, "init").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "wo-git init")
    open_ticket(repo, "first")
    open_ticket(repo, "second")
    one = script(tmp_path, "sed -i \"s/'hi'/'one'/\" src/app.py\n" + REPORT_OK, "one.sh")
    assert wo(repo, "run", "1", "--", one).code == 0
    assert wo(repo, "accept", "1").code == 0
    _commit_on_main(repo, {".github/workflows/ci.yml": "on: push\n"}, "ci")
    two = script(tmp_path, "sed -i \"s/'hi'/'two'/\" src/app.py\n" + REPORT_OK, "two.sh")
    assert wo(repo, "run", "2", "--", two).code == 0
    assert wo(repo, "update", "2").code == 0
    # the hook runs on the executor's own merge commit: the base's workflow is not blamed
    resolve = script(tmp_path, """
        printf "def hello():\\n    return 'one two'\\n" > src/app.py
        git add -A && git commit -qm "resolve the merge"
        """ + REPORT_OK.replace("W02", "W04"), "resolve.sh")
    r = wo(repo, "run", "2", "--", resolve)
    assert r.code == 0, r.out + r.err
    assert "Passed" in wo(repo, "logs", "2").out  # the hook ran on that commit
    kept = git(repo, "rev-list", "--parents", "-1", "refs/wo/rounds/0002-r2").split()
    assert len(kept) == 3 and git(repo, "log", "-1", "--format=%s", kept[0]).strip() == "resolve the merge"
    assert wo(repo, "accept", "2").code == 0
    assert git(repo, "show", "main:src/app.py") == "def hello():\n    return 'one two'\n"
