"""Modules imported on first use, so each command pays only for what it uses.

``wo-git --version`` and ``--help`` need click and nothing else; ``list``
needs the git layer but not the guard, the executors or pre-commit. The
front ends bind their core modules with :func:`module`, which returns a
stand-in at once; the first attribute read imports the real module with an
ordinary :func:`importlib.import_module` and reads from it from then on.
Type checkers see ordinary imports under ``if TYPE_CHECKING:``.

Why not :class:`importlib.util.LazyLoader`: it puts a half-made module in
``sys.modules`` and runs the module's code inside whatever attribute read
comes first, including CPython's own read of ``__spec__`` when another
module does ``from wo_git.runs.run import x``. That read clears any error
(``import_ensure_initialized``), so a Ctrl-C arriving during the load was
swallowed, the module stayed half-initialised, and the command went on to
fail with ImportError (exit 70) instead of stopping with 130. Here the real
module is only ever loaded by the import system, which removes a module
whose code was interrupted and lets the KeyboardInterrupt through.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import Any


class _Deferred(ModuleType):
    """Stand-in for a module not imported yet; attribute reads go to the real one."""

    def __getattr__(self, attr: str) -> Any:  # called only for names the stand-in lacks
        real = importlib.import_module(self.__name__)
        return getattr(real, attr)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__name__))


def module(name: str) -> ModuleType:
    """The module ``name`` (dotted, absolute), imported when an attribute is first read.

    Returns the real module if it is already imported, else a stand-in
    (not placed in ``sys.modules``). Raises :class:`ModuleNotFoundError` at
    once if ``name`` cannot be found; errors in the module's own code,
    KeyboardInterrupt included, surface at first use, as from ``import``.
    """
    if name in sys.modules:
        return sys.modules[name]
    if _find(name) is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    return _Deferred(name)


def _find(name: str) -> ModuleSpec | None:
    """``name``'s spec, found without importing its parent packages (``find_spec`` would run them)."""
    parent, _, _ = name.rpartition(".")
    if not parent:
        return importlib.util.find_spec(name)
    if parent in sys.modules:
        return importlib.util.find_spec(name)
    outer = _find(parent)
    if outer is None or outer.submodule_search_locations is None:
        return None
    return PathFinder.find_spec(name, list(outer.submodule_search_locations))
