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
    # refused changes stay in the worktree, the executor's own report copy among them; more
    # copies changed later (a process that outlived the run, a person) are put back at the next round
    assert "w02-report.md" in git(wt, "status", "--porcelain", "--", "work-orders")
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
    assert git(repo, "for-each-ref", "refs/wo-local/leftovers") == ""
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


def test_every_correction_order_stands_alone(repo: Path, tmp_path: Path) -> None:
    r = wo(repo, "open", "alone", "--title", "Greeting", "--task", "Make hello() greet by name.",
           "--criteria", "hello('Ann') returns 'hi Ann'", "--json")
    assert r.code == 0, r.err
    partial = script(tmp_path, """
        echo 'x' >> src/app.py
        printf "# W02 - Report\\n- Status: PARTIAL\\n- Notes/questions: ran out of time on the tests\\n" \\
            > "$WO_REPORT_FILE"
        """, "partial.sh")
    assert wo(repo, "run", "1", "--", partial).code == 5
    assert wo(repo, "revise", "1", "--task", "Finish the tests.", "--criteria", "tests pass").code == 0
    blocked = script(tmp_path, """
        printf "# W04 - Report\\n- Status: BLOCKED\\n- Notes/questions: which test runner?\\n" > "$WO_REPORT_FILE"
        """, "blocked.sh")
    assert wo(repo, "run", "1", "--", blocked).code == 5
    assert wo(repo, "review", "1", "--verdict", "fail", "--notes", "use pytest").code == 0
    r = wo(repo, "revise", "1", "--task", "Use pytest.", "--criteria", "pytest is the runner", "--json")
    assert r.code == 0, r.err
    work = git(repo, "show", "wo/0001-alone:work-orders/0001-alone/w05-work.md")
    task = work.split("## Task\n", 1)[1]
    assert task.lstrip().startswith("Use pytest.")
    # round 1's task and every criterion so far
    assert "> Make hello() greet by name." in work and "w01-work.md" in work
    for c in ("hello('Ann') returns 'hi Ann'", "tests pass", "pytest is the runner"):
        assert f"- [ ] {c}" in work
    # the previous (round 2) report: its status and notes
    prev = work.split("## Previous report (`work-orders/0001-alone/w04-report.md`)", 1)[1]
    assert "- Status: BLOCKED" in prev and "which test runner?" in prev
    # the earlier rounds' files by name
    for name in ("w01-work.md", "w02-report.md", "w03-work.md", "w04-report.md", "w04-review.md"):
        assert f"`work-orders/0001-alone/{name}`" in work
    # the packet still reads this round's task and all criteria
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["round"] == 3
    # --replace-criteria replaces; empty criteria and both options together are refused
    three = script(tmp_path, 'printf "# W06 - Report\\n- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n', "three.sh")
    assert wo(repo, "run", "1", "--", three).code == 0
    assert wo(repo, "revise", "1", "--task", "x", "--criteria", " ").code == 1
    r = wo(repo, "revise", "1", "--task", "x", "--criteria", "a", "--replace-criteria", "b")
    assert r.code == 2 and "not both" in r.err
    assert wo(repo, "revise", "1", "--task", "Only this.", "--replace-criteria", "only one").code == 0
    work = git(repo, "show", "wo/0001-alone:work-orders/0001-alone/w07-work.md")
    crit = work.split("## Requirements / Success Criteria\n", 1)[1].split("##", 1)[0]
    assert crit.strip() == "- [ ] only one"
    assert "- Status: COMPLETED" in work
    for option in ("--task-file", "--criteria", "--replace-criteria", "--context", "--scope", "--allow",
                   "--executor", "--model", "--json"):
        line = next(ln for ln in wo(repo, "revise", "--help").out.splitlines() if option in ln)
        assert len(line.split(option, 1)[1].strip()) > 8, line
