"""``wo-git show`` answered from what it printed last, while the refs it read are unchanged.

A review packet (:mod:`wo_git.tickets.packet`) is a function of four refs:
the ticket's record, its branch, its base branch (the committed config and
the merge base) and, for a ``GUARD_REJECTED`` round, the refused commit
kept on ``refs/wo-local/rounds/NNNN-rR``. Everything else it shows comes
from commits those refs reach, which never change. So ``show ID`` (the
latest round, not ``--full``) stores its text and ``--json`` output in
``<git-common-dir>/wo/show/NNNN.json`` together with those refs' ids, and
the next ``show ID`` prints it if one ``git cat-file --batch-check`` finds
the same ids: no libgit2, no config parsing, no diff. A running ticket is
never stored nor served (its state is the run lock's, read each time). A
file whose digest does not match its content is ignored and rewritten.
"""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING

from wo_git import runs, tickets
from wo_git.git import Repo
from wo_git.tickets.listing import replace_file

if TYPE_CHECKING:
    from pathlib import Path

_VERSION = 1


def _path(repo: Repo, ticket: int) -> Path:
    return repo.wo_dir / "show" / f"{tickets.ticket_label(ticket)}.json"


def ref_names(tk: tickets.Ticket) -> list[str]:
    """The refs a packet of ``tk``'s latest round is read from (see the module docstring)."""
    from wo_git.runs.postrun import refused_ref

    return [tk.record, tk.branch_ref, f"refs/heads/{tk.base}", refused_ref(tk, tk.round)]


def _digest(body: dict[str, object]) -> str:
    return f"{zlib.crc32(json.dumps(body, sort_keys=True).encode()):08x}"


def lookup(repo: Repo, ticket: int, as_json: bool) -> str | None:
    """The stored output of ``show ticket`` (``--json`` or text) if its refs are unchanged, else ``None``."""
    try:
        with open(_path(repo, ticket), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return None
    body = {k: data.get(k) for k in ("refs", "state", "text", "json")}
    refs = body["refs"]
    if data.get("digest") != _digest(body) or not isinstance(refs, dict) or not refs:
        return None
    if repo.ref_ids(list(refs)) != refs:
        return None
    if body["state"] == "open" and runs.is_running(repo, ticket):
        return None
    out = body["json" if as_json else "text"]
    return out if isinstance(out, str) else None


def store(repo: Repo, tk: tickets.Ticket, before: dict[str, str | None], text: str, as_json: str) -> None:
    """Keep ``show``'s output of ``tk``'s latest round, read while the refs were ``before``.

    Kept only if the refs still have those ids (nothing moved while the
    packet was built), ``before`` agrees with the record and branch ``tk``
    was loaded from, and the ticket is not running. A failure to write only
    costs the next call time.
    """
    names = ref_names(tk)
    if (tk.state == "running" or list(before) != names or before[tk.record] != tk.tip
            or before[tk.branch_ref] != tk.branch_tip or repo.ref_ids(names) != before):
        return
    body: dict[str, object] = {"refs": before, "state": tk.state, "text": text, "json": as_json}
    replace_file(_path(repo, tk.id), json.dumps({"version": _VERSION, **body, "digest": _digest(body)}).encode())
