"""``wo-git run`` with the command executor, the post-run hook, ``show``, ``revise``."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo


def _worktree(repo: Path, name: str) -> Path:
    return repo.parent / f"{repo.name}.wo" / name


def test_every_change_type_lands_in_one_executor_commit(repo: Path, tmp_path: Path) -> None:
    (repo / "old_name.py").write_text("x = 1\n" * 20)
    (repo / "gone.txt").write_text("bye\n")
    (repo / "tool.sh").write_text("echo hi\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more files")
    t = open_ticket(repo, "changes")
    exe = script(tmp_path, r"""
        env | grep '^WO_' | sort > "$WO_WORKTREE/../env.txt"
        test -t 0 && echo "stdin is a tty" || true
        cat > /dev/null   # stdin must be closed: this returns at once
        printf 'new\n' > added.txt
        git rm -q gone.txt
        git mv old_name.py new_name.py
        chmod +x tool.sh
        ln -s added.txt link.txt
        printf '\000\001\002binary' > blob.bin
        mkdir -p sub && echo committed > sub/c.txt && git add sub && git commit -qm "executor's own commit"
        printf "# W02 - Report\n- Status: COMPLETED\n- Files: many\n" > "$WO_REPORT_FILE"
        printf -- "- What I implemented: all kinds\n" >> "$WO_REPORT_FILE"
        """)
    r = wo(repo, "run", str(t["id"]), "--", exe)
    assert r.code == 0, r.err
    wt = _worktree(repo, "0001-changes")
    env = dict(line.split("=", 1) for line in (wt.parent / "env.txt").read_text().splitlines())
    assert env["WO_TICKET"] == "1" and env["WO_ROUND"] == "1" and env["WO_BASE"] == "main"
    assert env["WO_WORKTREE"] == str(wt)
    assert env["WO_WORK_FILE"] == str(wt / "work-orders/0001-changes/w01-work.md")
    assert env["WO_REPORT_FILE"] == str(wt / "work-orders/0001-changes/w02-report.md")
    assert all(os.path.isabs(env[k]) for k in ("WO_WORKTREE", "WO_WORK_FILE", "WO_REPORT_FILE"))
    branch = "wo/0001-changes"
    # one executor-role commit on top of the work order commit
    log = git(repo, "log", "--format=%s", f"main..{branch}").splitlines()
    assert log == ["wo 0001 report: round 1: COMPLETED", "wo 0001 open: Do changes"]
    trailers = git(repo, "log", "-1", "--format=%(trailers)", branch)
    for t_ in ("Wo-Role: executor", "Wo-Event: report", "Wo-Status: COMPLETED", "Wo-Executor: command", "Wo-Exit: 0"):
        assert t_ in trailers
    status = git(repo, "diff", "--name-status", "-M", f"{branch}~1", branch).splitlines()
    assert "A\tadded.txt" in status and "D\tgone.txt" in status
    assert any(s.startswith("R") and s.endswith("old_name.py\tnew_name.py") for s in status)
    assert "A\tsub/c.txt" in status and "A\tblob.bin" in status and "A\tlink.txt" in status
    tree = git(repo, "ls-tree", "-r", branch)
    assert "120000 blob" in next(ln for ln in tree.splitlines() if ln.endswith("link.txt"))
    assert "100755 blob" in next(ln for ln in tree.splitlines() if ln.endswith("tool.sh"))
    assert git(repo, "cat-file", "-p", f"{branch}:blob.bin") == "\x00\x01\x02binary"
    # the executor's own commit is kept reachable
    assert "executor's own commit" in git(repo, "log", "--format=%s", "refs/wo/rounds/0001-r1")
    # the worktree is clean against the new tip
    assert git(wt, "status", "--porcelain") == ""
    # the review packet
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict)
    assert show["state"] == "reported" and show["status"] == "COMPLETED" and show["exit_code"] == 0
    assert show["diffstat"]["files"] == 7
    assert show["log"].endswith("0001-r1-a1.log") and os.path.exists(show["log"])
    assert show["guard"] == "clean"
    text = wo(repo, "show", "1").out
    assert "Diffstat: 7 files changed" in text and "What I implemented: all kinds" in text


def test_missing_report_nonzero_exit_flood_and_binary_output(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "noisy")
    exe = script(tmp_path, """
        python3 -c "import sys; sys.stdout.buffer.write(b'\\xff\\xfe not utf8 \\x80\\n' * 3)"
        yes 'flood line of output that goes on and on' | head -c 5000000
        echo kept > work.txt
        echo "the last words"
        exit 7
        """)
    r = wo(repo, "run", "1", "--", exe)
    assert r.code == 5  # executor failure: not COMPLETED
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict)
    assert show["status"] == "NO_REPORT" and show["exit_code"] == 7 and show["state"] == "reported"
    assert os.path.getsize(show["log"]) > 5_000_000
    report = git(repo, "show", "wo/0001-noisy:work-orders/0001-noisy/w02-report.md")
    assert "Status: NO_REPORT" in report and "the last words" in report and "Log tail" in report
    assert len(report) < 20_000
    assert git(repo, "show", "wo/0001-noisy:work.txt") == "kept\n"  # the work is not lost


def test_missing_program_is_a_clear_error_and_spends_no_round(repo: Path) -> None:
    open_ticket(repo, "missing")
    r = wo(repo, "run", "1", "--", "/no/such/agent", "--flag")
    assert r.code == 5
    assert "'/no/such/agent' not found" in r.err
    assert wo(repo, "show", "1", "--json").json()["state"] == "open"  # type: ignore[index]
    r = wo(repo, "run", "1", "--", "true")  # runnable: it starts (and writes no report)
    assert r.code == 5 and wo(repo, "show", "1", "--json").json()["status"] == "NO_REPORT"  # type: ignore[index]
    r = wo(repo, "run", "1", "--", "true")
    assert r.code == 1 and "already reported" in r.err
    r = wo(repo, "run", "99", "--", "true")
    assert r.code == 1 and "no ticket 0099" in r.err


def test_unknown_executor_and_command_without_argv(repo: Path) -> None:
    open_ticket(repo, "x")
    r = wo(repo, "run", "1", "--executor", "nope")
    assert r.code == 1 and "unknown executor 'nope'" in r.err
    r = wo(repo, "run", "1")
    assert r.code == 1 and "-- ARGV" in r.err
    assert wo(repo, "show", "1", "--json").json()["state"] == "open"  # type: ignore[index]


def test_lenient_report_parsing(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "loose")
    exe = script(tmp_path, """
        printf '## Report\\n\\n**Status:** partial - ran out of time\\n* files: a.py\\n' > "$WO_REPORT_FILE"
        """)
    assert wo(repo, "run", "1", "--", exe).code == 5
    assert wo(repo, "show", "1", "--json").json()["status"] == "PARTIAL"  # type: ignore[index]


def test_revise_runs_round_two_in_the_same_worktree(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "two")
    first = script(tmp_path, "echo one > round.txt\necho scratch > untracked-note.txt\n" + REPORT_OK, "first.sh")
    assert wo(repo, "run", "1", "--", first).code == 0
    r = wo(repo, "revise", "1", "--task", "Also write two.", "--criteria", "round.txt says two", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    assert data["round"] == 2 and data["report_file"] == "work-orders/0001-two/w04-report.md"
    assert wo(repo, "show", "1", "--json").json()["state"] == "open"  # type: ignore[index]
    second = script(tmp_path, """
        test "$WO_ROUND" = 2
        grep -q "Also write two." "$WO_WORK_FILE"
        grep -q one round.txt
        echo two > round.txt
        printf "# W04 - Report\\n- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """, "second.sh")
    assert wo(repo, "run", "1", "--", second).code == 0
    assert git(repo, "show", "wo/0001-two:round.txt") == "two\n"
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict)
    assert show["round"] == 2 and show["status"] == "COMPLETED"
    r1 = wo(repo, "show", "1", "--round", "1", "--json").json()
    assert isinstance(r1, dict) and r1["shown_round"] == 1
    events = [e["event"] for e in wo(repo, "log", "1", "--json").json()]  # type: ignore[index, union-attr]
    assert events == ["open", "report", "revise", "report"]
    r = wo(repo, "revise", "1", "--task", "")
    assert r.code == 1 and "empty" in r.err


