"""What the guard protects: path normalization, default patterns, the policy.

Pure: no git access. ``check.py`` walks git objects and asks a :class:`Policy`
about every path it meets (both sides of a rename, symlink targets, gitlinks).

Patterns are gitignore-style (matched with ``pathspec``'s ``GitIgnoreSpec``) and
are applied to the *normalized* path (:func:`normalize_path`), so every pattern
here is lower-case. Gitignore anchoring applies: a pattern without an inner
``/`` (``.env``, ``*.pem``) matches at any depth; one with an inner ``/`` is
anchored at the repository root unless it starts with ``**/``. The defaults
write ``**/`` explicitly: a nested ``.github/workflows/`` is meaningless to
GitHub, but catching it costs nothing, and a monorepo's ``services/api/deploy/``
is as much deploy configuration as a root ``deploy/``. The price is that a
source package named ``deploy``, ``infra`` or ``k8s`` is protected too; the
config's ``allow`` or a work order's grant opens it explicitly.

Sources: ``../shared/GUARD.md`` ("Default protected patterns"), GitLab's
secret-file push rule, Renovate's manager file patterns, GitHub Agentic
Workflows' protected files, and git's own path checks (``verify_path``,
``is_hfs_dotgit``/``is_ntfs_dotgit``, CVE-2014-9390).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wo_git.errors import InvalidInput

if TYPE_CHECKING:
    import pathspec

    from wo_git.guard.settings import GuardConfig as GuardConfig


def __getattr__(name: str) -> object:
    # GuardConfig (pydantic) loads when first named: a policy built without one never needs it
    if name == "GuardConfig":
        from wo_git.guard.settings import GuardConfig

        return GuardConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

CATEGORIES: tuple[str, ...] = ("secrets", "deploy", "ci", "control")
"""Protected categories, in report order. ``control`` is never grantable."""

SCOPE = "scope"
"""Pseudo-category of a path written outside the work order's ``scope``."""

OUTSIDE_SCOPE = "outside scope"
"""The rule named for a :data:`SCOPE` violation."""

DEFAULT_MAILBOX = "work-orders"

