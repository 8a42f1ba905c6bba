"""Helpers for the remote tests: a bare remote, clones of it, a ``git daemon`` on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import git


def make_origin(tmp_path: Path, config: str = 'remote = "origin"\n') -> tuple[Path, Path]:
    """A bare ``origin.git`` seeded from a first clone ``a`` (with ``config`` committed); both paths."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    a = tmp_path / "a"
    a.mkdir()
    git(a, "init", "-q", "-b", "main")
    (a / "README.md").write_text("# proj\n")
    (a / ".wo-git.toml").write_text(config)
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "initial")
    git(a, "remote", "add", "origin", origin.as_uri())
    git(a, "push", "-q", "origin", "main")
    return origin, a


def clone(url: str, dest: Path) -> Path:
    """``git clone URL DEST``; returns DEST."""
    git(dest.parent, "clone", "-q", url, str(dest))
    return dest


def remote_refs(origin: Path, prefix: str = "refs/") -> dict[str, str]:
    """``{ref: oid}`` of the bare remote under ``prefix``."""
    out = git(origin, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    pairs = (line.split(" ", 1) for line in out.splitlines())
    return {name: oid for name, oid in pairs}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """``git daemon`` serving ``base`` on 127.0.0.1 with pushes enabled; yields ``git://127.0.0.1:PORT``."""
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--export-all", "--enable=receive-pack", f"--base-path={base}", "--reuseaddr",
         "--listen=127.0.0.1", f"--port={port}", "--informative-errors", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.poll() is None, "git daemon stopped"
                assert time.monotonic() < deadline, "git daemon did not start"
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
