"""``wo-git list`` without walking every ticket's history: caches git can rebuild.

Two layers, each of which can only cost time when it is wrong, never change
the answer:

- **The record cache**, ``<git-common-dir>/wo/list-cache.json``: each
  ticket's facts (slug, title, base, round, state, status) keyed by the
  record ref's commit id. A commit never changes and the facts are a
  function of the commits below it, so an entry can only be stale by being
  absent: a record that moved has a new id and is read from git
  (:func:`wo_git.tickets.load`) and cached again.
- **The index**, ``list-open.json`` and ``list-closed.json`` in the same
  folder: the rows of the unmerged (open, reported) and of the closed
  (accepted, rejected) tickets, stamped with the *fingerprint* of the ref
  store they were read from: ``(mtime_ns, inode, size)`` of the loose
  record folder ``refs/wo/tickets`` and of ``packed-refs``. git changes a
  ref by writing ``NAME.lock`` and renaming it over ``NAME`` (or by
  rewriting ``packed-refs`` the same way), which changes the folder's or
  the file's stamp, so an unchanged fingerprint means unchanged records
  and ``list`` answers from the open index alone: no ref enumeration, no
  libgit2, a cost that does not grow with the closed tickets.
  Like git's own index ("racy git", Documentation/technical/racy-git.txt),
  a stamp from the last second is not trusted (a second change within the
  file system's timestamp granularity could leave it unchanged): such an
  index is not written, and the next ``list`` reads the refs again.
  A ref store git does not keep in files (``extensions.refStorage =
  reftable``) has no fingerprint and always takes the reading path.

Every file carries a digest of its own content; one that does not match (or
is not valid JSON, or has another version) is ignored and rebuilt.
``running`` is never cached: it is the run lock's state, checked on every
call.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from pathlib import Path
from typing import Any

from wo_git import runs, tickets
from wo_git.git import Repo
from wo_git.types import CommitId

CACHE_NAME = "list-cache.json"
OPEN_INDEX = "list-open.json"
CLOSED_INDEX = "list-closed.json"
CLOSED = ("accepted", "rejected")
RACY_NS = 1_000_000_000
"""a stamp younger than this (ns) when the refs were read is not trusted"""
_FIELDS = ("slug", "title", "base", "round", "state", "status")
_VERSION = 3
_INDEX_VERSION = 2

Row = list[Any]
"""An index row: ``[id, record commit id, slug, title, base, round, state, status]``."""


def _digest(oid: str, facts: dict[str, Any]) -> str:
    text = "\0".join([oid, *(repr(facts.get(k)) for k in _FIELDS)])
    return f"{zlib.crc32(text.encode()):08x}"


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _read(path: Path) -> dict[str, dict[str, Any]]:
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("records"), dict):
        return {}
    records: dict[str, dict[str, Any]] = data["records"]
    return records


def _valid(oid: str, entry: object) -> bool:
    return (isinstance(entry, dict) and all(k in entry for k in _FIELDS) and isinstance(entry.get("round"), int)
            and entry.get("digest") == _digest(oid, entry))


def fingerprint(common_dir: Path) -> list[list[int] | None] | None:
    """The record refs' stamp: ``[[mtime_ns, inode, size] or None] * 2`` for the folder and ``packed-refs``.

    ``None`` when the ref store is not files git renames into place (a
    ``reftable`` folder exists). A missing folder or file stamps as ``None``.
    """
    if (common_dir / "reftable").exists():
        return None
    out: list[list[int] | None] = []
    for path in (common_dir / tickets.RECORD_PREFIX.rstrip("/"), common_dir / "packed-refs"):
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append([st.st_mtime_ns, st.st_ino, st.st_size])
    return out


def _index_digest(stamp: object, rows: bytes) -> str:
    return f"{zlib.crc32(rows, zlib.crc32(json.dumps([_INDEX_VERSION, stamp]).encode())):08x}"


def _read_index(path: Path, stamp: object) -> list[Row] | None:
    """The rows of an index written for ``stamp``, or ``None`` if it is missing, stale or damaged.

    The file is a header line ``{"version", "fingerprint", "digest"}`` and
    the rows as one JSON array; the digest covers the fingerprint and the
    rows' bytes.
    """
    try:
        with open(path, "rb") as f:
            head, _, body = f.read().partition(b"\n")
        header = json.loads(head)
        if (stamp is None or not isinstance(header, dict) or header.get("version") != _INDEX_VERSION
                or header.get("fingerprint") != stamp or header.get("digest") != _index_digest(stamp, body)):
            return None
        rows = json.loads(body)
    except (OSError, ValueError):
        return None
    return rows if isinstance(rows, list) else None


def _write_index(path: Path, stamp: object, rows: list[Row]) -> None:
    body = json.dumps(rows, separators=(",", ":")).encode()
    head = json.dumps({"version": _INDEX_VERSION, "fingerprint": stamp, "digest": _index_digest(stamp, body)})
    replace_file(path, head.encode() + b"\n" + body)


def _ticket(row: Row) -> tickets.Ticket:
    tid, oid, slug, title, base, round_, state, status = row
    return tickets.Ticket(id=tid, slug=slug, title=title, base=base, round=round_, state=state, status=status,
                          tip=CommitId(oid), branch_tip=None)


def summaries(repo: Repo, *, closed: bool = True) -> list[tickets.Ticket]:
    """The tickets, ascending by id, with ``events`` empty and ``branch_tip`` unset.

    ``closed=False`` leaves out accepted and rejected tickets; while the
    record refs are unchanged since the index was written this reads only
    the unmerged tickets' rows. The same ``id, slug, title, base, round,
    state, status, tip`` as :func:`wo_git.tickets.list_all`, ``running``
    from the run locks. Raises what :func:`wo_git.tickets.load` raises for a
    record it has to read from git.
    """
    stamp = fingerprint(repo.common_dir)
    rows = _read_index(repo.wo_dir / OPEN_INDEX, stamp)
    if rows is not None and closed:
        more = _read_index(repo.wo_dir / CLOSED_INDEX, stamp)
        rows = None if more is None else sorted(rows + more)
    if rows is None:
        rows = _read_refs(repo, stamp)
        if not closed:
            rows = [r for r in rows if r[6] not in CLOSED]
    out = [_ticket(r) for r in rows]
    locked = runs.ids_with(repo, ".lock")
    for tk in out:
        if tk.state == "open" and tk.id in locked and runs.is_running(repo, tk.id):
            tk.state = "running"
    return out


def _read_refs(repo: Repo, stamp: list[list[int] | None] | None) -> list[Row]:
    """Every ticket's row from the record refs and the record cache; writes the caches and the index."""
    now = time.time_ns()
    records: list[tuple[int, CommitId]] = []
    for name, oid in repo.refs_under(tickets.RECORD_PREFIX).items():
        tail = name[len(tickets.RECORD_PREFIX):]
        if tail.isdigit():
            records.append((int(tail), CommitId(oid)))
    records.sort()
    path = repo.wo_dir / CACHE_NAME
    cache = _read(path)
    fresh: dict[str, dict[str, Any]] = {}
    rows: list[Row] = []
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
        rows.append([tid, oid, *(entry[k] for k in _FIELDS)])
    if fresh.keys() != cache.keys() or any(cache[k] is not v for k, v in fresh.items()):
        replace_file(path, json.dumps({"version": _VERSION, "records": fresh}, separators=(",", ":")).encode())
    if stamp is not None and all(s is None or now - s[0] > RACY_NS for s in stamp):
        for name, part in ((OPEN_INDEX, [r for r in rows if r[6] not in CLOSED]),
                           (CLOSED_INDEX, [r for r in rows if r[6] in CLOSED])):
            _write_index(repo.wo_dir / name, stamp, part)
    return rows


def replace_file(path: Path, data: bytes) -> None:
    """Replace a cache file atomically (a temporary file renamed over it); a failure to write
    only costs the next call time, so :class:`OSError` is swallowed."""
    try:
        import tempfile  # only when writing: `list` and `show` usually only read

        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass
