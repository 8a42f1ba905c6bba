"""Executor profiles: how to start a coding agent and how to read its output.

A profile is data (:class:`ExecutorProfile`): an argv template, where the
prompt goes, extra environment, and which output parser reads the agent's
lines. The built-ins (:data:`BUILTIN_PROFILES`) were measured against the real
CLIs, pinned in ``.ci/install-agents``: OpenCode 1.18.33, Codex CLI 0.169.0,
Claude Code 2.1.329 and aider-chat 0.86.2 (see ``../shared/EXECUTORS.md`` and
``tests/modelserver.py``). ``.wo-git.toml`` can add profiles or override fields
of a built-in (``[executors.NAME]``, :func:`load_profiles`).

Templates: each argv element and env value may hold placeholders ``{prompt}``
``{model}`` ``{session}`` ``{worktree}`` ``{work_file}`` ``{report_file}``
``{prompt_file}`` ``{server_url}``; ``{{`` and ``}}`` are literal braces; any
other brace text is kept as is. A placeholder whose value is unset is an error.

Output formats read by :func:`parse_line` (one event per line):

- ``opencode``: ``opencode run --format json`` JSON lines; every event has
  ``sessionID``; ``tool_use`` has ``part.tool`` and ``part.state``
  (``input``, ``title``); ``error`` has ``error.{name, data.message}``.
  With ``--print-logs --log-level ERROR`` its stderr carries
  ``level=ERROR ... error.error="AI_APICallError: Rate limit reached..."``:
  OpenCode retries a 429 without end (honouring ``retry-after``), so this
  log line is the only sign of a rate limit and the runner must stop it.
- ``codex``: ``codex exec --json`` JSON lines ``thread.started{thread_id}``
  (the session id), ``item.started``/``item.completed`` with ``item.type``
  ``command_execution{command}``, ``file_change{changes[{path, kind}]}``,
  ``agent_message``, ``error`` (warnings); ``error{message}`` and
  ``turn.failed{error{message}}`` (a 429 ends it: ``exceeded retry limit,
  last status: 429 Too Many Requests``).
- ``claude``: ``claude -p --output-format stream-json --verbose`` JSON lines
  ``system``/``init`` (``session_id``), ``system``/``api_retry``
  (``attempt``, ``max_retries``, ``retry_delay_ms``, ``error_status``,
  ``error``: printed within a second of an HTTP 429, ``"error_status": 429,
  "error": "rate_limit"``, after which Claude Code keeps retrying for about
  three minutes: the first such event is the rate limit), ``assistant`` (``message.content``
  ``tool_use`` blocks; on an API error ``error: "rate_limit"``,
  ``api_error_status: 429``), ``user`` (tool results) and ``result``
  (``is_error``, ``result``, ``api_error_status``).
- ``text``: any program; only ``session_pattern`` and rate-limit text.

Rate limits are recognised by text (HTTP 429, "rate limit", "usage limit",
"rate_limit_error", "Too Many Requests", case-insensitive). For the JSON CLIs
only error-carrying events and non-JSON lines (stderr logs) are scanned, so a
model writing about rate limiting in its own output does not stop a run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from wo_git.errors import InvalidConfig, InvalidInput

PLACEHOLDERS: tuple[str, ...] = (
    "prompt",
    "model",
    "session",
    "worktree",
    "work_file",
    "report_file",
    "prompt_file",
    "server_url",
)

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ExecutorProfile(BaseModel):
    """How to start one executor and read its output (a ``[executors.NAME]`` table).

    ``argv`` is the template for a fresh session, ``resume_argv`` the one used
    instead when a session id is given (``None``: the program cannot resume,
    so the session is ignored). ``model_args`` are added when a model is set,
    ``server_args`` when a server URL is set (OpenCode's ``--attach``); both,
    and a built-in's extra user arguments, go just before a final ``{prompt}``
    element, or at the end. ``prompt_via``: ``arg`` (``{prompt}`` in argv, or
    appended), ``stdin`` (piped), ``file`` (``{prompt_file}``, or appended).
    ``env`` is added to the run's environment (values are templates).
    ``session_pattern`` is a regex with a group ``id`` searched in each output
    line. ``output`` picks the line parser (see the module docstring).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    argv: list[str]
    resume_argv: list[str] | None = None
    model_args: list[str] = []
    server_args: list[str] = []
    prompt_via: Literal["arg", "stdin", "file"] = "arg"
    env: dict[str, str] = {}
    session_pattern: str | None = None
    output: Literal["text", "opencode", "codex", "claude"] = "text"
    worktree_state: list[str] = []
    """Paths in the worktree where the CLI keeps its own state (aider's tags cache):
    plain paths from the worktree's root, a trailing ``/`` for a folder, no
    patterns. While untracked they are left out of the round's change (and
    named in the report); tracked files under them, and anything the executor
    commits, are gathered and guarded as usual. Comes from the profile (the
    base's committed config), never from the worktree."""
    state_dirs: list[str] = []
    """Folders (or files) outside the worktree the CLI writes its own state to
    (``~`` and ``$VARS`` expanded): writable inside the sandbox (``wo_git.runs.sandbox``)."""

    @field_validator("session_pattern")
    @classmethod
    def _check_pattern(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            rx = re.compile(v)
        except re.error as e:
            raise ValueError(f"session_pattern is not a valid regex: {e}") from e
        if "id" not in rx.groupindex:
            raise ValueError("session_pattern needs a group named 'id', e.g. (?P<id>\\S+)")
        return v

    @field_validator("worktree_state")
    @classmethod
    def _check_state(cls, v: list[str]) -> list[str]:
        for item in v:
            check_state_path(item)
        return v

    @field_validator("argv", "resume_argv", "model_args", "server_args")
    @classmethod
    def _check_templates(cls, v: list[str] | None) -> list[str] | None:
        for item in v or []:
            _check_template(item)
        return v

    @field_validator("env")
    @classmethod
    def _check_env(cls, v: dict[str, str]) -> dict[str, str]:
        for value in v.values():
            _check_template(value)
        return v


_STATE_FORBIDDEN = re.compile(r"[*?\[\]\\!#\x00-\x1f]")


def check_state_path(path: str) -> None:
    """Refuse a ``worktree_state`` entry that is not one plain path from the worktree's root.

    Rules: relative, no ``.`` or ``..`` segments, not in ``.git``, no
    gitignore pattern characters (``* ? [ ] \\ ! #``), no control
    characters, no leading or trailing spaces. Raises ``ValueError``.
    """
    parts = path.rstrip("/").split("/")
    if (not path.strip("/") or path.startswith("/") or path != path.strip() or _STATE_FORBIDDEN.search(path)
            or any(p in ("", ".", "..") for p in parts) or parts[0].lower() == ".git"):
        raise ValueError(
            f"worktree_state entry {path!r} must be a plain path from the worktree's root "
            "(no patterns, no '..', not in .git), e.g. '.aider.tags.cache.v4/'"
        )


def state_excludes(paths: list[str]) -> list[str]:
    """``worktree_state`` entries as gitignore lines anchored at the worktree's root
    (``/.aider.tags.cache.v4/``): each matches that one path and nothing else."""
    out = []
    for path in paths:
        check_state_path(path)
        out.append("/" + path)
    return out


def worktree_state_of(config_table: dict[str, Any], names: set[str] | list[str]) -> list[str]:
    """The ``worktree_state`` paths of the profiles ``names`` (built-ins overlaid by the
    config's ``[executors]`` table); unknown names add nothing, a config that does not
    validate gives the built-ins' paths only."""
    try:
        profiles = load_profiles(config_table)
    except InvalidConfig:
        profiles = dict(BUILTIN_PROFILES)
    return list(dict.fromkeys(p for n in sorted(names) if n in profiles for p in profiles[n].worktree_state))


def _check_template(template: str) -> None:
    for m in _TOKEN.finditer(template):
        key = m.group(1)
        if key is not None and key not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{key}}} in {template!r}; known: "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            )


