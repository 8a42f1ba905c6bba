"""``wo-git init``: the files that put the workflow and the guard in force.

Writes (never clobbering what is there):

- ``.wo-git.toml`` with commented defaults (kept if it exists);
- an executor rules section in ``AGENTS.md`` (created, or appended once);
- the architect skill ``.claude/skills/wo-git/SKILL.md``;
- the guard hook in ``.pre-commit-config.yaml`` (added to an existing file,
  never replacing it), then ``pre-commit install``.

It commits nothing: the policy is in force once these files are committed
on the base branch.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

from wo_git.config import CONFIG_FILE, DEFAULT_CONFIG_TEXT
from wo_git.errors import InvalidConfig, WoGitError
from wo_git.git import Repo, clean_git_env

AGENTS_MARK = "<!-- wo-git executor rules -->"
HOOK_ID = "wo-git-guard"
HOOK_BLOCK = f"""\
  - repo: local
    hooks:
      - id: {HOOK_ID}
        name: wo-git guard (protected paths and secrets)
        entry: wo-git guard --hook
        language: system
        pass_filenames: false
        always_run: true
        stages: [pre-commit]
"""


def _resource(name: str) -> str:
    return resources.files("wo_git").joinpath("resources", name).read_text()


def init(repo: Repo, install_hook: bool = True) -> list[str]:
    """Write the files; returns one line per action for the user."""
    root = repo.require_root()
    done: list[str] = []
    cfg = root / CONFIG_FILE
    if cfg.exists():
        done.append(f"kept {CONFIG_FILE} (exists)")
    else:
        cfg.write_text(DEFAULT_CONFIG_TEXT)
        done.append(f"wrote {CONFIG_FILE}")
    agents = root / "AGENTS.md"
    rules = _resource("agents-rules.md")
    if agents.exists():
        text = agents.read_text()
        if AGENTS_MARK in text:
            done.append("kept AGENTS.md (has the wo-git rules)")
        else:
            agents.write_text(text.rstrip("\n") + "\n\n" + AGENTS_MARK + "\n" + rules)
            done.append("appended the executor rules to AGENTS.md")
    else:
        agents.write_text("# Agent instructions\n\n" + AGENTS_MARK + "\n" + rules)
        done.append("wrote AGENTS.md")
    skill = root / ".claude" / "skills" / "wo-git" / "SKILL.md"
    if skill.exists():
        done.append(f"kept {skill.relative_to(root)} (exists)")
    else:
        skill.parent.mkdir(parents=True, exist_ok=True)
        skill.write_text(_resource("SKILL.md"))
        done.append(f"wrote {skill.relative_to(root)}")
    done.append(add_precommit_hook(root / ".pre-commit-config.yaml"))
    if install_hook:
        proc = subprocess.run(
            [sys.executable, "-m", "pre_commit", "install", "--hook-type", "pre-commit"],
            cwd=root, capture_output=True, env=clean_git_env(), check=False,
        )
        if proc.returncode != 0:
            msg = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()
            raise WoGitError(f"pre-commit install failed: {msg[-1] if msg else proc.returncode}")
        done.append("installed the pre-commit hook (pre-commit install)")
    done.append("now commit these files on your base branch so the policy is in force")
    return done


def add_precommit_hook(path: Path) -> str:
    """Add the guard hook to a pre-commit config, keeping everything else (and its comments)."""
    if not path.exists():
        path.write_text("repos:\n" + HOOK_BLOCK)
        return f"wrote {path.name}"
    text = path.read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise InvalidConfig(f"{path.name} is not valid YAML ({err}); fix it, then re-run init") from None
    if not isinstance(data, dict):
        raise InvalidConfig(f"{path.name} is not a mapping; fix it, then re-run init")
    repos = data.get("repos") or []
    if any(h.get("id") == HOOK_ID for r in repos if isinstance(r, dict) for h in r.get("hooks", []) or []):
        return f"kept {path.name} (has the wo-git guard)"
    last_key = [ln for ln in text.splitlines() if ln and not ln.startswith((" ", "#", "-"))][-1:]
    if "repos" in data and last_key and last_key[0].startswith("repos:") and last_key[0].strip() == "repos:":
        # block-style repos list at the end: append, keeping comments and layout
        path.write_text(text.rstrip("\n") + "\n" + HOOK_BLOCK)
    else:
        entry = yaml.safe_load("repos:\n" + HOOK_BLOCK)["repos"][0]
        data["repos"] = [*repos, entry]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return f"added the wo-git guard to {path.name}"
