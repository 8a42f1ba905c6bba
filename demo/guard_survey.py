#!/usr/bin/env python3
"""The guard's false-positive survey over real history.

Builds a git repository with one commit per released version of real
projects (their PyPI source distributions, as the main job does; cached under
``$WO_DEMO_CACHE``), then runs ``wo-git guard --range ROOT..HEAD --json`` over
every commit and times it. The root commit is empty, so the first release's
files are checked too. Each project lives in its own folder
(``boto3/...``), its versions committed oldest first.

Every violation is printed with its commit, path, category and rule, and
sorted into a verdict:

- ``true positive``: the commit really touches a protected path, or really
  contains a key (``EXPECTED`` below names the ones we know of and why);
- ``FALSE POSITIVE``: anything else. A false positive is a guard bug to fix in
  ``src/wo_git/guard/policy.py`` or ``content.py`` (with a test), never by
  listing it here.

Exit status: 0 when every violation is an expected true positive, 1 when a
false positive (or an expected one that no longer shows) remains.

    demo/guard_survey.py                          # boto3:300 certifi:60 toolz:30
    demo/guard_survey.py --series boto3:300 --series pyjwt:60
    demo/guard_survey.py --dir /tmp/survey        # keep the repository
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
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sdists  # noqa: E402

# Violations that are right, keyed by (project, path inside the project's
# sdist, rule): why each is a true positive. Anything not here is a false
# positive to fix in the guard.
EXPECTED: dict[tuple[str, str, str], str] = {}

DEFAULT_SERIES = ("boto3:300", "certifi:60", "toolz:30")


def say(line: str = "") -> None:
    print(line, flush=True)


def git(repo: Path, *args: str, env: dict[str, str], input_: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, env=env, input=input_, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def parse_series(specs: list[str]) -> list[tuple[str, int]]:
    out = []
    for spec in specs:
        name, _, n = spec.partition(":")
        out.append((name, int(n) if n else 100))
    return out


def fetch_series(name: str, count: int) -> list[tuple[str, Path]]:
    """The newest ``count`` releases of ``name`` that pip can fetch, oldest first."""
    versions = sdists.released_versions(name)
    picked = versions[-count:]
    try:
        got = sdists.fetch_many(name, picked, log=say, workers=8)
        return [(v, got[v]) for v in picked]
    except RuntimeError:
        helper = sdists.helper_python(say)
        out = []
        for v in picked:
            try:
                out.append((v, sdists.fetch(name, v, helper)))
            except RuntimeError:
                say(f"    skipped {name} {v}: pip could not prepare it on this Python")
        return out


def build(repo: Path, series: list[tuple[str, list[tuple[str, Path]]]], env: dict[str, str]) -> tuple[str, int]:
    """One commit per release; returns (root commit, number of release commits)."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main", env=env)
    git(repo, "commit", "-q", "--allow-empty", "-m", "survey root (empty)", env=env)
    root = git(repo, "rev-parse", "HEAD", env=env).strip()
    scratch = repo.parent / "unpacked"
    n = 0
    for name, releases in series:
        for version, archive in releases:
            top = sdists.unpack(archive, scratch)
            dest = repo / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(top, dest, symlinks=True)
            # -f: sdists ship files a .gitignore names (*.egg-info, PKG-INFO)
            git(repo, "add", "-A", "-f", "--", name, env=env)
            git(repo, "commit", "-q", "--allow-empty", "-m", f"{name} {version}", env=env)
            n += 1
            if n % 50 == 0:
                say(f"    {n} commits")
    shutil.rmtree(scratch, ignore_errors=True)
    return root, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the guard over hundreds of real release commits.")
    ap.add_argument(
        "--series",
        action="append",
        metavar="PROJECT:N",
        help=f"newest N releases of PROJECT (repeatable; default {' '.join(DEFAULT_SERIES)})",
    )
    ap.add_argument("--dir", type=Path, help="work here (kept afterwards)")
    ap.add_argument("--json-out", type=Path, help="write the guard's JSON here")
    args = ap.parse_args(argv)
    series_spec = parse_series(args.series or list(DEFAULT_SERIES))

    wo_git = str(Path(sys.executable).parent / "wo-git")
    if not Path(wo_git).exists():
        wo_git = shutil.which("wo-git") or sys.exit("wo-git is not installed")
    workdir = args.dir.resolve() if args.dir else Path(tempfile.mkdtemp(prefix="wo-git-survey-"))
    workdir.mkdir(parents=True, exist_ok=True)
    gitconfig = workdir / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Survey\n\temail = survey@example.invalid\n[commit]\n\tgpgsign = false\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1"}
    repo = workdir / "repo"
    if repo.exists():
        shutil.rmtree(repo)

    t0 = time.monotonic()
    say("==> Fetching releases from PyPI (cached in " + str(sdists.cache_dir()) + ")")
    series = []
    for name, count in series_spec:
        rel = fetch_series(name, count)
        say(f"    {name}: {len(rel)} releases, {rel[0][0]} .. {rel[-1][0]}")
        series.append((name, rel))
    t_fetch = time.monotonic() - t0

    t0 = time.monotonic()
    say(f"==> Building {repo}: one commit per release")
    root, n_commits = build(repo, series, env)
    t_build = time.monotonic() - t0
    say(f"    {n_commits} commits on top of an empty root ({t_build:.1f} s)")

    say("==> wo-git guard --range ROOT..HEAD --json")
    t0 = time.monotonic()
    proc = subprocess.run(
        [wo_git, "guard", "--range", f"{root}..HEAD", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    t_guard = time.monotonic() - t0
    if proc.returncode not in (0, 3):
        say(proc.stdout + proc.stderr)
        return 2
    report = json.loads(proc.stdout)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    t0 = time.monotonic()
    subprocess.run(
        ["git", "log", "--format=%H", "--name-status", "-M", f"{root}..HEAD"],
        cwd=repo,
        env=env,
        capture_output=True,
        check=True,
    )
    t_names = time.monotonic() - t0
    t0 = time.monotonic()
    subprocess.run(
        ["git", "log", "--format=%H", "-p", "-M", f"{root}..HEAD"], cwd=repo, env=env, capture_output=True, check=True
    )
    t_patch = time.monotonic() - t0
    changed = subprocess.run(
        ["git", "log", "--format=", "--name-only", f"{root}..HEAD"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    n_paths = sum(1 for p in changed if p)
    say(
        f"    exit {proc.returncode}; {len(report['violations'])} violation(s) in {t_guard:.1f} s "
        f"({n_commits} commits, {n_paths} changed paths; git log --name-status -M {t_names:.1f} s, "
        f"git log -p -M {t_patch:.1f} s)"
    )

    subjects = dict(
        line.split(" ", 1) for line in git(repo, "log", "--format=%H %s", f"{root}..HEAD", env=env).splitlines()
    )
    false_pos: list[str] = []
    seen_expected: set[tuple[str, str, str]] = set()
    by_key: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for v in report["violations"]:
        project, _, inner = v["path"].partition("/")
        by_key[(project, inner, v["category"], v["rule"])].append(subjects.get(v["where"], v["where"][:10]))
    for (project, inner, category, rule), where in sorted(by_key.items()):
        why = EXPECTED.get((project, inner, rule))
        verdict = "true positive" if why else "FALSE POSITIVE"
        if why:
            seen_expected.add((project, inner, rule))
        else:
            false_pos.append(f"{project}/{inner} ({category} / {rule})")
        say(
            f"    [{verdict}] {project}/{inner}: {category} / {rule}; in {len(where)} commit(s), "
            f"first {where[-1]}" + (f": {why}" if why else "")
        )
    missing = [k for k in EXPECTED if k[0] in dict(series_spec) and k not in seen_expected]
    for k in missing:
        say(f"    [MISSED] expected {k[0]}/{k[1]} ({k[2]}): {EXPECTED[k]}")

    # Canary: the fixes must not blind the guard. One commit on a side branch
    # adds what must still be refused next to the real files.
    say("==> Canary: a commit the guard must refuse (side branch, not part of the survey)")
    git(repo, "checkout", "-q", "-b", "canary", env=env)
    canary = repo / "canary"
    (canary / ".github" / "workflows").mkdir(parents=True)
    (canary / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    key_id = "AKIA" + "Q3EGRT7KZ5WJX2MB"  # assembled: not a literal key in this file
    (canary / "settings.py").write_text(f"AWS_ACCESS_KEY_ID = '{key_id}'\n")
    bundle = next(repo.glob("certifi/certifi/cacert.pem"), None)
    pem = (bundle.read_text() if bundle else "") + "-----BEGIN RSA " + "PRIVATE KEY-----\n" + "MIIEow" * 20 + "\n"
    (canary / "cacert.pem").write_text(pem)
    git(repo, "add", "-A", "-f", "--", "canary", env=env)
    git(repo, "commit", "-q", "-m", "canary", env=env)
    git(repo, "checkout", "-q", "main", env=env)
    proc = subprocess.run(
        [wo_git, "guard", "--range", "main..canary", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    got = {(v["path"], v["rule"]) for v in json.loads(proc.stdout)["violations"]} if proc.stdout else set()
    must = {
        ("canary/.github/workflows/ci.yml", "**/.github/workflows/**"),
        ("canary/settings.py", "content: aws-access-token"),
        ("canary/cacert.pem", "*.pem"),
        ("canary/cacert.pem", "content: private-key"),
    }
    canary_ok = proc.returncode == 3 and must <= got
    for path, rule in sorted(must):
        say(f"    {'caught' if (path, rule) in got else 'MISSED'}: {path} ({rule})")

    say()
    say("==> Summary")
    say(f"    projects: {', '.join(f'{n} ({len(r)} releases)' for n, r in series)}")
    say(f"    commits checked: {n_commits}; changed paths: {n_paths}")
    say(
        f"    guard time: {t_guard:.1f} s ({t_guard / max(n_commits, 1) * 1000:.0f} ms per commit); "
        f"git log --name-status -M: {t_names:.1f} s; git log -p -M: {t_patch:.1f} s"
    )
    say(f"    fetch {t_fetch:.1f} s, build {t_build:.1f} s")
    cats = Counter(v["category"] for v in report["violations"])
    say(
        f"    violations: {len(report['violations'])} {dict(cats) if cats else ''}; "
        f"false positives: {len(false_pos)}; expected true positives seen: {len(seen_expected)}"
    )
    if not args.dir:
        shutil.rmtree(workdir, ignore_errors=True)
    say(f"    canary: {'all caught' if canary_ok else 'NOT all caught'}")
    return 1 if false_pos or missing or not canary_ok else 0


if __name__ == "__main__":
    sys.exit(main())
