"""``wo-git init``: the files that put the workflow and the guard in force.

Writes (never clobbering what is there, and leaving every file valid):

- ``.wo-git.toml`` with commented defaults (kept if it exists);
- an executor rules section in ``AGENTS.md`` (created, or appended once,
  in the file's own line endings);
- the architect skill ``.claude/skills/wo-git/SKILL.md`` (kept if it exists);
- the guard hook in ``.pre-commit-config.yaml``, edited as YAML in the file's
  own style and checked with pre-commit's own validation
  (:mod:`wo_git.setup.precommit_config`), then ``pre-commit install``;
- the ``wo-git mcp`` server in the architect harnesses' project config
  (:func:`register_mcp_server`: ``.mcp.json``, ``opencode.json(c)``,
  ``.codex/config.toml``), merged into what is there.

Running it again changes nothing and says so: every line starts ``kept`` or
``unchanged``. It commits nothing: the policy is in force once these files
are committed on the base branch.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

from markdown_it import MarkdownIt

from wo_git.config import CONFIG_FILE, DEFAULT_CONFIG_TEXT
from wo_git.errors import InvalidConfig, WoGitError
from wo_git.git import Repo, clean_git_env, run_git
from wo_git.setup.precommit_config import HOOK_ID, HOOK_REPO, add_guard_hook

__all__ = ["AGENTS_MARK", "HOOK_ID", "HOOK_REPO", "SKILL_PATH", "init"]

AGENTS_MARK = "<!-- wo-git executor rules -->"
SKILL_PATH = ".claude/skills/wo-git/SKILL.md"
PRECOMMIT_CONFIG = ".pre-commit-config.yaml"


def _resource(name: str) -> str:
    return resources.files("wo_git").joinpath("resources", name).read_text()


def init(repo: Repo, install_hook: bool = True) -> list[str]:
    """Write the files; returns one line per action for the user.

    Lines for files left as they were start with ``kept``; the last line is
    ``unchanged: ...`` when nothing was written, else the command that
    commits the files. Raises :class:`~wo_git.errors.InvalidConfig` (nothing
    changed) when ``.pre-commit-config.yaml`` is invalid or could not be
    edited validly, :class:`~wo_git.errors.WoGitError` when ``pre-commit
    install`` fails.
    """
    root = repo.require_root()
    # the pre-commit config first: it is the step that can refuse, and then nothing is written
    done = [add_guard_hook(root / PRECOMMIT_CONFIG)]
    done.insert(0, _write_config(root))
    done.insert(1, _write_agents_rules(root / "AGENTS.md"))
    done.insert(2, _write_skill(root / SKILL_PATH))
    done.extend(register_mcp_server(root))
    if install_hook:
        done.append(_install_hook(repo, root))
    paths = [CONFIG_FILE, "AGENTS.md", SKILL_PATH, PRECOMMIT_CONFIG, *(p for p in MCP_FILES if (root / p).exists())]
    pending = run_git("status", "--porcelain", "--untracked-files=all", "--", *paths, cwd=root).stdout
    wrote = any(not line.startswith("kept") for line in done)
    if not wrote:
        done.append("unchanged: every file was already in place"
                    + ("" if not pending.strip() else "; to put them in force: git add "
                       + " ".join(paths) + " && git commit -m 'wo-git'"))
    elif pending.strip():
        done.append("next: commit these files on your base branch so the policy is in force: git add "
                    + " ".join(paths) + " && git commit -m 'wo-git'")
    return done


def _write_config(root: Path) -> str:
    cfg = root / CONFIG_FILE
    if cfg.exists():
        return f"kept {CONFIG_FILE} (exists)"
    cfg.write_text(DEFAULT_CONFIG_TEXT)
    return f"wrote {CONFIG_FILE}"


def _write_agents_rules(agents: Path) -> str:
    """Append the executor rules once, after a blank line, in the file's own line endings."""
    rules = AGENTS_MARK + "\n" + _resource("agents-rules.md")
    if not agents.exists():
        agents.write_text("# Agent instructions\n\n" + rules)
        return "wrote AGENTS.md"
    raw = agents.read_bytes()
    text = raw.decode("utf-8", errors="surrogateescape")
    if AGENTS_MARK in text:
        return "kept AGENTS.md (has the wo-git rules)"
    nl = "\r\n" if "\r\n" in text else "\n"
    head = text.rstrip("\r\n")
    fence = _unclosed_fence(head)
    if fence:  # the file ends inside a code block: close it, or the rules would be code
        head += nl + fence
    addition = (nl + nl + rules.replace("\n", nl)) if head.strip() else rules.replace("\n", nl)
    agents.write_bytes((head + addition).encode("utf-8", errors="surrogateescape"))
    return "appended the executor rules to AGENTS.md" + (f" (after closing its open {fence} block)" if fence else "")