# ----------------------------------------------------------------- built-ins

_OPENCODE_RUN = ["opencode", "run", "--format", "json", "--print-logs", "--log-level", "ERROR"]
_CODEX_FLAGS = [
    "--json",
    "--skip-git-repo-check",
    "--disable",
    "unbounded_connection_retries",
    "-c",
    'approval_policy="never"',
    "-c",
    'sandbox_mode="workspace-write"',
]
_CLAUDE_RUN = [
    "claude",
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--permission-mode",
    "acceptEdits",
]

BUILTIN_PROFILES: dict[str, ExecutorProfile] = {
    p.name: p
    for p in (
        ExecutorProfile(name="command", argv=[]),
        ExecutorProfile(
            name="opencode",
            argv=[*_OPENCODE_RUN, "{prompt}"],
            resume_argv=[*_OPENCODE_RUN, "-s", "{session}", "{prompt}"],
            model_args=["-m", "{model}"],
            server_args=["--attach", "{server_url}", "--dir", "{worktree}"],
            env={"OPENCODE_DISABLE_AUTOUPDATE": "1"},
            output="opencode",
            state_dirs=["~/.local/share/opencode", "~/.local/state/opencode", "~/.config/opencode"],
        ),
        ExecutorProfile(
            name="codex",
            # `codex exec resume` has no -s flag: the sandbox goes in through -c
            argv=["codex", "exec", *_CODEX_FLAGS, "{prompt}"],
            resume_argv=["codex", "exec", "resume", *_CODEX_FLAGS, "{session}", "{prompt}"],
            model_args=["-m", "{model}"],
            output="codex",
            state_dirs=["$CODEX_HOME", "~/.codex"],
        ),
        ExecutorProfile(
            name="claude",
            argv=[*_CLAUDE_RUN, "{prompt}"],
            resume_argv=[*_CLAUDE_RUN, "--resume", "{session}", "{prompt}"],
            model_args=["--model", "{model}"],
            env={"DISABLE_AUTOUPDATER": "1"},
            output="claude",
            state_dirs=["$CLAUDE_CONFIG_DIR", "~/.claude", "~/.claude.json"],
        ),
        ExecutorProfile(
            name="aider",
            argv=[
                "aider",
                "--yes-always",
                "--no-auto-commits",
                "--no-dirty-commits",
                "--no-gitignore",
                "--no-check-update",
                "--analytics-disable",
                "--no-show-model-warnings",
                "--no-pretty",
                "--no-fancy-input",
                "--no-detect-urls",
                "--disable-playwright",
                "--input-history-file",
                os.devnull,
                "--chat-history-file",
                "{prompt_file}.chat.md",
                "--message-file",
                "{prompt_file}",
            ],
            model_args=["--model", "{model}"],
            prompt_via="file",
            output="text",
            # its repo map's cache has no flag to move it; the histories are moved by the
            # flags above, and listed for argv overrides that drop them
            worktree_state=[".aider.tags.cache.v4/", ".aider.chat.history.md", ".aider.input.history",
                            ".aider.llm.history"],
            state_dirs=["~/.aider"],
        ),
    )
}


