"""The guard: what an executor may not change, and what may not be committed.

The guard is wo-git's security boundary (DESIGN.md section 6, ../shared/GUARD.md).

- :mod:`wo_git.guard.policy`: what is protected. Path normalization, the
  default protected categories (secrets, deploy, ci, control), the
  configuration's extensions and exemptions, a work order's grants and scope.
- :mod:`wo_git.guard.content`: what secrets look like. High-confidence token
  and private-key rules over blob bytes, and Kubernetes manifest sniffing.
- :mod:`wo_git.guard.check`: walks git objects (every commit against every
  parent, both sides of renames, modes, symlinks, gitlinks) and asks the two
  modules above, producing a verdict that names rule, category and path.

``policy`` and ``content`` are pure: they never touch git.
"""

from __future__ import annotations

MAX_SCAN_BYTES = 256 * 1024 * 1024
"""Blobs larger than this are not read: the guard refuses them ("blob too large to scan")."""
