"""Opening a ticket as ``wo-git open`` and the MCP ``open`` tool do it: config, remote ids, the result.

One core function for both front ends, so their output has the same fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from wo_git import tickets
from wo_git.config import Config, load_config
from wo_git.git import Repo
from wo_git.remote import ids as remote_ids


@dataclass
class OpenResult:
    """The opened ticket, the config in force on its base, and where its id came from."""

    ticket: tickets.Ticket
    cfg: Config
    opened: remote_ids.Opened | None
    """set when a remote was in use (``--remote`` or the config's ``remote``)"""

    def to_json(self) -> dict[str, Any]:
        """``id``, ``slug``, ``branch``, ``work_file``, ``report_file``, ``base``, ``commit``;
        with a remote in use also ``remote`` and ``offline``."""
        tk, cfg = self.ticket, self.cfg
        data: dict[str, Any] = {"id": tk.id, "slug": tk.slug, "branch": tk.branch, "work_file": tk.work_path(cfg),
                                "report_file": tk.report_path(cfg), "base": tk.base, "commit": tk.tip}
        if self.opened:
            data |= {"remote": self.opened.remote, "offline": self.opened.offline}
        return data

    @property
    def offline_note(self) -> str | None:
        """One line when a remote was meant to allocate the id but could not be reached."""
        return remote_ids.describe(self.opened) if self.opened and self.opened.offline else None


def open_ticket(
    repo: Repo, req: tickets.OpenRequest, remote: str | None = None, here: str | None = None
) -> OpenResult:
    """Open a ticket from ``req`` with the config committed on its base (default: the checked-out branch).

    The base is ``req.base``, else the config's ``base``, else ``here`` (the
    branch checked out where the command runs: a linked worktree's own
    branch), else the main worktree's branch.

    ``remote`` (or the config's ``remote``) allocates the id on that remote
    (:func:`wo_git.remote.ids.open_on_remote`); otherwise locally
    (:func:`wo_git.tickets.open_ticket`). Raises what those raise.
    """
    base_branch = req.base or (here if here and repo.branch_exists(here) else None) or repo.head_branch()
    cfg = load_config(repo, base_branch if base_branch and repo.branch_exists(base_branch) else None)
    if req.base is None and here:
        req = dataclasses.replace(req, base=cfg.base or base_branch)
    remote = remote or cfg.remote
    opened = remote_ids.open_on_remote(repo, cfg, req, remote) if remote else None
    tk = opened.ticket if opened else tickets.open_ticket(repo, cfg, req)
    return OpenResult(tk, cfg, opened)
