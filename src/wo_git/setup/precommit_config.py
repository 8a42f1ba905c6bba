"""Add the wo-git guard hook to a ``.pre-commit-config.yaml``, as YAML, in the file's own style.

The file is edited with ruamel.yaml's round-trip mode (comments, key order,
quotes and flow style are kept) and emitted with the indentation that
reproduces the original lines best: ``repos:`` entries at column 0 as
``pre-commit sample-config`` writes them (``-   repo:``), or indented
(``  - repo:``). Both the input and the result are checked with pre-commit's
own loader (``pre_commit.clientlib.load_config``, the code behind
``pre-commit validate-config``); when either is invalid nothing is written.
The result is written to a temporary file beside the config, validated
there, and moved into place with ``os.replace``.
"""

from __future__ import annotations

import difflib
import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pre_commit import clientlib
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from wo_git.errors import InvalidConfig

HOOK_ID = "wo-git-guard"
HOOK_REPO = f"""\
repo: local
hooks:
- id: {HOOK_ID}
  name: wo-git guard (protected paths and secrets)
  entry: wo-git guard --hook
  language: system
  pass_filenames: false
  always_run: true
  stages: [pre-commit]
"""
HAND_HINT = "add the guard hook by hand (the entry is shown by: wo-git init --help), then run: wo-git init"
NEW_CONFIG = "repos:\n" + "".join(
    ("  - " if i == 0 else "    ") + line + "\n" for i, line in enumerate(HOOK_REPO.splitlines()))


def _fix_hint(name: str) -> str:
    return f"nothing changed; fix it (check: pre-commit validate-config {name}), then run: wo-git init"


@contextmanager
def _quiet_precommit() -> Iterator[None]:
    """pre-commit's loader logs warnings about the user's own keys; init reports only errors."""
    log = logging.getLogger("pre_commit")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def validate(path: Path, display: str) -> dict[str, Any]:
    """Load ``path`` with pre-commit's own config loader; returns the config with defaults applied.

    Raises :class:`~wo_git.errors.InvalidConfig` whose message is pre-commit's
    innermost complaint, on one line (the caller adds what to do).
    """
    try:
        with _quiet_precommit():
            loaded: dict[str, Any] = clientlib.load_config(str(path), display_filename=display)
    except clientlib.InvalidConfigError as err:
        inner = str(err).rsplit("=====> ", 1)[-1]  # cfgv nests contexts; the innermost says what is wrong
        detail = " ".join(ln.strip() for ln in inner.splitlines() if ln.strip())
        raise InvalidConfig(detail.replace('in "<unicode string>", ', "at ")) from None
    return loaded


def has_guard(config: dict[str, Any]) -> bool:
    """Whether a loaded config already has the wo-git guard hook (by id)."""
    return any(isinstance(h, dict) and h.get("id") == HOOK_ID
               for r in config.get("repos", []) if isinstance(r, dict)
               for h in r.get("hooks", []) or [])


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines())


def _emit(data: Any, mapping: int, sequence: int, offset: int, markers: tuple[bool, bool]) -> str:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start, yaml.explicit_end = markers  # the document's own `---` / `...`
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _changed_lines(old: str, new: str) -> int:
    """How many of ``old``'s lines ``new`` does not keep as they were (insertions are free)."""
    ops = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False).get_opcodes()
    return sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag in ("replace", "delete"))


def _with_guard(text: str) -> tuple[str, int]:
    """The config text with the guard's ``repo: local`` entry appended to ``repos``.

    Tries the indentation ruamel.yaml guesses and the common alternatives and
    keeps the one that changes the fewest of the original lines; returns the
    text and that number (0 when every original line is kept as it was).
    """
    def load() -> Any:
        yaml = YAML()
        yaml.preserve_quotes = True
        return yaml.load(text)

    _, ind, bsi = load_yaml_guess_indent(text)
    seq = ind or 2
    off = bsi if bsi is not None and bsi < seq else 0
    candidates = [(m, seq, off) for m in (seq, 2, 4, 3)] + [(m, s, o) for m in (2, 4) for s, o in
                                                          ((2, 0), (4, 2), (4, 0), (3, 1))]
    lines = text.splitlines()
    markers = (any(ln.rstrip() == "---" for ln in lines), any(ln.rstrip() == "..." for ln in lines))
    best: tuple[str, int] | None = None
    for mapping, sequence, offset in dict.fromkeys(candidates):
        data = load()
        data["repos"].append(YAML().load(HOOK_REPO))
        new = _emit(data, mapping, sequence, offset, markers)
        changed = _changed_lines(text, new)
        if best is None or changed < best[1]:
            best = (new, changed)
        if changed == 0:
            break
    assert best is not None
    return best


def add_guard_hook(path: Path) -> str:
    """Make sure the pre-commit config at ``path`` runs the wo-git guard; returns one line for the user.

    Creates the file when missing (or empty, or only comments). Leaves it
    untouched when the guard is already there (``kept ...``). Raises
    :class:`~wo_git.errors.InvalidConfig`, changing nothing, when the file is
    not UTF-8, not YAML, not a valid pre-commit config, or when the edited
    result would not validate.
    """
    name = path.name
    target = path.resolve() if path.is_symlink() else path
    if not target.exists():
        _write_checked(target, NEW_CONFIG, name, None)
        return f"wrote {name}"
    raw = target.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidConfig(f"{name} is not UTF-8 text; " + _fix_hint(name)) from None
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    if _only_comments(text):
        head = text.rstrip("\n")
        _write_checked(target, (head + "\n" if head else "") + NEW_CONFIG, name, None, crlf)
        return f"wrote the wo-git guard into {name} (it had no hooks)"
    try:
        before = validate(target, name)
    except InvalidConfig as err:
        raise InvalidConfig(f"{name} is not a valid pre-commit config ({err}); {_fix_hint(name)}") from None
    if has_guard(before):
        return f"kept {name} (has the wo-git guard)"
    try:
        new, changed = _with_guard(text)
    except YAMLError as err:  # pre-commit's loader accepted it, ruamel.yaml did not
        raise InvalidConfig(f"{name}: cannot edit it as YAML ({str(err).splitlines()[0]}); nothing changed; "
                            f"{HAND_HINT}") from None
    _write_checked(target, new, name, before, crlf)
    note = "" if changed == 0 else f"; ruamel.yaml rewrote {changed} of its lines (same meaning), review: git diff"
    return f"added the wo-git guard to {name}{note}"


def _write_checked(target: Path, text: str, name: str, before: dict[str, Any] | None, crlf: bool = False) -> None:
    """Write ``text`` beside ``target``, validate it with pre-commit, check it adds exactly the guard, move it in."""
    tmp = target.with_name(f".{target.name}.wo-git-tmp")
    data = text.replace("\n", "\r\n") if crlf else text
    try:
        tmp.write_bytes(data.encode("utf-8"))
        try:
            after = validate(tmp, name)
        except InvalidConfig as err:
            raise InvalidConfig(f"adding the guard would make {name} invalid ({err}); nothing changed; "
                                f"{HAND_HINT}") from None
        expected = [*(before or {}).get("repos", [])]
        if not has_guard(after) or after["repos"][:-1] != expected:
            raise InvalidConfig(f"adding the guard to {name} would change its other hooks; nothing changed; "
                                f"{HAND_HINT}")
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
