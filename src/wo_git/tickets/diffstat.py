"""Diffstats read from the real diff with unidiff."""

from __future__ import annotations

from dataclasses import dataclass, field

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet


@dataclass
class FileStat:
    """One file of a diff: status letter (A, D, M, R), path, lines added and removed."""

    status: str
    path: str
    added: int
    removed: int
    binary: bool = False
    old_path: str | None = None
    mode: str | None = None
    """``100644 -> 100755`` when the mode changed"""


@dataclass
class DiffStat:
    """A whole diff: its files and the totals."""

    files: list[FileStat] = field(default_factory=list)

    @property
    def added(self) -> int:
        """Lines added in all files."""
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        """Lines removed in all files."""
        return sum(f.removed for f in self.files)

    def summary(self) -> str:
        """``3 files changed, +10 -2``."""
        n = len(self.files)
        return f"{n} file{'s' if n != 1 else ''} changed, +{self.added} -{self.removed}"

    def lines(self, limit: int = 40) -> list[str]:
        """One line per file, at most ``limit`` (the rest counted)."""
        out = []
        for f in self.files[:limit]:
            name = f"{f.old_path} -> {f.path}" if f.old_path else f.path
            change = "binary" if f.binary else f"+{f.added} -{f.removed}"
            if f.mode:
                change += f", mode {f.mode}"
            out.append(f"{f.status} {name} ({change})")
        if len(self.files) > limit:
            out.append(f"... and {len(self.files) - limit} more files")
        return out

    def to_json(self) -> dict[str, object]:
        """The stable ``--json`` shape."""
        return {
            "files": len(self.files),
            "added": self.added,
            "removed": self.removed,
            "paths": [
                {"status": f.status, "path": f.path, "old_path": f.old_path,
                 "added": f.added, "removed": f.removed, "binary": f.binary, "mode": f.mode}
                for f in self.files
            ],
        }


def parse(diff_text: str) -> DiffStat:
    """Parse ``git diff -M`` output into a :class:`DiffStat`.

    Mode-only changes and binary files count as files with no lines.
    """
    try:
        patch = PatchSet(diff_text)
    except UnidiffParseError:
        return DiffStat()
    stat = DiffStat()
    for pf in patch:
        if pf.is_added_file:
            status = "A"
        elif pf.is_removed_file:
            status = "D"
        elif pf.is_rename:
            status = "R"
        else:
            status = "M"
        path = pf.path
        old = pf.source_file[2:] if pf.is_rename and pf.source_file.startswith("a/") else None
        modes = {ln.split()[0]: ln.split()[-1] for ln in map(str, pf.patch_info or [])
                 if ln.startswith(("old mode", "new mode"))}
        mode = f"{modes['old']} -> {modes['new']}" if {"old", "new"} <= modes.keys() else None
        stat.files.append(
            FileStat(status, path, pf.added, pf.removed, binary=pf.is_binary_file, old_path=old, mode=mode)
        )
    return stat
