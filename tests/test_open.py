"""``wo-git open``: ids, branches, the work file, the contract, bad input."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
import yaml

from conftest import git, open_ticket, wo


def test_open_contract_and_nothing_else_changes(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("dirty = True\n")  # user's uncommitted work
    git(repo, "add", "README.md")
    index = repo / ".git" / "index"
    before = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), index.read_bytes())
    r = wo(repo, "open", "contact-form", "--title", "Contact form validation", "--task", "Validate the form.",
           "--criteria", "Invalid email rejected", "--criteria", "Tests pass", "--scope", "src/**", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data == {
        "id": 1, "slug": "contact-form", "branch": "wo/0001-contact-form",
        "work_file": "work-orders/0001-contact-form/w01-work.md",
        "report_file": "work-orders/0001-contact-form/w02-report.md",
        "base": "main", "commit": data["commit"],  # type: ignore[index]
    }
    after = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"), index.read_bytes())
    assert after == before
    # the branch starts at the base tip with exactly the work file added
    assert git(repo, "rev-parse", "wo/0001-contact-form^").strip() == git(repo, "rev-parse", "main").strip()
    assert git(repo, "diff", "--name-status", "main", "wo/0001-contact-form").split() == [
        "A", "work-orders/0001-contact-form/w01-work.md"]
    assert git(repo, "rev-parse", "refs/wo/tickets/0001").strip() == data["commit"]  # type: ignore[index]
    text = git(repo, "show", "wo/0001-contact-form:work-orders/0001-contact-form/w01-work.md")
    front = yaml.safe_load(text.split("---")[1])
    assert front["ticket"] == 1 and front["round"] == 1 and front["base"] == "main"
    assert front["report"] == "work-orders/0001-contact-form/w02-report.md"
    assert front["scope"] == ["src/**"]
    for section in ("## Task", "## Requirements / Success Criteria", "## Context", "## Delivery"):
        assert section in text
    assert "- [ ] Invalid email rejected" in text
    assert "`work-orders/0001-contact-form/w02-report.md` (exact name)" in text
    trailers = git(repo, "log", "-1", "--format=%(trailers)", "wo/0001-contact-form")
    for t in ("Wo-Ticket: 0001", "Wo-Round: 1", "Wo-Role: architect", "Wo-Event: open", "Wo-Base: main"):
        assert t in trailers


def test_ids_increase_and_task_sources(repo: Path, tmp_path: Path) -> None:
    f = tmp_path / "task.md"
    f.write_text("From a file.\n")
    assert open_ticket(repo, "a")["id"] == 1
    r = wo(repo, "open", "b", "--title", "B", "--task-file", str(f), "--json")
    assert r.code == 0 and r.json()["id"] == 2  # type: ignore[index]
    r = wo(repo, "open", "c", "--title", "C", "--json", input="From stdin.\n")
    assert r.code == 0 and r.json()["id"] == 3  # type: ignore[index]
    assert "From stdin." in git(repo, "show", "wo/0003-c:work-orders/0003-c/w01-work.md")
    assert "From a file." in git(repo, "show", "wo/0002-b:work-orders/0002-b/w01-work.md")


def test_twenty_concurrent_opens_get_distinct_ids(repo: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: wo(repo, "open", f"t{i}", "--title", "T", "--task", "x", "--json"),
                                range(20)))
    assert all(r.code == 0 for r in results), [r.err for r in results if r.code]
    ids = sorted(r.json()["id"] for r in results)  # type: ignore[index]
    assert ids == list(range(1, 21))
    assert len(git(repo, "for-each-ref", "refs/wo/tickets/").splitlines()) == 20
    assert len(git(repo, "branch", "--list", "wo/*").splitlines()) == 20


@pytest.mark.parametrize("slug", ["../x", "has space", "-rf", "", "UPPER", "a..b", "x.lock", "x/y", "a~1", "é"])
def test_bad_slug_is_refused_and_changes_nothing(repo: Path, slug: str) -> None:
    refs = git(repo, "for-each-ref")
    r = wo(repo, "open", "--title", "T", "--task", "x", "--", slug)
    assert r.code == 1
    assert "is not a safe branch name part" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert git(repo, "for-each-ref") == refs


def test_errors_are_one_line_and_change_nothing(repo: Path, tmp_path: Path) -> None:
    refs = git(repo, "for-each-ref")
    r = wo(repo, "open", "x", "--title", "T", "--task", "x", "--base", "nope")
    assert r.code == 1 and "base branch 'nope' does not exist" in r.err
    r = wo(repo, "open", "x", "--title", "T", "--task", "   ")
    assert r.code == 1 and "task is empty" in r.err
    r = wo(repo, "open", "x", "--task", "x")
    assert r.code == 2 and "--title" in r.err
    assert git(repo, "for-each-ref") == refs
    outside = tmp_path / "plain"
    outside.mkdir()
    r = wo(outside, "list")
    assert r.code == 1 and "not inside a git repository" in r.err
    r = wo(repo, "show", "42")
    assert r.code == 1 and "no ticket 0042" in r.err
    r = wo(repo, "show", "abc")
    assert r.code == 1 and "not a ticket id" in r.err


def test_open_from_other_base(repo: Path) -> None:
    git(repo, "branch", "develop")
    git(repo, "checkout", "-q", "--detach")
    data = open_ticket(repo, "x", "--base", "develop")
    assert data["base"] == "develop"
    r = wo(repo, "open", "y", "--title", "T", "--task", "x")
    assert r.code == 1 and "detached" in r.err


def test_empty_and_bare_repositories_get_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", "-b", "main", str(empty))
    r = wo(empty, "open", "x", "--title", "T", "--task", "t")
    assert r.code == 1 and "no commits yet" in r.err
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    r = wo(bare, "open", "x", "--title", "T", "--task", "t")
    assert r.code == 1 and "bare repository" in r.err