DEFAULT_PATTERNS: dict[str, tuple[str, ...]] = {
    # GUARD.md "secrets"; GitLab's files_denylist; gitleaks' path rules.
    "secrets": (
        ".env",
        ".env.*",
        # Templates are meant to be committed; their content is still scanned.
        "!.env.example",
        "!.env.sample",
        "!.env.template",
        "!.env.dist",
        "*.pem",
        "*.key",
        "*.p12",
        "*.pfx",
        "*.pkcs12",
        "*.jks",
        "*.keystore",
        "*.p8",
        "*.ppk",
        "*.kdbx",
        "*.ovpn",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
        "*_rsa",
        "*_dsa",
        "*_ecdsa",
        "*_ed25519",
        "**/.aws/credentials",
        "**/.ssh/**",
        "**/.kube/config",
        ".netrc",
        "_netrc",
        ".npmrc",
        ".pypirc",
        ".dockercfg",
        "**/.docker/config.json",
        ".git-credentials",
        ".pgpass",
        ".htpasswd",
        "credentials.json",
        "credentials.xml",
        "master.key",
        "terraform.tfvars",
        "*.tfstate",
        "*.tfstate.*",
        "kubeconfig",
        "*_history",
        ".*_history",
        # Shell histories are files; a Django app or package directory named
        # ``order_history/`` is ordinary source code.
        "!*_history/",
    ),
    # GUARD.md "deploy"; Renovate's dockerfile/compose/helm/terraform managers.
    "deploy": (
        "dockerfile*",
        "*.dockerfile",
        "containerfile*",
        "docker-compose*.yml",
        "docker-compose*.yaml",
        "compose*.yml",
        "compose*.yaml",
        "chart.yaml",
        # Helm values only where a chart lives: ``values.yaml`` alone is a
        # common name for ordinary data.
        "**/charts/**/values*.yaml",
        "**/charts/**/values*.yml",
        "**/chart/**/values*.yaml",
        "**/chart/**/values*.yml",
        "**/helm/**/values*.yaml",
        "**/helm/**/values*.yml",
        "helmfile.yaml",
        "helmfile.yaml.gotmpl",
        "kustomization.yaml",
        "kustomization.yml",
        "*.tf",
        "*.tofu",
        "*.tfvars",
        "terragrunt.hcl",
        "*.bicep",
        "fly.toml",
        "netlify.toml",
        "vercel.json",
        "vercel.ts",
        "procfile",
        "serverless.yml",
        "serverless.yaml",
        "app.yaml",
        "render.yaml",
        "**/deploy/**",
        "**/k8s/**",
        "**/infra/**",
    ),
    # GUARD.md "ci": the workflow files of every major CI system.
    "ci": (
        "**/.github/workflows/**",
        "**/.github/actions/**",
        "action.yml",
        "action.yaml",
        "**/.gitea/workflows/**",
        "**/.forgejo/workflows/**",
        ".gitlab-ci.yml",
        ".gitlab-ci.yaml",
        "*.gitlab-ci.yml",
        "*.gitlab-ci.yaml",
        "**/.gitlab/**",
        "**/.circleci/**",
        "azure-pipelines*.yml",
        "azure-pipelines*.yaml",
        "**/.azuredevops/**",
        "**/.azure-pipelines/**",
        "jenkinsfile*",
        "**/.buildkite/**",
        "buildkite.yml",
        "buildkite.yaml",
        ".travis.yml",
        "bitbucket-pipelines.yml",
        ".drone.yml",
        ".drone.yaml",
        ".woodpecker.yml",
        ".woodpecker.yaml",
        "**/.woodpecker/**",
        ".vela.yml",
        ".vela.yaml",
        "bitrise.yml",
        "cloudbuild.yaml",
        "cloudbuild.yml",
        "cloudbuild.json",
        "appveyor.yml",
        ".appveyor.yml",
        ".cirrus.yml",
        ".cirrus.star",
        "**/.semaphore/**",
        "buildspec.yml",
        "buildspec.yaml",
        "**/.tekton/**",
    ),
    # GUARD.md "control": wo-git's own files, hook machinery, agent config.
    # The mailbox's work files are added by Policy.build (mailbox is a setting).
    "control": (
        ".wo-git.toml",
        ".pre-commit-config.yaml",
        ".pre-commit-config.yml",
        ".pre-commit-hooks.yaml",
        "**/.githooks/**",
        "**/.husky/**",
        # lefthook.yml, lefthook-local.yml, .lefthook.toml and the .lefthook/
        # scripts folder.
        "lefthook*",
        ".lefthook*",
        ".gitattributes",
        ".gitmodules",
        "codeowners",
        ".gitleaks.toml",
        ".gitleaksignore",
        ".secrets.baseline",
        "agents.md",
        "claude.md",
        "claude.local.md",
        "gemini.md",
        "**/.github/copilot-instructions.md",
        "**/.github/instructions/**",
        "**/.vscode/**",
        "**/.devcontainer/**",
        ".devcontainer.json",
        ".envrc",
        # The agents' own configuration can widen what the next run may do.
        "**/.claude/**",
        "**/.codex/**",
        "**/.opencode/**",
        "opencode.json",
        "opencode.jsonc",
        ".aider*",
        "**/.cursor/**",
        ".cursorrules",
        "**/.gemini/**",
        "**/.agents/**",
        ".mcp.json",
        # git refuses these on checkout (verify_path), but a tree written with
        # plumbing can hold them; ``git~1`` is .git's NTFS 8.3 short name.
        ".git",
        "git~1",
    ),
}
"""Default gitignore-style patterns per category, lower-case (paths are
case-folded). Extend them with :class:`GuardConfig`; they cannot be removed."""

# Zero-width and bidirectional control characters. HFS+ ignores several of them
# in file names (git's is_hfs_dotgit skips U+200C-U+200F, U+202A-U+202E,
# U+206A-U+206F, U+FEFF), and in review they hide or reorder characters
# (Trojan Source, CVE-2021-42574), so ``.e\u200bnv`` must read as ``.env``.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
_GLOB_CHARS = re.compile(r"[*?\[\]\\]")


