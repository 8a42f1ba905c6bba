"""Claims with leases: which worker runs a ticket, decided on the remote.

A claim is a commit on the remote's ``refs/wo/claims/NNNN``: a root commit
with the empty tree whose trailers say who claimed the ticket and until when::

    wo 0007 claim: worker host-4242-a1b2c3

    Wo-Ticket: 0007
    Wo-Round: 1
    Wo-Event: claim
    Wo-Worker: host-4242-a1b2c3
    Wo-Host: host
    Wo-Nonce: 5f0c...            (16 random bytes: no two claims are the same commit)
    Wo-Claimed: 1763731200.125   (unix seconds)
    Wo-Lease-Expires: 1763731260.125

A claim is taken with a compare-and-swap push (``--force-with-lease``): the
claim ref must not exist, or must still be the expired claim the worker saw.
The same push re-states the ticket's record at the value the worker read
(``--atomic``: a record that moved since, for example reported by another
worker, rejects the claim). Because each claim commit is unique, two
workers' pushes can never both "succeed" by writing the same object. The
holder renews the lease by pushing a new claim commit over its own (CAS);
a renewal that is rejected means the claim was taken over. The claim is
released (the ref deleted, again with a lease) in the same atomic push
that publishes the report. Expiry is judged by the reading worker's clock,
so the lease must be longer than the clock skew between machines.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from wo_git import tickets
from wo_git.git import Repo, format_message
from wo_git.remote import sync, transport
from wo_git.remote.transport import Update
from wo_git.tickets import ticket_label
from wo_git.types import CommitId


@dataclass(frozen=True)
class Claim:
    """A claim commit as read from its trailers; times are unix seconds."""

    ticket: int
    commit: CommitId
    worker: str
    host: str
    round: int
    claimed: float
    expires: float

    def expired(self, now: float | None = None) -> bool:
        """Whether the lease is over by this machine's clock."""
        return (time.time() if now is None else now) >= self.expires

    def to_json(self) -> dict[str, object]:
        """The stable ``--json`` shape."""
        return {"ticket": self.ticket, "commit": self.commit, "worker": self.worker, "host": self.host,
                "round": self.round, "claimed": self.claimed, "expires": self.expires}


def new_worker_id() -> str:
    """``HOST-PID-RANDOM``: unique per worker process."""
    import secrets
    import socket

    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def read_claim(repo: Repo, oid: str, ticket: int) -> Claim | None:
    """Parse a claim commit; ``None`` if it is not one (treated as no claim)."""
    info = repo.commit_info(oid)
    t = info.trailers
    if t.get("Wo-Event") != "claim" or t.get("Wo-Ticket") != ticket_label(ticket):
        return None
    try:
        return Claim(ticket, info.id, t.get("Wo-Worker", ""), t.get("Wo-Host", ""), int(t.get("Wo-Round", "0")),
                     float(t.get("Wo-Claimed", "0")), float(t.get("Wo-Lease-Expires", "0")))
    except ValueError:
        return None


def fetched_claim(repo: Repo, remote: str, ticket: int) -> tuple[CommitId | None, Claim | None]:
    """The claim ref's value at the last fetch and the claim it holds."""
    oid = repo.ref_target(sync.tracking_claim(remote, ticket))
    return oid, (read_claim(repo, oid, ticket) if oid else None)


def write_claim(repo: Repo, ticket: int, round_: int, worker: str, lease: float) -> CommitId:
    """Write (not push) a new, unique claim commit valid for ``lease`` seconds from now."""
    import secrets
    import socket

    now = time.time()
    msg = format_message(f"wo {ticket_label(ticket)} claim: worker {worker}", "", {
        "Wo-Ticket": ticket_label(ticket), "Wo-Round": round_, "Wo-Event": "claim", "Wo-Worker": worker,
        "Wo-Host": socket.gethostname(), "Wo-Nonce": secrets.token_hex(16), "Wo-Claimed": f"{now:.3f}",
        "Wo-Lease-Expires": f"{now + lease:.3f}",
    })
    return repo.write_commit([], msg, files={})


def acquire(repo: Repo, remote: str, tk: tickets.Ticket, worker: str, lease: float,
            seen: CommitId | None) -> Claim | None:
    """Claim ``tk`` on ``remote`` if its claim ref is still ``seen`` (``None``: no claim).

    Returns the claim, or ``None`` when another worker won the race or the
    record moved. Raises :class:`~wo_git.remote.transport.RemoteUnreachable`.
    """
    oid = write_claim(repo, tk.id, tk.round, worker, lease)
    result = transport.push(repo, remote, [
        Update(sync.claim_ref(tk.id), oid, seen),
        Update(tk.record, tk.tip, tk.tip),  # unchanged: only its lease is checked
    ])
    return read_claim(repo, oid, tk.id) if result.ok else None


def renew(repo: Repo, remote: str, claim: Claim, worker: str, lease: float) -> Claim | None:
    """Extend the lease by pushing a new claim over ``claim``; ``None`` if it was taken over."""
    oid = write_claim(repo, claim.ticket, claim.round, worker, lease)
    result = transport.push(repo, remote, [Update(sync.claim_ref(claim.ticket), oid, claim.commit)])
    return read_claim(repo, oid, claim.ticket) if result.ok else None


def release(repo: Repo, remote: str, claim: Claim) -> bool:
    """Delete the claim ref if it is still ``claim``; ``False`` if it had moved."""
    return transport.push(repo, remote, [Update(sync.claim_ref(claim.ticket), None, claim.commit)]).ok


def claimed_elsewhere(repo: Repo, ticket: int) -> tuple[str, Claim] | None:
    """``(remote, claim)`` of a live claim on ``ticket`` as last fetched from any remote, or ``None``.

    What ``list`` shows for a ticket a worker on another machine is running.
    """
    return claims_elsewhere(repo, {ticket}).get(ticket)


def claims_elsewhere(repo: Repo, wanted: set[int] | None = None) -> dict[int, tuple[str, Claim]]:
    """Every live claim as last fetched from any remote: ``{ticket: (remote, claim)}``.

    Reads the tracking refs once (``list`` calls it once for all its
    tickets); ``wanted`` limits it to those ticket ids. The first remote in
    name order wins when several hold a claim.
    """
    out: dict[int, tuple[str, Claim]] = {}
    for name, oid in sorted(repo.refs_under(sync.TRACK_ROOT).items()):
        remote, _, rest = name[len(sync.TRACK_ROOT):].partition("/")
        kind, _, label = rest.partition("/")
        if kind != "claims" or not label.isdigit() or oid.startswith("ref:"):
            continue
        ticket = int(label)
        if ticket in out or (wanted is not None and ticket not in wanted) or label != ticket_label(ticket):
            continue
        claim = read_claim(repo, oid, ticket)
        if claim is not None and not claim.expired():
            out[ticket] = (remote, claim)
    return out
