"""``wo-git run``: start the executor in the ticket's worktree and report.

One run is: check the ticket can run, make or reuse its worktree, hold the
run lock and a run slot (``max_parallel``), snapshot refs/config/hooks,
start the executor profile under supervision (timeouts, idle timeout, abort,
rate limits with fallback to the next profile), then the post-run hook.
``--detach`` hands all of that to a background supervisor process and
returns at once.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wo_git import runs, tickets
from wo_git.config import Config, load_config
from wo_git.errors import BadState, ExecutorFailed, InvalidInput
from wo_git.executors.opencode_server import attach_hint
from wo_git.executors.profiles import ExecutorProfile, build_command, load_profiles, parse_line, prompt_text
from wo_git.executors.programs import ProgramNotStartable, profile_program, resolve_program
from wo_git.git import Repo, clean_git_env
from wo_git.guard import snapshot
from wo_git.hints import bad_state
from wo_git.interrupts import deferred
from wo_git.runs import sandbox, worktrees
from wo_git.runs.postrun import PostRunResult, RunFacts, finish_run
from wo_git.runs.supervise import Outcome, supervise, supervise_server


@dataclass
class RunOptions:
    """What ``wo-git run`` was asked for."""

    argv: list[str] = field(default_factory=list)
    executor: str | None = None
    model: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None
    new_session: bool = False
    session: str | None = None
    detach: bool = False
    no_sandbox: bool = False
    queued_at: int | None = None  # ns since the epoch when `run --detach` was asked (its place in the queue)


@dataclass
class Launch:
    """What ``run --detach`` returns: the background supervisor's pid and log."""

    ticket: int
    pid: int
    log: str
    worktree: str


def ticket_config(repo: Repo, tk: tickets.Ticket) -> Config:
    """The config in force for a ticket: the committed copy on its base branch."""
    base = tk.base if repo.branch_exists(tk.base) else None
    return load_config(repo, base)


def prepare(repo: Repo, ticket: int | str) -> tuple[Config, tickets.Ticket]:
    """Load a ticket that may run now; raises :class:`BadState` with what to do otherwise."""
    tk = tickets.load(repo, ticket)
    cfg = ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    if tk.state == "running":
        raise bad_state(tk, "already running")
    if tk.state == "reported":
        raise bad_state(tk, "already reported, nothing to run until a correction order")
    if tk.state in ("accepted", "rejected"):
        raise bad_state(tk, "closed, nothing to run")
    if tk.branch_tip is None:
        raise BadState(f"ticket {tk.label} has no branch {tk.branch}; run `wo-git doctor --fix`")
    return cfg, tk


def _profile_chain(cfg: Config, tk: tickets.Ticket, opts: RunOptions) -> list[str]:
    """Profiles to try in order: ``-- ARGV`` means ``command``; else ``--executor``, the
    order's ``executor``, the executor that answered the previous round (a correction
    round goes back to the same agent and session), the config's default; then ``fallback``."""
    if opts.argv:
        first = "command"
    else:
        last = next((e.commit.trailers.get("Wo-Executor") for e in tk.events if e.event == "report"), None)
        previous = last if last and last != "command" else None
        first = opts.executor or (tk.order.executor if tk.order else None) or previous or cfg.executor
    return [first] + [p for p in cfg.fallback if p != first]


def _previous_session(tk: tickets.Ticket, executor: str) -> str | None:
    for ev in tk.events:
        if ev.event == "report" and ev.commit.trailers.get("Wo-Executor") == executor:
            return ev.commit.trailers.get("Wo-Session") or None
    return None


AGENT_PROFILES = ("opencode", "codex", "claude", "aider")


def executor_search_path() -> str:
    """The ``PATH`` executors get: the user's, with this wo-git's own bin folder first if
    missing (the guard's pre-commit hook runs ``wo-git``)."""
    path = os.environ.get("PATH", os.defpath)
    bindir = str(Path(sys.executable).parent)
    if (Path(bindir) / "wo-git").exists() and bindir not in path.split(os.pathsep):
        path = bindir + os.pathsep + path
    return path


