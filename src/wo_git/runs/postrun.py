"""The post-run hook: turn what an executor left into one report commit.

After the executor stops (exit, abort, timeout, idle timeout, rate limit,
or a crash found later by ``doctor``):

1. compare the ref/config/hook snapshot and put back what changed;
2. gather the executor's own commits since the round began and the
   worktree's uncommitted state (added, deleted, renamed, mode changes,
   symlinks, binaries) as one tree, through a private index;
3. run the guard over every one of those commits and over the final tree;
4. clean: commit the tree and the report as **one** executor-role commit
   on the round's work-order commit; the executor's own commits stay
   reachable from ``refs/wo/rounds/NNNN-rR``;
   violations: commit only a ``GUARD_REJECTED`` report naming each path,
   category and rule, and leave the changes in the worktree, unstaged; the
   executor's commits (which may hold a secret) stay local, reachable from
   ``refs/wo-local/rounds/NNNN-rR`` (outside ``refs/wo/*``, never pushed).

A missing or unreadable report becomes ``NO_REPORT`` with the log's tail, so
the architect always gets a completion record.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from wo_git.config import Config
from wo_git.errors import InvalidConfig
from wo_git.executors.profiles import load_profiles, state_excludes
from wo_git.git import Repo, format_message, trusted_git
from wo_git.guard import snapshot
from wo_git.guard.check import MailboxRule, Violation, check_commits, check_tree
from wo_git.guard.policy import Policy
from wo_git.runs import sandbox
from wo_git.runs.localpaths import log_ref, scrub
from wo_git.runs.worktrees import end_merge, reset_mailbox
from wo_git.tickets import Ticket, commit_event, diffstat
from wo_git.tickets import load as load_ticket
from wo_git.tickets.mailbox import GENERATED_MARK, parse_report
from wo_git.types import CommitId

LOG_TAIL_LINES = 40
LOG_TAIL_BYTES = 4096
CHECK_TIMEOUT = 600.0
NO_CHANGE_WARNING = "the report says COMPLETED but the round changed no file"
ROUNDS = "refs/wo/rounds/"
"""where a clean round's own executor commits stay reachable (shared with ``refs/wo/*``)"""
ROUNDS_LOCAL = "refs/wo-local/rounds/"
"""where a GUARD_REJECTED round's commits stay: outside ``refs/wo/*``, so never pushed with it"""


@dataclass
class RunFacts:
    """What the supervisor knows about the run that just ended."""

    exit_code: int | None
    duration: float
    executor: str
    log: str
    round_start: str
    model: str | None = None
    session_id: str | None = None
    stopped_by: str | None = None
    reason: str | None = None
    output_bytes: int = 0
    attempts: list[str] = field(default_factory=list)
    error: str | None = None
    worktree_state: list[str] = field(default_factory=list)
    """``worktree_state`` of every profile that ran (besides ``executor``'s own, always added)"""
    left_out: list[str] = field(default_factory=list)
    """those state paths that were there, untracked, and so left out of the change"""
    sandbox: str = "none"
    """``bwrap`` or ``none``: how the executor was contained (``Wo-Sandbox`` trailer)"""


@dataclass
class PostRunResult:
    """The report commit and what it says."""

    commit: CommitId
    status: str
    violations: list[Violation]
    report: str


def policy_for(repo: Repo, cfg: Config, tk: Ticket) -> Policy:
    """The guard policy for a ticket: the base's committed config, plus the order's scope and grants."""
    order = tk.order
    return Policy.build(
        cfg.guard,
        mailbox=cfg.mailbox,
        grants=order.allow if order else (),
        scope=(order.scope or None) if order else None,
    )


def _state_paths(cfg: Config, facts: RunFacts) -> list[str]:
    """The executor CLIs' own state paths to leave out of this round's change: those of the
    profiles that ran (``facts.worktree_state``) and of ``facts.executor`` (for ``doctor``)."""
    paths = list(facts.worktree_state)
    try:
        profile = load_profiles(cfg.executors).get(facts.executor)
    except InvalidConfig:
        profile = None
    for p in profile.worktree_state if profile else []:
        if p not in paths:
            paths.append(p)
    return paths


