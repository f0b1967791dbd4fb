"""A socket busy with a slow frame says so, so that its page does not give it up.

A page pings its socket every 0.9 s, and gives the socket up once a ping has gone 1.5 s
unanswered while the server still answers ``/healthz`` (``signal.js``): the network is back,
so a silent socket must be stuck. But a socket's frames are handled one at a time, in order
(``dispatch.py``), and a ping waits behind a slow one: a resume waiting for the rooms
rebuilt after a restart, or for a database busy with a storm of them; the first data
connection, which imports aiortc. The page would then drop a healthy socket, and its resume
on a new one adds to the very storm that slowed the first.

So a socket whose frame has been in hand for ``WORKING_AFTER`` is sent ``working`` (and again
as often while it stays so): any frame counts as heard on the page, and the ``pong`` still
follows in order. It carries no ``id``: it answers nothing. A frame handled within
``WORKING_AFTER`` never causes one, so a socket that is only fast sees none."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from server.live.hub import Socket
from server.live.protocol import dump_message
from server.live.replies import Working

# a frame in hand this long (seconds) is said to be; with CHECK_SECONDS, a ping waiting
# behind it hears something within 0.9 s of being sent (and of the last ``working``),
# leaving the page's 1.5 s room for a slow network and a busy loop
WORKING_AFTER = 0.7
CHECK_SECONDS = 0.2
WORKING = dump_message(Working())


class Busy:
    """The sockets whose frame is being handled, and since when (or since last told)."""

    def __init__(self, after: float = WORKING_AFTER) -> None:
        self.after = after
        self.since: dict[Socket, float] = {}
        self.stopped = False  # the server is shutting down: its sockets are told why
        self._telling: set[asyncio.Task[None]] = set()

    @contextlib.contextmanager
    def handling(self, socket: Socket) -> Iterator[None]:
        self.since[socket] = time.monotonic()
        try:
            yield
        finally:
            self.since.pop(socket, None)

    async def tell(self) -> None:
        """Send ``working`` to each socket whose frame has been in hand too long."""
        if self.stopped:
            return
        now = time.monotonic()
        for socket, since in list(self.since.items()):
            if now - since >= self.after and not socket.closed:
                self.since[socket] = now
                task = asyncio.create_task(self._send(socket))
                self._telling.add(task)
                task.add_done_callback(self._telling.discard)

    async def _send(self, socket: Socket) -> None:
        if socket not in self.since or self.stopped:
            return  # its frame was answered meanwhile: a late ``working`` would follow it
        with contextlib.suppress(ConnectionError, RuntimeError):  # closing: nothing to tell
            await socket.send_str(WORKING)
