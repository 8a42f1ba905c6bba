"""A scripted architect session: every path an architect meets, with only the commands the skill shows.

One repository built from a real project's released files (toolz's sdist,
``tests/real_project.py``), ``wo-git init`` and its files committed as the
README says, then the architect skill (``src/wo_git/resources/SKILL.md``)
followed literally: every command is taken from the skill's text, run
through ``sh -c`` with ``PWD`` set, with nothing substituted but the ticket
id. The executor is a script (the ``command`` profile, and the config's
default executor) whose behaviour the test picks per round. At the end every
command of the skill has been run, and each status's exit code is the one
the skill's table states.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from modelserver import MODELS, ModelServer, Script, agent_env, find_agent
from tests.conftest import git
from tests.real_project import ROOT, Shell, build_repo, fenced_commands, inline_commands, with_id, write_executor

SKILL_TEXT = (ROOT / "src" / "wo_git" / "resources" / "SKILL.md").read_text()
SKILL_COMMANDS = fenced_commands(SKILL_TEXT) + inline_commands(SKILL_TEXT)
# the status table: "| PARTIAL (5) | ..." -> {"PARTIAL": 5}
TABLE = {m[0]: int(m[1]) for m in re.findall(r"^\| ([A-Z_]+) \((\d+)\) \|", SKILL_TEXT, re.M)}
CONFLICT_ONLY = {"wo-git update 7"}


def skill(name: str) -> str:
    """The skill's own command that starts with ``name`` (exactly one must)."""
    if name in SKILL_COMMANDS:
        return name
    found = {c for c in SKILL_COMMANDS if c.startswith(name + " ")}
    assert len(found) == 1, (name, found)
    return found.pop()


