"""``wo-git push`` / ``fetch``, ids allocated on the remote, hosts that refuse custom refs.

The remote is a bare repository reached by ``file://`` (git's real
send-pack/receive-pack) or by ``git daemon`` on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from remotes import clone, git_daemon, make_origin, remote_refs

from conftest import WO_GIT, git, wo


def _open(root: Path, slug: str, *extra: str) -> dict[str, object]:
    r = wo(root, "open", slug, "--title", f"Do {slug}", "--task", "Do it.", "--json", *extra)
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    return data


def test_fetch_brings_tickets_into_their_own_namespace(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    t1 = _open(a, "one")
    assert t1["id"] == 1 and t1["remote"] == "origin"
    assert remote_refs(origin, "refs/wo/tickets/") == {"refs/wo/tickets/0001": t1["commit"]}
    b = clone(origin.as_uri(), tmp_path / "b")
    r = wo(b, "list")
    assert r.code == 0 and r.out.strip() == "no tickets here; the remote origin may have some: wo-git fetch origin"
    _open(a, "two")  # made after the clone: only wo-git fetch brings it
    tracking = git(b, "for-each-ref", "refs/remotes/")
    r = wo(b, "fetch", "origin")
    assert r.code == 0, r.err
    assert "new: 0001, 0002" in r.out
    refs = git(b, "for-each-ref", "--format=%(refname)")
    assert "refs/wo-remotes/origin/tickets/0001" in refs
    assert "refs/wo-remotes/origin/heads/wo/0001-one" in refs
    assert git(b, "for-each-ref", "refs/remotes/") == tracking  # the branches' remote-tracking refs: untouched
    assert "wo-remotes" not in git(b, "config", "--get-all", "remote.origin.fetch")
    assert "0001  open" in wo(b, "list").out
    show = wo(b, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["state"] == "open"
    assert "open" in wo(b, "log", "1").out
    # the README's way of sharing records cannot send the tracking refs back
    git(b, "push", "-q", "origin", "refs/wo/*:refs/wo/*")
    assert not remote_refs(origin, "refs/wo-remotes/")
    # run in b, push, fetch in a: a sees the report
    exe = tmp_path / "exec.sh"
    exe.write_text('#!/bin/sh\necho hi > hi.txt\nprintf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"\n')
    exe.chmod(0o755)
    assert wo(b, "run", "1", "--", str(exe)).code == 0
    r = wo(b, "push")
    assert r.code == 0 and "pushed: 0001" in r.out, r.out + r.err
    r = wo(a, "fetch")
    assert r.code == 0 and "updated: 0001" in r.out, r.out
    show = wo(a, "show", "1", "--json").json()
    assert isinstance(show, dict) and show["state"] == "reported" and show["status"] == "COMPLETED"
    assert git(a, "show", "wo/0001-one:hi.txt") == "hi\n"
    # nothing new: push and fetch say so
    assert "nothing to do" in wo(a, "push").out


def test_concurrent_opens_from_several_clones_get_distinct_ids(tmp_path: Path) -> None:
    origin, _a = make_origin(tmp_path)
    clones = [clone(origin.as_uri(), tmp_path / f"c{i}") for i in range(4)]
    procs = []
    for i, c in enumerate(clones):
        cmd = " && ".join(
            f"{sys.executable} -m wo_git open c{i}-{k} --title T --task x --json" for k in range(3))
        procs.append(subprocess.Popen(["sh", "-c", cmd], cwd=c, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    ids = sorted(int(n.rsplit("/", 1)[1]) for n in remote_refs(origin, "refs/wo/tickets/"))
    assert ids == list(range(1, 13))
    # each remote record is the open commit of the clone that won it
    for c in clones:
        mine = git(c, "for-each-ref", "--format=%(refname) %(objectname)", "refs/wo/tickets/").splitlines()
        assert len(mine) == 3
        theirs = remote_refs(origin, "refs/wo/tickets/")
        for line in mine:
            name, oid = line.split()
            assert theirs[name] == oid


def test_offline_open_then_push_and_collision_renumber(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    b = clone(origin.as_uri(), tmp_path / "b")
    _open(a, "first")
    git(b, "remote", "set-url", "origin", (tmp_path / "gone.git").as_uri())
    r = wo(b, "open", "offline", "--title", "Offline", "--task", "x", "--json")
    assert r.code == 0, r.err
    assert "is local until pushed: wo-git push" in r.err
    data = r.json()
    assert isinstance(data, dict) and data["remote"] is None and data["id"] == 1  # b never saw a's 0001
    r = wo(b, "push")
    assert r.code == 1 and "cannot reach remote 'origin'" in r.err
    git(b, "remote", "set-url", "origin", origin.as_uri())
    r = wo(b, "push")
    assert r.code == 6, r.out + r.err
    assert "origin already has another ticket 0001" in r.out and "--renumber" in r.out
    before = remote_refs(origin)
    assert before["refs/wo/tickets/0001"] != data["commit"]  # a's ticket is untouched
    r = wo(b, "push", "--renumber")
    assert r.code == 0, r.out + r.err
    assert "renumbered 0001 to 0002" in r.out
    after = remote_refs(origin)
    assert after["refs/wo/tickets/0001"] == before["refs/wo/tickets/0001"]
    assert "refs/heads/wo/0002-offline" in after
    assert git(b, "show", "wo/0002-offline:work-orders/0002-offline/w01-work.md").count("ticket 0002") == 1
    ids = [t["id"] for t in wo(b, "list", "--json").json()]  # type: ignore[union-attr,index]
    assert ids == [1, 2]  # a's 0001 fetched, b's own as 0002
    assert wo(b, "show", "1", "--json").json()["slug"] == "first"  # type: ignore[index]


def test_git_daemon_remote(tmp_path: Path) -> None:
    origin, _a = make_origin(tmp_path)
    with git_daemon(tmp_path) as base_url:
        url = f"{base_url}/{origin.name}"
        c1 = clone(url, tmp_path / "d1")
        c2 = clone(url, tmp_path / "d2")
        t = _open(c1, "over-daemon")
        assert t["remote"] == "origin" and t["id"] == 1
        t2 = _open(c2, "second")
        assert t2["id"] == 2
        r = wo(c2, "fetch")
        assert r.code == 0 and "new: 0001" in r.out, r.err
    assert set(remote_refs(origin, "refs/wo/tickets/")) == {"refs/wo/tickets/0001", "refs/wo/tickets/0002"}


def test_host_that_takes_only_branches_and_tags(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    hook = origin / "hooks" / "update"
    hook.write_text('#!/bin/sh\ncase "$1" in refs/heads/*|refs/tags/*) exit 0;; esac\n'
                    'echo "only branches and tags here" >&2\nexit 1\n')
    hook.chmod(0o755)
    r = wo(a, "open", "x", "--title", "X", "--task", "x")
    assert r.code == 1
    assert len(r.err.strip().splitlines()) == 1
    assert "remote 'origin' refused refs/wo/tickets/0001" in r.err and "only branches and tags" in r.err
    assert not remote_refs(origin, "refs/heads/wo/")  # atomic: the branch did not go either


def test_doctor_takes_a_branch_that_lives_only_on_the_remote(tmp_path: Path) -> None:
    origin, a = make_origin(tmp_path)
    _open(a, "far")
    b = clone(origin.as_uri(), tmp_path / "b")
    assert wo(b, "fetch").code == 0
    git(b, "branch", "-D", "wo/0001-far")
    r = wo(b, "doctor")
    assert "remote-only-branch" in r.out and "lives only on origin" in r.out
    r = wo(b, "doctor", "--fix")
    assert r.code == 0 and "fixed: remote-only-branch" in r.out
    assert git(b, "rev-parse", "wo/0001-far").strip() == remote_refs(origin)["refs/heads/wo/0001-far"]


def test_fetch_unknown_remote_says_how(tmp_path: Path) -> None:
    _origin, a = make_origin(tmp_path)
    r = wo(a, "fetch", "nosuch")
    assert r.code == 1 and "no remote named 'nosuch'; add it: git remote add nosuch URL" in r.err
    assert WO_GIT  # the CLI is the real one
