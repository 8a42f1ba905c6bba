"""Tickets: ids, branches, records, events and state, all read from git.

A ticket lives in two refs (DESIGN.md section 3):

- ``refs/heads/wo/NNNN-SLUG``: the ticket branch, an ordinary branch;
- ``refs/wo/tickets/NNNN``: the record, created with create-if-absent (that
  is how an id is allocated atomically) and kept after accept or reject.

Every wo-git commit carries trailers (``Wo-Ticket``, ``Wo-Round``,
``Wo-Role``, ``Wo-Event``, ``Wo-Status``, ...). The state is derived from
the record's first-parent chain of such commits plus the run lock, so
``git log --format=%(trailers)`` and wo-git always agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wo_git import lazy, runs
from wo_git.errors import BadState, InvalidInput, TicketNotFound
from wo_git.git import CommitInfo, Repo, format_message
from wo_git.hints import bad_state
from wo_git.interrupts import deferred
from wo_git.types import CommitId

if TYPE_CHECKING:
    from wo_git.config import Config
    from wo_git.tickets import mailbox
    from wo_git.tickets.mailbox import Background, WorkOrder
else:  # pydantic and YAML load only for the commands that read or write work files
    mailbox = lazy.module("wo_git.tickets.mailbox")

RECORD_PREFIX = "refs/wo/tickets/"
BRANCH_PREFIX = "wo/"


def ticket_label(ticket: int) -> str:
    """``7`` -> ``"0007"``."""
    return f"{ticket:04d}"


def work_name(round_: int) -> str:
    """The work file name of a round: 1 -> ``w01-work.md``."""
    return f"w{2 * round_ - 1:02d}-work.md"


def report_name(round_: int) -> str:
    """The report file name of a round: 1 -> ``w02-report.md``."""
    return f"w{2 * round_:02d}-report.md"


def record_ref(ticket: int) -> str:
    """``refs/wo/tickets/0007``."""
    return f"{RECORD_PREFIX}{ticket_label(ticket)}"


def parse_id(text: str | int) -> int:
    """``"7"``, ``"0007"``, ``"wo/0007-x"`` or ``7`` -> ``7``; raises :class:`InvalidInput`."""
    m = re.fullmatch(r"(?:wo/)?0*(\d{1,6})(?:-[a-z0-9._-]+)?", str(text).strip())
    if not m or int(m.group(1)) == 0:
        raise InvalidInput(f"{text!r} is not a ticket id (expected a number such as 7 or 0007)")
    return int(m.group(1))


@dataclass
class Event:
    """One wo-git commit on a ticket's record, newest first in :attr:`Ticket.events`."""

    commit: CommitInfo
    event: str
    round: int
    role: str
    status: str | None


