"""The real agent CLIs through the real ``wo-git run``, against the scripted model server.

Each test opens a ticket in a fresh repository, runs ``wo-git run`` (a
subprocess: the real CLI) with the executor profile of a real agent CLI
installed by ``.ci/install-agents``, in a real worktree, pointed at
:class:`modelserver.ModelServer`; the CLI edits files and writes the report
through its own tools, and the post-run hook commits one report commit. Every
test skips cleanly when its CLI is missing.

A shim directory first on PATH records each CLI invocation's argv (so a test
can tell a resumed session from a fresh one) and then ``exec``s the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import git, open_ticket, wo
from modelserver import MODELS, WORKTREE_RE, ModelServer, Script, _all_text, agent_env, find_agent, opencode_serve

pytestmark = pytest.mark.agents

RUN_TIMEOUT = 180  # seconds for one `wo-git` subprocess


def need(*names: str) -> None:
    for name in names:
        if find_agent(name) is None:
            pytest.skip(f"{name} is not installed (run .ci/install-agents)")


def make_env(tmp_path: Path, srv: ModelServer, *names: str) -> dict[str, str]:
    """The agents' test environment (merged for several CLIs), with argv-recording shims on PATH.

    HOME is the conftest's private home (its ``.gitconfig`` has the identity the
    run's git needs: wo-git drops ``GIT_*`` from the executor's environment).
    """
    home = os.environ["HOME"]
    env: dict[str, str] = {}
    for name in names:
        env.update(agent_env(name, srv.url, home))
    shims = tmp_path / "shims"
    argv_dir = tmp_path / "argv"
    shims.mkdir(exist_ok=True)
    argv_dir.mkdir(exist_ok=True)
    for name in ("opencode", "codex", "claude", "aider"):
        real = find_agent(name)
        if real is None:
            continue
        # a Python shim, not a shell script: a shell would reset an inherited PWD that names
        # another directory, hiding what the CLI itself gets from wo-git
        shim = shims / name
        shim.write_text(
            f"#!{sys.executable}\n"
            "import os, sys, time\n"
            f"f = {str(argv_dir)!r} + f'/{{time.time_ns()}}.{name}.{{os.getpid()}}'\n"
            "with open(f + '.tmp', 'w') as fh:\n"
            "    fh.write(os.environ.get('PWD', '') + '\\0' + ''.join(a + '\\0' for a in sys.argv[1:]))\n"
            "os.rename(f + '.tmp', f)\n"
            f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
        )
        shim.chmod(0o755)
    env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    return env


def invocations(tmp_path: Path, name: str) -> list[tuple[str, list[str]]]:
    """Each recorded invocation of CLI ``name``, oldest first: (its ``PWD``, its argv)."""
    d = tmp_path / "argv"
    files = sorted((p for p in d.glob(f"*.{name}.*") if not p.name.endswith(".tmp")),
                   key=lambda p: int(p.name.split(".")[0])) if d.exists() else []
    out = []
    for p in files:
        pwd, *args = p.read_bytes().decode().split("\0")[:-1]
        out.append((pwd, args))
    return out


def argvs(tmp_path: Path, name: str) -> list[list[str]]:
    """Each recorded invocation's argv of CLI ``name``, oldest first."""
    return [args for _pwd, args in invocations(tmp_path, name)]


def commit_config(repo: Path, text: str) -> None:
    (repo / ".wo-git.toml").write_text(text)
    git(repo, "add", ".wo-git.toml")
    git(repo, "commit", "-qm", "wo-git config")


def worktree(repo: Path, ticket: int, slug: str) -> Path:
    return (repo.parent / f"{repo.name}.wo" / f"{ticket:04d}-{slug}").resolve()


