#!/usr/bin/env python3
"""wo-git's main job: replay a real project's releases as tickets.

1. Download successive released versions of a small pure-Python project from
   PyPI (source distributions, ``pip download --no-binary :all: --no-deps``;
   cached under ``$WO_DEMO_CACHE``, default ``~/.cache/wo-git-demo``).
2. Build a git repository whose first commit is the first chosen release's
   files, and adopt wo-git in it (``wo-git init``, committed by the architect).
3. For every version bump: ``wo-git open`` a ticket, ``wo-git run`` it with
   ``demo/apply_release.py`` as the executor (an ordinary command that makes
   the worktree equal to the next release and writes the report), ``wo-git
   show`` the review packet, and ``wo-git accept`` it.
4. One extra ticket whose executor also adds a CI workflow: ``run`` must end
   ``GUARD_REJECTED``, ``accept`` must fail with exit code 3, and nothing of it
   may reach the base; the architect then rejects it.
5. Check that the base's tree equals the last release's files exactly: same
   paths, same bytes, same executable bits and symlinks. wo-git's own files
   are left out of the comparison and listed: the mailbox folder
   ``work-orders/`` (the orders and reports merged with the code) and the
   files ``wo-git init`` wrote (``.wo-git.toml``, ``AGENTS.md``,
   ``.claude/skills/wo-git/SKILL.md``, ``.pre-commit-config.yaml``). A
   project whose sdists ship any of those cannot be used here: the demo says
   so and stops.

With ``--plan`` steps 3 and 4 are one plan (``wo-git plan apply``): a ticket
per bump, each ``after`` the previous, in three phases, and the CI ticket
after the last; the demo is the architect, woken by ``wo-git wait --plan``
for each decision (accept each ``ready`` ticket, reject the guard-rejected one).

Exit status 0 when every check holds, 1 when one fails, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sdists  # noqa: E402

MAILBOX = "work-orders/"


class DemoFailed(Exception):
    """A check of the demo did not hold."""


@dataclass
class Timings:
    steps: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.steps[name] = self.steps.get(name, 0.0) + seconds


def say(line: str = "") -> None:
    print(line, flush=True)


def indent(text: str, prefix: str = "      | ") -> str:
    return "\n".join(prefix + ln for ln in text.rstrip("\n").splitlines())


class Demo:
    def __init__(self, workdir: Path, wo_git: str) -> None:
        self.workdir = workdir
        self.wo_git = wo_git
        self.timings = Timings()
        self.checks: list[str] = []
        gitconfig = workdir / "gitconfig"
        # A private global git config: the demo behaves the same whatever the
        # user's ~/.gitconfig says (signing, hooksPath, templates, identity).
        gitconfig.write_text(
            "[user]\n\tname = Demo Architect\n\temail = architect@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
            "[advice]\n\tdetachedHead = false\n"
        )
        self.env = dict(os.environ)
        self.env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
        self.env["GIT_CONFIG_NOSYSTEM"] = "1"
        # wo-git and the executor's python come from the same environment.
        self.env["PATH"] = os.pathsep.join([str(Path(wo_git).parent), self.env.get("PATH", "")])
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            self.env.pop(var, None)
        self.repo = workdir / "repo"
        self.elapsed = 0.0
        self.own_files: list[str] = []

    # --- running things -------------------------------------------------
    def sh(self, *argv: str, cwd: Path | None = None, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, cwd=cwd or self.repo, env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode not in ok:
            raise DemoFailed(
                f"`{' '.join(argv)}` exited {proc.returncode} (expected {ok}):\n" + indent(proc.stdout + proc.stderr)
            )
        return proc

    def git(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        return self.sh("git", *args, ok=ok).stdout

    def wo(self, *args: str, ok: tuple[int, ...] = (0,), timing: str | None = None) -> subprocess.CompletedProcess[str]:
        t = time.monotonic()
        proc = self.sh(self.wo_git, *args, ok=ok)
        if timing:
            self.timings.add(timing, time.monotonic() - t)
        self.elapsed = time.monotonic() - t  # of the last wo-git command, for the printout
        return proc

    def check(self, cond: bool, what: str) -> None:
        if not cond:
            raise DemoFailed(f"check failed: {what}")
        self.checks.append(what)

    # --- the story ------------------------------------------------------
    def fetch(self, project: str, bumps: int) -> list[tuple[str, Path]]:
        t = time.monotonic()
        say(f"==> Fetching {bumps + 1} released versions of {project} from PyPI")
        versions = sdists.released_versions(project)
        chosen: list[tuple[str, Path]] = []
        skipped: list[str] = []
        helper: str | None = None
        pending = list(reversed(versions))
        while pending and len(chosen) < bumps + 1:
            batch, pending = pending[: bumps + 1 - len(chosen)], pending[bumps + 1 - len(chosen) :]
            try:
                got = sdists.fetch_many(project, batch, log=say)
                chosen.extend(got.items())
            except RuntimeError:
                # Some old sdist does not prepare on this Python: fetch one by one, skip the failures.
                helper = helper or sdists.helper_python(say)
                for v in batch:
                    try:
                        chosen.append((v, sdists.fetch(project, v, helper)))
                    except RuntimeError:
                        skipped.append(v)
        if len(chosen) < 2:
            raise DemoFailed(f"could not download two releases of {project}")
        chosen.sort(key=lambda vp: versions.index(vp[0]))
        if skipped:
            say(f"    skipped (pip could not prepare them on this Python): {', '.join(skipped)}")
        releases: list[tuple[str, Path]] = []
        for v, archive in chosen:
            releases.append((v, sdists.unpack(archive, self.workdir / "releases" / v)))
        self.timings.add("download + unpack", time.monotonic() - t)
        say(f"    {project} {' -> '.join(v for v, _ in releases)}  ({time.monotonic() - t:.1f} s)")
        return releases

    def build_base(self, project: str, version: str, release: Path) -> None:
        t = time.monotonic()
        say(f"==> Building the repository at {self.repo}")
        self.repo.mkdir()
        self.git("init", "-q", "-b", "main")
        shutil.copytree(release, self.repo, symlinks=True, dirs_exist_ok=True)
        self.git("add", "-A", "-f")  # -f: sdists ship files a .gitignore may name (*.egg-info)
        self.git("commit", "-q", "-m", f"{project} {version}\n\nFiles of the {project} {version} sdist from PyPI.")
        n = len(self.git("ls-files").splitlines())
        say(f"    base commit: {project} {version}, {n} files")
        # Adopt wo-git: the architect writes and commits the policy files. The guard
        # hook is installed at once; outside a ticket worktree it checks only secrets,
        # so the architect's own commit of control files goes through it.
        self.wo("init")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "Adopt wo-git (wo-git init)")
        self.own_files = sorted(self.git("diff", "--name-only", "HEAD~1", "HEAD").split())
        say(f"    wo-git init: {', '.join(self.own_files)} committed; guard hook installed")
        self.timings.add("build repository", time.monotonic() - t)

    def ticket(self, slug: str, title: str, task: str, criteria: list[str]) -> dict:
        args = ["open", slug, "--title", title, "--task", task, "--json"]
        for c in criteria:
            args += ["--criteria", c]
        return json.loads(self.wo(*args, timing="open").stdout)

    def packet_excerpt(self, tid: int, full: bool) -> str:
        text = self.wo("show", str(tid), timing="show").stdout
        lines = text.rstrip("\n").splitlines()
        if full:  # `show` is bounded already (the full diff is `wo-git diff`)
            return "\n".join(lines)
        keep: list[str] = []
        for ln in lines:
            s = ln.strip()
            if s.startswith(("ticket ", "state ", "- Status", "- Files", "Diffstat", "Guard", "- What I")):
                keep.append(ln)
        return "\n".join(keep)

    def bump(self, n: int, total: int, project: str, old: str, new: str, release: Path) -> None:
        t = time.monotonic()
        say(f"==> [{n}/{total}] {project} {old} -> {new}")
        opened = self.ticket(
            f"bump-{old}-to-{new}",
            f"Update {project} from {old} to {new}",
            f"Bring the tree to the released files of {project} {new} (its PyPI sdist), "
            "byte for byte: additions, deletions, renames, executable bits.",
            [f"`git ls-tree -r` equals the {project} {new} sdist", "Report lists what changed"],
        )
        tid = opened["id"]
        say(f"    open    ticket {tid:04d} on {opened['branch']}; order {opened['work_file']}")
        keep = [a for f in self.own_files for a in ("--keep", f)]
        self.wo(
            "run",
            str(tid),
            "--",
            sys.executable,
            str(HERE / "apply_release.py"),
            str(release),
            "--label",
            f"{project} {new}",
            *keep,
            timing="run",
        )
        run_secs = self.elapsed
        info = json.loads(self.wo("show", str(tid), "--json", timing="show").stdout)
        ds = info.get("diffstat") or {}
        say(
            f"    run     {info['status']}: {ds.get('files', '?')} files changed, "
            f"+{ds.get('added', '?')} -{ds.get('removed', '?')}  ({run_secs:.1f} s)"
        )
        self.check(info["status"] == "COMPLETED", f"ticket {tid:04d} reported COMPLETED")
        self.check(info["state"] == "reported", f"ticket {tid:04d} is reported")
        say("    show    the review packet:")
        say(indent(self.packet_excerpt(tid, full=(n == 1))))
        acc = self.wo("accept", str(tid), timing="accept")
        say(f"    accept  {acc.stdout.strip().splitlines()[0]}  ({self.elapsed:.1f} s)")
        state = json.loads(self.wo("show", str(tid), "--json").stdout)["state"]
        self.check(state == "accepted", f"ticket {tid:04d} is accepted")
        self.compare(release, f"{project} {new}", quiet=True)
        self.timings.add("tickets, wall clock", time.monotonic() - t)

    def refused_ticket(self) -> int:
        t = time.monotonic()
        say("==> The refused ticket: an executor that also edits CI")
        before = self.git("rev-parse", "main").strip()
        opened = self.ticket(
            "document-ci",
            "Document how the tests run",
            "Add one line to the README about running the tests. Do not touch CI or deploy files.",
            ["README says how tests run"],
        )
        tid = opened["id"]
        say(f"    open    ticket {tid:04d} on {opened['branch']}")
        run = self.wo(
            "run", str(tid), "--", sys.executable, str(HERE / "apply_release.py"), "--sneak-ci", ok=(3,), timing="run"
        )
        run_secs = self.elapsed
        info = json.loads(self.wo("show", str(tid), "--json").stdout)
        say(f"    run     exit {run.returncode}, {info['status']}  ({run_secs:.1f} s)")
        self.check(run.returncode == 3, "run of the CI ticket exits 3 (guard rejection)")
        self.check(info["status"] == "GUARD_REJECTED", "the CI ticket's report is GUARD_REJECTED")
        self.check(
            any(".github/workflows/ci.yml" in str(v) for v in info.get("violations", [])),
            "the verdict names .github/workflows/ci.yml",
        )
        say("    show    the review packet:")
        say(indent(self.packet_excerpt(tid, full=True)))
        acc = self.wo("accept", str(tid), ok=(3,), timing="accept")
        say(f"    accept  refused, exit {acc.returncode}: {acc.stderr.strip().splitlines()[0][:150]}")
        self.check(acc.returncode == 3, "accept of the CI ticket exits 3")
        self.check(self.git("rev-parse", "main").strip() == before, "main did not move")
        rej = self.wo("reject", str(tid), "--reason", "edits a CI workflow, which the order did not ask for")
        say(f"    reject  {rej.stdout.strip().splitlines()[0] if rej.stdout.strip() else 'done'}")
        self.check(self.git("rev-parse", "main").strip() == before, "main did not move on reject")
        in_tree = self.sh("git", "cat-file", "-e", "main:.github/workflows/ci.yml", ok=(0, 128)).returncode == 0
        self.check(not in_tree, "main's tree has no .github/workflows/ci.yml")
        ever = self.git("log", "--all-match", "--format=%H", "main", "--", ".github").strip()
        self.check(ever == "", "no commit reachable from main ever touched .github/")
        self.timings.add("tickets, wall clock", time.monotonic() - t)
        return tid

    def as_plan(self, project: str, releases: list[tuple[str, Path]]) -> int:
        """The same release history as one plan: one ticket per bump, each after the previous,
        in three phases, plus the CI ticket; the demo is the architect woken by `wait --plan`."""
        import yaml

        t = time.monotonic()
        say("==> The release history as one plan")
        pairs = list(zip(releases, releases[1:], strict=False))
        keep = [a for f in self.own_files for a in ("--keep", f)]
        phases = ["early", "middle", "late"]
        entries: list[dict[str, object]] = []
        prev: str | None = None
        by_key: dict[str, tuple[str, Path]] = {}
        for i, ((old, _), (new, rel)) in enumerate(pairs):
            key = f"bump-{old}-to-{new}".lower()
            by_key[key] = (new, rel)
            entries.append({
                "key": key, "phase": phases[min(2, i * 3 // len(pairs))],
                "title": f"Update {project} from {old} to {new}",
                "task": f"Bring the tree to the released files of {project} {new} (its PyPI sdist), "
                        "byte for byte: additions, deletions, renames, executable bits.",
                "criteria": [f"`git ls-tree -r` equals the {project} {new} sdist", "Report lists what changed"],
                "argv": [sys.executable, str(HERE / "apply_release.py"), str(rel), "--label",
                         f"{project} {new}", *keep],
                "after": [prev] if prev else [],
            })
            prev = key
        entries.append({
            "key": "document-ci", "phase": "late", "title": "Document how the tests run",
            "task": "Add one line to the README about running the tests. Do not touch CI or deploy files.",
            "criteria": ["README says how tests run"], "after": [prev],
            "argv": [sys.executable, str(HERE / "apply_release.py"), "--sneak-ci"],
        })
        plan = {"name": "releases", "base": "main", "phases": phases, "tickets": entries}
        path = self.workdir / "releases-plan.yaml"
        path.write_text(yaml.safe_dump(plan, sort_keys=False))
        out = self.wo("plan", "apply", str(path), timing="open").stdout
        say(indent(out))
        self.check(self.git("rev-parse", "--verify", "-q", "refs/wo/plans/releases").strip() != "",
                   "the plan is recorded on refs/wo/plans/releases")
        first = self.wo("plan", "show", "releases").stdout
        say(indent("\n".join(first.splitlines()[:6]) + "\n...", "    "))
        woken: list[str] = []
        refused = 0
        while True:
            st = json.loads(self.wo("wait", "--plan", "releases", "--json", timing="run").stdout)
            if st["done"]:
                break
            self.check(bool(st["decisions"]) and not st["stuck"], "wait --plan returns only for a decision")
            for d in st["decisions"]:
                key, tid, what = d["key"], d["ticket"], d["decision"]
                woken.append(f"{key}: {what}")
                say(f"    wait    {key} ({tid:04d}) needs the architect: {what} ({d['detail']})")
                if key == "document-ci":
                    self.check(what == "guard-rejected", "the CI ticket is guard-rejected")
                    acc = self.wo("accept", str(tid), ok=(3,), timing="accept")
                    self.check(acc.returncode == 3, "accept of the CI ticket exits 3")
                    self.wo("reject", str(tid), "--reason", "edits a CI workflow, which the order did not ask for")
                    say(f"    reject  {tid:04d}")
                    refused = tid
                    continue
                self.check(what == "ready", f"{key} is ready to accept")
                acc = self.wo("accept", str(tid), timing="accept")
                say(f"    accept  {acc.stdout.strip().splitlines()[0]}")
                new, rel = by_key[key]
                self.compare(rel, f"{project} {new}", quiet=True)
        self.check(len(woken) == len(entries), "the architect was woken once per ticket, for its decision only")
        say(f"    woken {len(woken)} times for {len(entries)} tickets")
        show = self.wo("plan", "show", "releases").stdout
        say(indent(show, "    "))
        info = json.loads(self.wo("plan", "show", "releases", "--json").stdout)
        self.check(info["done"], "the plan is done")
        ever = self.git("log", "--all-match", "--format=%H", "main", "--", ".github").strip()
        self.check(ever == "", "no commit reachable from main ever touched .github/")
        self.timings.add("tickets, wall clock", time.monotonic() - t)
        return refused

    def compare(self, release: Path, label: str, quiet: bool = False) -> None:
        """The base's tree equals the release's files: paths, bytes, modes."""
        tree: dict[str, tuple[str, str]] = {}
        for entry in self.git("ls-tree", "-r", "-z", "main").split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            mode, _kind, oid = meta.split()
            tree[path] = (mode, oid)
        own = set(self.own_files)
        ignored = sorted(p for p in tree if p.startswith(MAILBOX) or p in own)
        for p in ignored:
            del tree[p]
        want: dict[str, tuple[str, bytes]] = {}
        for dirpath, _dirs, files in os.walk(release):
            for f in files:
                full = Path(dirpath) / f
                rel = full.relative_to(release).as_posix()
                if full.is_symlink():
                    want[rel] = ("120000", os.readlink(full).encode())
                else:
                    mode = "100755" if full.stat().st_mode & 0o111 else "100644"
                    want[rel] = (mode, full.read_bytes())
            for d in _dirs:
                if (Path(dirpath) / d).is_symlink():
                    full = Path(dirpath) / d
                    want[full.relative_to(release).as_posix()] = ("120000", os.readlink(full).encode())
        clash = sorted(set(want) & (own | {p for p in want if p.startswith(MAILBOX)}))
        if clash:
            raise DemoFailed(f"{label} ships wo-git's own files ({', '.join(clash)}); choose another project")
        missing = sorted(set(want) - set(tree))
        extra = sorted(set(tree) - set(want))
        paths = sorted(set(want) & set(tree))
        bad_bytes: list[str] = []
        bad_mode: list[str] = []
        # Compare object ids: git hash-object over each path's bytes.
        oids = self._hash_many([want[p][1] for p in paths])
        for p, oid in zip(paths, oids, strict=True):
            if tree[p][1] != oid:
                bad_bytes.append(p)
            if tree[p][0] != want[p][0]:
                bad_mode.append(f"{p} ({tree[p][0]} != {want[p][0]})")
        problems = []
        for name, items in (
            ("missing from main", missing),
            ("extra on main", extra),
            ("different bytes", bad_bytes),
            ("different mode", bad_mode),
        ):
            if items:
                problems.append(f"{name}: {', '.join(items[:10])}" + (" ..." if len(items) > 10 else ""))
        if problems:
            raise DemoFailed(f"main's tree differs from {label}:\n  " + "\n  ".join(problems))
        self.checks.append(f"main's tree equals {label}")
        if not quiet:
            n_exec = sum(1 for m, _ in want.values() if m == "100755")
            n_link = sum(1 for m, _ in want.values() if m == "120000")
            say(
                f"    main's tree equals {label}: {len(want)} files, identical paths, bytes and modes "
                f"({n_exec} executable, {n_link} symlinks); left out as wo-git's own: "
                f"{len([p for p in ignored if p.startswith(MAILBOX)])} files under {MAILBOX}, "
                f"{', '.join(self.own_files)}"
            )

    def _hash_many(self, blobs: list[bytes]) -> list[str]:
        """Git object ids of raw bytes (no filters), as `git hash-object --no-filters` computes them."""
        import hashlib

        fmt = self.git("rev-parse", "--show-object-format").strip() or "sha1"
        out = []
        for data in blobs:
            h = hashlib.new("sha256" if fmt == "sha256" else "sha1")
            h.update(b"blob %d\0" % len(data))
            h.update(data)
            out.append(h.hexdigest())
        return out


def find_wo_git() -> str:
    cand = Path(sys.executable).parent / "wo-git"
    if cand.exists():
        return str(cand)
    found = shutil.which("wo-git")
    if not found:
        sys.exit("wo-git is not installed in this environment (pip install -e .)")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Replay a real project's PyPI releases as wo-git tickets.")
    ap.add_argument("--project", default="toolz", help="PyPI project with small pure-Python sdists (toolz)")
    ap.add_argument("--versions", type=int, default=8, metavar="N", help="number of version bumps (8)")
    ap.add_argument("--dir", type=Path, help="work here (must be empty or absent; kept afterwards)")
    ap.add_argument("--plan", action="store_true",
                    help="apply the history as one wo-git plan (wait --plan wakes the architect)")
    args = ap.parse_args(argv)
    if args.versions < 1:
        ap.error("--versions must be at least 1")

    started = time.monotonic()
    if args.dir:
        workdir = args.dir.resolve()
        if workdir.exists() and any(workdir.iterdir()):
            ap.error(f"{workdir} is not empty")
        workdir.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        workdir = Path(tempfile.mkdtemp(prefix="wo-git-demo-"))
        keep = False
    demo = Demo(workdir, find_wo_git())
    say(f"wo-git main job: {args.project}'s real release history, one ticket per version bump")
    say(f"(working in {workdir}; wo-git is {demo.wo_git})")
    say()
    ok = False
    try:
        releases = demo.fetch(args.project, args.versions)
        first_v, first_dir = releases[0]
        demo.build_base(args.project, first_v, first_dir)
        pairs = list(zip(releases, releases[1:], strict=False))
        if args.plan:
            refused = demo.as_plan(args.project, releases)
        else:
            for i, ((old, _), (new, rel)) in enumerate(pairs, 1):
                demo.bump(i, len(pairs), args.project, old, new, rel)
            refused = demo.refused_ticket()
        say("==> Final check")
        last_v, last_dir = releases[-1]
        demo.compare(last_dir, f"{args.project} {last_v}")
        status = demo.git("status", "--porcelain").strip()
        demo.check(status == "", "the main working tree is clean and matches main")
        say("    main's working tree is clean and up to date")
        say()
        say("==> wo-git list --all")
        say(indent(demo.wo("list", "--all").stdout, "    "))
        say(f"==> wo-git log {refused}  (the refused ticket's audit trail, from commit trailers)")
        say(indent(demo.wo("log", str(refused)).stdout, "    "))
        ok = True
    except DemoFailed as err:
        say()
        say(f"DEMO FAILED: {err}")
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    total = time.monotonic() - started
    say()
    say("==> Summary")
    say(f"    {len(demo.checks)} checks passed" + ("" if ok else ", then one FAILED (above)"))
    for name, secs in demo.timings.steps.items():
        say(f"    {name:<20} {secs:7.1f} s")
    say(f"    {'total':<20} {total:7.1f} s")
    if ok:
        say(
            f"    OK: {args.versions} releases applied through wo-git tickets"
            f"{' (one plan)' if args.plan else ''}, the CI edit refused; "
            f"main == the last release"
        )
    if keep or not ok:
        say(f"    the repository is kept at {demo.repo}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
