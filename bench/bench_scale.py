"""Benchmark: wo-git at scale, each figure a ratio against a baseline measured in the same run.

The figures of issue 12 (README "Performance"):

=========================================  ==============================================
figure                                     baseline
=========================================  ==============================================
``wo-git --version``, ``wo-git --help``    ``python -c 'import pygit2, click, pydantic, unidiff'``
``wo-git list`` over 10,000 tickets        ``wo-git --version``
``wo-git show ID`` among 10,000 tickets    ``wo-git --version``
``wo-git open`` with 10,000 tickets        ``wo-git open`` with none
``wo-git guard --range``, 10,000 files     ``git diff -p -M`` on the same range
open -> run (no-op) -> accept, 5,000 files the same steps in raw git
``wo-git list`` over 100,000 tickets       ``wo-git list`` over 10,000
=========================================  ==============================================

The ticket repositories are written with ``git fast-import`` in the format
``wo-git open``, ``run`` and ``accept``/``reject`` write (the commit messages
and work files come from wo-git's own :func:`wo_git.git.format_message` and
:func:`wo_git.tickets.mailbox.render_work`): for ticket ``N`` an open commit on the
base tip adding ``work-orders/NNNN-tN/w01-work.md`` with trailers
``Wo-Ticket/Round/Role/Event/Slug/Title/Base``, recorded at
``refs/wo/tickets/NNNN``. Tickets pile up as a busy repository's do: the
newest :data:`WORKING` cycle through open (branch ``wo/NNNN-tN``), reported
(a report commit with ``Wo-Status: COMPLETED``), accepted (report, accept
verdict commit, a ``--no-ff`` merge commit on ``main``, branch deleted) and
rejected (report, reject verdict, branch deleted); every older one is
accepted or rejected. So the 10,000- and 100,000-ticket repositories have
the same 1,000 unmerged tickets that plain ``list`` shows, and 9,000 or
99,000 closed ones behind them. The merge commits of the older accepted
tickets keep ``main``'s tree as it was (re-writing a tree of 50,000 folders
per merge made the build quadratic); their records are exact, and records
are all ``list``, ``show`` and ``open`` read. Refs stay loose, as ``open``
leaves them. The script checks the generated repository with the real CLI
(``show``, ``list --all``).

Every measurement is the median wall time of ``--repeat`` child processes.

    python bench/bench_scale.py [--repeat 5] [--quick]

``--quick`` uses 1,000/10,000 tickets, 1,000 files and a 500-file repository
(for a fast check, not for the README).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wo_git.git import format_message
from wo_git.tickets import report_name, ticket_label, work_name
from wo_git.tickets.mailbox import WorkOrder, render_work

BIN = Path(sys.executable).parent
WO = [str(BIN / "wo-git")] if (BIN / "wo-git").exists() else [sys.executable, "-m", "wo_git"]
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed wo-git has its bytecode; measure that
MAILBOX = "work-orders"
WORKING = 2_000
"""the newest tickets, a quarter each open, reported, accepted, rejected; older ones are closed"""


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, input=input, capture_output=True,
                          check=True).stdout.decode().strip()


def wo(cwd: Path, *args: str) -> str:
    return subprocess.run([*WO, *args], cwd=cwd, env=ENV, capture_output=True, check=True).stdout.decode()


def _data(data: bytes) -> bytes:
    return b"data %d\n" % len(data) + data + b"\n"


class Stream:
    """A ``git fast-import`` stream with marks."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.mark = 0
        self.clock = 1_700_000_000

    def blob(self, data: bytes) -> str:
        self.mark += 1
        self.parts.append(b"blob\nmark :%d\n" % self.mark + _data(data))
        return f":{self.mark}"

    def commit(self, ref: str, message: str, parents: list[str], files: dict[str, str]) -> str:
        self.mark += 1
        self.clock += 7
        who = b"bench <bench@example.com> %d +0000\n" % self.clock
        out = [f"commit {ref}\nmark :{self.mark}\n".encode(), b"author " + who, b"committer " + who,
               _data(message.encode())]
        if parents:
            out.append(f"from {parents[0]}\n".encode())
        out += [f"merge {p}\n".encode() for p in parents[1:]]
        out += [f"M 100644 {blob} {path}\n".encode() for path, blob in files.items()]
        self.parts.append(b"".join(out) + b"\n")
        return f":{self.mark}"

    def reset(self, ref: str, target: str | None) -> None:
        self.parts.append(f"reset {ref}\n".encode() + (f"from {target}\n\n".encode() if target else b"\n"))


