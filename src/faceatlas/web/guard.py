"""The app's outer ASGI layer: refuse requests for a foreign ``Host`` (DNS rebinding), and cap
request bodies while they stream in (chunked ones too), before any route reads them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceatlas.errors import UsageError

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a request body passes the limit (FastAPI re-raises
    ``HTTPException`` from body parsing, so the route answers 413 rather than 400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


def allowed_hosts_for(bind_host: str | None = None, extra: Iterable[str] = ()) -> list[str]:
    """Host names a server bound to ``bind_host`` answers to: loopback names, the bound address
    itself (unless it is a wildcard such as 0.0.0.0, which names no host), and ``extra``."""
    hosts = list(LOOPBACK_HOSTS)
    if bind_host is not None and bind_host.strip("[]") not in WILDCARD_BINDS:
        hosts.append(bind_host)
    hosts.extend(extra)
    return normalize_hosts(hosts)


def normalize_hosts(hosts: Iterable[str]) -> list[str]:
    """Lower-case names without port, brackets or trailing dot; ``*`` (any) and ``*.domain``
    (its subdomains) are kept as patterns."""
    found: list[str] = []
    for host in hosts:
        name = host.strip().lower().rstrip(".")
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        if not name:
            raise UsageError("an allowed host must not be empty")
        if name not in found:
            found.append(name)
    return found


def host_name(header: str) -> str | None:
    """The host name of a ``Host`` header value (port dropped, IPv6 unbracketed), or None when
    the value is not a well-formed host[:port]."""
    value = header.strip().lower()
    if not value or len(value) > 255 or not value.isascii():
        return None
    if value.startswith("["):  # [v6]:port
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest[0] == ":" and rest[1:].isdigit())):
            return None
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
        return name
    name, colon, port = value.partition(":")
    if colon and not port.isdigit():
        return None
    name = name.rstrip(".")
    if not name or any(not (c.isalnum() or c in "-._") for c in name):
        return None
    return name


def host_allowed(header: str, allowed: list[str]) -> bool:
    name = host_name(header)
    if name is None:
        return False
    for pattern in allowed:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class Guard:
    """Pure ASGI middleware: 400 for a ``Host`` not in ``allowed_hosts``; 413 for a body over
    ``max_body`` bytes, from its Content-Length before reading, or as soon as the bytes received
    pass the limit (chunked bodies, or a Content-Length that lies)."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str],
        max_body: int,
        too_large: str = "request body too large",
    ) -> None:
        self.app = app
        self.allowed = normalize_hosts(allowed_hosts)
        self.max_body = max_body
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hosts = [v for k, v in scope["headers"] if k == b"host"]
        if len(hosts) != 1 or not host_allowed(hosts[0].decode("latin-1"), self.allowed):
            await self.refuse(scope, send, 400, "invalid Host header")
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = [v for k, v in scope["headers"] if k == b"content-length"]
        if length and (not length[0].isdigit() or int(length[0]) > self.max_body):
            if length[0].isdigit():
                await self.refuse(scope, send, 413, self.too_large)
            else:
                await self.refuse(scope, send, 400, "invalid Content-Length")
            return

        received = 0
        started = overflowed = False

        async def counted_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    overflowed = True
                    raise BodyTooLarge(self.too_large)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if overflowed:  # close rather than read and discard the rest of the body
                    headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as err:  # raised where no exception handler answered it
            if not started:
                await self.refuse(scope, send, 413, err.detail)

    @staticmethod
    async def refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": detail}).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        })
        await send({"type": "http.response.body", "body": body})
