"""Run-time data that is not history: run locks, run records, logs, slots.

Everything lives under ``<git-common-dir>/wo/`` and is never committed:

- ``runs/NNNN.lock``: held with ``flock(LOCK_EX)`` by the process that
  supervises the ticket's run, for its whole life. The kernel drops it when
  that process dies, even by ``kill -9``, so "is it running?" and "wait until
  it stops" need no polling and no pid guessing: ``wait`` blocks on a shared
  lock of the same file.
- ``runs/NNNN.json``: the run record (supervisor pid, executor process group,
  host, start time, round, log path). A record whose lock is free is a run
  that never finished its post-run hook: ``doctor`` finishes it.
- ``runs/NNNN.abort``: written by ``abort`` to ask the supervisor to stop.
- ``logs/NNNN-rR-aA.log``: the executor's output, attempt A of round R.
- ``slots/N.lock``: one per concurrent run allowed (``max_parallel``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wo_git.git import Repo


@dataclass
class RunRecord:
    """What ``runs/NNNN.json`` holds about a run in progress."""

    ticket: int
    round: int
    pid: int
    host: str
    started: float
    log: str
    worktree: str
    round_start: str
    """commit the round began from (the work-order commit): what post-run squashes onto"""
    executor: str = "command"
    pgid: int | None = None
    """the executor's process group, once started"""
    attempt: int = 1
    detached: bool = False
    queued: bool = False
    snapshot: str | None = None
    """folder of the ref/config/hook snapshot taken before the run"""
    sandbox: str | None = None
    """the sandboxed run's scratch folder (``<common>/wo/sandbox/NNNN``), if sandboxed"""
    server_url: str | None = None
    server_session: str | None = None
    """an OpenCode server session the run drives: doctor aborts it if the supervisor died"""


def runs_dir(repo: Repo) -> Path:
    """``<common>/wo/runs``, created on demand."""
    d = repo.wo_dir / "runs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def logs_dir(repo: Repo) -> Path:
    """``<common>/wo/logs``, created on demand."""
    d = repo.wo_dir / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def ids_with(repo: Repo, suffix: str) -> set[int]:
    """Ticket ids that have a file ``NNNN<suffix>`` (``.lock``, ``.json``) in the runs folder; one listing."""
    try:
        names = os.listdir(repo.wo_dir / "runs")
    except OSError:
        return set()
    return {int(n[: -len(suffix)]) for n in names if n.endswith(suffix) and n[: -len(suffix)].isdigit()}


def lock_path(repo: Repo, ticket: int) -> Path:
    """The ticket's run lock file."""
    return runs_dir(repo) / f"{ticket:04d}.lock"


def record_path(repo: Repo, ticket: int) -> Path:
    """The ticket's run record file."""
    return runs_dir(repo) / f"{ticket:04d}.json"


def abort_path(repo: Repo, ticket: int) -> Path:
    """The ticket's abort request file."""
    return runs_dir(repo) / f"{ticket:04d}.abort"


def log_path(repo: Repo, ticket: int, round_: int, attempt: int = 1) -> Path:
    """Where attempt ``attempt`` of round ``round_`` logs its output."""
    return logs_dir(repo) / f"{ticket:04d}-r{round_}-a{attempt}.log"


class LockHeld(Exception):
    """The lock is held by another process."""


