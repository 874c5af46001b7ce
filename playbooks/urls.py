from django.urls import path

from playbooks import views

app_name = "playbooks"

urlpatterns = [
    path("playbooks/", views.playbook_list, name="list"),
    path("playbooks/new/", views.playbook_create, name="create"),
    path("playbooks/runs/", views.run_list, name="runs"),
    path("playbooks/runs/<int:pk>/", views.run_detail, name="run"),
    path(
        "playbooks/runs/<int:pk>/actions/<int:action_pk>/retry/",
        views.run_retry,
        name="run-retry",
    ),
    path("playbooks/<int:pk>/", views.playbook_detail, name="detail"),
    path("playbooks/<int:pk>/edit/", views.playbook_edit, name="edit"),
    path("playbooks/<int:pk>/toggle/", views.playbook_toggle, name="toggle"),
    path("playbooks/<int:pk>/delete/", views.playbook_delete, name="delete"),
    path("playbooks/<int:pk>/preview/", views.playbook_preview, name="preview"),
    path("playbooks/<int:pk>/backtest/", views.playbook_backtest, name="backtest"),
    path("playbooks/<int:pk>/runs/", views.run_list, name="playbook-runs"),
    path("tasks/", views.task_list, name="tasks"),
    path("tasks/<int:pk>/", views.task_update, name="task-update"),
]
