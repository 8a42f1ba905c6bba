"""Benchmark: the guard over a large change, as a ratio against ``git diff --name-status -M``.

Two ranges, each one commit, built with ``git fast-import`` in a temporary
repository:

- ``10k paths``: a commit that modifies 10,000 files;
- ``50 MB blob``: a commit that adds one 50 MB text file.

For each, in the same run: ``git diff --name-status -M A B`` (the baseline),
the guard through the library (``check_commits`` over ``A..B``, timed inside
its process, imports excluded), and the CLI (``wo-git guard --range A..B``,
the whole process). Every measurement runs in a child process so its peak
memory (``ru_maxrss`` from ``wait4``) is its own; each is the best of
``--repeat`` runs.

    python bench/bench_guard.py [--repeat 3] [--paths 10000] [--mb 50]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}

LIBRARY_GUARD = """
import sys, time
from wo_git.git import Repo
from wo_git.guard.check import check_commits
from wo_git.guard.policy import Policy
repo = Repo(sys.argv[1])
t0 = time.perf_counter()
found = check_commits(repo, Policy.build(None), repo.rev_list(sys.argv[3], sys.argv[2]))
print(time.perf_counter() - t0, len(found))
"""


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, input=input, capture_output=True,
                          check=True).stdout.decode().strip()


def fast_import(root: Path, stream: bytes) -> None:
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, env=ENV, input=stream, check=True)


def _blob(data: bytes) -> bytes:
    return b"data %d\n" % len(data) + data + b"\n"


def _commit(ref: str, msg: str, parent: str | None, ops: list[bytes]) -> bytes:
    head = [f"commit {ref}\n".encode(), b"committer bench <bench@example.com> 1700000000 +0000\n",
            _blob(msg.encode())]
    if parent:
        head.append(f"from {parent}\n".encode())
    return b"".join(head) + b"".join(ops) + b"\n"


def build(root: Path, paths: int, mb: int) -> dict[str, tuple[str, str]]:
    """Create the repository; returns ``{case: (A, B)}``."""
    git(root, "init", "-q", "-b", "main")
    rng = random.Random(7)

    def source(i: int, version: int) -> bytes:
        return (f"# module {i} v{version}\n" + "".join(
            f"def f{j}(x):\n    return x * {rng.randint(0, 999)} + {version}\n" for j in range(6))).encode()

    def files(version: int) -> list[bytes]:
        return [b"M 100644 inline " + f"pkg{i // 500:02d}/mod_{i:05d}.py\n".encode() + _blob(source(i, version))
                for i in range(paths)]

    stream = _commit("refs/heads/main", "base", None, files(1))
    stream += _commit("refs/heads/main", "touch every file", None, files(2))
    fast_import(root, stream)
    wide_b = git(root, "rev-parse", "main")
    wide_a = git(root, "rev-parse", "main~1")

    # a 50 MB text blob: base64 lines of pseudo-random bytes (no secrets, no NULs)
    raw = random.Random(11).randbytes(mb * 1024 * 1024 * 3 // 4)
    text = b"\n".join(base64.b64encode(raw[i:i + 57]) for i in range(0, len(raw), 57)) + b"\n"
    fast_import(root, _commit("refs/heads/main", "add a big file", wide_b,
                              [b"M 100644 inline data/big.txt\n" + _blob(text)]))
    big_b = git(root, "rev-parse", "main")
    git(root, "reset", "-q", "--hard")
    return {f"{paths} paths": (wide_a, wide_b), f"{mb} MB blob": (wide_b, big_b)}


def measure(argv: list[str], cwd: Path) -> tuple[float, int, str]:
    """Run a child; ``(wall seconds, peak RSS MB, stdout)``."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    rss_mb = usage.ru_maxrss // 1024 if sys.platform != "darwin" else usage.ru_maxrss // (1024 * 1024)
    return wall, rss_mb, text


def best(runs: int, argv: list[str], cwd: Path, inner: bool = False) -> tuple[float, int, str]:
    results = [measure(argv, cwd) for _ in range(runs)]
    if inner:  # the library's own timing, printed by the child
        results = [(float(text.split()[0]), rss, text) for _, rss, text in results]
    return min(results, key=lambda r: r[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--build", metavar="DIR", help=argparse.SUPPRESS)  # internal: build in a child
    args = ap.parse_args()
    if args.build:
        print(json.dumps(build(Path(args.build), args.paths, args.mb)))
        return 0
    wo_git = [sys.executable, "-m", "wo_git"]
    with tempfile.TemporaryDirectory(prefix="wo-bench-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        t0 = time.perf_counter()
        # built in a child so this process stays small: a child's peak RSS starts at its parent's
        cases = json.loads(subprocess.run(
            [sys.executable, __file__, "--build", str(root), "--paths", str(args.paths), "--mb", str(args.mb)],
            capture_output=True, check=True).stdout)
        print(f"built the repository in {time.perf_counter() - t0:.1f} s\n")
        header = f"{'case':<14} {'measure':<34} {'seconds':>9} {'ratio':>7} {'peak MB':>8}"
        print(header)
        print("-" * len(header))
        for case, (a, b) in cases.items():
            base_t, base_rss, _ = best(args.repeat, ["git", "diff", "--name-status", "-M", a, b], root)
            lib_t, lib_rss, lib_out = best(args.repeat, [sys.executable, "-c", LIBRARY_GUARD, str(root), a, b],
                                           root, inner=True)
            cli_t, cli_rss, _ = best(args.repeat, [*wo_git, "guard", "--range", f"{a}..{b}"], root)
            big = git(root, "diff", "--name-only", a, b).splitlines()[0]
            cat_t, cat_rss, _ = best(args.repeat, ["git", "cat-file", "blob", f"{b}:{big}"], root)
            rows = [
                ("git diff --name-status -M", base_t, base_rss),
                ("(git cat-file blob, 1 of the files)", cat_t, cat_rss),
                ("guard: check_commits (library)", lib_t, lib_rss),
                ("guard: wo-git guard --range (CLI)", cli_t, cli_rss),
            ]
            for name, t, rss in rows:
                print(f"{case:<14} {name:<34} {t:>9.3f} {t / base_t:>6.1f}x {rss:>8}")
            print(f"{'':<14} violations found: {lib_out.split()[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
