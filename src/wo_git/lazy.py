"""Modules imported on first use, so each command pays only for what it uses.

``wo-git --version`` and ``--help`` need click and nothing else; ``list``
needs the git layer but not the guard, the executors or pre-commit. The
front ends bind their core modules with :func:`module`, which returns the
module object at once and runs its code on the first attribute access
(:class:`importlib.util.LazyLoader`, the standard library's own lazy import).
Type checkers see ordinary imports under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """The module ``name`` (dotted, absolute), loaded when first used.

    An already-imported module is returned as is. Raises
    :class:`ModuleNotFoundError` at once if ``name`` cannot be found; errors
    in the module's own code surface at first use.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    loader.exec_module(mod)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, mod)
    return mod
