"""Unit tests of the sans-IO script, fed by hand: no reactor, no sockets, no clock.

A test plays events on a :class:`Script`: a step is declared, bytes arrive on the
first connection, or one of the constants below happens. The actions the script
returns, its failure and its transcript are plain data, checked as such.
"""

from __future__ import annotations

import gc
import pickle
import weakref
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tcpclient.core.script import (
    CancelTimer,
    Close,
    Script,
    StartTimer,
    Write,
)
from pytest_tcpclient.core.steps import (
    Disconnect,
    End,
    ExpectBytes,
    ExpectConnect,
    ExpectDisconnect,
    ExpectFrame,
    SendBytes,
    SendFrame,
    Step,
    Stray,
)

T = 1.0
FIRST, SECOND = "first connection", "second connection"
CONNECT = "the client connects"
CONNECT_AGAIN = "the client opens a second connection"
CLOSE = "the client closes the first connection"
RESET = "the first connection is reset"
TIMEOUT = "the step timer runs out"

_EVENTS = {
    CONNECT: lambda script: script.connection_made(FIRST),
    CONNECT_AGAIN: lambda script: script.connection_made(SECOND),
    CLOSE: lambda script: script.connection_lost(FIRST, True),
    RESET: lambda script: script.connection_lost(FIRST, False),
    TIMEOUT: lambda script: script.timed_out(),
}

hypothesis_settings = settings(database=None, deadline=None)


def feed(script, *events):
    """Play ``events`` in order; return the actions they caused.

    An event is a step (declared), bytes (received on the first connection) or
    one of the constants above.
    """
    actions = []
    for event in events:
        if isinstance(event, bytes):
            actions += script.data_received(FIRST, event)
        elif isinstance(event, str):
            actions += _EVENTS[event](script)
        else:
            actions += script.add(event)
    return actions


def play(*events):
    """A new script with ``events`` played on it."""
    script = Script()
    feed(script, *events)
    return script


def writes(actions):
    return [action.data for action in actions if isinstance(action, Write)]


def frame(payload):
    """The wire form of a frame, written independently of the code under test."""
    return len(payload).to_bytes(4, "big") + payload


def one_byte_at_a_time(data):
    return [data[i : i + 1] for i in range(len(data))]


@st.composite
def segments(draw, stream):
    """``stream`` cut into non-empty segments at random places."""
    cuts = draw(st.sets(st.integers(1, len(stream) - 1))) if len(stream) > 1 else set()
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[start:end] for start, end in pairwise(bounds)]


expectations = st.lists(st.tuples(st.booleans(), st.binary(max_size=12)), max_size=5)
"""Steps to expect, as (is a frame, payload) pairs."""


def expected_steps(pairs):
    return [ExpectFrame(p, T) if is_frame else ExpectBytes(p, T) for is_frame, p in pairs]


def wire(pairs):
    return b"".join(frame(p) if is_frame else p for is_frame, p in pairs)


# -- order and declaration time -----------------------------------------------


def test_steps_run_in_the_order_declared():
    script = play(
        ExpectConnect(T),
        ExpectBytes(b"ping", T),
        SendBytes(b"pong"),
        ExpectBytes(b"bye", T),
        SendBytes(b"ciao"),
    )
    assert writes(feed(script, CONNECT)) == []
    assert writes(feed(script, b"ping")) == [b"pong"]
    assert writes(feed(script, b"bye")) == [b"ciao"]
    assert script.completed == 5
    assert script.failure is None


def test_steps_declared_after_the_client_acted_match_what_it_did():
    script = play(CONNECT, b"pi", b"ng")
    assert script.add(ExpectConnect(T)) == []
    assert script.add(ExpectBytes(b"ping", T)) == []
    assert script.add(SendFrame(b"pong")) == [Write(FIRST, b"\x00\x00\x00\x04pong")]
    assert script.completed == 3


