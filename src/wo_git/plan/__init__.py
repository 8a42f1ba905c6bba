"""Plans: many tickets in ordered phases with dependencies, driven to the end.

- :mod:`.model`: the plan file (YAML, validated by pydantic, unknown keys refused);
- :mod:`.scopes`: whether two tickets' scopes may touch the same path;
- :mod:`.store`: ``refs/wo/plans/NAME``, the plan file recorded in git (compare-and-swap);
- :mod:`.gate`: the review gate (checks, rubric reviews, infrastructure failures);
- :mod:`.state`: each ticket's state, what it waits for, the decisions due;
- :mod:`.drive`: one idempotent step under the plan lock, the run loop and ``wait --plan``.
"""
