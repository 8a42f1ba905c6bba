"""Executors: how wo-git starts a coding agent and reads its output.

:mod:`wo_git.executors.profiles` holds the executor profiles as data (the
built-ins ``command``, ``opencode``, ``codex``, ``claude``, ``aider``, overlaid
by ``[executors.NAME]`` tables in ``.wo-git.toml``), builds the command line for
a run and parses the agent's output line by line. :mod:`wo_git.executors.
opencode_server` drives a running ``opencode serve`` over its HTTP API.
"""

from __future__ import annotations

from wo_git.executors.profiles import (
    BUILTIN_PROFILES,
    Command,
    ExecutorProfile,
    LineEvent,
    build_command,
    load_profiles,
    parse_line,
    prompt_text,
)

__all__ = [
    "BUILTIN_PROFILES",
    "Command",
    "ExecutorProfile",
    "LineEvent",
    "build_command",
    "load_profiles",
    "parse_line",
    "prompt_text",
]