def test_empty_data_is_no_event():
    script = play(ExpectConnect(T), CONNECT, ExpectBytes(b"ping", T))
    assert feed(script, b"") == []
    assert feed(script, TIMEOUT) == [Close(FIRST)]
    assert script.failure.transcript == [
        "client connected",
        "failed at expect_bytes(b'ping')",
    ]


def test_a_step_starts_its_timer_when_it_becomes_current():
    script = Script()
    assert script.add(ExpectConnect(2.0)) == [StartTimer(2.0)]
    assert script.add(ExpectBytes(b"ping", 3.0)) == []  # not current yet
    assert feed(script, CONNECT) == [CancelTimer(), StartTimer(3.0)]
    assert feed(script, b"pi") == []  # bytes that arrive do not restart the timer
    assert feed(script, b"ng") == [CancelTimer()]
    assert script.add(ExpectDisconnect(4.0)) == [StartTimer(4.0)]
    assert feed(script, CLOSE) == [CancelTimer()]


def test_a_time_out_with_every_step_done_is_ignored():
    script = play(ExpectConnect(T), CONNECT)
    assert feed(script, TIMEOUT) == []
    assert script.failure is None


def test_connection_open_follows_the_declared_steps():
    script = Script()
    assert not script.connection_open
    script.add(ExpectConnect(T))
    assert script.connection_open
    script.add(ExpectDisconnect(T))
    assert not script.connection_open
    script.add(ExpectConnect(T))
    script.add(Disconnect())
    assert not script.connection_open


# -- matching however TCP splits the bytes ------------------------------------

HELLO_WORLD = b"Helloworld"
PING_PONG = frame(b"ping") + frame(b"pong!")
TWO_BYTES_STEPS = [ExpectBytes(b"Hello", T), ExpectBytes(b"world", T)]
TWO_FRAMES = [ExpectFrame(b"ping", T), ExpectFrame(b"pong!", T)]


@pytest.mark.parametrize(
    ("steps", "segments"),
    [
        pytest.param(
            TWO_BYTES_STEPS, one_byte_at_a_time(HELLO_WORLD), id="bytes one at a time"
        ),
        pytest.param(
            TWO_BYTES_STEPS, [HELLO_WORLD], id="two steps' worth of bytes in one segment"
        ),
        pytest.param(
            TWO_FRAMES, one_byte_at_a_time(PING_PONG), id="frames one byte at a time"
        ),
        pytest.param(
            TWO_FRAMES, [PING_PONG], id="header, payload and the next frame in one segment"
        ),
        pytest.param(
            TWO_FRAMES,
            [b"\x00\x00", b"\x00\x04pi", b"ng\x00\x00\x00", b"\x05pong!"],
            id="frame headers split",
        ),
        pytest.param(
            [ExpectFrame(b"", T), ExpectBytes(b"", T), ExpectFrame(b"x", T)],
            [b"\x00\x00\x00\x00\x00\x00\x00\x01x"],
            id="empty payloads",
        ),
    ],
)
def test_expectations_match_however_the_bytes_arrive(steps, segments):
    """Each step's reply is sent once its expectation is met, in order."""
    replies = [b"%d" % index for index in range(len(steps))]
    script = play(
        ExpectConnect(T),
        *(
            item
            for step, reply in zip(steps, replies, strict=True)
            for item in (step, SendBytes(reply))
        ),
    )
    assert writes(feed(script, CONNECT, *segments)) == replies
    assert script.failure is None
    assert script.completed == len(script.steps)


@hypothesis_settings
@given(expectations, st.data())
def test_expectations_match_any_split_declared_before_or_after(pairs, data):
    steps = expected_steps(pairs)
    declared_before = data.draw(st.integers(0, len(steps)))
    script = play(ExpectConnect(T), *steps[:declared_before], CONNECT)
    feed(script, *data.draw(segments(wire(pairs))), *steps[declared_before:])
    assert script.failure is None
    assert script.completed == len(steps) + 1