# ----------------------------------------------------------------- the prompt


def _round_label(report_file: str) -> tuple[str, str]:
    """(``W02``, ``contact-form``) from ``work-orders/0007-contact-form/w02-report.md``."""
    p = PurePosixPath(report_file.replace(os.sep, "/"))
    m = re.match(r"[wW](\d+)", p.name)
    label = f"W{m.group(1)}" if m else "Report"
    slug = re.sub(r"^\d+-", "", p.parent.name) or "this ticket"
    return label, slug


def prompt_text(work_file: str, report_file: str, worktree: str) -> str:
    """The instruction handed to every executor for one round.

    ``work_file`` and ``report_file`` are paths relative to ``worktree`` (or
    absolute); the prompt names both as absolute paths, the report on a line
    ``Report file (exact path): `/abs/.../wNN-report.md``` (the test model
    server parses that phrase). Asks for the report in DESIGN.md section 4's
    format. Never fails.
    """
    wt = os.path.abspath(worktree)
    work = os.path.normpath(os.path.join(wt, work_file))
    report = os.path.normpath(os.path.join(wt, report_file))
    label, slug = _round_label(report_file)
    return (
        "You are the executor for a wo-git work order.\n"
        "\n"
        f"1. Read the work order: {work}\n"
        "2. Follow the executor rules in AGENTS.md at the repository root, if present.\n"
        f"3. Do the task in this working directory (a git worktree): {wt}\n"
        "   Change only what the task needs. Never touch secrets (.env files, keys,\n"
        "   credentials), CI workflow files, deploy configuration, or wo-git's own files\n"
        "   (.wo-git.toml, the work orders); never change git history, branches, tags,\n"
        "   remotes or git config (no amend, rebase, reset, push). You need not commit:\n"
        "   wo-git commits your changes together with your report.\n"
        "4. When you are done, or blocked, write your report (create folders as needed).\n"
        f"   Report file (exact path): `{report}`\n"
        "   Use exactly this format:\n"
        "\n"
        f"# {label} - Report for {slug}\n"
        "- Status: COMPLETED | PARTIAL | BLOCKED\n"
        "- Files: <files you changed>\n"
        "- What I implemented: <summary>\n"
        "- How to test: <commands>\n"
        "- Notes/questions: <anything the architect should know>\n"
    )


