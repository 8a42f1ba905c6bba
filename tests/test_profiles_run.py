"""User-defined profiles through the real ``wo-git run``: sessions, stdin prompts, rate-limit fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPORT_OK, git, open_ticket, script, wo


def _commit_config(repo: Path, text: str) -> None:
    (repo / ".wo-git.toml").write_text(text)
    git(repo, "add", ".wo-git.toml")
    git(repo, "commit", "-qm", "wo-git config")


def test_rate_limit_falls_back_to_the_next_profile(repo: Path, tmp_path: Path) -> None:
    flaky = script(tmp_path, "echo partial > partial.txt\necho 'working'\n"
                   "echo 'Error: HTTP 429 Too Many Requests: usage limit reached'\nsleep 300\n", "flaky.sh")
    steady = script(tmp_path, "echo steady > steady.txt\n"
                    'printf -- "- Status: COMPLETED\\n- Notes/questions: took over\\n" > "$WO_REPORT_FILE"\n',
                    "steady.sh")
    _commit_config(repo, f'executor = "flaky"\nfallback = ["steady"]\n'
                         f'[executors.flaky]\nargv = ["{flaky}"]\n[executors.steady]\nargv = ["{steady}"]\n')
    open_ticket(repo, "rl")
    r = wo(repo, "run", "1", timeout=60)
    assert r.code == 0, r.err + r.out
    report = git(repo, "show", "wo/0001-rl:work-orders/0001-rl/w02-report.md")
    assert "flaky: exit" in report and "rate-limited" in report and "steady: exit 0" in report
    trailers = git(repo, "log", "-1", "--format=%(trailers)", "wo/0001-rl")
    assert "Wo-Executor: steady" in trailers
    # the first profile's partial work is not lost: the fallback ran in the same worktree
    assert git(repo, "show", "wo/0001-rl:partial.txt") == "partial\n"
    assert git(repo, "show", "wo/0001-rl:steady.txt") == "steady\n"


def test_rate_limit_without_fallback_is_blocked(repo: Path, tmp_path: Path) -> None:
    flaky = script(tmp_path, "echo 'rate limit exceeded, retry later'\nsleep 300\n", "flaky.sh")
    _commit_config(repo, f'[executors.flaky]\nargv = ["{flaky}"]\n')
    open_ticket(repo, "blocked")
    r = wo(repo, "run", "1", "--executor", "flaky", timeout=60)
    assert r.code == 5
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict)
    assert show["status"] == "BLOCKED" and show["reason"] == "rate-limit"


def test_session_is_recorded_and_resumed_next_round(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.txt"
    agent = script(tmp_path, f"""
        echo "argv: $*" >> {log}
        prompt=$(cat)
        echo "prompt: $prompt" >> {log}
        echo "session=ses_$WO_ROUND-abc"
        echo r$WO_ROUND > round.txt
        printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """, "agent.sh")
    _commit_config(repo, f'[executors.mine]\nargv = ["{agent}", "fresh"]\n'
                         f'resume_argv = ["{agent}", "resume", "{{session}}"]\n'
                         'prompt_via = "stdin"\nsession_pattern = "session=(?P<id>\\\\S+)"\n')
    open_ticket(repo, "sess", "--executor", "mine")
    assert wo(repo, "run", "1").code == 0
    assert "Wo-Session: ses_1-abc" in git(repo, "log", "-1", "--format=%(trailers)", "wo/0001-sess")
    assert wo(repo, "show", "1", "--json").json()["session"] == "ses_1-abc"  # type: ignore[index]
    assert wo(repo, "revise", "1", "--task", "again").code == 0
    assert wo(repo, "run", "1").code == 0
    calls = log.read_text()
    assert "argv: fresh" in calls and "argv: resume ses_1-abc" in calls
    assert "w01-work.md" in calls and "w03-work.md" in calls  # the prompt names the work file
    assert wo(repo, "revise", "1", "--task", "fresh start").code == 0
    assert wo(repo, "run", "1", "--new-session").code == 0
    assert log.read_text().count("argv: fresh") == 2


def test_bad_profile_config_is_a_clear_error(repo: Path) -> None:
    _commit_config(repo, '[executors.broken]\nargv = "not a list"\n')
    open_ticket(repo, "x")
    r = wo(repo, "run", "1", "--executor", "broken")
    assert r.code == 1 and "[executors.broken]" in r.err


def test_correction_round_goes_back_to_the_same_executor(repo: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    agent = script(tmp_path, f'echo "call: $1 $2" >> {calls}\necho "session=s-$WO_ROUND"\n'
                   'printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n', "agent.sh")
    _commit_config(repo, f'[executors.mine]\nargv = ["{agent}", "fresh"]\n'
                         f'resume_argv = ["{agent}", "resume", "{{session}}"]\n'
                         'session_pattern = "session=(?P<id>\\\\S+)"\n')
    open_ticket(repo, "same")
    assert wo(repo, "run", "1", "--executor", "mine").code == 0
    assert wo(repo, "revise", "1", "--task", "again").code == 0
    r = wo(repo, "run", "1")  # no --executor: the config default (command) would need an ARGV
    assert r.code == 0, r.err
    assert [ln for ln in calls.read_text().splitlines() if ln.startswith("call:")][1] == "call: resume s-1"


# ------------------------------------------------ a round is spent only when an executor starts


def _state(repo: Path) -> str:
    """Every ref and its target, plus the ticket's state: what must not move when nothing ran."""
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict)
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)") + f"state={show['state']}"


