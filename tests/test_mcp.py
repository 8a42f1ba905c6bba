"""``wo-git mcp`` through the SDK's real client over stdio: every tool, every error, progress.

The server is the real ``wo-git mcp`` subprocess (``python -m wo_git mcp``)
in a real repository; the client is the official SDK's ``Client``, doing the
initialize handshake as the harnesses do.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult

from conftest import REPORT_OK, git, open_ticket, script, wo

Session = Callable[[Client], Awaitable[None]]


def serve(root: Path, body: Session, progress_every: float = 10.0) -> None:
    """Start ``wo-git mcp`` in ``root`` and run ``body`` against it."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "wo_git", "mcp", "--progress-every", str(progress_every)],
        cwd=str(root), env=dict(os.environ),
    )

    async def main() -> None:
        async with Client(params, mode="legacy") as client:
            await body(client)

    anyio.run(main)


def text(r: CallToolResult) -> str:
    block = r.content[0]
    assert block.type == "text"
    return block.text


def ok(r: CallToolResult) -> Any:
    assert not r.is_error, text(r)
    return json.loads(text(r))


def error(r: CallToolResult) -> str:
    assert r.is_error, text(r)
    line = text(r)
    assert "\n" not in line
    return line


def test_tool_list_is_short_and_annotated(repo: Path) -> None:
    seen: dict[str, Any] = {}

    async def body(c: Client) -> None:
        tools = (await c.list_tools()).tools
        seen["tools"] = {t.name: t for t in tools}
        seen["bytes"] = len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools],
                                       separators=(",", ":")))
        seen["instructions"] = c.instructions or ""

    serve(repo, body)
    tools = seen["tools"]
    assert set(tools) == {"open", "run", "wait", "show", "diff", "list", "logs", "revise", "review", "accept",
                          "reject", "update", "plan_apply", "plan_show", "plan_run"}
    for name in ("wait", "show", "diff", "list", "logs", "plan_show"):
        assert tools[name].annotations.read_only_hint is True, name
    for name in ("accept", "reject"):
        assert tools[name].annotations.destructive_hint is True and not tools[name].annotations.read_only_hint
    for name in ("open", "revise", "review", "run", "update", "plan_apply", "plan_run"):
        assert tools[name].annotations.destructive_hint is False and not tools[name].annotations.read_only_hint
    assert "title" not in json.dumps(tools["open"].input_schema["properties"]["slug"])
    print(f"\ntool list: {seen['bytes']} bytes; instructions: {len(seen['instructions'].encode())} bytes")
    assert seen["bytes"] < 5500  # the budget the README reports against
    assert "wait again" in seen["instructions"] and "GUARD_REJECTED" in seen["instructions"]


