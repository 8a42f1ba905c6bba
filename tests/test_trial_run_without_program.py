"""Found trying the product as a user: `wo-git run 7` on a fresh `init`.

The default profile is `command`; the error named a template
(`wo-git run ID -- ARGV...`) rather than a command that works for this
ticket. Following the printed command must start the round.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from conftest import REPORT_OK, open_ticket, wo


def test_run_without_a_program_names_a_command_for_this_ticket(repo: Path) -> None:
    open_ticket(repo, "bare", "--scope", "src/**")
    r = wo(repo, "run", "1")
    assert r.code == 1
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert "wo-git run 1 -- ./your-agent.sh" in r.err, r.err
    # the command it names works once the script exists where the user runs wo-git
    agent = repo / "your-agent.sh"
    agent.write_text("#!/bin/sh\necho 'x = 1' >> src/app.py\n" + REPORT_OK)
    agent.chmod(0o755)
    cmd = r.err.split(": wo-git ", 1)[1].split(" (or", 1)[0]
    r = wo(repo, *shlex.split(cmd))
    assert r.code == 0, r.out + r.err
