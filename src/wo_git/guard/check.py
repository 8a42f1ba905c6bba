"""The guard's verdict over git objects: commits, trees, blobs, modes.

It reads objects, never diff text or the working tree (GUARD.md, "What
trusted systems teach"): every commit of a range against every one of its
parents (so a merge commit is checked against each side, and a merge tree
that differs from all parents shows up in each comparison), both sides of a
rename, deletions, mode and type changes, symlink targets, gitlinks, commit
messages, and the added content of every blob whatever its name.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import compress, repeat
from operator import not_
from typing import TYPE_CHECKING, Protocol

from wo_git.git import mode_kind
from wo_git.guard import MAX_SCAN_BYTES
from wo_git.guard.content import Finding, kubernetes_kind, pem_is_public, scan_blob, suspects
from wo_git.guard.policy import Policy, normalize_path
from wo_git.plumbing import PlainDiff, PlumbingReader
from wo_git.types import MODE_GITLINK, MODE_LINK, Change

if TYPE_CHECKING:
    from pathlib import Path

    from wo_git.git import CommitInfo

YAML_SUFFIXES = (".yaml", ".yml", ".json")


def _yaml_free(paths: Sequence[str]) -> bool:
    """Whether no path ends with one of :data:`YAML_SUFFIXES` (any case): one
    pass over all of them instead of a test per path."""
    text = ("\x00".join(paths) + "\x00").lower()
    return not any(f"{suffix}\x00" in text for suffix in YAML_SUFFIXES)


class Objects(Protocol):
    """What the guard reads from git: a :class:`~wo_git.git.Repo`, or a
    :class:`~wo_git.plumbing.PlumbingReader` (same answers, no pygit2, many objects
    per git process: ``wo-git guard --range``)."""

    @property
    def common_dir(self) -> Path: ...
    def commit_info(self, oid: str) -> CommitInfo: ...
    def changes(self, old: str | None, new: str) -> list[Change]: ...
    def read_blob(self, oid: str) -> bytes: ...
    def blob_size(self, oid: str) -> int: ...
    def entry(self, tree_ish: str, path: str) -> tuple[int, str] | None: ...


@dataclass(frozen=True)
class Violation:
    """One reason the guard refuses: the path, its category, the rule, where it was seen.

    ``where`` is a commit id, ``worktree`` (uncommitted changes), or ``refs``
    / ``config`` / ``hooks`` for the snapshot comparison.
    """

    path: str
    category: str
    rule: str
    where: str
    detail: str = ""

    def __str__(self) -> str:
        at = self.where[:10] if len(self.where) == 40 else self.where
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.path}: {self.category} / {self.rule} [{at}]{extra}"

    def to_json(self) -> dict[str, str]:
        """The stable ``--json`` shape."""
        return asdict(self)


@dataclass(frozen=True)
class MailboxRule:
    """Which mailbox files a range may write: only these exact paths (the round's report)."""

    mailbox: str
    writable: frozenset[str] = frozenset()


def check_changes(
    repo: Objects,
    policy: Policy,
    changes: Iterable[Change],
    where: str,
    mailbox: MailboxRule | None = None,
    tree: str | None = None,
) -> list[Violation]:
    """Every violation in one set of tree changes (one commit against one parent).

    ``tree`` is the new side's tree (or commit): symlink chains are followed
    through it, so a new link to an existing link to ``.env`` is caught.
    """
    changes = list(changes)
    _prefetch(repo, changes)
    return _check_changes(repo, policy, changes, where, mailbox, tree)


def _check_changes(
    repo: Objects,
    policy: Policy,
    changes: Iterable[Change],
    where: str,
    mailbox: MailboxRule | None = None,
    tree: str | None = None,
    clean: set[str] | None = None,
) -> list[Violation]:
    out: list[Violation] = []
    for ch in _worth_checking(repo, policy, changes, mailbox, clean):
        out += _change_violations(repo, policy, ch, where, mailbox, tree)
    return _dedupe(out)


def _change_violations(
    repo: Objects, policy: Policy, ch: Change, where: str, mailbox: MailboxRule | None, tree: str | None
) -> list[Violation]:
    """Every violation of one change: its paths, symlink target, gitlink, added content."""
    out: list[Violation] = []
    for path in ch.paths:
        found = _path_violations(policy, path, where, ch, mailbox)
        if any(v.rule == "*.pem" for v in found) and _public_pem(repo, ch, path):
            # a CA bundle (certifi's cacert.pem) is public: ``*.pem`` is there for
            # keys, and the content rules still scan this blob for any key
            found = [v for v in found if v.rule != "*.pem"]
        out += found
    if ch.new_mode == MODE_LINK and ch.new_oid:
        out += _symlink_violations(repo, policy, ch.new_path or "", ch.new_oid, where, tree)
    if MODE_GITLINK in (ch.old_mode, ch.new_mode):
        out.append(Violation(ch.new_path or ch.old_path or "", "control", "submodule (gitlink)", where,
                             f"{mode_kind(ch.old_mode)} -> {mode_kind(ch.new_mode)}"))
    elif ch.new_oid and ch.new_mode != MODE_LINK and ch.new_oid != ch.old_oid:
        out += _content_violations(repo, ch, where)
    return out


def _worth_checking(
    repo: Objects, policy: Policy, changes: Iterable[Change], mailbox: MailboxRule | None,
    clean: set[str] | None = None,
) -> list[Change]:
    """The ``changes`` that may yield a violation; the others certainly yield none.

    A change is left out only when the loop in :func:`_check_changes`
    would add nothing for it: no mailbox or scope rule applies, the
    policy's pre-filter clears every path it touches
    (:meth:`Policy.unprotected`), it is no symlink or gitlink, and its new
    blob's facts are known and empty (no finding; for a YAML/JSON path, not
    a Kubernetes manifest). On a large change most are left out, and the
    pre-filter runs once over all paths.
    """
    changes = list(changes)
    if mailbox is not None or policy.scoped:
        return changes
    common = str(repo.common_dir)
    if clean is None:
        clean = policy.unprotected(p for ch in changes for p in ch.paths)
    keep: list[Change] = []
    for ch in changes:
        if ch.new_mode == MODE_LINK or MODE_GITLINK in (ch.old_mode, ch.new_mode):
            keep.append(ch)
        elif (ch.old_path is not None and ch.old_path not in clean) or (
            ch.new_path is not None and ch.new_path not in clean
        ):
            keep.append(ch)
        elif ch.new_oid and ch.new_oid != ch.old_oid:
            facts = _FACTS.get((common, ch.new_oid))
            yaml = (ch.new_path or "").lower().endswith(YAML_SUFFIXES)
            if facts is None or facts[0] or (yaml and facts[1] is not None):
                keep.append(ch)
    return keep


def _plain_worth_checking(repo: Objects, diff: PlainDiff, clean: set[str]) -> list[Change]:
    """:func:`_worth_checking` (no mailbox, no scope) over a diff's columns: a
    :class:`Change` is made only of the entries it keeps."""
    common = str(repo.common_dir)
    paths, oids, links = diff.paths(), diff.changed_blobs(), diff.links()
    if not any(links) and clean.issuperset(paths) and _yaml_free(paths):
        # the usual diff: no path a rule protects, every blob read and found empty
        known = list(map(_FACTS.get, zip(repeat(common), filter(None, oids))))  # (no oid: nothing written)
        if known.count(_NO_FACTS) == len(known):
            return []
    keep: list[int] = []
    rows = zip(paths, oids, links, strict=True)
    for i, (path, oid, link) in enumerate(rows):
        if link or path not in clean:
            keep.append(i)
        elif oid is not None:
            facts = _FACTS.get((common, oid))
            if facts is None or facts[0] or (facts[1] is not None and path.lower().endswith(YAML_SUFFIXES)):
                keep.append(i)
    return [diff.change(i) for i in keep]


def _path_violations(
    policy: Policy, path: str, where: str, ch: Change, mailbox: MailboxRule | None
) -> list[Violation]:
    hits = [(m.category, m.rule) for m in policy.classify(path)]
    if mailbox is not None:
        norm = normalize_path(path)
        box = normalize_path(mailbox.mailbox).rstrip("/") + "/"
        if norm.startswith(box) and norm not in {normalize_path(p) for p in mailbox.writable}:
            hits.append(("control", f"{mailbox.mailbox}/ (the mailbox)"))
        elif policy.out_of_scope(path) and norm not in {normalize_path(p) for p in mailbox.writable}:
            hits.append(("scope", "outside the work order's scope"))
    elif policy.out_of_scope(path):
        hits.append(("scope", "outside the work order's scope"))
    if not hits:
        return []
    what = _describe(ch, path)
    return [Violation(path, category, rule, where, what) for category, rule in hits]


def _public_pem(repo: Objects, ch: Change, path: str) -> bool:
    """The blob at ``path`` (this side of the change) is PEM with only certificates."""
    new_side = path == ch.new_path
    oid, mode = (ch.new_oid, ch.new_mode) if new_side else (ch.old_oid, ch.old_mode)
    if not oid or mode in (MODE_LINK, MODE_GITLINK) or repo.blob_size(oid) > MAX_SCAN_BYTES:
        return False
    return pem_is_public(repo.read_blob(oid))


def _describe(ch: Change, path: str) -> str:
    if ch.status == "R":
        return f"renamed {ch.old_path} -> {ch.new_path}"
    if ch.status == "A":
        return f"added {mode_kind(ch.new_mode)}"
    if ch.status == "D":
        return f"deleted {mode_kind(ch.old_mode)}"
    if ch.status == "T" or (ch.old_mode != ch.new_mode and ch.old_oid == ch.new_oid):
        return f"{mode_kind(ch.old_mode)} -> {mode_kind(ch.new_mode)}"
    return "modified"


MAX_LINK_HOPS = 40  # Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS)


def _symlink_violations(
    repo: Objects, policy: Policy, path: str, oid: str, where: str, tree: str | None = None
) -> list[Violation]:
    """A symlink is protected when its target is, or when it leaves the worktree.

    With ``tree``, a target that is itself a symlink in that tree is followed
    (up to :data:`MAX_LINK_HOPS`), and every hop is checked.
    """
    found: list[Violation] = []
    link, link_oid, seen = path, oid, set()
    for _ in range(MAX_LINK_HOPS):
        data = _LINKS.get((str(repo.common_dir), link_oid))
        target = (data if data is not None else repo.read_blob(link_oid)).decode("utf-8", errors="replace")
        found += _one_link(policy, path, link, target, where)
        if found or tree is None:
            return found
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(link), target.replace("\\", "/")))
        nxt = repo.entry(tree, joined)
        if nxt is None or nxt[0] != MODE_LINK or joined in seen:
            return found
        seen.add(joined)
        link, link_oid = joined, nxt[1]
    return [Violation(path, "secrets", "symlink chain too long", where, f"more than {MAX_LINK_HOPS} links")]


