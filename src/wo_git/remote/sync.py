"""``wo-git fetch`` and ``wo-git push``: tickets between a clone and a remote.

Refs on the remote have the same names as in a clone (``refs/wo/tickets/NNNN``,
``refs/heads/wo/NNNN-SLUG``, ``refs/wo/rounds/NNNN-rR``) plus the workers'
claims ``refs/wo/claims/NNNN``. A fetch copies them into a tracking namespace
of their own, ``refs/wo-remotes/REMOTE/``:

====================================  ==============================================
remote                                 local tracking ref
====================================  ==============================================
``refs/wo/tickets/*``                  ``refs/wo-remotes/REMOTE/tickets/*``
``refs/heads/*``                       ``refs/wo-remotes/REMOTE/heads/*``
``refs/wo/claims/*``                   ``refs/wo-remotes/REMOTE/claims/*``
``refs/wo/rounds/*``                   ``refs/wo-remotes/REMOTE/rounds/*``
====================================  ==============================================

The refspecs are given on the command line with ``--refmap=`` (so git does
not also touch ``refs/remotes/REMOTE/*``) and are never written to the
remote's config, and ``refs/wo-remotes/`` is outside ``refs/wo/`` and
``refs/heads/``: neither ``git push origin 'refs/wo/*'`` nor a branch push
can send tracking refs back.

Then the fetched tickets are *integrated* like ``git pull --ff-only``: a
local record or ticket branch that is absent or behind (an ancestor) is
moved to the remote's value by compare-and-swap; one that is ahead is left
for ``push``; two different tickets with the same id (opened offline in two
clones) are reported, never merged. A ticket running here is not touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wo_git import runs, tickets
from wo_git.errors import InvalidInput, StaleRef
from wo_git.git import Repo, run_git
from wo_git.remote import transport
from wo_git.remote.transport import Update
from wo_git.tickets import ticket_label
from wo_git.types import CommitId

if TYPE_CHECKING:
    from wo_git.config import Config

TRACK_ROOT = "refs/wo-remotes/"
CLAIM_PREFIX = "refs/wo/claims/"
ROUNDS_PREFIX = "refs/wo/rounds/"


def track_prefix(remote: str) -> str:
    """``refs/wo-remotes/origin/``."""
    return f"{TRACK_ROOT}{remote}/"


def tracking_record(remote: str, ticket: int) -> str:
    """``refs/wo-remotes/origin/tickets/0007``: the remote's record as last fetched."""
    return f"{track_prefix(remote)}tickets/{ticket_label(ticket)}"


def tracking_branch(remote: str, branch: str) -> str:
    """``refs/wo-remotes/origin/heads/wo/0007-x``: the remote's branch as last fetched."""
    return f"{track_prefix(remote)}heads/{branch}"


def claim_ref(ticket: int) -> str:
    """``refs/wo/claims/0007`` (on the remote): the worker's claim on a ticket."""
    return f"{CLAIM_PREFIX}{ticket_label(ticket)}"


def tracking_claim(remote: str, ticket: int) -> str:
    """``refs/wo-remotes/origin/claims/0007``: the claim as last fetched."""
    return f"{track_prefix(remote)}claims/{ticket_label(ticket)}"


def refspecs(remote: str) -> list[str]:
    """The fetch refspecs for ``remote`` (forced: the remote is the truth for tracking refs)."""
    p = track_prefix(remote)
    return [
        f"+refs/wo/tickets/*:{p}tickets/*",
        f"+refs/heads/*:{p}heads/*",
        f"+{CLAIM_PREFIX}*:{p}claims/*",
        f"+{ROUNDS_PREFIX}*:{p}rounds/*",
    ]