def _unclosed_fence(text: str) -> str:
    """The fence (e.g. ```` ``` ````) of a code block still open at the end of ``text``, else ``""``.

    Uses a CommonMark parser (markdown-it-py): a fence that runs to the end of
    the document without a closing line is open.
    """
    lines = text.splitlines()
    fences = [t for t in MarkdownIt("commonmark").parse(text) if t.type == "fence" and t.map]
    if not fences or fences[-1].map is None or fences[-1].map[1] < len(lines):
        return ""
    last, markup = fences[-1], fences[-1].markup
    assert last.map is not None
    closing = lines[last.map[1] - 1].strip() if last.map[1] - 1 > last.map[0] else ""
    closed = bool(closing) and set(closing) == {markup[0]} and len(closing) >= len(markup)
    return "" if closed else markup


def _write_skill(skill: Path) -> str:
    if skill.exists():
        if skill.read_text(errors="replace") == _resource("SKILL.md"):
            return f"kept {SKILL_PATH} (unchanged)"
        return f"kept {SKILL_PATH} (yours differs from this wo-git's; to take it: rm {SKILL_PATH} && wo-git init)"
    skill.parent.mkdir(parents=True, exist_ok=True)
    skill.write_text(_resource("SKILL.md"))
    return f"wrote {SKILL_PATH}"


def _install_hook(repo: Repo, root: Path) -> str:
    """``pre-commit install`` (the hook lives in the common hooks folder); says whether it changed."""
    hook = repo.common_dir / "hooks" / "pre-commit"
    before = hook.read_bytes() if hook.is_file() else None
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install", "--hook-type", "pre-commit"],
        cwd=root, capture_output=True, env=clean_git_env(), check=False,
    )
    if proc.returncode != 0:
        msg = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()
        raise WoGitError(f"pre-commit install failed: {msg[-1] if msg else proc.returncode}; "
                         "fix that, then run: wo-git init")
    if before is not None and hook.is_file() and hook.read_bytes() == before:
        return "kept the pre-commit hook (installed)"
    return "installed the pre-commit hook (pre-commit install)"


# ------------------------------------------------------------------ MCP registration

MCP_NAME = "wo-git"
"""The server's name in every harness's configuration."""
MCP_FILES = (".mcp.json", "opencode.json", "opencode.jsonc", ".codex/config.toml")
"""The harness configuration files :func:`register_mcp_server` may write."""


def register_mcp_server(root: Path) -> list[str]:
    """Register ``wo-git mcp`` for the architect harnesses whose project configuration is found.

    - Claude Code, always (``init`` writes its skill): ``.mcp.json``,
      ``mcpServers.wo-git = {"type": "stdio", "command": "wo-git", "args": ["mcp"]}``;
    - OpenCode, when ``opencode.json``, ``opencode.jsonc`` or ``.opencode/``
      exists: ``mcp.wo-git = {"type": "local", "command": ["wo-git", "mcp"], "enabled": true}``
      in the existing file (``opencode.json`` if neither exists);
    - Codex CLI, when ``.codex/`` exists: ``[mcp_servers.wo-git]`` in
      ``.codex/config.toml`` (``command``, ``args``), edited with tomlkit.

    Plain JSON is merged and written back (key order and indentation kept);
    JSONC (comments, trailing commas) is edited as text at the place the
    tokens of json-five's tokenizer show, so comments and layout stay; TOML
    with tomlkit (comments kept). An existing ``wo-git`` entry is left as it is,
    so running twice changes nothing. Returns one line per file. Raises
    :class:`InvalidConfig` naming a file that does not parse (nothing
    written to it).
    """
    done = [_register_json(root / ".mcp.json", "mcpServers",
                           {"type": "stdio", "command": "wo-git", "args": ["mcp"]}, "Claude Code")]
    oc = [p for p in (root / "opencode.jsonc", root / "opencode.json") if p.exists()]
    if oc or (root / ".opencode").is_dir():
        done.append(_register_json(oc[0] if oc else root / "opencode.json", "mcp",
                                   {"type": "local", "command": ["wo-git", "mcp"], "enabled": True}, "OpenCode"))
    if (root / ".codex").is_dir():
        done.append(_register_toml(root / ".codex" / "config.toml", "Codex"))
    return done