@dataclass
class Ticket:
    """A ticket's current facts. ``state`` is one of open, running, reported, accepted, rejected."""

    id: int
    slug: str
    title: str
    base: str
    round: int
    state: str
    status: str | None
    tip: CommitId
    branch_tip: CommitId | None
    events: list[Event] = field(default_factory=list)
    order: WorkOrder | None = None

    @property
    def label(self) -> str:
        """``0007``."""
        return ticket_label(self.id)

    @property
    def name(self) -> str:
        """``0007-contact-form``: the folder and worktree name."""
        return f"{self.label}-{self.slug}"

    @property
    def branch(self) -> str:
        """``wo/0007-contact-form``."""
        return f"{BRANCH_PREFIX}{self.name}"

    @property
    def branch_ref(self) -> str:
        """``refs/heads/wo/0007-contact-form``."""
        return f"refs/heads/{self.branch}"

    @property
    def record(self) -> str:
        """``refs/wo/tickets/0007``."""
        return record_ref(self.id)

    def folder(self, cfg: Config) -> str:
        """The ticket's mailbox folder: ``work-orders/0007-contact-form``."""
        return f"{cfg.mailbox}/{self.name}"

    def work_path(self, cfg: Config, round_: int | None = None) -> str:
        """Repository-relative path of a round's work file (default: the current round)."""
        return f"{self.folder(cfg)}/{work_name(round_ or self.round)}"

    def report_path(self, cfg: Config, round_: int | None = None) -> str:
        """Repository-relative path of a round's report file (default: the current round)."""
        return f"{self.folder(cfg)}/{report_name(round_ or self.round)}"

    def last(self, *events: str) -> Event | None:
        """The newest event of the given kinds."""
        return next((e for e in self.events if e.event in events), None)

    @property
    def round_start(self) -> Event:
        """The open or revise event that began the current round."""
        ev = next((e for e in self.events if e.event in ("open", "revise") and e.round == self.round), None)
        assert ev is not None
        return ev

    @property
    def merging(self) -> CommitId | None:
        """The base commit a round is merging into the ticket and no report has merged yet.

        ``wo-git update`` records it as ``Wo-Merging`` on the round's work-order
        commit when the merge conflicts; the round's report commit is then the
        merge (its second parent). Read from the record's own commits, which
        only wo-git writes: an executor's trailer never counts.
        """
        for ev in self.events:
            if len(ev.commit.parents) > 1:
                return None
            merging = ev.commit.trailers.get("Wo-Merging")
            if ev.event in ("open", "revise") and merging:
                return CommitId(merging)
        return None

    def to_json(self) -> dict[str, object]:
        """The stable ``--json`` shape shared by ``show`` and ``list``."""
        return {
            "id": self.id,
            "label": self.label,
            "slug": self.slug,
            "title": self.title,
            "branch": self.branch,
            "base": self.base,
            "round": self.round,
            "state": self.state,
            "status": self.status,
            "tip": self.tip,
        }


def _events(repo: Repo, tip: str, ticket: int) -> list[Event]:
    out: list[Event] = []
    label = ticket_label(ticket)
    for info in repo.first_parent_chain(tip):
        t = info.trailers
        if "Wo-Ticket" not in t:
            continue  # a commit made by hand on the ticket branch (a reviewer's fix-up): not an event
        if t["Wo-Ticket"] != label:
            break
        out.append(
            Event(
                commit=info,
                event=t.get("Wo-Event", ""),
                round=int(t.get("Wo-Round", "0") or 0),
                role=t.get("Wo-Role", ""),
                status=t.get("Wo-Status"),
            )
        )
        if t.get("Wo-Event") == "open":
            break
    return out


def load(repo: Repo, ticket: int | str, cfg: Config | None = None) -> Ticket:
    """Read a ticket's facts from its record; raises :class:`TicketNotFound`."""
    tid = parse_id(ticket)
    tip = repo.ref_target(record_ref(tid))
    if tip is None:
        raise TicketNotFound(
            f"no ticket {ticket_label(tid)} (no {record_ref(tid)}); `wo-git list` shows the tickets"
        )
    events = _events(repo, tip, tid)
    opened = events[-1] if events else None
    if opened is None or opened.event != "open":
        raise TicketNotFound(f"ticket {ticket_label(tid)}: its record does not lead to an open commit")
    t = opened.commit.trailers
    slug = t.get("Wo-Slug", "")
    newest = events[0]
    round_ = max(e.round for e in events)
    report = next((e for e in events if e.event == "report"), None)
    status = report.status if report else None
    if newest.event == "accept":
        state = "accepted"
    elif newest.event == "reject":
        state = "rejected"
    elif report is not None and report.round == round_:
        state = "reported"
    else:
        state = "open"
    if state == "open" and runs.is_running(repo, tid):
        state = "running"
    tk = Ticket(
        id=tid,
        slug=slug,
        title=t.get("Wo-Title", opened.commit.subject),
        base=t.get("Wo-Base", ""),
        round=round_,
        state=state,
        status=status,
        tip=tip,
        branch_tip=None,
        events=events,
    )
    tk.branch_tip = repo.ref_target(tk.branch_ref)
    if cfg is not None:
        work = repo.read_path(tip, tk.work_path(cfg))
        if work is not None:
            try:
                tk.order = mailbox.parse_work(work.decode("utf-8", errors="replace"))[0]
            except InvalidInput:
                tk.order = None
    return tk


def all_ids(repo: Repo) -> list[int]:
    """Every ticket id that has a record, ascending."""
    ids = []
    for name in repo.refs_under(RECORD_PREFIX):
        tail = name[len(RECORD_PREFIX) :]
        if tail.isdigit():
            ids.append(int(tail))
    return sorted(ids)


