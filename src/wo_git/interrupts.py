"""Ctrl-C and termination signals at the points where a command must finish or roll back.

A command's steps that move refs or files together (``open``'s record and
branch, ``accept``'s files, refs and worktree, the post-run hook's report
commit) run inside :func:`deferred`: SIGINT, SIGTERM and SIGHUP that arrive
meanwhile are held, the steps complete, and only then is the interruption
raised as :class:`KeyboardInterrupt`, which the CLI turns into exit 130
(README, "Exit codes"). Outside such sections Python's own behaviour holds:
the command stops at once, with nothing of it written yet.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_depth = [0]


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block ends, then raise :class:`KeyboardInterrupt`.

    Nested uses raise once, at the outermost end. Off the main thread (where
    Python cannot install handlers) the block runs unprotected. An exception
    raised by the block itself wins over a held signal.
    """
    if threading.current_thread() is not threading.main_thread() or _depth[0]:
        _depth[0] += 1
        try:
            yield
        finally:
            _depth[0] -= 1
        return
    held: list[int] = []
    old: dict[int, Any] = {}

    def hold(signum: int, _frame: FrameType | None) -> None:
        held.append(signum)

    for sig in SIGNALS:
        old[sig] = signal.signal(sig, hold)
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
        for signum, handler in old.items():
            signal.signal(signum, handler)
    if held:
        raise KeyboardInterrupt(f"signal {held[0]} held until the step was complete")