@hypothesis_settings
@given(expectations.filter(wire), st.data())
def test_a_wrong_byte_fails_the_script_as_soon_as_it_arrives(pairs, data):
    stream = wire(pairs)
    position = data.draw(st.integers(0, len(stream) - 1))
    wrong = bytes([stream[position] ^ 0xFF])
    script = play(ExpectConnect(T), *expected_steps(pairs), CONNECT)
    arrived = 0
    for segment in data.draw(segments(stream[:position] + wrong + stream[position + 1 :])):
        feed(script, segment)
        arrived += len(segment)
        assert (script.failure is not None) == (arrived > position)


# -- diagnostics ----------------------------------------------------------------

NOT_CLOSED = "Expected the client to close the connection"

FAIL_AT_ONCE = [
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello", T), b"Help!"],
        "Expected b'Hello' but received b'Help!' (first difference at offset 3)",
        id="wrong bytes",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello", T), b"Hel", b"p! and more"],
        "Expected b'Hello' but received b'Help!' (first difference at offset 3)",
        id="wrong bytes after a matching segment",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello", T), b"Hx"],
        "Expected b'Hello' but received b'Hx' (first difference at offset 1)",
        id="wrong bytes, fewer than expected",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, b"He", b"y!", ExpectBytes(b"Hello", T)],
        "Expected b'Hello' but received b'Hey!' (first difference at offset 2)",
        id="wrong bytes that arrived before the step was declared",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello", T), b"He", CLOSE],
        "Expected b'Hello' but the client closed the connection after b'He'",
        id="closed early",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello", T), b"He", RESET],
        "Expected b'Hello' but the connection was reset after b'He'",
        id="reset",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello", T), CONNECT_AGAIN],
        "Expected one connection at a time, "
        "but the client opened a second one while the first was open",
        id="second connection",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectDisconnect(T), b"extra"],
        f"{NOT_CLOSED}, but it sent b'extra'",
        id="bytes while waiting for the close",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectDisconnect(T), RESET],
        f"{NOT_CLOSED}, but the connection was reset",
        id="reset while waiting for the close",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), frame(b"pong")],
        "Expected frame b'ping' but received frame b'pong'",
        id="another payload",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), frame(b"hello")],
        "Expected frame b'ping' but received frame b'hello'",
        id="another payload length",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), frame(b"hello")[:6]],
        "Expected frame b'ping' but received a frame of 5 bytes, of which b'he' arrived",
        id="another payload length, partly arrived",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), b"\x00\x01"],
        "Expected frame b'ping' but received a frame header starting b'\\x00\\x01'",
        id="another header, partly arrived",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), b"\x00\x00\x00\x04pi", CLOSE],
        "Expected frame b'ping' but the client closed the connection "
        "after b'\\x00\\x00\\x00\\x04pi'",
        id="frame closed early",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), RESET],
        "Expected frame b'ping' but the connection was reset after b''",
        id="frame reset",
    ),
    pytest.param(
        [SendBytes(b"hi")],
        "send_bytes(b'hi') needs a connection, but none was made "
        "(declare expect_connect() before it)",
        id="no connection made",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectDisconnect(T), CLOSE, SendFrame(b"hi")],
        "send_frame(b'hi') needs a connection, but it was already closed",
        id="connection closed by the client",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, Disconnect(), ExpectBytes(b"hi", T)],
        "expect_bytes(b'hi') needs a connection, but it was already closed",
        id="connection closed by the server",
    ),
    pytest.param(
        [CONNECT, End()],
        "Expected no connection, but a client connected",
        id="connection to a server with nothing declared",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectDisconnect(T), CLOSE, CONNECT_AGAIN, End()],
        "Expected nothing more, but the client connected again",
        id="connection again before the end",
    ),
]

TIMED_OUT = [
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello, world!", T), TIMEOUT],
        "Timed out waiting for b'Hello, world!'",
        id="expect_bytes",
    ),
    pytest.param(
        [ExpectConnect(T), TIMEOUT],
        "Timed out waiting for a connection",
        id="expect_connect",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectDisconnect(T), TIMEOUT],
        "Timed out waiting for the client to close the connection",
        id="expect_disconnect",
    ),
    pytest.param(
        [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), TIMEOUT],
        "Timed out waiting for frame b'ping'",
        id="expect_frame",
    ),
]


