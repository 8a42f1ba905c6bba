from __future__ import annotations

import sys

try:
    from wo_git.cli import main
except KeyboardInterrupt:  # Ctrl-C while importing: `python -m` would exit 1, a shell expects 130
    sys.stderr.write("wo-git: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
