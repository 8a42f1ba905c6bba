"""wo-git: git-native work orders between an architect and a coding-agent executor."""

from __future__ import annotations

__version__ = "0.1.0"
