"""The review packet: what the architect reads to decide, bounded in size.

``show`` prints it; ``wait`` prints a brief one per ticket. It holds the
order's criteria, the report's status and notes, the diffstat from the real
diff (unidiff), the exit code, duration, log path, session, guard verdict
and checks. The full diff is ``wo-git diff``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wo_git import diffstat, tickets
from wo_git.config import Config
from wo_git.git import Repo
from wo_git.mailbox import GENERATED_MARK, criteria_of, parse_report, parse_work, task_of

REPORT_LINES = 40


@dataclass
class Packet:
    """Everything ``show`` reports about one ticket."""

    ticket: tickets.Ticket
    round: int
    task: str
    criteria: list[str]
    report_text: str | None
    report_fields: dict[str, str]
    run: dict[str, str]
    stat: diffstat.DiffStat
    violations: list[str]

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` shape: the ticket fields plus the packet's."""
        data = self.ticket.to_json()
        exit_code = self.run.get("exit code", "")
        data.update(
            shown_round=self.round,
            task=self.task,
            criteria=self.criteria,
            report={"fields": self.report_fields, "text": _bounded(self.report_text or "")},
            exit_code=int(exit_code) if exit_code.lstrip("-").isdigit() else None,
            duration=_seconds(self.run.get("duration")),
            log=(self.run.get("log") or "").rsplit(" (", 1)[0] or None,
            session=self.run.get("session") if self.run.get("session") not in (None, "-") else None,
            executor=self.run.get("executor"),
            stopped_by=self.run.get("stopped by"),
            reason=self.run.get("reason"),
            guard="rejected" if self.violations else ("clean" if self.run else None),
            violations=self.violations,
            diffstat=self.stat.to_json(),
        )
        return data


def _seconds(text: str | None) -> float | None:
    m = re.match(r"([\d.]+)\s*s", text or "")
    return float(m.group(1)) if m else None


def _bounded(text: str, lines: int = REPORT_LINES) -> str:
    rows = text.strip().splitlines()
    if len(rows) <= lines:
        return "\n".join(rows)
    return "\n".join(rows[:lines] + [f"... ({len(rows) - lines} more lines: wo-git show --full)"])


def _run_section(report: str | None) -> tuple[dict[str, str], list[str]]:
    if not report or GENERATED_MARK not in report:
        return {}, []
    gen = report.split(GENERATED_MARK, 1)[1]
    fields: dict[str, str] = {}
    violations: list[str] = []
    in_guard = False
    for line in gen.splitlines():
        m = re.match(r"^- ([A-Za-z ]+): (.*)$", line)
        if m:
            fields.setdefault(m.group(1).strip().lower(), m.group(2).strip())
            in_guard = m.group(1).strip() == "Guard" and m.group(2).startswith("REJECTED")
        elif in_guard and line.startswith("  - "):
            violations.append(line[4:])
        elif line.startswith("#"):
            in_guard = False
    return fields, violations


def build(repo: Repo, cfg: Config, tk: tickets.Ticket, round_: int | None = None) -> Packet:
    """Assemble the packet for a round (default: the latest)."""
    r = round_ or tk.round
    work = repo.read_path(tk.tip, tk.work_path(cfg, r))
    task, criteria = "", []
    if work is not None:
        _, body = parse_work(work.decode("utf-8", errors="replace"))
        task, criteria = task_of(body), criteria_of(body)
    report = tickets.report_of(repo, cfg, tk, r)
    own = parse_report(report) if report else None
    run, violations = _run_section(report)
    start = next((e.commit.id for e in tk.events if e.event in ("open", "revise") and e.round == r), None)
    end = next((e.commit.id for e in tk.events if e.event == "report" and e.round == r), None)
    stat = diffstat.DiffStat()
    if start and end:
        stat = diffstat.parse(repo.diff_text(start, end))
        stat.files = [f for f in stat.files if f.path != tk.report_path(cfg, r)]
    return Packet(tk, r, task, criteria, own.text if own else None, own.fields if own else {}, run, stat,
                  violations)


def render(p: Packet, brief: bool = False) -> str:
    """The packet as text for people (``brief``: for ``wait``, fewer lines)."""
    tk = p.ticket
    lines = [
        f"ticket {tk.label} {tk.slug}: {tk.title}",
        f"  state {tk.state}, status {tk.status or '-'}, round {p.round}, branch {tk.branch} -> {tk.base}",
    ]
    if not brief:
        lines += ["", "Task:", *("  " + ln for ln in _bounded(p.task, 12).splitlines())]
        if p.criteria:
            lines += ["", "Criteria:", *(f"  - {c}" for c in p.criteria[:20])]
    if p.run:
        lines += ["", "Run:"]
        for key in ("exit code", "stopped by", "reason", "duration", "executor", "model", "session", "log"):
            if key in p.run and p.run[key] not in ("-", ""):
                lines.append(f"  {key}: {p.run[key]}")
    if p.report_text is not None:
        body = p.report_text
        lines += ["", "Report:", *("  " + ln for ln in _bounded(body, 12 if brief else REPORT_LINES).splitlines())]
    elif tk.state in ("open", "running"):
        lines += ["", f"No report yet for round {p.round}."]
    if p.stat.files:
        lines += ["", f"Diffstat: {p.stat.summary()}", *("  " + ln for ln in p.stat.lines(10 if brief else 40))]
    if p.violations:
        lines += ["", f"Guard: REJECTED ({len(p.violations)})", *(f"  - {v}" for v in p.violations[:20])]
    elif p.run:
        lines += ["", "Guard: clean"]
    checks = p.run.get("checks")
    if checks:
        lines.append(f"Checks: {checks}")
    return "\n".join(lines)