# ------------------------------------------------------------ the command line


@dataclass(frozen=True)
class Command:
    """A ready-to-start executor command.

    ``argv``: the program and its arguments. ``env``: variables to add to the
    inherited environment (the runner adds ``WO_*``). ``stdin``: bytes to pipe,
    or ``None`` for a closed stdin (``/dev/null``). ``prompt_file``: a path the
    caller must fill with the prompt before starting (``None``: not used).
    ``resumed``: the session id was passed on (the profile can resume).
    """

    argv: list[str]
    env: dict[str, str]
    stdin: bytes | None = None
    prompt_file: str | None = None
    resumed: bool = False


def _fill(template: str, values: dict[str, str | None], profile: str) -> str:
    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        key = m.group(1)
        if key not in values:
            raise InvalidInput(
                f"executor {profile!r}: unknown placeholder {{{key}}} in {template!r}; known: "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            )
        value = values[key]
        if value is None:
            raise InvalidInput(
                f"executor {profile!r}: {template!r} needs {{{key}}} but no {key} is set"
            )
        return value

    return _TOKEN.sub(repl, template)


def _uses(templates: list[str], key: str) -> bool:
    return any(m.group(1) == key for t in templates for m in _TOKEN.finditer(t))


def build_command(
    profile: ExecutorProfile,
    *,
    prompt: str,
    prompt_file: str,
    model: str | None,
    session: str | None,
    worktree: str,
    work_file: str,
    report_file: str,
    user_argv: list[str] | None = None,
    server_url: str | None = None,
) -> Command:
    """Fill ``profile``'s templates for one run; pure (writes nothing).

    ``user_argv`` is the run's ``-- ARGV``: the whole command for the
    ``command`` profile (or a user profile with an empty ``argv``), used
    verbatim, untemplated; for other profiles, extra arguments placed with the
    model arguments. ``session`` selects ``resume_argv`` when the profile has
    one. Raises :class:`InvalidInput` when the command would be empty, a
    template names an unknown placeholder, or needs a value that is unset
    (e.g. ``{model}`` without a model).
    """
    values: dict[str, str | None] = {
        "prompt": prompt,
        "model": model,
        "session": session,
        "worktree": worktree,
        "work_file": work_file,
        "report_file": report_file,
        "prompt_file": prompt_file,
        "server_url": server_url,
    }
    resumed = bool(session) and profile.resume_argv is not None
    if not profile.argv:
        if not user_argv:
            raise InvalidInput(
                f"executor {profile.name!r} has no command: give one after `--` "
                "(e.g. `wo-git run 7 -- ./do-it.sh`) or set argv in [executors."
                f"{profile.name}]"
            )
        argv = list(user_argv)
        templated: list[str] = []
    else:
        templated = list(profile.resume_argv if resumed and profile.resume_argv else profile.argv)
        extras: list[str] = []
        if model:
            extras += profile.model_args
        if server_url:
            extras += profile.server_args
        if profile.prompt_via == "arg" and not _uses(templated, "prompt"):
            templated.append("{prompt}")
        if profile.prompt_via == "file" and not _uses(templated, "prompt_file"):
            templated.append("{prompt_file}")
        if templated and templated[-1] == "{prompt}":
            templated[-1:-1] = extras
        else:
            templated += extras
        argv = [_fill(t, values, profile.name) for t in templated]
        if user_argv:
            if argv and templated[-1] == "{prompt}":
                argv[-1:-1] = user_argv
            else:
                argv += user_argv
    env = {k: _fill(v, values, profile.name) for k, v in profile.env.items()}
    needs_file = profile.prompt_via == "file" or _uses(templated, "prompt_file")
    return Command(
        argv=argv,
        env=env,
        stdin=prompt.encode("utf-8") if profile.prompt_via == "stdin" else None,
        prompt_file=prompt_file if needs_file else None,
        resumed=resumed,
    )


# ------------------------------------------------------------- reading output


