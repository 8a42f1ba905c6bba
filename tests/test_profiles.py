"""Executor profiles: argv building, prompt text, config overlay, and output parsing.

The output lines are real, captured from OpenCode 1.18.33, Codex CLI 0.169.0,
Claude Code 2.1.329 and aider 0.86.2 driven against ``tests/modelserver.py``
(long fields such as ``usage`` dropped from Claude's lines).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from wo_git.errors import InvalidConfig, InvalidInput
from wo_git.executors.opencode_server import attach_hint
from wo_git.executors.profiles import (
    BUILTIN_PROFILES,
    Command,
    ExecutorProfile,
    LineEvent,
    build_command,
    load_profiles,
    parse_line,
    prompt_text,
)

WT = "/repo.wo/0007-contact-form"
WORK = "work-orders/0007-contact-form/w01-work.md"
REPORT = "work-orders/0007-contact-form/w02-report.md"


def build(name: str, profile: ExecutorProfile | None = None, **kw: Any) -> Command:
    args: dict[str, Any] = {
        "prompt": "PROMPT", "prompt_file": "/g/wo/p.md", "model": None, "session": None,
        "worktree": WT, "work_file": WORK, "report_file": REPORT, "user_argv": None, "server_url": None,
    }
    args.update(kw)
    return build_command(profile or BUILTIN_PROFILES[name], **args)


# ------------------------------------------------------------------ argv


def test_opencode_argv_fresh_resume_model_and_attach() -> None:
    base = ["opencode", "run", "--format", "json", "--print-logs", "--log-level", "ERROR"]
    assert build("opencode").argv == [*base, "PROMPT"]
    cmd = build("opencode", model="wo/m", session="ses_1", server_url="http://127.0.0.1:4096")
    assert cmd.argv == [
        *base, "-s", "ses_1", "-m", "wo/m",
        "--attach", "http://127.0.0.1:4096", "--dir", WT, "PROMPT",
    ]
    assert cmd.resumed and cmd.stdin is None and cmd.prompt_file is None
    assert cmd.env == {"OPENCODE_DISABLE_AUTOUPDATE": "1"}


def test_codex_argv_fresh_and_resume() -> None:
    flags = [
        "--json", "--skip-git-repo-check", "--disable", "unbounded_connection_retries",
        "-c", 'approval_policy="never"', "-c", 'sandbox_mode="workspace-write"',
    ]
    assert build("codex", model="gpt-5").argv == ["codex", "exec", *flags, "-m", "gpt-5", "PROMPT"]
    assert build("codex", session="0199-abc").argv == [
        "codex", "exec", "resume", *flags, "0199-abc", "PROMPT",
    ]


def test_claude_argv() -> None:
    base = ["claude", "-p", "--output-format", "stream-json", "--verbose",
            "--permission-mode", "acceptEdits"]
    assert build("claude").argv == [*base, "PROMPT"]
    assert build("claude", model="sonnet", session="u-1").argv == [
        *base, "--resume", "u-1", "--model", "sonnet", "PROMPT",
    ]
    assert build("claude").env == {"DISABLE_AUTOUPDATER": "1"}


def test_aider_prompt_goes_through_a_file_and_history_stays_out_of_the_worktree() -> None:
    cmd = build("aider", model="openai/x", session="ignored")
    assert cmd.prompt_file == "/g/wo/p.md"
    assert not cmd.resumed
    assert cmd.argv[0] == "aider"
    assert cmd.argv[cmd.argv.index("--message-file") + 1] == "/g/wo/p.md"
    assert cmd.argv[cmd.argv.index("--chat-history-file") + 1] == "/g/wo/p.md.chat.md"
    assert cmd.argv[cmd.argv.index("--input-history-file") + 1] == os.devnull
    assert cmd.argv[-2:] == ["--model", "openai/x"]
    for flag in ("--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-gitignore"):
        assert flag in cmd.argv


def test_command_profile_uses_user_argv_verbatim() -> None:
    cmd = build("command", user_argv=["./do-it.sh", "{not-a-template}"])
    assert cmd.argv == ["./do-it.sh", "{not-a-template}"]
    assert cmd.stdin is None and cmd.env == {}
    with pytest.raises(InvalidInput, match="after `--`"):
        build("command")


def test_user_argv_extends_a_builtin_before_the_prompt() -> None:
    cmd = build("claude", user_argv=["--max-turns", "3"])
    assert cmd.argv[-3:] == ["--max-turns", "3", "PROMPT"]


def test_stdin_and_templates() -> None:
    p = ExecutorProfile(
        name="mine", argv=["tool", "--in={worktree}/x", "{{literal}}", '{"json": 1}'],
        prompt_via="stdin", env={"WHERE": "{report_file}"},
    )
    cmd = build("mine", profile=p)
    assert cmd.argv == ["tool", f"--in={WT}/x", "{literal}", '{"json": 1}']
    assert cmd.stdin == b"PROMPT"
    assert cmd.env == {"WHERE": REPORT}


def test_prompt_via_arg_is_appended_without_placeholder() -> None:
    p = ExecutorProfile(name="mine", argv=["tool", "--go"], model_args=["-m", "{model}"])
    assert build("mine", profile=p, model="x").argv == ["tool", "--go", "-m", "x", "PROMPT"]


def test_bad_templates() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        ExecutorProfile(name="x", argv=["a", "{nope}"])
    p = ExecutorProfile(name="x", argv=["a", "--session", "{session}"])
    with pytest.raises(InvalidInput, match="no session is set"):
        build("x", profile=p)
    with pytest.raises(ValueError, match="group named 'id'"):
        ExecutorProfile(name="x", argv=["a"], session_pattern=r"session (\S+)")


# ---------------------------------------------------------------- prompt


def test_prompt_text_names_paths_rules_and_format() -> None:
    text = prompt_text(WORK, REPORT, WT)
    assert f"{WT}/{WORK}" in text
    assert f"Report file (exact path): `{WT}/{REPORT}`" in text
    assert "AGENTS.md" in text and "secrets" in text and "CI" in text and "history" in text
    assert "# W02 - Report for contact-form" in text
    assert "- Status: COMPLETED | PARTIAL | BLOCKED" in text
    for field in ("- Files:", "- What I implemented:", "- How to test:", "- Notes/questions:"):
        assert field in text
    # absolute paths stay as they are
    assert f"`/abs/{REPORT}`" in prompt_text(WORK, f"/abs/{REPORT}", WT)


# ---------------------------------------------------------------- config


def test_load_profiles_overlays_builtins_and_adds_new() -> None:
    profiles = load_profiles(
        {
            "claude": {"model_args": ["--model", "{model}", "--fallback-model", "haiku"]},
            "mine": {"argv": ["my-agent", "{prompt}"], "session_pattern": r"session=(?P<id>\w+)"},
        }
    )
    assert profiles["claude"].model_args[-1] == "haiku"
    assert profiles["claude"].argv == BUILTIN_PROFILES["claude"].argv  # untouched fields kept
    assert profiles["mine"].name == "mine" and profiles["mine"].output == "text"
    assert set(BUILTIN_PROFILES) <= set(profiles)
    assert load_profiles({}) == BUILTIN_PROFILES


@pytest.mark.parametrize(
    "table, match",
    [
        ({"x": "nope"}, r"\[executors.x\] must be a table"),
        ({"x": {"argv": ["a"], "bogus": 1}}, "bogus"),
        ({"x": {}}, "argv"),
        ({"x": {"argv": ["{wat}"]}}, "unknown placeholder"),
        ({"codex": {"output": "xml"}}, "output"),
        ({"x": {"name": "y", "argv": ["a"]}}, "differs"),
    ],
)
def test_load_profiles_rejects_bad_tables(table: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidConfig, match=match):
        load_profiles(table)


# ------------------------------------------------------------ parse_line

OC = BUILTIN_PROFILES["opencode"]
CX = BUILTIN_PROFILES["codex"]
CL = BUILTIN_PROFILES["claude"]
AI = BUILTIN_PROFILES["aider"]

OPENCODE_TOOL = (
    '{"type":"tool_use","timestamp":1795249185122,"sessionID":"ses_e02cf77ffffezQjqASSMm4Gzk7",'
    '"part":{"type":"tool","tool":"write","callID":"call_2_0","state":{"status":"completed",'
    '"input":{"filePath":"/var/tmp/tmpzyccvimy/repo/hello.txt","content":"hi\\n"},'
    '"output":"Wrote file successfully.","metadata":{"diagnostics":{},'
    '"filepath":"/var/tmp/tmpzyccvimy/repo/hello.txt","exists":false,"truncated":false},'
    '"title":"hello.txt","time":{"start":1795249185033,"end":1795249185112}},'
    '"id":"prt_1fd30a0ff0015bEOgOm56yKl8E","sessionID":"ses_e02cf77ffffezQjqASSMm4Gzk7",'
    '"messageID":"msg_1fd309648001BcK1RlVPt5DVv4"}}'
)
OPENCODE_STEP = (
    '{"type":"step_start","timestamp":1795248096193,"sessionID":"ses_e02e003bdffeC0ppeDDVQEJEYb",'
    '"part":{"id":"prt_1fd200389001IQg0m800XZKBnW","messageID":"msg_1fd1fff47001XRKgcXpJ2fjQOm",'
    '"sessionID":"ses_e02e003bdffeC0ppeDDVQEJEYb","snapshot":"3942cedf","type":"step-start"}}'
)
OPENCODE_ERROR = (
    '{"type":"error","timestamp":1795249199075,"sessionID":"ses_e02cf41d1ffeOpy3MrYzm4FGmU",'
    '"error":{"name":"APIError","data":{"message":"scripted failure","statusCode":400,'
    '"isRetryable":false,"responseBody":"{\\"error\\": {\\"message\\": \\"scripted failure\\", '
    '\\"type\\": \\"invalid_request_error\\"}}","metadata":{"url":'
    '"http://127.0.0.1:33363/v1/chat/completions"}}}}'
)
OPENCODE_RATE_LOG = (
    "timestamp=2026-11-21T08:20:07.673Z level=ERROR run=08267597 message=\"stream error\" "
    "providerID=wo modelID=scripted session.id=ses_e02cf173bffeybS3etID7aevo1 small=false "
    'agent=build mode=primary error.error="AI_APICallError: Rate limit reached: Too Many Requests"'
)
OPENCODE_ERROR_LOG = (
    "timestamp=2026-11-21T08:19:59.048Z level=ERROR run=5613924b message=\"stream error\" "
    "providerID=wo modelID=scripted session.id=ses_e02cf41d1ffeOpy3MrYzm4FGmU small=false "
    'agent=build mode=primary error.error="AI_APICallError: scripted failure"'
)


def test_parse_opencode() -> None:
    assert parse_line(OC, OPENCODE_TOOL) == LineEvent(
        session_id="ses_e02cf77ffffezQjqASSMm4Gzk7", tool="write hello.txt"
    )
    assert parse_line(OC, OPENCODE_STEP) == LineEvent(session_id="ses_e02e003bdffeC0ppeDDVQEJEYb")
    ev = parse_line(OC, OPENCODE_ERROR)
    assert ev.error == "scripted failure" and not ev.rate_limited
    assert parse_line(OC, OPENCODE_RATE_LOG).rate_limited
    assert parse_line(OC, OPENCODE_ERROR_LOG) == LineEvent()


CODEX_LINES = [
    "Reading additional input from stdin...",
    '{"type":"thread.started","thread_id":"01a1fd31-4041-7803-af2f-2ef37b2cae4d"}',
    ('{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for '
    '`scripted` not found. Defaulting to fallback metadata; this can degrade performance and '
    'cause issues."}}'),
    '{"type":"turn.started"}',
    ('{"type":"item.started","item":{"id":"item_1","type":"file_change","changes":[{"path":'
    '"/var/tmp/tmpip0je7nn/repo/hello.txt","kind":"add"},{"path":'
    '"/var/tmp/tmpip0je7nn/repo/work-orders/0001-x/w02-report.md","kind":"add"}],'
    '"status":"in_progress"}}'),
    ('{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":'
    '"/bin/bash -lc \\"mkdir -p \'/var/tmp/tmp476p5tpf/repo\' && cat > hello.txt\\"",'
    '"aggregated_output":"","exit_code":0,"status":"completed"}}'),
    ('{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Done: files '
    'written."}}'),
    ('{"type":"turn.completed","usage":{"input_tokens":200,"cached_input_tokens":0,'
    '"cache_write_input_tokens":0,"output_tokens":20,"reasoning_output_tokens":0}}'),
    '{"type":"error","message":"exceeded retry limit, last status: 429 Too Many Requests"}',
    ('{"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 429 Too Many '
    'Requests"}}'),
    ('{"type":"turn.failed","error":{"message":"{\\"error\\": {\\"message\\": \\"scripted '
    'failure\\", \\"type\\": \\"invalid_request_error\\"}}"}}'),
]


def test_parse_codex() -> None:
    evs = [parse_line(CX, line) for line in CODEX_LINES]
    assert evs[0] == LineEvent()
    assert evs[1].session_id == "01a1fd31-4041-7803-af2f-2ef37b2cae4d"
    assert evs[2] == LineEvent()  # a warning item, not an error
    assert evs[4].tool == "add hello.txt (+1)"
    assert evs[5].tool is not None and evs[5].tool.startswith("exec /bin/bash -lc")
    assert evs[6] == evs[7] == LineEvent()
    assert evs[8].rate_limited and evs[8].error
    assert evs[9].rate_limited and "429" in (evs[9].error or "")
    assert evs[10].error and "scripted failure" in evs[10].error and not evs[10].rate_limited


CLAUDE_SID = "2591b071-5c17-4014-a03a-9168645f5548"
CLAUDE_LINES = [
    '{"type":"system","subtype":"init","cwd":"/var/tmp/tmpl3r357uk/repo","session_id":"'
    + CLAUDE_SID + '","tools":["Task","Bash","CronCreate","CronDelete"],"model":'
    '"claude-scripted","permissionMode":"acceptEdits"}',
    '[claude-code:unrecognized_model] {"model":"claude-scripted","query_source":"sdk"}',
    '{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":'
    '"claude-scripted","content":[{"type":"tool_use","id":"toolu_1_0","name":"Write","input":'
    '{"file_path":"/var/tmp/tmpl3r357uk/repo/hello.txt","content":"hi\\n"}}],"stop_reason":null},'
    '"parent_tool_use_id":null,"session_id":"' + CLAUDE_SID + '"}',
    '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_1_0","type":'
    '"tool_result","content":"File created successfully at: /var/tmp/tmpl3r357uk/repo/hello.txt"}'
    ']},"parent_tool_use_id":null,"session_id":"' + CLAUDE_SID + '"}',
    '{"duration_api_ms":97,"stop_reason":"end_turn","session_id":"' + CLAUDE_SID + '",'
    '"total_cost_usd":0.0012,"terminal_reason":"completed","is_error":false,"num_turns":3,'
    '"subtype":"success","api_error_status":null,"result":"Done: files written.","type":"result"}',
]
CLAUDE_RATE = [
    ('{"type":"assistant","message":{"id":"dde89d0c-bb4e-41c4-8736-18193f608fb8","model":'
    '"<synthetic>","role":"assistant","stop_reason":"stop_sequence","type":"message","content":'
    '[{"type":"text","text":"API Error: Request rejected (429) \u00b7 Rate limit exceeded"}]},'
    '"parent_tool_use_id":null,"session_id":"69b2d258-086e-44f3-9861-4cb0bb2791b6","error":'
    '"rate_limit","is_api_error_message":true,"api_error_status":429,"api_error_type":'
    '"rate_limit_error"}'),
    ('{"duration_api_ms":0,"stop_reason":"stop_sequence","session_id":'
    '"69b2d258-086e-44f3-9861-4cb0bb2791b6","total_cost_usd":0,"terminal_reason":"api_error",'
    '"is_error":true,"num_turns":1,"subtype":"success","api_error_status":429,"api_error_type":'
    '"rate_limit_error","result":"API Error: Request rejected (429) \u00b7 Rate limit exceeded",'
    '"type":"result"}'),
]
CLAUDE_ERROR_RESULT = (
    '{"duration_api_ms":0,"stop_reason":"stop_sequence","session_id":'
    '"2e668f40-b5fd-4de7-b355-5360216bf7a1","total_cost_usd":0,"terminal_reason":"api_error",'
    '"is_error":true,"num_turns":1,"subtype":"success","api_error_status":400,"api_error_type":'
    '"invalid_request_error","result":"API Error: 400 scripted failure","type":"result"}'
)


def test_parse_claude() -> None:
    evs = [parse_line(CL, line) for line in CLAUDE_LINES]
    assert evs[0] == LineEvent(session_id=CLAUDE_SID)
    assert evs[1] == LineEvent()
    assert evs[2] == LineEvent(session_id=CLAUDE_SID, tool="Write hello.txt")
    assert evs[3] == LineEvent(session_id=CLAUDE_SID)
    assert evs[4] == LineEvent(session_id=CLAUDE_SID)
    for line in CLAUDE_RATE:
        ev = parse_line(CL, line)
        assert ev.rate_limited and ev.error and "429" in ev.error
    ev = parse_line(CL, CLAUDE_ERROR_RESULT)
    assert ev.error == "API Error: 400 scripted failure" and not ev.rate_limited


CLAUDE_API_RETRY_429 = (
    '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":546,'
    '"error_status":429,"error":"rate_limit","session_id":"72dad8de-c37a-498f-ae00-5ed25106bfff",'
    '"uuid":"2bdd37ee-1458-4a8b-8636-d91287495ac2"}'
)


def test_parse_claude_first_api_retry_of_a_429_is_the_rate_limit() -> None:
    # Claude Code prints this within a second of a 429, then retries for minutes
    ev = parse_line(CL, CLAUDE_API_RETRY_429)
    assert ev.rate_limited and ev.session_id == "72dad8de-c37a-498f-ae00-5ed25106bfff"
    assert ev.error and "429" in ev.error and "attempt 1 of 10" in ev.error
    # an overloaded or failing server is retried without stopping the run
    for status, err in ((529, "overloaded"), (500, "api_error")):
        other = CLAUDE_API_RETRY_429.replace('"error_status":429', f'"error_status":{status}').replace(
            '"error":"rate_limit"', f'"error":"{err}"')
        assert parse_line(CL, other) == LineEvent(session_id="72dad8de-c37a-498f-ae00-5ed25106bfff")


def test_parse_claude_bash_tool_label() -> None:
    line = (
        '{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t","name":"Bash",'
        '"input":{"command":"pytest -q tests/test_contact.py","description":"run tests"}}]},'
        '"session_id":"s"}'
    )
    assert parse_line(CL, line).tool == "Bash pytest -q tests/test_contact.py"


def test_parse_text_profiles() -> None:
    aider_rate = "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached: "
    assert parse_line(AI, aider_rate).rate_limited
    assert parse_line(AI, "Too Many Requests").rate_limited
    assert parse_line(AI, "Applied edit to hello.txt") == LineEvent()
    for text in ("HTTP 429", "HTTP/1.1 429 Too Many Requests", "You've hit your usage limit.",
                 '{"type": "rate_limit_error"}'):
        assert parse_line(BUILTIN_PROFILES["command"], text).rate_limited, text
    assert not parse_line(BUILTIN_PROFILES["command"], "wrote 429 lines").rate_limited


def test_json_profiles_ignore_rate_limit_words_in_model_output() -> None:
    # the model writing about rate limiting is not a rate limit
    line = (
        '{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":'
        '"Added rate limiting: 429 Too Many Requests is returned after 10 calls"}}'
    )
    assert parse_line(CX, line) == LineEvent()


def test_session_pattern_for_text_profiles() -> None:
    p = ExecutorProfile(name="x", argv=["a"], session_pattern=r"session: (?P<id>[\w-]+)")
    assert parse_line(p, "started session: abc-123").session_id == "abc-123"
    assert parse_line(p, "nothing here") == LineEvent()


def test_parse_line_never_raises_on_junk() -> None:
    for profile in BUILTIN_PROFILES.values():
        for junk in ("", "{", "{not json", "[1,2]", '{"type": 3}', ('{"type":"assistant",'
                     '"message":"x"}'), '{"type":"item.completed","item":null}', "\x00\xff"):
            parse_line(profile, junk)


def test_attach_hint() -> None:
    assert attach_hint("http://127.0.0.1:4096", "ses_1") == (
        "opencode attach http://127.0.0.1:4096 --session ses_1"
    )
    assert attach_hint("http://h:1", "s", "/a b") == "opencode attach http://h:1 --session s --dir '/a b'"
