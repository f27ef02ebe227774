"""Sign in (a cycled session key: no fixation), the account page, sign out here or everywhere.

The users are a fixed demo list; the session holds the user's name under ``_user_id``, the key
the daemon's user index reads (``--user-keys``), so "everywhere" finds every session of theirs,
whichever framework made it."""

from __future__ import annotations

import hmac
from html import escape

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import path
from django.views.decorators.http import require_POST

from sessionserver.integrations.django import logout_everywhere

from ..page import button, items, page

#: Demo users and their passwords.
USERS = {"alice": "wonderland", "bob": "builder"}

_FORM = """<form method="post" action="/account/login">
<label>Name <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button id="sign-in">Sign in</button></form>"""


def account(request: HttpRequest) -> HttpResponse:
    session = request.session
    if not session.get("_user_id"):
        body = _FORM
        if "error" in session:
            body += f'<p id="error">{escape(session.pop("error"))}</p>'
    else:
        orders = "".join(
            f"<li>Order {n}: {items(order)}</li>"
            for n, order in enumerate(session.get("orders", []), 1)
        )
        body = (
            f'<h2>Your orders</h2><ol id="orders">{orders}</ol>'
            + button("/account/logout", "Sign out")
            + button("/account/logout-everywhere", "Sign out everywhere")
        )
    return HttpResponse(page("Account", body, session, "Django"))


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("username", "")
    known = USERS.get(name, "")
    if not known or not hmac.compare_digest(known, request.POST.get("password", "")):
        request.session["error"] = "Unknown name or wrong password."
        return HttpResponseRedirect("/account/")
    request.session.cycle_key()  # a new id on sign-in; the cart filled before comes along
    request.session["_user_id"] = name
    return HttpResponseRedirect("/shop/")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return HttpResponseRedirect("/account/")


@require_POST
def logout_all(request: HttpRequest) -> HttpResponse:
    user = request.session.get("_user_id")
    if not user:
        return HttpResponseBadRequest("not signed in")
    logout_everywhere(user)  # this session too
    request.session.flush()
    return HttpResponseRedirect("/account/")


urlpatterns = [
    path("account/", account),
    path("account/login", login),
    path("account/logout", logout),
    path("account/logout-everywhere", logout_all),
]