@dataclass(frozen=True)
class LineEvent:
    """What one output line says: a session id, the latest tool call as a
    short label (``write hello.txt``), a rate limit, or a fatal error text."""

    session_id: str | None = None
    tool: str | None = None
    rate_limited: bool = False
    error: str | None = None


RATE_LIMIT_RE = re.compile(
    r"\bHTTP(?:/[\d.]+)?\s*:?\s*429\b|\(429\)|\b429 Too Many|rate[ _-]?limit"
    r"|usage[ _-]limit|too many requests|RateLimitError",
    re.IGNORECASE,
)
_ERROR_429 = re.compile(r"\b429\b")


def is_rate_limit_text(text: str) -> bool:
    """Does ``text`` read like a provider's rate-limit or usage-limit answer?"""
    return bool(RATE_LIMIT_RE.search(text))


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _target(inp: Any) -> str:
    """A short target for a tool call's input: a file's name, a command, a pattern."""
    if not isinstance(inp, dict):
        return ""
    for key in ("filePath", "file_path", "path", "notebook_path"):
        v = inp.get(key)
        if isinstance(v, str) and v:
            return os.path.basename(v.rstrip("/")) or v
    for key in ("command", "cmd", "pattern", "query", "url", "description"):
        v = inp.get(key)
        if isinstance(v, list):
            v = " ".join(str(x) for x in v)
        if isinstance(v, str) and v:
            return _short(v)
    return ""


def _label(name: str, target: str) -> str:
    return f"{name} {target}".strip()


def _error_text(err: Any) -> str:
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        data = err.get("data")
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return str(data["message"])
        for key in ("message", "error", "name", "type"):
            v = err.get(key)
            if isinstance(v, str) and v:
                return v
            if isinstance(v, dict):
                return _error_text(v)
    return json.dumps(err)


def _err_event(text: str, raw: Any = None) -> tuple[str, bool]:
    blob = text if raw is None else text + " " + json.dumps(raw)
    return text, bool(RATE_LIMIT_RE.search(blob) or _ERROR_429.search(blob))


def _parse_opencode(obj: dict[str, Any]) -> LineEvent:
    sid = obj.get("sessionID")
    session = sid if isinstance(sid, str) else None
    kind = obj.get("type")
    if kind == "tool_use":
        part = obj.get("part") or {}
        state = part.get("state") or {}
        name = str(part.get("tool") or "tool")
        title = state.get("title")
        target = _target(state.get("input"))
        if not target and isinstance(title, str):
            target = _short(title)
        return LineEvent(session_id=session, tool=_label(name, target))
    if kind == "error":
        text, limited = _err_event(_error_text(obj.get("error")), obj.get("error"))
        return LineEvent(session_id=session, error=text, rate_limited=limited)
    return LineEvent(session_id=session)


def _parse_codex(obj: dict[str, Any]) -> LineEvent:
    kind = obj.get("type")
    if kind == "thread.started" and isinstance(obj.get("thread_id"), str):
        return LineEvent(session_id=obj["thread_id"])
    if kind in ("item.started", "item.completed", "item.updated"):
        item = obj.get("item") or {}
        itype = item.get("type")
        if itype == "command_execution":
            return LineEvent(tool=_label("exec", _short(str(item.get("command") or ""))))
        if itype == "file_change":
            changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
            if changes:
                first = changes[0]
                label = _label(str(first.get("kind") or "edit"), _target(first))
                if len(changes) > 1:
                    label += f" (+{len(changes) - 1})"
                return LineEvent(tool=label)
            return LineEvent(tool="edit")
        if itype == "mcp_tool_call":
            return LineEvent(tool=_label("mcp", f"{item.get('server', '')}.{item.get('tool', '')}"))
        if itype == "web_search":
            return LineEvent(tool=_label("search", _short(str(item.get("query") or ""))))
        if itype == "error":  # a warning, the turn goes on
            return LineEvent(rate_limited=is_rate_limit_text(str(item.get("message") or "")))
        return LineEvent()
    if kind == "error":
        text, limited = _err_event(str(obj.get("message") or "error"))
        return LineEvent(error=text, rate_limited=limited)
    if kind == "turn.failed":
        text, limited = _err_event(_error_text(obj.get("error") or "turn failed"))
        return LineEvent(error=text, rate_limited=limited)
    return LineEvent()