@pytest.mark.parametrize(("events", "summary"), FAIL_AT_ONCE + TIMED_OUT)
def test_the_first_line_of_each_diagnostic(events, summary):
    assert play(*events).failure.summary == summary


@pytest.mark.parametrize(("events", "summary"), FAIL_AT_ONCE)
def test_a_step_fails_at_the_event_that_cannot_match_not_at_its_timeout(events, summary):
    script = play(*events[:-1])
    assert script.failure is None
    feed(script, events[-1])
    assert script.failure is not None


@pytest.mark.parametrize(
    ("events", "details"),
    [
        pytest.param(
            [
                ExpectConnect(T),
                CONNECT,
                ExpectBytes(b"Hello, world!", T),
                b"Hello",
                TIMEOUT,
            ],
            ["Received only b'Hello'"],
            id="bytes",
        ),
        pytest.param(
            [ExpectConnect(T), CONNECT, ExpectFrame(b"ping", T), b"\x00\x00", TIMEOUT],
            ["Received only b'\\x00\\x00'"],
            id="part of a frame header",
        ),
        pytest.param(
            [
                ExpectConnect(T),
                CONNECT,
                ExpectFrame(b"ping", T),
                frame(b"ping")[:6],
                TIMEOUT,
            ],
            ["Received only b'\\x00\\x00\\x00\\x04pi'"],
            id="part of a frame",
        ),
        pytest.param(
            [ExpectConnect(T), CONNECT, ExpectBytes(b"Hello", T), TIMEOUT],
            [],
            id="nothing",
        ),
    ],
)
def test_a_time_out_tells_what_part_arrived(events, details):
    assert play(*events).failure.details == details


def test_the_failure_shows_the_transcript_under_the_first_line():
    script = play(
        ExpectConnect(T),
        CONNECT,
        ExpectBytes(b"ping", T),
        SendBytes(b"pong"),
        b"pi",
        b"ng",
        ExpectBytes(b"bye", T),
        b"bad",
    )
    assert str(script.failure) == "\n".join(
        [
            "Expected b'bye' but received b'bad' (first difference at offset 1)",
            "",
            "Conversation (oldest first):",
            "  client connected",
            "  client sent b'ping'",
            "  server sent b'pong'",
            "  client sent b'bad'",
            "  failed at expect_bytes(b'bye')",
        ]
    )


@pytest.mark.parametrize(
    ("events", "transcript"),
    [
        pytest.param(
            [ExpectConnect(T), CONNECT, SendBytes(b"bye"), Disconnect(), SendBytes(b"?")],
            [
                "client connected",
                "server sent b'bye'",
                "server closed the connection",
                "failed at send_bytes(b'?')",
            ],
            id="server closed",
        ),
        pytest.param(
            [ExpectConnect(T), CONNECT, ExpectBytes(b"hi", T), CLOSE],
            [
                "client connected",
                "client closed the connection",
                "failed at expect_bytes(b'hi')",
            ],
            id="client closed",
        ),
        pytest.param(
            [ExpectConnect(T), CONNECT, ExpectFrame(b"", T), RESET],
            ["client connected", "connection reset", "failed at expect_frame(b'')"],
            id="reset",
        ),
        pytest.param(
            [CONNECT, End()],
            ["client connected", "failed at end of script"],
            id="end",
        ),
    ],
)
def test_the_transcript_records_each_event(events, transcript):
    assert play(*events).failure.transcript == transcript


