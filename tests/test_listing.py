"""``wo-git list`` reads a cache keyed by record commit ids; a damaged cache never changes its answer."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPORT_OK, git, open_ticket, script, wo


def listed(root: Path) -> object:
    r = wo(root, "list", "--all", "--json")
    assert r.code == 0, r.err
    return r.json()


def cache_file(root: Path) -> Path:
    common = git(root, "rev-parse", "--path-format=absolute", "--git-common-dir").strip()
    return Path(common) / "wo" / "list-cache.json"


def test_list_cache_follows_the_refs_and_survives_corruption(repo: Path, tmp_path: Path) -> None:
    for slug in ("one", "two", "three", "four"):
        open_ticket(repo, slug)
    exe = script(tmp_path, REPORT_OK)
    for tid in ("2", "3", "4"):
        assert wo(repo, "run", tid, "--", exe).code == 0
    assert wo(repo, "accept", "3").code == 0
    assert wo(repo, "reject", "4", "--reason", "not needed").code == 0
    first = listed(repo)
    assert [(t["id"], t["state"], t["status"]) for t in first] == [  # type: ignore[index, union-attr]
        (1, "open", None), (2, "reported", "COMPLETED"), (3, "accepted", "COMPLETED"), (4, "rejected", "COMPLETED")]
    cache = cache_file(repo)
    assert cache.is_file()
    assert listed(repo) == first  # from the cache

    # a plausible but wrong entry (its digest no longer matches) is ignored
    data = json.loads(cache.read_text())
    for entry in data["records"].values():
        entry["state"], entry["title"] = "accepted", "forged"
    cache.write_text(json.dumps(data))
    assert listed(repo) == first
    # garbage, and a cache that is a directory's worth of nothing
    cache.write_bytes(b"\x00not json{")
    assert listed(repo) == first
    cache.unlink()
    assert listed(repo) == first

    # the record moves (accept): the cache cannot hold the old state for the new commit
    assert wo(repo, "accept", "2").code == 0
    after = listed(repo)
    assert [t["state"] for t in after] == ["open", "accepted", "accepted", "rejected"]  # type: ignore[index, union-attr]
    # and plain `list` agrees with `show`
    show = wo(repo, "show", "2", "--json").json()
    assert isinstance(show, dict)
    assert "accepted" in json.dumps(show)
