"""A plan's state, computed from git: each ticket's state, what it waits for, decisions due.

Rules (the scheduler's whole policy):

- The **current phase** is the first phase with a ticket neither accepted
  nor rejected; the plan is **done** when there is none.
- A ticket not yet opened is opened when its phase is current (or earlier),
  every key in its ``after`` is accepted, and no opened, unclosed ticket of
  the plan has a scope that may overlap its own (:mod:`.scopes`). The last
  rule means overlapping tickets never run at once, and a ticket's branch
  starts from a base that already has every overlapping predecessor merged,
  so plan tickets do not conflict with each other at accept.
- An open ticket that is not running is started (up to ``max_parallel``).
- A reported ticket goes through the review gate (:mod:`.gate`): an
  automatic round, a reviewer run, or a **decision** for the architect
  (``ready``, ``out-of-attempts``, ``blocked``, ``guard-rejected``,
  ``review``).
- The plan is **stuck** when nothing runs, nothing can start and nothing
  awaits a decision (e.g. a ticket is ``after`` a rejected one).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from wo_git import runs, tickets
from wo_git.config import Config, load_config
from wo_git.git import Repo
from wo_git.plan import gate, store
from wo_git.plan.model import Plan
from wo_git.plan.scopes import overlap
from wo_git.types import CommitId

CLOSED = ("accepted", "rejected")
DECISIONS = ("ready", "out-of-attempts", "blocked", "guard-rejected", "review")


@dataclass
class TicketView:
    """One plan ticket as ``plan show --json`` prints it.

    ``state``: ``waiting`` (not opened yet) or the ticket's state.
    ``action``: what the driver does next without a model (``open``,
    ``start``, ``retry-checks``, ``retry-review``, ``retry-infra``,
    ``review``), else ``None``. ``decision``: what the architect must decide.
    """

    key: str
    phase: str
    title: str
    ticket: int | None
    state: str
    status: str | None
    round: int
    scope: list[str]
    after: list[str]
    waits_for: list[str] = field(default_factory=list)
    action: str | None = None
    decision: str | None = None
    detail: str = ""
    feedback: str = ""


@dataclass
class PlanStatus:
    """The whole plan: ``phases``, ``current_phase``, ``tickets``, ``decisions``, ``done``, ``stuck``."""

    name: str
    commit: CommitId
    base: str
    phases: list[str]
    current_phase: str | None
    max_parallel: int
    tickets: list[TicketView]
    done: bool = False
    stuck: bool = False

    @property
    def decisions(self) -> list[TicketView]:
        """Tickets awaiting the architect."""
        return [t for t in self.tickets if t.decision]

    @property
    def running(self) -> int:
        """How many of the plan's tickets are running now."""
        return sum(1 for t in self.tickets if t.state == "running")

    def to_json(self) -> dict[str, object]:
        """The ``--json`` shape (the same field names as the dataclasses)."""
        return {
            "name": self.name, "commit": self.commit, "base": self.base, "phases": self.phases,
            "current_phase": self.current_phase, "max_parallel": self.max_parallel,
            "done": self.done, "stuck": self.stuck, "running": self.running,
            "decisions": [{"key": t.key, "ticket": t.ticket, "decision": t.decision, "detail": t.detail}
                          for t in self.decisions],
            "tickets": [asdict(t) for t in self.tickets],
        }


def plan_base(repo: Repo, plan: Plan) -> str:
    """The plan's base branch: its own ``base``, else the config's, else the checked-out branch."""
    if plan.base:
        return plan.base
    head = repo.head_branch()
    return tickets.default_base(repo, load_config(repo, head if head and repo.branch_exists(head) else None))


def start_errors(repo: Repo, name: str) -> dict[str, list[object]]:
    """``{key: [round, message]}``: runs the driver could not start (``<common>/wo/plans/NAME.errors.json``)."""
    path = repo.wo_dir / "plans" / f"{name}.errors.json"
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def compute(repo: Repo, name: str) -> tuple[Plan, Config, PlanStatus, dict[str, tickets.Ticket]]:
    """Read the plan and its tickets and decide, for each, what it waits for or needs.

    Returns the plan, the base's config, the status and the opened tickets by key.
    """
    plan, commit = store.load(repo, name)
    base = plan_base(repo, plan)
    cfg = load_config(repo, base if repo.branch_exists(base) else None)
    opened = {k: tickets.load(repo, tk.id, cfg) for k, tk in store.plan_tickets(repo, name).items()}
    keys = {t.key for t in plan.tickets}
    opened = {k: v for k, v in opened.items() if k in keys}
    errors = start_errors(repo, name)
    state_of = {k: tk.state for k, tk in opened.items()}
    phase_idx = {p: i for i, p in enumerate(plan.phases)}
    open_phases = [plan.phase_of(t) for t in plan.tickets if state_of.get(t.key) not in CLOSED]
    current = min(open_phases, key=lambda p: phase_idx[p]) if open_phases else None
    cur_idx = phase_idx[current] if current else len(plan.phases)
    base_tip = repo.ref_target(f"refs/heads/{base}")
    tracked: list[str] = []
    if base_tip:
        tracked = sorted({p for ch in repo.changes(None, base_tip) for p in ch.paths})
    held: dict[str, list[str]] = {k: plan.scope_of(plan.ticket(k)) for k, tk in opened.items()
                                  if tk.state not in CLOSED}
    views: list[TicketView] = []
    for t in plan.tickets:
        tk = opened.get(t.key)
        v = TicketView(key=t.key, phase=plan.phase_of(t), title=t.title, ticket=tk.id if tk else None,
                       state=tk.state if tk else "waiting", status=tk.status if tk else None,
                       round=tk.round if tk else 0, scope=plan.scope_of(t), after=list(t.after))
        views.append(v)
        if tk is None:
            if phase_idx[v.phase] > cur_idx:
                v.waits_for.append(f"phase {v.phase} (current: {current})")
            for a in t.after:
                if state_of.get(a) != "accepted":
                    v.waits_for.append(f"{a} to be accepted ({state_of.get(a, 'not opened')})")
            if not v.waits_for:
                for k, sc in held.items():
                    why = overlap(v.scope, sc, tracked)
                    if why:
                        v.waits_for.append(f"scope: {k} holds an overlapping scope ({why})")
                        break
            if not v.waits_for:
                v.action = "open"
                held[t.key] = v.scope
            continue
        if tk.state == "open":
            err = errors.get(t.key)
            if err and err[0] == tk.round:
                v.decision, v.detail = "blocked", f"could not start: {err[1]}"
            else:
                v.action = "start"
        elif tk.state == "running":
            rec = runs.read_record(repo, tk.id)
            v.detail = f"running {rec.executor}" if rec else "running"
        elif tk.state == "reported":
            g = gate.assess(repo, cfg, plan, tk)
            v.detail, v.feedback = g.detail, g.feedback
            if g.kind in DECISIONS:
                v.decision = g.kind
            elif g.kind == "review-due":
                v.action = "review"
            else:
                v.action = {"infra": "retry-infra", "checks-failed": "retry-checks",
                            "review-failed": "retry-review"}[g.kind]
    st = PlanStatus(name=name, commit=commit, base=base, phases=list(plan.phases), current_phase=current,
                    max_parallel=plan.max_parallel or cfg.max_parallel, tickets=views)
    st.done = current is None
    st.stuck = not st.done and not st.decisions and st.running == 0 and not any(v.action for v in views)
    return plan, cfg, st, opened
