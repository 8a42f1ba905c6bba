"""``wo-git guard --range`` reads git through plumbing (PlumbingReader) and skips work
that cannot find anything: it must find exactly what the pygit2 path finds.

The oracle is the guard as it was before (every commit through ``Repo``, pygit2):
the same violations, in the same order, with the same details, over real
repositories built with the git CLI, on attacks hidden among many files. Each
shortcut also gets its own check against the work it skips: the path
pre-filter against pathspec, the blob pre-filter against ``scan_blob``, the
per-change filter against the full per-change check, the ASCII path
normalization against the general one.
"""

from __future__ import annotations

import os
import random
import string
import subprocess
import unicodedata
from pathlib import Path

import pathspec
import pytest

from tests.conftest import git, wo
from wo_git.config import CONFIG_FILE, Config, load_config
from wo_git.errors import InvalidConfig, InvalidInput, NotARepo
from wo_git.git import Repo
from wo_git.guard import check, ondemand
from wo_git.guard.check import Violation, check_commits
from wo_git.guard.content import scan_blob, suspects
from wo_git.guard.policy import DEFAULT_MAILBOX, DEFAULT_PATTERNS, GuardConfig, Policy, normalize_path
from wo_git.plumbing import PlumbingReader, _exported_blobs

GHP = "gh" + "p_" + "A1b2C3d4E5f6" * 3  # a GitHub token's shape
AWS = "AK" + "IA" + "QX7T2M4NPL5R8WZK"  # an AWS access key id's shape
KEY = ("-----BEGIN OPENSSH " + "PRIVATE KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" * 3
       + "\n-----END OPENSSH " + "PRIVATE KEY-----\n")


def _clear_caches() -> None:
    """The guard remembers blob facts per process; each side of a comparison starts afresh."""
    check._FACTS.clear()
    check._LINKS.clear()


def _oracle(root: Path, spec: str) -> list[Violation]:
    """``commit_range`` as it was: pygit2's Repo for every read, pydantic's Config."""
    _clear_caches()
    repo = Repo(root)
    a, b = spec.split("..", 1)
    start = repo.resolve_commit(a) if a else None
    end = repo.resolve_commit(b or "HEAD")
    branch = repo.head_branch()
    cfg = load_config(repo, branch) if branch and repo.branch_exists(branch) else Config()
    policy = Policy.build(cfg.guard, mailbox=cfg.mailbox)
    return check_commits(repo, policy, repo.rev_list(end, start), None)


def _fast(root: Path, spec: str) -> list[Violation]:
    _clear_caches()
    return ondemand.commit_range(root, spec)


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def _write(root: Path, path: str, data: str | bytes) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        target.write_bytes(data)
    else:
        target.write_text(data)


