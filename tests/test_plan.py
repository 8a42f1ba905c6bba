"""Plans: a real plan over a real project's files, driven to the end through the CLI.

The repository is toolz 0.12.1's PyPI sdist (fetched like the main job does,
``demo/sdists.py``, cached in the real ``~/.cache/wo-git-demo``). Executors are
scripted commands (``tests/plan_executor.py``) that fail checks once, hit a
rate limit, crash, block, and depend on each other's output.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from itertools import combinations
from pathlib import Path

import pytest

from conftest import git, wo

HERE = Path(__file__).resolve().parent
EXEC = str(HERE / "plan_executor.py")
CACHE = os.environ.get("WO_DEMO_CACHE") or str(Path.home() / ".cache" / "wo-git-demo")
PY = sys.executable

sys.path.insert(0, str(HERE.parent / "demo"))
import sdists  # noqa: E402

CHECK = textwrap.dedent("""\
    import ast, pathlib, sys
    bad = 0
    for p in sorted(pathlib.Path().glob("t*/**/*.py")):
        try:
            ast.parse(p.read_bytes(), filename=str(p))
        except SyntaxError as err:
            print(f"SyntaxError: {p}:{err.lineno}: {err.msg}")
            bad += 1
    sys.exit(1 if bad else 0)
""")


@pytest.fixture
def toolz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose first commit is toolz 0.12.1's sdist, with wo-git's config committed."""
    monkeypatch.setenv("WO_DEMO_CACHE", CACHE)
    try:
        archive = sdists.fetch("toolz", "0.12.1", PY)
    except RuntimeError as err:  # pragma: no cover - no PyPI and no cache
        pytest.skip(f"cannot fetch the toolz sdist: {err}")
    root = tmp_path / "toolz"
    shutil.copytree(sdists.unpack(archive, tmp_path / "sdist"), root, symlinks=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A", "-f")
    git(root, "commit", "-q", "-m", "toolz 0.12.1")
    (root / "check_syntax.py").write_text(CHECK)
    (root / ".wo-git.toml").write_text(textwrap.dedent(f"""\
        checks = ["python3 -B check_syntax.py"]
        fallback = ["steady"]
        [executors.flaky]
        argv = ["{PY}", "{EXEC}", "rate-limited"]
        [executors.steady]
        argv = ["{PY}", "{EXEC}", "append", "toolz/itertoolz.py", "# reviewed by the plan"]
    """))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "wo-git config and checks")
    return root


def cmd(*args: str) -> list[str]:
    return [PY, EXEC, *args]


def plan_yaml(name: str = "tidy") -> str:
    tickets = [
        # phase core
        dict(key="extra-twice", phase="core", title="Add twice()", task="Add toolz/extra.py with twice(x).",
             criteria=["twice(2) == 4"], scope=["/toolz/extra.py"], argv=cmd("fail-checks-once", "toolz/extra.py")),
        dict(key="itertoolz-note", phase="core", title="Note in itertoolz", task="Add a note.",
             scope=["/toolz/itertoolz.py"], executor="flaky"),
        dict(key="dicttoolz-note", phase="core", title="Note in dicttoolz", task="Add a note.",
             scope=["/toolz/dicttoolz.py"], argv=cmd("append", "toolz/dicttoolz.py", "# dict note")),
        dict(key="sandbox-note", phase="core", title="Note in sandbox", task="Add a note.",
             scope=["toolz/sandbox/**"], argv=cmd("crash-once", "toolz/sandbox/core.py", "# sandbox note")),
        # phase use
        dict(key="use-twice", phase="use", title="Add quad() on twice()", task="Add toolz/extra_use.py.",
             scope=["/toolz/extra_use.py"], after=["extra-twice"],
             argv=cmd("use-dependency", "toolz/extra_use.py")),
        dict(key="functoolz-note", phase="use", title="Note in functoolz", task="Add a note.",
             scope=["/toolz/functoolz.py"], argv=cmd("append", "toolz/functoolz.py", "# func note")),
        dict(key="toolz-wide", phase="use", title="A note across toolz/*.py", task="Add a note.",
             scope=["toolz/*.py"], argv=cmd("blocked-once", "toolz/recipes.py", "# wide note")),
        # phase release
        dict(key="readme", phase="release", title="README line", task="Mention quad().",
             scope=["/README.rst"], after=["use-twice"], argv=cmd("append", "README.rst", "quad() is new.")),
        dict(key="tlz-broken", phase="release", title="tlz helper", task="Add tlz/helper.py.",
             scope=["tlz/**"], argv=cmd("always-broken", "tlz/helper.py")),
    ]
    import yaml

    return yaml.safe_dump({"name": name, "max_parallel": 3, "auto_retries": 2,
                           "phases": ["core", "use", "release"], "tickets": tickets}, sort_keys=False)


