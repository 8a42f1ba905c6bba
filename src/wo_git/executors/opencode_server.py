"""Drive a running ``opencode serve`` over its HTTP API (OpenCode 1.18.33).

Server mode sends a work order to an OpenCode server the user already runs
(``opencode serve --hostname 127.0.0.1 --port 4096``), so a person can watch
or steer the same session with ``opencode attach`` (:func:`attach_hint`).

The API, as measured against OpenCode 1.18.33 (its OpenAPI spec is served at
``GET /doc``); every request carries ``x-opencode-directory: <worktree>``,
which scopes it to that project directory:

- ``GET /event``: server-sent events, ``data: {"id", "type", "properties"}``;
  the first is ``server.connected``. For a session: ``session.status``
  (``properties.status.type`` ``busy`` | ``idle`` | ``retry`` with
  ``message``; a rate-limited provider shows as ``retry`` and OpenCode
  retries without end), ``session.idle``, ``session.error``
  (``properties.error.{name, data.message}``), ``message.updated``,
  ``message.part.updated`` (``part.type`` ``tool``/``text``/...).
- ``POST /session`` ``{}`` -> ``{"id": "ses_..."}``.
- ``POST /session/:id/prompt_async`` ``{"model": {"providerID", "modelID"},
  "parts": [{"type": "text", "text"}]}`` -> 204 at once.
- ``POST /session/:id/abort`` -> ``true``.
- ``GET /session/status`` -> ``{sessionID: {"type": "busy"|"retry"}}`` for
  sessions that are not idle.

Only the standard library is used (``http.client``), so nothing else is
needed to talk to a local server.
"""

from __future__ import annotations

import http.client
import json
import queue
import shlex
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from wo_git.errors import ExecutorFailed, InvalidInput
from wo_git.executors.profiles import is_rate_limit_text

ServerStatus = Literal["completed", "error", "timeout", "idle", "aborted", "rate_limited"]


@dataclass(frozen=True)
class ServerResult:
    """How a server-mode run ended.

    ``status``: ``completed`` (the session went idle after working),
    ``error`` (OpenCode reported a session error, or the event stream broke),
    ``timeout`` (``deadline`` passed), ``idle`` (no event for the session for
    ``idle_timeout`` seconds), ``aborted`` (``should_stop()`` said so),
    ``rate_limited`` (the provider answered with a rate limit). Every status
    but ``completed`` and ``error`` aborted the session on the server.
    """

    session_id: str | None
    status: ServerStatus
    error: str | None = None


