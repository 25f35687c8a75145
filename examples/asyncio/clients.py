"""The opening several asyncio examples share, as a function: ``greet()``.

The examples spell out the rest of their client with asyncio streams, as the
seed's examples do: ``asyncio.open_connection()``, ``writer.write()``,
``reader.readexactly()``, ``writer.close()`` and ``await writer.wait_closed()``.
"""

import asyncio


async def greet(port):
    """Connect to ``port`` on this host, send b"Hello, server!" and read the
    14-byte reply; return the reader and the writer, still open."""
    reader, writer = await asyncio.open_connection(None, port)
    writer.write(b"Hello, server!")
    assert await reader.readexactly(14) == b"Hello, client!"
    return reader, writer