@functools.lru_cache(maxsize=65536)
def normalize_path(path: str) -> str:
    """Fold ``path`` to the one spelling the patterns are written for.

    Every step closes an alias of a protected path:

    1. Drop zero-width and bidi control characters (HFS+ ignores them; they are
       invisible in review: Trojan Source).
    2. Unicode NFC: macOS stores names decomposed (NFD); git keeps the bytes.
    3. ``\\`` to ``/``: Windows treats the backslash as a separator.
    4. Drop empty and ``.`` segments, resolve ``..`` lexically (symlink targets
       are joined to their link's folder first), drop a leading ``/``.
    5. Strip trailing dots and spaces of each component (Windows/NTFS drops
       them: ``.env.`` is ``.env``) and an NTFS ``::$data`` stream suffix.
    6. Case-fold: the default macOS and Windows file systems ignore case, so
       ``.ENV`` and ``.GitHub/Workflows`` are the protected files.

    Returns a relative POSIX path (``""`` for the root); never raises. Leading
    ``..`` segments that escape the root are kept.
    """
    if path.isascii():
        # steps 1-2 and 6 for ASCII: nothing invisible, NFC is the identity, casefold is lower
        text = path.lower().replace("\\", "/")
        if not (text.startswith("/") or text.endswith(("/", ".", " ")) or "//" in text or "./" in text
                or " /" in text or "::$data" in text):
            return text  # no empty, "." or ".." segment and nothing to strip: step 4-5 change nothing
    else:
        text = unicodedata.normalize("NFC", _INVISIBLE.sub("", path))
        # casefold output need not be NFC ("\u01f0" folds to "j" + U+030C): compose again
        text = unicodedata.normalize("NFC", text.casefold()).replace("\\", "/")
    parts: list[str] = []
    for raw in text.split("/"):
        if raw == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            else:
                parts.append("..")
            continue
        part = raw.removesuffix("::$data").rstrip(". ")
        if part:
            parts.append(part)
    return "/".join(parts)


_NOT_PLAIN = ("//", "./", " /", "::$data", "\n/", "/\n", ".\n", " \n")


def _normalize_lines(paths: list[str]) -> str | None:
    """:func:`normalize_path` of every path, joined by newlines, when one pass over all
    of them does it: ASCII only, no newline in a path, and no empty, ``.`` or ``..``
    segment nor anything for steps 4-5 to strip (then each path just folds to lower
    case). ``None`` otherwise: normalize path by path."""
    text = "\n".join(paths)
    if not text.isascii() or text.count("\n") != len(paths) - 1:
        return None
    text = text.lower().replace("\\", "/")
    if text.startswith("/") or text.endswith(("/", ".", " ")) or any(x in text for x in _NOT_PLAIN):
        return None
    return text


@dataclass(frozen=True)
class Match:
    """One reason a path is protected: ``category`` (one of :data:`CATEGORIES`
    or :data:`SCOPE`), the pattern ``rule`` that matched (the first one in the
    category's list), and the ``path`` as given (not normalized)."""

    category: str
    rule: str
    path: str


def _compile(patterns: Iterable[str], what: str) -> pathspec.GitIgnoreSpec:
    """A GitIgnoreSpec over case-folded ``patterns``; InvalidInput if one is bad."""
    import pathspec

    folded = [unicodedata.normalize("NFC", p).casefold() for p in patterns]
    try:
        return pathspec.GitIgnoreSpec.from_lines(folded)
    except ValueError as err:
        raise InvalidInput(f"bad {what} pattern: {err}") from err


def _escape(text: str) -> str:
    """``text`` as a literal gitignore pattern fragment."""
    return _GLOB_CHARS.sub(lambda m: "\\" + m.group(0), text)


_GLOB_META = re.compile(r"[*?\[\]\\]")


