#!/usr/bin/env python3
"""The demo's executor: make the ticket's worktree equal to a release's files.

Run by ``wo-git run ID -- python demo/apply_release.py RELEASE_DIR``. It is an
ordinary ``command`` executor: it works in its current directory (the ticket's
worktree, also ``$WO_WORKTREE``), changes files, and writes its report at the
exact path wo-git gave it (``$WO_REPORT_FILE``). It does not commit (wo-git's
post-run hook commits the changes and the report together), except for files
the project's own ``.gitignore`` would hide from ``git add -A`` (sdists often
ship ``*.egg-info/``): those it adds with ``git add -f`` and commits itself,
the way a careful person would.

What it does to the worktree, relative to ``RELEASE_DIR``:

- files missing from the release are deleted (empty folders pruned);
- new and changed files are written byte for byte;
- the executable bit follows the release (``100755`` / ``100644``);
- symlinks are recreated with the release's target; a file that becomes a
  symlink (or back) is replaced;
- a deleted file whose exact bytes reappear under a new name is reported as a
  rename (git's own rename detection sees the same thing).

Never touched: ``.git``, wo-git's mailbox folder (found from
``$WO_WORK_FILE``), and every ``--keep PATH`` (wo-git's own files on the base,
such as ``.wo-git.toml``).

``--sneak-ci`` is for the demo's refused ticket: besides a harmless README
line it adds a CI workflow, which the guard must refuse.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _env_path(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"apply_release: ${name} is not set (run me through `wo-git run ID -- ...`)")
    return Path(value)


def _walk(root: Path, skip: set[str], skip_dirs: tuple[str, ...]) -> dict[str, Path]:
    """Every file and symlink under root, keyed by its POSIX path relative to root.

    ``.git`` is skipped whether it is a folder or, in a linked worktree, a file.
    """
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        keep_dirs = []
        for d in dirnames:
            rel = rel_dir + d
            full = Path(dirpath) / d
            if rel == ".git" or any(rel == s.rstrip("/") or rel.startswith(s) for s in skip_dirs):
                continue
            if full.is_symlink():  # a symlink to a folder is a symlink, not a folder
                found[rel] = full
                continue
            keep_dirs.append(d)
        dirnames[:] = keep_dirs
        for f in filenames:
            rel = rel_dir + f
            if rel == ".git" or rel in skip or any(rel.startswith(s) for s in skip_dirs):
                continue
            found[rel] = Path(dirpath) / f
    return found


def _kind(p: Path) -> tuple[str, bytes]:
    """('link', target) or ('exec'|'file', content)."""
    if p.is_symlink():
        return "link", os.readlink(p).encode()
    mode = p.stat().st_mode
    return ("exec" if mode & 0o111 else "file"), p.read_bytes()


def _digest(kind_data: tuple[str, bytes]) -> str:
    return hashlib.sha256(kind_data[0].encode() + b"\0" + kind_data[1]).hexdigest()


def _remove(p: Path) -> None:
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)


def _prune_empty(root: Path, start: Path) -> None:
    d = start
    while d != root and d.is_dir() and not any(d.iterdir()):
        d.rmdir()
        d = d.parent


def _write(dest: Path, kind: str, data: bytes) -> None:
    # A parent that is a file or symlink in the old tree must give way.
    for parent in reversed(dest.parents):
        if parent.is_symlink() or parent.is_file():
            parent.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
    if kind == "link":
        os.symlink(data.decode(), dest)
        return
    dest.write_bytes(data)
    dest.chmod(0o755 if kind == "exec" else 0o644)


def sync(worktree: Path, release: Path, keep: set[str], keep_dirs: tuple[str, ...]) -> dict[str, list[str]]:
    """Make worktree's files equal to release's; returns what changed, by kind."""
    have = _walk(worktree, keep, keep_dirs)
    want = _walk(release, set(), ())
    changes: dict[str, list[str]] = {k: [] for k in ("added", "modified", "deleted", "renamed", "mode", "type")}
    gone = sorted(set(have) - set(want))
    gone_by_digest = {_digest(_kind(have[p])): p for p in gone}
    for rel in sorted(set(want)):
        new = _kind(want[rel])
        if rel in have:
            old = _kind(have[rel])
            if old == new:
                continue
            if old[1] == new[1] and {old[0], new[0]} == {"file", "exec"}:
                changes["mode"].append(f"{rel} ({'+x' if new[0] == 'exec' else '-x'})")
            elif (old[0] == "link") != (new[0] == "link"):
                changes["type"].append(f"{rel} ({old[0]} -> {new[0]})")
            else:
                changes["modified"].append(rel)
        else:
            src = gone_by_digest.get(_digest(new))
            if src is not None:
                changes["renamed"].append(f"{src} -> {rel}")
            else:
                changes["added"].append(rel)
        _write(worktree / rel, *new)
    renamed_from = {r.split(" -> ")[0] for r in changes["renamed"]}
    for rel in gone:
        if not (worktree / rel).is_symlink() and not (worktree / rel).exists():
            continue  # already replaced by a folder of the same name
        if rel in want:
            continue
        _remove(worktree / rel)
        _prune_empty(worktree, (worktree / rel).parent)
        if rel not in renamed_from:
            changes["deleted"].append(rel)
    return changes


def commit_ignored(worktree: Path, release_paths: list[str]) -> list[str]:
    """``git add -f`` and commit release files the project's .gitignore hides."""
    if not release_paths:
        return []
    out = subprocess.run(
        ["git", "-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", "-z", "--stdin"],
        cwd=worktree,
        input="\0".join(release_paths).encode() + b"\0",
        capture_output=True,
        check=False,
    )
    ignored = [p for p in out.stdout.decode().split("\0") if p]
    if not ignored:
        return []
    subprocess.run(["git", "add", "-f", "--", *ignored], cwd=worktree, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=worktree, check=False)
    if staged.returncode == 0:
        return []  # already tracked and unchanged
    subprocess.run(
        ["git", "commit", "-q", "-m", "Add release files that .gitignore hides (e.g. *.egg-info)"],
        cwd=worktree,
        check=True,
    )
    return ignored


