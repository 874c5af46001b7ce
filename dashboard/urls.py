from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.portfolio, name="home"),
    path("accounts/", views.account_list, name="accounts"),
    path("accounts/export.csv", views.account_export, name="accounts-export"),
    path("accounts/views/", views.saved_view_create, name="saved-view-create"),
    path("accounts/views/<int:pk>/delete/", views.saved_view_delete, name="saved-view-delete"),
    path("accounts/<int:pk>/", views.account_detail, name="account-360"),
    path("accounts/<int:pk>/notes/", views.add_note, name="account-note"),
    path("accounts/<int:pk>/tasks/", views.add_task, name="account-task"),
    path("accounts/<int:pk>/override/", views.set_health_override, name="account-override"),
    path("accounts/<int:pk>/stage/", views.move_stage, name="account-stage"),
    path("accounts/<int:pk>/sentiment/", views.set_sentiment, name="account-sentiment"),
    path(
        "accounts/<int:pk>/contacts/<int:contact_pk>/key/",
        views.toggle_key_contact,
        name="account-key-contact",
    ),
    path("metrics/", views.metrics, name="metrics-page"),
]
