"""``wo-git init`` leaves every existing file valid, and a second run changes nothing.

The pre-commit configs are the styles real projects use: exactly what
``pre-commit sample-config`` prints (entries at column 0, ``-   repo:``),
indented entries with comments, one-line flow style, multi-line flow lists
with a ``ci:`` section after ``repos:``, mixed indentation, CRLF line
endings, an empty file, and invalid ones. Each result is checked with the
real ``pre-commit validate-config``, and the hook is run by the real
``pre-commit run`` and by a real ``git commit``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import git, wo

CFG = ".pre-commit-config.yaml"
SKILL = ".claude/skills/wo-git/SKILL.md"
AWS = "AKIA" + "QX7T2M4NPL5R8WZK"

INDENTED_WITH_COMMENTS = """\
# Hooks for this project; run `pre-commit install` once.
default_stages: [pre-commit]
repos:
  # formatting first, then the type checker
  - repo: meta
    hooks:
      - id: check-hooks-apply   # every hook matches some file
      - id: check-useless-excludes

  - repo: local
    hooks:
      - id: no-print
        name: no print calls
        entry: 'print\\('
        language: pygrep
        types: [python]
# the end of the hook list
fail_fast: false
"""

FLOW_MULTILINE_WITH_CI = """\
exclude: 'vendor/'

repos:
- repo: local
  hooks:
  - id: forbid-todo
    name: no TODO left
    entry: 'TODO'
    language: pygrep
    args: [
        '--multiline',
    ]
    exclude: docs/  # old docs keep theirs

ci:
  autofix_prs: false
  autoupdate_schedule: monthly
"""


def _env() -> dict[str, str]:
    """The test environment with this venv's ``wo-git`` first on PATH (the hook's ``entry``)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    return env


