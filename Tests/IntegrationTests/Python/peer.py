"""A WebSocket peer driven over stdin/stdout, for Holdfast's interop tests.

It runs the Python `websockets` package (>= 13, asyncio API) as the independent implementation:

    peer.py client URL [SUBPROTOCOL...]   connect to URL, offering the subprotocols
    peer.py server [SUBPROTOCOL...]       serve one connection on 127.0.0.1, port 0

Every line on stdout is one JSON object. The first is {"event": "listening", "port": N} (server)
or {"event": "open", ...} (client, and server once a client has connected). Then each line read
on stdin is one JSON command, answered by exactly one line:

    {"op": "send", "text": S} | {"op": "send", "binary": HEX}      one message
    {"op": "send", "fragments": [S, ...]}                            a fragmented text message
    {"op": "send", "binaryFragments": [HEX, ...]}                     a fragmented binary message
    {"op": "send", "pattern": N}                                     N bytes of pattern(N), binary
                         -> {"sent": true}, or {"sent": false} if the connection closed meanwhile
    {"op": "recv"}       -> {"type": "text"|"binary", "length": N, "data": S|HEX, "pattern": bool}
                            or {"type": "closed", ...close report}
    {"op": "ping"}       -> {"pong": true} once the pong arrived
    {"op": "close", "code": C, "reason": R}  -> close report
    {"op": "wait_closed"}                    -> close report, once the peer has closed
    {"op": "return"}     (server) the handler returns, so websockets closes with 1000
                            -> {"returned": true}

A close report is {"closed": true, "received": {"code", "reason"} | null, "sent": ... | null}.
Data over 4096 bytes is not echoed in "data"; "pattern" tells whether it equals pattern(length).
"""

import asyncio
import json
import signal
import sys
import threading

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

MAX_SIZE = 16 * 1024 * 1024


def pattern(length):
    return bytes((i * 31 + 7) & 0xFF for i in range(length))


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def frame_report(frame):
    return None if frame is None else {"code": frame.code, "reason": frame.reason}


def close_report(ws):
    return {
        "closed": True,
        "received": frame_report(ws.protocol.close_rcvd),
        "sent": frame_report(ws.protocol.close_sent),
    }


def message_report(message):
    if isinstance(message, str):
        data = message.encode("utf-8")
        report = {"type": "text", "length": len(data)}
        if len(data) <= 4096:
            report["data"] = message
        return report
    report = {"type": "binary", "length": len(message), "pattern": message == pattern(len(message))}
    if len(message) <= 4096:
        report["data"] = message.hex()
    return report


class Commands:
    """The commands read from stdin by a daemon thread; None once stdin ends.

    A daemon thread, not an executor, so that a pending read never keeps the process alive: when
    the test process goes away its end of the pipe closes, and this peer ends too.
    """

    def __init__(self):
        self.queue = asyncio.Queue()
        self.ended = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(loop,), daemon=True).start()

    def _read(self, loop):
        for line in sys.stdin:
            loop.call_soon_threadsafe(self.queue.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(self.queue.put_nowait, None)
        loop.call_soon_threadsafe(self.ended.set)

    async def next(self):
        return await self.queue.get()


async def send(ws, command):
    if "text" in command:
        await ws.send(command["text"])
    elif "binary" in command:
        await ws.send(bytes.fromhex(command["binary"]))
    elif "fragments" in command:
        # An iterable makes websockets send one frame per item: a fragmented message.
        await ws.send(list(command["fragments"]))
    elif "binaryFragments" in command:
        await ws.send([bytes.fromhex(part) for part in command["binaryFragments"]])
    elif "pattern" in command:
        await ws.send(pattern(command["pattern"]))
    else:
        raise ValueError("send: nothing to send")


async def execute(ws, command):
    op = command["op"]
    if op == "send":
        try:
            await send(ws, command)
        except ConnectionClosed:
            return {"sent": False}
        return {"sent": True}
    if op == "recv":
        try:
            return message_report(await ws.recv())
        except ConnectionClosed:
            await ws.wait_closed()
            return {"type": "closed", **close_report(ws)}
    if op == "ping":
        pong = await ws.ping()
        await pong
        return {"pong": True}
    if op == "close":
        await ws.close(code=command["code"], reason=command.get("reason", ""))
        return close_report(ws)
    if op == "wait_closed":
        await ws.wait_closed()
        return close_report(ws)
    raise ValueError(f"unknown op {op!r}")


async def command_loop(ws, commands):
    """Runs commands until stdin ends or a 'return' command; returns the pending command."""
    while True:
        command = await commands.next()
        if command is None or command["op"] == "return":
            return command
        try:
            emit(await execute(ws, command))
        except Exception as error:  # reported to the test, which fails with it
            emit({"error": f"{type(error).__name__}: {error}"})


async def run_client(url, subprotocols):
    async with connect(url, subprotocols=subprotocols or None, max_size=MAX_SIZE,
                       open_timeout=10, close_timeout=10, ping_interval=None) as ws:
        emit({"event": "open", "subprotocol": ws.subprotocol,
              "extensions": ws.response.headers.get("Sec-WebSocket-Extensions")})
        await command_loop(ws, Commands())


async def run_server(subprotocols):
    commands = Commands()
    done = asyncio.get_running_loop().create_future()

    async def handler(ws):
        request = ws.request
        emit({"event": "open", "subprotocol": ws.subprotocol, "path": request.path,
              "headers": {name.lower(): value for name, value in request.headers.raw_items()},
              "extensions": ws.response.headers.get("Sec-WebSocket-Extensions")})
        try:
            if await command_loop(ws, commands) is not None:
                # 'return': the handler ends here, and websockets closes the connection with 1000.
                emit({"returned": True})
        finally:
            if not done.done():
                done.set_result(ws)

    async with serve(handler, "127.0.0.1", 0, subprotocols=subprotocols or None, max_size=MAX_SIZE,
                     close_timeout=10, ping_interval=None) as server:
        emit({"event": "listening", "port": server.sockets[0].getsockname()[1]})
        # stdin ending before any client came means the test is gone: stop.
        ended = asyncio.ensure_future(commands.ended.wait())
        await asyncio.wait([done, ended], return_when=asyncio.FIRST_COMPLETED)
        if not done.done():
            return
        ws = done.result()
        # Leaving `serve` would close a connection still open with 1001: let websockets finish
        # the close it starts when the handler returns first.
        await ws.wait_closed()


def main():
    # A child inherits its parent's blocked signals: unblock them so that SIGTERM and SIGINT work.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    mode = sys.argv[1]
    if mode == "client":
        asyncio.run(run_client(sys.argv[2], sys.argv[3:]))
    elif mode == "server":
        asyncio.run(run_server(sys.argv[2:]))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
