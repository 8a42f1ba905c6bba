"""Bytes an architect pays on every turn for wo-git's MCP tools.

Lists the tools of ``wo-git mcp`` through the SDK's own in-process client
(``tools/list``, serialized as it goes on the wire) and prints their size
against the baseline measured in the same run: the same tools with the
input schemas the SDK generates by itself (pydantic titles, ``anyOf [X,
null]`` for optional arguments), i.e. without :func:`wo_git.mcp_server.compact_schema`.
Also prints the server instructions' size. Run: ``python bench/bench_mcp_tools.py``.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp import Client

from wo_git import mcp_server


async def _tools_bytes() -> tuple[int, int]:
    async with Client(mcp_server.build_server(), mode="legacy") as c:
        tools = (await c.list_tools()).tools
        data = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]
        return len(json.dumps(data, separators=(",", ":")).encode()), len(tools)


def main() -> None:
    trimmed, n = anyio.run(_tools_bytes)
    keep = mcp_server.compact_schema

    def identity(schema: dict[str, Any]) -> dict[str, Any]:
        return schema

    mcp_server.compact_schema = identity  # the baseline: the SDK's own schemas
    try:
        baseline, _ = anyio.run(_tools_bytes)
    finally:
        mcp_server.compact_schema = keep
    print(f"{'tool list':<34} {'bytes':>7} {'ratio':>7}")
    print(f"{'SDK schemas (baseline)':<34} {baseline:>7} {1.0:>6.2f}x")
    print(f"{'wo-git mcp (' + str(n) + ' tools, compact)':<34} {trimmed:>7} {trimmed / baseline:>6.2f}x")
    print(f"{'server instructions':<34} {len(mcp_server.INSTRUCTIONS.encode()):>7}")


if __name__ == "__main__":
    main()
