"""The review gate: what a reported round of a plan ticket calls for.

Read entirely from git (the report commit's trailers and files, review
commits), so any process reaches the same answer:

- **infrastructure** (``Wo-Reason: rate-limit`` after every fallback profile,
  ``executor-missing``, or ``NO_REPORT`` from an executor that crashed or was
  killed): re-run, not counted as a failed attempt at the work, at most
  ``infra_retries`` times;
- **checks failed** (``Wo-Checks: failed``, written by the post-run hook):
  an automatic correction round carrying the failing output, at most
  ``auto_retries`` times (shared with failed reviews);
- **guard-rejected**, **blocked** (``BLOCKED``, ``PARTIAL``, a ``NO_REPORT``
  from an executor that exited 0): the architect decides;
- **COMPLETED, checks passed**: if a review is required (or one was given)
  the rubric decides: PASS needs presence >= 1 and the mean of correctness,
  completeness and quality >= the bar (3 by default: the worker-orchestration
  rubric); below it the ticket goes back with the reviewer's notes. Else it is
  ready to accept.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wo_git import tickets
from wo_git.config import Config
from wo_git.git import Repo
from wo_git.plan.model import Plan
from wo_git.tickets.mailbox import GENERATED_MARK, parse_report
from wo_git.tickets.review import review as commit_review

RUBRIC = ("presence", "correctness", "completeness", "quality")
REVIEW_TIMEOUT = 900.0


@dataclass
class Assessment:
    """What a reported round calls for.

    ``kind``: ``infra``, ``checks-failed``, ``review-failed`` (automatic
    rounds, unless out of them), ``review-due`` (a reviewer must score),
    or a decision: ``ready``, ``out-of-attempts``, ``blocked``,
    ``guard-rejected``, ``review``. ``feedback``: what an automatic round
    sends back (failing check output, reviewer notes).
    """

    kind: str
    detail: str
    feedback: str = ""


def auto_rounds(tk: tickets.Ticket, why: tuple[str, ...]) -> int:
    """How many automatic correction rounds of the given kinds (``Wo-Auto``) the ticket had."""
    return sum(1 for e in tk.events if e.event == "revise" and e.commit.trailers.get("Wo-Auto") in why)


def _report_event(tk: tickets.Ticket) -> tickets.Event | None:
    return next((e for e in tk.events if e.event == "report" and e.round == tk.round), None)


def checks_section(report: str) -> str:
    """The ``- Checks:`` part of a report's generated section (commands, verdicts, output tails)."""
    gen = report.split(GENERATED_MARK, 1)[-1]
    m = re.search(r"^- Checks:\n(.*?)(?=^- |\Z)", gen, re.S | re.M)
    return m.group(1).rstrip() if m else ""


def review_of(repo: Repo, cfg: Config, tk: tickets.Ticket) -> tuple[dict[str, int], str, str] | None:
    """The newest review of the current round: ``(scores, verdict, notes)``, or ``None``."""
    ev = next((e for e in tk.events if e.event == "review" and e.round == tk.round), None)
    if ev is None:
        return None
    t = ev.commit.trailers
    scores = {k: int(t[f"Wo-Score-{k.capitalize()}"]) for k in RUBRIC
              if (t.get(f"Wo-Score-{k.capitalize()}") or "").isdigit()}
    data = repo.read_path(ev.commit.id, f"{tk.folder(cfg)}/w{2 * tk.round:02d}-review.md")
    text = data.decode("utf-8", errors="replace") if data else ""
    notes = "\n".join(ln for ln in text.splitlines()[1:] if not ln.startswith("- ")).strip()
    return scores, t.get("Wo-Verdict", "") or "", notes


def passes(scores: dict[str, int], verdict: str, bar: float) -> bool:
    """The rubric: presence >= 1 and mean(correctness, completeness, quality) >= ``bar``;
    an explicit ``fail`` verdict fails. Missing scores count as 0."""
    if verdict == "fail":
        return False
    rest = [scores.get(k, 0) for k in RUBRIC[1:]]
    return scores.get("presence", 0) >= 1 and sum(rest) / len(rest) >= bar