def _trailers(label: str, round_: int, role: str, event: str, **more: str | None) -> dict[str, str | int | None]:
    return {"Wo-Ticket": label, "Wo-Round": round_, "Wo-Role": role, "Wo-Event": event, **more}


def add_tickets(s: Stream, main: str, first: int, count: int) -> str:
    """Append ``count`` tickets from id ``first`` on; returns the new ``main`` mark."""
    for tid in range(first, first + count):
        label, slug = ticket_label(tid), f"t{tid}"
        title = f"bench ticket {tid}"
        folder = f"{MAILBOX}/{label}-{slug}"
        order = WorkOrder(ticket=tid, round=1, slug=slug, title=title, base="main",
                          report=f"{folder}/{report_name(1)}")
        work = s.blob(render_work(order, task=f"Do task {tid}.", criteria=[]).encode())
        files = {f"{folder}/{work_name(1)}": work}
        msg = format_message(f"wo {label} open: {title}", "",
                             {**_trailers(label, 1, "architect", "open"),
                              "Wo-Slug": slug, "Wo-Title": title, "Wo-Base": "main"})
        record = f"refs/wo/tickets/{label}"
        tip = s.commit(record, msg, [main], files)
        recent = tid > first + count - 1 - WORKING
        kind = tid % 4 if recent else 2 + tid % 2  # 0 open, 1 reported, 2 accepted, 3 rejected
        if kind:
            report = s.blob(b"# W02 - Report\n- Status: COMPLETED\n- Files: none\n")
            files[f"{folder}/{report_name(1)}"] = report
            msg = format_message(f"wo {label} report: round 1: COMPLETED", "0 files changed",
                                 {**_trailers(label, 1, "executor", "report"), "Wo-Status": "COMPLETED",
                                  "Wo-Executor": "command", "Wo-Exit": 0})
            tip = s.commit(record, msg, [tip], {f"{folder}/{report_name(1)}": report})
        if kind == 2:
            msg = format_message(f"wo {label} accept: {title}", "",
                                 {**_trailers(label, 1, "architect", "accept"), "Wo-Status": "COMPLETED",
                                  "Wo-Merge": "no-ff"})
            tip = s.commit(record, msg, [tip], {})
            msg = format_message(f"Merge ticket {label}: {title}", f"Branch wo/{label}-{slug} into main.",
                                 {"Wo-Ticket": label, "Wo-Role": "system", "Wo-Event": "merge"})
            main = s.commit("refs/heads/main", msg, [main, tip], files if recent else {})
        elif kind == 3:
            msg = format_message(f"wo {label} reject: {title}", "not needed",
                                 {**_trailers(label, 1, "architect", "reject"), "Wo-Status": "COMPLETED"})
            tip = s.commit(record, msg, [tip], {})
        if kind in (0, 1):
            s.reset(f"refs/heads/wo/{label}-{slug}", tip)
    return main