def guard_round(
    repo: Repo, cfg: Config, tk: Ticket, start: str, head: str, final_tree: str
) -> list[Violation]:
    """Every violation in a round: each executor commit in ``start..head``, then the final tree.

    A ``start`` that is no longer an ancestor of ``head`` is a history
    rewrite, itself a violation. In a round that merges the base
    (``tk.merging``, read from wo-git's own record) what arrives from that
    base commit is not the executor's: the commits of the base are left
    out, and each executor commit and the final tree count only where they
    differ from the base commit as well (:func:`~wo_git.guard.check.check_tree`).
    """
    policy = policy_for(repo, cfg, tk)
    box = MailboxRule(cfg.mailbox, frozenset({tk.report_path(cfg)}))
    merging = tk.merging
    extra = [merging] if merging else []
    out: list[Violation] = []
    if head != start:
        if not repo.is_ancestor(start, head):
            out.append(Violation(tk.branch, "control", "history rewritten", head,
                                 f"the work order commit {start[:10]} is no longer an ancestor"))
        else:
            commits = repo.rev_list(head, start, *extra)
            known = {start, *extra, *commits}
            sides: dict[str, list[str]] = {}
            for oid in commits if merging else ():
                parents: list[str] = list(repo.commit_info(oid).parents)
                if all(p in known for p in parents):
                    sides[oid] = parents + [m for m in extra if m not in parents]
            out += check_commits(repo, policy, commits, box, sides=sides, own=tk.folder(cfg))
    out += check_tree(repo, policy, final_tree, [start, *extra], "worktree", box, own=tk.folder(cfg))
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for v in out:
        if (v.path, v.category, v.rule) not in seen:
            seen.add((v.path, v.category, v.rule))
            unique.append(v)
    return unique


CONFLICT_MARKERS = re.compile(rb"^(<{7}|>{7})( |$)", re.M)


def merge_problems(repo: Repo, cfg: Config, tk: Ticket, start: str, final_tree: str) -> list[str]:
    """Why a round that merges the base cannot be recorded as the merge (empty: it can).

    Conflict markers (``<<<<<<<``/``>>>>>>>`` lines) left in a file the
    resolution wrote, or none of the base's own changes in the result (the
    merge was aborted or undone): recording that as the merge would drop the
    base's changes at accept.
    """
    merging = tk.merging
    if merging is None:
        return []
    problems = []
    report = tk.report_path(cfg)
    ours = {p for ch in repo.changes(start, final_tree) for p in ch.paths}
    theirs = {p for ch in repo.changes(merging, final_tree) for p in ch.paths}
    marked = []
    for path in sorted((ours & theirs) - {report}):
        entry = repo.entry(final_tree, path)
        if entry is not None and entry[0] in (0o100644, 0o100755) and repo.blob_size(entry[1]) < (8 << 20):
            if CONFLICT_MARKERS.search(repo.read_blob(entry[1])):
                marked.append(path)
    if marked:
        problems.append("conflict markers remain in " + ", ".join(marked[:20]))
    mb = repo.merge_base(start, merging)
    box = cfg.mailbox.strip("/") + "/"
    brought = [p for ch in repo.changes(mb, merging) for p in ch.paths if not p.startswith(box)] if mb else []
    if brought and all(repo.entry(final_tree, p) == repo.entry(start, p) for p in brought):
        problems.append(f"none of {tk.base}'s changes are in the result (the merge was aborted or undone)")
    return problems


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, decoded leniently, at most :data:`LOG_TAIL_BYTES`."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL_BYTES))
            data = f.read()
    except OSError:
        return "(no log)"
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def run_checks(
    cfg: Config, worktree: Path, sb: sandbox.Sandbox | None = None
) -> list[tuple[str, int | None, str]]:
    """Run the configured post-run checks in the worktree: ``[(command, exit, tail)]``.

    Under the run's sandbox when there is one (``sh -c CMD`` inside bwrap):
    the checks run code from files the executor wrote.
    """
    out: list[tuple[str, int | None, str]] = []
    for cmd in cfg.checks:
        argv = ["/bin/sh", "-c", cmd]
        if sb is not None:
            argv = sb.wrap(argv)
        try:
            proc = subprocess.run(
                argv, cwd=worktree, capture_output=True, timeout=CHECK_TIMEOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                env=sb.environ(os.environ) if sb is not None and sb.active else None,
            )
            tail = (proc.stdout + proc.stderr).decode("utf-8", errors="replace").strip()
            out.append((cmd, proc.returncode, "\n".join(tail.splitlines()[-5:])))
        except subprocess.TimeoutExpired:
            out.append((cmd, None, f"timed out after {CHECK_TIMEOUT:.0f} s"))
    return out


