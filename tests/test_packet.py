"""The review packet tells the truth (issue 7, item 7) and history holds nothing machine-local (item 9).

Real git, the real CLI, command executors that print and write their own
absolute paths the way agent CLIs do.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from conftest import git, open_ticket, script, wo

# an executor that writes its paths into the report and the log, as agents do
LOUD = """
    echo "cwd $PWD home $HOME worktree $WO_WORKTREE report $WO_REPORT_FILE"
    echo "cwd $PWD" >&2
    """


def _report(status: str, extra: str = "") -> str:
    return (f'printf "# Report\\n- Status: {status}\\n- Files: $PWD/src/app.py\\n'
            f'- What I implemented: round $WO_ROUND in $WO_WORKTREE\\n{extra}" > "$WO_REPORT_FILE"\n')


def _json(repo: Path, *args: str) -> dict[str, object]:
    r = wo(repo, *args, "--json")
    assert r.code in (0, 3, 5), r.err
    data = r.json()
    assert isinstance(data, dict)
    return data


def _paths(stat: object) -> list[str]:
    assert isinstance(stat, dict)
    return [p["path"] for p in stat["paths"]]


def test_guard_rejected_packet_shows_what_was_refused(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "ci")
    exe = script(tmp_path, LOUD + """
        echo 'print(1)' >> src/app.py
        mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml
        """ + _report("COMPLETED"))
    r = wo(repo, "run", "1", "--", exe)
    assert r.code == 3, r.err
    # the refused diffstat is read from what the post-run hook recorded, not the live worktree
    wt = repo.parent / f"{repo.name}.wo" / "0001-ci"
    (wt / "src" / "app.py").write_text("changed after the run\n" * 50)
    show = _json(repo, "show", "1")
    assert show["status"] == "GUARD_REJECTED"
    assert _paths(show["diffstat"]) == []  # nothing of it was committed
    assert _paths(show["refused_diffstat"]) == [".github/workflows/ci.yml", "src/app.py"]
    refused = show["refused_diffstat"]
    assert isinstance(refused, dict) and refused["added"] == 2 and refused["removed"] == 0
    assert show["refused_ref"] == "refs/wo-local/rounds/0001-r1"
    kept = git(repo, "log", "-1", "--format=%(trailers:key=Wo-Event,valueonly)", "refs/wo-local/rounds/0001-r1")
    assert kept.strip() == "refused"
    # never merged: not on the branch, not reachable from the record
    assert git(repo, "merge-base", "--is-ancestor", "refs/wo-local/rounds/0001-r1", "wo/0001-ci", check=False) == ""
    assert ".github" not in git(repo, "ls-tree", "-r", "--name-only", "wo/0001-ci")
    text = wo(repo, "show", "1").out
    assert ("Refused diffstat (round 1, NOT merged; kept on refs/wo-local/rounds/0001-r1): "
            "2 files changed, +2 -0") in text
    assert "A .github/workflows/ci.yml (+1 -0)" in text and "M src/app.py (+1 -0)" in text
    assert "\nDiffstat" not in text
    # wait gives the same, brief
    r = wo(repo, "wait", "1")
    assert r.code == 3 and "Refused diffstat (round 1, NOT merged" in r.out


def test_rounds_and_whole_ticket_diffstats_and_the_no_change_warning(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "three")
    work = script(tmp_path, LOUD + 'echo "line $WO_ROUND" >> src/app.py\necho new > "f$WO_ROUND.txt"\n'
                  + _report("COMPLETED"), "work.sh")
    idle = script(tmp_path, LOUD + _report("COMPLETED"), "idle.sh")
    assert wo(repo, "run", "1", "--", work).code == 0
    one = _json(repo, "show", "1")
    assert one["warnings"] == []
    assert _paths(one["diffstat"]) == _paths(one["ticket_diffstat"]) == ["f1.txt", "src/app.py"]
    assert "Diffstat: 2 files changed, +2 -0" in wo(repo, "show", "1").out  # one round: one diffstat
    assert wo(repo, "revise", "1", "--task", "More.").code == 0
    assert wo(repo, "run", "1", "--", work).code == 0
    two = _json(repo, "show", "1")
    assert _paths(two["diffstat"]) == ["f2.txt", "src/app.py"]
    assert _paths(two["ticket_diffstat"]) == ["f1.txt", "f2.txt", "src/app.py"]
    ticket = two["ticket_diffstat"]
    assert isinstance(ticket, dict) and ticket["added"] == 4
    text = wo(repo, "show", "1").out
    assert "Diffstat, round 2: 2 files changed, +2 -0" in text
    assert "Diffstat, whole ticket (rounds 1-2): 3 files changed, +4 -0" in text
    assert wo(repo, "revise", "1", "--task", "Check it.").code == 0
    assert wo(repo, "run", "1", "--", idle).code == 0
    three = _json(repo, "show", "1")
    assert three["status"] == "COMPLETED" and _paths(three["diffstat"]) == []
    assert three["warnings"] == ["the report says COMPLETED but the round changed no file"]
    assert _paths(three["ticket_diffstat"]) == ["f1.txt", "f2.txt", "src/app.py"]
    r = wo(repo, "wait", "1")
    assert r.code == 0
    assert "Warning: the report says COMPLETED but the round changed no file" in r.out
    assert "Diffstat, round 3: 0 files changed" in r.out and "Diffstat, whole ticket (rounds 1-3)" in r.out
    report = git(repo, "show", "wo/0001-three:work-orders/0001-three/w06-report.md")
    assert "- Warning: the report says COMPLETED but the round changed no file" in report
    # an earlier round shows its own diffstat, and the warning only where it applies
    r1 = _json(repo, "show", "1", "--round", "1")
    assert _paths(r1["diffstat"]) == ["f1.txt", "src/app.py"] and r1["warnings"] == []
    # after accept, the whole ticket is still there to read
    assert wo(repo, "accept", "1").code == 0
    done = _json(repo, "show", "1")
    assert done["state"] == "accepted" and _paths(done["ticket_diffstat"]) == ["f1.txt", "f2.txt", "src/app.py"]


def test_wait_and_show_json_give_the_report_once(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "once")
    exe = script(tmp_path, 'echo x >> src/app.py\nprintf "# Report\\n- Status: COMPLETED\\n'
                 '- What I implemented: the-unique-words\\n- Notes/questions: none\\n" > "$WO_REPORT_FILE"\n')
    assert wo(repo, "run", "1", "--", exe).code == 0
    for args in (("show", "1", "--json"), ("wait", "1", "--json"), ("show", "1")):
        r = wo(repo, *args)
        assert r.code == 0, r.err
        assert r.out.count("the-unique-words") == 1, args
    show = _json(repo, "show", "1")
    assert isinstance(show["report"], str) and show["report"].startswith("# Report")
    assert "generated below" not in show["report"]  # the run record comes as fields, not inside the text
    assert show["exit_code"] == 0 and show["log"].endswith("wo/logs/0001-r1-a1.log")  # type: ignore[union-attr]
    assert os.path.isabs(str(show["log"])) and os.path.exists(str(show["log"]))


def _committed_text(repo: Path, ticket: str) -> str:
    """Every commit message and every blob of every commit on a ticket (record, rounds, leftovers)."""
    refs = [r for r in git(repo, "for-each-ref", "--format=%(refname)", "refs/wo/").split()
            if ticket in r.rsplit("/", 1)[-1]]
    base = git(repo, "rev-list", "--max-parents=0", "main").split()
    commits = git(repo, "rev-list", *refs, *(f"^{b}" for b in base)).split()
    out = []
    for c in commits:
        out.append(git(repo, "cat-file", "commit", c))
        for line in git(repo, "ls-tree", "-r", c).splitlines():
            meta, _path = line.split("\t", 1)
            _mode, kind, oid = meta.split()
            if kind == "blob":
                out.append(git(repo, "cat-file", "-p", oid))
    return "\n".join(out)


def test_nothing_machine_local_in_history(repo: Path, tmp_path: Path) -> None:
    home = os.environ["HOME"]
    local = {str(tmp_path), os.path.realpath(tmp_path), home, os.path.realpath(home), str(repo)}
    completed = script(tmp_path, LOUD + "echo ok >> src/app.py\n" + _report("COMPLETED"), "completed.sh")
    no_report = script(tmp_path, LOUD + "echo half >> src/app.py\nexit 3\n", "noreport.sh")
    rejected = script(tmp_path, LOUD + "mkdir -p .github/workflows && echo x > .github/workflows/a.yml\n"
                      + _report("COMPLETED"), "rejected.sh")
    started = tmp_path / "started"
    slow = script(tmp_path, LOUD + f"echo half >> src/app.py\ntouch {started}\nsleep 300\n", "slow.sh")
    removes = script(tmp_path, LOUD + 'cd .. && rm -rf "$WO_WORKTREE"\n', "removes.sh")
    for n, (slug, exe, code) in enumerate([("done", completed, 0), ("silent", no_report, 5),
                                          ("refused", rejected, 3), ("gone", removes, 5)], start=1):
        open_ticket(repo, slug)
        # sandboxed, the worktree is a mount point that can be emptied but not removed
        r = wo(repo, "run", str(n), *(("--no-sandbox",) if slug == "gone" else ()), "--", exe)
        assert r.code == code, r.err
    open_ticket(repo, "stopped")
    assert wo(repo, "run", "5", "--detach", "--", slow).code == 0
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert wo(repo, "abort", "5").code == 0
    statuses = [wo(repo, "show", str(n), "--json").json()["status"] for n in range(1, 6)]  # type: ignore[index]
    assert statuses == ["COMPLETED", "NO_REPORT", "GUARD_REJECTED", "NO_REPORT", "NO_REPORT"]
    assert wo(repo, "reject", "5", "--reason", "stopped").code == 0  # leftovers committed too
    for n in range(1, 6):
        text = _committed_text(repo, f"000{n}")
        assert "Log: wo/logs/" in text or n == 4
        for path in local:
            assert path not in text, (n, path)
        assert "cwd <worktree>" in text or n in (1, 4)  # a log tail names the worktree portably
    report = git(repo, "show", "wo/0001-done:work-orders/0001-done/w02-report.md")
    assert "- Files: src/app.py" in report and "- Log: wo/logs/0001-r1-a1.log (" in report
    gone = json.dumps(wo(repo, "show", "4", "--json").json())
    assert "the worktree <worktree> was removed or broken" in gone or "<worktree>" in git(
        repo, "show", "wo/0004-gone:work-orders/0004-gone/w02-report.md")