def _register_json(path: Path, container: str, entry: dict[str, object], harness: str) -> str:
    import json

    import json5  # json-five: JSONC/JSON5 parsing and tokens with their offsets
    from json5.tokenizer import tokenize

    name = path.name
    if not path.exists() or not path.read_text().strip():
        path.write_text(json.dumps({container: {MCP_NAME: entry}}, indent=2) + "\n")
        return f"wrote {name}: the wo-git MCP server for {harness}"
    text = path.read_text()
    try:
        data = json5.loads(text)
    except Exception as err:  # json-five raises its own JSON5DecodeError and tokenizer errors
        raise InvalidConfig(f"{name} does not parse ({err}); fix it, then re-run init") from None
    if not isinstance(data, dict) or not isinstance(data.get(container, {}), dict):
        raise InvalidConfig(f"{name}: expected an object with an object {container!r}; fix it, then re-run init")
    if MCP_NAME in data.get(container, {}):
        return f"kept {name} (has the wo-git MCP server)"
    try:
        strict = json.loads(text)
    except ValueError:
        strict = None
    if isinstance(strict, dict):  # plain JSON has no comments to keep: merge and write it back
        strict.setdefault(container, {})[MCP_NAME] = entry
        m = re.search(r"\n([ \t]+)\S", text)
        path.write_text(json.dumps(strict, indent=m.group(1) if m else 2, ensure_ascii=False) + "\n")
        return f"added the wo-git MCP server to {name} ({harness})"
    tokens = [t for t in tokenize(text) if t.type not in ("WHITESPACE", "LINE_COMMENT", "BLOCK_COMMENT")]
    depth, root_open, box_open, box_empty = 0, -1, -1, True
    for i, t in enumerate(tokens):
        if t.type in ("LBRACE", "LBRACKET"):
            if depth == 0 and t.type == "LBRACE":
                root_open = t.end
            elif (depth == 1 and i >= 2 and tokens[i - 1].type == "COLON"
                  and json5.loads(tokens[i - 2].value) == container):
                box_open = t.end
                box_empty = tokens[i + 1].type == "RBRACE"
            depth += 1
        elif t.type in ("RBRACE", "RBRACKET"):
            depth -= 1
    m = re.match(r"\n([ \t]+)", text[root_open:])
    unit = m.group(1) if m else "  "

    def block(obj: object, level: int) -> str:
        return json.dumps(obj, indent=len(unit) if unit.strip(" ") == "" else "\t").replace("\n", "\n" + unit * level)

    if box_open >= 0:
        insert = f"\n{unit * 2}{json.dumps(MCP_NAME)}: {block(entry, 2)}" + ("" if box_empty else ",")
        at = box_open
    else:
        root_empty = not data
        insert = f"\n{unit}{json.dumps(container)}: {block({MCP_NAME: entry}, 1)}" + ("" if root_empty else ",")
        at = root_open
    new = text[:at] + insert + text[at:]
    check = json5.loads(new)
    assert check.get(container, {}).get(MCP_NAME) == entry, "registration did not land where expected"
    path.write_text(new)
    return f"added the wo-git MCP server to {name} ({harness})"


def _register_toml(path: Path, harness: str) -> str:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    text = path.read_text() if path.exists() else ""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as err:
        raise InvalidConfig(f"{path.name} does not parse ({err}); fix it, then re-run init") from None
    servers = doc.get("mcp_servers")
    if servers is not None and not isinstance(servers, dict):
        raise InvalidConfig(f"{path.name}: mcp_servers is not a table; fix it, then re-run init")
    if servers is not None and MCP_NAME in servers:
        return f"kept .codex/{path.name} (has the wo-git MCP server)"
    server = tomlkit.table()
    server.add("command", "wo-git")
    server.add("args", ["mcp"])
    if servers is None:
        box = tomlkit.table(is_super_table=True)
        box.add(MCP_NAME, server)
        doc.add("mcp_servers", box)
    else:
        servers[MCP_NAME] = server
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(doc))
    return f"{'added the wo-git MCP server to' if text else 'wrote'} .codex/{path.name} ({harness})"
