"""``wo-git list`` without walking every ticket's history: a cache git can rebuild.

:func:`summaries` reads the record refs once, then each ticket's facts
(slug, title, base, round, state, status) from ``<git-common-dir>/wo/list-cache.json``,
keyed by the record ref's commit id. A record's commit never changes, and
the facts are a function of the commits below it, so an entry can only be
stale by being absent: a record that moved has a new id and is read from
git (:func:`wo_git.tickets.load`) and cached again. Each entry carries a
digest of its own content; an entry that does not match it (or a file that
is not valid JSON) is ignored and rebuilt, so a damaged cache costs time,
never a wrong answer. ``running`` is never cached: it is the run lock's
state, checked on every call.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

from wo_git import runs, tickets
from wo_git.git import Repo, run_git
from wo_git.types import CommitId

CACHE_NAME = "list-cache.json"
_FIELDS = ("slug", "title", "base", "round", "state", "status")
_VERSION = 2


def _digest(oid: str, facts: dict[str, Any]) -> str:
    text = "\0".join([oid, *(repr(facts.get(k)) for k in _FIELDS)])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _read(path: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("records"), dict):
        return {}
    records: dict[str, dict[str, Any]] = data["records"]
    return records


def _valid(oid: str, entry: object) -> bool:
    return (isinstance(entry, dict) and all(k in entry for k in _FIELDS) and isinstance(entry.get("round"), int)
            and entry.get("digest") == _digest(oid, entry))


def refs_under(repo: Repo, prefix: str) -> dict[str, str]:
    """``{ref name: commit id}`` for the direct (not symbolic) refs under ``prefix`` (ending in ``/``).

    ``git for-each-ref PREFIX`` reads only that part of the ref store, where
    :meth:`Repo.list_refs` visits every ref (a busy repository has a branch
    and a record per ticket). Raises :class:`~wo_git.errors.WoGitError` if git fails.
    """
    out = run_git("for-each-ref", "--format=%(objectname) %(symref) %(refname)", prefix,
                  cwd=repo.common_dir).stdout.decode()
    refs: dict[str, str] = {}
    for line in out.splitlines():
        oid, symref, name = line.split(" ", 2)
        if not symref:
            refs[name] = oid
    return refs


def summaries(repo: Repo) -> list[tickets.Ticket]:
    """Every ticket, ascending by id, with ``events`` empty and ``branch_tip`` unset.

    The same ``id, slug, title, base, round, state, status, tip`` as
    :func:`wo_git.tickets.list_all`. Raises what :func:`wo_git.tickets.load`
    raises for a record it has to read from git.
    """
    records: list[tuple[int, CommitId]] = []
    for name, oid in refs_under(repo, tickets.RECORD_PREFIX).items():
        tail = name[len(tickets.RECORD_PREFIX):]
        if tail.isdigit():
            records.append((int(tail), CommitId(oid)))
    records.sort()
    path = str(repo.wo_dir / CACHE_NAME)
    cache = _read(path)
    fresh: dict[str, dict[str, Any]] = {}
    out: list[tickets.Ticket] = []
    for tid, oid in records:
        entry = cache.get(oid)
        if not _valid(oid, entry):
            tk = tickets.load(repo, tid)
            state = "open" if tk.state == "running" else tk.state
            entry = {"slug": tk.slug, "title": tk.title, "base": tk.base, "round": tk.round, "state": state,
                     "status": tk.status}
            entry["digest"] = _digest(oid, entry)
        assert isinstance(entry, dict)
        fresh[oid] = entry
        state = entry["state"]
        if state == "open" and runs.is_running(repo, tid):
            state = "running"
        out.append(tickets.Ticket(id=tid, slug=entry["slug"], title=entry["title"], base=entry["base"],
                                  round=entry["round"], state=state, status=entry["status"], tip=oid,
                                  branch_tip=None))
    if fresh.keys() != cache.keys() or any(cache[k] is not v for k, v in fresh.items()):
        _write(repo, path, fresh)
    return out


def _write(repo: Repo, path: str, records: dict[str, dict[str, Any]]) -> None:
    """Replace the cache atomically; a failure to write only costs the next call time."""
    try:
        repo.wo_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=repo.wo_dir, prefix=".list-cache-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": _VERSION, "records": records}, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        pass
