"""A scripted model server on 127.0.0.1 for driving real agent CLIs offline.

``ModelServer(script)`` is a context manager running a stdlib
``ThreadingHTTPServer`` in a thread. It speaks, streamed and unstreamed:

- OpenAI Chat Completions ``POST /v1/chat/completions`` (OpenCode through
  ``@ai-sdk/openai-compatible``; aider through litellm),
- OpenAI Responses ``POST /v1/responses`` (Codex CLI; ``wire_api =
  "responses"``),
- Anthropic Messages ``POST /v1/messages`` (Claude Code; the stream carries
  ``event:`` lines as well as ``data:`` lines, without them Claude Code
  silently repeats the request unstreamed), plus ``/v1/messages/count_tokens``.

Every request is recorded (``server.requests``: path, headers, parsed JSON
body) so a test can assert, say, that a resumed session's request carries the
first round's conversation.

Scripted turn logic, per request:

- ``mode == "rate_limit"``: HTTP 429 with the provider's rate-limit error body
  (OpenAI ``rate_limit_exceeded`` / Anthropic ``rate_limit_error``) and
  ``retry-after``.
- ``mode == "hang"``: accept the request and never answer (until the server
  stops).
- ``mode == "error"``: HTTP 400 ``invalid_request_error`` "scripted failure".
- ``Script.modes`` overrides ``mode`` per API (``chat``, ``responses``,
  ``anthropic``): e.g. 429 for Claude Code while Codex is answered.
- ``Script.gate`` (a ``threading.Event``): every model request waits for it.
- ``Script.hang_after_tools``: a request ending in tool results hangs (the
  agent has written its files; the turn after never comes).
- a request without tools: OpenCode's title request (or Claude Code's side
  requests) gets a short title text, unless it looks like aider (its system
  prompt asks for a *file listing*), which gets the files in aider's
  ``whole`` edit format: the path alone on a line, then a fenced block with
  the whole new content.
- a request with tools whose conversation ends in the user's own message:
  one tool call per file to write, with the tool chosen from the request's
  ``tools`` list: ``write{filePath, content}`` (OpenCode), ``Write{file_path,
  content}`` (Claude Code), ``exec_command{cmd}`` (Codex; an ``apply_patch``
  heredoc, or a ``mkdir -p && cat > file`` heredoc with
  ``codex_write="shell"``).
- a request whose conversation ends in tool results: the final text, and stop.
- ``Script.turns`` (a callable) replaces the last two rules: it gets each
  request that offers tools and returns the final text or the tool calls to
  make, so a test can script a whole architect session (open, run, wait,
  show, accept) by the number of tool results so far.

Each recorded request has its arrival time and body size (``Recorded.time``,
``Recorded.size``).

Which files: ``Script.files`` (path -> content; relative paths are joined to
``Script.cwd``, or without one to the worktree the prompt names, when a tool
needs absolute paths) plus, with
``Script.report=True``, a report in DESIGN.md section 4's format at the path
named in the prompt (``Report file (exact path): `...```, the phrase
``wo_git.executors.profiles.prompt_text`` writes; see :data:`REPORT_PATH_RE`).

Measured facts about aider-chat 0.86.2 (``--edit-format whole``):

- Flags that make it non-interactive and offline-safe: ``--message-file F``
  (send, apply, exit), ``--yes-always``, ``--no-auto-commits`` (wo-git commits),
  ``--no-dirty-commits``, ``--no-check-update``, ``--no-show-model-warnings``,
  ``--analytics-disable``, ``--no-gitignore`` (else it edits .gitignore),
  ``--no-auto-lint``, ``--map-tokens 0``, ``--no-pretty``, ``--no-fancy-input``,
  ``--no-detect-urls``, ``--disable-playwright``; every flag also has an
  ``AIDER_*`` environment variable. ``--model openai/NAME`` with
  ``OPENAI_API_BASE``/``OPENAI_API_KEY`` (or ``--openai-api-base``) selects an
  OpenAI-compatible server. ``LITELLM_LOCAL_MODEL_COST_MAP=True`` stops
  litellm fetching its price list from the network.
- aider has no tools: edits come back as text. In ``whole`` format a new or
  changed file is ``path`` on its own line followed by a fenced block; aider
  writes files named that way (new files are created after ``--yes-always``
  confirms). aider has no session id; resuming is
  ``--restore-chat-history`` from ``.aider.chat.history.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, Self

Mode = Literal["normal", "rate_limit", "hang", "error"]

#: the report path in the prompt, as ``wo_git.executors.profiles.prompt_text`` writes it
REPORT_PATH_RE = re.compile(r"Report file \(exact path\):\s*`([^`]+)`")

#: the worktree in the prompt (``prompt_text``'s step 3): the files' base when ``Script.cwd`` is unset
WORKTREE_RE = re.compile(r"working directory \(a git worktree\):\s*(\S+)")

#: default model names each CLI is pointed at (see :func:`agent_env`)
MODELS = {
    "opencode": "wo/scripted",
    "codex": "scripted",
    "claude": "claude-scripted",
    "aider": "openai/scripted",
}


@dataclass
class Script:
    """What the scripted model does.

    ``files``: path -> content written in the first tool turn (relative paths
    are made absolute with ``cwd`` where the tool needs it). ``report``: also
    write a report at the path parsed from the prompt. ``final_text``: the
    answer after tool results. ``mode``: see the module docstring; may be
    changed while the server runs. ``codex_write``: how Codex writes files.
    """

    files: dict[str, str] = field(default_factory=dict)
    report: bool = True
    report_status: str = "COMPLETED"
    cwd: str | None = None
    final_text: str = "Done: files written."
    title: str = "Scripted task"
    mode: Mode = "normal"
    codex_write: Literal["apply_patch", "shell"] = "apply_patch"
    #: per API (``chat``, ``responses``, ``anthropic``): a mode overriding ``mode``
    modes: dict[str, Mode] = field(default_factory=dict)
    #: when set, every model request waits for it before being answered
    gate: threading.Event | None = None
    #: hang (instead of the final text) on a request that ends in tool results
    hang_after_tools: bool = False
    #: the ``retry-after`` header (seconds) of a 429, or ``None`` for none: Claude Code gives
    #: up at once on a long one and retries a short or missing one for minutes
    retry_after: str | None = "3600"
    #: when set, decides every request that offers tools: return the final text (a ``str``) or
    #: the tool calls to make, ``[(tool name, arguments), ...]`` (a scripted architect session)
    turns: Callable[[dict[str, Any]], str | list[tuple[str, dict[str, Any]]]] | None = None


@dataclass
class Recorded:
    """One request the server received: ``body`` is the parsed JSON (or ``{}``)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: when it arrived (``time.time()``), and the size of its body in bytes
    time: float = 0.0
    size: int = 0