def _no_run_left(repo: Path) -> None:
    runs = repo / ".git" / "wo" / "runs"
    assert not list(runs.glob("*.json")) if runs.exists() else True
    assert not (repo / ".git" / "wo" / "snapshots" / "0001").exists()


def test_relative_program_is_taken_from_where_the_user_runs_wo_git(repo: Path) -> None:
    # the user stands in src/ (a shell's PWD) with an untracked helper there: the worktree
    # holds tracked files only, so `./agent.sh` must be found here and made absolute
    here = repo / "src"
    agent = here / "agent.sh"
    agent.write_text('#!/bin/sh\necho "cwd=$(pwd)"\necho done > done.txt\n' + REPORT_OK)
    agent.chmod(0o755)
    open_ticket(repo, "rel")
    before = _state(repo)
    r = wo(here, "run", "1", "--", "./nope.sh", "--flag")
    assert r.code == 5, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "'./nope.sh' not found in " + str(here) in lines[0], r.err
    assert "wo-git run 1 -- /absolute/path/to/nope.sh --flag" in lines[0]
    assert _state(repo) == before  # no report commit, no round spent, ticket still open
    _no_run_left(repo)
    r = wo(here, "run", "1", "--", "./agent.sh")
    assert r.code == 0, r.err
    assert git(repo, "show", "wo/0001-rel:done.txt") == "done\n"
    assert "Wo-Round: 1" in git(repo, "log", "-1", "--format=%(trailers)", "wo/0001-rel")
    # --detach: the background supervisor starts in the repository's root, so the path is
    # made absolute before it is handed over
    open_ticket(repo, "bg")
    r = wo(here, "run", "2", "--detach", "--", "./agent.sh")
    assert r.code == 0, r.err
    r = wo(here, "wait", "2")
    assert r.code == 0, r.err + r.out
    assert git(repo, "show", "wo/0002-bg:done.txt") == "done\n"


def test_relative_program_found_at_the_repository_root_is_suggested(repo: Path) -> None:
    (repo / "tools").mkdir()
    (repo / "tools" / "agent.sh").write_text("#!/bin/sh\n" + REPORT_OK)
    (repo / "tools" / "agent.sh").chmod(0o755)
    open_ticket(repo, "sub")
    r = wo(repo / "src", "run", "1", "--", "./tools/agent.sh")
    assert r.code == 5
    assert f"wo-git run 1 -- {repo / 'tools' / 'agent.sh'}" in r.err, r.err
    r = wo(repo / "src", "run", "1", "--", str(repo / "tools" / "agent.sh"))
    assert r.code == 0, r.err


def test_not_executable_or_not_a_program_commits_nothing(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "noexec")
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n" + REPORT_OK)
    before = _state(repo)
    r = wo(repo, "run", "1", "--", str(plain))
    assert r.code == 5 and "is not executable" in r.err and f"chmod +x {plain} && wo-git run 1 -- {plain}" in r.err
    bad = script(tmp_path, "", "bad-interp.sh")
    Path(bad).write_text("#!/no/such/interpreter\n")
    r = wo(repo, "run", "1", "--", bad)
    assert r.code == 5 and "missing interpreter '/no/such/interpreter'" in r.err, r.err
    # no #! line: execve refuses it (ENOEXEC) after the checks pass; still nothing committed
    noshebang = tmp_path / "noshebang"
    noshebang.write_text("echo hi\n")
    noshebang.chmod(0o755)
    r = wo(repo, "run", "1", "--", str(noshebang))
    assert r.code == 5 and "not a program (a script needs a #! line)" in r.err, r.err
    assert "nothing was run or committed" in r.err and len(r.err.strip().splitlines()) == 1
    assert _state(repo) == before
    _no_run_left(repo)
    r = wo(repo, "run", "1", "--detach", "--", str(plain))
    assert r.code == 5 and "is not executable" in r.err
    assert _state(repo) == before
    plain.chmod(0o755)
    assert wo(repo, "run", "1", "--", str(plain)).code == 0


def test_profile_whose_cli_is_not_installed(repo: Path, tmp_path: Path) -> None:
    _commit_config(repo, '[executors.ghost]\nargv = ["wo-test-no-such-agent", "--go"]\n')
    open_ticket(repo, "ghost")
    before = _state(repo)
    r = wo(repo, "run", "1", "--executor", "ghost")
    assert r.code == 5
    line = r.err.strip()
    assert "\n" not in line and "'wo-test-no-such-agent' not found on PATH" in line, r.err
    assert "wo-git run 1 " in line  # a next command
    assert _state(repo) == before
    _no_run_left(repo)
    r = wo(repo, "run", "1", "--executor", "ghost", "--detach")
    assert r.code == 5 and "not found on PATH" in r.err
    assert _state(repo) == before


