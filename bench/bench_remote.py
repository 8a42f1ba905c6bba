"""Throughput of ``wo-git worker`` against one local ``wo-git run`` loop, and claim latency.

Scenario: N tickets whose executor does nothing but write its report (a
no-op executor), so what is measured is wo-git's own cost per ticket.

- **baseline**, measured in the same run: one clone runs ``wo-git run ID --
  noop`` for each ticket in turn (no remote at all);
- **workers**: a bare remote reached by ``file://`` holds the same number of
  tickets; 1, 2 and 4 ``wo-git worker --once`` processes, each in its own
  clone, are started together and the wall time until all have exited is
  taken (fetch, claim, run, atomic publish, per ticket).

Reported: tickets per minute, the ratio to the baseline, and the claim
latency (seconds from the fetch that found a ticket to its claim being on
the remote: one ``git fetch`` plus one compare-and-swap ``git push``; median
and worst over all claims).

Run: ``python bench/bench_remote.py [--tickets 24] [--workers 1 2 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

WO = [sys.executable, "-m", "wo_git"]


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(root: Path, config: str) -> None:
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    (root / ".wo-git.toml").write_text(config)
    sh(root, "git", "add", "-A")
    sh(root, "git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init")


def open_tickets(root: Path, n: int) -> None:
    code = textwrap.dedent(f"""
        from wo_git import tickets
        from wo_git.config import Config
        from wo_git.git import Repo
        repo = Repo(".")
        for i in range({n}):
            tickets.open_ticket(repo, Config(), tickets.OpenRequest(slug=f"t{{i}}", title=f"T{{i}}", task="x"))
    """)
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def noop(tmp: Path) -> str:
    path = tmp / "noop.sh"
    path.write_text('#!/bin/sh\nprintf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    path.chmod(0o755)
    return str(path)


def baseline(tmp: Path, n: int, exe: str) -> float:
    """Seconds for one local loop of ``wo-git run`` over ``n`` tickets."""
    root = tmp / "local"
    make_repo(root, "")
    open_tickets(root, n)
    t0 = time.monotonic()
    for tid in range(1, n + 1):
        sh(root, *WO, "run", str(tid), "--json", "--", exe)
    return time.monotonic() - t0


def workers(tmp: Path, n: int, count: int, exe: str) -> tuple[float, list[float]]:
    """Seconds for ``count`` workers to run ``n`` tickets from a file:// remote, and every claim latency."""
    base = tmp / f"w{count}"
    base.mkdir()
    origin = base / "origin.git"
    sh(base, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    a = base / "a"
    make_repo(a, 'remote = "origin"\n')
    sh(a, "git", "remote", "add", "origin", origin.as_uri())
    open_tickets(a, n)
    sh(a, "git", "push", "-q", "origin", "main", "refs/wo/*:refs/wo/*", "refs/heads/wo/*:refs/heads/wo/*")
    clones = []
    for i in range(count):
        c = base / f"c{i}"
        sh(base, "git", "clone", "-q", origin.as_uri(), str(c))
        clones.append(c)
    t0 = time.monotonic()
    procs = [subprocess.Popen([*WO, "worker", "--once", "--json", "--poll", "0.5", "--", exe], cwd=c,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for c in clones]
    stats = [json.loads(p.communicate()[0]) for p in procs]
    took = time.monotonic() - t0
    published = sum(len(s["published"]) for s in stats)
    assert published == n, f"{published} of {n} published"
    return took, [x for s in stats for x in s["claim_latency"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=24)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    env_home = tempfile.mkdtemp()
    os.environ.update(HOME=env_home, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
                      GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    Path(env_home, ".gitconfig").write_text('[protocol "file"]\n\tallow = always\n')
    n = args.tickets
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{n} tickets, no-op executor")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        exe = noop(tmp)
        base_s = baseline(tmp, n, exe)
        base_rate = n / base_s * 60
        print(f"{'setup':<28} {'tickets/min':>12} {'ratio':>7}  claim latency (median / max)")
        print(f"{'local wo-git run loop':<28} {base_rate:>12.1f} {1.0:>7.2f}")
        for count in args.workers:
            took, lat = workers(tmp, n, count, exe)
            rate = n / took * 60
            print(f"{f'{count} worker(s), file:// remote':<28} {rate:>12.1f} {rate / base_rate:>7.2f}  "
                  f"{statistics.median(lat):.2f} s / {max(lat):.2f} s")


if __name__ == "__main__":
    main()
