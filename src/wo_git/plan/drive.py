"""Driving a plan without a model: one idempotent step, the run loop, and ``wait --plan``.

A **step** takes the plan lock (``flock`` on ``<common>/wo/plans/NAME.lock``,
so any number of drivers serialize and none double-starts a ticket), reads
the plan's state from git (:mod:`.state`), and does what needs no judgement:
automatic correction rounds (failed checks, a review below the bar, a round
lost to infrastructure), reviewer runs, opening ready tickets (their work
order carries what their dependencies delivered), and starting open tickets
as detached runs up to ``max_parallel``. Runs themselves are ordinary
``wo-git run --detach`` supervisors, so a driver that dies loses nothing:
the next step (by ``plan run``, ``wait --plan`` or ``plan show --watch``'s
person) picks up from git.

Each start and each observed end is appended to
``<common>/wo/plans/NAME.jsonl`` (``{"event": "start"|"end", "key",
"ticket", "round", "time"}``, Unix seconds): the schedule as it happened.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wo_git import runs, tickets
from wo_git.config import Config
from wo_git.errors import ExecutorFailed, WoGitError
from wo_git.git import Repo, clean_git_env
from wo_git.plan import gate
from wo_git.plan.model import Plan, PlanTicket
from wo_git.plan.state import CLOSED, PlanStatus, TicketView, compute
from wo_git.runs import run as run_mod
from wo_git.runs import worktrees
from wo_git.tickets import diffstat
from wo_git.tickets.mailbox import parse_report

POLL = 0.3
"""seconds between steps while something runs (reading refs; runs are flock-supervised)"""
IDLE_POLL = 1.0
"""seconds between steps while only the architect can move the plan"""


def plans_dir(repo: Repo) -> Path:
    """``<common>/wo/plans``, created on demand."""
    d = repo.wo_dir / "plans"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextmanager
def plan_lock(repo: Repo, name: str) -> Iterator[None]:
    """Hold the plan's driver lock (blocking ``flock``; the kernel drops it on any death)."""
    fd = os.open(plans_dir(repo) / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def journal(repo: Repo, name: str) -> list[dict[str, object]]:
    """The plan's schedule journal, oldest first."""
    path = plans_dir(repo) / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def _log(repo: Repo, name: str, **entry: object) -> None:
    with open(plans_dir(repo) / f"{name}.jsonl", "a") as f:
        f.write(json.dumps(entry | {"time": time.time()}) + "\n")


def _set_error(repo: Repo, name: str, key: str, round_: int, msg: str | None) -> None:
    path = plans_dir(repo) / f"{name}.errors.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if msg is None:
        data.pop(key, None)
    else:
        data[key] = [round_, msg]
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def find_merge(repo: Repo, base: str, tk: tickets.Ticket) -> str | None:
    """The merge commit of an accepted ticket on its base (``Wo-Event: merge``), newest first."""
    tip = repo.ref_target(f"refs/heads/{base}")
    if tip is None:
        return None
    for info in repo.first_parent_chain(tip):
        t = info.trailers
        if t.get("Wo-Event") == "merge" and t.get("Wo-Ticket") == tk.label:
            return info.id
    return None


def deliveries(repo: Repo, cfg: Config, base: str, done: list[tuple[str, tickets.Ticket]]) -> str:
    """What the given accepted tickets delivered, for a dependent's work order: report summary,
    merge commit and diffstat (mailbox files left out), each read from git."""
    parts: list[str] = []
    for key, tk in done:
        merge = find_merge(repo, base, tk)
        lines = [f"### {key}: ticket {tk.label} ({tk.title})", ""]
        if merge:
            info = repo.commit_info(merge)
            stat = diffstat.parse(repo.diff_text(info.parents[0], merge))
            stat.files = [f for f in stat.files if not f.path.startswith(cfg.mailbox + "/")]
            lines.append(f"- Merge commit: {merge} ({info.subject})")
            lines.append(f"- Diffstat: {stat.summary()}")
            lines += [f"  - {ln}" for ln in stat.lines(20)]
        report = tickets.report_of(repo, cfg, tk) or ""
        rep = parse_report(report)
        summary = rep.fields.get("what i implemented") or rep.fields.get("summary") or ""
        if not summary:
            body = [ln for ln in rep.text.splitlines()[1:] if ln.strip() and not ln.startswith("- Status")]
            summary = " ".join(body[:5])
        lines.append(f"- Report ({tk.report_path(cfg)}): {summary[:1500] or '(empty)'}")
        parts.append("\n".join(lines))
    if not parts:
        return ""
    return "## What the tickets this one follows delivered\n\n" + "\n\n".join(parts)


def _open(repo: Repo, cfg: Config, plan: Plan, st: PlanStatus, t: PlanTicket,
          opened: dict[str, tickets.Ticket]) -> tickets.Ticket:
    context = deliveries(repo, cfg, st.base, [(a, opened[a]) for a in t.after if a in opened])
    req = tickets.OpenRequest(
        slug=t.key, title=t.title, task=t.task, criteria=tuple(t.criteria), scope=tuple(plan.scope_of(t)),
        allow=tuple(t.allow), base=st.base, executor=plan.executor_of(t), model=plan.model_of(t),
        context=f"Part of plan `{plan.name}`, phase `{plan.phase_of(t)}`.\n\n{context}".strip(),
        trailers=(("Wo-Plan", plan.name), ("Wo-Plan-Key", t.key), ("Wo-Plan-Phase", plan.phase_of(t))),
    )
    return tickets.open_ticket(repo, cfg, req)


def _retry(repo: Repo, cfg: Config, plan: Plan, v: TicketView, tk: tickets.Ticket) -> None:
    why = v.action.removeprefix("retry-") if v.action else "checks"
    if why == "checks":
        failing = v.feedback.replace("```", "'''")
        task = (f"The checks failed after round {tk.round}. Make them pass; the task is unchanged.\n\n"
                f"### Failing checks (round {tk.round})\n\n```\n{failing}\n```")
    elif why == "review":
        task = (f"The review of round {tk.round} is below the bar. Address the reviewer's notes; the task "
                f"is unchanged.\n\n### Reviewer's notes (round {tk.round})\n\n{v.feedback}")
    else:
        task = (f"Round {tk.round} stopped for infrastructure ({v.detail}), not because of the work. "
                "Do the task again.")
    tickets.revise_ticket(repo, cfg, tk, task=task, trailers={"Wo-Auto": why, "Wo-Plan": plan.name})


def step(repo: Repo, name: str, progress: Callable[[str], None] = lambda s: None) -> PlanStatus:
    """Do everything the plan needs that needs no judgement; return its state afterwards.

    Idempotent and safe to call from any number of processes (they take
    turns on the plan lock). Raises :class:`~wo_git.errors.InvalidInput`
    for an unknown plan.
    """
    with plan_lock(repo, name):
        plan, cfg, st, opened = compute(repo, name)
        started = {(e["key"], e["round"]) for e in journal(repo, name) if e["event"] == "start"}
        ended = {(e["key"], e["round"]) for e in journal(repo, name) if e["event"] == "end"}
        for key, rnd in sorted(started - ended, key=str):
            tk = opened.get(str(key))
            if tk is not None and not runs.is_running(repo, tk.id):
                _log(repo, name, event="end", key=key, ticket=tk.id, round=rnd)
                progress(f"{key}: round {rnd} ended ({tk.status or tk.state})")
        changed = False
        for v in st.tickets:
            tk = opened.get(v.key)
            try:
                if v.action and v.action.startswith("retry-") and tk is not None:
                    _retry(repo, cfg, plan, v, tk)
                    progress(f"{v.key}: automatic round {tk.round + 1} ({v.action}: {v.detail})")
                    changed = True
                elif v.action == "review" and tk is not None:
                    path = gate.run_reviewer(repo, cfg, plan, tk, worktrees.ensure(repo, cfg, tk))
                    progress(f"{v.key}: reviewed ({path})")
                    changed = True
                elif v.action == "open":
                    new = _open(repo, cfg, plan, st, plan.ticket(v.key), opened)
                    opened[v.key] = new
                    progress(f"{v.key}: opened {new.label} on {new.branch}")
                    changed = True
            except WoGitError as err:  # e.g. a ref moved under us: the next step sees the new state
                progress(f"{v.key}: {err}")
        if changed:
            plan, cfg, st, opened = compute(repo, name)
        running = st.running
        for v in st.tickets:
            if v.action != "start" or running >= st.max_parallel:
                continue
            tk = opened[v.key]
            t = plan.ticket(v.key)
            argv = plan.argv_of(t)
            opts = run_mod.RunOptions(argv=argv, executor=None if argv else plan.executor_of(t))
            _log(repo, name, event="start", key=v.key, ticket=tk.id, round=tk.round)
            try:
                launch = run_mod.detach(repo, tk.id, opts)
            except ExecutorFailed as err:  # started and stopped at once: a report may exist
                _log(repo, name, event="end", key=v.key, ticket=tk.id, round=tk.round)
                progress(f"{v.key}: {err}")
                continue
            except WoGitError as err:
                _log(repo, name, event="end", key=v.key, ticket=tk.id, round=tk.round)
                _set_error(repo, name, v.key, tk.round, str(err))
                progress(f"{v.key}: could not start: {err}")
                continue
            running += 1
            progress(f"{v.key}: started {tk.label} round {tk.round} (pid {launch.pid})")
        plan, cfg, st, opened = compute(repo, name)
        return st


def wait(repo: Repo, name: str, timeout: float | None = None,
         progress: Callable[[str], None] = lambda s: None) -> PlanStatus | None:
    """Drive the plan until a ticket needs the architect, the plan is done, or it is stuck.

    This is ``wo-git wait --plan``: it also drives (each step is the same as
    ``plan run``'s), so nothing between two decisions needs a model or a
    separate process. Returns the status, or ``None`` on timeout (seconds).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        st = step(repo, name, progress)
        if st.decisions or st.done or st.stuck:
            return st
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(POLL if st.running else IDLE_POLL)


def run_plan(repo: Repo, name: str, *, keep_going: bool = False,
             progress: Callable[[str], None] = lambda s: None) -> PlanStatus:
    """``wo-git plan run``: drive until the plan is done, or (unless ``keep_going``) until
    nothing runs and only the architect can move it; with ``keep_going``, wait through
    decisions (the architect accepts meanwhile) until done or stuck."""
    while True:
        st = step(repo, name, progress)
        if st.done or st.stuck:
            return st
        if not keep_going and st.running == 0 and st.decisions and not any(v.action for v in st.tickets):
            return st
        time.sleep(POLL if st.running else IDLE_POLL)


def detach(repo: Repo, name: str) -> tuple[int, str]:
    """Start ``plan run NAME --keep-going`` in the background; returns ``(pid, log path)``."""
    log = runs.logs_dir(repo) / f"plan-{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wo_git", "plan", "run", name, "--keep-going"],
            cwd=repo.require_root(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=clean_git_env(),
        )
    return proc.pid, str(log)


def closed_count(st: PlanStatus) -> int:
    """Tickets accepted or rejected."""
    return sum(1 for t in st.tickets if t.state in CLOSED)