LAST_ID = "last-id"
"""``<git-common-dir>/wo/last-id``: the highest id ``open`` allocated here, so it need not list the records"""


def last_id(repo: Repo) -> int:
    """The highest ticket id allocated in this repository as far as it knows; 0 for none.

    Read from :data:`LAST_ID`; a missing or damaged file is rebuilt from the
    records (listed once). It is only a starting point: ``open`` skips ids
    whose record exists (fetched from a remote, say), so a stale value costs
    a few ref lookups, never a reused id.
    """
    try:
        return int((repo.wo_dir / LAST_ID).read_text().strip())
    except (OSError, ValueError):
        return max(all_ids(repo), default=0)


def _remember_id(repo: Repo, ticket: int) -> None:
    try:
        repo.wo_dir.mkdir(parents=True, exist_ok=True)
        tmp = repo.wo_dir / f".{LAST_ID}-{os.getpid()}"
        tmp.write_text(f"{ticket}\n")
        os.replace(tmp, repo.wo_dir / LAST_ID)
    except OSError:
        pass  # the next open lists the records once


def list_all(repo: Repo, cfg: Config | None = None) -> list[Ticket]:
    """Every ticket, ascending by id."""
    return [load(repo, i, cfg) for i in all_ids(repo)]


def iter_log(repo: Repo) -> Iterator[tuple[Ticket, Event]]:
    """Every event of every ticket, oldest first by commit time."""
    rows = [(e.commit.time, t.id, n, t, e) for t in list_all(repo) for n, e in enumerate(reversed(t.events))]
    rows.sort(key=lambda r: r[:3])
    yield from ((t, e) for *_, t, e in rows)


def commit_event(
    repo: Repo,
    tk: Ticket,
    *,
    event: str,
    role: str,
    round_: int,
    subject: str,
    body: str = "",
    files: Mapping[str, bytes | None] | None = None,
    tree: str | None = None,
    base_tree: str | None = None,
    trailers: Mapping[str, str | int | None] | None = None,
    parent: str | None = None,
    move_branch: bool = True,
    author_name: str | None = None,
    merged: str | None = None,
) -> CommitId:
    """Commit one event on the ticket and move its record (and branch) by compare-and-swap.

    The parent is the record tip unless given; ``merged`` adds a second
    parent (the base commit a merge brings in). Raises :class:`StaleRef` if
    either ref moved since ``tk`` was read: nothing is changed then.
    """
    head = parent or tk.tip
    all_trailers: dict[str, str | int | None] = {
        "Wo-Ticket": tk.label,
        "Wo-Round": round_,
        "Wo-Role": role,
        "Wo-Event": event,
    }
    all_trailers.update(trailers or {})
    message = format_message(subject, body, all_trailers)
    author = repo.signature(name=author_name) if author_name else None
    parents = [head, merged] if merged else [head]
    oid = repo.write_commit(parents, message, files=files, tree=tree, base_tree=base_tree, author=author)
    updates: list[tuple[str, str | None, str | None]] = [(tk.record, oid, tk.tip)]
    if move_branch:
        updates.append((tk.branch_ref, oid, tk.branch_tip))
    repo.update_refs(updates, f"wo-git: {event} {tk.label}")
    tk.tip = oid
    if move_branch:
        tk.branch_tip = oid
    return oid


@dataclass(frozen=True)
class OpenRequest:
    """What ``wo-git open`` was asked for."""

    slug: str
    title: str
    task: str
    criteria: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    base: str | None = None
    executor: str | None = None
    model: str | None = None
    context: str = ""
    trailers: tuple[tuple[str, str], ...] = ()
    """extra trailers on the open commit, e.g. ``(("Wo-Plan", "release"),)``"""


def default_base(repo: Repo, cfg: Config) -> str:
    """The base for a new ticket: config ``base``, else the checked-out branch."""
    base = cfg.base or repo.head_branch()
    if not base:
        raise InvalidInput("HEAD is detached and no base is configured: pass --base BRANCH")
    return base


