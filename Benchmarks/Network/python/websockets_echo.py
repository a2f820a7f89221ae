#!/usr/bin/env python3
"""Echo server on Python `websockets` (asyncio) for scripts/bench-deflate-tls.sh.

Usage: websockets_echo.py --port P [--tls-cert PEM --tls-key PEM] [--no-compression]
       [--max-message-size BYTES]
Listens on 127.0.0.1 (env HOST to change). Echoes every message with its type. Compression is
the library's default (permessage-deflate, server and client windows of 12 bits, memLevel 5)
unless --no-compression. Keepalive pings are off, as in the other peers.
"""
import argparse
import asyncio
import os
import ssl
import sys

from websockets.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--max-message-size", type=int, default=128 << 20)
    args = parser.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    host = os.environ.get("HOST", "127.0.0.1")
    kwargs = {"ssl": context, "max_size": args.max_message_size, "ping_interval": None}
    if args.no_compression:
        kwargs["compression"] = None
    async with serve(echo, host, args.port, **kwargs):
        print(f"websockets echo listening on {'wss' if context else 'ws'}://{host}:{args.port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
