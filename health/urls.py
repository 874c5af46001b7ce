"""The scorecard builder's pages; the health API is under cs_platform.api.urls."""

from django.urls import path

from health import views

app_name = "scorecards"

urlpatterns = [
    path("scorecards/", views.scorecard_list, name="list"),
    path("scorecards/new/", views.scorecard_create, name="create"),
    path("scorecards/<int:pk>/", views.scorecard_edit, name="edit"),
    path("scorecards/<int:pk>/toggle/", views.scorecard_toggle, name="toggle"),
    path("scorecards/<int:pk>/delete/", views.scorecard_delete, name="delete"),
]
