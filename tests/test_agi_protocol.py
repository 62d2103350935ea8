"""FastAGI wire protocol (pure): environment, quoting and injection, replies, HANGUP, garbage."""

from __future__ import annotations

import pytest

from callctl.agi.protocol import (
    HANGUP,
    MAX_COMMAND_BYTES,
    MAX_ENV_BYTES,
    AgiProtocolError,
    EnvironmentParser,
    Hangup,
    Reply,
    ReplyParser,
    format_command,
    parse_environment,
    parse_reply,
    quote_arg,
)

# What res_agi 22 sends for AGI(agi://127.0.0.1:4573/route,0470123456,,pbx) (abridged).
ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: route\n"
    b"agi_request: agi://127.0.0.1:4573/route\n"
    b"agi_channel: PJSIP/alice-00000001\n"
    b"agi_language: en\n"
    b"agi_type: PJSIP\n"
    b"agi_uniqueid: 1717171717.42\n"
    b"agi_version: 22.10.1\n"
    b"agi_callerid: 3222345678\n"
    b"agi_calleridname: Alice\n"
    b"agi_context: outbound\n"
    b"agi_extension: 0470123456\n"
    b"agi_priority: 1\n"
    b"agi_enhanced: 0.0\n"
    b"agi_accountcode: \n"
    b"agi_threadid: 140000000000\n"
    b"agi_arg_1: 0470123456\n"
    b"agi_arg_2: \n"
    b"agi_arg_3: pbx\n"
    b"\n"
)


# -- environment -------------------------------------------------------------------------------


def test_environment_fields() -> None:
    env = parse_environment(ENV)
    assert env.script == "route"
    assert env.query_string == ""
    assert env.args == ("0470123456", "", "pbx")
    assert env.uniqueid == "1717171717.42"
    assert env.channel == "PJSIP/alice-00000001"
    assert env.callerid == "3222345678"
    assert env.request == "agi://127.0.0.1:4573/route"
    assert env.get("agi_accountcode") == ""
    assert env.get("accountcode") == ""  # the agi_ prefix is optional in lookups
    assert env["context"] == "outbound"
    assert env.get("agi_nope") is None
    assert "agi_type" in env
    assert len(env) == 19
    assert next(iter(env)) == "agi_network"


def test_environment_is_read_only() -> None:
    env = parse_environment(ENV)
    with pytest.raises(TypeError):
        env.variables["agi_channel"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        env.variables = {}  # type: ignore[misc]


def test_environment_crlf_and_one_byte_at_a_time() -> None:
    crlf = ENV.replace(b"\n", b"\r\n")
    parser = EnvironmentParser()
    results = [parser.feed(crlf[i : i + 1]) for i in range(len(crlf))]
    assert all(r is None for r in results[:-1])
    env = results[-1]
    assert env is not None
    assert env == parse_environment(ENV)
    assert env.get("accountcode") == ""
    assert parser.remainder == b""


def test_environment_keeps_what_follows() -> None:
    parser = EnvironmentParser()
    env = parser.feed(ENV + b"HANGUP\n200 res")
    assert env is not None
    assert parser.remainder == b"HANGUP\n200 res"
    assert parser.feed(b"ult=1\n") is env
    assert parser.remainder == b"HANGUP\n200 result=1\n"


@pytest.mark.parametrize(
    ("script", "path", "query"),
    [
        ("route", "route", ""),
        ("route?product=klik&x=", "route", "product=klik&x="),
        ("a/b/c", "a/b/c", ""),
        ("/route", "route", ""),
        ("", "", ""),
        ("agi://127.0.0.1:4573/route?x=1", "route", "x=1"),
    ],
)
def test_script_and_query(script: str, path: str, query: str) -> None:
    env = parse_environment(f"agi_network_script: {script}\nagi_request: agi://h/{script}\n\n")
    assert env.script == path
    assert env.query_string == query


def test_script_falls_back_on_request_and_decodes_query() -> None:
    env = parse_environment("agi_request: agi://127.0.0.1:4573/route?product=klik&n=%2B32&e=\n\n")
    assert env.script == "route"
    assert env.query == {"product": "klik", "n": "+32", "e": ""}
    assert parse_environment("agi_request: agi://127.0.0.1\n\n").script == ""


def test_args_stop_at_first_gap() -> None:
    env = parse_environment("agi_arg_2: b\nagi_arg_1: a\nagi_arg_4: d\nagi_arg_10: j\n\n")
    assert env.args == ("a", "b")
    assert parse_environment("agi_request: x\n\n").args == ()


def test_value_may_contain_colons_and_spaces() -> None:
    env = parse_environment(b"agi_calleridname:  Dr. A: B \nagi_x:\n\n")
    assert env["calleridname"] == " Dr. A: B "
    assert env["x"] == ""


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    env = parse_environment(b"agi_calleridname: Ren\xe9\n\n")
    assert env["calleridname"] == "Ren\ufffd"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not an AGI environment line"),
        (b"agi_channel PJSIP/a\n\n", "not an AGI environment line"),
        (b"AGI_CHANNEL: x\n\n", "not an AGI environment line"),
        (b"agi_: x\n\n", "not an AGI environment line"),
        (b"agi_channel: a\nagi_channel: b\n\n", "repeated AGI environment key"),
        (b"\n", "empty AGI environment"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", "not an AGI environment line"),
    ],
)
def test_environment_garbage(data: bytes, message: str) -> None:
    with pytest.raises(AgiProtocolError, match=message) as err:
        EnvironmentParser().feed(data)
    assert err.value.message == message


