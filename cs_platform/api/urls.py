"""/api/v1/: one router for every app's viewsets."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts.api import views as accounts
from health.api import views as health
from journeys.api import views as journeys

router = DefaultRouter(trailing_slash="/?")
router.register("accounts", accounts.AccountViewSet, basename="account")
router.register("contacts", accounts.ContactViewSet, basename="contact")
router.register("events", accounts.EventViewSet, basename="event")
router.register("surveys", accounts.SurveyResponseViewSet, basename="survey")
router.register("notes", accounts.NoteViewSet, basename="note")
router.register("stages", journeys.StageViewSet, basename="stage")
router.register("stage-transitions", journeys.StageTransitionViewSet, basename="stage-transition")
router.register("escalations", journeys.EscalationViewSet, basename="escalation")
router.register(
    "milestone-templates", journeys.MilestoneTemplateViewSet, basename="milestone-template"
)
router.register("milestones", journeys.AccountMilestoneViewSet, basename="milestone")

handoff = journeys.HandoffViewSet.as_view({"get": "retrieve", "put": "update"})

urlpatterns = [
    *router.urls,
    path("accounts/by-external-id/<str:external_id>/handoff/", handoff, name="handoff"),
    path("metrics/", health.MetricsView.as_view(), name="metrics"),
    path("cohort-funnel/", journeys.CohortFunnelView.as_view(), name="cohort-funnel"),
]
