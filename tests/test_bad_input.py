"""Bad input found in the trial (issue 7, item 10): empty values, linked worktrees, submodules."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPORT_OK, git, open_ticket, script, wo


@pytest.mark.parametrize(("args", "named"), [
    (["--criteria", ""], "--criteria"),
    (["--criteria", "fine", "--criteria", "  "], "--criteria"),
    (["--scope", ""], "--scope"),
    (["--allow", " "], "--allow"),
    (["--title", ""], "--title"),
])
def test_open_refuses_empty_values_with_one_line(repo: Path, args: list[str], named: str) -> None:
    base = ["open", "empty", "--title", "T", "--task", "Do it."]
    r = wo(repo, *base, *args)
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "empty" in lines[0], r.err
    assert git(repo, "for-each-ref", "refs/wo/", "refs/heads/wo/") == ""  # nothing was created


def test_open_refuses_an_empty_slug_and_revise_empty_criteria(repo: Path, tmp_path: Path) -> None:
    r = wo(repo, "open", "", "--title", "T", "--task", "Do it.")
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1 and "slug" in r.err
    assert git(repo, "for-each-ref", "refs/wo/") == ""
    open_ticket(repo, "ok")
    assert wo(repo, "run", "1", "--", script(tmp_path, "echo x >> README.md\n" + REPORT_OK)).code == 0
    r = wo(repo, "revise", "1", "--task", "More.", "--criteria", "")
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1 and "--criteria" in r.err
    assert wo(repo, "show", "1", "--json").json()["round"] == 1  # type: ignore[index]


def test_open_in_a_linked_worktree_defaults_to_its_branch(repo: Path) -> None:
    linked = repo.parent / "feature-wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    (linked / "feature.txt").write_text("only on feature\n")
    git(linked, "add", "feature.txt")
    git(linked, "commit", "-qm", "feature work")
    (linked / "sub").mkdir()
    data = open_ticket(linked / "sub", "on-feature")  # from a subfolder of the linked worktree
    assert data["base"] == "feature"
    assert git(repo, "show", "wo/0001-on-feature:feature.txt") == "only on feature\n"
    assert open_ticket(repo, "on-main")["base"] == "main"  # the main worktree still means main
    # the user's checkouts are untouched
    assert git(linked, "symbolic-ref", "--short", "HEAD").strip() == "feature"
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"


def test_ticket_worktrees_of_a_submodule_stay_out_of_the_superproject(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    (lib / "a.txt").write_text("lib\n")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    sup = tmp_path / "super"
    sup.mkdir()
    git(sup, "init", "-q", "-b", "main")
    (sup / "s.txt").write_text("super\n")
    git(sup, "add", "-A")
    git(sup, "commit", "-qm", "super")
    git(sup, "submodule", "add", "-q", str(lib), "libs/lib")
    git(sup, "commit", "-qm", "add lib")
    sub = sup / "libs" / "lib"
    open_ticket(sub, "in-sub")
    # git itself works inside the default sandbox, whose git dir is the superproject's
    # .git/modules/libs/lib; the executor writes only where the sandbox lets it
    out = tmp_path / "out"
    out.mkdir()
    exe = script(tmp_path, f"""
        test "$WO_SANDBOX" = bwrap
        echo "$WO_WORKTREE" > {out}/worktree-was
        git status --porcelain >/dev/null
        echo more >> a.txt
        git add a.txt && git commit -qm more
        """ + REPORT_OK)
    r = wo(sub, "run", "1", "--", exe, env={"WO_SANDBOX_WRITABLE": str(out)})
    assert r.code == 0, r.err
    where = Path((out / "worktree-was").read_text().strip())
    assert where == (tmp_path / "super-libs-lib.wo" / "0001-in-sub").resolve()
    assert sup.resolve() not in where.parents
    assert git(sup, "status", "--porcelain", "--untracked-files=all") == ""  # nothing new in the superproject
    assert wo(sub, "accept", "1").code == 0
    assert git(sub, "show", "main:a.txt") == "lib\nmore\n"
    assert not where.exists()
