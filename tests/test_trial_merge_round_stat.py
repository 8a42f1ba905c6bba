"""Found trying the product as a user: the packet of a round that resolved a conflict.

Two tickets edit the same line; the first is accepted, `update` turns the
second's conflict into a round the executor resolves. That round's diffstat
named the first ticket's work-order files, which arrived with the base and
which this executor never touched.
"""

from __future__ import annotations

from pathlib import Path

from conftest import REPORT_OK, open_ticket, script, wo


def test_a_merge_round_diffstat_names_only_what_the_resolution_wrote(repo: Path, tmp_path: Path) -> None:
    open_ticket(repo, "first", "--scope", "src/**")
    open_ticket(repo, "second", "--scope", "src/**")
    one = script(tmp_path, "sed -i 's/hi/one/' src/app.py\n" + REPORT_OK, name="one.sh")
    two = script(tmp_path, """
        if git rev-parse -q --verify MERGE_HEAD >/dev/null; then
            printf "def hello():\\n    return 'one and two'\\n" > src/app.py
        else
            sed -i 's/hi/two/' src/app.py
        fi
        """ + REPORT_OK, name="two.sh")
    assert wo(repo, "run", "1", "--", one).code == 0
    assert wo(repo, "run", "2", "--", two).code == 0
    assert wo(repo, "accept", "1").code == 0
    assert wo(repo, "accept", "2").code == 4
    r = wo(repo, "update", "2", "--json")
    assert r.code == 0 and r.json()["outcome"] == "conflict", r.out + r.err  # type: ignore[index]
    r = wo(repo, "run", "2", "--", two)
    assert r.code == 0, r.out + r.err
    shown = wo(repo, "show", "2", "--json").json()
    assert isinstance(shown, dict)
    paths = [f["path"] for f in shown["diffstat"]["paths"]]
    assert paths == ["src/app.py"], paths
    assert "work-orders/0001-first" not in wo(repo, "show", "2").out
    assert wo(repo, "accept", "2").code == 0
    assert "one and two" in (repo / "src" / "app.py").read_text()
