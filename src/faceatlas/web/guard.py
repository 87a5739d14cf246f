"""The app's outer ASGI layer, before any route reads a request: refuse a foreign ``Host`` (DNS
rebinding); refuse writes from other origins (another web page posting to this server), writes to
a read-only server, and writes without the server's token when it has one (``WritePolicy``); cap
request bodies while they stream in (chunked ones too); and add the headers that keep every page
on this server's own files (``SECURITY_HEADERS``).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceatlas.errors import UsageError

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_WRITE_BODY = 64 * 1024  # a people write is a few ids or a name
MIN_TOKEN = 16  # characters of a token given with --token
OPEN_PRINTED = "open the /people?token=... address `faceatlas serve` printed"
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
# Every answer: pages load scripts, styles, images and data from this server only (no CDN, no
# other host), run no inline script, may not be framed by another page (clicks on edit buttons),
# and send their URL (which may hold ?token=) to no other site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


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


def is_loopback(bind_host: str) -> bool:
    """Whether a server bound to ``bind_host`` is reachable from this machine only."""
    name = bind_host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


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


def split_host(header: str) -> tuple[str, int | None] | None:
    """(host name, port or None) of a ``Host`` header value (IPv6 unbracketed), or None when the
    value is not a well-formed host[:port]."""
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
        return name, int(rest[1:]) if rest else None
    name, colon, port = value.partition(":")
    if colon and not port.isdigit():
        return None
    name = name.rstrip(".")
    if not name or any(not (c.isalnum() or c in "-._") for c in name):
        return None
    return name, int(port) if colon else None


def host_name(header: str) -> str | None:
    """The host name of a ``Host`` header value (port dropped, IPv6 unbracketed), or None when
    the value is not a well-formed host[:port]."""
    found = split_host(header)
    return None if found is None else found[0]


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


def origin_of(value: str, referer: bool = False) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an ``Origin`` value, or of a ``Referer`` URL (``referer``); None
    for ``null`` (a sandboxed frame, a file, a redirect across sites) or anything malformed."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if not referer and (parts.path not in ("", "/") or parts.query or parts.fragment):
        return None
    return scheme, parts.hostname.rstrip("."), port or DEFAULT_PORTS[scheme]


def own_origin(scope: Scope, host: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of this server as the request addressed it (its ``Host``)."""
    scheme = scope.get("scheme", "http")
    found = split_host(host)
    if found is None or scheme not in DEFAULT_PORTS:
        return None
    name, port = found
    return scheme, name, port or DEFAULT_PORTS[scheme]


def check_token(token: str) -> str:
    """A write token given by the user, if it is long enough and safe in a URL and a header."""
    if len(token) < MIN_TOKEN or not set(token) <= TOKEN_CHARS:
        raise UsageError(
            f"a token must be at least {MIN_TOKEN} characters of A-Z a-z 0-9 - _ . ~ "
            "(leave it out and one is made for you)"
        )
    return token


def new_token() -> str:
    """A fresh random write token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class WritePolicy:
    """Who may send an unsafe request (POST, PUT, PATCH, DELETE), checked before its body is read.

    Every unsafe request must come from this server's own origin: an ``Origin`` (or, without
    one, a ``Referer``) naming another scheme, host or port, or ``Origin: null``, gets 403;
    a request with neither header (curl, scripts: no browser sends a cross-site POST without
    ``Origin``) passes. Then, except for ``open_paths`` (uploads that change nothing), every
    unsafe request is a write: 403 when ``read_only`` (``read_only_detail`` says why), 401
    without ``Authorization: Bearer <token>`` when a ``token`` is set. A write's body may hold
    at most ``max_body`` bytes. Writes are denied by default: a new unsafe route is a write
    unless it is named in ``open_paths``.
    """

    read_only: bool = False
    token: str | None = None
    open_paths: frozenset[str] = frozenset()
    max_body: int = MAX_WRITE_BODY
    read_only_detail: str = "read-only: this server does not change the catalog"

    def __post_init__(self) -> None:
        if self.token is not None:
            check_token(self.token)
        if self.max_body < 1:
            raise UsageError(f"max_body must be >= 1, got {self.max_body}")

    @property
    def token_required(self) -> bool:
        return self.token is not None and not self.read_only

    def refusal(self, scope: Scope, host: str) -> tuple[int, str] | None:
        """(status, detail) refusing the unsafe request of ``scope``, or None to let it pass."""
        headers = scope["headers"]
        origins = [v.decode("latin-1") for k, v in headers if k == b"origin"]
        referers = [v.decode("latin-1") for k, v in headers if k == b"referer"]
        if origins or referers:
            said = origins or referers
            claimed = origin_of(said[0], referer=not origins) if len(said) == 1 else None
            if claimed is None or claimed != own_origin(scope, host):
                which = "Origin" if origins else "Referer"
                return 403, f"cross-origin request refused: {which} is not this server's page"
        if scope["path"] in self.open_paths:
            return None
        if self.read_only:
            return 403, self.read_only_detail
        if self.token is not None:
            auth = [v for k, v in headers if k == b"authorization"]
            if not auth:
                return 401, f"a token is needed to make changes: {OPEN_PRINTED}"
            scheme, _, given = auth[0].partition(b" ")
            if (
                len(auth) != 1
                or scheme.lower() != b"bearer"
                or not secrets.compare_digest(given.strip(), self.token.encode())
            ):
                return 401, f"wrong token: {OPEN_PRINTED}"
        return None


class Guard:
    """Pure ASGI middleware: 400 for a ``Host`` not in ``allowed_hosts``; for unsafe methods,
    403/401 as ``writes`` (a ``WritePolicy``) says; 413 for a body over ``max_body`` bytes (a
    write's: ``writes.max_body``), from its Content-Length before reading, or as soon as the
    bytes received pass the limit (chunked bodies, or a Content-Length that lies). Every answer
    carries ``SECURITY_HEADERS``."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str],
        max_body: int,
        too_large: str = "request body too large",
        writes: WritePolicy | None = None,
    ) -> None:
        self.app = app
        self.allowed = normalize_hosts(allowed_hosts)
        self.max_body = max_body
        self.too_large = too_large
        self.writes = WritePolicy() if writes is None else writes

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
        max_body, too_large = self.max_body, self.too_large
        if scope["method"] in UNSAFE_METHODS:
            refused = self.writes.refusal(scope, hosts[0].decode("latin-1"))
            if refused is not None:
                await self.refuse(scope, send, *refused)
                return
            if scope["path"] not in self.writes.open_paths:
                max_body = self.writes.max_body
                too_large = f"request body too large: the limit is {max_body // 1024} KB"
        length = [v for k, v in scope["headers"] if k == b"content-length"]
        if length and (not length[0].isdigit() or int(length[0]) > max_body):
            if length[0].isdigit():
                await self.refuse(scope, send, 413, too_large)
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
                if received > max_body:
                    overflowed = True
                    raise BodyTooLarge(too_large)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if overflowed:  # close rather than read and discard the rest of the body
                    headers = [(k, v) for k, v in headers if k != b"connection"]
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": with_security_headers(headers)}
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
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": with_security_headers(headers),
            }
        )
        await send({"type": "http.response.body", "body": body})


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus each of ``SECURITY_HEADERS`` the response does not set itself."""
    present = {k.lower() for k, _ in headers}
    return headers + [(k, v) for k, v in SECURITY_HEADERS if k not in present]
