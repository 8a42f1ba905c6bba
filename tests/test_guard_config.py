"""The guard policy in force is the base branch's committed ``.wo-git.toml``, and only that."""

from __future__ import annotations

from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo


def _commit_config(repo: Path, text: str, branch: str = "main") -> None:
    git(repo, "checkout", "-q", branch)
    (repo / ".wo-git.toml").write_text(text)
    git(repo, "add", ".wo-git.toml")
    git(repo, "commit", "-qm", f"config on {branch}")


def _status(repo: Path, tid: int) -> tuple[str, list[str]]:
    show = wo(repo, "show", str(tid), "--json").json()
    assert isinstance(show, dict)
    return show["status"], show["violations"]


def test_committed_config_adds_patterns_and_allows(repo: Path, tmp_path: Path) -> None:
    _commit_config(repo, '[guard]\nsecrets = ["*.secret"]\nci = ["scripts/release.sh"]\nallow = ["Dockerfile"]\n')
    open_ticket(repo, "extra")
    wo(repo, "run", "1", "--", script(tmp_path, "echo x > keys.secret\n" + REPORT_OK, "a.sh"))
    status, violations = _status(repo, 1)
    assert status == "GUARD_REJECTED" and any("keys.secret: secrets / *.secret" in v for v in violations)
    open_ticket(repo, "ci")
    release = script(tmp_path, "mkdir -p scripts && echo x > scripts/release.sh\n" + REPORT_OK, "b.sh")
    wo(repo, "run", "2", "--", release)
    assert _status(repo, 2)[0] == "GUARD_REJECTED"
    open_ticket(repo, "docker")
    r = wo(repo, "run", "3", "--", script(tmp_path, "echo 'FROM scratch' > Dockerfile\n" + REPORT_OK, "c.sh"))
    assert r.code == 0 and _status(repo, 3)[0] == "COMPLETED"
    assert wo(repo, "accept", "3").code == 0


def test_uncommitted_or_worktree_config_does_not_count(repo: Path, tmp_path: Path) -> None:
    _commit_config(repo, '[guard]\nsecrets = ["*.secret"]\n')
    # the user's uncommitted edit loosening the policy is not in force
    (repo / ".wo-git.toml").write_text('[guard]\nallow = ["*.secret", ".env"]\n')
    open_ticket(repo, "loose")
    wo(repo, "run", "1", "--", script(tmp_path, "echo x > a.secret\necho A=1 > .env\n" + REPORT_OK))
    status, violations = _status(repo, 1)
    assert status == "GUARD_REJECTED"
    assert any(v.startswith("a.secret:") for v in violations) and any(v.startswith(".env:") for v in violations)
    assert "a.secret" not in git(repo, "ls-tree", "-r", "--name-only", "wo/0001-loose")


def test_each_ticket_uses_its_own_base_branch_config(repo: Path, tmp_path: Path) -> None:
    git(repo, "branch", "strict")
    _commit_config(repo, '[guard]\nsecrets = ["*.txt"]\n', branch="strict")
    git(repo, "checkout", "-q", "main")
    open_ticket(repo, "on-main")
    open_ticket(repo, "on-strict", "--base", "strict")
    exe = script(tmp_path, "echo x > notes.txt\n" + REPORT_OK)
    assert wo(repo, "run", "1", "--", exe).code == 0
    assert wo(repo, "run", "2", "--", exe).code == 3
    assert _status(repo, 2)[1][0].startswith("notes.txt: secrets / *.txt")


def test_a_key_appended_to_inits_config_is_top_level(repo: Path) -> None:
    """Appending `key = value` to the file init wrote sets that key (no table is left open at the end)."""
    assert wo(repo, "init", "--no-hook").code == 0
    with (repo / ".wo-git.toml").open("a") as fh:
        fh.write('mailbox = "orders"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "wo-git")
    r = wo(repo, "open", "x", "--title", "X", "--task", "t", "--json")
    assert r.code == 0, r.err
    assert r.json()["work_file"].startswith("orders/")  # type: ignore[index]


def test_a_bad_config_names_the_key_and_what_to_do(repo: Path) -> None:
    _commit_config(repo, "timeout = \"soon\"\n")
    r = wo(repo, "open", "x", "--title", "X", "--task", "t")
    assert r.code == 1
    assert r.err.count("\n") == 1 and "timeout" in r.err and "fix it and commit" in r.err
