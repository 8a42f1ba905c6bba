"""The built-in executor profiles driving the real agent CLIs against a scripted model.

Needs ``.ci/install-agents`` (binaries under ``$WO_AGENTS_DIR``); every test
skips cleanly when its CLI is missing. Each run is bounded by a timeout and
kills the whole process group (the CLIs can hang: EXECUTORS.md pitfalls).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelserver import MODELS, ModelServer, Script, agent_env, find_agent, opencode_serve
from wo_git.executors.opencode_server import attach_hint, run_on_server
from wo_git.executors.profiles import (
    BUILTIN_PROFILES,
    Command,
    LineEvent,
    build_command,
    parse_line,
    prompt_text,
)

pytestmark = pytest.mark.agents

RUN_TIMEOUT = 120.0


def need(name: str) -> str:
    path = find_agent(name)
    if path is None:
        pytest.skip(f"{name} is not installed (run .ci/install-agents)")
    return path


@dataclass
class Run:
    rc: int | None
    lines: list[str]
    events: list[LineEvent] = field(default_factory=list)
    killed: bool = False
    seconds: float = 0.0

    @property
    def session(self) -> str | None:
        ids = [e.session_id for e in self.events if e.session_id]
        return ids[-1] if ids else None

    @property
    def tools(self) -> list[str]:
        return [e.tool for e in self.events if e.tool]

    @property
    def rate_limited(self) -> bool:
        return any(e.rate_limited for e in self.events)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def run_cmd(
    profile_name: str,
    cmd: Command,
    cwd: Path,
    env: dict[str, str],
    *,
    timeout: float = RUN_TIMEOUT,
    stop_on: Callable[[LineEvent], bool] | None = None,
) -> Run:
    """Start ``cmd`` like wo-git's runner: own process group, stdin closed or piped,
    stdout+stderr merged, each line parsed; kill the group on timeout or ``stop_on``."""
    profile = BUILTIN_PROFILES[profile_name]
    full_env = dict(env, **cmd.env)
    full_env["PWD"] = str(cwd)  # as a shell started in cwd passes it on (OpenCode reads it)
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd.argv,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.PIPE if cmd.stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if cmd.stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(cmd.stdin)
        proc.stdin.close()
    run = Run(rc=None, lines=[])
    stop = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            run.lines.append(line)
            ev = parse_line(profile, line)
            run.events.append(ev)
            if stop_on is not None and stop_on(ev):
                stop.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    while proc.poll() is None and not stop.is_set():
        if time.monotonic() - start > timeout:
            break
        time.sleep(0.1)
    if proc.poll() is None:
        run.killed = True
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    t.join(timeout=5)
    run.rc = proc.returncode
    run.seconds = time.monotonic() - start
    return run


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(worktree, home): a repo with one commit and a linked worktree on a ticket branch."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str, cwd: Path = repo) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (repo / "README.md").write_text("# demo\n")
    (repo / "AGENTS.md").write_text("Executor rules: do only the task.\n")
    git("add", ".")
    git("commit", "-qm", "init")
    wt = tmp_path / "repo.wo" / "0001-hello"
    git("worktree", "add", "-q", "-b", "wo/0001-hello", str(wt))
    orders = wt / "work-orders" / "0001-hello"
    orders.mkdir(parents=True)
    (orders / "w01-work.md").write_text("# W01 - hello\n## Task\nCreate hello.txt.\n")
    (orders / "w03-work.md").write_text("# W03 - hello\n## Task\nAlso create round2.txt.\n")
    yield wt, home


def make_command(
    name: str, wt: Path, rnd: int, session: str | None, prompt_dir: Path, server_url: str | None = None
) -> Command:
    work = f"work-orders/0001-hello/w{2 * rnd - 1:02d}-work.md"
    report = f"work-orders/0001-hello/w{2 * rnd:02d}-report.md"
    prompt = prompt_text(work, report, str(wt))
    prompt_file = prompt_dir / f"prompt-{rnd}.md"
    cmd = build_command(
        BUILTIN_PROFILES[name],
        prompt=prompt,
        prompt_file=str(prompt_file),
        model=MODELS[name],
        session=session,
        worktree=str(wt),
        work_file=work,
        report_file=report,
        user_argv=None,
        server_url=server_url,
    )
    if cmd.prompt_file:
        Path(cmd.prompt_file).write_text(prompt)
    return cmd


def conversation_text(body: dict[str, object]) -> str:
    return json.dumps(body)


@pytest.mark.parametrize("name", ["opencode", "codex", "claude"])
def test_agent_writes_files_reports_and_resumes(
    name: str, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    need(name)
    wt, home = workspace
    script = Script(cwd=str(wt), files={"hello.txt": "hello world\n"})
    with ModelServer(script) as srv:
        env = agent_env(name, srv.url, home)
        cmd = make_command(name, wt, 1, None, tmp_path)
        first = run_cmd(name, cmd, wt, env)
        assert first.rc == 0, first.output[-3000:]
        assert (wt / "hello.txt").read_text() == "hello world\n"
        report = (wt / "work-orders/0001-hello/w02-report.md").read_text()
        assert "- Status: COMPLETED" in report
        assert first.session, first.output[-3000:]
        assert any("hello.txt" in t for t in first.tools), first.tools
        assert not first.rate_limited
        n_first = len(srv.tool_requests())

        # round 2 resumes the session: the model sees round 1's conversation
        script.files = {"round2.txt": "second round\n"}
        cmd2 = make_command(name, wt, 2, first.session, tmp_path)
        assert cmd2.resumed
        second = run_cmd(name, cmd2, wt, env)
        assert second.rc == 0, second.output[-3000:]
        assert (wt / "round2.txt").read_text() == "second round\n"
        assert (wt / "work-orders/0001-hello/w04-report.md").is_file()
        assert second.session == first.session
        later = srv.tool_requests()[n_first:]
        assert later
        seen = conversation_text(later[0].body)
        assert "w02-report.md" in seen and "w04-report.md" in seen


@pytest.mark.parametrize("name", ["opencode", "codex", "claude"])
def test_agent_rate_limit_is_detected(
    name: str, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    need(name)
    wt, home = workspace
    with ModelServer(Script(cwd=str(wt), mode="rate_limit")) as srv:
        env = agent_env(name, srv.url, home)
        cmd = make_command(name, wt, 1, None, tmp_path)
        # Codex and Claude Code exit by themselves; OpenCode must be stopped
        stop = (lambda e: e.rate_limited) if name == "opencode" else None
        run = run_cmd(name, cmd, wt, env, timeout=60, stop_on=stop)
        assert run.rate_limited, run.output[-3000:]
        if name == "opencode":
            # OpenCode retries a 429 without end; its --print-logs ERROR line is the
            # signal, and the runner stops it (here: killed on the first such line)
            assert run.killed
        else:
            assert not run.killed and run.rc != 0, run.output[-3000:]
        assert run.seconds < 50
        assert not (wt / "hello.txt").exists()


def test_agent_hang_is_bounded(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    need("claude")
    wt, home = workspace
    with ModelServer(Script(cwd=str(wt), mode="hang")) as srv:
        env = agent_env("claude", srv.url, home)
        cmd = make_command("claude", wt, 1, None, tmp_path)
        run = run_cmd("claude", cmd, wt, env, timeout=5)
        assert run.killed and run.seconds < 15


# ----------------------------------------------------------------- aider


def test_aider_writes_files_and_report(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    need("aider")
    wt, home = workspace
    with ModelServer(Script(cwd=str(wt), files={"hello.txt": "hello world\n"})) as srv:
        env = agent_env("aider", srv.url, home)
        cmd = make_command("aider", wt, 1, None, tmp_path)
        assert cmd.prompt_file and cmd.stdin is None
        run = run_cmd("aider", cmd, wt, env)
        assert run.rc == 0, run.output[-3000:]
        assert (wt / "hello.txt").read_text() == "hello world\n"
        report = (wt / "work-orders/0001-hello/w02-report.md").read_text()
        assert "- Status: COMPLETED" in report
        assert srv.model_requests()
        # aider left nothing of its own in the worktree and made no commit
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=wt, capture_output=True, text=True, check=True
        ).stdout
        assert ".aider" not in status, status
        log = subprocess.run(
            ["git", "log", "--oneline"], cwd=wt, capture_output=True, text=True, check=True
        ).stdout
        assert len(log.splitlines()) == 1, log


def test_aider_rate_limit_is_detected(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    need("aider")
    wt, home = workspace
    with ModelServer(Script(cwd=str(wt), mode="rate_limit")) as srv:
        env = agent_env("aider", srv.url, home)
        cmd = make_command("aider", wt, 1, None, tmp_path)
        run = run_cmd("aider", cmd, wt, env, timeout=90, stop_on=lambda e: e.rate_limited)
        assert run.rate_limited, run.output[-3000:]


# ------------------------------------------------------- opencode server mode


@pytest.fixture
def opencode_serve_fixture(tmp_path: Path) -> Iterator[tuple[str, ModelServer, dict[str, str]]]:
    """(url, model server, env) of a real ``opencode serve`` on 127.0.0.1."""
    need("opencode")
    home = tmp_path / "serve-home"
    home.mkdir()
    with ModelServer(Script()) as srv:
        env = agent_env("opencode", srv.url, home)
        with opencode_serve("opencode", env, home, tmp_path / "serve.log") as url:
            yield url, srv, env


def test_opencode_server_mode_end_to_end(
    opencode_serve_fixture: tuple[str, ModelServer, dict[str, str]], workspace: tuple[Path, Path]
) -> None:
    url, srv, _env = opencode_serve_fixture
    wt, _home = workspace
    srv.script = Script(cwd=str(wt), files={"hello.txt": "hello world\n"})
    log = wt.parent / "server-run.jsonl"
    prompt = prompt_text(
        "work-orders/0001-hello/w01-work.md", "work-orders/0001-hello/w02-report.md", str(wt)
    )
    with open(log, "wb") as fh:
        res = run_on_server(
            url, directory=str(wt), prompt=prompt, model=MODELS["opencode"], session=None,
            log=fh, deadline=time.monotonic() + 90, idle_timeout=60, should_stop=lambda: False,
        )
    assert res.status == "completed", res
    assert res.session_id and res.session_id.startswith("ses_")
    assert (wt / "hello.txt").read_text() == "hello world\n"
    assert (wt / "work-orders/0001-hello/w02-report.md").is_file()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert any(e["type"] == "message.part.updated" for e in lines)
    assert attach_hint(url, res.session_id) == f"opencode attach {url} --session {res.session_id}"

    # round 2 in the same session
    n_first = len(srv.tool_requests())
    srv.script.files = {"round2.txt": "second\n"}
    prompt2 = prompt_text(
        "work-orders/0001-hello/w03-work.md", "work-orders/0001-hello/w04-report.md", str(wt)
    )
    with open(log, "ab") as fh:
        res2 = run_on_server(
            url, directory=str(wt), prompt=prompt2, model=MODELS["opencode"],
            session=res.session_id, log=fh, deadline=time.monotonic() + 90, idle_timeout=60,
            should_stop=lambda: False,
        )
    assert res2.status == "completed" and res2.session_id == res.session_id, res2
    assert (wt / "round2.txt").is_file()
    later = srv.tool_requests()[n_first:]
    assert later and "w02-report.md" in json.dumps(later[0].body)

    # round 3 through the CLI profile: `opencode run --attach URL --dir WT -s SESSION`
    n_second = len(srv.tool_requests())
    srv.script.files = {"round3.txt": "third\n"}
    (wt / "work-orders/0001-hello/w05-work.md").write_text("# W05\nround3.txt\n")
    cmd = build_command(
        BUILTIN_PROFILES["opencode"], prompt=prompt_text(
            "work-orders/0001-hello/w05-work.md", "work-orders/0001-hello/w06-report.md", str(wt)),
        prompt_file=str(wt.parent / "p3.md"), model=MODELS["opencode"], session=res.session_id,
        worktree=str(wt), work_file="work-orders/0001-hello/w05-work.md",
        report_file="work-orders/0001-hello/w06-report.md", user_argv=None, server_url=url,
    )
    assert "--attach" in cmd.argv
    run = run_cmd("opencode", cmd, wt, _env)
    assert run.rc == 0, run.output[-3000:]
    assert run.session == res.session_id
    assert (wt / "round3.txt").read_text() == "third\n"
    assert (wt / "work-orders/0001-hello/w06-report.md").is_file()
    assert "w04-report.md" in json.dumps(srv.tool_requests()[n_second].body)


def test_opencode_server_mode_rate_limit_and_timeout(
    opencode_serve_fixture: tuple[str, ModelServer, dict[str, str]], workspace: tuple[Path, Path]
) -> None:
    url, srv, _env = opencode_serve_fixture
    wt, _home = workspace
    srv.script = Script(cwd=str(wt), mode="rate_limit")
    with open(wt.parent / "rl.jsonl", "wb") as fh:
        res = run_on_server(
            url, directory=str(wt), prompt="write hello.txt", model=MODELS["opencode"],
            session=None, log=fh, deadline=time.monotonic() + 60, idle_timeout=None,
            should_stop=lambda: False,
        )
    assert res.status == "rate_limited", res
    srv.script = Script(cwd=str(wt), mode="hang")
    t0 = time.monotonic()
    with open(wt.parent / "hang.jsonl", "wb") as fh:
        res = run_on_server(
            url, directory=str(wt), prompt="write hello.txt", model=MODELS["opencode"],
            session=None, log=fh, deadline=time.monotonic() + 4, idle_timeout=None,
            should_stop=lambda: False,
        )
    assert res.status == "timeout", res
    assert time.monotonic() - t0 < 20
    stop_at = time.monotonic() + 2
    with open(wt.parent / "stop.jsonl", "wb") as fh:
        res = run_on_server(
            url, directory=str(wt), prompt="write hello.txt", model=MODELS["opencode"],
            session=None, log=fh, deadline=None, idle_timeout=None,
            should_stop=lambda: time.monotonic() > stop_at,
        )
    assert res.status == "aborted", res
    with open(wt.parent / "idle.jsonl", "wb") as fh:
        res = run_on_server(
            url, directory=str(wt), prompt="write hello.txt", model=MODELS["opencode"],
            session=None, log=fh, deadline=None, idle_timeout=3, should_stop=lambda: False,
        )
    assert res.status == "idle", res
