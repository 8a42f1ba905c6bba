"""``wo-git init`` registers ``wo-git mcp`` for the architect harnesses, merging into their config files."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conftest import git, wo

OPENCODE_JSONC = """\
{
  // OpenCode settings for this project
  "$schema": "https://opencode.ai/config.json",
  "mcp": {
    /* a server of my own */
    "mine": {"type": "local", "command": ["mine"]},
  },
  "theme": "dark", // trailing comment
}
"""

CODEX_TOML = """\
# Codex project settings
model = "o3"  # keep this

[mcp_servers.other]
command = "other"
"""


def _files(root: Path) -> dict[str, bytes]:
    names = [".mcp.json", "opencode.json", "opencode.jsonc", ".codex/config.toml"]
    return {n: (root / n).read_bytes() for n in names if (root / n).exists()}


def test_init_registers_claude_code_and_the_entry_starts_the_server(repo: Path) -> None:
    r = wo(repo, "init", "--no-hook")
    assert r.code == 0, r.err
    assert ".mcp.json" in r.out
    entry = json.loads((repo / ".mcp.json").read_text())["mcpServers"]["wo-git"]
    assert entry == {"type": "stdio", "command": "wo-git", "args": ["mcp"]}
    assert not (repo / "opencode.json").exists() and not (repo / ".codex").exists()  # none found, none made
    before = _files(repo)
    r = wo(repo, "init", "--no-hook")
    assert r.code == 0 and "kept .mcp.json" in r.out
    assert _files(repo) == before
    # the registered command, as Claude Code would start it, serves the tools
    command = shutil.which(entry["command"])
    assert command is not None
    names: list[str] = []

    async def main() -> None:
        params = StdioServerParameters(command=command, args=entry["args"], cwd=str(repo), env=dict(os.environ))
        async with Client(params, mode="legacy") as c:
            names.extend(t.name for t in (await c.list_tools()).tools)

    anyio.run(main)
    assert "wait" in names and "accept" in names


def test_init_merges_into_existing_configs_keeping_comments(repo: Path) -> None:
    (repo / ".mcp.json").write_text('{\n    "mcpServers": {\n        "db": {"command": "db-mcp"}\n    }\n}\n')
    (repo / "opencode.jsonc").write_text(OPENCODE_JSONC)
    (repo / ".codex").mkdir()
    (repo / ".codex" / "config.toml").write_text(CODEX_TOML)
    r = wo(repo, "init", "--no-hook")
    assert r.code == 0, r.err
    claude = json.loads((repo / ".mcp.json").read_text())
    assert list(claude["mcpServers"]) == ["db", "wo-git"] and claude["mcpServers"]["db"] == {"command": "db-mcp"}
    assert '\n        "db"' in (repo / ".mcp.json").read_text()  # its own indentation
    oc = (repo / "opencode.jsonc").read_text()
    for kept in ("// OpenCode settings for this project", "/* a server of my own */", "// trailing comment",
                 '"mine": {"type": "local", "command": ["mine"]},'):
        assert kept in oc
    import json5

    data = json5.loads(oc)
    assert data["mcp"]["wo-git"] == {"type": "local", "command": ["wo-git", "mcp"], "enabled": True}
    assert data["mcp"]["mine"] == {"type": "local", "command": ["mine"]} and data["theme"] == "dark"
    assert not (repo / "opencode.json").exists()
    toml_text = (repo / ".codex" / "config.toml").read_text()
    assert toml_text.startswith(CODEX_TOML) and "# keep this" in toml_text
    codex = tomllib.loads(toml_text)
    assert codex["mcp_servers"]["wo-git"] == {"command": "wo-git", "args": ["mcp"]}
    assert codex["mcp_servers"]["other"] == {"command": "other"} and codex["model"] == "o3"
    before = _files(repo)
    r = wo(repo, "init", "--no-hook")
    assert r.code == 0, r.err
    assert _files(repo) == before
    assert r.out.count("(has the wo-git MCP server)") == 3


def test_init_adds_opencode_json_and_codex_config_where_their_folders_exist(repo: Path) -> None:
    (repo / ".opencode").mkdir()
    (repo / ".codex").mkdir()
    (repo / "opencode.json").write_text('{"$schema": "https://opencode.ai/config.json"}')
    assert wo(repo, "init", "--no-hook").code == 0
    oc = json.loads((repo / "opencode.json").read_text())
    assert oc["$schema"] and oc["mcp"]["wo-git"]["command"] == ["wo-git", "mcp"]
    assert tomllib.loads((repo / ".codex" / "config.toml").read_text())["mcp_servers"]["wo-git"]["args"] == ["mcp"]


def test_init_refuses_a_config_that_does_not_parse(repo: Path) -> None:
    (repo / ".mcp.json").write_text('{"mcpServers": {"db": }')
    r = wo(repo, "init", "--no-hook")
    assert r.code == 1 and ".mcp.json does not parse" in r.err and "re-run init" in r.err
    assert (repo / ".mcp.json").read_text() == '{"mcpServers": {"db": }'


def test_harness_configs_are_control_files(repo: Path) -> None:
    assert wo(repo, "init", "--no-hook").code == 0
    for path in (".mcp.json", "opencode.json", "opencode.jsonc", ".codex/config.toml"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("{}\n")

    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "configs")
    r = wo(repo, "guard", "--range", "HEAD~1..HEAD", "--json")
    assert r.code == 3
    found = {v["path"]: v["category"] for v in r.json()["violations"]}  # type: ignore[index]
    for path in (".mcp.json", "opencode.json", "opencode.jsonc", ".codex/config.toml"):
        assert found.get(path) == "control", (path, found)
