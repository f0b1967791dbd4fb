"""TCP proxies on loopback under the test's control: one that forwards, goes silent (a cut
that sends nothing, like Wi-Fi dropping), or blocks the port (connections reset, new ones
refused), then forwards again; and a slow, jittery link (``SlowLink``)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time


class CuttableProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cut = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def block(self) -> None:
        """A firewall closes the port: open connections are reset, new ones refused."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # RST, not a polite FIN
        self._writers.clear()

    async def unblock(self) -> None:
        await self.start()  # the same port again

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await src.read(65536):
                if self.cut:
                    continue  # silence: bytes vanish, nothing is closed
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(ConnectionError, RuntimeError):
            dst.close()

    async def close(self) -> None:
        for task in list(self._pipes):
            task.cancel()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class SlowLink:
    """A TCP proxy on loopback that holds every chunk, each way, for ``delay`` ± ``jitter``
    seconds before passing it on, in order: a slow, jittery mobile link, as ``tc qdisc ...
    netem delay 300ms 100ms`` makes one (netem is not in every kernel; this needs none). It
    runs its own event loop in a thread, so a synchronous test (Playwright's) can use it."""

    def __init__(self, target_port: int, delay: float, jitter: float) -> None:
        self.target_port, self.delay, self.jitter = target_port, delay, jitter
        self.port = 0
        self.held: list[float] = []  # each chunk's hold, in seconds
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> SlowLink:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, dst))
        self._tasks.add(sender)
        sender.add_done_callback(self._tasks.discard)
        due = 0.0
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await src.read(65536):
                hold = max(0.0, self.delay + random.uniform(-self.jitter, self.jitter))  # noqa: S311
                self.held.append(hold)
                due = max(due, time.monotonic() + hold)  # in order, like a single queue
                queue.put_nowait((due, data))
        queue.put_nowait((due, b""))
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await sender

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], dst: asyncio.StreamWriter
    ) -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))  # the link's own delay
            if not data:
                break
            dst.write(data)
            await dst.drain()
        with contextlib.suppress(ConnectionError, RuntimeError):
            dst.close()

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            tasks = list(self._tasks)  # each pipe and its sender: ended before the loop is
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