class _Prefilter:
    """A quick test that lets through every path some of a set of gitignore
    patterns may match (a superset: pathspec gives the exact answer).

    Derived from the patterns' text: a pattern within one path segment
    (``.env``, ``*.pem``, ``dockerfile*``; gitignore matches it against any
    single segment) must match a whole segment, so that segment equals it
    (no wildcard), or starts with its literal text before the first
    wildcard, ends with the text after the last one, and holds every run of
    literal text in between (the longest of these is tested). A
    pattern across segments (``**/.github/workflows/**``) matches only paths
    that contain its longest literal run (``.github/workflows``): pathspec
    copies every character between wildcards into its regex, and only a
    ``/`` next to ``**`` is optional, so runs are stripped of ``/`` at both
    ends. Anything else (no literal text, trailing whitespace pathspec would
    strip) lets every path through. Segment answers are kept.
    """

    __slots__ = ("_names", "_prefixes", "_suffixes", "_contains", "_inner", "_everything", "_segments")

    def __init__(self, patterns: Iterable[str]) -> None:
        names: set[str] = set()
        prefixes: set[str] = set()
        suffixes: set[str] = set()
        contains: set[str] = set()
        inner: set[str] = set()
        everything = False
        for pattern in patterns:
            if not pattern.strip() or pattern.startswith(("!", "#")):
                continue  # negations only take paths out; blanks and comments match nothing
            if pattern != pattern.rstrip() or "\n" in pattern or "\r" in pattern:
                everything = True
                continue
            body = pattern.strip("/")
            while body.startswith("**/"):
                body = body[3:]
            while body.endswith("/**"):
                body = body[:-3]
            if "/" in body:
                run = max((r.strip("/") for r in _GLOB_META.split(body)), key=len)
                if run:
                    inner.add(run)
                else:
                    everything = True
            elif not _GLOB_META.search(body):
                names.add(body)
            else:
                # the segment starts with the first run, ends with the last, holds the others:
                # test for the longest of them
                runs = _GLOB_META.split(body)
                kind, run = max([(0, runs[0]), (1, runs[-1]), *((2, r) for r in runs[1:-1])],
                                key=lambda x: len(x[1]))
                if not run:
                    everything = True
                else:
                    (prefixes, suffixes, contains)[kind].add(run)
        self._names = frozenset(names)
        self._prefixes = tuple(sorted(prefixes))
        self._suffixes = tuple(sorted(suffixes))
        self._contains = tuple(sorted(contains))
        self._inner = tuple(sorted(inner))
        self._everything = everything
        self._segments: dict[str, bool] = {}

    def clears_all(self, lines: str) -> bool:
        """Whether no pattern can match any of the normalized paths in ``lines`` (joined
        by newlines, none holding one): the tests of :meth:`may_match` as substring
        searches over all paths at once (a segment is a line, or lies between ``/``)."""
        if self._everything:
            return False
        if any(run in lines for run in self._inner):
            return False
        segments = "\n" + lines.replace("/", "\n") + "\n"
        return not (
            not self._names.isdisjoint(segments.split("\n"))
            or any(f"\n{prefix}" in segments for prefix in self._prefixes)
            or any(f"{suffix}\n" in segments for suffix in self._suffixes)
            or any(run in segments for run in self._contains)
        )

    def may_match(self, norm: str) -> bool:
        """``False`` only if no pattern can match the normalized path ``norm``."""
        if self._everything:
            return True
        for segment in norm.split("/"):
            hit = self._segments.get(segment)
            if hit is None:
                hit = (segment in self._names or segment.startswith(self._prefixes)
                       or segment.endswith(self._suffixes) or any(run in segment for run in self._contains))
                if len(self._segments) < 1 << 20:
                    self._segments[segment] = hit
            if hit:
                return True
        return any(run in norm for run in self._inner)


class _Spec:
    """:func:`_compile` of some patterns, done when first needed unless ``now``:
    pathspec and its regexes for the ~200 default patterns take about 20 ms to load,
    and most paths never get past the pre-filter. Patterns wo-git did not write
    (configuration, grants, scope, a custom mailbox) are compiled ``now``, so a bad
    one is refused when the policy is built."""

    __slots__ = ("_patterns", "_what", "_spec")

    def __init__(self, patterns: Iterable[str], what: str, now: bool) -> None:
        self._patterns, self._what = tuple(patterns), what
        self._spec: pathspec.GitIgnoreSpec | None = None
        if now:
            self.get()

    def get(self) -> pathspec.GitIgnoreSpec:
        """The compiled spec; :class:`InvalidInput` for a pattern pathspec refuses."""
        if self._spec is None:
            self._spec = _compile(self._patterns, self._what)
        return self._spec

    def match_file(self, norm: str) -> bool:
        """Whether the spec includes the normalized path ``norm``."""
        return bool(self.get().match_file(norm))


