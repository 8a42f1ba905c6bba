"""Whether two tickets' scopes may write the same path.

Scopes are gitignore-style patterns (the guard matches them with
``pathspec``'s ``GitIgnoreSpec``); an empty scope means "anywhere". Whether
two sets of such patterns can match a common path is not decidable cheaply
in general, so the test is **conservative** (it may say "overlap" for
disjoint scopes, never "disjoint" for overlapping ones):

1. **Witness**: a tracked file at the base tip that both scopes match
   (``pathspec`` on ``git ls-tree -r``): a certain overlap, named in the
   answer.
2. **Literal prefixes**: every gitignore pattern that contains a ``/``
   before its end is anchored at the root, so it can only match paths under
   its literal directory prefix (the text before the first wildcard, cut
   back to the last ``/``). A pattern with no such slash (``*.py``,
   ``foo``), a leading ``**``, or a negation (``!``) may match anywhere: its
   prefix is the empty string. Two scopes may overlap when some prefix of
   one is a path-prefix of some prefix of the other (``src/`` and
   ``src/a/`` may; ``src/`` and ``docs/`` cannot). New files are covered by
   this rule, which is why the witness test alone is not enough.

``src/*.py`` and ``src/*.md`` are reported as overlapping (same prefix, no
witness needed): the price of soundness is some needless serialization.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pathspec

from wo_git.errors import InvalidInput

_WILD = re.compile(r"[*?\[\\]")


def check_patterns(patterns: Iterable[str], what: str) -> None:
    """Raise :class:`InvalidInput` if a pattern is empty or not valid gitignore syntax."""
    pats = list(patterns)
    if any(not p.strip() for p in pats):
        raise InvalidInput(f"{what}: an empty pattern")
    try:
        pathspec.GitIgnoreSpec.from_lines(pats)
    except ValueError as err:
        raise InvalidInput(f"{what}: bad pattern: {err}") from None


def literal_prefix(pattern: str) -> str:
    """The path prefix of everything ``pattern`` matches: ``"src/a/"`` for ``src/a/**``,
    ``"src/"`` for ``/src/x*.py``, ``"docs/x.md"`` for ``/docs/x.md`` (a literal path:
    itself or, as a folder, what is under it), ``""`` when it may match anywhere."""
    p = pattern.strip()
    if p.startswith("!"):
        return ""
    body = p.rstrip("/")
    if "/" not in body:
        return ""  # no slash before the end: matches at any depth
    p = p.lstrip("/")
    m = _WILD.search(p)
    if not m:
        return p  # a literal path: itself, or everything under it when it is a folder
    lit = p[: m.start()]
    cut = lit.rfind("/")
    return lit[: cut + 1] if cut >= 0 else ""


def _nested(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def overlap(a: Sequence[str], b: Sequence[str], tracked: Sequence[str] = ()) -> str | None:
    """Why scopes ``a`` and ``b`` may write the same path, or ``None`` if they cannot.

    ``tracked``: the repository's tracked paths (for a witness). An empty
    scope is "anywhere" and overlaps everything.
    """
    if not a or not b:
        return "one of them may write anywhere (no scope)"
    sa, sb = pathspec.GitIgnoreSpec.from_lines(a), pathspec.GitIgnoreSpec.from_lines(b)
    for path in tracked:
        if sa.match_file(path) and sb.match_file(path):
            return f"both match {path}"
    for pa in a:
        for pb in b:
            xa, xb = literal_prefix(pa), literal_prefix(pb)
            if _nested(xa, xb):
                return f"{pa!r} and {pb!r} may match the same new path (under {min(xa, xb, key=len) or '/'})"
    return None
