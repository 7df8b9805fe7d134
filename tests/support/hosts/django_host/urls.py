"""The Django host app's views and routes."""

from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST


@require_GET
def home(request):
    role = request.session.get("role", "nobody")
    return HttpResponse(f"<!doctype html><html><body><h1>Django host home</h1><p>Signed in as: {role}</p>"
                        "</body></html>")


@require_POST
def form(request):
    return HttpResponse(f"saved {request.POST.get('note', '')}")


@require_GET
def items(request):
    return JsonResponse({"items": ["a", "b"], "host": "django"})


@require_POST
def webhook(request):
    return JsonResponse({"received": True, "host": "django"})


@require_GET
def login(request):
    request.session["role"] = request.GET["role"]
    return HttpResponse(f"signed in as {request.session['role']}")


urlpatterns = [
    path("", home),
    path("form", form),
    path("api/items", items),
    path("webhooks/payment", webhook),
    path("login", login),
]
