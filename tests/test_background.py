"""Detached runs, ``wait``, ``logs``, ``abort``, timeouts and ``max_parallel`` with real processes."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo


def test_detach_returns_at_once_and_wait_prints_the_packet(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "bg")
    release = tmp_path / "release"
    exe = script(tmp_path, f"while [ ! -e {release} ]; do sleep 0.1; done\n"
                 "echo done > done.txt\necho 'progress line'\n" + REPORT_OK)
    r = wo(repo, "run", "1", "--detach", "--json", "--", exe)  # returns while the executor waits
    assert r.code == 0, r.err
    info = r.json()
    assert isinstance(info, dict) and info["id"] == 1 and info["pid"] > 0 and info["log"].endswith(".log")
    assert wo(repo, "show", "1", "--json").json()["state"] == "running"  # type: ignore[index]
    r = wo(repo, "run", "1", "--", exe)
    assert r.code == 1 and "already running" in r.err
    release.touch()
    r = wo(repo, "wait", "1")
    assert r.code == 0, r.err
    assert "status COMPLETED" in r.out
    assert git(repo, "show", "wo/0001-bg:done.txt") == "done\n"
    assert "progress line" in wo(repo, "logs", "1").out
    # waiting on a reported ticket returns at once; JSON is a list of packets
    r = wo(repo, "wait", "1", "--json")
    assert r.code == 0 and r.json()[0]["status"] == "COMPLETED"  # type: ignore[index]


def test_wait_on_a_ticket_that_is_not_running(repo: Path) -> None:
    open_ticket(repo, "idle")
    r = wo(repo, "wait", "1")
    assert r.code == 1 and "not running" in r.err


def test_logs_follow_streams_until_the_run_ends(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "follow")
    exe = script(tmp_path, "for i in 1 2 3; do echo tick $i; sleep 0.5; done\n" + REPORT_OK)
    assert wo(repo, "run", "1", "--detach", "--", exe).code == 0
    r = wo(repo, "logs", "1", "-f")
    assert r.code == 0 and "tick 1" in r.out and "tick 3" in r.out


def test_abort_mid_run_keeps_the_work(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "abort")
    marker = tmp_path / "started"
    exe = script(tmp_path, f"echo halfway > half.txt\ntouch {marker}\nsleep 300\n")
    assert wo(repo, "run", "1", "--detach", "--", exe).code == 0
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    r = wo(repo, "abort", "1", "--json")
    assert r.code == 0, r.err
    assert time.monotonic() - t0 < 15
    data = r.json()
    assert isinstance(data, dict) and data["stopped_by"] == "abort" and data["status"] == "NO_REPORT"
    assert git(repo, "show", "wo/0001-abort:half.txt") == "halfway\n"
    assert wo(repo, "abort", "1").code == 1


def test_timeout_and_idle_timeout_end_the_process_group(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "slow")
    open_ticket(repo, "silent")
    child = tmp_path / "child.pid"
    busy = script(tmp_path, f"echo partial > partial.txt\nsleep 300 &\necho $! > {child}\n"
                  "while true; do echo still working; sleep 0.2; done\n", "busy.sh")
    r = wo(repo, "run", "1", "--no-sandbox", "--timeout", "2", "--", busy)  # host pids
    assert r.code == 5
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["stopped_by"] == "timeout"
    assert git(repo, "show", "wo/0001-slow:partial.txt") == "partial\n"
    pid = int(child.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    quiet = script(tmp_path, "echo one line\nsleep 300\n", "quiet.sh")
    t0 = time.monotonic()
    r = wo(repo, "run", "2", "--idle-timeout", "1", "--", quiet)
    assert r.code == 5 and time.monotonic() - t0 < 15
    assert wo(repo, "show", "2", "--json").json()["stopped_by"] == "idle-timeout"  # type: ignore[index]


def test_six_run_at_once_and_more_are_queued_in_order(repo: Path, tmp_path: Path) -> None:
    n = 8
    for i in range(n):
        open_ticket(repo, f"p{i}")
    trace = tmp_path / "trace.txt"
    release = tmp_path / "release"
    exe = script(tmp_path, f"echo start $WO_TICKET >> {trace}\n"
                 f"while [ ! -e {release} ]; do sleep 0.1; done\n"
                 f"echo end $WO_TICKET >> {trace}\n" + REPORT_OK)
    for i in range(1, n + 1):
        r = wo(repo, "run", str(i), "--detach", "--", exe)
        assert r.code == 0, r.err

    def starts() -> list[int]:
        return [int(ln.split()[1]) for ln in trace.read_text().splitlines() if ln.startswith("start")] \
            if trace.exists() else []

    deadline = time.monotonic() + 60
    while len(starts()) < 6:
        assert time.monotonic() < deadline, starts()
        time.sleep(0.1)
    time.sleep(1.5)
    assert sorted(starts()) == [1, 2, 3, 4, 5, 6]  # the 7th and 8th wait for a slot
    listed = wo(repo, "list", "--json").json()
    assert isinstance(listed, list) and all(t["state"] == "running" for t in listed)
    release.touch()
    r = wo(repo, "wait", *[str(i) for i in range(1, n + 1)], timeout=120)
    assert r.code == 0, r.err
    assert starts()[6:] == [7, 8]
    assert r.out.count("status COMPLETED") == n
