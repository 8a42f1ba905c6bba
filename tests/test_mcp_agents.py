"""Real architect harnesses drive wo-git over MCP (Claude Code, OpenCode), and over a shell tool.

The architect's model is :class:`modelserver.ModelServer` with a scripted
session: it calls open, run, wait, show and accept, one tool call a turn,
then ends. The MCP routes use the files ``wo-git init`` wrote: Claude Code's
``.mcp.json`` (``--mcp-config .mcp.json --strict-mcp-config``) and OpenCode's
``opencode.json`` (``opencode run``); the CLI route runs the same commands
through Claude Code's Bash tool. The executor is a ``command``
script that takes :data:`WORK_SECONDS`. Both routes must merge the ticket;
the MCP route's model must receive no request while ``wait`` blocks; and the
bytes the architect's model received are printed side by side (README, "MCP
server").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REPORT_OK, git, script, wo
from modelserver import MODELS, ModelServer, Recorded, Script, _tool_names, agent_env, find_agent

pytestmark = pytest.mark.agents

WORK_SECONDS = 12
"""How long the executor works: ``wait`` blocks about this long."""

Step = tuple[str, dict[str, Any]]


def _tool_results(body: dict[str, Any]) -> list[str]:
    """The text of every tool result in an Anthropic Messages request, oldest first."""
    out: list[str] = []
    for msg in body.get("messages", []):
        content = msg.get("content")
        if msg.get("role") == "tool":  # OpenAI Chat Completions
            out.append(content if isinstance(content, str) else "".join(
                b.get("text", "") for b in content or [] if isinstance(b, dict)))
            continue
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    out.append("".join(b.get("text", "") for b in inner if isinstance(b, dict)))
                else:
                    out.append(str(inner or ""))
    return out


def architect(steps: list[Step]) -> Script:
    """A model that makes ``steps[n]`` when its conversation holds ``n`` tool results, then ends."""

    def turns(body: dict[str, Any]) -> str | list[tuple[str, dict[str, Any]]]:
        n = len(_tool_results(body))
        if n >= len(steps):
            return "Ticket 1 is merged."
        suffix, args = steps[n]
        names = _tool_names(body)
        name = next((t for t in names if t == suffix or t.endswith(("__" + suffix, "-git_" + suffix))), None)
        if name is None:
            return f"no tool {suffix} among {names}"
        return [(name, args)]

    return Script(report=False, turns=turns)


def _claude(repo: Path, srv: ModelServer, extra: list[str]) -> subprocess.CompletedProcess[str]:
    claude = find_agent("claude")
    assert claude is not None
    env = agent_env("claude", srv.url, os.environ["HOME"])
    env["PWD"] = str(repo)
    # `wo-git` (the .mcp.json command, and the shell route's commands) from this test's Python
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # MCP tools in the request itself (not deferred behind Claude Code's ToolSearch): the scripted
    # model calls them by name, and the byte figures count the tool list on every turn
    env["ENABLE_TOOL_SEARCH"] = "false"
    return subprocess.run(
        [claude, "-p", "Deliver ticket work for this repository with wo-git.", "--model", MODELS["claude"],
         "--output-format", "stream-json", "--verbose", *extra],
        cwd=repo, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False,
    )


def _turns(srv: ModelServer) -> list[Recorded]:
    return [r for r in srv.model_requests() if _tool_names(r.body)]


def _figures(srv: ModelServer) -> dict[str, int]:
    turns = _turns(srv)
    results = _tool_results(turns[-1].body)
    return {"turns": len(turns), "tool_result_bytes": sum(len(t.encode()) for t in results),
            "request_bytes": sum(r.size for r in turns), "tools_bytes": len(json.dumps(turns[-1].body["tools"]))}


def _quiet_while_waiting(turns: list[Recorded], every: list[Recorded]) -> None:
    """The model was not called while ``wait`` blocked: between the turn that asked for ``wait``
    (the third tool call) and the turn that got its result, the model server received nothing."""
    asked = next(r for r in turns if len(_tool_results(r.body)) == 2)
    answered = next(r for r in turns if len(_tool_results(r.body)) == 3)
    assert answered.time - asked.time >= WORK_SECONDS - 3, (asked.time, answered.time)
    between = [r.path for r in every if asked.time + 1.0 < r.time < answered.time]
    assert between == [], between


def _prepare(repo: Path, tmp_path: Path) -> str:
    if find_agent("claude") is None:
        pytest.skip("claude is not installed (run .ci/install-agents)")
    r = wo(repo, "init", "--no-hook")
    assert r.code == 0, r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "wo-git")
    return script(tmp_path, f"sleep {WORK_SECONDS}\necho 'def bye():\n    return 1' >> src/app.py\n" + REPORT_OK)


OPEN = {"slug": "bye", "title": "Add bye", "task": "Add bye() returning 1 to src/app.py.",
        "criteria": ["bye() returns 1"]}


def test_claude_code_drives_the_loop_over_mcp_and_waits_for_free(repo: Path, tmp_path: Path) -> None:
    exe = _prepare(repo, tmp_path)
    steps: list[Step] = [("open", OPEN), ("run", {"id": 1, "argv": [exe]}), ("wait", {"ids": [1]}),
                         ("show", {"id": 1}), ("accept", {"id": 1})]
    with ModelServer(architect(steps)) as srv:
        proc = _claude(repo, srv, ["--mcp-config", ".mcp.json", "--strict-mcp-config",
                                   "--allowedTools", "mcp__wo-git"])
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        turns = _turns(srv)
        figures = _figures(srv)
        every = list(srv.requests)
    # every step ran, in order, and the ticket is merged
    results = _tool_results(turns[-1].body)
    assert len(results) == 5, (results, proc.stdout[-4000:])
    opened, launched, waited, shown, accepted = (json.loads(r) for r in results)
    assert opened["id"] == 1 and launched["id"] == 1
    assert waited["timed_out"] is False and waited["reported"][0]["status"] == "COMPLETED"
    assert shown["state"] == "reported" and accepted["base"] == "main"
    assert git(repo, "log", "-1", "--format=%(trailers:key=Wo-Event,valueonly)", "main").strip() == "merge"
    assert "def bye" in (repo / "src" / "app.py").read_text()
    _quiet_while_waiting(turns, every)
    print(f"\nMCP route: {figures}")


def test_claude_code_drives_the_loop_through_its_shell_tool(repo: Path, tmp_path: Path) -> None:
    exe = _prepare(repo, tmp_path)
    crit = " ".join(f"--criteria '{c}'" for c in OPEN["criteria"])  # type: ignore[union-attr]
    commands = [
        f"wo-git open bye --title '{OPEN['title']}' --task '{OPEN['task']}' {crit} --json",
        f"wo-git run 1 --detach --json -- {exe}",
        "wo-git wait 1 --json",
        "wo-git show 1 --json",
        "wo-git accept 1 --json",
    ]
    steps: list[Step] = [("Bash", {"command": c, "description": c.split(" --")[0]}) for c in commands]
    with ModelServer(architect(steps)) as srv:
        proc = _claude(repo, srv, ["--strict-mcp-config", "--allowedTools", "Bash"])
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        turns = _turns(srv)
        figures = _figures(srv)
    results = _tool_results(turns[-1].body)
    assert len(results) == 5, results
    assert git(repo, "log", "-1", "--format=%(trailers:key=Wo-Event,valueonly)", "main").strip() == "merge"
    assert "def bye" in (repo / "src" / "app.py").read_text()
    print(f"\nCLI route: {figures}")


def test_opencode_drives_the_loop_over_mcp_from_opencode_json(repo: Path, tmp_path: Path) -> None:
    opencode = find_agent("opencode")
    if opencode is None:
        pytest.skip("opencode is not installed (run .ci/install-agents)")
    (repo / "opencode.json").write_text('{"$schema": "https://opencode.ai/config.json"}\n')
    exe = _prepare(repo, tmp_path)  # init registers the server in opencode.json
    steps: list[Step] = [("open", OPEN), ("run", {"id": 1, "argv": [exe]}), ("wait", {"ids": [1]}),
                         ("show", {"id": 1}), ("accept", {"id": 1})]
    with ModelServer(architect(steps)) as srv:
        env = agent_env("opencode", srv.url, os.environ["HOME"])
        env["PWD"] = str(repo)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        proc = subprocess.run(
            [opencode, "run", "--format", "json", "-m", MODELS["opencode"],
             "Deliver ticket work for this repository with wo-git."],
            cwd=repo, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        turns = _turns(srv)
        figures = _figures(srv)
        every = list(srv.requests)
    results = _tool_results(turns[-1].body)
    assert len(results) == 5, results
    assert json.loads(results[2])["reported"][0]["status"] == "COMPLETED"
    _quiet_while_waiting(turns, every)
    assert git(repo, "log", "-1", "--format=%(trailers:key=Wo-Event,valueonly)", "main").strip() == "merge"
    assert "def bye" in (repo / "src" / "app.py").read_text()
    print(f"\nOpenCode MCP route: {figures}")
