"""The guard's path policy: normalization, defaults, exemptions, scope (GUARD.md)."""

from __future__ import annotations

import re

import pathspec
import pydantic
import pytest

from wo_git.errors import InvalidInput
from wo_git.guard.policy import (
    CATEGORIES,
    DEFAULT_PATTERNS,
    OUTSIDE_SCOPE,
    SCOPE,
    GuardConfig,
    Match,
    Policy,
    normalize_path,
)


@pytest.fixture
def policy() -> Policy:
    return Policy.build()


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        (".ENV", ".env"),
        (".env.", ".env"),
        (".env ", ".env"),
        (".env. . ", ".env"),
        (".e\u200bnv", ".env"),
        ("\u202e.env", ".env"),
        ("\ufeff.env", ".env"),
        (".env::$DATA", ".env"),
        ("\\.github\\workflows\\x.yml", ".github/workflows/x.yml"),
        ("./.github//workflows/./ci.yml", ".github/workflows/ci.yml"),
        ("/.github/workflows/ci.yml", ".github/workflows/ci.yml"),
        (".GitHub./Workflows /CI.yml", ".github/workflows/ci.yml"),
        ("docs/../.github/workflows", ".github/workflows"),
        ("../outside", "../outside"),
        ("a/../../b", "../b"),
        ("Cafe\u0301.md", "caf\u00e9.md"),  # NFD (macOS) to NFC
        ("STRASSE/Straße", "strasse/strasse"),  # casefold, not lower
        (".", ""),
        ("", ""),
    ],
)
def test_normalize_path(raw: str, norm: str) -> None:
    assert normalize_path(raw) == norm


MUST_PASS = [
    "README.md",
    "LICENSE",
    "setup.py",
    "setup.cfg",
    "pyproject.toml",
    "tox.ini",
    "Makefile",
    "requirements.txt",
    "poetry.lock",
    "package.json",
    "package-lock.json",
    ".gitignore",
    ".editorconfig",
    ".python-version",
    "src/app/__init__.py",
    "src/app/deploy.py",
    "src/app/deployment.py",
    "src/app/infrastructure/db.py",
    "src/app/k8s_client.py",
    "src/keys.py",
    "src/app/env.py",
    "src/app/environment.py",
    "src/app/config.py",
    "src/app/secrets_manager.py",
    "src/order_history/models.py",
    "src/order_history/__init__.py",
    "src/app/history.py",
    "docs/history.rst",
    "docs/infra.md",
    "docs/deploying.md",
    "docs/ci.md",
    "docs/github-actions.md",
    "tests/test_env.py",
    "tests/test_deploy.py",
    "tests/test_docker.py",
    "tests/conftest.py",
    "tests/fixtures/config.yaml",
    "config/values.yaml",
    "values.yaml",
    "src/contact_form.py",
    "tests/contact/test_form.py",
    ".env.example",
    "svc/.env.sample",
    ".env.template",
    "config/.env.dist",
    "src/app/templates/index.html",
    "static/app.min.js",
    "docs/actions.md",
    "docs/agents.txt",
    "work-orders/0007-contact-form/w02-report.md",
    "work-orders/0007-contact-form/notes.md",
]