class _Category:
    """One protected category: its rules, their spec, and the pre-filter in front of it."""

    def __init__(self, name: str, rules: tuple[str, ...], own: bool) -> None:
        self.name, self.rules = name, rules
        self.spec = _Spec(rules, name, now=own)
        # most paths of a real change match no rule: a few set and string tests
        # answer them, far cheaper than pathspec's per-pattern regex loop
        # (bench/bench_guard.py); a hit falls through to pathspec for the exact answer
        self.prefilter = _Prefilter(rules)

    def first_rule(self, norm: str) -> str | None:
        """The first positive rule matching ``norm`` if the category (with its
        negations, last match wins as in gitignore) protects it."""
        if not self.prefilter.may_match(norm):
            return None
        spec = self.spec.get()
        if not spec.match_file(norm):
            return None
        for rule, pattern in zip(self.rules, spec.patterns, strict=True):
            if pattern.include and pattern.match_file(norm) is not None:
                return rule
        return None  # pragma: no cover - match_file said a positive rule matched


class Policy:
    """The protected-path policy for one check: categories, exemptions, scope.

    Build it with :meth:`build`; ask :meth:`classify`, :meth:`out_of_scope`,
    :meth:`check` and :meth:`protects_dir` about repository paths (any
    spelling: they are normalized first).
    """

    def __init__(
        self,
        categories: Sequence[_Category],
        allow: _Spec | None,
        scope: _Spec | None,
        mailbox_reports: _Spec,
    ) -> None:
        self._categories = tuple(categories)
        # every category's pre-filter in one: a path it clears is in no category
        self._prefilter = _Prefilter(rule for category in self._categories for rule in category.rules)
        self._allow = allow
        self._scope = scope
        self._mailbox_reports = mailbox_reports

    @classmethod
    def build(
        cls,
        config: GuardConfig | None = None,
        *,
        mailbox: str = DEFAULT_MAILBOX,
        grants: Sequence[str] = (),
        scope: Sequence[str] | None = None,
    ) -> Policy:
        """Defaults + ``config``'s extra patterns; ``config.allow`` and the work
        order's ``grants`` (its ``allow``) exempt paths from every category but
        control; ``scope`` (the work order's, gitignore patterns) limits where
        writing is allowed, ``None`` meaning anywhere.

        The control category also gets the mailbox's work files,
        ``/<mailbox>/*/w*-work*.md`` (``w01-work.md``, and the older
        ``w01-work-<slug>.md``). An empty ``scope`` counts as none (front
        matter's default). Raises :class:`~wo_git.errors.InvalidInput` for a
        pattern pathspec cannot parse.
        """
        box = _escape(normalize_path(mailbox))
        own_box = box != _escape(DEFAULT_MAILBOX)  # a mailbox wo-git's defaults never named
        categories = []
        for name in CATEGORIES:
            extra: list[str] = getattr(config, name) if config is not None else []
            rules = DEFAULT_PATTERNS[name] + tuple(unicodedata.normalize("NFC", p).casefold() for p in extra)
            if name == "control":
                rules += (f"/{box}/*/w*-work*.md",)
            categories.append(_Category(name, rules, own=bool(extra) or (name == "control" and own_box)))
        allow = [*(config.allow if config is not None else []), *grants]
        return cls(
            categories,
            allow=_Spec(allow, "allow", now=True) if allow else None,
            scope=_Spec(scope, "scope", now=True) if scope else None,
            mailbox_reports=_Spec([f"/{box}/*/w*-report*.md"], "mailbox", now=own_box),
        )

    def classify(self, path: str) -> list[Match]:
        """Every protected category ``path`` falls in, as ``Match``es in
        :data:`CATEGORIES` order (empty: not protected). Exemptions (config
        ``allow``, grants) apply to all categories except control."""
        norm = normalize_path(path)
        if not self._prefilter.may_match(norm):
            return []
        exempt = self._allow is not None and self._allow.match_file(norm)
        matches = []
        for category in self._categories:
            if exempt and category.name != "control":
                continue
            rule = category.first_rule(norm)
            if rule is not None:
                matches.append(Match(category.name, rule, path))
        return matches

    @property
    def scoped(self) -> bool:
        """Whether a work order's ``scope`` limits where writing is allowed."""
        return self._scope is not None

    def unprotected(self, paths: Iterable[str]) -> set[str]:
        """Those of ``paths`` (any spelling) for which :meth:`classify` is certainly
        ``[]``, decided by the pre-filter alone; ask :meth:`classify` about the rest."""
        given = list(paths)
        lines = _normalize_lines(given) if len(given) > 100 else None
        if lines is not None and self._prefilter.clears_all(lines):
            return set(given)
        return {p for p in given if not self._prefilter.may_match(normalize_path(p))}

    def out_of_scope(self, path: str) -> bool:
        """Whether writing ``path`` breaks the work order's ``scope``.

        Never true without a scope. The mailbox's report files
        (``/<mailbox>/*/w*-report*.md``) are always in scope: writing the report
        is the executor's job wherever its code goes.
        """
        if self._scope is None:
            return False
        norm = normalize_path(path)
        if self._mailbox_reports.match_file(norm):
            return False
        return not self._scope.match_file(norm)

    def check(self, path: str) -> list[Match]:
        """:meth:`classify` plus a ``Match(SCOPE, OUTSIDE_SCOPE, path)`` when
        :meth:`out_of_scope`: every violation writing ``path`` would be."""
        matches = self.classify(path)
        if self.out_of_scope(path):
            matches.append(Match(SCOPE, OUTSIDE_SCOPE, path))
        return matches

    def protects_dir(self, path: str) -> bool:
        """Whether directory ``path`` is, is inside, or holds a protected area.

        For symlink targets and gitlinks: ``docs/ci -> ../.github/workflows``
        (after joining and normalizing, ``.github/workflows``) is protected
        because ``.github/workflows/x`` is, and a link to ``.github`` because
        ``.github/workflows/…`` lies under it. An arbitrary folder is not
        protected merely because a nested ``.env`` could be created in it.

        The root itself, and any target outside the repository (a leading
        ``..``), count as protected: they hold (or may hold) everything.
        """
        norm = normalize_path(path)
        segments = norm.split("/") if norm else []
        if not segments or segments[0] == "..":
            return True
        if self.classify(norm) or self.classify(f"{norm}/x"):
            return True
        for category in self._categories:
            for rule in category.rules:
                for probe in _probes(segments, rule):
                    if self.classify(probe):
                        return True
        return False


