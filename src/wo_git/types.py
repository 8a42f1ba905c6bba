"""Plain value types shared by the git adapter, the guard and the workflow.

Object ids are always full 40-hex strings (``CommitId``), never abbreviations,
so equality on them is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

CommitId = NewType("CommitId", str)
RefName = NewType("RefName", str)

# git file modes (octal), as stored in trees
MODE_BLOB = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
MODE_TREE = 0o040000
MODE_GITLINK = 0o160000


@dataclass(frozen=True)
class Change:
    """One path changed between two trees, read from git objects.

    ``status`` is git's letter: ``A`` added, ``D`` deleted, ``M`` modified
    (content and/or mode), ``T`` type change (file <-> symlink <-> gitlink),
    ``R`` renamed (both ``old_path`` and ``new_path`` set). Absent sides are
    ``None``. Modes are git's octal modes (``MODE_*``); oids are 40-hex blob
    ids (for a gitlink, the submodule commit id).
    """

    status: str
    old_path: str | None
    new_path: str | None
    old_mode: int | None
    new_mode: int | None
    old_oid: str | None
    new_oid: str | None

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path this change touches: both sides of a rename."""
        return tuple(dict.fromkeys(p for p in (self.old_path, self.new_path) if p))