def test_the_whole_loop_over_mcp(repo: Path, tmp_path: Path) -> None:
    exe = script(tmp_path, "sleep 1.5\necho 'def bye():\n    return 1' >> src/app.py\nmkdir -p docs\n"
                 "echo doc > docs/n.md\necho executor-says-hello\n" + REPORT_OK)
    got: dict[str, Any] = {}

    async def body(c: Client) -> None:
        opened = ok(await c.call_tool("open", {"slug": "bye", "title": "Add bye", "task": "Add bye().",
                                                "criteria": ["bye() returns 1"]}))
        got["open"] = opened
        got["run"] = ok(await c.call_tool("run", {"id": 1, "argv": [exe]}))
        got["wait"] = ok(await c.call_tool("wait", {"ids": [1], "timeout": 60}))
        got["show"] = ok(await c.call_tool("show", {"id": 1}))
        got["diff"] = text(await c.call_tool("diff", {"id": 1}))
        got["diff_src"] = text(await c.call_tool("diff", {"id": 1, "paths": ["src/"], "stat": True}))
        got["diff_mail"] = text(await c.call_tool("diff", {"id": 1, "mailbox": True, "round": 1}))
        got["logs"] = await c.call_tool("logs", {"id": 1})
        got["list"] = ok(await c.call_tool("list", {}))
        got["review"] = ok(await c.call_tool("review", {"id": 1, "verdict": "pass", "correctness": 5,
                                                        "notes": "fine"}))
        got["accept"] = ok(await c.call_tool("accept", {"id": 1}))
        got["list_after"] = ok(await c.call_tool("list", {}))
        got["list_all"] = ok(await c.call_tool("list", {"all": True}))
        got["diff_after"] = text(await c.call_tool("diff", {"id": 1}))

    serve(repo, body)
    cli_open = open_ticket(repo, "cli")  # the same field names as the CLI's --json
    assert set(got["open"]) == set(cli_open)
    assert set(got["run"]) == {"id", "pid", "log", "worktree"}
    w = got["wait"]
    assert w["timed_out"] is False and w["pending"] == [] and [p["status"] for p in w["reported"]] == ["COMPLETED"]
    assert set(w["reported"][0]) == set(wo(repo, "show", "1", "--json").json())  # type: ignore[arg-type]
    assert got["show"]["criteria"] == ["bye() returns 1"] and got["show"]["state"] == "reported"
    assert "def bye" in got["diff"] and "docs/n.md" in got["diff"] and "work-orders/" not in got["diff"]
    assert "src/app.py" in got["diff_src"] and "docs" not in got["diff_src"]
    assert "w02-report.md" in got["diff_mail"]
    assert "executor-says-hello" in text(got["logs"])
    assert [t["id"] for t in got["list"]] == [1]
    assert got["review"]["file"].endswith("w02-review.md")
    assert got["accept"]["base"] == "main" and got["accept"]["squash"] is False
    assert git(repo, "log", "-1", "--format=%(trailers:key=Wo-Event,valueonly)", "main").strip() == "merge"
    assert "def bye" in (repo / "src" / "app.py").read_text()
    assert got["list_after"] == [] and [t["state"] for t in got["list_all"]] == ["accepted"]
    assert "def bye" in got["diff_after"] and "work-orders/" not in got["diff_after"]


def test_wait_sends_progress_with_the_executors_latest_tool(repo: Path, tmp_path: Path) -> None:
    # a profile of our own whose output is read with Claude Code's stream-json parser
    tool_line = json.dumps({"type": "assistant", "session_id": "s1", "message": {"content": [
        {"type": "tool_use", "name": "Edit", "input": {"file_path": "src/app.py"}}]}})
    exe = script(tmp_path, f"echo '{tool_line}'\nsleep 3.5\n" + REPORT_OK)
    (repo / ".wo-git.toml").write_text(f'[executors.scripted]\nargv = ["{exe}"]\noutput = "claude"\n')
    git(repo, "add", ".wo-git.toml")
    git(repo, "commit", "-q", "-m", "profile")
    open_ticket(repo, "slow", "--executor", "scripted")
    notes: list[tuple[float, float | None, str | None]] = []
    got: dict[str, Any] = {}

    async def progress(p: float, total: float | None, message: str | None) -> None:
        notes.append((p, total, message))

    async def body(c: Client) -> None:
        ok(await c.call_tool("run", {"id": 1}))
        t0 = time.monotonic()
        got["wait"] = ok(await c.call_tool("wait", {"ids": [1], "timeout": 30}, progress_callback=progress))
        got["seconds"] = time.monotonic() - t0

    serve(repo, body, progress_every=1.0)
    assert got["wait"]["timed_out"] is False and got["wait"]["reported"][0]["status"] == "COMPLETED"
    assert len(notes) >= 2, notes
    assert [n[0] for n in notes] == sorted(n[0] for n in notes) and all(n[1] == 30 for n in notes)
    assert all(n[2] and n[2].startswith("0001 running") for n in notes), notes
    assert any(n[2] and "last tool: Edit app.py" in n[2] for n in notes), notes
    assert got["seconds"] < 20


