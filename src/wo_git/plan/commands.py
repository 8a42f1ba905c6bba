"""``wo-git plan ...``: the click front end of :mod:`wo_git.plan` (options, output, exit codes)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wo_git import lazy
from wo_git.errors import InvalidInput

if TYPE_CHECKING:  # loaded on first use at run time (wo_git.lazy)
    from wo_git.git import Repo
    from wo_git.plan import drive, state, store
    from wo_git.plan import render as render_mod
else:
    drive = lazy.module("wo_git.plan.drive")
    state = lazy.module("wo_git.plan.state")
    store = lazy.module("wo_git.plan.store")
    render_mod = lazy.module("wo_git.plan.render")


def render(st: state.PlanStatus) -> str:
    """The plan's state as text (:func:`wo_git.plan.render.render`)."""
    return render_mod.render(st)

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts and agents.")


def _repo() -> Repo:
    from wo_git.git import Repo

    return Repo(os.getcwd())


def _echo(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@click.group("plan")
def plan() -> None:
    """Plans: many tickets in phases and dependencies, run to the end."""


@plan.command("apply")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change; record nothing.")
@JSON
def apply_(file: str, dry_run: bool, as_json: bool) -> None:
    """Check a plan file and record it on refs/wo/plans/NAME (only what changed)."""
    try:
        text = Path(file).read_text() if file != "-" else sys.stdin.read()
    except OSError as err:
        raise InvalidInput(f"cannot read {file}: {err.strerror}") from None
    r = store.apply(_repo(), text, origin=file, dry_run=dry_run)
    parts = [f"{k}: {', '.join(v)}" for k, v in (("added", r.added), ("changed", r.changed),
             ("removed", r.removed), ("kept as opened", r.kept)) if v]
    verb = "would record" if dry_run else ("recorded" if r.commit else "unchanged")
    _echo(as_json, r.to_json(), f"plan {r.name}: {verb}" + (f" ({r.commit[:10]})" if r.commit else "")
          + ("\n  " + "\n  ".join(parts) if parts else "\n  nothing changed")
          + ("" if dry_run else f"\n  next: wo-git plan run {r.name} --detach; wo-git wait --plan {r.name}"))


@plan.command("show")
@click.argument("name", required=False)
@click.option("--watch", is_flag=True, help="Keep printing changes live, with progress, until done.")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between looks with --watch.")
@JSON
def show(name: str | None, watch: bool, interval: float, as_json: bool) -> None:
    """Phases, tickets, their states, what each waits for, and decisions due."""
    repo = _repo()
    name = store.resolve_name(repo, name)
    st = state.compute(repo, name)[2]
    if not watch:
        _echo(as_json, st.to_json(), render(st))
        return
    click.echo(render(st))
    seen = {v.key: (v.state, v.status, v.round, v.decision) for v in st.tickets}
    t0 = time.monotonic()
    with click.progressbar(length=len(st.tickets), label=f"plan {name}: closed",
                           show_pos=True) as bar:
        bar.update(drive.closed_count(st))
        while not (st.done or st.stuck):
            time.sleep(interval)
            st = state.compute(repo, name)[2]
            for v in st.tickets:
                now = (v.state, v.status, v.round, v.decision)
                if seen.get(v.key) != now:
                    el = int(time.monotonic() - t0)
                    what = f"needs {v.decision}" if v.decision else (v.action or "")
                    click.echo(f"\n[{el // 60:02d}:{el % 60:02d}] {v.key}: {v.state} {v.status or ''} "
                               f"r{v.round} {what}".rstrip())
                    seen[v.key] = now
            bar.update(drive.closed_count(st) - bar.pos)
    click.echo(render(st))


@plan.command("run")
@click.argument("name", required=False)
@click.option("--detach", is_flag=True, help="Drive in the background until the plan is done; return at once.")
@click.option("--keep-going", is_flag=True, help="Wait through the architect's decisions until done.")
@JSON
def run(name: str | None, detach: bool, keep_going: bool, as_json: bool) -> None:
    """Open and start ready tickets (max_parallel, no overlapping scopes), retry, review; repeat."""
    repo = _repo()
    name = store.resolve_name(repo, name)
    if detach:
        pid, log = drive.detach(repo, name)
        _echo(as_json, {"name": name, "pid": pid, "log": log},
              f"driving plan {name} in the background (pid {pid})\n  log: {log}\n  wo-git wait --plan {name}")
        return
    st = drive.run_plan(repo, name, keep_going=keep_going,
                        progress=(lambda s: None) if as_json else (lambda s: click.echo(s, err=True)))
    _echo(as_json, st.to_json(), render(st))
