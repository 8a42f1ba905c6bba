"""The README's loop and the architect skill, run exactly as written.

The loop's fenced block is parsed out of README.md and every command in it
is run through ``sh -c`` with ``PWD`` set, in a repository built from a real
project's released files (``tests/real_project.py``), in order, with nothing
substituted but the ticket id. The skill's own commands are run by
``tests/test_architect_session.py``; here its front matter is checked
against what Claude Code requires of a skill.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import git
from tests.real_project import ROOT, Shell, build_repo, fenced_commands, with_id, write_executor

README = (ROOT / "README.md").read_text()
LOOP = README[README.index("## The loop\n"):README.index("\n## ", README.index("## The loop\n") + 5)]
SKILL_TEXT = (ROOT / "src" / "wo_git" / "resources" / "SKILL.md").read_text()


def test_readme_loop_runs_as_written(tmp_path: Path) -> None:
    commands = fenced_commands(LOOP)
    assert [c.split()[:2] for c in commands] == [
        ["wo-git", "init"], ["git", "add"], ["wo-git", "open"], ["wo-git", "run"], ["wo-git", "wait"],
        ["wo-git", "show"], ["wo-git", "revise"], ["wo-git", "run"], ["wo-git", "accept"]]
    repo = build_repo(tmp_path / "toolz")
    exe, mode = write_executor(tmp_path)
    (repo / "do-it.sh").write_text(f"#!/bin/sh\nexec {exe}\n")
    (repo / "do-it.sh").chmod(0o755)
    git(repo, "add", "do-it.sh")
    git(repo, "commit", "-qm", "the team's executor script")
    sh = Shell(repo)
    ticket = 0
    for command in commands:
        if command.startswith("git add"):  # the executor this test uses, as a person would configure one
            cfg = repo / ".wo-git.toml"
            cfg.write_text(f'executor = "scripted"\n{cfg.read_text()}\n[executors.scripted]\nargv = ["{exe}"]\n')
        done = sh.run(with_id(command, ticket) if ticket else command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        if command.startswith("wo-git open"):
            ticket = int(re.search(r'"id": (\d+)', done.stdout).group(1))  # type: ignore[union-attr]
        if command.startswith("wo-git wait") or "&& wo-git wait" in command:
            assert "COMPLETED" in done.stdout
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "show", "main:src/contact/form.py").count("\n") == 2
    assert git(repo, "log", "-1", "--format=%(trailers:key=Wo-Event,valueonly)", "main").strip() == "merge"


def test_skill_front_matter_is_a_valid_claude_code_skill() -> None:
    head, _, body = SKILL_TEXT.removeprefix("---\n").partition("\n---\n")
    meta = yaml.safe_load(head)
    assert set(meta) == {"name", "description"}
    assert re.fullmatch(r"[a-z0-9-]{1,64}", meta["name"]) and 0 < len(meta["description"]) <= 1024
    assert body.strip().startswith("# wo-git")
    # short: an architect pays for every token
    assert len(SKILL_TEXT.split()) < 600