class _Conn:
    """One base URL: ``http://host:port`` (with optional basic-auth userinfo)."""

    def __init__(self, url: str, directory: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"not an http(s) URL for an OpenCode server: {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"x-opencode-directory": directory, "accept": "application/json"}
        if parts.username is not None:
            import base64

            token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self.headers["authorization"] = "Basic " + base64.b64encode(token.encode()).decode()

    def connect(self, timeout: float | None = None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout if timeout is not None else self.timeout)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """JSON request; returns the parsed answer (``None`` when empty)."""
        conn = self.connect()
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = dict(self.headers)
            if data is not None:
                headers["content-type"] = "application/json"
            conn.request(method, self.prefix + path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status >= 400:
                raise ExecutorFailed(
                    f"OpenCode server: {method} {path} answered {resp.status}: "
                    f"{raw[:300].decode(errors='replace')}"
                )
            return json.loads(raw) if raw.strip() else None
        except (OSError, http.client.HTTPException) as e:
            raise ExecutorFailed(
                f"cannot reach the OpenCode server at {self.scheme}://{self.host}:{self.port}: {e}"
            ) from e
        finally:
            conn.close()


class _EventStream:
    """``GET /event`` read in a thread; events (dicts) or an exception go to ``queue``."""

    def __init__(self, conn: _Conn) -> None:
        self.queue: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self._http = conn.connect(timeout=15.0)
        headers = dict(conn.headers, accept="text/event-stream")
        try:
            self._http.request("GET", conn.prefix + "/event", headers=headers)
            self._resp = self._http.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self._http.close()
            raise ExecutorFailed(
                f"cannot subscribe to the OpenCode server's events ({conn.host}:{conn.port}): {e}"
            ) from e
        if self._resp.status != 200:
            self._http.close()
            raise ExecutorFailed(f"OpenCode server: GET /event answered {self._resp.status}")
        if self._http.sock is not None:
            self._http.sock.settimeout(None)  # events may be minutes apart
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="opencode-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        data: list[str] = []
        try:
            while True:
                raw = self._resp.readline()
                if not raw:
                    raise ConnectionError("the OpenCode server closed the event stream")
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    try:
                        event = json.loads("\n".join(data))
                    except ValueError:
                        event = None
                    data = []
                    if isinstance(event, dict):
                        self.queue.put(event)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            if not self._closed:
                self.queue.put(e)

    def close(self) -> None:
        self._closed = True
        sock = self._http.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._http.close()


def abort_session(url: str, session: str, directory: str) -> None:
    """Ask the server to stop a session (``POST /session/:id/abort``).

    For ``doctor``, after the process that drove the session died. Raises
    :class:`ExecutorFailed` when the server cannot be reached.
    """
    _Conn(url, directory).request("POST", f"/session/{urllib.parse.quote(session)}/abort", {})


def _session_of(event: dict[str, Any]) -> str | None:
    """The session an event is about (``properties.sessionID``, ``info``, ``part``)."""
    props = event.get("properties")
    if not isinstance(props, dict):
        return None
    for holder in (props, props.get("info"), props.get("part")):
        if isinstance(holder, dict) and isinstance(holder.get("sessionID"), str):
            return str(holder["sessionID"])
    return None


def _error_message(err: Any) -> str:
    if isinstance(err, dict):
        data = err.get("data")
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return f"{err.get('name', 'Error')}: {data['message']}"
        if isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err.get("name"), str):
            return str(err["name"])
    return json.dumps(err)


def _model_ref(model: str) -> dict[str, str]:
    provider, sep, model_id = model.partition("/")
    if not sep or not provider or not model_id:
        raise InvalidInput(f"OpenCode model must be PROVIDER/MODEL, got {model!r}")
    return {"providerID": provider, "modelID": model_id}


def run_on_server(
    url: str,
    *,
    directory: str,
    prompt: str,
    model: str | None,
    session: str | None,
    log: BinaryIO,
    deadline: float | None,
    idle_timeout: float | None,
    should_stop: Callable[[], bool],
) -> ServerResult:
    """Run one prompt in an OpenCode server session and wait for it to finish.

    ``url``: the server (``http://127.0.0.1:4096``). ``directory``: the
    worktree (sent as ``x-opencode-directory``). ``model``: ``PROVIDER/MODEL``
    or ``None`` for the server's default. ``session``: an existing session id
    to continue, or ``None`` to create one. ``log``: binary file; each event
    about the session is written as one JSON line (the same ``data`` objects
    OpenCode sends). ``deadline``: an absolute ``time.monotonic()`` value;
    ``idle_timeout``: seconds without an event for the session;
    ``should_stop``: polled about every 0.25 s. The events are subscribed to
    before the prompt is sent, so none is missed.

    Returns a :class:`ServerResult`. Raises :class:`ExecutorFailed` when the
    server cannot be reached or refuses the session or prompt, and
    :class:`InvalidInput` for a malformed ``url`` or ``model``.
    """
    conn = _Conn(url, directory)
    body: dict[str, Any] = {"parts": [{"type": "text", "text": prompt}]}
    if model:
        body["model"] = _model_ref(model)
    events = _EventStream(conn)
    try:
        # wait for server.connected so the subscription is live
        try:
            first = events.queue.get(timeout=15.0)
        except queue.Empty:
            raise ExecutorFailed("the OpenCode server sent no events within 15 s") from None
        if isinstance(first, BaseException):
            raise ExecutorFailed(f"OpenCode event stream failed: {first}")
        if session is None:
            created = conn.request("POST", "/session", {})
            if not isinstance(created, dict) or not isinstance(created.get("id"), str):
                raise ExecutorFailed(f"OpenCode server: POST /session gave no id: {created!r}")
            session = str(created["id"])
        sid: str = session
        conn.request("POST", f"/session/{urllib.parse.quote(sid)}/prompt_async", body)
        return _follow(conn, events, sid, log, deadline, idle_timeout, should_stop)
    finally:
        events.close()


def _follow(
    conn: _Conn,
    events: _EventStream,
    sid: str,
    log: BinaryIO,
    deadline: float | None,
    idle_timeout: float | None,
    should_stop: Callable[[], bool],
) -> ServerResult:
    def abort(status: ServerStatus, error: str | None = None) -> ServerResult:
        try:
            conn.request("POST", f"/session/{urllib.parse.quote(sid)}/abort", {})
        except ExecutorFailed as e:
            error = f"{error}; abort failed: {e}" if error else f"abort failed: {e}"
        return ServerResult(sid, status, error)

    started = time.monotonic()
    last_activity = started
    last_poll = started
    busy_seen = False
    error: str | None = None
    while True:
        now = time.monotonic()
        if should_stop():
            return abort("aborted")
        if deadline is not None and now >= deadline:
            return abort("timeout", "deadline passed")
        if idle_timeout is not None and now - last_activity >= idle_timeout:
            return abort("idle", f"no activity for {idle_timeout:g} s")
        if busy_seen and now - last_poll >= 5.0:
            # safety net for a lost idle event: the session list shows only non-idle sessions
            last_poll = now
            statuses = conn.request("GET", "/session/status")
            if isinstance(statuses, dict) and sid not in statuses:
                return ServerResult(sid, "error" if error else "completed", error)
        try:
            item = events.queue.get(timeout=0.25)
        except queue.Empty:
            continue
        if isinstance(item, BaseException):
            return ServerResult(sid, "error", f"OpenCode event stream failed: {item}")
        if _session_of(item) != sid:
            continue
        last_activity = time.monotonic()
        log.write(json.dumps(item, separators=(",", ":")).encode() + b"\n")
        log.flush()
        kind = item.get("type")
        props = item.get("properties") or {}
        if kind == "session.status":
            status = props.get("status") or {}
            stype = status.get("type")
            if stype in ("busy", "retry"):
                busy_seen = True
            if stype == "retry":
                message = str(status.get("message") or "")
                if is_rate_limit_text(message) or is_rate_limit_text(json.dumps(status)):
                    return abort("rate_limited", message or "rate limited")
            elif stype == "idle" and busy_seen:
                return ServerResult(sid, "error" if error else "completed", error)
        elif kind == "session.idle" and busy_seen:
            return ServerResult(sid, "error" if error else "completed", error)
        elif kind == "session.error":
            err = props.get("error")
            error = _error_message(err)
            if isinstance(err, dict) and err.get("name") == "MessageAbortedError":
                return ServerResult(sid, "aborted", error)
            if is_rate_limit_text(error):
                return abort("rate_limited", error)
        elif kind in ("message.updated", "message.part.updated"):
            busy_seen = True


def attach_hint(url: str, session: str | None, directory: str | None = None) -> str:
    """The shell command that opens the session in OpenCode's TUI.

    ``opencode attach URL --session SESSION [--dir DIRECTORY]`` (flags as in
    ``opencode attach --help``, 1.18.33), shell-quoted.
    """
    argv = ["opencode", "attach", url]
    if session:
        argv += ["--session", session]
    if directory:
        argv += ["--dir", directory]
    return shlex.join(argv)
