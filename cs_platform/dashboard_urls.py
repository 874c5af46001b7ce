from django.urls import path

from cs_platform import views

urlpatterns = [
    path("settings/tokens/", views.token_list, name="token-list"),
    path("settings/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