def _link(root: Path, path: str, target: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    if (root / path).is_symlink() or (root / path).exists():
        (root / path).unlink()
    os.symlink(target, root / path)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A repository whose history holds every kind of change the guard judges,
    most of them hidden among hundreds of harmless ones; returns it and its commits."""
    base = tmp_path_factory.mktemp("range")
    root = base / "proj"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:  # conftest's hermetic setting, for a module-wide fixture
        for k in [k for k in os.environ if k.startswith("GIT_")]:
            mp.delenv(k)
        (base / "home").mkdir()
        (base / "home" / ".gitconfig").write_text("[user]\n\tname = t\n\temail = t@example.com\n")
        mp.setenv("HOME", str(base / "home"))
        mp.setenv("XDG_CONFIG_HOME", str(base / "home" / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        return _build(root)


def _build(root: Path) -> tuple[Path, list[str]]:
    git(root, "init", "-q", "-b", "main")
    for i in range(400):
        _write(root, f"src/pkg{i // 100}/m_{i:03d}.py", f"def f{i}():\n    return {i}\n")
    _write(root, ".github/workflows/ci.yml", "on: push\n")
    _write(root, ".env.example", "TOKEN=changeme\n")
    _write(root, "deploy/app.yaml", "apiVersion: apps/v1\nkind: Deployment\n")
    _write(root, "notes.txt", f"old token {GHP}\nline two\n")
    _link(root, "docs/readme-link", "../src/pkg0/m_000.py")
    commits = [_commit(root, "base")]
    # 1. a secret in one file among 400 changed ones
    for i in range(400):
        _write(root, f"src/pkg{i // 100}/m_{i:03d}.py", f"def f{i}():\n    return {i} + 1\n")
    _write(root, "src/pkg1/m_137.py", f"TOKEN = '{GHP}'\n")
    commits.append(_commit(root, "touch every module"))
    # 2. a rename that adds a secret, and a rename out of the workflows folder
    (root / "lib").mkdir(exist_ok=True)
    git(root, "mv", "src/pkg0/m_006.py", "lib/m_006.py")
    _write(root, "lib/m_006.py", (root / "lib/m_006.py").read_text() + f"KEY = '{AWS}'\n")
    git(root, "mv", ".github/workflows/ci.yml", "docs/ci.yml")
    commits.append(_commit(root, "move things"))
    git(root, "mv", "docs/ci.yml", ".github/workflows/ci.yml")
    commits.append(_commit(root, "move it back"))
    # 3. mode only, on a protected file and on a plain one
    (root / ".github/workflows/ci.yml").chmod(0o755)
    (root / "src/pkg2/m_200.py").chmod(0o755)
    commits.append(_commit(root, "modes"))
    # 4. symlinks: to .env, to a protected folder, out of the worktree, a chain
    _link(root, "innocent.txt", ".env")
    _link(root, "docs/ci", "../.github/workflows")
    _link(root, "up.txt", "../../etc/passwd")
    _link(root, "chain/b", "../.env")
    _link(root, "chain/a", "b")
    _link(root, "docs/readme-link", "../src/pkg0/m_001.py")
    commits.append(_commit(root, "links"))
    # 5. a type change: a module becomes a link, a link becomes a file
    (root / "src/pkg0/m_002.py").unlink()
    _link(root, "src/pkg0/m_002.py", "../../.ssh/id_rsa")
    (root / "docs/readme-link").unlink()
    _write(root, "docs/readme-link", "now a file\n")
    commits.append(_commit(root, "type changes"))
    # 6. a submodule (gitlink), added with plumbing
    sub = git(root, "rev-parse", "HEAD").strip()
    git(root, "update-index", "--add", "--cacheinfo", f"160000,{sub},vendor/sub")
    git(root, "commit", "-q", "--no-verify", "-m", "submodule")
    commits.append(git(root, "rev-parse", "HEAD").strip())
    # 7. content: UTF-16, a Kubernetes Secret, a private key, a binary keystore, a public cert
    _write(root, "src/pkg3/strings.txt", f"token={GHP}\n".encode("utf-16"))
    _write(root, "deploy/secret.yaml", "apiVersion: v1\nkind: Secret\ndata:\n  a: b\n")
    _write(root, "deploy/app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {}\n")
    _write(root, "keys/deploy_ed25519", KEY)
    _write(root, "store.p12", bytes(range(256)) * 4)
    _write(root, "certs/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    commits.append(_commit(root, f"content, and a token in the message: {AWS}"))
    # 8. a secret kept on an unchanged line is not added again; a new one on an edited line is
    _write(root, "notes.txt", f"old token {GHP}\nline two, edited\n")
    commits.append(_commit(root, "edit notes"))
    _write(root, "notes.txt", f"old token {GHP}\nline two, edited\nnew {AWS}\n")
    commits.append(_commit(root, "more notes"))
    # 9. a path that is not UTF-8, a commit message in Latin-1 with an encoding header
    (root / os.fsdecode(b"caf\xe9.env")).write_text("X=1\n")
    git(root, "add", "-A")
    subprocess.run(["git", "-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "--no-verify",
                    "-F", "-"], cwd=root, input="caf\xe9 ".encode("latin-1") + AWS.encode(), check=True)
    commits.append(git(root, "rev-parse", "HEAD").strip())
    # 10. a merge bringing a protected file from a side branch
    git(root, "checkout", "-q", "-b", "side")
    _write(root, "svc/.env.production", "DB=x\n")
    _commit(root, "side")
    git(root, "checkout", "-q", "main")
    _write(root, "src/pkg0/m_010.py", "x = 1\n")
    _commit(root, "main moves on")
    git(root, "merge", "-q", "--no-ff", "--no-edit", "side")
    commits.append(git(root, "rev-parse", "HEAD").strip())
    # 11. deletions: a protected file, and many plain ones
    (root / "deploy/secret.yaml").unlink()
    for i in range(300, 400):
        (root / f"src/pkg3/m_{i:03d}.py").unlink()
    commits.append(_commit(root, "delete"))
    # 12. additions only, among them a workflow and a Dockerfile
    for i in range(50):
        _write(root, f"gen/g_{i:02d}.py", f"G = {i}\n")
    _write(root, ".github/workflows/release.yml", "on: tag\n")
    _write(root, "Dockerfile", "FROM scratch\n")
    commits.append(_commit(root, "generated"))
    return root, commits


def test_whole_history_same_as_pygit2_and_nothing_missed(history: tuple[Path, list[str]]) -> None:
    root, commits = history
    spec = f"{commits[0]}..HEAD"
    fast = _fast(root, spec)
    assert fast == _oracle(root, spec)
    found = {(v.path, v.category, v.rule) for v in fast}
    for expected in [
        ("src/pkg1/m_137.py", "secrets", "content: github-pat"),
        ("lib/m_006.py", "secrets", "content: aws-access-token"),
        (".github/workflows/ci.yml", "ci", "**/.github/workflows/**"),
        ("innocent.txt", "secrets", "symlink to .env"),
        ("up.txt", "secrets", "symlink out of the worktree"),
        ("chain/a", "secrets", "symlink to .env"),
        ("vendor/sub", "control", "submodule (gitlink)"),
        ("src/pkg3/strings.txt", "secrets", "content: github-pat"),
        ("deploy/secret.yaml", "secrets", "kubernetes kind: Secret"),
        ("keys/deploy_ed25519", "secrets", "content: private-key"),
        ("store.p12", "secrets", "*.p12"),
        ("(commit message)", "secrets", "content: aws-access-token"),
        ("notes.txt", "secrets", "content: aws-access-token"),
        ("svc/.env.production", "secrets", ".env.*"),
        (".github/workflows/release.yml", "ci", "**/.github/workflows/**"),
        ("Dockerfile", "deploy", "dockerfile*"),
    ]:
        assert expected in found, expected
    assert ("certs/ca.pem", "secrets", "*.pem") not in found  # a public CA bundle
    # the token notes.txt kept on its first line is reported once, where it was added (the base)
    assert not [v for v in fast if v.path == "notes.txt" and "github" in v.rule]


def test_each_commit_same_as_pygit2(history: tuple[Path, list[str]]) -> None:
    root, commits = history
    for parent, commit in zip(commits, commits[1:], strict=False):
        spec = f"{parent}..{commit}"
        assert _fast(root, spec) == _oracle(root, spec), spec
    assert _fast(root, f"..{commits[0]}") == _oracle(root, f"..{commits[0]}")  # a root commit


def test_cli_reports_what_the_library_finds(history: tuple[Path, list[str]]) -> None:
    root, commits = history
    r = wo(root, "guard", "--range", f"{commits[0]}..{commits[1]}", "--json")
    assert r.code == 3, r.err
    data = r.json()
    assert isinstance(data, dict)
    assert data["violations"] == [v.to_json() for v in _oracle(root, f"{commits[0]}..{commits[1]}")]
    assert [v["path"] for v in data["violations"]] == ["src/pkg1/m_137.py"]
    clean = wo(root, "guard", "--range", f"{commits[-2]}..{commits[-2]}")
    assert clean.code == 0 and "clean" in clean.out


def test_committed_config_and_a_linked_worktree(history: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, commits = history
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    _write(clone, CONFIG_FILE, '[guard]\nsecrets = ["*.py"]\nmailbox = "x"\n')
    _commit(clone, "configure badly")  # mailbox is no [guard] key
    with pytest.raises(InvalidConfig) as slow:
        _oracle(clone, "HEAD~1..HEAD")
    with pytest.raises(InvalidConfig) as fast:
        _fast(clone, "HEAD~1..HEAD")
    assert str(fast.value) == str(slow.value)
    _write(clone, CONFIG_FILE, '[guard]\nsecrets = ["*.py"]\nallow = ["Dockerfile"]\n')
    _commit(clone, "configure")
    # HEAD and the policy are the main worktree's, from any worktree
    wt = tmp_path / "wt"
    git(clone, "worktree", "add", "-q", "--detach", str(wt), commits[2])
    spec = f"{commits[-2]}..HEAD"
    expected = _oracle(clone, spec)
    assert any(v.rule == "*.py" for v in expected)
    assert not any(v.path == "Dockerfile" and v.category == "deploy" for v in expected)
    assert any(v.path == CONFIG_FILE and v.category == "control" for v in expected)
    for where in (clone, wt):
        assert _fast(where, spec) == expected


def test_init_config_needs_no_validation_and_changes_nothing(
        history: tuple[Path, list[str]], tmp_path: Path) -> None:
    from wo_git.config import DEFAULT_CONFIG_TEXT

    root, commits = history
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    _write(clone, CONFIG_FILE, DEFAULT_CONFIG_TEXT)  # every line a comment
    _commit(clone, "init's config")
    spec = f"{commits[1]}..HEAD"
    assert _fast(clone, spec) == _oracle(clone, spec)
    _write(clone, CONFIG_FILE, DEFAULT_CONFIG_TEXT + "[guard\n")  # not TOML
    _commit(clone, "broken config")
    with pytest.raises(InvalidConfig) as slow:
        _oracle(clone, spec)
    with pytest.raises(InvalidConfig) as fast:
        _fast(clone, spec)
    assert str(fast.value) == str(slow.value)


def test_errors_are_the_same(history: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, _ = history
    for spec in ("nope..HEAD", "HEAD..nope", "HEAD~1..HEAD^{tree}"):
        with pytest.raises(InvalidInput) as fast:
            _fast(root, spec)
        with pytest.raises(InvalidInput) as slow:
            _oracle(root, spec)
        assert str(fast.value) == str(slow.value)
    with pytest.raises(InvalidInput, match="A..B"):
        _fast(root, "HEAD")
    with pytest.raises(NotARepo) as fast_nr:
        PlumbingReader(tmp_path)
    with pytest.raises(NotARepo) as slow_nr:
        Repo(tmp_path)
    assert str(fast_nr.value) == str(slow_nr.value)


def test_reader_answers_like_repo(history: tuple[Path, list[str]]) -> None:
    root, commits = history
    repo, reader = Repo(root), PlumbingReader(root)
    assert reader.common_dir == repo.common_dir
    assert reader.head_branch() == repo.head_branch()
    everything = repo.rev_list(repo.resolve_commit("HEAD"), None)
    assert reader.rev_list(reader.resolve_commit("HEAD"), None) == everything
    assert reader.rev_list(commits[-1], commits[3]) == repo.rev_list(commits[-1], commits[3])
    reader.read_changes([(p, c) for c in everything for p in repo.commit_info(c).parents or (None,)])
    for c in everything:
        assert reader.commit_info(c) == repo.commit_info(c)
        for parent in repo.commit_info(c).parents or (None,):
            assert reader.changes(parent, c) == repo.changes(parent, c), (parent, c)
            for ch in repo.changes(parent, c):
                if ch.new_oid and ch.new_mode != 0o160000:
                    assert reader.read_blob(ch.new_oid) == repo.read_blob(ch.new_oid)
                    assert reader.blob_size(ch.new_oid) == repo.blob_size(ch.new_oid)
    assert reader.read_path("HEAD", "notes.txt") == repo.read_path(repo.resolve_commit("HEAD"), "notes.txt")
    assert reader.read_path("HEAD", "src") is None and reader.read_path("HEAD", "absent") is None
    diff = reader.plain_diff(commits[0], commits[1])
    oids = [oid for oid in diff.changed_blobs() if oid is not None] if diff is not None else []
    assert len(oids) == 400
    batches = list(reader.read_blobs(oids, 1 << 20, max_batch=4096))
    assert len(batches) > 1 and {o for b in batches for o in b.spans} == set(oids)
    assert all(b.blob(o) == repo.read_blob(o) for b in batches for o in b.spans)
    small = list(reader.read_blobs(oids, 10))  # all over the limit: sizes only
    assert not small[0].spans and small[0].sizes == {o: repo.blob_size(o) for o in oids}


def test_unchanged_changes_are_the_only_ones_skipped(history: tuple[Path, list[str]]) -> None:
    """Every change the per-change filter leaves out yields nothing when checked in full."""
    root, commits = history
    repo = Repo(root)
    policy = Policy.build()
    for parent, commit in zip(commits, commits[1:], strict=False):
        _clear_caches()
        changes = repo.changes(parent, commit)
        check._prefetch(repo, changes)
        for ch in changes:  # fill the facts as the full check would, blob by blob
            if ch.new_oid and ch.new_mode not in (0o120000, 0o160000) and ch.new_oid != ch.old_oid:
                check._blob_facts(repo, ch.new_oid, (ch.new_path or "").lower().endswith(check.YAML_SUFFIXES))
        kept = check._worth_checking(repo, policy, changes, None)
        for ch in changes:
            if ch not in kept:
                assert check._change_violations(repo, policy, ch, commit, None, commit) == [], ch


def _reference_classify(path: str, config_extra: dict[str, list[str]] | None = None) -> list[tuple[str, str]]:
    """Categories and first rules straight from pathspec, with no pre-filter."""
    norm = normalize_path(path)
    out = []
    for name, rules in DEFAULT_PATTERNS.items():
        rules = rules + tuple((config_extra or {}).get(name, []))
        if name == "control":
            rules += (f"/{DEFAULT_MAILBOX}/*/w*-work*.md",)
        spec = pathspec.GitIgnoreSpec.from_lines(rules)
        if spec.match_file(norm):
            first = next(r for r, p in zip(rules, spec.patterns, strict=True) if p.include and p.match_file(norm))
            out.append((name, first))
    return out


def _paths_near_the_rules(rng: random.Random, n: int) -> list[str]:
    """Paths made of the rules' own pieces, wildcards filled in, some case-changed or dotted."""
    pieces = []
    for rules in DEFAULT_PATTERNS.values():
        for rule in rules:
            body = rule.lstrip("!/")
            for seg in body.split("/"):
                if seg and seg != "**":
                    pieces.append(seg)
    fill = ["x", "prod", "a.b", "", "v1", "values", "-work", "w01"]
    out = []
    for _ in range(n):
        segs = []
        for _ in range(rng.randint(1, 4)):
            seg = rng.choice(pieces + ["src", "app", "deploy", "charts", "work-orders", "lib"])
            seg = "".join(rng.choice(fill) if c in "*?" else c for c in seg)
            if "[" in seg:
                seg = seg.replace("[", "").replace("]", "")
            seg = seg if rng.random() < 0.7 else seg.upper()
            segs.append(seg + rng.choice(["", "", "", ".", " ", "_history", ".pem"]))
        out.append("/".join(s for s in segs if s) or "x")
    return out


def test_path_prefilter_never_hides_a_protected_path() -> None:
    rng = random.Random(12)
    policy = Policy.build()
    paths = _paths_near_the_rules(rng, 4000)
    paths += ["src/app.py", ".ENV", ".GitHub/Workflows/ci.yml", "DockerFile", "a/b/.ssh/config",
              "charts/web/values-prod.yaml", "work-orders/0001-x/w01-work.md", "x.tfstate.backup",
              "infra", "terraform.tfvars", ".aider.conf.yml", "deep/er/.kube/config", "git~1", ".e\u200bnv"]
    unprotected = policy.unprotected(paths)
    for path in paths:
        expected = _reference_classify(path)
        assert [(m.category, m.rule) for m in policy.classify(path)] == expected, path
        if expected:
            assert path not in unprotected, path
    extra = {"secrets": ["*.secret", "config/**/keys.*", "sub/dir/"], "ci": ["scripts/release?.sh"]}
    configured = Policy.build(GuardConfig(**extra))
    for path in [*paths, "a/b.secret", "config/x/y/keys.json", "sub/dir/f", "scripts/release2.sh"]:
        assert [(m.category, m.rule) for m in configured.classify(path)] == _reference_classify(path, extra), path


def _normalize_reference(path: str) -> str:
    """normalize_path as it reads without its ASCII shortcut."""
    invisible = "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
    import re

    text = unicodedata.normalize("NFC", re.sub(invisible, "", path))
    text = unicodedata.normalize("NFC", text.casefold()).replace("\\", "/")
    parts: list[str] = []
    for raw in text.split("/"):
        if raw == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            else:
                parts.append("..")
            continue
        part = raw.removesuffix("::$data").rstrip(". ")
        if part:
            parts.append(part)
    return "/".join(parts)


def test_ascii_normalization_shortcut_is_exact() -> None:
    rng = random.Random(7)
    alphabet = "aB./\\ :$dD_-x"
    paths = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(20000)]
    paths += ["a/./b", "x./y", ".env.", "a//b", "A\\B", "f::$DATA", "/abs", "dir/", "..", "a/../..", " x", "x "]
    for path in paths:
        assert normalize_path(path) == _normalize_reference(path), repr(path)