def _one_link(policy: Policy, path: str, link: str, target: str, where: str) -> list[Violation]:
    """Violations of one hop ``link -> target``, reported against the new link at ``path``."""
    if target.startswith("/") or target.startswith("\\"):
        return [Violation(path, "secrets", "symlink to an absolute path", where, f"-> {target}")]
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link), target.replace("\\", "/")))
    if joined == ".." or joined.startswith("../"):
        return [Violation(path, "secrets", "symlink out of the worktree", where, f"-> {target}")]
    # the target itself, else a folder whose contents are protected (``docs/ci -> ../.github/workflows``)
    matches = policy.classify(joined) or policy.classify(f"{joined}/x")
    found = [Violation(path, m.category, f"symlink to {m.rule}", where, f"-> {target}") for m in matches]
    if not found and policy.protects_dir(joined):
        found.append(Violation(path, "control", "symlink to a protected folder", where, f"-> {target}"))
    return found


_FACTS: dict[tuple[str, str], tuple[tuple[Finding, ...], str | None]] = {}
_FACTS_MAX = 200_000
_LINKS: dict[tuple[str, str], bytes] = {}  # symlink blobs read ahead by _prefetch
_LINK_MAX = 4096  # longer than any path a symlink can name (PATH_MAX); longer blobs are read when needed