def _user_cwd(repo: Repo) -> str:
    """Where the user ran wo-git (a relative ``-- ./x`` is taken from here)."""
    try:
        return os.getcwd()
    except OSError:  # the folder was deleted under the shell
        return str(repo.require_root())


def _check_command(repo: Repo, tk: tickets.Ticket, opts: RunOptions, search: str) -> None:
    """Make ``-- ARGV``'s program absolute (taken from the user's folder) or raise exit 5."""
    program = opts.argv[0]
    cwd = _user_cwd(repo)
    try:
        resolved = resolve_program(program, search_path=search, cwd=cwd)
    except ProgramNotStartable as err:
        rest = opts.argv[1:]
        if "not found" in err.problem and "/" in program and not os.path.isabs(program):
            alt = os.path.join(str(repo.require_root()), program)
            target = os.path.normpath(alt) if os.path.isfile(alt) else "/absolute/path/to/" + os.path.basename(program)
            hint = f"wo-git run {tk.id} -- {shlex.join([target, *rest])}"
            raise ExecutorFailed(f"{err} (a relative path is taken from where you run wo-git); "
                                 f"nothing was run: {hint}") from None
        if err.problem == "is not executable":
            path = os.path.normpath(os.path.join(cwd, program)) if "/" in program else program
            raise ExecutorFailed(f"{err}; nothing was run: chmod +x {shlex.quote(path)} && "
                                 f"wo-git run {tk.id} -- {shlex.join(opts.argv)}") from None
        raise ExecutorFailed(f"{err}; nothing was run: install it, or give another program: "
                             f"wo-git run {tk.id} -- ./your-agent.sh") from None
    opts.argv[0] = resolved


def _startable_chain(
    cfg: Config, tk: tickets.Ticket, opts: RunOptions, profiles: Mapping[str, ExecutorProfile],
    chain: list[str], search: str,
) -> tuple[list[str], list[str]]:
    """The profiles of ``chain`` whose program is there, and a note for each one left out.

    A fallback chain goes on to the next profile when one is not installed
    (the user asked for work to be done, and the config names the profiles to
    use instead); when none can start, raises :class:`ExecutorFailed`
    (exit 5) naming the first one's problem and a command that works.
    """
    ok: list[str] = []
    notes: list[str] = []
    first_err: str | None = None
    for name in chain:
        profile = profiles.get(name)
        if profile is None:
            notes.append(f"{name}: not started (no such executor profile)")
            first_err = first_err or f"unknown executor {name!r}"
            continue
        server = profile.output == "opencode" and cfg.server_url and not opts.argv
        program = None if server else profile_program(profile)
        if program is not None and ("/" not in program or os.path.isabs(program)):
            try:
                resolve_program(program, search_path=search, cwd="/")
            except ProgramNotStartable as err:
                notes.append(f"{name}: not started ({err})")
                first_err = first_err or f"executor {name!r}: {err}"
                continue
        ok.append(name)
    if not ok:
        others = [n for n in AGENT_PROFILES if n in profiles and n not in chain
                  and (p := profile_program(profiles[n])) and shutil.which(p, path=search)]
        other = f"--executor {others[0]}" if others else "-- ./your-agent.sh"
        hint = f"install it (README, Executors) or run another: wo-git run {tk.id} {other}"
        raise ExecutorFailed(f"{first_err}; nothing was run: {hint}")
    return ok, notes


