from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import segment
from cs_platform import views

segment_urls = [
    path("batch", segment.BatchView.as_view(), name="segment-batch"),
    path("track", segment.TrackView.as_view(), name="segment-track"),
    path("page", segment.PageView.as_view(), name="segment-page"),
    path("identify", segment.IdentifyView.as_view(), name="segment-identify"),
    path("group", segment.GroupView.as_view(), name="segment-group"),
]

urlpatterns = [
    # Machine clients first: every dashboard include below has an empty prefix, so a URL
    # listed after them is only found once all of theirs have been tried.
    path("api/v1/", include("cs_platform.api.urls")),
    path("v1/", include(segment_urls)),
    path("", include("dashboard.urls")),
    path("", include("accounts.urls")),
    path("", include("cs_platform.dashboard_urls")),
    path("", include("playbooks.urls")),
    path("", include("health.urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