MIB = 1 << 20


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([ExpectBytes(bytes(MIB), T), b"\x01" * MIB], id="wrong bytes"),
        pytest.param([ExpectBytes(bytes(MIB), T), bytes(MIB - 1), RESET], id="reset"),
        pytest.param([ExpectBytes(bytes(MIB), T), bytes(MIB - 1), TIMEOUT], id="time-out"),
        pytest.param([ExpectFrame(bytes(MIB), T), frame(b"\x01" * MIB)], id="wrong frame"),
        pytest.param([ExpectDisconnect(T), bytes(MIB)], id="bytes instead of the close"),
    ],
)
def test_a_megabyte_payload_is_abbreviated_in_the_message(events):
    failure = play(ExpectConnect(T), SendBytes(bytes(MIB)), CONNECT, *events).failure
    assert failure is not None
    assert len(str(failure)) < 2000  # whole, the payloads would take megabytes
    assert "1048576 bytes" in failure.summary


def test_the_offset_of_the_first_difference_is_shown_for_long_payloads():
    expected = bytes(MIB)
    actual = bytes(1000) + b"\x01" + bytes(MIB - 1001)
    failure = play(ExpectConnect(T), CONNECT, ExpectBytes(expected, T), actual).failure
    assert failure.summary.endswith("(first difference at offset 1000)")
    # The abbreviated payloads hide the difference: the next line shows it.
    expected_bytes, actual_bytes = repr(bytes(48)), repr(bytes(16) + b"\x01" + bytes(31))
    assert failure.details == [
        f"From offset 984: expected {expected_bytes} but received {actual_bytes}"
    ]


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        pytest.param(b"short", b"shirt", id="short payloads, shown whole"),
        pytest.param(bytes(100), b"\x01" + bytes(99), id="a difference in the head"),
    ],
)
def test_no_extra_line_when_the_difference_shows_already(expected, actual):
    failure = play(ExpectConnect(T), CONNECT, ExpectBytes(expected, T), actual).failure
    assert failure.summary.startswith("Expected")
    assert failure.details == []


# -- after a failure -------------------------------------------------------------


def test_a_failure_cancels_the_timer_and_closes_every_open_connection():
    script = play(ExpectConnect(T), CONNECT, ExpectBytes(b"ping", T))
    assert feed(script, CONNECT_AGAIN) == [CancelTimer(), Close(FIRST), Close(SECOND)]


def test_after_the_first_failure_no_later_step_runs():
    script = play(ExpectConnect(T), ExpectBytes(b"ping", T), SendBytes(b"pong"), CONNECT)
    assert feed(script, b"oops") == [CancelTimer(), Close(FIRST)]
    failure = script.failure
    assert feed(script, SendBytes(b"more"), ExpectBytes(b"x", T), b"ping", TIMEOUT) == []
    assert feed(script, CLOSE) == []
    assert feed(script, CONNECT_AGAIN) == [Close(SECOND)]
    assert script.failure is failure
    assert script.completed == 1


def test_tls_news_after_a_failure_changes_nothing():
    script = play(ExpectConnect(T), CONNECT, ExpectBytes(b"ping", T), b"oops")
    failure, lines = script.failure, script.transcript.lines()
    assert script.secured(FIRST) == []
    assert script.broken(FIRST, "TLS handshake failed: it broke") == []
    assert script.failure is failure
    assert script.transcript.lines() == lines


def test_a_script_failure_pickles_with_its_details_and_transcript():
    failure = play(ExpectConnect(T), CONNECT, ExpectBytes(b"a" * 100, T), b"a" * 50 + b"b")
    failure = failure.failure
    assert failure.details  # the difference, shown
    copy = pickle.loads(pickle.dumps(failure))
    assert type(copy) is type(failure)
    assert (copy.summary, copy.details, copy.transcript) == (
        failure.summary,
        failure.details,
        failure.transcript,
    )
    assert str(copy) == str(failure)


def test_a_stray_failure_makes_its_diagnostic_once_when_first_read():
    made = []

    def describe():
        made.append("made")
        return ["Expected b'x' but received b'y'", "a detail"]

    stray = Stray(describe)
    assert stray.stray
    assert made == []  # a rule may yet take the message: nothing to say
    assert str(stray) == "Expected b'x' but received b'y'"
    assert stray.details == ["a detail"]
    assert made == ["made"]