def test_blob_prefilter_never_hides_a_secret() -> None:
    rng = random.Random(3)
    tokens = [GHP, AWS, KEY, "xo" + "xb-1234567890-1234567890123-" + "a1B2c3D4" * 3, "AI" + "za" + "B" * 35,
              "gl" + "pat-" + "x" * 20, "sk" + "_live_" + "a1" * 12, "hooks.slack" + ".com/services/" + "A" * 44]
    blobs = []
    for i in range(3000):
        body = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 200)))
        if i % 7 == 0:
            body += rng.choice(tokens)
        data = body.encode()
        if i % 11 == 0:
            data = body.encode("utf-16")
        if i % 13 == 0:
            data = bytes(rng.randrange(256) for _ in range(100)) + data
        blobs.append(data)
    buffer, spans, pos = b"", [], 0
    for data in blobs:  # laid out as git cat-file --batch writes them
        header = b"0123456789abcdef0123456789abcdef01234567 blob %d\n" % len(data)
        spans.append((pos + len(header), len(data)))
        buffer += header + data + b"\n"
        pos = len(buffer)
    marked = suspects(buffer, [start for start, _ in spans], [size for _, size in spans])
    hits = 0
    for data, suspect in zip(blobs, marked, strict=True):
        if scan_blob(data):
            hits += 1
            assert suspect, data[:80]
    assert hits > 300


