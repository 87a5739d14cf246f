"""Running the app under uvicorn with limits a hostile client cannot outwait.

uvicorn times out only idle keep-alive connections: a client that connects and sends nothing,
or half a request head, or stops in the middle of a body, holds its connection (and a
``limit_concurrency`` slot) for ever. ``TimedH11Protocol`` closes such connections: the request
head must be complete within ``head_timeout`` seconds of its first byte (or of the connection),
and a body must not pause for more than ``body_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0  # seconds for a whole request head
BODY_TIMEOUT = 30.0  # seconds a request body may pause
KEEP_ALIVE = 5  # seconds an idle connection is kept between requests
LIMIT_CONCURRENCY = 64  # connections plus running requests; beyond it uvicorn answers 503
MAX_HEAD_BYTES = 16 * 1024  # h11's limit on a request head (request line and headers)
GRACEFUL_SHUTDOWN = 5


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for request heads and an idle limit for bodies."""

    head_timeout: float = HEAD_TIMEOUT
    body_timeout: float = BODY_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE:  # (more of) a request head is awaited
            self._arm_head()
            self._cancel_body()
            return
        self._cancel_head()
        if state is h11.SEND_BODY:
            self._cancel_body()
            self._body_timer = self.loop.call_later(self.body_timeout, self._timed_out)
        else:
            self._cancel_body()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head()
        self._cancel_body()
        super().connection_lost(exc)

    def _arm_head(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout, self._timed_out)

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _timed_out(self) -> None:
        self._head_timer = self._body_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with(head_timeout: float, body_timeout: float) -> type[TimedH11Protocol]:
    """A ``TimedH11Protocol`` class with these timeouts (uvicorn instantiates the class)."""
    return type(
        "TimedH11Protocol",
        (TimedH11Protocol,),
        {"head_timeout": float(head_timeout), "body_timeout": float(body_timeout)},
    )


def server_settings(
    *,
    head_timeout: float = HEAD_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    keep_alive: int = KEEP_ALIVE,
    limit_concurrency: int = LIMIT_CONCURRENCY,
) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``/``uvicorn.run`` that bound what one client can
    hold: head and body timeouts, keep-alive, concurrency, head size."""
    return {
        "http": protocol_with(head_timeout, body_timeout),
        "timeout_keep_alive": keep_alive,
        "limit_concurrency": limit_concurrency,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
        "server_header": False,
        "log_level": "warning",
    }


def run_server(app: Any, host: str, port: int, **overrides: Any) -> None:
    """Serve ``app`` on ``host:port`` with ``server_settings()`` (``overrides`` win; they may
    also be any ``uvicorn.run`` argument) until interrupted."""
    import uvicorn

    names = ("head_timeout", "body_timeout", "keep_alive", "limit_concurrency")
    limits = {k: overrides.pop(k) for k in names if k in overrides}
    uvicorn.run(app, host=host, port=port, **(server_settings(**limits) | overrides))