_NO_FACTS: tuple[tuple[Finding, ...], str | None] = ((), "?")


def _prefetch(repo: Objects, changes: Sequence[Change]) -> None:
    """Read, in as few git processes as possible, every blob :func:`check_changes`
    will read, and record the facts :func:`_blob_facts` would compute blob by blob.

    Only for a :class:`~wo_git.plumbing.PlumbingReader` (libgit2 reads in process),
    which may have started reading them already (its ``export_range``).
    """
    if not isinstance(repo, PlumbingReader):
        return
    content: dict[str, bool] = {}  # oid -> its facts need the Kubernetes kind
    links: set[str] = set()
    for ch in changes:
        oid = ch.new_oid
        if not oid or MODE_GITLINK in (ch.old_mode, ch.new_mode):
            continue
        if ch.new_mode == MODE_LINK:
            links.add(oid)
        elif oid != ch.old_oid:
            yaml = (ch.new_path or "").lower().endswith(YAML_SUFFIXES)
            content[oid] = content.get(oid, False) or yaml
    _read_facts(repo, content, links)


def _plan_plain(diff: PlainDiff, content: dict[str, bool], links: set[str]) -> None:
    """:func:`_prefetch`'s choice of blobs, from a diff's columns (no :class:`Change` made)."""
    paths, oids, link_flags = diff.paths(), diff.changed_blobs(), diff.links()
    if not any(link_flags) and _yaml_free(paths):  # the usual diff: every blob for its content only
        content.update({oid: False for oid in oids if oid is not None and oid not in content})
        return
    for path, oid, link in zip(paths, oids, link_flags, strict=True):
        if oid is None:
            continue
        if link:
            links.add(oid)
        else:
            content[oid] = content.get(oid, False) or path.lower().endswith(YAML_SUFFIXES)


