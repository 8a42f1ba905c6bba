"""Many objects read through a few git plumbing processes, without libgit2.

``wo-git guard --range`` reads every blob a range changed. Importing pygit2
alone costs about as much as git's own ``diff -p`` over 10,000 files, so
:class:`PlumbingReader` answers the guard's questions from ``git rev-list``,
one ``git diff-tree --stdin`` and ``git cat-file --batch-check``/``--batch``
(split across cores), and hands anything whose answer could differ from
libgit2's (renames, type changes, gitlinks, merges, odd encodings) to
:class:`~wo_git.git.Repo`. Split out of :mod:`wo_git.git`, which stays the
only module that imports pygit2.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wo_git.errors import InvalidInput, WoGitError
from wo_git.git import CommitInfo, Repo, clean_git_env, parse_trailers
from wo_git.types import MODE_BLOB, MODE_EXEC, MODE_LINK, Change, CommitId

_EMPTY_TREE = {
    40: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    64: "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}
_PLAIN_MODES = frozenset({MODE_BLOB, MODE_EXEC, MODE_LINK})


@dataclass(frozen=True)
class BlobBatch:
    """Blobs read in one pass (:meth:`PlumbingReader.read_blobs`).

    ``data`` is git's ``cat-file --batch`` output for every blob not over the
    size limit; ``spans`` maps each of those oids to ``(offset, size)`` in
    ``data``; ``sizes`` has the size of every requested oid. Each blob is
    followed by ``\\n`` and the next object's header (hex oid, ``blob``,
    digits).
    """

    data: bytes
    spans: Mapping[str, tuple[int, int]]
    sizes: Mapping[str, int]

    def blob(self, oid: str) -> bytes:
        """One blob's bytes (a copy); ``KeyError`` if it was not read."""
        start, size = self.spans[oid]
        return self.data[start : start + size]