def test_missing_first_profile_of_a_fallback_chain_moves_on_with_a_note(repo: Path, tmp_path: Path) -> None:
    steady = script(tmp_path, "echo steady > steady.txt\n" + REPORT_OK, "steady.sh")
    _commit_config(repo, f'executor = "ghost"\nfallback = ["steady"]\n'
                         f'[executors.ghost]\nargv = ["wo-test-no-such-agent"]\n'
                         f'[executors.steady]\nargv = ["{steady}"]\n')
    open_ticket(repo, "chain")
    r = wo(repo, "run", "1")
    assert r.code == 0, r.err
    assert "ghost: not started (executor program 'wo-test-no-such-agent' not found on PATH)" in r.err
    report = git(repo, "show", "wo/0001-chain:work-orders/0001-chain/w02-report.md")
    attempts = next(ln for ln in report.splitlines() if ln.startswith("- Attempts:"))
    assert "ghost: not started" in attempts and "steady: exit 0" in attempts, attempts
    assert "Wo-Executor: steady" in git(repo, "log", "-1", "--format=%(trailers)", "wo/0001-chain")


# ----------------------------------------- an executor CLI's own state stays out of the change

AIDER_STATE = "mkdir -p .aider.tags.cache.v4 && echo sqlite > .aider.tags.cache.v4/cache.db\n"


def test_cli_state_in_the_worktree_is_left_out_and_kept(repo: Path, tmp_path: Path) -> None:
    # the aider profile (its argv replaced by a script doing what aider 0.86.2 does to a worktree)
    fake = script(tmp_path, AIDER_STATE + "echo '# aider chat' > .aider.chat.history.md\n"
                  "echo hello > hello.txt\n" + REPORT_OK, "aider.sh")
    _commit_config(repo, f'[executors.aider]\nargv = ["{fake}"]\n')
    open_ticket(repo, "state", "--executor", "aider")
    r = wo(repo, "run", "1")
    assert r.code == 0, r.err + r.out
    files = git(repo, "ls-tree", "-r", "--name-only", "wo/0001-state")
    assert "hello.txt" in files and ".aider" not in files, files
    wt = repo.parent / f"{repo.name}.wo" / "0001-state"
    assert (wt / ".aider.tags.cache.v4" / "cache.db").read_text() == "sqlite\n"  # kept for the next round
    report = git(repo, "show", "wo/0001-state:work-orders/0001-state/w02-report.md")
    assert ("- Left out (the aider CLI's own state, kept in the worktree): .aider.tags.cache.v4/, "
            ".aider.chat.history.md") in report, report
    # round 2 with the cache still there: still clean
    assert wo(repo, "revise", "1", "--task", "again").code == 0
    assert wo(repo, "run", "1").code == 0
    # and accept keeps no "uncommitted work" for it
    r = wo(repo, "accept", "1", "--json")
    assert r.code == 0, r.err
    assert r.json()["leftovers"] is None  # type: ignore[index]
    assert git(repo, "for-each-ref", "refs/wo-local/leftovers") == ""


@pytest.mark.parametrize("case", ["near-name", "nested", "other-profile", "committed", "tracked"])
def test_cli_state_exclusion_cannot_hide_work(case: str, repo: Path, tmp_path: Path) -> None:
    """Only the exact paths of the profile that ran, untracked, are left out: a similar name,
    the same name deeper down, another profile's run, a commit, or a tracked file are gathered
    and guarded as usual (`.aider*` is a control path, so each is GUARD_REJECTED)."""
    body = {
        "near-name": "mkdir -p .aider.tags.cache.v4x && echo x > .aider.tags.cache.v4x/a\n",
        "nested": "mkdir -p sub/.aider.tags.cache.v4 && echo x > sub/.aider.tags.cache.v4/a\n",
        "other-profile": AIDER_STATE,
        "committed": AIDER_STATE + "git add -f .aider.tags.cache.v4 && git commit -qm cache\n",
        "tracked": "echo changed > .aider.input.history\n",
    }[case]
    if case == "tracked":  # a base that tracks one of the names (committed by a person)
        (repo / ".aider.input.history").write_text("tracked\n")
        git(repo, "add", ".aider.input.history")
        git(repo, "commit", "-qm", "tracked history")
    fake = script(tmp_path, body + "echo work > work.txt\n" + REPORT_OK, "agent.sh")
    name = "mine" if case == "other-profile" else "aider"
    _commit_config(repo, f'[executors.{name}]\nargv = ["{fake}"]\n')
    open_ticket(repo, "hide", "--executor", name)
    r = wo(repo, "run", "1")
    assert r.code == 3, r.err + r.out
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["status"] == "GUARD_REJECTED", show
    assert ".aider" in json.dumps(show["violations"]), show["violations"]