def trailers(repo: Path, rev: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in git(repo, "log", "-1", "--format=%(trailers:only,unfold)", rev).splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


def show(repo: Path, ticket: int) -> dict[str, object]:
    r = wo(repo, "show", str(ticket), "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    return data


def run(repo: Path, env: dict[str, str], *args: str, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    r = wo(repo, "run", *args, env=env, timeout=timeout)
    return r.code, r.err + r.out


def worktrees_in_requests(srv: ModelServer) -> set[str]:
    """The worktrees named in the prompts the model server received."""
    found: set[str] = set()
    for req in srv.model_requests():
        found.update(WORKTREE_RE.findall(_all_text(req.body)))
    return found


def processes_in(path: Path) -> list[int]:
    """Pids of live processes whose working directory is ``path`` or below it."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cwd = os.readlink(p / "cwd")
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == str(path) or cwd.startswith(str(path) + os.sep)):
            pids.append(int(p.name))
    return pids


def wait_for(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# -------------------------------------------- each profile; resume; new session

RESUME_FLAG = {"opencode": "-s", "codex": "resume", "claude": "--resume"}


@pytest.mark.parametrize("name", ["opencode", "codex", "claude"])
def test_profile_end_to_end_resumes_next_round(name: str, repo: Path, tmp_path: Path) -> None:
    need(name)
    open_ticket(repo, "hello")
    with ModelServer(Script(files={"hello.txt": "hello world\n"})) as srv:
        env = make_env(tmp_path, srv, name)
        code, out = run(repo, env, "1", "--executor", name, "--model", MODELS[name], "--timeout", "150")
        assert code == 0, out
        assert git(repo, "show", "wo/0001-hello:hello.txt") == "hello world\n"
        report = git(repo, "show", "wo/0001-hello:work-orders/0001-hello/w02-report.md")
        assert "- Status: COMPLETED" in report and "Final status: COMPLETED" in report
        t1 = trailers(repo, "wo/0001-hello")
        assert t1["Wo-Status"] == "COMPLETED" and t1["Wo-Executor"] == name, t1
        # inside wo-git's bubblewrap sandbox (Codex's own sandbox nested in it)
        assert t1.get("Wo-Sandbox") == ("bwrap" if shutil.which("bwrap") else "none"), t1
        session = t1.get("Wo-Session")
        assert session, t1
        data = show(repo, 1)
        assert (data["status"], data["session"], data["executor"]) == ("COMPLETED", session, name)
        first_pwd, first_argv = invocations(tmp_path, name)[-1]
        assert RESUME_FLAG[name] not in first_argv and session not in first_argv
        # started as a shell in the worktree would start it, whatever PWD wo-git had
        assert first_pwd == str(worktree(repo, 1, "hello")), first_pwd
        # the CLI left nothing of its own in the worktree: everything there was committed
        leftover = git(worktree(repo, 1, "hello"), "status", "--porcelain", "--ignored", "--untracked-files=all")
        assert leftover == "", leftover

        # round 2: a correction order resumes the same session by default
        r = wo(repo, "revise", "1", "--task", "Also create round2.txt.")
        assert r.code == 0, r.err
        srv.script.files = {"round2.txt": "second round\n"}
        n_first = len(srv.tool_requests())
        code, out = run(repo, env, "1", "--executor", name, "--model", MODELS[name], "--timeout", "150")
        assert code == 0, out
        argv2 = argvs(tmp_path, name)[-1]
        assert RESUME_FLAG[name] in argv2 and session in argv2, argv2
        assert git(repo, "show", "wo/0001-hello:round2.txt") == "second round\n"
        t2 = trailers(repo, "wo/0001-hello")
        assert t2["Wo-Status"] == "COMPLETED" and t2["Wo-Session"] == session, t2
        later = srv.tool_requests()[n_first:]
        assert later
        seen = json.dumps(later[0].body)
        # the model received round 1's conversation in round 2's first request
        assert "w02-report.md" in seen and "w04-report.md" in seen

        if name == "opencode":
            return  # one fresh-session round for the fast CLIs is enough
        # round 3 with --new-session: a fresh session, without the old conversation
        assert wo(repo, "revise", "1", "--task", "Create round3.txt.").code == 0
        srv.script.files = {"round3.txt": "third\n"}
        n_second = len(srv.tool_requests())
        code, out = run(repo, env, "1", "--executor", name, "--model", MODELS[name], "--new-session")
        assert code == 0, out
        argv3 = argvs(tmp_path, name)[-1]
        assert RESUME_FLAG[name] not in argv3 and session not in argv3
        t3 = trailers(repo, "wo/0001-hello")
        assert t3["Wo-Status"] == "COMPLETED" and t3["Wo-Session"] not in (None, session), t3
        fresh = json.dumps(srv.tool_requests()[n_second].body)
        assert "w06-report.md" in fresh and "w04-report.md" not in fresh


def test_aider_end_to_end(repo: Path, tmp_path: Path) -> None:
    need("aider")
    open_ticket(repo, "hello")
    with ModelServer(Script(files={"hello.txt": "hello world\n"})) as srv:
        env = make_env(tmp_path, srv, "aider")
        del env["AIDER_MAP_TOKENS"]  # as users run it: the repo map on, and its cache in the worktree
        code, out = run(repo, env, "1", "--executor", "aider", "--model", MODELS["aider"], "--timeout", "150")
        assert code == 0, out  # COMPLETED, not GUARD_REJECTED for aider's own files
        assert srv.model_requests()
    assert (worktree(repo, 1, "hello") / ".aider.tags.cache.v4").is_dir()  # it did write its cache
    assert git(repo, "show", "wo/0001-hello:hello.txt") == "hello world\n"
    report = git(repo, "show", "wo/0001-hello:work-orders/0001-hello/w02-report.md")
    assert "- Status: COMPLETED" in report
    t = trailers(repo, "wo/0001-hello")
    assert t["Wo-Status"] == "COMPLETED" and t["Wo-Executor"] == "aider" and "Wo-Session" not in t, t
    assert t.get("Wo-Sandbox") == ("bwrap" if shutil.which("bwrap") else "none"), t
    data = show(repo, 1)
    assert (data["status"], data["session"], data["executor"]) == ("COMPLETED", None, "aider")
    # aider's own files stay out of the commit (its chat history goes next to the prompt file)
    files = git(repo, "show", "--name-only", "--format=", "wo/0001-hello")
    assert ".aider" not in files, files
    assert "- Left out (the aider CLI's own state, kept in the worktree): .aider.tags.cache.v4/" in report
    # a second round with the cache in place is clean too
    assert wo(repo, "revise", "1", "--task", "Also create round2.txt.").code == 0
    with ModelServer(Script(files={"round2.txt": "second\n"})) as srv:
        env = make_env(tmp_path, srv, "aider")
        del env["AIDER_MAP_TOKENS"]
        code, out = run(repo, env, "1", "--executor", "aider", "--model", MODELS["aider"], "--timeout", "150")
        assert code == 0, out
    assert git(repo, "show", "wo/0001-hello:round2.txt") == "second\n"
    assert ".aider" not in git(repo, "ls-tree", "-r", "--name-only", "wo/0001-hello")


# ------------------------------------------- started the way a user starts them


def test_opencode_run_from_a_shell_elsewhere_writes_its_files(repo: Path, tmp_path: Path) -> None:
    """A user types `wo-git run` in a subfolder of the main checkout: the shell's PWD names that
    folder. OpenCode (not server mode) takes its project folder from PWD and used to refuse every
    write in the ticket worktree as `external_directory`, ending the round NO_REPORT."""
    need("opencode")
    open_ticket(repo, "pwd")
    wt = worktree(repo, 1, "pwd")
    with ModelServer(Script(files={"src/hello.txt": "hello world\n"})) as srv:
        env = make_env(tmp_path, srv, "opencode")
        r = wo(repo / "src", "run", "1", "--executor", "opencode", "--model", MODELS["opencode"],
               "--timeout", "120", env=env, timeout=RUN_TIMEOUT)
        assert r.code == 0, r.err + r.out
    assert invocations(tmp_path, "opencode")[-1][0] == str(wt)
    assert git(repo, "show", "wo/0001-pwd:src/hello.txt") == "hello world\n"
    t = trailers(repo, "wo/0001-pwd")
    assert t["Wo-Status"] == "COMPLETED" and t["Wo-Executor"] == "opencode", t
    log = Path(str(show(repo, 1)["log"]))
    if not log.is_absolute():
        log = repo / ".git" / log
    assert "external_directory" not in log.read_text(errors="replace")


def test_claude_first_429_ends_the_run_at_once_and_falls_back(repo: Path, tmp_path: Path) -> None:
    """Claude Code as users run it (no CLAUDE_CODE_MAX_RETRIES) answers a 429 with an `api_retry`
    event and would retry for about three minutes; wo-git stops it on that first event."""
    need("claude", "codex")
    commit_config(repo, 'executor = "claude"\nfallback = ["codex"]\n')
    open_ticket(repo, "rl429")
    script = Script(files={"hello.txt": "hello world\n"}, modes={"anthropic": "rate_limit"}, retry_after=None)
    with ModelServer(script) as srv:
        env = make_env(tmp_path, srv, "claude", "codex")
        del env["CLAUDE_CODE_MAX_RETRIES"]
        t0 = time.monotonic()
        code, out = run(repo, env, "1", "--timeout", "170")
        elapsed = time.monotonic() - t0
        assert code == 0, out
        assert "claude hit a rate limit; falling back to codex" in out
        limited = [r for r in srv.model_requests() if r.path.split("?")[0].endswith("/messages")]
    # one 429 (or two, if the first retry left before the kill), not ten over three minutes
    assert 1 <= len(limited) <= 3, len(limited)
    assert elapsed < 90, elapsed
    report = git(repo, "show", "wo/0001-rl429:work-orders/0001-rl429/w02-report.md")
    attempts = next(ln for ln in report.splitlines() if ln.startswith("- Attempts:"))
    assert "claude: exit" in attempts and "stopped by rate-limit" in attempts, attempts
    assert "codex: exit 0" in attempts, attempts
    t = trailers(repo, "wo/0001-rl429")
    assert t["Wo-Executor"] == "codex" and t["Wo-Status"] == "COMPLETED", t
    assert git(repo, "show", "wo/0001-rl429:hello.txt") == "hello world\n"


# ------------------------------------------------------------ rate-limit fallback


@pytest.mark.parametrize("first", ["claude", "opencode"])
def test_rate_limit_falls_back_to_codex(first: str, repo: Path, tmp_path: Path) -> None:
    need(first, "codex")
    commit_config(repo, f'executor = "{first}"\nfallback = ["codex"]\n')
    open_ticket(repo, "rl")
    # 429 for the first CLI's API; the Responses API (codex) works
    limited = {"claude": "anthropic", "opencode": "chat"}[first]
    script = Script(files={"hello.txt": "hello world\n"}, modes={limited: "rate_limit"})
    with ModelServer(script) as srv:
        env = make_env(tmp_path, srv, first, "codex")
        t0 = time.monotonic()
        code, out = run(repo, env, "1", "--timeout", "120")
        elapsed = time.monotonic() - t0
        assert code == 0, out
        assert f"{first} hit a rate limit; falling back to codex" in out
        paths = [r.path.split("?")[0] for r in srv.model_requests()]
        assert any(p.endswith("/responses") for p in paths), paths
    assert elapsed < 100  # OpenCode retries a 429 forever: the runner stopped it
    t = trailers(repo, "wo/0001-rl")
    assert t["Wo-Executor"] == "codex" and t["Wo-Status"] == "COMPLETED", t
    report = git(repo, "show", "wo/0001-rl:work-orders/0001-rl/w02-report.md")
    attempts = next(ln for ln in report.splitlines() if ln.startswith("- Attempts:"))
    assert f"{first}: exit" in attempts and "rate-limited" in attempts and "codex: exit 0" in attempts, attempts
    if first == "opencode":
        assert "opencode: exit" in attempts and "stopped by rate-limit" in attempts, attempts
    assert git(repo, "show", "wo/0001-rl:hello.txt") == "hello world\n"
    assert show(repo, 1)["status"] == "COMPLETED"
    assert len(argvs(tmp_path, first)) == 1 and len(argvs(tmp_path, "codex")) == 1


# ----------------------------------------------------- timeouts and abort


def _run_record_pgid(repo: Path, ticket: int) -> int:
    rec = repo / ".git" / "wo" / "runs" / f"{ticket:04d}.json"
    pgid: list[int] = []

    def has_pgid() -> bool:
        try:
            value = json.loads(rec.read_text()).get("pgid")
        except (OSError, ValueError):
            return False
        if value:
            pgid.append(int(value))
        return bool(value)

    wait_for(has_pgid, 60, "the executor's process group in the run record")
    return pgid[0]


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(p.name))
    return out


def _group_gone(pgid: int, within: float = 5.0) -> bool:
    """Whether the group has no live process (SIGKILLed grandchildren take a moment to go)."""
    deadline = time.monotonic() + within
    while _group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_dead_model_server_is_ended_by_the_timeout(repo: Path, tmp_path: Path) -> None:
    need("claude")
    open_ticket(repo, "dead")
    with ModelServer(Script(mode="hang")) as srv:
        env = make_env(tmp_path, srv, "claude")
        r = wo(repo, "run", "1", "--executor", "claude", "--timeout", "4", "--detach", env=env)
        assert r.code == 0, r.err
        pgid = _run_record_pgid(repo, 1)
        t0 = time.monotonic()
        r = wo(repo, "wait", "1", "--json", env=env, timeout=60)
        assert r.code == 5, r.err
        assert time.monotonic() - t0 < 30
        assert srv.model_requests()  # it did reach the (dead) server
    data = r.json()[0]  # type: ignore[index]
    assert data["status"] == "NO_REPORT" and data["stopped_by"] == "timeout", data
    assert _group_gone(pgid)
    assert processes_in(worktree(repo, 1, "dead")) == []
    t = trailers(repo, "wo/0001-dead")
    assert t["Wo-Stopped-By"] == "timeout" and t["Wo-Status"] == "NO_REPORT", t


def test_silent_executor_is_ended_by_the_idle_timeout(repo: Path, tmp_path: Path) -> None:
    need("codex")
    open_ticket(repo, "quiet")
    with ModelServer(Script(mode="hang")) as srv:
        env = make_env(tmp_path, srv, "codex")
        t0 = time.monotonic()
        code, out = run(repo, env, "1", "--executor", "codex", "--idle-timeout", "3", "--timeout", "120")
        assert code == 5, out
        assert time.monotonic() - t0 < 60
        assert srv.model_requests()
    data = show(repo, 1)
    assert data["status"] == "NO_REPORT" and data["stopped_by"] == "idle-timeout", data
    assert processes_in(worktree(repo, 1, "quiet")) == []


def test_abort_mid_run_keeps_the_work(repo: Path, tmp_path: Path) -> None:
    need("codex")
    open_ticket(repo, "abort")
    wt = worktree(repo, 1, "abort")
    # the CLI writes half.txt, then the server never answers the turn after it
    script = Script(files={"half.txt": "halfway\n"}, report=False, hang_after_tools=True)
    with ModelServer(script) as srv:
        env = make_env(tmp_path, srv, "codex")
        r = wo(repo, "run", "1", "--executor", "codex", "--timeout", "120", "--detach", env=env)
        assert r.code == 0, r.err
        pgid = _run_record_pgid(repo, 1)
        wait_for(lambda: (wt / "half.txt").is_file() and len(srv.tool_requests()) >= 2, 60,
                 "the CLI to write half.txt and ask for its next turn")
        t0 = time.monotonic()
        r = wo(repo, "abort", "1", "--json", env=env, timeout=60)
        assert r.code == 0, r.err
        assert time.monotonic() - t0 < 20
    data = r.json()
    assert isinstance(data, dict)
    assert data["stopped_by"] == "abort" and data["status"] == "NO_REPORT", data
    assert git(repo, "show", "wo/0001-abort:half.txt") == "halfway\n"
    assert _group_gone(pgid)
    assert processes_in(wt) == []


# --------------------------------------------------- six at once, more queued


def test_six_detached_codex_runs_at_once_and_two_queued(repo: Path, tmp_path: Path) -> None:
    need("codex")
    n = 8
    for i in range(1, n + 1):
        open_ticket(repo, f"p{i}")
    gate = threading.Event()
    with ModelServer(Script(files={"done.txt": "done\n"}, gate=gate)) as srv:
        env = make_env(tmp_path, srv, "codex")
        try:
            for i in range(1, n + 1):
                r = wo(repo, "run", str(i), "--executor", "codex", "--timeout", "150", "--detach", env=env)
                assert r.code == 0, r.err
            # every first turn waits at the gate: exactly six sessions can be asking
            wait_for(lambda: len(worktrees_in_requests(srv)) >= 6, 90, "six sessions to start")
            time.sleep(2.0)
            asking = worktrees_in_requests(srv)
            assert asking == {str(worktree(repo, i, f"p{i}")) for i in range(1, 7)}, sorted(asking)
            assert len(argvs(tmp_path, "codex")) == 6
        finally:
            gate.set()
        r = wo(repo, "wait", *[str(i) for i in range(1, n + 1)], "--json", env=env, timeout=240)
        assert r.code == 0, r.err
        packets = r.json()
        assert isinstance(packets, list) and [p["status"] for p in packets] == ["COMPLETED"] * n
        assert len(worktrees_in_requests(srv)) == n
    for i in range(1, n + 1):
        assert git(repo, "show", f"wo/{i:04d}-p{i}:done.txt") == "done\n"
        assert trailers(repo, f"wo/{i:04d}-p{i}")["Wo-Executor"] == "codex"


# ---------------------------------------------------------- OpenCode server mode


@pytest.fixture
def opencode_server(tmp_path: Path) -> Iterator[tuple[str, ModelServer, dict[str, str]]]:
    """(url, model server, env): a real ``opencode serve`` on 127.0.0.1 using the model server."""
    need("opencode")
    with ModelServer(Script()) as srv:
        env = make_env(tmp_path, srv, "opencode")
        with opencode_serve(str(find_agent("opencode")), env, tmp_path, tmp_path / "serve.log") as url:
            yield url, srv, env


def test_opencode_server_mode(
    opencode_server: tuple[str, ModelServer, dict[str, str]], repo: Path, tmp_path: Path
) -> None:
    url, srv, env = opencode_server
    commit_config(repo, f'server_url = "{url}"\n')
    open_ticket(repo, "served")
    wt = worktree(repo, 1, "served")
    srv.script = Script(files={"hello.txt": "hello world\n"})
    code, out = run(repo, env, "1", "--executor", "opencode", "--model", MODELS["opencode"], "--timeout", "120")
    assert code == 0, out
    t = trailers(repo, "wo/0001-served")
    session = t.get("Wo-Session", "")
    assert session.startswith("ses_") and t["Wo-Status"] == "COMPLETED" and t["Wo-Executor"] == "opencode", t
    # the run went to the server (no `opencode run` process of its own) and said how to watch it
    assert argvs(tmp_path, "opencode") == []  # (the fixture starts `opencode serve` without the shim)
    assert f"opencode attach {url} --session {session} --dir {wt}" in out, out
    assert git(repo, "show", "wo/0001-served:hello.txt") == "hello world\n"
    assert "] write hello.txt" in out, out  # the live lines (not a terminal) read the event stream
    data = show(repo, 1)
    assert (data["status"], data["session"], data["executor"]) == ("COMPLETED", session, "opencode")

    # a correction round continues the same server session
    assert wo(repo, "revise", "1", "--task", "Also create round2.txt.").code == 0
    srv.script.files = {"round2.txt": "second\n"}
    n_first = len(srv.tool_requests())
    code, out = run(repo, env, "1", "--executor", "opencode", "--model", MODELS["opencode"], "--timeout", "120")
    assert code == 0, out
    assert trailers(repo, "wo/0001-served")["Wo-Session"] == session
    assert git(repo, "show", "wo/0001-served:round2.txt") == "second\n"
    assert "w02-report.md" in json.dumps(srv.tool_requests()[n_first].body)

    # a rate limit on the server is seen (the server retries it forever) and ends the run BLOCKED
    assert wo(repo, "revise", "1", "--task", "Create round3.txt.").code == 0
    srv.script.mode = "rate_limit"
    t0 = time.monotonic()
    code, out = run(repo, env, "1", "--executor", "opencode", "--model", MODELS["opencode"], "--timeout", "120")
    assert code == 5, out
    assert time.monotonic() - t0 < 60
    data = show(repo, 1)
    assert data["status"] == "BLOCKED" and data["stopped_by"] == "rate-limit", data


def test_kill_9_of_a_server_mode_run_then_doctor_stops_the_server_session(
    opencode_server: tuple[str, ModelServer, dict[str, str]], repo: Path, tmp_path: Path
) -> None:
    url, srv, env = opencode_server
    commit_config(repo, f'server_url = "{url}"\n')
    open_ticket(repo, "orphan")
    srv.script = Script(files={"half.txt": "halfway\n"}, report=False, hang_after_tools=True)
    r = wo(repo, "run", "1", "--detach", "--json", "--executor", "opencode", "--model", MODELS["opencode"],
           env=env)
    assert r.code == 0, r.err
    launch = r.json()
    assert isinstance(launch, dict)
    wt = worktree(repo, 1, "orphan")
    record = repo / ".git" / "wo" / "runs" / "0001.json"
    deadline = time.monotonic() + 90
    while not ((wt / "half.txt").exists() and record.exists()
               and json.loads(record.read_text()).get("server_session")):
        assert time.monotonic() < deadline, "the server run did not start"
        time.sleep(0.2)
    session = json.loads(record.read_text())["server_session"]
    os.kill(launch["pid"], signal.SIGKILL)

    def server_status() -> dict[str, dict[str, str]]:
        req = urllib.request.Request(f"{url}/session/status", headers={"x-opencode-directory": str(wt)})
        return json.loads(urllib.request.urlopen(req, timeout=10).read() or b"{}")  # type: ignore[no-any-return]

    assert server_status()[session]["type"] != "idle"  # the server goes on without its driver
    r = wo(repo, "doctor", "--fix", env=env)
    assert r.code == 0 and f"aborted server session {session}" in r.out, r.out + r.err
    status = server_status()
    assert session not in status or status[session].get("type") == "idle", status
    assert git(repo, "show", "wo/0001-orphan:half.txt") == "halfway\n"
    assert show(repo, 1)["stopped_by"] == "crash"
