"""``wo-git mcp``: the architect's tools as a stdio MCP server.

A thin adapter, like ``cli.py``: each tool parses its arguments, calls the
same core function the CLI command calls, and returns the same fields as
that command's ``--json`` (as compact JSON text; ``diff`` and ``logs``
return the text the CLI prints). A :class:`~wo_git.errors.WoGitError`
becomes a tool error (``isError``) whose one line is the CLI's message
followed by the exit code and its meaning, e.g.
``ticket 0007 is running ... (exit 1: error)``.

Built on the official MCP Python SDK (PyPI ``mcp``, major version 2:
``mcp.server.mcpserver.MCPServer``), installed with the extra
``wo-git[mcp]``. Tool annotations follow the protocol's ``ToolAnnotations``
(``readOnlyHint``, ``destructiveHint``, ``idempotentHint``, ``openWorldHint``).

``wait`` never makes the model poll: it blocks in a worker thread on the
same kernel wake-up ``wo-git wait`` uses (:func:`wo_git.tickets.packet.wait_for`:
``flock`` on each run lock), returns when all (or, with ``any``, the first)
of the tickets has its report, sends a progress notification every
``progress_every`` seconds (10 by default) naming each running ticket, its
run time and the executor's latest tool call, and returns
``timed_out: true`` with the tickets still running at the end of its time
slice (default :data:`WAIT_DEFAULT` s, at most :data:`WAIT_MAX` s). With
``plan`` it is ``wo-git wait --plan``: it drives the plan until a ticket
needs the architect, forwarding the driver's progress lines.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from wo_git import errors, tickets
from wo_git.git import Repo
from wo_git.plan import drive as plan_drive
from wo_git.plan import state as plan_state
from wo_git.plan import store as plan_store
from wo_git.remote import follow as remote_follow
from wo_git.remote import sync as remote_sync
from wo_git.runs import run as run_mod
from wo_git.runs.run import ticket_config
from wo_git.tickets import listing, opening, packet
from wo_git.tickets.review import review as do_review
from wo_git.tickets.review import ticket_diff
from wo_git.tickets.update import update as do_update
from wo_git.tickets.verdict import reject as do_reject

WAIT_DEFAULT = 50.0
"""Seconds one ``wait`` call blocks by default: under the 60 s tool-call limit of Codex and others."""
WAIT_MAX = 600.0
"""The longest time slice ``wait`` accepts (for clients that keep a call alive on progress)."""
LOG_TAIL = 80
"""Lines ``logs`` returns by default."""

INSTRUCTIONS = """\
wo-git: you are the architect. You write scoped work orders; a cheaper executor agent does each in its own \
git worktree and commits a report. You decide and review; never do the executor's work, never poll.
Loop: open (task, criteria you can check, scope globs) -> run (starts in the background) -> wait (blocks \
at no cost to you until the report; if timed_out, call wait again) -> show (criteria, report, diffstat, \
guard verdict; diff only when you need the code) -> accept, or revise with specific feedback then run \
again, or reject. After two failed corrections, ask a person.
Report status: COMPLETED (review, then accept); PARTIAL or BLOCKED (read the notes: revise, or reject); \
NO_REPORT (the executor stopped without a report: logs, then revise and run; run alone is refused); GUARD_REJECTED (it \
touched protected files such as CI, deploy, secrets or agent config; nothing of it is on the branch: \
revise with clearer limits). accept re-checks the guard and merges; on a merge conflict, update then run.
Errors end with the exit code and its meaning: 1 error (the text says what to do), 3 guard rejection, \
4 merge conflict, 5 executor failure, 6 stale ref (retry), 7 timed out, still running (wait again).
Many tickets with phases and dependencies: plan_apply a plan, plan_run, then wait with plan (it returns \
when a ticket needs your decision). Lost track? list shows every open ticket and its state."""

_F = TypeVar("_F", bound=Callable[..., Any])

# Hints left out take the protocol's defaults: readOnlyHint false, destructiveHint true,
# idempotentHint false, openWorldHint true (mcp_types.ToolAnnotations).
_RO = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(destructive_hint=False, open_world_hint=False)
_DESTRUCTIVE = ToolAnnotations(destructive_hint=True, open_world_hint=False)


def _text(data: Any) -> CallToolResult:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), default=str)
    return CallToolResult(content=[TextContent(type="text", text=body)])


def tool_error(err: errors.WoGitError) -> CallToolResult:
    """The tool error for a wo-git error: its one line, then ``(exit N: meaning)``."""
    line = " ".join(str(err).split())
    return CallToolResult(
        content=[TextContent(type="text", text=f"{line} (exit {err.exit_code}: {errors.meaning(err.exit_code)})")],
        is_error=True,
    )


def _call(fn: Callable[[], Any]) -> CallToolResult:
    try:
        return _text(fn())
    except errors.WoGitError as err:
        return tool_error(err)


def build_server(root: Path | None = None, progress_every: float = 10.0) -> MCPServer:
    """The MCP server over the repository at ``root`` (default: the current directory, read per call).

    ``progress_every`` is the seconds between ``wait``'s progress notifications.
    """

    def repo() -> Repo:
        return Repo(str(root) if root is not None else os.getcwd())

    mcp = ToolSet()

    @mcp.tool(name="open", description="Open a ticket: commit a work order on a new branch.", annotations=_WRITE)
    def open_(slug: str, title: str, task: str, criteria: list[str] | None = None, scope: list[str] | None = None,
              context: str = "", allow: list[str] | None = None, base: str | None = None,
              executor: str | None = None, model: str | None = None) -> CallToolResult:
        def go() -> dict[str, Any]:
            req = tickets.OpenRequest(slug=slug, title=title, task=task, criteria=tuple(criteria or ()),
                                      scope=tuple(scope or ()), allow=tuple(allow or ()), base=base,
                                      executor=executor, model=model, context=context)
            return opening.open_ticket(repo(), req).to_json()
        return _call(go)

    @mcp.tool(description="Start the executor in the background; then wait.",
              annotations=ToolAnnotations(destructive_hint=False))
    def run(id: int, executor: str | None = None, model: str | None = None, argv: list[str] | None = None,
            timeout: float | None = None, new_session: bool = False) -> CallToolResult:
        def go() -> dict[str, Any]:
            opts = run_mod.RunOptions(argv=list(argv or ()), executor=executor, model=model, timeout=timeout,
                                      new_session=new_session)
            launch = run_mod.detach(repo(), id, opts)
            return {"id": launch.ticket, "pid": launch.pid, "log": launch.log, "worktree": launch.worktree}
        return _call(go)

    @mcp.tool(description=f"Block until the tickets report (any: the first), or with plan until a plan "
                          f"ticket needs you. After timeout s (default {WAIT_DEFAULT:g}, max {WAIT_MAX:g}) "
                          "returns timed_out: wait again.",
              annotations=_RO)
    async def wait(ctx: Context, ids: list[int] | None = None, any: bool = False, plan: str | None = None,
                   timeout: float = WAIT_DEFAULT) -> CallToolResult:
        slice_ = min(max(timeout, 0.0), WAIT_MAX)
        start = time.monotonic()

        def note(message: str) -> None:
            anyio.from_thread.run(ctx.report_progress, round(time.monotonic() - start, 1), slice_, message)

        def tickets_() -> dict[str, Any]:
            if plan is not None:
                if ids:
                    raise errors.InvalidInput("give ids or plan, not both")
                r = repo()
                name = plan_store.resolve_name(r, plan)
                st = plan_drive.wait(r, name, slice_, progress=note)
                return {"timed_out": True, "plan": name} if st is None else st.to_json()
            r = repo()
            return remote_follow.wait_for(r, ids or [], timeout=slice_, any_=any,
                                          remote=remote_sync.remote_in_use(r),
                                          on_progress=lambda p: note(p.message()),
                                          progress_every=progress_every).to_json()

        result: CallToolResult = await anyio.to_thread.run_sync(lambda: _call(tickets_), abandon_on_cancel=True)
        return result

    @mcp.tool(description="The review packet: criteria, report, diffstat, exit code, guard verdict.",
              annotations=_RO)
    def show(id: int, round: int | None = None) -> CallToolResult:
        def go() -> dict[str, Any]:
            r = repo()
            tk = tickets.load(r, id)
            cfg = ticket_config(r, tk)
            tk = tickets.load(r, tk.id, cfg)
            if round is not None and not 1 <= round <= tk.round:
                raise errors.InvalidInput(f"ticket {tk.label} has rounds 1..{tk.round}")
            return packet.build(r, cfg, tk, round).to_json()
        return _call(go)

    @mcp.tool(description="The ticket's diff (mailbox left out); after accept, what was merged.", annotations=_RO)
    def diff(id: int, paths: list[str] | None = None, round: int | None = None,
             stat: bool = False, mailbox: bool = False) -> CallToolResult:
        return _call(lambda: ticket_diff(repo(), id, round_=round, mailbox=mailbox, pathspecs=tuple(paths or ()),
                                         stat=stat).decode("utf-8", errors="replace") or "(no changes)")

    @mcp.tool(name="list", description="Tickets and their states (all: with closed ones).", annotations=_RO)
    def list_(all: bool = False) -> CallToolResult:
        return _call(lambda: [t.to_json() for t in listing.summaries(repo(), closed=all)])

    @mcp.tool(description=f"The executor's raw output, last {LOG_TAIL} lines by default.", annotations=_RO)
    def logs(id: int, round: int | None = None, tail: int = LOG_TAIL) -> CallToolResult:
        return _call(lambda: b"".join(packet.log_chunks(repo(), id, round, tail=max(tail, 0)))
                     .decode("utf-8", errors="replace"))

    @mcp.tool(description="A correction order: the next round on the same branch; then run.", annotations=_WRITE)
    def revise(id: int, task: str, criteria: list[str] | None = None, context: str = "",
               scope: list[str] | None = None, allow: list[str] | None = None, executor: str | None = None,
               model: str | None = None) -> CallToolResult:
        def go() -> dict[str, Any]:
            r = repo()
            tk = tickets.load(r, id)
            cfg = ticket_config(r, tk)
            tk = tickets.load(r, tk.id, cfg)
            tk = tickets.revise_ticket(r, cfg, tk, task=task, criteria=list(criteria or ()), context=context,
                                       scope=list(scope) if scope else None, allow=list(allow) if allow else None,
                                       executor=executor, model=model)
            return {"id": tk.id, "round": tk.round, "work_file": tk.work_path(cfg),
                    "report_file": tk.report_path(cfg), "commit": tk.tip}
        return _call(go)

    @mcp.tool(description="Commit a review: scores 0-5, verdict pass|fail, notes.", annotations=_WRITE)
    def review(id: int, verdict: str | None = None, notes: str = "", correctness: int | None = None,
               completeness: int | None = None, quality: int | None = None,
               presence: int | None = None) -> CallToolResult:
        def go() -> dict[str, Any]:
            scores = {"presence": presence, "correctness": correctness, "completeness": completeness,
                      "quality": quality}
            bad = [k for k, v in scores.items() if v is not None and not 0 <= v <= 5]
            if bad:
                raise errors.InvalidInput(f"scores are 0-5: {', '.join(bad)}")
            if verdict not in (None, "pass", "fail"):
                raise errors.InvalidInput(f"verdict is pass or fail, not {verdict!r}")
            oid, path = do_review(repo(), id, scores=scores, verdict=verdict, notes=notes)
            return {"id": id, "commit": oid, "file": path}
        return _call(go)

    @mcp.tool(description="Guard re-check, then merge the ticket into its base.", annotations=_DESTRUCTIVE)
    def accept(id: int, squash: bool = False, force: bool = False, message: str | None = None) -> CallToolResult:
        def go() -> dict[str, Any]:
            r = repo()
            a = remote_follow.accept(r, id, remote=remote_sync.remote_in_use(r), force=force, squash=squash,
                                     message=message)
            return {"id": a.ticket, "base": a.base, "merge": a.merge, "verdict": a.verdict, "squash": a.squash,
                    "forced": a.forced, "updated_worktrees": a.updated_worktrees, "leftovers": a.leftovers}
        return _call(go)

    @mcp.tool(description="Merge the base into the ticket after an accept conflict; a conflict becomes a "
                          "correction round (then run).", annotations=_WRITE)
    def update(id: int) -> CallToolResult:
        return _call(lambda: do_update(repo(), id).to_json())

    @mcp.tool(description="Close the ticket without merging.", annotations=_DESTRUCTIVE)
    def reject(id: int, reason: str) -> CallToolResult:
        def go() -> dict[str, Any]:
            oid, leftovers = do_reject(repo(), id, reason=reason)
            return {"id": id, "verdict": oid, "leftovers": leftovers}
        return _call(go)

    register_plan_tools(mcp, repo)
    return MCPServer("wo-git", instructions=INSTRUCTIONS, log_level="WARNING", tools=mcp.tools)


class ToolSet:
    """The tools being built: ``@tools.tool(...)`` makes an SDK ``Tool`` with a compact input schema."""

    def __init__(self) -> None:
        self.tools: list[Tool] = []

    def tool(self, name: str | None = None, description: str = "",
             annotations: ToolAnnotations | None = None) -> Callable[[_F], _F]:
        """Register the decorated function as a tool (its signature is the input schema)."""
        def add(fn: _F) -> _F:
            t = Tool.from_function(fn, name=name, description=description, annotations=annotations,
                                   structured_output=False)
            t.parameters = compact_schema(t.parameters)
            self.tools.append(t)
            return fn
        return add


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema without what costs bytes and tells the model nothing.

    Drops pydantic's ``title`` keys, and turns ``anyOf: [X, {"type": "null"}]``
    with ``default: null`` into plain ``X`` (an optional argument is one left
    out). Architects pay for the tool list on every turn.
    """
    out: dict[str, Any] = {k: v for k, v in schema.items() if k != "title"}
    props = {}
    for name, prop in schema.get("properties", {}).items():
        p = {k: v for k, v in prop.items() if k != "title"}
        alts = p.get("anyOf")
        if isinstance(alts, list) and {"type": "null"} in alts and p.get("default", 0) is None:
            rest = [a for a in alts if a != {"type": "null"}]
            p.pop("anyOf")
            p.pop("default")
            p.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        props[name] = p
    if props:
        out["properties"] = props
    return out


