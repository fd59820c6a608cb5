"""What every Flywheel web page shares: strict security headers on every HTTP response, and a check
of the ``Host`` header against the names the page is served under.

Payload text (messages, tweets, URLs) is written by strangers; the pages insert it as text, and the
headers (a strict Content-Security-Policy among them) are the net if that ever slips.

The host check is the defence against DNS rebinding: a web page on ``evil.example`` can point its own
name at 127.0.0.1 and have the visitor's browser talk to a Flywheel page on this machine as if it
were same-origin, reading it (every read is open) without any cross-site rule applying. The browser
still sends ``Host: evil.example``, so answering only requests addressed to the names we serve
(loopback by default, plus the ones configured) stops it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The names a page bound to this machine answers to unless told of more.
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
_HOST_RE = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:(\d{1,5}))?$")


def security_headers(content_security_policy: str) -> list[tuple[bytes, bytes]]:
    """A page's own Content-Security-Policy plus the headers every page sends."""
    return [
        (b"content-security-policy", content_security_policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]


class SecurityHeaders:
    """ASGI middleware appending ``headers`` (``(name, value)`` byte pairs) to every HTTP response."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]]):
        self.app = app
        self.headers = list(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(name, port or None)`` of a ``Host`` header or an allowed-host entry (lower case), or None
    when it is not a plain host name, IPv4 or bracketed IPv6 address with an optional port."""
    match = _HOST_RE.match(value.strip().lower())
    if match is None:
        return None
    return match[1], None if match[4] is None else int(match[4])


def allowed_hosts(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The loopback names plus ``extra`` (``name`` or ``name:port``; comma-separated lists are split,
    as given in an environment variable). Raises :class:`ValueError` for an entry that is no host."""
    hosts = list(LOOPBACK_HOSTS)
    for item in extra:
        for entry in item.split(","):
            if not entry.strip():
                continue
            if split_host(entry) is None:
                raise ValueError(
                    f"{entry.strip()[:80]!r} is not a host name or address (with an optional :port)"
                )
            hosts.append(entry.strip().lower())
    return tuple(dict.fromkeys(hosts))


def served_names(bind_host: str) -> list[str]:
    """The name a server bound to ``bind_host`` is reached by, as an allowed-host entry: the
    address itself (IPv6 in brackets), none for a wildcard (``0.0.0.0``, ``::``), whose names
    must be configured."""
    host = bind_host.strip()
    if host in ("", "0.0.0.0", "::", "[::]"):
        return []
    return [f"[{host}]" if ":" in host and not host.startswith("[") else host]


class HostCheck:
    """ASGI middleware answering 400 to a request whose ``Host`` is not one of ``hosts``.

    An entry ``name`` accepts ``Host: name`` and ``Host: name:<the port this server listens on>``;
    ``name:port`` accepts exactly that. So by default a page on port 8765 answers
    ``127.0.0.1:8765`` and ``localhost:8765``, and a name in front of a reverse proxy is allowed by
    configuring it.
    """

    def __init__(self, app: ASGIApp, hosts: Sequence[str] = LOOPBACK_HOSTS):
        self.app = app
        self.hosts = [parsed for parsed in map(split_host, hosts) if parsed is not None]

    def allows(self, host: str, server_port: int | None) -> bool:
        given = split_host(host)
        if given is None:
            return False
        name, port = given
        for allowed_name, allowed_port in self.hosts:
            if name != allowed_name:
                continue
            if allowed_port is not None:
                if port == allowed_port:
                    return True
            elif port is None or server_port is None or port == server_port:
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
        server = scope.get("server")
        if self.allows(host, server[1] if server else None):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        message = "this server does not answer to that Host header (allow more names with --allowed-host)"
        body = json.dumps({"error": message, "detail": {"host": host[:100]}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


#: The shortest ``--token`` a page accepts (annotate and customers alike).
MIN_TOKEN_CHARS = 8


def check_token(token: str) -> str:
    """``token`` as given, or :class:`ValueError` when it is too short or carries spaces."""
    if len(token.strip()) < MIN_TOKEN_CHARS or token != token.strip():
        raise ValueError(f"at least {MIN_TOKEN_CHARS} characters, no spaces")
    return token
