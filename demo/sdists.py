"""Fetch and unpack released source distributions from PyPI, with a cache.

Shared by ``demo/real_history.py`` (the main job) and ``demo/guard_survey.py``
(the guard's false-positive survey). Only ``pip`` talks to the registry:

- ``pip index versions NAME`` lists the released versions (newest first);
- ``pip download --no-binary :all: --no-deps NAME==V -d DIR`` fetches one
  sdist.

``pip download`` prepares each sdist's metadata, which normally means building
an isolated environment per download (~10 s each). To keep a first run short
we first try ``--no-build-isolation`` with a small helper environment in the
cache that already has the common build back-ends, and fall back to pip's
normal isolated build when that fails. Downloads run a few at a time. The
cache (``$WO_DEMO_CACHE``, default ``~/.cache/wo-git-demo``) keeps the
tarballs, so a second run needs no network at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

BUILD_BACKENDS = (
    "setuptools",
    "wheel",
    "setuptools_scm",
    "hatchling",
    "hatch-vcs",
    "hatch-fancy-pypi-readme",
    "flit_core",
)


def cache_dir() -> Path:
    root = os.environ.get("WO_DEMO_CACHE") or os.path.join(Path.home(), ".cache", "wo-git-demo")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pip(python: Path | str) -> list[str]:
    return [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input"]


def helper_python(log: Callable[[str], None] = print) -> str:
    """A Python with the common build back-ends, for ``--no-build-isolation``.

    Created once in the cache; on any failure we return ``sys.executable``
    and every download just takes pip's isolated path.
    """
    env_dir = cache_dir() / "pip-helper"
    py = env_dir / "bin" / "python"
    marker = env_dir / ".ready"
    if marker.exists() and py.exists():
        return str(py)
    log(f"  (one-time) preparing a download helper environment in {env_dir}")
    shutil.rmtree(env_dir, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, capture_output=True)
        subprocess.run([*_pip(py), "install", "-q", *BUILD_BACKENDS], check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as err:
        log(f"  (helper environment failed: {err}; using isolated builds)")
        shutil.rmtree(env_dir, ignore_errors=True)
        return sys.executable
    marker.write_text("ok\n")
    return str(py)


_VERSION_RE = re.compile(r"^Available versions:\s*(.*)$", re.M)


def released_versions(name: str) -> list[str]:
    """Every released version of ``name``, oldest first (``pip index versions``).

    Cached for a day so repeated runs do not ask the registry again.
    """
    cached = cache_dir() / "versions" / f"{name}.txt"
    import time

    if cached.exists() and time.time() - cached.stat().st_mtime < 86400:
        return cached.read_text().split()
    out = subprocess.run(
        [*_pip(sys.executable), "index", "versions", name],
        capture_output=True,
        text=True,
        check=False,
    )
    m = _VERSION_RE.search(out.stdout)
    if out.returncode != 0 or not m:
        if cached.exists():  # offline: an old list beats nothing
            return cached.read_text().split()
        raise RuntimeError(f"pip index versions {name} failed: {out.stderr.strip()[-500:]}")
    versions = [v.strip() for v in m.group(1).split(",") if v.strip()]
    versions.reverse()  # pip lists newest first
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("\n".join(versions) + "\n")
    return versions


def _find_sdist(folder: Path, name: str, version: str) -> Path | None:
    norm = re.sub(r"[-_.]+", "[-_.]", re.escape(name).replace("\\-", "-"))
    pat = re.compile(rf"^{norm}-{re.escape(version)}\.(tar\.gz|tgz|zip|tar\.bz2)$", re.I)
    for p in folder.iterdir() if folder.exists() else ():
        if pat.match(p.name):
            return p
    return None


def fetch(name: str, version: str, helper: str) -> Path:
    """The cached sdist archive of ``name==version``, downloading it if needed."""
    folder = cache_dir() / "sdists" / name
    folder.mkdir(parents=True, exist_ok=True)
    found = _find_sdist(folder, name, version)
    if found:
        return found
    base = ["download", "--no-binary", ":all:", "--no-deps", "-q", "-d", str(folder), f"{name}=={version}"]
    attempts: list[list[str]] = []
    if helper != sys.executable:
        attempts.append([*_pip(helper), *base, "--no-build-isolation"])
    attempts.append([*_pip(sys.executable), *base])
    err = ""
    for argv in attempts:
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        found = _find_sdist(folder, name, version)
        if found:  # pip saves the archive before it prepares metadata
            return found
        err = out.stderr.strip()[-800:]
    raise RuntimeError(f"could not download {name}=={version}: {err}")


def fetch_many(
    name: str,
    versions: Sequence[str],
    log: Callable[[str], None] = print,
    workers: int = 6,
) -> dict[str, Path]:
    """Fetch every version (a few at a time); returns version -> archive."""
    missing = [v for v in versions if not _find_sdist(cache_dir() / "sdists" / name, name, v)]
    if missing:
        log(f"  downloading {len(missing)} sdist(s) of {name} from PyPI (cached in {cache_dir()})")
    helper = helper_python(log) if missing else sys.executable
    with ThreadPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(lambda v: fetch(name, v, helper), versions))
    return dict(zip(versions, paths, strict=True))


def _safe_member(name: str) -> PurePosixPath | None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        return None
    return p


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack an sdist into ``dest`` and return its single top-level folder.

    Only regular files and symlinks inside the archive are kept (no absolute
    paths, no ``..``); the executable bit is kept from the archive's mode.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = _safe_member(info.filename)
                if rel is None or info.is_dir():
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
                mode = (info.external_attr >> 16) & 0o777
                target.chmod(0o755 if mode & 0o111 else 0o644)
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                rel = _safe_member(member.name)
                if rel is None:
                    continue
                target = dest / rel
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    assert src is not None
                    target.write_bytes(src.read())
                    target.chmod(0o755 if member.mode & 0o111 else 0o644)
                elif member.issym():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if target.exists() or target.is_symlink():
                        target.unlink()
                    os.symlink(member.linkname, target)
    tops = [p for p in dest.iterdir()]
    if len(tops) == 1 and tops[0].is_dir():
        return tops[0]
    return dest
