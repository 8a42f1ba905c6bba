"""``wo-git diff`` for review and ``wo-git wait --timeout``/``--any`` through the real CLI."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo


def _two_rounds(repo: Path, tmp_path: Path) -> None:
    """Ticket 1: round 1 edits src/app.py and adds docs/a.md; round 2 adds src/two.py."""
    open_ticket(repo, "rev")
    one = script(tmp_path, "echo '# changed' >> src/app.py\nmkdir -p docs\necho a > docs/a.md\n" + REPORT_OK, "one.sh")
    assert wo(repo, "run", "1", "--", one).code == 0
    assert wo(repo, "revise", "1", "--task", "Add two.").code == 0
    two = script(tmp_path, "echo 'x = 2' > src/two.py\n" + REPORT_OK, "two.sh")
    assert wo(repo, "run", "1", "--", two).code == 0


def test_diff_leaves_the_mailbox_out_unless_asked(repo: Path, tmp_path: Path) -> None:
    _two_rounds(repo, tmp_path)
    r = wo(repo, "diff", "1")
    assert r.code == 0, r.err
    assert "src/app.py" in r.out and "src/two.py" in r.out and "docs/a.md" in r.out
    assert "work-orders/" not in r.out
    r = wo(repo, "diff", "1", "--mailbox")
    assert "work-orders/0001-rev/w02-report.md" in r.out and "src/app.py" in r.out


def test_diff_takes_pathspecs_relative_to_the_current_folder(repo: Path, tmp_path: Path) -> None:
    _two_rounds(repo, tmp_path)
    r = wo(repo, "diff", "1", "--", "src/")
    assert r.code == 0, r.err
    assert "src/app.py" in r.out and "docs/a.md" not in r.out
    r = wo(repo / "src", "diff", "1", "--stat", "--", ".")  # "." is src/ here, as in git
    assert r.code == 0, r.err
    assert "app.py" in r.out and "two.py" in r.out and "docs/a.md" not in r.out


def test_diff_round_is_that_rounds_report_against_its_order(repo: Path, tmp_path: Path) -> None:
    _two_rounds(repo, tmp_path)
    r1 = wo(repo, "diff", "1", "--round", "1")
    assert r1.code == 0, r1.err
    assert "src/app.py" in r1.out and "src/two.py" not in r1.out
    r2 = wo(repo, "diff", "1", "--round", "2", "--mailbox")
    assert "src/two.py" in r2.out and "src/app.py" not in r2.out and "w04-report.md" in r2.out
    assert "w02-report.md" not in r2.out
    bad = wo(repo, "diff", "1", "--round", "3")
    assert bad.code == 1 and "rounds 1..2" in bad.err and "\n" not in bad.err.strip()


def test_diff_round_without_a_report_yet(repo: Path) -> None:
    open_ticket(repo, "fresh")
    r = wo(repo, "diff", "1", "--round", "1")
    assert r.code == 1 and "no report yet" in r.err and "wo-git wait 1" in r.err


def test_diff_after_accept_shows_what_was_merged(repo: Path, tmp_path: Path) -> None:
    _two_rounds(repo, tmp_path)
    before = wo(repo, "diff", "1").out
    # the base moves on after the ticket was opened: the merge brings only the ticket's change
    (repo / "other.txt").write_text("other\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-q", "-m", "other work")
    assert wo(repo, "accept", "1").code == 0
    r = wo(repo, "diff", "1")
    assert r.code == 0, r.err
    assert r.out == before and "other.txt" not in r.out
    merged = wo(repo, "diff", "1", "--mailbox").out
    assert merged == git(repo, "diff", "--no-color", "-M", "main^1", "main")


def test_diff_after_squash_accept(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "sq")
    exe = script(tmp_path, "echo 'y = 1' > src/y.py\n" + REPORT_OK)
    assert wo(repo, "run", "1", "--", exe).code == 0
    assert wo(repo, "accept", "1", "--squash").code == 0
    git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    r = wo(repo, "diff", "1", "--stat")
    assert r.code == 0, r.err
    assert "src/y.py" in r.out and "work-orders" not in r.out


def test_wait_timeout_exits_7_and_lists_the_pending_tickets(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "slow")
    release = tmp_path / "release"
    exe = script(tmp_path, f"while [ ! -e {release} ]; do sleep 0.1; done\n" + REPORT_OK)
    assert wo(repo, "run", "1", "--detach", "--", exe).code == 0
    t0 = time.monotonic()
    r = wo(repo, "wait", "1", "--timeout", "1")
    assert r.code == 7, (r.code, r.err)
    assert time.monotonic() - t0 < 10
    assert "still running: 1" in r.out and "wo-git wait 1" in r.out
    r = wo(repo, "wait", "1", "--timeout", "0.5", "--json")
    assert r.code == 7
    data = r.json()
    assert isinstance(data, dict) and data["timed_out"] is True and data["reported"] == []
    assert [t["id"] for t in data["pending"]] == [1] and data["pending"][0]["state"] == "running"
    release.touch()
    r = wo(repo, "wait", "1", "--timeout", "60")
    assert r.code == 0, r.err
    assert "status COMPLETED" in r.out


def test_wait_any_returns_at_the_first_report(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "quick")
    open_ticket(repo, "hold")
    release = tmp_path / "release"
    quick = script(tmp_path, REPORT_OK, "quick.sh")
    hold = script(tmp_path, f"while [ ! -e {release} ]; do sleep 0.1; done\n" + REPORT_OK, "hold.sh")
    assert wo(repo, "run", "2", "--detach", "--", hold).code == 0
    assert wo(repo, "run", "1", "--detach", "--", quick).code == 0
    try:
        r = wo(repo, "wait", "2", "1", "--any", "--json", timeout=60)
        assert r.code == 0, r.err
        data = r.json()
        assert isinstance(data, list) and [p["id"] for p in data] == [1]
        # without --any, a timeout reports the one that finished and the one still running
        r = wo(repo, "wait", "1", "2", "--timeout", "0.5", "--json")
        assert r.code == 7
        both = r.json()
        assert isinstance(both, dict)
        assert [p["id"] for p in both["reported"]] == [1] and [t["id"] for t in both["pending"]] == [2]
    finally:
        release.touch()
    assert wo(repo, "wait", "1", "2").code == 0


def test_wait_refuses_a_negative_timeout(repo: Path) -> None:
    open_ticket(repo, "neg")
    r = wo(repo, "wait", "1", "--timeout", "-1")
    assert r.code == 1 and "--timeout" in r.err


def test_log_and_logs_through_the_cli(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "trail")
    exe = script(tmp_path, "echo first line\necho second line\necho 'x' > x.txt\n" + REPORT_OK)
    assert wo(repo, "run", "1", "--", exe).code == 0
    r = wo(repo, "logs", "1", "--tail", "1")
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["second line"]
    assert "first line" in wo(repo, "logs", "1", "--round", "1").out
    bad = wo(repo, "logs", "1", "--round", "2")
    assert bad.code == 1 and "rounds 1..1" in bad.err
    events = wo(repo, "log", "1", "--json").json()
    assert isinstance(events, list) and [e["event"] for e in events] == ["open", "report"]
    assert events[1]["status"] == "COMPLETED" and events[1]["trailers"]["Wo-Ticket"] == "0001"
    assert all(set(e) >= {"ticket", "commit", "time", "round", "role", "subject"} for e in events)
    text = wo(repo, "log").out.splitlines()
    assert len(text) == 2 and " 0001  r1  open " in text[0] and "COMPLETED" in text[1]
    assert wo(repo, "abort", "1").code == 1 and "not running" in wo(repo, "abort", "1").err