# -- the server closing, and the end of the script --------------------------------


def test_disconnect_after_the_client_closed_closes_what_is_left():
    script = play(ExpectConnect(T), CONNECT, CLOSE)
    assert feed(script, Disconnect()) == [Close(FIRST)]
    assert script.transcript.lines()[-2:] == [
        "client closed the connection",
        "server closed the connection",
    ]
    feed(script, ExpectConnect(T), CONNECT_AGAIN)  # not one too many
    assert script.failure is None
    assert script.completed == 3


def test_disconnect_closes_the_connection_and_ignores_what_follows_on_it():
    """What the client sent unread goes with the connection, as documented."""
    script = play(ExpectConnect(T), CONNECT, SendBytes(b"bye"), b"unread")
    assert feed(script, Disconnect()) == [Close(FIRST)]
    assert feed(script, b"late", CLOSE) == []
    assert feed(script, ExpectConnect(T), CONNECT_AGAIN) == [
        StartTimer(T, 2),
        CancelTimer(2),
    ]
    assert script.failure is None
    assert script.completed == 4


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([End()], id="nothing declared, nobody connected"),
        pytest.param([ExpectConnect(T), CONNECT, Disconnect(), End()], id="server closed"),
        pytest.param(
            [ExpectConnect(T), CONNECT, ExpectDisconnect(T), CLOSE, End()],
            id="client closed",
        ),
    ],
)
def test_the_end_passes_when_nothing_more_happened(events):
    script = play(*events)
    assert script.failure is None
    assert script.completed == len(script.steps)


# -- when every step is done and the client keeps the connection open -------------

IDLE = 2.0


def idle_script(*events):
    """A script with an idle timeout of ``IDLE`` and ``events`` played on it."""
    script = Script(idle_timeout=IDLE)
    feed(script, *events)
    return script


def test_the_script_times_how_long_it_is_idle_with_the_connection_open():
    script = Script(idle_timeout=IDLE)
    assert feed(script, ExpectConnect(T)) == [StartTimer(T)]
    # The step done, the client's connection open: the idle timer replaces it.
    assert feed(script, CONNECT) == [CancelTimer(), StartTimer(IDLE)]
    assert script.failure is None


def test_an_idle_script_that_times_out_fails_and_hangs_up():
    """So a client waiting for a reply the script does not send is not left waiting."""
    script = idle_script(ExpectConnect(T), CONNECT, ExpectBytes(b"HELLO", T), b"HELLO")
    assert feed(script, TIMEOUT) == [Close(FIRST)]
    failure = script.failure
    assert failure.summary == (
        "Timed out waiting for the client to close the connection after the last step"
    )
    assert failure.details == [
        "The script has no more steps: if the client waits for a reply, declare it "
        "(send_bytes(), send_frame())."
    ]
    assert failure.transcript[-2:] == [
        "client sent b'HELLO'",
        "timed out after the last step",
    ]


def test_bytes_no_step_reads_show_in_the_idle_failure_and_do_not_restart_its_timer():
    script = idle_script(ExpectConnect(T), CONNECT)
    assert feed(script, b"PING", b"\r\n") == []
    feed(script, TIMEOUT)
    unread = "The client sent b'PING\\r\\n', which no step reads."
    assert script.failure.details[-1] == unread


def test_a_step_declared_while_idle_starts_its_own_timer():
    script = idle_script(ExpectConnect(T), CONNECT)
    assert feed(script, ExpectBytes(b"x", 3.0)) == [CancelTimer(), StartTimer(3.0)]
    assert feed(script, b"x") == [CancelTimer(), StartTimer(IDLE)]
    # Idle time counts from the last step done: a reply declared restarts it.
    assert feed(script, SendBytes(b"y")) == [
        Write(FIRST, b"y"),
        CancelTimer(),
        StartTimer(IDLE),
    ]