def test_revise_before_report_is_refused(repo: Path) -> None:
    open_ticket(repo, "early")
    r = wo(repo, "revise", "1", "--task", "more")
    assert r.code == 1 and "follows a report" in r.err


def test_list_and_diff(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "a")
    open_ticket(repo, "b")
    exe = script(tmp_path, "echo changed >> src/app.py\n" + REPORT_OK)
    assert wo(repo, "run", "2", "--", exe).code == 0
    items = wo(repo, "list", "--json").json()
    assert isinstance(items, list)
    assert [(i["id"], i["state"], i["status"]) for i in items] == [(1, "open", None), (2, "reported", "COMPLETED")]
    d = wo(repo, "diff", "2").out
    assert "+changed" in d and "src/app.py" in d
    assert "src/app.py" in wo(repo, "diff", "2", "--stat").out
    assert "0001  open" in wo(repo, "list").out
    assert wo(repo, "status").out == wo(repo, "list").out  # `status` is `list`


def test_live_status_line_on_a_terminal(repo: Path, tmp_path: Path) -> None:
    import pty
    import subprocess

    from conftest import WO_GIT

    open_ticket(repo, "tty")
    exe = script(tmp_path, "for i in 1 2 3 4; do echo output $i; sleep 0.4; done\n" + REPORT_OK)
    master, slave = pty.openpty()
    proc = subprocess.run([*WO_GIT, "run", "1", "--", exe], cwd=repo, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=slave, timeout=60, check=False)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "\r\x1b[K[00:0" in screen and "B output" in screen  # elapsed time and output volume, redrawn


def test_executor_that_breaks_or_removes_its_worktree_still_gets_a_report(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "broken")
    exe = script(tmp_path, "echo kept > kept.txt\nrm .git\n" + REPORT_OK, "breaks.sh")
    r = wo(repo, "run", "1", "--", exe)
    assert r.code == 0, r.err
    assert git(repo, "show", "wo/0001-broken:kept.txt") == "kept\n"
    open_ticket(repo, "removed")
    exe = script(tmp_path, 'cd .. && rm -rf "$WO_WORKTREE"\n', "removes.sh")
    r = wo(repo, "run", "2", "--no-sandbox", "--", exe)  # sandboxed, the mount point stays
    assert r.code == 5
    show = wo(repo, "show", "2", "--json").json()
    assert isinstance(show, dict) and show["status"] == "NO_REPORT"
    assert "was removed or broken" in git(repo, "show", "wo/0002-removed:work-orders/0002-removed/w02-report.md")
    assert wo(repo, "doctor").out.strip() == "all well"
