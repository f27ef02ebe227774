"""A Flask app whose sessions live in the session server.

    sessionserver serve &                       # the daemon, on 127.0.0.1:9090
    python examples/flask_app.py                # http://127.0.0.1:8001/

Environment: SESSIONSERVER_URL (default sessionserver://127.0.0.1:9090), PORT (default 8001).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask

from sessionserver.integrations.flask import init_app, logout_everywhere

app = flask.Flask(__name__)
app.secret_key = os.environ.get("SECRET_KEY", "dev only: set SECRET_KEY")
app.config["SESSIONSERVER_URL"] = os.environ.get(
    "SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090"
)
init_app(app)


@app.get("/")
def index() -> str:
    flask.session["visits"] = flask.session.get("visits", 0) + 1
    user = flask.session.get("_user_id", "nobody")
    return f"Hello {user}, visit number {flask.session['visits']} (Flask)\n"


@app.get("/login/<user>")
def login(user: str) -> str:
    flask.session.regenerate()  # type: ignore[attr-defined]
    flask.session["_user_id"] = user
    return f"logged in as {user}\n"


@app.get("/logout")
def logout() -> str:
    flask.session.invalidate()  # type: ignore[attr-defined]
    return "logged out\n"


@app.get("/logout-everywhere")
def end_all() -> str:
    ended = logout_everywhere(flask.session.get("_user_id", ""))
    return f"ended {ended} other sessions\n"


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "8001")))
