from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.account_list, name="home"),
    path("imports/", views.import_upload, name="import-upload"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
]
