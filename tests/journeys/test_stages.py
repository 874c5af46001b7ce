import pytest

from journeys.choices import Stage
from journeys.models import AccountStage, StageTransition
from journeys.signals import stage_entered
from journeys.stages import StageMoveError, move_account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_it_records_every_move_with_reason_and_author(csm):
    account = AccountFactory()
    move_account(account, Stage.ONBOARDING, rule="contract_start")
    move_account(account, Stage.ADOPTION, reason="Went live", by=csm)
    moves = list(StageTransition.objects.filter(account=account).order_by("moved_at", "id"))
    assert [(m.from_stage, m.to_stage) for m in moves] == [
        ("", "onboarding"),
        ("onboarding", "adoption"),
    ]
    assert moves[1].moved_by == csm and moves[1].reason == "Went live" and moves[1].rule == ""
    assert AccountStage.objects.get(account=account).stage == Stage.ADOPTION


def test_an_escalation_remembers_the_stage_to_return_to():
    account = AccountFactory()
    move_account(account, Stage.RENEWAL)
    move_account(account, Stage.ESCALATION, reason="Critical outage")
    state = AccountStage.objects.get(account=account)
    assert (state.stage, state.return_stage) == ("escalation", "renewal")
    move_account(account, state.return_stage, rule="escalation_resolved")
    state.refresh_from_db()
    assert (state.stage, state.return_stage) == ("renewal", "")


def test_it_refuses_unknown_stages_and_moves_to_the_same_stage():
    account = AccountFactory()
    with pytest.raises(StageMoveError, match="Unknown stage"):
        move_account(account, "churned")
    move_account(account, Stage.ADOPTION)
    with pytest.raises(StageMoveError, match="already in adoption"):
        move_account(account, Stage.ADOPTION)
    assert StageTransition.objects.filter(account=account).count() == 1


def test_it_announces_the_move_once_committed(django_capture_on_commit_callbacks):
    account = AccountFactory()
    heard = []

    def receiver(sender, account_id, transition, **kwargs):
        heard.append((account_id, transition.to_stage))

    stage_entered.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            move_account(account, Stage.ONBOARDING)
            assert heard == []
    finally:
        stage_entered.disconnect(receiver)
    assert heard == [(account.pk, "onboarding")]
