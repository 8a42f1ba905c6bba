"""Keeping machine-local paths out of what wo-git commits.

Reports are committed to ticket branches, which are pushed, merged and read
on other machines; an absolute path of the user's machine (the home folder,
the repository's location, a temporary folder) means nothing there and
leaks the user's layout. The post-run hook writes the log path relative to
the git common dir (``wo/logs/0007-r1-a1.log``, as :func:`log_ref`), and
every generated line goes through :func:`scrub` before it is committed.
"""

from __future__ import annotations

import os
from pathlib import Path

from wo_git.git import Repo


def log_ref(repo: Repo, log: str | Path) -> str:
    """The log's path relative to the git common dir (``wo/logs/0007-r1-a1.log``).

    A log outside the common dir (never written by wo-git itself) gives its
    file name only. The packet resolves it back with :func:`log_path`.
    """
    path = Path(log)
    for common in _forms(repo.common_dir):
        try:
            return Path(path).relative_to(common).as_posix()
        except ValueError:
            continue
    return path.name


def log_path(repo: Repo, ref: str) -> Path:
    """The absolute log path for a :func:`log_ref` value (absolute values pass through)."""
    path = Path(ref)
    return path if path.is_absolute() else repo.common_dir / path


def _forms(path: Path) -> list[str]:
    """A path as given and resolved (a temporary folder is often behind a symlink)."""
    out = [str(path)]
    try:
        real = str(path.resolve())
    except OSError:
        real = str(path)
    if real not in out:
        out.append(real)
    return [p.rstrip("/") for p in out if p.rstrip("/")]


def scrub(text: str, repo: Repo, worktree: Path | None = None) -> str:
    """Replace the machine's absolute paths in ``text`` with portable names.

    In order (longest, most specific first): a path inside the ticket's
    worktree becomes repository-relative (``src/a.py``) and the worktree
    itself ``<worktree>``; the git common dir becomes ``<git-common-dir>``;
    the main working tree ``<repo>``; the home folder ``~``. Nothing else is
    changed.
    """
    pairs: list[tuple[str, str]] = []
    if worktree is not None:
        pairs += [(p + "/", "") for p in _forms(worktree)] + [(p, "<worktree>") for p in _forms(worktree)]
    pairs += [(p, "<git-common-dir>") for p in _forms(repo.common_dir)]
    if repo.root is not None:
        pairs += [(p, "<repo>") for p in _forms(repo.root)]
    home = os.environ.get("HOME")
    if home and home.rstrip("/"):
        pairs += [(p, "~") for p in _forms(Path(home))]
    pairs.sort(key=lambda kv: -len(kv[0]))
    for old, new in pairs:
        text = text.replace(old, new)
    return text
