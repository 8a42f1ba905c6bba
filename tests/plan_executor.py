#!/usr/bin/env python3
"""A scripted executor for the plan tests: ``plan_executor.py MODE [ARGS...] [PROMPT]``.

It works in its current directory (the ticket's worktree) and writes the
report at ``$WO_REPORT_FILE``; trailing arguments (a profile's prompt) are
ignored. Modes:

- ``append FILE TEXT``: append a line to FILE;
- ``fail-checks-once FILE``: round 1 writes FILE with a syntax error (the
  checks fail); later rounds require the failing output in the work order
  and write a good FILE;
- ``always-broken FILE``: writes a syntax error every round;
- ``use-dependency FILE``: reads the merge commit of its dependency from the
  work order and writes FILE using the dependency's function;
- ``blocked-once FILE TEXT``: round 1 reports BLOCKED with a question;
- ``crash-once FILE TEXT``: round 1 exits 3 with no report;
- ``rate-limited``: prints a provider's 429 answer and exits 1.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path


def report(status: str, what: str) -> None:
    Path(os.environ["WO_REPORT_FILE"]).write_text(
        f"# Report\n\n- Status: {status}\n- What I implemented: {what}\n- How to test: the checks\n")


def append(path: str, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a") as f:
        f.write(text + "\n")


def main() -> int:
    mode, args = sys.argv[1], sys.argv[2:]
    rnd = int(os.environ["WO_ROUND"])
    work = Path(os.environ["WO_WORK_FILE"]).read_text()
    print(f"plan_executor {mode} round {rnd}", flush=True)
    if mode == "append":
        append(args[0], args[1])
        report("COMPLETED", f"appended to {args[0]}")
    elif mode == "fail-checks-once":
        if rnd == 1:
            Path(args[0]).write_text("def twice(x)\n    return 2 * x\n")
            report("COMPLETED", f"wrote twice() in {args[0]}")
        else:
            if "SyntaxError" not in work:
                report("BLOCKED", "the correction order did not carry the failing output")
                return 0
            Path(args[0]).write_text("def twice(x):\n    return 2 * x\n")
            report("COMPLETED", f"fixed the syntax error in {args[0]} (failing output was in the order)")
    elif mode == "always-broken":
        Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(args[0]).write_text(f"def broken(:\n    pass  # round {rnd}\n")
        report("COMPLETED", f"wrote {args[0]}")
    elif mode == "use-dependency":
        m = re.search(r"Merge commit: ([0-9a-f]{40})", work)
        if not m or "toolz/extra.py" not in work:
            report("BLOCKED", "the work order does not say what the dependency delivered")
            return 0
        Path(args[0]).write_text(
            f"# builds on {m.group(1)}\nfrom toolz.extra import twice\n\n\ndef quad(x):\n    return twice(twice(x))\n")
        report("COMPLETED", f"quad() on top of twice() from merge {m.group(1)}")
    elif mode == "blocked-once":
        if rnd == 1:
            report("BLOCKED", "Question: which wording should the note use?")
        else:
            append(args[0], args[1])
            report("COMPLETED", f"appended to {args[0]} as answered")
    elif mode == "crash-once":
        if rnd == 1:
            print("Traceback (most recent call last):\nRuntimeError: the agent crashed", flush=True)
            return 3
        append(args[0], args[1])
        report("COMPLETED", f"appended to {args[0]}")
    elif mode == "rate-limited":
        print("Error: HTTP 429 Too Many Requests: rate limit exceeded, retry later", flush=True)
        return 1
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
