"""``wo-git review``: a reviewer's verdict with rubric scores, committed on the ticket.

The rubric is the field's (presence, correctness, completeness, quality),
each 0-5. The verdict file is ``<mailbox>/NNNN-slug/wNN-review.md`` beside
the round's report, and the scores are also trailers (``Wo-Score-*``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from wo_git import tickets
from wo_git.config import Config
from wo_git.errors import BadState, InvalidInput
from wo_git.git import Repo, run_git
from wo_git.hints import bad_state
from wo_git.runs.run import ticket_config
from wo_git.types import CommitId


def review_path(cfg: Config, tk: tickets.Ticket, round_: int) -> str:
    """Repository-relative path of a round's review: ``work-orders/0007-x/w02-review.md``."""
    return tickets.review_file(cfg, tk, round_)


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
        raise bad_state(tk, "a review follows a report")
    path = review_path(cfg, tk, tk.round)
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


def merge_commit(repo: Repo, tk: tickets.Ticket, limit: int = 10_000) -> CommitId | None:
    """The commit that merged an accepted ticket into its base (``Wo-Event: merge``), or ``None``.

    Searched on the base branch's first-parent line, newest first, at most
    ``limit`` commits deep.
    """
    base_tip = repo.ref_target(f"refs/heads/{tk.base}")
    if base_tip is None:
        return None
    for info in repo.first_parent_chain(base_tip, limit):
        t = info.trailers
        if t.get("Wo-Event") == "merge" and t.get("Wo-Ticket") == tk.label:
            return info.id
    return None


def diff_range(repo: Repo, tk: tickets.Ticket, round_: int | None = None) -> tuple[CommitId, CommitId]:
    """The two commits ``wo-git diff`` compares for a ticket (old, new).

    - ``round_``: that round's work-order commit against its report commit;
    - accepted: the merge commit's first parent against the merge (or the
      squash commit), i.e. what was merged;
    - otherwise: the merge base of the base branch and the ticket against
      the ticket's tip (``git diff BASE...BRANCH``).

    Raises :class:`InvalidInput` for a round that does not exist and
    :class:`BadState` for a round without a report yet.
    """
    if round_ is not None:
        if not 1 <= round_ <= tk.round:
            raise InvalidInput(f"ticket {tk.label} has rounds 1..{tk.round}: `wo-git diff {tk.id} --round N`")
        start = next((e.commit.id for e in tk.events if e.event in ("open", "revise") and e.round == round_), None)
        end = next((e.commit.id for e in tk.events if e.event == "report" and e.round == round_), None)
        if start is None or end is None:
            raise BadState(f"ticket {tk.label} round {round_} has no report yet (`wo-git wait {tk.id}`)")
        return start, end
    if tk.state == "accepted":
        merge = merge_commit(repo, tk)
        if merge is not None:
            return repo.commit_info(merge).parents[0], merge
    tip = tk.branch_tip or tk.tip
    base = repo.ref_target(f"refs/heads/{tk.base}")
    mb = repo.merge_base(base, tip) if base else None
    return mb or tk.events[-1].commit.parents[0], tip


def ticket_diff(
    repo: Repo,
    ticket: int | str,
    round_: int | None = None,
    mailbox: bool = False,
    pathspecs: Sequence[str] = (),
    stat: bool = False,
    cwd: Path | None = None,
) -> bytes:
    """The ticket's diff for review, as ``git diff`` prints it (bytes, no colour).

    Compares :func:`diff_range`; leaves out the ticket's mailbox folder
    (``work-orders/NNNN-slug/``) unless ``mailbox``; ``pathspecs`` limit it
    as git's pathspecs do, relative to ``cwd`` (default: the repository
    root); ``stat`` gives ``git diff --stat``. Renames detected (``-M``); no
    external diff or textconv drivers run. Raises what :func:`diff_range` raises.
    """
    tk = tickets.load(repo, ticket)
    cfg = ticket_config(repo, tk)
    old, new = diff_range(repo, tk, round_)
    specs = list(pathspecs)
    if not mailbox:
        specs.append(f":(top,exclude){tk.folder(cfg)}")
    args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M", *(["--stat"] if stat else []), old, new]
    root = repo.require_root()
    return run_git(*args, "--", *specs, cwd=cwd or root).stdout
