"""What secrets look like: high-confidence content rules and manifest sniffing.

Pure: no git access. ``check.py`` hands every added blob (and commit message)
to :func:`scan_blob`/:func:`scan_text`, whatever its name: lockfiles, minified
and vendored files, images and archives too. Unlike gitleaks and
detect-secrets, in-file allow comments (``gitleaks:allow``,
``pragma: allowlist secret``) are not honoured: the executor writes the file
(``../shared/GUARD.md``, "What trusted systems teach").

Only rules with a distinctive, fixed prefix are here, so a hit is almost
always a real credential; the regexes follow gitleaks' default config
(``config/gitleaks.toml``, rule ids kept) and ``GUARD.md``'s "Content rules".

Speed: one bytes regex pass over the raw blob finds the rules' keywords (a
50 MB blob is a benchmark case: about 0.5 s); only there are the rules tried,
and line numbers are counted only for hits. A blob packed with keywords costs
about 1 µs per keyword. Secrets are ASCII, so UTF-8, Latin-1 and binary data
are scanned as they are, without decoding; UTF-16 and UTF-32 are read through
byte strides (see :func:`_views`).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# (rule id, keywords, bytes regex). Every match starts with one of the rule's
# keywords. Ids and shapes follow gitleaks' default rules. Every repetition is
# bounded, so a blob packed with keywords costs time linear in its size.
_RULES: tuple[tuple[str, tuple[bytes, ...], bytes], ...] = (
    # PEM/OpenSSH/PGP blocks: the header, then within a few lines a base64
    # line (at a line start, raw or as a "\n" escape in JSON, maybe indented
    # or quoted), so a parser's "-----BEGIN ... PRIVATE KEY-----" constant is
    # not a key. The END line is not required: half a key is still a leak.
    (
        "private-key",
        (b"-----BEGIN",),
        (
            rb"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
            rb"(?:[^\r\n\\]{0,120}+(?:\r?\n|\\[rn])){1,6}[ \t\"'+]*[A-Za-z0-9+/]{40}"
        ),
    ),
    # A PuTTY key file's first two lines (the format is fixed).
    (
        "putty-private-key",
        (b"PuTTY-User-Key-File-",),
        rb"PuTTY-User-Key-File-[0-9]+: *[\w@.-]+\r?\nEncryption: ",
    ),
    (
        "aws-access-token",
        (b"A3T", b"AKIA", b"ASIA", b"ABIA", b"ACCA"),
        rb"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
    ),
    ("github-pat", (b"ghp_",), rb"ghp_[0-9A-Za-z]{36}"),
    ("github-oauth", (b"gho_",), rb"gho_[0-9A-Za-z]{36}"),
    ("github-app-token", (b"ghu_", b"ghs_"), rb"gh[us]_[0-9A-Za-z]{36}"),
    ("github-refresh-token", (b"ghr_",), rb"ghr_[0-9A-Za-z]{36}"),
    ("github-fine-grained-pat", (b"github_pat_",), rb"github_pat_\w{82}"),
    ("gitlab-pat", (b"glpat-",), rb"glpat-[\w-]{20}"),
    # Bot, user and workspace tokens: xoxb-<team>-<bot>-<secret>, xoxp-..., xoxa-2-...
    ("slack-token", (b"xox",), rb"xox[baprs]-(?:[0-9]{1,13}-){1,3}[0-9A-Za-z]{8,200}"),
    (
        "slack-webhook-url",
        (b"hooks.slack.com/",),
        rb"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}",
    ),
    ("stripe-access-token", (b"sk_live_", b"rk_live_"), rb"\b[sr]k_live_[0-9A-Za-z]{10,99}"),
    ("gcp-api-key", (b"AIza",), rb"\bAIza[\w-]{35}(?![\w-])"),
    # Before openai: "sk-ant-" also starts like an OpenAI key.
    ("anthropic-api-key", (b"sk-",), rb"\bsk-ant-[\w-]{32,300}"),
    ("openai-api-key", (b"sk-",), rb"\bsk-(?:proj-|svcacct-|admin-)?[\w-]{40,300}"),
)

# AWS documents its access key ids with example values ending in "EXAMPLE"
# (AKIAIOSFODNN7EXAMPLE in the AWS CLI, SDK and IAM docs; boto3 ships it in
# boto3/examples/cloudfront.rst). Real ids are 16 random base32 characters
# after the prefix, so one ending in these 7 letters is a ~1 in 32**7 chance;
# gitleaks allow-lists the same suffix for its aws-access-token rule.
# Found by demo/guard_survey.py (boto3's release history).
_AWS_EXAMPLE_SUFFIX = b"EXAMPLE"

# sk- keys have no checksum or fixed length: require a random-looking body
# (digits, upper and lower case, few separators, enough entropy) so kebab-case
# and camelCase identifiers and "sk-xxxx..." placeholders pass.
_RANDOM_BODY = frozenset({"anthropic-api-key", "openai-api-key"})
_MIN_ENTROPY = 4.5  # bits per character: 40+ random base62 characters score ~5, English ~4
_CLASSES = tuple(re.compile(c) for c in (rb"[0-9]", rb"[A-Z]", rb"[a-z]"))

# Python's re finds a plain alternation of literals fast (about 0.4 s for
# 50 MB); a combined alternation of the full rules is 25 times slower. So the
# keywords find candidates and each candidate's rules are tried in place.
_BY_KEYWORD: dict[bytes, list[tuple[str, re.Pattern[bytes]]]] = {}
for _rule, _keywords, _regex in _RULES:
    for _keyword in _keywords:
        _BY_KEYWORD.setdefault(_keyword, []).append((_rule, re.compile(_regex)))
_KEYWORDS = re.compile(b"|".join(re.escape(k) for k in sorted(_BY_KEYWORD, key=len, reverse=True)))


@dataclass(frozen=True)
class Finding:
    """A secret found in content: the ``rule`` id (gitleaks' name, e.g.
    ``github-pat``), the 1-based ``line`` it starts on, and a redacted
    ``excerpt`` (its first 4 characters and ``…``), safe to print and commit."""

    rule: str
    line: int
    excerpt: str


def scan_blob(data: bytes) -> list[Finding]:
    """Every high-confidence secret in ``data``, sorted by line then rule.

    Reads ASCII-compatible text (UTF-8, Latin-1) and binary as raw bytes, and
    UTF-16/UTF-32 through byte strides. Nothing in the content can switch a
    rule off. Never raises.
    """
    found: dict[Finding, None] = {}
    for view in _views(data):
        found.update(dict.fromkeys(_scan(view)))
    return sorted(found, key=lambda f: (f.line, f.rule, f.excerpt))


def scan_text(text: str) -> list[Finding]:
    """:func:`scan_blob` for text already decoded (commit messages)."""
    return scan_blob(text.encode("utf-8", "replace"))


def _common_prefix(words: list[bytes]) -> bytes:
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _prefilters() -> tuple[re.Pattern[bytes], ...]:
    """One regex per first byte of the keywords, each starting with its group's
    common literal prefix (``A``, ``g``, ``sk``, ``-----BEGIN``...): ``re`` skips
    to a literal prefix much faster than it tries an alternation at every byte
    (about twice as fast as :data:`_KEYWORDS` over source code)."""
    groups: dict[bytes, list[bytes]] = {}
    for keyword in _BY_KEYWORD:
        groups.setdefault(keyword[:1], []).append(keyword)
    out = []
    for words in groups.values():
        prefix = _common_prefix(words)
        rests = sorted({w[len(prefix) :] for w in words}, key=lambda r: (-len(r), r))
        alternatives = b"(?:" + b"|".join(re.escape(r) for r in rests) + b")" if rests != [b""] else b""
        out.append(re.compile(re.escape(prefix) + alternatives))
    return tuple(out)


_PREFILTERS = _prefilters()


def suspects(data: bytes, starts: Sequence[int], sizes: Sequence[int]) -> list[bool]:
    """Which blobs in one buffer may hold a secret: ``False`` only where
    :func:`scan_blob` of that blob is certainly empty.

    The blobs start at ``starts`` in ``data`` and are ``sizes`` bytes long, in ascending,
    non-overlapping order, each followed by a byte no keyword holds (a newline:
    ``git cat-file --batch`` output is laid out so), so no keyword spans two blobs. A blob is suspect if a
    rule's keyword occurs in it (only then does :func:`scan_blob` try a rule
    on its raw bytes), or if it holds a NUL byte (then :func:`scan_blob` also
    reads UTF-16/32 views). A few C-level passes over ``data`` replace a
    Python call per blob. Never raises.
    """
    marked = [False] * len(starts)

    def blob_at(pos: int) -> int:
        i = bisect_right(starts, pos) - 1
        return i if i >= 0 and pos < starts[i] + sizes[i] else -1

    for regex in _PREFILTERS:
        for match in regex.finditer(data):
            i = blob_at(match.start())
            if i >= 0:
                marked[i] = True
    pos = data.find(b"\x00")
    while pos != -1:
        i = blob_at(pos)
        if i >= 0:
            marked[i] = True
            pos = starts[i] + sizes[i]
        else:
            pos += 1
        pos = data.find(b"\x00", pos)
    return marked


def _views(data: bytes) -> Iterator[bytes]:
    """The byte strings to scan for one blob.

    The blob itself; then, if it holds NUL bytes, its even and odd bytes: the
    ASCII characters of UTF-16 LE and BE text, BOM or not, and of UTF-16
    strings embedded in binaries (.NET string heaps, Windows resources). That
    is cheaper than guessing an encoding and cannot be fooled by a misleading
    BOM. UTF-32 needs a BOM (``FF FE 00 00`` or ``00 00 FE FF``).
    """
    yield data
    if b"\x00" not in data:
        return
    if data.startswith(b"\xff\xfe\x00\x00"):
        yield data[0::4]
    elif data.startswith(b"\x00\x00\xfe\xff"):
        yield data[3::4]
    yield data[0::2]
    yield data[1::2]


def _scan(view: bytes) -> Iterator[Finding]:
    line, counted, pos = 1, 0, 0
    while hit := _KEYWORDS.search(view, pos):
        pos = hit.start() + 1  # a failed keyword may overlap the next: "xoxoxb-"
        for rule, regex in _BY_KEYWORD[hit.group()]:
            match = regex.match(view, hit.start())
            if match is None:
                continue
            secret = match.group()
            if rule == "aws-access-token" and secret.endswith(_AWS_EXAMPLE_SUFFIX):
                # AWS's documented example ids (AKIAIOSFODNN7EXAMPLE): exactly
                # gitleaks' allowlist for this rule (regex ``.+EXAMPLE$``).
                continue
            if rule in _RANDOM_BODY and not _looks_random(secret[3:]):
                # A token-shaped run that is not a key: skip all of it, so a
                # blob of "sk-sk-sk-..." costs one check per run, not per "sk-".
                pos = max(pos, match.end())
                continue
            line += view.count(b"\n", counted, match.start())
            counted, pos = match.start(), match.end()
            yield Finding(rule, line, secret[:4].decode("latin-1") + "…")
            break


def _looks_random(body: bytes) -> bool:
    """Digits, upper and lower case letters, at most one ``-``/``_`` in ten
    characters (base64url has two in 64), and >= _MIN_ENTROPY bits/char."""
    if (body.count(b"-") + body.count(b"_")) * 10 > len(body):
        return False
    if not all(cls.search(body) for cls in _CLASSES):
        return False
    counts = Counter(body).values()
    entropy = -sum(n / len(body) * math.log2(n / len(body)) for n in counts)
    return entropy >= _MIN_ENTROPY


# PEM blocks that hold only public material. ``*.pem`` is a secrets path rule
# because PEM files often hold private keys, but CA bundles are PEM too
# (certifi ships certifi/cacert.pem, old_root.pem, weak.pem; found by
# demo/guard_survey.py). Certificates and CRLs are public by design.
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----")
_PUBLIC_PEM_LABELS = frozenset({b"CERTIFICATE", b"TRUSTED CERTIFICATE", b"X509 CRL"})


def pem_is_public(data: bytes) -> bool:
    """True when ``data`` is PEM text holding only certificates or CRLs.

    At least one ``-----BEGIN CERTIFICATE-----`` (or ``TRUSTED CERTIFICATE``,
    ``X509 CRL``) block, no block of any other label, no ``PRIVATE`` anywhere,
    no NUL bytes (so UTF-16 text is never excused). Comments between blocks
    are allowed (CA bundles name each issuer). The content rules still scan
    the blob as usual. Never raises.
    """
    if b"\x00" in data or b"PRIVATE" in data:
        return False
    labels = _PEM_BEGIN.findall(data)
    return bool(labels) and all(label in _PUBLIC_PEM_LABELS for label in labels)


# Kubernetes manifests, YAML or JSON: ``kind: X`` / ``"kind": "X"`` at the
# start of a line (after indentation or a list dash), or after ``{``/``,``.
_KEY = rb"""(?:^|[{,])[ \t]*(?:-[ \t]+)?(["']?)%s\1[ \t]*:[ \t]*"""
_API_VERSION = re.compile(_KEY % b"apiVersion", re.MULTILINE)
_KIND = re.compile(_KEY % b"kind" + rb"""["']?([A-Za-z][A-Za-z0-9]*)""", re.MULTILINE)
_SECRET = re.compile(_KEY % b"kind" + rb"""(["']?)Secret\2(?![\w-])""", re.MULTILINE)


def kubernetes_kind(data: bytes) -> str | None:
    """The Kubernetes ``kind`` of a manifest, or ``None`` if ``data`` is not one.

    A manifest has an ``apiVersion:`` key and a ``kind:`` key (YAML or JSON;
    Kubernetes manifests have no file-name convention, GUARD.md "deploy").
    ``"Secret"`` wins if any document or list item anywhere in the file is a
    Secret (GUARD.md: "``kind: Secret`` anywhere is a secret": its values are
    only base64); otherwise the first kind found. The caller maps ``Secret`` to
    the secrets category and any other kind to deploy. Some non-Kubernetes
    files share the shape (kubeconfig, Backstage catalogs), and source code
    can quote a manifest: ask only about ``.yaml``, ``.yml`` and ``.json``
    blobs (the extensions ``kubectl apply -f DIR`` reads). Never raises.
    """
    if _find_key(data, b"apiVersion", _API_VERSION) is None:
        return None
    if _find_key(data, b"Secret", _SECRET) is not None:
        return "Secret"
    match = _find_key(data, b"kind", _KIND)
    return match.group(2).decode("ascii") if match else None


def _find_key(data: bytes, literal: bytes, regex: re.Pattern[bytes]) -> re.Match[bytes] | None:
    """The first ``regex`` match around an occurrence of ``literal``.

    Searching the whole blob with a ``^``-anchored pattern costs about 1.5 s
    per 50 MB; looking only around the literal's occurrences (a key and its
    value share a line) keeps a Python file that merely mentions ``kind``
    cheap.
    """
    at = data.find(literal)
    while at != -1:
        line = data.rfind(b"\n", 0, at) + 1
        match = regex.search(data, max(line, at - 256), at + 256)
        if match is not None:
            return match
        at = data.find(literal, at + 1)
    return None