def _listing(items: list[str], limit: int = 8) -> str:
    if not items:
        return "none"
    shown = ", ".join(f"`{i}`" for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def report_header(report: Path) -> str:
    # w02-report.md -> "W02"
    return report.name.split("-", 1)[0].upper()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("release", type=Path, nargs="?", help="unpacked release folder to copy")
    ap.add_argument("--keep", action="append", default=[], help="path never to touch (repeatable)")
    ap.add_argument("--label", default=None, help="how to name the release in the report")
    ap.add_argument("--sneak-ci", action="store_true", help="also add a CI workflow (must be refused)")
    args = ap.parse_args(argv)

    worktree = Path.cwd()
    report = _env_path("WO_REPORT_FILE")
    work_file = _env_path("WO_WORK_FILE")
    mailbox = work_file.resolve().relative_to(worktree.resolve()).parts[0] + "/"
    keep = set(args.keep)
    report.parent.mkdir(parents=True, exist_ok=True)

    if args.sneak_ci:
        readme = next((p for p in ("README.rst", "README.md", "README") if (worktree / p).exists()), "README.md")
        with open(worktree / readme, "a", encoding="utf-8") as fh:
            fh.write("\nContinuous integration runs the test-suite on every push.\n")
        wf = worktree / ".github" / "workflows" / "ci.yml"
        wf.parent.mkdir(parents=True, exist_ok=True)
        wf.write_text(
            "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
            "    steps:\n      - uses: actions/checkout@v4\n      - run: python -m pytest\n"
        )
        report.write_text(
            f"# {report_header(report)} - Report\n"
            "- Status: COMPLETED\n"
            f"- Files: `{readme}`, `.github/workflows/ci.yml`\n"
            "- What I implemented: documented CI in the README and, while at it,"
            " added a GitHub Actions workflow that runs the tests.\n"
            "- How to test: push and watch the workflow.\n"
            "- Notes/questions: none\n"
        )
        print(f"apply_release: appended a line to {readme}; added .github/workflows/ci.yml")
        return 0

    if args.release is None or not args.release.is_dir():
        ap.error("RELEASE_DIR must be an unpacked release folder")
    release = args.release.resolve()
    label = args.label or release.name
    keep_dirs = (mailbox, *(k for k in keep if k.endswith("/")))
    changes = sync(worktree, release, keep, keep_dirs)
    forced = commit_ignored(worktree, sorted(_walk(release, set(), ())))
    total = sum(len(v) for v in changes.values())
    summary = ", ".join(f"{len(v)} {k}" for k, v in changes.items() if v) or "no changes"
    lines = [
        f"# {report_header(report)} - Report",
        "- Status: COMPLETED",
        f"- Files: {summary} ({total} paths)",
        f"  - added: {_listing(changes['added'])}",
        f"  - modified: {_listing(changes['modified'])}",
        f"  - deleted: {_listing(changes['deleted'])}",
        f"  - renamed: {_listing(changes['renamed'])}",
        f"  - mode/type changes: {_listing(changes['mode'] + changes['type'])}",
        f"- What I implemented: brought the worktree to the released files of {label}"
        " (byte for byte, executable bits and symlinks included).",
        "- How to test: compare `git ls-tree -r` of the branch with the unpacked sdist.",
        "- Notes/questions: "
        + (
            f"committed {len(forced)} file(s) the project's .gitignore hides: {_listing(forced, 4)}"
            if forced
            else "none"
        ),
    ]
    report.write_text("\n".join(lines) + "\n")
    print(f"apply_release: {label}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
