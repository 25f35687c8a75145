"""The default frame wire format: a 4-byte big-endian unsigned length, then the payload."""

import struct

HEADER = struct.Struct(">I")
"""The length header (the format of Twisted's ``Int32StringReceiver``)."""
HEADER_SIZE = HEADER.size
"""Size of the length header, in bytes."""
MAX_PAYLOAD = 2**32 - 1
"""The largest payload a 4-byte length can describe."""
