"""Setting a repository up for wo-git: `wo-git init` and the files it edits."""