def test_plan_file_is_checked(toolz: Path) -> None:
    good = plan_yaml()
    f = toolz.parent / "plan.yaml"
    bad_cases = {
        "unknown key": good.replace("max_parallel: 3", "max_parallel: 3\nmax_paralel: 2"),
        "after names unknown key 'nope'": good.replace("- extra-twice", "- nope", 1),
        "cycle": good.replace("after:\n  - use-twice", "after:\n  - use-twice\n  - readme").replace(
            "after:\n  - extra-twice", "after:\n  - extra-twice\n  - readme"),
        "later phase": good.replace("key: dicttoolz-note\n  phase: core\n",
                                    "key: dicttoolz-note\n  phase: core\n  after: [readme]\n"),
        "phase": good.replace("phase: release", "phase: relase", 1),
    }
    for what, text in bad_cases.items():
        f.write_text(text)
        r = wo(toolz, "plan", "apply", str(f))
        assert r.code == 1, (what, r.out, r.err)
        assert len(r.err.strip().splitlines()) == 1, r.err
        assert git(toolz, "for-each-ref", "refs/wo/plans/") == "", what
    f.write_text(good)
    dry = wo(toolz, "plan", "apply", str(f), "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert len(dry.json()["added"]) == 9  # type: ignore[index]
    assert git(toolz, "for-each-ref", "refs/wo/plans/") == ""
    first = wo(toolz, "plan", "apply", str(f), "--json")
    assert first.code == 0, first.err
    tip = git(toolz, "rev-parse", "refs/wo/plans/tidy").strip()
    assert git(toolz, "show", "refs/wo/plans/tidy:plan.yaml") == good
    again = wo(toolz, "plan", "apply", str(f), "--json").json()
    assert again["commit"] == tip and again["added"] == [] and len(again["unchanged"]) == 9  # type: ignore[index]
    assert git(toolz, "rev-parse", "refs/wo/plans/tidy").strip() == tip
    f.write_text(good.replace("title: README line", "title: README line, changed"))
    changed = wo(toolz, "plan", "apply", str(f), "--json").json()
    assert changed["changed"] == ["readme"], changed  # type: ignore[index]
    assert git(toolz, "rev-parse", "refs/wo/plans/tidy^").strip() == tip
    shown = wo(toolz, "plan", "show", "--json").json()
    assert shown["current_phase"] == "core"  # type: ignore[index]
    waits = {t["key"]: t["waits_for"] for t in shown["tickets"]}  # type: ignore[index]
    assert any("phase use" in w for w in waits["use-twice"])
    assert any("extra-twice to be accepted" in w for w in waits["use-twice"])
    assert git(toolz, "for-each-ref", "refs/wo/tickets/") == ""  # apply opens nothing by itself


def intervals(toolz: Path, name: str) -> list[tuple[str, float, float]]:
    path = Path(git(toolz, "rev-parse", "--git-common-dir").strip())
    if not path.is_absolute():
        path = toolz / path
    rows = [json.loads(ln) for ln in (path / "wo" / "plans" / f"{name}.jsonl").read_text().splitlines()]
    starts = {(r["key"], r["round"]): r["time"] for r in rows if r["event"] == "start"}
    ends = {(r["key"], r["round"]): r["time"] for r in rows if r["event"] == "end"}
    return [(k, t, ends.get((k, rnd), float("inf"))) for (k, rnd), t in starts.items()]


def test_plan_runs_to_the_end(toolz: Path) -> None:
    f = toolz.parent / "plan.yaml"
    f.write_text(plan_yaml())
    assert wo(toolz, "plan", "apply", str(f)).code == 0
    woken: list[tuple[str, str]] = []
    for _ in range(40):
        r = wo(toolz, "wait", "--plan", "tidy", "--json", "--timeout", "240", timeout=300)
        assert r.code == 0, r.err
        st = r.json()
        assert isinstance(st, dict)
        if st["done"]:
            break
        assert st["decisions"], st  # woken only for a decision
        assert not st["stuck"], st
        for d in st["decisions"]:
            woken.append((d["key"], d["decision"]))
            tid = str(d["ticket"])
            if d["decision"] == "ready":
                acc = wo(toolz, "accept", tid)
                assert acc.code == 0, acc.err
            elif d["decision"] == "blocked":
                rev = wo(toolz, "revise", tid, "--task", "Use the wording '# wide note'.")
                assert rev.code == 0, rev.err
            elif d["decision"] == "out-of-attempts":
                assert wo(toolz, "reject", tid, "--reason", "still broken after the automatic rounds").code == 0
            else:
                raise AssertionError(f"unexpected decision {d}")
    else:
        raise AssertionError(f"the plan did not finish: {woken}")

    # the architect was woken exactly for these decisions, once each
    expected = {(k, "ready") for k in ("extra-twice", "itertoolz-note", "dicttoolz-note", "sandbox-note",
                                       "use-twice", "functoolz-note", "toolz-wide", "readme")}
    expected |= {("toolz-wide", "blocked"), ("tlz-broken", "out-of-attempts")}
    assert sorted(woken) == sorted(expected)

    tickets = {t["key"]: t for t in wo(toolz, "plan", "show", "--json").json()["tickets"]}  # type: ignore[index]
    ids = {k: t["ticket"] for k, t in tickets.items()}
    assert tickets["tlz-broken"]["state"] == "rejected"
    assert all(t["state"] == "accepted" for k, t in tickets.items() if k != "tlz-broken")

    def events(key: str) -> list[dict[str, object]]:
        out = wo(toolz, "log", str(ids[key]), "--json").json()
        assert isinstance(out, list)
        return out

    def work_file(key: str, rnd: int) -> str:
        return git(toolz, "show", f"main:work-orders/{ids[key]:04d}-{key}/w{2 * rnd - 1:02d}-work.md")

    # every open commit carries the plan's trailers
    for key in ids:
        opened = events(key)[0]
        assert opened["trailers"]["Wo-Plan"] == "tidy" and opened["trailers"]["Wo-Plan-Key"] == key  # type: ignore[index]

    # checks failed once: one automatic round carrying the failing output, then accepted
    ev = events("extra-twice")
    revs = [e for e in ev if e["event"] == "revise"]
    assert [e["trailers"]["Wo-Auto"] for e in revs] == ["checks"]  # type: ignore[index]
    assert "SyntaxError: toolz/extra.py:1" in work_file("extra-twice", 2)
    assert git(toolz, "show", "main:toolz/extra.py") == "def twice(x):\n    return 2 * x\n"

    # always broken: two automatic rounds (auto_retries), each carrying the failing output, then the architect
    ev = events("tlz-broken")
    assert [e["trailers"]["Wo-Auto"] for e in ev if e["event"] == "revise"] == ["checks", "checks"]  # type: ignore[index]
    for rnd in (2, 3):
        text = git(toolz, "show", f"refs/wo/tickets/{ids['tlz-broken']:04d}:"
                   f"work-orders/{ids['tlz-broken']:04d}-tlz-broken/w{2 * rnd - 1:02d}-work.md")
        assert "SyntaxError: tlz/helper.py:1" in text

    # the rate limit moved to the fallback profile within the round: one round, no automatic retry
    ev = events("itertoolz-note")
    reports = [e for e in ev if e["event"] == "report"]
    assert len(reports) == 1 and reports[0]["trailers"]["Wo-Executor"] == "steady"  # type: ignore[index]
    rep = git(toolz, "show", f"main:work-orders/{ids['itertoolz-note']:04d}-itertoolz-note/w02-report.md")
    assert "flaky: exit" in rep and "rate-limited" in rep

    # the crash was infrastructure: retried without counting as a failed attempt
    ev = events("sandbox-note")
    assert [e["trailers"]["Wo-Auto"] for e in ev if e["event"] == "revise"] == ["infra"]  # type: ignore[index]

    # the dependent's work order carried what its dependency delivered
    merge = git(toolz, "log", "--format=%H", "--grep", f"Wo-Ticket: {ids['extra-twice']:04d}",
                "--grep", "Wo-Event: merge", "--all-match", "main").split()
    assert len(merge) == 1
    order = work_file("use-twice", 1)
    assert f"Merge commit: {merge[0]}" in order and "toolz/extra.py" in order and "fixed the syntax error" in order
    assert f"# builds on {merge[0]}" in git(toolz, "show", "main:toolz/extra_use.py")

    # starts respect phases and after: nothing of a phase started before the previous phase closed
    starts = {}
    for k, t0, _t1 in intervals(toolz, "tidy"):
        starts.setdefault(k, t0)
    accepted_at = {}
    for k in ids:
        closing = [e for e in events(k) if e["event"] in ("accept", "reject")]
        accepted_at[k] = closing[-1]["time"]
    phase = {k: t["phase"] for k, t in tickets.items()}
    order_ = ["core", "use", "release"]
    for a in ids:
        for b in ids:
            if order_.index(phase[b]) > order_.index(phase[a]):
                assert starts[b] >= int(accepted_at[a]), (a, b)  # commit times are whole seconds
    assert starts["use-twice"] >= int(accepted_at["extra-twice"])
    assert starts["readme"] >= int(accepted_at["use-twice"])

    # no two tickets with overlapping scopes ran at once; toolz-wide waited for both it overlaps
    from wo_git.plan.scopes import overlap

    spans = intervals(toolz, "tidy")
    for (ka, a0, a1), (kb, b0, b1) in combinations(spans, 2):
        if ka != kb and overlap(tickets[ka]["scope"], tickets[kb]["scope"]):
            assert a1 <= b0 or b1 <= a0, (ka, kb)
    assert starts["toolz-wide"] >= int(accepted_at["functoolz-note"])
    assert starts["toolz-wide"] >= int(accepted_at["use-twice"])
    # and some tickets did run at once (max_parallel 3)
    assert any(a0 < b1 and b0 < a1 for (ka, a0, a1), (kb, b0, b1) in combinations(spans, 2) if ka != kb)
    assert git(toolz, "status", "--porcelain") == ""