def _read_facts(repo: PlumbingReader, content: dict[str, bool], links: set[str]) -> None:
    """Read the ``content`` blobs (oid -> also find its Kubernetes kind) and the
    ``links``' targets, and record their facts; :func:`suspects` leaves out only
    blobs whose :func:`scan_blob` is certainly empty."""
    common = str(repo.common_dir)
    if _FACTS:
        content = {oid: kind for oid, kind in content.items()
                   if (facts := _FACTS.get((common, oid))) is None or (kind and facts[1] == "?")}
    if _LINKS:
        links = {oid for oid in links if (common, oid) not in _LINKS}
    if not content and not links:
        return
    if len(_LINKS) >= _FACTS_MAX:
        _LINKS.clear()
    for batch in repo.read_blobs([*content, *links], MAX_SCAN_BYTES):
        read = batch.read
        marked = suspects(batch.data, batch.starts, batch.lengths)
        if len(_FACTS) + len(read) > _FACTS_MAX:
            _FACTS.clear()
        # most blobs hold no keyword: nothing in them (whatever else is asked of them below)
        _FACTS.update(zip(zip(repeat(common), compress(read, map(not_, marked))), repeat(_NO_FACTS)))
        if not links and not any(marked) and not any(content.values()):
            continue
        for i, oid in enumerate(read):
            kind = content.get(oid)  # None: not read for its content
            if not (marked[i] or kind or oid in links):
                continue  # recorded above
            start, size = batch.starts[i], batch.lengths[i]
            if oid in links and size <= _LINK_MAX:
                _LINKS[(common, oid)] = batch.data[start : start + size]
            if kind is None or not (marked[i] or kind):
                continue
            data = batch.data[start : start + size]
            _FACTS[(common, oid)] = (tuple(scan_blob(data)) if marked[i] else (),
                                     kubernetes_kind(data) if kind else "?")


