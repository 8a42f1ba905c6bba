"""The review packet: what the architect reads to decide, bounded in size.

``show`` prints it; ``wait`` prints a brief one per ticket. It holds the
order's criteria, the report's status and notes, the diffstat from the real
diff (unidiff), the exit code, duration, log path, session, guard verdict
and checks. The full diff is ``wo-git diff``.

Diffstats, each labelled as what it is (text and ``--json`` alike):

- ``diffstat``: what the shown round committed (its order commit to its
  report commit, the report file left out);
- ``ticket_diffstat``: the whole ticket so far (the merge base with the
  base branch to the branch tip, the ticket's mailbox folder left out);
- ``refused_diffstat``: for a ``GUARD_REJECTED`` round, what the guard
  refused, read from the commit the post-run hook kept on
  ``refs/wo-local/rounds/NNNN-rR`` (``Wo-Event: refused``; never pushed with
  ``refs/wo/*``); none of it was merged.

``warnings`` holds lines the architect must not miss, such as a COMPLETED
report whose round changed nothing. The report itself appears once: the
executor's text (``report``), bounded; the run record wo-git appended to it
is given as separate fields (``exit_code``, ``log``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from wo_git import runs, tickets
from wo_git.config import Config
from wo_git.errors import BadState, InvalidInput, WoGitError
from wo_git.git import Repo
from wo_git.hints import bad_state
from wo_git.runs.localpaths import log_path
from wo_git.runs.postrun import refused_ref
from wo_git.tickets import diffstat
from wo_git.tickets.mailbox import GENERATED_MARK, criteria_of, parse_report, parse_work, task_of

REPORT_LINES = 40


@dataclass
class Packet:
    """Everything ``show`` reports about one ticket."""

    ticket: tickets.Ticket
    round: int
    task: str
    criteria: list[str]
    report_text: str | None
    run: dict[str, str]
    stat: diffstat.DiffStat
    violations: list[str]
    ticket_stat: diffstat.DiffStat | None = None
    """the whole ticket's diffstat; ``None`` when it cannot be computed (no branch, no base)"""
    refused_stat: diffstat.DiffStat | None = None
    """what the guard refused in a GUARD_REJECTED round; ``None`` otherwise"""
    refused_ref: str | None = None
    warnings: list[str] = field(default_factory=list)
    log: str | None = None
    """the log's absolute path on this machine (the report commits it relative to the git dir)"""

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` shape: the ticket fields plus the packet's."""
        data = self.ticket.to_json()
        exit_code = self.run.get("exit code", "")
        data.update(
            shown_round=self.round,
            task=self.task,
            criteria=self.criteria,
            report=_bounded(self.report_text) if self.report_text is not None else None,
            exit_code=int(exit_code) if exit_code.lstrip("-").isdigit() else None,
            duration=_seconds(self.run.get("duration")),
            log=self.log,
            session=self.run.get("session") if self.run.get("session") not in (None, "-") else None,
            executor=self.run.get("executor"),
            stopped_by=self.run.get("stopped by"),
            reason=self.run.get("reason"),
            guard="rejected" if self.violations else ("clean" if self.run else None),
            violations=self.violations,
            diffstat=self.stat.to_json(),
            ticket_diffstat=self.ticket_stat.to_json() if self.ticket_stat is not None else None,
            refused_diffstat=self.refused_stat.to_json() if self.refused_stat is not None else None,
            refused_ref=self.refused_ref,
            warnings=self.warnings,
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
    """Assemble the packet for a round (default: the latest); see the module docstring."""
    r = round_ or tk.round
    work = repo.read_path(tk.tip, tk.work_path(cfg, r))
    task, criteria = "", []
    if work is not None:
        _, body = parse_work(work.decode("utf-8", errors="replace"))
        task, criteria = task_of(body), criteria_of(body)
    report = tickets.report_of(repo, cfg, tk, r)
    own = parse_report(report) if report else None
    run, violations = _run_section(report)
    start_ev = next((e for e in tk.events if e.event in ("open", "revise") and e.round == r), None)
    start = start_ev.commit.id if start_ev else None
    end_ev = next((e for e in tk.events if e.event == "report" and e.round == r), None)
    stat = diffstat.DiffStat()
    refused: diffstat.DiffStat | None = None
    refused_at: str | None = None
    if start and end_ev:
        stat = _stat(repo, start, end_ev.commit.id, [tk.report_path(cfg, r)])
        merging = start_ev.commit.trailers.get("Wo-Merging") if start_ev else None
        if merging and end_ev.status == "COMPLETED":
            stat = _without_base_files(repo, stat, end_ev.commit.id, merging)
        if end_ev.status == "GUARD_REJECTED":
            refused_at = refused_ref(tk, r)
            kept = repo.ref_target(refused_at)
            if kept is not None and repo.commit_info(kept).trailers.get("Wo-Event") == "refused":
                refused = _stat(repo, start, kept, [tk.report_path(cfg, r)])
            else:
                refused_at = None
    warnings = []
    if end_ev is not None and end_ev.status == "COMPLETED" and not stat.files:
        warnings.append("the report says COMPLETED but the round changed no file")
    log = (run.get("log") or "").rsplit(" (", 1)[0]
    return Packet(tk, r, task, criteria, own.text if own else None, run, stat, violations,
                  ticket_stat=_ticket_stat(repo, cfg, tk), refused_stat=refused, refused_ref=refused_at,
                  warnings=warnings, log=str(log_path(repo, log)) if log else None)


def _without_base_files(repo: Repo, stat: diffstat.DiffStat, end: str, merged: str) -> diffstat.DiffStat:
    """A round that resolved a merge of the base: leave out files taken from the base as they are there.

    Those are other tickets' work arriving with the merge (``Wo-Merging``),
    not this executor's; a file the resolution wrote differs from the base
    and stays.
    """
    kept = [f for f in stat.files if repo.read_path(end, f.path) != repo.read_path(merged, f.path)]
    return diffstat.DiffStat(kept)


def _stat(repo: Repo, old: str, new: str, leave_out: list[str]) -> diffstat.DiffStat:
    return diffstat.parse(repo.diff_text(old, new, [".", *(f":(exclude,literal){p}" for p in leave_out)]))


def _ticket_stat(repo: Repo, cfg: Config, tk: tickets.Ticket) -> diffstat.DiffStat | None:
    """The whole ticket's change: merge base with the base branch to the tip, mailbox folder left out.

    Once the branch is gone (accepted, rejected), from the base as it was
    at ``open`` to the ticket's last commit.
    """
    opened = tk.last("open")
    if opened is None:
        return None
    tip = tk.branch_tip
    base_tip = repo.ref_target(f"refs/heads/{tk.base}")
    start = repo.merge_base(base_tip, tip) if tip and base_tip else None
    if tip is None or start is None:
        if not opened.commit.parents:
            return None
        start, tip = opened.commit.parents[0], tk.events[0].commit.id
    return _stat(repo, start, tip, [tk.folder(cfg)])


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
        for key in ("exit code", "stopped by", "reason", "duration", "executor", "model", "session"):
            if key in p.run and p.run[key] not in ("-", ""):
                lines.append(f"  {key}: {p.run[key]}")
        if p.log:
            lines.append(f"  log: {p.log}")
    if p.report_text is not None:
        body = p.report_text
        lines += ["", "Report:", *("  " + ln for ln in _bounded(body, 12 if brief else REPORT_LINES).splitlines())]
    elif tk.state in ("open", "running"):
        lines += ["", f"No report yet for round {p.round}."]
    limit = 10 if brief else 40
    if p.refused_stat is not None:
        lines += ["", f"Refused diffstat (round {p.round}, NOT merged; kept on {p.refused_ref}): "
                  f"{p.refused_stat.summary()}", *("  " + ln for ln in p.refused_stat.lines(limit))]
    several = p.ticket.round > 1
    if p.stat.files or (p.run and p.refused_stat is None):
        label = f"Diffstat, round {p.round}" if several else "Diffstat"
        lines += ["", f"{label}: {p.stat.summary()}", *("  " + ln for ln in p.stat.lines(limit))]
    if several and p.ticket_stat is not None:
        lines += ["", f"Diffstat, whole ticket (rounds 1-{p.ticket.round}): {p.ticket_stat.summary()}",
                  *("  " + ln for ln in p.ticket_stat.lines(limit))]
    for w in p.warnings:
        lines += ["", f"Warning: {w}"]
    if p.violations:
        lines += ["", f"Guard: REJECTED ({len(p.violations)})", *(f"  - {v}" for v in p.violations[:20])]
    elif p.run:
        lines += ["", "Guard: clean"]
    checks = p.run.get("checks")
    if checks:
        lines.append(f"Checks: {checks}")
    return "\n".join(lines)


# ------------------------------------------------------------------ wait


@dataclass
class WaitResult:
    """What :func:`wait_for` found: the reported tickets' packets, the tickets still running.

    ``timed_out`` is true when the time ran out first (exit code 7 in the
    CLI: wait again); ``pending`` are those tickets, still running.
    """

    reported: list[Packet]
    pending: list[tickets.Ticket]
    timed_out: bool

    @property
    def statuses(self) -> list[str | None]:
        """The report status of each reported ticket, in the order asked."""
        return [p.ticket.status for p in self.reported]

    def to_json(self) -> dict[str, Any]:
        """``{"timed_out": bool, "reported": [packet...], "pending": [ticket...]}`` (``--json`` names)."""
        return {"timed_out": self.timed_out, "reported": [p.to_json() for p in self.reported],
                "pending": [t.to_json() for t in self.pending]}


@dataclass
class WaitProgress:
    """One progress note while :func:`wait_for` blocks: a ticket still running.

    ``elapsed`` is seconds since this wait began; ``run_seconds`` since the
    run began (from its run record); ``last_tool`` is the executor's latest
    tool call as read from its log (``None`` before the first).
    """

    ticket: int
    elapsed: float
    run_seconds: float | None
    last_tool: str | None

    def message(self) -> str:
        """One line: ``0007 running 1m05s, last tool: edit src/app.py``."""
        secs = int(self.run_seconds if self.run_seconds is not None else self.elapsed)
        tool = f", last tool: {self.last_tool}" if self.last_tool else ""
        return f"{self.ticket:04d} running {secs // 60}m{secs % 60:02d}s{tool}"

    def to_json(self) -> dict[str, Any]:
        """The same fields as a dict."""
        return {"id": self.ticket, "elapsed": round(self.elapsed, 1),
                "run_seconds": None if self.run_seconds is None else round(self.run_seconds, 1),
                "last_tool": self.last_tool}


def _waitable(repo: Repo, ticket: int | str) -> tickets.Ticket:
    tk = tickets.load(repo, ticket)
    if tk.state == "open" and not runs.is_running(repo, tk.id):
        if runs.read_record(repo, tk.id) is not None:
            raise BadState(f"ticket {tk.label}'s run stopped without reporting: `wo-git doctor --fix`")
        raise bad_state(tk, "not running and has no report to wait for")
    return tk


def _reported(repo: Repo, tk: tickets.Ticket) -> Packet:
    from wo_git.runs.run import ticket_config

    cfg = ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    if tk.state == "open":
        raise BadState(f"ticket {tk.label}'s run stopped without reporting: `wo-git doctor --fix`")
    return build(repo, cfg, tk)


def latest_tool(repo: Repo, ticket: int) -> tuple[str | None, float | None]:
    """The running executor's latest tool call and the run's age in seconds, from its run record and log.

    Reads at most the last 256 KiB of the log and parses its lines with the
    run's executor profile (:func:`wo_git.executors.profiles.parse_line`).
    ``(None, None)`` when no run is recorded.
    """
    import time

    from wo_git.config import load_config
    from wo_git.executors.profiles import load_profiles, parse_line

    rec = runs.read_record(repo, ticket)
    if rec is None:
        return None, None
    age = max(0.0, time.time() - rec.started)
    try:
        with open(rec.log, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None, age
    try:
        tk = tickets.load(repo, ticket)
        profiles = load_profiles(load_config(repo, tk.base if repo.branch_exists(tk.base) else None).executors)
    except WoGitError:
        return None, age
    profile = profiles.get(rec.executor)
    if profile is None:
        return None, age
    tool = None
    for line in tail.splitlines():
        ev = parse_line(profile, line)
        if ev.tool:
            tool = ev.tool
    return tool, age


def wait_for(
    repo: Repo,
    ids: Sequence[int | str],
    timeout: float | None = None,
    any_: bool = False,
    on_progress: Callable[[WaitProgress], None] | None = None,
    progress_every: float = 10.0,
) -> WaitResult:
    """Block until every ticket in ``ids`` (or, with ``any_``, the first) has its report.

    Waiting is the kernel's: one blocking ``flock`` per ticket on its run lock
    (:func:`wo_git.runs.released`), no polling loop; this thread sleeps on a
    condition until a lock is released, ``timeout`` seconds pass, or (with
    ``on_progress``) every ``progress_every`` seconds to report each running
    ticket (:class:`WaitProgress`). Safe to call from any thread.

    Returns a :class:`WaitResult`: packets of the reported tickets in the
    order given, and when the time runs out first, ``timed_out`` and the
    tickets still running. Raises :class:`~wo_git.errors.TicketNotFound`,
    :class:`~wo_git.errors.InvalidInput` (bad id, none given) and
    :class:`~wo_git.errors.BadState` (a ticket neither running nor reported,
    or whose run stopped without reporting: ``wo-git doctor --fix``).
    """
    import time

    if not ids:
        raise InvalidInput("name at least one ticket: wo-git wait ID...")
    if timeout is not None and timeout < 0:
        raise InvalidInput(f"--timeout must be 0 or more seconds, not {timeout}")
    order: list[int] = []
    for t in ids:
        tid = tickets.parse_id(t)
        if tid not in order:
            order.append(tid)
    loaded = {tid: _waitable(repo, tid) for tid in order}
    events = {tid: runs.released(repo, tid) for tid in order}
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    next_note = start + progress_every
    while True:
        with runs.changed:
            while True:
                done = [t for t in order if events[t].is_set()]
                if done and (any_ or len(done) == len(order)):
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if on_progress is not None and now >= next_note:
                    break
                limits = [x for x in (deadline, next_note if on_progress else None) if x is not None]
                runs.changed.wait(None if not limits else max(0.0, min(limits) - now))
        now = time.monotonic()
        finished = done and (any_ or len(done) == len(order))
        if finished or (deadline is not None and now >= deadline):
            break
        if on_progress is not None:
            next_note = now + progress_every
            for t in order:
                if not events[t].is_set():
                    tool, age = latest_tool(repo, t)
                    on_progress(WaitProgress(t, now - start, age, tool))
    reported = [_reported(repo, loaded[t]) for t in order if events[t].is_set()]
    pending = [tickets.load(repo, t) for t in order if not events[t].is_set()]
    return WaitResult(reported, pending, timed_out=not finished)


# ------------------------------------------------------------------ logs


def log_chunks(repo: Repo, ticket: int | str, round_: int | None = None, follow: bool = False,
               tail: int | None = None) -> Iterator[bytes]:
    """The executor's raw output for a round (default: the latest), as chunks of bytes.

    Every attempt's log in order (a fallback executor's is a new attempt).
    ``follow`` keeps yielding while the run goes on (checking every 0.25 s,
    as ``tail -f`` does) and ends when its run lock is free. ``tail`` keeps
    only the last ``tail`` lines (not with ``follow``). Raises
    :class:`~wo_git.errors.InvalidInput` when the round has no log and
    ``follow`` is not set, or the round does not exist.
    """
    import time

    tk = tickets.load(repo, ticket)
    r = round_ or tk.round
    if not 1 <= r <= tk.round:
        raise InvalidInput(f"ticket {tk.label} has rounds 1..{tk.round}")
    files = runs.log_files(repo, tk.id, r)
    if not files and not follow:
        raise InvalidInput(f"no log for {tk.label} round {r} (has it run? `wo-git run {tk.id}`)")
    if tail is not None and not follow:
        data = b"".join(f.read_bytes() for f in files)
        yield b"".join(data.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
        return
    for f in files[:-1]:
        yield f.read_bytes()
    pos = 0
    current = files[-1] if files else None
    while True:
        if current is None:
            latest = runs.log_files(repo, tk.id, r)
            current = latest[-1] if latest else None
        if current is not None:
            with open(current, "rb") as fh:
                fh.seek(pos)
                chunk = fh.read()
            pos += len(chunk)
            if chunk:
                yield chunk
        if not follow or not runs.is_running(repo, tk.id):
            if follow and current is not None:
                with open(current, "rb") as fh:
                    fh.seek(pos)
                    rest = fh.read()
                if rest:
                    yield rest
            return
        time.sleep(0.25)