def register_plan_tools(tools: ToolSet, repo: Callable[[], Repo]) -> None:
    """The plan tools (:mod:`wo_git.plan`), registered on ``tools`` like the ticket tools.

    ``plan_apply`` (``wo-git plan apply``, the file's text as an argument),
    ``plan_show`` and ``plan_run`` (always detached, as ``plan run
    --detach``); ``wait`` takes ``plan`` for ``wo-git wait --plan``. Same
    field names as those commands' ``--json``.
    """

    @tools.tool(name="plan_apply", description="Record a plan (YAML: name, phases, tickets); dry_run only checks.",
          annotations=_WRITE)
    def plan_apply(text: str, dry_run: bool = False) -> CallToolResult:
        return _call(lambda: plan_store.apply(repo(), text, origin="plan", dry_run=dry_run).to_json())

    @tools.tool(name="plan_show", description="A plan's phases, tickets, states and the decisions due.",
          annotations=_RO)
    def plan_show(name: str | None = None) -> CallToolResult:
        def go() -> dict[str, object]:
            r = repo()
            return plan_state.compute(r, plan_store.resolve_name(r, name))[2].to_json()
        return _call(go)

    @tools.tool(name="plan_run", description="Drive a plan in the background; then wait with plan.",
          annotations=ToolAnnotations(destructive_hint=False))
    def plan_run(name: str | None = None) -> CallToolResult:
        def go() -> dict[str, object]:
            r = repo()
            resolved = plan_store.resolve_name(r, name)
            pid, log = plan_drive.detach(r, resolved)
            return {"name": resolved, "pid": pid, "log": log}
        return _call(go)


def serve(root: Path | None = None, progress_every: float = 10.0) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    server = build_server(root, progress_every)
    anyio.run(server.run_stdio_async)
