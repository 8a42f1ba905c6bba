"""git's own transport, driven as a subprocess: push with leases, fetch, ls-remote.

libgit2 has no ``--force-with-lease`` and no ``--atomic`` push, so every
network operation shells out to git through :func:`wo_git.git.run_git`
(clean environment, hooks off). A push states, for every ref it moves, the
value it expects the remote to hold (``--force-with-lease=REF:EXPECT``; an
empty EXPECT means "must not exist"), so a push is a compare-and-swap on the
remote; ``--atomic`` makes several refs move together or not at all
(git-push(1), "--atomic", "--force-with-lease").

The outcome is read from ``git push --porcelain`` (git-push(1), "OUTPUT"):
one ``FLAG<TAB>FROM:TO<TAB>SUMMARY`` line per ref, where FLAG ``!`` is a
rejection and SUMMARY says why (``[rejected] (stale info)`` for a lost
lease, ``[remote rejected] (REASON)`` for a refusal by the server).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from wo_git.errors import InvalidInput, StaleRef, WoGitError
from wo_git.git import ZERO, Repo, run_git


class RemoteUnreachable(WoGitError):
    """The remote could not be reached (network, path, permissions); nothing was sent."""


class HostRefused(WoGitError):
    """The remote host refused a ref outside ``refs/heads/`` and ``refs/tags/`` (its policy)."""


@dataclass(frozen=True)
class Update:
    """One ref to push: ``new`` (an oid, or ``None`` to delete) to ``ref`` on the remote.

    ``expect`` is the lease: the oid the remote must hold now, ``None`` for
    "must not exist". ``lease=False`` pushes without one (only for refs the
    caller owns outright; wo-git never uses it for shared refs).
    """

    ref: str
    new: str | None
    expect: str | None
    lease: bool = True


@dataclass
class RefStatus:
    """One line of ``git push --porcelain``: the ref, its flag and git's summary."""

    ref: str
    flag: str
    summary: str

    @property
    def rejected(self) -> bool:
        """Whether the remote did not take this ref."""
        return self.flag == "!"


@dataclass
class PushResult:
    """The outcome of one push: ``ok`` when every ref was taken (or already there)."""

    ok: bool
    refs: list[RefStatus] = field(default_factory=list)
    stderr: str = ""

    def rejected(self) -> list[RefStatus]:
        """The refs the remote did not take."""
        return [r for r in self.refs if r.rejected]

    def first_reason(self) -> str:
        """The most telling rejection: a named reason over git's ``atomic push failed``."""
        rej = self.rejected()
        for r in rej:
            if "atomic" not in r.summary:
                return f"{r.ref} {r.summary}"
        return f"{rej[0].ref} {rej[0].summary}" if rej else self.stderr.strip().splitlines()[-1:][0] \
            if self.stderr.strip() else "push failed"


_UNREACHABLE = re.compile(
    r"Could not read from remote|unable to access|does not appear to be a git repository|"
    r"Connection refused|Could not resolve host|unable to connect|No such file or directory|"
    r"repository .* not found|the remote end hung up unexpectedly",
    re.I,
)
# server-side reasons that are a lost race (the ref moved between advertisement and update),
# not a policy: git's receive-pack says these when its own compare-and-swap fails
_RACE = re.compile(r"atomic|transaction|lock|failed to update ref|incorrect old value|stale|fetch first|"
                   r"non-fast-forward|already exists", re.I)


