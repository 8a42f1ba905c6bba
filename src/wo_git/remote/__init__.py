"""Many machines, one remote: tickets shared through a git remote.

- :mod:`~wo_git.remote.transport`: git push with leases, fetch, ls-remote (subprocess git).
- :mod:`~wo_git.remote.sync`: ``wo-git fetch`` / ``wo-git push`` and the tracking namespace
  ``refs/wo-remotes/REMOTE/``.
- :mod:`~wo_git.remote.ids`: ticket ids allocated on the remote by a create-only push.
- :mod:`~wo_git.remote.claims`: claim commits with leases under ``refs/wo/claims/NNNN``.
- :mod:`~wo_git.remote.worker`: ``wo-git worker``: fetch, claim, run, publish, repeat.
- :mod:`~wo_git.remote.follow`: ``wait`` and ``accept`` for tickets run elsewhere.
"""