def _resolve(
    repo: Repo, ticket: int | str, opts: RunOptions
) -> tuple[Config, tickets.Ticket, dict[str, ExecutorProfile], list[str], Path, list[str]]:
    """Check a run can start: the ticket, its config, the profiles to try in order (each one's
    program there), its worktree, and notes on profiles left out because they are not installed.

    Nothing is created or committed before the program is found: a missing
    one raises :class:`ExecutorFailed` (exit 5) and the ticket stays runnable.
    """
    cfg, tk = prepare(repo, ticket)
    profiles = load_profiles(cfg.executors)
    chain = _profile_chain(cfg, tk, opts)
    if chain[0] not in profiles:
        raise InvalidInput(f"unknown executor {chain[0]!r} (known: {', '.join(sorted(profiles))})")
    if chain[0] == "command" and not opts.argv:
        others = "|".join(sorted(n for n in profiles if n != "command"))
        raise InvalidInput(f"ticket {tk.label}'s executor is the command profile, which needs a program "
                           f"after -- ARGV...: wo-git run {tk.id} -- ./your-agent.sh (or --executor {others})")
    search = executor_search_path()
    notes: list[str] = []
    if opts.argv:
        # the user's exact program: a typo is an error, never a reason to run another agent
        _check_command(repo, tk, opts, search)
        chain = [chain[0], *[n for n in chain[1:] if n in profiles]]
    else:
        chain, notes = _startable_chain(cfg, tk, opts, profiles, chain, search)
    return cfg, tk, profiles, chain, worktrees.ensure(repo, cfg, tk), notes


def detach(repo: Repo, ticket: int | str, opts: RunOptions) -> Launch:
    """Start a background supervisor for the run and return at once.

    The supervisor is ``python -m wo_git run ID`` in a new session with its
    output in ``<common>/wo/logs/NNNN-supervisor.log``. Returns once it holds
    the run lock, so a ``wait`` right after never misses it.
    """
    asked = time.time_ns()  # the queue for a run slot is in the order runs were asked for
    cfg, tk, _profiles, _chain, path, _notes = _resolve(repo, ticket, opts)
    args = [sys.executable, "-m", "wo_git", "run", str(tk.id), "--detached-child", "--queued-at", str(asked)]
    if opts.executor:
        args += ["--executor", opts.executor]
    if opts.model:
        args += ["--model", opts.model]
    if opts.timeout is not None:
        args += ["--timeout", str(opts.timeout)]
    if opts.idle_timeout is not None:
        args += ["--idle-timeout", str(opts.idle_timeout)]
    if opts.new_session:
        args.append("--new-session")
    if opts.session:
        args += ["--session", opts.session]
    if opts.no_sandbox:
        args.append("--no-sandbox")
    if opts.argv:
        args += ["--", *opts.argv]
    sup_log = runs.logs_dir(repo) / f"{tk.label}-supervisor.log"
    root = repo.require_root()
    with open(sup_log, "ab") as out:
        proc = subprocess.Popen(
            args, cwd=root, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=clean_git_env(),
        )
    deadline = time.monotonic() + 30
    while not runs.is_running(repo, tk.id):
        if proc.poll() is not None:
            tail = sup_log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise ExecutorFailed(f"the background run of {tk.label} stopped at once: {tail[0]}")
        if time.monotonic() > deadline:
            raise ExecutorFailed(f"the background run of {tk.label} did not start in 30 s; see {sup_log}")
        time.sleep(0.02)
    return Launch(tk.id, proc.pid, str(runs.log_path(repo, tk.id, tk.round)), str(path))


