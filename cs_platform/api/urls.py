"""/api/v1/: one router for every app's viewsets."""

from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from accounts.api import catalogue as event_catalogue
from accounts.api import views as accounts
from health.api import views as health
from health.api.validation import ScorecardValidationView
from journeys.api import views as journeys
from playbooks.api import views as playbooks

router = DefaultRouter(trailing_slash="/?")
router.register("accounts", accounts.AccountViewSet, basename="account")
router.register("contacts", accounts.ContactViewSet, basename="contact")
router.register("events", accounts.EventViewSet, basename="event")
router.register(
    "event-catalogue", event_catalogue.EventCatalogueViewSet, basename="event-catalogue"
)
router.register("surveys", accounts.SurveyResponseViewSet, basename="survey")
router.register("notes", accounts.NoteViewSet, basename="note")
router.register("stages", journeys.StageViewSet, basename="stage")
router.register("stage-transitions", journeys.StageTransitionViewSet, basename="stage-transition")
router.register("escalations", journeys.EscalationViewSet, basename="escalation")
router.register(
    "milestone-templates", journeys.MilestoneTemplateViewSet, basename="milestone-template"
)
router.register("milestones", journeys.AccountMilestoneViewSet, basename="milestone")
router.register("playbooks", playbooks.PlaybookViewSet, basename="playbook")
router.register("playbook-runs", playbooks.PlaybookRunViewSet, basename="playbook-run")
router.register("tasks", playbooks.TaskViewSet, basename="task")
router.register("health-changes", health.HealthChangeViewSet, basename="health-change")
router.register("scorecards", health.ScorecardViewSet, basename="scorecard")

handoff = journeys.HandoffViewSet.as_view({"get": "retrieve", "put": "update"})


def account_paths(suffix: str, view, name: str) -> list:
    """/accounts/{id}/<suffix> and /accounts/by-external-id/{external_id}/<suffix>, with or
    without the trailing slash (like the router's routes)."""
    return [
        re_path(rf"^accounts/(?P<pk>[0-9]+)/{suffix}/?$", view, name=name),
        re_path(
            rf"^accounts/by-external-id/(?P<external_id>[^/]+)/{suffix}/?$",
            view,
            name=f"{name}-by-ext",
        ),
    ]


urlpatterns = [
    *account_paths("health", health.AccountHealthView.as_view(), "account-health"),
    *account_paths("health/history", health.AccountHealthHistoryView.as_view(), "health-history"),
    *account_paths("health/override", health.OverrideView.as_view(), "health-override"),
    *account_paths("health/sentiment", health.SentimentView.as_view(), "health-sentiment"),
    re_path(
        r"^scorecards/(?P<pk>[0-9]+)/validation/?$",
        ScorecardValidationView.as_view(),
        name="scorecard-validation",
    ),
    *router.urls,
    path("accounts/by-external-id/<str:external_id>/handoff/", handoff, name="handoff"),
    path("metrics/", health.MetricsView.as_view(), name="metrics"),
    path("cohort-funnel/", journeys.CohortFunnelView.as_view(), name="cohort-funnel"),
]
