"""The mailbox files: work orders (architect) and reports (executor).

Formats come from the folder mailbox wo-git replaces (DESIGN.md section 4):
a work file is Markdown with YAML front matter (validated by pydantic) and
the sections ``Task``, ``Requirements / Success Criteria``, ``Context``,
``Delivery``; a report is loose Markdown with ``- Status: ...`` style lines,
parsed leniently because models write loosely. Numbering: round ``r`` has
work file ``w{2r-1:02}-work.md`` and report ``w{2r:02}-report.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from wo_git.errors import InvalidInput
from wo_git.tickets import ticket_label

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,59}$")
STATUSES = ("COMPLETED", "PARTIAL", "BLOCKED", "NO_REPORT", "GUARD_REJECTED", "FAILED")
GENERATED_MARK = "<!-- wo-git: generated below this line -->"


def check_slug(slug: str) -> str:
    """Return ``slug`` if it is a safe branch-name component, else raise :class:`InvalidInput`.

    Allowed: lower-case letters, digits, ``.``, ``_``, ``-``; starts with a
    letter or digit; at most 60 characters; no ``..``; not ending in ``.``
    or ``.lock`` (git-check-ref-format's rules).
    """
    if (
        not SLUG_RE.match(slug)
        or ".." in slug
        or slug.endswith((".", ".lock"))
    ):
        hint = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")[:60] or "my-task"
        raise InvalidInput(
            f"slug {slug!r} is not a safe branch name part: use lower-case letters, "
            f"digits and '-' (for example {hint!r})"
        )
    return slug


class WorkOrder(BaseModel):
    """The front matter of a work file."""

    model_config = ConfigDict(extra="allow", frozen=True)
    ticket: int
    round: int
    slug: str
    title: str
    base: str
    report: str
    """path of the report, relative to the repository root (exact: the executor never invents it)"""
    scope: list[str] = []
    """gitignore-style patterns the executor may write; empty means anywhere not protected"""
    allow: list[str] = []
    """protected paths the architect grants for this ticket (never control files)"""
    executor: str | None = None
    model: str | None = None


DEFAULT_CRITERION = "The task above is done."


@dataclass(frozen=True)
class Background:
    """What a correction order carries so that it stands alone (an executor in a new
    session can do round N from the work file alone).

    ``ticket_task`` is round 1's ``## Task`` text and ``first_work`` its path;
    ``previous_*`` describe the last round's committed report (``previous_status``
    is the final status wo-git recorded, ``previous_notes`` the executor's own
    ``- Key: value`` notes and wo-git's guard lines); ``earlier_files`` are
    the repository-relative paths of every earlier round's work, report and
    review files, oldest first.
    """

    ticket_task: str
    first_work: str
    previous_report: str
    previous_status: str
    previous_notes: tuple[str, ...] = ()
    earlier_files: tuple[str, ...] = ()


def _quote(text: str) -> list[str]:
    return [f"> {line}".rstrip() for line in (text.strip() or "(empty)").splitlines()]


def render_work(
    order: WorkOrder,
    *,
    task: str,
    criteria: list[str],
    context: str = "",
    feedback_on: str | None = None,
    background: Background | None = None,
) -> str:
    """The work file text: front matter and the familiar sections.

    With ``background`` (a correction order) it also quotes the ticket's
    task, the previous report's status and notes, and names the earlier
    rounds' files.
    """
    front = order.model_dump(exclude_none=True)
    num = f"W{2 * order.round - 1:02d}"
    kind = "Correction order" if order.round > 1 else "Work order"
    intro = f"{kind} for ticket {ticket_label(order.ticket)} ({order.slug}), round {order.round}."
    if background is not None:
        intro += " This file is complete on its own: the ticket's task, its criteria and the last report are below."
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        f"# {num} - {order.title}",
        "",
        intro,
        "",
        "## Task",
        "",
        task.strip() or "(see title)",
        "",
    ]
    if background is not None:
        lines += [f"## The ticket's task (round 1, `{background.first_work}`)", ""]
        lines += _quote(background.ticket_task) + [""]
    lines += ["## Requirements / Success Criteria", ""]
    lines += [f"- [ ] {c.strip()}" for c in criteria] or [f"- [ ] {DEFAULT_CRITERION}"]
    if background is not None:
        lines += ["", f"## Previous report (`{background.previous_report}`)", "",
                  f"- Status: {background.previous_status}"]
        lines += [f"- {n}" for n in background.previous_notes]
        if background.earlier_files:
            lines += ["", "## Earlier rounds' files", ""]
            lines += [f"- `{f}`" for f in background.earlier_files]
    lines += ["", "## Context", ""]
    ctx = context.strip()
    if feedback_on:
        ctx = (ctx + "\n\n" if ctx else "") + f"This corrects the work reported in `{feedback_on}`."
    lines.append(ctx or "Base branch: `" + order.base + "`.")
    if order.scope:
        lines += ["", "Write only inside: " + ", ".join(f"`{s}`" for s in order.scope)]
    lines += [
        "",
        "## Delivery",
        "",
        f"- Your report goes in: `{order.report}` (exact name)",
        "- Report format: `# W.. - Report`, then `- Status: COMPLETED | PARTIAL | BLOCKED`,",
        "  `- Files:`, `- What I implemented:`, `- How to test:`, `- Notes/questions:`.",
        "- Do not touch secrets, deploy or CI files, wo-git's files, or git history.",
        "",
    ]
    return "\n".join(lines)


def parse_work(text: str) -> tuple[WorkOrder, str]:
    """Split a work file into its validated front matter and its Markdown body.

    Raises :class:`InvalidInput` if the front matter is missing or invalid.
    """
    m = re.match(r"^---\n(.*?)\n---\n?(.*)$", text, re.S)
    if not m:
        raise InvalidInput("work file has no YAML front matter (--- ... ---)")
    try:
        data = yaml.safe_load(m.group(1)) or {}
        return WorkOrder.model_validate(data), m.group(2)
    except (yaml.YAMLError, ValidationError) as err:
        raise InvalidInput(f"work file front matter is invalid: {err}") from None


def criteria_of(body: str) -> list[str]:
    """The checklist items under ``## Requirements / Success Criteria``."""
    section = re.search(r"^## Requirements[^\n]*\n(.*?)(?=^## |\Z)", body, re.S | re.M)
    if not section:
        return []
    return [
        m.group(1).strip()
        for m in re.finditer(r"^\s*[-*]\s*(?:\[[ xX]\]\s*)?(.+)$", section.group(1), re.M)
    ]


def task_of(body: str) -> str:
    """The text of the ``## Task`` section."""
    section = re.search(r"^## Task[^\n]*\n(.*?)(?=^## |\Z)", body, re.S | re.M)
    return section.group(1).strip() if section else ""


class Report(BaseModel):
    """What wo-git reads from a report file (leniently)."""

    model_config = ConfigDict(frozen=True)
    status: str
    """COMPLETED, PARTIAL, BLOCKED, or NO_REPORT when none could be read"""
    fields: dict[str, str] = {}
    """other ``- Key: value`` items of the executor's part, lower-case keys"""
    text: str = ""
    """the executor's part of the report, before the generated section"""


_FIELD_RE = re.compile(r"^\s*(?:[-*]\s*)?\**([A-Za-z][A-Za-z /_-]{0,40}?)\**\s*:\s*\**\s*(.*)$")


def parse_report(text: str) -> Report:
    """Read a report leniently: ``Status:`` anywhere, any case, in bold or not.

    An unknown or missing status gives ``NO_REPORT``; the executor's text is
    kept. Only the part above :data:`GENERATED_MARK` is read.
    """
    own = text.split(GENERATED_MARK, 1)[0]
    fields: dict[str, str] = {}
    for line in own.splitlines():
        m = _FIELD_RE.match(line)
        if m:
            key = m.group(1).strip().lower()
            fields.setdefault(key, m.group(2).strip().strip("*`").strip())
    raw = fields.pop("status", "")
    status = "NO_REPORT"
    word = re.match(r"[A-Za-z_]+", raw.upper().replace(" ", "_"))
    if word:
        w = word.group(0)
        for known in ("COMPLETED", "PARTIAL", "BLOCKED"):
            if w.startswith(known) or (known == "COMPLETED" and w in ("COMPLETE", "DONE", "SUCCESS")):
                status = known
                break
    return Report(status=status, fields=fields, text=own.strip())


Role = Literal["architect", "executor", "reviewer", "system"]