def test_wait_returns_timed_out_with_the_pending_tickets(repo: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    slow = script(tmp_path, f"while [ ! -e {release} ]; do sleep 0.1; done\n" + REPORT_OK, "slow.sh")
    quick = script(tmp_path, REPORT_OK, "quick.sh")
    open_ticket(repo, "slow")
    open_ticket(repo, "quick")
    got: dict[str, Any] = {}

    async def body(c: Client) -> None:
        ok(await c.call_tool("run", {"id": 1, "argv": [slow]}))
        t0 = time.monotonic()
        got["slice"] = ok(await c.call_tool("wait", {"ids": [1], "timeout": 1}))
        got["slice_s"] = time.monotonic() - t0
        ok(await c.call_tool("run", {"id": 2, "argv": [quick]}))
        got["any"] = ok(await c.call_tool("wait", {"ids": [1, 2], "any": True, "timeout": 60}))
        got["all"] = ok(await c.call_tool("wait", {"ids": [1, 2], "timeout": 0.5}))
        release.touch()
        got["done"] = ok(await c.call_tool("wait", {"ids": [1, 2]}))

    try:
        serve(repo, body)
    finally:
        release.touch()
    s = got["slice"]
    assert s["timed_out"] is True and s["reported"] == [] and [t["id"] for t in s["pending"]] == [1]
    assert s["pending"][0]["state"] == "running" and got["slice_s"] < 10
    assert got["any"]["timed_out"] is False and [p["id"] for p in got["any"]["reported"]] == [2]
    assert got["all"]["timed_out"] is True
    assert [p["id"] for p in got["all"]["reported"]] == [2] and [t["id"] for t in got["all"]["pending"]] == [1]
    assert got["done"]["timed_out"] is False and [p["status"] for p in got["done"]["reported"]] == ["COMPLETED"] * 2


def test_errors_are_tool_errors_with_the_exit_code(repo: Path, tmp_path: Path) -> None:
    ci = script(tmp_path, "mkdir -p .github/workflows\necho 'on: push' > .github/workflows/ci.yml\n" + REPORT_OK,
                "ci.sh")
    edit = script(tmp_path, "echo 'def hello():\n    return \"changed\"' > src/app.py\n" + REPORT_OK, "edit.sh")
    got: dict[str, Any] = {}

    async def call(c: Client, key: str, name: str, args: dict[str, Any]) -> None:
        got[key] = await c.call_tool(name, args)

    async def body(c: Client) -> None:
        await call(c, "unknown", "show", {"id": 9})
        await call(c, "bad_slug", "open", {"slug": "Bad Slug!", "title": "t", "task": "x"})
        await call(c, "empty_task", "open", {"slug": "ok", "title": "t", "task": " "})
        ok(await c.call_tool("open", {"slug": "ci", "title": "CI", "task": "Add CI."}))
        await call(c, "wait_idle", "wait", {"ids": [1]})
        await call(c, "accept_open", "accept", {"id": 1})
        await call(c, "revise_open", "revise", {"id": 1, "task": "more"})
        await call(c, "review_open", "review", {"id": 1, "verdict": "pass"})
        await call(c, "logs_none", "logs", {"id": 1})
        await call(c, "diff_round", "diff", {"id": 1, "round": 1})
        await call(c, "show_round", "show", {"id": 1, "round": 4})
        await call(c, "unknown_exec", "run", {"id": 1, "executor": "nope"})
        ok(await c.call_tool("run", {"id": 1, "argv": [ci]}))
        ok(await c.call_tool("wait", {"ids": [1], "timeout": 60}))
        await call(c, "bad_score", "review", {"id": 1, "correctness": 9})
        await call(c, "bad_verdict", "review", {"id": 1, "verdict": "maybe"})
        await call(c, "guard", "accept", {"id": 1})
        await call(c, "run_reported", "run", {"id": 1, "argv": [ci]})
        ok(await c.call_tool("reject", {"id": 1, "reason": "touched CI"}))
        await call(c, "reject_again", "reject", {"id": 1, "reason": "again"})
        # two tickets editing the same line: the second conflicts at accept
        for slug in ("one", "two"):
            ok(await c.call_tool("open", {"slug": slug, "title": slug, "task": "Change hello."}))
        for i in (2, 3):
            ok(await c.call_tool("run", {"id": i, "argv": [edit]}))
        ok(await c.call_tool("wait", {"ids": [2, 3], "timeout": 60}))
        (repo / "src" / "app.py").write_text("def hello():\n    return 'main'\n")
        git(repo, "commit", "-qam", "main edits hello")
        await call(c, "conflict", "accept", {"id": 2})
        got["update"] = ok(await c.call_tool("update", {"id": 2}))
        await call(c, "update_again", "update", {"id": 2})

    serve(repo, body)
    assert "no ticket 0009" in error(got["unknown"]) and error(got["unknown"]).endswith("(exit 1: error)")
    assert "(exit 1: error)" in error(got["bad_slug"]) and "(exit 1: error)" in error(got["empty_task"])
    assert "not running" in error(got["wait_idle"]) and "wo-git run 1" in error(got["wait_idle"])
    assert "no report" in error(got["accept_open"]) and "(exit 1: error)" in error(got["accept_open"])
    assert "(exit 1: error)" in error(got["revise_open"]) and "(exit 1: error)" in error(got["review_open"])
    assert "no log" in error(got["logs_none"])
    assert "no report yet" in error(got["diff_round"]) and "rounds 1..1" in error(got["show_round"])
    assert "unknown executor" in error(got["unknown_exec"])
    assert "0-5" in error(got["bad_score"]) and "pass or fail" in error(got["bad_verdict"])
    assert error(got["guard"]).endswith("(exit 3: guard rejection)") and "GUARD_REJECTED" in error(got["guard"])
    assert "already reported" in error(got["run_reported"])
    assert "rejected" in error(got["reject_again"])
    assert error(got["conflict"]).endswith("(exit 4: merge conflict)") and "src/app.py" in error(got["conflict"])
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == "main edits hello"  # nothing merged
    # the way on: update makes the conflict a correction round for the executor
    assert got["update"]["outcome"] == "conflict" and got["update"]["round"] == 2, got["update"]
    assert got["update"]["conflicts"] == ["src/app.py"]
    assert "(exit 1: error)" in error(got["update_again"])


def test_plan_tools_apply_show_and_wait_for_a_decision(repo: Path, tmp_path: Path) -> None:
    import yaml

    exe = script(tmp_path, "echo 'x = 1' > src/x.py\n" + REPORT_OK)
    plan = yaml.safe_dump({"name": "small", "phases": ["one"], "tickets": [
        {"key": "add-x", "title": "Add x", "task": "Add src/x.py.", "scope": ["/src/x.py"], "argv": [exe]}]})
    got: dict[str, Any] = {}
    notes: list[str | None] = []

    async def progress(p: float, total: float | None, message: str | None) -> None:
        notes.append(message)

    async def body(c: Client) -> None:
        got["dry"] = ok(await c.call_tool("plan_apply", {"text": plan, "dry_run": True}))
        got["bad"] = await c.call_tool("plan_apply", {"text": "name: x\n"})
        got["apply"] = ok(await c.call_tool("plan_apply", {"text": plan}))
        got["show"] = ok(await c.call_tool("plan_show", {}))
        got["both"] = await c.call_tool("wait", {"ids": [1], "plan": "small"})
        got["unknown"] = await c.call_tool("plan_show", {"name": "nope"})
        got["wait"] = ok(await c.call_tool("wait", {"plan": "small", "timeout": 120}, progress_callback=progress))
        got["none"] = await c.call_tool("wait", {})

    serve(repo, body)
    assert got["dry"]["name"] == "small" and "(exit 1: error)" in error(got["bad"])
    assert got["apply"]["name"] == "small" and got["apply"]["commit"]
    assert got["show"]["name"] == "small" and [t["key"] for t in got["show"]["tickets"]] == ["add-x"]
    assert "not both" in error(got["both"]) and "no plan 'nope'" in error(got["unknown"])
    w = got["wait"]
    assert w["name"] == "small" and [d["key"] for d in w["decisions"]] == ["add-x"], w
    assert "(exit 1: error)" in error(got["none"])
    assert git(repo, "show", f"wo/{w['decisions'][0]['ticket']:04d}-add-x:src/x.py") == "x = 1\n"
