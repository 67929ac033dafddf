"""A real HTTP receiver on 127.0.0.1 (uvicorn + a tiny ASGI app) that records requests and plays
scripted responses per path."""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'


class ReceiverApp:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        # path -> replies to give in order; the last one repeats.
        self.script: dict[str, list[Reply]] = defaultdict(list)
        # path -> a gate the reply waits for (the request stays in flight until it is set).
        self.holds: dict[str, asyncio.Event] = {}

    def on(self, path: str, *replies: Reply) -> None:
        self.script[path] = list(replies)

    def hold(self, path: str) -> asyncio.Event:
        """Keep requests to `path` waiting until the returned event is set."""
        gate = self.holds[path] = asyncio.Event()
        return gate

    def at(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def record(self, scope: dict[str, Any], receive: Any) -> Seen:
        """Read the request's whole body; remember and return what came in."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        seen = Seen(scope["method"], scope["path"], headers, body)
        self.seen.append(seen)
        return seen

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.record(scope, receive)
        gate = self.holds.get(scope["path"])
        if gate is not None:
            await gate.wait()
        replies = self.script.get(scope["path"]) or [Reply()]
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})


class Receiver:
    def __init__(self, sock: socket.socket, app: ReceiverApp | None = None) -> None:
        """`sock`: already listening (tests.conftest.listening_socket), so the port stays ours."""
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        self.app = app or ReceiverApp()
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Receiver:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
