"""Many objects read through a few git plumbing processes, without libgit2.

``wo-git guard --range`` reads every blob a range changed. Importing pygit2
alone costs about as much as git's own ``diff -p`` over 10,000 files, so
:class:`PlumbingReader` answers the guard's questions from ``git rev-list``,
one ``git diff-tree --stdin``, and the blobs of one ``git fast-export`` of
the range (:meth:`PlumbingReader.export_range`) or ``git cat-file --batch``
(split across cores), and hands anything whose answer could differ from
libgit2's (renames, type changes, gitlinks, merges, odd encodings) to
:class:`~wo_git.git.Repo`. Split out of :mod:`wo_git.git`, which stays the
only module that imports pygit2.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress
from pathlib import Path
from typing import IO

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
    size limit; the blobs in it are ``read[i]``, at ``starts[i]``, ``lengths[i]``
    bytes long, in ascending order, each followed by ``\\n`` and the next
    object's header (``blob``, digits, maybe a hex oid before them). Blobs
    left out for their size are in ``skipped`` with their sizes.
    """

    data: bytes
    read: Sequence[str]
    starts: Sequence[int]
    lengths: Sequence[int]
    skipped: Mapping[str, int]

    @classmethod
    def limited(cls, data: bytes, oids: Sequence[str], starts: Sequence[int], sizes: Sequence[int],
                max_size: int) -> BlobBatch:
        """The blobs ``oids`` found in ``data`` at ``starts``, ``sizes`` bytes long, with
        those over ``max_size`` bytes left out (read, since they fitted under a cap, but
        left out as the sized path leaves them out)."""
        if max(sizes, default=0) <= max_size:
            return cls(data, oids, starts, sizes, {})
        keep = [size <= max_size for size in sizes]
        return cls(data, list(compress(oids, keep)), list(compress(starts, keep)), list(compress(sizes, keep)),
                   {oid: size for oid, size in zip(oids, sizes, strict=True) if size > max_size})

    @functools.cached_property
    def spans(self) -> dict[str, tuple[int, int]]:
        """Each read oid's ``(offset, size)`` in ``data``."""
        return dict(zip(self.read, zip(self.starts, self.lengths, strict=True), strict=True))

    @functools.cached_property
    def sizes(self) -> dict[str, int]:
        """The size of every requested oid, read or skipped."""
        return {**dict(zip(self.read, self.lengths, strict=True)), **self.skipped}

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
    :meth:`read_changes`, :meth:`read_blobs`, fed first by :meth:`export_range`;
    :meth:`close` stops an export never read). Like :class:`Repo` it works
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
        self._export: _Drained | None = None  # export_range()

    def _full(self) -> Repo:
        """The :class:`Repo` (libgit2), for what plumbing output cannot settle exactly."""
        return self._repo

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        """:func:`run_git` on the common directory, for one input."""
        out = self._git_split(args, [input or b""])
        assert out is not None  # no cap: never None
        return out[0]

    def _git_split(self, args: Sequence[str], inputs: Sequence[bytes], cap: int | None = None) -> list[bytes] | None:
        """The output of one ``git ARGS`` per input, all running at once (``cat-file
        --batch`` over two halves of 10,000 blobs takes half the time on two idle cores),
        or ``None`` as soon as they have written more than ``cap`` bytes in all (they
        are killed: a blob of zeros packs small and unpacks to any size)."""
        return self._start(args, inputs).finish(cap)

    def _start(self, args: Sequence[str], inputs: Sequence[bytes]) -> _Running:
        """Start one ``git ARGS`` per input; :meth:`_Running.finish` collects them."""
        cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
               f"--git-dir={self.common_dir}", *args]
        running = _Running(args)
        try:
            for data in inputs:
                stdin, stderr = open(_scratch_fd(), "w+b"), open(_scratch_fd(), "w+b")
                running.files += [stdin, stderr]
                stdin.write(data)
                stdin.seek(0)
                proc = subprocess.Popen(cmd, cwd=self.common_dir, env=clean_git_env(), stdin=stdin,
                                        stdout=subprocess.PIPE, stderr=stderr)
                running.procs.append((stderr, proc))
                running.wide = _widen(proc.stdout) and running.wide
        except BaseException:
            running.close()
            raise
        return running

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

    # ---- blobs ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop an :meth:`export_range` whose blobs were never read."""
        if self._export is not None:
            self._export.close()
        self._export = None

    def export_range(self, tip: str, stop: str | None) -> None:
        """Start ``git fast-export`` of ``stop..tip``, the source the next
        :meth:`read_blobs` reads first: it writes every blob its commits change
        (against their first parent) through a buffer, where ``cat-file --batch``
        makes two ``write(2)`` calls per blob, and so costs git about 40% less. It
        runs while the caller diffs and plans; what it does not hold is read the usual way."""
        if self._export is not None:
            self._export.close()
        self._export = _Drained(self._start(["fast-export", "--show-original-ids", "--reencode=no",
                                             "--reference-excluded-parents", tip, *([f"^{stop}"] if stop else [])],
                                            [b""]), _EXPORT_CAP)

    def read_blobs(self, oids: Sequence[str], max_size: int, max_batch: int = 64 << 20) -> Iterator[BlobBatch]:
        """Read many blobs: first what a pending :meth:`export_range` holds (extra blobs
        are harmless), then the rest in one ``git cat-file --batch`` pass, or, past
        ``max_batch`` bytes, in batches of at most that many (or one blob), leaving out
        blobs over ``max_size`` bytes: their sizes are still given. :class:`InvalidInput`
        if an oid is not a blob. :meth:`read_blob` and :meth:`blob_size` answer from
        the latest batches."""
        export, self._export = self._export, None
        if export is not None:
            try:
                outs = export.result()
            except WoGitError:  # an older git, an odd commit: read the usual way
                outs = None
            batch = _exported_blobs(outs[0], max_size) if outs is not None else None
            if batch is not None:
                have = set(batch.read).union(batch.skipped)
                missing = [oid for oid in oids if oid not in have]

                def rest() -> Iterator[BlobBatch]:
                    yield self._keep(batch)
                    if missing:
                        yield from self.read_blobs(missing, max_size, max_batch)

                return rest()
        return self._read_blobs(oids, max_size, max_batch)

    def _read_blobs(self, oids: Sequence[str], max_size: int, max_batch: int = 64 << 20) -> Iterator[BlobBatch]:
        ask = list(dict.fromkeys(oids))
        if not ask:
            return
        once = self._read_once(ask, max_size, max_batch, self._start_once(ask))
        if once is not None:
            yield self._keep(once)
            return
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

    def _start_once(self, ask: Sequence[str]) -> _Running:
        """Start :meth:`_read_once`'s git processes (one per core, each on a contiguous share)."""
        parts = _split(ask, _shares(len(ask), 500))
        return self._start(["cat-file", "--batch=%(objecttype) %(objectsize)"],
                           ["".join(o + "\n" for o in part).encode() for part in parts])

    def _read_once(self, ask: Sequence[str], max_size: int, cap: int, running: _Running) -> BlobBatch | None:
        """Every blob of ``ask`` in one pass (``running``, from :meth:`_start_once`) without
        asking their sizes first (that costs git a second lookup of each object), or
        ``None`` where one pass will not do: over ``cap`` bytes in all (git is stopped
        there), or an object that is not a blob (the sized path then raises what it
        always raised)."""
        outs = running.finish(cap)
        if outs is None:
            return None
        data = b"".join(outs)
        # "blob SIZE\n" CONTENT "\n" per object, in the order asked: each size says where the
        # next header is; then every header must say "blob", and nothing may follow the last
        heads: list[int] = []
        sizes: list[int] = []
        find, pos = data.find, 0
        try:
            for _ in ask:
                nl = find(b"\n", pos)
                size = int(data[pos + 5 : nl])
                heads.append(pos)
                sizes.append(size)
                pos = nl + size + 2
        except ValueError:  # "OID missing"
            return None
        if pos != len(data) or b"".join(data[h : h + 5] for h in heads) != b"blob " * len(ask):
            return None  # a tree, a commit
        starts = [pos - size - 1 for pos, size in zip(heads[1:] + [pos], sizes, strict=True)]
        return BlobBatch.limited(data, ask, starts, sizes, max_size)

    def _keep(self, batch: BlobBatch) -> BlobBatch:
        self._batches = [*self._batches[-1:], batch]
        return batch

    def _sizes(self, oids: Sequence[str]) -> dict[str, int]:
        if len(oids) > 100 and not any(n in self._names for n in oids):
            shares = _shares(len(oids), 2000)
            out = b"".join(self._git_split(["cat-file", "--batch-check", "--buffer"],
                                           ["".join(o + "\n" for o in part).encode()
                                            for part in _split(oids, shares)]) or []).split()
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
                                        ["".join(o + "\n" for o in part).encode() for part in parts]) or []) \
            if read else b""
        # "OID blob SIZE\n" CONTENT "\n" per blob, so the sizes say where everything is: check
        # that each id sits where its header must start and that nothing follows the last
        size = [sizes[o] for o in read]
        head = [len(o) + 7 + len(str(n)) for o, n in zip(read, size, strict=True)]
        starts = list(accumulate((h + n + 1 for h, n in zip(head, size, strict=True)), initial=0))
        ids = b"".join(data[p : p + len(o)] for p, o in zip(starts, read, strict=False))
        if starts[-1] != len(data) or ids != "".join(read).encode():  # (every oid is a blob: _sizes)
            raise WoGitError("git cat-file --batch gave unexpected output")
        return BlobBatch(data, read, [p + h for p, h in zip(starts, head, strict=False)], size,
                         {o: sizes[o] for o in ask if sizes[o] > max_size})

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


