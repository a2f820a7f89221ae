"""An echo server of the Python `websockets` package (>= 13, asyncio API), for `holdfast probe`'s tests.

    echo_server.py MAX_SIZE [CERT KEY]

With CERT and KEY (PEM files) it serves wss:// with them. Serves any number of connections on 127.0.0.1, port 0, sending every message back with its type;
a message over MAX_SIZE bytes is refused by websockets with close 1009. The first line on stdout
is {"event": "listening", "port": N}. It runs until stdin ends, so that it goes away with the
test process that started it.
"""

import asyncio
import json
import signal
import ssl
import sys
import threading

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main(max_size, certificate=None, key=None):
    loop = asyncio.get_running_loop()
    stdin_ended = asyncio.Event()

    def wait_for_stdin_end():
        sys.stdin.read()
        loop.call_soon_threadsafe(stdin_ended.set)

    # A daemon thread, so that a pending read never keeps the process alive.
    threading.Thread(target=wait_for_stdin_end, daemon=True).start()
    tls = None
    if certificate:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certificate, key)
    async with serve(echo, "127.0.0.1", 0, max_size=max_size, ping_interval=None, close_timeout=5,
                     ssl=tls) as server:
        sys.stdout.write(json.dumps({"event": "listening", "port": server.sockets[0].getsockname()[1]}) + "\n")
        sys.stdout.flush()
        await stdin_ended.wait()


if __name__ == "__main__":
    # A child inherits its parent's blocked signals: unblock them so that SIGTERM and SIGINT work.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    asyncio.run(main(int(sys.argv[1]), *sys.argv[2:4]))
