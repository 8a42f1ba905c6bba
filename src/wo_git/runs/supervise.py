"""Running one executor process under supervision.

The executor runs in its own session and process group (so a timeout, an
idle timeout or ``abort`` ends the whole tree it started), with stdin closed
unless the profile pipes the prompt, and its stdout and stderr appended as
raw bytes to a log file (nothing is decoded on the way, so non-UTF-8 and
floods cost nothing but disk). Lines are handed to a parser for the session
id, the latest tool call and rate-limit answers.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from wo_git.errors import ExecutorFailed

GRACE_SECONDS = 5.0
"""seconds a stopped executor group gets between SIGTERM and SIGKILL"""
POLL_SECONDS = 0.5
"""longest wait between two checks of ``should_stop`` and the time limits"""
MAX_LINE = 1 << 16


class LineInfo(Protocol):
    """What a profile's parser reports about one output line."""

    @property
    def session_id(self) -> str | None: ...
    @property
    def tool(self) -> str | None: ...
    @property
    def rate_limited(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


@dataclass
class Outcome:
    """How a supervised run ended.

    ``stopped_by`` is ``None`` when the executor exited by itself, else
    ``timeout``, ``idle-timeout``, ``abort``, ``interrupted`` or
    ``rate-limit``. Durations are seconds; ``output_bytes`` counts the log.
    """

    exit_code: int | None
    duration: float
    stopped_by: str | None = None
    session_id: str | None = None
    last_tool: str | None = None
    rate_limited: bool = False
    error: str | None = None
    output_bytes: int = 0
    pgid: int | None = None
    tools: list[str] = field(default_factory=list)


def _kill_group(pgid: int, proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group, give it :data:`GRACE_SECONDS`, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; make sure its children are too
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def kill_group(pgid: int) -> None:
    """End a process group that is not our child (doctor, abort): TERM, then KILL."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def shell_env(env: Mapping[str, str], cwd: Path | str) -> dict[str, str]:
    """``env`` as a shell started in ``cwd`` passes it on: ``PWD`` is ``cwd`` (absolute).

    ``OLDPWD`` goes too (it names where the user was, never the worktree).
    """
    out = {k: v for k, v in env.items() if k != "OLDPWD"}
    out["PWD"] = os.path.abspath(cwd)
    return out


def supervise(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: BinaryIO,
    stdin: bytes | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    parse: Callable[[str], LineInfo] | None = None,
    should_stop: Callable[[], str | None] = lambda: None,
    on_start: Callable[[int], None] = lambda pgid: None,
    on_progress: Callable[[Outcome], None] = lambda o: None,
    stop_on_rate_limit: bool = True,
) -> Outcome:
    """Run ``argv`` to completion or until a limit ends it; never raises for its exit.

    The program starts in ``cwd`` as a shell would start it there: ``env``
    plus ``PWD`` set to ``cwd`` (a shell exports ``PWD`` on ``cd``; an
    inherited one names the directory the user ran wo-git in, and OpenCode
    takes its project folder from ``PWD``, refusing writes elsewhere as
    ``external_directory``). ``should_stop`` is polled every :data:`POLL_SECONDS` at most and returns a reason
    (``"abort"``) to stop. Raises :class:`ExecutorFailed` only when the
    program cannot be started at all (missing, not executable).
    """
    start = time.monotonic()
    env = shell_env(env, cwd)
    # trapped before the start: a Ctrl-C as soon as the executor runs still ends in the post-run hook
    old_handlers = _trap_signals()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        _restore_signals(old_handlers)
        raise ExecutorFailed(f"executor program {argv[0]!r} not found: install it or put it on PATH") from None
    except PermissionError:
        _restore_signals(old_handlers)
        raise ExecutorFailed(f"executor program {argv[0]!r} is not executable (chmod +x it)") from None
    except OSError as e:  # ENOEXEC: no #! line and not a binary, and the like
        why = "not a program (a script needs a #! line)" if e.errno == errno.ENOEXEC else e.strerror
        _restore_signals(old_handlers)
        raise ExecutorFailed(f"executor program {argv[0]!r} could not start: {why}") from None
    pgid = proc.pid
    on_start(pgid)
    out = Outcome(exit_code=None, duration=0.0, pgid=pgid)
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    last_output = time.monotonic()
    pending = b""
    eof = False
    try:
        while not eof:
            now = time.monotonic()
            reason = should_stop() or _signalled()
            if reason is None and timeout is not None and now - start > timeout:
                reason = "timeout"
            if reason is None and idle_timeout is not None and now - last_output > idle_timeout:
                reason = "idle-timeout"
            if reason is None and out.rate_limited and stop_on_rate_limit:
                reason = "rate-limit"
            if reason is not None:
                out.stopped_by = reason
                _kill_group(pgid, proc)
                break
            for _key, _ev in sel.select(timeout=POLL_SECONDS):
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    eof = True
                    break
                last_output = time.monotonic()
                log.write(chunk)
                out.output_bytes += len(chunk)
                if parse is not None:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    if len(pending) > MAX_LINE:
                        lines.append(pending[:MAX_LINE])
                        pending = b""
                    for raw in lines:
                        _absorb(out, parse(raw[:MAX_LINE].decode("utf-8", errors="replace")))
            log.flush()
            on_progress(out)
        if parse is not None and pending:
            _absorb(out, parse(pending[:MAX_LINE].decode("utf-8", errors="replace")))
        try:
            out.exit_code = proc.wait(timeout=GRACE_SECONDS if out.stopped_by is None else 10)
        except subprocess.TimeoutExpired:
            # stdout closed but the leader lingers: end it like a timeout
            _kill_group(pgid, proc)
            out.exit_code = proc.wait()
        if out.stopped_by is None:
            # a leader that exited may leave children in its group: end them
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        _restore_signals(old_handlers)
        sel.close()
        proc.stdout.close()
        log.flush()
    out.duration = time.monotonic() - start
    return out


class _EventTap:
    """The log file for a server-mode run: writes through, and reads each JSON
    event line (OpenCode's ``/event`` objects) for the session id and tool calls."""

    def __init__(self, log: BinaryIO, out: Outcome, on_progress: Callable[[Outcome], None]) -> None:
        self.log, self.out, self.on_progress = log, out, on_progress

    def write(self, data: bytes) -> int:
        n = self.log.write(data)
        self.out.output_bytes += len(data)
        for raw in data.splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                _absorb_server_event(self.out, event)
        self.on_progress(self.out)
        return n

    def flush(self) -> None:
        self.log.flush()


def _absorb_server_event(out: Outcome, event: dict[str, Any]) -> None:
    props = event.get("properties")
    if not isinstance(props, dict):
        return
    part = props.get("part")
    for holder in (props, props.get("info"), part):
        if isinstance(holder, dict) and isinstance(holder.get("sessionID"), str):
            out.session_id = str(holder["sessionID"])
            break
    if event.get("type") == "message.part.updated" and isinstance(part, dict) and part.get("type") == "tool":
        state = part.get("state")
        if not isinstance(state, dict) or state.get("status") != "running":
            return
        inp = state.get("input")
        if not isinstance(inp, dict):
            inp = {}
        target = next((str(inp[k]) for k in ("filePath", "path", "command", "pattern") if inp.get(k)), "")
        if "/" in target and " " not in target:
            target = os.path.basename(target.rstrip("/"))
        label = f"{part.get('tool') or 'tool'} {' '.join(target.split())[:60]}".strip()
        out.last_tool = label
        out.tools.append(label)


def supervise_server(
    url: str,
    *,
    directory: Path,
    prompt: str,
    model: str | None,
    session: str | None,
    log: BinaryIO,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    should_stop: Callable[[], str | None] = lambda: None,
    on_progress: Callable[[Outcome], None] = lambda o: None,
) -> Outcome:
    """Run one prompt on a running ``opencode serve`` (its HTTP API) under the same limits.

    The session is aborted on the server when a limit, ``abort`` or a signal
    ends the run, and a provider's rate limit (OpenCode's ``retry`` status)
    stops it (``opencode run --attach`` shows neither: the retries happen in
    the server and the client prints nothing). The log gets each event as a
    JSON line. Raises :class:`ExecutorFailed` when the server cannot be reached.
    """
    from wo_git.executors.opencode_server import run_on_server

    start = time.monotonic()
    out = Outcome(exit_code=None, duration=0.0, session_id=session)
    reason: list[str] = []

    def stop() -> bool:
        r = should_stop() or _signalled()
        if r and not reason:
            reason.append(r)
        return bool(r)

    old_handlers = _trap_signals()
    try:
        res = run_on_server(
            url, directory=str(directory), prompt=prompt, model=model, session=session,
            log=_EventTap(log, out, on_progress),  # type: ignore[arg-type]
            deadline=None if timeout is None else start + timeout,
            idle_timeout=idle_timeout, should_stop=stop,
        )
    finally:
        _restore_signals(old_handlers)
        log.flush()
    out.session_id = res.session_id or out.session_id
    out.error = res.error
    if res.status == "completed":
        out.exit_code = 0
    elif res.status == "error":
        out.exit_code = 1
    elif res.status == "rate_limited":
        out.stopped_by, out.rate_limited = "rate-limit", True
    else:
        out.stopped_by = {"timeout": "timeout", "idle": "idle-timeout"}.get(
            res.status, reason[0] if reason else "abort")
    out.duration = time.monotonic() - start
    return out


def _absorb(out: Outcome, info: LineInfo) -> None:
    if info.session_id:
        out.session_id = info.session_id
    if info.tool:
        out.last_tool = info.tool
        out.tools.append(info.tool)
    if info.rate_limited:
        out.rate_limited = True
    if info.error:
        out.error = info.error


_SIGNALLED: list[str] = []


def _signalled() -> str | None:
    return _SIGNALLED[0] if _SIGNALLED else None


def _trap_signals() -> dict[int, object]:
    """Turn SIGTERM/SIGINT/SIGHUP into a stop request, so post-run still happens."""
    _SIGNALLED.clear()
    old: dict[int, object] = {}

    def handler(signum: int, _frame: object) -> None:
        _SIGNALLED.append("abort" if signum == signal.SIGTERM else "interrupted")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    return old


def _restore_signals(old: dict[int, object]) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)  # type: ignore[arg-type]


def status_line(out: Outcome, elapsed: float) -> str:
    """One-line live status: elapsed time, output volume, latest tool call."""
    size = out.output_bytes
    vol = f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"
    tool = f" | {out.last_tool}" if out.last_tool else ""
    return f"[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] {vol} output{tool}"


def is_tty() -> bool:
    """Whether stderr is a terminal (live status line) or not (plain lines)."""
    return sys.stderr.isatty()
