"""In-process checks of the asyncio bridge: the suite itself runs pytest-asyncio."""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_a_client_that_closes_before_the_reply_left_it_unread(tcpserver):
    """The reply reaches the client only after it closed: the diagnostic says so,
    instead of showing an empty bytes literal."""
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"go")
    tcpserver.send_bytes(bytes(1 << 20))
    tcpserver.expect_disconnect()
    _, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(b"go")
    writer.close()
    await writer.wait_closed()
    with pytest.raises(pytest.fail.Exception) as failed:
        await tcpserver.join()
    assert str(failed.value).startswith(
        "Expected the client to close the connection cleanly, but it closed with "
        "1048576 unread bytes, none of which reached its reader"
    )


@pytest.mark.asyncio
async def test_the_bridge_reactor_is_the_tests_loop_not_the_global_reactor(tcpserver):
    from twisted.internet import reactor as global_reactor

    bridge = tcpserver._factory.reactor
    assert bridge is not global_reactor
    assert bridge._asyncioEventloop is asyncio.get_running_loop()


@pytest.mark.asyncio
async def test_join_refuses_to_be_awaited_on_another_loop(tcpserver):
    tcpserver.expect_connect(timeout=0.5)
    joined = tcpserver.join()

    def await_elsewhere():
        async def wait():
            await joined

        return asyncio.run(wait())

    with pytest.raises(RuntimeError, match="another event loop"):
        await asyncio.get_running_loop().run_in_executor(None, await_elsewhere)

    _, writer = await asyncio.open_connection(None, tcpserver.service_port)
    await tcpserver.join()
    writer.close()
    await writer.wait_closed()


@pytest.mark.asyncio
async def test_a_client_may_reconnect_as_soon_as_it_has_closed(tcpserver):
    rounds = 50
    for _ in range(rounds):
        tcpserver.expect_connect()
        tcpserver.expect_bytes(b"x")
        tcpserver.expect_disconnect()
    for _ in range(rounds):
        _, writer = await asyncio.open_connection(None, tcpserver.service_port)
        writer.write(b"x")
        writer.close()
        await writer.wait_closed()
    await tcpserver.join()


@pytest.mark.asyncio
async def test_a_half_close_is_the_clients_close(tcpserver):
    """write_eof() ends what the client sends: the README counts it as its close."""
    tcpserver.expect_connect()
    tcpserver.expect_bytes(b"hi")
    tcpserver.expect_disconnect()
    reader, writer = await asyncio.open_connection(None, tcpserver.service_port)
    writer.write(b"hi")
    writer.write_eof()
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    await tcpserver.join()


@pytest.mark.asyncio
async def test_a_failed_join_raises_at_every_await(tcpserver):
    tcpserver.expect_bytes(b"hi")
    joined = tcpserver.join()
    for _ in range(2):
        with pytest.raises(pytest.fail.Exception, match="needs a connection"):
            await joined


def test_a_finished_bridge_leaves_no_garbage_behind():
    """Once released, the stream watch and the loop the reactor was bound to are
    freed by their reference counts, not left to the garbage collector (whose
    collections a long session pays for) with everything the loop holds."""
    import gc
    import threading
    import weakref

    from pytest_tcpclient import asyncio_bridge
    from pytest_tcpclient.core import ServerGroup

    async def conversation() -> None:
        loop = asyncio.get_running_loop()
        reactor = asyncio_bridge.reactor_on(loop)
        group = ServerGroup(reactor)
        watch = asyncio_bridge.StreamWatch(
            loop, lambda: {s.service_port for s in group.servers}
        )
        watch.install()
        server = group.new()
        server.expect_connect()
        server.expect_bytes(b"ping")
        server.send_bytes(b"pong")
        server.expect_disconnect()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.service_port)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"pong"
        writer.close()
        await writer.wait_closed()
        joined = asyncio_bridge.AwaitableDeferred(loop)
        server.join().chainDeferred(joined)
        await joined
        outcome: list[object] = []
        group.stop().addBoth(outcome.append)
        reactor.runUntilCurrent()
        assert outcome == [None]
        watch.uninstall()
        asyncio_bridge.release(reactor)
        references.extend(weakref.ref(each) for each in (loop, watch))

    references: list[weakref.ref[object]] = []
    gc.collect()
    gc.disable()
    try:
        # a thread of its own: under --reactor=asyncio this test runs in a loop
        thread = threading.Thread(target=asyncio.run, args=(conversation(),))
        thread.start()
        thread.join(10)
        alive = [ref() for ref in references if ref() is not None]
    finally:
        gc.enable()
    assert references
    assert alive == []


def test_releasing_a_reactor_twice_does_nothing_more():
    from pytest_tcpclient import asyncio_bridge

    loop = asyncio.new_event_loop()
    try:
        reactor = asyncio_bridge.reactor_on(loop)
        asyncio_bridge.release(reactor)
        assert vars(reactor) == {}  # nothing was left on it: it let go of the loop
        asyncio_bridge.release(reactor)
    finally:
        loop.close()
