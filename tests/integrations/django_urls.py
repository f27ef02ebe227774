"""Views for the Django tests."""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path


def set_value(request: HttpRequest, key: str, value: str) -> HttpResponse:
    request.session[key] = value
    return HttpResponse("ok")


def get_all(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dict(request.session.items()))


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username() if request.user.is_authenticated else "-")


def do_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponse("bye")


def race(request: HttpRequest) -> HttpResponse:
    """Load the session, have "another request" log out meanwhile, then change it."""
    from django.conf import settings

    from sessionserver import SessionClient

    assert request.session["a"] == "1"
    with SessionClient(settings.SESSIONSERVER_URL) as other:
        other.destroy(request.session.session_key)
    request.session["b"] = "2"
    return HttpResponse("changed")


def cart_add(request: HttpRequest, item: str) -> HttpResponse:
    request.session["cart"] = [*request.session.get("cart", []), item]
    return HttpResponse("ok")


def logout_everywhere(request: HttpRequest) -> HttpResponse:
    from sessionserver.integrations.django import logout_everywhere as end_all

    n = end_all(request.user, keep=request.session.session_key)
    return HttpResponse(str(n))


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("no session")


async def async_count(request: HttpRequest) -> JsonResponse:
    n = await request.session.aget("n", 0) + 1
    await request.session.aset("n", n)
    return JsonResponse({"n": n})


urlpatterns = [
    path("set/<str:key>/<str:value>", set_value),
    path("all", get_all),
    path("whoami", whoami),
    path("logout", do_logout),
    path("plain", plain),
    path("race", race),
    path("cart/<str:item>", cart_add),
    path("logout-everywhere", logout_everywhere),
    path("acount", async_count),
]
