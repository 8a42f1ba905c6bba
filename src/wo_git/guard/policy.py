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

import pathspec

from wo_git.errors import InvalidInput

if TYPE_CHECKING:
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
    folded = [unicodedata.normalize("NFC", p).casefold() for p in patterns]
    try:
        return pathspec.GitIgnoreSpec.from_lines(folded)
    except ValueError as err:
        raise InvalidInput(f"bad {what} pattern: {err}") from err


def _escape(text: str) -> str:
    """``text`` as a literal gitignore pattern fragment."""
    return _GLOB_CHARS.sub(lambda m: "\\" + m.group(0), text)


_GROUP_NAME = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
_ANY_DEPTH = "^(?:.+/)?"  # how pathspec starts the regex of a pattern that matches at any depth


def _top_level_bar(regex: str) -> bool:
    """Whether ``regex`` has a ``|`` outside every group and character class."""
    depth, i, in_class = 0, 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 2 if regex[i + 1 : i + 3] in ("^]",) else 1 if regex[i + 1 : i + 2] in ("]", "^") else 0
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _prefilter_parts(spec: pathspec.GitIgnoreSpec) -> tuple[list[str], list[str]]:
    """The regexes of ``spec``'s positive patterns, for one pre-filter alternation.

    Returns ``(deep, other)``: ``deep`` holds the rest of every regex that
    starts with :data:`_ANY_DEPTH` (pathspec's "at any depth"), ``other``
    the whole of the rest; ``[""]`` in ``other`` (matches every path) when a
    pattern has no regex to offer. Named groups become plain ones, so the
    regexes can share one alternation.
    """
    deep: list[str] = []
    other: list[str] = []
    for p in spec.patterns:
        if not p.include:
            continue
        regex = getattr(p, "regex", None)
        if regex is None:  # cannot pre-filter this one: let every path through to pathspec
            return [], [""]
        source = _GROUP_NAME.sub("(?:", regex.pattern)
        if source.startswith(_ANY_DEPTH) and not _top_level_bar(source):
            deep.append(source[len(_ANY_DEPTH) :])
        else:
            other.append(source)
    return deep, other


def _prefilter(deep: list[str], other: list[str]) -> re.Pattern[str] | None:
    """One regex that matches every path one of the patterns behind ``deep`` and
    ``other`` (:func:`_prefilter_parts`) matches; ``None`` if there are none.

    ``^(?:.+/)?(?:A|B|...)`` is the same language as ``(?:^(?:.+/)?A)|(?:^(?:.+/)?B)|...``
    (concatenation distributes over alternation), and ``re`` walks back
    through the path's folders once instead of once per pattern: about five
    times faster on paths no rule protects.
    """
    parts = ([_ANY_DEPTH + "(?:" + "|".join(f"(?:{x})" for x in deep) + ")"] if deep else []) + other
    return re.compile("|".join(f"(?:{x})" for x in parts)) if parts else None


@dataclass(frozen=True)
class _Category:
    name: str
    rules: tuple[str, ...]
    spec: pathspec.GitIgnoreSpec
    prefilter: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        # one alternation of every positive pattern's regex: most paths of a real change
        # match no rule, and one C-level search is far cheaper than pathspec's per-pattern
        # Python loop (bench/bench_guard.py); a hit falls through to pathspec for the exact answer
        object.__setattr__(self, "prefilter", _prefilter(*_prefilter_parts(self.spec)))

    def first_rule(self, norm: str) -> str | None:
        """The first positive rule matching ``norm`` if the category (with its
        negations, last match wins as in gitignore) protects it."""
        if self.prefilter is None or not self.prefilter.search(norm):
            return None
        if not self.spec.match_file(norm):
            return None
        for rule, pattern in zip(self.rules, self.spec.patterns, strict=True):
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
        allow: pathspec.GitIgnoreSpec,
        scope: pathspec.GitIgnoreSpec | None,
        mailbox_reports: pathspec.GitIgnoreSpec,
    ) -> None:
        self._categories = tuple(categories)
        # every category's pre-filter in one: a path it does not match is in no category
        deep: list[str] = []
        other: list[str] = []
        for category in self._categories:
            more_deep, more_other = _prefilter_parts(category.spec)
            deep += more_deep
            other += more_other
        self._any = _prefilter(deep, other)
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
        categories = []
        for name in CATEGORIES:
            extra: list[str] = getattr(config, name) if config is not None else []
            rules = DEFAULT_PATTERNS[name] + tuple(unicodedata.normalize("NFC", p).casefold() for p in extra)
            if name == "control":
                rules += (f"/{box}/*/w*-work*.md",)
            categories.append(_Category(name, rules, _compile(rules, name)))
        return cls(
            categories,
            allow=_compile([*(config.allow if config is not None else []), *grants], "allow"),
            scope=_compile(scope, "scope") if scope else None,
            mailbox_reports=_compile([f"/{box}/*/w*-report*.md"], "mailbox"),
        )

    def classify(self, path: str) -> list[Match]:
        """Every protected category ``path`` falls in, as ``Match``es in
        :data:`CATEGORIES` order (empty: not protected). Exemptions (config
        ``allow``, grants) apply to all categories except control."""
        norm = normalize_path(path)
        if self._any is None or not self._any.search(norm):
            return []
        exempt = bool(self._allow.match_file(norm))
        matches = []
        for category in self._categories:
            if exempt and category.name != "control":
                continue
            rule = category.first_rule(norm)
            if rule is not None:
                matches.append(Match(category.name, rule, path))
        return matches

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