class PlumbingReader:
    """Read-only access to a repository's objects through git's plumbing, without pygit2.

    It answers the part of :class:`Repo` that ``wo-git guard --range`` reads
    (``common_dir``, :meth:`resolve_commit`, :meth:`head_branch`,
    :meth:`branch_exists`, :meth:`read_path`, :meth:`rev_list`,
    :meth:`commit_info`, :meth:`changes`, :meth:`read_blob`,
    :meth:`blob_size`, :meth:`entry`) with the same results, and reads many
    objects with one git process (:meth:`lookup`, :meth:`read_commits`,
    :meth:`read_changes`, :meth:`read_blobs`). Like :class:`Repo` it works
    on the main repository (the common git directory) from any worktree, so
    ``HEAD`` is the main worktree's. Where git's plumbing and libgit2 could
    disagree it asks its :class:`Repo` (whose libgit2 handle, and pygit2,
    load on that first question): changes that add and delete paths (rename detection could pair
    them), type changes, gitlinks, walks with merges (libgit2's topological
    order), commits with an ``encoding`` header or text that is not UTF-8,
    and tree entries (symlink chains).

    Raises :class:`NotARepo` when ``path`` is not in a git repository.
    """

    def __init__(self, path: str | Path = ".") -> None:
        self._repo = Repo(path)  # finds the repository; libgit2 stays unopened until asked
        self.common_dir = self._repo.common_dir
        self._names: dict[str, tuple[str, str, int] | None] = {}
        self._commits: dict[str, CommitInfo] = {}
        self._changes: dict[tuple[str | None, str], list[Change]] = {}
        self._plain: dict[tuple[str | None, str], PlainDiff | None] = {}  # None: ask libgit2
        self._batches: list[BlobBatch] = []  # the latest two read
        self._ahead: _ReadAhead | None = None

    def _full(self) -> Repo:
        """The :class:`Repo` (libgit2), for what plumbing output cannot settle exactly."""
        return self._repo

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        """:func:`run_git` on the common directory, through files rather than pipes: git
        writes each blob with its own ``write(2)``, and a pipe wakes the reader for each."""
        return self._git_split(args, [input or b""])[0]

    def _git_split(self, args: Sequence[str], inputs: Sequence[bytes]) -> list[bytes]:
        """The output of one ``git ARGS`` per input, all running at once (``cat-file
        --batch`` over two halves of 10,000 blobs takes half the time on two idle cores)."""
        cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
               f"--git-dir={self.common_dir}", *args]
        import io

        files: list[io.BufferedRandom] = []
        running: list[tuple[io.BufferedRandom, subprocess.Popen[bytes]]] = []
        try:
            for data in inputs:
                stdin, stdout = open(_scratch_fd(), "w+b"), open(_scratch_fd(), "w+b")
                files += [stdin, stdout]
                stdin.write(data)
                stdin.seek(0)
                running.append((stdout, subprocess.Popen(cmd, cwd=self.common_dir, env=clean_git_env(),
                                                         stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)))
            out = []
            for stdout, proc in running:
                _, err = proc.communicate()
                if proc.returncode != 0:
                    msg = err.decode(errors="replace").strip() or f"exit {proc.returncode}"
                    raise WoGitError(f"git {' '.join(args)} failed: {msg}")
                stdout.seek(0)
                out.append(stdout.read())
            return out
        finally:
            for _, proc in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for file in files:
                file.close()

    # ---- names ------------------------------------------------------------------

    def lookup(self, *names: str) -> list[tuple[str, str, int] | None]:
        """``(oid, type, size)`` of each object name (``main``, ``A^{commit}``, ``REV:path``, an oid),
        ``None`` where git resolves nothing. Answers are kept: ask for every name a
        command will need at once, and it costs one ``git cat-file --batch-check``."""
        ask = [n for n in dict.fromkeys(names) if n not in self._names]
        for name in [n for n in ask if "\n" in n or n != n.strip() or not n]:
            self._names[name] = None
            ask.remove(name)
        if ask:
            out = self._git("cat-file", "--batch-check", "--buffer",
                            input="".join(n + "\n" for n in ask).encode()).decode("utf-8", "replace")
            for name, line in zip(ask, out.split("\n"), strict=False):
                fields = line.split(" ")
                ok = len(fields) == 3 and len(fields[0]) in _EMPTY_TREE and fields[2].isdigit()
                self._names[name] = (fields[0], fields[1], int(fields[2])) if ok else None
        return [self._names.get(n) for n in names]

    def resolve_commit(self, rev: str) -> CommitId:
        """:meth:`Repo.resolve_commit`: a revision peeled to a commit id; :class:`InvalidInput` if none."""
        found = self.lookup(f"{rev}^{{commit}}")[0]
        if found is None or found[1] != "commit":
            raise InvalidInput(f"no commit named {rev!r} in this repository")
        return CommitId(found[0])

    def head_branch(self) -> str | None:
        """:meth:`Repo.head_branch`: the main worktree's branch, ``None`` if detached or unborn."""
        try:
            head = (self.common_dir / "HEAD").read_text(errors="surrogateescape").strip()
        except OSError:
            return None
        return head[len("ref: refs/heads/") :] if head.startswith("ref: refs/heads/") else None

    def branch_exists(self, branch: str) -> bool:
        """Whether ``refs/heads/BRANCH`` exists."""
        return self.lookup(f"refs/heads/{branch}")[0] is not None

    def read_path(self, commit: str, path: str) -> bytes | None:
        """:meth:`Repo.read_path`: the blob at ``path`` in ``commit``'s tree, ``None`` if absent or not a file."""
        found = self.lookup(f"{commit}^{{commit}}:{path}")[0]
        if found is None or found[1] != "blob":
            return None
        return self.read_blob(found[0])

    # ---- commits ------------------------------------------------------------------

    def rev_list(self, tip: str, stop: str | None, *also: str) -> list[CommitId]:
        """:meth:`Repo.rev_list`: ``stop..tip``, oldest first (libgit2's order when merges are in it)."""
        hide = [f"^{h}" for h in (stop, *also) if h]
        out = self._git("rev-list", "--parents", "--topo-order", "--reverse", tip, *hide, "--")
        rows = [line.split(" ") for line in out.decode().split("\n") if line]
        if any(len(row) > 2 for row in rows):
            # with merges several orders are topological: take the one libgit2 picks
            return self._full().rev_list(tip, stop, *also)
        return [CommitId(row[0]) for row in rows]

    def commit_info(self, oid: str) -> CommitInfo:
        """:meth:`Repo.commit_info`; :class:`InvalidInput` if ``oid`` is not a commit."""
        if oid not in self._commits:
            self.read_commits([oid])
        return self._commits[oid]

    def read_commits(self, oids: Sequence[str]) -> None:
        """Read many commits (for :meth:`commit_info`) with one ``git cat-file --batch``."""
        ask = [o for o in dict.fromkeys(oids) if o not in self._commits]
        if not ask:
            return
        out = self._git("cat-file", "--batch", input="".join(o + "\n" for o in ask).encode())
        pos = 0
        for oid in ask:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].decode("utf-8", "replace").split(" ")
            size = int(header[2]) if len(header) == 3 and header[2].isdigit() else -1
            raw = out[nl + 1 : nl + 1 + size] if size >= 0 else b""
            pos = nl + 1 + (size + 1 if size >= 0 else 0)
            info = _parse_commit(header[0], raw) if header[1:2] == ["commit"] else None
            # a missing object or another type: Repo raises what it always raised
            self._commits[oid] = info or self._full().commit_info(oid)

    # ---- diffs ----------------------------------------------------------------------

    def changes(self, old: str | None, new: str) -> list[Change]:
        """:meth:`Repo.changes` between two commits (``old`` ``None``: the empty tree)."""
        pair = (old, new)
        if pair not in self._changes:
            if pair not in self._plain:
                self.read_changes([pair])
            plain = self._plain[pair]
            self._changes[pair] = plain.changes() if plain is not None else self._full().changes(old, new)
        return self._changes[pair]

    def read_changes(self, pairs: Sequence[tuple[str | None, str]]) -> None:
        """Diff many ``(old, new)`` commit pairs (for :meth:`changes`) with one ``git diff-tree --stdin``.

        A pair whose diff adds and deletes paths (a rename libgit2 could pair
        up), changes a type, or touches a gitlink is diffed by
        :meth:`Repo.changes` instead, so every answer is libgit2's.
        """
        ask = [p for p in dict.fromkeys(pairs) if p not in self._plain and p not in self._changes]
        if not ask:
            return
        self.read_commits([c for p in ask for c in p if c])
        trees: dict[tuple[str, str], list[tuple[str | None, str]]] = {}
        for old, new in ask:
            new_tree = self._commits[new].tree
            old_tree = self._commits[old].tree if old else _EMPTY_TREE[len(new_tree)]
            trees.setdefault((old_tree, new_tree), []).append((old, new))
        out = self._git("diff-tree", "--stdin", "-r", "-z", "--raw", "--no-renames", "--no-abbrev",
                        "--ignore-submodules=none", input="".join(f"{a} {b}\n" for a, b in trees).encode())
        # per pair an "OLD NEW\n" line, then ":MODE MODE OID OID STATUS\0PATH\0" per changed path
        # (one path each: no renames), so entries sit at even tokens, each pair's line
        # glued to the front of its first entry (or of the next pair's, if it has none)
        tokens = out.split(b"\x00")
        metas, paths = tokens[0::2], tokens[1::2]
        cuts = [i for i, meta in enumerate(metas) if not meta.startswith(b":")]
        found: dict[tuple[str, str], PlainDiff | None] = {}
        for n, i in enumerate(cuts):
            *lines, metas[i] = metas[i].split(b"\n")
            key = ("", "")
            for line in lines:
                a, _, b = line.decode().partition(" ")
                key = (a, b)
                found[key] = PlainDiff.parse([], [])
            end = cuts[n + 1] if n + 1 < len(cuts) else len(metas)
            if lines and metas[i]:
                found[key] = PlainDiff.parse(metas[i:end], paths[i:end])
        for key, commit_pairs in trees.items():
            plain = found.get(key)
            for old, new in commit_pairs:
                self._plain[(old, new)] = plain

    def plain_diff(self, old: str | None, new: str) -> PlainDiff | None:
        """The pair's entries as git gave them (:meth:`read_changes` first), or ``None``
        where they come from libgit2 (:meth:`changes` has them)."""
        if (old, new) not in self._plain:
            self.read_changes([(old, new)])
        return self._plain[(old, new)]

    def new_blobs(self, pairs: Sequence[tuple[str | None, str]]) -> list[str]:
        """The blobs at the paths whose content :meth:`read_changes` pairs change, new side
        (for :meth:`prefetch`); none for pairs left to libgit2."""
        out: dict[str, None] = {}
        for pair in pairs:
            plain = self._plain.get(pair)
            if plain is not None:
                out.update(dict.fromkeys(plain.new_blobs()))
        return list(out)

    # ---- blobs ----------------------------------------------------------------------

    def prefetch(self, oids: Sequence[str], max_size: int) -> None:
        """Start :meth:`read_blobs` of ``oids`` on a thread (its first batch), so git reads
        while the caller works; the next :meth:`read_blobs` with the same ``max_size``
        gives what it read first (and raises what reading raised), then the rest."""
        ahead = self._ahead
        if oids and not (ahead is not None and ahead.max_size == max_size and ahead.oids.issuperset(oids)):
            self._ahead = _ReadAhead(self._read_blobs(oids, max_size), set(oids), max_size)

    def read_blobs(self, oids: Sequence[str], max_size: int, max_batch: int = 64 << 20) -> Iterator[BlobBatch]:
        """Read many blobs, one ``git cat-file --batch`` per batch of at most ``max_batch``
        bytes (or one blob), leaving out blobs over ``max_size`` bytes: their sizes are
        still given. :class:`InvalidInput` if an oid is not a blob. :meth:`read_blob` and
        :meth:`blob_size` answer from the latest batches."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.max_size == max_size:
            # what it read (extra blobs are harmless), then whatever it was not asked for
            missing = [oid for oid in oids if oid not in ahead.oids]
            taken = ahead.take()

            def both() -> Iterator[BlobBatch]:
                yield from taken
                if missing:
                    yield from self._read_blobs(missing, max_size, max_batch)

            return both()
        if ahead is not None:
            ahead.take()  # waits for the thread: nothing reads concurrently below
        return self._read_blobs(oids, max_size, max_batch)

    def _read_blobs(self, oids: Sequence[str], max_size: int, max_batch: int = 64 << 20) -> Iterator[BlobBatch]:
        ask = list(dict.fromkeys(oids))
        sizes = self._sizes(ask)
        chunk: list[str] = []
        total = 0
        for oid in ask:
            if chunk and total + sizes[oid] > max_batch:
                yield self._keep(self._cat(chunk, sizes, max_size))
                chunk, total = [], 0
            chunk.append(oid)
            total += sizes[oid] if sizes[oid] <= max_size else 0
        if chunk:
            yield self._keep(self._cat(chunk, sizes, max_size))

    def _keep(self, batch: BlobBatch) -> BlobBatch:
        self._batches = [*self._batches[-1:], batch]
        return batch

    def _sizes(self, oids: Sequence[str]) -> dict[str, int]:
        if len(oids) > 100 and not any(n in self._names for n in oids):
            shares = _shares(len(oids), 2000)
            out = b"".join(self._git_split(["cat-file", "--batch-check", "--buffer"],
                                           ["".join(o + "\n" for o in part).encode()
                                            for part in _split(oids, shares)])).split()
            # all found and all blobs: "OID blob SIZE" each; anything else is sorted out below
            if len(out) == 3 * len(oids) and set(out[1::3]) == {b"blob"} and \
                    b" ".join(out[0::3]).decode().split(" ") == list(oids):
                return dict(zip(oids, map(int, out[2::3]), strict=True))
        sizes: dict[str, int] = {}
        for oid, found in zip(oids, self.lookup(*oids), strict=True):
            if found is None or found[1] != "blob":
                raise InvalidInput(f"{oid} is not a blob")
            sizes[oid] = found[2]
        return sizes

    def _cat(self, ask: Sequence[str], sizes: Mapping[str, int], max_size: int) -> BlobBatch:
        read = [o for o in ask if sizes[o] <= max_size]
        # one git per core, each on a contiguous share: their outputs join in order
        parts = _split(read, _shares(len(read), 500))
        data = b"".join(self._git_split(["cat-file", "--batch"],
                                        ["".join(o + "\n" for o in part).encode() for part in parts])) if read else b""
        # "OID blob SIZE\n" CONTENT "\n" per blob, so the sizes say where everything is: check
        # that each id sits where its header must start and that nothing follows the last
        from itertools import accumulate

        size = [sizes[o] for o in read]
        head = [len(o) + 7 + len(str(n)) for o, n in zip(read, size, strict=True)]
        starts = list(accumulate((h + n + 1 for h, n in zip(head, size, strict=True)), initial=0))
        ids = b"".join(data[p : p + len(o)] for p, o in zip(starts, read, strict=False))
        if starts[-1] != len(data) or ids != "".join(read).encode():  # (every oid is a blob: _sizes)
            raise WoGitError("git cat-file --batch gave unexpected output")
        spans = dict(zip(read, zip((p + h for p, h in zip(starts, head, strict=False)), size, strict=True),
                         strict=True))
        return BlobBatch(data, spans, {o: sizes[o] for o in ask})

    def read_blob(self, oid: str) -> bytes:
        """:meth:`Repo.read_blob`."""
        for batch in self._batches:
            if oid in batch.spans:
                return batch.blob(oid)
        return self._cat([oid], self._sizes([oid]), 1 << 62).blob(oid)

    def blob_size(self, oid: str) -> int:
        """:meth:`Repo.blob_size`."""
        for batch in self._batches:
            if oid in batch.sizes:
                return batch.sizes[oid]
        found = self.lookup(oid)[0]
        if found is None:
            raise InvalidInput(f"no object {oid}")
        return found[2]

    def entry(self, tree_ish: str, path: str) -> tuple[int, str] | None:
        """:meth:`Repo.entry` (asked of libgit2: only symlink chains need it)."""
        return self._full().entry(tree_ish, path)


class _ReadAhead:
    """The first batch of a blob read, taken on a thread (:meth:`PlumbingReader.prefetch`)."""

    def __init__(self, batches: Iterator[BlobBatch], oids: set[str], max_size: int) -> None:
        import threading  # loaded already: subprocess imports it

        self.oids, self.max_size = oids, max_size
        self._batches = batches
        self._first: list[BlobBatch] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wo-git read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._first = [batch for _, batch in zip(range(1), self._batches, strict=False)]
        except BaseException as err:  # raised again by take(), in the caller's thread
            self._error = err

    def take(self) -> Iterator[BlobBatch]:
        """Wait for the thread (raising what it raised); then every batch: the one it
        read, and the rest, read as they are asked for."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        first, rest = self._first, self._batches

        def batches() -> Iterator[BlobBatch]:
            yield from first
            yield from rest

        return batches()


