"""A plain WSGI app whose sessions live in the session server.

    sessionserver serve &                       # the daemon, on 127.0.0.1:9090
    python examples/wsgi_app.py                 # http://127.0.0.1:8003/ (werkzeug)

Environment: SESSIONSERVER_URL (default sessionserver://127.0.0.1:9090), PORT (default 8003).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sessionserver.middleware.wsgi import SessionMiddleware


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session = environ["sessionserver.session"]
    session["visits"] = session.get("visits", 0) + 1
    body = f"Hello {session.get('_user_id', 'nobody')}, visit {session['visits']} (WSGI)\n"
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


app = SessionMiddleware(
    hello, url=os.environ.get("SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090")
)

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", int(os.environ.get("PORT", "8003")), app)