MUST_CATCH: list[tuple[str, str]] = [
    # secrets
    (".env", "secrets"),
    ("svc/.env", "secrets"),
    ("svc/.env.production", "secrets"),
    (".env.local", "secrets"),
    (".ENV", "secrets"),
    (".env.", "secrets"),
    (".e\u200bnv", "secrets"),
    (".env ", "secrets"),
    ("deploy/id_ed25519", "secrets"),
    ("certs/server.pem", "secrets"),
    ("store.p12", "secrets"),
    ("keys/server.key", "secrets"),
    ("android/release.keystore", "secrets"),
    ("app.jks", "secrets"),
    ("AuthKey_ABC.p8", "secrets"),
    ("putty.ppk", "secrets"),
    ("vault.kdbx", "secrets"),
    ("client.ovpn", "secrets"),
    ("id_rsa", "secrets"),
    ("home/.ssh/id_ecdsa_sk", "secrets"),
    ("deploy_rsa", "secrets"),
    (".ssh/config", "secrets"),
    (".aws/credentials", "secrets"),
    ("home/.aws/credentials", "secrets"),
    (".kube/config", "secrets"),
    (".netrc", "secrets"),
    (".npmrc", "secrets"),
    (".pypirc", "secrets"),
    (".docker/config.json", "secrets"),
    (".git-credentials", "secrets"),
    (".pgpass", "secrets"),
    (".htpasswd", "secrets"),
    ("config/credentials.json", "secrets"),
    ("config/master.key", "secrets"),
    ("terraform.tfvars", "secrets"),
    ("infra/terraform.tfstate.backup", "secrets"),
    ("kubeconfig", "secrets"),
    (".bash_history", "secrets"),
    ("home/.zsh_history", "secrets"),
    # deploy
    ("Dockerfile", "deploy"),
    ("DockerFile", "deploy"),
    ("services/api/Dockerfile.prod", "deploy"),
    ("api.Dockerfile", "deploy"),
    ("Containerfile", "deploy"),
    ("docker-compose.yml", "deploy"),
    ("docker-compose.override.yaml", "deploy"),
    ("compose.yaml", "deploy"),
    ("charts/web/Chart.yaml", "deploy"),
    ("charts/web/values.yaml", "deploy"),
    ("charts/web/values-prod.yaml", "deploy"),
    ("helmfile.yaml", "deploy"),
    ("overlays/prod/kustomization.yaml", "deploy"),
    ("main.tf", "deploy"),
    ("modules/vpc/vars.tofu", "deploy"),
    ("terragrunt.hcl", "deploy"),
    ("main.bicep", "deploy"),
    ("fly.toml", "deploy"),
    ("netlify.toml", "deploy"),
    ("vercel.json", "deploy"),
    ("Procfile", "deploy"),
    ("serverless.yml", "deploy"),
    ("app.yaml", "deploy"),
    ("tests/fixtures/app.yaml", "deploy"),
    ("render.yaml", "deploy"),
    ("deploy/run.sh", "deploy"),
    ("services/api/deploy/prod.sh", "deploy"),
    ("k8s/deployment.yaml", "deploy"),
    ("infra/main.py", "deploy"),
    # ci
    (".github/workflows/ci.yml", "ci"),
    (".GitHub/Workflows/ci.yml", "ci"),
    ("\\.github\\workflows\\x.yml", "ci"),
    (".github./workflows/ci.yml", "ci"),
    (".github/actions/x/action.yml", "ci"),
    ("action.yaml", "ci"),
    (".gitea/workflows/build.yaml", "ci"),
    (".forgejo/workflows/build.yaml", "ci"),
    (".gitlab-ci.yml", "ci"),
    ("ci/build.gitlab-ci.yml", "ci"),
    (".gitlab/ci/test.yml", "ci"),
    (".circleci/config.yml", "ci"),
    ("azure-pipelines.yml", "ci"),
    ("azure-pipelines-release.yml", "ci"),
    (".azuredevops/pipeline.yml", "ci"),
    ("Jenkinsfile", "ci"),
    ("Jenkinsfile.release", "ci"),
    (".buildkite/pipeline.yml", "ci"),
    ("buildkite.yml", "ci"),
    (".travis.yml", "ci"),
    ("bitbucket-pipelines.yml", "ci"),
    (".drone.yml", "ci"),
    (".woodpecker.yml", "ci"),
    (".woodpecker/build.yml", "ci"),
    (".vela.yml", "ci"),
    ("bitrise.yml", "ci"),
    ("cloudbuild.yaml", "ci"),
    ("appveyor.yml", "ci"),
    (".cirrus.yml", "ci"),
    (".semaphore/semaphore.yml", "ci"),
    ("buildspec.yml", "ci"),
    (".tekton/pipeline.yaml", "ci"),
    # control
    (".wo-git.toml", "control"),
    ("work-orders/0007-contact-form/w01-work.md", "control"),
    ("work-orders/0007-contact-form/w03-work.md", "control"),
    (".pre-commit-config.yaml", "control"),
    (".pre-commit-hooks.yaml", "control"),
    (".githooks/pre-commit", "control"),
    (".husky/pre-commit", "control"),
    ("lefthook.yml", "control"),
    ("lefthook-local.yml", "control"),
    (".gitattributes", "control"),
    ("vendor/lib/.gitattributes", "control"),
    (".gitmodules", "control"),
    ("CODEOWNERS", "control"),
    (".github/CODEOWNERS", "control"),
    (".gitleaks.toml", "control"),
    (".gitleaksignore", "control"),
    (".secrets.baseline", "control"),
    ("AGENTS.md", "control"),
    ("src/AGENTS.md", "control"),
    ("CLAUDE.md", "control"),
    (".github/copilot-instructions.md", "control"),
    (".vscode/settings.json", "control"),
    (".devcontainer/devcontainer.json", "control"),
    (".envrc", "control"),
    (".claude/settings.json", "control"),
    (".codex/config.toml", "control"),
    (".opencode/agent/build.md", "control"),
    ("opencode.json", "control"),
    ("opencode.jsonc", "control"),
    (".aider.conf.yml", "control"),
    (".cursor/rules/x.mdc", "control"),
    (".agents/skills/x.md", "control"),
    (".mcp.json", "control"),
    (".git/hooks/pre-commit", "control"),
]


