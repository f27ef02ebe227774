"""One shopping cart, two frameworks: a Flask shop and a Starlette checkout, side by side.

    sessionserver serve &                 # the daemon, on 127.0.0.1:9090
    python examples/shared_cart.py        # Flask on :8001, Starlette on :8002

    curl -c jar -b jar http://127.0.0.1:8001/add/apple     # the Flask shop
    curl -c jar -b jar http://127.0.0.1:8001/add/pear
    curl -c jar -b jar http://127.0.0.1:8002/cart          # the Starlette checkout sees both
    curl -c jar -b jar -X POST http://127.0.0.1:8002/checkout

Both apps use the cookie ``session`` and the same server; cookies are shared across ports of a
host, so a browser sees one cart.  Environment: SESSIONSERVER_URL, SHOP_PORT, CHECKOUT_PORT.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from werkzeug.serving import make_server

from sessionserver.integrations.flask import init_app
from sessionserver.middleware.asgi import SessionMiddleware

URL = os.environ.get("SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090")

shop = flask.Flask("shop")
shop.secret_key = os.environ.get("SECRET_KEY", "dev only: set SECRET_KEY")
shop.config["SESSIONSERVER_URL"] = URL
init_app(shop)


@shop.get("/add/<item>")
def add(item: str) -> flask.Response:
    flask.session["cart"] = [*flask.session.get("cart", []), item]
    return flask.jsonify(shop="flask", cart=flask.session["cart"])


async def cart(request: Request) -> JSONResponse:
    return JSONResponse({"checkout": "starlette", "cart": request.session.get("cart", [])})


async def checkout(request: Request) -> JSONResponse:
    items = request.session.pop("cart", [])
    return JSONResponse({"checkout": "starlette", "bought": items})


checkout_app = Starlette(
    routes=[Route("/cart", cart), Route("/checkout", checkout, methods=["POST"])]
)
checkout_app.add_middleware(SessionMiddleware, url=URL)


def main() -> None:
    shop_port = int(os.environ.get("SHOP_PORT", "8001"))
    checkout_port = int(os.environ.get("CHECKOUT_PORT", "8002"))
    server = make_server("127.0.0.1", shop_port, shop, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"shop (Flask) on http://127.0.0.1:{shop_port}/add/<item>", flush=True)
    print(f"checkout (Starlette) on http://127.0.0.1:{checkout_port}/cart", flush=True)
    uvicorn.run(checkout_app, host="127.0.0.1", port=checkout_port, log_level="warning")


if __name__ == "__main__":
    main()
