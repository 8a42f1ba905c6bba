"""``wo-git review``: a reviewer's verdict with rubric scores, committed on the ticket.

The rubric is the field's (presence, correctness, completeness, quality),
each 0-5. The verdict file is ``<mailbox>/NNNN-slug/wNN-review.md`` beside
the round's report, and the scores are also trailers (``Wo-Score-*``).
"""

from __future__ import annotations

from collections.abc import Mapping

from wo_git import tickets
from wo_git.errors import BadState
from wo_git.git import Repo
from wo_git.run import ticket_config
from wo_git.types import CommitId


def review(
    repo: Repo, ticket: int | str, *, scores: Mapping[str, int | None], verdict: str | None, notes: str
) -> tuple[CommitId, str]:
    """Commit a review of the ticket's current round; returns the commit and the file path.

    Raises :class:`BadState` unless the round has a report.
    """
    tk = tickets.load(repo, ticket)
    cfg = ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    if tk.state != "reported":
        raise BadState(f"ticket {tk.label} is {tk.state}: review follows a report")
    path = f"{tk.folder(cfg)}/w{2 * tk.round:02d}-review.md"
    given = {k: v for k, v in scores.items() if v is not None}
    lines = [f"# Review of round {tk.round} for {tk.slug}", ""]
    lines.append(f"- Verdict: {verdict or '-'}")
    lines += [f"- {k.capitalize()}: {v}/5" for k, v in given.items()]
    lines += ["", notes.strip() or "(no notes)", ""]
    trailers: dict[str, str | int | None] = {f"Wo-Score-{k.capitalize()}": v for k, v in given.items()}
    trailers["Wo-Verdict"] = verdict
    trailers["Wo-Status"] = tk.status
    oid = tickets.commit_event(
        repo, tk, event="review", role="reviewer", round_=tk.round,
        subject=f"wo {tk.label} review: round {tk.round}: {verdict or 'scored'}",
        files={path: "\n".join(lines).encode()}, trailers=trailers, parent=tk.branch_tip or tk.tip,
        move_branch=tk.branch_tip is not None,
    )
    return oid, path