class Architect:
    """Runs the skill's commands in one repository and remembers which ones it ran."""

    def __init__(self, repo: Path, mode: Path, env: dict[str, str] | None = None) -> None:
        self.sh = Shell(repo, env)
        self.repo = repo
        self.mode = mode
        self.ran: set[str] = set()

    def __call__(self, command: str, ticket: int = 7, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        assert command in SKILL_COMMANDS, f"not a command the skill shows: {command}"
        self.ran.add(command)
        done = self.sh.run(with_id(command, ticket))
        if expect is not None:
            assert done.returncode == expect, (command, done.returncode, done.stdout, done.stderr)
        return done

    def executor(self, mode: str) -> None:
        self.mode.write_text(mode + "\n")

    def open(self, slug: str) -> int:
        """The skill's `open` command (its slug swapped in when a second ticket needs its own)."""
        cmd = skill("wo-git open")
        self.ran.add(cmd)
        done = self.sh.run(cmd.replace("open contact-form", f"open {slug}"))
        assert done.returncode == 0, done.stderr
        tid = re.search(r'"id": (\d+)', done.stdout)
        assert tid, done.stdout
        return int(tid.group(1))

    def run_and_wait(self, ticket: int, expect: int) -> str:
        """`run --detach`, then `wait` as a background command (as in Claude Code); its output."""
        self(skill("wo-git run 7 --detach"), ticket)
        proc = self.sh.start(with_id(skill("wo-git wait 7"), ticket))
        self.ran.add(skill("wo-git wait 7"))
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == expect, (proc.returncode, out, err)
        return out


def _session_repo(tmp_path: Path, executor: str = "scripted", model: str = "") -> tuple[Path, Path]:
    """toolz's files, `wo-git init` and the README's commit, ``executor`` (default: the test's script)."""
    repo = build_repo(tmp_path / "toolz")
    exe, mode = write_executor(tmp_path)
    sh = Shell(repo)
    r = sh.run("wo-git init")
    assert r.returncode == 0, r.stderr
    cfg = repo / ".wo-git.toml"
    top = f'executor = "{executor}"\n' + (f'model = "{model}"\n' if model else "")
    cfg.write_text(f'{top}{cfg.read_text()}\n[executors.scripted]\nargv = ["{exe}"]\n')
    (repo / "do-it.sh").write_text(f"#!/bin/sh\nexec {exe}\n")
    (repo / "do-it.sh").chmod(0o755)
    r = sh.run("git add .wo-git.toml AGENTS.md .claude .pre-commit-config.yaml .mcp.json do-it.sh"
               ' && git commit -m "wo-git"')
    assert r.returncode == 0, r.stdout + r.stderr
    return repo, mode


def test_skill_table_states_every_status() -> None:
    assert TABLE == {"COMPLETED": 0, "PARTIAL": 5, "BLOCKED": 5, "NO_REPORT": 5, "GUARD_REJECTED": 3}


def test_architect_session(tmp_path: Path) -> None:
    repo, mode = _session_repo(tmp_path)
    a = Architect(repo, mode)

    # open, run, review, revise (a correction round), accept
    t = a.open("contact-form")
    a.executor("partial")
    out = a.run_and_wait(t, TABLE["PARTIAL"])
    assert "PARTIAL" in out
    assert "PARTIAL" in a(skill("wo-git show 7"), t).stdout
    assert "src/contact/form.py" in a(skill("wo-git diff 7"), t).stdout
    a(skill("wo-git revise 7"), t)
    a.executor("slow")
    a(skill("wo-git run 7 --detach -- ./do-it.sh"), t)
    # waiting in slices: exit 7 while the executor works, then the report
    assert a(skill("wo-git wait 7 --timeout"), t, expect=7).returncode == 7
    (mode.parent / "mode.go").write_text("go\n")
    assert "COMPLETED" in a(skill("wo-git wait 7 --timeout"), t, expect=0).stdout
    a(skill("wo-git accept 7"), t)
    assert git(repo, "show", "main:src/contact/form.py").count("\n") == 2

    # GUARD_REJECTED, then a correction round that undoes the refused change and passes
    t = a.open("ci-edit")
    a.executor("guard")
    out = a.run_and_wait(t, TABLE["GUARD_REJECTED"])
    assert "GUARD_REJECTED" in out and ".github/workflows/ci.yml" in out
    a(skill("wo-git revise 7"), t)
    a.executor("undo")
    a.run_and_wait(t, TABLE["COMPLETED"])
    a(skill("wo-git accept 7"), t)
    assert "ci.yml" not in git(repo, "log", "main", "--name-only", "--format=")

    # BLOCKED: the architect answers in a revise; then rejects
    t = a.open("blocked")
    a.executor("blocked")
    assert "Which status code" in a.run_and_wait(t, TABLE["BLOCKED"])
    a(skill("wo-git reject 7"), t)

    # NO_REPORT: read the log, run again
    t = a.open("no-report")
    a.executor("noreport")
    assert "NO_REPORT" in a.run_and_wait(t, TABLE["NO_REPORT"])
    assert "crashed before the report" in a(skill("wo-git logs 7"), t).stdout
    a(skill("wo-git revise 7"), t)
    a.executor("complete")
    a.run_and_wait(t, TABLE["COMPLETED"])

    # lost context: list, doctor, show are enough to pick up where it was
    listed = a(skill("wo-git list"), t).stdout
    assert re.search(rf"\b0*{t}\b.*reported", listed), listed
    a(skill("wo-git doctor"), t)
    a(skill("wo-git doctor --fix"), t)
    assert "COMPLETED" in a(skill("wo-git show 7"), t).stdout
    a(skill("wo-git accept 7"), t)

    assert set(SKILL_COMMANDS) - a.ran == CONFLICT_ONLY


def test_missing_executor_spends_no_round(tmp_path: Path) -> None:
    repo, mode = _session_repo(tmp_path)
    a = Architect(repo, mode)
    git(repo, "rm", "-q", "do-it.sh")
    git(repo, "commit", "-qm", "drop do-it.sh")  # the command the architect names is not there
    t = a.open("contact-form")
    done = a(skill("wo-git run 7 --detach -- ./do-it.sh"), t, expect=5)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    branch = f"wo/{t:04d}-contact-form"
    assert git(repo, "log", "--format=%(trailers:key=Wo-Event,valueonly)", branch).split() == ["open"]
    a.executor("complete")
    a.run_and_wait(t, TABLE["COMPLETED"])  # the ticket was still runnable
    a(skill("wo-git accept 7"), t)


def test_two_tickets_on_the_same_lines_reach_a_clean_accept_via_update(tmp_path: Path) -> None:
    repo, mode = _session_repo(tmp_path)
    a = Architect(repo, mode)
    base = a.open("contact-form")
    a.executor("complete")
    a.run_and_wait(base, TABLE["COMPLETED"])
    a(skill("wo-git accept 7"), base)
    first, second = a.open("first"), a.open("second")
    for ticket, line in ((first, "# first ticket"), (second, "# second ticket")):
        (mode.parent / "mode.lines").write_text(line + "\n")
        a.executor("lines")
        a.run_and_wait(ticket, TABLE["COMPLETED"])
    a(skill("wo-git accept 7"), first)
    refused = a(skill("wo-git accept 7"), second, expect=4)
    assert "src/contact/form.py" in refused.stderr and f"wo-git update {second}" in refused.stderr, refused.stderr
    # the base comes in as wo-git's own commit; the same lines conflict, so a correction round opens
    updated = a(skill("wo-git update 7"), second, expect=None)
    assert f"wo-git run {second}" in updated.stdout + updated.stderr, (updated.stdout, updated.stderr)
    a.executor("resolve")
    a.run_and_wait(second, TABLE["COMPLETED"])
    a(skill("wo-git accept 7"), second)
    form = git(repo, "show", "main:src/contact/form.py")
    assert sorted(form.splitlines()) == ["# first ticket", "# second ticket"], form
    events = git(repo, "log", "--format=%(trailers:key=Wo-Event,valueonly)", f"refs/wo/tickets/{second:04d}").split()
    assert "reject" not in events and events[0] == "accept", events
    assert a.ran >= CONFLICT_ONLY


@pytest.mark.agents
def test_architect_session_with_a_real_agent_cli(tmp_path: Path) -> None:
    """The skill's `run` with OpenCode as the configured executor, against the scripted model server."""
    if find_agent("opencode") is None:
        pytest.skip("opencode is not installed (run .ci/install-agents)")
    repo, mode = _session_repo(tmp_path, executor="opencode", model=MODELS["opencode"])
    first = {"src/contact/form.py": "def validate(form):\n    return '@' in form['email']\n"}
    with ModelServer(Script(files=first)) as srv:
        a = Architect(repo, mode, env=agent_env("opencode", srv.url, os.environ["HOME"]))
        t = a.open("contact-form")
        assert "COMPLETED" in a.run_and_wait(t, TABLE["COMPLETED"])
        assert "src/contact/form.py" in a(skill("wo-git diff 7"), t).stdout
        a(skill("wo-git revise 7"), t)
        srv.script.files = {"src/contact/names.py": "def name_ok(name):\n    return bool(name.strip())\n"}
        assert "COMPLETED" in a.run_and_wait(t, TABLE["COMPLETED"])
        a(skill("wo-git accept 7"), t)
    assert "def name_ok" in git(repo, "show", "main:src/contact/names.py")
    assert "opencode" in git(repo, "log", "main", "--format=%(trailers:key=Wo-Executor,valueonly)")