def finish_run(
    repo: Repo,
    cfg: Config,
    tk: Ticket,
    worktree: Path,
    facts: RunFacts,
    snap: Path | None,
    sb: sandbox.Sandbox | None = None,
) -> PostRunResult:
    """Do the whole post-run hook for a ticket whose executor has stopped.

    ``tk`` must be loaded fresh (its refs are compared-and-swapped).
    Raises :class:`~wo_git.errors.StaleRef` if wo-git's refs moved under it.
    """
    found: list[Violation] = []
    # checks run code from files the executor wrote: inside its sandbox, and before the
    # snapshot comparison, so whatever they change is caught like the executor's own doing
    checks = run_checks(cfg, worktree, sb) if cfg.checks and worktree.is_dir() else []
    if snap is not None:
        found += snapshot.compare_and_restore(repo, snap, None)
        # the record may have been forged during the run: read the ticket again from the restored refs
        tk = load_ticket(repo, tk.id, cfg)
    # from here on git is told the git dir and work tree from wo-git's own (restored) records
    admin = sandbox.admin_dir(repo, worktree)
    if not worktree.is_dir() or admin is None:
        return _finish_without_worktree(repo, cfg, tk, worktree, facts, found)
    broken = _repair_dotgit(worktree, admin)
    if broken is not None:
        found.append(broken)
    private_head, problem = (None, None)
    if sb is not None and sb.scratch is not None:
        private_head, problem = sandbox.collect(repo, sb.scratch, facts.round_start)
        if problem:
            facts.error = (facts.error + "; " if facts.error else "") + problem
    # where the executor left HEAD (a private HEAD in the sandbox)
    real_head = trusted_git(admin, worktree, "rev-parse", "-q", "--verify", "HEAD").stdout.decode().strip()
    wt_head = private_head or real_head
    if not real_head:
        trusted_git(admin, worktree, "symbolic-ref", "HEAD", tk.branch_ref)
    start = facts.round_start
    head = repo.ref_target(tk.branch_ref) or start
    if wt_head and wt_head != head and wt_head != start:
        head = wt_head  # the executor committed on a detached HEAD or another branch
    final_tree = repo.snapshot_worktree(worktree, exclude=state_excludes(_state_paths(cfg, facts)), git_dir=admin)
    facts.left_out = [p for p in _state_paths(cfg, facts) if os.path.lexists(worktree / p.rstrip("/"))
                      and repo.entry(start, p.rstrip("/")) is None]
    found += guard_round(repo, cfg, tk, start, head, final_tree)

    report_path = tk.report_path(cfg)
    raw = (worktree / report_path).read_bytes() if (worktree / report_path).is_file() else None
    own = raw.decode("utf-8", errors="replace") if raw is not None else None
    parsed = parse_report(own) if own else None
    unmerged = merge_problems(repo, cfg, tk, start, final_tree) if not found else []
    if found:
        status = "GUARD_REJECTED"
    elif facts.reason == "rate-limit" and (parsed is None or parsed.status != "COMPLETED"):
        status = "BLOCKED"
    elif parsed is None or parsed.status == "NO_REPORT":
        status = "NO_REPORT"
    else:
        status = parsed.status
    if unmerged:
        # the merge is not done: like a guard refusal, only the report is committed
        status = "PARTIAL" if status == "COMPLETED" else status
        facts.reason = facts.reason or "merge-incomplete"
        facts.error = (facts.error + "; " if facts.error else "") + (
            f"the merge of {tk.base} was not recorded: " + "; ".join(unmerged)
            + "; the changes stay in the worktree")

    stat = diffstat.parse(repo.diff_text(start, final_tree))
    stat.files = [f for f in stat.files if f.path != report_path]
    report = _compose(tk, own, status, facts, stat, checks, found, repo=repo, worktree=worktree)
    files = {report_path: report.encode()}
    trailers = {
        "Wo-Status": status,
        "Wo-Executor": facts.executor,
        "Wo-Model": facts.model,
        "Wo-Session": facts.session_id,
        "Wo-Exit": facts.exit_code if facts.exit_code is not None else "none",
        "Wo-Stopped-By": facts.stopped_by,
        "Wo-Reason": facts.reason,
        "Wo-Checks": ("failed" if any(c[1] != 0 for c in checks) else "passed") if checks else None,
        "Wo-Sandbox": facts.sandbox,
    }
    subject = f"wo {tk.label} report: round {tk.round}: {status}"
    body = stat.summary() if not found else f"{len(found)} guard violation(s); changes left in the worktree"
    current_branch = repo.ref_target(tk.branch_ref)
    if head != start and head in (current_branch, private_head) and repo.is_ancestor(start, head):
        # keep the executor's own commits reachable: nothing it made is lost; a refused
        # round's (which may hold a secret) under refs/wo-local/, which is never pushed
        kept = f"{ROUNDS_LOCAL if found else ROUNDS}{tk.label}-r{tk.round}"
        repo.update_refs([(kept, head, repo.ref_target(kept))], "wo-git: keep executor commits")
    tk.branch_tip = current_branch
    merged = tk.merging
    if found:
        _keep_refused(repo, tk, start, head, final_tree, files)
    if found or unmerged:
        oid = commit_event(repo, tk, event="report", role="executor", round_=tk.round, subject=subject,
                           body=body, files=files, trailers=trailers, parent=start,
                           author_name=f"wo-git executor ({facts.executor})")
    else:
        if merged:
            trailers["Wo-Merged"] = merged
        # a round that merges the base records the merge: the base commit is the second parent
        oid = commit_event(repo, tk, event="report", role="executor", round_=tk.round, subject=subject,
                           body=body, files=files, base_tree=final_tree, trailers=trailers, parent=start,
                           author_name=f"wo-git executor ({facts.executor})", merged=merged)
        if merged:
            end_merge(worktree)
    _sync_worktree(admin, worktree, tk.branch_ref)
    if not (found or unmerged):
        # the worktree's mailbox is the branch's again: the committed report, no stale copies
        # (refused changes stay as they are; the next round starts from the branch's mailbox)
        reset_mailbox(cfg, tk, worktree, oid)
    return PostRunResult(oid, status, found, report)


