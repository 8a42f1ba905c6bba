"""``.wo-git.toml``: the one configuration loader.

The file is read from the **base branch's committed tree**, never from a
worktree or the user's working copy: an executor can edit its worktree's
copy, so that copy must not decide what the guard allows (the same reason
GitHub reads CODEOWNERS from the base branch). With no committed file the
defaults apply.
"""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wo_git.errors import InvalidConfig
from wo_git.guard.policy import GuardConfig

if TYPE_CHECKING:
    from wo_git.git import Repo

CONFIG_FILE = ".wo-git.toml"


class Config(BaseModel):
    """The whole of ``.wo-git.toml``; every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mailbox: str = "work-orders"
    """folder on each ticket branch that holds the work and report files"""
    worktree_dir: str = "../{repo}.wo"
    """where ticket worktrees go; relative to the repository root; ``{repo}`` is its name"""
    base: str | None = None
    """default base branch for ``open`` (default: the checked-out branch)"""
    executor: str = "command"
    """default executor profile"""
    model: str | None = None
    timeout: float = 3600.0
    """wall-clock limit for one run, seconds"""
    idle_timeout: float = 900.0
    """a run with no output for this many seconds is stuck and ended"""
    max_parallel: int = Field(default=6, ge=1)
    """at most this many detached runs at once; more wait in a queue"""
    fallback: list[str] = []
    """profiles to try in order when a run is stopped by a rate limit"""
    server_url: str | None = None
    """a running ``opencode serve`` to send opencode runs to"""
    copy_files: list[str] = []
    """untracked files copied from the main working tree into new worktrees"""
    checks: list[str] = []
    """shell commands run in the worktree after each run; results go in the report"""
    sandbox: Literal["bwrap", "none"] = "bwrap"
    """``bwrap``: executors and checks run under bubblewrap (``wo_git.runs.sandbox``); ``none``: unconfined"""
    guard: GuardConfig = GuardConfig()
    """``[guard]``: extra protected patterns per category and an allow-list"""
    executors: dict[str, dict[str, Any]] = {}
    """user-defined or overridden executor profiles (``[executors.NAME]``)"""
    remote: str | None = None
    """a git remote shared as the mailbox: ``open`` allocates ids there, ``wait``/``accept`` use it"""


def parse_config(text: str, origin: str = CONFIG_FILE) -> Config:
    """Parse and validate config text; raises :class:`InvalidConfig` naming the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidConfig(f"{origin}: not valid TOML: {err}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        hint = "fix it and commit; the keys are in the README, Configuration"
        raise InvalidConfig(f"{origin}: {where}: {first['msg']} ({hint})") from None


DEFAULT_CONFIG_TEXT = '''\
# wo-git configuration. The copy committed on the base branch is the one in
# force: commit this file. Every key is optional; the values shown are the defaults.

# mailbox = "work-orders"          # folder holding w01-work.md, w02-report.md, ...
# worktree_dir = "../{repo}.wo"    # where ticket worktrees are created
# base = "main"                    # default base branch (default: the checked-out branch)
# executor = "command"             # command | opencode | codex | claude | aider | a name below
# model = "opencode/some-model"
# timeout = 3600                   # seconds of wall clock per run
# idle_timeout = 900               # seconds without output before a run counts as stuck
# max_parallel = 6                 # detached runs at once; more are queued in order
# fallback = ["codex", "claude"]   # profiles to try when a run hits a rate limit
# server_url = "http://127.0.0.1:4096"   # send opencode runs to a running `opencode serve`
# copy_files = []                  # untracked files to copy into worktrees (never secrets)
# checks = ["python -m pytest -q"] # run after each run; results go in the report
# remote = "origin"                # share tickets there: ids allocated on it, workers, wait, accept
# sandbox = "bwrap"                # bwrap: executors and checks run under bubblewrap | none

# [guard]                          # uncomment with a key below; top-level keys go above
# Extra gitignore-style patterns per protected category, added to the defaults.
# secrets = []
# deploy = []
# ci = []
# control = []
# allow = []                       # exempt paths (never the control category)

# [executors.mine]
# argv = ["my-agent", "--prompt", "{prompt}"]
# prompt_via = "arg"               # arg | stdin | file
# session_pattern = "session=(?P<id>\\\\S+)"
'''


def load_config(repo: Repo, rev: str | None) -> Config:
    """The config committed at ``rev`` (a branch or commit); defaults if none is committed.

    Never reads a working tree: the base branch's committed copy is the one
    in force.
    """
    if rev is None:
        return Config()
    commit = repo.resolve_commit(rev)
    data = repo.read_path(commit, CONFIG_FILE)
    if data is None:
        return Config()
    return parse_config(data.decode("utf-8", errors="replace"), f"{CONFIG_FILE} on {rev}")
