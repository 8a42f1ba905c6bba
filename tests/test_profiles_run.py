"""User-defined profiles through the real ``wo-git run``: sessions, stdin prompts, rate-limit fallback."""

from __future__ import annotations

from pathlib import Path

from conftest import git, open_ticket, script, wo


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