def run(
    repo: Repo,
    ticket: int | str,
    opts: RunOptions,
    *,
    progress: Callable[[str], None] = lambda s: None,
    live: Callable[[Outcome, float], None] | None = None,
    detached: bool = False,
) -> PostRunResult:
    """Run the ticket's executor in its worktree and commit the report (foreground).

    Raises :class:`BadState` if the ticket cannot run now,
    :class:`InvalidInput` for an unknown executor, :class:`ExecutorFailed`
    if the program cannot be started at all (after the post-run hook has
    still recorded a report).
    """
    cfg, tk, profiles, chain, path, notes = _resolve(repo, ticket, opts)
    for note in notes:
        progress(f"{tk.label}: {note}")
    if cfg.sandbox == "bwrap" and not opts.no_sandbox:
        sandbox.probe()  # once per process (cached), before taking a slot: queued runs start in order
    try:
        with runs.hold_run_lock(repo, tk.id):
            queued = f"{tk.label}: queued: {cfg.max_parallel} runs already going"
            stale = runs.read_record(repo, tk.id)
            if stale is not None:
                # a supervisor killed mid-run (kill -9): its executor may still be writing in the
                # worktree, and its snapshot is what doctor puts back; never start over it
                alive = stale.pgid is not None and runs.pid_alive(-stale.pgid)
                raise BadState(
                    f"ticket {tk.label}'s last run (round {stale.round}) stopped without reporting"
                    + (f" and its executor (process group {stale.pgid}) is still running" if alive else "")
                    + f"; `wo-git doctor --fix` finishes it (its work is committed), then `wo-git show {tk.id}`")
            with runs.hold_slot(repo, cfg.max_parallel, wait=True, on_queued=lambda: progress(queued),
                                arrived=opts.queued_at):
                return _run_locked(repo, cfg, tk, path, opts, profiles, chain, progress, live, detached,
                                   notes)
    except runs.LockHeld:
        raise bad_state(tickets.load(repo, tk.id), "already running") from None


LOCAL_GIT_ENV = frozenset(
    "GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT "
    "GIT_OBJECT_DIRECTORY GIT_DIR GIT_WORK_TREE GIT_IMPLICIT_WORK_TREE GIT_GRAFT_FILE GIT_INDEX_FILE "
    "GIT_NO_REPLACE_OBJECTS GIT_REPLACE_REF_BASE GIT_PREFIX GIT_INTERNAL_SUPER_PREFIX GIT_SHALLOW_FILE "
    "GIT_COMMON_DIR".split()
)


def executor_env(repo: Repo, tk: tickets.Ticket, path: Path, work_file: Path, report_file: Path) -> dict[str, str]:
    """The environment every executor gets: the user's, plus ``WO_*``.

    ``WO_TICKET``, ``WO_ROUND``, ``WO_BASE``, and absolute ``WO_WORK_FILE``,
    ``WO_REPORT_FILE``, ``WO_WORKTREE``, ``WO_REPO`` (DESIGN.md section 7).
    git's repository-locating variables (``git rev-parse --local-env-vars``:
    ``GIT_DIR``, ``GIT_INDEX_FILE``, ...) are dropped, so an executor started
    from inside a git hook still works on its own worktree.
    """
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_GIT_ENV}
    env.update(
        WO_TICKET=str(tk.id), WO_ROUND=str(tk.round), WO_WORK_FILE=str(work_file),
        WO_REPORT_FILE=str(report_file), WO_WORKTREE=str(path), WO_BASE=tk.base,
        WO_REPO=str(repo.require_root()),
    )
    # the guard's pre-commit hook runs `wo-git`: make sure the executor finds this one
    env["PATH"] = executor_search_path()
    return env


