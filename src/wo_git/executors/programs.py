"""Finding an executor's program before a run starts, so no round is spent on a typo.

``wo-git run 7 -- ./do-it.sh`` starts ``./do-it.sh`` in the ticket's worktree,
but the user typed the path where they stood: :func:`resolve_program` takes
a relative path (one with a ``/``) from that directory and makes it
absolute, looks a bare name up on the executor's ``PATH`` (as ``execvp``
would), and checks that the file is a regular, executable file whose
``#!`` interpreter exists. A program that cannot start raises
:class:`ProgramNotStartable` before anything is created or committed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wo_git.errors import ExecutorFailed
from wo_git.executors.profiles import ExecutorProfile


class ProgramNotStartable(ExecutorFailed):
    """An executor program is missing, not a file, or not executable (exit 5).

    ``program`` is the name or path as given; ``problem`` says what is wrong
    in a few words (``not found in /home/u/proj``, ``not executable``).
    """

    def __init__(self, program: str, problem: str) -> None:
        super().__init__(f"executor program {program!r} {problem}")
        self.program = program
        self.problem = problem


def _interpreter(path: str) -> str | None:
    """The absolute interpreter of a ``#!`` script, or ``None`` (not a script, or ``#!name``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    if not words or not words[0].startswith(b"/"):
        return None
    return os.fsdecode(words[0])


def resolve_program(program: str, *, search_path: str, cwd: str | Path) -> str:
    """The path the executor's ``argv[0]`` will be started from; raises if it cannot start.

    ``program`` with a ``/`` is a path: absolute as is, relative taken from
    ``cwd`` (the directory the user ran wo-git in) and returned absolute. A
    bare name is looked up on ``search_path`` (the executor's ``PATH``) and
    returned unchanged (the executor finds it the same way). Raises
    :class:`ProgramNotStartable` when the file is missing, a directory, not
    executable, or a ``#!`` script whose interpreter is missing.
    """
    if "/" in program:
        path = os.path.normpath(os.path.join(os.fspath(cwd), program))
        where = "" if os.path.isabs(program) else f" in {os.fspath(cwd)}"
        if not os.path.lexists(path):
            raise ProgramNotStartable(program, f"not found{where}")
        found = path
        result = path
    else:
        hit = shutil.which(program, path=search_path)
        if hit is None:
            raise ProgramNotStartable(program, "not found on PATH")
        found = hit
        result = program
    if os.path.isdir(found):
        raise ProgramNotStartable(program, f"is a directory ({found})")
    if not os.path.exists(found):
        raise ProgramNotStartable(program, f"is a broken symlink ({found})")
    if not os.access(found, os.X_OK):
        raise ProgramNotStartable(program, "is not executable")
    interp = _interpreter(found)
    if interp is not None and not (os.path.isfile(interp) and os.access(interp, os.X_OK)):
        raise ProgramNotStartable(program, f"names a missing interpreter {interp!r} on its #! line")
    return result


def profile_program(profile: ExecutorProfile, *, resumed: bool = False) -> str | None:
    """The program a profile starts (``argv[0]`` of its template), or ``None`` if it is
    templated (``{worktree}/agent``: known only at run time) or the profile has no argv."""
    argv = profile.resume_argv if resumed and profile.resume_argv else profile.argv
    if not argv or "{" in argv[0]:
        return None
    return argv[0]
