"""Found trying the product as a user, following the skill `wo-git init` writes.

After a NO_REPORT round (and a BLOCKED one, rate limit included) the skill
said "run again"; but a reported round is closed: `wo-git run 7` is refused
until a `revise` opens the next round. The skill (and the MCP server's
instructions) must name the way that works, and that way must work.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPORT_OK, open_ticket, script, wo


def _row(skill: str, status: str) -> str:
    m = re.search(rf"^\| {status} \(\d\) \| (.*) \|$", skill, re.M)
    assert m, f"no {status} row in the skill"
    return m.group(1)


def test_the_skill_after_no_report_and_blocked_names_commands_that_work(repo: Path, tmp_path: Path) -> None:
    r = wo(repo, "init", "--no-hook")
    assert r.code == 0, r.err
    skill = (repo / ".claude" / "skills" / "wo-git" / "SKILL.md").read_text()
    for status in ("NO_REPORT", "BLOCKED"):
        row = _row(skill, status)
        assert "run again" not in row, row
        assert "revise" in row, row
    from wo_git.mcp_server import INSTRUCTIONS
    assert "revise or run again" not in INSTRUCTIONS

    open_ticket(repo, "quiet", "--scope", "src/**")
    silent = script(tmp_path, "echo working\n", name="silent.sh")
    r = wo(repo, "run", "1", "--", silent)
    assert r.code == 5 and "NO_REPORT" in r.out, r.out + r.err
    # what a model that read "run again" does: refused, and told to revise
    r = wo(repo, "run", "1", "--", silent)
    assert r.code == 1 and "revise 1" in r.err
    # the skill's way: logs, revise, run
    assert wo(repo, "logs", "1").code == 0
    r = wo(repo, "revise", "1", "--task", "Write the report this time.")
    assert r.code == 0, r.err
    ok = script(tmp_path, 'echo "x = 1" >> src/app.py\n' + REPORT_OK, name="ok.sh")
    r = wo(repo, "run", "1", "--", ok)
    assert r.code == 0, r.out + r.err
