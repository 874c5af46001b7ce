"""The builder's "learn from churn" button fits on the real worker through Redis, and the
run's page follows it to the draft."""

import time

import pytest

from health.measures import REGISTRY
from health.models import LearnedScorecard, LearningRun
from tests.health.test_learning import AS_OF, portfolio
from tests.health.test_scoring import only_scorecard
from tests.integration.test_celery_worker import _read, worker  # noqa: F401  (fixture)
from tests.integration.test_health_worker import tasks_to  # noqa: F401  (fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_the_button_queues_a_fit_that_the_worker_runs(tasks_to, client, cs_admin):  # noqa: F811
    from accounts.models import EventDefinition
    from tests.health.test_learning import KEY, START, _churn_at

    queue, process, log = tasks_to
    EventDefinition.objects.create(name=KEY, key_feature=True, first_seen_at=_churn_at(START))
    portfolio(n=70, churners=30)
    # A transactional test starts from an empty database: no default scorecard.
    card = only_scorecard([("usage_frequency", 1, REGISTRY["usage_frequency"].defaults())])
    client.force_login(cs_admin)
    response = client.post(
        f"/scorecards/{card.pk}/learn/",
        {"as_of": AS_OF, "window": 60, "red_share": 0.1, "yellow_share": 0.2},
    )
    run = LearningRun.objects.get()
    assert response.url == f"/scorecards/{card.pk}/learning/{run.pk}/"

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.finished:
            break
        assert process.poll() is None, "the worker died:\n" + _read(log)
        time.sleep(0.5)
    else:
        pytest.fail(f"the run is still {run.status} after 120 s:\n" + _read(log))
    assert (run.status, run.error) == ("done", ""), _read(log)
    draft = LearnedScorecard.objects.get()
    assert run.learned == draft and run.started_at >= run.created_at
    polled = client.get(response.url, HTTP_HX_REQUEST="true")
    assert polled.headers["HX-Redirect"] == f"/scorecards/{card.pk}/learned/{draft.pk}/"
    assert "learn_scorecard_task" in _read(log)