@pytest.mark.parametrize("path", MUST_PASS)
def test_ordinary_project_files_pass(policy: Policy, path: str) -> None:
    assert policy.classify(path) == []


@pytest.mark.parametrize(("path", "category"), MUST_CATCH)
def test_protected_paths_are_caught(policy: Policy, path: str, category: str) -> None:
    matches = policy.classify(path)
    assert category in [m.category for m in matches]
    assert all(m.path == path for m in matches)


def _example(pattern: str) -> str:
    """A path the pattern must match: wildcards filled in, dirs given a file."""
    path = pattern.removeprefix("**/").removeprefix("/")
    path = path.replace("/**/", "/x/").replace("**", "f").replace("*", "x")
    return path


@pytest.mark.parametrize(
    ("category", "pattern"),
    [(c, p) for c in CATEGORIES for p in DEFAULT_PATTERNS[c] if not p.startswith("!")],
)
def test_every_default_pattern_catches_its_example(
    policy: Policy, category: str, pattern: str
) -> None:
    example = _example(pattern)
    assert pathspec.GitIgnoreSpec.from_lines([pattern]).match_file(example)
    # an earlier rule may name it (``*.key`` before ``master.key``)
    assert category in [m.category for m in policy.classify(example)]


def test_the_first_matching_rule_is_named(policy: Policy) -> None:
    assert policy.classify("svc/.env") == [Match("secrets", ".env", "svc/.env")]
    assert policy.classify("id_rsa") == [Match("secrets", "id_rsa", "id_rsa")]


def test_a_path_can_fall_in_several_categories(policy: Policy) -> None:
    cats = [m.category for m in policy.classify("deploy/.env")]
    assert cats == ["secrets", "deploy"]


def test_values_files_only_in_charts(policy: Policy) -> None:
    assert policy.classify("helm/web/values.yaml")
    assert policy.classify("deploy-tools/charts/api/templates/values-x.yml")
    assert not policy.classify("config/values.yaml")
    assert not policy.classify("src/app/values_test.yaml")


def test_grants_and_config_allow_exempt_all_but_control() -> None:
    granted = Policy.build(grants=["config/master.key", "docker-compose.yml"])
    assert granted.classify("config/master.key") == []
    assert granted.classify("docker-compose.yml") == []
    assert granted.classify(".env") != []
    allowed = Policy.build(GuardConfig(allow=[".github/workflows/docs.yml", "AGENTS.md"]))
    assert allowed.classify(".GitHub/Workflows/Docs.yml") == []
    assert allowed.classify(".github/workflows/ci.yml") != []
    # control is never grantable, by config or by a work order
    assert [m.category for m in allowed.classify("AGENTS.md")] == ["control"]
    granted = Policy.build(grants=["**"])
    assert [m.category for m in granted.classify(".wo-git.toml")] == ["control"]
    assert granted.classify(".env") == []