def check_remote(repo: Repo, remote: str) -> str:
    """The URL of a configured remote; raises :class:`InvalidInput` naming the fix.

    Only remote names (``git remote``) are accepted, because the name is part
    of the tracking namespace ``refs/wo-remotes/NAME/``.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", remote or ""):
        raise InvalidInput(f"{remote!r} is not a remote name; add one: git remote add NAME URL")
    proc = run_git("remote", "get-url", remote, cwd=_cwd(repo), check=False)
    if proc.returncode != 0:
        raise InvalidInput(f"no remote named {remote!r}; add it: git remote add {remote} URL")
    return proc.stdout.decode().strip()


def parse_porcelain(text: str) -> list[RefStatus]:
    """The per-ref lines of ``git push --porcelain`` output."""
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or len(parts[0]) != 1:
            continue
        flag, spec, summary = parts
        out.append(RefStatus(ref=spec.rsplit(":", 1)[-1], flag=flag, summary=summary.strip()))
    return out


def push(repo: Repo, remote: str, updates: Sequence[Update], *, atomic: bool = True) -> PushResult:
    """Push ``updates`` to ``remote`` with a lease on each; never raises for a rejection.

    Returns a :class:`PushResult`. Raises :class:`RemoteUnreachable` when git
    could not talk to the remote at all, and :class:`HostRefused` when the
    server refused a custom ref by policy (some hosts take only branches
    and tags).
    """
    if not updates:
        return PushResult(ok=True)
    args = ["push", "--porcelain", "--no-verify", "--quiet"]
    if atomic:
        args.append("--atomic")
    specs = []
    for u in updates:
        if u.lease:
            args.append(f"--force-with-lease={u.ref}:{u.expect or ''}")
        specs.append(f"{u.new}:{u.ref}" if u.new else f":{u.ref}")
    proc = run_git(*args, remote, *specs, cwd=_cwd(repo), check=False)
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    refs = parse_porcelain(out)
    if proc.returncode != 0 and not refs:
        if _UNREACHABLE.search(err) or proc.returncode == 128:
            raise RemoteUnreachable(f"cannot reach remote {remote!r}: {_last_line(err)}")
        raise WoGitError(f"git push to {remote!r} failed: {_last_line(err)}")
    result = PushResult(ok=proc.returncode == 0 and not any(r.rejected for r in refs), refs=refs, stderr=err)
    for r in result.rejected():
        if r.summary.startswith("[remote rejected]") and not _RACE.search(r.summary) \
                and not r.ref.startswith(("refs/heads/", "refs/tags/")):
            raise HostRefused(
                f"remote {remote!r} refused {r.ref} {r.summary[len('[remote rejected]'):].strip()}: this host "
                "takes only branches and tags, so wo-git's refs/wo/* cannot be shared there (README, Remotes: Hosts)"
            )
    return result


def _cwd(repo: Repo) -> str:
    # where a relative remote URL (``../origin.git``) means what the user meant: the working tree
    return str(repo.root or repo.common_dir)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def ls_remote(repo: Repo, remote: str, *patterns: str) -> dict[str, str]:
    """``{ref: oid}`` on the remote for refs matching ``patterns`` (one round trip).

    Raises :class:`RemoteUnreachable` if the remote cannot be reached.
    """
    proc = run_git("ls-remote", "--refs", remote, *patterns, cwd=_cwd(repo), check=False)
    if proc.returncode != 0:
        raise RemoteUnreachable(f"cannot reach remote {remote!r}: {_last_line(proc.stderr.decode(errors='replace'))}")
    out: dict[str, str] = {}
    for line in proc.stdout.decode().splitlines():
        oid, _, name = line.partition("\t")
        if oid and name and oid != ZERO:
            out[name] = oid
    return out


def fetch(repo: Repo, remote: str, refspecs: Sequence[str], *, prune: bool = True) -> None:
    """``git fetch`` exactly ``refspecs`` from ``remote``, nothing else.

    ``--refmap=`` keeps git from also updating ``refs/remotes/REMOTE/*`` on
    the side (git-fetch(1), "CONFIGURED REMOTE-TRACKING BRANCHES"), and
    ``--prune`` drops tracking refs whose source is gone. Raises
    :class:`RemoteUnreachable`.
    """
    args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--refmap=", "--no-recurse-submodules"]
    if prune:
        args.append("--prune")
    proc = run_git(*args, remote, *refspecs, cwd=_cwd(repo), check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        if _UNREACHABLE.search(err) or proc.returncode == 128:
            raise RemoteUnreachable(f"cannot reach remote {remote!r}: {_last_line(err)}")
        raise WoGitError(f"git fetch from {remote!r} failed: {_last_line(err)}")


def raise_stale(result: PushResult, what: str) -> None:
    """Raise :class:`StaleRef` for a push that lost its lease (one line, what to do)."""
    raise StaleRef(f"{what}: the remote moved under it ({result.first_reason()}); nothing was changed: re-run")