def assess(repo: Repo, cfg: Config, plan: Plan, tk: tickets.Ticket) -> Assessment:
    """Classify a ticket whose current round is reported; see the module docstring."""
    ev = _report_event(tk)
    t = ev.commit.trailers if ev else {}
    status = tk.status or "NO_REPORT"
    reason = t.get("Wo-Reason") or ""
    exit_ = t.get("Wo-Exit") or ""
    report = tickets.report_of(repo, cfg, tk) or ""
    if status == "GUARD_REJECTED":
        return Assessment("guard-rejected", "the guard refused the round's changes")
    infra = reason in ("rate-limit", "executor-missing") and status != "COMPLETED"
    infra = infra or (status == "NO_REPORT" and exit_ not in ("0",) and reason != "abort")
    if infra:
        if auto_rounds(tk, ("infra",)) >= plan.infra_retries:
            return Assessment("blocked", f"failed for infrastructure ({reason or 'exit ' + exit_}) "
                              f"{plan.infra_retries + 1} times")
        return Assessment("infra", reason or f"executor exit {exit_}")
    used = auto_rounds(tk, ("checks", "review"))
    if t.get("Wo-Checks") == "failed":
        out = checks_section(report)
        if used >= plan.auto_retries:
            return Assessment("out-of-attempts", f"checks still fail after {used} automatic round(s)", out)
        return Assessment("checks-failed", "checks failed", out)
    if status != "COMPLETED":
        return Assessment("blocked", f"the executor reported {status}")
    rev = review_of(repo, cfg, tk)
    if rev is None:
        if plan.review.required:
            if plan.review.reviewer:
                return Assessment("review-due", "a reviewer must score the round")
            return Assessment("review", "a rubric review is required (`wo-git review`)")
        return Assessment("ready", "COMPLETED" + (", checks passed" if t.get("Wo-Checks") else ""))
    scores, verdict, notes = rev
    mean = sum(scores.get(k, 0) for k in RUBRIC[1:]) / 3
    if passes(scores, verdict, plan.review.bar):
        return Assessment("ready", f"COMPLETED, review passed (mean {mean:.1f})")
    detail = f"review below the bar (presence {scores.get('presence', 0)}, mean {mean:.1f} < {plan.review.bar})"
    fb = f"{detail}\n\n{notes}"
    if used >= plan.auto_retries:
        return Assessment("out-of-attempts", detail, fb)
    return Assessment("review-failed", detail, fb)


def run_reviewer(repo: Repo, cfg: Config, plan: Plan, tk: tickets.Ticket, worktree: Path) -> str:
    """Run the plan's reviewer command on the round and commit its scores with ``wo-git review``.

    The reviewer runs in the ticket's worktree with ``WO_TICKET``,
    ``WO_WORK_FILE``, ``WO_REPORT_FILE`` and ``WO_REVIEW_FILE`` set; it writes
    ``- Presence: N`` ... ``- Notes: ...`` to ``$WO_REVIEW_FILE``. A reviewer
    that writes no scores gives all zeros (a fail, with its output as notes).
    Returns the review file path.
    """
    assert plan.review.reviewer
    with tempfile.TemporaryDirectory(prefix="wo-review-") as d:
        out_file = Path(d) / "review.md"
        env = dict(os.environ, WO_TICKET=str(tk.id), WO_ROUND=str(tk.round),
                   WO_WORK_FILE=str(worktree / tk.work_path(cfg)),
                   WO_REPORT_FILE=str(worktree / tk.report_path(cfg)), WO_REVIEW_FILE=str(out_file))
        try:
            proc = subprocess.run(plan.review.reviewer, cwd=worktree, env=env, capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=REVIEW_TIMEOUT, check=False)
            output = (proc.stdout + proc.stderr).decode("utf-8", errors="replace")
        except (OSError, subprocess.TimeoutExpired) as err:
            output = f"the reviewer could not run: {err}"
        text = out_file.read_text(errors="replace") if out_file.is_file() else ""
    fields = parse_report(text).fields if text else {}
    scores: dict[str, int | None] = {}
    for k in RUBRIC:
        m = re.match(r"\d+", fields.get(k, ""))
        scores[k] = min(5, int(m.group(0))) if m else 0
    notes = fields.get("notes") or text.strip() or output.strip()[-2000:] or "(the reviewer wrote nothing)"
    given = {k: v or 0 for k, v in scores.items()}
    verdict = "pass" if passes(given, "", plan.review.bar) else "fail"
    _oid, path = commit_review(repo, tk.id, scores=scores, verdict=verdict, notes=notes)
    return path