def resolve_remote(repo: Repo, cfg: Config | None, given: str | None) -> str:
    """The remote to use: ``given``, else the config's ``remote``, else ``origin`` if it exists.

    Raises :class:`InvalidInput` naming the fix when there is none.
    """
    name = given or (cfg.remote if cfg is not None else None)
    if name:
        transport.check_remote(repo, name)
        return name
    try:
        transport.check_remote(repo, "origin")
    except InvalidInput:
        raise InvalidInput("no remote given and none named origin: pass a remote name "
                           "(git remote add origin URL)") from None
    return "origin"


def configured_remote(repo: Repo, cfg: Config) -> str | None:
    """The config's ``remote`` if set (checked to exist), else ``None``: no remote in use."""
    if not cfg.remote:
        return None
    transport.check_remote(repo, cfg.remote)
    return cfg.remote


def remote_in_use(repo: Repo) -> str | None:
    """The config's ``remote`` as committed on the checked-out branch, or ``None`` (no remote in use).

    This is what ``wait`` and ``accept`` (CLI and MCP) consult. Raises
    :class:`InvalidInput` when the configured remote does not exist.
    """
    from wo_git.config import load_config

    branch = repo.head_branch()
    if not branch or not repo.branch_exists(branch):
        return None
    return configured_remote(repo, load_config(repo, branch))


@dataclass
class SyncResult:
    """What a fetch or push did, per ticket id; ``notes`` are one-line explanations."""

    remote: str
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    pushed: list[int] = field(default_factory=list)
    ahead: list[int] = field(default_factory=list)
    behind: list[int] = field(default_factory=list)
    collisions: list[int] = field(default_factory=list)
    diverged: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The stable ``--json`` shape."""
        return {
            "remote": self.remote, "created": self.created, "updated": self.updated, "pushed": self.pushed,
            "ahead": self.ahead, "behind": self.behind, "collisions": self.collisions,
            "diverged": self.diverged, "notes": self.notes,
        }


def open_commit(repo: Repo, tip: str, ticket: int) -> CommitId | None:
    """The ``Wo-Event: open`` commit a record leads down to: a ticket's identity."""
    label = ticket_label(ticket)
    for info in repo.first_parent_chain(tip):
        if info.trailers.get("Wo-Ticket") != label:
            return None
        if info.trailers.get("Wo-Event") == "open":
            return info.id
    return None


def fetch(repo: Repo, remote: str) -> SyncResult:
    """Fetch the remote's tickets, branches, claims and rounds, then integrate them.

    Raises :class:`~wo_git.remote.transport.RemoteUnreachable`.
    """
    transport.check_remote(repo, remote)
    transport.fetch(repo, remote, refspecs(remote))
    return integrate(repo, remote)


def remote_ids(repo: Repo, remote: str) -> list[int]:
    """Ticket ids the remote had at the last fetch, ascending."""
    prefix = f"{track_prefix(remote)}tickets/"
    return sorted(int(n[len(prefix):]) for n in repo.list_refs(prefix) if n[len(prefix):].isdigit())


def integrate(repo: Repo, remote: str) -> SyncResult:
    """Fast-forward local records and ticket branches to the fetched ones (see the module doc)."""
    res = SyncResult(remote)
    for tid in remote_ids(repo, remote):
        rv = repo.ref_target(tracking_record(remote, tid))
        if rv is None or runs.is_running(repo, tid):
            continue
        record = tickets.record_ref(tid)
        lv = repo.ref_target(record)
        try:
            if lv is None:
                repo.update_refs([(record, rv, None)], f"wo-git fetch {remote}: new ticket")
                res.created.append(tid)
            elif lv != rv:
                if repo.is_ancestor(lv, rv):
                    repo.update_refs([(record, rv, lv)], f"wo-git fetch {remote}: fast-forward")
                    res.updated.append(tid)
                elif repo.is_ancestor(rv, lv):
                    res.ahead.append(tid)
                    continue
                elif open_commit(repo, lv, tid) != open_commit(repo, rv, tid):
                    res.collisions.append(tid)
                    res.notes.append(
                        f"{ticket_label(tid)} here is not {remote}'s {ticket_label(tid)} (both were opened "
                        f"offline); {remote}'s stays in {tracking_record(remote, tid)}: `wo-git push {remote} "
                        "--renumber` gives this one a new id")
                    continue
                else:
                    res.diverged.append(tid)
                    res.notes.append(f"{ticket_label(tid)} changed both here and on {remote}; "
                                     f"this clone's record is kept (compare with {tracking_record(remote, tid)})")
                    continue
            _integrate_branch(repo, remote, tid, res)
        except StaleRef:
            res.notes.append(f"{ticket_label(tid)} moved here while fetching; fetch again")
    return res