def test_environment_line_and_count_caps() -> None:
    parser = EnvironmentParser()
    assert parser.feed(b"agi_x: " + b"a" * 8000) is None  # under the cap, still partial
    with pytest.raises(AgiProtocolError, match="longer than 8192 bytes"):
        parser.feed(b"a" * 1000)
    with pytest.raises(AgiProtocolError, match="longer than 8192 bytes"):
        EnvironmentParser().feed(b"agi_x: " + b"a" * 9000 + b"\n\n")
    ok = b"".join(b"agi_k%d: v\n" % i for i in range(200)) + b"\n"
    assert len(parse_environment(ok)) == 200
    too_many = b"".join(b"agi_k%d: v\n" % i for i in range(201)) + b"\n"
    with pytest.raises(AgiProtocolError, match="more than 200"):
        parse_environment(too_many)


def test_environment_total_size_cap() -> None:
    """Lines under the line cap, fewer than the line cap's count, but 64 KiB in all: refused,
    so no connection holds more than MAX_ENV_BYTES of environment."""
    value = b"v" * 1000
    line = b"agi_k%03d: " + value + b"\n"
    fits = b"".join(line % i for i in range(MAX_ENV_BYTES // len(line % 0) - 1)) + b"\n"
    assert len(fits) <= MAX_ENV_BYTES
    assert parse_environment(fits)["agi_k000"] == value.decode()
    too_long = b"".join(line % i for i in range(MAX_ENV_BYTES // len(line % 0) + 1)) + b"\n"
    with pytest.raises(AgiProtocolError, match=f"longer than {MAX_ENV_BYTES} bytes"):
        EnvironmentParser().feed(too_long)


def test_parse_environment_needs_exactly_one_block() -> None:
    with pytest.raises(AgiProtocolError, match="not terminated"):
        parse_environment(b"agi_request: x\n")
    with pytest.raises(AgiProtocolError, match="data after"):
        parse_environment(b"agi_request: x\n\nHANGUP\n")


# -- quoting and commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("value", '"value"'),
        ("", '""'),
        ("two words\tand tab", '"two words\tand tab"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\path\\", '"C:\\\\path\\\\"'),
        ('\\"', '"\\\\\\""'),
        ("héllo ☎", '"héllo ☎"'),
    ],
)
def test_quote_arg(value: str, quoted: str) -> None:
    assert quote_arg(value) == quoted
    assert _res_agi_parse_args(f"X {quoted}") == ["X", value]


@pytest.mark.parametrize("bad", ["a\nb", "x\rSET VARIABLE", "cut\0here", "\n"])
def test_quote_arg_refuses_line_breaks_and_nul(bad: str) -> None:
    with pytest.raises(ValueError, match="may not contain"):
        quote_arg(bad)


def test_format_command_exact_bytes() -> None:
    assert format_command("SET VARIABLE", "NAME", "value") == b'SET VARIABLE "NAME" "value"\n'
    assert format_command("GET FULL VARIABLE", "${CHANNEL(pjsip,remote_addr)}") == (
        b'GET FULL VARIABLE "${CHANNEL(pjsip,remote_addr)}"\n'
    )
    assert format_command("NOOP") == b"NOOP\n"
    assert format_command("VERBOSE", "é", "1") == 'VERBOSE "é" "1"\n'.encode()


def test_format_command_injection_is_impossible() -> None:
    evil = 'x" "y"\nEXEC Dial "PJSIP/evil'
    with pytest.raises(ValueError, match="may not contain"):
        format_command("SET VARIABLE", "NAME", evil)
    # Without the newline the quotes stay inside the one argument.
    line = format_command("SET VARIABLE", "NAME", evil.replace("\n", " "))
    assert line.count(b"\n") == 1
    assert _res_agi_parse_args(line.decode()[:-1]) == [
        "SET",
        "VARIABLE",
        "NAME",
        evil.replace("\n", " "),
    ]


@pytest.mark.parametrize("name", ["", "SET  VARIABLE", "SET\nVARIABLE", 'SET "X"', " NOOP", "A1"])
def test_format_command_refuses_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="command name"):
        format_command(name)


def test_format_command_length_and_word_caps() -> None:
    fits = "a" * (MAX_COMMAND_BYTES - len(b'SET VARIABLE "N" ""\n'))
    assert len(format_command("SET VARIABLE", "N", fits)) == MAX_COMMAND_BYTES
    with pytest.raises(ValueError, match="bytes; at most"):
        format_command("SET VARIABLE", "N", fits + "a")
    with pytest.raises(ValueError, match="bytes; at most"):  # counted in UTF-8 bytes
        format_command("SET VARIABLE", "N", fits[:-1] + "é")
    assert format_command("X", *["a"] * 126)
    with pytest.raises(ValueError, match="more than 127 words"):
        format_command("X", *["a"] * 127)


def _res_agi_parse_args(line: str) -> list[str]:
    """A transcription of res_agi.c's parse_args (Asterisk 22), to check our quoting."""
    out: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = []
                out.append("")
                whitespace = False
        elif ch in " \t" and not quoted and not escaped:
            whitespace = True
        elif ch == "\\" and not escaped:
            escaped = True
            continue
        else:
            if whitespace:
                cur = []
                out.append("")
                whitespace = False
            assert cur is not None
            out[-1] += ch
        escaped = False
    return out


# -- replies -----------------------------------------------------------------------------------


def test_reply_200_forms() -> None:
    r = parse_reply("200 result=1")
    assert (r.code, r.result, r.data, r.extra, r.ok) == (200, "1", None, (), True)
    r = parse_reply("200 result=1 (some data)")
    assert (r.result, r.data) == ("1", "some data")
    r = parse_reply("200 result=0 (timeout) endpos=12345")
    assert (r.result, r.data, r.extra) == ("0", "timeout", (("endpos", "12345"),))
    r = parse_reply("200 result=-1 endpos=0")
    assert (r.result, r.data, r.extra) == ("-1", None, (("endpos", "0"),))
    r = parse_reply("200 result=1 ()")
    assert r.data == ""
    r = parse_reply("200 result=1 (f(x) = (a) b) (c)) endpos=7")
    assert r.data == "f(x) = (a) b) (c)"
    assert r.extra == (("endpos", "7"),)
    assert r.raw == "200 result=1 (f(x) = (a) b) (c)) endpos=7"
    assert r.lines == (r.raw,)
    r = parse_reply(b"200 result=1 (127.0.0.1:5060)\r\n")
    assert r.data == "127.0.0.1:5060"
    assert r.raw == "200 result=1 (127.0.0.1:5060)"


def test_reply_510_511_520_single() -> None:
    r = parse_reply("510 Invalid or unknown command")
    assert (r.code, r.message, r.ok, r.result) == (510, "Invalid or unknown command", False, None)
    r = parse_reply("511 Command Not Permitted on a dead channel or intercept routine")
    assert r.code == 511
    assert r.message == "Command Not Permitted on a dead channel or intercept routine"
    r = parse_reply("520 Invalid command syntax.  Proper usage not available.")
    assert (r.code, r.usage) == (520, "")


USAGE_520 = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: SET VARIABLE <variablename> <value>\n"
    b"\n"
    b"200 result=1 is not a reply here\n"
    b"HANGUP\n"
    b"520 End of proper usage.\n"
)


def test_reply_520_multiline_is_one_reply() -> None:
    parser = ReplyParser()
    events = parser.feed(USAGE_520)
    assert len(events) == 1
    r = events[0]
    assert isinstance(r, Reply)
    assert r.code == 520
    assert r.message == "Invalid command syntax.  Proper usage follows:"
    assert len(r.lines) == 6
    assert r.lines[0].startswith("520-")
    assert r.lines[-1] == "520 End of proper usage."
    assert r.usage == (
        " Usage: SET VARIABLE <variablename> <value>\n\n200 result=1 is not a reply here\nHANGUP"
    )
    assert parser.idle


def test_reply_520_block_split_anywhere() -> None:
    whole = ReplyParser().feed(USAGE_520)
    for cut in range(1, len(USAGE_520)):
        parser = ReplyParser()
        first = parser.feed(USAGE_520[:cut])
        assert first == []
        assert parser.feed(USAGE_520[cut:]) == whole


def test_reply_520_block_is_capped() -> None:
    parser = ReplyParser(max_block_lines=5)
    with pytest.raises(AgiProtocolError, match="longer than 5 lines"):
        parser.feed(b"520-usage\n" + b"x\n" * 10)


def test_reply_520_block_is_capped_in_bytes() -> None:
    parser = ReplyParser(max_block_bytes=1000)
    assert parser.feed(b"520-usage\n" + b"x" * 900 + b"\n") == []
    with pytest.raises(AgiProtocolError, match="longer than 1000 bytes"):
        parser.feed(b"y" * 200 + b"\n")


def test_hangup_before_and_instead_of_replies() -> None:
    parser = ReplyParser()
    assert parser.feed(b"HANGUP\n") == [HANGUP]
    assert parser.idle
    events = parser.feed(
        b"HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n"
    )
    assert events[0] == HANGUP
    assert isinstance(events[0], Hangup)
    assert isinstance(events[1], Reply)
    assert events[1].code == 511
    events = parser.feed(b"200 result=1\r\nHANGUP\r\n200 result=1 (x)\r\n")
    assert [type(e).__name__ for e in events] == ["Reply", "Hangup", "Reply"]
    # HANGUP split across reads, then the awaited reply.
    assert parser.feed(b"HANG") == []
    assert not parser.idle
    assert parser.feed(b"UP\n200 res") == [HANGUP]
    assert parser.feed(b"ult=0\n") == [parse_reply("200 result=0")]


def test_feed_line_direct() -> None:
    parser = ReplyParser()
    assert parser.feed_line("HANGUP") == HANGUP
    assert parser.feed_line("520-Invalid command syntax.  Proper usage follows:") is None
    assert parser.feed_line("usage") is None
    reply = parser.feed_line("520 End of proper usage.\n")
    assert isinstance(reply, Reply)
    assert reply.usage == "usage"


@pytest.mark.parametrize(
    "line",
    [
        "hangup",
        "HANGUP now",
        "200 result=x",
        "200 result=1 (unclosed",
        "200 result=1 junk",
        "200 ok",
        "201 result=1",
        "500 Internal error",
        "510",
        "",
        "agi_channel: PJSIP/x",
        'SET VARIABLE "A" "B"',
    ],
)
def test_reply_garbage(line: str) -> None:
    with pytest.raises(AgiProtocolError, match="not an AGI reply") as err:
        ReplyParser().feed(line.encode() + b"\n")
    assert err.value.line == line


def test_reply_line_cap() -> None:
    parser = ReplyParser()
    with pytest.raises(AgiProtocolError, match="longer than 8192 bytes"):
        parser.feed(b"200 result=1 (" + b"x" * 9000)


def test_parse_reply_exactly_one() -> None:
    with pytest.raises(AgiProtocolError, match="exactly one"):
        parse_reply("HANGUP")
    with pytest.raises(AgiProtocolError, match="exactly one"):
        parse_reply("200 result=1\n200 result=1\n")
    with pytest.raises(AgiProtocolError, match="incomplete"):
        parse_reply("520-Invalid command syntax.  Proper usage follows:\nusage\n")
