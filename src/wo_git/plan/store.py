"""Plans recorded in git: ``refs/wo/plans/NAME``.

Each ``wo-git plan apply`` that changes something writes one commit whose
tree holds the plan file as ``plan.yaml`` (parent: the previous version,
trailers ``Wo-Plan`` and ``Wo-Event: plan``), and moves the ref by
compare-and-swap, so ``git log refs/wo/plans/NAME`` is the plan's history
and ``git push origin 'refs/wo/*'`` shares it. Which tickets belong to a
plan is read from their open commits (``Wo-Plan``, ``Wo-Plan-Key``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wo_git import tickets
from wo_git.errors import BadState, InvalidInput
from wo_git.git import Repo, format_message
from wo_git.plan.model import Plan, parse_plan
from wo_git.types import CommitId

PLANS_PREFIX = "refs/wo/plans/"
PLAN_FILE = "plan.yaml"


def plan_ref(name: str) -> str:
    """``refs/wo/plans/NAME``."""
    return f"{PLANS_PREFIX}{name}"


def names(repo: Repo) -> list[str]:
    """Every recorded plan's name."""
    return sorted(n[len(PLANS_PREFIX):] for n in repo.list_refs(PLANS_PREFIX))


def resolve_name(repo: Repo, name: str | None) -> str:
    """``name``, or the only recorded plan; raises :class:`InvalidInput` otherwise."""
    known = names(repo)
    if name:
        if name not in known:
            raise InvalidInput(f"no plan {name!r} (known: {', '.join(known) or 'none'}); "
                               "record one with `wo-git plan apply FILE`")
        return name
    if len(known) == 1:
        return known[0]
    raise InvalidInput("name the plan: " + (", ".join(known) if known else
                                             "no plan recorded yet; `wo-git plan apply FILE`"))


def load(repo: Repo, name: str) -> tuple[Plan, CommitId]:
    """The recorded plan and its commit; raises :class:`InvalidInput` if there is none."""
    tip = repo.ref_target(plan_ref(name))
    if tip is None:
        raise InvalidInput(f"no plan {name!r}; record it with `wo-git plan apply FILE`")
    data = repo.read_path(tip, PLAN_FILE)
    if data is None:
        raise BadState(f"{plan_ref(name)} has no {PLAN_FILE}")
    return parse_plan(data.decode("utf-8", errors="replace"), f"{plan_ref(name)}:{PLAN_FILE}"), tip


def plan_tickets(repo: Repo, name: str) -> dict[str, tickets.Ticket]:
    """The plan's opened tickets by key (the newest ticket when a key was opened twice)."""
    out: dict[str, tickets.Ticket] = {}
    for tid in tickets.all_ids(repo):
        tk = tickets.load(repo, tid)
        t = tk.events[-1].commit.trailers
        if t.get("Wo-Plan") == name and t.get("Wo-Plan-Key"):
            out[t["Wo-Plan-Key"]] = tk
    return out


@dataclass
class ApplyResult:
    """What ``plan apply`` did (or, with ``dry_run``, would do). Keys by kind."""

    name: str
    commit: CommitId | None
    dry_run: bool
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """changed keys already opened as tickets: their orders stay as sent (revise them by hand)"""

    def to_json(self) -> dict[str, object]:
        """The ``--json`` shape."""
        return dict(self.__dict__)


def apply(repo: Repo, text: str, *, origin: str = "plan file", dry_run: bool = False) -> ApplyResult:
    """Check a plan file and record it on ``refs/wo/plans/NAME``.

    Applying the same file again writes nothing. A changed ticket not yet
    opened is opened from its new definition; one already opened keeps its
    work order (listed in ``kept``). Removing a key whose ticket is open and
    not closed is refused. Raises :class:`InvalidInput` for a bad file,
    :class:`~wo_git.errors.StaleRef` if another apply moved the ref first.
    """
    plan = parse_plan(text, origin)
    repo.require_root()
    old_tip = repo.ref_target(plan_ref(plan.name))
    old: Plan | None = load(repo, plan.name)[0] if old_tip else None
    res = ApplyResult(plan.name, old_tip, dry_run)
    opened = plan_tickets(repo, plan.name) if old is not None else {}
    before = {t.key: old.fingerprint(t) for t in old.tickets} if old else {}
    for t in plan.tickets:
        fp = plan.fingerprint(t)
        if t.key not in before:
            res.added.append(t.key)
        elif before[t.key] != fp:
            (res.kept if t.key in opened else res.changed).append(t.key)
        else:
            res.unchanged.append(t.key)
    new_keys = {t.key for t in plan.tickets}
    res.removed = [k for k in before if k not in new_keys]
    for k in res.removed:
        tk = opened.get(k)
        if tk is not None and tk.state not in ("accepted", "rejected"):
            raise BadState(f"plan {plan.name}: ticket {k!r} is open as {tk.label} ({tk.state}); "
                           f"`wo-git reject {tk.id} --reason ...` before removing it from the plan")
    same_text = old_tip is not None and repo.read_path(old_tip, PLAN_FILE) == text.encode()
    if dry_run or same_text:
        return res
    msg = format_message(
        f"wo plan {plan.name}: " + ("record" if old_tip is None else "update"),
        f"{len(plan.tickets)} tickets in {len(plan.phases)} phases: {', '.join(plan.phases)}",
        {"Wo-Plan": plan.name, "Wo-Event": "plan", "Wo-Role": "architect"},
    )
    oid = repo.write_commit([old_tip] if old_tip else [], msg, files={PLAN_FILE: text.encode()})
    repo.update_refs([(plan_ref(plan.name), oid, old_tip)], f"wo-git: plan apply {plan.name}")
    res.commit = oid
    return res
