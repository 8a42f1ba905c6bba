"""``accept`` and ``reject``: merges, checked-out bases, conflicts, records."""

from __future__ import annotations

from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo


def _run_ok(repo: Path, tmp_path: Path, tid: int, body: str, name: str = "exec.sh") -> None:
    r = wo(repo, "run", str(tid), "--", script(tmp_path, body + REPORT_OK, name))
    assert r.code == 0, r.err + r.out


def test_accept_no_ff_updates_clean_checkout_and_cleans_up(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "feature")
    _run_ok(repo, tmp_path, 1, "echo 'def bye(): pass' >> src/app.py\necho new > new.txt\n")
    wt = repo.parent / "proj.wo" / "0001-feature"
    assert wt.exists()
    (repo / "scratch.txt").write_text("untracked, unrelated\n")
    r = wo(repo, "accept", "1", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict) and data["squash"] is False
    parents = git(repo, "rev-list", "--parents", "-1", "main").split()
    assert len(parents) == 3  # a real merge commit (--no-ff)
    assert (repo / "new.txt").read_text() == "new\n"  # the checked-out base's files moved
    assert "def bye" in (repo / "src" / "app.py").read_text()
    assert git(repo, "status", "--porcelain") == "?? scratch.txt\n"
    assert not wt.exists()
    assert git(repo, "branch", "--list", "wo/*") == ""
    assert git(repo, "rev-parse", "refs/wo/tickets/0001").strip() == git(repo, "rev-parse", "main^2").strip()
    assert "Wo-Event: accept" in git(repo, "log", "-1", "--format=%(trailers)", "refs/wo/tickets/0001")
    assert "work-orders/0001-feature/w02-report.md" in git(repo, "ls-files")
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["state"] == "accepted"
    r = wo(repo, "accept", "1")
    assert r.code == 1 and "already accepted" in r.err
    assert git(repo, "fsck", "--no-progress", "--no-dangling", check=False) == ""


def test_accept_squash(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "sq")
    _run_ok(repo, tmp_path, 1, "echo s > s.txt\n")
    assert wo(repo, "accept", "1", "--squash").code == 0
    assert len(git(repo, "rev-list", "--parents", "-1", "main").split()) == 2
    assert git(repo, "show", "main:s.txt") == "s\n"
    assert "Wo-Merge: squash" in git(repo, "log", "-1", "--format=%(trailers)", "refs/wo/tickets/0001")


def test_accept_requires_completed_report_unless_forced(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "p")
    r = wo(repo, "accept", "1")
    assert r.code == 1 and "no report" in r.err
    exe = script(tmp_path, 'echo x > x.txt\nprintf -- "- Status: PARTIAL\\n" > "$WO_REPORT_FILE"\n')
    wo(repo, "run", "1", "--", exe)
    main = git(repo, "rev-parse", "main")
    r = wo(repo, "accept", "1")
    assert r.code == 1 and "PARTIAL, not COMPLETED" in r.err
    assert git(repo, "rev-parse", "main") == main
    assert wo(repo, "accept", "1", "--force").code == 0
    assert "Wo-Forced: yes" in git(repo, "log", "-1", "--format=%(trailers)", "refs/wo/tickets/0001")


def test_dirty_base_where_merge_writes_is_refused_untouched(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "d")
    _run_ok(repo, tmp_path, 1, "echo ticket >> src/app.py\n")
    (repo / "src" / "app.py").write_text("my local edit\n")
    main = git(repo, "rev-parse", "main")
    r = wo(repo, "accept", "1")
    assert r.code == 1 and "src/app.py" in r.err and "nothing was changed" in r.err
    assert git(repo, "rev-parse", "main") == main
    assert (repo / "src" / "app.py").read_text() == "my local edit\n"
    assert git(repo, "rev-parse", "--verify", "wo/0001-d", check=False)
    # dirty elsewhere is fine
    git(repo, "checkout", "--", "src/app.py")
    (repo / "README.md").write_text("local readme edit\n")
    assert wo(repo, "accept", "1").code == 0
    assert (repo / "README.md").read_text() == "local readme edit\n"
    assert "ticket" in (repo / "src" / "app.py").read_text()


def test_merge_conflict_names_files_and_changes_nothing(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "c")
    _run_ok(repo, tmp_path, 1, "echo theirs > src/app.py\n")
    (repo / "src" / "app.py").write_text("ours\n")
    git(repo, "commit", "-qam", "conflicting change on main")
    refs = git(repo, "for-each-ref")
    r = wo(repo, "accept", "1")
    assert r.code == 4
    assert "src/app.py" in r.err and "nothing was changed" in r.err
    assert git(repo, "for-each-ref") == refs
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".git" / "MERGE_HEAD").exists()


def test_accept_merges_base_that_moved_on(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "m")
    _run_ok(repo, tmp_path, 1, "echo t > t.txt\n")
    (repo / "other.txt").write_text("o\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-qm", "main moves on")
    assert wo(repo, "accept", "1").code == 0
    assert (repo / "t.txt").exists() and (repo / "other.txt").exists()


def test_reject_keeps_record_and_leftovers(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "r")
    _run_ok(repo, tmp_path, 1, "echo t > t.txt\n")
    wt = repo.parent / "proj.wo" / "0001-r"
    (wt / "later.txt").write_text("work done after the report\n")
    r = wo(repo, "reject", "1", "--reason", "Not needed after all.", "--json")
    assert r.code == 0, r.err
    assert not wt.exists() and git(repo, "branch", "--list", "wo/*") == ""
    assert git(repo, "show", "refs/wo-local/leftovers/0001:later.txt") == "work done after the report\n"
    msg = git(repo, "log", "-1", "--format=%B", "refs/wo/tickets/0001")
    assert "Not needed after all." in msg and "Wo-Event: reject" in msg
    assert wo(repo, "show", "1", "--json").json()["state"] == "rejected"  # type: ignore[index]
    assert wo(repo, "reject", "1", "--reason", "again").code == 1
    assert wo(repo, "reject", "1", "--reason", "  ").code == 1


def test_review_is_committed(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "rv")
    _run_ok(repo, tmp_path, 1, "echo t > t.txt\n")
    r = wo(repo, "review", "1", "--correctness", "4", "--quality", "3", "--verdict", "pass", "--notes", "Fine.")
    assert r.code == 0, r.err
    trailers = git(repo, "log", "-1", "--format=%(trailers)", "wo/0001-rv")
    assert "Wo-Score-Correctness: 4" in trailers and "Wo-Event: review" in trailers
    assert "Fine." in git(repo, "show", "wo/0001-rv:work-orders/0001-rv/w02-review.md")
    show = wo(repo, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["state"] == "reported" and show["status"] == "COMPLETED"
    assert wo(repo, "accept", "1").code == 0
