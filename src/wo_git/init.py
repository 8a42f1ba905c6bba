"""``wo-git init``: the files that put the workflow and the guard in force.

Writes (never clobbering what is there, and leaving every file valid):

- ``.wo-git.toml`` with commented defaults (kept if it exists);
- an executor rules section in ``AGENTS.md`` (created, or appended once,
  in the file's own line endings);
- the architect skill ``.claude/skills/wo-git/SKILL.md`` (kept if it exists);
- the guard hook in ``.pre-commit-config.yaml``, edited as YAML in the file's
  own style and checked with pre-commit's own validation
  (:mod:`wo_git.precommit_config`), then ``pre-commit install``.

Running it again changes nothing and says so: every line starts ``kept`` or
``unchanged``. It commits nothing: the policy is in force once these files
are committed on the base branch.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

from wo_git.config import CONFIG_FILE, DEFAULT_CONFIG_TEXT
from wo_git.errors import WoGitError
from wo_git.git import Repo, clean_git_env, run_git
from wo_git.precommit_config import HOOK_ID, HOOK_REPO, add_guard_hook

__all__ = ["AGENTS_MARK", "HOOK_ID", "HOOK_REPO", "SKILL_PATH", "init"]

AGENTS_MARK = "<!-- wo-git executor rules -->"
SKILL_PATH = ".claude/skills/wo-git/SKILL.md"
PRECOMMIT_CONFIG = ".pre-commit-config.yaml"


def _resource(name: str) -> str:
    return resources.files("wo_git").joinpath("resources", name).read_text()


def init(repo: Repo, install_hook: bool = True) -> list[str]:
    """Write the files; returns one line per action for the user.

    Lines for files left as they were start with ``kept``; the last line is
    ``unchanged: ...`` when nothing was written, else the command that
    commits the files. Raises :class:`~wo_git.errors.InvalidConfig` (nothing
    changed) when ``.pre-commit-config.yaml`` is invalid or could not be
    edited validly, :class:`~wo_git.errors.WoGitError` when ``pre-commit
    install`` fails.
    """
    root = repo.require_root()
    # the pre-commit config first: it is the step that can refuse, and then nothing is written
    done = [add_guard_hook(root / PRECOMMIT_CONFIG)]
    done.insert(0, _write_config(root))
    done.insert(1, _write_agents_rules(root / "AGENTS.md"))
    done.insert(2, _write_skill(root / SKILL_PATH))
    if install_hook:
        done.append(_install_hook(repo, root))
    paths = [CONFIG_FILE, "AGENTS.md", SKILL_PATH, PRECOMMIT_CONFIG]
    pending = run_git("status", "--porcelain", "--untracked-files=all", "--", *paths, cwd=root).stdout
    wrote = any(not line.startswith("kept") for line in done)
    if not wrote:
        done.append("unchanged: every file was already in place"
                    + ("" if not pending.strip() else "; to put them in force: git add "
                       + " ".join(paths) + " && git commit -m 'wo-git'"))
    elif pending.strip():
        done.append("next: commit these files on your base branch so the policy is in force: git add "
                    + " ".join(paths) + " && git commit -m 'wo-git'")
    return done


def _write_config(root: Path) -> str:
    cfg = root / CONFIG_FILE
    if cfg.exists():
        return f"kept {CONFIG_FILE} (exists)"
    cfg.write_text(DEFAULT_CONFIG_TEXT)
    return f"wrote {CONFIG_FILE}"


def _write_agents_rules(agents: Path) -> str:
    """Append the executor rules once, after a blank line, in the file's own line endings."""
    rules = AGENTS_MARK + "\n" + _resource("agents-rules.md")
    if not agents.exists():
        agents.write_text("# Agent instructions\n\n" + rules)
        return "wrote AGENTS.md"
    raw = agents.read_bytes()
    text = raw.decode("utf-8", errors="surrogateescape")
    if AGENTS_MARK in text:
        return "kept AGENTS.md (has the wo-git rules)"
    nl = "\r\n" if "\r\n" in text else "\n"
    addition = (nl + nl + rules.replace("\n", nl)) if text.strip() else rules.replace("\n", nl)
    agents.write_bytes((text.rstrip("\r\n") + addition).encode("utf-8", errors="surrogateescape"))
    return "appended the executor rules to AGENTS.md"


def _write_skill(skill: Path) -> str:
    if skill.exists():
        if skill.read_text(errors="replace") == _resource("SKILL.md"):
            return f"kept {SKILL_PATH} (unchanged)"
        return f"kept {SKILL_PATH} (yours differs from this wo-git's; to take it: rm {SKILL_PATH} && wo-git init)"
    skill.parent.mkdir(parents=True, exist_ok=True)
    skill.write_text(_resource("SKILL.md"))
    return f"wrote {SKILL_PATH}"


def _install_hook(repo: Repo, root: Path) -> str:
    """``pre-commit install`` (the hook lives in the common hooks folder); says whether it changed."""
    hook = repo.common_dir / "hooks" / "pre-commit"
    before = hook.read_bytes() if hook.is_file() else None
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install", "--hook-type", "pre-commit"],
        cwd=root, capture_output=True, env=clean_git_env(), check=False,
    )
    if proc.returncode != 0:
        msg = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()
        raise WoGitError(f"pre-commit install failed: {msg[-1] if msg else proc.returncode}; "
                         "fix that, then run: wo-git init")
    if before is not None and hook.is_file() and hook.read_bytes() == before:
        return "kept the pre-commit hook (installed)"
    return "installed the pre-commit hook (pre-commit install)"
