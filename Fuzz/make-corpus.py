#!/usr/bin/env python3
"""Writes the seed corpus in Corpus/<target>/: a few tiny valid inputs per fuzz target, from
which libFuzzer mutates. Run it again after changing an input layout (the first bytes of each
target choose its settings; each target's source says how), then commit the files."""
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x11, 0x22, 0x33, 0x44])


def frame(opcode, payload, fin=True, rsv1=False, masked=True):
    """One frame as RFC 6455 §5.2 lays it out; a client's frames are masked (§5.3)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 1 << 16:
        header = bytes([first, mask_bit | 126]) + struct.pack(">H", n)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return header + payload
    return header + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason):
    return struct.pack(">H", code) + reason.encode()


def deflate_messages(messages, context_takeover=True):
    """permessage-deflate payloads (RFC 7692 §7.2.1): deflate, sync flush, drop 00 00 ff ff."""
    out = []
    compressor = zlib.compressobj(wbits=-15)
    for message in messages:
        if not context_takeover:
            compressor = zlib.compressobj(wbits=-15)
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def upgrade(path="/", extensions=None, extra=""):
    text = (f"GET {path} HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    if extensions:
        text += f"Sec-WebSocket-Extensions: {extensions}\r\n"
    return (text + extra + "\r\n").encode()


TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA

corpus = {
    # FuzzFrames: a settings byte (bit 0 fragments, bit 1 echo, bits 2-7 read size), client frames.
    "FuzzFrames": {
        "text": b"\x00" + frame(TEXT, b"Hello"),
        "text-echo-3-byte-reads": bytes([0x02 | 3 << 2]) + frame(TEXT, "h\u00e9llo \u2603".encode()),
        "fragmented-text": b"\x00" + frame(TEXT, b"Hel", fin=False) + frame(PING, b"p") + frame(CONT, b"lo"),
        "fragments-mode-binary": b"\x01" + frame(BINARY, bytes(range(200)), fin=False) + frame(CONT, b"end"),
        "ping-pong": b"\x00" + frame(PING, b"ping") + frame(PONG, b"pong"),
        "close": b"\x00" + frame(TEXT, b"x") + frame(CLOSE, close_payload(1000, "bye")),
        "too-big-header": b"\x00" + bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 20) + KEY,
    },
    # FuzzDeflateFrames: the role/parameters byte, the echo/read-size byte, the peer's frames.
    "FuzzDeflateFrames": {},
    # FuzzServerHandshake: a settings byte, then the bytes of the connection.
    "FuzzServerHandshake": {
        "upgrade": b"\x00" + upgrade(),
        "upgrade-deflate-subprotocol": b"\x04" + upgrade(
            "/chat", "permessage-deflate; client_max_window_bits", "Sec-WebSocket-Protocol: json, chat\r\n"),
        "upgrade-then-frames": b"\x00" + upgrade() + frame(TEXT, b"hi") + frame(CLOSE, close_payload(1000, "")),
        "refused-path": b"\x01" + upgrade("/no/thanks"),
        "plain-get": b"\x02" + b"GET /status?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "upgrade-in-8-byte-reads": bytes([1 << 4]) + upgrade(),
        "upgrade-async-api": bytes([0x08]) + upgrade(),
        "bad-version": b"\x00" + upgrade().replace(b"Version: 13", b"Version: 8"),
    },
    # FuzzTransferMessage: the payload of one binary message.
    "FuzzTransferMessage": {},
}

# Server role, 15-bit windows named both ways (0x38 | 0x40), and the client role (bit 0).
hello = deflate_messages([b"Hello Hello Hello Hello", b"Hello again, Hello Hello"])
fresh = deflate_messages([b"same text same text", b"same text same text"], context_takeover=False)
big = deflate_messages([b"A" * 3000])
corpus["FuzzDeflateFrames"] = {
    "server-two-messages-echo": bytes([0x78, 0x01]) + b"".join(frame(TEXT, m, rsv1=True) for m in hello),
    "server-fragmented-compressed": bytes([0x78, 0x00]) + frame(TEXT, hello[0][:5], fin=False, rsv1=True)
    + frame(CONT, hello[0][5:]),
    "server-no-context-takeover-8-bits": bytes([0x06 | 0x40, 0x01])
    + b"".join(frame(BINARY, m, rsv1=True) for m in fresh),
    "server-uncompressed-and-close": bytes([0x38, 0x00]) + frame(TEXT, b"plain")
    + frame(CLOSE, close_payload(1001, "away")),
    "server-fragments-mode-3000": bytes([0xB8, 0x00]) + frame(BINARY, big[0], rsv1=True),
    "client-compressed-in-5-byte-reads": bytes([0x79, 5 << 1])
    + b"".join(frame(TEXT, m, rsv1=True, masked=False) for m in hello),
}

ID = bytes(range(16))
DIGEST = bytes(range(0x20, 0x40))


def transfer(kind, body):
    return bytes([0x48, 0x01, kind]) + ID + body


corpus["FuzzTransferMessage"] = {
    "offer": transfer(0x01, struct.pack(">QB", 1000, 1) + DIGEST + struct.pack(">H", 8) + b"data.bin"),
    "offer-no-digest": transfer(0x01, struct.pack(">QBH", 0, 0, 5) + "r\u00e9sum".encode()[:5]),
    "chunk": transfer(0x02, struct.pack(">Q", 512) + b"chunk bytes"),
    "finish": transfer(0x03, DIGEST),
    "resume": transfer(0x11, struct.pack(">Q", 4096)),
    "acknowledge": transfer(0x12, struct.pack(">Q", 8192)),
    "complete": transfer(0x13, DIGEST),
    "refuse": transfer(0x14, bytes([3]) + b"store full"),
}

for target, files in corpus.items():
    directory = os.path.join(HERE, "Corpus", target)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
