"""Ticket ids that never collide across clones: allocated on the remote.

With a remote in use, ``open`` asks the remote for the highest id
(``git ls-remote REMOTE 'refs/wo/tickets/*'``, one round trip), builds the
open commit for the next id, and pushes its record and branch with a
create-only compare-and-swap::

    git push --atomic --force-with-lease=refs/wo/tickets/0008: \\
             --force-with-lease=refs/heads/wo/0008-x: REMOTE C:refs/wo/tickets/0008 C:refs/heads/wo/0008-x

(an empty lease value means "must not exist", git-push(1)). Two clones that
race for 0008 both send the push; the remote's ref transaction lets exactly
one create the ref, the other is rejected (``stale info``) and retries with
0009. When the remote cannot be reached the ticket is opened locally as
before and the caller says it is local until ``wo-git push``; a later push
that finds the id taken says so (``--renumber`` moves it to a free id).
"""

from __future__ import annotations

from dataclasses import dataclass

from wo_git import tickets
from wo_git.config import Config
from wo_git.errors import BadState, InvalidInput
from wo_git.git import Repo
from wo_git.remote import sync, transport
from wo_git.remote.transport import RemoteUnreachable, Update
from wo_git.tickets import ticket_label
from wo_git.tickets.mailbox import criteria_of, parse_work, task_of
from wo_git.types import CommitId


@dataclass
class Opened:
    """An opened ticket and where its id was allocated: ``remote`` or ``None`` (local only)."""

    ticket: tickets.Ticket
    remote: str | None
    offline: str | None = None
    """why the remote was not used (it could not be reached), if it was meant to be"""
    tries: int = 1


def _max_remote_id(repo: Repo, remote: str) -> int:
    refs = transport.ls_remote(repo, remote, "refs/wo/tickets/*")
    tails = [n.rsplit("/", 1)[-1] for n in refs]
    return max((int(t) for t in tails if t.isdigit()), default=0)


def open_on_remote(repo: Repo, cfg: Config, req: tickets.OpenRequest, remote: str) -> Opened:
    """Open a ticket whose id is allocated on ``remote`` (see the module doc).

    Falls back to a local id, with ``offline`` saying why, when the remote
    cannot be reached. Raises what :func:`wo_git.tickets.open_ticket` raises,
    and :class:`~wo_git.remote.transport.HostRefused`.
    """
    transport.check_remote(repo, remote)
    try:
        first = _max_remote_id(repo, remote) + 1
    except RemoteUnreachable as err:
        return Opened(tickets.open_ticket(repo, cfg, req), None, offline=str(err))
    tries = [0]

    def reserve(tid: int, branch_ref: str, oid: CommitId) -> bool:
        tries[0] += 1
        record = tickets.record_ref(tid)
        result = transport.push(repo, remote, [Update(record, oid, None), Update(branch_ref, oid, None)])
        if not result.ok:
            return False
        repo.update_refs(
            [(sync.tracking_record(remote, tid), oid, repo.ref_target(sync.tracking_record(remote, tid))),
             (sync.tracking_branch(remote, branch_ref[len("refs/heads/"):]), oid,
              repo.ref_target(sync.tracking_branch(remote, branch_ref[len("refs/heads/"):])))],
            f"wo-git open: allocated on {remote}",
        )
        return True

    try:
        tk = tickets.open_ticket(repo, cfg, req, reserve=reserve, first_id=first)
    except RemoteUnreachable as err:
        return Opened(tickets.open_ticket(repo, cfg, req), None, offline=str(err))
    return Opened(tk, remote, tries=tries[0])


def renumber(repo: Repo, cfg: Config, ticket: int, remote: str) -> Opened:
    """Give a local-only ticket that collides on ``remote`` the next free id there.

    Only a ticket that has nothing but its work order (state ``open``, round
    1, never run) can be moved: its work order is opened again under a new
    id, then the old local record and branch are removed (compare-and-swap).
    Raises :class:`BadState` for a ticket with history (reject it here and
    open it again).
    """
    tk = tickets.load(repo, ticket, cfg)
    if tk.state != "open" or tk.round != 1 or len(tk.events) != 1 or tk.branch_tip not in (None, tk.tip):
        raise BadState(f"ticket {tk.label} already has history here ({tk.state}, round {tk.round}); only a "
                       f"ticket never run can be renumbered: `wo-git reject {tk.id}` and open it again")
    work = repo.read_path(tk.tip, tk.work_path(cfg))
    if work is None:
        raise InvalidInput(f"ticket {tk.label} has no work file {tk.work_path(cfg)}")
    order, body = parse_work(work.decode("utf-8", errors="replace"))
    req = tickets.OpenRequest(
        slug=tk.slug, title=tk.title, task=task_of(body), criteria=tuple(criteria_of(body)),
        scope=tuple(order.scope), allow=tuple(order.allow), base=tk.base, executor=order.executor,
        model=order.model,
    )
    # the old id must not be offered again by open_ticket's local scan: start above the remote's highest
    opened = open_on_remote(repo, cfg, req, remote)
    if opened.remote is None:
        raise RemoteUnreachable(opened.offline or f"cannot reach {remote}")
    updates: list[tuple[str, str | None, str | None]] = [(tk.record, None, tk.tip)]
    if tk.branch_tip is not None:
        updates.append((tk.branch_ref, None, tk.branch_tip))
    repo.update_refs(updates, f"wo-git: renumbered {tk.label} to {opened.ticket.label}")
    return opened


def renumber_collisions(repo: Repo, cfg: Config, remote: str, ids: list[int]) -> list[tuple[int, int]]:
    """Renumber each colliding ticket in ``ids``; ``[(old, new)]``."""
    out = []
    for tid in ids:
        opened = renumber(repo, cfg, tid, remote)
        out.append((tid, opened.ticket.id))
    sync.fetch(repo, remote)  # the remote's tickets with those ids now fit here
    return out


def describe(op: Opened) -> str:
    """One line on where the id came from, for ``open``'s output."""
    if op.remote:
        return f"id {ticket_label(op.ticket.id)} allocated on {op.remote}"
    if op.offline:
        return (f"the remote could not be reached ({op.offline}); {op.ticket.label} is local until pushed: "
                "wo-git push")
    return "local ticket"