def test_config_extends_categories() -> None:
    policy = Policy.build(GuardConfig(secrets=["*.sops.yaml"], deploy=["ansible/**"]))
    assert policy.classify("prod.SOPS.yaml") == [Match("secrets", "*.sops.yaml", "prod.SOPS.yaml")]
    assert [m.category for m in policy.classify("ansible/site.yml")] == ["deploy"]
    assert policy.classify(".env") != []  # defaults stay


def test_config_cannot_remove_defaults() -> None:
    with pytest.raises(pydantic.ValidationError, match="use 'allow'"):
        GuardConfig(secrets=["!.env"])
    with pytest.raises(pydantic.ValidationError):
        GuardConfig.model_validate({"secret": [".x"]})  # unknown key
    with pytest.raises(pydantic.ValidationError):
        GuardConfig(allow=["\\"])  # not a pattern
    with pytest.raises(pydantic.ValidationError):
        GuardConfig(ci=["\\"])
    assert GuardConfig(allow=["!docs/**"]).allow == ["!docs/**"]


def test_bad_grant_or_scope_pattern_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        Policy.build(grants=["\\"])
    with pytest.raises(InvalidInput):
        Policy.build(scope=["\\"])


def test_mailbox_is_configurable() -> None:
    policy = Policy.build(mailbox="Tickets")
    assert [m.category for m in policy.classify("tickets/0001-x/w01-work.md")] == ["control"]
    assert policy.classify("work-orders/0001-x/w01-work.md") == []
    assert policy.classify("tickets/0001-x/w02-report.md") == []
    # glob characters in the folder name are literal
    odd = Policy.build(mailbox="orders[1]")
    assert odd.classify("orders[1]/0001-x/w01-work.md")
    assert not odd.classify("orders1/0001-x/w01-work.md")


def test_legacy_work_file_names_are_control(policy: Policy) -> None:
    assert policy.classify("work-orders/0007-x/w01-work-contact-form.md")


def test_scope() -> None:
    policy = Policy.build(scope=["src/contact/**", "tests/contact/**"])
    assert not policy.out_of_scope("src/contact/form.py")
    assert not policy.out_of_scope("SRC/Contact/form.py")
    assert policy.out_of_scope("src/other.py")
    assert policy.out_of_scope("README.md")
    # the executor's report is always writable
    assert not policy.out_of_scope("work-orders/0007-contact-form/w02-report.md")
    assert policy.check("src/other.py") == [Match(SCOPE, OUTSIDE_SCOPE, "src/other.py")]
    assert policy.check("src/contact/.env") == [Match("secrets", ".env", "src/contact/.env")]
    assert [m.category for m in policy.check(".env")] == ["secrets", SCOPE]


def test_no_scope_means_anywhere() -> None:
    assert not Policy.build().out_of_scope("anything/at/all.py")
    assert not Policy.build(scope=[]).out_of_scope("anything/at/all.py")


@pytest.mark.parametrize(
    "folder",
    [
        ".github/workflows",
        ".GitHub/Workflows",
        ".github",
        "docs/../.github/workflows",
        ".github/workflows/sub",
        ".ssh",
        "home/.ssh",
        ".aws",
        ".husky",
        "deploy",
        "k8s/base",
        "charts",
        "charts/web",
        "work-orders",
        "work-orders/0007-contact-form",
        "",  # the root holds everything
        "..",  # outside the repository
        "../other-repo",
    ],
)
def test_protected_folders(policy: Policy, folder: str) -> None:
    assert policy.protects_dir(folder)


@pytest.mark.parametrize(
    "folder",
    ["src", "src/app", "docs", "tests/fixtures", "static", "src/charts_util", "x/work-orders"],
)
def test_ordinary_folders(policy: Policy, folder: str) -> None:
    assert not policy.protects_dir(folder)


def test_granted_folder_is_not_protected() -> None:
    policy = Policy.build(grants=["**/deploy/**"])
    assert not policy.protects_dir("deploy")
    assert policy.protects_dir(".github")


def test_patterns_are_lower_case() -> None:
    for category in CATEGORIES:
        for pattern in DEFAULT_PATTERNS[category]:
            assert not re.search("[A-Z]", pattern), pattern