def _parse_claude(obj: dict[str, Any]) -> LineEvent:
    sid = obj.get("session_id")
    session = sid if isinstance(sid, str) else None
    kind = obj.get("type")
    status = obj.get("api_error_status")
    api_limited = status == 429 or obj.get("api_error_type") == "rate_limit_error"
    if kind == "system" and obj.get("subtype") == "api_retry":
        # Claude Code is about to retry an API error; only a 429 stops the run (an overloaded
        # or failing server is worth its retries)
        retry_status = obj.get("error_status")
        if retry_status == 429 or obj.get("error") == "rate_limit":
            text = (f"rate limit (HTTP {retry_status or 429}): Claude Code would retry "
                    f"(attempt {obj.get('attempt', '?')} of {obj.get('max_retries', '?')})")
            return LineEvent(session_id=session, error=text, rate_limited=True)
        return LineEvent(session_id=session)
    if kind == "assistant":
        message = obj.get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        tool: str | None = None
        texts: list[str] = []
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                tool = _label(str(block.get("name") or "tool"), _target(block.get("input")))
            elif block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
        if obj.get("error") or obj.get("is_api_error_message"):
            text = " ".join(texts) or str(obj.get("error"))
            limited = api_limited or obj.get("error") == "rate_limit" or is_rate_limit_text(text)
            return LineEvent(session_id=session, tool=tool, error=text, rate_limited=limited)
        return LineEvent(session_id=session, tool=tool)
    if kind == "result" and obj.get("is_error"):
        text = str(obj.get("result") or obj.get("subtype") or "error")
        if isinstance(obj.get("errors"), list) and obj["errors"]:
            text = "; ".join(str(e) for e in obj["errors"])
        return LineEvent(
            session_id=session,
            error=text,
            rate_limited=api_limited or is_rate_limit_text(text),
        )
    return LineEvent(session_id=session)


def parse_line(profile: ExecutorProfile, line: str) -> LineEvent:
    """Read one line of an executor's output (stdout or stderr) into a :class:`LineEvent`.

    JSON lines are parsed by ``profile.output``'s reader (formats in the module
    docstring); other lines, and every line of ``text`` profiles, are only
    scanned for rate-limit text. ``profile.session_pattern`` (group ``id``)
    supplies the session id when the reader found none. Never raises on
    malformed input: an unreadable line is an empty event.
    """
    stripped = line.strip()
    event = LineEvent()
    obj: Any = None
    if profile.output != "text" and stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
    if isinstance(obj, dict):
        if profile.output == "opencode":
            event = _parse_opencode(obj)
        elif profile.output == "codex":
            event = _parse_codex(obj)
        else:
            event = _parse_claude(obj)
    elif stripped:
        event = LineEvent(rate_limited=is_rate_limit_text(stripped))
    if event.session_id is None and profile.session_pattern:
        m = re.search(profile.session_pattern, line)
        if m and m.group("id"):
            event = LineEvent(
                session_id=m.group("id"),
                tool=event.tool,
                rate_limited=event.rate_limited,
                error=event.error,
            )
    return event


# ------------------------------------------------------------------ config


def load_profiles(config_table: dict[str, Any]) -> dict[str, ExecutorProfile]:
    """The built-in profiles overlaid by ``.wo-git.toml``'s ``[executors]`` table.

    ``config_table`` maps NAME to a table of :class:`ExecutorProfile` fields
    (``name`` may be left out; it is the key). A NAME that is a built-in
    replaces only the fields it gives; a new NAME needs at least ``argv``.
    Returns NAME -> profile. Raises :class:`InvalidConfig` naming the table
    and the problem (not a table, unknown key, bad type, bad template or regex).
    """
    profiles = dict(BUILTIN_PROFILES)
    if not isinstance(config_table, dict):
        raise InvalidConfig("[executors] must be a table of [executors.NAME] tables")
    for name, table in config_table.items():
        if not isinstance(table, dict):
            raise InvalidConfig(f"[executors.{name}] must be a table, not {type(table).__name__}")
        if "name" in table and table["name"] != name:
            raise InvalidConfig(
                f"[executors.{name}]: name = {table['name']!r} differs from the table's name"
            )
        base: dict[str, Any] = profiles[name].model_dump() if name in profiles else {}
        merged = {**base, **table, "name": name}
        try:
            profiles[name] = ExecutorProfile.model_validate(merged)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or name}: {err['msg']}"
                for err in e.errors()
            )
            raise InvalidConfig(f"[executors.{name}]: {problems}") from None
    return profiles
