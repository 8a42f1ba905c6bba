"""The plan file: YAML validated with pydantic (``extra="forbid"``).

Shape (every key but ``name``, ``phases`` and ``tickets`` optional)::

    name: release-2                 # the plan's name: refs/wo/plans/NAME
    base: main                      # default: the config's base or the checked-out branch
    max_parallel: 3                 # default: the config's max_parallel
    auto_retries: 2                 # automatic correction rounds for failed checks or reviews
    infra_retries: 3                # re-runs of rounds that failed for infrastructure
    review: {required: false, reviewer: null, bar: 3.0}
    defaults: {executor: command, model: null, scope: [], argv: []}
    phases: [core, docs, release]   # run in this order
    tickets:
      - key: add-twice              # stable: a ticket is matched to its key across applies
        phase: core
        title: Add twice()
        task: ...
        criteria: [...]
        scope: ["toolz/extra.py"]
        allow: []
        executor: null              # a profile; with ``argv`` the command profile runs it
        argv: ["./do-it.sh"]
        model: null
        after: [other-key]          # keys that must be accepted first

Raises :class:`~wo_git.errors.InvalidInput` naming the problem (the YAML
path of a bad key, an unknown key in ``after``, a cycle, a bad pattern).
"""

from __future__ import annotations

import graphlib
import hashlib
import json

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wo_git.errors import InvalidInput
from wo_git.plan.scopes import check_patterns
from wo_git.tickets.mailbox import check_slug

NAME_RE = r"^[a-z0-9][a-z0-9._-]{0,59}$"


class Review(BaseModel):
    """``review:``: whether a rubric review must pass before a ticket is ready to accept."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    required: bool = False
    reviewer: list[str] | None = None
    """a reviewer command (argv) run in the ticket's worktree; it writes ``$WO_REVIEW_FILE``
    with ``- Presence: N``, ``- Correctness: N``, ``- Completeness: N``, ``- Quality: N``
    (0-5) and ``- Notes: ...``. Without one the architect reviews (``wo-git review``)."""
    bar: float = Field(default=3.0, ge=0, le=5)
    """PASS needs presence >= 1 and mean(correctness, completeness, quality) >= bar"""


class Defaults(BaseModel):
    """``defaults:``: values a ticket takes when it does not set its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    executor: str | None = None
    model: str | None = None
    scope: list[str] = []
    argv: list[str] = []


class PlanTicket(BaseModel):
    """One ticket of the plan, matched across applies by ``key``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=NAME_RE)
    phase: str | None = None
    """default: the first phase"""
    title: str = Field(min_length=1)
    task: str = Field(min_length=1)
    criteria: list[str] = []
    scope: list[str] | None = None
    allow: list[str] = []
    executor: str | None = None
    argv: list[str] | None = None
    model: str | None = None
    after: list[str] = []


class Plan(BaseModel):
    """A whole plan file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=NAME_RE)
    base: str | None = None
    max_parallel: int | None = Field(default=None, ge=1)
    auto_retries: int = Field(default=2, ge=0)
    infra_retries: int = Field(default=3, ge=0)
    review: Review = Review()
    defaults: Defaults = Defaults()
    phases: list[str] = Field(min_length=1)
    tickets: list[PlanTicket] = Field(min_length=1)

    def ticket(self, key: str) -> PlanTicket:
        """The ticket with ``key``; raises ``KeyError``."""
        for t in self.tickets:
            if t.key == key:
                return t
        raise KeyError(key)

    def phase_of(self, t: PlanTicket) -> str:
        """The ticket's phase (the first phase when it names none)."""
        return t.phase or self.phases[0]

    def scope_of(self, t: PlanTicket) -> list[str]:
        """The ticket's scope patterns (its own, else the defaults'; empty = anywhere)."""
        return list(t.scope if t.scope is not None else self.defaults.scope)

    def argv_of(self, t: PlanTicket) -> list[str]:
        """The command to run (``-- ARGV``), empty when a profile runs the ticket."""
        return list(t.argv if t.argv is not None else ([] if t.executor else self.defaults.argv))

    def executor_of(self, t: PlanTicket) -> str | None:
        """The ticket's executor profile, else the defaults'."""
        return t.executor or self.defaults.executor

    def model_of(self, t: PlanTicket) -> str | None:
        """The ticket's model, else the defaults'."""
        return t.model or self.defaults.model

    def fingerprint(self, t: PlanTicket) -> str:
        """A hash of everything that decides the ticket's work order (for ``apply``'s diff)."""
        data = t.model_dump() | {"phase": self.phase_of(t), "scope": self.scope_of(t)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def parse_plan(text: str, origin: str = "plan file") -> Plan:
    """Parse and check a plan file; raises :class:`InvalidInput` with one line saying what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInput(f"{origin}: not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{origin}: expected a mapping with name, phases and tickets")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise InvalidInput(f"{origin}: {where}: {first['msg']}") from None
    check_plan(plan, origin)
    return plan


def check_plan(plan: Plan, origin: str = "plan file") -> None:
    """Unique keys and phases, known phases and ``after`` keys, no ``after`` on a later phase,
    no cycles (``graphlib``), valid scope and allow patterns. Raises :class:`InvalidInput`."""
    if len(set(plan.phases)) != len(plan.phases):
        raise InvalidInput(f"{origin}: phases: a phase is named twice")
    keys = [t.key for t in plan.tickets]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise InvalidInput(f"{origin}: ticket key {dup[0]!r} is used twice")
    order = {p: i for i, p in enumerate(plan.phases)}
    graph: dict[str, list[str]] = {}
    for t in plan.tickets:
        check_slug(t.key)
        phase = plan.phase_of(t)
        if phase not in order:
            raise InvalidInput(f"{origin}: ticket {t.key!r}: unknown phase {phase!r} "
                               f"(phases: {', '.join(plan.phases)})")
        for a in t.after:
            if a not in keys:
                raise InvalidInput(f"{origin}: ticket {t.key!r}: after names unknown key {a!r}")
            if a == t.key:
                raise InvalidInput(f"{origin}: ticket {t.key!r} is after itself")
            if order[plan.phase_of(plan.ticket(a))] > order[phase]:
                raise InvalidInput(f"{origin}: ticket {t.key!r} (phase {phase}) is after {a!r}, "
                                   "which is in a later phase: it could never start")
        check_patterns(plan.scope_of(t), f"{origin}: ticket {t.key!r}: scope")
        check_patterns(t.allow, f"{origin}: ticket {t.key!r}: allow")
        graph[t.key] = list(t.after)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        cycle = " -> ".join(err.args[1])
        raise InvalidInput(f"{origin}: the tickets' after lists form a cycle: {cycle}") from None
