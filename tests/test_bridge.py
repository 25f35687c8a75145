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
