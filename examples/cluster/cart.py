"""The cart and checkout: a FastAPI app under uvicorn, at ``/cart/``.  It adds extras to the
cart the Flask shop filled and checks out: the order goes to the session's ``orders``, which
the Django account page lists."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sessionserver.middleware.asgi import SessionMiddleware

from .page import button, items, page

EXTRAS = ("basket", "gift card")

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
app.add_middleware(
    SessionMiddleware,
    url=os.environ.get("SESSIONSERVER_URL", "sessionserver://127.0.0.1:9090"),
    session_cookie="session",
)


@app.get("/cart/", response_class=HTMLResponse)
async def cart(request: Request) -> str:
    session = request.session
    body = "<h2>In your cart</h2>" + items(session.get("cart"))
    body += "".join(button("/cart/add", f"Add {name}", item=name) for name in EXTRAS)
    if session.get("cart"):
        if session.get("_user_id"):
            body += "<p>" + button("/cart/checkout", "Check out") + "</p>"
        else:
            body += '<p><a href="/account/">Sign in</a> to check out.</p>'
    if "last_order" in session:
        body += f'<p id="order">Thank you! Order {session["last_order"]} is on its way.</p>'
    return page("Cart", body, session, "FastAPI")


@app.post("/cart/add")
async def add(request: Request, item: Annotated[str, Form()]) -> RedirectResponse:
    if item not in EXTRAS:
        raise HTTPException(400)
    request.session["cart"] = [*request.session.get("cart", []), item]
    return RedirectResponse("/cart/", 303)


@app.post("/cart/checkout")
async def checkout(request: Request) -> RedirectResponse:
    session = request.session
    if not session.get("_user_id") or not session.get("cart"):
        raise HTTPException(400)
    orders = [*session.get("orders", []), session["cart"]]
    session.update(orders=orders, cart=[], last_order=len(orders))
    return RedirectResponse("/cart/", 303)
