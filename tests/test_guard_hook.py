"""The guard as a pre-commit framework hook, through real ``git commit``.

``wo-git init`` adds a ``repo: local`` hook (``wo-git guard --hook``) to
``.pre-commit-config.yaml`` and runs ``pre-commit install``; the hook lives in
the common hooks folder, so it also runs in every linked worktree, a ticket's
among them. It is fast feedback for an executor that commits itself (the
post-run hook and ``accept`` are the enforcement).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPORT_OK, git, open_ticket, script, wo

AWS = "AKIA" + "QX7T2M4NPL5R8WZK"


@pytest.fixture
def inited(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository after ``wo-git init``, its files committed (through the hook itself)."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    r = wo(repo, "init")
    assert r.code == 0, r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "wo-git init")  # people may commit control files on their own branches
    return repo


def _commit(cwd: Path, *args: str) -> tuple[int, str]:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith("GIT_CONFIG_NOSYSTEM")}
    env.update(GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@x")
    p = subprocess.run(["git", "commit", "-q", *args], cwd=cwd, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout + p.stderr


def test_hook_is_installed_in_the_common_hooks_folder(inited: Path) -> None:
    hook = inited / ".git" / "hooks" / "pre-commit"
    assert hook.is_file() and os.access(hook, os.X_OK)
    assert "pre-commit" in hook.read_text()
    assert "wo-git guard --hook" in (inited / ".pre-commit-config.yaml").read_text()
    git(inited, "worktree", "add", "-q", "-b", "feature", str(inited.parent / "wt"))
    hooks = git(inited.parent / "wt", "rev-parse", "--path-format=absolute", "--git-path", "hooks").strip()
    assert Path(hooks) == hook.parent


def test_executor_commit_of_protected_file_is_refused_by_the_hook(inited: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    opened = open_ticket(inited, "hooked")
    tid = str(opened["id"])
    body = f"""
    OUT="{out}"
    echo A=1 > .env
    git add .env
    if git commit -qm env 2> "$OUT/env.err"; then echo committed > "$OUT/env"; else echo refused > "$OUT/env"; fi
    git rm -q --cached .env && rm .env
    mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml
    git add .github
    if git commit -qm ci 2> "$OUT/ci.err"; then echo committed > "$OUT/ci"; else echo refused > "$OUT/ci"; fi
    git rm -rq --cached .github && rm -r .github
    echo '# tweak' >> .wo-git.toml
    if git commit -qam cfg 2> "$OUT/cfg.err"; then echo committed > "$OUT/cfg"; else echo refused > "$OUT/cfg"; fi
    git checkout -q -- .wo-git.toml
    echo 'key = "{AWS}"' > src/keys.py
    git add src/keys.py
    if git commit -qm keys 2> "$OUT/keys.err"; then echo committed > "$OUT/keys"; else echo refused > "$OUT/keys"; fi
    git rm -q --cached src/keys.py && rm src/keys.py
    echo 'def ok():\\n    return 1' > src/ok.py
    git add src/ok.py
    if git commit -qm ok 2> "$OUT/ok.err"; then echo committed > "$OUT/ok"; else echo refused > "$OUT/ok"; fi
    """
    r = wo(inited, "run", tid, "--", script(tmp_path, body + REPORT_OK))
    results = {p.name: p.read_text().strip() for p in out.iterdir() if not p.name.endswith(".err")}
    errs = {p.stem: p.read_text() for p in out.glob("*.err")}
    assert results == {"env": "refused", "ci": "refused", "cfg": "refused", "keys": "refused", "ok": "committed"}, (
        results, errs)
    assert ".env: secrets / .env" in errs["env"]
    assert ".github/workflows/ci.yml: ci / " in errs["ci"]
    assert ".wo-git.toml: control / .wo-git.toml" in errs["cfg"]  # `git commit -a`: the hook reads $GIT_INDEX_FILE
    assert "src/keys.py: secrets / content: aws" in errs["keys"]
    assert "leave them alone" in errs["env"]
    # the clean commit went through, and the round is clean
    assert r.code == 0, (r.out, r.err)
    shown = wo(inited, "show", tid, "--json").json()
    assert isinstance(shown, dict) and shown["status"] == "COMPLETED", shown
    assert "src/ok.py" in git(inited, "show", "--name-only", "--format=", str(opened["branch"]))


def test_hook_skipped_with_no_verify_is_still_caught_after_the_run(inited: Path, tmp_path: Path) -> None:
    opened = open_ticket(inited, "skip")
    tid = str(opened["id"])
    body = "echo A=1 > .env\ngit add .env\ngit commit -q --no-verify -m env\n"
    r = wo(inited, "run", tid, "--", script(tmp_path, body + REPORT_OK))
    assert r.code == 3
    shown = wo(inited, "show", tid, "--json").json()
    assert isinstance(shown, dict) and shown["status"] == "GUARD_REJECTED"
    assert any(v.startswith(".env: secrets / .env") for v in shown["violations"])  # type: ignore[union-attr]


def test_hook_in_a_plain_linked_worktree_checks_secrets_only(inited: Path) -> None:
    wt = inited.parent / "wt"
    git(inited, "worktree", "add", "-q", "-b", "feature", str(wt))
    (wt / ".env").write_text("A=1\n")
    git(wt, "add", ".env")
    code, text = _commit(wt, "-m", "env")
    assert code != 0 and ".env: secrets / .env" in text
    git(wt, "rm", "-q", "--cached", ".env")
    (wt / ".env").unlink()
    (wt / ".github" / "workflows").mkdir(parents=True)
    (wt / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    git(wt, "add", "-A")
    code, text = _commit(wt, "-m", "ci by a person")
    assert code == 0, text


def test_guard_staged_on_demand(inited: Path) -> None:
    (inited / "Dockerfile").write_text("FROM scratch\n")
    git(inited, "add", "Dockerfile")
    r = wo(inited, "guard", "--staged", "--json")
    assert r.code == 3
    data = r.json()
    assert isinstance(data, dict) and data["clean"] is False
    assert data["violations"][0]["path"] == "Dockerfile"  # type: ignore[index]
    assert data["violations"][0]["category"] == "deploy"  # type: ignore[index]
    # as the hook on a person's branch, only secrets count
    assert wo(inited, "guard", "--hook").code == 0
