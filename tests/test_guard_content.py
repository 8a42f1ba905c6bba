"""The guard's content rules (GUARD.md "Content rules") and manifest sniffing.

Every token here is fake and assembled from pieces at run time, so this file
does not itself look like a leak to a secret scanner.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import click
import pathspec
import pytest

from wo_git.guard.content import Finding, kubernetes_kind, pem_is_public, scan_blob, scan_text

_rng = random.Random(20240601)


def _random(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _pem(kind: str) -> str:
    body = base64.encodebytes(bytes(_rng.randrange(256) for _ in range(600))).decode()
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}-----END {kind}PRIVATE KEY-----\n"


def _putty() -> str:
    lines = base64.encodebytes(bytes(_rng.randrange(256) for _ in range(96))).decode()
    return (
        "PuTTY-User-Key-File-" + "3: ssh-ed25519\nEncryption: none\nComment: me\n"
        f"Public-Lines: 2\n{lines}Private-Lines: 2\n{lines}Private-MAC: {_random(64)}\n"
    )


TOKENS: list[tuple[str, str]] = [
    ("private-key", _pem("RSA ")),
    ("private-key", _pem("")),
    ("private-key", _pem("EC ")),
    ("private-key", _pem("OPENSSH ")),
    ("private-key", _pem("ENCRYPTED ")),
    ("private-key", _pem("PGP ").replace("KEY-----", "KEY BLOCK-----")),
    ("putty-private-key", _putty()),
    ("aws-access-token", "AK" + "IA" + _random(16, string.ascii_uppercase + "234567")),
    ("aws-access-token", "AS" + "IA" + _random(16, string.ascii_uppercase + string.digits)),
    ("github-pat", "gh" + "p_" + "a" * 36),
    ("github-pat", "gh" + "p_" + _random(36)),
    ("github-oauth", "gh" + "o_" + _random(36)),
    ("github-app-token", "gh" + "s_" + _random(36)),
    ("github-app-token", "gh" + "u_" + _random(36)),
    ("github-refresh-token", "gh" + "r_" + _random(36)),
    ("github-fine-grained-pat", "github" + "_pat_" + _random(22) + "_" + _random(59)),
    ("gitlab-pat", "gl" + "pat-" + _random(20)),
    ("slack-token", "xo" + "xb-" + "1234567890-1234567890123-" + _random(24)),
    ("slack-token", "xo" + "xp-" + "123456789012-1234567890-1234567890123-" + _random(32)),
    ("slack-token", "xo" + "xa-" + "2-" + _random(20)),
    ("slack-webhook-url", "hooks.slack" + ".com/services/" + _random(44)),
    ("stripe-access-token", "sk" + "_live_" + _random(24)),
    ("stripe-access-token", "rk" + "_live_" + _random(24)),
    ("gcp-api-key", "AI" + "za" + _random(35, string.ascii_letters + string.digits + "-_")),
    ("openai-api-key", "sk" + "-" + _random(48)),
    ("openai-api-key", "sk" + "-proj-" + _random(156, string.ascii_letters + string.digits + "_-")),
    (
        "anthropic-api-key",
        "sk" + "-ant-api03-" + _random(93, string.ascii_letters + "_-0123") + "AA",
    ),
]


def _rules(data: bytes) -> list[str]:
    return [f.rule for f in scan_blob(data)]


@pytest.mark.parametrize(
    ("rule", "token"), TOKENS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(TOKENS)]
)
def test_every_rule_is_caught_in_code(rule: str, token: str) -> None:
    source = f'import os\n\n\ndef connect():\n    key = """{token}"""\n    return key\n'
    assert scan_blob(source.encode()) == [Finding(rule, 5, token[:4] + "…")]


@pytest.mark.parametrize(("rule", "token"), TOKENS[6:], ids=[r for r, _ in TOKENS[6:]])
def test_tokens_in_config_and_json_shapes(rule: str, token: str) -> None:
    for text in (f"TOKEN={token}\n", f'{{"token": "{token}"}}', f"token: '{token}'", f"<{token}>"):
        assert _rules(text.encode()) == [rule], text


def test_excerpt_is_redacted() -> None:
    token = "gh" + "p_" + _random(36)
    (finding,) = scan_blob(f"x = '{token}'".encode())
    assert finding.excerpt == "ghp_…"
    assert token[4:10] not in finding.excerpt


def test_allow_comments_are_not_honoured() -> None:
    token = "gh" + "p_" + _random(36)
    for comment in ("# gitleaks" + ":allow", "# pragma: allowlist " + "secret", "// nosec"):
        assert _rules(f"TOKEN = '{token}'  {comment}\n".encode()) == ["github-pat"]


def test_line_numbers_are_one_based_and_per_hit() -> None:
    a, b = "gh" + "p_" + _random(36), "gl" + "pat-" + _random(20)
    data = f"{a}\n\n\nx = 1\ny = '{b}'\n".encode()
    assert [(f.rule, f.line) for f in scan_blob(data)] == [("github-pat", 1), ("gitlab-pat", 5)]


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.encode("utf-16"),  # with BOM
        lambda s: s.encode("utf-16-le"),  # no BOM
        lambda s: s.encode("utf-16-be"),
        lambda s: b"\xfe\xff" + s.encode("utf-16-be"),
        lambda s: s.encode("utf-32"),  # BOM, native order
        lambda s: b"\x00\x00\xfe\xff" + s.encode("utf-32-be"),
        lambda s: s.encode("utf-8-sig"),
        lambda s: s.encode("latin-1"),
    ],
    ids=["utf16-bom", "utf16le", "utf16be", "utf16be-bom", "utf32", "utf32be", "utf8sig", "latin1"],
)
def test_encodings(encode: Callable[[str], bytes]) -> None:
    token = "gh" + "p_" + _random(36)
    text = f"# caf\u00e9 configuration\n\nTOKEN = '{token}'\n"
    data = encode(text)
    assert scan_blob(data) == [Finding("github-pat", 3, "ghp_…")]


def test_utf16_string_inside_a_binary() -> None:
    token = "AK" + "IA" + _random(16, string.ascii_uppercase)
    blob = bytes(range(256)) * 40 + b"\x00" + token.encode("utf-16-le") + bytes(300)
    assert "aws-access-token" in _rules(blob)


def test_binary_blobs_are_scanned() -> None:
    key = _pem("OPENSSH ").encode()
    blob = bytes(_rng.randrange(256) for _ in range(50_000)) + key + bytes(1000)
    assert "private-key" in _rules(blob)


def test_secret_in_a_minified_line() -> None:
    token = "gh" + "p_" + _random(36)
    chunk = "function(a,b){return a.task-b.disk||sk.learn(a)};var x=[1,2,3];"
    line = chunk * (1_000_000 // len(chunk)) + f'var t="{token}";' + chunk * 100
    assert len(line) > 1_000_000
    assert scan_blob(f"/*! lib */\n{line}\n".encode()) == [Finding("github-pat", 2, "ghp_…")]


def test_overlapping_keyword_does_not_hide_a_token() -> None:
    token = "xo" + "xb-" + "1234567890-1234567890123-" + _random(24)
    assert _rules(("xo" + token).encode()) == ["slack-token"]


def test_secrets_in_commit_messages() -> None:
    token = "gl" + "pat-" + _random(20)
    assert [f.rule for f in scan_text(f"Fix login\n\nused {token} to test\n")] == ["gitlab-pat"]


def test_each_secret_reported_once() -> None:
    data = ("-----BEGIN RSA " + "PRIVATE KEY-----\n" + "AKIA" * 30 + "\n").encode()
    assert _rules(data) == ["private-key"]


CLEAN = '''\
"""Ordinary code that mentions the shapes without containing secrets."""
from __future__ import annotations

import hashlib
from sklearn.linear_model import LogisticRegression  # pip install scikit-learn (sk-learn)

PEM_HEADER = "-----BEGIN RSA PRIVATE KEY-----"
PEM_FOOTER = "-----END RSA PRIVATE KEY-----"
PUTTY_MAGIC = b"PuTTY-User-Key-File-"
AWS_PREFIXES = ("AKIA", "ASIA")  # access key ids start with AKIA
GITHUB_PREFIXES = ("ghp_", "gho_", "ghs_", "ghu_", "github_pat_")
SLACK_EXAMPLE = "xoxb-your-token-here"
OPENAI_PLACEHOLDER = "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
ANTHROPIC_PLACEHOLDER = "sk-ant-api03-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
STRIPE_TEST = "sk_test_1234567890abcdef"
CSS_CLASS = "sk-Button-Primary-Large-Container-Wrapper-Outline-V2"
CAMEL = "sk-ButtonPrimaryLargeContainerWrapperOutlineV2"
GOOGLE_DOCS = "keys look like AIza followed by 35 characters"
task_id = "task-2024-05-01-import-customers-from-legacy-system-batch-7"
disk_label = "disk-usage-report-for-production-cluster-node-42-weekly"
COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
UUID = "123e4567-e89b-12d3-a456-426614174000"
INTEGRITY = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
TASK_LIVE = "task_live_events_processor_configuration_value"


def fingerprint(data: bytes) -> str:
    """Hex digest used as a cache key."""
    return hashlib.sha256(data).hexdigest()


class Model:
    def __init__(self, penalty: str = "l2") -> None:
        self.clf = LogisticRegression(penalty=penalty)

    def fit(self, xs: list[list[float]], ys: list[int]) -> Model:
        self.clf.fit(xs, ys)
        return self
'''


def test_clean_code_is_not_flagged() -> None:
    assert scan_blob(CLEAN.encode()) == []
    assert scan_blob(CLEAN.encode("utf-16")) == []


def test_lockfile_hashes_are_not_flagged() -> None:
    lines = []
    for i in range(300):
        digest = base64.b64encode(bytes(_rng.randrange(256) for _ in range(64))).decode()
        lines.append(f'"node_modules/pkg{i}": {{"integrity": "sha512-{digest}"}},')
    assert scan_blob("\n".join(lines).encode()) == []


@pytest.mark.parametrize("package", [click, pathspec, pytest])
def test_real_library_sources_are_not_flagged(package: ModuleType) -> None:
    root = Path(package.__file__ or "").parent
    for path in sorted(root.rglob("*.py")):
        assert scan_blob(path.read_bytes()) == [], path


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n", "Deployment"),
        ("kind: Service\napiVersion: v1\n", "Service"),
        ("apiVersion: v1\nkind: Secret\ndata:\n  password: aHVudGVyMg==\n", "Secret"),
        ('apiVersion: v1\nkind: "Secret"\n', "Secret"),
        (
            "apiVersion: apps/v1\nkind: Deployment\n---\n# db creds\napiVersion: v1\nkind: Secret\n",
            "Secret",
        ),
        ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n", "Secret"),
        ('{"apiVersion": "v1", "kind": "Secret", "data": {}}', "Secret"),
        ('{\n  "apiVersion": "v1",\n  "kind": "ConfigMap"\n}\n', "ConfigMap"),
        ("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n", "SealedSecret"),
        ("apiVersion: v1\n# kind: Secret\nkind: ConfigMap\n", "ConfigMap"),
        ("name: app\nkind: Secret\n", None),  # no apiVersion: not a manifest
        ("apiVersion: v1\nname: x\n", None),  # no kind
        ("services:\n  web:\n    image: nginx\n", None),
        ("", None),
    ],
)
def test_kubernetes_kind(text: str, kind: str | None) -> None:
    assert kubernetes_kind(text.encode()) == kind


def test_kubernetes_secret_deep_in_a_large_file() -> None:
    doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n"
    data = (doc * 50_000 + "apiVersion: v1\nkind: Secret\n").encode()
    assert kubernetes_kind(data) == "Secret"
    assert kubernetes_kind(doc.encode() * 50_000) == "Deployment"


def test_aws_documented_example_key_ids_are_not_flagged() -> None:
    # False positive found by demo/guard_survey.py: boto3's sdists ship AWS's
    # documented example id in boto3/examples/cloudfront.rst. gitleaks
    # allow-lists ids ending in EXAMPLE for this rule; so do we, and only that.
    example = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    assert scan_blob(f"    key_id = '{example}'\n".encode()) == []
    assert scan_blob(("ASIA" + "IOSFODNN7" + "EXAMPLE").encode()) == []
    # A real-looking id is still caught, also beside the example, and an id
    # that merely contains EXAMPLE elsewhere is not excused.
    real = "AKIA" + _random(16, string.ascii_uppercase + "234567")
    assert _rules(f"{example} {real}".encode()) == ["aws-access-token"]
    assert _rules(("AKIA" + "EXAMPLE" + "ABCDEFGHI").encode()) == ["aws-access-token"]


def _cert_block(label: str = "CERTIFICATE") -> str:
    body = base64.encodebytes(bytes(_rng.randrange(256) for _ in range(300))).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def test_ca_bundles_are_public_pem() -> None:
    # False positive found by demo/guard_survey.py: certifi's cacert.pem (and
    # old_root.pem, weak.pem) matched the ``*.pem`` secrets path rule, but a
    # CA bundle holds only certificates. check.py lets such a blob through
    # that one path rule; the content rules still scan it.
    bundle = "\n".join(
        f"# Issuer: CN=Example Root CA {i}\n# Label: \"Example {i}\"\n{_cert_block()}" for i in range(3)
    )
    assert pem_is_public(bundle.encode())
    assert pem_is_public((_cert_block("TRUSTED CERTIFICATE") + _cert_block("X509 CRL")).encode())
    assert scan_blob(bundle.encode()) == []


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty: nothing shows it is public
        "not pem at all\n",
        _cert_block() + _pem("RSA "),  # a key hidden after a certificate
        _cert_block() + _pem(""),
        _cert_block() + _pem("ENCRYPTED "),
        _cert_block("PUBLIC KEY") + _cert_block(),  # only certificates and CRLs are excused
        _cert_block() + "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nshort\n",  # half a key
    ],
)
def test_pem_with_anything_else_is_not_public(text: str) -> None:
    assert not pem_is_public(text.encode())
    assert not pem_is_public(_cert_block().encode("utf-16"))  # never excuse UTF-16