def check_values(**options: str | list[str] | tuple[str, ...] | None) -> None:
    """Refuse an option given an empty value (``--criteria ""``, ``--scope " "``) with one line.

    Keyword names are option names (``criteria`` for ``--criteria``); a
    ``None`` (option not given) passes. Raises :class:`InvalidInput`.
    """
    for name, value in options.items():
        values = [value] if isinstance(value, str) else list(value or [])
        if any(not v.strip() for v in values):
            flag = "--" + name.replace("_", "-")
            raise InvalidInput(f"{flag} was given an empty value: give it text, or leave {flag} out")


def open_ticket(
    repo: Repo, cfg: Config, req: OpenRequest, *,
    reserve: Callable[[int, str, CommitId], bool] | None = None, first_id: int = 1,
) -> Ticket:
    """Open a ticket: allocate an id, commit the work file on a new branch at the base tip.

    The id is the first free number after :func:`last_id` (and at least
    ``first_id``), claimed by creating ``refs/wo/tickets/NNNN`` only if
    absent; a lost race moves on to the next number. ``reserve(id, branch_ref,
    commit)``, if given, is asked first and returns ``False`` when the id is
    taken elsewhere (a remote: :mod:`wo_git.remote.ids`). Nothing in the
    user's working tree, index or HEAD changes. Raises :class:`InvalidInput`
    for a bad slug or a missing base.
    """
    mailbox.check_slug(req.slug)
    check_values(title=req.title, criteria=req.criteria, scope=req.scope, allow=req.allow)
    if not req.task.strip():
        raise InvalidInput("the task is empty: pass --task TEXT, --task-file FILE, or text on stdin")
    base = req.base or default_base(repo, cfg)
    repo.require_root()
    base_tip = repo.ref_target(f"refs/heads/{base}")
    if base_tip is None and not repo.list_refs("refs/heads/"):
        raise InvalidInput("this repository has no commits yet: commit something on a branch first")
    if base_tip is None:
        raise InvalidInput(f"base branch {base!r} does not exist (create it or pass --base)")
    candidate = max(last_id(repo) + 1, first_id)
    for _ in range(1000):
        while repo.ref_target(record_ref(candidate)) is not None:
            candidate += 1
        label = ticket_label(candidate)
        name = f"{label}-{req.slug}"
        folder = f"{cfg.mailbox}/{name}"
        order = mailbox.WorkOrder(
            ticket=candidate,
            round=1,
            slug=req.slug,
            title=req.title.strip(),
            base=base,
            report=f"{folder}/{report_name(1)}",
            scope=list(req.scope),
            allow=list(req.allow),
            executor=req.executor,
            model=req.model,
        )
        text = mailbox.render_work(order, task=req.task, criteria=list(req.criteria), context=req.context)
        message = format_message(
            f"wo {label} open: {req.title.strip()}",
            "",
            {
                "Wo-Ticket": label,
                "Wo-Round": 1,
                "Wo-Role": "architect",
                "Wo-Event": "open",
                "Wo-Slug": req.slug,
                "Wo-Title": req.title.strip().replace("\n", " "),
                "Wo-Base": base,
                "Wo-Executor": req.executor,
                "Wo-Model": req.model,
                **dict(req.trailers),
            },
        )
        oid = repo.write_commit([base_tip], message, files={f"{folder}/{work_name(1)}": text.encode()})
        branch_ref = f"refs/heads/wo/{name}"
        if reserve is not None and repo.ref_target(record_ref(candidate)) is None \
                and not reserve(candidate, branch_ref, oid):
            candidate += 1
            continue
        with deferred():  # the record and the branch are created together, Ctrl-C or not
            claimed = repo.create_ref(record_ref(candidate), oid, f"wo-git: open {label}")
            branched = claimed and repo.create_ref(branch_ref, oid, f"wo-git: open {label}")
        if claimed:
            if not branched:
                raise BadState(
                    f"branch wo/{name} already exists; ticket {label} is recorded but has no "
                    "branch of its own: rename that branch, then run `wo-git doctor --fix`"
                )
            _remember_id(repo, candidate)
            return load(repo, candidate, cfg)
        candidate += 1
    raise BadState("could not allocate a ticket id after 1000 tries")


