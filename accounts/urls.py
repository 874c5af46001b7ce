from django.urls import path

from accounts import views

urlpatterns = [
    path("imports/", views.import_upload, name="import-upload"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("events/", views.event_catalogue, name="event-catalogue"),
    path("events/key-feature/", views.event_key_feature, name="event-key-feature"),
]