def test_a_step_declared_on_one_pooled_connection_stops_the_idle_timer_of_each():
    """While a connection has a step to do, none is idle: a pool's idle
    connection waits for its turn, untimed."""
    script = Script(idle_timeout=IDLE)
    feed(script, ExpectConnect(T), ExpectConnect(T), CONNECT, CONNECT_AGAIN)
    assert script.add(ExpectBytes(b"x", 3.0), connection=2) == [
        CancelTimer(key=2),  # the idle timer of #2 gives way to its step's
        StartTimer(3.0, key=2),
        CancelTimer(key=1),  # #1 is no longer idle: #2 has a step to do
    ]
    assert script.data_received(SECOND, b"x") == [
        CancelTimer(key=2),
        StartTimer(IDLE, key=1),  # every step done: both are idle again
        StartTimer(IDLE, key=2),
    ]


def test_the_idle_timer_stops_when_the_client_closes():
    script = idle_script(ExpectConnect(T), CONNECT)
    assert feed(script, CLOSE) == [CancelTimer()]
    assert feed(script, TIMEOUT) == []  # a late timer changes nothing
    assert script.failure is None
    feed(script, ExpectDisconnect(T))  # teardown's implicit close reads it
    assert script.completed == 2


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([ExpectConnect(T), CONNECT, ExpectDisconnect(T), CLOSE], id="closed"),
        pytest.param([ExpectConnect(T), CONNECT, Disconnect()], id="server closed"),
        pytest.param([SendBytes(b"x")], id="no connection: the step failed"),
        pytest.param([], id="nothing declared"),
    ],
)
def test_no_idle_timer_runs_without_an_open_connection(events):
    actions = feed(Script(idle_timeout=IDLE), *events)
    started = [a for a in actions if isinstance(a, StartTimer)]
    cancelled = [a for a in actions if isinstance(a, CancelTimer)]
    assert len(started) == len(cancelled)  # every timer started was stopped


def test_without_an_idle_timeout_an_idle_script_waits():
    script = play(ExpectConnect(T), CONNECT)
    assert script.idle_timeout is None
    assert feed(script, b"late", TIMEOUT) == []
    assert script.failure is None


def test_stopping_an_idle_script_cancels_the_timer_and_fails_nothing():
    script = idle_script(ExpectConnect(T), CONNECT)
    assert script.stop() == [CancelTimer()]
    assert script.failure is None


# -- a step of a kind of its own -------------------------------------------------


class Waits(Step):
    """Waits for its timer and nothing else, with the timeout message of any step."""

    timeout = 0.5
    needs_connection = False

    def __str__(self):
        return "waits()"

    def run(self, conversation):
        return False


def test_a_step_that_waits_too_long_says_what_it_waited_for():
    script = Script()
    assert script.add(Waits()) == [StartTimer(0.5, 0)]  # before any connection
    script.timed_out(0)
    assert script.failure.summary == "Timed out waiting for waits()"
    assert script.failure.transcript == ["failed at waits()"]


def test_a_conversation_shows_its_number_state_and_progress():
    script = play(ExpectConnect(T), CONNECT, ExpectBytes(b"a", T))
    assert repr(script.conversations[1]) == "<Conversation #1 open, 1/2>"
    assert repr(script.conversations[0]) == "<Conversation #0 none, 0/0>"


def test_a_script_is_freed_by_reference_counts():
    """Its conversations refer to it weakly: no reference cycle keeps a
    finished script, its steps and what they matched for the garbage
    collector to find."""
    script = Script()
    steps = [ExpectConnect(T), ExpectBytes(b"hi", T), SendBytes(b"yo"), ExpectDisconnect(T)]
    feed(script, *steps, CONNECT, b"hi", CLOSE)
    assert script.failure is None and script.completed == 4
    alive = [weakref.ref(each) for each in (script, *script.conversations, *steps)]
    gc.disable()
    try:
        del script, steps
        assert [each() for each in alive] == [None] * len(alive)
    finally:
        gc.enable()