def _repair_dotgit(worktree: Path, admin: Path) -> Violation | None:
    """Put back the worktree's ``.git`` file if the executor changed it; the violation, if any.

    A ``.git`` folder (the worktree turned into a fresh repository) is moved
    aside to ``.git-from-executor`` inside the worktree, so nothing is lost.
    """
    dotgit = worktree / ".git"
    want = f"gitdir: {admin}\n"
    try:
        if dotgit.is_file() and not dotgit.is_symlink() and dotgit.read_text().strip() == want.strip():
            return None
    except OSError:
        pass
    if dotgit.is_dir() and not dotgit.is_symlink():
        aside = worktree / ".git-from-executor"
        n = 1
        while os.path.lexists(aside):
            n += 1
            aside = worktree / f".git-from-executor-{n}"
        dotgit.rename(aside)
        what = f"replaced by a repository of its own (moved to {aside.name})"
    elif os.path.lexists(dotgit):
        what = "pointed elsewhere"
        dotgit.unlink()
    else:
        what = ""  # deleted: nothing read it, nothing else changes; put back without a verdict
    dotgit.write_text(want)
    if not what:
        return None
    return Violation(".git", "control", "worktree's .git changed behind wo-git's back", "worktree",
                     what + "; restored")


def _finish_without_worktree(
    repo: Repo, cfg: Config, tk: Ticket, worktree: Path, facts: RunFacts, found: list[Violation]
) -> PostRunResult:
    """The worktree was removed (or cannot be repaired): record that, commit only a report."""
    facts.error = (facts.error + "; " if facts.error else "") + f"the worktree {worktree} was removed or broken"
    status = "GUARD_REJECTED" if found else "NO_REPORT"
    report = _compose(tk, None, status, facts, diffstat.DiffStat(), [], found, repo=repo, worktree=worktree)
    tk.branch_tip = repo.ref_target(tk.branch_ref)
    oid = commit_event(
        repo, tk, event="report", role="executor", round_=tk.round,
        subject=f"wo {tk.label} report: round {tk.round}: {status}", body="the worktree was lost",
        files={tk.report_path(cfg): report.encode()},
        trailers={"Wo-Status": status, "Wo-Executor": facts.executor, "Wo-Exit": facts.exit_code,
                  "Wo-Sandbox": facts.sandbox},
        parent=facts.round_start, author_name=f"wo-git executor ({facts.executor})",
    )
    repo.prune_worktrees()
    return PostRunResult(oid, status, found, report)


def refused_ref(tk: Ticket, round_: int | None = None) -> str:
    """``refs/wo-local/rounds/0007-r2``: for a refused round, its own commits and what was refused.

    Outside ``refs/wo/*`` (which the README tells users to push): refused
    content may hold a secret, so it stays on this machine.
    """
    return f"{ROUNDS_LOCAL}{tk.label}-r{round_ or tk.round}"