def _probes(segments: list[str], rule: str) -> Iterable[str]:
    """Concrete paths under folder ``segments`` that ``rule`` may protect.

    The rule's segments are laid over the folder's tail (any tail for an
    any-depth rule, the whole folder for an anchored one): ``.github`` starts
    ``**/.github/workflows/**``, ``charts/web`` sits inside
    ``**/charts/**/values*.yaml``. What remains of the rule, wildcards filled
    in, completes the probe: ``.github/workflows/x``, ``charts/web/valuesx.yaml``.
    """
    if rule.startswith("!") or "[" in rule:
        return
    body = rule.lstrip("/")
    anchored = rule.startswith("/")
    if body.startswith("**/"):
        body = body[3:]
    elif "/" not in body.rstrip("/"):
        return  # a basename rule: classify(folder) already covered it
    else:
        anchored = True  # gitignore: an inner slash anchors the pattern
    dir_only = body.endswith("/")
    parts = [p for p in body.split("/") if p]
    for start in range(1 if anchored else len(segments)):
        rest = _consume(segments[start:], parts)
        if rest is None:
            continue
        filled = [p.replace("*", "x").replace("?", "x") for p in rest if p != "**"]
        if dir_only or not filled or rest[-1] == "**":
            filled.append("x")
        yield "/".join([*segments, *filled])


def _consume(folder: list[str], parts: list[str]) -> list[str] | None:
    """The rule ``parts`` left once ``folder`` is matched as their prefix, or
    ``None`` if the folder leaves the rule (``**`` swallows what is left)."""
    for i, segment in enumerate(folder):
        if i >= len(parts):
            return None
        if parts[i] == "**":
            return parts[i:]
        if not fnmatch.fnmatchcase(segment, parts[i]):
            return None
    return parts[len(folder) :]
