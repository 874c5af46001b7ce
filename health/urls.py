"""The scorecard builder's pages; the health API is under cs_platform.api.urls."""

from django.urls import path

from health import learning_views, validation_views, views

app_name = "scorecards"

urlpatterns = [
    path("scorecards/", views.scorecard_list, name="list"),
    path("scorecards/new/", views.scorecard_create, name="create"),
    path("scorecards/<int:pk>/", views.scorecard_edit, name="edit"),
    path("scorecards/<int:pk>/toggle/", views.scorecard_toggle, name="toggle"),
    path("scorecards/<int:pk>/delete/", views.scorecard_delete, name="delete"),
    path(
        "scorecards/<int:pk>/validation/",
        validation_views.scorecard_validation_page,
        name="validation",
    ),
    path("scorecards/<int:pk>/learn/", learning_views.scorecard_learn, name="learn"),
    path(
        "scorecards/<int:pk>/learning/<int:run>/",
        learning_views.learning_run,
        name="learning",
    ),
    path(
        "scorecards/<int:pk>/learned/<int:draft>/",
        learning_views.learned_scorecard,
        name="learned",
    ),
    path(
        "scorecards/<int:pk>/learned/<int:draft>/publish/",
        learning_views.learned_publish,
        name="learned_publish",
    ),
]
