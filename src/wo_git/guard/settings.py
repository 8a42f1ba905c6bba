"""``[guard]`` in ``.wo-git.toml``: :class:`GuardConfig`, validated with pydantic.

Its own module so that the policy (``wo_git.guard.policy``, which still
exports the name) can be built and asked without importing pydantic:
``wo-git guard --range`` on a repository with no committed config never
validates anything.
"""

from __future__ import annotations

from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class GuardConfig(BaseModel):
    """The ``[guard]`` table of ``.wo-git.toml`` (read from the base branch).

    ``secrets``/``deploy``/``ci``/``control`` add gitignore patterns to a
    category; defaults cannot be removed, so negated (``!``) patterns are
    refused there. ``allow`` exempts matching paths from secrets, deploy and ci
    (never from control). Raises pydantic's ``ValidationError`` on unknown keys
    and invalid patterns.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    secrets: list[str] = Field(default_factory=list)
    deploy: list[str] = Field(default_factory=list)
    ci: list[str] = Field(default_factory=list)
    control: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)

    @field_validator("secrets", "deploy", "ci", "control", "allow")
    @classmethod
    def _patterns(cls, patterns: list[str], info: ValidationInfo) -> list[str]:
        for pattern in patterns:
            if pattern.startswith("!") and info.field_name != "allow":
                raise ValueError(
                    f"{pattern!r}: categories can only be extended; use 'allow' to exempt paths"
                )
            try:
                GitIgnoreSpecPattern(pattern)
            except ValueError as err:
                raise ValueError(f"{pattern!r}: {err}") from err
        return patterns