def _integrate_branch(repo: Repo, remote: str, tid: int, res: SyncResult) -> None:
    tk = tickets.load(repo, tid)
    tb = repo.ref_target(tracking_branch(remote, tk.branch))
    lb = tk.branch_tip
    if tb is not None:
        if lb is None:
            repo.update_refs([(tk.branch_ref, tb, None)], f"wo-git fetch {remote}: ticket branch")
        elif lb != tb and repo.is_ancestor(lb, tb):
            repo.update_refs([(tk.branch_ref, tb, lb)], f"wo-git fetch {remote}: fast-forward branch")
    elif lb is not None and tk.state in ("accepted", "rejected") and repo.is_ancestor(lb, tk.tip) \
            and not repo.checked_out_in(tk.branch):
        # closed in another clone, which deleted the branch: do the same here
        repo.update_refs([(tk.branch_ref, None, lb)], f"wo-git fetch {remote}: ticket closed")


def _base_updates(repo: Repo, remote: str, bases: set[str]) -> list[Update]:
    out = []
    for base in sorted(bases):
        lv = repo.ref_target(f"refs/heads/{base}")
        rv = repo.ref_target(tracking_branch(remote, base))
        if lv is not None and lv != rv and (rv is None or repo.is_ancestor(rv, lv)):
            out.append(Update(f"refs/heads/{base}", lv, rv))
    return out


def ticket_updates(repo: Repo, remote: str, tid: int, res: SyncResult) -> list[Update]:
    """The pushes that bring the remote up to this clone's ticket ``tid`` (leases from the last fetch)."""
    record = tickets.record_ref(tid)
    lv = repo.ref_target(record)
    rv = repo.ref_target(tracking_record(remote, tid))
    if lv is None:
        return []
    out: list[Update] = []
    if rv is not None and lv != rv:
        if repo.is_ancestor(lv, rv):
            res.behind.append(tid)
            return []
        if not repo.is_ancestor(rv, lv):
            if open_commit(repo, lv, tid) != open_commit(repo, rv, tid):
                res.collisions.append(tid)
                res.notes.append(
                    f"{ticket_label(tid)}: {remote} already has another ticket {ticket_label(tid)} (opened in "
                    f"another clone meanwhile); not pushed: `wo-git push {remote} --renumber` gives this one "
                    "the next free id")
            else:
                res.diverged.append(tid)
                res.notes.append(f"{ticket_label(tid)} changed both here and on {remote}; not pushed "
                                 f"(compare {record} with {tracking_record(remote, tid)})")
            return []
    claim_oid = repo.ref_target(tracking_claim(remote, tid))
    if lv != rv and claim_oid is not None:
        from wo_git.remote.claims import read_claim

        claim = read_claim(repo, claim_oid, tid)
        if claim is not None and not claim.expired():
            # a worker is running this ticket: pushing a record under it would discard its run
            res.notes.append(f"{ticket_label(tid)}: worker {claim.worker} on {remote} holds it (lease for "
                             f"{claim.expires - time.time():.0f} s more); not pushed: `wo-git wait {tid}`")
            res.diverged.append(tid)
            return []
    if lv != rv:
        out.append(Update(record, lv, rv))
    tk = tickets.load(repo, tid)
    lb = tk.branch_tip
    tb = repo.ref_target(tracking_branch(remote, tk.branch))
    if lb is not None and lb != tb and (tb is None or repo.is_ancestor(tb, lb)):
        out.append(Update(tk.branch_ref, lb, tb))
    elif lb is None and tb is not None and tk.state in ("accepted", "rejected") and repo.is_ancestor(tb, lv):
        out.append(Update(tk.branch_ref, None, tb))
    for name, oid in repo.list_refs(f"{ROUNDS_PREFIX}{tk.label}-").items():
        tracked = repo.ref_target(f"{track_prefix(remote)}rounds/{name[len(ROUNDS_PREFIX):]}")
        if tracked != oid and not oid.startswith("ref:"):
            out.append(Update(name, oid, tracked))
    return out


