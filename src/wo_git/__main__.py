from __future__ import annotations

from wo_git.cli import main

raise SystemExit(main())
