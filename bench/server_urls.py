"""The app's URLs plus ``/bench/trivial``: the floor of health_endpoint_http."""

from django.http import JsonResponse
from django.urls import path

from cs_platform.urls import urlpatterns as app_urlpatterns


def trivial(request):
    """A Django JSON view with no database, cache or authentication: the server's fixed cost
    (gunicorn, WSGI, the middleware, URL resolution, JSON) for one request."""
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/trivial", trivial, name="bench-trivial"), *app_urlpatterns]