def report_text(status: str = "COMPLETED", files: list[str] | None = None) -> str:
    """A report in DESIGN.md section 4's executor format."""
    names = ", ".join(files or []) or "(none)"
    return (
        "# Report\n"
        f"- Status: {status}\n"
        f"- Files: {names}\n"
        "- What I implemented: wrote the requested files\n"
        "- How to test: cat the files\n"
        "- Notes/questions: none\n"
    )


# --------------------------------------------------------------------- helpers


def _text_of(content: Any) -> str:
    """Flatten a message ``content`` (string or list of parts) to text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for p in content:
            if isinstance(p, dict):
                for key in ("text", "content", "output"):
                    if isinstance(p.get(key), str | list):
                        parts.append(_text_of(p[key]))
                        break
            elif isinstance(p, str):
                parts.append(p)
        return "\n".join(parts)
    return ""


def _all_text(body: dict[str, Any]) -> str:
    """Every piece of text in a request body (system, messages, input)."""
    chunks = [_text_of(body.get("system")), _text_of(body.get("instructions"))]
    for key in ("messages", "input"):
        items = body.get(key)
        if isinstance(items, str):
            chunks.append(items)
        elif isinstance(items, list):
            for m in items:
                if isinstance(m, dict):
                    chunks.append(_text_of(m.get("content")))
                    chunks.append(_text_of(m.get("output")))
    return "\n".join(c for c in chunks if c)


def _tool_names(body: dict[str, Any]) -> list[str]:
    """Names of the tools a request offers (Chat, Responses and Anthropic shapes)."""
    names: list[str] = []
    for t in body.get("tools") or []:
        if not isinstance(t, dict):
            continue
        fn = t.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.append(fn["name"])
        elif isinstance(t.get("name"), str):
            names.append(t["name"])
    return names


def _last_is_tool_result(path: str, body: dict[str, Any]) -> bool:
    """Does the conversation end in tool results (so the model should finish)?"""
    if path.endswith("/responses"):
        items = body.get("input")
        if not isinstance(items, list) or not items:
            return False
        # trailing non-message items after the last user message
        for item in reversed(items):
            if not isinstance(item, dict):
                continue
            if item.get("type") == "function_call_output":
                return True
            if item.get("role") == "user" or item.get("type") == "message":
                return item.get("role") != "user"
        return False
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return False
    last = msgs[-1]
    if not isinstance(last, dict):
        return False
    if last.get("role") == "tool":
        return True
    content = last.get("content")
    if last.get("role") == "user" and isinstance(content, list):
        return any(isinstance(p, dict) and p.get("type") == "tool_result" for p in content)
    return False


def _heredoc(path: str, content: str) -> str:
    delim = "WO_EOF"
    while delim in content:
        delim += "_"
    body = content if content.endswith("\n") else content + "\n"
    return f"{delim}\n{body}{delim}"


# ------------------------------------------------------------------- the server


class ModelServer:
    """Context manager: ``with ModelServer(Script(...)) as srv: srv.url``.

    ``url`` is ``http://127.0.0.1:PORT`` (no ``/v1``); ``requests`` lists every
    :class:`Recorded` request; ``script`` may be changed between runs.
    """

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------
    def __enter__(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                server._record(self, {})
                self._json(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                if not isinstance(body, dict):
                    body = {}
                server._record(self, body, len(raw))
                server._answer(self, body)

            def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; hanging requests are released."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # queries ---------------------------------------------------------------
    def model_requests(self) -> list[Recorded]:
        """The recorded requests that asked a model for an answer."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.split("?")[0].endswith(("/chat/completions", "/responses", "/messages"))
            ]

    def tool_requests(self) -> list[Recorded]:
        """Model requests that offered tools (the agent's real turns)."""
        return [r for r in self.model_requests() if _tool_names(r.body)]

    # internals -------------------------------------------------------------
    def _record(self, h: BaseHTTPRequestHandler, body: dict[str, Any], size: int = 0) -> None:
        with self._lock:
            self.requests.append(
                Recorded(h.command, h.path, {k.lower(): v for k, v in h.headers.items()}, body, time.time(), size)
            )

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _files_for(self, body: dict[str, Any], absolute: bool) -> dict[str, str]:
        """The files to write for this request: script files + report from the prompt."""
        s = self.script
        out: dict[str, str] = {}
        for p, c in s.files.items():
            out[p] = c
        if s.report:
            # the last mention is the current round's (a resumed conversation has all rounds)
            found = REPORT_PATH_RE.findall(_all_text(body))
            if found:
                out[found[-1]] = report_text(s.report_status, sorted(s.files))
        cwd = s.cwd
        if cwd is None:
            # several worktrees share one server: each prompt names its own
            wts = WORKTREE_RE.findall(_all_text(body))
            cwd = wts[-1] if wts else None
        result: dict[str, str] = {}
        for p, c in out.items():
            if absolute and not os.path.isabs(p) and cwd:
                p = os.path.join(cwd, p)
            elif not absolute and os.path.isabs(p) and cwd:
                try:
                    p = os.path.relpath(p, cwd)
                except ValueError:
                    pass
            result[p] = c
        return result

    def _answer(self, h: Any, body: dict[str, Any]) -> None:
        path = h.path.split("?")[0]
        if path.endswith("/count_tokens"):
            h._json(200, {"input_tokens": 100})
            return
        kind: str
        if path.endswith("/chat/completions"):
            kind = "chat"
        elif path.endswith("/responses"):
            kind = "responses"
        elif path.endswith("/messages"):
            kind = "anthropic"
        else:
            h._json(404, {"error": {"message": f"unknown path {path}", "type": "not_found"}})
            return
        gate = self.script.gate
        if gate is not None:
            while not gate.wait(0.1) and not self._stop.is_set():
                pass
        mode = self.script.modes.get(kind, self.script.mode)
        if mode == "hang" or (self.script.hang_after_tools and _last_is_tool_result(path, body)):
            self._stop.wait()
            return
        if mode == "error":
            if kind == "anthropic":
                bad: dict[str, Any] = {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "scripted failure"},
                }
            else:
                bad = {"error": {"message": "scripted failure", "type": "invalid_request_error"}}
            h._json(400, bad)
            return
        if mode == "rate_limit":
            if kind == "anthropic":
                err: dict[str, Any] = {
                    "type": "error",
                    "error": {"type": "rate_limit_error", "message": "Rate limit exceeded"},
                }
            else:
                err = {
                    "error": {
                        "message": "Rate limit reached: Too Many Requests",
                        "type": "rate_limit_exceeded",
                        "code": "rate_limit_exceeded",
                    }
                }
            ra = self.script.retry_after
            h._json(429, err, {"retry-after": ra} if ra is not None else {})
            return

        tools = _tool_names(body)
        calls: list[tuple[str, dict[str, Any]]] = []
        text = ""
        if not tools:
            sys_text = _all_text(body)
            if "file listing" in sys_text:  # aider's whole edit format
                files = self._files_for(body, absolute=False)
                text = "Here are the files.\n\n" + "".join(
                    f"{p}\n```\n{c if c.endswith(chr(10)) else c + chr(10)}```\n\n"
                    for p, c in files.items()
                )
            else:
                text = self.script.title
        elif self.script.turns is not None:
            turn = self.script.turns(body)
            if isinstance(turn, str):
                text = turn
            else:
                calls = turn
        elif _last_is_tool_result(path, body):
            text = self.script.final_text
        else:
            calls = self._tool_calls(tools, body)
            if not calls:
                text = f"No file-writing tool among {tools}"
        stream = bool(body.get("stream"))
        if kind == "chat":
            self._chat(h, body, text, calls, stream)
        elif kind == "responses":
            self._responses(h, body, text, calls)
        else:
            self._anthropic(h, body, text, calls, stream)

    def _tool_calls(self, tools: list[str], body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        calls: list[tuple[str, dict[str, Any]]] = []
        if "write" in tools:
            for p, c in self._files_for(body, absolute=True).items():
                calls.append(("write", {"filePath": p, "content": c}))
        elif "Write" in tools:
            for p, c in self._files_for(body, absolute=True).items():
                calls.append(("Write", {"file_path": p, "content": c}))
        elif "exec_command" in tools or "shell" in tools:
            name = "exec_command" if "exec_command" in tools else "shell"
            files = self._files_for(body, absolute=True)
            if self.script.codex_write == "apply_patch":
                patch = ["*** Begin Patch"]
                for p, c in files.items():
                    patch.append(f"*** Add File: {p}")
                    patch.extend("+" + line for line in c.splitlines())
                patch.append("*** End Patch")
                cmd = "apply_patch <<'PATCH'\n" + "\n".join(patch) + "\nPATCH\n"
            else:
                parts = []
                for p, c in files.items():
                    d = os.path.dirname(p) or "."
                    parts.append(f"mkdir -p '{d}' && cat > '{p}' <<{_heredoc(p, c)}")
                cmd = "\n".join(parts) + "\n"
            args: dict[str, Any] = {"cmd": cmd} if name == "exec_command" else {
                "command": ["bash", "-lc", cmd]
            }
            calls.append((name, args))
        return calls

    # wire formats ------------------------------------------------------------
    def _start_stream(self, h: Any, content_type: str = "text/event-stream") -> None:
        h.send_response(200)
        h.send_header("content-type", content_type)
        h.send_header("cache-control", "no-cache")
        h.send_header("connection", "close")
        h.end_headers()
        h.close_connection = True

    def _chat(
        self, h: Any, body: dict[str, Any], text: str,
        calls: list[tuple[str, dict[str, Any]]], stream: bool,
    ) -> None:
        n = self._next_id()
        model = str(body.get("model") or "scripted")
        usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        tcs = [
            {"id": f"call_{n}_{i}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ]
        finish = "tool_calls" if calls else "stop"
        if not stream:
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tcs:
                msg["tool_calls"] = tcs
            h._json(200, {
                "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                "usage": usage,
            })
            return
        self._start_stream(h)

        def chunk(delta: dict[str, Any], fin: str | None, extra: dict[str, Any] | None = None) -> None:
            obj: dict[str, Any] = {
                "id": f"chatcmpl-{n}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": fin}],
            }
            if extra:
                obj.update(extra)
            h.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())

        chunk({"role": "assistant", "content": ""}, None)
        if text:
            chunk({"content": text}, None)
        for i, tc in enumerate(tcs):
            chunk({"tool_calls": [dict(tc, index=i)]}, None)
        chunk({}, finish, {"usage": usage})
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()

    def _responses(
        self, h: Any, body: dict[str, Any], text: str, calls: list[tuple[str, dict[str, Any]]]
    ) -> None:
        n = self._next_id()
        items: list[dict[str, Any]] = []
        if text:
            items.append({
                "type": "message", "role": "assistant", "id": f"msg_{n}", "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            })
        for i, (name, args) in enumerate(calls):
            items.append({
                "type": "function_call", "id": f"fc_{n}_{i}", "call_id": f"call_{n}_{i}",
                "name": name, "arguments": json.dumps(args), "status": "completed",
            })
        resp = {
            "id": f"resp_{n}", "object": "response", "status": "completed",
            "model": str(body.get("model") or "scripted"), "output": items,
            "usage": {
                "input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 110,
            },
        }
        if not body.get("stream"):
            h._json(200, resp)
            return
        self._start_stream(h)

        def event(obj: dict[str, Any]) -> None:
            h.wfile.write(f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode())

        event({"type": "response.created", "response": dict(resp, status="in_progress", output=[])})
        for i, item in enumerate(items):
            event({"type": "response.output_item.done", "output_index": i, "item": item})
        event({"type": "response.completed", "response": resp})
        h.wfile.flush()

    def _anthropic(
        self, h: Any, body: dict[str, Any], text: str,
        calls: list[tuple[str, dict[str, Any]]], stream: bool,
    ) -> None:
        n = self._next_id()
        model = str(body.get("model") or "claude-scripted")
        blocks: list[dict[str, Any]] = []
        if text:
            blocks.append({"type": "text", "text": text})
        for i, (name, args) in enumerate(calls):
            blocks.append({"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": args})
        stop = "tool_use" if calls else "end_turn"
        usage = {"input_tokens": 100, "output_tokens": 10,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        message = {"id": f"msg_{n}", "type": "message", "role": "assistant", "model": model,
                   "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not stream:
            h._json(200, message)
            return
        self._start_stream(h)

        def event(obj: dict[str, Any]) -> None:
            h.wfile.write(f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode())

        event({"type": "message_start",
               "message": dict(message, content=[], stop_reason=None,
                               usage=dict(usage, output_tokens=1))})
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                event({"type": "content_block_start", "index": i,
                       "content_block": {"type": "text", "text": ""}})
                event({"type": "content_block_delta", "index": i,
                       "delta": {"type": "text_delta", "text": b["text"]}})
            else:
                event({"type": "content_block_start", "index": i,
                       "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"],
                                         "input": {}}})
                event({"type": "content_block_delta", "index": i,
                       "delta": {"type": "input_json_delta",
                                 "partial_json": json.dumps(b["input"])}})
            event({"type": "content_block_stop", "index": i})
        event({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
               "usage": {"output_tokens": 10}})
        event({"type": "message_stop"})
        h.wfile.flush()


# ------------------------------------------------------------ test environment


def agents_bin_dirs() -> list[Path]:
    """Where ``.ci/install-agents`` puts the CLIs: npm's ``.bin`` and aider's venv ``bin``."""
    # the real home (tests replace $HOME), as .ci/install-agents saw it
    real_home = pwd.getpwuid(os.getuid()).pw_dir
    root = Path(os.environ.get("WO_AGENTS_DIR") or Path(real_home) / ".cache" / "wo-git-agents")
    return [root / "npm" / "node_modules" / ".bin", root / "aider-venv" / "bin"]


def find_agent(name: str) -> str | None:
    """Absolute path of an installed agent CLI (``opencode``, ``codex``, ``claude``, ``aider``)."""
    for d in agents_bin_dirs():
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def hermetic_env(home: str | os.PathLike[str]) -> dict[str, str]:
    """A minimal environment with a private HOME and XDG dirs under ``home``.

    PATH keeps the agents' bin dirs first (so ``build_command``'s bare program
    names resolve) plus the system PATH. Git reads no system or global config.
    """
    home = str(home)
    env = {
        "HOME": home,
        "PATH": os.pathsep.join(
            [str(d) for d in agents_bin_dirs()] + [os.environ.get("PATH", "/usr/bin:/bin")]
        ),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
        "XDG_STATE_HOME": os.path.join(home, ".local", "state"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.path.join(home, ".gitconfig"),
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.makedirs(env[k], exist_ok=True)
    # node may need to find the system CA store etc.; nothing else is inherited
    return env


_CODEX_HOMES: list[str] = []


def _codex_home(home: str) -> str:
    """``CODEX_HOME`` for a test home: outside ``/tmp`` (where pytest's folders are).

    Codex CLI refuses to create its helper binaries under the temporary
    directory and its file writes then fail while the run exits 0
    (EXECUTORS.md). One folder per ``home`` (so sessions resume), under
    ``/var/tmp``, removed by :func:`remove_codex_homes` (the test session's end).
    """
    if not os.path.realpath(home).startswith(tempfile.gettempdir().rstrip("/") + "/"):
        path = os.path.join(home, ".codex")
    else:
        digest = hashlib.sha256(os.path.realpath(home).encode()).hexdigest()[:16]
        path = os.path.join("/var/tmp", f"wo-git-test-codex-{os.getuid()}-{digest}")
        if path not in _CODEX_HOMES:
            _CODEX_HOMES.append(path)
    os.makedirs(path, exist_ok=True)
    return path


def remove_codex_homes() -> None:
    """Remove the ``CODEX_HOME`` folders :func:`_codex_home` made in this process."""
    while _CODEX_HOMES:
        shutil.rmtree(_CODEX_HOMES.pop(), ignore_errors=True)


def agent_env(name: str, server_url: str, home: str | os.PathLike[str]) -> dict[str, str]:
    """Test environment pointing agent ``name`` at the model server at ``server_url``.

    ``name`` is ``opencode``, ``codex``, ``claude`` or ``aider``; ``server_url``
    is ``ModelServer.url`` (``http://127.0.0.1:PORT``); ``home`` a private
    directory (HOME and XDG dirs go under it). Returns a complete environment
    (start from it, do not merge into ``os.environ``). Side effect for codex:
    writes ``config.toml`` in ``CODEX_HOME`` (``$home/.codex``, or a folder
    outside /tmp: :func:`_codex_home`; provider ``wo`` with ``wire_api =
    "responses"``, no retries). The model to pass is ``MODELS[name]``.
    Raises ``ValueError`` for an unknown name.
    """
    env = hermetic_env(home)
    home = str(home)
    v1 = server_url.rstrip("/") + "/v1"
    if name == "opencode":
        provider, model = MODELS["opencode"].split("/", 1)
        config = {
            "$schema": "https://opencode.ai/config.json",
            "provider": {
                provider: {
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "wo scripted",
                    "options": {"baseURL": v1, "apiKey": "test-key"},
                    "models": {model: {"name": model, "tool_call": True,
                                       "limit": {"context": 100000, "output": 4096}}},
                }
            },
            "model": MODELS["opencode"],
            "small_model": MODELS["opencode"],
            "autoupdate": False,
            "share": "disabled",
            "permission": {"edit": "allow", "bash": "allow", "webfetch": "deny"},
        }
        env.update({
            "OPENCODE_CONFIG_CONTENT": json.dumps(config),
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
        })
    elif name == "codex":
        codex_home = _codex_home(home)
        Path(codex_home, "config.toml").write_text(
            f'model = "{MODELS["codex"]}"\n'
            'model_provider = "wo"\n'
            'approval_policy = "never"\n'
            'sandbox_mode = "workspace-write"\n'
            "check_for_update_on_startup = false\n"
            "\n[model_providers.wo]\n"
            'name = "wo scripted"\n'
            f'base_url = "{v1}"\n'
            'env_key = "WO_TEST_API_KEY"\n'
            'wire_api = "responses"\n'
            "request_max_retries = 0\n"
            "stream_max_retries = 0\n"
            "stream_idle_timeout_ms = 30000\n"
        )
        env.update({"CODEX_HOME": codex_home, "WO_TEST_API_KEY": "test-key"})
    elif name == "claude":
        env.update({
            "ANTHROPIC_BASE_URL": server_url.rstrip("/"),
            "ANTHROPIC_API_KEY": "test-key",
            "CLAUDE_CONFIG_DIR": os.path.join(home, ".claude"),
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        })
    elif name == "aider":
        env.update({
            "OPENAI_API_BASE": v1,
            "OPENAI_API_KEY": "test-key",
            "AIDER_MODEL": MODELS["aider"],
            "AIDER_EDIT_FORMAT": "whole",
            "AIDER_SHOW_MODEL_WARNINGS": "false",
            "AIDER_CHECK_UPDATE": "false",
            "AIDER_ANALYTICS_DISABLE": "true",
            "AIDER_MAP_TOKENS": "0",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        })
    else:
        raise ValueError(f"unknown agent {name!r}")
    return env


def which(name: str, env: dict[str, str]) -> str | None:
    """``shutil.which`` over ``env['PATH']``."""
    return shutil.which(name, path=env.get("PATH"))


def iter_jsonl(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among ``text``'s lines (other lines skipped)."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                yield obj


@contextlib.contextmanager
def opencode_serve(binary: str, env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """A real ``opencode serve`` on a free 127.0.0.1 port; yields its URL.

    Waits (up to 60 s) for its OpenAPI page to answer; raises ``RuntimeError``
    with the log's tail if it does not come up. ``opencode serve`` ignores
    SIGTERM for a long time, so its process group is killed on exit.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [binary, "serve", "--hostname", "127.0.0.1", "--port", str(port)],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/doc", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("opencode serve did not come up: " + log.read_text()[-2000:]) from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
