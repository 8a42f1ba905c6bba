"""What ``wo-git wait`` costs while it waits, and how fast it wakes.

Scenario: a detached run whose executor waits for a release file; ``wo-git
wait`` is started, the run is released after T seconds, and we measure

- the CPU time (user + system, from ``wait4``'s rusage) of the ``wait``
  process, at two wait lengths, so the fixed start-up cost and the cost per
  minute of waiting separate (slope);
- the latency from the report commit landing (its ref-journal timestamp) to
  ``wait`` exiting.

Baseline, measured in the same run: the polling loop an architect would
otherwise write, ``until git log -1 --format=%(trailers) BRANCH | grep -q
Wo-Event: report; do sleep 1; done``.

Run: ``python bench/bench_wait.py [--short 5] [--long 35]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WO = [sys.executable, "-m", "wo_git"]


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def setup(root: Path) -> None:
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "init")


def one(root: Path, tid: int, seconds: float, waiter: str) -> tuple[float, float]:
    """Return (cpu seconds of the waiter, latency seconds after the report landed)."""
    release = root.parent / f"release-{tid}"
    exe = root.parent / f"exec-{tid}.sh"
    exe.write_text(f"#!/bin/sh\nwhile [ ! -e {release} ]; do sleep 0.05; done\n"
                   'printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    exe.chmod(0o755)
    sh(root, *WO, "open", f"t{tid}", "--title", "bench", "--task", "wait for me")
    sh(root, *WO, "run", str(tid), "--detach", "--", str(exe))
    branch = f"wo/{tid:04d}-t{tid}"
    if waiter == "wo-git wait":
        argv = [*WO, "wait", str(tid)]
    else:
        argv = ["sh", "-c", f"until git log -1 --format=%\\(trailers\\) {branch} | grep -q 'Wo-Event: report'; "
                "do sleep 1; done"]
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    release.touch()
    _, status, usage = os.wait4(proc.pid, 0)
    done = time.time()
    assert os.waitstatus_to_exitcode(status) == 0, waiter
    landed = max(
        row["t"] for row in map(json.loads, (root / ".git/wo/ref-journal.jsonl").read_text().splitlines())
        if row["ref"] == f"refs/wo/tickets/{tid:04d}"
    )
    return usage.ru_utime + usage.ru_stime, done - landed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", type=float, default=5.0)
    ap.add_argument("--long", type=float, default=35.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        setup(root)
        results: dict[str, dict[str, float]] = {}
        tid = 0
        for waiter in ("wo-git wait", "polling loop (1 s)"):
            cpu, lat = {}, []
            for label, secs in (("short", args.short), ("long", args.long)):
                tid += 1
                c, latency = one(root, tid, secs, waiter)
                cpu[label] = c
                lat.append(latency)
            slope = (cpu["long"] - cpu["short"]) / (args.long - args.short) * 60.0
            results[waiter] = {"startup_cpu": cpu["short"] - slope * args.short / 60.0,
                               "cpu_per_min": max(slope, 0.0), "latency": sum(lat) / len(lat)}
    base = results["polling loop (1 s)"]
    ours = results["wo-git wait"]
    print(f"{'waiter':<22} {'CPU s / min waiting':>20} {'fixed CPU s':>12} {'wake-up latency s':>18}")
    for name, r in results.items():
        print(f"{name:<22} {r['cpu_per_min']:>20.4f} {r['startup_cpu']:>12.3f} {r['latency']:>18.3f}")
    ratio_cpu = ours["cpu_per_min"] / base["cpu_per_min"] if base["cpu_per_min"] > 0 else float("nan")
    print(f"ratio wo-git/polling: CPU per minute {ratio_cpu:.3f}x, "
          f"latency {ours['latency'] / base['latency']:.3f}x")


if __name__ == "__main__":
    main()