def _shares(count: int, least: int) -> int:
    """Into how many git processes to split ``count`` objects: one per core (at most
    four), each with at least ``least`` objects (a process costs ~2 ms to start)."""
    return max(1, min(os.cpu_count() or 1, 4, count // least))


def _split(items: Sequence[str], shares: int) -> list[Sequence[str]]:
    """``items`` in ``shares`` contiguous parts, in order."""
    cut = [len(items) * i // shares for i in range(shares + 1)]
    return [items[cut[i] : cut[i + 1]] for i in range(shares)]


def _scratch_fd() -> int:
    """A descriptor of an unnamed read-write file, for a subprocess's input or output:
    in memory where the system offers it (``memfd_create``; git writes 10,000 blobs
    about 20% faster there than into a file on disk), else an unlinked temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("wo-git", os.MFD_CLOEXEC)
        except OSError:
            pass
    import tempfile

    fd, name = tempfile.mkstemp(prefix="wo-git-")
    os.unlink(name)
    return fd


def _parse_commit(oid: str, raw: bytes) -> CommitInfo | None:
    """A commit object read as libgit2 reads it, or ``None`` where only libgit2 can say
    (an ``encoding`` header, text that is not UTF-8, a NUL byte, an odd signature line)."""
    if b"\x00" in raw:
        return None
    head, sep, body = raw.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
        message = body.lstrip(b"\n").decode("utf-8") if sep else ""  # libgit2 drops leading newlines
    except UnicodeDecodeError:
        return None
    tree, author, when = "", "", 0
    parents: list[CommitId] = []
    for line in text.split("\n"):
        key, _, value = line.partition(" ")
        if key == "tree":
            tree = value
        elif key == "parent":
            parents.append(CommitId(value))
        elif key in ("author", "committer"):
            lt, gt = value.find(" <"), value.rfind("> ")
            stamp = value[gt + 2 :].split(" ")
            if lt < 0 or gt < lt or len(stamp) != 2 or not stamp[0].isdigit():
                return None
            if key == "author":
                author = f"{value[:lt]} <{value[lt + 2 : gt]}>"
            else:
                when = int(stamp[0])
        elif key == "encoding":
            return None
    if not tree or not author:
        return None
    return CommitInfo(id=CommitId(oid), parents=tuple(parents), tree=tree, message=message,
                      trailers=parse_trailers(message), time=when, author=author)


_MODE = {b"000000": 0, b"100644": MODE_BLOB, b"100755": MODE_EXEC, b"120000": MODE_LINK}


class PlainDiff:
    """One pair's ``git diff-tree --raw`` entries, kept as git's bytes until asked for;
    only built where libgit2 reports the same deltas (:meth:`parse`). Entries are
    additions, deletions (never both) and modifications, one path each: read them
    as :class:`Change`s (:meth:`changes`, :meth:`change`) or by column
    (:meth:`paths`, :meth:`changed_blobs`, :meth:`links`), in git's path order."""

    __slots__ = ("_status", "_paths", "_old_modes", "_new_modes", "_old_oids", "_new_oids", "_decoded",
                 "_changed")

    def __init__(self, fields: list[bytes], paths: list[bytes]) -> None:
        self._old_modes, self._new_modes = fields[0::5], fields[1::5]
        self._old_oids, self._new_oids, self._status = fields[2::5], fields[3::5], fields[4::5]
        self._paths = paths
        self._decoded: list[str] | None = None
        self._changed: list[str | None] | None = None

    @classmethod
    def parse(cls, metas: list[bytes], paths: list[bytes]) -> PlainDiff | None:
        """Entries ``:MODE MODE OID OID STATUS`` and their paths, or ``None`` where
        libgit2's deltas could differ: additions together with deletions (rename
        detection could pair them), type changes, gitlinks, anything unexpected."""
        fields = b" ".join(m[1:] for m in metas).split(b" ") if metas else []
        if len(fields) != 5 * len(metas) or len(paths) != len(metas):
            return None
        diff = cls(fields, paths)
        status = set(diff._status)
        if not status <= {b"M", b"A", b"D"} or {b"A", b"D"} <= status:
            return None
        if not (set(diff._old_modes) | set(diff._new_modes)) <= _MODE.keys():
            return None
        if b"120000" in diff._old_modes or b"120000" in diff._new_modes:
            # a modified entry must stay a symlink or stay a file (git says T otherwise; be sure)
            rows = zip(diff._old_modes, diff._new_modes, diff._status, strict=True)
            if any(s == b"M" and (o == b"120000") != (n == b"120000") for o, n, s in rows):
                return None
        return diff

    def new_blobs(self) -> list[str]:
        """New-side blob ids where the content changed (not deletions, not mode-only changes)."""
        return [oid for oid in self.changed_blobs() if oid is not None]

    def __len__(self) -> int:
        return len(self._paths)

    def paths(self) -> list[str]:
        """Each entry's path (decoded as :func:`os.fsdecode` decodes)."""
        if self._decoded is None:
            import sys

            if not self._paths:
                self._decoded = []
            elif sys.getfilesystemencoding() == "utf-8":  # os.fsdecode, for all paths at once
                self._decoded = b"\x00".join(self._paths).decode("utf-8", "surrogateescape").split("\x00")
            else:
                self._decoded = [os.fsdecode(p) for p in self._paths]
        return self._decoded

    def changed_blobs(self) -> list[str | None]:
        """Each entry's new blob id where its content changed (added or modified; not a
        deletion or a mode-only change), else ``None``."""
        if self._changed is None:
            rows = zip(self._status, self._old_oids, self._new_oids, strict=True)
            self._changed = [n.decode() if s != b"D" and n != o else None for s, o, n in rows]
        return self._changed

    def links(self) -> list[bool]:
        """Whether each entry's new side is a symlink."""
        return [m == b"120000" for m in self._new_modes]

    def change(self, i: int) -> Change:
        """Entry ``i`` as a :class:`Change`."""
        status, path = self._status[i], self.paths()[i]
        om, nm = _MODE[self._old_modes[i]], _MODE[self._new_modes[i]]
        oo, no = self._old_oids[i].decode(), self._new_oids[i].decode()
        if status == b"M":
            return Change("M", path, path, om, nm, oo, no)
        if status == b"A":
            return Change("A", None, path, None, nm, None, no)
        return Change("D", path, None, om, None, oo, None)

    def changes(self) -> list[Change]:
        """The entries as :class:`Change`s, as :meth:`Repo.changes` gives them."""
        if not self._paths:
            return []
        paths = self.paths()
        old_oids = b" ".join(self._old_oids).decode().split(" ")
        new_oids = b" ".join(self._new_oids).decode().split(" ")
        out: list[Change] = []
        rows = zip(self._status, paths, self._old_modes, self._new_modes, old_oids, new_oids, strict=True)
        for status, path, om, nm, oo, no in rows:
            if status == b"M":
                out.append(Change("M", path, path, _MODE[om], _MODE[nm], oo, no))
            elif status == b"A":
                out.append(Change("A", None, path, None, _MODE[nm], None, no))
            else:
                out.append(Change("D", path, None, _MODE[om], None, oo, None))
        return out