def push(repo: Repo, remote: str) -> SyncResult:
    """Push every ticket this clone has that the remote lacks or has older, with leases.

    Fetches first (so the leases are the remote's current values), then one
    ``--atomic`` push; if that is refused, each ticket is pushed on its own
    so one conflict does not hold back the rest. The base branch of a ticket
    accepted here is pushed too when the remote's is an ancestor of it.
    Tickets that collide with another ticket of the same id on the remote
    are reported in ``notes`` and not pushed. Raises
    :class:`~wo_git.remote.transport.RemoteUnreachable` and
    :class:`~wo_git.remote.transport.HostRefused`.
    """
    res = fetch(repo, remote)
    before = set(res.collisions)
    groups: dict[int, list[Update]] = {}
    bases: set[str] = set()
    for tid in tickets.all_ids(repo):
        ups = ticket_updates(repo, remote, tid, res)
        if ups:
            groups[tid] = ups
            tk = tickets.load(repo, tid)
            if tk.state == "accepted":
                bases.add(tk.base)
    res.collisions = sorted(set(res.collisions) | before)
    base_ups = _base_updates(repo, remote, bases)
    everything = [u for ups in groups.values() for u in ups] + base_ups
    if not everything:
        return res
    result = transport.push(repo, remote, everything)
    if result.ok:
        res.pushed = sorted(groups)
    else:
        for tid, ups in groups.items():
            one = transport.push(repo, remote, ups)
            if one.ok:
                res.pushed.append(tid)
            else:
                res.notes.append(f"{ticket_label(tid)}: {remote} refused it ({one.first_reason()}); "
                                 f"`wo-git fetch {remote}` and push again")
        if base_ups:
            one = transport.push(repo, remote, base_ups)
            if not one.ok:
                res.notes.append(f"base branch not pushed ({one.first_reason()}): `git pull` and push again")
    transport.fetch(repo, remote, refspecs(remote))
    return res


def remote_branch(repo: Repo, branch: str) -> tuple[str, CommitId] | None:
    """``(remote, oid)`` of a fetched copy of ``branch`` (``refs/wo-remotes/*/heads/BRANCH``), or ``None``."""
    for name, oid in sorted(repo.list_refs(TRACK_ROOT).items()):
        remote, _, rest = name[len(TRACK_ROOT):].partition("/")
        if rest == f"heads/{branch}" and not oid.startswith("ref:"):
            return remote, CommitId(oid)
    return None


def no_tickets_hint(repo: Repo) -> str | None:
    """For an empty ``list``: which remote may have tickets and the command to get them."""
    remotes = run_remotes(repo)
    fetched = {n[len(TRACK_ROOT):].split("/", 1)[0] for n in repo.list_refs(TRACK_ROOT)}
    for name in remotes:
        if name not in fetched:
            return f"no tickets here; the remote {name} may have some: wo-git fetch {name}"
    return None


def run_remotes(repo: Repo) -> list[str]:
    """The names of the repository's configured remotes (``git remote``), ``origin`` first."""
    out = run_git("remote", cwd=repo.root or repo.common_dir, check=False).stdout.decode().split()
    return sorted(out, key=lambda n: (n != "origin", n))
