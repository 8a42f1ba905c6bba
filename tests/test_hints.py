"""Exit codes and hints fit the state (issue 7, item 8).

Every command a ticket's state forbids answers with one line naming the
state and a next command that works in it; each state's first suggestion is
then run for real. Every option of every command has help text.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import click

from conftest import REPORT_OK, open_ticket, script, wo
from wo_git.cli import cli

# (command args, with {id}) that each state refuses
REFUSED = {
    "open": ["revise {id} --task More.", "review {id} --verdict pass", "accept {id}", "abort {id}", "wait {id}"],
    "running": ["run {id} -- true", "revise {id} --task More.", "review {id} --verdict pass", "accept {id}",
                "reject {id} --reason no"],
    "reported": ["run {id} -- true", "abort {id}"],
    "accepted": ["run {id} -- true", "revise {id} --task More.", "review {id} --verdict pass", "accept {id}",
                 "reject {id} --reason no", "abort {id}"],
    "rejected": ["run {id} -- true", "revise {id} --task More.", "review {id} --verdict pass", "accept {id}",
                 "reject {id} --reason no", "abort {id}"],
}


def test_every_state_error_names_the_state_and_a_command_that_works(repo: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    done = script(tmp_path, "echo x >> README.md\n" + REPORT_OK, "done.sh")
    slow = script(tmp_path, f"while [ ! -e {release} ]; do sleep 0.1; done\n" + REPORT_OK, "slow.sh")
    ids = {}
    for n, state in enumerate(REFUSED, start=1):
        open_ticket(repo, state)
        ids[state] = n
    assert wo(repo, "run", str(ids["running"]), "--detach", "--", slow).code == 0
    for state in ("reported", "accepted"):
        assert wo(repo, "run", str(ids[state]), "--", done).code == 0
    assert wo(repo, "accept", str(ids["accepted"])).code == 0
    assert wo(repo, "reject", str(ids["rejected"]), "--reason", "not needed").code == 0
    try:
        suggested: dict[str, set[str]] = {s: set() for s in REFUSED}
        for state, commands in REFUSED.items():
            tid = ids[state]
            shown = wo(repo, "show", str(tid), "--json").json()
            assert isinstance(shown, dict) and shown["state"] == state
            for cmd in commands:
                r = wo(repo, *cmd.format(id=tid).split())
                lines = r.err.strip().splitlines()
                assert r.code == 1 and len(lines) == 1, (state, cmd, r.err)
                assert f"ticket {tid:04d} is {state}" in lines[0], (state, cmd, r.err)
                hints = re.findall(r"`(wo-git [^`]+)`", lines[0])
                assert hints and all(h.split()[2] == str(tid) for h in hints if h.split()[1] != "open"), r.err
                suggested[state].update(hints)
        # the state did not change under any refused command
        for state, tid in ids.items():
            assert wo(repo, "show", str(tid), "--json").json()["state"] == state  # type: ignore[index]
        assert suggested["open"] == {"wo-git run 1"}
        assert suggested["running"] == {"wo-git wait 2", "wo-git abort 2"}
        assert "wo-git show 3" in suggested["reported"] and "wo-git accept 3" in suggested["reported"]
        assert suggested["accepted"] == {"wo-git show 4", "wo-git open"}
        assert suggested["rejected"] == {"wo-git show 5", "wo-git open"}
        # each state's suggestions work in that state
        for state in ("reported", "accepted", "rejected"):
            assert wo(repo, "show", str(ids[state])).code == 0
        r = wo(repo, "wait", "2", "--timeout", "1")
        assert r.code == 7, r.err  # still running: wait again (not a state error)
        t0 = time.monotonic()
        assert wo(repo, "abort", "2").code == 0 and time.monotonic() - t0 < 60
        assert wo(repo, "run", "1", "--", done).code == 0
        assert wo(repo, "accept", "3").code == 0
    finally:
        release.touch()


def _options(cmd: click.Command, path: str) -> list[tuple[str, click.Option]]:
    ctx = click.Context(cmd, info_name=path)
    out = [(path, p) for p in cmd.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            out += _options(sub, f"{path} {name}")
    return out


def test_every_option_of_every_command_has_help() -> None:
    options = _options(cli, "wo-git")
    assert len({p for p, _ in options}) > 15 and len(options) > 60  # the walk reached every command
    missing = [f"{path} {'/'.join(o.opts)}" for path, o in options if not (o.help or "").strip()]
    assert missing == []
    assert all(o.help for path, o in options if path == "wo-git revise")