def revise_ticket(
    repo: Repo, cfg: Config, tk: Ticket, *, task: str, criteria: list[str] | tuple[str, ...] = (),
    replace_criteria: list[str] | None = None, context: str = "",
    scope: list[str] | None = None, allow: list[str] | None = None,
    executor: str | None = None, model: str | None = None,
    trailers: Mapping[str, str | int | None] | None = None,
) -> Ticket:
    """Commit a correction order: the next round's work file on the same branch.

    The order stands alone (:func:`background`): it quotes the ticket's task,
    carries the criteria of the current round's order plus ``criteria`` (or
    exactly ``replace_criteria``), the previous report's status and notes,
    and names the earlier rounds' files. Allowed when the current round has
    a report; raises :class:`BadState` otherwise, :class:`InvalidInput` for
    an empty task or criterion. ``trailers`` are added to the revise commit
    (a plan's automatic rounds say why with ``Wo-Auto``).
    """
    if tk.state not in ("reported",):
        raise bad_state(tk, "a correction order follows a report")
    if tk.branch_tip is None:
        raise BadState(f"ticket {tk.label} has no branch {tk.branch}; run `wo-git doctor --fix`")
    if not task.strip():
        raise InvalidInput("the correction order's task is empty: pass --task, --task-file, or stdin")
    check_values(scope=scope, allow=allow)
    commit_order(repo, cfg, tk, task=task, criteria=next_criteria(repo, cfg, tk, criteria, replace_criteria),
                 context=context, scope=scope, allow=allow, executor=executor, model=model,
                 trailers=trailers)
    return load(repo, tk.id, cfg)


def next_criteria(
    repo: Repo, cfg: Config, tk: Ticket, add: list[str] | tuple[str, ...] = (),
    replace: list[str] | None = None,
) -> list[str]:
    """The next round's criteria: ``replace`` if given, else the current order's plus ``add``.

    Raises :class:`InvalidInput` for an empty criterion.
    """
    for c in [*add, *(replace or [])]:
        if not c.strip():
            raise InvalidInput("a criterion is empty: pass --criteria TEXT with the text to check")
    if replace is not None:
        return [c.strip() for c in replace]
    work = repo.read_path(tk.branch_tip or tk.tip, tk.work_path(cfg))
    carried = []
    if work is not None:
        try:
            carried = mailbox.criteria_of(mailbox.parse_work(work.decode("utf-8", errors="replace"))[1])
        except InvalidInput:
            carried = []
    carried = [c for c in carried if c != mailbox.DEFAULT_CRITERION]
    return carried + [c.strip() for c in add if c.strip() not in carried]


def background(repo: Repo, cfg: Config, tk: Ticket) -> Background:
    """What the next round's order quotes: round 1's task, the last report, earlier files."""
    tip = tk.branch_tip or tk.tip
    first = tk.work_path(cfg, 1)
    data = repo.read_path(tip, first)
    try:
        ticket_task = mailbox.task_of(mailbox.parse_work(data.decode("utf-8", errors="replace"))[1]) if data else ""
    except InvalidInput:
        ticket_task = ""
    notes: list[str] = []
    report = repo.read_path(tip, tk.report_path(cfg))
    if report is not None:
        text = report.decode("utf-8", errors="replace")
        parsed = mailbox.parse_report(text)
        if parsed.status != (tk.status or parsed.status):
            notes.append(f"The executor's own status: {parsed.status}")
        for key, value in list(parsed.fields.items())[:12]:
            if value:
                short = value if len(value) <= 500 else value[:500] + " ..."
                notes.append(f"{key[:1].upper()}{key[1:]}: {short}")
        generated = text.split(mailbox.GENERATED_MARK, 1)[1] if mailbox.GENERATED_MARK in text else ""
        guard = re.search(r"^- Guard: REJECTED.*?(?=^- |^#|\Z)", generated, re.S | re.M)
        if guard:
            notes += [ln.strip().lstrip("- ") for ln in guard.group(0).splitlines() if ln.strip()][:21]
    files = []
    for r in range(1, tk.round + 1):
        for path in (tk.work_path(cfg, r), tk.report_path(cfg, r), review_file(cfg, tk, r)):
            if repo.read_path(tip, path) is not None:
                files.append(path)
    return mailbox.Background(ticket_task=ticket_task or tk.title, first_work=first,
                      previous_report=tk.report_path(cfg), previous_status=tk.status or "none",
                      previous_notes=tuple(notes), earlier_files=tuple(files))