def _export_traps(root: Path) -> tuple[str, str]:
    """Commits whose blobs and messages imitate ``git fast-export``'s own commands: a
    blob holding a whole fake blob command (another blob's id, a secret as its
    data), a blob ending in a half command, a commit message without a final
    newline, and a merge (exported against its first parent only)."""
    git(root, "init", "-q", "-b", "main")
    _write(root, "README.md", "hello\n")
    start = _commit(root, "start")
    innocent = git(root, "hash-object", "--stdin", input="innocent\n").strip()
    fake = f"blob\nmark :1\noriginal-oid {innocent}\ndata {len(AWS) + 1}\n{AWS}\n\n"
    _write(root, "docs/fake.md", "see below\n" + fake + "commit refs/heads/main\ndata 999\n")
    _write(root, "docs/innocent.txt", "innocent\n")
    _write(root, "docs/half.md", "blob\nmark :7\noriginal-oid ")
    _commit(root, "blobs like commands")
    git(root, "checkout", "-q", "-b", "side")
    _write(root, "side.txt", f"token {AWS}\n")
    _commit(root, "side")
    git(root, "checkout", "-q", "main")
    _write(root, "main.txt", "main\n")
    _commit(root, "main")
    git(root, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    tree = git(root, "rev-parse", "HEAD^{tree}").strip()
    raw = (f"tree {tree}\nparent {git(root, 'rev-parse', 'HEAD').strip()}\n"
           "author t <t@example.com> 1700000000 +0000\ncommitter t <t@example.com> 1700000000 +0000\n\n"
           "no final newline\ndata 5\nblob")
    tip = git(root, "hash-object", "-t", "commit", "-w", "--stdin", input=raw).strip()
    git(root, "update-ref", "refs/heads/main", tip)
    return start, tip


def test_exported_blobs_are_read_by_their_sizes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start, tip = _export_traps(repo)
    spec = f"{start}..{tip}"
    found = _fast(repo, spec)
    assert found == _oracle(repo, spec)
    assert {(v.path, v.rule) for v in found} == {("docs/fake.md", "content: aws-access-token"),
                                                 ("side.txt", "content: aws-access-token")}
    # what the export holds is each blob's own bytes
    reader, repository = PlumbingReader(repo), Repo(repo)
    reader.export_range(tip, start)
    changes = [ch for c in repository.rev_list(repository.resolve_commit(tip), start)
               for p in repository.commit_info(c).parents for ch in repository.changes(p, c) if ch.new_oid]
    oids = list(dict.fromkeys(ch.new_oid for ch in changes if ch.new_oid))
    batches = list(reader.read_blobs(oids, 1 << 20))
    assert {o for b in batches for o in b.read} >= set(oids)
    assert all(b.blob(o) == repository.read_blob(o) for b in batches for o in b.read)
    out = subprocess.run(["git", "fast-export", "--show-original-ids", "--reencode=no", "--reference-excluded-parents",
                          tip, f"^{start}"], cwd=repo, capture_output=True, check=True).stdout
    exported = _exported_blobs(out, 1 << 20)  # the stream itself parses, traps and all
    assert exported is not None and set(exported.read) >= set(oids)
    assert all(exported.blob(o) == repository.read_blob(o) for o in exported.read)
    assert _exported_blobs(out[:-1], 1 << 20) is None and _exported_blobs(out + b"blob\n", 1 << 20) is None
    # over its cap the export is stopped, and the blobs are read the usual way
    monkeypatch.setattr("wo_git.plumbing._EXPORT_CAP", 64)
    assert _fast(repo, spec) == found
