"""The click layer: options, output for people or ``--json`` for agents, exit codes.

Each command opens the repository, calls one core function, and prints. All
errors are :class:`~wo_git.errors.WoGitError` subclasses, turned into one
line on stderr and a stable exit code by :func:`main`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wo_git import __version__, errors, lazy

if TYPE_CHECKING:  # the real imports, for type checkers; at run time each loads on first use
    from wo_git import config as config_mod
    from wo_git import doctor as doctor_mod
    from wo_git import runs, tickets
    from wo_git.git import Repo
    from wo_git.guard import ondemand
    from wo_git.plan import drive as plan_drive
    from wo_git.plan import render as plan_render
    from wo_git.plan import store as plan_store
    from wo_git.remote import claims as remote_claims
    from wo_git.remote import follow as remote_follow
    from wo_git.remote import ids as remote_ids
    from wo_git.remote import sync as remote_sync
    from wo_git.remote import worker as remote_worker
    from wo_git.runs import run as run_mod
    from wo_git.runs import supervise, worktrees
    from wo_git.runs.supervise import Outcome
    from wo_git.setup import init as init_mod
    from wo_git.tickets import listing, opening, packet, showcache, verdict
    from wo_git.tickets import review as review_mod
    from wo_git.tickets import update as update_mod
else:
    doctor_mod = lazy.module("wo_git.doctor")
    opening = lazy.module("wo_git.tickets.opening")
    packet = lazy.module("wo_git.tickets.packet")
    tickets = lazy.module("wo_git.tickets")
    run_mod = lazy.module("wo_git.runs.run")
    ondemand = lazy.module("wo_git.guard.ondemand")
    plan_drive = lazy.module("wo_git.plan.drive")
    plan_render = lazy.module("wo_git.plan.render")
    plan_store = lazy.module("wo_git.plan.store")
    remote_claims = lazy.module("wo_git.remote.claims")
    remote_follow = lazy.module("wo_git.remote.follow")
    remote_ids = lazy.module("wo_git.remote.ids")
    remote_sync = lazy.module("wo_git.remote.sync")
    remote_worker = lazy.module("wo_git.remote.worker")
    config_mod = lazy.module("wo_git.config")
    init_mod = lazy.module("wo_git.setup.init")
    listing = lazy.module("wo_git.tickets.listing")
    showcache = lazy.module("wo_git.tickets.showcache")
    runs = lazy.module("wo_git.runs")
    review_mod = lazy.module("wo_git.tickets.review")
    supervise = lazy.module("wo_git.runs.supervise")
    update_mod = lazy.module("wo_git.tickets.update")
    verdict = lazy.module("wo_git.tickets.verdict")
    worktrees = lazy.module("wo_git.runs.worktrees")

from wo_git.plan.commands import plan as plan_group

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts and agents.")


def _workdir() -> str:
    try:
        return os.getcwd()
    except FileNotFoundError:
        # e.g. the shell stayed in a ticket worktree that accept/reject removed
        gone = os.environ.get("PWD") or "the current directory"
        raise errors.InvalidInput(
            f"{gone} no longer exists (a removed ticket worktree?); cd into your repository's main checkout "
            "and run the command again") from None


def _repo() -> Repo:
    cwd = _workdir()
    from wo_git.git import Repo

    return Repo(cwd)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except FileNotFoundError:
        return None


def _note_removed_cwd(cwd: str | None, repo: Repo) -> None:
    """Say so when the command removed the directory the shell is in (the ticket's own worktree)."""
    if cwd is not None and not os.path.isdir(cwd):
        click.echo(f"wo-git: your shell's directory {cwd} was the ticket's worktree and is now removed: "
                   f"cd {repo.root or repo.common_dir}", err=True)


def _emit(as_json: bool, data: Any, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON (``data`` may be a callable making it) or ``text`` (a string or a callable)."""
    if as_json:
        click.echo(json.dumps(data() if callable(data) else data, indent=2, default=str))
    else:
        click.echo(text() if callable(text) else text)


def _read_task(task: str | None, task_file: str | None) -> str:
    if task is not None and task_file is not None:
        raise click.UsageError("give the task once: --task or --task-file")
    if task_file is not None:
        try:
            return Path(task_file).read_text() if task_file != "-" else sys.stdin.read()
        except OSError as err:
            raise errors.InvalidInput(f"cannot read --task-file {task_file}: {err.strerror}") from None
    if task is not None:
        return task
    if not sys.stdin.isatty():
        return sys.stdin.read()
    return ""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, package_name="wo-git")
def cli() -> None:
    """Git-native work orders between an architect and a coding-agent executor.

    Exit codes: 0 success, 1 error, 2 usage, 3 guard rejection, 4 merge
    conflict, 5 executor failure, 6 stale ref (retry), 7 timed out, still
    running (wait again), 130 interrupted.
    """


class _InitCommand(click.Command):
    """``init``, whose epilog (the guard's pre-commit entry) is built only when its help is shown."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from wo_git.setup.precommit_config import HOOK_REPO

        self.epilog = "\b\nThe guard's entry under `repos:` in .pre-commit-config.yaml:\n" + "\n".join(
            ("- " if i == 0 else "  ") + ln for i, ln in enumerate(HOOK_REPO.splitlines()))
        super().format_epilog(ctx, formatter)


@cli.command(cls=_InitCommand)
@click.option("--no-hook", is_flag=True, help="Do not run `pre-commit install`.")
def init(no_hook: bool) -> None:
    """Write .wo-git.toml, AGENTS.md rules, the architect skill, and the guard hook.

    Existing files are kept valid: the guard is added to .pre-commit-config.yaml
    as YAML in the file's own style and checked with pre-commit's validation
    (nothing is written if the file is invalid). Running it twice changes nothing.
    """
    for line in init_mod.init(_repo(), install_hook=not no_hook):
        click.echo(line)


@cli.command("open")
@click.argument("slug")
@click.option("--title", required=True, help="One line naming the work.")
@click.option("--task", help="What to do (or --task-file, or stdin).")
@click.option("--task-file", type=click.Path(dir_okay=False), help="Read the task from a file ('-' for stdin).")
@click.option("--criteria", multiple=True, help="A success criterion (repeatable).")
@click.option("--context", default="", help="Background the executor needs.")
@click.option("--scope", multiple=True, help="Gitignore-style pattern the executor may write (repeatable).")
@click.option("--allow", multiple=True, help="Grant a protected (non-control) path for this ticket.")
@click.option("--base", help="Branch to open from and merge into (default: the checked-out branch).")
@click.option("--executor", help="Executor profile for this ticket.")
@click.option("--model", help="Model for the executor.")
@click.option("--remote", "remote_name", help="Allocate the id on this git remote (default: the config's `remote`).")
@JSON
def open_(slug: str, title: str, task: str | None, task_file: str | None, criteria: tuple[str, ...],
          context: str, scope: tuple[str, ...], allow: tuple[str, ...], base: str | None,
          executor: str | None, model: str | None, remote_name: str | None, as_json: bool) -> None:
    """Open a ticket: a work order committed on a new branch wo/NNNN-SLUG."""
    text = _read_task(task, task_file)
    req = tickets.OpenRequest(slug=slug, title=title, task=text, criteria=criteria, scope=scope, allow=allow,
                              base=base, executor=executor, model=model, context=context)
    res = opening.open_ticket(_repo(), req, remote_name, here=worktrees.checked_out_branch(Path.cwd()))
    tk, cfg, data = res.ticket, res.cfg, res.to_json()
    if res.offline_note:
        click.echo(f"wo-git: {res.offline_note}", err=True)
    _emit(as_json, data, f"opened {tk.label} on {tk.branch} (from {tk.base})\n"
          f"  work order: {tk.work_path(cfg)}\n  report due: {tk.report_path(cfg)}\n"
          f"  next: wo-git run {tk.id} [--executor NAME | -- ARGV...]")


def _live_printer(tty: bool) -> Callable[[Outcome, float], None]:
    """On a terminal, one status line redrawn twice a second; otherwise a plain line per tool call."""
    last = [0.0]
    seen = [0]

    def show(out: Outcome, elapsed: float) -> None:
        if not tty:
            for tool in out.tools[seen[0]:]:
                click.echo(f"[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] {tool}", err=True)
            seen[0] = len(out.tools)
            return
        now = time.monotonic()
        if now - last[0] < 0.5:
            return
        last[0] = now
        width = shutil.get_terminal_size((100, 20)).columns - 1
        click.echo("\r\033[K" + supervise.status_line(out, elapsed)[:width], nl=False, err=True)

    return show


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("ticket")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@click.option("--executor", help="Profile: command, opencode, codex, claude, aider, or one from the config.")
@click.option("--model", help="Model for the executor.")
@click.option("--timeout", type=float, help="Wall-clock limit, seconds.")
@click.option("--idle-timeout", type=float, help="End the run after this many seconds without output.")
@click.option("--new-session", is_flag=True, help="Do not resume the previous round's session.")
@click.option("--session", help="Resume this executor session id.")
@click.option("--detach", is_flag=True, help="Run in the background and return at once.")
@click.option("--no-sandbox", is_flag=True,
              help="Run the executor without bubblewrap, with the user's full access (config: sandbox).")
@click.option("--detached-child", is_flag=True, hidden=True)
@click.option("--queued-at", type=int, hidden=True)
@JSON
def run(ticket: str, argv: tuple[str, ...], executor: str | None, model: str | None,
        timeout: float | None, idle_timeout: float | None, new_session: bool, session: str | None,
        detach: bool, no_sandbox: bool, detached_child: bool, queued_at: int | None, as_json: bool) -> None:
    """Run the executor in the ticket's worktree; commit its work and report.

    With `-- ARGV...` the executor is that command (the `command` profile).
    """
    repo = _repo()
    opts = run_mod.RunOptions(argv=list(argv), executor=executor, model=model, timeout=timeout,
                              idle_timeout=idle_timeout, new_session=new_session, session=session,
                              no_sandbox=no_sandbox, queued_at=queued_at)
    if detach:
        launch = run_mod.detach(repo, ticket, opts)
        _emit(as_json, {"id": launch.ticket, "pid": launch.pid, "log": launch.log, "worktree": launch.worktree},
              f"started {launch.ticket:04d} in the background (pid {launch.pid})\n  log: {launch.log}\n"
              f"  wo-git wait {launch.ticket}")
        return
    quiet = as_json or detached_child
    tty = supervise.is_tty() and not quiet
    result = run_mod.run(
        repo, ticket, opts, detached=detached_child,
        progress=(lambda s: None) if as_json else (lambda s: click.echo(s, err=True)),
        live=_live_printer(tty) if not quiet else None,
    )
    if tty:
        click.echo("\r\033[K", nl=False, err=True)
    tk = tickets.load(repo, ticket)
    cfg = run_mod.ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    p = packet.build(repo, cfg, tk)
    _emit(as_json, p.to_json() | {"commit": result.commit}, lambda: packet.render(p, brief=True))
    if p.run.get("stopped by") == "interrupted" and not detached_child:
        # Ctrl-C: the work so far is committed (the packet above); 130 as a shell expects.
        click.echo(f"wo-git: interrupted; the work so far is committed and reported: `wo-git show {tk.id}`",
                   err=True)
        sys.exit(errors.EXIT_INTERRUPTED)
    _exit_for_status([result.status])


def _exit_for_status(statuses: list[str | None]) -> None:
    if any(s == "GUARD_REJECTED" for s in statuses):
        sys.exit(errors.EXIT_GUARD)
    if any(s != "COMPLETED" for s in statuses):
        sys.exit(errors.EXIT_EXECUTOR)


@cli.command()
@click.argument("tickets_", metavar="ID...", nargs=-1)
@click.option("--timeout", type=float, help="Give up after this many seconds: exit 7, still running (wait again).")
@click.option("--any", "any_", is_flag=True, help="Return as soon as any one of the tickets has its report.")
@click.option("--plan", "plan_name", metavar="NAME",
              help="Drive the plan NAME until a ticket needs a decision or the plan is done.")
@JSON
def wait(tickets_: tuple[str, ...], timeout: float | None, any_: bool, plan_name: str | None,
         as_json: bool) -> None:
    """Block until each ticket has a report, then print each brief packet.

    Uses no CPU while waiting. Exit 0 if all are COMPLETED, 3 if any was
    guard-rejected, 5 otherwise; 7 if --timeout ran out first (the tickets
    still running are listed; `--json` prints {"timed_out", "reported",
    "pending"} then, else a list of packets). With --plan NAME: exit 0 with
    the decisions due (or the plan done), 7 on timeout.
    """
    if plan_name is not None:
        if tickets_:
            raise click.UsageError("give ticket ids or --plan, not both")
        repo = _repo()
        st = plan_drive.wait(repo, plan_store.resolve_name(repo, plan_name), timeout)
        if st is None:
            click.echo(f"timed out after {timeout:g} s; plan {plan_name} needs no decision yet", err=True)
            sys.exit(errors.EXIT_TIMEOUT)
        _emit(as_json, st.to_json(), lambda: plan_render.render(st))
        return
    if not tickets_:
        raise click.UsageError("give ticket ids (wo-git wait 7 8) or --plan NAME")
    repo = _repo()
    res = remote_follow.wait_for(repo, tickets_, timeout=timeout, any_=any_, remote=remote_sync.remote_in_use(repo))
    if as_json:
        data: Any = res.to_json() if res.timed_out else [p.to_json() for p in res.reported]
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        for p in res.reported:
            click.echo(packet.render(p, brief=True) + "\n")
        if res.timed_out:
            ids = " ".join(str(t.id) for t in res.pending)
            click.echo(f"timed out after {timeout:g} s; still running: {ids}\n  wait again: wo-git wait {ids}")
    if res.timed_out:
        sys.exit(errors.EXIT_TIMEOUT)
    _exit_for_status(res.statuses)


@cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include accepted and rejected tickets.")
@JSON
def list_(show_all: bool, as_json: bool) -> None:
    """Tickets and their states."""
    repo = _repo()
    items = listing.summaries(repo, closed=show_all or as_json)
    claims = remote_claims.claims_elsewhere(repo, {t.id for t in items if t.state == "open"})
    recorded = runs.ids_with(repo, ".json")
    stale = {t.id for t in items if t.state == "open" and t.id in recorded}

    def text() -> str:
        if not items:
            return remote_sync.no_tickets_hint(repo) or "no tickets"
        return "\n".join(
            f"{t.label}  {t.state:<9} {(t.status or '-'):<15} r{t.round}  {t.branch:<32} {t.title}"
            + _claim_note(claims.get(t.id)) + ("  [run died unreported: wo-git doctor --fix]" if t.id in stale else "")
            for t in items)

    _emit(as_json, lambda: [t.to_json() | {"needs_doctor": t.id in stale} for t in items], text)


def _claim_note(held: tuple[str, remote_claims.Claim] | None) -> str:
    return f"  [claimed on {held[0]} by {held[1].worker}]" if held else ""


cli.add_command(list_, "status")


@cli.command()
@click.argument("ticket")
@click.option("--round", "round_", type=int, help="Show this round (default: the latest).")
@click.option("--full", is_flag=True, help="Print the whole report.")
@JSON
def show(ticket: str, round_: int | None, full: bool, as_json: bool) -> None:
    """The review packet: order, report, diffstat, exit code, guard verdict."""
    repo = _repo()
    latest = round_ is None and not full  # what showcache keeps
    if latest:
        hit = showcache.lookup(repo, tickets.parse_id(ticket), as_json)
        if hit is not None:
            click.echo(hit)
            return
    tk = tickets.load(repo, ticket)
    before = repo.ref_ids(showcache.ref_names(tk)) if latest else {}
    cfg = run_mod.ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    if round_ is not None and not 1 <= round_ <= tk.round:
        raise errors.InvalidInput(f"ticket {tk.label} has rounds 1..{tk.round}")
    p = packet.build(repo, cfg, tk, round_)
    if full and not as_json:
        click.echo(tickets.report_of(repo, cfg, tk, round_) or "no report")
        return
    text, data = packet.render(p), json.dumps(p.to_json(), indent=2, default=str)
    if latest:
        showcache.store(repo, tk, before, text, data)
    click.echo(data if as_json else text)


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("ticket")
@click.argument("pathspecs", nargs=-1)
@click.option("--stat", is_flag=True, help="Only the diffstat.")
@click.option("--round", "round_", type=int, help="Only round N: its report commit against its work-order commit.")
@click.option("--mailbox", is_flag=True, help="Include the ticket's mailbox folder (work files, reports).")
def diff(ticket: str, pathspecs: tuple[str, ...], stat: bool, round_: int | None, mailbox: bool) -> None:
    """The ticket's diff for review: `wo-git diff 7 -- src/`.

    Against its base (git diff BASE...BRANCH); after accept, what was merged.
    The ticket's mailbox folder is left out unless --mailbox.
    """
    out = review_mod.ticket_diff(_repo(), ticket, round_=round_, mailbox=mailbox, pathspecs=pathspecs, stat=stat,
                      cwd=Path(os.getcwd()))
    sys.stdout.buffer.write(out)


@cli.command()
@click.argument("ticket", required=False)
@JSON
def log(ticket: str | None, as_json: bool) -> None:
    """The audit trail from commit trailers (one ticket, or all)."""
    data = tickets.audit_log(_repo(), ticket)
    rows = [f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(int(str(e['time']))))}  {int(str(e['ticket'])):04d}  "
            f"r{e['round']}  {e['event']!s:<7} {e['role']!s:<9} {e['status'] or ''!s:<14} {str(e['commit'])[:10]}  "
            f"{e['subject']}" for e in data]
    _emit(as_json, data, "\n".join(rows) if rows else "no events")


@cli.command()
@click.argument("ticket")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the run goes on.")
@click.option("--round", "round_", type=int, help="This round's output (default: the latest).")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines.")
def logs(ticket: str, follow: bool, round_: int | None, tail: int | None) -> None:
    """The executor's output for the ticket's latest (or given) round."""
    out = sys.stdout.buffer
    for chunk in packet.log_chunks(_repo(), ticket, round_, follow=follow, tail=None if follow else tail):
        out.write(chunk)
        out.flush()


@cli.command()
@click.argument("ticket")
@click.option("--task", help="What to change (or --task-file, or stdin).")
@click.option("--task-file", type=click.Path(dir_okay=False), help="Read the task from a file ('-' for stdin).")
@click.option("--criteria", multiple=True,
              help="Add a success criterion to the ones carried from the last order (repeatable).")
@click.option("--replace-criteria", multiple=True,
              help="Replace the carried criteria with these (repeatable).")
@click.option("--context", default="", help="Background the executor needs for this round.")
@click.option("--scope", multiple=True, help="Replace the scope: a gitignore-style pattern (repeatable).")
@click.option("--allow", multiple=True, help="Replace the grants: a protected (non-control) path (repeatable).")
@click.option("--executor", help="Executor profile from this round on.")
@click.option("--model", help="Model for the executor from this round on.")
@JSON
def revise(ticket: str, task: str | None, task_file: str | None, criteria: tuple[str, ...],
           replace_criteria: tuple[str, ...], context: str, scope: tuple[str, ...], allow: tuple[str, ...],
           executor: str | None, model: str | None, as_json: bool) -> None:
    """A correction order: the next round on the same branch and worktree.

    The order stands alone: it quotes the ticket's task, carries the
    criteria, and gives the last report's status and notes.
    """
    if criteria and replace_criteria:
        raise click.UsageError("give --criteria (adds) or --replace-criteria (replaces), not both")
    repo = _repo()
    tk = tickets.load(repo, ticket)
    cfg = run_mod.ticket_config(repo, tk)
    tk = tickets.load(repo, tk.id, cfg)
    text = _read_task(task, task_file)
    tk = tickets.revise_ticket(repo, cfg, tk, task=text, criteria=list(criteria),
                               replace_criteria=list(replace_criteria) or None, context=context,
                               scope=list(scope) or None, allow=list(allow) or None,
                               executor=executor, model=model)
    _emit(as_json, {"id": tk.id, "round": tk.round, "work_file": tk.work_path(cfg),
                    "report_file": tk.report_path(cfg), "commit": tk.tip},
          f"round {tk.round} of {tk.label}: {tk.work_path(cfg)}\n  next: wo-git run {tk.id}")


@cli.command()
@click.argument("ticket")
@click.option("--presence", type=click.IntRange(0, 5), help="Score 0-5: the report and work exist.")
@click.option("--correctness", type=click.IntRange(0, 5), help="Score 0-5: the work does what was asked.")
@click.option("--completeness", type=click.IntRange(0, 5), help="Score 0-5: every criterion is met.")
@click.option("--quality", type=click.IntRange(0, 5), help="Score 0-5: the code is clean and tested.")
@click.option("--verdict", type=click.Choice(["pass", "fail"]), help="Overall verdict.")
@click.option("--notes", default="", help="What the reviewer found.")
@JSON
def review(ticket: str, presence: int | None, correctness: int | None, completeness: int | None,
           quality: int | None, verdict: str | None, notes: str, as_json: bool) -> None:
    """Commit a reviewer verdict with rubric scores on the ticket."""
    repo = _repo()
    scores = {"presence": presence, "correctness": correctness, "completeness": completeness, "quality": quality}
    oid, path = review_mod.review(repo, ticket, scores=scores, verdict=verdict, notes=notes)
    _emit(as_json, {"id": tickets.parse_id(ticket), "commit": oid, "file": path}, f"review committed: {path}")


@cli.command()
@click.argument("ticket")
@click.option("--force", is_flag=True, help="Accept without a COMPLETED report (recorded).")
@click.option("--squash", is_flag=True, help="One squashed commit instead of a --no-ff merge.")
@click.option("-m", "--message", help="The merge commit's subject.")
@JSON
def accept(ticket: str, force: bool, squash: bool, message: str | None, as_json: bool) -> None:
    """Re-check with the guard and merge the ticket into its base."""
    repo = _repo()
    cwd = _cwd()
    r = remote_follow.accept(repo, ticket, remote=remote_sync.remote_in_use(repo), force=force, squash=squash,
                             message=message)
    _note_removed_cwd(cwd, repo)
    _emit(as_json, {"id": r.ticket, "base": r.base, "merge": r.merge, "verdict": r.verdict, "squash": r.squash,
                    "forced": r.forced, "updated_worktrees": r.updated_worktrees, "leftovers": r.leftovers},
          f"accepted {r.ticket:04d} into {r.base} ({r.merge[:10]}{', squashed' if r.squash else ''})"
          + (f"\n  uncommitted work kept on {r.leftovers}" if r.leftovers else ""))


@cli.command()
@click.argument("ticket")
@JSON
def update(ticket: str, as_json: bool) -> None:
    """Merge the ticket's base into its branch (GitHub's "Update branch").

    A clean merge is committed as wo-git's own (system) commit, which the
    guard accepts. A conflicting one becomes a correction round: the
    executor resolves the conflict markers, then `wo-git accept ID`.
    """
    r = update_mod.update(_repo(), ticket)
    label = f"{r.ticket:04d}"
    text = {
        "up-to-date": f"{label} already has {r.base} ({r.merged[:10]}); next: wo-git accept {r.ticket}",
        "merged": f"merged {r.base} ({r.merged[:10]}) into {label}"
                  + (f"; {r.worktree} moved along" if r.worktree else "") + f"\n  next: wo-git accept {r.ticket}",
        "conflict": f"merging {r.base} into {label} conflicts in: {', '.join(r.conflicts)}\n"
                    f"  round {r.round} asks the executor to resolve it (worktree {r.worktree})\n"
                    f"  next: wo-git run {r.ticket}",
    }[r.outcome]
    _emit(as_json, r.to_json(), text)


@cli.command()
@click.argument("ticket")
@click.option("--reason", required=True, help="Why the ticket is closed without merging.")
@JSON
def reject(ticket: str, reason: str, as_json: bool) -> None:
    """Close a ticket without merging; the record keeps its history."""
    repo = _repo()
    cwd = _cwd()
    oid, leftovers = verdict.reject(repo, ticket, reason=reason)
    _note_removed_cwd(cwd, repo)
    tid = tickets.parse_id(ticket)
    _emit(as_json, {"id": tid, "verdict": oid, "leftovers": leftovers},
          f"rejected {tid:04d}" + (f"; uncommitted work kept on {leftovers}" if leftovers else ""))


@cli.command()
@click.argument("ticket")
@JSON
def abort(ticket: str, as_json: bool) -> None:
    """Stop a running executor; its work so far is committed and reported."""
    repo = _repo()
    tk = run_mod.abort(repo, ticket)
    p = packet.build(repo, run_mod.ticket_config(repo, tk), tk)
    _emit(as_json, p.to_json(), lambda: packet.render(p, brief=True))


@cli.command()
@click.option("--staged", is_flag=True, help="Check the index against HEAD (default).")
@click.option("--hook", is_flag=True, help="As the pre-commit hook: --staged, with a hint for executors.")
@click.option("--range", "range_", metavar="A..B", help="Check every commit in A..B.")
@click.option("--ticket", "ticket_id", metavar="ID", help="Check what accepting the ticket would merge.")
@JSON
def guard(staged: bool, hook: bool, range_: str | None, ticket_id: str | None, as_json: bool) -> None:
    """Run the guard on demand. Exit 3 when it finds violations."""
    if range_ and not ticket_id:
        # read through git's plumbing: no pygit2 Repo (its import alone is most of the time)
        found = ondemand.commit_range(_workdir(), range_)
    else:
        repo = _repo()
        if range_ and ticket_id:
            raise click.UsageError("give one of --range and --ticket")
        found = ondemand.ticket(repo, ticket_id) if ticket_id else \
            ondemand.staged(repo, Path(os.getcwd()), hook=hook)
    if as_json:
        click.echo(json.dumps({"violations": [v.to_json() for v in found], "clean": not found}, indent=2))
    elif found:
        click.echo(f"wo-git guard: {len(found)} violation(s):", err=True)
        for v in found:
            click.echo(f"  - {v}", err=True)
        if hook:
            click.echo("These paths are protected; leave them alone (see AGENTS.md).", err=True)
    else:
        click.echo("wo-git guard: clean")
    if found:
        sys.exit(errors.EXIT_GUARD)


@cli.command()
@click.option("--fix", is_flag=True, help="Repair what is found.")
@JSON
def doctor(fix: bool, as_json: bool) -> None:
    """Find (and with --fix repair) stale runs, missing branches, orphaned worktrees."""
    found = doctor_mod.diagnose(_repo(), fix)
    rows = [f"{'fixed' if f.fixed else 'found'}: {f.kind}: {f.detail}" for f in found]
    _emit(as_json, [f.to_json() for f in found], "\n".join(rows) if rows else "all well")
    if found and not fix and not as_json:
        click.echo("run `wo-git doctor --fix` to repair", err=True)


@cli.command("mcp")
@click.option("--progress-every", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds between wait's progress notifications.")
def mcp_(progress_every: float) -> None:
    """Serve the architect's tools over MCP on stdin/stdout (needs wo-git[mcp])."""
    try:
        from wo_git import mcp_server
    except ImportError as err:
        raise errors.InvalidInput(f"the MCP server needs the mcp package ({err.name} is missing): "
                                  "pip install 'wo-git[mcp]'") from None
    mcp_server.serve(progress_every=progress_every)


def _sync_text(res: remote_sync.SyncResult, verb: str) -> str:
    def ids(xs: list[int]) -> str:
        return ", ".join(f"{x:04d}" for x in xs)
    parts = [f"{label} {ids(xs)}" for label, xs in (
        ("new:", res.created), ("updated:", res.updated), ("pushed:", res.pushed),
        ("ahead here (push them):", res.ahead), ("behind here:", res.behind)) if xs]
    lines = [f"{verb} {res.remote}: " + ("; ".join(parts) if parts else "nothing to do")]
    return "\n".join(lines + [f"  {n}" for n in res.notes])


@cli.command("fetch")
@click.argument("remote", required=False)
@JSON
def fetch_(remote: str | None, as_json: bool) -> None:
    """Fetch a remote's tickets into refs/wo-remotes/REMOTE/ and fast-forward the local ones."""
    repo = _repo()
    res = remote_sync.fetch(repo, remote_sync.resolve_remote(repo, _head_config(repo), remote))
    _emit(as_json, res.to_json(), _sync_text(res, "fetched"))


@cli.command("push")
@click.argument("remote", required=False)
@click.option("--renumber", is_flag=True, help="Give tickets whose id the remote already has the next free id.")
@JSON
def push_(remote: str | None, renumber: bool, as_json: bool) -> None:
    """Push this clone's tickets (records, branches, verdicts) to a remote, with leases."""
    repo = _repo()
    cfg = _head_config(repo)
    name = remote_sync.resolve_remote(repo, cfg, remote)
    res = remote_sync.push(repo, name)
    if renumber and res.collisions:
        moved = remote_ids.renumber_collisions(repo, cfg, name, res.collisions)
        res.notes = [f"renumbered {old:04d} to {new:04d} (allocated on {name})" for old, new in moved]
        res.collisions = []
    _emit(as_json, res.to_json(), _sync_text(res, "pushed to"))
    if res.collisions:
        sys.exit(errors.EXIT_STALE)


@cli.command("worker", context_settings={"ignore_unknown_options": False})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@click.option("--remote", "remote_name", help="The remote to take tickets from (default: the config's, or origin).")
@click.option("--executor", help="Executor profile for every run (`-- ARGV` means the command profile).")
@click.option("--max-parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at once in this clone.")
@click.option("--once", is_flag=True, help="Exit when the remote has no open ticket left.")
@click.option("--lease", type=click.FloatRange(min=0.5), default=60.0, show_default=True,
              help="Seconds a claim holds without renewal (renewed every third of it).")
@click.option("--poll", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Longest pause in seconds between fetches while idle.")
@click.option("--timeout", type=float, help="Wall-clock limit per run, seconds.")
@JSON
def worker(argv: tuple[str, ...], remote_name: str | None, executor: str | None, max_parallel: int, once: bool,
           lease: float, poll: float, timeout: float | None, as_json: bool) -> None:
    """Take open tickets from a remote, run them here, publish the reports; repeat.

    Each ticket is claimed on the remote with a compare-and-swap push and a
    lease, so any number of workers on any machines run each ticket once.
    """
    repo = _repo()
    name = remote_sync.resolve_remote(repo, _head_config(repo), remote_name)
    opts = remote_worker.WorkerOptions(remote=name, executor=executor, argv=list(argv), max_parallel=max_parallel,
                                       once=once, lease=lease, poll=poll, timeout=timeout)
    stats = remote_worker.work(repo, opts, say=lambda s: click.echo(s, err=True))
    _emit(as_json, stats.to_json(), f"worker {stats.worker}: published {len(stats.published)}, "
          f"lost {len(stats.lost)}, failed {len(stats.failed)}")


def _default_base(repo: Repo) -> str | None:
    """The branch checked out where the command runs (a linked worktree's own), if it exists."""
    b = worktrees.checked_out_branch(Path.cwd())
    return b if b and repo.branch_exists(b) else None


def _head_config(repo: Repo) -> Any:
    base = _default_base(repo)
    return config_mod.load_config(repo, base) if base else None


cli.add_command(plan_group)


def _caused_by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` wraps a KeyboardInterrupt (directly or down its ``__cause__`` chain).

    Some of Python's own machinery turns a Ctrl-C into another error, e.g.
    class creation wraps it in RuntimeError ("Error calling __set_name__")
    when it lands while a library module is being imported. ``__context__``
    is not followed: an error raised while handling a Ctrl-C (a failed
    roll-back) is a bug to report, not an interruption.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__
    return False


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes (see :mod:`wo_git.errors`)."""
    try:
        cli.main(args=argv, prog_name="wo-git", standalone_mode=False)
    except errors.WoGitError as err:
        click.echo(f"wo-git: error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("wo-git: interrupted", err=True)
        return errors.EXIT_INTERRUPTED
    except click.ClickException as err:
        err.show()
        return errors.EXIT_USAGE if isinstance(err, click.UsageError) else errors.EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("wo-git: interrupted", err=True)
        return errors.EXIT_INTERRUPTED
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        if _caused_by_interrupt(exc):
            click.echo("wo-git: interrupted", err=True)
            return errors.EXIT_INTERRUPTED
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"wo-git-crash-{os.getpid()}.log"
        log.write_text(traceback.format_exc())
        click.echo(f"wo-git: unexpected error (a bug); traceback in {log}", err=True)
        return 70
    return 0