def review_file(cfg: Config, tk: Ticket, round_: int) -> str:
    """Repository-relative path of a round's review: ``work-orders/0007-x/w02-review.md``."""
    return f"{tk.folder(cfg)}/w{2 * round_:02d}-review.md"


def commit_order(
    repo: Repo, cfg: Config, tk: Ticket, *, task: str, criteria: list[str], context: str = "",
    scope: list[str] | None = None, allow: list[str] | None = None,
    executor: str | None = None, model: str | None = None, role: str = "architect",
    extra: Mapping[str, object] | None = None, trailers: Mapping[str, str | int | None] | None = None,
) -> CommitId:
    """Commit the next round's standalone work file on the branch tip (a ``revise`` event).

    ``extra`` adds front-matter keys; ``role`` is ``architect`` for
    ``revise``, ``system`` for wo-git's own orders (a merge to resolve).
    Raises :class:`~wo_git.errors.StaleRef` if the refs moved.
    """
    prev = tk.order
    new_round = tk.round + 1
    pending = tk.merging
    if pending and not (extra and "merging" in extra):
        # a merge of the base no report has recorded yet: this round still resolves it
        extra = {**(extra or {}), "merging": pending}
        trailers = {**(trailers or {}), "Wo-Merging": pending}
        context = (context.strip() + "\n\n" if context.strip() else "") + (
            f"The merge of `{tk.base}` (commit {pending[:12]}) is still in progress in your worktree "
            "(`git status` shows it): finish it too. Resolve every conflict marker "
            "(`<<<<<<<`, `=======`, `>>>>>>>`), keep the base's changes, do not abort the merge.")
    order = mailbox.WorkOrder(
        ticket=tk.id,
        round=new_round,
        slug=tk.slug,
        title=tk.title,
        base=tk.base,
        report=tk.report_path(cfg, new_round),
        scope=scope if scope is not None else (prev.scope if prev else []),
        allow=allow if allow is not None else (prev.allow if prev else []),
        executor=executor or (prev.executor if prev else None),
        model=model or (prev.model if prev else None),
        **dict(extra or {}),
    )
    text = mailbox.render_work(
        order, task=task, criteria=criteria, context=context, feedback_on=tk.report_path(cfg),
        background=background(repo, cfg, tk),
    )
    all_trailers: dict[str, str | int | None] = {"Wo-Executor": order.executor, "Wo-Model": order.model}
    all_trailers.update(trailers or {})
    return commit_event(
        repo, tk, event="revise", role=role, round_=new_round,
        subject=f"wo {tk.label} revise: round {new_round}",
        files={tk.work_path(cfg, new_round): text.encode()},
        trailers=all_trailers,
        parent=tk.branch_tip,
    )


def report_of(repo: Repo, cfg: Config, tk: Ticket, round_: int | None = None) -> str | None:
    """The report text of a round as committed, or ``None``."""
    data = repo.read_path(tk.tip, tk.report_path(cfg, round_))
    return data.decode("utf-8", errors="replace") if data is not None else None


def audit_log(repo: Repo, ticket: int | str | None = None) -> list[dict[str, object]]:
    """The audit trail from commit trailers: one ticket's events oldest first, or every ticket's by time.

    Each entry: ``ticket`` (int), ``commit``, ``time`` (Unix seconds),
    ``event``, ``round``, ``role``, ``status``, ``subject``, ``trailers``
    (the commit's ``Wo-*`` and other trailers). Raises :class:`TicketNotFound`.
    """
    if ticket is not None:
        tk = load(repo, ticket)
        pairs = [(tk, e) for e in reversed(tk.events)]
    else:
        pairs = list(iter_log(repo))
    return [{"ticket": t.id, "commit": e.commit.id, "time": e.commit.time, "event": e.event,
             "round": e.round, "role": e.role, "status": e.status, "subject": e.commit.subject,
             "trailers": dict(e.commit.trailers)} for t, e in pairs]