def _run_locked(
    repo: Repo,
    cfg: Config,
    tk: tickets.Ticket,
    path: Path,
    opts: RunOptions,
    profiles: Mapping[str, ExecutorProfile],
    chain: list[str],
    progress: Callable[[str], None],
    live: Callable[[Outcome, float], None] | None,
    detached: bool,
    notes: list[str] | None = None,
) -> PostRunResult:
    start_commit = tk.branch_tip
    assert start_commit is not None
    sb = sandbox.choose("none" if opts.no_sandbox else cfg.sandbox, tk.label)
    if sb.warning:
        progress(sb.warning)
    snap_dir: Path | None = None
    if not sb.active:
        # unsandboxed, the executor can write the whole repository: record it to compare after.
        # Sandboxed it can write nothing there, so whatever moves meanwhile is the user's (or
        # another wo-git's) doing and is left alone
        snap_dir = repo.wo_dir / "snapshots" / tk.label
        snapshot.take(repo, snap_dir, {tk.branch_ref})
    work_file = path / tk.work_path(cfg)
    report_file = path / tk.report_path(cfg)
    prompt = prompt_text(str(work_file), str(report_file), str(path))
    sandbox.prepare(sb, repo, tk.label, path, start_commit)
    prompt_file = (sb.scratch / "run" if sb.scratch else runs.runs_dir(repo)) / f"{tk.label}.prompt"
    prompt_file.write_text(prompt)
    base_env = sb.environ(executor_env(repo, tk, path, work_file, report_file))
    attempts: list[str] = list(notes or [])
    not_started: list[str] = []
    ran: list[str] = []
    facts: RunFacts | None = None
    record = runs.new_record(
        ticket=tk.id, round=tk.round, log="", worktree=str(path), round_start=start_commit,
        detached=detached, snapshot=str(snap_dir) if snap_dir else None,
        sandbox=str(sb.scratch) if sb.scratch else None,
    )
    # on any failure below the run record stays: `wo-git doctor --fix` finishes the run
    for attempt, name in enumerate(chain, start=1):
        profile = profiles[name]
        model = opts.model or (tk.order.model if tk.order else None) or cfg.model
        session = None
        if attempt == 1 and not opts.new_session:
            session = opts.session or _previous_session(tk, name)
        log = runs.log_path(repo, tk.id, tk.round, attempt)
        record.log, record.executor, record.attempt = str(log), name, attempt
        runs.write_record(repo, record)
        cmd = build_command(
            profile, prompt=prompt, prompt_file=str(prompt_file), model=model, session=session,
            worktree=str(path), work_file=str(work_file), report_file=str(report_file),
            user_argv=opts.argv or None, server_url=cfg.server_url,
        )
        env = dict(base_env)
        env.update(cmd.env)
        # OpenCode server mode goes through the server's HTTP API: `opencode run --attach`
        # prints nothing while the server retries a rate limit, and killing it leaves the
        # session running on the server
        server = cfg.server_url if profile.output == "opencode" and cfg.server_url and not opts.argv else None
        running = f"{tk.label}: running {name} " + (f"on {server} " if server else "") + f"in {path} (log {log})"
        if server:
            progress(running)

        def started(pgid: int, running: str = running) -> None:
            record.pgid = pgid
            runs.write_record(repo, record)
            progress(running)  # only once it really started

        abort_file = runs.abort_path(repo, tk.id)
        t0 = time.monotonic()
        hinted: list[str | None] = []

        def on_progress(o: Outcome, server: str | None = server, hinted: list[str | None] = hinted,
                        t0: float = t0) -> None:
            if server and o.session_id and not hinted:
                hinted.append(o.session_id)
                record.server_url, record.server_session = server, o.session_id
                runs.write_record(repo, record)
                progress(f"{tk.label}: watch it live: {attach_hint(server, o.session_id, str(path))}")
            if live:
                live(o, time.monotonic() - t0)

        def should_stop(f: Path = abort_file) -> str | None:
            return "abort" if f.exists() else None

        timeout = opts.timeout if opts.timeout is not None else cfg.timeout
        idle_timeout = opts.idle_timeout if opts.idle_timeout is not None else cfg.idle_timeout
        try:
            with open(log, "ab") as logf:
                if server:
                    out = supervise_server(
                        server, directory=path, prompt=prompt, model=model, session=session, log=logf,
                        timeout=timeout, idle_timeout=idle_timeout,
                        should_stop=should_stop,
                        on_progress=on_progress,
                    )
                else:
                    out = supervise(
                        sb.wrap_program(cmd.argv, env, profile.state_dirs), cwd=path, env=env, log=logf,
                        stdin=cmd.stdin,
                        timeout=timeout, idle_timeout=idle_timeout,
                        parse=functools.partial(parse_line, profile),
                        should_stop=should_stop,
                        on_start=started,
                        on_progress=on_progress,
                    )
        except (ExecutorFailed, InvalidInput) as err:  # InvalidInput: a server-mode model not PROVIDER/MODEL
            with open(log, "ab") as logf:
                logf.write(f"wo-git: {err}\n".encode())
            attempts.append(f"{name}: could not start ({err})")
            not_started.append(str(err))
            if hinted:  # a server session had begun: it may have done work, so the round counts
                facts = RunFacts(exit_code=None, duration=time.monotonic() - t0, executor=name, log=str(log),
                                 round_start=start_commit, model=model, session_id=hinted[0], error=str(err),
                                 reason="executor-missing", sandbox=sb.kind)
            if attempt < len(chain):
                continue
            break
        ran.append(name)
        reason = "rate-limit" if out.rate_limited else out.stopped_by
        attempts.append(
            f"{name}: exit {out.exit_code}" + (f", stopped by {out.stopped_by}" if out.stopped_by else "")
            + (", rate-limited" if out.rate_limited else "")
        )
        facts = RunFacts(
            exit_code=out.exit_code, duration=out.duration, executor=name, log=str(log),
            round_start=start_commit, model=model, session_id=out.session_id,
            stopped_by=out.stopped_by, reason=reason, output_bytes=out.output_bytes, error=out.error,
            sandbox=sb.kind,
        )
        if out.rate_limited and attempt < len(chain) and out.stopped_by in (None, "rate-limit"):
            progress(f"{tk.label}: {name} hit a rate limit; falling back to {chain[attempt]}")
            continue
        break
    if facts is None:
        # no executor process ever started: no round is spent, nothing is committed
        runs.clear_record(repo, tk.id)
        if snap_dir is not None:
            shutil.rmtree(snap_dir, ignore_errors=True)
        sandbox.cleanup(sb.scratch)
        again = f"-- {shlex.join(opts.argv)}" if opts.argv else f"--executor {chain[0]}"
        raise ExecutorFailed(f"{not_started[0]}; nothing was run or committed: fix it, then `wo-git run "
                             f"{tk.id} {again}` (or another: `wo-git run {tk.id} -- ./your-agent.sh`)")
    # a process the executor left running outside its group (setsid): unsandboxed, nothing
    # else ends it (sandboxed, the PID namespace is gone already)
    sandbox.kill_leftovers(repo.require_root(), tk.id)
    if len(attempts) > 1:
        facts.attempts = attempts
    # each CLI's own state in the worktree (aider's cache) stays out of the change
    facts.worktree_state = list(dict.fromkeys(p for n in ran for p in profiles[n].worktree_state))
    # finish_run reads the ticket again once the snapshot has put the refs back
    with deferred():  # Ctrl-C now waits for the report commit (then exit 130)
        result = finish_run(repo, cfg, tk, path, facts, snap_dir, sb)
        runs.clear_record(repo, tk.id)
        if snap_dir is not None:
            shutil.rmtree(snap_dir, ignore_errors=True)
        sandbox.cleanup(sb.scratch)
    return result


def abort(repo: Repo, ticket: int | str) -> tickets.Ticket:
    """Stop a running executor and wait until its work is committed; returns the reported ticket.

    Writes the abort request (``runs/NNNN.abort``) that the supervisor checks,
    then blocks on the run lock until the post-run hook is done. Raises
    :class:`BadState` when the ticket is not running.
    """
    tk = tickets.load(repo, ticket)
    if not runs.is_running(repo, tk.id):
        raise bad_state(tk, "not running, nothing to abort")
    runs.abort_path(repo, tk.id).write_text(str(os.getpid()))
    runs.released(repo, tk.id).wait()
    return tickets.load(repo, tk.id, ticket_config(repo, tk))
