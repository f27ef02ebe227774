"""The admin listener's routes: probes, metrics, the dashboard and its API.

``/healthz`` and ``/readyz`` are always open (load balancers and Kubernetes probes carry no
credentials).  Everything else requires the admin token when the daemon has one (the
``--admin-token``, else the ``--auth-token``, as for the admin commands over TCP): as
``Authorization: Bearer <token>``, or as the password of HTTP Basic authentication, which is
how a browser asks a person for it and then sends it with every request of the dashboard.
Changes (log a user out everywhere) are POSTs of JSON, which a page of another origin cannot
send without a CORS preflight that this listener never grants.  Without a token, only requests
that name the listener by address (or ``localhost``) are served, so that a site that points
its own name at 127.0.0.1 (DNS rebinding) cannot read the figures or log anyone out.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from ...logs import sid_prefix
from ...protocol.replies import Err
from ...storage import StorageError
from ..eager import resolve
from ..sessions.state import ConnectionState
from .figures import Collector, overview

if TYPE_CHECKING:
    from .listener import AdminListener

__all__ = ["build_app"]

logger = logging.getLogger("sessionserver")

STATIC = Path(__file__).parent / "static"
#: Most sessions a user lookup lists.
MAX_LISTED = 100
#: Longest user id accepted (bytes of UTF-8).
MAX_USER = 1024
#: Open to anyone who can reach the port.
OPEN = frozenset({"/healthz", "/readyz"})
#: The browser may run only the dashboard's own script and style.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

_ADMIN: web.AppKey[AdminListener] = web.AppKey("admin")


def build_app(admin: AdminListener) -> web.Application:
    config = admin.server.config
    secret = config.admin_token or config.auth_token
    token = secret.reveal().encode() if secret is not None else None
    app = web.Application(middlewares=[_guard(token, config.admin_host)], client_max_size=64 * 1024)
    app[_ADMIN] = admin
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(admin))
    ProcessCollector(registry=registry)

    async def metrics(request: web.Request) -> web.Response:
        admin.sampler.read()
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", _dashboard)
    app.router.add_get("/api/overview", _overview)
    app.router.add_get("/api/user", _user)
    app.router.add_post("/api/user/logout", _logout)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app


def _guard(token: bytes | None, admin_host: str) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path not in OPEN:
            if token is None and not _local_name(request.host, admin_host):
                # Without a token, a page of another site that had its name point at this
                # address (DNS rebinding) would be same-origin: only addresses are trusted.
                return _error(403, "set --admin-token to reach the admin listener by name")
            if token is not None and not _authorized(request, token):
                return web.Response(
                    status=401,
                    text="401: send the admin token: Authorization: Bearer <token>\n",
                    headers={
                        "WWW-Authenticate": 'Basic realm="sessionserver admin", charset="UTF-8"'
                    },
                )
            if request.method == "POST" and not _same_origin(request):
                return _error(403, "POST JSON from the dashboard's own origin only")
        response: web.StreamResponse = await handler(request)
        response.headers.update(HEADERS)
        return response

    return guard


def _authorized(request: web.Request, token: bytes) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        given = credentials.strip().encode()
    elif scheme == "basic":
        try:
            given = base64.b64decode(credentials.strip(), validate=True).partition(b":")[2]
        except (binascii.Error, ValueError):
            return False
    else:
        return False
    return hmac.compare_digest(given, token)


def _local_name(host: str, admin_host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name in ("localhost", admin_host):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _same_origin(request: web.Request) -> bool:
    if request.content_type != "application/json":
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin.partition("://")[2] == request.host


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    admin = request.app[_ADMIN]
    if admin.ready:
        return web.Response(text="ready\n")
    why = "draining" if admin.draining else "the storage does not answer"
    return web.Response(status=503, text=f"not ready: {why}\n")


async def _dashboard(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def _overview(request: web.Request) -> web.Response:
    admin = request.app[_ADMIN]
    admin.sampler.read()
    return web.json_response(overview(admin))


def _user_id(raw: object) -> bytes | web.Response:
    if not isinstance(raw, str) or not raw.strip():
        return _error(400, "give a user id")
    user = raw.strip().encode()
    if len(user) > MAX_USER:
        return _error(400, f"a user id is at most {MAX_USER} bytes")
    return user


async def _user(request: web.Request) -> web.Response:
    """A user's live sessions: id prefixes and seconds left, never the data."""
    user = _user_id(request.query.get("id"))
    if isinstance(user, web.Response):
        return user
    manager = request.app[_ADMIN].server.manager
    try:
        sids: list[bytes] = await resolve(manager.user_sessions(user))
        listed = []
        for sid in sids[:MAX_LISTED]:
            left = await resolve(manager.admin.expires(sid))
            if not isinstance(left, Err):
                listed.append({"session": sid_prefix(sid), "seconds_left": left})
    except StorageError:
        return _error(503, "storage unavailable")
    return web.json_response({"sessions": listed, "total": len(sids)})


async def _logout(request: web.Request) -> web.Response:
    """Log a user out everywhere: destroy every session of theirs."""
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "the body is not JSON")
    user = _user_id(body.get("user") if isinstance(body, dict) else None)
    if isinstance(user, web.Response):
        return user
    server = request.app[_ADMIN].server
    st = ConnectionState(server.manager, server.tables, token=None)
    try:
        destroyed: int = await resolve(server.manager.destroy_user(st, user, None))
        if st.barrier is not None:  # answer once the deletions are durable, as over TCP
            await st.barrier.wait()
            if st.barrier.error is not None:
                raise StorageError(str(st.barrier.error))
    except StorageError:
        return _error(503, "storage unavailable")
    logger.info(
        "admin: logged a user out everywhere (%d sessions)",
        destroyed,
        extra={"peer": request.remote, "destroyed": destroyed},
    )
    return web.json_response({"destroyed": destroyed})