@contextmanager
def hold_run_lock(repo: Repo, ticket: int) -> Iterator[int]:
    """Hold the ticket's run lock (exclusive, non-blocking); raises :class:`LockHeld`."""
    fd = os.open(lock_path(repo, ticket), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise LockHeld() from None
            raise
        yield fd
    finally:
        os.close(fd)


def is_running(repo: Repo, ticket: int) -> bool:
    """Whether some process holds the ticket's run lock right now."""
    path = runs_dir(repo) / f"{ticket:04d}.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def wait_unlocked(repo: Repo, ticket: int, timeout: float | None = None) -> bool:
    """Block until no process holds the ticket's run lock; ``False`` on timeout.

    Without a timeout this is one blocking ``flock`` call: the process sleeps
    in the kernel and uses no CPU until the lock is released. With one, a
    ``SIGALRM`` interrupts the call.
    """
    import signal

    fd = os.open(lock_path(repo, ticket), os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return True

        def _alarm(_sig: int, _frame: Any) -> None:
            raise TimeoutError

        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, max(timeout, 0.001))
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return True
        except TimeoutError:
            return False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    finally:
        os.close(fd)


_watch_guard = threading.Lock()
_watchers: dict[str, threading.Event] = {}
changed = threading.Condition()
"""Notified (``notify_all``) whenever a :func:`released` event is set: wait on it for several."""


def released(repo: Repo, ticket: int) -> threading.Event:
    """An event set once no process holds the ticket's run lock (set at once if none does).

    A daemon thread makes one blocking ``flock(LOCK_SH)`` call on the lock
    file: it sleeps in the kernel, using no CPU, until the supervising process
    releases the lock or dies; it then sets the event and notifies
    :data:`changed`. Callers wait on the event (or on :data:`changed` for
    several tickets) with any timeout, from any thread; a call for a ticket
    already being watched shares that watcher, so waiting in time slices
    never piles up threads. A later run needs a new call.
    """
    path = str(lock_path(repo, ticket))
    with _watch_guard:
        ev = _watchers.get(path)
        if ev is not None:
            return ev
        ev = threading.Event()
        _watchers[path] = ev

    def watch() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
            finally:
                os.close(fd)
        finally:
            with _watch_guard:
                _watchers.pop(path, None)
            with changed:
                ev.set()
                changed.notify_all()

    threading.Thread(target=watch, name=f"wo-git wait {ticket:04d}", daemon=True).start()
    return ev


def log_files(repo: Repo, ticket: int, round_: int) -> list[Path]:
    """The logs of a round's attempts (``logs/NNNN-rR-aA.log``), oldest first."""
    files = logs_dir(repo).glob(f"{ticket:04d}-r{round_}-a*.log")
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def write_record(repo: Repo, rec: RunRecord) -> None:
    """Write the run record atomically (write to a temp file, then rename)."""
    path = record_path(repo, rec.ticket)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(asdict(rec), indent=1))
    os.replace(tmp, path)


def read_record(repo: Repo, ticket: int) -> RunRecord | None:
    """The run record, or ``None`` when there is none (or it is unreadable)."""
    path = record_path(repo, ticket)
    try:
        data = json.loads(path.read_text())
        return RunRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def clear_record(repo: Repo, ticket: int) -> None:
    """Remove the run record and any abort request."""
    record_path(repo, ticket).unlink(missing_ok=True)
    abort_path(repo, ticket).unlink(missing_ok=True)


def new_record(**kw: Any) -> RunRecord:
    """A run record for this process on this host, started now."""
    import socket  # not at the top: `list` imports this module and never makes a record

    return RunRecord(pid=os.getpid(), host=socket.gethostname(), started=time.time(), **kw)


def pid_alive(pid: int | None) -> bool:
    """Whether a process (or process group, for negative ids) exists."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def hold_slot(repo: Repo, max_parallel: int, wait: bool, on_queued: Any = None,
              arrived: int | None = None) -> Iterator[int]:
    """Hold one of ``max_parallel`` run slots; with ``wait``, queue in order for one.

    Queued runs take a ticket in ``slots/queue/`` named by arrival time
    (``arrived``, ns since the epoch, else now: a detached run passes when it
    was asked for, since its supervisor may reach the queue after a later
    one's) and the oldest waiter claims the next free slot, so detached runs
    start in the order they were asked for. Raises :class:`LockHeld` when no
    slot is free and ``wait`` is false.
    """
    d = repo.wo_dir / "slots"
    q = d / "queue"
    q.mkdir(parents=True, exist_ok=True)
    me = q / f"{arrived or time.time_ns():020d}-{os.getpid()}"
    me.touch()
    fds: list[int] = []
    announced = False
    try:
        while True:
            waiting = sorted(p for p in q.iterdir() if _queue_entry_alive(p))
            if waiting and waiting[0] == me or not wait:
                for n in range(max_parallel):
                    fd = os.open(d / f"{n}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        os.close(fd)
                        continue
                    fds.append(fd)
                    me.unlink(missing_ok=True)
                    yield n
                    return
                if not wait:
                    raise LockHeld()
            if not announced and on_queued is not None:
                on_queued()
                announced = True
            time.sleep(0.2)
    finally:
        me.unlink(missing_ok=True)
        for fd in fds:
            os.close(fd)


def _queue_entry_alive(p: Path) -> bool:
    try:
        pid = int(p.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return False
    if pid_alive(pid):
        return True
    p.unlink(missing_ok=True)
    return False