_EXPORT_CAP = 64 << 20  # bytes of fast-export output before it is stopped (read_blobs' max_batch)


class _Drained:
    """:meth:`_Running.finish` on a thread, so git never waits for a full pipe while
    this process works; it only reads, so it seldom needs the GIL."""

    def __init__(self, running: _Running, cap: int | None) -> None:
        import threading  # loaded already: subprocess imports it

        self._running = running
        self._outs: list[bytes] | None = None
        self._error: BaseException | None = None

        def drain() -> None:
            try:
                self._outs = running.finish(cap)
            except BaseException as err:  # raised again by result(), in the caller's thread
                self._error = err

        self._thread = threading.Thread(target=drain, name="wo-git drain", daemon=True)
        self._thread.start()

    def result(self) -> list[bytes] | None:
        """What :meth:`_Running.finish` returned (or raised)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._outs

    def close(self) -> None:
        """Stop git without waiting for its output."""
        self._running.kill()
        self._thread.join()


class _Running:
    """git processes started by :meth:`PlumbingReader._start`, each writing to a pipe."""

    def __init__(self, args: Sequence[str]) -> None:
        import io

        self.args = args
        self.files: list[io.BufferedRandom] = []  # stdin and stderr of each, unnamed files
        self.procs: list[tuple[io.BufferedRandom, subprocess.Popen[bytes]]] = []
        self.wide = True  # every stdout pipe holds _PIPE_SIZE bytes

    def finish(self, cap: int | None) -> list[bytes] | None:
        """Each process's output (:class:`WoGitError` naming the first that failed), or
        ``None`` once they wrote more than ``cap`` bytes in all; every process is gone after."""
        try:
            outs = _drain([proc.stdout for _, proc in self.procs if proc.stdout is not None], cap, self.wide)
            if outs is None:
                return None
            for stderr, proc in self.procs:
                if proc.wait() != 0:
                    stderr.seek(0)
                    msg = stderr.read().decode(errors="replace").strip() or f"exit {proc.returncode}"
                    raise WoGitError(f"git {' '.join(self.args)} failed: {msg}")
            return outs
        finally:
            self.close()

    def kill(self) -> None:
        """Kill what still runs (a :meth:`finish` under way then sees its pipes end)."""
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.kill()

    def close(self) -> None:
        """Kill what still runs and close every file."""
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for file in self.files:
            file.close()


_EXPORT_BLOB = re.compile(rb"blob\nmark :[0-9]+\noriginal-oid ([0-9a-f]{40}(?:[0-9a-f]{24})?)\ndata ([0-9]+)\n")


def _exported_blobs(data: bytes, max_size: int) -> BlobBatch | None:
    """The blobs in a ``git fast-export --show-original-ids`` stream, or ``None`` if it
    is not laid out as expected.

    The stream is commands (git-fast-import(1), "Input format"): ``blob``, ``mark``,
    ``original-oid``, ``data SIZE`` and the content, then a newline; other commands
    (``commit``, ``reset``) are lines up to an empty one, whose ``data SIZE``
    payloads (commit messages) are stepped over by their size. Content is never
    searched: each size says where the next command starts.
    """
    read: list[bytes] = []
    starts: list[int] = []
    sizes: list[int] = []
    match, find, pos, end = _EXPORT_BLOB.match, data.find, 0, len(data)
    try:
        while pos < end:
            blob = match(data, pos)
            if blob is not None:
                size = int(blob[2])
                read.append(blob[1])
                starts.append(blob.end())
                sizes.append(size)
                pos = blob.end() + size + 1
                continue
            while True:  # another command, up to its empty line
                nl = find(b"\n", pos)
                if nl < 0:
                    return None
                line, pos = data[pos:nl], nl + 1
                if line.startswith(b"data "):
                    pos += int(line[5:])
                elif not line:
                    break
    except ValueError:
        return None
    if pos != end or b"".join(data[s + n : s + n + 1] for s, n in zip(starts, sizes, strict=True)) != b"\n" * len(read):
        return None
    oids = b" ".join(read).decode().split(" ") if read else []
    return BlobBatch.limited(data, oids, starts, sizes, max_size)


def _shares(count: int, least: int) -> int:
    """Into how many git processes to split ``count`` objects: one per core (at most
    four), each with at least ``least`` objects (a process costs ~2 ms to start)."""
    return max(1, min(os.cpu_count() or 1, 4, count // least))


def _split(items: Sequence[str], shares: int) -> list[Sequence[str]]:
    """``items`` in ``shares`` contiguous parts, in order."""
    cut = [len(items) * i // shares for i in range(shares + 1)]
    return [items[cut[i] : cut[i + 1]] for i in range(shares)]


_PIPE_SIZE = 1 << 20  # what Linux lets an unprivileged process ask for (/proc/sys/fs/pipe-max-size)


def _widen(pipe: IO[bytes] | None) -> bool:
    """Make ``pipe`` hold :data:`_PIPE_SIZE` bytes; ``False`` where Linux will not (not
    Linux, or the user's pipe quota is spent): it stays as it was."""
    try:
        import fcntl

        return pipe is not None and fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031),
                                                _PIPE_SIZE) >= _PIPE_SIZE
    except (ImportError, OSError):
        return False


def _drain(pipes: Sequence[IO[bytes]], cap: int | None, wide: bool) -> list[bytes] | None:
    """Everything each pipe gives until its end, or ``None`` once more than ``cap``
    bytes have come from them in all.

    git writes each object with its own ``write(2)``: a reader woken for each
    spends more than git does (10,000 blobs: 8,000 reads). When the pipes are
    ``wide`` (:func:`_widen`), a read that finds less than a quarter of one
    waits a millisecond for more (git fills 1 MiB in about 10 ms): about 20 reads.
    """
    import selectors
    import time

    sel = selectors.DefaultSelector()
    got: dict[int, list[bytes]] = {}
    for pipe in pipes:
        got[pipe.fileno()] = []
        sel.register(pipe.fileno(), selectors.EVENT_READ)
    total = 0
    try:
        while sel.get_map():
            for key, _ in sel.select():
                chunk = os.read(key.fd, _PIPE_SIZE)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                got[key.fd].append(chunk)
                total += len(chunk)
                if cap is not None and total > cap:
                    return None
                if wide and len(chunk) < _PIPE_SIZE // 4:
                    time.sleep(0.001)
    finally:
        sel.close()
    return [b"".join(got[pipe.fileno()]) for pipe in pipes]


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
