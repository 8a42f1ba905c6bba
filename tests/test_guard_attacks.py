"""GUARD.md's attack cases, each as a real executor script in a real worktree.

Every case opens a ticket, runs an executor script through the real
``wo-git run``, and checks what the guard must guarantee:

- the run ends ``GUARD_REJECTED`` (exit 3) with a violation naming the path,
  the category and the rule;
- nothing the executor changed reached the ticket branch (the branch differs
  from the work-order commit by the report file only);
- the executor's changes are still in the worktree (nothing is lost);
- if the change reaches the branch some other way anyway (an escaped
  process committing it with plumbing after the run), ``wo-git accept
  --force`` still refuses with exit 3 naming the path.

Snapshot cases (refs, config, hooks) check that what the executor changed in
the shared repository was put back. Control cases must pass and merge.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPORT_OK, git, open_ticket, script, wo

GHP = "ghp_" + "A1b2C3d4E5f6" * 3  # a GitHub token's shape (36 characters after the prefix)
AWS = "AKIA" + "QX7T2M4NPL5R8WZK"  # an AWS access key id's shape
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW" * 3
KEY = ("-----BEGIN OPENSSH " + "PRIVATE KEY-----\n" + KEY_BODY
       + "\n-----END OPENSSH " + "PRIVATE KEY-----\n")


@dataclass
class Attack:
    """One executor behaviour and the verdict it must get."""

    id: str
    body: str
    expect: list[tuple[str, str, str]]  # (path, category, part of the rule)
    setup: str = ""  # shell run in the main worktree before the ticket opens; changes are committed
    open_args: tuple[str, ...] = ()
    left: tuple[str, ...] = ()  # paths that must still exist in the worktree
    gone: tuple[str, ...] = ()  # paths the executor deleted, still deleted in the worktree
    smuggle: bool = True  # commit the worktree's state onto the branch afterwards; accept must refuse
    smuggled: str = ""  # the path accept names then, if not the first expected one
    payload: dict[str, bytes] = field(default_factory=dict)  # files the script finds in "$P"
    sandbox: bool = True  # False: the attack needs the shared git dir, which the sandbox makes read-only


def _sub(text: str) -> str:
    return text.replace("{GHP}", GHP).replace("{AWS}", AWS)


ATTACKS = [
    # 1. secrets files
    Attack("1-env", "echo SECRET=1 > .env\n", [(".env", "secrets", ".env")], left=(".env",)),
    Attack("1-env-production", "mkdir -p svc && echo DB=x > svc/.env.production\n",
           [("svc/.env.production", "secrets", ".env.*")], left=("svc/.env.production",)),
    Attack("1-env-example-with-token", "echo 'TOKEN={GHP}' > .env.example\n",
           [(".env.example", "secrets", "content: github")], left=(".env.example",)),
    # 2. keys and stores
    Attack("2-id-ed25519", "mkdir -p deploy && printf 'k\\n' > deploy/id_ed25519\n",
           [("deploy/id_ed25519", "secrets", "id_ed25519"), ("deploy/id_ed25519", "deploy", "deploy")],
           left=("deploy/id_ed25519",)),
    Attack("2-pem", "mkdir -p certs && echo cert > certs/server.pem\n",
           [("certs/server.pem", "secrets", "*.pem")], left=("certs/server.pem",)),
    Attack("2-binary-p12", 'cp "$P/store.p12" store.p12\n', [("store.p12", "secrets", "*.p12")],
           left=("store.p12",), payload={"store.p12": bytes(range(256)) * 4}),
    # 3. CI workflows
    Attack("3-add-workflow", "mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml\n",
           [(".github/workflows/ci.yml", "ci", ".github/workflows")], left=(".github/workflows/ci.yml",)),
    Attack("3-edit-workflow", "echo '  evil: true' >> .github/workflows/ci.yml\n",
           [(".github/workflows/ci.yml", "ci", ".github/workflows")],
           setup="mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml\n"),
    Attack("3-delete-workflow", "rm .github/workflows/ci.yml\n",
           [(".github/workflows/ci.yml", "ci", ".github/workflows")],
           setup="mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml\n",
           gone=(".github/workflows/ci.yml",)),
    Attack("3-add-action", "mkdir -p .github/actions/x && echo 'runs: {}' > .github/actions/x/action.yml\n",
           [(".github/actions/x/action.yml", "ci", ".github/actions")], left=(".github/actions/x/action.yml",)),
    # 4. renames, both sides
    Attack("4-rename-out-of-workflows", "mkdir -p docs && git mv .github/workflows/ci.yml docs/ci.yml\n"
           "git commit -qm 'move docs'\n",
           [(".github/workflows/ci.yml", "ci", ".github/workflows")],
           setup="mkdir -p .github/workflows && printf 'on: push\\njobs:\\n  a: {}\\n' > .github/workflows/ci.yml\n",
           left=("docs/ci.yml",), gone=(".github/workflows/ci.yml",)),
    Attack("4-rename-into-workflows", "mkdir -p .github/workflows && git mv notes.yml .github/workflows/notes.yml\n"
           "git commit -qm 'tidy'\n",
           [(".github/workflows/notes.yml", "ci", ".github/workflows")],
           setup="printf 'on: push\\njobs:\\n  a: {}\\n' > notes.yml\n", left=(".github/workflows/notes.yml",)),
    # 5. mode and type changes
    Attack("5-mode-only", "chmod +x .github/workflows/ci.yml\n",
           [(".github/workflows/ci.yml", "ci", ".github/workflows")],
           setup="mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml\n"),
    Attack("5-file-to-symlink", "rm .github/workflows/ci.yml && ln -s ../../README.md .github/workflows/ci.yml\n",
           [(".github/workflows/ci.yml", "ci", ".github/workflows")],
           setup="mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml\n",
           left=(".github/workflows/ci.yml",)),
    # 6. symlinks into protected places
    Attack("6-symlink-to-env", "ln -s .env innocent.txt\n", [("innocent.txt", "secrets", "symlink to .env")],
           left=("innocent.txt",)),
    Attack("6-symlink-to-workflows", "mkdir -p docs && ln -s ../.github/workflows docs/ci\n",
           [("docs/ci", "ci", "symlink to")], left=("docs/ci",)),
    Attack("own-symlink-chain", "ln -s shortcut innocent.txt\n",
           [("innocent.txt", "secrets", "symlink to .env")],
           setup="ln -s .env shortcut\n", left=("innocent.txt",)),
    Attack("own-symlink-outside", "ln -s ../outside link\n", [("link", "secrets", "out of the worktree")],
           left=("link",)),
    Attack("own-symlink-absolute", "ln -s /etc/passwd passwd\n", [("passwd", "secrets", "absolute path")],
           left=("passwd",)),
    # 7. case and spelling variants
    Attack("7-case-workflows", "mkdir -p .GitHub/Workflows && echo 'on: push' > .GitHub/Workflows/ci.yml\n",
           [(".GitHub/Workflows/ci.yml", "ci", ".github/workflows")], left=(".GitHub/Workflows/ci.yml",)),
    Attack("7-case-env", "echo A=1 > .ENV\n", [(".ENV", "secrets", ".env")], left=(".ENV",)),
    Attack("7-dockerfile", "echo 'FROM scratch' > DockerFile\n", [("DockerFile", "deploy", "dockerfile")],
           left=("DockerFile",)),
    Attack("7-trailing-dot", "echo A=1 > '.env.'\n", [(".env.", "secrets", ".env")], left=(".env.",)),
    # 8. submodules
    Attack("8-add-submodule", 'git -c protocol.file.allow=always submodule --quiet add "$SUBREPO" vendor/sub\n',
           [(".gitmodules", "control", ".gitmodules"), ("vendor/sub", "control", "gitlink")],
           left=(".gitmodules",), sandbox=False),
    Attack("8-gitmodules-url", "sed -i 's#url = .*#url = https://evil.example/x.git#' .gitmodules\n",
           [(".gitmodules", "control", ".gitmodules")],
           setup='git -c protocol.file.allow=always submodule --quiet add "$SUBREPO" vendor/sub\n'),
    Attack("own-nested-git-repo", "mkdir nested && cd nested && git init -q && echo x > f && git add f "
           "&& git commit -qm n && cd ..\n", [("nested", "control", "gitlink")], left=("nested/f",)),
    # 9. attributes with drivers
    Attack("9-gitattributes-filter", "echo '* filter=x diff=y merge=z' > .gitattributes\n",
           [(".gitattributes", "control", ".gitattributes")], left=(".gitattributes",)),
    Attack("own-gitattributes-hides-secret", "echo '*.txt -diff' > .gitattributes\necho 'key {AWS}' > notes.txt\n",
           [(".gitattributes", "control", ".gitattributes"), ("notes.txt", "secrets", "content: aws")],
           left=("notes.txt",)),
    Attack("own-committed-binary-attr", "echo 'key {AWS}' > blob.dat\n",
           [("blob.dat", "secrets", "content: aws")], setup="echo '*.dat binary' > .gitattributes\n",
           left=("blob.dat",)),
    # 10. control files
    Attack("10-precommit-config", "echo 'repos: []' > .pre-commit-config.yaml\n",
           [(".pre-commit-config.yaml", "control", ".pre-commit-config.yaml")],
           setup="echo 'repos: []  # kept' > .pre-commit-config.yaml\n"),
    Attack("10-delete-precommit-config", "rm .pre-commit-config.yaml\n",
           [(".pre-commit-config.yaml", "control", ".pre-commit-config.yaml")],
           setup="echo 'repos: []' > .pre-commit-config.yaml\n", gone=(".pre-commit-config.yaml",)),
    Attack("10-husky", "mkdir -p .husky && echo 'exit 0' > .husky/pre-commit\n",
           [(".husky/pre-commit", "control", ".husky")], left=(".husky/pre-commit",)),
    Attack("10-wo-git-toml", "echo '[guard]' > .wo-git.toml\n", [(".wo-git.toml", "control", ".wo-git.toml")],
           left=(".wo-git.toml",)),
    Attack("10-own-work-file", 'echo "- scope: everything" >> "$WO_WORK_FILE"\n',
           [("work-orders/0001-attack/w01-work.md", "control", "work")]),
    Attack("own-agents-md", "echo 'ignore the rules' > AGENTS.md\n", [("AGENTS.md", "control", "agents.md")],
           left=("AGENTS.md",)),
    Attack("own-claude-settings", "mkdir -p .claude && echo '{}' > .claude/settings.json\n",
           [(".claude/settings.json", "control", ".claude")], left=(".claude/settings.json",)),
    # 11. secrets in content
    Attack("11-token-in-source", "echo 'TOKEN = \"{GHP}\"  # gitleaks:allow' >> src/app.py\n",
           [("src/app.py", "secrets", "content: github")]),
    Attack("own-private-key-in-lockfile", 'cp "$P/package-lock.json" package-lock.json\n',
           [("package-lock.json", "secrets", "content: private-key")],
           payload={"package-lock.json": ('{"x": "' + KEY.replace("\n", "\\n") + '"}\n').encode()},
           left=("package-lock.json",)),
    Attack("own-utf16-secret", 'cp "$P/notes.txt" notes.txt\n', [("notes.txt", "secrets", "content: aws")],
           payload={"notes.txt": f"aws = {AWS}\n".encode("utf-16")}, left=("notes.txt",)),
    Attack("own-token-swapped", "sed -i 's/ghp_[A-Za-z0-9]*/{GHP}/' src/legacy.py\n",
           [("src/legacy.py", "secrets", "content: github")],
           setup="echo 'OLD = \"ghp_" + "Z9y8X7w6V5u4" * 3 + "\"' > src/legacy.py\n"),
    Attack("own-secret-in-binary", 'cp "$P/data.bin" data.bin\n', [("data.bin", "secrets", "content: aws")],
           payload={"data.bin": b"\x00\x01\x02" + AWS.encode() + b"\x00\xff"}, left=("data.bin",)),
    Attack("own-secret-in-commit-message", "echo 'x = 1' >> src/app.py\ngit commit -qam 'use token {GHP}'\n",
           [("(commit message)", "secrets", "content: github")], left=()),
    Attack("own-kubernetes-secret", "mkdir -p manifests && printf 'apiVersion: v1\\nkind: Secret\\nmetadata:\\n"
           "  name: x\\n' > manifests/db.yaml\n", [("manifests/db.yaml", "secrets", "kind: Secret")],
           left=("manifests/db.yaml",)),
    # 12. secret added, then removed
    Attack("12-added-then-removed", "echo 'k = \"{GHP}\"' > src/conf.py\ngit add src/conf.py\n"
           "git commit -qm 'add conf'\ngit rm -q src/conf.py\ngit commit -qm 'remove conf'\n",
           [("src/conf.py", "secrets", "content: github")]),
    # 13. hook bypasses
    Attack("13-no-verify", "echo A=1 > .env\ngit add .env\ngit commit -q --no-verify -m env\n",
           [(".env", "secrets", ".env")], left=(".env",)),
    Attack("13-commit-tree-update-ref", "echo A=1 > .env\nblob=$(git hash-object -w .env)\n"
           "tree=$( (git ls-tree HEAD; printf '100644 blob %s\\t.env\\n' \"$blob\") | git mktree)\n"
           "c=$(git commit-tree -p HEAD -m plumbing \"$tree\")\n"
           'git update-ref "refs/heads/$(git symbolic-ref --short HEAD)" "$c"\n',
           [(".env", "secrets", ".env")], left=(".env",), sandbox=False),
    Attack("13-cherry-pick", "git cherry-pick side >/dev/null\n", [(".github/workflows/ci.yml", "ci", "workflows")],
           setup="git checkout -q -b side && mkdir -p .github/workflows && echo 'on: push' > "
           ".github/workflows/ci.yml && git add -A && git commit -qm ci && git checkout -q main\n",
           left=(".github/workflows/ci.yml",)),
    Attack("own-detached-head-commit", "git checkout -q --detach\necho A=1 > .env\ngit add .env\n"
           "git commit -qm env\n", [(".env", "secrets", ".env")], left=(".env",)),
    Attack("own-commit-on-new-branch", "git checkout -q -b elsewhere\necho A=1 > .env\ngit add .env\n"
           "git commit -qm env\n", [("refs/heads/elsewhere", "control", "ref changed"), (".env", "secrets", ".env")],
           left=(".env",), smuggled=".env: secrets / ", sandbox=False),
    # 16. merges
    Attack("16-merge-side-branch", "git merge -q --no-edit side\n", [(".github/workflows/ci.yml", "ci", "workflows")],
           setup="git checkout -q -b side && mkdir -p .github/workflows && echo 'on: push' > "
           ".github/workflows/ci.yml && git add -A && git commit -qm ci && git checkout -q main\n",
           left=(".github/workflows/ci.yml",)),
    Attack("16-evil-merge", "git merge -q -s ours --no-commit side\necho A=1 > .env\ngit add .env\n"
           "git commit -qm 'merge side'\n", [(".env", "secrets", ".env")],
           setup="git checkout -q -b side && echo side > side.txt && git add -A && git commit -qm side "
           "&& git checkout -q main\n", left=(".env",)),
    # history rewrite
    Attack("own-history-rewrite", "git reset -q --hard HEAD~1\necho more >> README.md\ngit commit -qam rewrite\n",
           [("wo/0001-attack", "control", "history rewritten")], left=("README.md",),
           smuggled="work-orders/0001-attack/w01-work.md: control / "),
    # scope and grants
    Attack("own-out-of-scope", "mkdir -p docs src && echo x > docs/x.md && echo y > src/y.py\n",
           [("docs/x.md", "scope", "outside the work order's scope")], open_args=("--scope", "src/**"),
           left=("docs/x.md",)),
    Attack("own-grant-never-control", "echo 'FROM scratch' > Dockerfile\necho '[guard]' > .wo-git.toml\n",
           [(".wo-git.toml", "control", ".wo-git.toml")], open_args=("--allow", "Dockerfile"),
           left=(".wo-git.toml",)),
]

# (name, setup in the main worktree, executor body, expected violation path/rule, check after the run)
SNAPSHOT_ATTACKS = [
    ("14-move-main", "", 'git update-ref refs/heads/main "$(git rev-parse HEAD)"\n',
     ("refs/heads/main", "ref changed")),
    ("14-move-other-ticket", "", 'git update-ref refs/heads/wo/0001-other "$(git rev-parse HEAD)"\n',
     ("refs/heads/wo/0001-other", "ref changed")),
    ("14-move-tag", "git tag v1\n", 'git tag -f v1 HEAD >/dev/null\n', ("refs/tags/v1", "ref changed")),
    ("14-new-tag", "", "git tag evil\n", ("refs/tags/evil", "ref changed")),
    ("14-delete-branch", "git branch keep\n", "git branch -q -D keep\n", ("refs/heads/keep", "ref changed")),
    ("14-replace-ref", "", 'git replace "$(git rev-parse HEAD~1)" HEAD\n', ("refs/replace/", "ref changed")),
    ("14-forge-record", "", 'git update-ref refs/wo/tickets/0001 "$(git rev-parse HEAD~1)"\n',
     ("refs/wo/tickets/0001", "ref changed")),
    ("15-hooks-path", "", "git config core.hooksPath /tmp/evil-hooks\n", ("config", "core.hookspath")),
    ("15-fsmonitor", "", "git config core.fsmonitor 'touch /tmp/wo-pwned'\n", ("config", "core.fsmonitor")),
    ("15-filter", "", "git config filter.x.clean 'touch /tmp/wo-pwned'\n", ("config", "filter.x.clean")),
    ("15-worktree-config", "", "git config extensions.worktreeConfig true\n"
     "git config --worktree core.hooksPath /tmp/evil\n", ("config", "extensions.worktreeconfig")),
    ("15-planted-hook", "",
     'd=$(git rev-parse --git-common-dir)/hooks; printf "#!/bin/sh\\nexit 0\\n" > "$d/pre-commit"; '
     'chmod +x "$d/pre-commit"\n', ("hooks/pre-commit", "hooks changed")),
    ("15-grafts", "", 'd=$(git rev-parse --git-common-dir)/info; echo "$(git rev-parse HEAD)" > "$d/grafts"\n',
     ("info/grafts", "changed")),
    ("15-global-filter-runs-in-post-run", "",
     'printf "[filter \\"x\\"]\\n\\tclean = sh -c \\"git update-ref refs/tags/late HEAD; cat\\"\\n" '
     '>> "$HOME/.gitconfig"\n'
     "echo '* filter=x' > .gitattributes\n", (".gitattributes", "gitattributes")),
    ("15-tamper-snapshot-too", "",
     'd=$(git rev-parse --git-common-dir); printf "#!/bin/sh\\nexit 0\\n" > "$d/hooks/pre-commit"; '
     'for s in "$d"/wo/snapshots/*/files/hooks; do cp "$d/hooks/pre-commit" "$s/pre-commit"; done\n',
     ("hooks/pre-commit", "hooks changed")),
]


def _worktree(root: Path, branch: str) -> Path:
    current = None
    for line in git(root, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            current = line[len("worktree "):]
        elif line == f"branch refs/heads/{branch}" and current:
            return Path(current)
    raise AssertionError(f"no worktree has {branch} checked out")


def _sh(cwd: Path, body: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["sh", "-ec", body], cwd=cwd, check=True, env={**os.environ, **(env or {})},
                   capture_output=True)


def _matches(violations: list[str], path: str, category: str, rule: str) -> bool:
    return any(v.startswith(f"{path}: {category} / ") and rule.lower() in v.lower() for v in violations)


@pytest.fixture
def subrepo(tmp_path: Path) -> Path:
    sub = tmp_path / "subrepo"
    sub.mkdir()
    git(sub, "init", "-q")
    (sub / "lib.txt").write_text("lib\n")
    git(sub, "add", "-A")
    git(sub, "commit", "-qm", "lib")
    return sub


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_attack_is_rejected(attack: Attack, repo: Path, tmp_path: Path, subrepo: Path) -> None:
    env = {"SUBREPO": str(subrepo)}
    if attack.setup:
        _sh(repo, attack.setup, env)
        git(repo, "add", "-A")
        if git(repo, "status", "--porcelain"):
            git(repo, "commit", "-qm", "setup")
    main_before = git(repo, "rev-parse", "main").strip()
    payload = tmp_path / "payload"
    payload.mkdir()
    for name, data in attack.payload.items():
        (payload / name).write_bytes(data)
    opened = open_ticket(repo, "attack", *attack.open_args)
    tid, branch, start = str(opened["id"]), str(opened["branch"]), str(opened["commit"])
    body = f'P="{payload}"\nSUBREPO="{subrepo}"\n' + _sub(attack.body) + REPORT_OK
    r = wo(repo, "run", tid, *(() if attack.sandbox else ("--no-sandbox",)), "--", script(tmp_path, body))
    shown = wo(repo, "show", tid, "--json").json()
    assert isinstance(shown, dict)
    violations = [str(v) for v in shown["violations"]]  # type: ignore[union-attr]
    assert r.code == 3, (r.out, r.err, violations)
    assert shown["status"] == "GUARD_REJECTED"
    for path, category, rule in attack.expect:
        assert _matches(violations, path, category, _sub(rule)), (path, category, rule, violations)
    report = git(repo, "show", f"{branch}:{opened['report_file']}")
    assert "Guard: REJECTED" in report and attack.expect[0][0] in report

    # nothing reached the branch but the report; main did not move
    assert git(repo, "diff", "--name-only", start, branch).split() == [opened["report_file"]]
    assert git(repo, "rev-parse", "main").strip() == main_before
    assert GHP not in git(repo, "log", "--format=%B", "main", branch)

    # the executor's work is still there
    wt = _worktree(repo, branch)
    for p in attack.left:
        assert os.path.lexists(wt / p), p
    for p in attack.gone:
        assert not os.path.lexists(wt / p), p

    if not attack.smuggle:
        return
    # an escaped process commits the rejected state onto the branch with plumbing
    # a refused round's own commits stay local: never under refs/wo/ (which users push)
    assert not git(repo, "for-each-ref", "refs/wo/rounds/")
    kept = git(repo, "rev-parse", "-q", "--verify", "refs/wo-local/rounds/0001-r1", check=False).strip()
    parent = git(repo, "rev-parse", branch).strip()
    noenv = ["-c", "core.hooksPath=/dev/null"]
    git(wt, *noenv, "add", "-A")
    tree = git(wt, "write-tree").strip()
    parents = ["-p", parent] + (["-p", kept] if kept else [])
    evil = git(wt, "commit-tree", *parents, "-m", "smuggled", tree).strip()
    git(repo, "update-ref", f"refs/heads/{branch}", evil, parent)
    a = wo(repo, "accept", tid, "--force")
    assert a.code == 3, (a.out, a.err)
    path = attack.smuggled or f"{attack.expect[0][0]}: {attack.expect[0][1]} / "
    assert path in a.err, a.err
    assert git(repo, "rev-parse", "main").strip() == main_before
    assert wo(repo, "guard", "--ticket", tid).code == 3


@pytest.mark.parametrize("name,setup,body,expect", SNAPSHOT_ATTACKS, ids=[a[0] for a in SNAPSHOT_ATTACKS])
def test_shared_repository_is_restored(name: str, setup: str, body: str, expect: tuple[str, str], repo: Path,
                                       tmp_path: Path) -> None:
    if setup:
        _sh(repo, setup)
    if name == "14-move-other-ticket":
        open_ticket(repo, "other")
    common = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    common = common if common.is_absolute() else repo / common
    opened = open_ticket(repo, "attack")
    tid, branch = str(opened["id"]), str(opened["branch"])
    refs_before = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    refs_before = "\n".join(ln for ln in refs_before.splitlines() if not ln.startswith(f"refs/heads/{branch} "))
    config_before = (common / "config").read_bytes()
    hooks_before = sorted(p.name for p in (common / "hooks").iterdir())
    # the after-the-fact snapshot (sandboxed, every one of these fails at once: test_sandbox.py)
    r = wo(repo, "run", tid, "--no-sandbox", "--", script(tmp_path, body + "echo ok > src/ok.py\n" + REPORT_OK))
    shown = wo(repo, "show", tid, "--json").json()
    assert isinstance(shown, dict)
    violations = [str(v) for v in shown["violations"]]  # type: ignore[union-attr]
    assert r.code == 3, (r.out, r.err)
    assert shown["status"] == "GUARD_REJECTED"
    path, rule = expect
    assert any(v.startswith(path) and ": control / " in v and rule in v.lower() for v in violations), violations
    assert "refs/tags/late" not in git(repo, "for-each-ref")  # nothing ran after the restore
    assert not any("w01-work" in v for v in violations), violations  # no filter rewrote the work file
    # everything is back where it was
    refs_after = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    refs_after = "\n".join(ln for ln in refs_after.splitlines()
                           if not ln.startswith((f"refs/heads/{branch} ", "refs/wo/tickets/0001 ",
                                                 "refs/wo/tickets/0002 ", "refs/wo/rounds/",
                                                 "refs/wo-local/rounds/")))
    refs_before = "\n".join(ln for ln in refs_before.splitlines()
                            if not ln.startswith(("refs/wo/tickets/0001 ", "refs/wo/tickets/0002 ")))
    assert refs_after == refs_before
    assert (common / "config").read_bytes() == config_before
    assert not (common / "config.worktree").exists()
    assert sorted(p.name for p in (common / "hooks").iterdir()) == hooks_before
    assert not (common / "info" / "grafts").exists()
    assert git(repo, "config", "--get", "core.hooksPath", check=False) == ""
    # the ticket's own record and work are intact: a clean re-run completes
    wt = _worktree(repo, branch)
    assert (wt / "src" / "ok.py").exists()
    assert wo(repo, "show", tid, "--json").json()["round"] == 1  # type: ignore[index]


CONTROL_CASES = [
    ("17-contact-form", "mkdir -p tests && printf 'def send(msg):\\n    return msg.strip()\\n' > src/contact_form.py\n"
     "printf 'from src.contact_form import send\\n\\ndef test_send():\\n    assert send(\" a \") == \"a\"\\n' "
     "> tests/test_contact_form.py\n", ()),
    ("env-example-placeholders", "printf 'API_KEY=changeme\\nDB_PASSWORD=<your-password>\\n' > .env.example\n", ()),
    ("in-scope", "mkdir -p src/pkg && echo x > src/pkg/m.py\n", ("--scope", "src/**")),
    ("granted-dockerfile", "echo 'FROM scratch' > Dockerfile\n", ("--allow", "Dockerfile")),
    ("executor-commits-clean", "echo 'y = 2' >> src/app.py\ngit commit -qam 'own commit'\n", ()),
    ("existing-secret-untouched", "echo '# more' >> src/legacy.py\n", ()),
    ("docs-mentioning-rules", "printf 'Never commit .env or id_rsa; see .github/workflows.\\n' > docs.md\n", ()),
]


@pytest.mark.parametrize("name,body,open_args", CONTROL_CASES, ids=[c[0] for c in CONTROL_CASES])
def test_control_case_passes_and_merges(name: str, body: str, open_args: tuple[str, ...], repo: Path,
                                        tmp_path: Path) -> None:
    if name == "existing-secret-untouched":
        (repo / "src" / "legacy.py").write_text(f"OLD = '{AWS}'\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "legacy")
    opened = open_ticket(repo, "ok", *open_args)
    tid = str(opened["id"])
    r = wo(repo, "run", tid, "--", script(tmp_path, body + REPORT_OK))
    assert r.code == 0, (r.out, r.err)
    shown = wo(repo, "show", tid, "--json").json()
    assert isinstance(shown, dict)
    assert shown["status"] == "COMPLETED" and shown["violations"] == [], shown
    a = wo(repo, "accept", tid)
    assert a.code == 0, a.err
    changed = set(git(repo, "diff", "--name-only", "HEAD~1", "HEAD").split())
    assert opened["report_file"] in changed and len(changed) >= 2


def test_grant_for_control_file_is_never_honoured(repo: Path, tmp_path: Path) -> None:
    r = wo(repo, "open", "cfg", "--title", "t", "--task", "t", "--allow", ".wo-git.toml", "--json")
    if r.code != 0:  # refused up front: fine, as long as it says why
        assert ".wo-git.toml" in r.err
        return
    tid = str(r.json()["id"])  # type: ignore[index]
    run = wo(repo, "run", tid, "--", script(tmp_path, "echo '[guard]' > .wo-git.toml\n" + REPORT_OK))
    assert run.code == 3
    assert wo(repo, "accept", tid, "--force").code == 0  # nothing protected reached the branch
    assert not (repo / ".wo-git.toml").exists()