def base_repo(root: Path, files: int = 3) -> tuple[Stream, str]:
    """A repository on ``main`` with a first commit of ``files`` small files."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    s = Stream()
    blobs = {f"src/pkg{i // 500:02d}/mod_{i:05d}.py": s.blob(f"def f{i}():\n    return {i}\n".encode())
             for i in range(files)}
    blobs["README.md"] = s.blob(b"# bench\n")
    main = s.commit("refs/heads/main", "initial\n", [], blobs)
    return s, main


def finish(root: Path, s: Stream, main: str) -> None:
    s.reset("refs/heads/main", main)
    subprocess.run(["git", "fast-import", "--quiet", "--force"], cwd=root, env=ENV,
                   input=b"".join(s.parts) + b"done\n", check=True)
    git(root, "reset", "-q", "--hard", "main")


def ticket_repo(root: Path, count: int) -> None:
    s, main = base_repo(root)
    finish(root, s, add_tickets(s, main, 1, count))
    # the generated tickets must read as real ones
    states = {}
    for line in wo(root, "list", "--all").splitlines():
        parts = line.split()
        states[parts[1]] = states.get(parts[1], 0) + 1
    assert sum(states.values()) == count, states
    assert wo(root, "show", "--json", "2").count('"COMPLETED"'), "ticket 2 is not reported"


def median(runs: int, argv: list[str], cwd: Path, before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_of(runs: int, fn: Callable[[int], None]) -> float:
    times = []
    for n in range(runs):
        t0 = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


REPORT_SH = "#!/bin/sh\nprintf '# W02 - Report\\n- Status: COMPLETED\\n- Files: none\\n' > \"$WO_REPORT_FILE\"\n"


def cycle_repos(tmp: Path, files: int) -> tuple[Path, Path, Path]:
    """Two identical repositories of ``files`` files (one per side) and a no-op executor."""
    sides = []
    for name in ("wo", "raw"):
        s, main = base_repo(tmp / f"cycle-{name}", files)
        finish(tmp / f"cycle-{name}", s, main)
        sides.append(tmp / f"cycle-{name}")
    exe = tmp / "noop.sh"
    exe.write_text(REPORT_SH)
    exe.chmod(0o755)
    return sides[0], sides[1], exe


def wo_cycle(root: Path, exe: Path, n: int) -> None:
    out = wo(root, "open", f"c{n}", "--title", f"cycle {n}", "--task", "nothing", "--json")
    tid = out.split('"id": ')[1].split(",")[0]
    wo(root, "run", tid, "--", str(exe))
    wo(root, "accept", tid)


def raw_cycle(root: Path, exe: Path, n: int) -> None:
    """What wo-git's cycle does, by hand: a worktree on a new branch, a work file, the executor, a report, a merge."""
    label, branch = ticket_label(n + 1), f"wo/{ticket_label(n + 1)}-c{n}"
    wt = root.parent / f"raw-wt-{n}"
    folder = f"{MAILBOX}/{label}-c{n}"
    git(root, "worktree", "add", "-q", "-b", branch, str(wt), "main")
    (wt / folder).mkdir(parents=True)
    (wt / folder / "w01-work.md").write_text("# W01\n\nnothing\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", f"wo {label} open: cycle {n}")
    subprocess.run([str(exe)], cwd=wt, env={**ENV, "WO_REPORT_FILE": str(wt / folder / "w02-report.md")},
                   check=True)
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", f"wo {label} report: round 1: COMPLETED")
    git(root, "worktree", "remove", str(wt))
    git(root, "merge", "-q", "--no-ff", "-m", f"Merge ticket {label}", branch)
    git(root, "branch", "-q", "-d", branch)


