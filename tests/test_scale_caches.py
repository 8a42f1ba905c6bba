"""The caches behind fast ``list``, ``show`` and ``open`` (issue 12) follow the refs and survive damage.

Each test compares the cached answer with what the refs say *now*, after
the refs were changed by wo-git, by plain git (``update-ref``,
``pack-refs``, a commit on the base branch) or after the cache was damaged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo

PROBE = """
import sys
from wo_git.cli import main
try:
    main(sys.argv[1:])
finally:
    print("LOADED", ",".join(m for m in ("pygit2", "pydantic", "unidiff") if m in sys.modules), file=sys.stderr)
"""


def common(root: Path) -> Path:
    return Path(git(root, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())


def age_refs(root: Path, seconds: float = 10) -> None:
    """Make the record refs' stamps look ``seconds`` old (as if the last change were that long ago)."""
    then = time.time() - seconds
    for path in (common(root) / "refs" / "wo" / "tickets", common(root) / "packed-refs"):
        if path.exists():
            os.utime(path, (then, then))


def probe(root: Path, *args: str) -> tuple[str, set[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PWD": str(root)})
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED")][-1]
    return proc.stdout, {m for m in line.split(" ", 1)[1].split(",") if m}


def listed(root: Path, *args: str) -> list[tuple[int, str, str | None]]:
    r = wo(root, "list", "--json", *args)
    assert r.code == 0, r.err
    return [(t["id"], t["state"], t["status"]) for t in r.json()]  # type: ignore[index, union-attr]


def fresh_list(root: Path) -> list[tuple[int, str, str | None]]:
    """What ``list`` says with no cache at all: the refs' own answer."""
    for name in ("list-open.json", "list-closed.json", "list-cache.json"):
        (common(root) / "wo" / name).unlink(missing_ok=True)
    return listed(root)


def test_list_answers_from_the_index_without_libgit2_and_follows_every_ref_change(
        repo: Path, tmp_path: Path) -> None:
    for slug in ("one", "two", "three", "four"):
        open_ticket(repo, slug)
    exe = script(tmp_path, REPORT_OK)
    assert wo(repo, "run", "2", "--", exe).code == 0
    assert wo(repo, "accept", "2").code == 0
    age_refs(repo)
    first = listed(repo)  # reads the refs, writes the index
    assert first == [(1, "open", None), (2, "accepted", "COMPLETED"), (3, "open", None), (4, "open", None)]
    assert (common(repo) / "wo" / "list-open.json").is_file()
    out, mods = probe(repo, "list")
    assert "pygit2" not in mods and "pydantic" not in mods, mods
    assert [ln.split()[0] for ln in out.splitlines()] == ["0001", "0003", "0004"]

    # wo-git moves refs: the index is stale at once (no aging: a change in the last second is never trusted)
    assert wo(repo, "run", "3", "--", exe).code == 0
    assert listed(repo) == [(1, "open", None), (2, "accepted", "COMPLETED"), (3, "reported", "COMPLETED"),
                            (4, "open", None)]
    age_refs(repo)
    listed(repo)
    # plain git moves refs behind wo-git's back: deleted, packed, then a packed ref deleted
    git(repo, "update-ref", "-d", "refs/wo/tickets/0004")
    assert listed(repo) == fresh_list(repo)
    assert [t[0] for t in listed(repo)] == [1, 2, 3]
    age_refs(repo)
    listed(repo)
    git(repo, "pack-refs", "--all")
    assert listed(repo) == fresh_list(repo) == [(1, "open", None), (2, "accepted", "COMPLETED"),
                                                 (3, "reported", "COMPLETED")]
    age_refs(repo)
    listed(repo)
    git(repo, "update-ref", "-d", "refs/wo/tickets/0001")
    assert [t[0] for t in listed(repo)] == [2, 3]
    # a record pointed elsewhere by hand (same count, same names): the new commit's facts
    age_refs(repo)
    listed(repo)
    git(repo, "update-ref", "refs/wo/tickets/0003", "refs/wo/tickets/0003~1")  # back to its open commit
    assert listed(repo) == [(2, "accepted", "COMPLETED"), (3, "open", None)] == fresh_list(repo)


def test_a_damaged_index_or_record_cache_is_ignored(repo: Path) -> None:
    for slug in ("one", "two"):
        open_ticket(repo, slug)
    age_refs(repo)
    want = listed(repo)
    index = common(repo) / "wo" / "list-open.json"
    head, _, body = index.read_bytes().partition(b"\n")
    rows = json.loads(body)
    rows[0][6] = "accepted"  # a plausible lie: the digest no longer matches
    index.write_bytes(head + b"\n" + json.dumps(rows).encode())
    assert listed(repo) == want
    assert wo(repo, "list").out.count("open") == 2
    for damage in (b"", b"\x00garbage", head):  # empty, not JSON, header without rows
        index.write_bytes(damage)
        assert listed(repo) == want
        assert [ln.split()[0] for ln in wo(repo, "list").out.splitlines()] == ["0001", "0002"]
    # an index written for another state of the refs (a stamp that no longer matches)
    age_refs(repo)
    listed(repo)
    saved = index.read_bytes()
    open_ticket(repo, "three")
    index.write_bytes(saved)
    assert [t[0] for t in listed(repo)] == [1, 2, 3]
    # the README's way to rebuild it, exactly as written there
    subprocess.run("rm .git/wo/list-*.json", shell=True, cwd=repo, check=True)
    assert [t[0] for t in listed(repo)] == [1, 2, 3]


def test_a_change_within_the_last_second_is_never_trusted(repo: Path) -> None:
    open_ticket(repo, "one")
    listed(repo)  # the record ref changed just now: racy, no index written
    assert not (common(repo) / "wo" / "list-open.json").exists()
    age_refs(repo)
    listed(repo)
    assert (common(repo) / "wo" / "list-open.json").exists()


def test_show_answers_from_its_cache_and_follows_record_branch_and_base(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "one")
    exe = script(tmp_path, 'echo hi > new.txt\n' + REPORT_OK)
    assert wo(repo, "run", "1", "--", exe).code == 0
    text, js = wo(repo, "show", "1").out, wo(repo, "show", "1", "--json").out
    assert (common(repo) / "wo" / "show" / "0001.json").is_file()
    out, mods = probe(repo, "show", "1")
    assert out == text and not mods & {"pygit2", "pydantic", "unidiff"}, mods
    assert probe(repo, "show", "1", "--json")[0] == js

    def uncached(*args: str) -> str:
        (common(repo) / "wo" / "show" / "0001.json").unlink(missing_ok=True)
        return wo(repo, "show", "1", *args).out

    # the base branch moves: the whole-ticket diffstat is measured from a new merge base
    (repo / "base.txt").write_text("base\n")
    git(repo, "add", "base.txt")
    git(repo, "commit", "-qm", "base moves")
    after_base = wo(repo, "show", "1", "--json").out
    assert after_base == uncached("--json")
    # the branch moves (a commit by hand on the ticket branch)
    wt = next(Path(ln[len("worktree "):]) for ln in git(repo, "worktree", "list", "--porcelain").splitlines()
              if ln.startswith("worktree ") and ln.endswith("0001-one"))
    (wt / "more.txt").write_text("more\n")
    git(wt, "add", "more.txt")
    git(wt, "commit", "-qm", "by hand")
    moved = wo(repo, "show", "1", "--json").out
    assert "more.txt" in moved and moved == uncached("--json")
    # the record moves (accept): the state is the new one
    assert wo(repo, "accept", "1").code == 0
    r = wo(repo, "show", "1", "--json")
    assert r.code == 0, r.err
    shown = r.json()
    assert isinstance(shown, dict) and shown["state"] == "accepted"
    # a damaged or forged cache file is ignored
    cache = common(repo) / "wo" / "show" / "0001.json"
    data = json.loads(cache.read_text())
    data["text"] = "forged"
    cache.write_text(json.dumps(data))
    assert "forged" not in wo(repo, "show", "1").out
    cache.write_text("{not json")
    assert wo(repo, "show", "1").out.startswith("ticket 0001 one")


def test_show_of_a_running_ticket_is_never_served_from_the_cache(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "slow")
    assert "state open" in wo(repo, "show", "1").out
    assert (common(repo) / "wo" / "show" / "0001.json").is_file()
    gate = tmp_path / "gate"
    exe = script(tmp_path, f'while [ ! -e "{gate}" ]; do sleep 0.05; done\n' + REPORT_OK)
    run = subprocess.Popen([sys.executable, "-m", "wo_git", "run", "1", "--", exe], cwd=repo,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PWD": str(repo)})
    try:
        deadline = time.monotonic() + 60
        while "state running" not in wo(repo, "show", "1").out:
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.1)
        assert [t[1] for t in listed(repo)] == ["running"]
    finally:
        gate.touch()
        run.wait(timeout=60)
    assert "state reported" in wo(repo, "show", "1").out


def test_open_allocates_after_the_last_id_without_listing_and_skips_fetched_records(repo: Path) -> None:
    open_ticket(repo, "one")
    last = common(repo) / "wo" / "last-id"
    assert last.read_text().strip() == "1"
    # a record this clone did not allocate (as a fetch brings): the next open steps over it
    one = git(repo, "rev-parse", "refs/wo/tickets/0001").strip()
    git(repo, "update-ref", "refs/wo/tickets/0002", one)
    assert open_ticket(repo, "three")["id"] == 3
    # a damaged hint is rebuilt from the records
    last.write_text("garbage")
    assert open_ticket(repo, "four")["id"] == 4
    last.unlink()
    assert open_ticket(repo, "five")["id"] == 5
    assert last.read_text().strip() == "5"
