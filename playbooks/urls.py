from django.urls import path

from playbooks import views

urlpatterns = [
    path("playbooks/", views.playbook_list, name="playbook-list"),
    path("playbooks/new/", views.playbook_create, name="playbook-create"),
    path("playbooks/runs/", views.run_list, name="run-list"),
    path("playbooks/runs/<int:pk>/", views.run_detail, name="run-detail"),
    path(
        "playbooks/runs/<int:pk>/actions/<int:action_pk>/retry/",
        views.run_retry,
        name="run-retry",
    ),
    path("playbooks/<int:pk>/", views.playbook_detail, name="playbook-detail"),
    path("playbooks/<int:pk>/edit/", views.playbook_edit, name="playbook-edit"),
    path("playbooks/<int:pk>/toggle/", views.playbook_toggle, name="playbook-toggle"),
    path("playbooks/<int:pk>/delete/", views.playbook_delete, name="playbook-delete"),
    path("playbooks/<int:pk>/preview/", views.playbook_preview, name="playbook-preview"),
    path("playbooks/<int:pk>/backtest/", views.playbook_backtest, name="playbook-backtest"),
    path("playbooks/<int:pk>/runs/", views.run_list, name="playbook-runs"),
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/<int:pk>/", views.task_update, name="task-update"),
]