def _blob_facts(repo: Objects, oid: str, yaml: bool) -> tuple[tuple[Finding, ...], str | None]:
    """A blob's secret findings and Kubernetes kind, each blob read and scanned once.

    Blobs are content-addressed, so the answer for an oid never changes: a
    blob seen again (a merge against each parent, the final tree after the
    commits that made it, a file moved back and forth) is not read again.
    """
    key = (str(repo.common_dir), oid)
    facts = _FACTS.get(key)
    if facts is None or (yaml and facts[1] == "?"):
        data = repo.read_blob(oid)
        facts = (tuple(scan_blob(data)), kubernetes_kind(data) if yaml else "?")
        del data
        if len(_FACTS) >= _FACTS_MAX:
            _FACTS.clear()
        _FACTS[key] = facts
    return facts


def _content_violations(repo: Objects, ch: Change, where: str) -> list[Violation]:
    path = ch.new_path or ""
    size = repo.blob_size(ch.new_oid or "")
    if size > MAX_SCAN_BYTES:
        return [Violation(path, "secrets", "blob too large to scan", where, f"{size} bytes")]
    yaml = path.lower().endswith(YAML_SUFFIXES)
    found, kind = _blob_facts(repo, ch.new_oid or "", yaml)
    findings = list(found)
    if findings and ch.old_oid and ch.old_mode not in (MODE_LINK, MODE_GITLINK):
        # a secret the old side already had, on a line kept as it was, is not added by this change
        rules = {f.rule for f in _blob_facts(repo, ch.old_oid, False)[0]}
        if any(f.rule in rules for f in findings):
            new, old = repo.read_blob(ch.new_oid or ""), repo.read_blob(ch.old_oid)
            findings = [f for f in findings if f.rule not in rules or _added(new, old, f)]
    out = [_finding(path, f, where) for f in findings]
    if yaml:
        if kind == "Secret":
            out.append(Violation(path, "secrets", "kubernetes kind: Secret", where))
        elif kind is not None:
            out.append(Violation(path, "deploy", f"kubernetes manifest (kind: {kind})", where))
    return out


def _added(new: bytes, old: bytes, f: Finding) -> bool:
    """Whether finding ``f`` of blob ``new`` is new: its line (a private key: its whole
    block) does not occur in ``old``. Excerpts are redacted, so two different
    tokens look alike; the text they sit on does not. Blobs with NUL bytes
    (UTF-16, binaries) are scanned through strided views whose line numbers
    do not map back: there every finding counts as added."""
    if b"\x00" in new:
        return True
    lines = new.split(b"\n")
    i = f.line - 1
    if not 0 <= i < len(lines):
        return True
    chunk = [lines[i]]
    if "private-key" in f.rule or b"-----BEGIN" in lines[i]:
        j = i
        while b"-----END" not in lines[j] and j + 1 < len(lines) and j - i < 500:
            j += 1
            chunk.append(lines[j])
    needle = b"\n".join(chunk).strip()
    return not needle or needle not in old


def _finding(path: str, f: Finding, where: str) -> Violation:
    return Violation(path, "secrets", f"content: {f.rule}", where, f"line {f.line}: {f.excerpt}")


def check_message(message: str, where: str) -> list[Violation]:
    """Secrets in a commit message."""
    return [_finding("(commit message)", f, where) for f in scan_blob(message.encode())]


def check_tree(
    repo: Objects,
    policy: Policy,
    new: str,
    sides: Sequence[str | None],
    where: str,
    mailbox: MailboxRule | None = None,
    own: str | None = None,
) -> list[Violation]:
    """Violations in what made tree-ish ``new`` out of ``sides``, all of which are trusted.

    One side: every change against it. Several (a trusted merge's parents,
    or a round's start plus the base commit being merged into it): only the
    paths where ``new`` differs from **every** side count, as in git's dense
    combined diff (``git diff --cc``): content taken as it is from one side
    came in with that side (it is the base, or was checked when it entered
    the ticket), so another ticket's files arriving from the base are not
    blamed here, while a resolution that writes anything new is. Paths under
    ``own`` (the ticket's own mailbox folder, which the base never has) are
    always compared with the first side. The changes that count are checked
    against the first side.
    """
    first = repo.changes(sides[0], new)
    if len(sides) == 1:
        return check_changes(repo, policy, first, where, mailbox, tree=new)
    differs: set[str] | None = None
    for side in sides[1:]:
        paths = {p for ch in repo.changes(side, new) for p in ch.paths}
        differs = paths if differs is None else differs & paths
    prefix = normalize_path(own).rstrip("/") + "/" if own else None
    keep = [
        ch for ch in first
        if any(p in (differs or set()) or (prefix and normalize_path(p).startswith(prefix)) for p in ch.paths)
    ]
    return check_changes(repo, policy, keep, where, mailbox, tree=new)