def guard_repo(root: Path, paths: int) -> tuple[str, str]:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    s = Stream()

    def files(version: int) -> dict[str, str]:
        return {f"pkg{i // 500:02d}/mod_{i:05d}.py": s.blob(
            (f"# module {i} v{version}\n" + "".join(f"def f{j}(x):\n    return x * {j + i} + {version}\n"
                                                     for j in range(6))).encode()) for i in range(paths)}

    a = s.commit("refs/heads/main", "base\n", [], files(1))
    b = s.commit("refs/heads/main", "touch every file\n", [a], files(2))
    finish(root, s, b)
    return git(root, "rev-parse", "main~1"), git(root, "rev-parse", "main")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a quick check")
    ap.add_argument("--only", help="comma-separated figure numbers to run (1-7)")
    args = ap.parse_args()
    small, big, guard_paths, cycle_files = (1_000, 10_000, 1_000, 500) if args.quick \
        else (10_000, 100_000, 10_000, 5_000)
    only = {int(x) for x in args.only.split(",")} if args.only else set(range(1, 8))
    r = args.repeat
    rows: list[tuple[str, str, float, float, str]] = []

    def row(figure: str, baseline: str, t: float, base: float, goal: str) -> None:
        rows.append((figure, baseline, t, base, goal))
        print(f"  {figure}: {t:.3f} s / {baseline}: {base:.3f} s = {t / base:.2f}x (goal {goal})", flush=True)

    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, wo-git: {' '.join(WO)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="wo-scale-") as tmp_:
        tmp = Path(tmp_)
        empty = tmp / "empty"
        s, m = base_repo(empty)
        finish(empty, s, m)
        imports = median(r, [sys.executable, "-c", "import pygit2, click, pydantic, unidiff"], empty)
        version = median(r, [*WO, "--version"], empty)
        if 1 in only:
            row("wo-git --version", "bare import", version, imports, "<= 1.2x")
            row("wo-git --help", "bare import", median(r, [*WO, "--help"], empty), imports, "<= 1.2x")
        need_small = only & {2, 3, 4, 7}
        if need_small:
            t0 = time.perf_counter()
            ten = tmp / f"t{small}"
            ticket_repo(ten, small)
            print(f"built and checked {small} tickets in {time.perf_counter() - t0:.0f} s", flush=True)
            list_small = median(r, [*WO, "list"], ten)
            all_small = median(r, [*WO, "list", "--all"], ten)
            wo_dir = Path(git(ten, "rev-parse", "--path-format=absolute", "--git-common-dir")) / "wo"
            if 2 in only:
                row(f"list, {small} tickets", "--version", list_small, version, "<= 1.5x")
                row(f"list --all, {small} tickets", "--version", all_small, version, "-")
                row(f"list, {small} tickets, index rebuilt (after any ref change)", "--version",
                    median(r, [*WO, "list"], ten, before=lambda: (wo_dir / "list-open.json").unlink()),
                    version, "-")
            if 3 in only:
                mid = str(small // 2 + 1)
                row(f"show {mid} among {small}", "--version", median(r, [*WO, "show", mid], ten), version, "<= 1.3x")
                row(f"show {mid} among {small}, cache cold", "--version",
                    median(r, [*WO, "show", mid], ten,
                           before=lambda: (wo_dir / "show" / f"{int(mid):04d}.json").unlink(missing_ok=True)),
                    version, "-")
            if 4 in only:
                # the first open in a repository lists the records once to learn the last id (wo/last-id)
                first_none = median_of(1, lambda n: wo(empty, "open", "first", "--title", "o", "--task", "x"))
                first_many = median_of(1, lambda n: wo(ten, "open", "first", "--title", "o", "--task", "x"))
                t_none = median_of(r, lambda n: wo(empty, "open", f"o{n}", "--title", "o", "--task", "x"))
                t_many = median_of(r, lambda n: wo(ten, "open", f"o{n}", "--title", "o", "--task", "x"))
                row(f"open with {small} tickets", "open with one", t_many, t_none, "<= 1.1x")
                row(f"first open with {small} tickets (no wo/last-id yet)", "the same with one",
                    first_many, first_none, "-")
            if 7 in only:
                t0 = time.perf_counter()
                hundred = tmp / f"t{big}"
                ticket_repo(hundred, big)
                print(f"built and checked {big} tickets in {time.perf_counter() - t0:.0f} s", flush=True)
                row(f"list, {big} tickets", f"list, {small}", median(r, [*WO, "list"], hundred), list_small,
                    "<= 2x")
                row(f"list --all, {big} tickets", f"list --all, {small}",
                    median(r, [*WO, "list", "--all"], hundred), all_small, "-")
                shutil.rmtree(hundred)
        if 5 in only:
            groot = tmp / "guard"
            a, b = guard_repo(groot, guard_paths)
            row(f"guard --range, {guard_paths} files", "git diff -p -M",
                median(r, [*WO, "guard", "--range", f"{a}..{b}"], groot),
                median(r, ["git", "diff", "-p", "-M", a, b], groot), "<= 1.5x")
        if 6 in only:
            wo_root, raw_root, exe = cycle_repos(tmp, cycle_files)
            row(f"open/run/accept, {cycle_files} files", "raw git",
                median_of(r, lambda n: wo_cycle(wo_root, exe, n)),
                median_of(r, lambda n: raw_cycle(raw_root, exe, n)), "<= 1.3x")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; median of {r} runs each\n")
    print("| figure | baseline | seconds | baseline s | ratio | goal |\n| --- | --- | --- | --- | --- | --- |")
    for figure, baseline, t, base, goal in rows:
        print(f"| {figure} | {baseline} | {t:.3f} | {base:.3f} | {t / base:.2f}x | {goal} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
