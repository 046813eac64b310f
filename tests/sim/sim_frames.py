"""RFC 6455 framing: the simulator's server-side encoder and a small parser for tests.

Server-to-client frames are never masked, so encoding is a header plus the payload.
The simulator writes every frame itself (never through aiohttp's writer) so that it
controls fragmentation, coalescing and deliberately broken frames.
"""

import struct
from dataclasses import dataclass
from typing import List, Optional

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FIN = 0x80
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10
MASK_BIT = 0x80


def header(opcode: int, length: int, *, fin: bool = True, rsv: int = 0,
           mask: Optional[bytes] = None) -> bytes:
    """Frame header for a payload of `length` bytes (7, 16 or 64-bit length)."""
    b0 = (FIN if fin else 0) | rsv | opcode
    m = MASK_BIT if mask else 0
    if length < 126:
        head = struct.pack("!BB", b0, m | length)
    elif length < (1 << 16):
        head = struct.pack("!BBH", b0, m | 126, length)
    else:
        head = struct.pack("!BBQ", b0, m | 127, length)
    return head + (mask or b"")


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    return header(opcode, len(payload), fin=fin, rsv=rsv) + payload


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def masked_frame(opcode: int, payload: bytes, mask: bytes, *, fin: bool = True) -> bytes:
    """A client frame (tests use it; clients must mask)."""
    return header(opcode, len(payload), fin=fin, mask=mask) + apply_mask(payload, mask)


def close_payload(code: Optional[int], reason: str = "") -> bytes:
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode()


def fragments(opcode: int, payload: bytes, n: int) -> List[bytes]:
    """A message as n non-final frames plus an empty final continuation frame.

    This is what python-websockets sends for a fragmented message; a client must
    handle the zero-length final frame.
    """
    if n <= 1:
        return [frame(opcode, payload)]
    size = -(-len(payload) // n) or 1
    parts = [payload[i * size:(i + 1) * size] for i in range(n)]
    out = [frame(opcode if i == 0 else CONT, p, fin=False) for i, p in enumerate(parts)]
    out.append(frame(CONT, b"", fin=True))
    return out


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    length: int
    payload: bytes  # empty when longer than the parser's keep limit

    @property
    def close_code(self) -> Optional[int]:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode(errors="replace")


class FrameParser:
    """Incremental parser. Payloads above keep_max bytes are counted but not kept,
    so a test can read a 100 MiB frame in bounded memory."""

    def __init__(self, keep_max: int = 64 << 20):
        self._buf = bytearray()
        self._keep_max = keep_max
        self._cur: Optional[Frame] = None
        self._left = 0
        self._mask: Optional[bytes] = None
        self._body = bytearray()

    def feed(self, data: bytes) -> List[Frame]:
        self._buf += data
        out = []
        while True:
            if self._cur is None and not self._parse_header():
                return out
            take = min(self._left, len(self._buf))
            if take and self._cur.length <= self._keep_max:
                self._body += self._buf[:take]
            del self._buf[:take]
            self._left -= take
            if self._left:
                return out
            f, self._cur = self._cur, None
            body = bytes(self._body)
            self._body.clear()
            f.payload = apply_mask(body, self._mask) if self._mask else body
            out.append(f)

    def _parse_header(self) -> bool:
        buf = self._buf
        if len(buf) < 2:
            return False
        b0, b1 = buf[0], buf[1]
        length, pos = b1 & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return False
            length, pos = struct.unpack_from("!H", buf, 2)[0], 4
        elif length == 127:
            if len(buf) < 10:
                return False
            length, pos = struct.unpack_from("!Q", buf, 2)[0], 10
        masked = bool(b1 & MASK_BIT)
        if masked:
            if len(buf) < pos + 4:
                return False
            self._mask = bytes(buf[pos:pos + 4])
            pos += 4
        else:
            self._mask = None
        del buf[:pos]
        self._cur = Frame(bool(b0 & FIN), b0 & 0x70, b0 & 0x0F, masked, length, b"")
        self._left = length
        return True