def _keep_refused(
    repo: Repo, tk: Ticket, start: str, head: str, final_tree: str, report: dict[str, bytes]
) -> None:
    """Record what the guard refused as a commit on :func:`refused_ref` (trailer ``Wo-Event: refused``).

    Its tree is the worktree as the executor left it, with the composed
    report in place of the executor's raw one; its parent the executor's last
    commit (so those stay reachable too). Nothing of it is merged; the packet
    reads the refused diffstat from it (``start`` to it).
    """
    msg = format_message(
        f"wo {tk.label} round {tk.round}: refused by the guard (not merged)",
        f"The worktree as the executor left it; the round began at {start}.",
        {"Wo-Ticket": tk.label, "Wo-Round": tk.round, "Wo-Role": "system", "Wo-Event": "refused"},
    )
    oid = repo.write_commit([head], msg, base_tree=final_tree, files=report)
    name = refused_ref(tk)
    repo.update_refs([(name, oid, repo.ref_target(name))], "wo-git: keep refused changes")


def _sync_worktree(admin: Path, worktree: Path, branch_ref: str) -> None:
    """Put the worktree back on its branch with the index at the new tip; files untouched."""
    head = trusted_git(admin, worktree, "symbolic-ref", "-q", "HEAD").stdout.decode().strip()
    if head != branch_ref:
        trusted_git(admin, worktree, "symbolic-ref", "HEAD", branch_ref)
    trusted_git(admin, worktree, "reset", "-q")


def _compose(
    tk: Ticket,
    own: str | None,
    status: str,
    facts: RunFacts,
    stat: diffstat.DiffStat,
    checks: list[tuple[str, int | None, str]],
    found: list[Violation],
    *,
    repo: Repo,
    worktree: Path | None = None,
) -> str:
    """The committed report: the executor's text (or a stand-in) plus the generated section.

    Nothing machine-local is committed: the log is named relative to the git
    common dir (``wo/logs/0007-r1-a1.log``) and every absolute path of this
    machine is replaced (:func:`wo_git.runs.localpaths.scrub`), the executor's
    text included.
    """
    num = f"W{2 * tk.round:02d}"
    if own is None or not own.strip():
        head = (f"# {num} - Report for {tk.slug}\n\n- Status: NO_REPORT\n"
                "- Notes/questions: the executor wrote no report.")
    else:
        head = own.split(GENERATED_MARK, 1)[0].rstrip()
    lines = [head, "", GENERATED_MARK, "## Run record (wo-git)", ""]
    lines.append(f"- Final status: {status}")
    if facts.reason:
        lines.append(f"- Reason: {facts.reason}")
    if facts.stopped_by:
        lines.append(f"- Stopped by: {facts.stopped_by}")
    lines.append(f"- Exit code: {facts.exit_code if facts.exit_code is not None else 'none (killed)'}")
    lines.append(f"- Duration: {facts.duration:.1f} s")
    lines.append(f"- Executor: {facts.executor}")
    lines.append(f"- Model: {facts.model or '-'}")
    lines.append(f"- Session: {facts.session_id or '-'}")
    lines.append(f"- Log: {log_ref(repo, facts.log)} ({facts.output_bytes} bytes)")
    lines.append(f"- Sandbox: {facts.sandbox}")
    if facts.attempts:
        lines.append("- Attempts: " + "; ".join(facts.attempts))
    if facts.error:
        lines.append(f"- Executor error: {facts.error}")
    if facts.left_out:
        lines.append(f"- Left out (the {facts.executor} CLI's own state, kept in the worktree): "
                     + ", ".join(facts.left_out))
    lines.append(f"- {'Refused diffstat (not committed)' if found else 'Diffstat'}: {stat.summary()}")
    lines += [f"  - {ln}" for ln in stat.lines()]
    if status == "COMPLETED" and not stat.files:
        lines.append(f"- Warning: {NO_CHANGE_WARNING}")
    if checks:
        lines.append("- Checks:")
        for cmd, code, tail in checks:
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            lines.append(f"  - `{cmd}`: {verdict}")
            if code != 0 and tail:
                lines += [f"    {t}" for t in tail.splitlines()]
    if found:
        lines.append(f"- Guard: REJECTED ({len(found)} violation(s)); the changes were not committed "
                     "and remain in the worktree")
        lines += [f"  - {v}" for v in found[:100]]
    else:
        lines.append("- Guard: clean")
    if status in ("NO_REPORT", "BLOCKED", "GUARD_REJECTED") or (facts.exit_code not in (0, None)) or facts.stopped_by:
        lines += ["", "### Log tail", "", "```", log_tail(facts.log).replace("```", "'''"), "```"]
    lines.append(f"\n_Recorded {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}._")
    return scrub("\n".join(lines) + "\n", repo, worktree)
