"""The plan's review gate: a required rubric review, by a reviewer command or by the architect;
below the bar sends the ticket back with the reviewer's notes. Also the MCP plan tools and
scope overlap rules."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from conftest import git, script, wo
from wo_git.plan.scopes import literal_prefix, overlap

PY = sys.executable


def write_plan(root: Path, data: dict[str, Any]) -> Path:
    f = root.parent / f"{data['name']}.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return f


def test_reviewer_below_the_bar_sends_the_ticket_back_with_its_notes(repo: Path, tmp_path: Path) -> None:
    executor = script(tmp_path, """\
        echo "round $WO_ROUND" >> src/app.py
        if [ "$WO_ROUND" -gt 1 ]; then grep -q "Add a docstring" "$WO_WORK_FILE" || exit 9; fi
        printf -- "- Status: COMPLETED\\n- What I implemented: round $WO_ROUND\\n" > "$WO_REPORT_FILE"
        """, "exec.sh")
    reviewer = script(tmp_path, """\
        if [ "$WO_ROUND" = 1 ]; then
          printf -- "- Presence: 1\\n- Correctness: 2\\n- Completeness: 2\\n- Quality: 2\\n" > "$WO_REVIEW_FILE"
          echo "- Notes: Add a docstring to hello()." >> "$WO_REVIEW_FILE"
        else
          printf -- "- Presence: 1\\n- Correctness: 4\\n- Completeness: 4\\n" > "$WO_REVIEW_FILE"
          printf -- "- Quality: 3\\n- Notes: good\\n" >> "$WO_REVIEW_FILE"
        fi
        """, "review.sh")
    f = write_plan(repo, {"name": "rev", "phases": ["one"], "review": {"required": True, "reviewer": [reviewer]},
                          "tickets": [{"key": "hello", "title": "Hello", "task": "Touch app.py.",
                                       "scope": ["/src/app.py"], "argv": [executor]}]})
    assert wo(repo, "plan", "apply", str(f)).code == 0
    bg = wo(repo, "plan", "run", "rev", "--detach", "--json")  # a background driver beside wait --plan
    assert bg.code == 0, bg.err
    r = wo(repo, "wait", "--plan", "rev", "--json", "--timeout", "120", timeout=180)
    assert r.code == 0, r.err
    st = r.json()
    assert [(d["key"], d["decision"]) for d in st["decisions"]] == [("hello", "ready")], st  # type: ignore[index]
    tid = st["decisions"][0]["ticket"]  # type: ignore[index]
    log = wo(repo, "log", str(tid), "--json").json()
    kinds = [(e["event"], e["trailers"].get("Wo-Auto"), e["trailers"].get("Wo-Verdict")) for e in log]  # type: ignore[union-attr]
    assert kinds == [("open", None, None), ("report", None, None), ("review", None, "fail"),
                     ("revise", "review", None), ("report", None, None), ("review", None, "pass")]
    order = git(repo, "show", f"refs/wo/tickets/{tid:04d}:work-orders/{tid:04d}-hello/w03-work.md")
    assert "Add a docstring to hello()." in order and "below the bar" in order
    assert wo(repo, "accept", str(tid)).code == 0
    done = wo(repo, "wait", "--plan", "rev", "--json").json()
    assert done["done"] is True  # type: ignore[index]
    pid = int(bg.json()["pid"])  # type: ignore[index]
    for _ in range(100):  # the background driver ends once the plan is done
        if not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower():
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the background driver did not stop when the plan was done")
    starts = [ln for ln in (Path(git(repo, "rev-parse", "--absolute-git-dir").strip()) / "wo" / "plans"
                            / "rev.jsonl").read_text().splitlines() if '"start"' in ln]
    assert len(starts) == 2  # two drivers, each round started once
    watch = wo(repo, "plan", "show", "rev", "--watch")
    assert watch.code == 0 and "1/1 closed" in watch.out and "DONE" in watch.out


def test_required_review_without_a_reviewer_wakes_the_architect(repo: Path, tmp_path: Path) -> None:
    executor = script(tmp_path, """\
        echo "more" >> README.md
        printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """)
    f = write_plan(repo, {"name": "arch", "phases": ["one"], "review": {"required": True},
                          "tickets": [{"key": "readme", "title": "README", "task": "Extend it.",
                                       "scope": ["/README.md"], "argv": [executor]}]})
    assert wo(repo, "plan", "apply", str(f)).code == 0
    ran = wo(repo, "plan", "run", "arch", "--json", timeout=180)  # foreground: until only the architect can act
    assert ran.code == 0, ran.err
    assert [d["decision"] for d in ran.json()["decisions"]] == ["review"]  # type: ignore[index]
    st = wo(repo, "wait", "--plan", "arch", "--json", "--timeout", "120", timeout=180).json()
    assert [(d["key"], d["decision"]) for d in st["decisions"]] == [("readme", "review")]  # type: ignore[index]
    tid = str(st["decisions"][0]["ticket"])  # type: ignore[index]
    assert wo(repo, "review", tid, "--presence", "1", "--correctness", "5", "--completeness", "4",
              "--quality", "4").code == 0
    st = wo(repo, "wait", "--plan", "arch", "--json", "--timeout", "60", timeout=120).json()
    assert [(d["key"], d["decision"]) for d in st["decisions"]] == [("readme", "ready")]  # type: ignore[index]
    text = wo(repo, "wait", "--plan", "arch").out
    assert f"-> wo-git accept {tid}" in text


def test_plan_tools_over_mcp(repo: Path, tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    executor = script(tmp_path, """\
        echo "x" >> README.md
        printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """)
    text = yaml.safe_dump({"name": "m", "phases": ["one"], "tickets": [
        {"key": "readme", "title": "README", "task": "Extend it.", "scope": ["/README.md"], "argv": [executor]}]})
    params = StdioServerParameters(command=sys.executable, args=["-m", "wo_git", "mcp"], cwd=str(repo),
                                   env=dict(os.environ))
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with Client(params, mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"plan_apply", "plan_show", "plan_run", "wait"} <= names
            bad = await client.call_tool("plan_apply", {"text": "name: m\nphases: [one]\ntickets: []\n"})
            assert bad.is_error
            r = await client.call_tool("plan_apply", {"text": text})
            seen["apply"] = json.loads(r.content[0].text)  # type: ignore[union-attr]
            r = await client.call_tool("plan_show", {})
            seen["show"] = json.loads(r.content[0].text)  # type: ignore[union-attr]
            r = await client.call_tool("wait", {"plan": "m", "timeout": 120})
            seen["wait"] = json.loads(r.content[0].text)  # type: ignore[union-attr]

    anyio.run(main)
    assert seen["apply"]["added"] == ["readme"]
    assert seen["show"]["tickets"][0]["action"] == "open"
    assert seen["wait"]["done"] is False and "timed_out" not in seen["wait"]
    assert [d["decision"] for d in seen["wait"]["decisions"]] == ["ready"]


@pytest.mark.parametrize(("a", "b", "may_overlap"), [
    (["/src/a.py"], ["/src/b.py"], False),
    (["src/a/**"], ["src/b/**"], False),
    (["src/**"], ["src/b/x.py"], True),
    (["*.py"], ["/docs/x.md"], True),          # no slash: matches at any depth
    (["/src/x*.py"], ["/src/xyz.py"], True),
    (["docs/"], ["/src/a.py"], True),          # a folder name at any depth
    (["!src/a.py"], ["/docs/a.md"], True),     # negation: conservative
    ([], ["/src/a.py"], True),                 # no scope: anywhere
])
def test_scope_overlap_is_conservative(a: list[str], b: list[str], may_overlap: bool) -> None:
    assert (overlap(a, b) is not None) == may_overlap
    assert (overlap(b, a) is not None) == may_overlap


def test_scope_overlap_names_a_tracked_witness() -> None:
    assert overlap(["src/*.py"], ["**/app.py"], ["src/app.py", "README.md"]) == "both match src/app.py"
    assert literal_prefix("/src/x*.py") == "src/" and literal_prefix("README.md") == ""




def test_a_driver_killed_mid_plan_loses_nothing(repo: Path, tmp_path: Path) -> None:
    executor = script(tmp_path, """\
        sleep 2
        echo "more" >> README.md
        printf -- "- Status: COMPLETED\\n" > "$WO_REPORT_FILE"
        """)
    f = write_plan(repo, {"name": "k", "phases": ["one"],
                          "tickets": [{"key": "readme", "title": "README", "task": "Extend it.",
                                       "scope": ["/README.md"], "argv": [executor]}]})
    assert wo(repo, "plan", "apply", str(f)).code == 0
    pid = int(wo(repo, "plan", "run", "k", "--detach", "--json").json()["pid"])  # type: ignore[index]
    journal = Path(git(repo, "rev-parse", "--absolute-git-dir").strip()) / "wo" / "plans" / "k.jsonl"
    for _ in range(300):
        if journal.exists() and '"start"' in journal.read_text():
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the driver never started the ticket")
    os.kill(pid, 9)
    st = wo(repo, "wait", "--plan", "k", "--json", "--timeout", "120", timeout=180).json()
    assert [(d["key"], d["decision"]) for d in st["decisions"]] == [("readme", "ready")]  # type: ignore[index]
    assert wo(repo, "doctor").out.strip() == "all well"
    assert '"end"' in journal.read_text()