def precommit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real pre-commit CLI."""
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, capture_output=True, text=True,
                          env=_env(), check=False)


def _hook_ids(text: str) -> list[str]:
    return [h["id"] for r in yaml.safe_load(text)["repos"] for h in r["hooks"]]


def _kept_in_order(old: str, new: str) -> bool:
    """Every line of ``old`` is in ``new``, in order (``new`` only inserted lines)."""
    it = iter(new.splitlines())
    return all(any(line == n for n in it) for line in old.splitlines())


def _init_twice(repo: Path) -> str:
    """Run init, check the result validates, run it again and check nothing changed; returns the config text."""
    r = wo(repo, "init", env=_env())
    assert r.code == 0, r.err
    text = (repo / CFG).read_text()
    v = precommit(repo, "validate-config", CFG)
    assert v.returncode == 0, v.stdout + v.stderr
    assert _hook_ids(text).count("wo-git-guard") == 1
    files = [repo / CFG, repo / "AGENTS.md", repo / ".wo-git.toml", repo / SKILL, repo / ".git/hooks/pre-commit"]
    before = {p: p.read_bytes() for p in files}
    again = wo(repo, "init", env=_env())
    assert again.code == 0, again.err
    lines = again.out.splitlines()
    assert lines and all(ln.startswith(("kept ", "unchanged")) for ln in lines), lines
    assert lines[-1].startswith("unchanged")
    assert {p: p.read_bytes() for p in files} == before
    return text


def test_sample_config_column_zero_is_extended_in_its_own_style(repo: Path) -> None:
    sample = precommit(repo, "sample-config")
    assert sample.returncode == 0 and "-   repo:" in sample.stdout
    (repo / CFG).write_text(sample.stdout)
    r = wo(repo, "init", env=_env())
    assert r.code == 0, r.err
    assert f"added the wo-git guard to {CFG}" in r.out and "rewrote" not in r.out
    text = _init_twice(repo)
    assert text.startswith(sample.stdout)  # every original line, comments included, kept as it was
    added = text[len(sample.stdout):]
    assert added.startswith("-   repo: local\n    hooks:\n    -   id: wo-git-guard\n"), added
    assert _hook_ids(text) == [*_hook_ids(sample.stdout), "wo-git-guard"]


def test_indented_config_with_comments_keeps_every_line(repo: Path) -> None:
    (repo / CFG).write_text(INDENTED_WITH_COMMENTS)
    text = _init_twice(repo)
    assert _kept_in_order(INDENTED_WITH_COMMENTS, text), text
    assert "  - repo: local\n    hooks:\n      - id: wo-git-guard\n" in text
    assert yaml.safe_load(text)["fail_fast"] is False
    assert _hook_ids(text) == ["check-hooks-apply", "check-useless-excludes", "no-print", "wo-git-guard"]


def test_flow_style_config_stays_flow_style(repo: Path) -> None:
    flow = "repos: [{repo: meta, hooks: [{id: check-hooks-apply}]}]\n"
    (repo / CFG).write_text(flow)
    text = _init_twice(repo)
    assert text.count("\n") == 1 and text.startswith("repos: [{repo: meta, hooks: [")  # still one flow line
    assert _hook_ids(text) == ["check-hooks-apply", "wo-git-guard"]


def test_multiline_flow_lists_and_sections_after_repos(repo: Path) -> None:
    (repo / CFG).write_text(FLOW_MULTILINE_WITH_CI)
    r = wo(repo, "init", env=_env())
    assert r.code == 0, r.err
    text = (repo / CFG).read_text()
    # ruamel.yaml folds the multi-line flow list; init says so, and everything else is kept
    assert "rewrote 3 of its lines (same meaning)" in r.out and "git diff" in r.out
    for line in ("exclude: 'vendor/'", "    exclude: docs/  # old docs keep theirs", "ci:", "  autofix_prs: false"):
        assert line in text.splitlines()
    data = yaml.safe_load(text)
    assert data["ci"] == {"autofix_prs": False, "autoupdate_schedule": "monthly"}
    assert data["repos"][0]["hooks"][0]["args"] == ["--multiline"]
    _init_twice(repo)


def test_mixed_indentation_is_normalized_validly(repo: Path) -> None:
    mixed = ("repos:\n- repo: meta\n  hooks:\n  - id: check-hooks-apply\n"
             "- repo: local\n  hooks:\n    - id: pyflakes-ish\n      name: p\n      entry: 'import \\*'\n"
             "      language: pygrep\n")
    (repo / CFG).write_text(mixed)
    text = _init_twice(repo)
    assert _hook_ids(text) == ["check-hooks-apply", "pyflakes-ish", "wo-git-guard"]


def test_crlf_config_keeps_its_line_endings(repo: Path) -> None:
    (repo / CFG).write_bytes(INDENTED_WITH_COMMENTS.replace("\n", "\r\n").encode())
    _init_twice(repo)
    raw = (repo / CFG).read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")


def test_document_markers_are_kept(repo: Path) -> None:
    marked = "---\n# the hooks\nrepos:\n- repo: meta\n  hooks:\n  - id: check-hooks-apply\n...\n"
    (repo / CFG).write_text(marked)
    text = _init_twice(repo)
    assert _kept_in_order(marked, text), text
    assert text.startswith("---\n") and text.endswith("...\n")


@pytest.mark.parametrize("content", ["", "\n\n", "# hooks come later\n"])
def test_empty_config_gets_the_guard(repo: Path, content: str) -> None:
    (repo / CFG).write_text(content)
    text = _init_twice(repo)
    assert text.startswith(content.strip("\n"))
    assert _hook_ids(text) == ["wo-git-guard"]


@pytest.mark.parametrize(("content", "why"), [
    ("repos: [\n", "while parsing a flow node did not find expected node content at line 2"),  # not YAML
    ("default_stages: [pre-commit]\n", "Missing required key: repos"),
    ("repos:\n- repo: local\n  hooks:\n  - name: no id\n    entry: x\n    language: system\n",
     "Missing required key: id"),
    ("- just\n- a list\n", "Expected a Config map"),
])
def test_invalid_config_changes_nothing(repo: Path, content: str, why: str) -> None:
    (repo / CFG).write_text(content)
    r = wo(repo, "init", env=_env())
    assert r.code == 1, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert CFG in lines[0] and why in lines[0] and "wo-git init" in lines[0], lines[0]
    assert f"pre-commit validate-config {CFG}" in lines[0]
    assert (repo / CFG).read_text() == content
    assert not (repo / ".wo-git.toml").exists() and not (repo / "AGENTS.md").exists()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert git(repo, "status", "--porcelain") == f"?? {CFG}\n"


def test_existing_agents_md_and_skills_are_kept(repo: Path) -> None:
    (repo / "CLAUDE.md").write_bytes(b"# House rules\r\n\r\nRun the tests.")  # CRLF, no final newline
    (repo / "AGENTS.md").symlink_to("CLAUDE.md")
    other = repo / ".claude" / "skills" / "release" / "SKILL.md"
    other.parent.mkdir(parents=True)
    other.write_text("---\nname: release\ndescription: Cut a release.\n---\n\nSteps.\n")
    mine = repo / SKILL
    mine.parent.mkdir(parents=True)
    mine.write_text("---\nname: wo-git\ndescription: my own edits\n---\n")
    r = wo(repo, "init", env=_env())
    assert r.code == 0, r.err
    assert (repo / "AGENTS.md").is_symlink()
    raw = (repo / "CLAUDE.md").read_bytes()
    assert raw.startswith(b"# House rules\r\n\r\nRun the tests.\r\n\r\n<!-- wo-git executor rules -->\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"Rules for executors" in raw
    assert mine.read_text() == "---\nname: wo-git\ndescription: my own edits\n---\n"
    assert f"kept {SKILL} (yours differs" in r.out and f"rm {SKILL} && wo-git init" in r.out
    assert other.read_text().startswith("---\nname: release\n")
    _init_twice(repo)
    assert raw.count(b"<!-- wo-git executor rules -->") == 1


def test_hook_runs_in_pre_commit_run_and_in_a_real_commit(repo: Path) -> None:
    (repo / CFG).write_text(INDENTED_WITH_COMMENTS)
    git(repo, "add", CFG)
    git(repo, "commit", "-qm", "hooks")
    r = wo(repo, "init", env=_env())
    assert r.code == 0, r.err
    next_line = r.out.strip().splitlines()[-1]
    assert next_line.startswith("next: commit these files") and ".pre-commit-config.yaml" in next_line
    run = precommit(repo, "run", "--all-files")
    assert run.returncode == 0, run.stdout + run.stderr
    assert any(ln.startswith("wo-git guard (protected paths and secrets)") and ln.endswith("Passed")
               for ln in run.stdout.splitlines()), run.stdout
    # the command init printed, run as a shell runs it, commits through the hook
    cmd = next_line.split("in force: ", 1)[1]
    done = subprocess.run(cmd, shell=True, cwd=repo, capture_output=True, text=True, env={**_env(), "PWD": str(repo)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wo-git guard" in done.stdout + done.stderr
    assert git(repo, "status", "--porcelain") == ""
    again = wo(repo, "init", env=_env())
    assert again.out.strip().splitlines()[-1] == "unchanged: every file was already in place"
    # and the guard refuses a secret in a real commit
    (repo / "src" / "keys.py").write_text(f'KEY = "{AWS}"\n')
    git(repo, "add", "src/keys.py")
    refused = subprocess.run(["git", "commit", "-qm", "keys"], cwd=repo, capture_output=True, text=True, env=_env())
    assert refused.returncode != 0 and "src/keys.py: secrets / content: aws" in refused.stdout + refused.stderr


@pytest.mark.parametrize("fence", ["```", "~~~~"])
def test_agents_md_ending_inside_a_code_block_is_closed_first(repo: Path, fence: str) -> None:
    (repo / "AGENTS.md").write_text(f"# Rules\n\nBuild with:\n\n{fence}sh\nmake all\n")
    r = wo(repo, "init", env=_env())
    assert r.code == 0, r.err
    assert f"after closing its open {fence} block" in r.out
    text = (repo / "AGENTS.md").read_text()
    assert text.startswith(f"# Rules\n\nBuild with:\n\n{fence}sh\nmake all\n{fence}\n\n<!-- wo-git executor rules -->")
    # a closed block is left as it is
    closed = repo / "other"
    closed.mkdir()
    git(closed, "init", "-q")
    (closed / "AGENTS.md").write_text(f"{fence}\ncode\n{fence}\n")
    assert wo(closed, "init", "--no-hook", env=_env()).code == 0
    assert (closed / "AGENTS.md").read_text().startswith(f"{fence}\ncode\n{fence}\n\n<!-- wo-git")
