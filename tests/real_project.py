"""A repository built from a real project's released files, and a shell to drive it.

The files are toolz 0.12.1's source distribution from PyPI, fetched the way
the main job fetches its releases (``demo/sdists.py``: ``pip download
--no-binary :all: --no-deps``, cached in ``$WO_DEMO_CACHE``, default
``~/.cache/wo-git-demo``, so only the first run needs the registry).
Commands are run as a person's shell runs them: ``sh -c`` with ``PWD`` set
and this environment's ``wo-git`` first on ``PATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import git

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "demo"))

import sdists  # noqa: E402

PROJECT, VERSION = "toolz", "0.12.1"
# read before the hermetic fixture moves HOME, so the cache outlives the test's home
CACHE = os.environ.get("WO_DEMO_CACHE") or str(Path.home() / ".cache" / "wo-git-demo")


def build_repo(dest: Path) -> Path:
    """``dest``: a git repository on ``main`` whose one commit is toolz 0.12.1's released files."""
    os.environ["WO_DEMO_CACHE"] = CACHE
    archive = sdists.fetch(PROJECT, VERSION, sys.executable)
    top = sdists.unpack(archive, dest.parent / f"{dest.name}.unpacked")
    top.rename(dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", f"{PROJECT} {VERSION}")
    return dest


@dataclass
class Shell:
    """``sh -c COMMAND`` in ``cwd`` with ``PWD`` set, as a terminal would run it."""

    cwd: Path
    extra: dict[str, str] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra or {})
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
        env["PWD"] = str(self.cwd)
        return env

    def run(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-c", command], cwd=self.cwd, env=self.env(), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)

    def start(self, command: str) -> subprocess.Popen[str]:
        """A background command, as Claude Code's ``run_in_background`` starts one."""
        return subprocess.Popen(["sh", "-c", command], cwd=self.cwd, env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def fenced_commands(markdown: str) -> list[str]:
    """The shell commands in a Markdown text's ``sh`` fenced blocks, continuation lines joined."""
    out: list[str] = []
    for block in re.findall(r"^```(?:sh|bash|console)?\n(.*?)^```", markdown, re.S | re.M):
        current = ""
        for line in block.splitlines():
            if current:
                current += "\n" + line
            elif line.strip() and not line.lstrip().startswith("#"):
                current = line
            else:
                continue
            if not line.rstrip().endswith("\\"):
                out.append(current)
                current = ""
    return out


def inline_commands(markdown: str) -> list[str]:
    """The ``wo-git ...`` commands in inline code spans (outside fenced blocks)."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return [c for c in re.findall(r"`(wo-git [^`]+)`", prose) if "|" not in c and "..." not in c]


def with_id(command: str, ticket: int) -> str:
    """``command`` with the example ticket id 7 replaced by ``ticket`` (nothing else changes)."""
    return re.sub(r"(wo-git [a-z]+ )7\b", rf"\g<1>{ticket}", command)


EXECUTOR = """\
#!/bin/sh
# The test's executor: what it does is read from a file the test writes before each round.
mode=$(cat {mode})
report() {{ printf '# Report\\n- Status: %s\\n- Files: src/contact/form.py\\n- Notes/questions: %s\\n' "$1" "$2" \\
  > "$WO_REPORT_FILE"; }}
case "$mode" in
  slow) i=0; while [ ! -e {mode}.go ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done ;;
esac
mkdir -p src/contact
case "$mode" in
  complete|slow) echo "round $WO_ROUND" >> src/contact/form.py; report COMPLETED "none" ;;
  partial) echo "half of round $WO_ROUND" >> src/contact/form.py; report PARTIAL "empty names left" ;;
  blocked) report BLOCKED "Which status code for an empty name?" ;;
  undo) rm -rf .github; echo "round $WO_ROUND" >> src/contact/form.py; report COMPLETED "undid the CI edit" ;;
  guard) mkdir -p .github/workflows; echo 'on: push' > .github/workflows/ci.yml; report COMPLETED "added CI" ;;
  noreport) echo "crashed before the report" ;;
  lines) {{ cat {mode}.lines; tail -n +2 src/contact/form.py; }} > {mode}.tmp && cat {mode}.tmp > src/contact/form.py
    report COMPLETED "line 1 edited" ;;
  resolve) grep -v -e '^<<<<<<<' -e '^=======' -e '^>>>>>>>' src/contact/form.py > {mode}.tmp || true
    cat {mode}.tmp > src/contact/form.py; report COMPLETED "kept both sides" ;;
esac
"""


def write_executor(folder: Path) -> tuple[Path, Path]:
    """An executor script whose behaviour is the word in the returned mode file."""
    mode = folder / "mode"
    mode.write_text("complete\n")
    exe = folder / "exec.sh"
    exe.write_text(EXECUTOR.format(mode=mode))
    exe.chmod(0o755)
    return exe, mode
