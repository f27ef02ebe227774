"""The shop: a Flask app under gunicorn, at ``/shop/``.  Anyone may fill a cart; the cart is
the session key ``cart`` (a list), the same value the FastAPI cart and the Django account read.
"""

from __future__ import annotations

import os

import flask

from sessionserver.integrations.flask import init_app

from .page import button, page

PRODUCTS = ("apple", "pear", "fig", "plum")

app = flask.Flask(__name__)
app.secret_key = os.environ.get("SECRET_KEY", "example only: set SECRET_KEY")
app.config.update(
    SESSIONSERVER_URL=os.environ.get("SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090"),
    # Shared with Django and Starlette: one cookie name, path and SameSite (README).
    SESSION_COOKIE_NAME="session",
    SESSION_COOKIE_PATH="/",
    SESSION_COOKIE_SAMESITE="Lax",
)
init_app(app)


@app.get("/shop/")
def shop() -> str:
    body = "<p>Fresh fruit, one at a time:</p>" + "".join(
        button("/shop/add", f"Add {name}", item=name) for name in PRODUCTS
    )
    return page("Shop", body, flask.session, "Flask")


@app.post("/shop/add")
def add() -> flask.Response:
    item = flask.request.form.get("item", "")
    if item not in PRODUCTS:
        flask.abort(400)
    flask.session["cart"] = [*flask.session.get("cart", []), item]
    return flask.redirect("/shop/", 303)
