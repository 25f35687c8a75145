"""Unit tests of messages: lines, framings, matching, computed replies and rules.

Like test_script.py, the script is fed by hand: no reactor, no sockets, no
clock. Each framing is checked for matching however TCP splits the bytes.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tcpclient.core.framings import DEFAULT_MAX_LENGTH, decoder_for
from pytest_tcpclient.core.matching import Received, as_matcher
from pytest_tcpclient.core.rules import Rule
from pytest_tcpclient.core.script import Close, Script, StartTimer, Write
from pytest_tcpclient.core.steps import (
    End,
    ExpectBytes,
    ExpectConnect,
    ExpectDisconnect,
    ExpectFrame,
    ExpectLine,
    Pause,
    SendBytes,
    SendFrame,
    SendLine,
)
from pytest_tcpclient.framing import FrameDecoder, LengthPrefixed, Lines, Netstring

T = 1.0
FIRST, SECOND = "first", "second"
CONNECT = "the client connects"
RECONNECT = "the client connects again"
CLOSE = "the client closes the first connection"
CLOSE_SECOND = "the client closes the second connection"
TIMEOUT = "the timer runs out"

_EVENTS = {
    CONNECT: lambda script: script.connection_made(FIRST),
    RECONNECT: lambda script: script.connection_made(SECOND),
    CLOSE: lambda script: script.connection_lost(FIRST, True),
    CLOSE_SECOND: lambda script: script.connection_lost(SECOND, True),
    TIMEOUT: lambda script: script.timed_out(),
}

hypothesis_settings = settings(database=None, deadline=None)


def feed(script, *events, on=FIRST):
    """Play ``events``: a step or rule is declared, bytes arrive on ``on``."""
    actions = []
    for event in events:
        if isinstance(event, bytes):
            actions += script.data_received(on, event)
        elif isinstance(event, str):
            actions += _EVENTS[event](script)
        elif isinstance(event, Rule):
            actions += script.add_rule(event)
        else:
            actions += script.add(event)
    return actions


def play(*events):
    script = Script()
    feed(script, *events)
    return script


def sent(actions):
    return b"".join(action.data for action in actions if isinstance(action, Write))


@st.composite
def segments(draw, stream):
    """``stream`` cut into non-empty segments at random places."""
    cuts = draw(st.sets(st.integers(1, len(stream) - 1))) if len(stream) > 1 else set()
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[start:end] for start, end in pairwise(bounds)]


class Resp:
    """A RESP command parser, as a user writes one: an array of bulk strings,
    ``*<n>\\r\\n`` then ``$<len>\\r\\n<bytes>\\r\\n`` each; the payload is the
    arguments joined by spaces."""

    def encode(self, payload: bytes) -> bytes:
        words = payload.split(b" ")
        return b"*%d\r\n" % len(words) + b"".join(
            b"$%d\r\n%s\r\n" % (len(w), w) for w in words
        )

    def decode(self, data: bytes):
        if not data.startswith(b"*") or b"\r\n" not in data:
            return None
        header, _, rest = data.partition(b"\r\n")
        words, used = [], len(header) + 2
        for _ in range(int(header[1:])):
            size_line, found, _ = rest.partition(b"\r\n")
            if not found:
                return None
            size = int(size_line[1:])
            start = len(size_line) + 2
            if len(rest) < start + size + 2:
                return None
            words.append(rest[start : start + size])
            rest = rest[start + size + 2 :]
            used += start + size + 2
        return b" ".join(words), used


FRAMINGS = [
    LengthPrefixed(),
    LengthPrefixed(1),
    LengthPrefixed(2, "little"),
    LengthPrefixed(8),
    Netstring(),
    Lines(),
    Lines(b"\n"),
    Resp(),  # a framing of the user's own
]
framings = st.sampled_from(FRAMINGS)
"""Every framing, drawn by hypothesis (pytest-twisted cannot run a hypothesis
test that is also parametrized)."""

words = st.binary(min_size=1, max_size=8).filter(lambda w: b" " not in w and b"\n" not in w)
payloads = st.lists(words, min_size=1, max_size=4).map(b" ".join)
"""Payloads every framing above can carry (no newline, no empty RESP word)."""


# -- framings ---------------------------------------------------------------------------


@hypothesis_settings
@given(framing=framings, frames=st.lists(payloads, max_size=5), data=st.data())
def test_a_frame_decoder_returns_the_payloads_however_split(framing, frames, data):
    stream = b"".join(framing.encode(p) for p in frames)
    decoder = FrameDecoder(framing)
    found = []
    for segment in data.draw(segments(stream)) if stream else []:
        found += decoder.feed(segment)
    assert found == frames
    assert decoder.pending == 0


@hypothesis_settings
@given(framing=framings, frames=st.lists(payloads, min_size=1, max_size=4), data=st.data())
def test_expect_frame_matches_however_split_declared_before_or_after(framing, frames, data):
    steps = [ExpectFrame(p, T, framing) for p in frames]
    before = data.draw(st.integers(0, len(steps)))
    script = play(ExpectConnect(T), *steps[:before], CONNECT)
    stream = b"".join(framing.encode(p) for p in frames)
    feed(script, *data.draw(segments(stream)), *steps[before:])
    assert script.failure is None
    assert script.completed == len(steps) + 1
    assert [r.data for r in script.received] == frames


@hypothesis_settings
@given(framing=framings, frames=st.lists(payloads, min_size=1, max_size=4), data=st.data())
def test_patterns_match_decoded_frames_however_split(framing, frames, data):
    steps = [ExpectFrame(re.compile(re.escape(p)), T, framing) for p in frames]
    script = play(ExpectConnect(T), *steps, CONNECT)
    stream = b"".join(framing.encode(p) for p in frames)
    feed(script, *data.draw(segments(stream)))
    assert script.failure is None
    assert [r.data for r in script.received] == frames


@pytest.mark.parametrize(
    ("framing", "payload", "wire"),
    [
        (LengthPrefixed(), b"hi", b"\x00\x00\x00\x02hi"),
        (LengthPrefixed(1), b"hi", b"\x02hi"),
        (LengthPrefixed(2, "little"), b"hi", b"\x02\x00hi"),
        (LengthPrefixed(8), b"", bytes(8)),
        (Netstring(), b"hello", b"5:hello,"),
        (Netstring(), b"", b"0:,"),
        (Lines(), b"EHLO x", b"EHLO x\r\n"),
        (Lines(b"\0"), b"a", b"a\0"),
    ],
)
def test_the_built_in_framings_encode_and_decode(framing, payload, wire):
    assert framing.encode(payload) == wire
    assert framing.decode(wire + b"more") == (payload, len(wire))
    assert framing.decode(wire[:-1]) is None


def test_a_netstrings_length_may_arrive_digit_by_digit():
    step = ExpectFrame(re.compile(b"x*"), T, Netstring())
    script = play(ExpectConnect(T), CONNECT, step)
    feed(script, b"1", b"2", b":", b"x" * 12, b",")
    assert script.failure is None
    assert [r.data for r in script.received] == [b"x" * 12]


@pytest.mark.parametrize("framing", [LengthPrefixed(), Netstring(), Lines(), Resp()])
def test_a_decoder_keeps_the_size_of_its_message_once_whole(framing):
    wire = framing.encode(b"hi")
    decoder = decoder_for(framing)
    assert decoder.feed(wire + b"next") == len(wire)
    assert decoder.feed(b"more bytes") == len(wire)  # the message is still that one


@pytest.mark.parametrize(
    ("framing", "data", "error"),
    [
        (Netstring(), b"x:", "is not a decimal number"),
        (Netstring(), b"01:a,", "has a leading zero"),
        (Netstring(), b":", "no length before b':'"),
        (Netstring(), b"1:ab", "ends with b'b', not b','"),
        (Netstring(), b"1" * 21, "no b':' after 20 digits"),
        (Lines(max_length=3), b"abcde", "more than 3 bytes without b'\\r\\n'"),
    ],
)
def test_bytes_that_are_not_a_message_are_a_framing_error(framing, data, error):
    from pytest_tcpclient.framing import FramingError

    with pytest.raises(FramingError, match=re.escape(error)):
        framing.decode(data)


def test_a_line_of_max_length_passes_and_one_byte_more_fails():
    lines = Lines(max_length=3)
    assert lines.decode(b"abc\r\n") == (b"abc", 5)
    assert lines.decode(b"abc\r") is None  # the delimiter may be coming
    with pytest.raises(Exception, match="more than 3 bytes"):
        lines.decode(b"abcd\r\n")


@pytest.mark.parametrize(
    ("make", "exception", "message"),
    [
        (lambda: LengthPrefixed(3), ValueError, "'size' must be 1, 2, 4 or 8, not 3"),
        (lambda: LengthPrefixed("4"), TypeError, "'size' must be int, not str"),
        (lambda: LengthPrefixed(4, "middle"), ValueError, "'byteorder' must be 'big'"),
        (lambda: Lines(b""), ValueError, "'delimiter' must not be empty"),
        (lambda: Lines("\n"), TypeError, "'delimiter' must be bytes"),
        (lambda: Lines(max_length=0), ValueError, "'max_length' must be 1 or more"),
        (lambda: Lines(max_length="1"), TypeError, "'max_length' must be int, not str"),
        (lambda: LengthPrefixed(1).encode(bytes(256)), ValueError, "the limit is 255"),
    ],
)
def test_framing_arguments_are_checked(make, exception, message):
    with pytest.raises(exception, match=re.escape(message)):
        make()


# -- lines ----------------------------------------------------------------------------


@hypothesis_settings
@given(lines=st.lists(payloads, min_size=1, max_size=4), data=st.data())
def test_expect_line_matches_however_split(lines, data):
    script = play(ExpectConnect(T), *(ExpectLine(line, T) for line in lines), CONNECT)
    feed(script, *data.draw(segments(b"".join(line + b"\r\n" for line in lines))))
    assert script.failure is None
    assert [r.data for r in script.received] == lines


def where(function):
    """How a diagnostic names ``function``."""
    return f"{function.__name__} (test_messages.py:{function.__code__.co_firstlineno})"


def is_login(data):
    assert b"user" in data
    return True


def refuses(data):
    return None


def explodes(data):
    raise ValueError("boom")


LINE_FAILURES = [
    pytest.param(
        [ExpectLine(b"EHLO x", T), b"EHLO y\r\n"],
        "Expected a line b'EHLO x' but received b'EHLO y'",
        id="another line",
    ),
    pytest.param(
        [ExpectLine(b"EHLO x", T), b"EHLP"],
        "Expected a line b'EHLO x' but received b'EHLP' (no b'\\r\\n' yet)",
        id="a wrong byte, at once",
    ),
    pytest.param(
        [ExpectLine(re.compile(rb"GET \w+"), T), b"PUT x\r\n"],
        "Expected a line matching re.compile(b'GET \\\\w+') but received b'PUT x'",
        id="a pattern",
    ),
    pytest.param(
        [ExpectLine(is_login, T), b"guest\r\n"],
        f"Expected a line accepted by {where(is_login)} but received b'guest': "
        "assert b'user' in b'guest'",
        id="a callable's assert",
    ),
    pytest.param(
        [ExpectLine(refuses, T), b"x\r\n"],
        f"Expected a line accepted by {where(refuses)} but received b'x': it returned None",
        id="a callable's false result",
    ),
    pytest.param(
        [ExpectLine(explodes, T), b"x\r\n"],
        f"Expected a line accepted by {where(explodes)} but received b'x': "
        f"{where(explodes)} raised ValueError: boom",
        id="a callable's error",
    ),
    pytest.param(
        [ExpectLine(bytes.isdigit, T), b"abc\r\n"],
        "Expected a line accepted by bytes.isdigit but received b'abc': it returned False",
        id="a callable with no code of its own",
    ),
    pytest.param(
        [ExpectLine(re.compile(rb"GET \w+"), T), b"GE", CLOSE],
        "Expected a line matching re.compile(b'GET \\\\w+') but the client closed the "
        "connection after b'GE'",
        id="closed early",
    ),
    pytest.param(
        [ExpectLine(re.compile(rb".*"), T, max_length=4), b"abcdef"],
        "Expected a line matching re.compile(b'.*') but received b'abcdef', which is not "
        "a line: more than 4 bytes without b'\\r\\n'",
        id="too long",
    ),
    pytest.param(
        [ExpectLine(b"EHLO x", T), b"EHL", TIMEOUT],
        "Timed out waiting for a line b'EHLO x'",
        id="timed out",
    ),
]


@pytest.mark.parametrize(("events", "summary"), LINE_FAILURES)
def test_the_first_line_of_each_line_diagnostic(events, summary):
    script = play(ExpectConnect(T), CONNECT, *events)
    assert script.failure is not None
    assert script.failure.summary == summary


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(ExpectLine(b"EHLO x", T), id="exact"),
        pytest.param(ExpectLine(re.compile(rb"EHLO \w"), T), id="pattern"),
    ],
)
def test_an_unterminated_line_times_out_with_what_arrived_and_the_missing_delimiter(step):
    failure = play(ExpectConnect(T), CONNECT, step, b"EHL", TIMEOUT).failure
    assert failure.summary.startswith("Timed out waiting for a line")
    assert failure.details == ["Received only b'EHL' (no b'\\r\\n' yet)"]


def test_a_line_with_another_delimiter():
    script = play(ExpectConnect(T), CONNECT, ExpectLine(b"a", T, delimiter=b"\n"))
    assert sent(feed(script, b"a\n", SendLine(b"b", b"\n"))) == b"b\n"
    assert script.failure is None
    assert str(script.steps[-1]) == "send_line(b'b', delimiter=b'\\n')"


@pytest.mark.parametrize(
    "segments",
    [[b"abcdeEND"], [b"abcdeE", b"ND"], [b"abcde", b"END"]],
    ids=["in one segment", "the delimiter split", "the delimiter in the next segment"],
)
def test_a_line_too_long_fails_however_its_delimiter_is_split(segments):
    step = ExpectLine(re.compile(b".*"), T, delimiter=b"END", max_length=4)
    script = play(ExpectConnect(T), CONNECT, step, *segments)
    assert script.failure.summary == (
        "Expected a line matching re.compile(b'.*') but received b'abcdeEND', which is "
        "not a line: more than 4 bytes without b'END'"
    )


def test_the_default_line_length_limit_is_64_kib():
    assert DEFAULT_MAX_LENGTH == 64 * 1024
    assert ExpectLine(re.compile(b"."), T).framing.max_length == 64 * 1024


# -- computed replies and what was received ---------------------------------------------


def test_a_computed_reply_gets_the_message_the_last_expect_step_matched():
    script = play(
        ExpectConnect(T),
        CONNECT,
        ExpectLine(re.compile(rb"GET (?P<key>\w+)"), T),
        SendLine(lambda received: b"VALUE " + received["key"]),
        SendBytes(lambda received: received.data.lower()),
    )
    assert sent(feed(script, b"GET foo\r\n")) == b"VALUE foo\r\nget foo"
    assert script.failure is None
    [received] = script.received
    assert (received.data, received.match[1]) == (b"GET foo", b"foo")


def test_a_computed_reply_before_any_message_gets_none():
    script = play(ExpectConnect(T), CONNECT)
    assert (
        sent(feed(script, SendBytes(lambda received: repr(received).encode()))) == b"None"
    )


@pytest.mark.parametrize(
    ("reply", "summary"),
    [
        (lambda r: r["nope"], "raised KeyError"),
        (lambda r: "text", "returned 'text' (str), not bytes"),
    ],
)
def test_a_reply_that_raises_or_returns_no_bytes_fails_the_script(reply, summary):
    script = play(ExpectConnect(T), CONNECT, ExpectLine(b"x", T), b"x\r\n", SendLine(reply))
    assert summary in script.failure.summary
    assert script.failure.summary.startswith("<lambda> (test_messages.py:")


def test_a_group_the_pattern_does_not_have_is_a_key_error():
    step = ExpectLine(re.compile(rb"GET (?P<key>\w+)( now)?"), T)
    script = play(ExpectConnect(T), CONNECT, step, b"GET a\r\n")
    [received] = script.received
    assert (received["key"], received[2]) == (b"a", b"")  # a group that took nothing
    with pytest.raises(KeyError, match="'value': the pattern has no such group"):
        received["value"]
    with pytest.raises(KeyError, match="3: the pattern has no such group"):
        received[3]


def test_received_messages_are_equal_by_their_data():
    received = Received(b"GET", re.compile(rb"\w+").fullmatch(b"GET"))
    assert received == Received(b"GET")
    assert hash(received) == hash(Received(b"GET"))
    assert received != Received(b"PUT")
    assert received != b"GET"  # a message, not its bytes
    assert repr(received) == "Received(b'GET')"


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (b"EHLO", "line b'EHLO'"),
        (re.compile(b"EHLO .*"), "a line matching re.compile(b'EHLO .*')"),
        (is_login, f"a line accepted by {where(is_login)}"),
    ],
    ids=["exact", "pattern", "callable"],
)
def test_each_matcher_says_what_it_expects(match, expected):
    assert as_matcher(match, "match").describe("line") == expected


def test_a_named_group_of_a_message_matched_without_a_pattern_is_a_key_error():
    script = play(ExpectConnect(T), CONNECT, ExpectLine(b"x", T), b"x\r\n")
    with pytest.raises(KeyError, match="was not matched by a pattern"):
        script.received[0]["key"]


# -- frames of other framings --------------------------------------------------------------


def test_frames_of_a_framing_of_the_users_own_with_a_callable():
    resp = Resp()
    script = play(
        ExpectConnect(T),
        CONNECT,
        ExpectFrame(lambda command: command.startswith(b"SET "), T, resp),
        SendFrame(b"OK", resp),
    )
    assert sent(feed(script, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n", b"$1\r\nv\r\n")) == (
        b"*1\r\n$2\r\nOK\r\n"
    )
    assert script.failure is None
    assert script.received[0].data == b"SET k v"


class Shouting(LengthPrefixed):
    """A framing of the user's own built on a built-in one: its messages carry
    the payload upper-cased, which decode() gives back lower-cased."""

    def encode(self, payload):
        return super().encode(payload.upper())

    def decode(self, data):
        decoded = super().decode(data)
        return None if decoded is None else (decoded[0].lower(), decoded[1])


def test_a_subclass_of_a_built_in_framing_encodes_and_decodes_its_own_way():
    shouting = Shouting()
    script = play(
        ExpectConnect(T),
        CONNECT,
        ExpectFrame(b"ping", T, shouting),
        SendFrame(b"pong", shouting),
    )
    assert sent(feed(script, b"\x00\x00", b"\x00\x04PING")) == b"\x00\x00\x00\x04PONG"
    assert script.failure is None
    assert script.received[0].data == b"ping"


class Trimmed(Lines):
    """A framing of the user's own that changes only what a line's payload
    is: the line without the spaces around it."""

    def payload(self, message):
        return super().payload(message).strip()


def test_a_subclass_of_a_built_in_framing_that_changes_its_payload_is_matched_by_it():
    trimmed = Trimmed()
    script = play(ExpectConnect(T), CONNECT, ExpectFrame(b"hi", T, trimmed))
    feed(script, b"  hi \r\n")
    assert script.failure is None
    assert script.received[0].data == b"hi"


class Broken:
    def encode(self, payload):
        return payload

    def decode(self, data):
        raise ValueError("not today")


class Greedy(Broken):
    def decode(self, data):
        return data, len(data) + 5


class Stringy(Broken):
    def decode(self, data):
        return data.decode(), len(data)


@pytest.mark.parametrize(
    ("framing", "summary"),
    [
        (Broken(), "Broken.decode() raised ValueError: not today"),
        (Greedy(), "Greedy.decode() said the message took 6 bytes, of the 1 it was given"),
        (Stringy(), "Stringy.decode() returned a payload of str, not bytes"),
    ],
)
def test_a_framing_that_raises_or_lies_fails_the_script(framing, summary):
    script = play(
        ExpectConnect(T), CONNECT, ExpectFrame(re.compile(b"."), T, framing), b"x"
    )
    assert summary in script.failure.summary


def test_an_exact_frame_of_another_framing_fails_at_the_first_wrong_byte():
    script = play(ExpectConnect(T), CONNECT, ExpectFrame(b"hello", T, Netstring()), b"5:hx")
    assert script.failure.summary == (
        "Expected frame b'hello' but received an incomplete frame b'5:hx'"
    )


# -- rules ------------------------------------------------------------------------------


def line_rule(match, reply=None, times=None, delimiter=b"\r\n"):
    return Rule.line(match, reply, delimiter, times)


HANDSHAKE = [
    line_rule(re.compile(rb"HELLO \d"), b"+OK"),
    line_rule(re.compile(rb"CLIENT SETINFO .*"), b"+OK"),
]


@pytest.mark.parametrize(
    "order",
    [
        [b"HELLO 3\r\n", b"CLIENT SETINFO LIB-VER 8.1.0\r\n"],
        [b"CLIENT SETINFO LIB-NAME x\r\nCLIENT SETINFO LIB-VER 9\r\n", b"HELLO 2\r\n"],
        [],
    ],
    ids=["in order", "another order", "no handshake"],
)
def test_rules_answer_a_handshake_in_any_order_before_the_step(order):
    rules = [line_rule(r.matcher.pattern, b"+OK") for r in HANDSHAKE]
    script = play(*rules, ExpectConnect(T), CONNECT, ExpectLine(b"PING", T))
    replies = sent(feed(script, *order, b"PING\r\n", SendLine(b"+PONG")))
    assert script.failure is None
    assert replies == b"+OK\r\n" * sum(m.count(b"\r\n") for m in order) + b"+PONG\r\n"
    assert [r.data for r in script.received] == [b"PING"]  # rules add nothing


@hypothesis_settings
@given(data=st.data())
def test_rules_and_steps_share_the_stream_however_split(data):
    stream = b"PING\r\nGET a\r\nPING\r\nPING\r\nGET b\r\n"
    rule = line_rule(b"PING", b"PONG")
    steps = [ExpectLine(re.compile(rb"GET (\w)"), T), SendLine(lambda r: r.match[1])] * 2
    script = play(rule, ExpectConnect(T), CONNECT, *steps)
    replies = sent(feed(script, *data.draw(segments(stream))))
    assert script.failure is None
    assert rule.count == 3
    assert sorted(replies.split(b"\r\n")) == sorted([b"PONG"] * 3 + [b"a", b"b", b""])


def test_a_rule_answers_while_expect_disconnect_waits_and_after_the_last_step():
    rule = line_rule(b"NOOP", b"250 OK")
    script = play(rule, ExpectConnect(T), CONNECT)
    assert sent(feed(script, b"NOOP\r\n")) == b"250 OK\r\n"  # idle: no step left
    assert sent(feed(script, ExpectDisconnect(T), b"NOOP\r\nNO")) == b"250 OK\r\n"
    assert script.failure is None  # "NO" may still become a NOOP
    feed(script, b"OP\r\n", CLOSE, End())
    assert script.failure is None
    assert rule.count == 3


def test_a_message_no_rule_takes_fails_the_step_as_today():
    script = play(line_rule(b"PING"), ExpectConnect(T), CONNECT, ExpectDisconnect(T))
    feed(script, b"PONG\r\n")
    assert script.failure.summary == (
        "Expected the client to close the connection, but it sent b'PONG\\r\\n'"
    )


def test_a_rule_with_times_takes_no_more_and_teardown_checks_the_count():
    rule = line_rule(b"PING", b"PONG", times=2)
    script = play(rule, ExpectConnect(T), CONNECT, ExpectDisconnect(T))
    assert sent(feed(script, b"PING\r\n")) == b"PONG\r\n"
    feed(script, CLOSE, End())
    assert script.failure.summary == (
        "Expected on_line(b'PING') to answer 2 times, but it answered 1 time"
    )
    rule = line_rule(b"PING", b"PONG", times=2)
    script = play(rule, ExpectConnect(T), CONNECT, ExpectDisconnect(T))
    feed(script, b"PING\r\nPING\r\nPING\r\n")  # the third is stray: the step fails
    assert rule.count == 2
    assert script.failure.summary == (
        "Expected the client to close the connection, but it sent b'PING\\r\\n'"
    )


def test_times_zero_means_never():
    rule = line_rule(b"QUIT", b"221", times=0)
    script = play(rule, ExpectConnect(T), CONNECT, ExpectDisconnect(T), b"QUIT\r\n")
    assert rule.count == 0
    assert script.failure is not None
    script = play(rule, ExpectConnect(T), CONNECT, ExpectDisconnect(T), CLOSE, End())
    assert script.failure is None


def test_a_rule_without_a_reply_swallows_the_message():
    rule = line_rule(re.compile(rb"HEARTBEAT \d+"))
    script = play(rule, ExpectConnect(T), CONNECT, ExpectLine(b"x", T))
    assert sent(feed(script, b"HEARTBEAT 1\r\nx\r\nHEARTBEAT 2\r\n")) == b""
    assert rule.count == 2
    assert script.failure is None


def test_a_computed_rule_reply_gets_the_message_the_rule_matched():
    rule = line_rule(re.compile(rb"ECHO (?P<what>.*)"), lambda r: r["what"])
    script = play(rule, ExpectConnect(T), CONNECT)
    assert sent(feed(script, b"ECHO hi\r\n")) == b"hi\r\n"
    assert script.received == []


def test_rules_apply_to_a_reconnection():
    rule = line_rule(b"PING", b"PONG")
    script = play(rule, ExpectConnect(T), CONNECT, ExpectDisconnect(T), CLOSE)
    feed(script, ExpectConnect(T), RECONNECT)
    assert sent(feed(script, b"PING\r\n", on=SECOND)) == b"PONG\r\n"
    assert [
        a.connection for a in feed(script, SendBytes(b"x")) if isinstance(a, Write)
    ] == [SECOND]


def test_a_frame_rule_decodes_with_its_own_framing_from_the_same_position():
    rule = Rule.frame(b"ping", b"pong", Netstring(), None)
    script = play(rule, ExpectConnect(T), CONNECT, ExpectLine(b"bye", T))
    assert sent(feed(script, b"4:ping,bye\r\n")) == b"4:pong,"
    assert script.failure is None


def test_a_rule_whose_framing_raises_fails_the_script():
    rule = Rule.frame(re.compile(b"."), None, Broken(), None)
    script = play(rule, ExpectConnect(T), CONNECT, b"x")
    assert script.failure.summary == (
        "on_frame(re.compile(b'.'), framing=Broken()): Broken.decode() raised "
        "ValueError: not today"
    )
    assert Close(FIRST) not in feed(script, b"y")  # closed once, already


def test_the_idle_timer_runs_on_while_rules_answer():
    script = Script(idle_timeout=2.0)
    feed(script, line_rule(b"PING", b"PONG"), ExpectConnect(T))
    assert feed(script, CONNECT)[-1] == StartTimer(2.0)
    assert feed(script, b"PING\r\n") == [Write(FIRST, b"PONG\r\n")]  # no new timer


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exception", "message"),
    [
        (
            lambda: ExpectLine(42, T),
            TypeError,
            "expect_line() argument 'match' must be bytes",
        ),
        (
            lambda: ExpectLine(re.compile("x"), T),
            TypeError,
            "expect_line() argument 'match' must be a bytes pattern, not a str pattern",
        ),
        (
            lambda: ExpectLine(b"x", T, delimiter=b""),
            ValueError,
            "'delimiter' must not be empty",
        ),
        (
            lambda: ExpectFrame(b"x", T, object()),
            TypeError,
            "argument 'framing' must be a framing",
        ),
        (
            lambda: ExpectFrame(bytes(256), T, LengthPrefixed(1)),
            ValueError,
            "expect_frame() argument 'match' is 256 bytes long; the limit is 255 bytes",
        ),
        (
            lambda: SendFrame(bytes(256), LengthPrefixed(1)),
            ValueError,
            "send_frame() argument 'payload' is 256 bytes long; the limit is 255 bytes",
        ),
        (lambda: SendLine("text"), TypeError, "send_line() argument 'data' must be bytes"),
        (
            lambda: line_rule(b"x", times=-1),
            ValueError,
            "argument 'times' must be 0 or more",
        ),
        (
            lambda: line_rule(b"x", times=True),
            TypeError,
            "argument 'times' must be int or None",
        ),
        (lambda: line_rule(b"x", reply="ok"), TypeError, "on_line() argument 'reply'"),
        (
            lambda: Rule.frame(b"x", bytes(256), LengthPrefixed(1), None),
            ValueError,
            "on_frame() argument 'reply' is 256 bytes long",
        ),
    ],
)
def test_bad_arguments_are_refused_at_the_call_naming_them(make, exception, message):
    with pytest.raises(exception, match=re.escape(message)):
        make()


# -- found in review -------------------------------------------------------------


def test_a_send_that_fails_while_a_rule_waits_for_more_fails_at_once():
    """User code that fails is no message a rule could take: no waiting."""
    rule = line_rule(b"PING", b"PONG")
    script = play(rule, ExpectConnect(T), CONNECT, ExpectLine(b"HELLO", T))
    feed(script, SendLine(lambda received: 1 / 0), b"HELLO\r\nPI")
    assert "raised ZeroDivisionError" in script.failure.summary


class Texty(Broken):
    def decode(self, data):
        return data[:1], 1

    def encode(self, payload):
        return payload.decode()


def test_a_framing_whose_encode_returns_no_bytes_fails_the_script():
    script = play(ExpectConnect(T), CONNECT, SendFrame(b"xyz", Texty()))
    assert script.failure.summary == "Texty.encode() returned 'xyz' (str), not bytes"
    rule = Rule.frame(b"x", b"y", Texty(), None)
    script = play(rule, ExpectConnect(T), CONNECT, b"x")
    assert script.failure.summary == (
        "on_frame(b'x', framing=Texty()): Texty.encode() returned 'y' (str), not bytes"
    )


def test_a_timeout_shows_what_a_waiting_rule_left_unread():
    rule = Rule.frame(b"ping", b"pong", None, None)  # reads any 4 bytes as a header
    script = play(rule, ExpectConnect(T), CONNECT, ExpectLine(b"HELLO", T))
    feed(script, b"HELO there\r\n")
    assert script.failure is None  # the rule waits for the rest of its frame
    feed(script, TIMEOUT)
    assert script.failure.details == [
        "Unread: b'HELO there\\r\\n', which no step or rule has taken "
        "(a rule may wait for the rest of a message)"
    ]


class CountingBytes(bytes):
    """Bytes that count how many bytes ``find`` scans."""

    scanned = 0

    def find(self, sub, start=0, end=None):
        found = super().find(sub, start, end)
        end = len(self) if end is None else min(end, len(self))
        CountingBytes.scanned += (found + len(sub) if found >= 0 else end) - start
        return found


def test_lines_pipelined_in_one_segment_are_read_in_linear_time():
    count = 2000
    lines = [b"GET %d" % i for i in range(count)]
    rule = line_rule(b"PING", b"PONG")
    script = play(
        rule,
        ExpectConnect(T),
        CONNECT,
        *(ExpectLine(re.compile(line), T) for line in lines),
    )
    segment = CountingBytes(b"".join(line + b"\r\n" for line in lines))
    CountingBytes.scanned = 0
    feed(script, segment)
    assert script.failure is None
    assert CountingBytes.scanned <= 3 * len(segment)  # not once per line left


def test_an_exact_line_that_differs_deep_inside_shows_where():
    expected = b"A" * 100 + b"blue" + b"B" * 100
    script = play(ExpectConnect(T), CONNECT, ExpectLine(expected, T))
    feed(script, expected.replace(b"blue", b"blew") + b"\r\n")
    [around] = script.failure.details
    assert around.startswith("From offset 86: expected b'AAAAAAAAAAAAAAblue")
    assert "but received b'AAAAAAAAAAAAAAblew" in around


def test_a_line_expected_exactly_may_not_hold_the_delimiter():
    with pytest.raises(ValueError, match=r"argument 'match' holds the delimiter"):
        ExpectLine(b"a\r\nb", T)


def test_a_stray_message_names_the_rule_that_answered_all_it_may():
    rule = line_rule(b"HB", b"ok", times=1)
    script = play(rule, ExpectConnect(T), CONNECT, ExpectLine(b"SUB news", T))
    feed(script, b"HB\r\nHB\r\n")
    assert script.failure.summary == "Expected a line b'SUB news' but received b'HB'"
    assert script.failure.details == [
        "on_line(b'HB') would take it, but it already answered its 1 time"
    ]


class Liar(Broken):
    def decode(self, data):
        return data  # bytes, not (payload, size)


def test_a_decode_that_returns_no_decoding_fails_the_script_step_and_rule():
    script = play(ExpectConnect(T), CONNECT, ExpectFrame(re.compile(b"."), T, Liar()), b"x")
    assert script.failure.summary == (
        "Liar.decode() returned b'x', not (payload, size) or None"
    )
    script = play(Rule.frame(b"x", None, Greedy(), None), ExpectConnect(T), CONNECT, b"x")
    assert script.failure.summary == (
        "on_frame(b'x', framing=Greedy()): Greedy.decode() said the message took "
        "6 bytes, of the 1 it was given"
    )


def test_a_netstring_that_ends_badly_is_not_a_frame_whatever_the_matcher():
    step = ExpectFrame(re.compile(b"abc"), T, Netstring())
    script = play(ExpectConnect(T), CONNECT, step, b"3:abc;")
    assert script.failure.summary == (
        "Expected a frame matching re.compile(b'abc') but received b'3:abc;', which "
        "is not a frame: it ends with b';', not b','"
    )


def test_reading_the_inbox_stops_at_the_next_event():
    from pytest_tcpclient.core.inbox import Closed, Inbox

    inbox = Inbox()
    inbox.push(b"PI")
    inbox.push(Closed(True))
    inbox.push(b"NG")
    assert [bytes(s[o:]) for s, o in inbox.read(0)] == [b"PI"]
    assert list(inbox.read(2)) == []
    assert inbox.available() == 2


def test_matching_the_inbox_takes_what_continues_the_expected_bytes():
    from pytest_tcpclient.core.inbox import Closed, Inbox

    inbox = Inbox()
    inbox.push(b"HE")
    inbox.push(b"LLO wo")
    assert inbox.match(b"HELLO", 0) == (5, True)  # ends inside a segment
    assert (inbox.position, inbox.peek(10)) == (5, b" wo")
    inbox.push(Closed(True))
    inbox.push(b"rld")
    assert inbox.match(b"world", 1) == (1, False)  # b" wo" does not continue b"w"
    assert inbox.match(b" world", 0) == (3, True)  # stops at the event
    assert (inbox.position, inbox.next_event()) == (8, Closed(True))

    inbox = Inbox()
    inbox.push(b"AB")
    inbox.push(b"XD")
    assert inbox.match(b"ABCD", 0) == (2, False)  # the segment that differs stays
    assert (inbox.position, inbox.peek(10)) == (2, b"XD")


def test_a_custom_framing_is_named_by_its_class_when_its_repr_says_nothing():
    assert str(ExpectFrame(b"x", T, Resp())) == "expect_frame(b'x', framing=Resp())"


@pytest.mark.parametrize(
    ("segments", "summary"),
    [
        ([b"5:hellx,"], "Expected frame b'hello' but received frame b'hellx'"),
        (
            [b"x:"],
            "Expected frame b'hello' but received b'x:', which is not a frame: its "
            "length b'x' is not a decimal number",
        ),
    ],
    ids=["another frame", "not a frame"],
)
def test_an_exact_netstring_that_differs_says_what_arrived(segments, summary):
    script = play(ExpectConnect(T), CONNECT, ExpectFrame(b"hello", T, Netstring()))
    feed(script, *segments)
    assert script.failure.summary == summary


@pytest.mark.parametrize(
    ("framing", "wire"),
    [
        (LengthPrefixed(2), "LengthPrefixed(size=2, byteorder='big')"),
        (Lines(b"\n"), "Lines(delimiter=b'\\n', max_length=65536)"),
    ],
)
def test_a_built_in_framing_is_named_by_its_repr(framing, wire):
    assert str(ExpectFrame(b"x", T, framing)) == f"expect_frame(b'x', framing={wire})"


@pytest.mark.parametrize(
    ("rule", "name"),
    [
        (line_rule(b"PING"), "on_line(b'PING')"),
        (line_rule(b"PING", delimiter=b"\n"), "on_line(b'PING', delimiter=b'\\n')"),
        (Rule.frame(b"ping", None, None, None), "on_frame(b'ping')"),
        (
            Rule.frame(b"ping", None, LengthPrefixed(2), None),
            "on_frame(b'ping', framing=LengthPrefixed(size=2, byteorder='big'))",
        ),
    ],
)
def test_a_rule_names_its_framing_unless_it_is_the_default(rule, name):
    assert str(rule) == name


# -- a framing that contradicts itself ------------------------------------------------


class Lookahead(Broken):
    """Ends a message at b";", but says so only once a byte follows it."""

    def decode(self, data):
        end = data.find(b";")
        if end < 0 or end + 1 >= len(data):
            return None
        return data[:end], end + 1


class Shrinking(Broken):
    """Measures the message as 1 byte, then, given that byte alone, as 2."""

    def decode(self, data):
        return (data[:1], 1) if len(data) > 1 else (data, 2)


class Fussy(Broken):
    """Measures the message as 1 byte, then cannot decode that byte alone."""

    def decode(self, data):
        if len(data) < 2:
            raise ValueError("too short to tell")
        return data[:1], 1


@pytest.mark.parametrize(
    ("framing", "summary"),
    [
        (Lookahead(), "Lookahead.decode() found a message it had measured incomplete"),
        (
            Shrinking(),
            "Shrinking.decode() said the message took 2 bytes, of the 1 it was given",
        ),
        (Fussy(), "Fussy.decode() raised ValueError: too short to tell"),
    ],
)
def test_a_framing_that_decodes_the_message_alone_otherwise_fails_the_step(
    framing, summary
):
    step = ExpectFrame(re.compile(b".*"), T, framing)
    script = play(ExpectConnect(T), CONNECT, step, b"ab;c")
    assert script.failure.summary == summary


@pytest.mark.parametrize(
    ("framing", "summary"),
    [
        (
            Shrinking(),
            "on_frame(re.compile(b'.*'), framing=Shrinking()): Shrinking.decode() said "
            "the message took 2 bytes, of the 1 it was given",
        ),
        (
            Fussy(),
            "on_frame(re.compile(b'.*'), framing=Fussy()): Fussy.decode() raised "
            "ValueError: too short to tell",
        ),
    ],
)
def test_a_framing_that_decodes_the_message_alone_otherwise_fails_a_rule(framing, summary):
    rule = Rule.frame(re.compile(b".*"), None, framing, None)
    script = play(rule, ExpectConnect(T), CONNECT, b"ab;c")
    assert script.failure.summary == summary


@pytest.mark.parametrize(
    ("framing", "data"),
    [
        (Lookahead(), b"ab;c"),
        (Netstring(), b"3:abc;"),
        (Netstring(), b"x:"),
    ],
    ids=["incomplete alone", "a netstring that ends badly", "not a netstring"],
)
def test_a_rule_refuses_what_is_not_a_whole_message_of_its_framing(framing, data):
    rule = Rule.frame(re.compile(b".*"), b"taken", framing, None)
    script = play(rule, ExpectConnect(T), CONNECT, ExpectDisconnect(T))
    assert sent(feed(script, data)) == b""
    assert rule.count == 0
    assert script.failure.summary == (
        f"Expected the client to close the connection, but it sent {data!r}"
    )


# -- found while covering every branch ------------------------------------------------


class Mute(Texty):
    def encode(self, payload):
        raise ValueError("no voice")


def test_a_framing_whose_encode_raises_fails_the_script():
    script = play(ExpectConnect(T), CONNECT, SendFrame(b"xyz", Mute()))
    assert script.failure.summary == "Mute.encode() raised ValueError: no voice"
    rule = Rule.frame(b"x", b"y", Mute(), None)
    script = play(rule, ExpectConnect(T), CONNECT, b"x")
    assert script.failure.summary == (
        "on_frame(b'x', framing=Mute()): Mute.encode() raised ValueError: no voice"
    )


def too_long(received):
    return bytes(256)


def test_a_computed_payload_too_long_for_its_frame_fails_the_script():
    script = play(ExpectConnect(T), CONNECT, SendFrame(too_long, LengthPrefixed(1)))
    framing = "LengthPrefixed(size=1, byteorder='big')"
    assert script.failure.summary == (
        f"send_frame({where(too_long)}, framing={framing}) returned 256 bytes; "
        f"the limit of {framing} is 255 bytes"
    )


@pytest.mark.parametrize(
    "step",
    [ExpectLine(b"PIZZA", T), ExpectBytes(b"PIZZA\r\n", T)],
    ids=["expect_line", "expect_bytes"],
)
@pytest.mark.parametrize(
    "segments",
    [[b"PING\r\n"], [b"PI", b"NG\r\n"]],
    ids=["in one segment", "split where the step stopped"],
)
def test_a_rule_takes_a_message_an_exact_step_had_begun_to_match(step, segments):
    rule = line_rule(b"PING", b"PONG")
    script = play(rule, ExpectConnect(T), CONNECT, step)
    assert sent(feed(script, *segments)) == b"PONG\r\n"
    feed(script, b"PIZZA\r\n")
    assert script.failure is None
    assert script.completed == 2


def test_a_rule_answers_while_the_server_pauses():
    rule = line_rule(b"PING", b"PONG")
    script = play(rule, ExpectConnect(T), CONNECT, Pause(0.5), SendLine(b"late"))
    assert sent(feed(script, b"PING\r\n")) == b"PONG\r\n"
    assert sent(feed(script, TIMEOUT)) == b"late\r\n"
    assert script.failure is None


def test_a_rule_declared_after_a_failure_answers_nothing():
    script = play(ExpectConnect(T), CONNECT, ExpectLine(b"a", T), b"PING\r\n")
    assert script.failure is not None
    rule = line_rule(b"PING", b"PONG")
    assert feed(script, rule) == []
    assert rule.count == 0


def test_a_message_the_step_refused_waits_for_a_rule_as_more_arrives():
    rule = Rule.frame(b"ping", b"pong", None, None)  # reads any 4 bytes as a header
    script = play(rule, ExpectConnect(T), CONNECT, ExpectLine(re.compile(b"HELLO"), T))
    feed(script, b"HELO there\r\n", b"more")
    assert script.failure is None  # the rule's frame may yet be whole
    feed(script, TIMEOUT)
    assert script.failure.details == [
        "Received only b'HELO there'",
        "Unread: b'HELO there\\r\\nmore', which no step or rule has taken "
        "(a rule may wait for the rest of a message)",
    ]


def heartbeat(data):
    if data == b"HB":
        return True
    raise ValueError("not a heartbeat")


def test_a_used_up_rule_whose_matcher_raises_is_not_named_in_the_failure():
    rule = line_rule(heartbeat, b"ok", times=1)
    script = play(rule, ExpectConnect(T), CONNECT, ExpectLine(b"SUB news", T))
    assert sent(feed(script, b"HB\r\nXX\r\n")) == b"ok\r\n"
    assert script.failure.summary == "Expected a line b'SUB news' but received b'XX'"
    assert script.failure.details == []


def test_the_inbox_lets_a_taken_segment_go_at_once():
    """Not only at compaction: a 64 MiB expect_bytes in 64 KiB segments kept
    1,024 of them, 64 MiB, alive."""
    import sys

    from pytest_tcpclient.core.inbox import Inbox

    segment = bytes(range(256)) * 256  # no other reference to it
    alone = sys.getrefcount(segment)
    inbox = Inbox()
    inbox.push(segment)
    inbox.push(b"next")
    assert sys.getrefcount(segment) == alone + 1
    inbox.consume(len(segment) - 1)
    assert sys.getrefcount(segment) == alone + 1  # partly taken: kept
    inbox.consume(1)
    assert sys.getrefcount(segment) == alone
    assert inbox.peek(4) == b"next"


def test_the_inbox_drops_what_was_taken_and_keeps_every_position():
    from pytest_tcpclient.core.inbox import COMPACT, Closed, Inbox

    data = bytes(i % 251 for i in range(COMPACT + 500))
    inbox = Inbox()
    for i in range(len(data)):
        inbox.push(data[i : i + 1])
    inbox.push(Closed(True))
    for _ in range(COMPACT + 100):
        inbox.consume(1)
    assert len(inbox._items) == 500 + 1  # what was taken is gone from its lists
    assert inbox.position == COMPACT + 100
    assert inbox.peek(3) == data[COMPACT + 100 : COMPACT + 103]
    assert b"".join(s[o:] for s, o in inbox.read(COMPACT + 498)) == data[-2:]
    assert (inbox.available(), inbox.next_event()) == (400, Closed(True))
