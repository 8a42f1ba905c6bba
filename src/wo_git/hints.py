"""State errors that name the ticket's state and a next command that works in it.

Every command that a ticket's state forbids raises :func:`bad_state`, whose
one line reads ``ticket 0007 is running (round 2): cannot revise it now;
`wo-git wait 7` or `wo-git abort 7```. The commands offered per state
(:func:`next_commands`) are the ones that state allows:

=========  ===========================================================
open       ``wo-git run ID`` (and ``wo-git show ID``)
running    ``wo-git wait ID`` or ``wo-git abort ID``
reported   ``wo-git show ID``, then ``wo-git accept ID`` (COMPLETED),
           ``wo-git revise ID --task TEXT``, ``wo-git reject ID --reason TEXT``
accepted   ``wo-git show ID`` (more work: ``wo-git open``)
rejected   ``wo-git show ID`` (more work: ``wo-git open``)
=========  ===========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wo_git.errors import BadState

if TYPE_CHECKING:
    from wo_git.tickets import Ticket


def describe(tk: Ticket) -> str:
    """The state in words: ``running (round 2)``, ``reported (COMPLETED, round 1)``, ``accepted``."""
    if tk.state == "reported":
        return f"reported ({tk.status or 'no status'}, round {tk.round})"
    if tk.state in ("open", "running"):
        return f"{tk.state} (round {tk.round})"
    return tk.state


def next_commands(tk: Ticket) -> list[str]:
    """Commands that work in the ticket's current state, most likely first (module docstring)."""
    i = tk.id
    if tk.state == "open":
        return [f"wo-git run {i}"]
    if tk.state == "running":
        return [f"wo-git wait {i}", f"wo-git abort {i}"]
    if tk.state == "reported":
        if tk.status == "COMPLETED":
            return [f"wo-git show {i}", f"wo-git accept {i}", f"wo-git revise {i} --task TEXT"]
        if tk.status == "GUARD_REJECTED":
            return [f"wo-git show {i}", f"wo-git revise {i} --task TEXT", f"wo-git reject {i} --reason TEXT"]
        return [f"wo-git show {i}", f"wo-git revise {i} --task TEXT", f"wo-git accept {i} --force"]
    return [f"wo-git show {i}"]


def hint(tk: Ticket) -> str:
    """``\\`wo-git wait 7\\` or \\`wo-git abort 7\\```: the next commands, quoted."""
    cmds = [f"`{c}`" for c in next_commands(tk)]
    text = cmds[0] if len(cmds) == 1 else ", ".join(cmds[:-1]) + " or " + cmds[-1]
    if tk.state in ("accepted", "rejected"):
        text += " (for more work, `wo-git open` a new ticket)"
    return text


def bad_state(tk: Ticket, cannot: str) -> BadState:
    """The error for a command the ticket's state forbids: state, what cannot be done, what to run.

    ``cannot`` says what was refused (``"nothing to run"``, ``"cannot revise
    it now"``). Returns the exception for the caller to raise.
    """
    return BadState(f"ticket {tk.label} is {describe(tk)}: {cannot}; {hint(tk)}")
