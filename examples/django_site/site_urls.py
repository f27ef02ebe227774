from django.http import HttpRequest, HttpResponse
from django.urls import path


def index(request: HttpRequest) -> HttpResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    user = request.session.get("_user_id", "nobody")
    return HttpResponse(
        f"Hello {user}, visit number {request.session['visits']} (Django)\n",
        content_type="text/plain",
    )


urlpatterns = [path("", index)]
