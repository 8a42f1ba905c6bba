"""Text for people: ``plan show`` and ``wait --plan`` (``--json`` prints :meth:`PlanStatus.to_json`)."""

from __future__ import annotations

from wo_git.plan.state import PlanStatus, TicketView

NEXT = {
    "ready": "wo-git accept {id}",
    "out-of-attempts": "wo-git show {id}; then revise, accept --force or reject",
    "blocked": "wo-git show {id}; then revise or reject",
    "guard-rejected": "wo-git show {id}; then revise or reject",
    "review": "wo-git review {id} --presence N --correctness N --completeness N --quality N",
}


def decision_line(v: TicketView) -> str:
    """``ready: add-twice (0003): COMPLETED, checks passed -> wo-git accept 3``."""
    hint = NEXT.get(v.decision or "", "").format(id=v.ticket)
    return f"{v.decision}: {v.key} ({v.ticket:04d}): {v.detail}" + (f"  -> {hint}" if hint else "")


def render(st: PlanStatus) -> str:
    """Phases, each ticket's state and what it waits for, then the decisions due."""
    closed = sum(1 for t in st.tickets if t.state in ("accepted", "rejected"))
    head = (f"plan {st.name} (base {st.base}, {st.commit[:10]}): {closed}/{len(st.tickets)} closed, "
            f"{st.running} running" + (", DONE" if st.done else "") + (", STUCK" if st.stuck else ""))
    lines = [head]
    for phase in st.phases:
        mark = "  <- current" if phase == st.current_phase else ""
        lines.append(f"phase {phase}{mark}")
        for v in (t for t in st.tickets if t.phase == phase):
            tid = f"{v.ticket:04d}" if v.ticket else "----"
            what = v.decision and f"needs the architect: {v.decision}" or (v.action and f"next: {v.action}") \
                or "; ".join(v.waits_for)
            what = what or v.detail
            lines.append(f"  {v.key:<24} {tid} {v.state:<9} {(v.status or '-'):<15} r{v.round}  {what}".rstrip())
    if st.decisions:
        lines.append("decisions:")
        lines += [f"  {decision_line(v)}" for v in st.decisions]
    if st.stuck:
        lines.append("stuck: nothing runs, nothing can start, nothing awaits a decision "
                     "(a ticket is after a rejected one?): edit the plan and `wo-git plan apply` it")
    return "\n".join(lines)
