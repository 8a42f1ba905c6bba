"""Correction rounds: wo-git's own mailbox files never fail a round, and every order stands alone."""

from __future__ import annotations

from pathlib import Path

from conftest import git, open_ticket, script, wo


def _wt(repo: Path, name: str) -> Path:
    return repo.parent / f"{repo.name}.wo" / name


def test_stale_mailbox_copies_never_fail_a_later_round(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "box", "--scope", "src/**")
    # round 1: a protected file, so GUARD_REJECTED; its report stays in the worktree as the executor wrote it
    first = script(tmp_path, """
        mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml
        echo 'x = 1' >> src/app.py
        printf "# W02 - Report\\n- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        echo 'stray' > work-orders/0001-box/scratch.md
        """, "first.sh")
    assert wo(repo, "run", "1", "--", first).code == 3
    wt = _wt(repo, "0001-box")
    # the post-run hook leaves the worktree's mailbox as committed; a copy changed later
    # (a process that outlived the run, a person) is put back when the next round starts
    assert git(wt, "status", "--porcelain", "--", "work-orders") == ""
    (wt / "work-orders/0001-box/w02-report.md").write_text("stale copy\n")
    (wt / "work-orders/0001-box/w04-report.md").write_text("- Status: COMPLETED\n")
    assert wo(repo, "revise", "1", "--task", "Leave CI alone.").code == 0
    second = script(tmp_path, """
        test ! -e work-orders/0001-box/scratch.md
        test ! -e work-orders/0001-box/w04-report.md
        rm -r .github
        printf "# W04 - Report\\n- Status: COMPLETED\\n- Notes/questions: removed ci\\n" > "$WO_REPORT_FILE"
        """, "second.sh")
    r = wo(repo, "run", "1", "--", second)
    assert r.code == 0, r.out + r.err
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["status"] == "COMPLETED" and show["guard"] == "clean"
    # the worktree's mailbox equals the branch's: nothing of wo-git's is "uncommitted"
    assert git(wt, "status", "--porcelain", "--", "work-orders") == ""
    # a review committed after the run is not a scope violation nor a leftover at accept
    assert wo(repo, "review", "1", "--verdict", "pass", "--notes", "ok").code == 0
    assert wo(repo, "guard", "--ticket", "1").code == 0
    r = wo(repo, "accept", "1", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict) and data["leftovers"] is None
    assert git(repo, "for-each-ref", "refs/wo/leftovers") == ""
    assert "x = 1" in git(repo, "show", "main:src/app.py")
    assert "w04-review.md" in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_executor_may_write_only_its_own_report_in_the_mailbox(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "own")
    exe = script(tmp_path, """
        echo edited >> work-orders/0001-own/w01-work.md
        printf "# W02 - Report\\n- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """)
    assert wo(repo, "run", "1", "--", exe).code == 3
    report = git(repo, "show", "wo/0001-own:work-orders/0001-own/w02-report.md")
    assert "w01-work.md: control" in report
    # the next round starts from the branch's mailbox: the edited work file is put back
    assert wo(repo, "revise", "1", "--task", "Do not edit the work order.").code == 0
    ok = script(tmp_path, """
        echo done > done.txt
        printf "# W04 - Report\\n- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """, "ok.sh")
    assert wo(repo, "run", "1", "--", ok).code == 0
    wt = _wt(repo, "0001-own")
    assert "edited" not in (wt / "work-orders/0001-own/w01-work.md").read_text()
