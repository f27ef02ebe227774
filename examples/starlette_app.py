"""A Starlette (or FastAPI) app whose sessions live in the session server.

    sessionserver serve &                       # the daemon, on 127.0.0.1:9090
    python examples/starlette_app.py            # http://127.0.0.1:8002/ (uvicorn)

Environment: SESSIONSERVER_URL (default sessionserver://127.0.0.1:9090), PORT (default 8002).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sessionserver.middleware.asgi import SessionMiddleware


async def index(request: Request) -> PlainTextResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    user = request.session.get("_user_id", "nobody")
    return PlainTextResponse(
        f"Hello {user}, visit number {request.session['visits']} (Starlette)\n"
    )


app = Starlette(routes=[Route("/", index)])
app.add_middleware(
    SessionMiddleware,
    url=os.environ.get("SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090"),
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, port=int(os.environ.get("PORT", "8002")), log_level="warning")