def check_commits(
    repo: Objects,
    policy: Policy,
    commits: Sequence[str],
    mailbox: MailboxRule | None = None,
    exempt: dict[str, set[str]] | None = None,
    sides: Mapping[str, Sequence[str]] | None = None,
    own: str | None = None,
) -> list[Violation]:
    """Check each commit against every parent (a root commit against the empty tree).

    ``exempt`` maps a commit id to normalized paths that commit may change
    (wo-git's own mailbox commits). ``sides`` maps a commit id to the
    trusted sides it is checked against instead, as one (:func:`check_tree`
    with ``own``): the caller grants this only to commits whose every side
    is trusted, i.e. wo-git's own merges of the base, read from the ticket
    record, or an executor's commits during a round that merges the base
    wo-git recorded. A commit without an entry is checked against each
    parent separately, so a merge nobody vouched for is blamed for
    everything either parent lacks.
    """
    out: list[Violation] = []
    prefetched = isinstance(repo, PlumbingReader)
    clean: set[str] | None = None
    plain: dict[tuple[str | None, str], PlainDiff | None] = {}
    if isinstance(repo, PlumbingReader):
        # every commit, diff and blob of the range in a handful of git processes
        repo.read_commits(commits)
        pairs = [(parent, oid) for oid in commits if not (sides or {}).get(oid)
                 for parent in repo.commit_info(oid).parents or (None,)]
        repo.read_changes(pairs)
        # while git reads the blobs: which paths no rule can protect, which blobs to scan
        content: dict[str, bool] = {}
        links: set[str] = set()
        paths: list[str] = []
        for pair in pairs:
            diff = plain[pair] = repo.plain_diff(*pair)
            if diff is not None:
                paths += diff.paths()
                _plan_plain(diff, content, links)
            else:
                changes = repo.changes(*pair)
                paths += [p for ch in changes for p in ch.paths]
                _prefetch(repo, changes)
        if mailbox is None and not policy.scoped:
            clean = policy.unprotected(paths)
        _read_facts(repo, content, links)
    for oid in commits:
        info = repo.commit_info(oid)
        allowed = (exempt or {}).get(oid, set())
        trusted = (sides or {}).get(oid)
        if trusted:
            found = check_tree(repo, policy, oid, trusted, oid, mailbox, own)
        else:
            found = []
            for parent in info.parents or (None,):
                diff = plain.get((parent, oid))
                if diff is not None and clean is not None:
                    changes = _plain_worth_checking(repo, diff, clean)
                else:
                    changes = repo.changes(parent, oid)
                if not prefetched:
                    _prefetch(repo, changes)
                found += _check_changes(repo, policy, changes, oid, mailbox, tree=oid, clean=clean)
        out += [v for v in found if normalize_path(v.path) not in allowed or v.category == "secrets"]
        out += check_message(info.message, oid)
    return _dedupe(out)


def _dedupe(vs: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for v in vs:
        key = (v.path, v.category, v.rule)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def format_violations(vs: Sequence[Violation], limit: int = 50) -> str:
    """Violations as indented lines for people, at most ``limit`` of them."""
    lines = [f"  - {v}" for v in vs[:limit]]
    if len(vs) > limit:
        lines.append(f"  ... and {len(vs) - limit} more")
    return "\n".join(lines)
